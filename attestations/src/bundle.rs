//! Sigstore bundles (`*.sigstore.json`), read into plain typed values. Nothing is verified
//! here: a [`Bundle`] is what the document says, checked only for being well-formed.
//!
//! The document is read as the protobuf JSON mapping of `dev.sigstore.bundle.v1.Bundle`
//! (sigstore/protobuf-specs `sigstore_bundle.proto`, `sigstore_common.proto`,
//! `sigstore_rekor.proto`, `envelope.proto`):
//!
//! - field names are camelCase; the original snake_case names are accepted too, but a field
//!   given twice (a repeated key, or under both names) is refused;
//! - `int64` fields are decimal strings; integral JSON numbers are accepted too;
//! - `bytes` fields are base64, standard or URL-safe alphabet, padded or not, line breaks
//!   (`\r`, `\n`) skipped as Go's and Python's decoders skip them; they are decoded here, so
//!   every byte field below holds raw bytes;
//! - a field that is absent or `null` has its zero value (`0`, empty, unset);
//! - enums are their string names (numbers are accepted too); names this crate does not know
//!   are kept as data ([`HashAlgorithm::Unknown`]) for the verifier to refuse if it must;
//! - unknown fields are ignored. The protobuf JSON specification lets a parser either refuse or
//!   ignore them; sigstore-go and sigstore-python ignore them so that bundles written by newer
//!   clients still verify. What this crate does not understand it does not verify, so an
//!   ignored field can never make a bundle pass.
//! - a `oneof` must have exactly one member set: two is refused ([`AttestationError::OneofConflict`])
//!   and so is none ([`AttestationError::OneofMissing`]).
//!
//! On top of the JSON mapping, the rules each bundle version sets for itself are enforced:
//!
//! | rule | v0.1 | v0.2 | v0.3 |
//! |---|---|---|---|
//! | `verificationMaterial`: `x509CertificateChain` (non-empty) | yes | yes | refused |
//! | `verificationMaterial`: `certificate` | refused | refused | yes |
//! | `verificationMaterial`: `publicKey` | yes | yes | yes |
//! | every tlog entry has `inclusionPromise` | required | optional | optional |
//! | every tlog entry has `inclusionProof` | optional | required | required |
//! | an `inclusionProof` has a `checkpoint` | optional | required | required |
//!
//! Fields whose protobuf definition marks them REQUIRED and whose absence leaves nothing to
//! verify are refused when absent or empty: the log id and kind/version of a tlog entry, the
//! root hash of an inclusion proof, every signature and certificate, the DSSE payload type.
//! A DSSE envelope in a bundle carries exactly one signature (`sigstore_bundle.proto`).

use base64::Engine as _;

use vouch_keys::{Digest, DigestAlgorithm, PublicKey};

use crate::protojson::{self, Obj, Val};
use crate::{AttestationError, Document};

/// The media type of the bundles vouch writes: v0.3.
pub const MEDIA_TYPE_V0_3: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

const DOC: Document = Document::Bundle;

/// A Sigstore bundle: the signature over an artifact with everything needed to verify it
/// offline. Every field was checked for form only; nothing here is trusted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The `mediaType` as written.
    pub media_type: String,
    /// The bundle format version the media type names.
    pub version: BundleVersion,
    /// The key or certificate, transparency-log entries and timestamps.
    pub material: VerificationMaterial,
    /// What was signed and the signature: a message signature or a DSSE envelope.
    pub content: BundleContent,
}

/// A bundle format version. Ordered: `V0_1 < V0_2 < V0_3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BundleVersion {
    /// `application/vnd.dev.sigstore.bundle+json;version=0.1`.
    V0_1,
    /// `application/vnd.dev.sigstore.bundle+json;version=0.2`.
    V0_2,
    /// `application/vnd.dev.sigstore.bundle.v0.3+json`, or the older spelling
    /// `application/vnd.dev.sigstore.bundle+json;version=0.3`.
    V0_3,
}

impl BundleVersion {
    /// The version a bundle media type names, or `None` if it is not one of the four media
    /// types above (compared exactly, case included).
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => Some(Self::V0_1),
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => Some(Self::V0_2),
            "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle.v0.3+json" => Some(Self::V0_3),
            _ => None,
        }
    }
}

impl std::fmt::Display for BundleVersion {
    /// `0.1`, `0.2` or `0.3`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::V0_1 => "0.1",
            Self::V0_2 => "0.2",
            Self::V0_3 => "0.3",
        })
    }
}

/// What a verifier needs besides the signature: who signed, and the log and timestamp
/// evidence of when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationMaterial {
    /// The signer's key or certificate (the `content` oneof).
    pub signer: SignerMaterial,
    /// Transparency-log entries, in document order. May be empty.
    pub tlog_entries: Vec<TransparencyLogEntry>,
    /// `timestampVerificationData.rfc3161Timestamps[].signedTimestamp`: DER-encoded RFC 3161
    /// `TimeStampResponse`s, in document order, none empty. May be empty.
    pub rfc3161_timestamps: Vec<Vec<u8>>,
}

/// Who signed: the `verificationMaterial.content` oneof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerMaterial {
    /// `publicKey`: a key delivered out of band, named by an unauthenticated hint.
    PublicKey {
        /// The hint, possibly empty.
        hint: String,
    },
    /// `x509CertificateChain` (v0.1 and v0.2): DER certificates, leaf first, at least one,
    /// none empty. Certificates after the leaf are untrusted chain-building material.
    X509CertificateChain(Vec<Vec<u8>>),
    /// `certificate` (v0.3): the DER leaf certificate, not empty.
    Certificate(Vec<u8>),
}

impl SignerMaterial {
    /// The signing certificate (DER): the chain's first or the single certificate; `None` for
    /// a public-key hint.
    pub fn leaf_certificate(&self) -> Option<&[u8]> {
        match self {
            Self::PublicKey { .. } => None,
            Self::X509CertificateChain(chain) => chain.first().map(Vec::as_slice),
            Self::Certificate(der) => Some(der),
        }
    }
}

