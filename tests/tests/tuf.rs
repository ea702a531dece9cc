//! `vouch trust update` and `vouch trust show` against TUF repositories written with `tough`'s
//! editor and served on 127.0.0.1: root rotations are followed, and a rollback, an expired
//! role, a target or role whose hash or version is not the one listed for it, a role signed
//! by the wrong key and an endless file are each refused with what was wrong, leaving the
//! cache byte for byte as it was. Verification then uses the cache while it is valid and
//! the embedded root once it has expired, never fetching anything.
#![allow(clippy::unwrap_used)]

#[path = "../src/tuf.rs"]
mod tuf;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tuf::TufRepo;
use vouch_tests::hostile::Reply;
use vouch_tests::{Run, generate_key, vouch, vouch_command, vouch_with_password, workspace_dir};

/// `vouch trust update` of `repo` into `cache` (from `root` when given), JSON output.
fn update(repo: &TufRepo, cache: &Path, root: Option<&Path>) -> Run {
    update_from(&repo.url(), cache, root, &["-o", "json"])
}

/// `vouch trust update --mirror MIRROR` into `cache` (from `root` when given), text output
/// unless `extra` says otherwise.
fn update_from(mirror: &str, cache: &Path, root: Option<&Path>, extra: &[&str]) -> Run {
    let cache = cache.display().to_string();
    let mut args = vec!["trust", "update", "--mirror", mirror, "--cache-dir", &cache];
    let root = root.map(|r| r.display().to_string());
    if let Some(root) = &root {
        args.extend(["--root", root]);
    }
    args.extend_from_slice(extra);
    vouch(&args)
}

/// `vouch trust show` of `cache`, JSON output.
fn show(cache: &Path) -> Value {
    vouch(&[
        "trust",
        "show",
        "--cache-dir",
        cache.to_str().unwrap(),
        "-o",
        "json",
    ])
    .expect_code(0)
    .json()
}

/// Every file under `dir` and its bytes: what "the cache is unchanged" compares.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// A repository updated once into a fresh cache (from its root v1), then moved to version
/// 2 of timestamp, snapshot and targets: what each fault below starts from.
struct Updated {
    repo: TufRepo,
    _dir: tempfile::TempDir,
    cache: PathBuf,
    before: BTreeMap<PathBuf, Vec<u8>>,
}

impl Updated {
    fn new() -> Updated {
        let repo = TufRepo::new();
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let first = update(&repo, &cache, Some(&repo.root_file(1))).expect_code(0);
        assert_eq!(first.json()["timestamp_version"], 1);
        let before = contents(&cache);
        Updated {
            repo,
            _dir: dir,
            cache,
            before,
        }
    }

    /// Runs an update that must be refused (exit 3) with a message containing each of
    /// `expected`, and checks that the cache did not change.
    fn refused(&self, expected: &[&str]) -> Run {
        let run = update(&self.repo, &self.cache, None).expect_code(3);
        for text in expected {
            assert!(run.stderr.contains(text), "missing {text:?} in:\n{run:#?}");
        }
        assert!(run.stderr.contains("nothing was cached"), "{run:#?}");
        assert!(run.stdout.is_empty(), "{run:#?}");
        assert_eq!(
            contents(&self.cache),
            self.before,
            "the cache changed after a refused update"
        );
        assert_eq!(show(&self.cache)["cache"]["timestamp_version"], 1);
        run
    }
}

#[test]
fn root_rotations_are_followed_from_v1_to_v3_and_show_reports_the_version() {
    let mut repo = TufRepo::new();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tuf");

    let first = update(&repo, &cache, Some(&repo.root_file(1)))
        .expect_code(0)
        .json();
    assert_eq!(first["root_version"], 1, "{first:#}");
    assert_eq!(
        first["started_from"],
        format!("file {}", repo.root_file(1).display())
    );
    assert_eq!(first["signing_config"], true);
    assert_eq!(first["tlogs"], 2);
    let shown = show(&cache);
    assert_eq!(shown["in_use"], "cache", "{shown:#}");
    assert_eq!(shown["cache"]["root_version"], 1);
    assert_eq!(shown["cache"]["expires_role"], "timestamp");
    assert!(
        shown["trusted_root"]
            .as_str()
            .unwrap()
            .starts_with(&format!("TUF cache {}", cache.display())),
        "{shown:#}"
    );

    // Two rotations, every key new each time; roles re-signed by the new keys.
    repo.rotate_root();
    repo.rotate_root();
    assert_eq!(repo.root_version, 3);
    let second = update(&repo, &cache, None).expect_code(0).json();
    assert_eq!(second["started_from"], "cache", "{second:#}");
    assert_eq!(second["started_root_version"], 1);
    assert_eq!(second["root_version"], 3);
    assert_eq!(second["timestamp_version"], 3);
    let shown = show(&cache);
    assert_eq!(shown["cache"]["root_version"], 3, "{shown:#}");
    assert_eq!(shown["in_use"], "cache");
    let text = vouch(&["trust", "show", "--cache-dir", cache.to_str().unwrap()])
        .expect_code(0)
        .stdout;
    assert!(text.contains("TUF root:       version 3"), "{text}");
    // The cache starts the next update from root v3: nothing new, nothing refused.
    update(&repo, &cache, None).expect_code(0);
}

