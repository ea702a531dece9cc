//! The Kubernetes admission webhook: `POST /validate` and `POST /mutate` with an
//! `AdmissionReview` (`admission.k8s.io/v1`, and `v1beta1` as older clusters send), answered
//! with the same trust-policy decisions the registry front makes.
//!
//! The images of a Pod, and of the pod templates of Deployments, ReplicaSets, StatefulSets,
//! DaemonSets, Jobs, CronJobs and ReplicationControllers (init, regular and ephemeral
//! containers) are each decided, concurrently, within the time budget. `/validate` allows the
//! object only when every image is allowed; `/mutate` also pins each image that passed under
//! `enforce` to the digest that was decided (a JSONPatch `replace` of its `image`), so the node
//! pulls exactly what was verified. Objects the webhook does not concern (other kinds,
//! `DELETE` and `CONNECT`) are allowed with a message that says why.

use std::time::Duration;

use base64::Engine as _;
use json_patch::{Patch, PatchOperation, ReplaceOperation};
use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::Value;
use vouch_policy::evidence::StoreSource;
use vouch_policy::{Decision, ImageName, Verdict};
use vouch_registry::ImageReference;

use crate::front::State;

/// The largest AdmissionReview read (the Kubernetes API server's own request limit is 3 MiB).
pub const MAX_REVIEW_BYTES: usize = 3 * 1024 * 1024;

/// How many images of one review are decided at the same time (as `vouch verify` decides
/// images): a review listing thousands of containers does not open thousands of requests.
pub const MAX_CONCURRENT_DECISIONS: usize = 8;

/// The default time budget for one review.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(8);

/// The most a budget may be: the API server gives a webhook at most 30 seconds.
pub const MAX_BUDGET: Duration = Duration::from_secs(30);

/// Which answer is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/validate`: allow or deny.
    Validate,
    /// `/mutate`: allow or deny, and pin allowed images to their digest.
    Mutate,
}

/// A review that cannot be answered: the HTTP status (400) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadReview(pub(crate) String);

/// Where a kind keeps its pod spec, as JSON object keys from the object's root.
fn pod_spec_path(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (group, kind) {
        ("", "Pod") => Some(&["spec"]),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job")
        | ("", "ReplicationController") => Some(&["spec", "template", "spec"]),
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// One container image of the object: its JSON pointer (to the `image` field) and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerImage {
    /// `/spec/template/spec/containers/0/image`.
    pub(crate) pointer: String,
    /// The image as written.
    pub(crate) image: String,
}

/// Every container image of `object` whose pod spec is at `path`, init containers first.
pub(crate) fn container_images(object: &Value, path: &[&str]) -> Vec<ContainerImage> {
    let Some(spec) = path.iter().try_fold(object, |v, key| v.get(key)) else {
        return Vec::new();
    };
    let base: String = path.iter().map(|p| format!("/{p}")).collect();
    let mut images = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let Some(containers) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (i, container) in containers.iter().enumerate() {
            if let Some(image) = container.get("image").and_then(Value::as_str) {
                images.push(ContainerImage {
                    pointer: format!("{base}/{list}/{i}/image"),
                    image: image.to_owned(),
                });
            }
        }
    }
    images
}

/// The image pinned to `digest`: the name (and tag) as written, `@digest`.
fn pinned(image: &str, digest: &vouch_keys::Digest) -> String {
    let name = image.split_once('@').map_or(image, |(name, _)| name);
    format!("{name}@{digest}")
}

/// Decides one image as a workload names it (`nginx`, `registry/app:1@sha256:...`): from the
/// cache, or evaluated against its own registry.
async fn decide_image(state: &State, image: &str) -> Result<Decision, String> {
    use vouch_policy::evidence::EvidenceSource as _;
    let reference = ImageReference::parse(image).map_err(|e| e.to_string())?;
    let ImageReference::Registry(registry_reference) = &reference else {
        return Err("not a registry image".into());
    };
    let source = StoreSource::open(state.client(), &reference).map_err(|e| e.reason)?;
    let digest = source.resolve().await.map_err(|e| e.reason)?.digest;
    let mut name = ImageName::of(&reference);
    name.digest = Some(digest.clone());
    let pinned = format!(
        "{}/{}@{digest}",
        registry_reference.registry(),
        registry_reference.repository()
    );
    Ok(state.decide_pinned(&name, &pinned, &digest).await)
}

