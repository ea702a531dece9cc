//! A registry that misbehaves in the ways the distribution spec leaves to clients to catch: a
//! `Docker-Content-Digest` that is not the body's, a body that is not the digest asked for, a
//! tag that moves between two requests, 10,000 referrers, a manifest of deeply nested JSON, and
//! bodies that trickle one byte a second (a manifest to `verify`, a layer to `copy`); and OCI
//! layouts that name paths with `..` or hold symbolic links. Each is refused with the thing
//! named (or, for the moving tag, read once), within the deadline and in less than 256 MiB of
//! memory, and nothing is written.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use vouch_tests::hostile::{Content, HostileServer, Reply};
use vouch_tests::{Run, generate_key, vouch_command};

/// The most memory a run may take, in KiB (256 MiB): its data limit (`ulimit -d`, every
/// private writable mapping: heap, anonymous maps, thread stacks), so that more fails the
/// allocation and aborts vouch instead of being sampled or missed.
const MEMORY_LIMIT_KIB: u64 = 256 * 1024;

/// The `--timeout` most runs here are given, and so the time they must end within.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `vouch ARGS` (as [`vouch_command`] sets it up) under a data limit of
/// [`MEMORY_LIMIT_KIB`], its output to files, killed after twice [`DEADLINE`]; its result and
/// how long it took. A run that needed more memory fails the test.
fn measured(args: &[&str]) -> (Run, Duration) {
    let vouch = vouch_command(args);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "ulimit -d {MEMORY_LIMIT_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(vouch.get_program())
        .args(vouch.get_args());
    for (name, value) in vouch.get_envs() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
    command
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .stdin(Stdio::null());
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > 2 * DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "{args:?} still running after {:?}; stderr so far: {}",
                started.elapsed(),
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&stdout).unwrap(),
        stderr: std::fs::read_to_string(&stderr).unwrap(),
    };
    // Rust's message when an allocation fails, before it aborts.
    assert!(
        !run.stderr.contains("memory allocation of"),
        "{args:?} needed more than 256 MiB: {run:#?}"
    );
    assert!(run.code >= 0, "{args:?} was killed: {run:#?}");
    (run, took)
}

/// [`measured`], checked to have ended within `deadline` (with a few seconds for starting
/// and stopping).
fn bounded(args: &[&str], deadline: Duration) -> Run {
    let (run, took) = measured(args);
    assert!(
        took < deadline + Duration::from_secs(4),
        "{args:?} took {took:?}, deadline {deadline:?}: {run:#?}"
    );
    run
}

/// A small image manifest (config blob included in `content`) whose config says `label`.
fn image(content: &mut Content, label: &str) -> serde_json::Value {
    let config = content.blob(
        "application/vnd.oci.image.config.v1+json",
        format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"l":"{label}"}}}}}}"#
        )
        .into_bytes(),
    );
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [],
    })
}

/// `vouch verify --key K IMAGE -o json --timeout 60` against `server`, [`bounded`].
fn verify(server: &HostileServer, image: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = format!("{}/{image}", server.addr);
    bounded(
        &[
            "verify",
            "--key",
            key.public.to_str().unwrap(),
            "--registry-attempts",
            "1",
            "--timeout",
            "60",
            "-o",
            "json",
            &image,
        ],
        DEADLINE,
    )
}

#[test]
fn a_docker_content_digest_that_is_not_the_body_is_refused() {
    let mut content = Content::default();
    let manifest = image(&mut content, "a");
    let digest = content.manifest(Some("v1"), &manifest);
    let lie = format!("sha256:{}", "0".repeat(64));
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let server = HostileServer::start(move |request| {
        if request.path().ends_with("/manifests/v1") {
            Reply::with_headers(
                "200 OK",
                &[
                    ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                    ("Docker-Content-Digest", &lie),
                ],
                &bytes,
            )
        } else {
            content.answer(request)
        }
    });
    let run = verify(&server, "app:v1");
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(
        run.stderr.contains(&"0".repeat(64)) || run.stderr.contains(&digest),
        "{run:#?}"
    );
    assert!(run.stderr.to_lowercase().contains("digest"), "{run:#?}");
}