#[test]
fn a_repository_without_a_signing_config_is_updated_all_the_same() {
    let data = workspace_dir().join("tests/data/tuf");
    let repo = TufRepo::with_targets(&[data.join("trusted_root.json")]);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let run = update_from(&repo.url(), &cache, Some(&repo.root_file(1)), &[]).expect_code(0);
    assert!(
        run.stdout
            .contains("signing_config.v0.2.json: not in the repository; none cached"),
        "{run:#?}"
    );
    assert_eq!(show(&cache)["cache"]["signing_config"], false);
}

#[test]
fn a_rolled_back_timestamp_is_refused_and_the_cache_is_kept() {
    let mut updated = Updated::new();
    let old_timestamp = updated.repo.metadata("timestamp.json");
    updated.repo.publish();
    update(&updated.repo, &updated.cache, None).expect_code(0);
    updated.before = contents(&updated.cache);
    updated
        .repo
        .write_metadata("timestamp.json", &old_timestamp);
    let run = update(&updated.repo, &updated.cache, None).expect_code(3);
    assert!(
        run.stderr.contains(
            "rollback: the repository serves timestamp.json version 1, older than version 2"
        ),
        "{run:#?}"
    );
    assert_eq!(contents(&updated.cache), updated.before);
    assert_eq!(show(&updated.cache)["cache"]["timestamp_version"], 2);
}

#[test]
fn an_expired_timestamp_is_refused_naming_the_role_and_the_time() {
    let mut updated = Updated::new();
    updated.repo.publish_with_timestamp_expiry(-3600);
    let run = updated.refused(&["timestamp.json version 2 expired at ", "freeze attack"]);
    // The time is the one the timestamp states.
    let stated: Value = serde_json::from_slice(&updated.repo.metadata("timestamp.json")).unwrap();
    let expires = stated["signed"]["expires"].as_str().unwrap();
    assert!(run.stderr.contains(expires), "{expires} not in {run:#?}");
}

#[test]
fn a_target_whose_bytes_differ_from_its_listed_hash_is_refused() {
    let mut updated = Updated::new();
    updated.repo.publish();
    // Same length, other bytes: only the hash tells.
    let file = updated.repo.target_file("trusted_root.json");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.iter().position(|b| *b == b'"').unwrap();
    bytes[at] = b' ';
    std::fs::write(&file, bytes).unwrap();
    updated.refused(&[
        "trusted_root.json",
        "SHA-256",
        "as the signed targets.json lists",
    ]);
}

#[test]
fn a_mix_and_match_of_snapshot_and_targets_versions_is_refused() {
    let mut updated = Updated::new();
    updated.repo.publish();
    // snapshot v2 names targets v2; the repository serves targets v1 in its place.
    let old_targets = updated.repo.metadata("1.targets.json");
    updated.repo.write_metadata("2.targets.json", &old_targets);
    updated.refused(&["2.targets.json", "snapshot.json", "mix-and-match"]);
}

#[test]
fn roles_signed_by_the_wrong_keys_are_refused() {
    // A timestamp signed by a key the root does not give that role.
    let mut updated = Updated::new();
    updated.repo.publish();
    updated.repo.sign_timestamp_with_a_foreign_key();
    updated.refused(&[
        "timestamp.json version 2 does not verify",
        "Signature threshold",
    ]);

    // A root v2 that the root v1 does not vouch for (signed by its own new keys only).
    let mut updated = Updated::new();
    updated.repo.rotate_root_signed_by_old(false);
    updated.refused(&["root.json version 2 does not verify", "Signature threshold"]);
}

