//! Sigstore bundle verification: one function that takes a bundle, the artifact (its bytes or
//! only its digest), the caller's policy (an expected certificate identity, or a public key)
//! and the trust material, and says yes, with every check it made, or no, with the first check
//! that failed.
//!
//! The order follows the Sigstore client specification: the signature over the artifact, then
//! the transparency-log entries (body, signed entry timestamp, inclusion proof and checkpoint)
//! and RFC 3161 timestamps that establish when it was made, then the certificate path to a
//! trusted Fulcio CA at each of those times, the embedded SCT, and the identity. Nothing here
//! performs I/O or reads the clock: `now` is an argument.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use serde::Serialize;
use vouch_attestations::dsse;
use vouch_attestations::intoto::Statement;
use vouch_keys::{Digest, DigestAlgorithm, PublicKey};

use crate::VerifyError;
use crate::bundle::{Bundle, BundleContent, HashAlgorithm, SignerMaterial, TransparencyLogEntry};
use crate::check::Check;
use crate::entry::{SignedContent, VerifierMaterial, check_entry_body};
use crate::identity::{CertificateIdentity, FoundIdentity};
use crate::rekor::{self, RekorLog};
use crate::sct::{Sct, verify_embedded_scts};
use crate::time::UnixTime;
use crate::trust_root::{KeyEncoding, LogKind, TimeRange, TransparencyLogInstance, TrustedRoot};
use crate::tsa::{TimestampAuthority, TimestampToken, verify_timestamp};
use crate::x509::{Certificate, Purpose, verify_path};

/// What the caller trusts the signer to be.
#[derive(Debug, Clone)]
pub enum Policy {
    /// A Fulcio certificate with this identity, chained to a CA of the trusted root.
    Identity(CertificateIdentity),
    /// This public key (bundles whose verification material is a public-key hint).
    Key(PublicKey),
}

/// The artifact a bundle is checked against.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    /// The artifact's bytes.
    Bytes(&'a [u8]),
    /// Only the artifact's digest (a message signature is then checked over the digest, which
    /// ECDSA and RSA allow and Ed25519 does not).
    Digest(&'a Digest),
}

/// Options that loosen or fix parts of verification.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The current time: log and timestamp times after it are refused.
    pub now: UnixTime,
    /// Whether a verified transparency-log entry is required (the default, as cosign does).
    /// Without one, a key-signed bundle is trusted on the key alone (cosign's
    /// `--insecure-ignore-tlog`), and a certificate must be vouched for by an RFC 3161
    /// timestamp from a trusted authority (as bundles from GitHub's private Sigstore are).
    pub require_tlog: bool,
    /// Whether a signing certificate must carry a valid embedded SCT from a CT log of the
    /// trusted root (the default). Off is cosign's `--insecure-ignore-sct`: for a certificate
    /// authority that logs to no CT log (containers' `fulcio` policies do not check SCTs).
    pub require_sct: bool,
}

impl Options {
    /// Verification at `now` with every requirement on.
    pub fn at(now: UnixTime) -> Self {
        Self {
            now,
            require_tlog: true,
            require_sct: true,
        }
    }
}

/// One check that passed, for reports (`verify-blob --output json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassedCheck {
    /// Which check ([`Check`]; its kebab-case name in JSON).
    pub check: Check,
    /// What was checked, with the values.
    pub detail: String,
}

/// A time the bundle proved its signature existed at, and what proved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedTime {
    /// `tlog-integrated-time` (a Rekor v1 signed entry timestamp) or `rfc3161-timestamp`.
    pub source: &'static str,
    /// The time.
    pub time: String,
    /// Seconds since the epoch.
    pub unix: i64,
}

/// A transparency-log entry that verified: where the signature is recorded, so a report can
/// point at it (`rekor-cli get --log-index`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntryFound {
    /// The entry's index in the log, as the bundle states it (0 when the bundle omits it:
    /// protobuf JSON drops zero values). Covered by the SET or the inclusion proof that
    /// verified, so it is the index the log gave.
    pub log_index: u64,
    /// The base URL of the log of the trusted root the entry names.
    pub log_url: String,
    /// The integrated time, seconds since the epoch, only when a signed entry timestamp
    /// vouches for it (an entry proven by a checkpoint alone has no trusted time).
    pub integrated_time: Option<i64>,
}

