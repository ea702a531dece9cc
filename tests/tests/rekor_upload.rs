//! `sign-blob` and `attest-blob` with `--rekor-url`: the signature goes to a (fake) Rekor v1
//! log, the verified entry goes in the bundle, and `verify-blob` accepts the bundle without
//! `--insecure-ignore-tlog`. A log answer that fails a check, a failing log and bad arguments
//! leave no bundle behind; without the flag no log is contacted.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use vouch_tests::{
    FAKE_TREE_ID, FakeRekor, KeyPair, RekorBehavior, Run, generate_key, vouch, vouch_with_password,
};

struct Setup {
    dir: tempfile::TempDir,
    log: FakeRekor,
    root: PathBuf,
}

impl Setup {
    fn new(behavior: RekorBehavior) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let log = FakeRekor::start(behavior);
        let root = dir.path().join("trusted_root.json");
        log.write_trusted_root(&root);
        fs::write(dir.path().join("release.tar"), b"release contents").unwrap();
        fs::write(
            dir.path().join("predicate.json"),
            br#"{"buildType":"https://example.com/build"}"#,
        )
        .unwrap();
        Setup { dir, log, root }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn key(&self, name: &str, algorithm: &str) -> KeyPair {
        generate_key(self.dir.path(), name, algorithm)
    }

