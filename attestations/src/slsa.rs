//! SLSA build provenance: typed models of the v1 and v0.2 predicates, and builders that
//! describe a CI run (GitHub Actions, GitLab CI, or any build described by hand) as v1.
//!
//! * [`v1::Provenance`]: `https://slsa.dev/provenance/v1` ([`PROVENANCE_V1`]).
//! * [`v0_2::Provenance`]: `https://slsa.dev/provenance/v0.2` ([`PROVENANCE_V0_2`]).
//! * [`AnyProvenance`]: either, read from an [`intoto::Statement`](crate::intoto::Statement) by its `predicateType`,
//!   with the facts a verifier or a policy asks first: [`AnyProvenance::builder_id`],
//!   [`AnyProvenance::build_type`], [`AnyProvenance::source`].
//! * [`build`]: provenance v1 statements from a CI environment ([`build::github_actions`],
//!   [`build::gitlab_ci`], [`build::from_ci_environment`]) or from explicit facts
//!   ([`build::generic`]).
//!
//! Reading is lossless: a predicate read and written again ([`v1::Provenance::to_value`])
//! is the same JSON value. Fields the models name are typed (free-form parameters stay
//! [`serde_json::Value`]s, timestamps stay strings); everything else, including named fields
//! set to `null`, is kept in each struct's `extra` map. Reading is strict where the spec
//! requires a field (v1: `buildDefinition.buildType`, `buildDefinition.externalParameters`,
//! `runDetails.builder.id`, as in-toto's Go `Validate()`; v0.2: `builder.id`, `buildType`), on
//! the JSON type of every named field, and on the digests and timestamps it holds.
//! Provenance v0.1 (Google Cloud Build's `recipe` form) and the pre-release
//! `https://slsa.dev/provenance/v1?draft` / `v1.0?draft` forms are not modelled: reading them
//! fails with [`AttestationError::NotProvenance`].
//!
//! # Source repository
//!
//! [`AnyProvenance::source`] names the repository a build says it built from:
//!
//! * v1 with a GitHub Actions workflow build type ([`GITHUB_WORKFLOW_BUILD_TYPE`] and its
//!   predecessor `https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1`):
//!   `externalParameters.workflow.repository`, with the ref and commit of the resolved
//!   dependency for that repository;
//! * v1 with the GitLab runner build type or [`GENERIC_BUILD_TYPE`]: `externalParameters.source`
//!   and its resolved dependency;
//! * other v1 build types: the first resolved dependency whose URI starts with `git+`;
//! * v0.2: `invocation.configSource`, else the first `git+` material.
//!
//! A `git+https://host/path@ref` URI is split into repository (`https://host/path`) and ref;
//! the commit is the `gitCommit` digest, else `sha1`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::time::{Duration, UNIX_EPOCH};
//! use vouch_attestations::intoto::{ResourceDescriptor, Statement};
//! use vouch_attestations::slsa::{AnyProvenance, build};
//! use vouch_keys::Digest;
//!
//! let commit = "8f70009fde0c94ade6ce2a054b94718c819126ec";
//! let env = BTreeMap::from([
//!     ("GITHUB_ACTIONS", "true"),
//!     ("GITHUB_SERVER_URL", "https://github.com"),
//!     ("GITHUB_REPOSITORY", "octo/app"),
//!     ("GITHUB_REF", "refs/heads/main"),
//!     ("GITHUB_SHA", commit),
//!     ("GITHUB_WORKFLOW_REF", "octo/app/.github/workflows/release.yml@refs/heads/main"),
//!     ("GITHUB_RUN_ID", "14095611671"),
//!     ("GITHUB_RUN_ATTEMPT", "1"),
//!     ("GITHUB_EVENT_NAME", "push"),
//!     ("GITHUB_REPOSITORY_ID", "631710741"),
//!     ("GITHUB_REPOSITORY_OWNER_ID", "60951090"),
//!     ("RUNNER_ENVIRONMENT", "github-hosted"),
//! ])
//! .into_iter()
//! .map(|(k, v)| (k.to_owned(), v.to_owned()))
//! .collect();
//! let image = Digest::sha256(b"an image manifest");
//! let subjects = vec![ResourceDescriptor::for_digest("registry.example/app", &image)];
//! let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//!
//! let statement = build::from_ci_environment(&env, subjects, now).unwrap();
//!
//! // What a verifier sees after parsing the signed statement.
//! let received = Statement::from_slice(&statement.to_vec()).unwrap();
//! let provenance = AnyProvenance::from_statement(&received).unwrap();
//! assert_eq!(
//!     provenance.builder_id(),
//!     "https://github.com/octo/app/.github/workflows/release.yml@refs/heads/main"
//! );
//! let source = provenance.source().unwrap();
//! assert_eq!(source.repository, "https://github.com/octo/app");
//! assert_eq!(source.git_ref, Some("refs/heads/main"));
//! assert_eq!(source.commit, Some(commit));
//! assert_eq!(provenance.to_value(), *received.predicate().unwrap());
//! ```

