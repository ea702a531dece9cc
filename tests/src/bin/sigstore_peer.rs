//! `sigstore-peer`: an independent, third-party cosign implementation.
//!
//! It signs and verifies container images with key pairs using only the
//! `cosign` module of the `sigstore` crate (sigstore-rs), never vouch's own code.
//! The interop tests use it to check that the `.sig` signature images vouch
//! writes are accepted by another cosign implementation (and the other way
//! round), and the verify and policy benchmarks use it as the reference implementation.
//!
//! Registries are always spoken to over plain HTTP with anonymous auth: this is
//! meant for throwaway local registries.

use std::collections::HashMap;
use std::process::ExitCode;

use sigstore::cosign::bundle_content::BundleContent;
use sigstore::cosign::constraint::{AnnotationMarker, PrivateKeySigner};
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{
    Client, ClientBuilder, Constraint, CosignCapabilities, SignatureLayer, verify_constraints,
};
use sigstore::crypto::SigningScheme;
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::signing_key::ecdsa::ECDSAKeys;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};

const USAGE: &str = "\
sigstore-peer: sign and verify cosign image signatures with sigstore-rs (interop tests, benchmarks)

USAGE:
    sigstore-peer verify --key PUB.pem IMAGE...
    sigstore-peer sign --key ENCRYPTED.key IMAGE [-a KEY=VALUE]...
    sigstore-peer --help

IMAGE is REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:HEX; the registry is reached over plain HTTP,
anonymously.

verify: for each IMAGE in turn (one client, as a loop over sigstore-rs's cosign client would),
        prints `IMAGE verified N signature(s) in X.XXX ms` if at least one signature layer of the
        image's `sha256-HEX.sig` tag is signed by PUB.pem (P-256, P-384, P-521, Ed25519 or RSA
        public key), `IMAGE not verified in X.XXX ms` if none is, `IMAGE error in X.XXX ms` (and the
        error on standard error) otherwise. Exits with the worst: 0 all verified, 1 one not
        verified, 2 on any other error.
sign:   signs the image digest with the cosign/sigstore encrypted private key (password from
        COSIGN_PASSWORD; unset means empty, which also accepts an unencrypted PKCS#8 key) and pushes
        the signature to the `sha256-HEX.sig` tag, keeping the signatures already there. -a adds
        KEY=VALUE to the payload's `optional` section. Exits 0 on success, 2 on error.
";

/// Outcome of a command that ran to completion; errors are returned as `Err(String)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: the image is not signed by the given key.
    NotVerified,
}

