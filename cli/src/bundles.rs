//! Sigstore bundles on images, as cosign v3 stores them: a key-signed bundle pushed as an OCI
//! 1.1 referrer of the image (see `vouch_registry::referrers`), read back from the referrers
//! API or its tag schema, and verified with `vouch_verifier::verify`.
//!
//! An image signature in this format is a DSSE envelope whose in-toto statement names the
//! image digest as its subject with predicate type [`COSIGN_SIGN_PREDICATE`] (the predicate
//! holds the `-a` annotations, if any); an attestation is the same with the attestation's own
//! predicate type.

use std::collections::BTreeMap;
use std::time::SystemTime;

use futures_util::StreamExt as _;
use serde_json::Value;
use vouch_attestations::dsse;
use vouch_attestations::intoto::{ResourceDescriptor, Statement};
use vouch_keys::{Digest, PrivateKey, PublicKey};
use vouch_registry::cosign::{Attachment, SignatureSet, read_attachments};
use vouch_registry::manifest::Descriptor;
use vouch_registry::referrers::{
    self, AttachedReferrer, Referrer, ReferrerSource, SIGSTORE_BUNDLE_MEDIA_TYPE,
};
use vouch_registry::{EvidenceBudget, RegistryError, Store};
use vouch_verifier::bundle::{Bundle, BundleContent};
use vouch_verifier::check::{Check, Refusal};
use vouch_verifier::time::UnixTime;
use vouch_verifier::verify::{ImageBundleVerification, ImageClaim, Options, Policy, Verifier};
use vouch_verifier::{Verified, VerifyError};

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

/// A key-signed v0.3 bundle holding `statement` in a DSSE envelope.
pub(crate) fn dsse_bundle(key: &PrivateKey, statement: &Statement) -> Result<Bundle, CliError> {
    let payload = statement.to_vec();
    let sig = key.sign(&dsse::pae(dsse::IN_TOTO_PAYLOAD_TYPE, &payload))?;
    Ok(Bundle::key_signed_dsse(
        key.public_key(),
        dsse::IN_TOTO_PAYLOAD_TYPE,
        payload,
        sig,
    ))
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

/// One bundle referrer of an image, verified or not.
pub(crate) struct ImageBundle {
    /// How it was listed.
    pub(crate) referrer: Referrer,
    /// The verification result: a signed statement about the image, or why not.
    pub(crate) result: Result<Verified<ImageBundleVerification>, Refusal>,
}

impl ImageBundle {
    /// The predicate type of the verified statement, else the one the referrer's
    /// (unauthenticated) annotation lists, for reports.
    pub(crate) fn predicate_type(&self) -> Option<String> {
        match &self.result {
            Ok(verified) => Some(verified.predicate_type.clone()),
            Err(_) => self
                .referrer
                .descriptor
                .annotations
                .get(referrers::BUNDLE_PREDICATE_TYPE_ANNOTATION)
                .cloned(),
        }
    }

    /// Whether this is an image signature: by the verified statement when it verified; by
    /// the referrer's annotation otherwise (an unverified bundle counts for nothing either
    /// way: this only says which report lists its failure, and one without an annotation is
    /// listed with the signatures).
    pub(crate) fn is_signature(&self) -> bool {
        match &self.result {
            Ok(verified) => verified.claim == ImageClaim::Signature,
            Err(_) => self
                .predicate_type()
                .is_none_or(|t| t == COSIGN_SIGN_PREDICATE),
        }
    }
}

/// How many referrers of one image are fetched at once.
const REFERRER_CONCURRENCY: usize = 8;

/// Reads and verifies, with `key`, every Sigstore bundle referrer of the manifest `digest`,
/// fetching up to [`REFERRER_CONCURRENCY`] at once, every read charged to `budget`. Bundles
/// whose referrer or blob cannot be fetched or read are reported as rejected with the
/// reason; registry failures that stop the listing itself, and an exhausted budget, are
/// errors.
async fn verify_image_bundles(
    store: &Store,
    digest: &Digest,
    key: &PublicKey,
    budget: &EvidenceBudget,
) -> Result<Vec<ImageBundle>, CliError> {
    let listed = referrers::list_referrers(store, digest, Some(SIGSTORE_BUNDLE_MEDIA_TYPE)).await?;
    if listed.is_empty() {
        return Ok(Vec::new());
    }
    let root = crate::trust::public_good()?;
    let verifier = Verifier::new(root).map_err(|e| CliError::Internal(e.to_string()))?;
    let policy = Policy::Key(key.clone());
    let limit = store.limits().max_signature_blob_bytes;
    let fetched: Vec<_> = futures_util::stream::iter(listed)
        .map(|referrer| async move {
            let blob = referrers::fetch_referrer_blob(store, &referrer, limit, budget).await;
            (referrer, blob)
        })
        .buffered(REFERRER_CONCURRENCY)
        .collect()
        .await;
    let mut found = Vec::with_capacity(fetched.len());
    for (referrer, blob) in fetched {
        let result = match blob {
            Err(e @ RegistryError::EvidenceTooLarge { .. }) => return Err(e.into()),
            Err(e) if !e.is_input_error() && e.is_transient() => return Err(e.into()),
            Err(e) => Err(Refusal {
                check: Check::PayloadAvailable,
                reason: e.to_string(),
            }),
            Ok(blob) => Bundle::from_json(&blob.bytes)
                .map_err(VerifyError::from)
                .and_then(|bundle| {
                    // Image bundles are key-signed here: trust comes from the key the caller
                    // gives, as for cosign's tag layout; a log entry is checked when present.
                    let options = Options {
                        now: UnixTime::from_system_time(std::time::SystemTime::now()),
                        require_tlog: false,
                    };
                    verifier.verify_image_bundle(&bundle, digest, &policy, options)
                })
                .map_err(|e: VerifyError| Refusal {
                    check: e.check(),
                    reason: e.to_string(),
                }),
        };
        found.push(ImageBundle { referrer, result });
    }
    Ok(found)
}

/// An image's evidence of one kind: its cosign tag-layout attachments of `kind` (`.sig` or
/// `.att`) and its Sigstore bundle referrers verified with `key`, read concurrently (the two
/// stores are independent once the digest is known) under one [`EvidenceBudget`]. The first
/// error stops both.
pub(crate) async fn image_evidence(
    store: &Store,
    digest: &Digest,
    kind: Attachment,
    key: &PublicKey,
) -> Result<(SignatureSet, Vec<ImageBundle>), CliError> {
    let budget = EvidenceBudget::for_image(store, digest);
    tokio::try_join!(
        async {
            read_attachments(store, digest, kind, &budget)
                .await
                .map_err(CliError::from)
        },
        verify_image_bundles(store, digest, key, &budget),
    )
}

/// The `-a` annotations an image-signature statement's predicate records.
pub(crate) fn predicate_annotations(annotations: &BTreeMap<String, String>) -> Value {
    if annotations.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::json!({ "annotations": annotations })
    }
}
