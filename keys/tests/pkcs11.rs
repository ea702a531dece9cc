//! `vouch_keys::pkcs11` against a real PKCS#11 module: SoftHSM2 (Debian `softhsm2`).
//!
//! SoftHSM reads its configuration from `SOFTHSM2_CONF` when the module is initialized, once
//! per process, and the tests of one binary share their process. The workspace forbids
//! `unsafe` code, so the environment cannot be changed in-process (`std::env::set_var` is
//! unsafe in Rust 2024) either. Each test therefore runs twice: first in this process, which
//! makes a temp folder with a `softhsm2.conf` and runs the same test binary again, for that
//! one test, with `SOFTHSM2_CONF` (and the test's own PKCS#11 variables) set; then in that
//! child, where the body runs against a SoftHSM of its own. No test sees another's tokens.
//!
//! Without softhsm2 installed, a test prints `SKIPPED: softhsm2 is not installed` and passes,
//! unless `VOUCH_REQUIRE_PEERS=1` (as `.ci/run` sets), when it fails.
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use vouch_keys::der::{self, oids};
use vouch_keys::pkcs11::{Pkcs11ErrorKind, Pkcs11Key, Pkcs11Uri};
use vouch_keys::{KeyError, KeyType, PrivateKey, PublicKey, Signer};

/// Debian's path of the SoftHSM2 module.
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of every test token: distinctive, so that tests can look for it in output.
const PIN: &str = "Pin-7f3a9cQ-never-shown";
/// A wrong PIN, just as distinctive.
const WRONG_PIN: &str = "Wrong-c0ffee-never-shown";
/// The security officer's PIN.
const SO_PIN: &str = "So-5e1f-never-shown";
/// Set in the child process to the name of the one test it runs.
const CHILD: &str = "VOUCH_PKCS11_TEST_CHILD";
/// The PKCS#11 variables vouch reads: cleared in the child unless the test sets them.
const PKCS11_VARIABLES: [&str; 4] = [
    "VOUCH_PKCS11_PIN",
    "COSIGN_PKCS11_PIN",
    "VOUCH_PKCS11_MODULE_PATH",
    "COSIGN_PKCS11_MODULE_PATH",
];

fn peers_required() -> bool {
    std::env::var_os("VOUCH_REQUIRE_PEERS").is_some_and(|v| v == "1")
}

fn softhsm_installed() -> Result<(), String> {
    if !Path::new(MODULE).exists() {
        return Err(format!("{MODULE} is missing"));
    }
    match Command::new("softhsm2-util").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!("softhsm2-util --version failed: {}", output.status)),
        Err(e) => Err(format!("softhsm2-util cannot be run: {e}")),
    }
}

/// A SoftHSM2 of the test's own, in the child process.
struct SoftHsm {
    dir: PathBuf,
}

/// Runs the test `name` in a child process with a SoftHSM2 of its own and `env` set, and
/// returns `None`; in that child, returns the SoftHSM for the body to use.
fn softhsm(name: &str, env: &[(&str, &str)]) -> Option<SoftHsm> {
    if std::env::var_os(CHILD).is_some_and(|child| child == name) {
        let conf = PathBuf::from(std::env::var_os("SOFTHSM2_CONF").unwrap());
        return Some(SoftHsm {
            dir: conf.parent().unwrap().to_owned(),
        });
    }
    if let Err(why) = softhsm_installed() {
        if peers_required() {
            panic!(
                "VOUCH_REQUIRE_PEERS=1 and {name} needs softhsm2, which is not installed: {why}"
            );
        }
        // Straight to the terminal: the test harness captures only print! and eprint!.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: softhsm2 is not installed ({name}: {why})"
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD, name);
    for variable in PKCS11_VARIABLES {
        child.env_remove(variable);
    }
    for (variable, value) in env {
        child.env(variable, value);
    }
    let output = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A child that ran no test (a misspelt name) passes too: make sure this one ran.
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name} failed in its SoftHSM child ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    peer_ran(name);
    None
}

