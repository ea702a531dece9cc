//! Authentication against a real registry that requires it (distribution with htpasswd):
//! credentials from a docker config's `auths`, from a `credHelpers` helper, and none.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;
use vouch_tests::{KeyPair, Registry, generate_key, tool, unique, vouch_command};

const USER: &str = "release-bot";
const PASSWORD: &str = "s3cret-Pa55";

fn auth_registry(dir: &Path) -> Registry {
    let htpasswd = dir.join("htpasswd");
    let line = tool("htpasswd", &["-Bbn", USER, PASSWORD]);
    std::fs::write(&htpasswd, line).unwrap();
    Registry::spawn(&format!(
        "auth:\n  htpasswd:\n    realm: vouch-test\n    path: {}\n",
        htpasswd.display()
    ))
}

fn push(registry: &Registry, dir: &Path) -> String {
    let layout = dir.join("layout");
    vouch_tests::umoci_image(&layout, "v1", "amd64");
    let image = format!("{}/{}:v1", registry.addr, unique("auth"));
    tool(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("{USER}:{PASSWORD}"),
            &format!("oci:{}:v1", layout.display()),
            &format!("docker://{image}"),
        ],
    );
    image
}

fn sign_and_verify(
    key: &KeyPair,
    image: &str,
    docker_config: &Path,
    path: Option<&str>,
) -> (i32, String) {
    let mut sign = vouch_command(&["sign", "--key", key.key.to_str().unwrap(), image]);
    sign.env("VOUCH_PASSWORD", &key.password)
        .env("DOCKER_CONFIG", docker_config);
    if let Some(path) = path {
        sign.env("PATH", path);
    }
    let output = sign.output().unwrap();
    if !output.status.success() {
        return (
            output.status.code().unwrap(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        );
    }
    let mut verify = vouch_command(&["verify", "--key", key.public.to_str().unwrap(), image]);
    verify.env("DOCKER_CONFIG", docker_config);
    if let Some(path) = path {
        verify.env("PATH", path);
    }
    let output = verify.output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn credentials_from_docker_config_auths() {
    let dir = tempfile::tempdir().unwrap();
    let registry = auth_registry(dir.path());
    let image = push(&registry, dir.path());
    let key = generate_key(dir.path(), "k", "ecdsa-p256");

    // No credentials: denied by the registry, exit 3, and the message says what to do.
    let empty = dir.path().join("empty-config");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, stderr) = sign_and_verify(&key, &image, &empty, None);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("access denied (401)") && stderr.contains("docker login"),
        "{stderr}"
    );

    // `auths` with a base64 user:password, as `docker login` writes it.
    let config = dir.path().join("docker");
    std::fs::create_dir_all(&config).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.addr),
    )
    .unwrap();
    let (code, stderr) = sign_and_verify(&key, &image, &config, None);
    assert_eq!(code, 0, "{stderr}");

    // Wrong password: denied, and the password is not echoed.
    let wrong = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:not-{PASSWORD}"));
    std::fs::write(
        config.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{wrong}"}}}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    let (code, stderr) = sign_and_verify(&key, &image, &config, None);
    assert_eq!(code, 3, "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn credentials_from_a_credential_helper() {
    let dir = tempfile::tempdir().unwrap();
    let registry = auth_registry(dir.path());
    let image = push(&registry, dir.path());
    let key = generate_key(dir.path(), "k", "ed25519");

    // A docker-credential helper speaking the helper protocol: server URL on stdin, JSON out.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-vouchtest");
    let log = dir.path().join("helper.log");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\necho \"$server\" >> {}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("docker");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"vouchtest"}}}}"#, registry.addr),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let (code, stderr) = sign_and_verify(&key, &image, &config, Some(&path));
    assert_eq!(code, 0, "{stderr}");
    let asked = std::fs::read_to_string(&log).unwrap();
    assert!(asked.lines().all(|l| l == registry.addr), "{asked}");
}

#[test]
fn a_malformed_docker_config_and_a_missing_helper_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let registry = auth_registry(dir.path());
    let image = push(&registry, dir.path());
    let key = generate_key(dir.path(), "k", "ecdsa-p256");

    // Not JSON (cut off after the password): the file and where it breaks are named; what is
    // in it is not.
    let config = dir.path().join("broken");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{PASSWORD}"#, registry.addr),
    )
    .unwrap();
    let (code, stderr) = sign_and_verify(&key, &image, &config, None);
    assert_ne!(code, 0, "{stderr}");
    let path = config.join("config.json");
    assert!(
        stderr.contains(&format!(
            "the docker config {} is not valid JSON (line 1",
            path.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // A helper that is not installed: named.
    let config = dir.path().join("helper");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.json"),
        format!(
            r#"{{"credHelpers":{{"{}":"notinstalled"}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    let (code, stderr) = sign_and_verify(&key, &image, &config, None);
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("docker-credential-notinstalled"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn verbose_logs_every_request_and_no_credential_or_colour() {
    let dir = tempfile::tempdir().unwrap();
    let registry = auth_registry(dir.path());
    let image = push(&registry, dir.path());
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let config = dir.path().join("docker");
    std::fs::create_dir_all(&config).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.addr),
    )
    .unwrap();
    let (code, stderr) = sign_and_verify(&key, &image, &config, None);
    assert_eq!(code, 0, "{stderr}");

    let output = vouch_command(&[
        "-v",
        "verify",
        "--key",
        key.public.to_str().unwrap(),
        &image,
    ])
    .env("DOCKER_CONFIG", &config)
    .output()
    .unwrap();
    assert!(output.status.success());
    let log = String::from_utf8_lossy(&output.stderr);
    // Each request: method, URL, status, length, time; the steps of the verification.
    let manifest = format!("GET http://{}/v2/", registry.addr);
    assert!(
        log.lines().any(|l| l.contains(&manifest)
            && l.contains("/manifests/v1 -> 200 (")
            && l.contains(" ms")),
        "{log}"
    );
    assert!(
        log.contains("-> 401 ("),
        "the challenge is logged too: {log}"
    );
    assert!(log.contains("signature layer(s) under sha256-"), "{log}");
    assert!(log.contains("signature(s) verified with key"), "{log}");
    // Never a credential, never a terminal colour code when stderr is not a terminal.
    assert!(!log.contains(PASSWORD) && !log.contains(&auth), "{log}");
    assert!(!log.contains("Basic ") && !log.contains("Bearer "), "{log}");
    assert!(!log.contains('\u{1b}'), "{log}");
}
