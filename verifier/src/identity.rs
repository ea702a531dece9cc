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
        regex::Regex::new(pattern)
            .map(Matcher::Regex)
            .map_err(|e| VerifyError::PolicyInvalid {
                reason: format!("regular expression {pattern:?}: {e}"),
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

/// The identity a certificate must carry: a subject alternative name and an OIDC issuer.
#[derive(Debug, Clone)]
pub struct CertificateIdentity {
    /// Matched against each subject alternative name (URI, email, otherName username).
    pub subject: Matcher,
    /// Matched against the Fulcio OIDC issuer extension.
    pub issuer: Matcher,
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
    /// Checks `cert` against the expected identity; the error names what the certificate
    /// holds instead.
    pub fn check(&self, cert: &Certificate) -> Result<FoundIdentity, VerifyError> {
        let issuer = cert.fulcio_issuer()?.ok_or(VerifyError::IdentityMismatch {
            what: "OIDC issuer",
            expected: self.issuer.to_string(),
            found: "no Fulcio issuer extension".into(),
        })?;
        if !self.issuer.matches(&issuer) {
            return Err(VerifyError::IdentityMismatch {
                what: "OIDC issuer",
                expected: self.issuer.to_string(),
                found: format!("{issuer:?}"),
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
