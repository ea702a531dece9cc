//! `--key pkcs11:...` through the `vouch` binary, against SoftHSM2 (Debian `softhsm2`): the
//! public key of a token key, `sign-blob` / `verify-blob`, `sign` / `verify` and `attest` /
//! `verify-attestation` on a real registry, with a P-256 and a P-384 key that never leave
//! the token; a wrong PIN exits 2 naming the token; the PIN shows in no output, `-vv`
//! included.
//!
//! Each test gets a SoftHSM of its own (a temp folder with a `softhsm2.conf`, passed to
//! `softhsm2-util` and `vouch` as `SOFTHSM2_CONF`). Without softhsm2 installed the tests
//! skip, or fail under `VOUCH_REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use vouch_keys::{KeyType, PrivateKey, PublicKey};
use vouch_tests::{Registry, Run, peer_ran, push_image, unavailable, unique, vouch_command};

/// Debian's path of the SoftHSM2 module.
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN: distinctive, to look for in every output.
const PIN: &str = "Cli-Pin-4d2b8e-secret";
/// A wrong PIN, as distinctive.
const WRONG_PIN: &str = "Cli-Wrong-9a7c1f-secret";
const SO_PIN: &str = "Cli-So-61e0aa-secret";
/// The token every test makes in its own SoftHSM.
const TOKEN: &str = "vouch-cli";

/// A SoftHSM2 of the test's own, with one token holding a P-256 (`p256`, id 01) and a P-384
/// (`p384`, id 02) key imported from PKCS#8.
struct Hsm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    /// `(object label, its public key)`.
    keys: Vec<(&'static str, PublicKey)>,
}

fn softhsm_missing() -> Option<String> {
    if !Path::new(MODULE).exists() {
        return Some(format!("{MODULE} is missing"));
    }
    match Command::new("softhsm2-util").arg("--version").output() {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(format!("softhsm2-util --version failed: {}", output.status)),
        Err(e) => Some(format!("softhsm2-util cannot be run: {e}")),
    }
}

impl Hsm {
    /// `None` (after saying so, or panicking under `VOUCH_REQUIRE_PEERS=1`) without softhsm2.
    fn start() -> Option<Hsm> {
        if let Some(why) = softhsm_missing() {
            unavailable("softhsm2 (Debian package softhsm2)", &why);
            return None;
        }
        peer_ran("softhsm2");
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let mut hsm = Hsm {
            dir,
            conf,
            keys: Vec::new(),
        };
        hsm.util(&[
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--pin",
            PIN,
            "--so-pin",
            SO_PIN,
        ]);
        hsm.import("p256", "01", KeyType::EcdsaP256);
        hsm.import("p384", "02", KeyType::EcdsaP384);
        Some(hsm)
    }

