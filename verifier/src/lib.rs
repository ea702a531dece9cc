//! The trust decision: given an image's digest, what is stored about it, and the trust
//! material the caller chose, say yes or no, and why.
//!
//! The core is sans-I/O: callers fetch signature layers and bundles with `vouch-registry` (or
//! any other way) and hand them in; nothing here reads the network, the filesystem or the
//! clock. Every refusal names the check that failed ([`check::Check`]), and a passing result
//! is a [`Verified`] value that only this crate can construct, so code downstream (printing,
//! policy) cannot be handed an unchecked signature by mistake. Image evidence in either store,
//! cosign's tag layout or bundle referrers, key-signed or keyless, is verified one way
//! ([`image`]):
//!
//! ```
//! use std::collections::BTreeMap;
//! use base64::Engine as _;
//! use vouch_attestations::simple_signing::SimpleSigning;
//! use vouch_keys::{Digest, KeyType, PrivateKey};
//! use vouch_attestations::cosign::{SignatureLayer, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE};
//! use vouch_verifier::check::Check;
//! use vouch_verifier::time::UnixTime;
//! use vouch_verifier::trust_root::TrustedRoot;
//! use vouch_verifier::verify::{Options, Policy, Verifier};
//!
//! let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
//! let image = Digest::sha256(b"an image manifest");
//! let payload = SimpleSigning::new("example.com/app", image.clone(), &BTreeMap::new()).to_vec();
//! let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload).unwrap());
//! let layer = SignatureLayer {
//!     index: 0,
//!     media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
//!     digest: Digest::sha256(&payload),
//!     annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), signature)]),
//!     payload: Ok(payload),
//! };
//!
//! let verifier = Verifier::new(TrustedRoot::public_good().unwrap()).unwrap();
//! let options = Options {
//!     require_tlog: false,
//!     ..Options::at(UnixTime::from_system_time(std::time::SystemTime::now()))
//! };
//! let key_policy = Policy::Key(key.public_key().clone());
//! assert!(verifier.verify_signature_layer(&layer, &image, &key_policy, options).is_ok());
//! let other = Digest::sha256(b"another manifest");
//! let refused = verifier.verify_signature_layer(&layer, &other, &key_policy, options).unwrap_err();
//! assert_eq!(refused.check(), Check::ArtifactDigest);
//! ```
//!
//! Sigstore bundles ([`bundle`]) are verified by [`verify::Verifier`] against a trusted root
//! ([`trust_root`], the public-good one embedded), with every check the Sigstore client
//! specification asks for: certificate path ([`x509`]), embedded SCT ([`sct`]), log entry body
//! ([`entry`]), signed entry timestamp and inclusion proof ([`rekor`], [`merkle`],
//! [`checkpoint`]), RFC 3161 timestamps ([`tsa`]), identity ([`identity`]). Each failure is its
//! own [`VerifyError`] variant, named for reports by [`VerifyError::check`]:
//!
//! ```
//! use vouch_verifier::bundle::Bundle;
//! use vouch_verifier::check::Check;
//! use vouch_verifier::identity::{CertificateIdentity, Matcher};
//! use vouch_verifier::time::UnixTime;
//! use vouch_verifier::trust_root::TrustedRoot;
//! use vouch_verifier::verify::{Artifact, Options, Policy, Verifier};
//!
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/conformance");
//! let bundle = std::fs::read(format!("{dir}/happy-path-v0.3/bundle.sigstore.json")).unwrap();
//! let artifact = std::fs::read(format!("{dir}/a.txt")).unwrap();
//!
//! let verifier = Verifier::new(TrustedRoot::public_good().unwrap()).unwrap();
//! let policy = Policy::Identity(CertificateIdentity {
//!     subject: Matcher::regex("^https://github.com/sigstore-conformance/").unwrap(),
//!     issuer: Matcher::Exact("https://token.actions.githubusercontent.com".into()),
//!     claims: Vec::new(),
//! });
//! let bundle = Bundle::from_json(&bundle).unwrap();
//! let report = verifier
//!     .verify(&bundle, Artifact::Bytes(&artifact), &policy, Options::at(UnixTime::from_system_time(std::time::SystemTime::now())))
//!     .unwrap();
//! assert!(report.checks.iter().any(|c| c.check == Check::CertificateSct));
//!
//! let other = b"another artifact";
//! let denied = verifier
//!     .verify(&bundle, Artifact::Bytes(other), &policy, Options::at(UnixTime::from_system_time(std::time::SystemTime::now())))
//!     .unwrap_err();
//! assert_eq!(denied.check(), Check::ArtifactDigest);
//! ```

pub mod check;
pub mod checkpoint;
pub mod entry;
pub mod error;
pub mod identity;
pub mod image;
pub mod merkle;
pub mod rego;
pub mod rekor;
pub mod sct;
pub mod signing_config;
pub mod time;
pub mod trust_root;
pub mod tsa;
pub mod verify;
pub mod x509;

pub use error::VerifyError;
/// The Sigstore bundle model, defined in [`vouch_attestations::bundle`] (signing writes what
/// verification reads) and re-exported here because [`verify::Verifier`] takes it.
pub use vouch_attestations::bundle;

/// A value that passed verification. Only `vouch-verifier` constructs it; read it through
/// `Deref` or [`Verified::get`].
#[derive(Debug, Clone)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// The verified value.
    pub fn get(&self) -> &T {
        &self.0
    }

    /// The verified value, owned (it stays what was verified; it just no longer says so).
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
