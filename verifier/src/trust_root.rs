//! Sigstore trusted roots (`trusted_root.json`): the transparency logs, certificate
//! transparency logs, certificate authorities and timestamp authorities a verifier trusts,
//! read into typed values. Nothing is verified here.
//!
//! The document is read as the protobuf JSON mapping of `dev.sigstore.trustroot.v1.TrustedRoot`
//! (sigstore/protobuf-specs `sigstore_trustroot.proto`, `sigstore_common.proto`), with the same
//! rules as bundles (see [`crate::bundle`]): camelCase or snake_case names (not both), int64 and
//! enums in either form, base64 bytes decoded, absent and `null` fields at their zero value,
//! unknown fields ignored. Media types read: `application/vnd.dev.sigstore.trustedroot+json;version=0.1`
//! and `application/vnd.dev.sigstore.trustedroot.v0.2+json`.
//!
//! Two kinds of problem are told apart:
//!
//! - A document that is not well-formed (bad JSON, a field of the wrong JSON type, bad base64,
//!   a timestamp that is not RFC 3339, a repeated field) is refused as a whole by
//!   [`TrustedRoot::from_json`].
//! - An entry that is well-formed but cannot be trusted (no public key bytes, no log id, no
//!   certificates, or no validity start) does not stop the rest of the root from being used.
//!   It is set aside in [`TrustedRoot::unusable`] with the reason, and refused when it matters:
//!   looking up a log by an id that an unusable entry carries returns that entry's error, never
//!   a different entry or an unbounded validity. A validity period without a start (or no
//!   `validFor` at all) is such a reason ([`VerifyError::TrustedValidityMissing`]): the
//!   conformance case `trust-root-tlog-missing-validity-start_fail` requires that a missing
//!   start is not read as "valid since forever".
//! - A key whose `keyDetails` names an algorithm this crate does not know is usable data: it
//!   is kept with [`KeyDetails::Unknown`], and only a verifier that needs the key refuses it.

use std::sync::OnceLock;

use base64::Engine as _;

use crate::error::VerifyError;
use crate::time::UnixTime;
use vouch_attestations::bundle::HashAlgorithm;
use vouch_attestations::protojson::{self, EnumValue, Obj, Val};
use vouch_attestations::{AttestationError, Document};

const DOC: Document = Document::TrustedRoot;

/// The embedded root, once read ([`TrustedRoot::public_good`]).
static PUBLIC_GOOD: OnceLock<Result<TrustedRoot, VerifyError>> = OnceLock::new();

/// The public-good trusted root as embedded in this crate (see
/// `verifier/src/trusted_root/README.md` for its origin).
pub const PUBLIC_GOOD_JSON: &[u8] = include_bytes!("trusted_root/sigstore-public-good.json");

/// A trusted root: every log and authority a verifier may trust, each with the period it may be
/// trusted for. Only well-formed entries with a validity start are in the four lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedRoot {
    /// The `mediaType` as written.
    pub media_type: String,
    /// The trusted-root format version the media type names.
    pub version: TrustedRootVersion,
    /// `tlogs`: transparency logs (Rekor), in document order.
    pub tlogs: Vec<TransparencyLogInstance>,
    /// `ctlogs`: certificate transparency logs, in document order.
    pub ctlogs: Vec<TransparencyLogInstance>,
    /// `certificateAuthorities`: certificate authorities (Fulcio), in document order.
    pub certificate_authorities: Vec<CertificateAuthority>,
    /// `timestampAuthorities`: RFC 3161 timestamp authorities, in document order.
    pub timestamp_authorities: Vec<CertificateAuthority>,
    /// Entries left out of the lists above, with why. Lookups refuse their log ids.
    pub unusable: Vec<UnusableEntry>,
}

/// A trusted-root format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrustedRootVersion {
    /// `application/vnd.dev.sigstore.trustedroot+json;version=0.1`.
    V0_1,
    /// `application/vnd.dev.sigstore.trustedroot.v0.2+json`.
    V0_2,
}

impl TrustedRootVersion {
    /// The version a trusted-root media type names, or `None` if it is neither of the two
    /// above (compared exactly).
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            "application/vnd.dev.sigstore.trustedroot+json;version=0.1" => Some(Self::V0_1),
            "application/vnd.dev.sigstore.trustedroot.v0.2+json" => Some(Self::V0_2),
            _ => None,
        }
    }
}

