//! Raw blob signature files, the older release-asset form (`cosign sign-blob
//! --output-signature`, `cosign verify-blob --signature`): what vouch writes, sigstore-rs's
//! cosign key verification accepts, and what sigstore-rs signs, vouch verifies. The signature is
//! base64 of the key's signature over the file, as cosign writes it.
#![allow(clippy::unwrap_used)]

use std::fs;

use base64::Engine as _;
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
use vouch_tests::{generate_key, vouch, vouch_with_password};

#[test]
fn raw_signature_files_interoperate_with_sigstore_rs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let artifact = d.join("release.tar");
    fs::write(&artifact, b"a release archive\n").unwrap();
    let artifact_text = artifact.to_str().unwrap();
    vouch_tests::peer_ran("sigstore-rs");

    for (algorithm, scheme) in [
        ("ecdsa-p256", SigningScheme::ECDSA_P256_SHA256_ASN1),
        ("ecdsa-p384", SigningScheme::ECDSA_P384_SHA384_ASN1),
    ] {
        let key = generate_key(d, algorithm, algorithm);
        let public = key.public.to_str().unwrap();
        let signature = d.join(format!("{algorithm}.sig"));
        let sign = [
            "sign-blob",
            "--key",
            key.key.to_str().unwrap(),
            "--output-signature",
            signature.to_str().unwrap(),
            artifact_text,
        ];
        vouch_with_password(&key.password, &sign).expect_code(0);

        // sigstore-rs verifies what vouch wrote.
        let encoded = fs::read_to_string(&signature).unwrap();
        let verifier =
            CosignVerificationKey::try_from_pem(&fs::read(&key.public).unwrap()).unwrap();
        verifier
            .verify_signature(
                Signature::Base64Encoded(encoded.as_bytes()),
                &fs::read(&artifact).unwrap(),
            )
            .unwrap_or_else(|e| panic!("{algorithm}: sigstore-rs refuses vouch's signature: {e}"));

        // vouch verifies it, and refuses it for another file or without the offline flag.
        let verify = |file: &str, extra: &[&str]| {
            let mut args = vec!["verify-blob", "--key", public, "--signature"];
            args.push(signature.to_str().unwrap());
            args.extend_from_slice(extra);
            args.push(file);
            vouch(&args)
        };
        verify(artifact_text, &["--insecure-ignore-tlog"]).expect_code(0);
        let other = d.join("other.tar");
        fs::write(&other, b"another archive\n").unwrap();
        let denied = verify(
            other.to_str().unwrap(),
            &["--insecure-ignore-tlog", "-o", "json"],
        )
        .expect_code(1);
        assert_eq!(denied.json()["check"], "artifact-signature");
        let denied = verify(artifact_text, &["-o", "json"]).expect_code(1);
        assert_eq!(denied.json()["check"], "tlog-entry");

        // What sigstore-rs signs with vouch's key (decrypted with its password), vouch verifies.
        let pair = SigStoreKeyPair::from_encrypted_pem(
            &fs::read(&key.key).unwrap(),
            key.password.as_bytes(),
        )
        .unwrap();
        let signer = pair.to_sigstore_signer(&scheme).unwrap();
        let theirs = signer.sign(&fs::read(&artifact).unwrap()).unwrap();
        let theirs_file = d.join(format!("{algorithm}.rs.sig"));
        fs::write(
            &theirs_file,
            base64::engine::general_purpose::STANDARD.encode(theirs),
        )
        .unwrap();
        vouch(&[
            "verify-blob",
            "--key",
            public,
            "--signature",
            theirs_file.to_str().unwrap(),
            "--insecure-ignore-tlog",
            artifact_text,
        ])
        .expect_code(0);
    }

    // cosign's certificate flags are keyless: refused by name, nothing written.
    let key = generate_key(d, "cert", "ecdsa-p256");
    let certificate = d.join("cert.pem");
    let run = vouch_with_password(
        &key.password,
        &[
            "sign-blob",
            "--key",
            key.key.to_str().unwrap(),
            "--output-signature",
            d.join("c.sig").to_str().unwrap(),
            "--output-certificate",
            certificate.to_str().unwrap(),
            artifact_text,
        ],
    )
    .expect_code(2);
    assert!(run.stderr.contains("--output-certificate"), "{run:#?}");
    assert!(!d.join("c.sig").exists() && !certificate.exists());
    let run = vouch(&[
        "verify-blob",
        "--key",
        key.public.to_str().unwrap(),
        "--signature",
        d.join("ecdsa-p256.sig").to_str().unwrap(),
        "--certificate",
        certificate.to_str().unwrap(),
        artifact_text,
    ])
    .expect_code(2);
    assert!(run.stderr.contains("--certificate"), "{run:#?}");
}
