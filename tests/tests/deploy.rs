//! The Kubernetes manifests of `deploy/kubernetes` read as the API server reads them (every
//! document into its k8s-openapi type, a field the type lacks refused), with what the webhook relies
//! on checked: three replicas, probes on the server's endpoints, both webhook configurations
//! failing closed on `/validate` and `/mutate` with a namespace opt-out, Redis for the shared
//! cache, and `vouch serve` arguments that the real binary accepts. (The client examples of
//! `deploy/clients` are used as they are by the podman and containerd tests in `serve.rs`.)
#![allow(clippy::unwrap_used)]

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::de::DeserializeOwned;
use serde_json::Value;
use vouch_tests::workspace_dir;

fn documents() -> Vec<Value> {
    let text =
        std::fs::read_to_string(workspace_dir().join("deploy/kubernetes/vouch-webhook.yaml"))
            .unwrap();
    text.split("\n---\n")
        .map(|doc| serde_saphyr::from_str::<Value>(doc).unwrap())
        .collect()
}

/// Panics naming the first field of `given` that `kept` lacks (a field the type does not
/// have: misspelled, misplaced, or of another API version).
fn nothing_dropped(given: &Value, kept: &Value, at: &str) {
    match (given, kept) {
        (Value::Object(given), Value::Object(kept)) => {
            for (key, value) in given {
                let path = format!("{at}/{key}");
                let Some(kept_value) = kept.get(key) else {
                    panic!("{path} is not a field of this object");
                };
                nothing_dropped(value, kept_value, &path);
            }
        }
        (Value::Array(given), Value::Array(kept)) => {
            assert_eq!(given.len(), kept.len(), "{at}");
            for (i, (g, k)) in given.iter().zip(kept).enumerate() {
                nothing_dropped(g, k, &format!("{at}/{i}"));
            }
        }
        _ => {}
    }
}

/// The document of `kind` named `name`, read as `T`; panics if it has a field `T` lacks.
fn get<T: DeserializeOwned + serde::Serialize>(docs: &[Value], kind: &str, name: &str) -> T {
    let doc = docs
        .iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"));
    let typed: T =
        serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
    // Nothing was dropped on the way: the typed form writes back every field given.
    nothing_dropped(
        doc,
        &serde_json::to_value(&typed).unwrap(),
        &format!("{kind} {name}"),
    );
    typed
}

#[test]
fn the_webhook_manifests_are_valid_kubernetes_objects_that_fail_closed() {
    let docs = documents();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ConfigMap",
            "Deployment",
            "PodDisruptionBudget",
            "Service",
            "Deployment",
            "Service",
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration"
        ]
    );
    let namespace: Namespace = get(&docs, "Namespace", "vouch-system");
    let labels = namespace.metadata.labels.unwrap();
    assert_eq!(
        labels["vouch.dev/enforce"], "disabled",
        "the webhook must not check its own namespace"
    );

    let deployment: Deployment = get(&docs, "Deployment", "vouch");
    let spec = deployment.spec;
    assert_eq!(spec.replicas, Some(3));
    let pod = spec.template.spec.unwrap();
    let container = &pod.containers[0];
    let args = container.args.clone().unwrap();
    assert_eq!(args[0], "serve");
    for path in [
        container
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .clone(),
        container
            .liveness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .clone(),
    ] {
        assert!(matches!(path.as_deref(), Some("/readyz" | "/healthz")));
    }
    // Every flag is one `vouch serve` takes: the binary parses them (and stops at the first
    // file it cannot read, the policy, with exit 2 rather than a usage error about a flag).
    let mut run_args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_args.retain(|a| !a.starts_with("--listen"));
    run_args.push("--listen=127.0.0.1:0");
    let tried = vouch_tests::vouch(&run_args);
    assert_eq!(tried.code, 2, "{tried:#?}");
    assert!(
        !tried.stderr.contains("unexpected argument")
            && tried.stderr.contains("/etc/vouch/policy.yaml"),
        "{tried:#?}"
    );
    let config: ConfigMap = get(&docs, "ConfigMap", "vouch-policy");
    let policy = config.data.unwrap()["policy.yaml"].clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), policy).unwrap();
    vouch_tests::vouch(&[
        "policy",
        "lint",
        dir.path().join("policy.yaml").to_str().unwrap(),
    ])
    .expect_code(0);

    let _: PodDisruptionBudget = get(&docs, "PodDisruptionBudget", "vouch");
    let _: Service = get(&docs, "Service", "vouch");
    let redis: Deployment = get(&docs, "Deployment", "vouch-redis");
    assert!(
        redis.spec.template.spec.unwrap().containers[0]
            .image
            .as_deref()
            .unwrap()
            .starts_with("redis:")
    );
    let _: Service = get(&docs, "Service", "vouch-redis");
    assert!(
        args.iter()
            .any(|a| a == "--cache=redis://vouch-redis.vouch-system.svc:6379")
    );

    let validating: ValidatingWebhookConfiguration =
        get(&docs, "ValidatingWebhookConfiguration", "vouch");
    let mutating: MutatingWebhookConfiguration =
        get(&docs, "MutatingWebhookConfiguration", "vouch");
    let validate = &validating.webhooks.unwrap()[0];
    let mutate = &mutating.webhooks.unwrap()[0];
    for (path, failure, selector, service) in [
        (
            "/validate",
            validate.failure_policy.clone(),
            validate.namespace_selector.clone(),
            validate.client_config.service.clone(),
        ),
        (
            "/mutate",
            mutate.failure_policy.clone(),
            mutate.namespace_selector.clone(),
            mutate.client_config.service.clone(),
        ),
    ] {
        assert_eq!(failure.as_deref(), Some("Fail"));
        let service = service.unwrap();
        assert_eq!(service.path.as_deref(), Some(path));
        assert_eq!(service.name, "vouch");
        let expressions = selector.unwrap().match_expressions.unwrap();
        assert!(
            expressions
                .iter()
                .any(|e| e.key == "vouch.dev/enforce" && e.operator == "NotIn")
        );
    }
    // The API server's own timeout is longer than the webhook's budget.
    let budget: i32 = args
        .iter()
        .find_map(|a| a.strip_prefix("--webhook-timeout="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(validate.timeout_seconds.unwrap() > budget);
    assert!(mutate.timeout_seconds.unwrap() > budget);
}