/// A log the root trusts (`TransparencyLogInstance`), usable: it has a log id, key bytes and
/// a validity period with a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransparencyLogInstance {
    /// `baseUrl` ("" when absent).
    pub base_url: String,
    /// `hashAlgorithm`: the Merkle tree's hash (unspecified when absent).
    pub hash_algorithm: HashAlgorithm,
    /// `publicKey`: the key the log signs with, and when it may be trusted.
    pub public_key: TrustedPublicKey,
    /// `logId.keyId`: the log id, not empty.
    pub log_id: Vec<u8>,
    /// `checkpointKeyId.keyId`: the key id the log's checkpoints are signed under, when the
    /// root gives one (non-empty when `Some`).
    pub checkpoint_key_id: Option<Vec<u8>>,
    /// `operator` ("" when absent).
    pub operator: String,
}

/// A public key the root trusts (`PublicKey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedPublicKey {
    /// `rawBytes`: the DER key, not empty. Its encoding is given by `key_details`: a
    /// SubjectPublicKeyInfo for `PKIX_*`, a PKCS#1 `RSAPublicKey` for `PKCS1_*`.
    pub raw_bytes: Vec<u8>,
    /// `keyDetails`: key encoding and signature algorithm, possibly unknown to this crate.
    pub key_details: KeyDetails,
    /// `validFor`: when the key may be trusted.
    pub valid_for: TimeRange,
}

/// A certificate authority or timestamp authority the root trusts (`CertificateAuthority`),
/// usable: it has at least one certificate and a validity period with a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateAuthority {
    /// `subject.organization` ("" when absent).
    pub organization: String,
    /// `subject.commonName` ("" when absent).
    pub common_name: String,
    /// `uri` ("" when absent).
    pub uri: String,
    /// `certChain.certificates[].rawBytes`: DER certificates, at least one, none empty, in
    /// document order (for Sigstore roots: issuing certificate first, root last).
    pub cert_chain: Vec<Vec<u8>>,
    /// `validFor`: when the authority may be trusted.
    pub valid_for: TimeRange,
    /// `operator` ("" when absent).
    pub operator: String,
}

/// A closed time interval `[start, end]`, open-ended when `end` is `None`
/// (`dev.sigstore.common.v1.TimeRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    /// The first instant of the range.
    pub start: UnixTime,
    /// The last instant of the range, if the range has ended.
    pub end: Option<UnixTime>,
}

impl TimeRange {
    /// Whether `time` is in the range, both ends included (`sigstore_common.proto`: the range
    /// is closed).
    pub fn contains(&self, time: UnixTime) -> bool {
        self.start <= time && self.end.is_none_or(|end| time <= end)
    }
}

/// Key encoding and signature algorithm (`dev.sigstore.common.v1.PublicKeyDetails`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum KeyDetails {
    /// `PUBLIC_KEY_DETAILS_UNSPECIFIED` (also the value when the field is absent).
    Unspecified,
    /// `PKCS1_RSA_PKCS1V5`: RSA, PKCS#1 `RSAPublicKey` DER, PKCS#1 v1.5 signatures (deprecated).
    PKCS1_RSA_PKCS1V5,
    /// `PKCS1_RSA_PSS`: RSA, PKCS#1 `RSAPublicKey` DER, RSASSA-PSS signatures (deprecated).
    PKCS1_RSA_PSS,
    /// `PKIX_RSA_PKCS1V5`: RSA, SPKI DER, PKCS#1 v1.5 signatures (deprecated).
    PKIX_RSA_PKCS1V5,
    /// `PKIX_RSA_PSS`: RSA, SPKI DER, RSASSA-PSS signatures (deprecated).
    PKIX_RSA_PSS,
    /// `PKIX_RSA_PKCS1V15_2048_SHA256`: RSA-2048, SPKI DER, PKCS#1 v1.5 with SHA-256.
    PKIX_RSA_PKCS1V15_2048_SHA256,
    /// `PKIX_RSA_PKCS1V15_3072_SHA256`: RSA-3072, SPKI DER, PKCS#1 v1.5 with SHA-256.
    PKIX_RSA_PKCS1V15_3072_SHA256,
    /// `PKIX_RSA_PKCS1V15_4096_SHA256`: RSA-4096, SPKI DER, PKCS#1 v1.5 with SHA-256.
    PKIX_RSA_PKCS1V15_4096_SHA256,
    /// `PKIX_RSA_PSS_2048_SHA256`: RSA-2048, SPKI DER, RSASSA-PSS with SHA-256.
    PKIX_RSA_PSS_2048_SHA256,
    /// `PKIX_RSA_PSS_3072_SHA256`: RSA-3072, SPKI DER, RSASSA-PSS with SHA-256.
    PKIX_RSA_PSS_3072_SHA256,
    /// `PKIX_RSA_PSS_4096_SHA256`: RSA-4096, SPKI DER, RSASSA-PSS with SHA-256.
    PKIX_RSA_PSS_4096_SHA256,
    /// `PKIX_ECDSA_P256_HMAC_SHA_256`: ECDSA P-256, SPKI DER, RFC 6979 nonces (deprecated).
    PKIX_ECDSA_P256_HMAC_SHA_256,
    /// `PKIX_ECDSA_P256_SHA_256`: ECDSA P-256 with SHA-256, SPKI DER.
    PKIX_ECDSA_P256_SHA_256,
    /// `PKIX_ECDSA_P384_SHA_384`: ECDSA P-384 with SHA-384, SPKI DER.
    PKIX_ECDSA_P384_SHA_384,
    /// `PKIX_ECDSA_P521_SHA_512`: ECDSA P-521 with SHA-512, SPKI DER.
    PKIX_ECDSA_P521_SHA_512,
    /// `PKIX_ED25519`: Ed25519, SPKI DER.
    PKIX_ED25519,
    /// `PKIX_ED25519_PH`: Ed25519ph (pre-hashed with SHA-512), SPKI DER.
    PKIX_ED25519_PH,
    /// `PKIX_ECDSA_P384_SHA_256`: ECDSA P-384 with SHA-256, SPKI DER (deprecated).
    PKIX_ECDSA_P384_SHA_256,
    /// `PKIX_ECDSA_P521_SHA_256`: ECDSA P-521 with SHA-256, SPKI DER (deprecated).
    PKIX_ECDSA_P521_SHA_256,
    /// `LMS_SHA256`: LMS with SHA-256 (deprecated, stateful).
    LMS_SHA256,
    /// `LMOTS_SHA256`: LM-OTS with SHA-256 (deprecated, one-time).
    LMOTS_SHA256,
    /// `ML_DSA_44`: ML-DSA-44.
    ML_DSA_44,
    /// `ML_DSA_65`: ML-DSA-65.
    ML_DSA_65,
    /// `ML_DSA_87`: ML-DSA-87.
    ML_DSA_87,
    /// A name or number this crate does not know, kept as written.
    Unknown(String),
}

