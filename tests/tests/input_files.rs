//! Input files that are not files: a FIFO (which blocks whoever opens it until a writer
//! comes, forever if none does), `/dev/zero` (which never ends), a directory, a file far
//! larger than what it should hold. Each is refused at once, naming the path and what it is,
//! with exit code 2. Each run has a deadline, so that the old behaviour (a hang, or reading
//! until memory runs out) fails the test instead of hanging it.
//!
//! Also: a private key that others can read is used, with a warning on standard error.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use vouch_tests::{KeyPair, Run, generate_key, vouch_with_password};

/// Long enough for any of these commands on a slow machine; a hang is much longer.
const DEADLINE: Duration = Duration::from_secs(20);

/// Runs vouch with `args` (and the key's password), killing it after [`DEADLINE`]. Its
/// address space is capped at 4 GiB, so that reading `/dev/zero` into memory fails fast
/// rather than taking the machine's memory with it.
fn vouch_within_deadline(password: &str, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let stdout = dir.path().join("stdout");
    let stderr = dir.path().join("stderr");
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(vouch_tests::vouch_bin())
        .args(args)
        .env_remove("COSIGN_PASSWORD")
        .env_remove("RUST_LOG")
        .env("VOUCH_PASSWORD", password)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let mut child = command.spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "vouch {args:?} still running after {DEADLINE:?}: it blocked on its input; \
                 stderr so far: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&stdout).unwrap(),
        stderr: std::fs::read_to_string(&stderr).unwrap(),
    }
}

/// Exit 2, one line on stderr naming `path` and containing `what`.
fn assert_refused(run: &Run, path: &Path, what: &str) {
    assert_eq!(run.code, 2, "{run:#?}");
    let stderr = run.stderr.trim_end();
    assert_eq!(stderr.lines().count(), 1, "one line: {run:#?}");
    assert!(stderr.starts_with("vouch: "), "{run:#?}");
    assert!(
        stderr.contains(path.to_str().unwrap()),
        "names the path: {run:#?}"
    );
    assert!(stderr.contains(what), "missing {what:?}: {run:#?}");
}

fn mkfifo(path: &Path) -> PathBuf {
    vouch_tests::tool("mkfifo", &[path.to_str().unwrap()]);
    path.to_owned()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A one-image layout `dir/layout`, as `oci:PATH:v1`, and its path.
fn layout_image(dir: &Path) -> (String, PathBuf) {
    let layout = dir.join("layout");
    vouch_tests::umoci_image(&layout, "v1", "amd64");
    (format!("oci:{}:v1", layout.display()), layout)
}

/// A key pair, an artifact and its key-signed bundle (no log entry) in `dir`.
struct Signed {
    key: KeyPair,
    artifact: PathBuf,
    bundle: PathBuf,
}

/// `verify-blob` of the signed artifact with `bundle` in place of its bundle.
fn verify_blob_with_bundle(signed: &Signed, bundle: &Path) -> Run {
    vouch_within_deadline(
        "",
        &[
            "verify-blob",
            "--key",
            s(&signed.key.public),
            "--bundle",
            s(bundle),
            "--insecure-ignore-tlog",
            s(&signed.artifact),
        ],
    )
}

fn signed_blob(dir: &Path) -> Signed {
    let key = generate_key(dir, "k", "ecdsa-p256");
    let artifact = dir.join("artifact.txt");
    std::fs::write(&artifact, b"an artifact\n").unwrap();
    let bundle = dir.join("artifact.sigstore.json");
    vouch_with_password(
        &key.password,
        &[
            "sign-blob",
            "--key",
            s(&key.key),
            "--bundle",
            s(&bundle),
            s(&artifact),
        ],
    )
    .expect_code(0);
    Signed {
        key,
        artifact,
        bundle,
    }
}

#[test]
fn key_fifo_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (image, _) = layout_image(d);
    let fifo = mkfifo(&d.join("cosign.key"));
    let artifact = d.join("a.txt");
    std::fs::write(&artifact, b"a").unwrap();
    let out = d.join("out");
    for args in [
        vec!["public-key", "--key", s(&fifo)],
        vec![
            "sign",
            "--upload=false",
            "--key",
            s(&fifo),
            "--output-signature",
            s(&out),
            &image,
        ],
        vec![
            "sign-blob",
            "--key",
            s(&fifo),
            "--bundle",
            s(&out),
            s(&artifact),
        ],
        vec![
            "import-key-pair",
            "--key",
            s(&fifo),
            "--output-key-prefix",
            s(&out),
        ],
        // Public keys too.
        vec!["verify", "--key", s(&fifo), &image],
        vec![
            "verify-blob",
            "--key",
            s(&fifo),
            "--bundle",
            s(&out),
            s(&artifact),
        ],
    ] {
        let run = vouch_within_deadline("pw", &args);
        assert_refused(&run, &fifo, "is a FIFO, not a regular file");
    }
}

