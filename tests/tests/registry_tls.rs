//! HTTPS registries: one whose certificate a private CA issued (distribution serving TLS with an
//! openssl-made CA), reached by a name that is not loopback through a CONNECT proxy
//! ([`TunnelProxy`]), as a registry behind a corporate proxy is. It is trusted with cosign's
//! `--registry-cacert`, or through the system store (`SSL_CERT_FILE`), and refused otherwise
//! with a message that says what to do, without retries. And the system store is read only
//! when a certificate is to be checked: a plain-HTTP loopback registry works with no store at
//! all.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use vouch_tests::tls::{TlsFiles, TunnelProxy, tls_files};
use vouch_tests::{Registry, Run, generate_key, push_image, unique, vouch_command};

/// The name the TLS registry is reached by; the proxy resolves it, nothing else does.
const NAME: &str = "registry.vouch.test";

/// Runs vouch with `HTTPS_PROXY` set to `proxy` (when given), the other proxy variables
/// removed, `env` added, and `VOUCH_PASSWORD=password` when given.
fn vouch_via(
    proxy: Option<&TunnelProxy>,
    env: &[(&str, &str)],
    password: Option<&str>,
    args: &[&str],
) -> Run {
    let mut command = vouch_command(args);
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"] {
        command
            .env_remove(name)
            .env_remove(name.to_ascii_lowercase());
    }
    if let Some(proxy) = proxy {
        command.env("HTTPS_PROXY", &proxy.url);
    }
    command.envs(env.iter().copied());
    if let Some(password) = password {
        command.env("VOUCH_PASSWORD", password);
    }
    Run::from(command.output().unwrap())
}

/// A registry serving TLS with a certificate for [`NAME`] and 127.0.0.1 from a private CA.
fn tls_registry(dir: &Path) -> (Registry, TlsFiles) {
    let files = tls_files(dir, &format!("DNS:{NAME},IP:127.0.0.1"));
    let registry = Registry::spawn(&format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        files.cert.display(),
        files.key.display()
    ));
    (registry, files)
}

#[test]
fn a_private_ca_registry_is_trusted_with_registry_cacert_or_the_system_store_and_refused_otherwise()
{
    let dir = tempfile::tempdir().unwrap();
    let (registry, files) = tls_registry(dir.path());
    let port = registry.addr.rsplit(':').next().unwrap();
    let proxy = TunnelProxy::start(&registry.addr);
    let ca = files.ca.to_str().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");

    // The image comes from a plain-HTTP loopback registry; the copy writes it over TLS.
    let plain = Registry::start();
    let source = push_image(&plain, &unique("tls-source"), "v1");
    let image = format!("{NAME}:{port}/app:v1");
    let copy = ["copy", "--registry-cacert", ca, &source.tagged, &image];
    vouch_via(Some(&proxy), &[], None, &copy).expect_code(0);
    assert!(
        proxy
            .tunnels
            .lock()
            .unwrap()
            .iter()
            .all(|t| *t == format!("{NAME}:{port}")),
        "{:?}",
        proxy.tunnels
    );

    let sign = [
        "sign",
        "--key",
        key.key.to_str().unwrap(),
        "--registry-cacert",
        ca,
        &image,
    ];
    vouch_via(Some(&proxy), &[], Some(&key.password), &sign).expect_code(0);
    let public = key.public.to_str().unwrap();
    let verify = ["verify", "--key", public, "--registry-cacert", ca, &image];
    let run = vouch_via(Some(&proxy), &[], None, &verify).expect_code(0);
    assert!(run.stdout.contains(&source.digest), "{run:#?}");

    // Without the CA: refused at the handshake, once (a certificate does not get better by
    // asking again), saying what to do.
    let before = proxy.count();
    let run = vouch_via(
        Some(&proxy),
        &[],
        None,
        &["verify", "--key", public, &image],
    );
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(
        run.stderr.contains("certificate is not trusted")
            && run.stderr.contains("--registry-cacert")
            && run.stderr.contains("UnknownIssuer"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains("attempts"), "{run:#?}");
    assert_eq!(proxy.count(), before + 1, "{:?}", proxy.tunnels);

    // The system store, where an operator adds their CA, is honoured: `SSL_CERT_FILE` names it.
    let run = vouch_via(
        Some(&proxy),
        &[("SSL_CERT_FILE", ca), ("SSL_CERT_DIR", "/nonexistent")],
        None,
        &["verify", "--key", public, &image],
    );
    run.expect_code(0);

    // skopeo, trusting the same CA, sees over TLS what vouch wrote there.
    let certs = dir.path().join("certs.d");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(&files.ca, certs.join("ca.crt")).unwrap();
    let digest_hex = source.digest.strip_prefix("sha256:").unwrap();
    let signatures = vouch_tests::tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--cert-dir",
            certs.to_str().unwrap(),
            &format!("docker://{}/app:sha256-{digest_hex}.sig", registry.addr),
        ],
    );
    assert!(
        signatures.contains("dev.cosignproject.cosign/signature"),
        "{signatures}"
    );
}

#[test]
fn a_ca_file_that_holds_no_usable_certificate_is_named_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let public = key.public.to_str().unwrap();
    let registry = Registry::start();
    let image = push_image(&registry, &unique("tls-badca"), "v1");
    // A private key is PEM, but no certificate; a missing file is named too.
    let not_ca = key.key.clone();
    let missing = dir.path().join("missing.pem");
    for (file, says) in [(&not_ca, "no PEM CERTIFICATE"), (&missing, "No such file")] {
        let run = vouch_via(
            None,
            &[],
            None,
            &[
                "verify",
                "--key",
                public,
                "--registry-cacert",
                file.to_str().unwrap(),
                &image.tagged,
            ],
        );
        assert_eq!(run.code, 2, "{run:#?}");
        assert!(
            run.stderr
                .contains(&format!("CA certificates {}", file.display()))
                && run.stderr.contains(says),
            "{run:#?}"
        );
    }
}

#[test]
fn a_plain_http_loopback_registry_needs_no_certificate_store() {
    // With the store pointing nowhere, nothing that needs no TLS may fail for it: the store
    // is read at the first certificate, and a loopback registry presents none.
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let registry = Registry::start();
    let image = push_image(&registry, &unique("no-store"), "v1");
    let nowhere = [
        ("SSL_CERT_FILE", "/nonexistent/ca.pem"),
        ("SSL_CERT_DIR", "/nonexistent"),
    ];
    let sign = ["sign", "--key", key.key.to_str().unwrap(), &image.tagged];
    vouch_via(None, &nowhere, Some(&key.password), &sign).expect_code(0);
    let public = key.public.to_str().unwrap();
    let verify = ["verify", "--key", public, &image.tagged];
    vouch_via(None, &nowhere, None, &verify).expect_code(0);

    // And an HTTPS registry with no store at all fails as not trusted, naming no crash.
    let (tls, _) = tls_registry(dir.path());
    let port = tls.addr.rsplit(':').next().unwrap();
    let proxy = TunnelProxy::start(&tls.addr);
    let run = vouch_via(
        Some(&proxy),
        &nowhere,
        None,
        &["verify", "--key", public, &format!("{NAME}:{port}/app:v1")],
    );
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(run.stderr.contains("No CA certificates"), "{run:#?}");
}
