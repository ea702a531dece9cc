//! Bytes → a trust policy file, compiled as `vouch verify --policy`, `vouch policy lint` and
//! `vouch serve` load one: `TrustPolicy::from_bytes`, which tells vouch's `TrustPolicy` YAML,
//! policy-controller's `ClusterImagePolicy` and `TrustRoot` documents and containers'
//! `policy.json` apart and reads each strictly (YAML through serde-saphyr, regular expressions,
//! image patterns, durations, the key, trusted root and Rego files it names). The files it may
//! name are in a folder of this process's own: `keys/k.pub`, `roots/root.json`,
//! `policies/p.rego`. Errors are expected; a panic is a bug.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vouch_keys::{KeyType, PrivateKey};
use vouch_policy::TrustPolicy;

const ROOT: &[u8] =
    include_bytes!("../../verifier/tests/data/conformance/rekor2-happy-path/trusted_root.json");
const REGO: &str = "package signature\nimport rego.v1\nallow if input.predicate.passed\n";

/// The folder the policy's files are read from, written once.
fn base() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vouch-fuzz-policy-{}", std::process::id()));
        for sub in ["keys", "roots", "policies"] {
            std::fs::create_dir_all(dir.join(sub)).expect("the fuzz directory");
        }
        let key = PrivateKey::generate(KeyType::EcdsaP256).expect("a key");
        std::fs::write(dir.join("keys/k.pub"), key.public_key().to_pem()).expect("the key");
        std::fs::write(dir.join("roots/root.json"), ROOT).expect("the root");
        std::fs::write(dir.join("policies/p.rego"), REGO).expect("the policy");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(policy) = TrustPolicy::from_bytes("fuzz.yaml", base(), data) {
        // What a loaded policy is asked first: the scope of an image.
        for image in [
            "registry.example/app",
            "docker.io/library/nginx",
            "ghcr.io/acme/a/b",
        ] {
            let _ = policy.scope_for(image);
        }
    }
});