#[test]
fn key_dev_zero_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zero = Path::new("/dev/zero");
    let run = vouch_within_deadline("pw", &["public-key", "--key", s(zero)]);
    assert_refused(&run, zero, "is a character device, not a regular file");
    let run = vouch_within_deadline(
        "pw",
        &[
            "verify-blob",
            "--key",
            s(zero),
            "--bundle",
            s(&dir.path().join("b")),
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ],
    );
    assert_refused(&run, zero, "is a character device");
}

#[test]
fn key_directory_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = vouch_within_deadline("pw", &["public-key", "--key", s(dir.path())]);
    assert_refused(&run, dir.path(), "is a directory, not a regular file");
}

#[test]
fn key_file_too_large_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    // A real key followed by 64 KiB of padding: refused by size before it is parsed.
    let big = dir.path().join("big.key");
    let mut text = std::fs::read(&key.key).unwrap();
    text.extend(std::iter::repeat_n(b'\n', 64 * 1024));
    std::fs::write(&big, text).unwrap();
    std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = vouch_within_deadline(&key.password, &["public-key", "--key", s(&big)]);
    assert_refused(&run, &big, "is larger than 64 KiB");
}

#[test]
fn bundle_dev_zero_refused() {
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_blob(dir.path());
    let zero = Path::new("/dev/zero");
    let run = verify_blob_with_bundle(&signed, zero);
    assert_refused(&run, zero, "is a character device, not a regular file");
}

#[test]
fn bundle_fifo_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_blob(dir.path());
    let fifo = mkfifo(&dir.path().join("bundle.json"));
    let run = verify_blob_with_bundle(&signed, &fifo);
    assert_refused(&run, &fifo, "is a FIFO");
}

#[test]
fn bundle_too_large_refused() {
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_blob(dir.path());
    // Sparse: 33 MiB long, no disk used.
    let big = dir.path().join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(33 * 1024 * 1024)
        .unwrap();
    let run = verify_blob_with_bundle(&signed, &big);
    assert_refused(&run, &big, "is larger than 32 MiB");
}

#[test]
fn trusted_root_fifo_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_blob(dir.path());
    let fifo = mkfifo(&dir.path().join("trusted_root.json"));
    let run = vouch_within_deadline(
        "",
        &[
            "verify-blob",
            "--key",
            s(&signed.key.public),
            "--bundle",
            s(&signed.bundle),
            "--trusted-root",
            s(&fifo),
            "--insecure-ignore-tlog",
            s(&signed.artifact),
        ],
    );
    assert_refused(&run, &fifo, "is a FIFO");
}

#[test]
fn artifact_fifo_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_blob(dir.path());
    let fifo = mkfifo(&dir.path().join("artifact.fifo"));
    let predicate = dir.path().join("predicate.json");
    std::fs::write(&predicate, b"{}").unwrap();
    let out = dir.path().join("out.json");
    let key = s(&signed.key.key);
    for args in [
        vec!["sign-blob", "--key", key, "--bundle", s(&out), s(&fifo)],
        vec![
            "attest-blob",
            "--key",
            key,
            "--predicate",
            s(&predicate),
            "--bundle",
            s(&out),
            s(&fifo),
        ],
        vec![
            "verify-blob",
            "--key",
            s(&signed.key.public),
            "--bundle",
            s(&signed.bundle),
            "--insecure-ignore-tlog",
            s(&fifo),
        ],
    ] {
        let run = vouch_within_deadline(&signed.key.password, &args);
        assert_refused(&run, &fifo, "is a FIFO");
    }
    // /dev/zero as the artifact: refused, not hashed forever.
    let zero = Path::new("/dev/zero");
    let run = vouch_within_deadline(
        &signed.key.password,
        &["sign-blob", "--key", key, "--bundle", s(&out), s(zero)],
    );
    assert_refused(&run, zero, "is a character device");
    assert!(!out.exists());
}

#[test]
fn predicate_fifo_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_blob(dir.path());
    let fifo = mkfifo(&dir.path().join("predicate.json"));
    let run = vouch_within_deadline(
        &signed.key.password,
        &[
            "attest-blob",
            "--key",
            s(&signed.key.key),
            "--predicate",
            s(&fifo),
            "--bundle",
            s(&dir.path().join("out.json")),
            s(&signed.artifact),
        ],
    );
    assert_refused(&run, &fifo, "is a FIFO");
}