enum Command {
    Help,
    Verify {
        key: String,
        images: Vec<OciReference>,
    },
    Sign {
        key: String,
        image: OciReference,
        annotations: HashMap<String, String>,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse_args(&args) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            Ok(Outcome::Success)
        }
        Ok(Command::Verify { key, images }) => verify(&key, &images).await,
        Ok(Command::Sign {
            key,
            image,
            annotations,
        }) => sign(&key, &image, annotations).await,
        Err(e) => Err(format!("{e}\n\n{USAGE}")),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::NotVerified) => ExitCode::from(1),
        Err(e) => {
            eprintln!("sigstore-peer: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    let Some((subcommand, rest)) = args.split_first() else {
        return Err("missing subcommand".to_owned());
    };
    let signing = match subcommand.as_str() {
        "-h" | "--help" | "help" => return Ok(Command::Help),
        "verify" => false,
        "sign" => true,
        other => return Err(format!("unknown subcommand `{other}`")),
    };

    let mut key = None;
    let mut images = Vec::new();
    let mut annotations = HashMap::new();
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        let mut value_of = |name: &str| {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("`{name}` needs a value"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-k" | "--key" => key = Some(value_of(arg)?),
            "-a" | "--annotation" if signing => {
                let pair = value_of(arg)?;
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("annotation `{pair}` is not KEY=VALUE"))?;
                annotations.insert(k.to_owned(), v.to_owned());
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
            extra if signing && !images.is_empty() => {
                return Err(format!("unexpected argument `{extra}`"));
            }
            positional => images.push(positional.to_owned()),
        }
    }
    let key = key.ok_or("missing `--key`")?;
    if images.is_empty() {
        return Err("missing IMAGE".to_owned());
    }
    let mut images = images
        .iter()
        .map(|image| {
            image
                .parse::<OciReference>()
                .map_err(|e| format!("invalid image reference `{image}`: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if signing {
        Command::Sign {
            key,
            image: images.remove(0),
            annotations,
        }
    } else {
        Command::Verify { key, images }
    })
}

/// A sigstore-rs cosign client for a plain-HTTP registry, without Rekor or Fulcio.
fn client() -> Result<Client, String> {
    let config = ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    };
    ClientBuilder::default()
        .with_oci_client_config(config)
        .build()
        .map_err(|e| format!("cannot build the sigstore client: {e}"))
}

/// `cosign verify --key` of each image in turn, the sigstore-rs way: the key is loaded and the
/// client built once, then each image is verified and reported with its own wall time. The
/// outcome is the worst of them; an error verifying one image is reported and the next is
/// still verified (it makes the outcome an error).
async fn verify(key_path: &str, images: &[OciReference]) -> Result<Outcome, String> {
    let pem = std::fs::read(key_path).map_err(|e| format!("cannot read {key_path}: {e}"))?;
    // `try_from` infers the signing scheme from the SPKI: P-256 -> ECDSA_P256_SHA256_ASN1,
    // P-384 -> ECDSA_P384_SHA384_ASN1, P-521 -> ECDSA_P521_SHA512_ASN1, Ed25519 -> ED25519,
    // RSA -> RSA_PKCS1_SHA256.
    let verifier = PublicKeyVerifier::try_from(&pem)
        .map_err(|e| format!("cannot load public key {key_path}: {e}"))?;
    let constraints: VerificationConstraintVec = vec![Box::new(verifier)];

    let mut client = client()?;
    let mut worst = Outcome::Success;
    let mut failed = None;
    for image in images {
        let start = std::time::Instant::now();
        let result = verify_one(&mut client, &constraints, key_path, image).await;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(Some(verified)) => {
                println!("{image} verified {verified} signature(s) in {ms:.3} ms")
            }
            Ok(None) => {
                println!("{image} not verified in {ms:.3} ms");
                worst = worst.max(Outcome::NotVerified);
            }
            Err(e) => {
                println!("{image} error in {ms:.3} ms");
                if let Some(earlier) = failed.replace(e) {
                    eprintln!("sigstore-peer: error: {earlier}");
                }
            }
        }
    }
    // The last error is the command's (main prints it); earlier ones were printed above.
    failed.map_or(Ok(worst), Err)
}

/// Verifies one image: `Some(number of layers signed by the key)`, or `None` when no layer is
/// (the reason is written to standard error).
async fn verify_one(
    client: &mut Client,
    constraints: &VerificationConstraintVec,
    key_path: &str,
    image: &OciReference,
) -> Result<Option<usize>, String> {
    // In sigstore 0.15 this does the triangulation itself (HEAD of the image manifest to get the
    // digest, then the `sha256-<hex>.sig` tag), so calling `triangulate` first would only repeat
    // those requests. Note that it logs and swallows errors fetching the `.sig` image (including
    // a missing tag): they show up as "no signatures" (exit 1), not as a registry error.
    let layers = client
        .trusted_signature_layers(&Auth::Anonymous, image)
        .await
        .map_err(|e| format!("cannot fetch the signatures of {image}: {e}"))?;

    if verify_constraints(&layers, constraints.iter()).is_err() {
        if layers.is_empty() {
            eprintln!("sigstore-peer: no signatures found for {image}");
        } else {
            eprintln!(
                "sigstore-peer: none of the {} signature layer(s) of {image} is signed by {key_path}",
                layers.len()
            );
        }
        return Ok(None);
    }
    let verified = layers
        .iter()
        .filter(|layer| constraints.iter().all(|c| c.verify(layer).unwrap_or(false)))
        .count();
    Ok(Some(verified))
}

