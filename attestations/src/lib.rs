//! The formats of signed evidence about images: what gets signed, byte for byte.
//!
//! * [`simple_signing`]: cosign's "simple signing" payload, the document a cosign image
//!   signature covers.
//! * [`dsse`]: DSSE v1 envelopes (the signature wrapper of cosign attestations and Sigstore
//!   bundles): the pre-authentication encoding ([`dsse::pae`]), strict JSON reading, cosign's
//!   serialization, signing and verifying with [`vouch_keys`] keys.
//! * [`intoto`]: in-toto Statements v1 and v0.1 (the payload of an attestation envelope):
//!   strict reading and matching subjects against a [`vouch_keys::Digest`].
//! * [`slsa`]: SLSA provenance v1 and v0.2 as typed models that round-trip real provenance
//!   exactly, and provenance built from a CI environment (GitHub Actions, GitLab CI) or from
//!   facts given by hand.
//! * [`cosign`]: cosign's tag-layout attachments as data: layer media types, annotations and
//!   [`cosign::SignatureLayer`], a layer as read from a store.
//! * [`slsa`]: SLSA build provenance v1 and v0.2 as typed, lossless models (builder id,
//!   source repository and commit for a verifier or a policy), and provenance v1 statements
//!   built from a GitHub Actions or GitLab CI environment, or from facts given by hand.
//!
//! Pure data in, data out: nothing here touches the network or the filesystem, and parsing is
//! strict where the specification says consumers must be. The DSSE and in-toto readers refuse
//! a document in which any object repeats a key, so that no two parsers can disagree on which
//! value was signed.
//!
//! ```
//! use std::collections::BTreeMap;
//! use vouch_attestations::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
//! use vouch_attestations::intoto::{ResourceDescriptor, Statement};
//! use vouch_attestations::simple_signing::SimpleSigning;
//! use vouch_keys::{Digest, KeyType, PrivateKey};
//!
//! let digest = Digest::sha256(b"an image manifest");
//! let annotations = BTreeMap::from([("env".to_string(), "prod".to_string())]);
//! let payload = SimpleSigning::new("registry.example/app", digest.clone(), &annotations);
//!
//! let parsed = SimpleSigning::from_slice(&payload.to_vec()).unwrap();
//! assert_eq!(parsed.digest(), &digest);
//! assert_eq!(parsed.annotation("env"), Some(&serde_json::json!("prod")));
//!
//! // An attestation: an in-toto statement about the same image, in a signed DSSE envelope.
//! let statement = Statement::new(
//!     vec![ResourceDescriptor::for_digest("registry.example/app", &digest)],
//!     "https://example.com/TestResult/v1",
//!     Some(serde_json::json!({"passed": true})),
//! )
//! .unwrap();
//! let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
//! let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, statement.to_vec(), &key, "").unwrap();
//!
//! let received = Envelope::from_slice(&envelope.to_vec()).unwrap();
//! assert_eq!(received.verify(key.public_key()), Ok(0));
//! let attested = Statement::from_envelope(&received).unwrap();
//! assert!(attested.matches_digest(&digest));
//! ```

pub mod bundle;
pub mod cosign;
pub mod dsse;
pub mod intoto;
pub mod protojson;
pub mod rekor;
pub mod simple_signing;
pub mod slsa;

use vouch_keys::KeyType;