/// One transparency-log entry (`dev.sigstore.rekor.v1.TransparencyLogEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransparencyLogEntry {
    /// `logIndex`: the entry's global index in the log (0 when absent).
    pub log_index: u64,
    /// `logId.keyId`: the log's id, SHA-256 of its public key; not empty.
    pub log_id: Vec<u8>,
    /// `kindVersion`: the entry type (`hashedrekord`, `dsse`, ...) and its version.
    pub kind_version: KindVersion,
    /// `integratedTime`: seconds since the epoch when the log integrated the entry; 0 when
    /// absent (Rekor v2 entries have none).
    pub integrated_time: u64,
    /// `inclusionPromise` (present in every v0.1 entry).
    pub inclusion_promise: Option<InclusionPromise>,
    /// `inclusionProof` (present in every v0.2 and v0.3 entry).
    pub inclusion_proof: Option<InclusionProof>,
    /// `canonicalizedBody`: the log entry body as the log stores it; empty when absent.
    pub canonicalized_body: Vec<u8>,
}

/// The kind and version of a log entry (`kindVersion`), both non-empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindVersion {
    /// The entry type, e.g. `hashedrekord`.
    pub kind: String,
    /// The entry type's version, e.g. `0.0.1`.
    pub version: String,
}

/// The log's signed promise to include the entry (`inclusionPromise`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionPromise {
    /// `signedEntryTimestamp`: the log's signature over the entry, not empty.
    pub signed_entry_timestamp: Vec<u8>,
}

/// A Merkle inclusion proof (`inclusionProof`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// `logIndex`: the entry's index in the tree the proof is for (0 when absent).
    pub log_index: u64,
    /// `rootHash`: the tree's root hash, not empty.
    pub root_hash: Vec<u8>,
    /// `treeSize`: the tree's size (0 when absent).
    pub tree_size: u64,
    /// `hashes`: the audit path, leaf to root; may be empty.
    pub hashes: Vec<Vec<u8>>,
    /// `checkpoint.envelope`: the signed checkpoint (a signed note), not empty. Always present
    /// in v0.2 and v0.3 bundles; may be absent only in v0.1 bundles.
    pub checkpoint: Option<String>,
}

/// What was signed: the bundle's `content` oneof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleContent {
    /// `messageSignature`: a signature over an artifact.
    MessageSignature(MessageSignature),
    /// `dsseEnvelope`: a DSSE envelope, e.g. an in-toto statement.
    DsseEnvelope(DsseEnvelope),
}

/// A signature over an artifact (`messageSignature`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSignature {
    /// `messageDigest`: the artifact's digest. An unauthenticated hint that identifies the
    /// artifact; it is not what the signature is checked against.
    pub message_digest: Option<HashOutput>,
    /// `signature`: the raw signature bytes, not empty.
    pub signature: Vec<u8>,
}

/// A digest and its algorithm (`HashOutput`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashOutput {
    /// `algorithm` (unspecified when absent).
    pub algorithm: HashAlgorithm,
    /// `digest`: the raw digest bytes (empty when absent).
    pub digest: Vec<u8>,
}

/// A hash algorithm (`dev.sigstore.common.v1.HashAlgorithm`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// `HASH_ALGORITHM_UNSPECIFIED` (also the value when the field is absent).
    Unspecified,
    /// `SHA2_256`.
    Sha2_256,
    /// `SHA2_384`.
    Sha2_384,
    /// `SHA2_512`.
    Sha2_512,
    /// `SHA3_256`.
    Sha3_256,
    /// `SHA3_384`.
    Sha3_384,
    /// A name or number this crate does not know, kept as written.
    Unknown(String),
}

/// The known values of [`HashAlgorithm`] with their protobuf names and numbers.
static HASH_ALGORITHMS: [(HashAlgorithm, &str, i64); 6] = [
    (HashAlgorithm::Unspecified, "HASH_ALGORITHM_UNSPECIFIED", 0),
    (HashAlgorithm::Sha2_256, "SHA2_256", 1),
    (HashAlgorithm::Sha2_384, "SHA2_384", 2),
    (HashAlgorithm::Sha2_512, "SHA2_512", 3),
    (HashAlgorithm::Sha3_256, "SHA3_256", 4),
    (HashAlgorithm::Sha3_384, "SHA3_384", 5),
];

impl protojson::ProtoEnum for HashAlgorithm {
    fn table() -> &'static [(Self, &'static str, i64)] {
        &HASH_ALGORITHMS
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

impl HashAlgorithm {
    /// The protobuf value for a digest algorithm vouch computes.
    pub fn of(algorithm: DigestAlgorithm) -> Self {
        match algorithm {
            DigestAlgorithm::Sha256 => Self::Sha2_256,
            DigestAlgorithm::Sha384 => Self::Sha2_384,
            DigestAlgorithm::Sha512 => Self::Sha2_512,
        }
    }

    /// The algorithm with this protobuf enum name; unknown names are kept as
    /// [`HashAlgorithm::Unknown`].
    pub fn from_name(name: &str) -> Self {
        <Self as protojson::ProtoEnum>::lookup_name(name)
    }

    /// The algorithm with this protobuf enum number; unknown numbers are kept as
    /// [`HashAlgorithm::Unknown`] holding the decimal number.
    pub fn from_number(number: i64) -> Self {
        <Self as protojson::ProtoEnum>::lookup_number(number)
    }

    /// The protobuf enum name (`SHA2_256`), or the text kept for an unknown value.
    pub fn name(&self) -> &str {
        <Self as protojson::ProtoEnum>::proto_name(self)
    }

    /// Reads the enum field `value` by name or number; an unknown one is kept as text.
    pub fn read(value: &Val<'_>) -> Result<Self, AttestationError> {
        Ok(match value.enum_value()? {
            protojson::EnumValue::Name(name) => Self::from_name(name),
            protojson::EnumValue::Number(number) => Self::from_number(number),
        })
    }
}

/// A DSSE envelope as a bundle carries it (`io.intoto.Envelope` with exactly one signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseEnvelope {
    /// `payload`: the signed payload bytes (decoded from base64; may be empty).
    pub payload: Vec<u8>,
    /// `payloadType`: how to interpret the payload, e.g. `application/vnd.in-toto+json`; not
    /// empty.
    pub payload_type: String,
    /// `signatures[0]`: the envelope's one signature.
    pub signature: DsseSignature,
}

