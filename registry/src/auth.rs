//! Registry authentication: where credentials come from, and the `WWW-Authenticate`
//! challenge (RFC 7235 section 4.1; the bearer-token flow of the distribution `token.md`).

use std::collections::BTreeMap;
use std::fmt;

use crate::RegistryError;
use crate::reference::DOCKER_HUB;

/// Where the client finds credentials when a registry asks for them.
#[derive(Clone, Default)]
pub enum Credentials {
    /// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`: `credHelpers`, `auths`
    /// (`auth`, `username`/`password`, `identitytoken`), then `credsStore`; anonymous when
    /// nothing is configured for the registry.
    #[default]
    DockerConfig,
    /// Never send credentials.
    Anonymous,
    /// These credentials for every registry.
    Basic {
        /// User name.
        username: String,
        /// Password or token.
        password: zeroize::Zeroizing<String>,
    },
}

impl fmt::Debug for Credentials {
    /// Never prints a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::DockerConfig => f.write_str("DockerConfig"),
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
        }
    }
}

/// A credential found for one registry.
pub(crate) enum Secret {
    UsernamePassword(String, zeroize::Zeroizing<String>),
    IdentityToken(zeroize::Zeroizing<String>),
}

/// The keys under which docker stores credentials for `registry`.
fn config_keys(registry: &str) -> Vec<String> {
    if registry == DOCKER_HUB {
        vec![
            "https://index.docker.io/v1/".into(),
            "index.docker.io".into(),
            "docker.io".into(),
            "registry-1.docker.io".into(),
        ]
    } else {
        vec![
            registry.to_owned(),
            format!("https://{registry}"),
            format!("http://{registry}"),
        ]
    }
}

impl Credentials {
    /// The credential for `registry`, or `None` for anonymous access.
    pub(crate) fn lookup(&self, registry: &str) -> Result<Option<Secret>, RegistryError> {
        use docker_credential::{CredentialRetrievalError as E, DockerCredential};
        match self {
            Credentials::Anonymous => Ok(None),
            Credentials::Basic { username, password } => Ok(Some(Secret::UsernamePassword(
                username.clone(),
                password.clone(),
            ))),
            Credentials::DockerConfig => {
                for key in config_keys(registry) {
                    match docker_credential::get_credential(&key) {
                        Ok(DockerCredential::UsernamePassword(user, password)) => {
                            return Ok(Some(Secret::UsernamePassword(user, password.into())));
                        }
                        Ok(DockerCredential::IdentityToken(token)) => {
                            return Ok(Some(Secret::IdentityToken(token.into())));
                        }
                        Err(E::NoCredentialConfigured | E::ConfigNotFound) => {}
                        // The crate says this of a missing file too: no file is no config.
                        Err(E::ConfigReadError)
                            if docker_config_path().is_none_or(|path| !path.exists()) => {}
                        Err(e) => {
                            return Err(RegistryError::Credentials {
                                registry: registry.to_owned(),
                                reason: describe_credential_error(&e, &key),
                            });
                        }
                    }
                }
                Ok(None)
            }
        }
    }
}

/// The docker config file docker reads: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
fn docker_config_path() -> Option<std::path::PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => Some(std::path::PathBuf::from(dir).join("config.json")),
        None => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| std::path::PathBuf::from(home).join(".docker/config.json")),
    }
}

/// Why the docker config could not be read, naming the file and, for bad JSON, the line and
/// column (the file's contents are never quoted: they hold credentials).
fn describe_unreadable_config() -> String {
    let Some(path) = docker_config_path() else {
        return "the docker config could not be read".into();
    };
    let shown = path.display();
    match std::fs::read(&path) {
        Err(e) => format!("the docker config {shown} could not be read: {e}"),
        Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Err(e) => format!(
                "the docker config {shown} is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
            Ok(_) => format!("the docker config {shown} is not in docker's format"),
        },
    }
}

/// The `docker-credential-*` program the docker config names for `key` (`credHelpers`, else
/// `credsStore`), if it can be read.
fn helper_for(key: &str) -> Option<String> {
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(docker_config_path()?).ok()?).ok()?;
    let name = config
        .get("credHelpers")
        .and_then(|helpers| helpers.get(key))
        .or_else(|| config.get("credsStore"))?
        .as_str()?;
    Some(format!("docker-credential-{name}"))
}

/// Describes a credential lookup failure for the config key `key` without echoing helper
/// output, which may hold secrets.
fn describe_credential_error(
    error: &docker_credential::CredentialRetrievalError,
    key: &str,
) -> String {
    use docker_credential::CredentialRetrievalError as E;
    match error {
        E::ConfigReadError => describe_unreadable_config(),
        E::HelperCommunicationError => match helper_for(key) {
            Some(helper) => format!(
                "could not run the docker credential helper {helper} (is it installed and on PATH?)"
            ),
            None => "could not run the docker credential helper".into(),
        },
        E::MalformedHelperResponse => "the docker credential helper answered malformed JSON".into(),
        E::HelperFailure { helper, .. } => format!("credential helper {helper} failed"),
        E::CredentialDecodingError => {
            "the \"auth\" entry in the docker config is not base64 user:password".into()
        }
        E::CredentialMismatchError => {
            "the docker config's \"auth\" and \"username\"/\"password\" disagree".into()
        }
        _ => "the docker config could not be read".into(),
    }
}

/// For the `docker_config` fuzz target only (`fuzz/fuzz_targets/docker_config.rs`); not part
/// of the API. Parses `challenge` as a `WWW-Authenticate` value, and looks up the credential
/// for `registry` as a client does when challenged: from `$DOCKER_CONFIG/config.json` (the
/// target writes its input there, with a `PATH` on which no credential helper is found). Says
/// whether a credential was found; never returns or logs the secret itself.
#[doc(hidden)]
pub fn fuzz_credentials(registry: &str, challenge: &str) -> Result<bool, RegistryError> {
    if let Some(challenge) = parse_challenge(challenge) {
        assert_eq!(challenge.scheme, challenge.scheme.to_ascii_lowercase());
    }
    Credentials::DockerConfig
        .lookup(registry)
        .map(|secret| secret.is_some())
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// `basic` or `bearer`, lowercased.
    pub(crate) scheme: String,
    /// Auth parameters with lowercased names (`realm`, `service`, `scope`).
    pub(crate) params: BTreeMap<String, String>,
}

/// Parses the first challenge of a `WWW-Authenticate` value:
/// `scheme param="value", param=token, ...` (RFC 7235 section 2.1, quoted strings with
/// backslash escapes per RFC 7230 section 3.2.6).
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, mut rest) = match header.split_once(char::is_whitespace) {
        Some((scheme, rest)) => (scheme, rest.trim_start()),
        None => (header, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = BTreeMap::new();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.insert(name, value);
        rest = remaining.trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            // Another challenge follows; the first one is enough.
            None => break,
        }
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_parses() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:library/alpine:pull");
    }

    #[test]
    fn quoting_spaces_and_escapes_are_handled() {
        let c = parse_challenge(r#"Basic realm="a \"quoted\", realm" , charset=UTF-8"#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params["realm"], r#"a "quoted", realm"#);
        assert_eq!(c.params["charset"], "UTF-8");
        assert_eq!(parse_challenge("Basic").unwrap().params.len(), 0);
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
        assert!(parse_challenge("").is_none());
    }

    #[test]
    fn docker_hub_credentials_use_dockers_key() {
        assert_eq!(config_keys("docker.io")[0], "https://index.docker.io/v1/");
        assert_eq!(config_keys("ghcr.io")[0], "ghcr.io");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: zeroize::Zeroizing::new("hunter2".into()),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
