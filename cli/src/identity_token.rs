//! The OIDC identity token a keyless signature is bought with: from `--identity-token`
//! (the token, or `@FILE`), else the environment (`SIGSTORE_ID_TOKEN`, which GitLab's
//! `id_tokens:` and other CI systems set), else GitHub Actions' token service
//! (`ACTIONS_ID_TOKEN_REQUEST_URL` + `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, given to jobs with
//! `permissions: id-token: write`). There is no interactive browser flow.
//!
//! The token is read, not verified (Fulcio verifies it): vouch only looks at its claims to
//! refuse early what Fulcio would refuse (expired, for another audience) and to know which
//! identity the certificate must name. Neither the token nor its claims are logged, and its
//! text is zeroized when dropped.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::CliError;

/// The largest token accepted: real ones are 1 to 3 KiB.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The environment variable holding a token (GitLab `id_tokens`, and cosign's name).
pub(crate) const TOKEN_VARIABLE: &str = "SIGSTORE_ID_TOKEN";

/// An identity token and the claims vouch reads from it.
pub(crate) struct IdentityToken {
    raw: Zeroizing<String>,
    /// `iss`: who issued it; the certificate's OIDC issuer must say the same.
    pub(crate) issuer: String,
    /// What Fulcio's proof of possession signs: the `email` claim when there is one, else
    /// `sub` (as sigstore clients choose it).
    pub(crate) subject: String,
    /// The identities a certificate for this token may name in its SAN.
    pub(crate) identities: Vec<String>,
    /// Where it came from, for messages (`--identity-token`, `SIGSTORE_ID_TOKEN`, ...).
    pub(crate) source: &'static str,
}

impl std::fmt::Debug for IdentityToken {
    /// Never the token or its claims.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityToken")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: String,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    aud: Audience,
    exp: Option<f64>,
    nbf: Option<f64>,
    #[serde(default)]
    email: Option<String>,
    /// GitHub Actions: `owner/repo/.github/workflows/release.yml@refs/tags/v1`.
    #[serde(default)]
    job_workflow_ref: Option<String>,
    /// GitLab: `gitlab.com/group/project//.gitlab-ci.yml@refs/heads/main`.
    #[serde(default)]
    ci_config_ref_uri: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Audience {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::None => false,
            Audience::One(one) => one == wanted,
            Audience::Many(many) => many.iter().any(|a| a == wanted),
        }
    }
}

fn refused(source: &str, reason: impl std::fmt::Display) -> CliError {
    CliError::IdentityToken(format!("the identity token from {source} {reason}"))
}

impl IdentityToken {
    /// Reads `text` (from `source`) as a JSON Web Token for `audience`, at `now` (seconds
    /// since the epoch). Refused, naming what is wrong and never quoting the token: not three
    /// base64url parts with JSON claims, no `iss` or subject, expired or not yet valid, or
    /// for another audience.
    pub(crate) fn parse(
        text: &str,
        source: &'static str,
        audience: &str,
        now: i64,
    ) -> Result<Self, CliError> {
        let text = text.trim();
        if text.len() > MAX_TOKEN_BYTES {
            return Err(refused(
                source,
                format!("is larger than {MAX_TOKEN_BYTES} bytes"),
            ));
        }
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(refused(
                source,
                "is not a JSON Web Token (three base64url parts separated by dots)",
            ));
        }
        let payload = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(parts[1].trim_end_matches('='))
                .map_err(|_| refused(source, "has claims that are not base64url"))?,
        );
        let claims: Claims = serde_json::from_slice(&payload)
            .map_err(|_| refused(source, "has claims that are not a JSON object"))?;
        if claims.iss.is_empty() {
            return Err(refused(source, "names no issuer (iss)"));
        }
        let email = claims.email.filter(|e| !e.is_empty());
        let subject = match (&email, claims.sub.is_empty()) {
            (Some(email), _) => email.clone(),
            (None, false) => claims.sub.clone(),
            (None, true) => return Err(refused(source, "names no subject (sub or email)")),
        };
        if let Some(exp) = claims.exp
            && (exp as i64) <= now
        {
            return Err(refused(
                source,
                format!(
                    "expired at {} (it is now {}); ask for a fresh one",
                    vouch_keys::time::format_rfc3339(exp as i64),
                    vouch_keys::time::format_rfc3339(now)
                ),
            ));
        }
        if let Some(nbf) = claims.nbf
            && (nbf as i64) > now + 60
        {
            return Err(refused(
                source,
                format!(
                    "is not valid before {}",
                    vouch_keys::time::format_rfc3339(nbf as i64)
                ),
            ));
        }
        if !claims.aud.contains(audience) {
            return Err(refused(
                source,
                format!(
                    "is for another audience, not {audience:?}; request it for {audience:?} (or pass --oidc-client-id)"
                ),
            ));
        }
        let mut identities = Vec::new();
        if let Some(email) = email {
            identities.push(email);
        }
        if let Some(workflow) = claims.job_workflow_ref.filter(|w| !w.is_empty()) {
            identities.push(format!("https://github.com/{workflow}"));
        }
        if let Some(config) = claims.ci_config_ref_uri.filter(|c| !c.is_empty()) {
            identities.push(format!("https://{config}"));
        }
        if !claims.sub.is_empty() {
            identities.push(claims.sub);
        }
        Ok(Self {
            raw: Zeroizing::new(text.to_owned()),
            issuer: claims.iss,
            subject,
            identities,
            source,
        })
    }

    /// The token itself, to send to Fulcio.
    pub(crate) fn as_str(&self) -> &str {
        &self.raw
    }
}

