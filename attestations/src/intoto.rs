//! in-toto Statements, the payload of an attestation: which artifacts (subjects, named by
//! digest) a typed predicate is about.
//!
//! Spec: github.com/in-toto/attestation, `spec/v1/statement.md` (v1.1),
//! `resource_descriptor.md`, `digest_set.md`, `field_types.md`; Statement v0.1 has the same
//! shape under `_type` `https://in-toto.io/Statement/v0.1` (cosign still writes it).
//!
//! ```json
//! {"_type":"https://in-toto.io/Statement/v1",
//!  "subject":[{"name":"app","digest":{"sha256":"…"}}],
//!  "predicateType":"https://slsa.dev/provenance/v1",
//!  "predicate":{…}}
//! ```
//!
//! Reading is strict where it decides what the attestation is about, and lenient where the
//! spec requires consumers to be:
//!
//! * refused: a repeated key in any object at any depth; a document over the size limit
//!   ([`DEFAULT_MAX_STATEMENT_SIZE`] unless the caller gives another); a `_type` other than
//!   Statement v1 or v0.1; an empty or absent subject list; a subject without digest; a digest
//!   of a standard algorithm that is not lowercase hex of that algorithm's length; an empty
//!   `predicateType`; fields of the wrong JSON type.
//! * accepted: unknown fields (ignored, as the spec's parsing rules require); digests of
//!   algorithms the spec does not define (kept, never matched against a [`Digest`]); a
//!   `predicateType` that is not a URI (cosign wrote `cosign.sigstore.dev/attestation/v1`);
//!   any JSON value as `predicate`, or none (`statement.md`: optional, "unset is treated the
//!   same as set-but-empty"). A field set to `null` reads as unset, as in the protobuf JSON
//!   mapping that defines the format.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::Value;
use vouch_keys::Digest;

use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::strict_json::{self, Object, kind};
use crate::{AttestationError, truncated};

/// The `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// The `_type` of an in-toto Statement v0.1 (the version cosign writes).
pub const STATEMENT_V0_1: &str = "https://in-toto.io/Statement/v0.1";

/// The predicate type of an image signature in Sigstore bundle format, as cosign v3 writes
/// it: a statement whose subject is the image manifest digest, and whose predicate holds the
/// signer's `-a` annotations. Any other predicate type makes the statement an attestation.
pub const COSIGN_SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";

/// cosign's `--type` shorthands and the predicate type URIs they stand for (cosign's
/// `options/predicate.go`); policy-controller's `predicateType` takes them too.
pub const PREDICATE_TYPE_SHORTHANDS: [(&str, &str); 9] = [
    ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
    ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
    ("cyclonedx", "https://cyclonedx.org/bom"),
    ("spdxjson", "https://spdx.dev/Document"),
    ("spdx", "https://spdx.dev/Document"),
    ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
    ("openvex", "https://openvex.dev/ns"),
    ("link", "https://in-toto.io/Link/v1"),
];

/// The predicate type URI `name` stands for: a shorthand of [`PREDICATE_TYPE_SHORTHANDS`] or
/// `custom` (cosign's generic type), else `name` itself when it is a URI; `None` otherwise.
pub fn predicate_type_uri(name: &str) -> Option<String> {
    if name == "custom" {
        return Some("https://cosign.sigstore.dev/attestation/v1".to_owned());
    }
    if let Some((_, uri)) = PREDICATE_TYPE_SHORTHANDS
        .iter()
        .find(|(short, _)| *short == name)
    {
        return Some((*uri).to_owned());
    }
    name.contains("://").then(|| name.to_owned())
}

/// The largest statement [`Statement::from_slice`] reads: 16 MiB. Predicates larger than this
/// (an SBOM, say) are refused before any parsing.
pub const DEFAULT_MAX_STATEMENT_SIZE: usize = 16 * 1024 * 1024;

const FORMAT: &str = "in-toto statement";
const PREDICATE_FORMAT: &str = "predicate";