#[test]
fn endless_files_are_refused_within_their_size_limit() {
    let endless = || Reply::Endless {
        headers: Vec::new(),
        chunk: vec![b' '; 64 * 1024],
        interval: Duration::ZERO,
    };
    let updated = Updated::new();
    updated.repo.answer("/timestamp.json", endless());
    let started = Instant::now();
    updated.refused(&["timestamp.json", "larger than the 1048576-byte limit"]);
    assert!(started.elapsed() < Duration::from_secs(60));

    // An endless next root is an error, not the end of the rotation chain.
    let updated = Updated::new();
    updated.repo.answer("/2.root.json", endless());
    updated.refused(&["2.root.json", "larger than the 1048576-byte limit"]);
}

#[test]
fn bad_input_is_exit_2_and_a_repository_that_is_not_one_is_exit_3() {
    let repo = TufRepo::new();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // A starting root that is not a TUF root, or does not verify with its own keys.
    let not_root = dir.path().join("not-root.json");
    std::fs::write(&not_root, b"{\"signed\": {}}").unwrap();
    let run = update(&repo, &cache, Some(&not_root)).expect_code(2);
    assert!(run.stderr.contains("not-root.json"), "{run:#?}");
    let mut forged: Value = serde_json::from_slice(&repo.metadata("1.root.json")).unwrap();
    forged["signed"]["version"] = 7.into();
    let forged_file = dir.path().join("forged.root.json");
    std::fs::write(&forged_file, serde_json::to_vec(&forged).unwrap()).unwrap();
    let run = update(&repo, &cache, Some(&forged_file)).expect_code(2);
    assert!(run.stderr.contains("forged.root.json"), "{run:#?}");
    assert!(run.stderr.contains("its own root keys"), "{run:#?}");
    // Plain HTTP beyond loopback.
    let run = update_from("http://tuf.example.com", &cache, None, &[]).expect_code(2);
    assert!(run.stderr.contains("TUF mirror"), "{run:#?}");
    // A server that has no TUF repository at all.
    let empty = tempfile::tempdir().unwrap();
    let (server, _) = tuf::serve_repository(empty.path());
    let run = update_from(&server.url(), &cache, Some(&repo.root_file(1)), &[]).expect_code(3);
    assert!(
        run.stderr
            .contains("timestamp.json is not in the repository"),
        "{run:#?}"
    );
    assert!(
        !cache.exists(),
        "a refused first update left {}",
        cache.display()
    );
}

#[test]
fn sigstores_real_root_rotations_are_followed_to_v15_which_has_expired() {
    // Sigstore's roots as N.root.json: from v12, tough follows the real rotations to v15
    // (PEM keys, threshold 3 of the old and of the new root keys, tuf-on-ci's extra fields
    // kept in what is verified), and v15 expired on 2026-11-20. (tough cannot start further
    // back: roots 1-3 state `expires` with fractions and offsets, which tough normalizes
    // before checking the signatures over it, and roots 10-11 list a key whose ID is not
    // the hash tough computes for it. vouch starts from v15.)
    let dir = tempfile::tempdir().unwrap();
    let metadata = dir.path().join("metadata");
    std::fs::create_dir_all(&metadata).unwrap();
    let history = workspace_dir().join("tests/data/tuf/sigstore-root-history");
    for version in 1..=15 {
        let name = format!("{version}.root.json");
        std::fs::copy(history.join(&name), metadata.join(&name)).unwrap();
    }
    let (server, _) = tuf::serve_repository(dir.path());
    let cache = dir.path().join("cache");
    let run = update_from(
        &server.url(),
        &cache,
        Some(&history.join("12.root.json")),
        &[],
    )
    .expect_code(3);
    assert!(
        run.stderr
            .contains("root.json version 15 expired at 2026-11-20T13:58:18Z"),
        "{run:#?}"
    );
    let fetched: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(
        fetched,
        [
            "/13.root.json",
            "/14.root.json",
            "/15.root.json",
            "/16.root.json"
        ],
        "{run:#?}"
    );
    assert!(!cache.exists());
}