/// One DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseSignature {
    /// `sig`: the signature over PAE(payloadType, payload), not empty.
    pub sig: Vec<u8>,
    /// `keyid`: an unauthenticated key hint, possibly empty.
    pub keyid: String,
}

impl VerificationMaterial {
    /// Material naming a public key by a hint, the base64 SHA-256 of its SubjectPublicKeyInfo,
    /// with no log entries or timestamps yet. The hint is unauthenticated: verifiers are given
    /// the key.
    pub fn public_key_hint(key: &PublicKey) -> Self {
        VerificationMaterial {
            signer: SignerMaterial::PublicKey {
                hint: base64::engine::general_purpose::STANDARD
                    .encode(Digest::sha256(key.spki_der()).to_bytes()),
            },
            tlog_entries: Vec::new(),
            rfc3161_timestamps: Vec::new(),
        }
    }
}

impl Bundle {
    /// A v0.3 bundle of a DSSE envelope signed with `key`: `payload` of `payload_type`, and
    /// `sig`, the signature over its pre-authentication encoding. The signature is taken as
    /// given; nothing is verified here.
    pub fn key_signed_dsse(
        key: &PublicKey,
        payload_type: &str,
        payload: Vec<u8>,
        sig: Vec<u8>,
    ) -> Self {
        Bundle {
            media_type: MEDIA_TYPE_V0_3.into(),
            version: BundleVersion::V0_3,
            material: VerificationMaterial::public_key_hint(key),
            content: BundleContent::DsseEnvelope(DsseEnvelope {
                payload,
                payload_type: payload_type.into(),
                signature: DsseSignature {
                    sig,
                    keyid: String::new(),
                },
            }),
        }
    }

    /// A v0.3 message-signature bundle: `signature`, made with `key`, over the message whose
    /// digest is `digest`. The signature is taken as given; nothing is verified here.
    pub fn key_signed_message(key: &PublicKey, digest: &Digest, signature: Vec<u8>) -> Self {
        Bundle {
            media_type: MEDIA_TYPE_V0_3.into(),
            version: BundleVersion::V0_3,
            material: VerificationMaterial::public_key_hint(key),
            content: BundleContent::MessageSignature(MessageSignature {
                message_digest: Some(HashOutput {
                    algorithm: HashAlgorithm::of(digest.algorithm()),
                    digest: digest.to_bytes(),
                }),
                signature,
            }),
        }
    }

    /// Reads one `TransparencyLogEntry` as protobuf JSON (what a Rekor v2 log answers to an
    /// upload), with the rules of a v0.3 bundle's entries: `logId`, `kindVersion` and an
    /// inclusion proof with its checkpoint are required. Nothing is verified.
    pub fn tlog_entry_from_json(bytes: &[u8]) -> Result<TransparencyLogEntry, AttestationError> {
        const ENTRY: Document = Document::Bundle;
        let json = protojson::parse(ENTRY, bytes)?;
        let root = Obj::root(ENTRY, &json)?;
        read_tlog_entry(BundleVersion::V0_3, &root)
    }

    /// The bundle as protobuf JSON (camelCase names, base64 bytes, int64 as strings, zero
    /// values omitted), as sigstore clients write it; [`Bundle::from_json`] reads it back to
    /// an equal value.
    pub fn to_json(&self) -> Vec<u8> {
        use serde_json::{Map, Value, json};
        let b64 =
            |bytes: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
        let mut material = Map::new();
        match &self.material.signer {
            SignerMaterial::PublicKey { hint } => {
                let mut key = Map::new();
                if !hint.is_empty() {
                    key.insert("hint".into(), json!(hint));
                }
                material.insert("publicKey".into(), Value::Object(key));
            }
            SignerMaterial::X509CertificateChain(chain) => {
                let certificates: Vec<Value> =
                    chain.iter().map(|c| json!({"rawBytes": b64(c)})).collect();
                material.insert(
                    "x509CertificateChain".into(),
                    json!({"certificates": certificates}),
                );
            }
            SignerMaterial::Certificate(der) => {
                material.insert("certificate".into(), json!({"rawBytes": b64(der)}));
            }
        }
        let entries: Vec<Value> = self
            .material
            .tlog_entries
            .iter()
            .map(|entry| {
                let mut e = Map::new();
                e.insert("logIndex".into(), json!(entry.log_index.to_string()));
                e.insert("logId".into(), json!({"keyId": b64(&entry.log_id)}));
                e.insert(
                    "kindVersion".into(),
                    json!({"kind": entry.kind_version.kind, "version": entry.kind_version.version}),
                );
                // Zero (a Rekor v2 entry has no integrated time) is omitted, as protobuf
                // JSON omits default values.
                if entry.integrated_time != 0 {
                    e.insert(
                        "integratedTime".into(),
                        json!(entry.integrated_time.to_string()),
                    );
                }
                if let Some(promise) = &entry.inclusion_promise {
                    e.insert(
                        "inclusionPromise".into(),
                        json!({"signedEntryTimestamp": b64(&promise.signed_entry_timestamp)}),
                    );
                }
                if let Some(proof) = &entry.inclusion_proof {
                    let mut p = Map::new();
                    p.insert("logIndex".into(), json!(proof.log_index.to_string()));
                    p.insert("rootHash".into(), b64(&proof.root_hash));
                    p.insert("treeSize".into(), json!(proof.tree_size.to_string()));
                    p.insert(
                        "hashes".into(),
                        Value::Array(proof.hashes.iter().map(|h| b64(h)).collect()),
                    );
                    if let Some(checkpoint) = &proof.checkpoint {
                        p.insert("checkpoint".into(), json!({"envelope": checkpoint}));
                    }
                    e.insert("inclusionProof".into(), Value::Object(p));
                }
                e.insert("canonicalizedBody".into(), b64(&entry.canonicalized_body));
                Value::Object(e)
            })
            .collect();
        material.insert("tlogEntries".into(), Value::Array(entries));
        if !self.material.rfc3161_timestamps.is_empty() {
            let stamps: Vec<Value> = self
                .material
                .rfc3161_timestamps
                .iter()
                .map(|t| json!({"signedTimestamp": b64(t)}))
                .collect();
            material.insert(
                "timestampVerificationData".into(),
                json!({"rfc3161Timestamps": stamps}),
            );
        }
        let mut bundle = Map::new();
        bundle.insert("mediaType".into(), json!(self.media_type));
        bundle.insert("verificationMaterial".into(), Value::Object(material));
        match &self.content {
            BundleContent::MessageSignature(message) => {
                let mut m = Map::new();
                if let Some(digest) = &message.message_digest {
                    m.insert(
                        "messageDigest".into(),
                        json!({"algorithm": digest.algorithm.name(), "digest": b64(&digest.digest)}),
                    );
                }
                m.insert("signature".into(), b64(&message.signature));
                bundle.insert("messageSignature".into(), Value::Object(m));
            }
            BundleContent::DsseEnvelope(envelope) => {
                bundle.insert(
                    "dsseEnvelope".into(),
                    json!({
                        "payload": b64(&envelope.payload),
                        "payloadType": envelope.payload_type,
                        "signatures": [{"sig": b64(&envelope.signature.sig), "keyid": envelope.signature.keyid}],
                    }),
                );
            }
        }
        // A tree of plain values always serializes.
        serde_json::to_vec_pretty(&Value::Object(bundle)).unwrap_or_default()
    }