    fn util(&self, args: &[&str]) {
        let output = Command::new("softhsm2-util")
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "softhsm2-util {}: {}{}",
            args.first().unwrap(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Imports a fresh key (PKCS#8 from aws-lc, as vouch generates) into the token.
    fn import(&mut self, object: &'static str, id_hex: &str, key_type: KeyType) {
        use aws_lc_rs::signature::{
            ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
        };
        let algorithm = match key_type {
            KeyType::EcdsaP256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
            _ => &ECDSA_P384_SHA384_ASN1_SIGNING,
        };
        let pkcs8 = EcdsaKeyPair::generate(algorithm)
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        let public = PrivateKey::from_pkcs8_der(pkcs8.as_ref())
            .unwrap()
            .public_key()
            .clone();
        let encoded = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(64)
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        let file = self.dir.path().join(format!("{object}.pem"));
        fs::write(
            &file,
            format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                lines.join("\n")
            ),
        )
        .unwrap();
        self.util(&[
            "--import",
            file.to_str().unwrap(),
            "--token",
            TOKEN,
            "--label",
            object,
            "--id",
            id_hex,
            "--pin",
            PIN,
        ]);
        fs::remove_file(&file).unwrap();
        self.keys.push((object, public));
    }

    /// The URI of `object`, with the PIN in it.
    fn uri(&self, object: &str) -> String {
        format!("pkcs11:token={TOKEN};object={object}?module-path={MODULE}&pin-value={PIN}")
    }

    /// A path in the test's folder.
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// Runs vouch with this SoftHSM and no PKCS#11 variables but `env`.
    fn vouch_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut command = vouch_command(args);
        command.env("SOFTHSM2_CONF", &self.conf);
        for variable in [
            "VOUCH_PKCS11_PIN",
            "COSIGN_PKCS11_PIN",
            "VOUCH_PKCS11_MODULE_PATH",
            "COSIGN_PKCS11_MODULE_PATH",
        ] {
            command.env_remove(variable);
        }
        for (variable, value) in env {
            command.env(variable, value);
        }
        let run = Run::from(command.output().unwrap());
        assert_no_pin(args, &run);
        run
    }

    fn vouch(&self, args: &[&str]) -> Run {
        self.vouch_env(&[], args)
    }

    /// Runs vouch once as asked and once more with `-vv`, which must give the same exit code
    /// (and no PIN either); returns the first run.
    fn vouch_twice(&self, args: &[&str]) -> Run {
        let run = self.vouch(args);
        let mut verbose = vec!["-vv"];
        verbose.extend_from_slice(args);
        let again = self.vouch(&verbose);
        assert_eq!(again.code, run.code, "with -vv:\n{again:#?}");
        run
    }

    /// Writes the public key of `object` with `vouch public-key` and returns its path.
    fn public_key_file(&self, object: &str) -> String {
        let file = self.path(&format!("{object}.pub"));
        self.vouch(&[
            "public-key",
            "--key",
            &self.uri(object),
            "--outfile",
            &file,
            "--force",
        ])
        .expect_code(0);
        file
    }
}

fn assert_no_pin(args: &[&str], run: &Run) {
    for secret in [PIN, WRONG_PIN, SO_PIN, "4d2b8e", "9a7c1f"] {
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(secret),
                "vouch {:?} shows a PIN on {stream}:\n{text}",
                args.first()
            );
        }
    }
}

#[test]
fn public_key_prints_the_token_keys_public_half() {
    let Some(hsm) = Hsm::start() else { return };
    for (object, public) in &hsm.keys {
        let run = hsm.vouch_twice(&["public-key", "--key", &hsm.uri(object)]);
        let run = run.expect_code(0);
        assert_eq!(run.stdout, public.to_pem(), "{object}");

        let file = hsm.public_key_file(object);
        assert_eq!(fs::read_to_string(&file).unwrap(), public.to_pem());

        let json = hsm
            .vouch(&["public-key", "--key", &hsm.uri(object), "-o", "json"])
            .expect_code(0)
            .json();
        assert_eq!(json["fingerprint"], public.fingerprint());
        assert_eq!(json["algorithm"], public.key_type().to_string());
    }
    // The PIN and the module from the environment alone, as cosign reads them too.
    let bare = format!("pkcs11:token={TOKEN};object=p384");
    let (_, p384) = &hsm.keys[1];
    for env in [
        [
            ("VOUCH_PKCS11_PIN", PIN),
            ("VOUCH_PKCS11_MODULE_PATH", MODULE),
        ],
        [
            ("COSIGN_PKCS11_PIN", PIN),
            ("COSIGN_PKCS11_MODULE_PATH", MODULE),
        ],
    ] {
        let run = hsm
            .vouch_env(&env, &["public-key", "--key", &bare])
            .expect_code(0);
        assert_eq!(&run.stdout, &p384.to_pem());
    }
}