/// Why a document could not be read, signed or verified. Each variant names one problem;
/// messages carry no key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The bytes are not a valid document of the format: not JSON, a repeated key, a missing
    /// or mistyped field, bad base64.
    #[error("malformed {format}: {reason}")]
    Malformed {
        /// Which format was expected.
        format: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The document is larger than the caller's limit; it was not parsed.
    #[error("{format} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Which format was being read.
        format: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A DSSE envelope with an empty `signatures` list was asked to verify.
    #[error("DSSE envelope has no signatures")]
    NoSignatures,
    /// None of a DSSE envelope's signatures verifies over the PAE with the given key.
    #[error(
        "none of the DSSE envelope's {signatures} signature(s) verifies with the {key_type} key"
    )]
    NoValidSignature {
        /// How many signatures the envelope carries.
        signatures: usize,
        /// The type of the key that was tried.
        key_type: KeyType,
    },
    /// The private key could not sign.
    #[error("signing the DSSE envelope failed: {reason}")]
    Signing {
        /// The key library's reason.
        reason: String,
    },
    /// A DSSE envelope's `payloadType` is not the one the caller reads.
    #[error("DSSE payloadType is \"{found}\", expected \"{expected}\"")]
    PayloadType {
        /// The payload type required.
        expected: &'static str,
        /// The payload type found (truncated to 100 characters).
        found: String,
    },
    /// An in-toto statement's `_type` is neither Statement v1 nor v0.1.
    #[error(
        "in-toto statement _type is \"{found}\", expected \"https://in-toto.io/Statement/v1\" or \"https://in-toto.io/Statement/v0.1\""
    )]
    StatementType {
        /// The `_type` found (truncated to 100 characters).
        found: String,
    },
    /// An in-toto statement's `subject` list is empty.
    #[error("in-toto statement has no subject")]
    NoSubject,
    /// An in-toto statement's subject has no digest (statements require one per subject).
    #[error("in-toto statement subject {index} has no digest")]
    SubjectWithoutDigest {
        /// Position of the subject in the list, from 0.
        index: usize,
    },
    /// An in-toto statement's subject is not a valid resource descriptor.
    #[error("in-toto statement subject {index}: {error}")]
    Subject {
        /// Position of the subject in the list, from 0.
        index: usize,
        /// What is wrong with it.
        error: Box<AttestationError>,
    },
    /// An in-toto statement's `predicateType` is empty.
    #[error("in-toto statement predicateType is empty")]
    NoPredicateType,
    /// A resource descriptor sets none of `uri`, `digest` and `content`.
    #[error("resource descriptor has none of uri, digest and content")]
    EmptyResourceDescriptor,
    /// A statement's `predicateType` is not a SLSA provenance version vouch models (v1 and
    /// v0.2; v0.1 and the `?draft` forms are not).
    #[error(
        "predicateType is \"{found}\", expected \"https://slsa.dev/provenance/v1\" or \"https://slsa.dev/provenance/v0.2\""
    )]
    NotProvenance {
        /// The `predicateType` found (truncated to 100 characters).
        found: String,
    },
    /// A fact a provenance builder needs is not set: a CI variable that is unset or empty,
    /// or an empty field of a generic build description.
    #[error("{name} is not set")]
    MissingBuildFact {
        /// The variable (`GITHUB_SHA`) or field (`builder_id`).
        name: &'static str,
    },
    /// Several CI variables a provenance builder needs are unset or empty: all of them, so that
    /// one run names everything to fix.
    #[error("{} are not set", .names.join(", "))]
    MissingBuildFacts {
        /// The variables, in the order the builder reads them.
        names: Vec<&'static str>,
    },
    /// A fact a provenance builder needs has a value it refuses.
    #[error("{name} is \"{value}\": {reason}")]
    InvalidBuildFact {
        /// The variable (`GITHUB_SHA`) or field (`source_digest`).
        name: &'static str,
        /// The value found (truncated to 100 characters).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Provenance was asked of the CI environment, and the environment is not one vouch
    /// recognizes.
    #[error(
        "no supported CI environment: neither GITHUB_ACTIONS nor GITLAB_CI is \"true\"; describe the build with the generic provenance facts (builder id, source URI and digest)"
    )]
    NoCiDetected,
    /// A digest set value is not what its (known) algorithm produces.
    #[error("digest {algorithm} \"{value}\": {reason}")]
    InvalidDigest {
        /// The algorithm name (the digest set key).
        algorithm: String,
        /// The value found (truncated to 140 characters).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    // Reading Sigstore JSON documents (bundles and trusted roots). Every `path` is the JSON
    // path of the field in camelCase, e.g. `verificationMaterial.tlogEntries[0].logIndex`.
    /// The document is not well-formed JSON (syntax, trailing data, nesting depth), or its top
    /// level is not an object.
    #[error("{document} is not well-formed JSON: {reason}")]
    MalformedJson {
        /// Which document.
        document: Document,
        /// The JSON parser's message, with line and column.
        reason: String,
    },
    /// The document's `mediaType` is not one this crate reads.
    #[error("unsupported {document} media type {media_type:?}")]
    UnsupportedMediaType {
        /// Which document.
        document: Document,
        /// The media type found.
        media_type: String,
    },
    /// A required field is absent, `null`, or empty (protobuf cannot tell these apart).
    #[error("{document}: {path} is missing")]
    MissingField {
        /// Which document.
        document: Document,
        /// The field's JSON path.
        path: String,
    },
    /// A field appears more than once: a repeated key, or both its camelCase and its
    /// snake_case name.
    #[error(
        "{document}: {path} is given more than once (a repeated key, or both camelCase and snake_case names)"
    )]
    DuplicateField {
        /// Which document.
        document: Document,
        /// The field's JSON path.
        path: String,
    },
    /// A field holds the wrong kind of JSON value.
    #[error("{document}: {path} must be {expected}")]
    WrongJsonType {
        /// Which document.
        document: Document,
        /// The field's JSON path.
        path: String,
        /// What the protobuf JSON mapping requires there.
        expected: &'static str,
    },
    /// A `bytes` field is not base64 (standard or URL-safe alphabet, padded or not, line breaks
    /// allowed).
    #[error("{document}: {path} is not valid base64")]
    InvalidBase64 {
        /// Which document.
        document: Document,
        /// The field's JSON path.
        path: String,
    },
    /// An `int64` field is neither a decimal string nor an integral number within range.
    #[error("{document}: {path} is not an int64: {value}")]
    InvalidInt64 {
        /// Which document.
        document: Document,
        /// The field's JSON path.
        path: String,
        /// The value found, as JSON text (truncated to 64 characters).
        value: String,
    },
    /// A field is well-formed but its value is not allowed (a negative count, an empty list
    /// that must hold an element, ...).
    #[error("{document}: {path} {reason}")]
    InvalidField {
        /// Which document.
        document: Document,
        /// The field's JSON path.
        path: String,
        /// What is wrong, as a predicate on the field ("must not be negative").
        reason: &'static str,
    },
    /// Two members of a protobuf `oneof` are set.
    #[error(
        "{document}: {path} sets both {first} and {second}; exactly one of {choices} is allowed"
    )]
    OneofConflict {
        /// Which document.
        document: Document,
        /// The JSON path of the message holding the `oneof` (empty for the top level).
        path: String,
        /// The first member found.
        first: &'static str,
        /// The second member found.
        second: &'static str,
        /// All members of the `oneof`.
        choices: &'static str,
    },
    /// No member of a required protobuf `oneof` is set.
    #[error("{document}: {path} must set exactly one of {choices}; none is set")]
    OneofMissing {
        /// Which document.
        document: Document,
        /// The JSON path of the message holding the `oneof` (empty for the top level).
        path: String,
        /// All members of the `oneof`.
        choices: &'static str,
    },
    /// A timestamp field is not an RFC 3339 date-time.
    #[error("{document}: {path}: {reason}")]
    InvalidTimestamp {
        /// Which document.
        document: Document,
        /// The field's JSON path.
        path: String,
        /// Why the text is not a time.
        reason: vouch_keys::time::TimeError,
    },
    /// A bundle breaks a rule of its own version (sigstore_bundle.proto, sigstore_rekor.proto).
    #[error("bundle v{version}: {path} {rule}")]
    BundleVersionRule {
        /// The bundle's version, from its media type.
        version: bundle::BundleVersion,
        /// The JSON path of the offending (or missing) field.
        path: String,
        /// The rule, as a predicate on the field ("is required in v0.1 bundles").
        rule: &'static str,
    },
}