/// Records the run as `.ci/run` counts peer-driven tests: a line `test<TAB>softhsm2`
/// appended to `$VOUCH_PEER_LOG` when it is set (as vouch-tests' `peer_ran` writes it).
fn peer_ran(name: &str) {
    let Some(log) = std::env::var_os("VOUCH_PEER_LOG").filter(|l| !l.is_empty()) else {
        return;
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut file| file.write_all(format!("{name}\tsofthsm2\n").as_bytes()))
        .unwrap_or_else(|e| {
            panic!(
                "cannot record the peer run in {}: {e}",
                Path::new(&log).display()
            )
        });
}

impl SoftHsm {
    /// `softhsm2-util --init-token --free --label LABEL --pin PIN --so-pin SO_PIN`.
    fn init_token(&self, label: &str) {
        self.util(&[
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            PIN,
            "--so-pin",
            SO_PIN,
        ]);
    }

    /// Generates a key with aws-lc (as `vouch generate-key-pair` does), imports its PKCS#8
    /// with `softhsm2-util --import` as a private and a public key object, and returns the
    /// public key vouch computes from the key itself.
    fn import(&self, token: &str, object: &str, id_hex: &str, key_type: KeyType) -> PublicKey {
        use aws_lc_rs::signature::{
            ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
            ECDSA_P521_SHA512_ASN1_SIGNING, EcdsaKeyPair,
        };
        let algorithm = match key_type {
            KeyType::EcdsaP256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
            KeyType::EcdsaP384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
            KeyType::EcdsaP521 => &ECDSA_P521_SHA512_ASN1_SIGNING,
            other => panic!("no import of {other} here"),
        };
        let pkcs8 = EcdsaKeyPair::generate(algorithm)
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        let public = PrivateKey::from_pkcs8_der(pkcs8.as_ref())
            .unwrap()
            .public_key()
            .clone();
        let file = self.dir.join(format!("{token}-{object}-{id_hex}.pem"));
        std::fs::write(
            &file,
            pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref())),
        )
        .unwrap();
        self.util(&[
            "--import",
            file.to_str().unwrap(),
            "--token",
            token,
            "--label",
            object,
            "--id",
            id_hex,
            "--pin",
            PIN,
        ]);
        std::fs::remove_file(&file).unwrap();
        public
    }

    fn util(&self, args: &[&str]) {
        let output = Command::new("softhsm2-util").args(args).output().unwrap();
        assert!(
            output.status.success(),
            "softhsm2-util {}: {}{}",
            args.first().unwrap(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The module, for making keys on the token with cryptoki itself. Initializing it twice in
    /// one process (vouch loads it too) is allowed: the second gets
    /// CKR_CRYPTOKI_ALREADY_INITIALIZED.
    fn module(&self) -> Pkcs11 {
        let module = Pkcs11::new(MODULE).unwrap();
        match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) => {}
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::CryptokiAlreadyInitialized,
                _,
            )) => {}
            Err(e) => panic!("C_Initialize: {e}"),
        }
        module
    }
}

/// The slot holding the token labelled `label`.
fn slot_of(module: &Pkcs11, label: &str) -> Slot {
    module
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|&slot| module.get_token_info(slot).unwrap().label() == label)
        .unwrap_or_else(|| panic!("no token {label}"))
}

/// A read-write session on token `label`, logged in as the user (the login is per process:
/// an open key's session may have logged in already).
fn user_session(module: &Pkcs11, label: &str) -> Session {
    let session = module.open_rw_session(slot_of(module, label)).unwrap();
    match session.login(UserType::User, Some(&AuthPin::from(PIN))) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
        }
        Err(e) => panic!("C_Login: {e}"),
    }
    session
}

