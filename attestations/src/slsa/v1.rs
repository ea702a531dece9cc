//! SLSA provenance v1 (`https://slsa.dev/provenance/v1`; spec
//! <https://slsa.dev/spec/v1.0/provenance>, proto `in_toto_attestation/predicates/provenance/v1`).
//!
//! ```json
//! {"buildDefinition": {"buildType": "…", "externalParameters": {…},
//!                      "internalParameters": {…}, "resolvedDependencies": [{…}]},
//!  "runDetails": {"builder": {"id": "…", "version": {…}, "builderDependencies": [{…}]},
//!                 "metadata": {"invocationId": "…", "startedOn": "…", "finishedOn": "…"},
//!                 "byproducts": [{…}]}}
//! ```
//!
//! Every struct keeps, in `extra`, the fields it does not name and the named fields that were
//! set to `null`, so that [`Provenance::to_value`] gives back the predicate that was read.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::fields::{Fields, Writer, check_extra, join, string_map_value};
use super::time::parse_rfc3339;
use super::{PROVENANCE_V1, Source, commit_of, split_vcs_uri};
use crate::AttestationError;
use crate::intoto::{self, Statement, check_digest, decode_content};

const FORMAT: &str = "SLSA provenance v1";

fn malformed(reason: String) -> AttestationError {
    AttestationError::Malformed {
        format: FORMAT,
        reason,
    }
}

/// A validated SLSA provenance v1 predicate: it has `buildDefinition.buildType` (not empty),
/// `buildDefinition.externalParameters` (an object), and `runDetails.builder.id` (not
/// empty), the rules of in-toto's Go `Provenance.Validate()`; every resource descriptor in it
/// sets one of `uri`, `digest` and `content`, with well-formed digests of the algorithms
/// `digest_set.md` defines; timestamps are RFC 3339. Values of this type are only made by
/// reading ([`Provenance::from_predicate`]) or by [`Provenance::new`], both of which check
/// this.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    build_definition: BuildDefinition,
    run_details: RunDetails,
    extra: Map<String, Value>,
}

/// `buildDefinition`: what the build was asked to do.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildDefinition {
    /// `buildType`: the URI of the template the other fields follow.
    pub build_type: String,
    /// `externalParameters`: the parameters under the control of whoever started the build.
    pub external_parameters: Map<String, Value>,
    /// `internalParameters`: the parameters the build platform set.
    pub internal_parameters: Option<Map<String, Value>>,
    /// `resolvedDependencies`: the artifacts the build fetched (`None` when absent, empty
    /// when `[]`).
    pub resolved_dependencies: Option<Vec<ResourceDescriptor>>,
    /// Fields this model does not name, and named fields that were `null`, as read.
    pub extra: Map<String, Value>,
}

/// `runDetails`: who ran the build, and how that run went.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunDetails {
    /// `builder`: the platform that ran the build.
    pub builder: Builder,
    /// `metadata`: the run's identifier and times.
    pub metadata: Option<BuildMetadata>,
    /// `byproducts`: other artifacts the run produced.
    pub byproducts: Option<Vec<ResourceDescriptor>>,
    /// Fields this model does not name, and named fields that were `null`, as read.
    pub extra: Map<String, Value>,
}

/// `runDetails.builder`: the build platform, the trust anchor of the provenance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Builder {
    /// `id`: the URI of the build platform (and its trust boundary).
    pub id: String,
    /// `version`: component name to version.
    pub version: Option<BTreeMap<String, String>>,
    /// `builderDependencies`: what the platform itself was made of.
    pub builder_dependencies: Option<Vec<ResourceDescriptor>>,
    /// Fields this model does not name, and named fields that were `null`, as read.
    pub extra: Map<String, Value>,
}

/// `runDetails.metadata`. Timestamps are kept as written (RFC 3339, checked on reading).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildMetadata {
    /// `invocationId`: the build platform's identifier for this run.
    pub invocation_id: Option<String>,
    /// `startedOn`: when the build started.
    pub started_on: Option<String>,
    /// `finishedOn`: when the build finished.
    pub finished_on: Option<String>,
    /// Fields this model does not name, and named fields that were `null`, as read.
    pub extra: Map<String, Value>,
}

