//! OCI image manifests, indexes and descriptors (OCI image-spec v1.1: `manifest.md`,
//! `image-index.md`, `descriptor.md`), with the Docker v2 schema 2 media types that the same
//! JSON shapes carry.
//!
//! Fields vouch does not interpret are kept (`extra`) so that a manifest read, changed and
//! written back loses nothing another tool put there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vouch_keys::Digest;

use crate::RegistryError;

/// Media type constants.
pub mod media_types {
    /// OCI image manifest (image-spec `manifest.md`).
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index (image-spec `image-index.md`).
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Docker image manifest v2 schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list.
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// OCI image configuration.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// The empty JSON object `{}` standing for content an artifact does not have (image-spec
    /// `manifest.md`, "Guidance for an Empty Descriptor").
    pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
    /// The manifest media types vouch asks registries for, most preferred first.
    pub const ACCEPTED_MANIFESTS: [&str; 4] = [
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
    ];
}

/// The annotation that names a manifest in an OCI layout's `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// A content descriptor: what a manifest or index points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes of the referenced content.
    pub size: u64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Platform, for entries of an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Fields not interpreted by vouch, kept as read.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Descriptor {
    /// A descriptor of `bytes` with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Self {
            media_type: media_type.to_owned(),
            digest: Digest::sha256(bytes),
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
            platform: None,
            extra: BTreeMap::new(),
        }
    }

    /// The descriptor's `artifactType` (image-spec `descriptor.md`), when it states one as a
    /// string.
    pub fn artifact_type(&self) -> Option<&str> {
        self.extra.get(ARTIFACT_TYPE_FIELD)?.as_str()
    }

    /// Sets the descriptor's `artifactType`, replacing any there.
    pub fn set_artifact_type(&mut self, artifact_type: &str) {
        self.extra.insert(
            ARTIFACT_TYPE_FIELD.to_owned(),
            serde_json::Value::String(artifact_type.to_owned()),
        );
    }
}

const ARTIFACT_TYPE_FIELD: &str = "artifactType";
const SUBJECT_FIELD: &str = "subject";

/// The platform an index entry is for (image-spec `image-index.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, ...).
    pub architecture: String,
    /// Operating system (`linux`, ...).
    pub os: String,
    /// CPU variant (`v8`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Fields not interpreted by vouch.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// An image manifest (OCI or Docker v2 schema 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's media type, when it states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The configuration blob.
    pub config: Descriptor,
    /// The layers, in order.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields not interpreted by vouch (`subject`, `artifactType`, ...), kept as read.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ImageManifest {
    /// The artifact type the distribution spec lists this manifest under as a referrer: its
    /// `artifactType` when it states a non-empty one, else its config's media type
    /// (distribution-spec v1.1 "Listing Referrers").
    pub fn artifact_type(&self) -> &str {
        match self.extra.get(ARTIFACT_TYPE_FIELD).and_then(|v| v.as_str()) {
            Some(stated) if !stated.is_empty() => stated,
            _ => &self.config.media_type,
        }
    }

    /// The manifest's `subject` (image-spec v1.1 `manifest.md`): `None` when it has none, or
    /// when what it has is not a descriptor.
    pub fn subject(&self) -> Option<Descriptor> {
        serde_json::from_value(self.extra.get(SUBJECT_FIELD)?.clone()).ok()
    }
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's media type, when it states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests it lists.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields not interpreted by vouch, kept as read.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A parsed manifest of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// A single image.
    Image(Box<ImageManifest>),
    /// A multi-platform index.
    Index(Box<ImageIndex>),
}

/// Manifest bytes as fetched, with the digest they were verified against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The digest of `bytes` (checked, not taken on the registry's word).
    pub digest: Digest,
    /// The media type the registry or layout declared (or the manifest itself states).
    pub media_type: String,
    /// The exact bytes, as signed and hashed.
    pub bytes: Vec<u8>,
}