    /// Reads a bundle from its JSON bytes. Succeeds only if the document is well-formed JSON,
    /// its media type is one of the versions of [`BundleVersion`], every field has the form
    /// the protobuf JSON mapping gives it, and the version rules of the module docs hold. The
    /// error names the first field (by JSON path) that broke a rule.
    pub fn from_json(bytes: &[u8]) -> Result<Self, AttestationError> {
        let json = protojson::parse(DOC, bytes)?;
        let root = Obj::root(DOC, &json)?;
        let media_type = root
            .get("mediaType", "media_type")?
            .ok_or_else(|| root.missing("mediaType"))?
            .str()?
            .to_owned();
        let version = BundleVersion::from_media_type(&media_type).ok_or_else(|| {
            AttestationError::UnsupportedMediaType {
                document: DOC,
                media_type: media_type.chars().take(128).collect(),
            }
        })?;
        let material = root.require_message("verificationMaterial", "verification_material")?;
        let material = read_material(version, &material)?;
        let content = match root.oneof(
            &[
                ("messageSignature", "message_signature"),
                ("dsseEnvelope", "dsse_envelope"),
            ],
            "messageSignature or dsseEnvelope",
        )? {
            (0, value) => BundleContent::MessageSignature(read_message_signature(&value.obj()?)?),
            (_, value) => BundleContent::DsseEnvelope(read_dsse(&value.obj()?)?),
        };
        Ok(Self {
            media_type,
            version,
            material,
            content,
        })
    }
}

fn rule(version: BundleVersion, path: String, rule: &'static str) -> AttestationError {
    AttestationError::BundleVersionRule {
        version,
        path,
        rule,
    }
}

fn read_material(
    version: BundleVersion,
    obj: &Obj<'_>,
) -> Result<VerificationMaterial, AttestationError> {
    let (which, value) = obj.oneof(
        &[
            ("publicKey", "public_key"),
            ("x509CertificateChain", "x509_certificate_chain"),
            ("certificate", "certificate"),
        ],
        "publicKey, x509CertificateChain or certificate",
    )?;
    let signer = match which {
        0 => SignerMaterial::PublicKey {
            hint: value.obj()?.string("hint", "hint")?,
        },
        1 => {
            if version >= BundleVersion::V0_3 {
                return Err(rule(
                    version,
                    value.path(),
                    "is not allowed: v0.3 bundles carry the signing certificate alone, in `certificate`",
                ));
            }
            let chain = value.obj()?;
            let certificates = chain.list("certificates", "certificates")?;
            if certificates.is_empty() {
                return Err(AttestationError::InvalidField {
                    document: DOC,
                    path: chain.child("certificates"),
                    reason: "must hold at least one certificate",
                });
            }
            let certificates = certificates
                .into_iter()
                .map(|cert| cert.obj()?.require_bytes("rawBytes", "raw_bytes"))
                .collect::<Result<_, _>>()?;
            SignerMaterial::X509CertificateChain(certificates)
        }
        _ => {
            if version < BundleVersion::V0_3 {
                return Err(rule(
                    version,
                    value.path(),
                    "is not allowed: `certificate` was added in v0.3; v0.1 and v0.2 bundles use `x509CertificateChain`",
                ));
            }
            SignerMaterial::Certificate(value.obj()?.require_bytes("rawBytes", "raw_bytes")?)
        }
    };
    let tlog_entries = obj
        .list("tlogEntries", "tlog_entries")?
        .into_iter()
        .map(|entry| read_tlog_entry(version, &entry.obj()?))
        .collect::<Result<_, _>>()?;
    let rfc3161_timestamps =
        match obj.message("timestampVerificationData", "timestamp_verification_data")? {
            None => Vec::new(),
            Some(data) => data
                .list("rfc3161Timestamps", "rfc3161_timestamps")?
                .into_iter()
                .map(|ts| {
                    ts.obj()?
                        .require_bytes("signedTimestamp", "signed_timestamp")
                })
                .collect::<Result<_, _>>()?,
        };
    Ok(VerificationMaterial {
        signer,
        tlog_entries,
        rfc3161_timestamps,
    })
}