pub mod build;
mod fields;
mod time;
pub mod v0_2;
pub mod v1;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::intoto::Statement;
use crate::{AttestationError, truncated};

/// The `predicateType` of SLSA provenance v1 (spec <https://slsa.dev/spec/v1.0/provenance>;
/// v1.1 keeps it).
pub const PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// The `predicateType` of SLSA provenance v0.2 (spec <https://slsa.dev/spec/v0.2/provenance>).
pub const PROVENANCE_V0_2: &str = "https://slsa.dev/provenance/v0.2";

/// The `buildType` GitHub's artifact attestations (actions/attest-build-provenance) write:
/// a GitHub Actions workflow run (<https://actions.github.io/buildtypes/workflow/v1>).
pub const GITHUB_WORKFLOW_BUILD_TYPE: &str = "https://actions.github.io/buildtypes/workflow/v1";

/// The earlier name of [`GITHUB_WORKFLOW_BUILD_TYPE`], which the npm CLI writes.
const GITHUB_WORKFLOW_BUILD_TYPE_SLSA: &str =
    "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1";

/// What comes before the runner revision in the `buildType` GitLab runners write
/// (`https://gitlab.com/gitlab-org/gitlab-runner/-/blob/{REVISION}/PROVENANCE.md`).
pub const GITLAB_RUNNER_BUILD_TYPE_PREFIX: &str =
    "https://gitlab.com/gitlab-org/gitlab-runner/-/blob/";

/// The `buildType` of [`build::generic`] provenance, vouch's own: a build described by
/// hand. `externalParameters` has `source` (the source URI, as given) and, when any were
/// given, `parameters` (an object of strings); `resolvedDependencies` holds the source with
/// its digest; `runDetails.builder.id` is the builder named by the user.
pub const GENERIC_BUILD_TYPE: &str = "https://vouch.dev/buildtypes/generic/v1";

fn is_github_workflow_build_type(build_type: &str) -> bool {
    build_type == GITHUB_WORKFLOW_BUILD_TYPE || build_type == GITHUB_WORKFLOW_BUILD_TYPE_SLSA
}

/// Build types whose `externalParameters.source` names the source repository.
fn names_source_parameter(build_type: &str) -> bool {
    build_type == GENERIC_BUILD_TYPE
        || build_type
            .strip_prefix(GITLAB_RUNNER_BUILD_TYPE_PREFIX)
            .is_some_and(|rest| rest.ends_with("/PROVENANCE.md"))
}

/// The source repository a provenance names (see the [module documentation](self) for
/// where each version keeps it). Strings borrow from the provenance, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    /// The repository, without the `git+` prefix and the `@ref` suffix:
    /// `https://github.com/OWNER/REPO`.
    pub repository: &'a str,
    /// The ref built (`refs/heads/main`, `refs/tags/v1.2.3`), when the provenance names one.
    pub git_ref: Option<&'a str>,
    /// The commit built (the `gitCommit` digest, else `sha1`), when the provenance gives one.
    pub commit: Option<&'a str>,
}

/// Splits an SPDX-style VCS URI (`git+https://host/path@ref`) into repository and ref. The
/// ref starts at the first `@` after the host, so a user in the authority
/// (`git+ssh://git@host/path@ref`) and a tag containing `@` (`pkg@1.0.0`) both read right.
fn split_vcs_uri(uri: &str) -> (&str, Option<&str>) {
    let uri = uri.strip_prefix("git+").unwrap_or(uri);
    let path_start = uri
        .find("://")
        .map(|scheme_end| scheme_end + 3)
        .and_then(|authority| uri[authority..].find('/').map(|slash| authority + slash))
        .unwrap_or(0);
    match uri[path_start..].find('@') {
        Some(at) => {
            let at = path_start + at;
            let git_ref = &uri[at + 1..];
            (&uri[..at], (!git_ref.is_empty()).then_some(git_ref))
        }
        None => (uri, None),
    }
}