#[test]
fn blobs_signed_with_token_keys_verify() {
    let Some(hsm) = Hsm::start() else { return };
    let file = hsm.path("release.tar");
    fs::write(&file, b"release contents").unwrap();
    for (object, _) in &hsm.keys {
        let public = hsm.public_key_file(object);
        let bundle = hsm.path(&format!("{object}.bundle.json"));
        hsm.vouch_twice(&[
            "sign-blob",
            "--key",
            &hsm.uri(object),
            "--bundle",
            &bundle,
            "--force",
            &file,
        ])
        .expect_code(0);
        hsm.vouch(&[
            "verify-blob",
            "--key",
            &public,
            "--bundle",
            &bundle,
            "--insecure-ignore-tlog",
            &file,
        ])
        .expect_code(0);
        // The other key does not verify it.
        let other = if *object == "p256" { "p384" } else { "p256" };
        let other_public = hsm.public_key_file(other);
        hsm.vouch(&[
            "verify-blob",
            "--key",
            &other_public,
            "--bundle",
            &bundle,
            "--insecure-ignore-tlog",
            &file,
        ])
        .expect_code(1);
    }
}

#[test]
fn images_signed_and_attested_with_token_keys_verify() {
    let Some(hsm) = Hsm::start() else { return };
    let registry = Registry::start();
    let image = push_image(&registry, &unique("pkcs11"), "v1");
    let predicate = hsm.path("predicate.json");
    fs::write(&predicate, br#"{"built-by":"a token key"}"#).unwrap();
    for (object, _) in &hsm.keys {
        let public = hsm.public_key_file(object);
        hsm.vouch_twice(&["sign", "--key", &hsm.uri(object), &image.by_digest])
            .expect_code(0);
        hsm.vouch(&["verify", "--key", &public, &image.by_digest])
            .expect_code(0);
        hsm.vouch(&[
            "attest",
            "--key",
            &hsm.uri(object),
            "--predicate",
            &predicate,
            "--type",
            "custom",
            &image.by_digest,
        ])
        .expect_code(0);
        hsm.vouch(&[
            "verify-attestation",
            "--key",
            &public,
            "--type",
            "custom",
            &image.by_digest,
        ])
        .expect_code(0);
    }
}

#[test]
fn a_wrong_pin_exits_2_naming_the_token() {
    let Some(hsm) = Hsm::start() else { return };
    let wrong =
        format!("pkcs11:token={TOKEN};object=p256?module-path={MODULE}&pin-value={WRONG_PIN}");
    let file = hsm.path("release.tar");
    fs::write(&file, b"release contents").unwrap();
    for args in [
        vec!["public-key", "--key", &wrong],
        vec![
            "sign-blob",
            "--key",
            &wrong,
            "--bundle",
            &hsm.path("b.json"),
            &file,
        ],
    ] {
        let run = hsm.vouch_twice(&args).expect_code(2);
        assert!(
            run.stderr
                .contains(&format!("wrong PIN for token \"{TOKEN}\"")),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("pin-value=<redacted>"),
            "{}",
            run.stderr
        );
        assert!(!Path::new(&hsm.path("b.json")).exists());
    }

    // A URI that does not parse, or names nothing on the token: exit 2, named, no PIN.
    for (uri, expected) in [
        (
            format!("pkcs11:token={TOKEN};object=p256;colour=blue?pin-value={PIN}"),
            "unknown path attribute colour",
        ),
        (
            format!("pkcs11:token={TOKEN};object=absent?module-path={MODULE}&pin-value={PIN}"),
            "no private key matches object=\"absent\"",
        ),
        (
            format!("pkcs11:token=absent;object=p256?module-path={MODULE}&pin-value={PIN}"),
            "tokens present: \"vouch-cli\"",
        ),
        (
            format!("pkcs11:token={TOKEN};object=p256?module-path={MODULE}"),
            "no PIN given",
        ),
    ] {
        let run = hsm.vouch(&["public-key", "--key", &uri]).expect_code(2);
        assert!(run.stderr.contains(expected), "{uri}: {}", run.stderr);
    }
}