fn read_tlog_entry(
    version: BundleVersion,
    obj: &Obj<'_>,
) -> Result<TransparencyLogEntry, AttestationError> {
    let log_index = obj.uint64("logIndex", "log_index")?;
    let log_id = obj
        .require_message("logId", "log_id")?
        .require_bytes("keyId", "key_id")?;
    let kind_version = obj.require_message("kindVersion", "kind_version")?;
    let kind_version = KindVersion {
        kind: kind_version.require_string("kind", "kind")?,
        version: kind_version.require_string("version", "version")?,
    };
    let integrated_time = obj.uint64("integratedTime", "integrated_time")?;
    let inclusion_promise = obj
        .message("inclusionPromise", "inclusion_promise")?
        .map(|promise| {
            Ok::<_, AttestationError>(InclusionPromise {
                signed_entry_timestamp: promise
                    .require_bytes("signedEntryTimestamp", "signed_entry_timestamp")?,
            })
        })
        .transpose()?;
    let inclusion_proof = obj
        .message("inclusionProof", "inclusion_proof")?
        .map(|proof| read_inclusion_proof(version, &proof))
        .transpose()?;
    let canonicalized_body = obj.bytes("canonicalizedBody", "canonicalized_body")?;

    if version == BundleVersion::V0_1 && inclusion_promise.is_none() {
        return Err(rule(
            version,
            obj.child("inclusionPromise"),
            "is required in v0.1 bundles",
        ));
    }
    if version >= BundleVersion::V0_2 && inclusion_proof.is_none() {
        return Err(rule(
            version,
            obj.child("inclusionProof"),
            "is required in v0.2 and later bundles",
        ));
    }
    Ok(TransparencyLogEntry {
        log_index,
        log_id,
        kind_version,
        integrated_time,
        inclusion_promise,
        inclusion_proof,
        canonicalized_body,
    })
}

fn read_inclusion_proof(
    version: BundleVersion,
    obj: &Obj<'_>,
) -> Result<InclusionProof, AttestationError> {
    let checkpoint = obj
        .message("checkpoint", "checkpoint")?
        .map(|checkpoint| checkpoint.require_string("envelope", "envelope"))
        .transpose()?;
    if version >= BundleVersion::V0_2 && checkpoint.is_none() {
        return Err(rule(
            version,
            obj.child("checkpoint"),
            "is required in v0.2 and later bundles: without it the root hash is unsigned",
        ));
    }
    Ok(InclusionProof {
        log_index: obj.uint64("logIndex", "log_index")?,
        root_hash: obj.require_bytes("rootHash", "root_hash")?,
        tree_size: obj.uint64("treeSize", "tree_size")?,
        hashes: obj
            .list("hashes", "hashes")?
            .into_iter()
            .map(|hash| hash.bytes())
            .collect::<Result<_, _>>()?,
        checkpoint,
    })
}

fn read_message_signature(obj: &Obj<'_>) -> Result<MessageSignature, AttestationError> {
    let message_digest = obj
        .message("messageDigest", "message_digest")?
        .map(|digest| {
            Ok::<_, AttestationError>(HashOutput {
                algorithm: match digest.get("algorithm", "algorithm")? {
                    Some(value) => HashAlgorithm::read(&value)?,
                    None => HashAlgorithm::Unspecified,
                },
                digest: digest.bytes("digest", "digest")?,
            })
        })
        .transpose()?;
    Ok(MessageSignature {
        message_digest,
        signature: obj.require_bytes("signature", "signature")?,
    })
}