/// Which Sigstore JSON document a parse error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Document {
    /// A Sigstore bundle (`application/vnd.dev.sigstore.bundle...`).
    Bundle,
    /// A trusted root (`application/vnd.dev.sigstore.trustedroot...`).
    TrustedRoot,
}

impl std::fmt::Display for Document {
    /// `bundle` or `trusted root`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Document::Bundle => "bundle",
            Document::TrustedRoot => "trusted root",
        })
    }
}

/// `text` cut to at most `max` characters, for error messages about untrusted input.
fn truncated(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Strict JSON reading shared by the formats: any object that repeats a key is refused.
mod strict_json {
    use std::fmt;

    use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};

    /// A JSON value read with no repeated key in any object, at any depth.
    pub(crate) struct UniqueKeys(pub(crate) Value);

    impl<'de> Deserialize<'de> for UniqueKeys {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer
                .deserialize_any(UniqueKeysVisitor)
                .map(UniqueKeys)
        }
    }

    struct UniqueKeysVisitor;

    impl<'de> Visitor<'de> for UniqueKeysVisitor {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }

        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }

        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }

        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
            serde_json::Number::from_f64(v)
                .map(Value::Number)
                .ok_or_else(|| E::custom("non-finite number"))
        }

        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }

        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }

        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
            UniqueKeys::deserialize(deserializer).map(|v| v.0)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(UniqueKeys(item)) = seq.next_element()? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if object.contains_key(&key) {
                    return Err(de::Error::custom(format_args!(
                        "duplicate key \"{}\"",
                        super::truncated(&key, 100)
                    )));
                }
                let UniqueKeys(value) = map.next_value()?;
                object.insert(key, value);
            }
            Ok(Value::Object(object))
        }
    }

    /// Reads `bytes` as one JSON document with no repeated key in any object (serde_json's
    /// own syntax checks and nesting limit apply). The error is serde_json's message, with
    /// line and column.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Value, String> {
        serde_json::from_slice::<UniqueKeys>(bytes)
            .map(|UniqueKeys(value)| value)
            .map_err(|e| e.to_string())
    }

    /// How a JSON value is named in messages.
    pub(crate) fn kind(value: &Value) -> &'static str {
        match value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// A JSON object being read field by field, with the path of the object for messages
    /// (`subject[0].digest`; empty for the document itself). Fields not asked for are
    /// ignored, as DSSE and in-toto require of consumers. A field set to `null` reads as
    /// absent, as in the protobuf JSON mapping both formats are defined by.
    pub(crate) struct Object<'a> {
        fields: &'a Map<String, Value>,
        path: String,
    }

    impl<'a> Object<'a> {
        /// `value` as an object, or why it is not one.
        pub(crate) fn new(value: &'a Value, path: impl Into<String>) -> Result<Self, String> {
            let path = path.into();
            match value {
                Value::Object(fields) => Ok(Self { fields, path }),
                other => Err(format!(
                    "{} is {}, expected an object",
                    if path.is_empty() {
                        "the document"
                    } else {
                        &path
                    },
                    kind(other)
                )),
            }
        }

        /// The path of field `key`, for messages.
        pub(crate) fn path_of(&self, key: &str) -> String {
            if self.path.is_empty() {
                key.to_owned()
            } else {
                format!("{}.{key}", self.path)
            }
        }

        /// The fields of the object, in the map's order.
        pub(crate) fn fields(&self) -> &'a Map<String, Value> {
            self.fields
        }

        /// The value of `key`, `None` when absent or `null`.
        pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
            self.fields.get(key).filter(|value| !value.is_null())
        }

        /// The value of `key`, which must be present and not `null`.
        pub(crate) fn required(&self, key: &str) -> Result<&'a Value, String> {
            match self.fields.get(key) {
                None => Err(format!("missing field {}", self.path_of(key))),
                Some(Value::Null) => Err(format!("{} is null", self.path_of(key))),
                Some(value) => Ok(value),
            }
        }

        fn expect_string(&self, key: &str, value: &'a Value) -> Result<&'a str, String> {
            match value {
                Value::String(text) => Ok(text),
                other => Err(format!(
                    "{} is {}, expected a string",
                    self.path_of(key),
                    kind(other)
                )),
            }
        }

        /// The string at `key`, `None` when absent or `null`.
        pub(crate) fn string(&self, key: &str) -> Result<Option<&'a str>, String> {
            self.get(key)
                .map(|value| self.expect_string(key, value))
                .transpose()
        }

        /// The string at `key`, which must be present.
        pub(crate) fn required_string(&self, key: &str) -> Result<&'a str, String> {
            self.expect_string(key, self.required(key)?)
        }

        /// The array at `key`, which must be present.
        pub(crate) fn required_array(&self, key: &str) -> Result<&'a [Value], String> {
            match self.required(key)? {
                Value::Array(items) => Ok(items),
                other => Err(format!(
                    "{} is {}, expected an array",
                    self.path_of(key),
                    kind(other)
                )),
            }
        }

        /// The object at `key`, `None` when absent or `null`.
        pub(crate) fn object(&self, key: &str) -> Result<Option<Object<'a>>, String> {
            self.get(key)
                .map(|value| Object::new(value, self.path_of(key)))
                .transpose()
        }
    }
}