/// Generates a key pair on the token with C_GenerateKeyPair: CKA_TOKEN true, the private
/// half sensitive and not extractable.
fn generate(session: &Session, key_type: KeyType, label: &str, id: &[u8]) {
    let common = |extra: Vec<Attribute>| {
        let mut template = vec![
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ];
        template.extend(extra);
        template
    };
    let private = common(vec![
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
    ]);
    let (mechanism, public) = match key_type {
        KeyType::Rsa { bits } => (
            Mechanism::RsaPkcsKeyPairGen,
            common(vec![
                Attribute::Verify(true),
                Attribute::ModulusBits((bits as u64).into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ]),
        ),
        _ => {
            let curve = match key_type {
                KeyType::EcdsaP256 => oids::P256,
                KeyType::EcdsaP384 => oids::P384,
                KeyType::EcdsaP521 => oids::P521,
                other => panic!("no generation of {other} here"),
            };
            (
                Mechanism::EccKeyPairGen,
                common(vec![
                    Attribute::Verify(true),
                    Attribute::EcParams(der::tlv(der::OID, curve)),
                ]),
            )
        }
    };
    session
        .generate_key_pair(&mechanism, &public, &private)
        .unwrap();
}

fn uri(text: &str) -> Pkcs11Uri {
    Pkcs11Uri::parse(text).unwrap()
}

fn open(text: &str) -> Result<Pkcs11Key, KeyError> {
    Pkcs11Key::open(&uri(text))
}

fn kind(error: &KeyError) -> Pkcs11ErrorKind {
    match error {
        KeyError::Pkcs11 { kind, .. } => *kind,
        other => panic!("not a PKCS#11 error: {other:?}"),
    }
}

/// Signs through the trait object and checks the signature with the key's public key, read
/// back from its PEM as a verifier would.
fn signs_and_verifies(signer: &dyn Signer, expected: KeyType) {
    assert_eq!(signer.key_type(), expected);
    let message = b"a release to sign";
    let signature = signer.sign(message).unwrap();
    let public = PublicKey::from_pem(&signer.public_key().to_pem()).unwrap();
    public.verify(message, &signature).unwrap();
    assert!(public.verify(b"another release", &signature).is_err());
}

fn assert_no_pin(what: &str, text: &str) {
    for secret in [PIN, WRONG_PIN, SO_PIN, "7f3a9c", "c0ffee"] {
        assert!(!text.contains(secret), "{what} shows a PIN: {text}");
    }
}

#[test]
fn ecdsa_keys_generated_on_the_token_sign_through_the_signer_trait() {
    let Some(hsm) = softhsm(
        "ecdsa_keys_generated_on_the_token_sign_through_the_signer_trait",
        &[],
    ) else {
        return;
    };
    hsm.init_token("ecdsa");
    let module = hsm.module();
    let session = user_session(&module, "ecdsa");
    generate(&session, KeyType::EcdsaP256, "p256", &[0x01]);
    generate(&session, KeyType::EcdsaP384, "p384", &[0x02]);
    // Closing the last session logs the application out: vouch logs in by itself.
    drop(session);

    for (object, key_type) in [("p256", KeyType::EcdsaP256), ("p384", KeyType::EcdsaP384)] {
        let key = open(&format!(
            "pkcs11:token=ecdsa;object={object}?module-path={MODULE}&pin-value={PIN}"
        ))
        .unwrap();
        signs_and_verifies(&key, key_type);
        assert_eq!(key.token_label(), "ecdsa");
        assert_eq!(key.object_label(), Some(object));
        assert_eq!(
            key.describe(),
            format!(
                "PKCS#11 token \"ecdsa\" object \"{object}\" ({key_type} key {})",
                key.public_key().fingerprint()
            )
        );
        // ECDSA signatures are randomized: two differ, both verify.
        let (a, b) = (key.sign(b"m").unwrap(), key.sign(b"m").unwrap());
        assert_ne!(a, b);
    }

    // Send + Sync: one key signs from several threads at once (the session is locked).
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let key = open(&format!(
        "pkcs11:token=ecdsa;object=p256?module-path={MODULE}&pin-value={PIN}"
    ))
    .unwrap();
    assert_send_sync(&key);
    std::thread::scope(|scope| {
        for i in 0..4 {
            let key = &key;
            scope.spawn(move || {
                let message = format!("message {i}");
                let signature = key.sign(message.as_bytes()).unwrap();
                key.public_key()
                    .verify(message.as_bytes(), &signature)
                    .unwrap();
            });
        }
    });
}

#[test]
fn imported_keys_sign_and_keep_their_public_key() {
    let Some(hsm) = softhsm("imported_keys_sign_and_keep_their_public_key", &[]) else {
        return;
    };
    hsm.init_token("imported");
    for (id, key_type) in [
        ("a1", KeyType::EcdsaP256),
        ("a2", KeyType::EcdsaP384),
        ("a3", KeyType::EcdsaP521),
    ] {
        let expected = hsm.import("imported", &format!("key-{id}"), id, key_type);
        // By id alone; the token is the only one.
        let key = open(&format!(
            "pkcs11:id=%{id}?module-path={MODULE}&pin-value={PIN}"
        ))
        .unwrap();
        assert_eq!(key.public_key(), &expected, "{key_type}");
        assert_eq!(key.object_label(), Some(format!("key-{id}").as_str()));
        signs_and_verifies(&key, key_type);
        let signature = key.sign(b"payload").unwrap();
        expected.verify(b"payload", &signature).unwrap();
    }
}

#[test]
fn rsa_2048_signs_with_sha256_pkcs1() {
    let Some(hsm) = softhsm("rsa_2048_signs_with_sha256_pkcs1", &[]) else {
        return;
    };
    hsm.init_token("rsa");
    let module = hsm.module();
    let session = user_session(&module, "rsa");
    generate(&session, KeyType::Rsa { bits: 2048 }, "rsa", &[0x10]);
    drop(session);
    let key = open(&format!(
        "pkcs11:token=rsa;object=rsa;id=%10?module-path={MODULE}&pin-value={PIN}"
    ))
    .unwrap();
    signs_and_verifies(&key, KeyType::Rsa { bits: 2048 });
    // A message over the single-part limit is signed in parts, to the same signature
    // (PKCS#1 v1.5 is deterministic) as one call would make.
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let signature = key.sign(&large).unwrap();
    key.public_key().verify(&large, &signature).unwrap();
    assert_eq!(key.sign(&large).unwrap(), signature);

    // Without its public key object, an RSA key's own modulus and exponent serve.
    let session = user_session(&module, "rsa");
    let public = session
        .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY)])
        .unwrap();
    assert_eq!(public.len(), 1);
    session.destroy_object(public[0]).unwrap();
    drop(session);
    let again = open(&format!(
        "pkcs11:token=rsa;id=%10?module-path={MODULE}&pin-value={PIN}"
    ))
    .unwrap();
    assert_eq!(again.public_key(), key.public_key());
}