#[test]
fn a_body_that_is_not_the_digest_asked_for_is_refused() {
    let mut content = Content::default();
    let good = image(&mut content, "good");
    let evil = image(&mut content, "evil");
    let digest = content.manifest(None, &good);
    let evil = serde_json::to_vec(&evil).unwrap();
    let asked = digest.clone();
    let server = HostileServer::start(move |request| {
        if request.path().ends_with(&format!("/manifests/{asked}")) {
            Reply::with_headers(
                "200 OK",
                &[
                    ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                    ("Docker-Content-Digest", &asked),
                ],
                &evil,
            )
        } else {
            content.answer(request)
        }
    });
    // verify needs only the digest (signatures name it); sbom reads the manifest.
    let image = format!("{}/app@{digest}", server.addr);
    let run = bounded(
        &[
            "sbom",
            "--registry-attempts",
            "1",
            "--timeout",
            "60",
            &image,
        ],
        DEADLINE,
    );
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(run.stderr.contains(&digest), "{run:#?}");
    assert!(run.stdout.is_empty(), "nothing is written: {run:#?}");
}

#[test]
fn a_tag_that_moves_between_requests_is_resolved_once() {
    let mut content = Content::default();
    let first = image(&mut content, "first");
    let second = image(&mut content, "second");
    let first_digest = content.manifest(None, &first);
    content.manifest(None, &second);
    let first = serde_json::to_vec(&first).unwrap();
    let second = serde_json::to_vec(&second).unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let count = asked.clone();
    let server = HostileServer::start(move |request| {
        if request.path().ends_with("/manifests/v1") {
            let body = if count.fetch_add(1, Ordering::SeqCst) == 0 {
                &first
            } else {
                &second
            };
            Reply::with_headers(
                "200 OK",
                &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                body,
            )
        } else {
            content.answer(request)
        }
    });
    let run = verify(&server, "app:v1");
    // Unsigned: denied, about the manifest the tag named first, asked for once.
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.json()[0]["digest"], first_digest.as_str(), "{run:#?}");
    assert_eq!(asked.load(Ordering::SeqCst), 1, "the tag is resolved once");
}

#[test]
fn ten_thousand_referrers_are_refused_by_the_limit() {
    let mut content = Content::default();
    let manifest = image(&mut content, "a");
    let digest = content.manifest(Some("v1"), &manifest);
    // Distinct referrers (the same one listed twice counts once).
    let listed: Vec<serde_json::Value> = (0..10_000)
        .map(|i| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                "digest": format!("sha256:{i:064x}"),
                "size": 500,
            })
        })
        .collect();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": listed,
    }))
    .unwrap();
    let referrers = format!("/referrers/{digest}");
    let server = HostileServer::start(move |request| {
        if request.path().ends_with(&referrers) {
            Reply::with_headers(
                "200 OK",
                &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
                &index,
            )
        } else {
            content.answer(request)
        }
    });
    let run = verify(&server, "app:v1");
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(
        run.stderr.contains("1000") || run.stderr.contains("1,000"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("referrers"), "{run:#?}");
    // Not one of them was fetched.
    let fetched = server
        .requests()
        .iter()
        .filter(|r| r.path().contains("/manifests/sha256:000000"))
        .count();
    assert_eq!(fetched, 0);
}

#[test]
fn a_manifest_of_deeply_nested_json_is_refused_without_a_crash() {
    let nested = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000)).into_bytes();
    let server = HostileServer::start(move |request| {
        if request.path().ends_with("/manifests/v1") {
            Reply::with_headers(
                "200 OK",
                &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                &nested,
            )
        } else {
            Reply::with_headers("200 OK", &[("Content-Type", "application/json")], b"{}")
        }
    });
    let run = verify(&server, "app:v1");
    assert!(run.code == 3 || run.code == 2, "{run:#?}");
    assert!(
        !run.stderr.contains("overflow") && !run.stderr.contains("panicked"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("manifest"), "{run:#?}");
}

