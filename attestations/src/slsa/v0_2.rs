//! SLSA provenance v0.2 (`https://slsa.dev/provenance/v0.2`; spec
//! <https://slsa.dev/spec/v0.2/provenance>), as slsa-github-generator and the npm CLI wrote it.
//!
//! ```json
//! {"builder": {"id": "…"}, "buildType": "…",
//!  "invocation": {"configSource": {"uri": "…", "digest": {…}, "entryPoint": "…"},
//!                 "parameters": {…}, "environment": {…}},
//!  "buildConfig": {…},
//!  "metadata": {"buildInvocationId": "…", "buildStartedOn": "…", "buildFinishedOn": "…",
//!               "completeness": {"parameters": true, "environment": false, "materials": false},
//!               "reproducible": false},
//!  "materials": [{"uri": "…", "digest": {…}}]}
//! ```
//!
//! As in [`super::v1`], every struct keeps the fields it does not name, and named fields set
//! to `null`, in `extra`, so that [`Provenance::to_value`] gives back what was read.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::fields::{Fields, Writer, check_extra, join, string_map_value};
use super::time::parse_rfc3339;
use super::{PROVENANCE_V0_2, Source, commit_of, split_vcs_uri};
use crate::AttestationError;
use crate::intoto::{Statement, check_digest};

const FORMAT: &str = "SLSA provenance v0.2";

fn malformed(reason: String) -> AttestationError {
    AttestationError::Malformed {
        format: FORMAT,
        reason,
    }
}

/// A validated SLSA provenance v0.2 predicate: it has `builder.id` and `buildType`, both
/// not empty (the fields the v0.2 spec requires); digests of the algorithms `digest_set.md`
/// defines are well formed; timestamps are RFC 3339. Made only by
/// [`Provenance::from_predicate`], which checks this.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    builder: Builder,
    build_type: String,
    invocation: Option<Invocation>,
    build_config: Option<Map<String, Value>>,
    metadata: Option<Metadata>,
    materials: Option<Vec<Material>>,
    extra: Map<String, Value>,
}

/// `builder`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Builder {
    /// `id`: the URI of the build platform.
    pub id: String,
    /// Fields this model does not name, and named fields that were `null`, as read.
    pub extra: Map<String, Value>,
}

/// `invocation`: what started the build.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Invocation {
    /// `configSource`: where the build's top-level configuration came from.
    pub config_source: Option<ConfigSource>,
    /// `parameters`: the parameters under the control of whoever started the build.
    pub parameters: Option<Map<String, Value>>,
    /// `environment`: what the build platform set.
    pub environment: Option<Map<String, Value>>,
    /// Fields this model does not name, and named fields that were `null`, as read.
    pub extra: Map<String, Value>,
}

/// `invocation.configSource`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigSource {
    /// `uri`: `git+https://host/path@ref` for a repository.
    pub uri: Option<String>,
    /// `digest`: algorithm name to value.
    pub digest: Option<BTreeMap<String, String>>,
    /// `entryPoint`: the configuration file or task within the source.
    pub entry_point: Option<String>,
    /// Fields this model does not name, and named fields that were `null`, as read.
    pub extra: Map<String, Value>,
}

/// `metadata`. Timestamps are kept as written (RFC 3339, checked on reading).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    /// `buildInvocationId`. in-toto-golang (hence slsa-github-generator) writes it
    /// `buildInvocationID`, which stays in `extra`; [`Metadata::invocation_id`] reads both.
    pub build_invocation_id: Option<String>,
    /// `buildStartedOn`.
    pub build_started_on: Option<String>,
    /// `buildFinishedOn`.
    pub build_finished_on: Option<String>,
    /// `completeness`.
    pub completeness: Option<Completeness>,
    /// `reproducible`.
    pub reproducible: Option<bool>,
    /// Fields this model does not name, and named fields that were `null`, as read.
    pub extra: Map<String, Value>,
}