#[test]
fn verification_uses_the_cache_while_it_is_valid_and_the_embedded_root_after() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("release.tar");
    std::fs::write(&file, b"release contents").unwrap();
    let key = generate_key(d, "k", "ecdsa-p256");
    let bundle = d.join("release.sigstore.json");
    vouch_with_password(
        &key.password,
        &[
            "sign-blob",
            "--key",
            key.key.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let verify = |cache: &Path| {
        let output = vouch_command(&[
            "verify-blob",
            "--bundle",
            bundle.to_str().unwrap(),
            "--key",
            key.public.to_str().unwrap(),
            "--insecure-ignore-tlog",
            "-o",
            "json",
            file.to_str().unwrap(),
        ])
        .env("VOUCH_TUF_CACHE", cache)
        .output()
        .unwrap();
        Run::from(output).expect_code(0)
    };

    // A valid cache: verification names it, and fetches nothing.
    let repo = TufRepo::new();
    let valid = d.join("valid");
    update(&repo, &valid, Some(&repo.root_file(1))).expect_code(0);
    let served = repo.requests();
    let run = verify(&valid);
    let name = run.json()["trusted_root"].as_str().unwrap().to_owned();
    assert!(
        name.starts_with(&format!(
            "TUF cache {} ({}, root v1, expires ",
            valid.display(),
            repo.url()
        )),
        "{name}"
    );
    assert!(run.stderr.is_empty(), "{run:#?}");
    assert_eq!(repo.requests(), served, "verification fetched something");

    // A cache whose timestamp expires a few seconds after it is fetched (enough for a
    // loaded machine to fetch it first), once it has expired.
    let mut short = TufRepo::new();
    short.publish_with_timestamp_expiry(6);
    let expiring = d.join("expiring");
    let fetched = update(&short, &expiring, Some(&short.root_file(1)))
        .expect_code(0)
        .json();
    assert_eq!(fetched["expires_role"], "timestamp");
    let expires = vouch_keys::time::parse_rfc3339(fetched["expires"].as_str().unwrap())
        .unwrap()
        .0;
    let now = vouch_keys::time::unix_secs(std::time::SystemTime::now());
    std::thread::sleep(Duration::from_secs(
        u64::try_from(expires - now + 1).unwrap_or(0),
    ));
    let run = verify(&expiring);
    assert_eq!(
        run.json()["trusted_root"],
        "embedded public-good trusted root"
    );
    assert!(
        run.stderr.contains("warning: the TUF cache")
            && run.stderr.contains("expired at")
            && run.stderr.contains("run `vouch trust update`"),
        "{run:#?}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    let shown = show(&expiring);
    assert_eq!(shown["in_use"], "embedded", "{shown:#}");
    assert_eq!(shown["cache"]["expired"], true);
    assert!(shown["problem"].as_str().unwrap().contains("expired at"));
}

#[test]
fn keyless_signing_takes_its_services_and_root_from_the_cache() {
    use vouch_tests::Peer;
    use vouch_tests::keyless::SigstoreMock;
    let Some(peer) = Peer::SigstoreJs.install() else {
        return;
    };
    let mock = SigstoreMock::start(&peer);
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    // A TUF repository publishing the mock's trusted root and signing config, as Sigstore's
    // publishes the public-good instance's.
    let targets = [
        d.join("trusted_root.json"),
        d.join("signing_config.v0.2.json"),
    ];
    std::fs::copy(mock.trusted_root(), &targets[0]).unwrap();
    std::fs::copy(mock.signing_config(), &targets[1]).unwrap();
    let repo = TufRepo::with_targets(&targets);
    let cache = d.join("cache");
    update(&repo, &cache, Some(&repo.root_file(1))).expect_code(0);

    let identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
    let issuer = "https://token.actions.githubusercontent.com";
    let token = d.join("token");
    std::fs::write(&token, SigstoreMock::token(identity, issuer)).unwrap();
    let file = d.join("release.tar");
    std::fs::write(&file, b"release").unwrap();
    let bundle = d.join("release.sigstore.json");
    // No service flag, no --signing-config, no --trusted-root: all of it from the cache.
    let with_cache = |args: &[&str]| {
        Run::from(
            vouch_command(args)
                .env("VOUCH_TUF_CACHE", &cache)
                .output()
                .unwrap(),
        )
    };
    let token_arg = format!("@{}", token.display());
    let signed = with_cache(&[
        "sign-blob",
        "-o",
        "json",
        "--identity-token",
        &token_arg,
        "--bundle",
        bundle.to_str().unwrap(),
        file.to_str().unwrap(),
    ])
    .expect_code(0);
    assert_eq!(signed.json()["tlogEntry"]["url"], mock.url(), "{signed:#?}");
    with_cache(&[
        "verify-blob",
        "--bundle",
        bundle.to_str().unwrap(),
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
        file.to_str().unwrap(),
    ])
    .expect_code(0);
}