impl FetchedManifest {
    /// Parses the bytes as an image manifest or an index, by declared media type, else by
    /// shape (`manifests` means an index). Refuses schema versions other than 2.
    pub fn parse(&self) -> Result<Manifest, RegistryError> {
        let bad = |reason: String| RegistryError::BadManifest {
            what: self.digest.to_string(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&self.bytes).map_err(|e| bad(e.to_string()))?;
        let is_index = match self.media_type.as_str() {
            media_types::OCI_INDEX | media_types::DOCKER_MANIFEST_LIST => true,
            media_types::OCI_MANIFEST | media_types::DOCKER_MANIFEST => false,
            _ => value.get("manifests").is_some(),
        };
        let manifest = if is_index {
            Manifest::Index(serde_json::from_value(value).map_err(|e| bad(e.to_string()))?)
        } else {
            Manifest::Image(serde_json::from_value(value).map_err(|e| bad(e.to_string()))?)
        };
        let version = match &manifest {
            Manifest::Image(m) => m.schema_version,
            Manifest::Index(i) => i.schema_version,
        };
        if version != 2 {
            return Err(bad(format!("schemaVersion {version}, expected 2")));
        }
        Ok(manifest)
    }

    /// Whether the manifest is an index (by declared media type or shape).
    pub fn is_index(&self) -> bool {
        matches!(self.parse(), Ok(Manifest::Index(_)))
    }
}

/// The media type a manifest states in its own `mediaType` field, if any.
pub(crate) fn stated_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct MediaTypeOnly {
        media_type: Option<String>,
    }
    serde_json::from_slice::<MediaTypeOnly>(bytes)
        .ok()
        .and_then(|m| m.media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(media_type: &str, json: &str) -> FetchedManifest {
        FetchedManifest {
            digest: Digest::sha256(json.as_bytes()),
            media_type: media_type.into(),
            bytes: json.as_bytes().to_vec(),
        }
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let config = Digest::sha256(b"{}");
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","artifactType":"x/y","config":{{"mediaType":"c","digest":"{config}","size":2,"data":"e30="}},"layers":[],"subject":{{"mediaType":"m","digest":"{config}","size":1}}}}"#,
            media_types::OCI_MANIFEST
        );
        let Manifest::Image(m) = fetched(media_types::OCI_MANIFEST, &json).parse().unwrap() else {
            panic!("not an image");
        };
        assert!(m.extra.contains_key("artifactType"));
        assert!(m.extra.contains_key("subject"));
        assert_eq!(m.artifact_type(), "x/y");
        assert_eq!(m.subject().unwrap().digest, config);
        assert!(m.config.extra.contains_key("data"));
        let again: serde_json::Value = serde_json::to_value(&m).unwrap();
        let original: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(again, original);
    }

    #[test]
    fn artifact_type_falls_back_to_the_config_media_type() {
        let config = Digest::sha256(b"{}");
        let json = format!(
            r#"{{"schemaVersion":2,"artifactType":"","config":{{"mediaType":"c/t","digest":"{config}","size":2}},"layers":[],"subject":"not a descriptor"}}"#
        );
        let Manifest::Image(m) = fetched(media_types::OCI_MANIFEST, &json).parse().unwrap() else {
            panic!("not an image");
        };
        assert_eq!(m.artifact_type(), "c/t");
        assert!(m.subject().is_none());
        let mut d = Descriptor::of("a/b", b"x");
        assert_eq!(d.artifact_type(), None);
        d.set_artifact_type("t/u");
        assert_eq!(d.artifact_type(), Some("t/u"));
        assert_eq!(serde_json::to_value(&d).unwrap()["artifactType"], "t/u");
    }

    #[test]
    fn index_is_recognised_by_shape_when_untyped() {
        let json = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(fetched("application/octet-stream", json).is_index());
        let json = r#"{"schemaVersion":1,"manifests":[]}"#;
        assert!(fetched(media_types::OCI_INDEX, json).parse().is_err());
        assert!(fetched(media_types::OCI_MANIFEST, "[]").parse().is_err());
    }
}
