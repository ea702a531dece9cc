//! Bytes → `Bundle::from_json`; a bundle that parses is verified with the public-good root
//! and with a fixed root from the conformance cases, under an identity policy and a key
//! policy, against a fixed artifact by its bytes and by its digest. Errors are expected;
//! a panic is a bug.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vouch_keys::{Digest, PublicKey};
use vouch_verifier::bundle::Bundle;
use vouch_verifier::identity::{CertificateIdentity, Matcher};
use vouch_verifier::time::UnixTime;
use vouch_verifier::trust_root::TrustedRoot;
use vouch_verifier::verify::{Artifact, Options, Policy, Verifier};

const ARTIFACT: &[u8] = include_bytes!("../../verifier/tests/data/conformance/a.txt");
const FIXED_ROOT: &[u8] =
    include_bytes!("../../verifier/tests/data/conformance/rekor2-happy-path/trusted_root.json");
const KEY_PEM: &str =
    include_str!("../../verifier/tests/data/conformance/managed-key-happy-path/key.pub");
const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";

/// A fixed "now" (2026-01-01T00:00:00Z), so that a run does not depend on the clock: every
/// conformance bundle was made before it.
const NOW: UnixTime = UnixTime::from_secs(1_767_225_600);

struct Setup {
    verifiers: Vec<Verifier<'static>>,
    policies: Vec<Policy>,
    digest: Digest,
}

static FIXED: LazyLock<TrustedRoot> =
    LazyLock::new(|| TrustedRoot::from_json(FIXED_ROOT).expect("the fixed trusted root parses"));

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let public_good = TrustedRoot::public_good().expect("the public-good root parses");
    let verifiers = vec![
        Verifier::new(public_good).expect("a verifier for the public-good root"),
        Verifier::new(&FIXED).expect("a verifier for the fixed root"),
    ];
    let policies = vec![
        Policy::Identity(CertificateIdentity {
            subject: Matcher::Exact(IDENTITY.into()),
            issuer: Matcher::Exact("https://token.actions.githubusercontent.com".into()),
            claims: Vec::new(),
        }),
        Policy::Identity(CertificateIdentity {
            subject: Matcher::regex("^https://github.com/").expect("the pattern compiles"),
            issuer: Matcher::regex(".").expect("the pattern compiles"),
            claims: Vec::new(),
        }),
        Policy::Key(PublicKey::from_pem(KEY_PEM).expect("the conformance key parses")),
    ];
    Setup {
        verifiers,
        policies,
        digest: Digest::sha256(ARTIFACT),
    }
});

fuzz_target!(|data: &[u8]| {
    let setup = &*SETUP;
    let Ok(bundle) = Bundle::from_json(data) else {
        return;
    };
    // What was read must write out and read back to the same bundle.
    let again = Bundle::from_json(&bundle.to_json()).expect("a written bundle reads back");
    assert_eq!(again, bundle, "a bundle changes through a write and read");

    for verifier in &setup.verifiers {
        for policy in &setup.policies {
            for artifact in [Artifact::Bytes(ARTIFACT), Artifact::Digest(&setup.digest)] {
                for require_tlog in [true, false] {
                    let options = Options {
                        require_tlog,
                        ..Options::at(NOW)
                    };
                    let _ = verifier.verify(&bundle, artifact, policy, options);
                }
            }
        }
    }
});
