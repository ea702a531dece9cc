//! Who a Fulcio certificate says signed: the subject alternative name (workflow URI, email,
//! username) and the OIDC issuer that vouched for it, matched against what the caller expects.

use crate::VerifyError;
use crate::x509::Certificate;

/// An expected value: the exact text, or a regular expression.
///
/// Regular expressions follow cosign's `--certificate-identity-regexp`: they match anywhere
/// in the value unless anchored with `^` and `$`, so anchor them to mean "the whole value".
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The value must equal this text.
    Exact(String),
    /// The value must match this expression somewhere.
    Regex(regex::Regex),
}

impl Matcher {
    /// A regular-expression matcher; a pattern that does not compile is
    /// [`VerifyError::PolicyInvalid`].
    pub fn regex(pattern: &str) -> Result<Self, VerifyError> {
        regex::Regex::new(pattern).map(Matcher::Regex).map_err(|e| {
            // The regex crate draws the error under the pattern over several lines; its
            // last line says what is wrong.
            let text = e.to_string();
            let what = text
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned();
            VerifyError::PolicyInvalid {
                reason: format!("regular expression {pattern:?}: {what}"),
            }
        })
    }

    /// Whether `value` satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(expected) => expected == value,
            Matcher::Regex(re) => re.is_match(value),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(text) => write!(f, "{text:?}"),
            Matcher::Regex(re) => write!(f, "/{}/", re.as_str()),
        }
    }
}

/// A claim of the CI workflow that Fulcio records in a certificate, as cosign's
/// `--certificate-github-workflow-*` flags check them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkflowClaim {
    /// The event that triggered the workflow (`push`, `release`...): extension .1.2, else
    /// the newer Build Trigger .1.20.
    Trigger,
    /// The commit the workflow ran on: .1.3, else Source Repository Digest .1.13.
    Sha,
    /// The workflow's name: .1.4.
    Name,
    /// The repository, `owner/name`: .1.5.
    Repository,
    /// The git ref (`refs/tags/v1`): .1.6, else Source Repository Ref .1.14.
    Ref,
}

impl WorkflowClaim {
    /// Every claim, in flag order.
    pub const ALL: [WorkflowClaim; 5] = [
        WorkflowClaim::Trigger,
        WorkflowClaim::Sha,
        WorkflowClaim::Name,
        WorkflowClaim::Repository,
        WorkflowClaim::Ref,
    ];

    /// The name used in messages and policy files: `github-workflow-trigger`, ...
    pub fn name(self) -> &'static str {
        match self {
            WorkflowClaim::Trigger => "github-workflow-trigger",
            WorkflowClaim::Sha => "github-workflow-sha",
            WorkflowClaim::Name => "github-workflow-name",
            WorkflowClaim::Repository => "github-workflow-repository",
            WorkflowClaim::Ref => "github-workflow-ref",
        }
    }

    /// The Fulcio extension numbers that carry the claim: the deprecated one first, then its
    /// newer equivalent where one means the same.
    fn extensions(self) -> &'static [u8] {
        match self {
            WorkflowClaim::Trigger => &[2, 20],
            WorkflowClaim::Sha => &[3, 13],
            WorkflowClaim::Name => &[4],
            WorkflowClaim::Repository => &[5],
            WorkflowClaim::Ref => &[6, 14],
        }
    }

    /// The claim's value in `cert`, if it records it.
    pub fn read(self, cert: &Certificate) -> Result<Option<String>, VerifyError> {
        for number in self.extensions() {
            if let Some(value) = cert.fulcio_extension(*number)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }
}

/// The identity a certificate must carry: a subject alternative name and an OIDC issuer, and
/// any workflow claims required.
#[derive(Debug, Clone)]
pub struct CertificateIdentity {
    /// Matched against each subject alternative name (URI, email, otherName username).
    pub subject: Matcher,
    /// Matched against the Fulcio OIDC issuer extension.
    pub issuer: Matcher,
    /// Workflow claims the certificate must record with exactly these values.
    pub claims: Vec<(WorkflowClaim, String)>,
}

/// The identity found in a certificate, for reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FoundIdentity {
    /// The subject alternative name that matched.
    pub subject: String,
    /// The OIDC issuer.
    pub issuer: String,
}

impl CertificateIdentity {
    /// An identity with this subject and issuer and no workflow claims.
    pub fn new(subject: Matcher, issuer: Matcher) -> Self {
        Self {
            subject,
            issuer,
            claims: Vec::new(),
        }
    }

    /// Checks `cert` against the expected identity; the error names what the certificate
    /// holds instead.
    pub fn check(&self, cert: &Certificate) -> Result<FoundIdentity, VerifyError> {
        for (claim, expected) in &self.claims {
            let found = claim.read(cert)?;
            if found.as_deref() != Some(expected.as_str()) {
                return Err(VerifyError::IdentityMismatch {
                    what: claim.name(),
                    expected: format!("{expected:?}"),
                    found: found.map_or_else(
                        || "no such claim in the certificate".to_owned(),
                        |f| format!("{f:?}"),
                    ),
                });
            }
        }
        // A certificate from a private CA may have no issuer extension: as cosign does, its
        // issuer is then the empty text, which only a regular expression like `.*` matches.
        let issuer = cert.fulcio_issuer()?.unwrap_or_default();
        if !self.issuer.matches(&issuer) {
            return Err(VerifyError::IdentityMismatch {
                what: "OIDC issuer",
                expected: self.issuer.to_string(),
                found: if issuer.is_empty() {
                    "no Fulcio issuer extension".into()
                } else {
                    format!("{issuer:?}")
                },
            });
        }
        let names = cert.subject_alt_names()?;
        match names.iter().find(|n| self.subject.matches(n.as_str())) {
            Some(name) => Ok(FoundIdentity {
                subject: name.as_str().to_owned(),
                issuer,
            }),
            None => Err(VerifyError::IdentityMismatch {
                what: "certificate identity",
                expected: self.subject.to_string(),
                found: if names.is_empty() {
                    "no subject alternative name".into()
                } else {
                    names
                        .iter()
                        .map(|n| format!("{:?}", n.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_without_an_issuer_extension_has_the_empty_issuer() {
        // A timestamp authority's certificate: no Fulcio extensions at all.
        let pem = include_str!("../tests/data/cosign/tsa_leaf.crt.pem");
        let cert = Certificate::from_pem(pem).unwrap();
        let exact = CertificateIdentity::new(
            Matcher::regex(".*").unwrap(),
            Matcher::Exact("https://accounts.example".into()),
        );
        match exact.check(&cert) {
            Err(VerifyError::IdentityMismatch { what, found, .. }) => {
                assert_eq!(what, "OIDC issuer");
                assert_eq!(found, "no Fulcio issuer extension");
            }
            other => panic!("{other:?}"),
        }
        // `.*` takes the missing issuer, as cosign's --certificate-oidc-issuer-regexp does;
        // the subject is then what is checked.
        let any =
            CertificateIdentity::new(Matcher::regex(".*").unwrap(), Matcher::regex(".*").unwrap());
        if let Err(VerifyError::IdentityMismatch { what, .. }) = any.check(&cert) {
            assert_ne!(what, "OIDC issuer");
        }
    }
}