/// Reads a predicate document (the JSON a user attests) as strictly as a statement: at most
/// [`DEFAULT_MAX_STATEMENT_SIZE`] bytes (checked before parsing), one JSON value, and no
/// object that repeats a key. The error names which rule the bytes broke.
pub fn read_predicate(bytes: &[u8]) -> Result<Value, AttestationError> {
    if bytes.len() > DEFAULT_MAX_STATEMENT_SIZE {
        return Err(AttestationError::TooLarge {
            format: PREDICATE_FORMAT,
            size: bytes.len(),
            limit: DEFAULT_MAX_STATEMENT_SIZE,
        });
    }
    strict_json::parse(bytes).map_err(|reason| AttestationError::Malformed {
        format: PREDICATE_FORMAT,
        reason,
    })
}
const DESCRIPTOR_FORMAT: &str = "resource descriptor";

/// Which version of the Statement layer a document declares in `_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatementVersion {
    /// `https://in-toto.io/Statement/v1`.
    V1,
    /// `https://in-toto.io/Statement/v0.1`.
    V0_1,
}

impl StatementVersion {
    /// The `_type` URI of this version.
    pub fn type_uri(self) -> &'static str {
        match self {
            StatementVersion::V1 => STATEMENT_V1,
            StatementVersion::V0_1 => STATEMENT_V0_1,
        }
    }
}

/// A validated in-toto Statement: a known `_type`, at least one subject, every subject with a
/// non-empty, well-formed digest set, and a non-empty `predicateType`.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    version: StatementVersion,
    subject: Vec<ResourceDescriptor>,
    predicate_type: String,
    predicate: Option<Value>,
}

impl Statement {
    /// A Statement v1 about `subject`, validated as a parsed one is: fails on an empty subject
    /// list, a subject without digest, an invalid digest, or an empty `predicate_type`.
    pub fn new(
        subject: Vec<ResourceDescriptor>,
        predicate_type: impl Into<String>,
        predicate: Option<Value>,
    ) -> Result<Self, AttestationError> {
        let statement = Self {
            version: StatementVersion::V1,
            subject,
            predicate_type: predicate_type.into(),
            predicate: predicate.filter(|p| !p.is_null()),
        };
        statement.validate()?;
        Ok(statement)
    }