/// `metadata.completeness`: which parts of the invocation and materials are complete.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Completeness {
    /// `parameters`.
    pub parameters: Option<bool>,
    /// `environment`.
    pub environment: Option<bool>,
    /// `materials`.
    pub materials: Option<bool>,
    /// Fields this model does not name, and named fields that were `null`, as read.
    pub extra: Map<String, Value>,
}

/// One of `materials`: an input of the build.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Material {
    /// `uri`.
    pub uri: Option<String>,
    /// `digest`: algorithm name to value.
    pub digest: Option<BTreeMap<String, String>>,
    /// Fields this model does not name, and named fields that were `null`, as read.
    pub extra: Map<String, Value>,
}

impl Provenance {
    /// Reads a statement's predicate. Refuses, naming the field: a predicate that is not an
    /// object; a missing or empty `builder.id` or `buildType`; a field of the wrong JSON
    /// type; a bad digest of a standard algorithm; a timestamp that is not RFC 3339. Unknown
    /// fields are kept, so [`Provenance::to_value`] gives `predicate` back.
    pub fn from_predicate(predicate: &Value) -> Result<Self, AttestationError> {
        let provenance = Self::read(predicate.clone()).map_err(malformed)?;
        provenance.validate().map_err(malformed)?;
        Ok(provenance)
    }

    /// Reads the predicate of a statement whose `predicateType` is [`PROVENANCE_V0_2`].
    pub fn from_statement(statement: &Statement) -> Result<Self, AttestationError> {
        if statement.predicate_type() != PROVENANCE_V0_2 {
            return Err(AttestationError::NotProvenance {
                found: crate::truncated(statement.predicate_type(), 100),
            });
        }
        let predicate = statement
            .predicate()
            .ok_or_else(|| malformed("the statement has no predicate".into()))?;
        Self::from_predicate(predicate)
    }

    fn read(value: Value) -> Result<Self, String> {
        let mut fields = Fields::new(value, String::new())?;
        Ok(Self {
            builder: fields.required_nested("builder", |mut builder| {
                Ok(Builder {
                    id: builder.required_string("id")?,
                    extra: builder.finish(),
                })
            })?,
            build_type: fields.required_string("buildType")?,
            invocation: fields.nested("invocation", Invocation::read)?,
            build_config: fields.object("buildConfig")?,
            metadata: fields.nested("metadata", Metadata::read)?,
            materials: fields.list("materials", |mut material| {
                let path = material.path().to_owned();
                let digest = material.string_map("digest")?;
                check_digests(digest.as_ref(), &path)?;
                Ok(Material {
                    uri: material.string("uri")?,
                    digest,
                    extra: material.finish(),
                })
            })?,
            extra: fields.finish(),
        })
    }

    fn validate(&self) -> Result<(), String> {
        check_extra(
            &self.extra,
            &[
                "builder",
                "buildType",
                "invocation",
                "buildConfig",
                "metadata",
                "materials",
            ],
            "",
        )?;
        check_extra(&self.builder.extra, &["id"], "builder")?;
        if self.builder.id.is_empty() {
            return Err("builder.id is empty".into());
        }
        if self.build_type.is_empty() {
            return Err("buildType is empty".into());
        }
        Ok(())
    }

    /// The predicate as JSON, in the shape the spec gives.
    pub fn to_value(&self) -> Value {
        let builder = Writer::new(&self.builder.extra)
            .put("id", Some(self.builder.id.clone()))
            .finish();
        let materials = self.materials.as_ref().map(|materials| {
            Value::Array(
                materials
                    .iter()
                    .map(|material| {
                        Writer::new(&material.extra)
                            .put("uri", material.uri.clone())
                            .put("digest", material.digest.as_ref().map(string_map_value))
                            .finish()
                    })
                    .collect(),
            )
        });
        Writer::new(&self.extra)
            .put("builder", Some(builder))
            .put("buildType", Some(self.build_type.clone()))
            .put(
                "invocation",
                self.invocation.as_ref().map(Invocation::to_value),
            )
            .put("buildConfig", self.build_config.clone().map(Value::Object))
            .put("metadata", self.metadata.as_ref().map(Metadata::to_value))
            .put("materials", materials)
            .finish()
    }