/// A ResourceDescriptor inside a provenance (`resource_descriptor.md`), kept exactly as
/// written: unlike [`intoto::ResourceDescriptor`], empty strings stay, `content` stays in its
/// base64 form, and unknown fields are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceDescriptor {
    /// `name`.
    pub name: Option<String>,
    /// `uri`; a source repository is written `git+https://host/path@ref`.
    pub uri: Option<String>,
    /// `digest`: algorithm name to value.
    pub digest: Option<BTreeMap<String, String>>,
    /// `content`, base64 as written.
    pub content: Option<String>,
    /// `downloadLocation`.
    pub download_location: Option<String>,
    /// `mediaType`.
    pub media_type: Option<String>,
    /// `annotations`.
    pub annotations: Option<Map<String, Value>>,
    /// Fields this model does not name, and named fields that were `null`, as read.
    pub extra: Map<String, Value>,
}

impl Provenance {
    /// A provenance from its two parts, validated as a read one is (see [`Provenance`]).
    pub fn new(
        build_definition: BuildDefinition,
        run_details: RunDetails,
    ) -> Result<Self, AttestationError> {
        let provenance = Self {
            build_definition,
            run_details,
            extra: Map::new(),
        };
        provenance.validate().map_err(malformed)?;
        Ok(provenance)
    }

    /// Reads a statement's predicate. Refuses, naming the field: a predicate that is not an
    /// object; a missing or empty `buildDefinition.buildType` or `runDetails.builder.id`; a
    /// missing `buildDefinition.externalParameters`; a field of the wrong JSON type; a
    /// resource descriptor with none of `uri`, `digest`, `content`, a bad digest of a
    /// standard algorithm, or `content` that is not base64; a timestamp that is not RFC 3339.
    /// Unknown fields are kept, so [`Provenance::to_value`] gives `predicate` back.
    pub fn from_predicate(predicate: &Value) -> Result<Self, AttestationError> {
        let provenance = Self::read(predicate.clone()).map_err(malformed)?;
        provenance.validate().map_err(malformed)?;
        Ok(provenance)
    }