/// What a verified bundle established.
#[derive(Debug, Clone, Serialize)]
pub struct BundleVerification {
    /// The bundle's media type.
    pub media_type: String,
    /// The artifact digest the signature covers.
    pub artifact_digest: String,
    /// The certificate identity, for certificate bundles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<FoundIdentity>,
    /// The signing key's fingerprint (SHA-256 of its SubjectPublicKeyInfo).
    pub key_fingerprint: String,
    /// The times established by logs and timestamp authorities.
    pub times: Vec<VerifiedTime>,
    /// Every transparency-log entry that verified, in the bundle's order.
    pub log_entries: Vec<LogEntryFound>,
    /// The in-toto statement of a DSSE bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<serde_json::Value>,
    /// Every check made, in order.
    pub checks: Vec<PassedCheck>,
}

impl BundleVerification {
    /// The predicate type of the verified in-toto statement (which [`Verifier::verify`] parsed
    /// strictly and matched to the artifact before keeping it); refused as
    /// [`VerifyError::NotAnImageStatement`] when there is none.
    pub fn predicate_type(&self) -> Result<&str, VerifyError> {
        self.statement
            .as_ref()
            .and_then(|s| s.get("predicateType"))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| VerifyError::NotAnImageStatement {
                reason: "its DSSE payload has no predicate type".into(),
            })
    }

    /// Checks that the verified bundle is an attestation (an in-toto statement in a DSSE
    /// envelope, [`VerifyError::NotAnAttestation`] otherwise) of the predicate type `wanted`,
    /// when one is asked for ([`VerifyError::PredicateTypeMismatch`]): what
    /// `verify-blob-attestation --type` decides after [`Verifier::verify`].
    pub fn check_attestation(&self, wanted: Option<&str>) -> Result<(), VerifyError> {
        let statement = self
            .statement
            .as_ref()
            .ok_or(VerifyError::NotAnAttestation)?;
        let found = statement
            .get("predicateType")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        match wanted {
            Some(expected) if expected != found => Err(VerifyError::PredicateTypeMismatch {
                expected: expected.to_owned(),
                found: found.to_owned(),
            }),
            _ => Ok(()),
        }
    }
}

/// What a verified bundle attached to an image claims about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageClaim {
    /// An image signature: the statement's predicate type is
    /// [`COSIGN_SIGN_PREDICATE_TYPE`](vouch_attestations::intoto::COSIGN_SIGN_PREDICATE_TYPE).
    Signature,
    /// An attestation: any other predicate type.
    Attestation,
}

/// A bundle verified as a signed statement about an image manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ImageBundleVerification {
    /// Signature or attestation, from the verified statement's predicate type.
    pub claim: ImageClaim,
    /// The verified statement's predicate type.
    pub predicate_type: String,
    /// Everything the bundle verification established; its `statement` is always present.
    pub bundle: BundleVerification,
}

struct LogKey {
    key: PublicKey,
    valid_for: TimeRange,
}

struct CertificateAuthorityChain {
    chain: Vec<Certificate>,
    valid_for: TimeRange,
    name: String,
}

/// The certificate chains of a trusted root, parsed.
struct Chains {
    authorities: Vec<CertificateAuthorityChain>,
    timestamp_authorities: Vec<TimestampAuthority>,
}

/// Trust material ready for verification: every key and certificate of a trusted root parsed
/// at most once, when a bundle first needs it (a signature checked with a key alone needs no
/// certificate authority), so that verifying many bundles costs only the signature checks.
pub struct Verifier<'r> {
    root: &'r TrustedRoot,
    tlog_keys: HashMap<&'r [u8], OnceLock<Result<LogKey, VerifyError>>>,
    ctlog_keys: HashMap<&'r [u8], OnceLock<Result<LogKey, VerifyError>>>,
    chains: OnceLock<Result<Chains, VerifyError>>,
}