/// `cosign sign --key`, the sigstore-rs way (as in sigstore's `examples/cosign/sign`).
async fn sign(
    key_path: &str,
    image: &OciReference,
    annotations: HashMap<String, String>,
) -> Result<Outcome, String> {
    let pem = std::fs::read(key_path).map_err(|e| format!("cannot read {key_path}: {e}"))?;
    let password = std::env::var("COSIGN_PASSWORD").unwrap_or_default();
    // sigstore-rs tries each key type in turn and reports a wrong password as
    // "Unsupported key type".
    let key_pair = SigStoreKeyPair::from_encrypted_pem(&pem, password.as_bytes()).map_err(|e| {
        format!("cannot load {key_path} (wrong COSIGN_PASSWORD or unsupported key): {e}")
    })?;
    let scheme = signing_scheme(&key_pair);
    let signer = key_pair
        .to_sigstore_signer(&scheme)
        .map_err(|e| format!("cannot use {key_path} with {scheme}: {e}"))?;

    let mut client = client()?;
    let auth = Auth::Anonymous;
    let (signature_image, digest) = client
        .triangulate(image, &auth)
        .await
        .map_err(|e| format!("cannot resolve {image}: {e}"))?;

    // The payload's docker-reference is `image` as given (sigstore-rs keeps the tag or digest).
    let mut layer = SignatureLayer::new_unsigned(image, &digest)
        .map_err(|e| format!("cannot build the payload: {e}"))?;
    if !annotations.is_empty() {
        apply(
            "annotations",
            &AnnotationMarker::new(annotations),
            &mut layer,
        )?;
    }
    // Must come last: it serializes the payload and signs those bytes.
    apply(
        "signature",
        &PrivateKeySigner::new_with_signer(signer),
        &mut layer,
    )?;

    // `push_signature` REPLACES the manifest at the `.sig` tag: it builds a manifest out of
    // exactly the layers it is given. To append, as cosign does, read the existing layers and
    // push them again together with the new one. Caveats of doing that with sigstore-rs:
    // - it re-serializes each layer's payload from the parsed `SimpleSigning` instead of reusing
    //   the original bytes, so a layer whose payload does not round-trip byte for byte would end
    //   up with a broken signature; we refuse to push in that case rather than corrupt it;
    // - it writes only the signature annotation: certificate, chain and Rekor bundle annotations
    //   of existing layers are dropped (irrelevant for key-based signatures);
    // - layers sigstore-rs cannot parse, or whose payload names another digest, are dropped;
    // - a failure to read the `.sig` image is indistinguishable from "no signatures yet".
    let existing = client
        .trusted_signature_layers(&auth, image)
        .await
        .map_err(|e| format!("cannot fetch the existing signatures of {image}: {e}"))?;
    let mut layers = Vec::with_capacity(existing.len() + 1);
    for old in existing {
        // Sigstore bundles found through the referrers API are not part of the `.sig` image.
        if matches!(old.bundle, Some(BundleContent::SigstoreBundle(_))) {
            continue;
        }
        let reserialized = serde_json::to_vec(&old.simple_signing)
            .map_err(|e| format!("cannot serialize existing layer {}: {e}", old.oci_digest))?;
        if reserialized != old.raw_data {
            return Err(format!(
                "existing signature layer {} of {signature_image} would not survive sigstore-rs \
                 re-serializing its payload; refusing to overwrite it",
                old.oci_digest
            ));
        }
        layers.push(old);
    }
    // Deterministic signatures (Ed25519) of the same payload would repeat an existing layer.
    let duplicate = layers
        .iter()
        .any(|old| old.raw_data == layer.raw_data && old.signature == layer.signature);
    if !duplicate {
        layers.push(layer);
    }
    let count = layers.len();

    client
        .push_signature(None, &auth, &signature_image, layers)
        .await
        .map_err(|e| format!("cannot push {signature_image}: {e}"))?;
    println!("signed {digest} with {scheme}: {signature_image} has {count} signature layer(s)");
    Ok(Outcome::Success)
}

/// The scheme cosign uses for a key of this type.
fn signing_scheme(key_pair: &SigStoreKeyPair) -> SigningScheme {
    match key_pair {
        SigStoreKeyPair::ECDSA(ECDSAKeys::P256(_)) => SigningScheme::ECDSA_P256_SHA256_ASN1,
        SigStoreKeyPair::ECDSA(ECDSAKeys::P384(_)) => SigningScheme::ECDSA_P384_SHA384_ASN1,
        SigStoreKeyPair::ECDSA(ECDSAKeys::P521(_)) => SigningScheme::ECDSA_P521_SHA512_ASN1,
        SigStoreKeyPair::ED25519(_) => SigningScheme::ED25519,
        // The size is only used to generate keys, not to sign.
        SigStoreKeyPair::RSA(_) => SigningScheme::RSA_PKCS1_SHA256(0),
    }
}

/// Applies a sign-time constraint, failing unless it was applied. (Not `{constraint:?}` in the
/// messages: the signer's `Debug` would print the private key.)
fn apply(
    what: &str,
    constraint: &dyn Constraint,
    layer: &mut SignatureLayer,
) -> Result<(), String> {
    match constraint.add_constraint(layer) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("cannot add the {what} to the payload")),
        Err(e) => Err(format!("cannot add the {what} to the payload: {e}")),
    }
}
