//! The "simple signing" payload cosign signs for a container image.
//!
//! Spec: cosign `specs/SIGNATURE_SPEC.md` and containers/image
//! `docs/containers-signature.5.md` ("JSON Data Format"):
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"registry.example/repo"},
//!              "image":{"docker-manifest-digest":"sha256:…"},
//!              "type":"cosign container image signature"},
//!  "optional":{"key":"value"}}
//! ```
//!
//! The `critical` section is what the signer vouches for; consumers must reject unknown
//! fields in it (containers-signature.5). `optional` carries annotations (`-a key=value`);
//! cosign writes `null` when there are none.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vouch_keys::Digest;

use crate::AttestationError;

/// The `critical.type` value of a cosign image signature.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";

/// A parsed simple-signing payload. Building one with [`SimpleSigning::new`] and parsing one
/// with [`SimpleSigning::from_slice`] give the same shape; parsing refuses anything in the
/// critical section that is not in the spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimpleSigning {
    critical: Critical,
    /// cosign writes `null` for "no annotations"; so do we, byte for byte.
    #[serde(default, serialize_with = "optional_as_null")]
    optional: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: Digest,
}

fn optional_as_null<S: serde::Serializer>(
    value: &Option<BTreeMap<String, serde_json::Value>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(map) if !map.is_empty() => map.serialize(serializer),
        _ => serializer.serialize_none(),
    }
}

impl SimpleSigning {
    /// The payload for `digest` in repository `docker_reference` (the repository name without
    /// tag or digest, as cosign writes it), with string annotations in `optional`.
    pub fn new(
        docker_reference: impl Into<String>,
        digest: Digest,
        annotations: &BTreeMap<String, String>,
    ) -> Self {
        let optional = annotations
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect::<BTreeMap<_, _>>();
        Self {
            critical: Critical {
                identity: Identity {
                    docker_reference: docker_reference.into(),
                },
                image: Image {
                    docker_manifest_digest: digest,
                },
                kind: COSIGN_SIGNATURE_TYPE.into(),
            },
            optional: (!optional.is_empty()).then_some(optional),
        }
    }

    /// Parses payload bytes. Refuses: invalid JSON, unknown fields in `critical`, a
    /// `critical.type` other than [`COSIGN_SIGNATURE_TYPE`], a digest that is not a valid
    /// `sha256:`/`sha512:` digest.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, AttestationError> {
        let payload: SimpleSigning =
            serde_json::from_slice(bytes).map_err(|e| AttestationError::Malformed {
                format: "simple signing payload",
                reason: e.to_string(),
            })?;
        if payload.critical.kind != COSIGN_SIGNATURE_TYPE {
            return Err(AttestationError::Malformed {
                format: "simple signing payload",
                reason: format!(
                    "critical.type is \"{}\", not \"{COSIGN_SIGNATURE_TYPE}\"",
                    payload.critical.kind
                ),
            });
        }
        Ok(payload)
    }

    /// The serialized payload, as cosign writes it: keys in a fixed order, compact,
    /// `"optional":null` when there are no annotations.
    pub fn to_vec(&self) -> Vec<u8> {
        // Serializing plain structs and string maps into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The manifest digest the signer vouched for.
    pub fn digest(&self) -> &Digest {
        &self.critical.image.docker_manifest_digest
    }

    /// The repository the signer named.
    pub fn docker_reference(&self) -> &str {
        &self.critical.identity.docker_reference
    }

    /// The `optional` section (empty when absent or `null`).
    pub fn optional(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.optional.iter().flatten().map(|(k, v)| (k.as_str(), v))
    }

    /// The value of `optional[key]`, if present.
    pub fn annotation(&self, key: &str) -> Option<&serde_json::Value> {
        self.optional.as_ref().and_then(|m| m.get(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::sha256(b"manifest")
    }

    #[test]
    fn serializes_exactly_as_cosign() {
        let payload = SimpleSigning::new("127.0.0.1:5000/repo", digest(), &BTreeMap::new());
        let expected = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/repo"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":null}}"#,
            digest()
        );
        assert_eq!(String::from_utf8(payload.to_vec()).unwrap(), expected);
    }

    #[test]
    fn annotations_go_to_optional_sorted() {
        let annotations = BTreeMap::from([
            ("z".to_string(), "1".to_string()),
            ("a".to_string(), "2".to_string()),
        ]);
        let payload = SimpleSigning::new("r", digest(), &annotations);
        let text = String::from_utf8(payload.to_vec()).unwrap();
        assert!(text.ends_with(r#""optional":{"a":"2","z":"1"}}"#), "{text}");
        let back = SimpleSigning::from_slice(text.as_bytes()).unwrap();
        assert_eq!(back, payload);
        assert_eq!(back.annotation("a"), Some(&serde_json::json!("2")));
    }

    #[test]
    fn parses_what_cosign_writes_including_creator_fields() {
        let text = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"ghcr.io/x/y"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":{{"Bundle":{{"x":1}},"creator":"someone"}}}}"#,
            digest()
        );
        let payload = SimpleSigning::from_slice(text.as_bytes()).unwrap();
        assert_eq!(payload.digest(), &digest());
        assert_eq!(payload.docker_reference(), "ghcr.io/x/y");
        assert_eq!(payload.optional().count(), 2);
    }

    #[test]
    fn refuses_unknown_critical_fields_wrong_type_and_bad_digests() {
        let good = String::from_utf8(SimpleSigning::new("r", digest(), &BTreeMap::new()).to_vec())
            .unwrap();
        for tampered in [
            good.replace(r#""type""#, r#""extra":1,"type""#),
            good.replace(
                "cosign container image signature",
                "atomic container signature",
            ),
            good.replace(&digest().to_string(), "sha256:1234"),
            good.replace(
                r#""docker-reference":"r""#,
                r#""docker-reference":"r","x":"y""#,
            ),
            good.replace(r#"{"critical""#, r#"{"surprise":true,"critical""#),
            "not json".to_string(),
            String::new(),
        ] {
            assert_ne!(tampered, good);
            assert!(
                SimpleSigning::from_slice(tampered.as_bytes()).is_err(),
                "{tampered}"
            );
        }
    }
}