/// How a key's `rawBytes` are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyEncoding {
    /// A DER SubjectPublicKeyInfo (RFC 5280), for the `PKIX_*` details.
    Spki,
    /// A DER PKCS#1 `RSAPublicKey` (RFC 8017), for the `PKCS1_*` details.
    Pkcs1RsaPublicKey,
}

/// The known values of [`KeyDetails`] with their protobuf names and numbers.
static KEY_DETAILS: [(KeyDetails, &str, i64); 24] = [
    (KeyDetails::Unspecified, "PUBLIC_KEY_DETAILS_UNSPECIFIED", 0),
    (KeyDetails::PKCS1_RSA_PKCS1V5, "PKCS1_RSA_PKCS1V5", 1),
    (KeyDetails::PKCS1_RSA_PSS, "PKCS1_RSA_PSS", 2),
    (KeyDetails::PKIX_RSA_PKCS1V5, "PKIX_RSA_PKCS1V5", 3),
    (KeyDetails::PKIX_RSA_PSS, "PKIX_RSA_PSS", 4),
    (
        KeyDetails::PKIX_ECDSA_P256_SHA_256,
        "PKIX_ECDSA_P256_SHA_256",
        5,
    ),
    (
        KeyDetails::PKIX_ECDSA_P256_HMAC_SHA_256,
        "PKIX_ECDSA_P256_HMAC_SHA_256",
        6,
    ),
    (KeyDetails::PKIX_ED25519, "PKIX_ED25519", 7),
    (KeyDetails::PKIX_ED25519_PH, "PKIX_ED25519_PH", 8),
    (
        KeyDetails::PKIX_RSA_PKCS1V15_2048_SHA256,
        "PKIX_RSA_PKCS1V15_2048_SHA256",
        9,
    ),
    (
        KeyDetails::PKIX_RSA_PKCS1V15_3072_SHA256,
        "PKIX_RSA_PKCS1V15_3072_SHA256",
        10,
    ),
    (
        KeyDetails::PKIX_RSA_PKCS1V15_4096_SHA256,
        "PKIX_RSA_PKCS1V15_4096_SHA256",
        11,
    ),
    (
        KeyDetails::PKIX_ECDSA_P384_SHA_384,
        "PKIX_ECDSA_P384_SHA_384",
        12,
    ),
    (
        KeyDetails::PKIX_ECDSA_P521_SHA_512,
        "PKIX_ECDSA_P521_SHA_512",
        13,
    ),
    (KeyDetails::LMS_SHA256, "LMS_SHA256", 14),
    (KeyDetails::LMOTS_SHA256, "LMOTS_SHA256", 15),
    (
        KeyDetails::PKIX_RSA_PSS_2048_SHA256,
        "PKIX_RSA_PSS_2048_SHA256",
        16,
    ),
    (
        KeyDetails::PKIX_RSA_PSS_3072_SHA256,
        "PKIX_RSA_PSS_3072_SHA256",
        17,
    ),
    (
        KeyDetails::PKIX_RSA_PSS_4096_SHA256,
        "PKIX_RSA_PSS_4096_SHA256",
        18,
    ),
    (
        KeyDetails::PKIX_ECDSA_P384_SHA_256,
        "PKIX_ECDSA_P384_SHA_256",
        19,
    ),
    (
        KeyDetails::PKIX_ECDSA_P521_SHA_256,
        "PKIX_ECDSA_P521_SHA_256",
        20,
    ),
    (KeyDetails::ML_DSA_65, "ML_DSA_65", 21),
    (KeyDetails::ML_DSA_87, "ML_DSA_87", 22),
    (KeyDetails::ML_DSA_44, "ML_DSA_44", 23),
];

