//! SLSA provenance v1 statements describing the build that is running, from the CI system's
//! environment variables, or from facts given by hand.
//!
//! The functions here read nothing themselves: the caller passes the environment as a map
//! (the CLI collects `std::env::vars()`), the subjects, and the current time, so the result
//! depends on its arguments only. A variable set to the empty string counts as not set. Each
//! refuses, with [`AttestationError::MissingBuildFact`] or
//! [`AttestationError::InvalidBuildFact`] naming the variable, a fact it needs that is
//! missing or malformed (a commit that is not 40 or 64 lowercase hex digits, a run id that
//! is not a number). The provenance made is validated as a read one is, so it reads back
//! with [`Provenance::from_predicate`] into the same value.
//!
//! Provenance made inside the build job, by a tool the job runs, is only as trustworthy as
//! the job: it meets SLSA Build L1, not the L2/L3 requirement that the platform, not the
//! tenant, generate it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::time::{format_rfc3339, parse_rfc3339};
use super::v1::{
    BuildDefinition, BuildMetadata, Builder, Provenance, ResourceDescriptor, RunDetails,
};
use super::{GENERIC_BUILD_TYPE, GITHUB_WORKFLOW_BUILD_TYPE, GITLAB_RUNNER_BUILD_TYPE_PREFIX};
use crate::intoto::{self, Statement, check_digest};
use crate::{AttestationError, truncated};

/// The CI systems whose environment [`from_ci_environment`] recognizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ci {
    /// GitHub Actions: `GITHUB_ACTIONS=true`.
    GitHubActions,
    /// GitLab CI/CD: `GITLAB_CI=true`.
    GitLabCi,
}

/// Which CI system `env` comes from: GitHub Actions when `GITHUB_ACTIONS` is `true`, else
/// GitLab CI when `GITLAB_CI` is `true`; otherwise [`AttestationError::NoCiDetected`].
pub fn detect(env: &BTreeMap<String, String>) -> Result<Ci, AttestationError> {
    let is_true = |name: &str| env.get(name).is_some_and(|value| value == "true");
    if is_true("GITHUB_ACTIONS") {
        Ok(Ci::GitHubActions)
    } else if is_true("GITLAB_CI") {
        Ok(Ci::GitLabCi)
    } else {
        Err(AttestationError::NoCiDetected)
    }
}

/// The provenance statement for the CI system [`detect`] finds in `env`: what
/// [`github_actions`] or [`gitlab_ci`] makes. Fails with
/// [`AttestationError::NoCiDetected`] outside a recognized CI, where [`generic`] is the way.
pub fn from_ci_environment(
    env: &BTreeMap<String, String>,
    subjects: Vec<intoto::ResourceDescriptor>,
    now: SystemTime,
) -> Result<Statement, AttestationError> {
    match detect(env)? {
        Ci::GitHubActions => github_actions(env, subjects, now),
        Ci::GitLabCi => gitlab_ci(env, subjects, now),
    }
}

/// The variable that names the reusable workflow a GitHub Actions job runs in: the
/// `job_workflow_ref` claim of the job's OIDC token, which GitHub does not put in the
/// environment. The caller sets it from the token when it has one; without it the builder id
/// is the workflow of `GITHUB_WORKFLOW_REF`, which is the same unless the job is in a
/// reusable workflow.
pub const GITHUB_JOB_WORKFLOW_REF: &str = "VOUCH_GITHUB_JOB_WORKFLOW_REF";

