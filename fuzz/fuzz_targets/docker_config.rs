//! Bytes → the two things vouch reads about registry credentials from untrusted places: a
//! `WWW-Authenticate` challenge (the input's first line, as a registry sends it) and the
//! docker config (the rest, written to `$DOCKER_CONFIG/config.json`), looked up for Docker
//! Hub, a registry with a port and an IP registry, through `vouch_registry::fuzz_credentials`.
//! `PATH` holds no program, so a `credHelpers` or `credsStore` entry names a helper that is
//! not found rather than one that runs. Errors are expected; a panic is a bug.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The password, token and `auth` content of the seeds (fuzz/seeds.py), kept by most
/// mutations.
const SECRET: &str = "s3cr3t-fuzz-value";

/// A directory of this process's own holding `config.json`, set as `DOCKER_CONFIG`, `HOME`
/// and (its empty `bin`) `PATH` before the first input.
fn directory() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vouch-fuzz-docker-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("bin")).expect("the fuzz directory");
        // SAFETY: set once, before any other thread of this process reads the environment
        // (the target runs single-threaded and makes no threads).
        unsafe {
            std::env::set_var("DOCKER_CONFIG", &dir);
            std::env::set_var("HOME", &dir);
            std::env::set_var("PATH", dir.join("bin"));
        }
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = directory();
    let (challenge, config) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b""[..]),
    };
    std::fs::write(dir.join("config.json"), config).expect("config.json");
    let challenge = String::from_utf8_lossy(challenge);
    for registry in ["docker.io", "registry.example:5000", "10.0.0.1"] {
        if let Err(error) = vouch_registry::fuzz_credentials(registry, &challenge) {
            // The seeds' secrets are SECRET; an error about the config never quotes it.
            let shown = error.to_string();
            assert!(!shown.contains(SECRET), "an error quotes a secret: {shown}");
        }
    }
});