#[test]
fn a_layout_whose_files_are_symbolic_links_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let (_, layer) = vouch_tests::one_layer_layout(
        &layout,
        "application/vnd.oci.image.layer.v1.tar",
        &[0; 1024],
    );
    let image = format!("oci:{}:v1", layout.display());
    let run = |args: &[&str]| bounded(args, DEADLINE);
    run(&["sbom", &image]).expect_code(0);

    // The layer blob replaced by a link to a copy of itself outside the layout: same bytes,
    // same digest, and still refused, by name.
    let hex = layer.digest.hex().to_owned();
    let blob = layout.join("blobs/sha256").join(&hex);
    let outside = dir.path().join("outside");
    std::fs::copy(&blob, &outside).unwrap();
    std::fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink(&outside, &blob).unwrap();
    let refused = run(&["sbom", &image]);
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert!(refused.stderr.contains("symbolic link"), "{refused:#?}");
    assert!(refused.stderr.contains(&hex), "{refused:#?}");
    assert!(refused.stdout.is_empty(), "{refused:#?}");

    // index.json as a link: refused before anything is read.
    std::fs::remove_file(&blob).unwrap();
    std::fs::copy(&outside, &blob).unwrap();
    let index = layout.join("index.json");
    let index_outside = dir.path().join("index.json");
    std::fs::rename(&index, &index_outside).unwrap();
    std::os::unix::fs::symlink(&index_outside, &index).unwrap();
    let refused = run(&["sbom", &image]);
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert!(
        refused.stderr.contains("index.json is a symbolic link"),
        "{refused:#?}"
    );

    // The blobs folder as a link to a copy of it: the link is named, and neither signing nor
    // copying into the layout writes through it.
    std::fs::remove_file(&index).unwrap();
    std::fs::rename(&index_outside, &index).unwrap();
    let blobs_outside = dir.path().join("blobs-outside");
    std::fs::rename(layout.join("blobs/sha256"), &blobs_outside).unwrap();
    std::os::unix::fs::symlink(&blobs_outside, layout.join("blobs/sha256")).unwrap();
    let files = |dir: &std::path::Path| {
        let mut files = walk(dir);
        files.sort();
        files
    };
    let before = files(&blobs_outside);
    let refused = run(&["sbom", &image]);
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert!(
        refused.stderr.contains("blobs/sha256 is a symbolic link"),
        "{refused:#?}"
    );
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let sign = vouch_tests::vouch_with_password(
        &key.password,
        &["sign", "--key", key.key.to_str().unwrap(), &image],
    );
    assert_ne!(sign.code, 0, "{sign:#?}");
    assert!(sign.stderr.contains("symbolic link"), "{sign:#?}");
    let source = dir.path().join("source");
    vouch_tests::one_layer_layout(
        &source,
        "application/vnd.oci.image.layer.v1.tar",
        &[1; 1024],
    );
    let copied = run(&[
        "copy",
        &format!("oci:{}:v1", source.display()),
        &format!("oci:{}:v2", layout.display()),
    ]);
    assert_ne!(copied.code, 0, "{copied:#?}");
    assert!(copied.stderr.contains("symbolic link"), "{copied:#?}");
    assert_eq!(files(&blobs_outside), before, "written through the link");
    assert!(
        !std::fs::read_to_string(&index).unwrap().contains("\"v2\""),
        "tagged through the link"
    );
}