/// The provenance statement GitHub's artifact attestations write
/// (actions/attest-build-provenance, `@actions/attest`'s `buildSLSAProvenancePredicate`),
/// field for field, from the job's environment, with `runDetails.metadata.finishedOn` = `now`:
///
/// * `buildType` [`GITHUB_WORKFLOW_BUILD_TYPE`];
/// * `externalParameters.workflow`: `repository` = `GITHUB_SERVER_URL/GITHUB_REPOSITORY`,
///   `path` and `ref` from `GITHUB_WORKFLOW_REF` (`OWNER/REPO/PATH@REF`);
/// * `internalParameters.github`: `event_name`, `repository_id`, `repository_owner_id`,
///   `runner_environment` (`GITHUB_EVENT_NAME`, `GITHUB_REPOSITORY_ID`,
///   `GITHUB_REPOSITORY_OWNER_ID`, `RUNNER_ENVIRONMENT`);
/// * `resolvedDependencies`: `git+SERVER/REPOSITORY@GITHUB_REF` with `gitCommit` `GITHUB_SHA`;
/// * `runDetails.builder.id`: `GITHUB_SERVER_URL/` + the job workflow ref
///   ([`GITHUB_JOB_WORKFLOW_REF`], else `GITHUB_WORKFLOW_REF`);
/// * `invocationId`: `SERVER/REPOSITORY/actions/runs/GITHUB_RUN_ID/attempts/GITHUB_RUN_ATTEMPT`.
///
/// Refuses when `GITHUB_ACTIONS` is not `true` or any of these variables is unset, or when
/// `GITHUB_SHA` is not a commit id, the run and repository ids are not numbers,
/// `GITHUB_REPOSITORY` is not `OWNER/REPO`, or a workflow ref is not `OWNER/REPO/PATH@REF`.
pub fn github_actions(
    env: &BTreeMap<String, String>,
    subjects: Vec<intoto::ResourceDescriptor>,
    now: SystemTime,
) -> Result<Statement, AttestationError> {
    let env = Env(env);
    env.all_set(&GITHUB_REQUIRED)?;
    env.flag("GITHUB_ACTIONS")?;
    let server = env.url("GITHUB_SERVER_URL")?;
    let repository = env.required("GITHUB_REPOSITORY")?;
    if !matches!(repository.split_once('/'), Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/'))
    {
        return Err(invalid(
            "GITHUB_REPOSITORY",
            repository,
            "expected OWNER/REPO",
        ));
    }
    let git_ref = env.required("GITHUB_REF")?;
    let sha = env.commit("GITHUB_SHA")?;
    let workflow_ref = env.required("GITHUB_WORKFLOW_REF")?;
    // OWNER/REPO/.github/workflows/x.yml@REF: the path and ref after the repository; the ref
    // is everything after the first `@` (a tag may hold another).
    let (workflow_path, workflow_git_ref) = workflow_ref
        .strip_prefix(repository)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.split_once('@'))
        .filter(|(path, git_ref)| !path.is_empty() && !git_ref.is_empty())
        .ok_or_else(|| {
            invalid(
                "GITHUB_WORKFLOW_REF",
                workflow_ref,
                "expected GITHUB_REPOSITORY/PATH@REF",
            )
        })?;
    let job_workflow_ref = match env.optional(GITHUB_JOB_WORKFLOW_REF) {
        Some(job_workflow_ref) => {
            let well_formed = job_workflow_ref
                .split_once('@')
                .is_some_and(|(path, git_ref)| path.split('/').count() >= 3 && !git_ref.is_empty());
            if !well_formed {
                return Err(invalid(
                    GITHUB_JOB_WORKFLOW_REF,
                    job_workflow_ref,
                    "expected OWNER/REPO/PATH@REF",
                ));
            }
            job_workflow_ref
        }
        None => workflow_ref,
    };
    let run_id = env.number("GITHUB_RUN_ID")?;
    let run_attempt = env.number("GITHUB_RUN_ATTEMPT")?;
    let event_name = env.required("GITHUB_EVENT_NAME")?;
    let repository_id = env.number("GITHUB_REPOSITORY_ID")?;
    let repository_owner_id = env.number("GITHUB_REPOSITORY_OWNER_ID")?;
    let runner_environment = env.required("RUNNER_ENVIRONMENT")?;

    let repository_url = format!("{server}/{repository}");
    let definition = BuildDefinition {
        build_type: GITHUB_WORKFLOW_BUILD_TYPE.to_owned(),
        external_parameters: object(json!({
            "workflow": {
                "ref": workflow_git_ref,
                "repository": repository_url,
                "path": workflow_path,
            }
        })),
        internal_parameters: Some(object(json!({
            "github": {
                "event_name": event_name,
                "repository_id": repository_id,
                "repository_owner_id": repository_owner_id,
                "runner_environment": runner_environment,
            }
        }))),
        resolved_dependencies: Some(vec![git_dependency(
            &format!("git+{repository_url}@{git_ref}"),
            sha,
        )]),
        extra: Map::new(),
    };
    let run = RunDetails {
        builder: Builder {
            id: format!("{server}/{job_workflow_ref}"),
            ..Builder::default()
        },
        metadata: Some(BuildMetadata {
            invocation_id: Some(format!(
                "{repository_url}/actions/runs/{run_id}/attempts/{run_attempt}"
            )),
            started_on: None,
            finished_on: Some(format_rfc3339(now)),
            extra: Map::new(),
        }),
        ..RunDetails::default()
    };
    Provenance::new(definition, run)?.to_statement(subjects)
}