fn log_key(log: &TransparencyLogInstance) -> Result<LogKey, VerifyError> {
    let raw = &log.public_key.raw_bytes;
    let key = match log.public_key.key_details.encoding() {
        Some(KeyEncoding::Pkcs1RsaPublicKey) => PublicKey::from_pkcs1_der(raw),
        _ => PublicKey::from_spki_der(raw),
    }
    .map_err(|e| VerifyError::TrustedKeyUnusable {
        log: log.base_url.clone(),
        reason: e.to_string(),
    })?;
    Ok(LogKey {
        key,
        valid_for: log.public_key.valid_for,
    })
}

/// The certificate chains of `root`, leaf-most first: its certificate authorities', then its
/// timestamp authorities', in document order (the order [`Chains::parse`] parses them in).
fn chains(root: &TrustedRoot) -> impl Iterator<Item = &Vec<Vec<u8>>> {
    (root.certificate_authorities.iter())
        .chain(&root.timestamp_authorities)
        .map(|ca| &ca.cert_chain)
}

/// What the embedded root's chains are known to be, as DER; read once per process.
struct Embedded {
    /// Every certificate: each parses (`embedded_chains_verify`).
    certificates: Vec<&'static [u8]>,
    /// Every (certificate, its issuer) pair: each signature verifies (the same test).
    links: Vec<(&'static [u8], &'static [u8])>,
}

fn embedded() -> &'static Embedded {
    static EMBEDDED: OnceLock<Embedded> = OnceLock::new();
    EMBEDDED.get_or_init(|| {
        let Ok(root) = TrustedRoot::public_good() else {
            return Embedded {
                certificates: Vec::new(),
                links: Vec::new(),
            };
        };
        Embedded {
            certificates: chains(root).flatten().map(Vec::as_slice).collect(),
            links: chains(root)
                .flat_map(|chain| chain.windows(2))
                .map(|link| (link[0].as_slice(), link[1].as_slice()))
                .collect(),
        }
    })
}

fn certificates(chain: &[Vec<u8>]) -> Result<Vec<Certificate>, VerifyError> {
    chain.iter().map(|der| Certificate::from_der(der)).collect()
}

impl Chains {
    /// Parses every certificate chain of `root`. A link that is one of the embedded root's is
    /// marked as verified: the same two certificates in another root (a TUF cache of the same
    /// instance) are the same fact. One P-384 verification less per process.
    fn parse(root: &TrustedRoot) -> Result<Self, VerifyError> {
        let authorities: Vec<CertificateAuthorityChain> = root
            .certificate_authorities
            .iter()
            .map(|ca| {
                Ok(CertificateAuthorityChain {
                    chain: certificates(&ca.cert_chain)?,
                    valid_for: ca.valid_for,
                    name: if ca.uri.is_empty() {
                        ca.common_name.clone()
                    } else {
                        ca.uri.clone()
                    },
                })
            })
            .collect::<Result<_, VerifyError>>()?;
        let timestamp_authorities: Vec<TimestampAuthority> = root
            .timestamp_authorities
            .iter()
            .map(|tsa| {
                Ok(TimestampAuthority {
                    chain: certificates(&tsa.cert_chain)?,
                    valid_from: tsa.valid_for.start,
                    valid_until: tsa.valid_for.end,
                })
            })
            .collect::<Result<_, VerifyError>>()?;
        let known = &embedded().links;
        let parsed = (authorities.iter().map(|a| &a.chain))
            .chain(timestamp_authorities.iter().map(|t| &t.chain));
        for (raw, parsed) in chains(root).zip(parsed) {
            for (i, link) in raw.windows(2).enumerate() {
                if known.contains(&(link[0].as_slice(), link[1].as_slice())) {
                    parsed[i].assume_signed_by(&parsed[i + 1]);
                }
            }
        }
        Ok(Self {
            authorities,
            timestamp_authorities,
        })
    }
}