impl protojson::ProtoEnum for KeyDetails {
    fn table() -> &'static [(Self, &'static str, i64)] {
        &KEY_DETAILS
    }

    fn unknown(text: String) -> Self {
        Self::Unknown(text)
    }

    fn unknown_text(&self) -> Option<&str> {
        match self {
            Self::Unknown(text) => Some(text),
            _ => None,
        }
    }
}

impl KeyDetails {
    /// The details with this protobuf enum name; unknown names are kept as
    /// [`KeyDetails::Unknown`].
    pub fn from_name(name: &str) -> Self {
        <Self as protojson::ProtoEnum>::lookup_name(name)
    }

    /// The details with this protobuf enum number; unknown numbers are kept as
    /// [`KeyDetails::Unknown`] holding the decimal number.
    pub fn from_number(number: i64) -> Self {
        <Self as protojson::ProtoEnum>::lookup_number(number)
    }

    /// The protobuf enum name (`PKIX_ED25519`), or the text kept for an unknown value.
    pub fn name(&self) -> &str {
        <Self as protojson::ProtoEnum>::proto_name(self)
    }

    /// How `rawBytes` are encoded for these details: SPKI for `PKIX_*`, PKCS#1 for `PKCS1_*`;
    /// `None` when the name says neither (unspecified, LMS, ML-DSA, unknown).
    pub fn encoding(&self) -> Option<KeyEncoding> {
        let name = self.name();
        if name.starts_with("PKIX_") {
            Some(KeyEncoding::Spki)
        } else if name.starts_with("PKCS1_") {
            Some(KeyEncoding::Pkcs1RsaPublicKey)
        } else {
            None
        }
    }

    fn read(value: &Val<'_>) -> Result<Self, VerifyError> {
        Ok(match value.enum_value()? {
            EnumValue::Name(name) => Self::from_name(name),
            EnumValue::Number(number) => Self::from_number(number),
        })
    }
}

/// One of the four lists of a trusted root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrustSection {
    /// `tlogs`.
    Tlogs,
    /// `ctlogs`.
    Ctlogs,
    /// `certificateAuthorities`.
    CertificateAuthorities,
    /// `timestampAuthorities`.
    TimestampAuthorities,
}

impl TrustSection {
    /// The JSON name of the list.
    pub fn json_name(self) -> &'static str {
        match self {
            Self::Tlogs => "tlogs",
            Self::Ctlogs => "ctlogs",
            Self::CertificateAuthorities => "certificateAuthorities",
            Self::TimestampAuthorities => "timestampAuthorities",
        }
    }
}

/// A trusted-root entry that is well-formed but cannot be trusted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableEntry {
    /// The list the entry is in.
    pub section: TrustSection,
    /// Its index in that list, as written.
    pub index: usize,
    /// Its log id, for a log entry that has one.
    pub log_id: Option<Vec<u8>>,
    /// Why it cannot be trusted; the error a lookup of its log id returns.
    pub error: VerifyError,
}

/// Which list of logs a lookup searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogKind {
    /// `tlogs`: transparency logs (Rekor).
    Transparency,
    /// `ctlogs`: certificate transparency logs.
    CertificateTransparency,
}

impl std::fmt::Display for LogKind {
    /// `transparency log (tlogs)` or `certificate transparency log (ctlogs)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Transparency => "transparency log (tlogs)",
            Self::CertificateTransparency => "certificate transparency log (ctlogs)",
        })
    }
}