    /// Reads the predicate of a statement whose `predicateType` is [`PROVENANCE_V1`].
    pub fn from_statement(statement: &Statement) -> Result<Self, AttestationError> {
        if statement.predicate_type() != PROVENANCE_V1 {
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
        let build_definition = fields.required_nested("buildDefinition", BuildDefinition::read)?;
        let run_details = fields.required_nested("runDetails", RunDetails::read)?;
        Ok(Self {
            build_definition,
            run_details,
            extra: fields.finish(),
        })
    }

    fn validate(&self) -> Result<(), String> {
        check_extra(&self.extra, &["buildDefinition", "runDetails"], "")?;
        self.build_definition.validate()?;
        self.run_details.validate()
    }

    /// The predicate as JSON: the fields read (or set), in the shape the spec gives.
    pub fn to_value(&self) -> Value {
        Writer::new(&self.extra)
            .put("buildDefinition", Some(self.build_definition.to_value()))
            .put("runDetails", Some(self.run_details.to_value()))
            .finish()
    }

    /// An in-toto Statement v1 about `subjects` with this provenance as its predicate.
    /// Fails as [`Statement::new`] does (no subject, a subject without digest).
    pub fn to_statement(
        &self,
        subjects: Vec<intoto::ResourceDescriptor>,
    ) -> Result<Statement, AttestationError> {
        Statement::new(subjects, PROVENANCE_V1, Some(self.to_value()))
    }

    /// `buildDefinition`.
    pub fn build_definition(&self) -> &BuildDefinition {
        &self.build_definition
    }

    /// `runDetails`.
    pub fn run_details(&self) -> &RunDetails {
        &self.run_details
    }

    /// Top-level fields this model does not name, as read.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// `runDetails.builder.id`; never empty.
    pub fn builder_id(&self) -> &str {
        &self.run_details.builder.id
    }

    /// `buildDefinition.buildType`; never empty.
    pub fn build_type(&self) -> &str {
        &self.build_definition.build_type
    }

    /// The source repository the build says it built from, found by the rules of the
    /// [module documentation](super) (for GitHub workflows, `externalParameters.workflow`
    /// and the matching resolved dependency); `None` when the provenance names none.
    pub fn source(&self) -> Option<Source<'_>> {
        let definition = &self.build_definition;
        let dependencies = definition.resolved_dependencies.as_deref().unwrap_or(&[]);
        let external = &definition.external_parameters;
        let named = if super::is_github_workflow_build_type(&definition.build_type) {
            external
                .get("workflow")
                .and_then(|workflow| workflow.get("repository"))
                .and_then(Value::as_str)
        } else if super::names_source_parameter(&definition.build_type) {
            external.get("source").and_then(Value::as_str)
        } else {
            None
        };
        let dependency = match named {
            Some(named) => {
                let repository = split_vcs_uri(named).0;
                dependencies.iter().find(|d| {
                    d.uri
                        .as_deref()
                        .is_some_and(|uri| split_vcs_uri(uri).0 == repository)
                })
            }
            None => dependencies
                .iter()
                .find(|d| d.uri.as_deref().is_some_and(|uri| uri.starts_with("git+"))),
        };
        match (named, dependency) {
            (None, None) => None,
            (named, Some(dependency)) => {
                let (repository, git_ref) =
                    split_vcs_uri(dependency.uri.as_deref().unwrap_or_default());
                Some(Source {
                    repository: named.map_or(repository, |named| split_vcs_uri(named).0),
                    git_ref,
                    commit: dependency.digest.as_ref().and_then(commit_of),
                })
            }
            (Some(named), None) => {
                let (repository, git_ref) = split_vcs_uri(named);
                let workflow_ref = external
                    .get("workflow")
                    .and_then(|workflow| workflow.get("ref"))
                    .and_then(Value::as_str);
                Some(Source {
                    repository,
                    git_ref: git_ref.or(workflow_ref),
                    commit: None,
                })
            }
        }
    }
}

impl Serialize for Provenance {
    /// Writes [`Provenance::to_value`].
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

const BUILD_DEFINITION_FIELDS: &[&str] = &[
    "buildType",
    "externalParameters",
    "internalParameters",
    "resolvedDependencies",
];

impl BuildDefinition {
    fn read(mut fields: Fields) -> Result<Self, String> {
        let build_type = fields.required_string("buildType")?;
        let external_parameters = match fields.object("externalParameters")? {
            Some(parameters) => parameters,
            None => return Err(fields.missing("externalParameters")),
        };
        Ok(Self {
            build_type,
            external_parameters,
            internal_parameters: fields.object("internalParameters")?,
            resolved_dependencies: fields.list("resolvedDependencies", ResourceDescriptor::read)?,
            extra: fields.finish(),
        })
    }

    fn validate(&self) -> Result<(), String> {
        let path = "buildDefinition";
        check_extra(&self.extra, BUILD_DEFINITION_FIELDS, path)?;
        if self.build_type.is_empty() {
            return Err(format!("{path}.buildType is empty"));
        }
        validate_list(
            self.resolved_dependencies.as_deref(),
            &join(path, "resolvedDependencies"),
        )
    }

    fn to_value(&self) -> Value {
        Writer::new(&self.extra)
            .put("buildType", Some(self.build_type.clone()))
            .put(
                "externalParameters",
                Some(Value::Object(self.external_parameters.clone())),
            )
            .put(
                "internalParameters",
                self.internal_parameters.clone().map(Value::Object),
            )
            .put(
                "resolvedDependencies",
                self.resolved_dependencies.as_deref().map(list_value),
            )
            .finish()
    }
}

const RUN_DETAILS_FIELDS: &[&str] = &["builder", "metadata", "byproducts"];

impl RunDetails {
    fn read(mut fields: Fields) -> Result<Self, String> {
        Ok(Self {
            builder: fields.required_nested("builder", Builder::read)?,
            metadata: fields.nested("metadata", BuildMetadata::read)?,
            byproducts: fields.list("byproducts", ResourceDescriptor::read)?,
            extra: fields.finish(),
        })
    }

