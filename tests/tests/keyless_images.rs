//! Keyless image signatures end to end, against a real registry (distribution 2.8, which has
//! no referrers API) and a private Sigstore (`@sigstore/mock`'s Fulcio, Rekor v1 and timestamp
//! authority, see `vouch_tests::keyless`): signatures made by sigstore-js, stored as `cosign
//! sign` stores them (`sha256-<hex>.sig`) and as GitHub's `actions/attest` pushes bundles
//! (`@sigstore/oci`, the referrers tag schema), verified by `vouch verify` with signer flags
//! and with a trust policy, and cross-checked with sigstore-js.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use serde_json::Value;
use vouch_registry::cosign::BUNDLE_ANNOTATION;
use vouch_tests::keyless::{
    Keyless, KeylessSigned, SigstoreMock, keyless_policy, push_keyless_bundle_signature,
    push_keyless_signature, push_keyless_signature_with,
};
use vouch_tests::{Image, InstalledPeer, Peer, Registry, Run, push_image, unique, vouch};

const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const OTHER_IDENTITY: &str =
    "https://github.com/mallory/app/.github/workflows/release.yml@refs/tags/v1";
const OTHER_ISSUER: &str = "https://accounts.google.com";

/// The signer every test signs as, logged in Rekor.
fn signer() -> Keyless {
    Keyless::new(IDENTITY, ISSUER)
}

/// sigstore-js, the mock Sigstore and a registry with one fresh image in it; `None` when
/// sigstore-js is unavailable (the test returns; under `VOUCH_REQUIRE_PEERS=1` it has failed).
struct Setup {
    peer: InstalledPeer,
    mock: SigstoreMock,
    registry: Registry,
}

impl Setup {
    fn start() -> Option<Setup> {
        let peer = Peer::SigstoreJs.install()?;
        let mock = SigstoreMock::start(&peer);
        Some(Setup {
            peer,
            mock,
            registry: Registry::start(),
        })
    }

    fn image(&self, prefix: &str) -> Image {
        push_image(&self.registry, &unique(prefix), "v1")
    }

    fn root(&self) -> &str {
        self.mock.trusted_root().to_str().unwrap()
    }

    /// `vouch verify -o json` with `args` before the image.
    fn verify(&self, image: &Image, args: &[&str]) -> Run {
        let mut all = vec!["verify", "-o", "json"];
        all.extend_from_slice(args);
        all.push(&image.tagged);
        vouch(&all)
    }

    /// `vouch verify` for `identity` and `issuer`, with this mock's trusted root and `extra`.
    fn verify_signer(&self, image: &Image, identity: &str, issuer: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            issuer,
            "--trusted-root",
            self.root(),
        ];
        args.extend_from_slice(extra);
        self.verify(image, &args)
    }

    /// sigstore-js verifies `signed` as `signer`, with `tlog_threshold` log entries asked for.
    fn sigstore_js_verifies(&self, signed: &KeylessSigned, tlog_threshold: u32) {
        let run = signed.verify_with_sigstore_js(&self.peer, &self.mock, &signer(), tlog_threshold);
        assert_eq!(run.code, 0, "sigstore-js refused the bundle:\n{run:#?}");
    }
}

/// The `source` vouch reports for a signature in `image`'s cosign tag layout.
fn tag_source(image: &Image) -> String {
    format!("tag {}.sig", image.digest.replace(':', "-"))
}

/// The single image result of `run`, which exited `code`.
fn result(run: Run, code: i32) -> Value {
    let run = run.expect_code(code);
    let json = run.json();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json:#}");
    json[0].clone()
}