/// Where the token comes from: the flag (a token, or `@FILE`), the environment, or GitHub
/// Actions. `None` when there is none anywhere.
pub(crate) async fn find(
    flag: Option<&str>,
    audience: &str,
    options: vouch_registry::ClientOptions,
) -> Result<Option<(Zeroizing<String>, &'static str)>, CliError> {
    if let Some(value) = flag {
        let token = match value.strip_prefix('@') {
            Some(path) => {
                let path = Path::new(path);
                let text = vouch_keys::files::read_capped(path, MAX_TOKEN_BYTES as u64)?;
                Zeroizing::new(String::from_utf8(text).map_err(|_| CliError::Input {
                    path: path.to_owned(),
                    reason: "is not UTF-8 text".into(),
                })?)
            }
            None => Zeroizing::new(value.to_owned()),
        };
        return Ok(Some((token, "--identity-token")));
    }
    if let Ok(token) = std::env::var(TOKEN_VARIABLE)
        && !token.trim().is_empty()
    {
        return Ok(Some((Zeroizing::new(token), TOKEN_VARIABLE)));
    }
    if let (Ok(url), Ok(bearer)) = (
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL"),
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) {
        let bearer = Zeroizing::new(bearer);
        let token =
            vouch_registry::sigstore::oidc::github_actions_token(&url, &bearer, audience, options)
                .await?;
        return Ok(Some((token, "GitHub Actions")));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(claims: serde_json::Value) -> String {
        let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.c2ln", part(&json!({"alg": "none"})), part(&claims))
    }

    #[test]
    fn claims_give_the_subject_and_the_identities() {
        let github = token(json!({
            "iss": "https://token.actions.githubusercontent.com", "sub": "repo:acme/app:ref:refs/tags/v1",
            "aud": "sigstore", "exp": 2_000_000_000,
            "job_workflow_ref": "acme/app/.github/workflows/release.yml@refs/tags/v1",
        }));
        let t = IdentityToken::parse(&github, "test", "sigstore", 1_900_000_000).unwrap();
        assert_eq!(t.subject, "repo:acme/app:ref:refs/tags/v1");
        assert_eq!(
            t.identities[0],
            "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
        );
        let email = token(json!({"iss": "https://accounts.example", "sub": "123",
            "email": "a@example.com", "aud": ["x", "sigstore"]}));
        let t = IdentityToken::parse(&email, "test", "sigstore", 0).unwrap();
        assert_eq!(t.subject, "a@example.com");
        assert!(!format!("{t:?}").contains("a@example.com"));
    }

    #[test]
    fn bad_tokens_are_refused_without_quoting_them() {
        let now = 1_900_000_000;
        for (text, needle) in [
            ("nope".to_owned(), "not a JSON Web Token"),
            ("a.!!!.c".to_owned(), "not base64url"),
            (token(json!({"sub": "x", "aud": "sigstore"})), "no issuer"),
            (token(json!({"iss": "i", "aud": "sigstore"})), "no subject"),
            (
                token(json!({"iss": "i", "sub": "s", "aud": "sigstore", "exp": now - 5})),
                "expired at",
            ),
            (
                token(json!({"iss": "i", "sub": "s", "aud": "other"})),
                "another audience",
            ),
            (
                token(json!({"iss": "i", "sub": "s", "aud": "sigstore", "nbf": now + 3600})),
                "not valid before",
            ),
        ] {
            let error = IdentityToken::parse(&text, "test", "sigstore", now)
                .unwrap_err()
                .to_string();
            assert!(error.contains(needle), "{error}");
            assert!(text.len() < 5 || !error.contains(&text), "{error}");
        }
    }
}
