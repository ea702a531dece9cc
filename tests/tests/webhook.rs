//! `vouch serve --webhook` end to end: the AdmissionReview fixtures of Connaisseur's tests
//! (`tests/data/admission/`), their placeholder images mapped to images pushed to the test
//! registry (signed by the policy's key, unsigned, or signed by another key), POSTed to
//! `/validate` and `/mutate`; the answers (allowed or denied with the reason, the JSONPatch
//! that pins each allowed image to its decided digest) must be those `cases.yaml` writes down.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use vouch_tests::serve::{HttpAnswer, Serve, http_exchange, key_policy, release_scope};
use vouch_tests::{Registry, generate_key, push_image, tool, vouch_with_password};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    images: BTreeMap<String, String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Case {
    file: String,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    allowed: Option<bool>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    patch: Option<Vec<PatchEntry>>,
    #[serde(default)]
    keep_digest: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchEntry {
    path: String,
    image: String,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/admission")
}

/// The placeholder's name (last path component), tag and digest.
fn split(image: &str) -> (String, Option<String>, Option<String>) {
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest.to_owned())),
        None => (image, None),
    };
    let last = rest.rsplit('/').next().unwrap();
    let (name, tag) = match last.split_once(':') {
        Some((name, tag)) => (name.to_owned(), Some(tag.to_owned())),
        None => (last.to_owned(), None),
    };
    (name, tag, digest)
}

/// Every `image` string in `value`, rewritten by `rewrite`.
fn rewrite_images(value: &mut Value, rewrite: &dyn Fn(&str) -> String) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    Value::String(image) if key == "image" => *image = rewrite(image),
                    other => rewrite_images(other, rewrite),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_images(v, rewrite)),
        _ => {}
    }
}

struct World {
    _dir: tempfile::TempDir,
    registry: Registry,
    serve: Serve,
    digests: BTreeMap<String, String>,
}

fn world(cases: &Cases) -> World {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::spawn("");
    let release = generate_key(dir.path(), "release", "ecdsa-p256");
    let other = generate_key(dir.path(), "other", "ecdsa-p256");
    // Every tag the fixtures name, per placeholder.
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for case in &cases.cases {
        let text =
            std::fs::read_to_string(data_dir().join("connaisseur").join(&case.file)).unwrap();
        let mut found = Vec::new();
        collect_images(&serde_json::from_str(&text).unwrap(), &mut found);
        for image in found {
            let (name, tag, _) = split(&image);
            let entry = tags.entry(name).or_default();
            if let Some(tag) = tag {
                entry.push(tag);
            }
        }
    }
    let mut digests = BTreeMap::new();
    for (name, role) in &cases.images {
        let image = push_image(&registry, name, "latest");
        for tag in tags.get(name).into_iter().flatten() {
            tool(
                "skopeo",
                &[
                    "copy",
                    "--src-tls-verify=false",
                    "--dest-tls-verify=false",
                    &format!("docker://{}", image.tagged),
                    &format!("docker://{}/{name}:{tag}", registry.addr),
                ],
            );
        }
        let signer = match role.as_str() {
            "signed" => Some(&release),
            "other" => Some(&other),
            "unsigned" => None,
            r => panic!("cases.yaml: role {r}"),
        };
        if let Some(key) = signer {
            vouch_with_password(
                &key.password,
                &["sign", "--key", key.key.to_str().unwrap(), &image.by_digest],
            )
            .expect_code(0);
        }
        digests.insert(name.clone(), image.digest.clone());
    }
    let policy = key_policy(
        dir.path(),
        &release,
        &[release_scope(&format!("{}/**", registry.addr), None)],
    );
    let serve = Serve::start(&["--policy", policy.to_str().unwrap(), "--webhook"]);
    World {
        _dir: dir,
        registry,
        serve,
        digests,
    }
}

fn collect_images(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match item {
                    Value::String(image) if key == "image" => into.push(image.clone()),
                    other => collect_images(other, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_images(v, into)),
        _ => {}
    }
}

fn post(serve: &Serve, path: &str, body: &[u8]) -> HttpAnswer {
    http_exchange(
        &serve.addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body,
    )
}