/// A minimal X.509 certificate DER carrying `spki`: enough structure for a token to store
/// it and for vouch to find the key in it (nothing checks its signature here).
fn certificate_with(spki: &[u8]) -> Vec<u8> {
    use der::{INTEGER, OID, SEQUENCE, tlv};
    const UTC_TIME: u8 = 0x17;
    // ecdsa-with-SHA256, RFC 5758 section 3.2.
    let algorithm = tlv(
        SEQUENCE,
        &tlv(OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
    );
    let name = tlv(SEQUENCE, &[]);
    let mut validity = tlv(UTC_TIME, b"250101000000Z");
    validity.extend(tlv(UTC_TIME, b"350101000000Z"));
    let mut tbs = tlv(der::CONTEXT_0, &tlv(INTEGER, &[2]));
    tbs.extend(tlv(INTEGER, &[1]));
    tbs.extend(&algorithm);
    tbs.extend(&name);
    tbs.extend(tlv(SEQUENCE, &validity));
    tbs.extend(&name);
    tbs.extend(spki);
    let mut certificate = tlv(SEQUENCE, &tbs);
    certificate.extend(&algorithm);
    certificate.extend(tlv(der::BIT_STRING, &[0, 0x30, 0x00]));
    tlv(SEQUENCE, &certificate)
}

#[test]
fn a_certificate_gives_the_public_key_when_there_is_no_public_key_object() {
    let Some(hsm) = softhsm(
        "a_certificate_gives_the_public_key_when_there_is_no_public_key_object",
        &[],
    ) else {
        return;
    };
    hsm.init_token("certified");
    let expected = hsm.import("certified", "signer", "05", KeyType::EcdsaP384);
    let module = hsm.module();
    let session = user_session(&module, "certified");
    let public = session
        .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY)])
        .unwrap();
    assert_eq!(public.len(), 1);
    session.destroy_object(public[0]).unwrap();
    session
        .create_object(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(cryptoki::object::CertificateType::X_509),
            Attribute::Token(true),
            Attribute::Id(vec![0x05]),
            Attribute::Label(b"signer".to_vec()),
            Attribute::Subject(der::tlv(der::SEQUENCE, &[])),
            Attribute::Value(certificate_with(expected.spki_der())),
        ])
        .unwrap();
    drop(session);
    let key = open(&format!(
        "pkcs11:token=certified;object=signer?module-path={MODULE}&pin-value={PIN}"
    ))
    .unwrap();
    assert_eq!(key.public_key(), &expected);
    signs_and_verifies(&key, KeyType::EcdsaP384);
}