    /// Reads a statement of at most [`DEFAULT_MAX_STATEMENT_SIZE`] bytes, with the rules in
    /// the [module documentation](self).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, AttestationError> {
        Self::from_slice_with_limit(bytes, DEFAULT_MAX_STATEMENT_SIZE)
    }

    /// Reads a statement of at most `max_size` bytes: a larger one fails with
    /// [`AttestationError::TooLarge`] before any parsing. Otherwise as
    /// [`Statement::from_slice`].
    pub fn from_slice_with_limit(bytes: &[u8], max_size: usize) -> Result<Self, AttestationError> {
        if bytes.len() > max_size {
            return Err(AttestationError::TooLarge {
                format: FORMAT,
                size: bytes.len(),
                limit: max_size,
            });
        }
        let malformed = |reason| AttestationError::Malformed {
            format: FORMAT,
            reason,
        };
        let value = strict_json::parse(bytes).map_err(malformed)?;
        let document = Object::new(&value, "").map_err(malformed)?;

        let type_uri = document.string("_type").map_err(malformed)?;
        let version = match type_uri {
            Some(STATEMENT_V1) => StatementVersion::V1,
            Some(STATEMENT_V0_1) => StatementVersion::V0_1,
            other => {
                return Err(AttestationError::StatementType {
                    found: truncated(other.unwrap_or_default(), 100),
                });
            }
        };

        let subject = match document.get("subject") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    Object::new(item, format!("subject[{index}]"))
                        .and_then(|object| ResourceDescriptor::read_fields(&object))
                        .map_err(malformed)
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => {
                return Err(malformed(format!(
                    "subject is {}, expected an array",
                    kind(other)
                )));
            }
        };

        let predicate_type = document
            .string("predicateType")
            .map_err(malformed)?
            .unwrap_or_default()
            .to_owned();
        let predicate = document.get("predicate").cloned();

        let statement = Self {
            version,
            subject,
            predicate_type,
            predicate,
        };
        statement.validate()?;
        Ok(statement)
    }

    /// Reads the statement in an envelope's payload (at most [`DEFAULT_MAX_STATEMENT_SIZE`]
    /// bytes), after checking that `payloadType` is [`IN_TOTO_PAYLOAD_TYPE`]. This does not
    /// check signatures: call [`Envelope::verify`] first.
    pub fn from_envelope(envelope: &Envelope) -> Result<Self, AttestationError> {
        if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(AttestationError::PayloadType {
                expected: IN_TOTO_PAYLOAD_TYPE,
                found: truncated(&envelope.payload_type, 100),
            });
        }
        Self::from_slice(&envelope.payload)
    }

    fn validate(&self) -> Result<(), AttestationError> {
        if self.subject.is_empty() {
            return Err(AttestationError::NoSubject);
        }
        for (index, subject) in self.subject.iter().enumerate() {
            if subject.digest.is_empty() {
                return Err(AttestationError::SubjectWithoutDigest { index });
            }
            subject
                .validate()
                .map_err(|error| AttestationError::Subject {
                    index,
                    error: Box::new(error),
                })?;
        }
        if self.predicate_type.is_empty() {
            return Err(AttestationError::NoPredicateType);
        }
        Ok(())
    }

    /// The statement as compact JSON: `_type`, `subject`, `predicateType`, then `predicate`
    /// when set; unset resource descriptor fields are left out.
    pub fn to_vec(&self) -> Vec<u8> {
        // Serializing strings, maps and JSON values into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The version `_type` declares.
    pub fn version(&self) -> StatementVersion {
        self.version
    }

    /// The subjects, in document order; never empty, each with a digest.
    pub fn subjects(&self) -> &[ResourceDescriptor] {
        &self.subject
    }

    /// The names of the subjects that have one, in document order.
    pub fn subject_names(&self) -> impl Iterator<Item = &str> {
        self.subject.iter().filter_map(ResourceDescriptor::name)
    }

    /// True when some subject's digest set holds `digest`'s algorithm with exactly its value.
    /// Only the algorithm of `digest` is compared: a subject known by other algorithms only
    /// does not match.
    pub fn matches_digest(&self, digest: &Digest) -> bool {
        self.subject.iter().any(|s| s.matches_digest(digest))
    }

    /// The `predicateType`; never empty.
    pub fn predicate_type(&self) -> &str {
        &self.predicate_type
    }

    /// The `predicate`, `None` when unset or `null`.
    pub fn predicate(&self) -> Option<&Value> {
        self.predicate.as_ref()
    }
}

impl Serialize for Statement {
    /// Writes the form described at [`Statement::to_vec`].
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = if self.predicate.is_some() { 4 } else { 3 };
        let mut statement = serializer.serialize_struct("Statement", fields)?;
        statement.serialize_field("_type", self.version.type_uri())?;
        statement.serialize_field("subject", &self.subject)?;
        statement.serialize_field("predicateType", &self.predicate_type)?;
        if let Some(predicate) = &self.predicate {
            statement.serialize_field("predicate", predicate)?;
        }
        statement.end()
    }
}

/// A ResourceDescriptor (`resource_descriptor.md`): a description of an artifact by name,
/// URI, digests and more. A value of this type sets at least one of `uri`, `digest` and
/// `content`, and every digest of a standard algorithm is lowercase hex of the right length.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    digest: BTreeMap<String, String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "content_as_base64"
    )]
    content: Option<Vec<u8>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    download_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, Value>,
}

fn content_as_base64<S: serde::Serializer>(
    content: &Option<Vec<u8>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match content {
        Some(bytes) => serializer.serialize_str(&STANDARD.encode(bytes)),
        None => serializer.serialize_none(),
    }
}