    /// `builder`.
    pub fn builder(&self) -> &Builder {
        &self.builder
    }

    /// `builder.id`; never empty.
    pub fn builder_id(&self) -> &str {
        &self.builder.id
    }

    /// `buildType`; never empty.
    pub fn build_type(&self) -> &str {
        &self.build_type
    }

    /// `invocation`, when set.
    pub fn invocation(&self) -> Option<&Invocation> {
        self.invocation.as_ref()
    }

    /// `buildConfig`, when set.
    pub fn build_config(&self) -> Option<&Map<String, Value>> {
        self.build_config.as_ref()
    }

    /// `metadata`, when set.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_ref()
    }

    /// `materials` (`None` when absent, empty when `[]`).
    pub fn materials(&self) -> Option<&[Material]> {
        self.materials.as_deref()
    }

    /// Top-level fields this model does not name, as read.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// The source repository: `invocation.configSource` (its `uri` split into repository and
    /// ref, its commit from the `gitCommit` or `sha1` digest), else the first material whose
    /// URI starts with `git+`; `None` when neither is there.
    pub fn source(&self) -> Option<Source<'_>> {
        let config = self
            .invocation
            .as_ref()
            .and_then(|invocation| invocation.config_source.as_ref())
            .and_then(|config| Some((config.uri.as_deref()?, config.digest.as_ref())));
        let material = || {
            self.materials.iter().flatten().find_map(|material| {
                let uri = material.uri.as_deref()?;
                uri.starts_with("git+")
                    .then_some((uri, material.digest.as_ref()))
            })
        };
        let (uri, digest) = config.or_else(material)?;
        let (repository, git_ref) = split_vcs_uri(uri);
        Some(Source {
            repository,
            git_ref,
            commit: digest.and_then(commit_of),
        })
    }
}

impl Serialize for Provenance {
    /// Writes [`Provenance::to_value`].
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

fn check_digests(digest: Option<&BTreeMap<String, String>>, path: &str) -> Result<(), String> {
    digest
        .into_iter()
        .flatten()
        .try_for_each(|(algorithm, value)| {
            check_digest(algorithm, value).map_err(|error| format!("{path}: {error}"))
        })
}

impl Invocation {
    fn read(mut fields: Fields) -> Result<Self, String> {
        Ok(Self {
            config_source: fields.nested("configSource", |mut config| {
                let path = config.path().to_owned();
                let digest = config.string_map("digest")?;
                check_digests(digest.as_ref(), &path)?;
                Ok(ConfigSource {
                    uri: config.string("uri")?,
                    digest,
                    entry_point: config.string("entryPoint")?,
                    extra: config.finish(),
                })
            })?,
            parameters: fields.object("parameters")?,
            environment: fields.object("environment")?,
            extra: fields.finish(),
        })
    }

    fn to_value(&self) -> Value {
        let config_source = self.config_source.as_ref().map(|config| {
            Writer::new(&config.extra)
                .put("uri", config.uri.clone())
                .put("digest", config.digest.as_ref().map(string_map_value))
                .put("entryPoint", config.entry_point.clone())
                .finish()
        });
        Writer::new(&self.extra)
            .put("configSource", config_source)
            .put("parameters", self.parameters.clone().map(Value::Object))
            .put("environment", self.environment.clone().map(Value::Object))
            .finish()
    }
}

impl Metadata {
    fn read(mut fields: Fields) -> Result<Self, String> {
        let metadata = Self {
            build_invocation_id: fields.string("buildInvocationId")?,
            build_started_on: fields.string("buildStartedOn")?,
            build_finished_on: fields.string("buildFinishedOn")?,
            completeness: fields.nested("completeness", |mut completeness| {
                Ok(Completeness {
                    parameters: completeness.bool("parameters")?,
                    environment: completeness.bool("environment")?,
                    materials: completeness.bool("materials")?,
                    extra: completeness.finish(),
                })
            })?,
            reproducible: fields.bool("reproducible")?,
            extra: fields.finish(),
        };
        for (key, value) in [
            ("buildStartedOn", &metadata.build_started_on),
            ("buildFinishedOn", &metadata.build_finished_on),
        ] {
            if let Some(text) = value
                && parse_rfc3339(text).is_none()
            {
                return Err(format!(
                    "{} \"{}\" is not an RFC 3339 timestamp",
                    join("metadata", key),
                    crate::truncated(text, 64)
                ));
            }
        }
        Ok(metadata)
    }