#[test]
fn tokens_are_selected_by_label_serial_or_slot_id_and_keys_by_label_or_id() {
    let Some(hsm) = softhsm(
        "tokens_are_selected_by_label_serial_or_slot_id_and_keys_by_label_or_id",
        &[],
    ) else {
        return;
    };
    hsm.init_token("alpha");
    hsm.init_token("beta");
    let alpha_one = hsm.import("alpha", "signer", "01", KeyType::EcdsaP256);
    let alpha_two = hsm.import("alpha", "other", "02", KeyType::EcdsaP256);
    let beta = hsm.import("beta", "signer", "01", KeyType::EcdsaP256);
    let module = hsm.module();
    let beta_slot = slot_of(&module, "beta");
    let beta_serial = module
        .get_token_info(beta_slot)
        .unwrap()
        .serial_number()
        .to_owned();
    let q = format!("?module-path={MODULE}&pin-value={PIN}");
    let public = |text: &str| {
        open(&format!("{text}{q}"))
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .public_key()
            .clone()
    };

    assert_eq!(public("pkcs11:token=alpha;object=signer"), alpha_one);
    assert_eq!(public("pkcs11:token=alpha;id=%01"), alpha_one);
    assert_eq!(public("pkcs11:token=alpha;id=%02"), alpha_two);
    assert_eq!(public("pkcs11:token=alpha;object=other;id=%02"), alpha_two);
    assert_eq!(public("pkcs11:token=beta;object=signer"), beta);
    assert_eq!(
        public(&format!("pkcs11:slot-id={};object=signer", beta_slot.id())),
        beta
    );
    assert_eq!(public(&format!("pkcs11:serial={beta_serial};id=%01")), beta);
    assert_eq!(
        public("pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2;token=beta;id=%01"),
        beta
    );

    // Two tokens and no token attribute: ambiguous, and both are named.
    let error = open(&format!("pkcs11:object=signer{q}")).unwrap_err();
    assert_eq!(kind(&error), Pkcs11ErrorKind::NotFound);
    let message = error.to_string();
    assert!(message.contains("2 tokens match"), "{message}");
    assert!(
        message.contains("\"alpha\"") && message.contains("\"beta\""),
        "{message}"
    );
    // A slot-id and a label that name different tokens match none.
    let error = open(&format!(
        "pkcs11:token=alpha;slot-id={};object=signer{q}",
        beta_slot.id()
    ))
    .unwrap_err();
    assert_eq!(kind(&error), Pkcs11ErrorKind::NotFound);
}

#[test]
fn a_wrong_pin_is_named_with_the_token() {
    let Some(hsm) = softhsm("a_wrong_pin_is_named_with_the_token", &[]) else {
        return;
    };
    hsm.init_token("guarded");
    hsm.import("guarded", "signer", "01", KeyType::EcdsaP256);
    let text =
        format!("pkcs11:token=guarded;object=signer?module-path={MODULE}&pin-value={WRONG_PIN}");
    let error = open(&text).unwrap_err();
    assert_eq!(kind(&error), Pkcs11ErrorKind::Login);
    let message = error.to_string();
    assert!(
        message.contains("wrong PIN for token \"guarded\""),
        "{message}"
    );
    assert!(message.contains("CKR_PIN_INCORRECT"), "{message}");
    assert_no_pin("the wrong-PIN error", &message);
    assert_no_pin("the wrong-PIN error's Debug", &format!("{error:?}"));
    // The right PIN still works (one wrong try does not lock SoftHSM's token).
    open(&format!(
        "pkcs11:token=guarded;object=signer?module-path={MODULE}&pin-value={PIN}"
    ))
    .unwrap();
}

#[test]
fn an_unknown_token_is_refused_listing_the_tokens_present() {
    let Some(hsm) = softhsm(
        "an_unknown_token_is_refused_listing_the_tokens_present",
        &[],
    ) else {
        return;
    };
    hsm.init_token("present-one");
    hsm.init_token("present-two");
    let error = open(&format!(
        "pkcs11:token=absent;object=signer?module-path={MODULE}&pin-value={PIN}"
    ))
    .unwrap_err();
    assert_eq!(kind(&error), Pkcs11ErrorKind::NotFound);
    let message = error.to_string();
    assert!(
        message.contains("no token matches token=\"absent\""),
        "{message}"
    );
    assert!(message.contains("\"present-one\""), "{message}");
    assert!(message.contains("\"present-two\""), "{message}");
    assert_no_pin("the no-such-token error", &message);
}