/// How a standard digest algorithm's value must look (`digest_set.md`).
enum HexLength {
    /// Exactly one of these numbers of hex digits.
    OneOf(&'static [usize]),
    /// Any non-zero even number of hex digits (variable-length algorithms).
    Any,
}

/// The rule for a digest algorithm the spec defines; `None` for others, which are free-form.
fn standard_algorithm(algorithm: &str) -> Option<HexLength> {
    Some(match algorithm {
        "md5" => HexLength::OneOf(&[32]),
        "sha1" | "ripemd160" => HexLength::OneOf(&[40]),
        "sha224" | "sha512_224" | "sha3_224" => HexLength::OneOf(&[56]),
        "sha256" | "sha512_256" | "sha3_256" | "sm3" | "dirHash" => HexLength::OneOf(&[64]),
        "sha384" | "sha3_384" => HexLength::OneOf(&[96]),
        "sha512" | "sha3_512" => HexLength::OneOf(&[128]),
        // Git object ids: SHA-1 or SHA-256 repositories.
        "gitCommit" | "gitTree" | "gitBlob" | "gitTag" => HexLength::OneOf(&[40, 64]),
        "shake128" | "shake256" | "blake2b" | "blake2s" | "gost" => HexLength::Any,
        _ => return None,
    })
}

/// Checks one digest set entry against the spec's rule for its algorithm.
pub(crate) fn check_digest(algorithm: &str, value: &str) -> Result<(), AttestationError> {
    let Some(rule) = standard_algorithm(algorithm) else {
        return Ok(());
    };
    let invalid = |reason: String| AttestationError::InvalidDigest {
        algorithm: algorithm.to_owned(),
        value: truncated(value, 140),
        reason,
    };
    if !value
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(invalid("not lowercase hex".into()));
    }
    let digits = value.len();
    match rule {
        HexLength::OneOf(lengths) if !lengths.contains(&digits) => {
            let expected = lengths
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" or ");
            Err(invalid(format!(
                "{digits} hex digits, {algorithm} has {expected}"
            )))
        }
        HexLength::Any if digits == 0 || !digits.is_multiple_of(2) => Err(invalid(format!(
            "{digits} hex digits, expected a non-zero even number"
        ))),
        _ => Ok(()),
    }
}

/// A descriptor's `content`, which protobuf JSON writes as base64 in the standard or the
/// URL-safe alphabet, with or without padding.
pub(crate) fn decode_content(encoded: &str) -> Option<Vec<u8>> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(encoded).ok())
}

impl ResourceDescriptor {
    /// A descriptor naming an artifact by `name` (left unset when empty) and `digest`.
    pub fn for_digest(name: impl Into<String>, digest: &Digest) -> Self {
        let name = name.into();
        Self {
            name: (!name.is_empty()).then_some(name),
            uri: None,
            digest: BTreeMap::from([(
                digest.algorithm().name().to_owned(),
                digest.hex().to_owned(),
            )]),
            content: None,
            download_location: None,
            media_type: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Reads a standalone descriptor (as predicates embed them). Refuses: a repeated key, a
    /// field of the wrong JSON type, `content` that is not base64, none of `uri`, `digest`,
    /// `content` set, a bad digest of a standard algorithm. Unknown fields are ignored. The
    /// caller bounds the input size.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, AttestationError> {
        let malformed = |reason| AttestationError::Malformed {
            format: DESCRIPTOR_FORMAT,
            reason,
        };
        let value = strict_json::parse(bytes).map_err(malformed)?;
        let descriptor = Object::new(&value, "")
            .and_then(|object| Self::read_fields(&object))
            .map_err(malformed)?;
        descriptor.validate()?;
        Ok(descriptor)
    }

    /// Reads the fields' JSON types; [`ResourceDescriptor::validate`] judges their values.
    fn read_fields(object: &Object<'_>) -> Result<Self, String> {
        let text = |key: &str| -> Result<Option<String>, String> {
            Ok(object
                .string(key)?
                .filter(|s| !s.is_empty())
                .map(str::to_owned))
        };
        let mut digest = BTreeMap::new();
        if let Some(set) = object.object("digest")? {
            for (algorithm, value) in set.fields() {
                let Value::String(value) = value else {
                    return Err(format!(
                        "{} is {}, expected a string",
                        set.path_of(algorithm),
                        kind(value)
                    ));
                };
                digest.insert(algorithm.clone(), value.clone());
            }
        }
        let content = match object.string("content")? {
            None | Some("") => None,
            Some(encoded) => Some(
                decode_content(encoded)
                    .ok_or_else(|| format!("{} is not base64", object.path_of("content")))?,
            ),
        };
        let annotations = object
            .object("annotations")?
            .map(|a| a.fields().clone().into_iter().collect())
            .unwrap_or_default();
        Ok(Self {
            name: text("name")?,
            uri: text("uri")?,
            digest,
            content,
            download_location: text("downloadLocation")?,
            media_type: text("mediaType")?,
            annotations,
        })
    }

    fn validate(&self) -> Result<(), AttestationError> {
        if self.uri.is_none() && self.digest.is_empty() && self.content.is_none() {
            return Err(AttestationError::EmptyResourceDescriptor);
        }
        self.digest
            .iter()
            .try_for_each(|(algorithm, value)| check_digest(algorithm, value))
    }

    /// True when the digest set holds `digest`'s algorithm with exactly its value.
    pub fn matches_digest(&self, digest: &Digest) -> bool {
        self.digest
            .get(digest.algorithm().name())
            .map(String::as_str)
            == Some(digest.hex())
    }

    /// `name`, if set and not empty.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// `uri`, if set and not empty.
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
    }

