//! The one error type of this crate: every reason a Sigstore bundle, its trust material or one
//! of its proofs is refused, each check its own variant, each message naming what failed.

use std::fmt;

use crate::bundle::BundleVersion;
use crate::time::TimeError;
use crate::trust_root::LogKind;

/// Why verification refused something. Variants are grouped by the check that failed; the
/// message names the check and the values that disagreed, never secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A time field could not be read.
    #[error(transparent)]
    Time(#[from] TimeError),

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
        reason: TimeError,
    },
    /// A bundle breaks a rule of its own version (sigstore_bundle.proto, sigstore_rekor.proto).
    #[error("bundle v{version}: {path} {rule}")]
    BundleVersionRule {
        /// The bundle's version, from its media type.
        version: BundleVersion,
        /// The JSON path of the offending (or missing) field.
        path: String,
        /// The rule, as a predicate on the field ("is required in v0.1 bundles").
        rule: &'static str,
    },
    /// A trusted-root entry has no validity period, or one without a start. Such an entry is
    /// never trusted: a missing start is not read as "valid since forever".
    #[error("trusted root: {path} is missing; an entry without a validity start is not trusted")]
    TrustedValidityMissing {
        /// The JSON path of the missing `validFor` or `validFor.start`.
        path: String,
    },
    /// The trusted root lists no log with this log id.
    #[error("the trusted root has no {kind} with log id {log_id}")]
    UnknownLog {
        /// Which list was searched.
        kind: LogKind,
        /// The log id looked up, base64.
        log_id: String,
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

impl fmt::Display for Document {
    /// `bundle` or `trusted root`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Document::Bundle => "bundle",
            Document::TrustedRoot => "trusted root",
        })
    }
}