    fn to_value(&self) -> Value {
        let completeness = self.completeness.as_ref().map(|completeness| {
            Writer::new(&completeness.extra)
                .put("parameters", completeness.parameters)
                .put("environment", completeness.environment)
                .put("materials", completeness.materials)
                .finish()
        });
        Writer::new(&self.extra)
            .put("buildInvocationId", self.build_invocation_id.clone())
            .put("buildStartedOn", self.build_started_on.clone())
            .put("buildFinishedOn", self.build_finished_on.clone())
            .put("completeness", completeness)
            .put("reproducible", self.reproducible)
            .finish()
    }

    /// The build invocation id: `buildInvocationId`, else the `buildInvocationID` spelling
    /// in-toto-golang writes.
    pub fn invocation_id(&self) -> Option<&str> {
        self.build_invocation_id
            .as_deref()
            .or_else(|| self.extra.get("buildInvocationID").and_then(Value::as_str))
    }

    /// `buildStartedOn` as seconds since the Unix epoch (fractions dropped), when set.
    pub fn build_started_on_seconds(&self) -> Option<i64> {
        self.build_started_on.as_deref().and_then(parse_rfc3339)
    }

    /// `buildFinishedOn` as seconds since the Unix epoch (fractions dropped), when set.
    pub fn build_finished_on_seconds(&self) -> Option<i64> {
        self.build_finished_on.as_deref().and_then(parse_rfc3339)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_fields_and_round_trip() {
        let predicate = json!({
            "builder": {"id": "https://example.com/builder"},
            "buildType": "https://example.com/type",
            "invocation": {"configSource": {}, "parameters": {}, "environment": null},
            "buildConfig": null,
            "metadata": {"buildInvocationID": "1-1", "completeness": {"parameters": true}},
            "materials": null
        });
        let provenance = Provenance::from_predicate(&predicate).unwrap();
        assert_eq!(provenance.to_value(), predicate);
        assert_eq!(provenance.metadata().unwrap().invocation_id(), Some("1-1"));
        assert_eq!(provenance.materials(), None);
        assert_eq!(provenance.source(), None);

        for (key, value, expected) in [
            ("builder", Value::Null, "builder is null"),
            ("builder", json!({"id": ""}), "builder.id is empty"),
            ("buildType", json!(1), "buildType is a number"),
            (
                "materials",
                json!([{"digest": {"sha1": "z"}}]),
                "materials[0]: digest sha1",
            ),
            (
                "metadata",
                json!({"buildStartedOn": "2023-01-01"}),
                "metadata.buildStartedOn \"2023-01-01\" is not an RFC 3339 timestamp",
            ),
            (
                "metadata",
                json!({"reproducible": "no"}),
                "metadata.reproducible is a string, expected a boolean",
            ),
        ] {
            let mut bad = predicate.clone();
            bad[key] = value;
            let error = Provenance::from_predicate(&bad).unwrap_err().to_string();
            assert!(error.contains(expected), "{error} (expected {expected})");
        }
        let mut no_type = predicate.clone();
        no_type.as_object_mut().unwrap().remove("buildType");
        assert_eq!(
            Provenance::from_predicate(&no_type)
                .unwrap_err()
                .to_string(),
            "malformed SLSA provenance v0.2: missing field buildType"
        );
    }
}