    fn validate(&self) -> Result<(), String> {
        let path = "runDetails";
        check_extra(&self.extra, RUN_DETAILS_FIELDS, path)?;
        self.builder.validate()?;
        if let Some(metadata) = &self.metadata {
            metadata.validate()?;
        }
        validate_list(self.byproducts.as_deref(), &join(path, "byproducts"))
    }

    fn to_value(&self) -> Value {
        Writer::new(&self.extra)
            .put("builder", Some(self.builder.to_value()))
            .put(
                "metadata",
                self.metadata.as_ref().map(BuildMetadata::to_value),
            )
            .put("byproducts", self.byproducts.as_deref().map(list_value))
            .finish()
    }
}

const BUILDER_FIELDS: &[&str] = &["id", "version", "builderDependencies"];

impl Builder {
    fn read(mut fields: Fields) -> Result<Self, String> {
        Ok(Self {
            id: fields.required_string("id")?,
            version: fields.string_map("version")?,
            builder_dependencies: fields.list("builderDependencies", ResourceDescriptor::read)?,
            extra: fields.finish(),
        })
    }

    fn validate(&self) -> Result<(), String> {
        let path = "runDetails.builder";
        check_extra(&self.extra, BUILDER_FIELDS, path)?;
        if self.id.is_empty() {
            return Err(format!("{path}.id is empty"));
        }
        validate_list(
            self.builder_dependencies.as_deref(),
            &join(path, "builderDependencies"),
        )
    }

    fn to_value(&self) -> Value {
        Writer::new(&self.extra)
            .put("id", Some(self.id.clone()))
            .put("version", self.version.as_ref().map(string_map_value))
            .put(
                "builderDependencies",
                self.builder_dependencies.as_deref().map(list_value),
            )
            .finish()
    }
}

const METADATA_FIELDS: &[&str] = &["invocationId", "startedOn", "finishedOn"];

impl BuildMetadata {
    fn read(mut fields: Fields) -> Result<Self, String> {
        Ok(Self {
            invocation_id: fields.string("invocationId")?,
            started_on: fields.string("startedOn")?,
            finished_on: fields.string("finishedOn")?,
            extra: fields.finish(),
        })
    }

    fn validate(&self) -> Result<(), String> {
        let path = "runDetails.metadata";
        check_extra(&self.extra, METADATA_FIELDS, path)?;
        for (key, value) in [
            ("startedOn", &self.started_on),
            ("finishedOn", &self.finished_on),
        ] {
            if let Some(text) = value
                && parse_rfc3339(text).is_none()
            {
                return Err(format!(
                    "{} \"{}\" is not an RFC 3339 timestamp",
                    join(path, key),
                    crate::truncated(text, 64)
                ));
            }
        }
        Ok(())
    }

    fn to_value(&self) -> Value {
        Writer::new(&self.extra)
            .put("invocationId", self.invocation_id.clone())
            .put("startedOn", self.started_on.clone())
            .put("finishedOn", self.finished_on.clone())
            .finish()
    }

    /// `startedOn` as seconds since the Unix epoch (fractions dropped), when set.
    pub fn started_on_seconds(&self) -> Option<i64> {
        self.started_on.as_deref().and_then(parse_rfc3339)
    }