    /// The digest set: algorithm name to value. Values of standard algorithms are validated
    /// lowercase hex; others are as the producer wrote them.
    pub fn digest(&self) -> &BTreeMap<String, String> {
        &self.digest
    }

    /// `content`, base64-decoded, if set and not empty.
    pub fn content(&self) -> Option<&[u8]> {
        self.content.as_deref()
    }

    /// `downloadLocation`, if set and not empty.
    pub fn download_location(&self) -> Option<&str> {
        self.download_location.as_deref()
    }

    /// `mediaType`, if set and not empty.
    pub fn media_type(&self) -> Option<&str> {
        self.media_type.as_deref()
    }

    /// `annotations` (empty when unset).
    pub fn annotations(&self) -> &BTreeMap<String, Value> {
        &self.annotations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement_with(subject: &str) -> String {
        format!(
            r#"{{"_type":"{STATEMENT_V1}","subject":[{subject}],"predicateType":"https://example.com/P/v1","predicate":{{}}}}"#
        )
    }

    #[test]
    fn digest_rules_follow_digest_set_md() {
        let hex64 = "a".repeat(64);
        for (algorithm, value, ok) in [
            ("sha256", hex64.as_str(), true),
            ("sha256", "A".repeat(64).as_str(), false),
            ("sha256", "abc123", false),
            ("sha256", "", false),
            ("sha512", hex64.as_str(), false),
            ("sha512", "b".repeat(128).as_str(), true),
            ("sha1", "c".repeat(40).as_str(), true),
            ("gitCommit", "d".repeat(40).as_str(), true),
            ("gitCommit", hex64.as_str(), true),
            ("gitCommit", "abc123", false),
            ("blake2b", "abcd", true),
            ("blake2b", "abc", false),
            ("custom", "not hex at all", true),
            ("999", "", true),
        ] {
            assert_eq!(check_digest(algorithm, value).is_ok(), ok, "{algorithm}");
        }
    }

    #[test]
    fn repeated_keys_are_refused_at_any_depth() {
        let digest = format!(r#""digest":{{"sha256":"{}"}}"#, "a".repeat(64));
        let good = statement_with(&format!("{{{digest}}}"));
        assert!(Statement::from_slice(good.as_bytes()).is_ok());
        for bad in [
            good.replace(r#""predicate":{}"#, r#""predicate":{"a":[{"b":1,"b":2}]}"#),
            good.replace(&digest, &format!("{digest},{digest}")),
            good.replacen("{", &format!(r#"{{"_type":"{STATEMENT_V0_1}","#), 1),
        ] {
            let error = Statement::from_slice(bad.as_bytes()).unwrap_err();
            assert!(
                error.to_string().contains("duplicate key"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn subject_shapes_are_checked() {
        for (subject, expected) in [
            ("null", "subject[0] is null, expected an object"),
            ("[]", "subject[0] is an array, expected an object"),
            (r#"{"digest":[]}"#, "subject[0].digest is an array"),
            (
                r#"{"digest":{"sha256":1}}"#,
                "subject[0].digest.sha256 is a number",
            ),
            (r#"{"name":7}"#, "subject[0].name is a number"),
        ] {
            let text = statement_with(subject);
            let error = Statement::from_slice(text.as_bytes()).unwrap_err();
            assert!(error.to_string().contains(expected), "{subject}: {error}");
        }
    }
}