    /// `sign-blob` of `file` into `bundle`, with `extra` arguments, JSON output.
    fn sign(&self, key: &KeyPair, file: &str, bundle: &str, extra: &[&str]) -> Run {
        let (key_file, file, bundle) = (
            key.key.display().to_string(),
            self.path(file),
            self.path(bundle),
        );
        let mut args = vec![
            "sign-blob",
            "--key",
            &key_file,
            "--bundle",
            &bundle,
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        args.push(&file);
        vouch_with_password(&key.password, &args)
    }

    /// `attest-blob` of `release.tar` into `bundle`, with `extra` arguments, JSON output.
    fn attest(&self, key: &KeyPair, bundle: &str, extra: &[&str]) -> Run {
        let (key_file, predicate, bundle, file) = (
            key.key.display().to_string(),
            self.path("predicate.json"),
            self.path(bundle),
            self.path("release.tar"),
        );
        let mut args = vec![
            "attest-blob",
            "--key",
            &key_file,
            "--predicate",
            &predicate,
            "--type",
            "slsaprovenance1",
            "--bundle",
            &bundle,
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        args.push(&file);
        vouch_with_password(&key.password, &args)
    }

    /// `--rekor-url URL --trusted-root ROOT`.
    fn log_args(&self) -> [&str; 4] {
        [
            "--rekor-url",
            &self.log.url,
            "--trusted-root",
            self.root.to_str().unwrap(),
        ]
    }

    /// `verify-blob` of `file` with `bundle`, the key and the fake's trusted root, and no
    /// `--insecure-ignore-tlog`.
    fn verify(&self, key: &KeyPair, file: &str, bundle: &str) -> Run {
        vouch(&[
            "verify-blob",
            "--bundle",
            &self.path(bundle),
            "--key",
            key.public.to_str().unwrap(),
            "--trusted-root",
            self.root.to_str().unwrap(),
            "-o",
            "json",
            &self.path(file),
        ])
    }

    fn bundle_json(&self, bundle: &str) -> Value {
        serde_json::from_slice(&fs::read(self.dir.path().join(bundle)).unwrap()).unwrap()
    }

    fn exists(&self, name: &str) -> bool {
        Path::new(&self.path(name)).exists()
    }
}

/// The names of the checks a `verify-blob -o json` report lists.
fn checks(run: &Run) -> Vec<String> {
    run.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_tlog_verified(run: &Run) {
    assert_eq!(run.json()["verified"], true, "{run:#?}");
    let checks = checks(run);
    for check in [
        "tlog-entry-body",
        "tlog-signed-entry-timestamp",
        "tlog-inclusion-proof",
    ] {
        assert!(
            checks.iter().any(|c| c == check),
            "{check} missing: {checks:?}"
        );
    }
    let times = run.json()["times"].as_array().unwrap().clone();
    assert!(
        times.iter().any(|t| t["source"] == "tlog-integrated-time"),
        "{times:?}"
    );
}

#[test]
fn logged_blob_signatures_and_attestations_verify_with_the_tlog() {
    let s = Setup::new(RekorBehavior::Honest);
    let log = s.log_args();

    for algorithm in ["ecdsa-p256", "ecdsa-p384"] {
        let key = s.key(algorithm, algorithm);
        let bundle = format!("{algorithm}.sig.json");
        let run = s.sign(&key, "release.tar", &bundle, &log).expect_code(0);
        let entry = &run.json()["tlogEntry"];
        assert_eq!(entry["url"], s.log.url.as_str(), "{run:#?}");
        let written = s.bundle_json(&bundle);
        let tlog = &written["verificationMaterial"]["tlogEntries"][0];
        assert_eq!(tlog["kindVersion"]["kind"], "hashedrekord");
        assert_eq!(tlog["kindVersion"]["version"], "0.0.1");
        assert_eq!(tlog["logIndex"], entry["logIndex"].to_string());
        let checkpoint = tlog["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .unwrap();
        assert!(
            checkpoint.starts_with(&format!("127.0.0.1 - {FAKE_TREE_ID}\n")),
            "{checkpoint}"
        );
        assert!(tlog["inclusionPromise"]["signedEntryTimestamp"].is_string());
        assert_tlog_verified(&s.verify(&key, "release.tar", &bundle).expect_code(0));
    }

    // DSSE entries, Ed25519 included (the log verifies the whole envelope).
    for algorithm in ["ecdsa-p256", "ed25519"] {
        let key = s.key(&format!("att-{algorithm}"), algorithm);
        let bundle = format!("{algorithm}.att.json");
        s.attest(&key, &bundle, &log).expect_code(0);
        let tlog = &s.bundle_json(&bundle)["verificationMaterial"]["tlogEntries"][0];
        assert_eq!(tlog["kindVersion"]["kind"], "dsse");
        assert_tlog_verified(&s.verify(&key, "release.tar", &bundle).expect_code(0));
    }
    assert_eq!(s.log.tree_size(), 4);

    // The entry binds the bundle to this file: another file is denied.
    fs::write(s.dir.path().join("other.tar"), b"other contents").unwrap();
    let key = s.key("again", "ecdsa-p256");
    s.sign(&key, "release.tar", "again.json", &log)
        .expect_code(0);
    let denied = s.verify(&key, "other.tar", "again.json").expect_code(1);
    assert_eq!(denied.json()["verified"], false);
}

#[test]
fn uploads_in_a_row_grow_the_tree_and_every_proof_still_verifies() {
    let s = Setup::new(RekorBehavior::Honest);
    let key = s.key("signer", "ecdsa-p256");
    let log = s.log_args();
    let mut sizes = Vec::new();
    for i in 0..5 {
        let file = format!("file-{i}");
        fs::write(s.dir.path().join(&file), format!("contents {i}")).unwrap();
        let bundle = format!("{file}.json");
        let run = s.sign(&key, &file, &bundle, &log).expect_code(0);
        assert_eq!(run.json()["tlogEntry"]["logIndex"], i);
        let proof =
            &s.bundle_json(&bundle)["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
        sizes.push(proof["treeSize"].as_str().unwrap().parse::<u64>().unwrap());
    }
    assert_eq!(sizes, [1, 2, 3, 4, 5]);
    // Each bundle carries its own proof and checkpoint, valid after the tree grew.
    for i in 0..5 {
        let file = format!("file-{i}");
        assert_tlog_verified(
            &s.verify(&key, &file, &format!("{file}.json"))
                .expect_code(0),
        );
    }
    let posts = s
        .log
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST /api/v1/log/entries "))
        .count();
    assert_eq!(posts, 5);
}

#[test]
fn a_log_answer_that_does_not_verify_writes_no_bundle() {
    for (behavior, check) in [
        (RekorBehavior::BadSet, "[tlog-signed-entry-timestamp]"),
        (RekorBehavior::WrongBody, "[tlog-entry-body]"),
        (RekorBehavior::BadProof, "[tlog-inclusion-proof]"),
    ] {
        let s = Setup::new(behavior);
        let key = s.key("signer", "ecdsa-p256");
        let run = s
            .sign(&key, "release.tar", "sig.json", &s.log_args())
            .expect_code(3);
        assert!(
            run.stderr.contains(check) && run.stderr.contains("nothing was written or pushed"),
            "{behavior:?}: {}",
            run.stderr
        );
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(!s.exists("sig.json"), "{behavior:?}");
        let run = s.attest(&key, "att.json", &s.log_args()).expect_code(3);
        assert!(run.stderr.contains(check), "{behavior:?}: {}", run.stderr);
        assert!(!s.exists("att.json"), "{behavior:?}");
    }
}

#[test]
fn a_failing_log_exits_3_and_writes_no_bundle() {
    for behavior in [RekorBehavior::Status500, RekorBehavior::Close] {
        let s = Setup::new(behavior);
        let key = s.key("signer", "ecdsa-p256");
        let run = s
            .sign(&key, "release.tar", "sig.json", &s.log_args())
            .expect_code(3);
        assert!(
            run.stderr.contains("/api/v1/log/entries")
                && run.stderr.contains("gave up after 3 attempts"),
            "{behavior:?}: {}",
            run.stderr
        );
        if behavior == RekorBehavior::Status500 {
            assert!(run.stderr.contains("answered 500"), "{}", run.stderr);
        }
        // Transient failures are retried, three attempts in all.
        assert_eq!(s.log.requests().len(), 3, "{behavior:?}");
        assert!(!s.exists("sig.json"), "{behavior:?}");
        s.attest(&key, "att.json", &s.log_args()).expect_code(3);
        assert!(!s.exists("att.json"), "{behavior:?}");
    }
}

#[test]
fn a_lost_answer_is_recovered_through_the_conflict() {
    let s = Setup::new(RekorBehavior::LoseFirstAnswer);
    let key = s.key("signer", "ecdsa-p256");
    s.sign(&key, "release.tar", "sig.json", &s.log_args())
        .expect_code(0);
    let requests = s.log.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(requests[0].starts_with("POST /api/v1/log/entries "));
    assert!(requests[1].starts_with("POST /api/v1/log/entries "));
    assert!(requests[2].starts_with("GET /api/v1/log/entries/"));
    assert_eq!(s.log.tree_size(), 1);
    assert_tlog_verified(&s.verify(&key, "release.tar", "sig.json").expect_code(0));
}

#[test]
fn without_rekor_url_no_log_is_contacted() {
    let s = Setup::new(RekorBehavior::Honest);
    let key = s.key("signer", "ecdsa-p256");
    s.sign(&key, "release.tar", "sig.json", &[]).expect_code(0);
    s.attest(&key, "att.json", &[]).expect_code(0);
    assert!(s.log.requests().is_empty());
    for bundle in ["sig.json", "att.json"] {
        let json = s.bundle_json(bundle);
        assert_eq!(
            json["verificationMaterial"]["tlogEntries"],
            serde_json::json!([]),
            "{bundle}"
        );
    }
}

#[test]
fn a_log_the_trusted_root_does_not_name_is_refused() {
    let s = Setup::new(RekorBehavior::Honest);
    let key = s.key("signer", "ecdsa-p256");
    // The embedded public-good root does not know the fake log.
    let run = s
        .sign(
            &key,
            "release.tar",
            "sig.json",
            &["--rekor-url", &s.log.url],
        )
        .expect_code(3);
    assert!(run.stderr.contains("[tlog-entry]"), "{}", run.stderr);
    assert!(!s.exists("sig.json"));
    // Nor does another log's root.
    let other = FakeRekor::start(RekorBehavior::Honest);
    let other_root = s.dir.path().join("other_root.json");
    other.write_trusted_root(&other_root);
    let run = s
        .sign(
            &key,
            "release.tar",
            "sig.json",
            &[
                "--rekor-url",
                &s.log.url,
                "--trusted-root",
                other_root.to_str().unwrap(),
            ],
        )
        .expect_code(3);
    assert!(run.stderr.contains("[tlog-entry]"), "{}", run.stderr);
    assert!(!s.exists("sig.json"));
}

#[test]
fn bad_arguments_exit_2_before_any_log_request() {
    let s = Setup::new(RekorBehavior::Honest);
    let p256 = s.key("p256", "ecdsa-p256");
    let ed25519 = s.key("ed25519", "ed25519");

    // Ed25519 signs the whole file; a hashedrekord entry holds only its digest.
    let run = s
        .sign(&ed25519, "release.tar", "sig.json", &s.log_args())
        .expect_code(2);
    assert!(run.stderr.contains("Ed25519"), "{}", run.stderr);

    // --trusted-root means nothing without --rekor-url.
    let root = s.root.display().to_string();
    s.sign(&p256, "release.tar", "sig.json", &["--trusted-root", &root])
        .expect_code(2);

    // Plain HTTP only for loopback; a URL that is not one.
    for url in [
        "http://rekor.example.com",
        "rekor.example.com",
        "ftp://127.0.0.1",
    ] {
        let run = s
            .sign(&p256, "release.tar", "sig.json", &["--rekor-url", url])
            .expect_code(2);
        assert!(
            run.stderr.contains("invalid transparency log URL"),
            "{url}: {}",
            run.stderr
        );
    }

    // A trusted root that is not one.
    fs::write(s.dir.path().join("bad_root.json"), b"{\"mediaType\": 1}").unwrap();
    let bad_root = s.path("bad_root.json");
    s.sign(
        &p256,
        "release.tar",
        "sig.json",
        &["--rekor-url", &s.log.url, "--trusted-root", &bad_root],
    )
    .expect_code(2);
    s.attest(
        &p256,
        "att.json",
        &["--rekor-url", &s.log.url, "--trusted-root", &bad_root],
    )
    .expect_code(2);

    assert!(s.log.requests().is_empty(), "{:?}", s.log.requests());
    assert!(!s.exists("sig.json") && !s.exists("att.json"));
}