    /// `finishedOn` as seconds since the Unix epoch (fractions dropped), when set.
    pub fn finished_on_seconds(&self) -> Option<i64> {
        self.finished_on.as_deref().and_then(parse_rfc3339)
    }
}

const DESCRIPTOR_FIELDS: &[&str] = &[
    "name",
    "uri",
    "digest",
    "content",
    "downloadLocation",
    "mediaType",
    "annotations",
];

impl ResourceDescriptor {
    /// A descriptor of a source or artifact by `uri` and `digest` (algorithm to value).
    pub fn for_uri(uri: impl Into<String>, digest: BTreeMap<String, String>) -> Self {
        Self {
            uri: Some(uri.into()),
            digest: Some(digest),
            ..Self::default()
        }
    }

    pub(super) fn read(mut fields: Fields) -> Result<Self, String> {
        Ok(Self {
            name: fields.string("name")?,
            uri: fields.string("uri")?,
            digest: fields.string_map("digest")?,
            content: fields.string("content")?,
            download_location: fields.string("downloadLocation")?,
            media_type: fields.string("mediaType")?,
            annotations: fields.object("annotations")?,
            extra: fields.finish(),
        })
    }

    /// The rules of `resource_descriptor.md` and `digest_set.md`, as the crate's in-toto
    /// reader applies them to subjects: one of `uri`, `digest`, `content` set; digests of
    /// standard algorithms well formed; `content` base64.
    pub(super) fn validate(&self, path: &str) -> Result<(), String> {
        check_extra(&self.extra, DESCRIPTOR_FIELDS, path)?;
        let set = |field: &Option<String>| field.as_deref().is_some_and(|s| !s.is_empty());
        let digest = self.digest.as_ref().filter(|d| !d.is_empty());
        if !set(&self.uri) && digest.is_none() && !set(&self.content) {
            return Err(format!(
                "{path}: resource descriptor has none of uri, digest and content"
            ));
        }
        for (algorithm, value) in digest.into_iter().flatten() {
            check_digest(algorithm, value).map_err(|error| format!("{path}: {error}"))?;
        }
        if let Some(content) = self.content.as_deref().filter(|c| !c.is_empty())
            && decode_content(content).is_none()
        {
            return Err(format!("{path}.content is not base64"));
        }
        Ok(())
    }