#[test]
fn an_unknown_object_is_refused_listing_the_keys_present() {
    let Some(hsm) = softhsm("an_unknown_object_is_refused_listing_the_keys_present", &[]) else {
        return;
    };
    hsm.init_token("keys");
    hsm.import("keys", "present", "07", KeyType::EcdsaP256);
    let q = format!("?module-path={MODULE}&pin-value={PIN}");
    for text in [
        "pkcs11:token=keys;object=absent",
        "pkcs11:token=keys;id=%08",
        "pkcs11:token=keys;object=present;id=%08",
    ] {
        let error = open(&format!("{text}{q}")).unwrap_err();
        assert_eq!(kind(&error), Pkcs11ErrorKind::NotFound, "{text}");
        let message = error.to_string();
        assert!(message.contains("no private key matches"), "{message}");
        assert!(message.contains("on PKCS#11 token \"keys\""), "{message}");
        assert!(message.contains("object=\"present\" id=%07"), "{message}");
        assert_no_pin("the no-such-object error", &message);
    }
}

#[test]
fn the_pin_and_module_may_come_from_vouch_variables_alone() {
    let Some(hsm) = softhsm(
        "the_pin_and_module_may_come_from_vouch_variables_alone",
        &[
            ("VOUCH_PKCS11_PIN", PIN),
            ("VOUCH_PKCS11_MODULE_PATH", MODULE),
            // vouch's own variables come first.
            ("COSIGN_PKCS11_PIN", WRONG_PIN),
            ("COSIGN_PKCS11_MODULE_PATH", "/nonexistent/module.so"),
        ],
    ) else {
        return;
    };
    hsm.init_token("env");
    let expected = hsm.import("env", "signer", "01", KeyType::EcdsaP256);
    let key = open("pkcs11:token=env;object=signer").unwrap();
    assert_eq!(key.public_key(), &expected);
    signs_and_verifies(&key, KeyType::EcdsaP256);
}

#[test]
fn cosign_variables_are_read_when_vouch_ones_are_not_set() {
    let Some(hsm) = softhsm(
        "cosign_variables_are_read_when_vouch_ones_are_not_set",
        &[
            ("COSIGN_PKCS11_PIN", PIN),
            ("COSIGN_PKCS11_MODULE_PATH", MODULE),
        ],
    ) else {
        return;
    };
    hsm.init_token("cosign-env");
    hsm.import("cosign-env", "signer", "01", KeyType::EcdsaP384);
    let key = open("pkcs11:token=cosign-env;object=signer").unwrap();
    signs_and_verifies(&key, KeyType::EcdsaP384);
}

#[test]
fn without_a_pin_the_error_says_how_to_give_one() {
    let Some(hsm) = softhsm("without_a_pin_the_error_says_how_to_give_one", &[]) else {
        return;
    };
    hsm.init_token("no-pin");
    hsm.import("no-pin", "signer", "01", KeyType::EcdsaP256);
    let error = open(&format!(
        "pkcs11:token=no-pin;object=signer?module-path={MODULE}"
    ))
    .unwrap_err();
    assert_eq!(kind(&error), Pkcs11ErrorKind::Uri);
    let message = error.to_string();
    assert!(message.contains("no PIN given"), "{message}");
    assert!(
        message.contains("pin-value=") && message.contains("VOUCH_PKCS11_PIN"),
        "{message}"
    );
}