/// The provenance statement of a GitLab CI/CD job, in the shape GitLab documents for
/// runner-generated provenance ("SLSA provenance specification", docs.gitlab.com
/// `ci/pipeline_security/slsa/provenance_v1`, and "Artifact provenance metadata"), with
/// `runDetails.metadata.finishedOn` = `now`:
///
/// * `buildType` `https://gitlab.com/gitlab-org/gitlab-runner/-/blob/CI_RUNNER_REVISION/PROVENANCE.md`;
/// * `externalParameters`: `source` = `CI_PROJECT_URL`, `entryPoint` = `CI_JOB_NAME`,
///   `variables` = `CI_COMMIT_SHA`, `CI_COMMIT_REF_NAME` and, when set, `CI_COMMIT_BRANCH`,
///   `CI_COMMIT_TAG`, `CI_CONFIG_PATH`, `CI_PIPELINE_ID`, `CI_PIPELINE_SOURCE`;
/// * `internalParameters`: `job` = `CI_JOB_ID`, and when set `name` =
///   `CI_RUNNER_DESCRIPTION`, `architecture` = `CI_RUNNER_EXECUTABLE_ARCH`;
/// * `resolvedDependencies`: `git+CI_PROJECT_URL@REF` with `gitCommit` `CI_COMMIT_SHA`, where
///   REF is `refs/tags/CI_COMMIT_TAG`, else `refs/heads/CI_COMMIT_BRANCH`, else
///   `CI_COMMIT_REF_NAME` (a merge request pipeline). The runner itself writes the project URL
///   with a `sha256` digest holding the SHA-1 commit; vouch writes the form SLSA and
///   `digest_set.md` define;
/// * `runDetails.builder`: `id` = `CI_PROJECT_URL/-/runners/CI_RUNNER_ID`, `version` =
///   `{"gitlab-runner": CI_RUNNER_REVISION}`;
/// * `metadata`: `invocationId` = `CI_JOB_URL` (else `CI_PROJECT_URL/-/jobs/CI_JOB_ID`),
///   `startedOn` = `CI_JOB_STARTED_AT` when set.
///
/// Refuses when `GITLAB_CI` is not `true` or a variable used above without "when set" is
/// unset, or when `CI_COMMIT_SHA` is not a commit id, `CI_RUNNER_ID` or `CI_JOB_ID` is not a
/// number, or `CI_JOB_STARTED_AT` is not RFC 3339.
pub fn gitlab_ci(
    env: &BTreeMap<String, String>,
    subjects: Vec<intoto::ResourceDescriptor>,
    now: SystemTime,
) -> Result<Statement, AttestationError> {
    let env = Env(env);
    env.all_set(&GITLAB_REQUIRED)?;
    env.flag("GITLAB_CI")?;
    let project_url = env.url("CI_PROJECT_URL")?;
    let job_name = env.required("CI_JOB_NAME")?;
    let sha = env.commit("CI_COMMIT_SHA")?;
    let ref_name = env.required("CI_COMMIT_REF_NAME")?;
    let job_id = env.number("CI_JOB_ID")?;
    let runner_id = env.number("CI_RUNNER_ID")?;
    let runner_revision = env.required("CI_RUNNER_REVISION")?;
    let started_on = env.timestamp("CI_JOB_STARTED_AT")?;
    let tag = env.optional("CI_COMMIT_TAG");
    let branch = env.optional("CI_COMMIT_BRANCH");

    let mut variables = Map::new();
    for (name, value) in [
        ("CI_COMMIT_SHA", Some(sha)),
        ("CI_COMMIT_REF_NAME", Some(ref_name)),
        ("CI_COMMIT_BRANCH", branch),
        ("CI_COMMIT_TAG", tag),
        ("CI_CONFIG_PATH", env.optional("CI_CONFIG_PATH")),
        ("CI_PIPELINE_ID", env.optional("CI_PIPELINE_ID")),
        ("CI_PIPELINE_SOURCE", env.optional("CI_PIPELINE_SOURCE")),
    ] {
        if let Some(value) = value {
            variables.insert(name.to_owned(), Value::String(value.to_owned()));
        }
    }
    let mut internal = Map::new();
    internal.insert("job".to_owned(), Value::String(job_id.to_owned()));
    for (key, name) in [
        ("name", "CI_RUNNER_DESCRIPTION"),
        ("architecture", "CI_RUNNER_EXECUTABLE_ARCH"),
    ] {
        if let Some(value) = env.optional(name) {
            internal.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    }
    let git_ref = match (tag, branch) {
        (Some(tag), _) => format!("refs/tags/{tag}"),
        (None, Some(branch)) => format!("refs/heads/{branch}"),
        (None, None) => ref_name.to_owned(),
    };
    let invocation_id = env
        .optional("CI_JOB_URL")
        .map_or_else(|| format!("{project_url}/-/jobs/{job_id}"), str::to_owned);

    let definition = BuildDefinition {
        build_type: format!("{GITLAB_RUNNER_BUILD_TYPE_PREFIX}{runner_revision}/PROVENANCE.md"),
        external_parameters: object(json!({
            "source": project_url,
            "entryPoint": job_name,
            "variables": variables,
        })),
        internal_parameters: Some(internal),
        resolved_dependencies: Some(vec![git_dependency(
            &format!("git+{project_url}@{git_ref}"),
            sha,
        )]),
        extra: Map::new(),
    };
    let run = RunDetails {
        builder: Builder {
            id: format!("{project_url}/-/runners/{runner_id}"),
            version: Some(BTreeMap::from([(
                "gitlab-runner".to_owned(),
                runner_revision.to_owned(),
            )])),
            ..Builder::default()
        },
        metadata: Some(BuildMetadata {
            invocation_id: Some(invocation_id),
            started_on: started_on.map(str::to_owned),
            finished_on: Some(format_rfc3339(now)),
            extra: Map::new(),
        }),
        ..RunDetails::default()
    };
    Provenance::new(definition, run)?.to_statement(subjects)
}

/// The facts of a build described by hand, for [`generic`]. Errors name the fields as
/// written here (`builder_id`, `source_uri`, `source_digest`, `parameters`, `started_on`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GenericBuild {
    /// The builder's id, a URI naming the build platform (required).
    pub builder_id: String,
    /// The build type; [`GENERIC_BUILD_TYPE`] when `None`.
    pub build_type: Option<String>,
    /// Where the source came from (required): `git+https://host/path@refs/heads/main` for a
    /// repository, any URI otherwise.
    pub source_uri: String,
    /// The source's digest set (required, not empty): `gitCommit` (or `sha1`) for a commit,
    /// `sha256` for an archive.
    pub source_digest: BTreeMap<String, String>,
    /// Free `key=value` parameters, written to `externalParameters.parameters`.
    pub parameters: BTreeMap<String, String>,
    /// The build platform's id for this run, when it has one.
    pub invocation_id: Option<String>,
    /// When the build started (RFC 3339), when known.
    pub started_on: Option<String>,
}