/// Asserts `result` verified with one keyless signature of [`IDENTITY`] from [`ISSUER`] read
/// from `source`.
fn assert_verified(result: &Value, source: &str) {
    assert_eq!(result["verified"], true, "{result:#}");
    let signatures = result["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1, "{result:#}");
    let signature = &signatures[0];
    assert_eq!(signature["source"], source, "{result:#}");
    assert_eq!(signature["identity"]["subject"], IDENTITY, "{result:#}");
    assert_eq!(signature["identity"]["issuer"], ISSUER, "{result:#}");
    assert_eq!(result["decision"]["allowed"], true, "{result:#}");
}

/// The `check` of every rejection in `result`, which did not verify.
fn rejected_checks(result: &Value) -> Vec<String> {
    assert_eq!(result["verified"], false, "{result:#}");
    assert_eq!(result["decision"]["allowed"], false, "{result:#}");
    let rejected = result["rejected"].as_array().unwrap();
    assert!(!rejected.is_empty(), "{result:#}");
    rejected
        .iter()
        .map(|r| r["check"].as_str().unwrap().to_owned())
        .collect()
}

/// Denied for the certificate's identity: one rejection, check `certificate-identity`.
fn assert_identity_rejected(result: &Value) {
    assert_eq!(
        rejected_checks(result),
        ["certificate-identity"],
        "{result:#}"
    );
}

/// The identity and issuer checks, with the right and wrong signers, for an image with one
/// keyless signature from `source`.
fn check_signer_flags(s: &Setup, image: &Image, source: &str) {
    assert_verified(
        &result(s.verify_signer(image, IDENTITY, ISSUER, &[]), 0),
        source,
    );
    // Another identity, another issuer: denied, naming the identity check.
    assert_identity_rejected(&result(
        s.verify_signer(image, OTHER_IDENTITY, ISSUER, &[]),
        1,
    ));
    assert_identity_rejected(&result(
        s.verify_signer(image, IDENTITY, OTHER_ISSUER, &[]),
        1,
    ));
    // A regular expression for the identity.
    let run = s.verify(
        image,
        &[
            "--certificate-identity-regexp",
            r"^https://github\.com/acme/[^/]+/\.github/workflows/release\.yml@refs/tags/v",
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            s.root(),
        ],
    );
    assert_verified(&result(run, 0), source);
    let run = s.verify(
        image,
        &[
            "--certificate-identity-regexp",
            r"^https://github\.com/mallory/",
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            s.root(),
        ],
    );
    assert_identity_rejected(&result(run, 1));
    // Without --trusted-root the embedded public-good root is used, which trusts neither the
    // mock's CA nor its log.
    let run = s.verify(
        image,
        &[
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
        ],
    );
    let without_root = result(run, 1);
    let checks = rejected_checks(&without_root);
    assert!(
        checks
            .iter()
            .any(|c| c.starts_with("certificate-chain") || c.starts_with("tlog")),
        "{without_root:#}"
    );
}

#[test]
fn keyless_tag_signature_with_a_log_entry_verifies_for_its_signer_only() {
    let Some(s) = Setup::start() else { return };
    let image = s.image("keyless-sig");
    let signed = push_keyless_signature(&s.peer, &s.mock, &image, &signer());
    // What cosign stores: a certificate and a Rekor bundle, no timestamp.
    let annotations = vouch_tests::signature_manifest(&image.repository, &image.digest).unwrap()
        ["layers"][0]["annotations"]
        .clone();
    for name in [
        "dev.cosignproject.cosign/signature",
        "dev.sigstore.cosign/certificate",
        "dev.sigstore.cosign/bundle",
    ] {
        assert!(
            annotations[name].is_string(),
            "{name} missing: {annotations:#}"
        );
    }
    assert!(annotations["dev.sigstore.cosign/rfc3161timestamp"].is_null());

    check_signer_flags(&s, &image, &tag_source(&image));
    s.sigstore_js_verifies(&signed, 1);
}

#[test]
fn tampered_signed_entry_timestamp_is_rejected() {
    let Some(s) = Setup::start() else { return };
    let image = s.image("keyless-bad-set");
    let signed = push_keyless_signature_with(&s.peer, &s.mock, &image, &signer(), |annotations| {
        let mut rekor: Value = serde_json::from_str(&annotations[BUNDLE_ANNOTATION]).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut set = b64
            .decode(rekor["SignedEntryTimestamp"].as_str().unwrap())
            .unwrap();
        // The last byte of the DER signature's s: still DER, no longer the log's signature.
        *set.last_mut().unwrap() ^= 0x01;
        rekor["SignedEntryTimestamp"] = b64.encode(&set).into();
        annotations.insert(BUNDLE_ANNOTATION.to_owned(), rekor.to_string());
    });
    let denied = result(s.verify_signer(&image, IDENTITY, ISSUER, &[]), 1);
    assert_eq!(
        rejected_checks(&denied),
        ["tlog-signed-entry-timestamp"],
        "{denied:#}"
    );
    // The bundle as sigstore-js made it is sound: only the copy in the registry was altered.
    s.sigstore_js_verifies(&signed, 1);
}

#[test]
fn keyless_bundle_referrer_pushed_by_sigstore_oci_verifies_for_its_signer_only() {
    let Some(s) = Setup::start() else { return };
    let image = s.image("keyless-bundle");
    let signed = push_keyless_bundle_signature(&s.peer, &s.mock, &image, &signer());
    assert_eq!(
        signed.bundle["mediaType"],
        vouch_tests::keyless::BUNDLE_V03_MEDIA_TYPE
    );
    // distribution 2.8 has no referrers API: @sigstore/oci used the tag schema.
    check_signer_flags(&s, &image, "referrers-tag-schema");
    s.sigstore_js_verifies(&signed, 1);
}

#[test]
fn timestamp_only_keyless_signature_needs_insecure_ignore_tlog() {
    let Some(s) = Setup::start() else { return };
    let image = s.image("keyless-tsa");
    let timestamped = signer().timestamp_only();
    let signed = push_keyless_signature(&s.peer, &s.mock, &image, &timestamped);
    let material = &signed.bundle["verificationMaterial"];
    assert!(material["tlogEntries"].as_array().is_none_or(Vec::is_empty));
    assert!(material["timestampVerificationData"]["rfc3161Timestamps"][0].is_object());

    let denied = result(s.verify_signer(&image, IDENTITY, ISSUER, &[]), 1);
    assert_eq!(rejected_checks(&denied), ["tlog-entry"], "{denied:#}");
    let allowed = result(
        s.verify_signer(&image, IDENTITY, ISSUER, &["--insecure-ignore-tlog"]),
        0,
    );
    assert_verified(&allowed, &tag_source(&image));

    // sigstore-js agrees: it refuses the bundle when it asks for a log entry, and accepts it
    // on the timestamp alone.
    let refused = signed.verify_with_sigstore_js(&s.peer, &s.mock, &timestamped, 1);
    assert_eq!(refused.code, 1, "{refused:#?}");
    s.sigstore_js_verifies(&signed, 0);
}

#[test]
fn trust_policy_decides_keyless_signatures_by_subject() {
    let Some(s) = Setup::start() else { return };
    let image = s.image("keyless-policy");
    let bundled = s.image("keyless-policy-bundle");
    let signed = push_keyless_signature(&s.peer, &s.mock, &image, &signer());
    let bundle = push_keyless_bundle_signature(&s.peer, &s.mock, &bundled, &signer());

    let acme = keyless_policy(&s.mock, &s.registry, ISSUER, r"^https://github\.com/acme/");
    let acme = acme.to_str().unwrap();
    for (image, source) in [
        (&image, tag_source(&image)),
        (&bundled, "referrers-tag-schema".to_owned()),
    ] {
        let allowed = result(s.verify(image, &["--policy", acme]), 0);
        assert_verified(&allowed, &source);
        assert_eq!(allowed["decision"]["verdict"], "pass", "{allowed:#}");
    }

    let others = keyless_policy(
        &s.mock,
        &s.registry,
        ISSUER,
        r"^https://github\.com/someone-else/",
    );
    for image in [&image, &bundled] {
        let denied = result(s.verify(image, &["--policy", others.to_str().unwrap()]), 1);
        assert_eq!(denied["verified"], false, "{denied:#}");
        assert_eq!(denied["decision"]["allowed"], false, "{denied:#}");
        assert_eq!(
            denied["decision"]["denial"], "no-accepted-signature",
            "{denied:#}"
        );
        // The authority looked at the signature and failed it on the identity.
        let results: Vec<&Value> = denied["decision"]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|e| e["results"].as_array().unwrap())
            .collect();
        assert!(
            results
                .iter()
                .any(|r| r["authority"] == "ci" && r["status"] == "fail"),
            "{denied:#}"
        );
    }
    s.sigstore_js_verifies(&signed, 1);
    s.sigstore_js_verifies(&bundle, 1);
}

#[test]
fn keyless_provenance_pushed_as_actions_attest_does_verifies_and_a_policy_requires_it() {
    let Some(s) = Setup::start() else { return };
    let image = s.image("keyless-attested");
    let (_, hex) = image.digest.split_once(':').unwrap();
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": image.repository, "digest": {"sha256": hex}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {"workflow": {"repository": "https://github.com/acme/app"}}
            },
            "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}}
        }
    });
    let signed = vouch_tests::keyless::push_keyless_bundle(
        &s.peer,
        &s.mock,
        &image,
        &signer(),
        &statement,
        Some("https://slsa.dev/provenance/v1"),
    );
    signed.verify_with_sigstore_js(&s.peer, &s.mock, &signer(), 1);

    // verify-attestation with the keyless flags, as for GitHub's attestations.
    let attest = |identity: &str, code: i32| {
        let run = vouch(&[
            "verify-attestation",
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            s.root(),
            "--type",
            "slsaprovenance1",
            "-o",
            "json",
            &image.tagged,
        ]);
        assert_eq!(run.code, code, "{run:#?}");
        run.json()
    };
    let report = attest(IDENTITY, 0);
    assert_eq!(
        report["attestations"][0]["store"], "referrers-tag-schema",
        "{report:#}"
    );
    let report = attest(OTHER_IDENTITY, 1);
    assert_eq!(
        report["rejected"][0]["check"], "certificate-identity",
        "{report:#}"
    );

    // A policy that needs the provenance, and no signature, from the release workflow, with a
    // Rego condition on the source repository.
    let dir = s.mock.dir();
    std::fs::write(
        dir.join("source.rego"),
        "package signature\nimport rego.v1\ndeny contains msg if {\n  repo := input.predicate.buildDefinition.externalParameters.workflow.repository\n  repo != \"https://github.com/acme/app\"\n  msg := sprintf(\"built from %v\", [repo])\n}\n",
    )
    .unwrap();
    let root = s.mock.trusted_root().file_name().unwrap().to_str().unwrap();
    let policy = |subject: &str| {
        let path = dir.join(format!("attested-{}.yaml", unique("p")));
        std::fs::write(
            &path,
            format!(
                "apiVersion: vouch.dev/v1\nkind: TrustPolicy\nauthorities:\n  ci:\n    keyless:\n      issuer: {ISSUER}\n      subject: {subject}\n    trustedRoot: {{path: {root}}}\nscopes:\n  - images: [\"{}/**\"]\n    authorities: [ci]\n    threshold: 0\n    attestations:\n      - type: https://slsa.dev/provenance/v1\n        rego: source.rego\n",
                s.registry.addr
            ),
        )
        .unwrap();
        path
    };
    let allowed = policy(IDENTITY);
    let run = vouch(&[
        "verify",
        "--policy",
        allowed.to_str().unwrap(),
        "-o",
        "json",
        &image.tagged,
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    let denied = policy(OTHER_IDENTITY);
    let run = vouch(&[
        "verify",
        "--policy",
        denied.to_str().unwrap(),
        "-o",
        "json",
        &image.tagged,
    ]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(
        run.json()[0]["decision"]["denial"],
        "attestation-missing",
        "{run:#?}"
    );
}

#[test]
fn a_private_ca_without_a_ct_log_needs_insecure_ignore_sct() {
    let Some(s) = Setup::start() else { return };
    let image = s.image("keyless-no-ct");
    push_keyless_signature(&s.peer, &s.mock, &image, &signer());
    // The same private Sigstore, but its trust root names no CT log.
    let mut root: Value =
        serde_json::from_slice(&std::fs::read(s.mock.trusted_root()).unwrap()).unwrap();
    root.as_object_mut().unwrap().remove("ctlogs");
    let no_ct = s.mock.dir().join("trusted_root_no_ct.json");
    std::fs::write(&no_ct, root.to_string()).unwrap();
    let verify = |extra: &[&str], code: i32| {
        let mut args = vec![
            "verify",
            "-o",
            "json",
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            no_ct.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(&image.tagged);
        result(vouch(&args), code)
    };
    let refused = verify(&[], 1);
    assert_eq!(
        rejected_checks(&refused),
        ["certificate-sct"],
        "{refused:#}"
    );
    let accepted = verify(&["--insecure-ignore-sct"], 0);
    assert_verified(&accepted, &tag_source(&image));
}
