//! Sigstore bundles on images, as cosign v3 stores them: a key-signed bundle pushed as an OCI
//! 1.1 referrer of the image (see `vouch_registry::referrers`). Reading and verifying them is
//! `vouch-policy`'s.
//!
//! An image signature in this format is a DSSE envelope whose in-toto statement names the
//! image digest as its subject with predicate type [`COSIGN_SIGN_PREDICATE`] (the predicate
//! holds the `-a` annotations, if any); an attestation is the same with the attestation's own
//! predicate type.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::Value;
use vouch_attestations::intoto::{ResourceDescriptor, Statement};
use vouch_keys::Digest;
use vouch_registry::Store;
use vouch_registry::manifest::Descriptor;
use vouch_registry::referrers::{
    self, AttachedReferrer, ReferrerSource, SIGSTORE_BUNDLE_MEDIA_TYPE,
};
use vouch_verifier::bundle::{Bundle, BundleContent};

use crate::error::CliError;

/// The predicate type cosign v3 gives the statement of an image signature in bundle format.
pub(crate) use vouch_attestations::intoto::COSIGN_SIGN_PREDICATE_TYPE as COSIGN_SIGN_PREDICATE;

/// How signatures and attestations are stored on images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BundleFormat {
    /// cosign's tag layout: `sha256-<hex>.sig` for signatures, `sha256-<hex>.att` for
    /// attestations.
    Legacy,
    /// A Sigstore bundle v0.3 as an OCI 1.1 referrer (cosign v3's default).
    V3,
}

/// The statement of an image signature or attestation: the image digest as the one subject.
pub(crate) fn image_statement(
    name: &str,
    digest: &Digest,
    predicate_type: &str,
    predicate: Value,
) -> Result<Statement, CliError> {
    Statement::new(
        vec![ResourceDescriptor::for_digest(name, digest)],
        predicate_type,
        Some(predicate),
    )
    .map_err(|e| CliError::Usage(e.to_string()))
}

/// Pushes `bundle` as a referrer of the manifest `subject`.
pub(crate) async fn push_bundle(
    store: &Store,
    subject: &Descriptor,
    bundle: &Bundle,
    predicate_type: Option<&str>,
) -> Result<AttachedReferrer, CliError> {
    let content = match bundle.content {
        BundleContent::DsseEnvelope(_) => "dsse-envelope",
        BundleContent::MessageSignature(_) => "message-signature",
    };
    let annotations =
        referrers::sigstore_bundle_annotations(content, predicate_type, SystemTime::now());
    Ok(referrers::attach_referrer(
        store,
        subject,
        SIGSTORE_BUNDLE_MEDIA_TYPE,
        SIGSTORE_BUNDLE_MEDIA_TYPE,
        &bundle.to_json(),
        annotations,
    )
    .await?)
}

/// Where a bundle was found, for reports.
pub(crate) fn source_name(source: ReferrerSource) -> &'static str {
    match source {
        ReferrerSource::Api => "referrers-api",
        ReferrerSource::TagSchema => "referrers-tag-schema",
    }
}

/// The `-a` annotations an image-signature statement's predicate records.
pub(crate) fn predicate_annotations(annotations: &BTreeMap<String, String>) -> Value {
    if annotations.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::json!({ "annotations": annotations })
    }
}