/// The provenance statement of a build described by `build` (see [`GENERIC_BUILD_TYPE`] for
/// the shape), with `runDetails.metadata.finishedOn` = `now`. Refuses with
/// [`AttestationError::MissingBuildFact`] an empty `builder_id`, `source_uri` or
/// `source_digest`, and with [`AttestationError::InvalidBuildFact`] a digest of a standard
/// algorithm that is not lowercase hex of its length, an empty parameter name, or a
/// `started_on` that is not RFC 3339.
pub fn generic(
    build: &GenericBuild,
    subjects: Vec<intoto::ResourceDescriptor>,
    now: SystemTime,
) -> Result<Statement, AttestationError> {
    for (name, value) in [
        ("builder_id", &build.builder_id),
        ("source_uri", &build.source_uri),
    ] {
        if value.is_empty() {
            return Err(AttestationError::MissingBuildFact { name });
        }
    }
    if build.source_digest.is_empty() {
        return Err(AttestationError::MissingBuildFact {
            name: "source_digest",
        });
    }
    for (algorithm, value) in &build.source_digest {
        if algorithm.is_empty() {
            return Err(invalid(
                "source_digest",
                value,
                "the algorithm name is empty",
            ));
        }
        check_digest(algorithm, value).map_err(|error| {
            invalid(
                "source_digest",
                &format!("{algorithm}={value}"),
                &error.to_string(),
            )
        })?;
    }
    if build.parameters.contains_key("") {
        return Err(invalid("parameters", "", "a parameter name is empty"));
    }
    if let Some(started_on) = &build.started_on
        && parse_rfc3339(started_on).is_none()
    {
        return Err(invalid(
            "started_on",
            started_on,
            "not an RFC 3339 timestamp",
        ));
    }

    let mut external = Map::new();
    external.insert("source".to_owned(), Value::String(build.source_uri.clone()));
    if !build.parameters.is_empty() {
        external.insert("parameters".to_owned(), json!(build.parameters));
    }
    let definition = BuildDefinition {
        build_type: build
            .build_type
            .clone()
            .filter(|build_type| !build_type.is_empty())
            .unwrap_or_else(|| GENERIC_BUILD_TYPE.to_owned()),
        external_parameters: external,
        internal_parameters: None,
        resolved_dependencies: Some(vec![ResourceDescriptor::for_uri(
            build.source_uri.clone(),
            build.source_digest.clone(),
        )]),
        extra: Map::new(),
    };
    let run = RunDetails {
        builder: Builder {
            id: build.builder_id.clone(),
            ..Builder::default()
        },
        metadata: Some(BuildMetadata {
            invocation_id: build.invocation_id.clone().filter(|id| !id.is_empty()),
            started_on: build.started_on.clone(),
            finished_on: Some(format_rfc3339(now)),
            extra: Map::new(),
        }),
        ..RunDetails::default()
    };
    Provenance::new(definition, run)?.to_statement(subjects)
}