impl TrustedRoot {
    /// Reads a trusted root from its JSON bytes. Succeeds only if the document is well-formed
    /// JSON with a known media type and every field has its protobuf JSON form; entries that
    /// are well-formed but untrustworthy are moved to [`TrustedRoot::unusable`] (module docs).
    pub fn from_json(bytes: &[u8]) -> Result<Self, VerifyError> {
        let json = protojson::parse(DOC, bytes)?;
        let root = Obj::root(DOC, &json)?;
        let media_type = root
            .get("mediaType", "media_type")?
            .ok_or_else(|| root.missing("mediaType"))?
            .str()?
            .to_owned();
        let version = TrustedRootVersion::from_media_type(&media_type).ok_or_else(|| {
            VerifyError::Format(AttestationError::UnsupportedMediaType {
                document: DOC,
                media_type: media_type.chars().take(128).collect(),
            })
        })?;
        let mut unusable = Vec::new();
        let tlogs = read_section(&root, TrustSection::Tlogs, &mut unusable, read_log)?;
        let ctlogs = read_section(&root, TrustSection::Ctlogs, &mut unusable, read_log)?;
        let certificate_authorities = read_section(
            &root,
            TrustSection::CertificateAuthorities,
            &mut unusable,
            read_authority,
        )?;
        let timestamp_authorities = read_section(
            &root,
            TrustSection::TimestampAuthorities,
            &mut unusable,
            read_authority,
        )?;
        Ok(Self {
            media_type,
            version,
            tlogs,
            ctlogs,
            certificate_authorities,
            timestamp_authorities,
            unusable,
        })
    }

    /// The Sigstore public-good trusted root embedded in this crate ([`PUBLIC_GOOD_JSON`]),
    /// read once per process. Fails only if the embedded document does not read, which the
    /// crate's tests rule out.
    pub fn public_good() -> Result<&'static TrustedRoot, VerifyError> {
        PUBLIC_GOOD
            .get_or_init(|| Self::from_json(PUBLIC_GOOD_JSON))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The transparency log (`tlogs`) with this log id. Refuses an id that no usable entry has
    /// ([`VerifyError::UnknownLog`]), and an id that an unusable entry has (that entry's error,
    /// e.g. [`VerifyError::TrustedValidityMissing`]), even if a usable entry also has it. When
    /// several usable entries share the id, the first in document order is returned.
    pub fn tlog(&self, log_id: &[u8]) -> Result<&TransparencyLogInstance, VerifyError> {
        self.find_log(LogKind::Transparency, log_id)
    }

    /// The certificate transparency log (`ctlogs`) with this log id, under the same rules as
    /// [`TrustedRoot::tlog`].
    pub fn ctlog(&self, log_id: &[u8]) -> Result<&TransparencyLogInstance, VerifyError> {
        self.find_log(LogKind::CertificateTransparency, log_id)
    }

    fn find_log(
        &self,
        kind: LogKind,
        log_id: &[u8],
    ) -> Result<&TransparencyLogInstance, VerifyError> {
        let (section, logs) = match kind {
            LogKind::Transparency => (TrustSection::Tlogs, &self.tlogs),
            LogKind::CertificateTransparency => (TrustSection::Ctlogs, &self.ctlogs),
        };
        if let Some(entry) = self
            .unusable
            .iter()
            .find(|entry| entry.section == section && entry.log_id.as_deref() == Some(log_id))
        {
            return Err(entry.error.clone());
        }
        logs.iter()
            .find(|log| log.log_id == log_id)
            .ok_or_else(|| VerifyError::UnknownLog {
                kind,
                log_id: base64::engine::general_purpose::STANDARD.encode(log_id),
            })
    }
}

/// An entry that read, or why it cannot be used (with its log id, if any).
type Entry<T> = Result<T, (Option<Vec<u8>>, VerifyError)>;