#[test]
fn a_layout_naming_paths_with_dot_dot_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, image) = vouch_tests::empty_layer_image(dir.path());
    let index_path = layout.join("index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let manifest_path = layout
        .join("blobs/sha256")
        .join(manifest_digest.trim_start_matches("sha256:"));
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    // 64 characters, as many as a SHA-256 digest has: `blobs/sha256/` joined with it leads
    // 21 folders up, out of the layout.
    let climb = format!("sha256:{}.", "../".repeat(21));
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let destination = dir.path().join("copy");
    let destination_image = format!("oci:{}:v1", destination.display());
    let every_command = |expect: &str| {
        for args in [
            vec!["sbom", image.as_str()],
            vec!["verify", "--key", key.public.to_str().unwrap(), &image],
            vec!["tree", &image],
            vec!["copy", &image, &destination_image],
        ] {
            let run = bounded(&args, DEADLINE);
            assert_eq!(run.code, 2, "{args:?}: {run:#?}");
            assert!(run.stderr.contains(expect), "{args:?}: {run:#?}");
            assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
            assert!(!destination.exists(), "{args:?} wrote {destination:?}");
        }
    };

    // index.json naming the manifest by a path that climbs out.
    let mut climbing = index.clone();
    climbing["manifests"][0]["digest"] = climb.clone().into();
    std::fs::write(&index_path, serde_json::to_vec(&climbing).unwrap()).unwrap();
    every_command(&format!("invalid digest \"{climb}\""));

    // The manifest naming its layer so (index.json names the manifest rightly).
    manifest["layers"][0]["digest"] = climb.clone().into();
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let written = vouch_keys::Digest::sha256(&bytes);
    std::fs::write(layout.join("blobs/sha256").join(written.hex()), &bytes).unwrap();
    let mut pointing = index.clone();
    pointing["manifests"][0]["digest"] = written.to_string().into();
    pointing["manifests"][0]["size"] = bytes.len().into();
    std::fs::write(&index_path, serde_json::to_vec(&pointing).unwrap()).unwrap();
    for args in [
        vec!["sbom", image.as_str()],
        vec!["copy", &image, &destination_image],
    ] {
        let run = bounded(&args, DEADLINE);
        assert_ne!(run.code, 0, "{args:?}: {run:#?}");
        assert!(run.stderr.contains(&climb), "{args:?}: {run:#?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
        assert!(!destination.exists(), "{args:?} wrote {destination:?}");
    }
}

/// A reply that trickles one byte a second and never ends.
fn trickle(content_type: &str) -> Reply {
    Reply::Endless {
        headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
        chunk: b" ".to_vec(),
        interval: std::time::Duration::from_secs(1),
    }
}

#[test]
fn a_manifest_trickling_one_byte_a_second_is_cut_off_by_either_deadline() {
    let server = HostileServer::start(|request| {
        if request.path().ends_with("/manifests/v1") {
            trickle("application/vnd.oci.image.manifest.v1+json")
        } else {
            Reply::with_headers("200 OK", &[("Content-Type", "application/json")], b"{}")
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = format!("{}/app:v1", server.addr);
    let key = key.public.to_str().unwrap();

    // The whole command's deadline.
    let (run, took) = measured(&[
        "verify",
        "--key",
        key,
        "--timeout",
        "4",
        "--registry-attempts",
        "1",
        &image,
    ]);
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(run.stderr.contains("--timeout"), "{run:#?}");
    assert!(took.as_secs_f64() < 8.0, "took {took:?}");

    // One request's deadline, each attempt.
    let (run, took) = measured(&[
        "verify",
        "--key",
        key,
        "--registry-timeout",
        "2",
        "--registry-attempts",
        "2",
        "--timeout",
        "60",
        &image,
    ]);
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(run.stderr.contains("timed out"), "{run:#?}");
    assert!(run.stderr.contains("manifest"), "{run:#?}");
    assert!(took.as_secs_f64() < 12.0, "took {took:?}");
}

#[test]
fn a_copy_from_a_registry_trickling_a_layer_stops_at_the_deadline_and_writes_nothing() {
    let mut content = Content::default();
    let layer = content.blob("application/vnd.oci.image.layer.v1.tar", vec![7; 4096]);
    let mut manifest = image(&mut content, "slow");
    manifest["layers"] = serde_json::json!([layer]);
    content.manifest(Some("v1"), &manifest);
    let slow = layer["digest"].as_str().unwrap().to_owned();
    let path = format!("/blobs/{slow}");
    let server = HostileServer::start(move |request| {
        if request.path().ends_with(&path) && request.method == "GET" {
            trickle("application/octet-stream")
        } else {
            content.answer(request)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("mirror");
    let (run, took) = measured(&[
        "copy",
        "--timeout",
        "4",
        &format!("{}/app:v1", server.addr),
        &format!("oci:{}:v1", layout.display()),
    ]);
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(run.stderr.contains("--timeout"), "{run:#?}");
    assert!(took.as_secs_f64() < 8.0, "took {took:?}");
    // No tag, no part of the blob, no temporary file left behind (and no layout at all when
    // nothing was stored in it before the deadline).
    if !layout.exists() {
        return;
    }
    let index = std::fs::read_to_string(layout.join("index.json")).unwrap();
    assert!(!index.contains("\"v1\""), "{index}");
    let mut left = Vec::new();
    for entry in walk(&layout) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(".vouch-tmp") || name == slow.trim_start_matches("sha256:") {
            left.push(entry);
        }
    }
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