#[test]
fn the_pin_never_shows_in_debug_display_or_errors() {
    let Some(hsm) = softhsm("the_pin_never_shows_in_debug_display_or_errors", &[]) else {
        return;
    };
    hsm.init_token("secret");
    hsm.import("secret", "signer", "01", KeyType::EcdsaP256);
    let good = format!("pkcs11:token=secret;object=signer?module-path={MODULE}&pin-value={PIN}");
    let parsed = uri(&good);
    assert_no_pin("the URI's Display", &parsed.to_string());
    assert_no_pin("the URI's Debug", &format!("{parsed:?}"));
    assert!(parsed.to_string().contains("pin-value=<redacted>"));
    let key = Pkcs11Key::open(&parsed).unwrap();
    assert_no_pin("the key's Debug", &format!("{key:?}"));
    assert_no_pin("the key's description", &key.describe());

    // From a pin-source file too.
    let pin_file = hsm.dir.join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    let from_file = uri(&format!(
        "pkcs11:token=secret;object=signer?module-path={MODULE}&pin-source=file://{}",
        pin_file.display()
    ));
    let key = Pkcs11Key::open(&from_file).unwrap();
    assert_no_pin("the key's Debug", &format!("{key:?}"));

    // Every error, with the right and with a wrong PIN in the URI.
    for pin in [PIN, WRONG_PIN] {
        for text in [
            format!("pkcs11:token=secret;object=signer?module-path={MODULE}&pin-value={pin}"),
            format!("pkcs11:token=absent;object=signer?module-path={MODULE}&pin-value={pin}"),
            format!("pkcs11:token=secret;object=absent?module-path={MODULE}&pin-value={pin}"),
            format!(
                "pkcs11:token=secret;object=signer?module-path=/nonexistent.so&pin-value={pin}"
            ),
        ] {
            let parsed = uri(&text);
            assert_no_pin("the URI's Display", &parsed.to_string());
            if let Err(error) = Pkcs11Key::open(&parsed) {
                assert_no_pin("an error", &error.to_string());
                assert_no_pin("an error's Debug", &format!("{error:?}"));
            }
        }
        for malformed in [
            format!("pkcs11:token=secret;object=signer?pin-value={pin}%G"),
            format!("pkcs11:token=secret?pin-value={pin}"),
            format!("pkcs11:token=secret;pin-value={pin};object=a"),
            format!("pkcs11:object=a?pin-value={pin}&pin-value={pin}"),
            format!("pkcs11:object=a?{pin}"),
        ] {
            let error = Pkcs11Uri::parse(&malformed).unwrap_err();
            assert_no_pin("a URI error", &error.to_string());
            assert_no_pin("a URI error's Debug", &format!("{error:?}"));
            assert_no_pin(
                "a redacted URI",
                &vouch_keys::pkcs11::redact_pin(&malformed),
            );
        }
    }
}

#[test]
fn a_public_key_from_another_pair_is_refused() {
    let Some(hsm) = softhsm("a_public_key_from_another_pair_is_refused", &[]) else {
        return;
    };
    hsm.init_token("mixed");
    hsm.import("mixed", "mine", "01", KeyType::EcdsaP256);
    hsm.import("mixed", "theirs", "02", KeyType::EcdsaP256);
    hsm.import("mixed", "p256", "03", KeyType::EcdsaP256);
    hsm.import("mixed", "p384", "04", KeyType::EcdsaP384);
    // Give "mine" the public key object of "theirs" (same curve, another key), and "p256"
    // that of "p384" (another curve): same id and label, wrong key.
    let module = hsm.module();
    let session = user_session(&module, "mixed");
    let find = |class: ObjectClass, id: u8| -> ObjectHandle {
        let found = session
            .find_objects(&[Attribute::Class(class), Attribute::Id(vec![id])])
            .unwrap();
        assert_eq!(found.len(), 1);
        found[0]
    };
    for (object, own, other) in [("mine", 0x01, 0x02), ("p256", 0x03, 0x04)] {
        session
            .destroy_object(find(ObjectClass::PUBLIC_KEY, own))
            .unwrap();
        session
            .update_attributes(
                find(ObjectClass::PUBLIC_KEY, other),
                &[
                    Attribute::Id(vec![own]),
                    Attribute::Label(object.as_bytes().to_vec()),
                ],
            )
            .unwrap();
    }
    drop(session);
    for object in ["mine", "p256"] {
        let error = open(&format!(
            "pkcs11:token=mixed;object={object}?module-path={MODULE}&pin-value={PIN}"
        ))
        .unwrap_err();
        assert_eq!(kind(&error), Pkcs11ErrorKind::Key, "{error}");
        let message = error.to_string();
        assert!(
            message.contains(&format!(
                "the public key found for object \"{object}\" does not match its private key"
            )),
            "{message}"
        );
    }
}