#[test]
fn policy_fifo_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let (image, _) = layout_image(dir.path());
    let fifo = mkfifo(&dir.path().join("policy.rego"));
    let run = vouch_within_deadline(
        "",
        &[
            "verify-attestation",
            "--key",
            s(&key.public),
            "--type",
            "custom",
            "--policy",
            s(&fifo),
            &image,
        ],
    );
    assert_refused(&run, &fifo, "is a FIFO");
}

/// Replaces `path` with a FIFO.
fn fifo_in_place_of(path: &Path) {
    std::fs::remove_file(path).unwrap();
    mkfifo(path);
}

#[test]
fn layout_index_json_fifo_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let (image, layout) = layout_image(dir.path());
    let index = layout.join("index.json");
    fifo_in_place_of(&index);
    let run = vouch_within_deadline("", &["verify", "--key", s(&key.public), &image]);
    assert_refused(&run, &index, "is a FIFO, not a regular file");
}

#[test]
fn layout_oci_layout_fifo_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let (image, layout) = layout_image(dir.path());
    let marker = layout.join("oci-layout");
    fifo_in_place_of(&marker);
    let run = vouch_within_deadline("", &["verify", "--key", s(&key.public), &image]);
    assert_refused(&run, &marker, "is a FIFO, not a regular file");
}

#[test]
fn layout_blob_fifo_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let (image, layout) = layout_image(dir.path());
    // The image's manifest, as index.json lists it.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let (algorithm, hex) = digest.split_once(':').unwrap();
    let blob = layout.join("blobs").join(algorithm).join(hex);
    fifo_in_place_of(&blob);
    let out = dir.path().join("sig");
    for args in [
        vec!["verify", "--key", s(&key.public), &image],
        vec![
            "sign",
            "--upload=false",
            "--key",
            s(&key.key),
            "--output-signature",
            s(&out),
            &image,
        ],
    ] {
        let run = vouch_within_deadline(&key.password, &args);
        assert_refused(&run, &blob, "is a FIFO, not a regular file");
    }
}

/// A layer blob of the layout that is a FIFO: `sbom` streams layers (not through the bounded
/// blob read), and must refuse it too instead of blocking on it.
#[test]
fn layout_layer_blob_fifo_refused_by_sbom() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let (layout, layer) = vouch_tests::one_layer_layout(
        &dir.path().join("layout"),
        "application/vnd.oci.image.layer.v1.tar",
        &[0; 1024],
    );
    let blob = layout
        .root()
        .join("blobs")
        .join(layer.digest.algorithm().name())
        .join(layer.digest.hex());
    fifo_in_place_of(&blob);
    let image = format!("oci:{}:v1", layout.root().display());
    let run = vouch_within_deadline(&key.password, &["sbom", &image]);
    assert_refused(&run, &blob, "is a FIFO, not a regular file");
}

#[test]
fn private_key_readable_by_others_warns() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let expected = std::fs::read_to_string(&key.public).unwrap();

    // 0600, as generated: no warning.
    let run = vouch_within_deadline(&key.password, &["public-key", "--key", s(&key.key)]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stderr, "", "{run:#?}");

    std::fs::set_permissions(&key.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = vouch_within_deadline(&key.password, &["public-key", "--key", s(&key.key)]);
    assert_eq!(run.code, 0, "a warning, not a refusal: {run:#?}");
    assert_eq!(run.stdout, expected);
    assert_eq!(
        run.stderr,
        format!(
            "warning: {} is readable by others (mode 0644); chmod 600 it\n",
            key.key.display()
        )
    );
    // Neither the key nor its password is echoed.
    let pem = std::fs::read_to_string(&key.key).unwrap();
    let body = pem.lines().nth(1).unwrap();
    assert!(!run.stderr.contains(body) && !run.stderr.contains(&key.password));

    // Every command that reads a private key warns the same way, and goes on.
    std::fs::set_permissions(&key.key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let artifact = dir.path().join("a.txt");
    std::fs::write(&artifact, b"a").unwrap();
    let run = vouch_within_deadline(
        &key.password,
        &[
            "sign-blob",
            "--key",
            s(&key.key),
            "--bundle",
            s(&dir.path().join("a.sigstore.json")),
            s(&artifact),
        ],
    );
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        run.stderr.starts_with(&format!(
            "warning: {} is readable by others (mode 0640); chmod 600 it\n",
            key.key.display()
        )),
        "{run:#?}"
    );
}