fn read_dsse(obj: &Obj<'_>) -> Result<DsseEnvelope, AttestationError> {
    let payload = obj.bytes("payload", "payload")?;
    let payload_type = obj.require_string("payloadType", "payloadType")?;
    let mut signatures = obj.list("signatures", "signatures")?.into_iter();
    let (Some(signature), None) = (signatures.next(), signatures.next()) else {
        return Err(AttestationError::InvalidField {
            document: DOC,
            path: obj.child("signatures"),
            reason: "must hold exactly one signature (a bundle's DSSE envelope has one signer)",
        });
    };
    let signature = signature.obj()?;
    Ok(DsseEnvelope {
        payload,
        payload_type,
        signature: DsseSignature {
            sig: signature.require_bytes("sig", "sig")?,
            keyid: signature.string("keyid", "keyid")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn v03() -> Value {
        json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": "MIIB"},
                "tlogEntries": [{
                    "logIndex": "42",
                    "logId": {"keyId": "AAEC"},
                    "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"},
                    "inclusionProof": {
                        "logIndex": "7",
                        "rootHash": "AAAA",
                        "treeSize": "8",
                        "hashes": ["AQID", "BAUG"],
                        "checkpoint": {"envelope": "origin\n8\nAAAA\n\n— origin sig\n"}
                    },
                    "canonicalizedBody": "e30="
                }],
                "timestampVerificationData": {"rfc3161Timestamps": [{"signedTimestamp": "MAA="}]}
            },
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": "AAAA"},
                "signature": "MEUC"
            }
        })
    }

    fn v01() -> Value {
        json!({
            "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
            "verificationMaterial": {
                "x509CertificateChain": {"certificates": [{"rawBytes": "MIIB"}, {"rawBytes": "MIIC"}]},
                "tlogEntries": [{
                    "logIndex": "1",
                    "logId": {"keyId": "AAEC"},
                    "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                    "integratedTime": "1689177396",
                    "inclusionPromise": {"signedEntryTimestamp": "MEUC"}
                }]
            },
            "messageSignature": {"signature": "MEUC"}
        })
    }

    fn parse(value: &Value) -> Result<Bundle, AttestationError> {
        Bundle::from_json(value.to_string().as_bytes())
    }

    fn entry(value: &mut Value) -> &mut Value {
        &mut value["verificationMaterial"]["tlogEntries"][0]
    }

    fn remove(value: &mut Value, key: &str) {
        if let Value::Object(map) = value {
            map.remove(key);
        }
    }

    #[test]
    fn a_v03_bundle_reads_into_bytes_and_numbers() {
        let bundle = parse(&v03()).unwrap();
        assert_eq!(bundle.version, BundleVersion::V0_3);
        assert_eq!(
            bundle.material.signer.leaf_certificate(),
            Some(&[0x30, 0x82, 0x01][..])
        );
        let entry = &bundle.material.tlog_entries[0];
        assert_eq!(entry.log_index, 42);
        assert_eq!(entry.log_id, [0, 1, 2]);
        assert_eq!(entry.integrated_time, 0);
        assert_eq!(entry.inclusion_promise, None);
        assert_eq!(entry.canonicalized_body, b"{}");
        let proof = entry.inclusion_proof.as_ref().unwrap();
        assert_eq!((proof.log_index, proof.tree_size), (7, 8));
        assert_eq!(proof.hashes, [vec![1, 2, 3], vec![4, 5, 6]]);
        assert!(proof.checkpoint.as_deref().unwrap().starts_with("origin\n"));
        assert_eq!(bundle.material.rfc3161_timestamps, [vec![0x30, 0]]);
        let BundleContent::MessageSignature(signature) = &bundle.content else {
            panic!("expected a message signature");
        };
        assert_eq!(signature.signature, [0x30, 0x45, 0x02]);
        let digest = signature.message_digest.as_ref().unwrap();
        assert_eq!(digest.algorithm, HashAlgorithm::Sha2_256);
        assert_eq!(digest.digest, [0, 0, 0]);
    }

    #[test]
    fn every_media_type_spelling_is_read_and_others_refused() {
        for (media_type, version) in [
            (
                "application/vnd.dev.sigstore.bundle+json;version=0.2",
                BundleVersion::V0_2,
            ),
            (
                "application/vnd.dev.sigstore.bundle+json;version=0.3",
                BundleVersion::V0_3,
            ),
        ] {
            let mut value = v03();
            value["mediaType"] = json!(media_type);
            if version == BundleVersion::V0_2 {
                value["verificationMaterial"]["x509CertificateChain"] =
                    json!({"certificates": [{"rawBytes": "MIIB"}]});
                remove(&mut value["verificationMaterial"], "certificate");
            }
            assert_eq!(parse(&value).unwrap().version, version);
        }
        assert_eq!(parse(&v01()).unwrap().version, BundleVersion::V0_1);
        for media_type in [
            "application/vnd.dev.sigstore.bundle.v0.4+json",
            "application/vnd.dev.sigstore.bundle+json;version=0.4",
            "APPLICATION/VND.DEV.SIGSTORE.BUNDLE.V0.3+JSON",
            "application/vnd.dev.sigstore.bundle.v0.3+json ",
            "",
        ] {
            let mut value = v03();
            value["mediaType"] = json!(media_type);
            assert_eq!(
                parse(&value).unwrap_err(),
                AttestationError::UnsupportedMediaType {
                    document: Document::Bundle,
                    media_type: media_type.into()
                }
            );
        }
        let mut value = v03();
        remove(&mut value, "mediaType");
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::MissingField { path, .. } if path == "mediaType"
        ));
    }

    #[test]
    fn two_contents_or_none_are_refused() {
        let mut value = v03();
        value["dsseEnvelope"] = json!({
            "payload": "e30=", "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": "MEUC"}]
        });
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::OneofConflict { path, first: "messageSignature", second: "dsseEnvelope", .. }
                if path.is_empty()
        ));
        remove(&mut value, "messageSignature");
        assert!(matches!(
            parse(&value).unwrap().content,
            BundleContent::DsseEnvelope(_)
        ));
        remove(&mut value, "dsseEnvelope");
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::OneofMissing { path, choices: "messageSignature or dsseEnvelope", .. }
                if path.is_empty()
        ));
        // null is absent, not a member that is set.
        value["messageSignature"] = json!({"signature": "MEUC"});
        value["dsseEnvelope"] = Value::Null;
        assert!(parse(&value).is_ok());
    }

    #[test]
    fn two_signers_or_none_are_refused() {
        let mut value = v03();
        value["verificationMaterial"]["publicKey"] = json!({"hint": "abc"});
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::OneofConflict { path, first: "publicKey", second: "certificate", .. }
                if path == "verificationMaterial"
        ));
        remove(&mut value["verificationMaterial"], "certificate");
        assert_eq!(
            parse(&value).unwrap().material.signer,
            SignerMaterial::PublicKey { hint: "abc".into() }
        );
        remove(&mut value["verificationMaterial"], "publicKey");
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::OneofMissing { path, .. } if path == "verificationMaterial"
        ));
        remove(&mut value, "verificationMaterial");
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::MissingField { path, .. } if path == "verificationMaterial"
        ));
    }

    #[test]
    fn bytes_must_be_base64_of_either_alphabet() {
        let mut value = v03();
        value["messageSignature"]["signature"] = json!("INVALID!!!BASE64!!!ENCODING====");
        assert_eq!(
            parse(&value).unwrap_err(),
            AttestationError::InvalidBase64 {
                document: Document::Bundle,
                path: "messageSignature.signature".into()
            }
        );
        for (text, bytes) in [
            ("-_8=", vec![0xfb, 0xff]),
            ("-_8", vec![0xfb, 0xff]),
            ("+/8", vec![0xfb, 0xff]),
            ("AQ\r\nID\n", vec![1, 2, 3]),
        ] {
            value["messageSignature"]["signature"] = json!(text);
            let BundleContent::MessageSignature(signature) = parse(&value).unwrap().content else {
                panic!("expected a message signature");
            };
            assert_eq!(signature.signature, bytes, "{text}");
        }
        for text in ["+_8=", "A", "AA=A", "AB==", "AQ ID", "AQ\tID"] {
            value["messageSignature"]["signature"] = json!(text);
            assert!(
                matches!(
                    parse(&value).unwrap_err(),
                    AttestationError::InvalidBase64 { .. }
                ),
                "{text}"
            );
        }
        value["messageSignature"]["signature"] = json!(12);
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::WrongJsonType { path, .. } if path == "messageSignature.signature"
        ));
    }

    #[test]
    fn int64_is_a_decimal_string_or_an_integer() {
        let mut value = v03();
        for (given, expected) in [(json!(42), 42), (json!("0"), 0), (json!(1e3), 1000)] {
            entry(&mut value)["logIndex"] = given;
            assert_eq!(
                parse(&value).unwrap().material.tlog_entries[0].log_index,
                expected
            );
        }
        for given in [
            json!("12a"),
            json!(""),
            json!("+5"),
            json!(" 5"),
            json!("1.5"),
            json!(1.5),
            json!("99999999999999999999"),
        ] {
            entry(&mut value)["logIndex"] = given.clone();
            assert!(
                matches!(
                    parse(&value).unwrap_err(),
                    AttestationError::InvalidInt64 { path, .. }
                        if path == "verificationMaterial.tlogEntries[0].logIndex"
                ),
                "{given}"
            );
        }
        entry(&mut value)["logIndex"] = json!("-1");
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::InvalidField {
                reason: "must not be negative",
                ..
            }
        ));
        entry(&mut value)["logIndex"] = json!(true);
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::WrongJsonType { .. }
        ));
    }

    #[test]
    fn v01_entries_need_an_inclusion_promise() {
        let mut value = v01();
        remove(entry(&mut value), "inclusionPromise");
        assert_eq!(
            parse(&value).unwrap_err(),
            AttestationError::BundleVersionRule {
                version: BundleVersion::V0_1,
                path: "verificationMaterial.tlogEntries[0].inclusionPromise".into(),
                rule: "is required in v0.1 bundles",
            }
        );
        // A v0.1 entry may carry a proof, even one without a checkpoint.
        let mut value = v01();
        entry(&mut value)["inclusionProof"] =
            json!({"logIndex": "1", "rootHash": "AAAA", "treeSize": "2", "hashes": ["AAAA"]});
        let bundle = parse(&value).unwrap();
        let proof = bundle.material.tlog_entries[0]
            .inclusion_proof
            .as_ref()
            .unwrap();
        assert_eq!(proof.checkpoint, None);
    }

    #[test]
    fn v02_and_later_entries_need_a_proof_with_a_checkpoint() {
        let mut value = v03();
        remove(&mut entry(&mut value)["inclusionProof"], "checkpoint");
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::BundleVersionRule { version: BundleVersion::V0_3, path, .. }
                if path == "verificationMaterial.tlogEntries[0].inclusionProof.checkpoint"
        ));
        remove(entry(&mut value), "inclusionProof");
        entry(&mut value)["inclusionPromise"] = json!({"signedEntryTimestamp": "MEUC"});
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::BundleVersionRule { version: BundleVersion::V0_3, path, .. }
                if path == "verificationMaterial.tlogEntries[0].inclusionProof"
        ));
        value["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.2");
        value["verificationMaterial"]["x509CertificateChain"] =
            json!({"certificates": [{"rawBytes": "MIIB"}]});
        remove(&mut value["verificationMaterial"], "certificate");
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::BundleVersionRule {
                version: BundleVersion::V0_2,
                ..
            }
        ));
    }

    #[test]
    fn certificate_forms_follow_the_version() {
        let mut value = v03();
        value["verificationMaterial"]["x509CertificateChain"] =
            json!({"certificates": [{"rawBytes": "MIIB"}]});
        remove(&mut value["verificationMaterial"], "certificate");
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::BundleVersionRule { version: BundleVersion::V0_3, path, .. }
                if path == "verificationMaterial.x509CertificateChain"
        ));
        let mut value = v01();
        value["verificationMaterial"]["certificate"] = json!({"rawBytes": "MIIB"});
        remove(&mut value["verificationMaterial"], "x509CertificateChain");
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::BundleVersionRule { version: BundleVersion::V0_1, path, .. }
                if path == "verificationMaterial.certificate"
        ));
        let mut value = v01();
        value["verificationMaterial"]["x509CertificateChain"]["certificates"] = json!([]);
        assert_eq!(
            parse(&value).unwrap_err(),
            AttestationError::InvalidField {
                document: Document::Bundle,
                path: "verificationMaterial.x509CertificateChain.certificates".into(),
                reason: "must hold at least one certificate",
            }
        );
        value["verificationMaterial"]["x509CertificateChain"]["certificates"] = json!([{}]);
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::MissingField { path, .. }
                if path == "verificationMaterial.x509CertificateChain.certificates[0].rawBytes"
        ));
        let mut value = v01();
        let chain = parse(&value).unwrap().material.signer;
        assert_eq!(chain.leaf_certificate(), Some(&[0x30, 0x82, 0x01][..]));
        value["verificationMaterial"]["x509CertificateChain"]["certificates"] = json!([null]);
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::WrongJsonType { .. }
        ));
    }

    #[test]
    fn required_fields_must_be_present_and_non_empty() {
        for (field, path) in [
            ("logId", "verificationMaterial.tlogEntries[0].logId"),
            (
                "kindVersion",
                "verificationMaterial.tlogEntries[0].kindVersion",
            ),
        ] {
            let mut value = v03();
            remove(entry(&mut value), field);
            assert!(
                matches!(parse(&value).unwrap_err(), AttestationError::MissingField { path: p, .. } if p == path),
                "{field}"
            );
        }
        let mut value = v03();
        entry(&mut value)["kindVersion"]["kind"] = json!("");
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::MissingField { path, .. }
                if path == "verificationMaterial.tlogEntries[0].kindVersion.kind"
        ));
        let mut value = v03();
        entry(&mut value)["logId"]["keyId"] = Value::Null;
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::MissingField { path, .. }
                if path == "verificationMaterial.tlogEntries[0].logId.keyId"
        ));
        let mut value = v03();
        value["messageSignature"]["signature"] = json!("");
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::MissingField { path, .. } if path == "messageSignature.signature"
        ));
        let mut value = v03();
        value["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"] =
            json!([{}]);
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::MissingField { path, .. }
                if path == "verificationMaterial.timestampVerificationData.rfc3161Timestamps[0].signedTimestamp"
        ));
    }

    #[test]
    fn a_field_given_twice_is_refused() {
        let text = v03().to_string().replace(
            "\"logIndex\":\"42\"",
            "\"logIndex\":\"42\",\"log_index\":\"42\"",
        );
        assert!(text.contains("log_index"));
        assert!(matches!(
            Bundle::from_json(text.as_bytes()).unwrap_err(),
            AttestationError::DuplicateField { path, .. }
                if path == "verificationMaterial.tlogEntries[0].logIndex"
        ));
        let text = v03().to_string().replace(
            "\"signature\":\"MEUC\"",
            "\"signature\":\"MEUC\",\"signature\":\"MEQC\"",
        );
        assert!(matches!(
            Bundle::from_json(text.as_bytes()).unwrap_err(),
            AttestationError::DuplicateField { path, .. } if path == "messageSignature.signature"
        ));
    }

    #[test]
    fn snake_case_names_and_unknown_fields_are_read() {
        let mut text = v03().to_string();
        for (camel, snake) in [
            ("mediaType", "media_type"),
            ("verificationMaterial", "verification_material"),
            ("rawBytes", "raw_bytes"),
            ("tlogEntries", "tlog_entries"),
            ("logIndex", "log_index"),
            ("logId", "log_id"),
            ("keyId", "key_id"),
            ("kindVersion", "kind_version"),
            ("inclusionProof", "inclusion_proof"),
            ("rootHash", "root_hash"),
            ("treeSize", "tree_size"),
            ("canonicalizedBody", "canonicalized_body"),
            ("timestampVerificationData", "timestamp_verification_data"),
            ("rfc3161Timestamps", "rfc3161_timestamps"),
            ("signedTimestamp", "signed_timestamp"),
            ("messageSignature", "message_signature"),
            ("messageDigest", "message_digest"),
        ] {
            text = text.replace(&format!("\"{camel}\""), &format!("\"{snake}\""));
        }
        assert_eq!(
            Bundle::from_json(text.as_bytes()).unwrap(),
            parse(&v03()).unwrap()
        );

        let mut value = v03();
        value["someFutureField"] = json!({"anything": [1, 2]});
        entry(&mut value)["newEntryField"] = json!("x");
        value["verificationMaterial"]["timestampVerificationData"] = Value::Null;
        let bundle = parse(&value).unwrap();
        assert!(bundle.material.rfc3161_timestamps.is_empty());
    }

    #[test]
    fn enums_are_names_or_numbers_and_unknown_names_are_kept() {
        let mut value = v03();
        value["messageSignature"]["messageDigest"]["algorithm"] = json!(3);
        let digest = |bundle: Bundle| match bundle.content {
            BundleContent::MessageSignature(s) => s.message_digest.map(|d| d.algorithm),
            BundleContent::DsseEnvelope(_) => None,
        };
        assert_eq!(
            digest(parse(&value).unwrap()),
            Some(HashAlgorithm::Sha2_512)
        );
        value["messageSignature"]["messageDigest"]["algorithm"] = json!("SHAKE_256");
        let unknown = digest(parse(&value).unwrap()).unwrap();
        assert_eq!(unknown, HashAlgorithm::Unknown("SHAKE_256".into()));
        assert_eq!(unknown.name(), "SHAKE_256");
        assert_eq!(HashAlgorithm::from_number(99).name(), "99");
        assert_eq!(HashAlgorithm::Sha3_384.name(), "SHA3_384");
        remove(&mut value["messageSignature"]["messageDigest"], "algorithm");
        assert_eq!(
            digest(parse(&value).unwrap()),
            Some(HashAlgorithm::Unspecified)
        );
        value["messageSignature"]["messageDigest"]["algorithm"] = json!(["SHA2_256"]);
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::WrongJsonType { .. }
        ));
    }

    #[test]
    fn a_dsse_envelope_has_exactly_one_signature() {
        let mut value = v03();
        remove(&mut value, "messageSignature");
        value["dsseEnvelope"] = json!({
            "payload": "e30=", "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": "MEUC", "keyid": "k1"}]
        });
        let BundleContent::DsseEnvelope(envelope) = parse(&value).unwrap().content else {
            panic!("expected a DSSE envelope");
        };
        assert_eq!(envelope.payload, b"{}");
        assert_eq!(envelope.payload_type, "application/vnd.in-toto+json");
        assert_eq!(envelope.signature.sig, [0x30, 0x45, 0x02]);
        assert_eq!(envelope.signature.keyid, "k1");
        for signatures in [json!([]), json!([{"sig": "MEUC"}, {"sig": "MEQC"}])] {
            value["dsseEnvelope"]["signatures"] = signatures;
            assert!(matches!(
                parse(&value).unwrap_err(),
                AttestationError::InvalidField { path, .. } if path == "dsseEnvelope.signatures"
            ));
        }
        value["dsseEnvelope"]["signatures"] = json!([{"sig": "MEUC"}]);
        value["dsseEnvelope"]["payloadType"] = json!("");
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::MissingField { path, .. } if path == "dsseEnvelope.payloadType"
        ));
    }

    #[test]
    fn malformed_json_is_refused() {
        let text = v03().to_string();
        for bad in [
            &text[..text.len() / 2],
            "[]",
            "\"a\"",
            "",
            &format!("{text} {{}}"),
        ] {
            assert!(
                matches!(
                    Bundle::from_json(bad.as_bytes()).unwrap_err(),
                    AttestationError::MalformedJson {
                        document: Document::Bundle,
                        ..
                    }
                ),
                "{bad}"
            );
        }
        let mut value = v03();
        value["verificationMaterial"]["tlogEntries"] = json!({"0": {}});
        assert!(matches!(
            parse(&value).unwrap_err(),
            AttestationError::WrongJsonType { path, expected: "an array", .. }
                if path == "verificationMaterial.tlogEntries"
        ));
    }

    #[test]
    fn key_signed_bundles_round_trip_and_name_the_key_by_its_hint() {
        use vouch_keys::{KeyType, PrivateKey};
        let key = PrivateKey::generate(KeyType::EcdsaP384).unwrap();
        let digest = Digest::compute(DigestAlgorithm::Sha384, b"artifact");
        let message = Bundle::key_signed_message(key.public_key(), &digest, b"sig".to_vec());
        assert_eq!(Bundle::from_json(&message.to_json()).unwrap(), message);
        let BundleContent::MessageSignature(signed) = &message.content else {
            panic!("a message signature");
        };
        let hash = signed.message_digest.as_ref().unwrap();
        assert_eq!(
            (&hash.algorithm, hash.digest.as_slice()),
            (&HashAlgorithm::Sha2_384, digest.to_bytes().as_slice())
        );
        let hint = base64::engine::general_purpose::STANDARD
            .encode(Digest::sha256(key.public_key().spki_der()).to_bytes());
        assert_eq!(
            message.material.signer,
            SignerMaterial::PublicKey { hint: hint.clone() }
        );

        let dsse = Bundle::key_signed_dsse(
            key.public_key(),
            "application/vnd.in-toto+json",
            b"{}".to_vec(),
            b"sig".to_vec(),
        );
        assert_eq!(Bundle::from_json(&dsse.to_json()).unwrap(), dsse);
        assert_eq!(dsse.media_type, MEDIA_TYPE_V0_3);
        assert_eq!(dsse.material.signer, SignerMaterial::PublicKey { hint });
    }
}