fn invalid(name: &'static str, value: &str, reason: &str) -> AttestationError {
    AttestationError::InvalidBuildFact {
        name,
        value: truncated(value, 100),
        reason: reason.to_owned(),
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn git_dependency(uri: &str, commit: &str) -> ResourceDescriptor {
    ResourceDescriptor::for_uri(
        uri,
        BTreeMap::from([("gitCommit".to_owned(), commit.to_owned())]),
    )
}

/// The variables [`github_actions`] needs, in the order it reads them.
const GITHUB_REQUIRED: [&str; 12] = [
    "GITHUB_ACTIONS",
    "GITHUB_SERVER_URL",
    "GITHUB_REPOSITORY",
    "GITHUB_REF",
    "GITHUB_SHA",
    "GITHUB_WORKFLOW_REF",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_EVENT_NAME",
    "GITHUB_REPOSITORY_ID",
    "GITHUB_REPOSITORY_OWNER_ID",
    "RUNNER_ENVIRONMENT",
];

/// The variables [`gitlab_ci`] needs, in the order it reads them.
const GITLAB_REQUIRED: [&str; 8] = [
    "GITLAB_CI",
    "CI_PROJECT_URL",
    "CI_COMMIT_SHA",
    "CI_COMMIT_REF_NAME",
    "CI_JOB_NAME",
    "CI_JOB_ID",
    "CI_RUNNER_ID",
    "CI_RUNNER_REVISION",
];

/// The CI variables, read with the checks the builders share.
struct Env<'a>(&'a BTreeMap<String, String>);

impl<'a> Env<'a> {
    /// Refuses, naming them all, the variables of `names` that are unset or empty: one
    /// ([`AttestationError::MissingBuildFact`]) or several
    /// ([`AttestationError::MissingBuildFacts`]).
    fn all_set(&self, names: &[&'static str]) -> Result<(), AttestationError> {
        let mut missing: Vec<&'static str> = names
            .iter()
            .copied()
            .filter(|name| self.optional(name).is_none())
            .collect();
        match missing.len() {
            0 => Ok(()),
            1 => Err(AttestationError::MissingBuildFact {
                name: missing.remove(0),
            }),
            _ => Err(AttestationError::MissingBuildFacts { names: missing }),
        }
    }

    /// The value of `name`, `None` when unset or empty.
    fn optional(&self, name: &str) -> Option<&'a str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<&'a str, AttestationError> {
        self.optional(name)
            .ok_or(AttestationError::MissingBuildFact { name })
    }

    /// A variable that must be `true` (the CI system's marker).
    fn flag(&self, name: &'static str) -> Result<(), AttestationError> {
        match self.required(name)? {
            "true" => Ok(()),
            other => Err(invalid(name, other, "expected \"true\"")),
        }
    }

    /// An `http(s)://` URL, without a trailing `/`.
    fn url(&self, name: &'static str) -> Result<&'a str, AttestationError> {
        let value = self.required(name)?;
        let rest = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"))
            .filter(|rest| !rest.is_empty() && !rest.starts_with('/'));
        if rest.is_none() || value.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(invalid(name, value, "expected an http(s) URL"));
        }
        Ok(value.trim_end_matches('/'))
    }

    /// A Git commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
    fn commit(&self, name: &'static str) -> Result<&'a str, AttestationError> {
        let value = self.required(name)?;
        let hex = value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex || !matches!(value.len(), 40 | 64) {
            return Err(invalid(
                name,
                value,
                "expected a commit id of 40 or 64 lowercase hex digits",
            ));
        }
        Ok(value)
    }

    /// A decimal number (an id), kept as written.
    fn number(&self, name: &'static str) -> Result<&'a str, AttestationError> {
        let value = self.required(name)?;
        if value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(name, value, "expected a decimal number"));
        }
        Ok(value)
    }

    /// An RFC 3339 timestamp, when set.
    fn timestamp(&self, name: &'static str) -> Result<Option<&'a str>, AttestationError> {
        match self.optional(name) {
            Some(value) if parse_rfc3339(value).is_none() => {
                Err(invalid(name, value, "expected an RFC 3339 timestamp"))
            }
            other => Ok(other),
        }
    }
}