impl<'r> Verifier<'r> {
    /// The verifier for `root`. Its certificate chains are parsed here when any certificate
    /// is not one of the embedded root's, so that a certificate that does not parse is an
    /// error now (the root is corrupt); the embedded root's own certificates, known to parse,
    /// are parsed when a bundle first needs a certificate authority or timestamp authority.
    /// Log keys are parsed when a bundle first names their log; a key of a type vouch cannot
    /// use is the error of every bundle that names that log.
    pub fn new(root: &'r TrustedRoot) -> Result<Self, VerifyError> {
        let keys = |logs: &'r [TransparencyLogInstance]| {
            logs.iter()
                .map(|log| (log.log_id.as_slice(), OnceLock::new()))
                .collect()
        };
        let verifier = Self {
            root,
            tlog_keys: keys(&root.tlogs),
            ctlog_keys: keys(&root.ctlogs),
            chains: OnceLock::new(),
        };
        let known = &embedded().certificates;
        if !chains(root)
            .flatten()
            .all(|der| known.contains(&der.as_slice()))
        {
            verifier.chains()?;
        }
        Ok(verifier)
    }

    /// Parses the root's certificate chains now rather than when a bundle first needs them:
    /// for a caller that would rather pay before its first verification (a benchmark, a
    /// server warming up). An error is what that first verification would have returned.
    pub fn prepare(&self) -> Result<(), VerifyError> {
        self.chains().map(|_| ())
    }

    /// The root's certificate chains, parsed on first use.
    fn chains(&self) -> Result<&Chains, VerifyError> {
        self.chains
            .get_or_init(|| Chains::parse(self.root))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Verifies `bundle` as a signature or attestation of the image manifest `image`, as cosign
    /// v3 attaches them: a DSSE envelope over an in-toto statement with `image` as a subject,
    /// checked by [`Verifier::verify`] with everything that implies. Only such a statement
    /// counts: a message-signature bundle is refused with
    /// [`VerifyError::NotAnImageStatement`] before any signature is checked, since it signs
    /// bytes, and a key holder who blob-signs a copy of a manifest has not signed the image.
    /// The claim (signature or attestation) comes from the verified statement, never from
    /// the unauthenticated annotations of the referrer that carried the bundle.
    pub fn verify_image_bundle(
        &self,
        bundle: &Bundle,
        image: &Digest,
        policy: &Policy,
        options: Options,
    ) -> Result<crate::Verified<ImageBundleVerification>, VerifyError> {
        if let BundleContent::MessageSignature(_) = &bundle.content {
            return Err(VerifyError::NotAnImageStatement {
                reason: "it holds a message signature over bytes".into(),
            });
        }
        let verification = self.verify(bundle, Artifact::Digest(image), policy, options)?;
        let predicate_type = verification.predicate_type()?.to_owned();
        let claim = if predicate_type == vouch_attestations::intoto::COSIGN_SIGN_PREDICATE_TYPE {
            ImageClaim::Signature
        } else {
            ImageClaim::Attestation
        };
        Ok(crate::Verified(ImageBundleVerification {
            claim,
            predicate_type,
            bundle: verification,
        }))
    }

    /// The trusted log (transparency or certificate-transparency) with this id, and its key
    /// parsed on first use.
    fn log(
        &self,
        kind: LogKind,
        log_id: &[u8],
    ) -> Result<(&TransparencyLogInstance, &LogKey), VerifyError> {
        let (instance, keys) = match kind {
            LogKind::Transparency => (self.root.tlog(log_id)?, &self.tlog_keys),
            LogKind::CertificateTransparency => (self.root.ctlog(log_id)?, &self.ctlog_keys),
        };
        match keys
            .get(log_id)
            .map(|key| key.get_or_init(|| log_key(instance)))
        {
            Some(Ok(key)) => Ok((instance, key)),
            Some(Err(e)) => Err(e.clone()),
            None => Err(VerifyError::UnknownLog {
                kind,
                log_id: base64::engine::general_purpose::STANDARD.encode(log_id),
            }),
        }
    }

    /// Verifies `bundle` for `artifact` under `policy`. See the module documentation for the
    /// checks, in order; the first that fails is the error.
    pub fn verify(
        &self,
        bundle: &Bundle,
        artifact: Artifact<'_>,
        policy: &Policy,
        options: Options,
    ) -> Result<BundleVerification, VerifyError> {
        let mut checks = Vec::new();
        let mut check = |check: Check, detail: String| checks.push(PassedCheck { check, detail });

        // 1. Who signed, as far as the bundle says, and the key that must have signed.
        let (leaf, key) = match (&bundle.material.signer, policy) {
            (SignerMaterial::PublicKey { .. }, Policy::Identity(_)) => {
                return Err(VerifyError::MaterialMismatch {
                    reason:
                        "the bundle is signed with a key, not a certificate; verify it with --key"
                            .into(),
                });
            }
            (SignerMaterial::PublicKey { .. }, Policy::Key(key)) => (None, key.clone()),
            (_, Policy::Key(_)) => {
                return Err(VerifyError::MaterialMismatch {
                    reason: "the bundle is signed with a certificate; verify it with an identity and issuer, not --key".into(),
                });
            }
            (material, Policy::Identity(_)) => {
                if let SignerMaterial::X509CertificateChain(chain) = material {
                    for der in chain.iter().skip(1) {
                        let cert = Certificate::from_der(der)?;
                        if cert.is_self_issued() {
                            return Err(VerifyError::MaterialMismatch {
                                reason: format!(
                                    "the bundle's certificate chain includes the root \"{}\"; roots come only from the trusted root",
                                    cert.subject_summary()
                                ),
                            });
                        }
                    }
                }
                let der =
                    material
                        .leaf_certificate()
                        .ok_or_else(|| VerifyError::MaterialMismatch {
                            reason: "the bundle has no signing certificate".into(),
                        })?;
                let cert = Certificate::from_der(der)?;
                let key = cert.public_key()?;
                (Some(cert), key)
            }
        };
        let key_fingerprint = key.fingerprint();
        let material = match &leaf {
            Some(cert) => VerifierMaterial::Certificate(cert.der()),
            None => VerifierMaterial::PublicKey(key.spki_der()),
        };

        // 2. The signature over the artifact.
        let artifact_digest = match artifact {
            Artifact::Bytes(bytes) => Digest::sha256(bytes),
            Artifact::Digest(digest) => digest.clone(),
        };
        let mut statement_json = None;
        let signature: &[u8];
        let dsse_signatures: [&[u8]; 1];
        let entry_digest: Digest;
        let content = match &bundle.content {
            BundleContent::MessageSignature(message) => {
                signature = &message.signature;
                // What a log entry records: the digest the signature was made over, in the
                // algorithm the bundle's message digest names (a hashedrekord entry for an
                // ECDSA P-384 signature holds SHA-384), SHA-256 when it names none.
                let mut recorded = artifact_digest.clone();
                if let Some(hint) = &message.message_digest {
                    let algorithm = digest_algorithm(&hint.algorithm)?;
                    let stated = Digest::from_bytes(algorithm, &hint.digest).map_err(|_| {
                        VerifyError::ArtifactMismatch {
                            reason: "the bundle's message digest has the wrong length".into(),
                        }
                    })?;
                    let actual = match artifact {
                        Artifact::Bytes(bytes) => Digest::compute(algorithm, bytes),
                        Artifact::Digest(digest) => digest.clone(),
                    };
                    if stated != actual {
                        return Err(VerifyError::ArtifactMismatch {
                            reason: format!("the bundle signs {stated}, the artifact is {actual}"),
                        });
                    }
                    recorded = actual;
                }
                entry_digest = recorded;
                match artifact {
                    Artifact::Bytes(bytes) => key.verify(bytes, signature),
                    Artifact::Digest(digest) => key.verify_prehashed(digest, signature),
                }
                .map_err(|e| VerifyError::ArtifactSignature {
                    reason: e.to_string(),
                })?;
                check(
                    Check::ArtifactSignature,
                    format!(
                        "{} signature over {artifact_digest} verifies with key {}",
                        key.key_type(),
                        key_fingerprint
                    ),
                );
                SignedContent::Message {
                    digest: &entry_digest,
                    signature,
                }
            }
            BundleContent::DsseEnvelope(envelope) => {
                signature = &envelope.signature.sig;
                let pae = dsse::pae(&envelope.payload_type, &envelope.payload);
                key.verify(&pae, signature)
                    .map_err(|e| VerifyError::ArtifactSignature {
                        reason: format!("DSSE envelope signature: {e}"),
                    })?;
                check(
                    Check::ArtifactSignature,
                    format!(
                        "{} signature over the envelope's PAE verifies with key {}",
                        key.key_type(),
                        key_fingerprint
                    ),
                );
                if envelope.payload_type != dsse::IN_TOTO_PAYLOAD_TYPE {
                    return Err(VerifyError::ArtifactMismatch {
                        reason: format!(
                            "the DSSE payload type is {:?}, not an in-toto statement",
                            envelope.payload_type
                        ),
                    });
                }
                let statement = Statement::from_slice(&envelope.payload).map_err(|e| {
                    VerifyError::StatementMalformed {
                        reason: e.to_string(),
                    }
                })?;
                if !statement.matches_digest(&artifact_digest) {
                    return Err(VerifyError::ArtifactMismatch {
                        reason: format!(
                            "no subject of the in-toto statement has digest {artifact_digest}"
                        ),
                    });
                }
                check(
                    Check::ArtifactDigest,
                    format!(
                        "in-toto statement ({}) names {artifact_digest} as a subject",
                        statement.predicate_type()
                    ),
                );
                statement_json = serde_json::from_slice(&envelope.payload).ok();
                dsse_signatures = [signature];
                SignedContent::Dsse {
                    payload_type: &envelope.payload_type,
                    payload: &envelope.payload,
                    signatures: &dsse_signatures,
                }
            }
        };

        // 3. Transparency-log entries.
        let mut times = Vec::new();
        let mut log_entries = Vec::new();
        for (index, entry) in bundle.material.tlog_entries.iter().enumerate() {
            let found = self.verify_entry(index, entry, content, material, options, &mut check)?;
            if let Some(time) = found.integrated_time {
                times.push(("tlog-integrated-time", UnixTime::from_secs(time)));
            }
            log_entries.push(found);
        }
        // Without a log entry a certificate still needs a trusted time (an RFC 3161
        // timestamp), which step 5 requires.
        if log_entries.is_empty() && options.require_tlog {
            return Err(VerifyError::TlogEntryMissing);
        }

        // 4. RFC 3161 timestamps.
        for (index, token) in bundle.material.rfc3161_timestamps.iter().enumerate() {
            let token = TimestampToken::from_der(token)?;
            let time = verify_timestamp(&token, signature, &self.chains()?.timestamp_authorities)?;
            if time > options.now {
                return Err(VerifyError::TimeInFuture {
                    what: "RFC 3161 timestamp",
                    time,
                });
            }
            check(
                Check::Rfc3161Timestamp,
                format!("timestamp {index} from a trusted authority at {time}"),
            );
            times.push(("rfc3161-timestamp", time));
        }

        // 5. The certificate at every verified time, its SCT, its identity.
        let mut identity = None;
        if let (Some(leaf), Policy::Identity(expected)) = (&leaf, policy) {
            if times.is_empty() {
                return Err(VerifyError::NoVerifiedTime);
            }
            let mut issuer = None;
            for (source, time) in &times {
                let (authority, path) = self.certificate_path(leaf, *time)?;
                check(
                    Check::CertificateChain,
                    format!(
                        "\"{}\" chains to {} at {time} ({source}), within the certificate's validity {} to {}",
                        leaf.subject_summary(),
                        authority.name,
                        leaf.not_before(),
                        leaf.not_after()
                    ),
                );
                issuer = Some(path[0]);
            }
            if let Some(issuer) = issuer.filter(|_| options.require_sct) {
                let sct = self.verify_sct(leaf, issuer)?;
                check(
                    Check::CertificateSct,
                    format!(
                        "embedded SCT from CT log {} at {}",
                        vouch_keys::hex(&sct.log_id),
                        sct.time()
                    ),
                );
            }
            let found = expected.check(leaf)?;
            check(
                Check::CertificateIdentity,
                format!("identity {:?} issued by {:?}", found.subject, found.issuer),
            );
            identity = Some(found);
        }

        Ok(BundleVerification {
            media_type: bundle.media_type.clone(),
            artifact_digest: artifact_digest.to_string(),
            identity,
            key_fingerprint,
            times: times
                .iter()
                .map(|(source, time)| VerifiedTime {
                    source,
                    time: time.to_string(),
                    unix: time.secs(),
                })
                .collect(),
            log_entries,
            statement: statement_json,
            checks,
        })
    }

    /// Verifies one log entry: its body records this bundle, its SET (when present) and its
    /// inclusion proof (when present) verify with the log's key. Returns where the entry is,
    /// with the integrated time when a SET vouches for it.
    fn verify_entry(
        &self,
        index: usize,
        entry: &TransparencyLogEntry,
        content: SignedContent<'_>,
        material: VerifierMaterial<'_>,
        options: Options,
        check: &mut impl FnMut(Check, String),
    ) -> Result<LogEntryFound, VerifyError> {
        let (instance, key) = self.log(LogKind::Transparency, &entry.log_id)?;
        let kind = &entry.kind_version;
        check_entry_body(
            &kind.kind,
            &kind.version,
            &entry.canonicalized_body,
            content,
            material,
        )?;
        check(
            Check::TlogEntryBody,
            format!(
                "entry {index} ({} {}) in {} records this signature and signer",
                kind.kind, kind.version, instance.base_url
            ),
        );
        let log = RekorLog {
            key: &key.key,
            log_id: &instance.log_id,
            base_url: &instance.base_url,
        };
        let integrated_time =
            i64::try_from(entry.integrated_time).map_err(|_| VerifyError::SetFieldOutOfRange {
                field: "integratedTime",
                value: i128::from(entry.integrated_time),
            })?;
        let mut time = None;
        if let Some(promise) = &entry.inclusion_promise {
            rekor::verify_signed_entry_timestamp(&log, entry, &promise.signed_entry_timestamp)?;
            let at = UnixTime::from_secs(integrated_time);
            if at > options.now {
                return Err(VerifyError::TimeInFuture {
                    what: "log integrated time",
                    time: at,
                });
            }
            if !key.valid_for.contains(at) {
                return Err(VerifyError::TrustedKeyUnusable {
                    log: instance.base_url.clone(),
                    reason: format!("the log key was not valid at the integrated time {at}"),
                });
            }
            check(
                Check::TlogSignedEntryTimestamp,
                format!(
                    "entry {index}: log signed index {} at {at}",
                    entry.log_index
                ),
            );
            time = Some(at);
        }
        match &entry.inclusion_proof {
            Some(proof) => {
                if proof.checkpoint.is_none() && time.is_some() {
                    // A v0.1 bundle: the SET already vouches for the entry; the proof is
                    // checked as far as it goes without a signed tree head.
                    rekor::verify_merkle_inclusion(entry, proof)?;
                    check(
                        Check::TlogInclusionProof,
                        format!(
                            "entry {index}: Merkle path to a tree of size {} (no checkpoint)",
                            proof.tree_size
                        ),
                    );
                } else {
                    let checkpoint = rekor::verify_inclusion_proof(&log, entry, proof)?;
                    check(
                        Check::TlogInclusionProof,
                        format!(
                            "entry {index}: included in {} at size {}, checkpoint signed by the log",
                            checkpoint.origin, checkpoint.tree_size
                        ),
                    );
                }
            }
            None if time.is_none() => {
                return Err(VerifyError::CheckpointMissing);
            }
            None => {}
        }
        Ok(LogEntryFound {
            log_index: entry.log_index,
            log_url: instance.base_url.clone(),
            integrated_time: time.map(|t| t.secs()),
        })
    }

    /// A path from `leaf` to a trusted Fulcio CA valid at `time`.
    /// Checks that an embedded SCT of `leaf` (issued by `issuer`) verifies against a CT log
    /// of the trusted root whose key was valid at the SCT's time.
    fn verify_sct(&self, leaf: &Certificate, issuer: &Certificate) -> Result<Sct, VerifyError> {
        verify_embedded_scts(leaf, issuer, |log_id, time| {
            let (instance, key) = self.log(LogKind::CertificateTransparency, log_id)?;
            if !key.valid_for.contains(time) {
                return Err(VerifyError::TrustedKeyUnusable {
                    log: instance.base_url.clone(),
                    reason: format!("the CT log key was not valid at {time}"),
                });
            }
            Ok(key.key.clone())
        })
    }

    /// Checks a signing certificate as a signer must before signing with it (a certificate
    /// Fulcio just issued): it chains to a certificate authority of the trusted root at
    /// `time` with the code-signing purpose, and, with `require_sct`, carries an embedded SCT
    /// that verifies against a CT log of the trusted root. Returns the name of the
    /// authority it chains to. The identity it names is the caller's to compare.
    pub fn verify_signing_certificate(
        &self,
        leaf: &Certificate,
        time: UnixTime,
        require_sct: bool,
    ) -> Result<String, VerifyError> {
        let (authority, path) = self.certificate_path(leaf, time)?;
        if require_sct {
            self.verify_sct(leaf, path[0])?;
        }
        Ok(authority.name.clone())
    }

    fn certificate_path<'a>(
        &'a self,
        leaf: &Certificate,
        time: UnixTime,
    ) -> Result<(&'a CertificateAuthorityChain, Vec<&'a Certificate>), VerifyError> {
        let mut last_error = None;
        for authority in &self.chains()?.authorities {
            if !authority.valid_for.contains(time) {
                last_error.get_or_insert(VerifyError::CertificateChain {
                    reason: format!(
                        "no certificate authority of the trusted root was valid at {time}"
                    ),
                });
                continue;
            }
            match verify_path(leaf, &authority.chain, time, Purpose::CodeSigning) {
                Ok(path) => return Ok((authority, path)),
                Err(e @ VerifyError::CertificateExpired { .. }) => return Err(e),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or(VerifyError::CertificateChain {
            reason: "the trusted root has no certificate authority".into(),
        }))
    }
}

