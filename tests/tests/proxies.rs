//! Proxies as docker and cosign use them: never for a loopback registry, `NO_PROXY` honoured,
//! and a connection that fails through a proxy names the proxy (without its credentials).
//! The proxy here is a port nothing listens on, so any request sent to it fails.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;

use vouch_tests::{Registry, Run, generate_key, push_image, unique, vouch_command};

/// A proxy URL on a port nothing listens on.
fn dead_proxy() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

fn vouch_with_env(args: &[&str], env: &[(&str, &str)], password: Option<&str>) -> Run {
    let mut command = vouch_command(args);
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"] {
        command
            .env_remove(name)
            .env_remove(name.to_ascii_lowercase());
    }
    command.envs(env.iter().copied());
    if let Some(password) = password {
        command.env("VOUCH_PASSWORD", password);
    }
    Run::from(command.output().unwrap())
}

#[test]
fn a_loopback_registry_is_reached_directly_whatever_the_proxy_variables_say() {
    let registry = Registry::start();
    let image = push_image(&registry, &unique("proxied"), "v1");
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let proxy = dead_proxy();
    let env = [
        ("HTTP_PROXY", proxy.as_str()),
        ("HTTPS_PROXY", proxy.as_str()),
        ("ALL_PROXY", proxy.as_str()),
        ("http_proxy", proxy.as_str()),
    ];
    let sign = ["sign", "--key", key.key.to_str().unwrap(), &image.tagged];
    vouch_with_env(&sign, &env, Some(&key.password)).expect_code(0);
    let verify = [
        "verify",
        "--key",
        key.public.to_str().unwrap(),
        &image.tagged,
    ];
    vouch_with_env(&verify, &env, None).expect_code(0);
}

#[test]
fn a_failure_through_a_proxy_names_the_proxy_and_no_proxy_goes_direct() {
    let proxy = dead_proxy();
    let with_credentials = proxy.replace("http://", "http://someone:hunter2@");
    let args = [
        "verify",
        "--key",
        "/nonexistent-but-never-read-first.pub",
        "--registry-attempts",
        "1",
        "registry.invalid/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    ];
    // The key is read before the registry is asked: give a real one.
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let mut args = args.to_vec();
    args[2] = key.public.to_str().unwrap();

    let run = vouch_with_env(&args, &[("HTTPS_PROXY", with_credentials.as_str())], None);
    assert_eq!(run.code, 3, "{run:#?}");
    let port = proxy.rsplit(':').next().unwrap();
    assert!(
        run.stderr
            .contains(&format!("through the proxy http://127.0.0.1:{port}/")),
        "{run:#?}"
    );
    assert!(
        !run.stderr.contains("hunter2") && !run.stderr.contains("someone"),
        "{run:#?}"
    );

    let direct = vouch_with_env(
        &args,
        &[
            ("HTTPS_PROXY", with_credentials.as_str()),
            ("NO_PROXY", "example.com,.invalid"),
        ],
        None,
    );
    assert_eq!(direct.code, 3, "{direct:#?}");
    assert!(!direct.stderr.contains("proxy"), "{direct:#?}");
}