    /// The descriptor as JSON, with the fields read (or set).
    pub fn to_value(&self) -> Value {
        Writer::new(&self.extra)
            .put("name", self.name.clone())
            .put("uri", self.uri.clone())
            .put("digest", self.digest.as_ref().map(string_map_value))
            .put("content", self.content.clone())
            .put("downloadLocation", self.download_location.clone())
            .put("mediaType", self.media_type.clone())
            .put("annotations", self.annotations.clone().map(Value::Object))
            .finish()
    }
}

fn validate_list(list: Option<&[ResourceDescriptor]>, path: &str) -> Result<(), String> {
    list.into_iter()
        .flatten()
        .enumerate()
        .try_for_each(|(index, descriptor)| descriptor.validate(&format!("{path}[{index}]")))
}

fn list_value(list: &[ResourceDescriptor]) -> Value {
    Value::Array(list.iter().map(ResourceDescriptor::to_value).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "buildDefinition": {"buildType": "t", "externalParameters": {}},
            "runDetails": {"builder": {"id": "b"}}
        })
    }

    #[test]
    fn nulls_empties_and_unknown_fields_survive_a_round_trip() {
        let mut predicate = minimal();
        predicate["buildDefinition"]["internalParameters"] = json!({});
        predicate["buildDefinition"]["resolvedDependencies"] = json!([]);
        predicate["buildDefinition"]["systemParameters"] = json!({"a": null});
        predicate["runDetails"]["metadata"] = json!({"invocationId": null, "startedOn": ""});
        predicate["runDetails"]["byproducts"] = Value::Null;
        predicate["runDetails"]["builder"]["version"] = json!({});
        predicate["extension"] = json!([1, "two", {"three": 3.5}]);
        // An empty startedOn is not a timestamp.
        assert!(Provenance::from_predicate(&predicate).is_err());
        predicate["runDetails"]["metadata"]["startedOn"] = Value::Null;
        let provenance = Provenance::from_predicate(&predicate).unwrap();
        assert_eq!(provenance.to_value(), predicate);
        let metadata = provenance.run_details().metadata.as_ref().unwrap();
        assert_eq!(metadata.invocation_id, None);
        assert_eq!(
            provenance.build_definition().resolved_dependencies,
            Some(Vec::new())
        );
        assert_eq!(provenance.run_details().byproducts, None);
        assert_eq!(provenance.extra()["extension"][2]["three"], json!(3.5));
    }

    #[test]
    fn required_fields_and_types_are_named() {
        for (change, expected) in [
            (json!({"buildDefinition": null}), "buildDefinition is null"),
            (
                json!({"buildDefinition": []}),
                "buildDefinition is an array",
            ),
            (
                json!({"buildDefinition": {"externalParameters": {}}}),
                "missing field buildDefinition.buildType",
            ),
            (
                json!({"buildDefinition": {"buildType": "", "externalParameters": {}}}),
                "buildDefinition.buildType is empty",
            ),
            (
                json!({"buildDefinition": {"buildType": "t", "externalParameters": null}}),
                "buildDefinition.externalParameters is null",
            ),
            (
                json!({"buildDefinition": {"buildType": "t", "externalParameters": "x"}}),
                "buildDefinition.externalParameters is a string, expected an object",
            ),
            (
                json!({"runDetails": {"builder": {"id": 7}}}),
                "runDetails.builder.id is a number",
            ),
            (
                json!({"runDetails": {"builder": {"id": "b", "version": {"x": 1}}}}),
                "runDetails.builder.version.x is a number",
            ),
            (
                json!({"runDetails": {"builder": {"id": "b"}, "byproducts": [{}]}}),
                "runDetails.byproducts[0]: resource descriptor has none of uri, digest and content",
            ),
            (
                json!({"runDetails": {"builder": {"id": "b"}, "byproducts": [{"digest": {"sha256": "abc"}}]}}),
                "runDetails.byproducts[0]: digest sha256 \"abc\": 3 hex digits, sha256 has 64",
            ),
            (
                json!({"runDetails": {"builder": {"id": "b"}, "byproducts": [{"content": "!!"}]}}),
                "runDetails.byproducts[0].content is not base64",
            ),
            (
                json!({"runDetails": {"builder": {"id": "b"}, "metadata": {"finishedOn": "yesterday"}}}),
                "runDetails.metadata.finishedOn \"yesterday\" is not an RFC 3339 timestamp",
            ),
        ] {
            let mut predicate = minimal();
            for (key, value) in change.as_object().unwrap() {
                predicate[key] = value.clone();
            }
            let error = Provenance::from_predicate(&predicate).unwrap_err();
            assert!(
                error.to_string().contains(expected),
                "{predicate}: {error} (expected {expected})"
            );
        }
        let error = Provenance::from_predicate(&json!("x")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "malformed SLSA provenance v1: the predicate is a string, expected an object"
        );
    }

    #[test]
    fn built_values_are_validated_like_read_ones() {
        let definition = BuildDefinition {
            build_type: "t".into(),
            ..BuildDefinition::default()
        };
        let run = RunDetails {
            builder: Builder {
                id: "b".into(),
                ..Builder::default()
            },
            ..RunDetails::default()
        };
        let provenance = Provenance::new(definition.clone(), run.clone()).unwrap();
        assert_eq!(
            Provenance::from_predicate(&provenance.to_value()),
            Ok(provenance)
        );

        let mut no_id = run.clone();
        no_id.builder.id.clear();
        assert!(
            Provenance::new(definition.clone(), no_id)
                .unwrap_err()
                .to_string()
                .contains("runDetails.builder.id is empty")
        );
        // A named field smuggled into `extra` would contradict the typed one.
        let mut smuggled = definition;
        smuggled.extra.insert("buildType".into(), json!("other"));
        assert!(
            Provenance::new(smuggled, run)
                .unwrap_err()
                .to_string()
                .contains("buildDefinition.buildType is set in the extra fields")
        );
    }
}