/// Answers one review body. `Err` for a body that is not an AdmissionReview with a request.
pub(crate) async fn review(
    state: &State,
    endpoint: Endpoint,
    body: &[u8],
    budget: Duration,
) -> Result<Value, BadReview> {
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| BadReview(format!("the body is not JSON: {e}")))?;
    let kind = raw.get("kind").and_then(Value::as_str).unwrap_or_default();
    let version = raw
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if raw.is_object()
        && (kind != "AdmissionReview"
            || !matches!(version, "admission.k8s.io/v1" | "admission.k8s.io/v1beta1"))
    {
        return Err(BadReview(format!(
            "expected kind AdmissionReview of apiVersion admission.k8s.io/v1 (or v1beta1), got kind {kind:?} of {version:?}"
        )));
    }
    if raw.get("request").is_none_or(Value::is_null) {
        return Err(BadReview(
            "the AdmissionReview has no request (kind AdmissionReview, apiVersion admission.k8s.io/v1, request with uid, kind, operation, object)".into(),
        ));
    }
    // The envelope is read with kube-core's types; the object itself is read as plain JSON
    // (only its pod spec matters), so that fields vouch does not use (a malformed
    // `creationTimestamp`, an `oldObject` that is not an object) cannot make a review
    // unanswerable.
    let mut envelope = raw.clone();
    for field in ["object", "oldObject"] {
        envelope["request"][field] = Value::Null;
    }
    let parsed: AdmissionReview<DynamicObject> = serde_json::from_value(envelope)
        .map_err(|e| BadReview(format!("not an AdmissionReview: {e}")))?;
    let request: AdmissionRequest<DynamicObject> = parsed
        .try_into()
        .map_err(|e| BadReview(format!("not an AdmissionReview request: {e}")))?;
    let response = answer(state, endpoint, &request, &raw["request"]["object"], budget).await;
    let mut review = serde_json::to_value(response.into_review())
        .map_err(|e| BadReview(format!("the answer does not serialize: {e}")))?;
    // kube-core writes the patch bytes as a JSON array of numbers; the AdmissionReview API
    // documents `patch` as base64 (Go's `[]byte`), which every API server reads.
    if let Some(patch) = review["response"].get_mut("patch")
        && let Some(numbers) = patch.as_array()
    {
        let bytes: Vec<u8> = numbers
            .iter()
            .filter_map(|n| n.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect();
        *patch = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    Ok(review)
}

async fn answer(
    state: &State,
    endpoint: Endpoint,
    request: &AdmissionRequest<DynamicObject>,
    object: &Value,
    budget: Duration,
) -> AdmissionResponse {
    let allowed = AdmissionResponse::from(request);
    let not_concerned = |why: String| {
        let mut response = AdmissionResponse::from(request);
        response.result.message = why;
        response
    };
    if matches!(request.operation, Operation::Delete | Operation::Connect) {
        return not_concerned(format!(
            "not concerned: vouch checks images on CREATE and UPDATE, this is {:?}",
            request.operation
        ));
    }
    let (group, kind) = (request.kind.group.as_str(), request.kind.kind.as_str());
    let Some(path) = pod_spec_path(group, kind) else {
        return not_concerned(format!(
            "not concerned: {kind} ({}) runs no containers",
            if group.is_empty() { "core" } else { group }
        ));
    };
    let Some(spec) = path.iter().try_fold(object, |v, key| v.get(key)) else {
        return AdmissionResponse::from(request).deny(format!(
            "vouch cannot check this {kind}: it has no pod spec at /{}",
            path.join("/")
        ));
    };
    let images = container_images(object, path);
    let containers = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .filter_map(|list| spec.get(list).and_then(Value::as_array))
        .map(Vec::len)
        .sum::<usize>();
    if containers != images.len() {
        return AdmissionResponse::from(request).deny(format!(
            "vouch cannot check this {kind}: a container names no image"
        ));
    }
    if images.is_empty() {
        return not_concerned(format!("not concerned: the {kind} runs no container"));
    }
    let mut distinct: Vec<&str> = images.iter().map(|c| c.image.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    // At most MAX_CONCURRENT_DECISIONS at once however many containers the object lists, all
    // within the one budget.
    let deadline = tokio::time::Instant::now() + budget;
    let permits = tokio::sync::Semaphore::new(MAX_CONCURRENT_DECISIONS);
    let permits = &permits;
    let decided = futures_util::future::join_all(distinct.iter().map(|image| async move {
        let decision = async {
            // The semaphore is never closed: a permit always comes.
            let _permit = permits.acquire().await.ok();
            // A permit freed by a decision that ran out of time comes when the budget is
            // spent: start nothing then (the timeout answers).
            if tokio::time::Instant::now() >= deadline {
                std::future::pending::<()>().await;
            }
            decide_image(state, image).await
        };
        (*image, tokio::time::timeout_at(deadline, decision).await)
    }))
    .await;

    let mut denials = Vec::new();
    let mut warnings = Vec::new();
    let mut pins = Vec::new();
    let workload = format!(
        "{kind} {}/{}",
        request.namespace.as_deref().unwrap_or("-"),
        request.name.as_str()
    );
    for (image, outcome) in &decided {
        let decision = match outcome {
            Err(_) => {
                denials.push(format!(
                    "{image}: not decided within the webhook's budget of {}s",
                    budget.as_secs()
                ));
                state.record_admission("timeout", "enforce", image, &workload, None);
                continue;
            }
            Ok(Err(reason)) => {
                denials.push(format!("{image}: {reason}"));
                state.record_admission("error", "enforce", image, &workload, None);
                continue;
            }
            Ok(Ok(decision)) => decision,
        };
        let reason = decision.reason.clone().unwrap_or_default();
        let (result, mode) = crate::front::outcome(decision);
        state.record_admission(result, &mode, image, &workload, Some(decision));
        if !decision.allowed {
            denials.push(format!("{image}: {reason}"));
        } else if decision.verdict != Verdict::Pass {
            warnings.push(format!("{image}: {reason}"));
        } else if let Some(digest) = &decision.digest {
            pins.push((*image, digest.clone()));
        }
    }
    if !denials.is_empty() {
        let mut response = AdmissionResponse::from(request)
            .deny(format!("vouch denied {workload}: {}", denials.join("; ")));
        response.warnings = (!warnings.is_empty()).then_some(warnings);
        return response;
    }
    let mut response = allowed;
    response.warnings = (!warnings.is_empty()).then_some(warnings);
    if endpoint == Endpoint::Mutate {
        let operations: Vec<PatchOperation> = images
            .iter()
            .filter_map(|container| {
                let (_, digest) = pins.iter().find(|(image, _)| *image == container.image)?;
                let value = pinned(&container.image, digest);
                (value != container.image).then(|| {
                    PatchOperation::Replace(ReplaceOperation {
                        path: container
                            .pointer
                            .parse()
                            .unwrap_or_else(|_| json_patch::jsonptr::PointerBuf::new()),
                        value: Value::String(value),
                    })
                })
            })
            .collect();
        if !operations.is_empty() {
            match response.clone().with_patch(Patch(operations)) {
                Ok(patched) => return patched,
                Err(e) => {
                    return AdmissionResponse::from(request)
                        .deny(format!("vouch could not write the digest patch: {e}"));
                }
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_found_where_each_kind_keeps_its_pod_spec() {
        let cron = serde_json::json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "initContainers": [{"name": "i", "image": "init:1"}],
            "containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b@sha256:00"}],
            "ephemeralContainers": [{"name": "e", "image": "debug"}],
        }}}}}});
        let path = pod_spec_path("batch", "CronJob").unwrap();
        let found = container_images(&cron, path);
        let pointers: Vec<&str> = found.iter().map(|c| c.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/spec/jobTemplate/spec/template/spec/initContainers/0/image",
                "/spec/jobTemplate/spec/template/spec/containers/0/image",
                "/spec/jobTemplate/spec/template/spec/containers/1/image",
                "/spec/jobTemplate/spec/template/spec/ephemeralContainers/0/image",
            ]
        );
        assert_eq!(pod_spec_path("rbac.authorization.k8s.io", "Role"), None);
        assert_eq!(
            pod_spec_path("apps", "Deployment"),
            Some(&["spec", "template", "spec"][..])
        );
    }

    #[test]
    fn a_pinned_image_keeps_its_name_and_tag() {
        let digest: vouch_keys::Digest =
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
                .parse()
                .unwrap();
        assert_eq!(
            pinned("nginx:1.27", &digest),
            format!("nginx:1.27@{digest}")
        );
        assert_eq!(
            pinned(&format!("r.example/app:v1@{digest}"), &digest),
            format!("r.example/app:v1@{digest}")
        );
    }
}