#[test]
fn every_connaisseur_fixture_is_answered_as_written_down() {
    let cases: Cases =
        serde_saphyr::from_str(&std::fs::read_to_string(data_dir().join("cases.yaml")).unwrap())
            .unwrap();
    assert_eq!(cases.cases.len(), 29);
    let w = world(&cases);
    let addr = w.registry.addr.clone();
    let mut failures = Vec::new();
    for case in &cases.cases {
        let text =
            std::fs::read_to_string(data_dir().join("connaisseur").join(&case.file)).unwrap();
        let mut review: Value = serde_json::from_str(&text).unwrap();
        let digests = &w.digests;
        rewrite_images(&mut review, &|image| {
            let (name, tag, digest) = split(image);
            let tag = tag.map(|t| format!(":{t}")).unwrap_or_default();
            let digest = match digest {
                Some(d) if case.keep_digest => format!("@{d}"),
                Some(_) => format!("@{}", digests[&name]),
                None => String::new(),
            };
            format!("{addr}/{name}{tag}{digest}")
        });
        let body = serde_json::to_vec(&review).unwrap();
        for endpoint in ["/validate", "/mutate"] {
            let answer = post(&w.serve, endpoint, &body);
            if let Err(e) = check(case, endpoint, &answer, &addr, digests, &review) {
                failures.push(format!("{} {endpoint}: {e}\n{}", case.file, answer.text()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} answers differ:\n{}\n\nserver log:\n{}",
        failures.len(),
        failures.join("\n\n"),
        w.serve.log()
    );
    // Each distinct digest was evaluated once, however many reviews named it and by
    // whichever tag.
    let evaluations = w.serve.evaluations();
    let mut decided: Vec<String> = w
        .serve
        .audit()
        .iter()
        .map(|l| l["digest"].to_string())
        .collect();
    decided.sort();
    decided.dedup();
    assert_eq!(evaluations, decided.len() as u64, "{decided:#?}");
}

fn check(
    case: &Case,
    endpoint: &str,
    answer: &HttpAnswer,
    addr: &str,
    digests: &BTreeMap<String, String>,
    request: &Value,
) -> Result<(), String> {
    let status = case.status.unwrap_or(200);
    if answer.status != status {
        return Err(format!("status {}, expected {status}", answer.status));
    }
    let body: Value = serde_json::from_slice(&answer.body).map_err(|e| format!("not JSON: {e}"))?;
    if status != 200 {
        let error = body["error"].as_str().unwrap_or_default();
        return match &case.message {
            Some(text) if !error.contains(text.as_str()) => {
                Err(format!("the error does not say {text:?}"))
            }
            _ => Ok(()),
        };
    }
    let response = &body["response"];
    if body["apiVersion"] != request["apiVersion"] || body["kind"] != "AdmissionReview" {
        return Err("the answer is not an AdmissionReview of the request's version".into());
    }
    if response["uid"] != request["request"]["uid"] {
        return Err("the answer's uid is not the request's".into());
    }
    let allowed = case.allowed.unwrap();
    if response["allowed"] != allowed {
        return Err(format!(
            "allowed is {}, expected {allowed}",
            response["allowed"]
        ));
    }
    let message = response["status"]["message"].as_str().unwrap_or_default();
    if let Some(text) = &case.message
        && !message.contains(text.as_str())
    {
        return Err(format!("the message {message:?} does not say {text:?}"));
    }
    let patch: Vec<Value> = match response["patch"].as_str() {
        Some(b64) => serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap(),
        None => Vec::new(),
    };
    let expected: Vec<Value> = if endpoint == "/mutate" && allowed {
        case.patch
            .iter()
            .flatten()
            .map(|p| {
                // The value keeps the name and tag as written, pinned to the decided digest.
                let written = pointer_value(request, &p.path);
                let name = written.split_once('@').map_or(written.as_str(), |(n, _)| n);
                assert!(name.starts_with(addr));
                serde_json::json!({"op": "replace", "path": p.path, "value": format!("{name}@{}", digests[&p.image])})
            })
            .collect()
    } else {
        Vec::new()
    };
    if patch != expected {
        return Err(format!(
            "patch {}, expected {}",
            Value::from(patch),
            Value::from(expected)
        ));
    }
    if !patch.is_empty() && response["patchType"] != "JSONPatch" {
        return Err("patchType is not JSONPatch".into());
    }
    Ok(())
}

fn pointer_value(review: &Value, path: &str) -> String {
    review["request"]["object"]
        .pointer(path)
        .and_then(Value::as_str)
        .unwrap()
        .to_owned()
}

#[test]
fn slow_registries_huge_and_broken_reviews_get_clear_answers_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    let policy = key_policy(dir.path(), &key, &[release_scope("**", None)]);
    let serve = Serve::start(&[
        "--policy",
        policy.to_str().unwrap(),
        "--webhook",
        "--webhook-timeout",
        "1",
    ]);
    // A registry that accepts connections, counts them, and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let held = accepted.clone();
    std::thread::spawn(move || {
        for stream in silent.incoming().map_while(Result::ok) {
            held.lock().unwrap().push(stream);
        }
    });
    // A Pod of 40 containers, each a different image there.
    let text = std::fs::read_to_string(data_dir().join("connaisseur/02_pod.json")).unwrap();
    let mut review: Value = serde_json::from_str(&text).unwrap();
    let container = review["request"]["object"]["spec"]["containers"][0].clone();
    let containers: Vec<Value> = (0..40)
        .map(|i| {
            let mut c = container.clone();
            c["name"] = format!("c{i}").into();
            c["image"] = format!("{silent_addr}/app{i}:v1").into();
            c
        })
        .collect();
    review["request"]["object"]["spec"]["containers"] = containers.into();
    let started = std::time::Instant::now();
    let answer = post(&serve, "/validate", &serde_json::to_vec(&review).unwrap());
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["response"]["allowed"], false);
    let message = body["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("not decided within the webhook's budget of 1s"),
        "{message}"
    );
    // However many images a review lists, at most 8 are being decided at once.
    let connections = accepted.lock().unwrap().len();
    assert!(
        (1..=8).contains(&connections),
        "{connections} connections at once"
    );

    // Larger than the API server would ever send.
    let huge = vec![b' '; 4 * 1024 * 1024];
    let answer = post(&serve, "/validate", &huge);
    assert_eq!(answer.status, 413, "{}", answer.text());
    for (body, says) in [
        (&b"{not json"[..], "not JSON"),
        (b"null", "no request"),
        (
            b"{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\",\"request\":{}}",
            "uid",
        ),
        (
            b"{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\"}",
            "no request",
        ),
    ] {
        let answer = post(&serve, "/mutate", body);
        assert_eq!(answer.status, 400, "{}", answer.text());
        assert!(answer.text().contains(says), "{}", answer.text());
    }
    let get = vouch_tests::serve::http_request(&serve.addr, "GET", "/validate", &[]);
    assert_eq!(get.status, 405);
    assert_eq!(serve.get("/healthz").status, 200);
}