fn read_section<T>(
    root: &Obj<'_>,
    section: TrustSection,
    unusable: &mut Vec<UnusableEntry>,
    read: fn(&Obj<'_>) -> Result<Entry<T>, VerifyError>,
) -> Result<Vec<T>, VerifyError> {
    let proto_name = match section {
        TrustSection::Tlogs => "tlogs",
        TrustSection::Ctlogs => "ctlogs",
        TrustSection::CertificateAuthorities => "certificate_authorities",
        TrustSection::TimestampAuthorities => "timestamp_authorities",
    };
    let mut usable = Vec::new();
    for (index, value) in root
        .list(section.json_name(), proto_name)?
        .into_iter()
        .enumerate()
    {
        match read(&value.obj()?)? {
            Ok(entry) => usable.push(entry),
            Err((log_id, error)) => unusable.push(UnusableEntry {
                section,
                index,
                log_id,
                error,
            }),
        }
    }
    Ok(usable)
}

/// Reads `validFor` of `obj`: `Ok(Err(_))` when it or its start is missing.
fn read_validity(obj: &Obj<'_>) -> Result<Result<TimeRange, VerifyError>, VerifyError> {
    let Some(valid_for) = obj.message("validFor", "valid_for")? else {
        return Ok(Err(VerifyError::TrustedValidityMissing {
            path: obj.child("validFor"),
        }));
    };
    let start = valid_for
        .get("start", "start")?
        .map(|start| start.timestamp())
        .transpose()?;
    let end = valid_for
        .get("end", "end")?
        .map(|end| end.timestamp())
        .transpose()?;
    Ok(match start {
        Some(start) => Ok(TimeRange { start, end }),
        None => Err(VerifyError::TrustedValidityMissing {
            path: valid_for.child("start"),
        }),
    })
}

fn read_log(obj: &Obj<'_>) -> Result<Entry<TransparencyLogInstance>, VerifyError> {
    let base_url = obj.string("baseUrl", "base_url")?;
    let hash_algorithm = match obj.get("hashAlgorithm", "hash_algorithm")? {
        Some(value) => HashAlgorithm::read(&value)?,
        None => HashAlgorithm::Unspecified,
    };
    let log_id = match obj.message("logId", "log_id")? {
        Some(id) => id.bytes("keyId", "key_id")?,
        None => Vec::new(),
    };
    let checkpoint_key_id = match obj.message("checkpointKeyId", "checkpoint_key_id")? {
        Some(id) => Some(id.bytes("keyId", "key_id")?).filter(|id| !id.is_empty()),
        None => None,
    };
    let operator = obj.string("operator", "operator")?;
    let key = obj.message("publicKey", "public_key")?;
    let key = match &key {
        Some(key) => Some((
            key.bytes("rawBytes", "raw_bytes")?,
            match key.get("keyDetails", "key_details")? {
                Some(value) => KeyDetails::read(&value)?,
                None => KeyDetails::Unspecified,
            },
            read_validity(key)?,
            key.child("rawBytes"),
        )),
        None => None,
    };

    // Everything is well-formed; now decide whether the entry can be trusted.
    if log_id.is_empty() {
        return Ok(Err((None, obj.missing("logId.keyId").into())));
    }
    let Some((raw_bytes, key_details, valid_for, raw_bytes_path)) = key else {
        return Ok(Err((Some(log_id), obj.missing("publicKey").into())));
    };
    if raw_bytes.is_empty() {
        let error = VerifyError::Format(AttestationError::MissingField {
            document: DOC,
            path: raw_bytes_path,
        });
        return Ok(Err((Some(log_id), error)));
    }
    let valid_for = match valid_for {
        Ok(range) => range,
        Err(error) => return Ok(Err((Some(log_id), error))),
    };
    Ok(Ok(TransparencyLogInstance {
        base_url,
        hash_algorithm,
        public_key: TrustedPublicKey {
            raw_bytes,
            key_details,
            valid_for,
        },
        log_id,
        checkpoint_key_id,
        operator,
    }))
}

fn read_authority(obj: &Obj<'_>) -> Result<Entry<CertificateAuthority>, VerifyError> {
    let (organization, common_name) = match obj.message("subject", "subject")? {
        Some(subject) => (
            subject.string("organization", "organization")?,
            subject.string("commonName", "common_name")?,
        ),
        None => (String::new(), String::new()),
    };
    let uri = obj.string("uri", "uri")?;
    let operator = obj.string("operator", "operator")?;
    let chain = obj.message("certChain", "cert_chain")?;
    let mut cert_chain = Vec::new();
    let mut chain_problem = None;
    match &chain {
        None => chain_problem = Some(obj.missing("certChain")),
        Some(chain) => {
            for cert in chain.list("certificates", "certificates")? {
                let cert = cert.obj()?;
                let der = cert.bytes("rawBytes", "raw_bytes")?;
                if der.is_empty() && chain_problem.is_none() {
                    chain_problem = Some(cert.missing("rawBytes"));
                }
                cert_chain.push(der);
            }
            if cert_chain.is_empty() {
                chain_problem = Some(AttestationError::InvalidField {
                    document: DOC,
                    path: chain.child("certificates"),
                    reason: "must hold at least one certificate",
                });
            }
        }
    }
    let valid_for = read_validity(obj)?;

    if let Some(error) = chain_problem {
        return Ok(Err((None, error.into())));
    }
    let valid_for = match valid_for {
        Ok(range) => range,
        Err(error) => return Ok(Err((None, error))),
    };
    Ok(Ok(CertificateAuthority {
        organization,
        common_name,
        uri,
        cert_chain,
        valid_for,
        operator,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const REKOR_V1: &str = "wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=";
    const REKOR_V2: &str = "zxGZFVvd0FEmjR8WrFwMdcAJ9vtaY/QXf44Y1wUeP6A=";

    fn id(text: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    }

    fn public_good_value() -> Value {
        serde_json::from_slice(PUBLIC_GOOD_JSON).unwrap()
    }

    fn parse(value: &Value) -> Result<TrustedRoot, VerifyError> {
        TrustedRoot::from_json(value.to_string().as_bytes())
    }

    fn remove(value: &mut Value, key: &str) {
        if let Value::Object(map) = value {
            map.remove(key);
        }
    }

    #[test]
    fn the_public_good_root_reads_once() {
        let root = TrustedRoot::public_good().unwrap();
        assert!(std::ptr::eq(root, TrustedRoot::public_good().unwrap()));
        assert_eq!(root.version, TrustedRootVersion::V0_1);
        assert!(root.unusable.is_empty());
        assert_eq!((root.tlogs.len(), root.ctlogs.len()), (2, 2));
        assert_eq!(root.certificate_authorities.len(), 2);
        assert_eq!(root.timestamp_authorities.len(), 1);
        let rekor = root.tlog(&id(REKOR_V1)).unwrap();
        assert_eq!(rekor.base_url, "https://rekor.sigstore.dev");
        assert_eq!(rekor.hash_algorithm, HashAlgorithm::Sha2_256);
        assert_eq!(
            rekor.public_key.key_details,
            KeyDetails::PKIX_ECDSA_P256_SHA_256
        );
        assert_eq!(
            rekor.public_key.key_details.encoding(),
            Some(KeyEncoding::Spki)
        );
        assert_eq!(
            rekor.public_key.valid_for,
            TimeRange {
                start: UnixTime::parse_rfc3339("2021-01-12T11:53:27Z").unwrap(),
                end: None
            }
        );
        assert_eq!(rekor.checkpoint_key_id, None);
        let rekor_v2 = root.tlog(&id(REKOR_V2)).unwrap();
        assert_eq!(rekor_v2.public_key.key_details, KeyDetails::PKIX_ED25519);
        let ct = root
            .ctlog(&id("CGCS8ChS/2hF0dFrJ4ScRWcYrBY9wzjSbea8IgY2b3I="))
            .unwrap();
        assert_eq!(
            ct.public_key.valid_for.end,
            Some(UnixTime::parse_rfc3339("2022-10-31T23:59:59.999Z").unwrap())
        );
        let fulcio = &root.certificate_authorities[1];
        assert_eq!(
            (fulcio.organization.as_str(), fulcio.common_name.as_str()),
            ("sigstore.dev", "sigstore")
        );
        assert_eq!(fulcio.cert_chain.len(), 2);
        assert_eq!(fulcio.cert_chain[0][0], 0x30);
        // A tlog id is not a ctlog id.
        assert_eq!(
            root.ctlog(&id(REKOR_V1)).unwrap_err(),
            VerifyError::UnknownLog {
                kind: LogKind::CertificateTransparency,
                log_id: REKOR_V1.into()
            }
        );
    }

    #[test]
    fn a_missing_validity_start_makes_only_that_log_unusable() {
        let mut value = public_good_value();
        remove(&mut value["tlogs"][1]["publicKey"]["validFor"], "start");
        let root = parse(&value).unwrap();
        assert_eq!(root.tlogs.len(), 1);
        let missing = VerifyError::TrustedValidityMissing {
            path: "tlogs[1].publicKey.validFor.start".into(),
        };
        assert_eq!(root.tlog(&id(REKOR_V2)).unwrap_err(), missing);
        assert!(root.tlog(&id(REKOR_V1)).is_ok());
        assert_eq!(
            root.unusable,
            [UnusableEntry {
                section: TrustSection::Tlogs,
                index: 1,
                log_id: Some(id(REKOR_V2)),
                error: missing
            }]
        );

        // No validity at all is no better than no start.
        let mut value = public_good_value();
        remove(&mut value["tlogs"][0]["publicKey"], "validFor");
        let root = parse(&value).unwrap();
        assert_eq!(
            root.tlog(&id(REKOR_V1)).unwrap_err(),
            VerifyError::TrustedValidityMissing {
                path: "tlogs[0].publicKey.validFor".into()
            }
        );

        // An unusable entry wins over a usable one with the same id.
        let mut value = public_good_value();
        let mut copy = value["tlogs"][0].clone();
        remove(&mut copy["publicKey"]["validFor"], "start");
        value["tlogs"].as_array_mut().unwrap().push(copy);
        assert!(matches!(
            parse(&value).unwrap().tlog(&id(REKOR_V1)).unwrap_err(),
            VerifyError::TrustedValidityMissing { path } if path == "tlogs[2].publicKey.validFor.start"
        ));
    }

    #[test]
    fn authorities_without_validity_or_certificates_are_set_aside() {
        let mut value = public_good_value();
        remove(&mut value["timestampAuthorities"][0]["validFor"], "start");
        value["certificateAuthorities"][0]["certChain"]["certificates"] = json!([]);
        let root = parse(&value).unwrap();
        assert!(root.timestamp_authorities.is_empty());
        assert_eq!(root.certificate_authorities.len(), 1);
        let sections: Vec<_> = root.unusable.iter().map(|e| (e.section, e.index)).collect();
        assert_eq!(
            sections,
            [
                (TrustSection::CertificateAuthorities, 0),
                (TrustSection::TimestampAuthorities, 0)
            ]
        );
        assert!(matches!(
            &root.unusable[0].error,
            VerifyError::Format(AttestationError::InvalidField { path, .. }) if path == "certificateAuthorities[0].certChain.certificates"
        ));
    }

    #[test]
    fn unknown_key_details_are_kept_as_data() {
        let mut value = public_good_value();
        value["tlogs"][1]["publicKey"]["keyDetails"] = json!("PKIX_SOME_FUTURE_SCHEME");
        value["ctlogs"][0]["publicKey"]["keyDetails"] = json!(1);
        let root = parse(&value).unwrap();
        let future = &root.tlog(&id(REKOR_V2)).unwrap().public_key.key_details;
        assert_eq!(
            future,
            &KeyDetails::Unknown("PKIX_SOME_FUTURE_SCHEME".into())
        );
        assert_eq!(future.name(), "PKIX_SOME_FUTURE_SCHEME");
        let pkcs1 = &root.ctlogs[0].public_key.key_details;
        assert_eq!(pkcs1, &KeyDetails::PKCS1_RSA_PKCS1V5);
        assert_eq!(pkcs1.encoding(), Some(KeyEncoding::Pkcs1RsaPublicKey));
        assert_eq!(KeyDetails::from_name("ML_DSA_65").encoding(), None);
        assert_eq!(KeyDetails::from_number(23), KeyDetails::ML_DSA_44);
        assert_eq!(
            KeyDetails::PKIX_RSA_PSS_4096_SHA256.name(),
            "PKIX_RSA_PSS_4096_SHA256"
        );
    }

    #[test]
    fn time_ranges_are_closed() {
        let at = |text| UnixTime::parse_rfc3339(text).unwrap();
        let range = TimeRange {
            start: at("2025-04-09T00:00:00Z"),
            end: Some(at("2025-06-12T12:02:20Z")),
        };
        assert!(range.contains(at("2025-04-09T00:00:00Z")));
        assert!(range.contains(at("2025-06-12T12:02:20Z")));
        assert!(!range.contains(at("2025-06-12T12:02:20.001Z")));
        assert!(!range.contains(at("2025-04-08T23:59:59Z")));
        let open = TimeRange { end: None, ..range };
        assert!(open.contains(at("2999-01-01T00:00:00Z")));
    }

    #[test]
    fn media_types_and_malformed_documents_are_refused() {
        let mut value = public_good_value();
        value["mediaType"] = json!("application/vnd.dev.sigstore.trustedroot.v0.2+json");
        value["tlogs"][0]["checkpointKeyId"] = json!({"keyId": "AAEC"});
        value["tlogs"][0]["operator"] = json!("sigstore.dev");
        let root = parse(&value).unwrap();
        assert_eq!(root.version, TrustedRootVersion::V0_2);
        assert_eq!(root.tlogs[0].checkpoint_key_id, Some(vec![0, 1, 2]));
        assert_eq!(root.tlogs[0].operator, "sigstore.dev");
        for media_type in [
            "application/vnd.dev.sigstore.trustedroot+json;version=0.3",
            "application/vnd.dev.sigstore.bundle.v0.3+json",
        ] {
            value["mediaType"] = json!(media_type);
            assert!(matches!(
                parse(&value).unwrap_err(),
                VerifyError::Format(AttestationError::UnsupportedMediaType {
                    document: Document::TrustedRoot,
                    ..
                })
            ));
        }
        let mut value = public_good_value();
        value["tlogs"][0]["publicKey"]["validFor"]["start"] = json!("2021-01-12 11:53:27");
        assert!(matches!(
            parse(&value).unwrap_err(),
            VerifyError::Format(AttestationError::InvalidTimestamp { path, .. }) if path == "tlogs[0].publicKey.validFor.start"
        ));
        let mut value = public_good_value();
        value["ctlogs"][1]["logId"]["keyId"] = json!("not base64!");
        assert!(matches!(
            parse(&value).unwrap_err(),
            VerifyError::Format(AttestationError::InvalidBase64 { path, .. }) if path == "ctlogs[1].logId.keyId"
        ));
        assert!(matches!(
            TrustedRoot::from_json(b"{\"mediaType\":").unwrap_err(),
            VerifyError::Format(AttestationError::MalformedJson {
                document: Document::TrustedRoot,
                ..
            })
        ));
    }
}