fn digest_algorithm(algorithm: &HashAlgorithm) -> Result<DigestAlgorithm, VerifyError> {
    match algorithm {
        HashAlgorithm::Sha2_256 => Ok(DigestAlgorithm::Sha256),
        HashAlgorithm::Sha2_384 => Ok(DigestAlgorithm::Sha384),
        HashAlgorithm::Sha2_512 => Ok(DigestAlgorithm::Sha512),
        other => Err(VerifyError::UnsupportedAlgorithm {
            oid: other.name().to_owned(),
        }),
    }
}

#[cfg(test)]
mod embedded_root_tests {
    use super::*;

    /// The embedded root's certificates are parsed when first needed; a root holding any other
    /// certificate has its chains parsed by [`Verifier::new`], so that one that does not parse
    /// is refused there, as before deferral.
    #[test]
    fn only_the_embedded_certificates_are_parsed_on_first_use() {
        let root = TrustedRoot::public_good().unwrap();
        let verifier = Verifier::new(root).unwrap();
        assert!(verifier.chains.get().is_none(), "parsed before use");
        verifier.prepare().unwrap();
        assert_eq!(
            verifier
                .chains
                .get()
                .unwrap()
                .as_ref()
                .unwrap()
                .authorities
                .len(),
            root.certificate_authorities.len()
        );
        // The same certificates in another root (a TUF copy of the same instance).
        let copy = root.clone();
        assert!(Verifier::new(&copy).unwrap().chains.get().is_none());

        let mut other = root.clone();
        let mut der = other.certificate_authorities[0].cert_chain[0].clone();
        der.truncate(der.len() - 1);
        other.certificate_authorities[0].cert_chain[0] = der;
        assert!(matches!(
            Verifier::new(&other),
            Err(VerifyError::CertificateMalformed { .. })
        ));
        let mut other = root.clone();
        other.timestamp_authorities[0].cert_chain[1] = b"not DER".to_vec();
        assert!(Verifier::new(&other).is_err());
    }

    /// What lets [`Verifier::new`] defer parsing the embedded root's certificates and
    /// [`Chains::parse`] skip their chains' signatures: every certificate of every certificate
    /// authority and timestamp authority chain of the embedded root parses, and every link
    /// verifies, checked here on freshly parsed certificates (no cache).
    #[test]
    fn embedded_chains_verify() {
        let root = TrustedRoot::public_good().unwrap();
        let mut certificates = 0;
        for der in chains(root).flatten() {
            Certificate::from_der(der).unwrap();
            certificates += 1;
        }
        assert_eq!(certificates, embedded().certificates.len());
        let mut links = 0;
        for chain in chains(root) {
            for pair in chain.windows(2) {
                let subject = Certificate::from_der(&pair[0]).unwrap();
                let issuer = Certificate::from_der(&pair[1]).unwrap();
                assert_eq!(subject.issuer_der(), issuer.subject_der());
                subject
                    .verify_signed_by(&issuer.public_key().unwrap())
                    .unwrap();
                links += 1;
            }
        }
        assert!(
            links > 0,
            "the embedded root has chains of more than one certificate"
        );
    }
}