/// The commit in a digest set: `gitCommit`, else `sha1` (what v0.2 producers wrote).
fn commit_of(digest: &BTreeMap<String, String>) -> Option<&str> {
    digest
        .get("gitCommit")
        .or_else(|| digest.get("sha1"))
        .map(String::as_str)
}

/// A SLSA provenance of a version vouch models, told apart by the statement's
/// `predicateType`.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyProvenance {
    /// [`PROVENANCE_V1`].
    V1(v1::Provenance),
    /// [`PROVENANCE_V0_2`].
    V0_2(v0_2::Provenance),
}

impl AnyProvenance {
    /// Reads a statement's predicate as the provenance version its `predicateType` names.
    /// Fails with [`AttestationError::NotProvenance`] for any other `predicateType`
    /// (including v0.1 and the `?draft` forms), with [`AttestationError::Malformed`] when the
    /// predicate is missing or invalid. This does not check signatures: verify the envelope
    /// first.
    pub fn from_statement(statement: &Statement) -> Result<Self, AttestationError> {
        let predicate_type = statement.predicate_type();
        if predicate_type != PROVENANCE_V1 && predicate_type != PROVENANCE_V0_2 {
            return Err(AttestationError::NotProvenance {
                found: truncated(predicate_type, 100),
            });
        }
        let predicate = statement
            .predicate()
            .ok_or_else(|| AttestationError::Malformed {
                format: "SLSA provenance",
                reason: "the statement has no predicate".into(),
            })?;
        Self::from_predicate(predicate_type, predicate)
    }

    /// Reads `predicate` as the version `predicate_type` names; fails as
    /// [`AnyProvenance::from_statement`] does.
    pub fn from_predicate(
        predicate_type: &str,
        predicate: &Value,
    ) -> Result<Self, AttestationError> {
        match predicate_type {
            PROVENANCE_V1 => v1::Provenance::from_predicate(predicate).map(Self::V1),
            PROVENANCE_V0_2 => v0_2::Provenance::from_predicate(predicate).map(Self::V0_2),
            other => Err(AttestationError::NotProvenance {
                found: truncated(other, 100),
            }),
        }
    }

    /// The `predicateType` of this version.
    pub fn predicate_type(&self) -> &'static str {
        match self {
            AnyProvenance::V1(_) => PROVENANCE_V1,
            AnyProvenance::V0_2(_) => PROVENANCE_V0_2,
        }
    }

    /// The builder id (v1 `runDetails.builder.id`, v0.2 `builder.id`); never empty.
    pub fn builder_id(&self) -> &str {
        match self {
            AnyProvenance::V1(provenance) => provenance.builder_id(),
            AnyProvenance::V0_2(provenance) => provenance.builder_id(),
        }
    }

    /// The build type (v1 `buildDefinition.buildType`, v0.2 `buildType`); never empty.
    pub fn build_type(&self) -> &str {
        match self {
            AnyProvenance::V1(provenance) => provenance.build_type(),
            AnyProvenance::V0_2(provenance) => provenance.build_type(),
        }
    }

    /// The source repository, ref and commit, by the rules of the
    /// [module documentation](self); `None` when the provenance names no source.
    pub fn source(&self) -> Option<Source<'_>> {
        match self {
            AnyProvenance::V1(provenance) => provenance.source(),
            AnyProvenance::V0_2(provenance) => provenance.source(),
        }
    }

    /// The predicate as JSON, equal to the one read.
    pub fn to_value(&self) -> Value {
        match self {
            AnyProvenance::V1(provenance) => provenance.to_value(),
            AnyProvenance::V0_2(provenance) => provenance.to_value(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcs_uris_split_at_the_ref() {
        for (uri, repository, git_ref) in [
            (
                "git+https://github.com/o/r@refs/heads/main",
                "https://github.com/o/r",
                Some("refs/heads/main"),
            ),
            ("git+https://github.com/o/r", "https://github.com/o/r", None),
            ("https://gitlab.com/g/p", "https://gitlab.com/g/p", None),
            (
                "git+ssh://git@example.com/o/r@refs/tags/pkg@1.0.0",
                "ssh://git@example.com/o/r",
                Some("refs/tags/pkg@1.0.0"),
            ),
            ("git+https://h/o/r@", "https://h/o/r", None),
            ("r@main", "r", Some("main")),
        ] {
            assert_eq!(split_vcs_uri(uri), (repository, git_ref), "{uri}");
        }
    }
}
