//! Request paths of the OCI distribution API, read strictly: a repository name as the
//! distribution spec's grammar allows it, a tag or a digest, and nothing a path could use to
//! reach elsewhere (no percent-encoding, no `.` or `..` segment, no empty segment).

use vouch_keys::Digest;

/// The longest repository name accepted (the distribution spec's advice for clients).
pub const MAX_NAME_LEN: usize = 255;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /v2/`: the API version check.
    Base,
    /// `/healthz`: the process is up.
    Health,
    /// `/readyz`: the process can serve.
    Ready,
    /// `/metrics`: Prometheus text exposition.
    Metrics,
    /// `/v2/<name>/manifests/<reference>`.
    Manifest {
        /// The repository name as the client gave it.
        name: String,
        /// The tag or digest.
        reference: ManifestReference,
    },
    /// `/v2/<name>/blobs/<digest>`.
    Blob {
        /// The repository name.
        name: String,
        /// The blob's digest.
        digest: Digest,
    },
    /// `/v2/<name>/tags/list`.
    Tags {
        /// The repository name.
        name: String,
    },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers {
        /// The repository name.
        name: String,
        /// The subject's digest.
        digest: Digest,
    },
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestReference {
    /// A tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
    Tag(String),
    /// A digest.
    Digest(Digest),
}

/// Why a path is refused, with the OCI error code it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPath {
    /// `NAME_INVALID`, `DIGEST_INVALID`, `MANIFEST_INVALID` or `NOT_FOUND`.
    pub code: &'static str,
    /// What is wrong, naming the part.
    pub message: String,
}

fn bad(code: &'static str, message: impl Into<String>) -> BadPath {
    BadPath {
        code,
        message: message.into(),
    }
}

/// Reads a request path (without its query).
pub fn parse(path: &str) -> Result<Route, BadPath> {
    match path {
        "/healthz" => return Ok(Route::Health),
        "/readyz" => return Ok(Route::Ready),
        "/metrics" => return Ok(Route::Metrics),
        "/v2" | "/v2/" => return Ok(Route::Base),
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Err(bad("NOT_FOUND", format!("no such endpoint: {path}")));
    };
    if rest.contains('%') {
        return Err(bad(
            "NAME_INVALID",
            "percent-encoded characters are not allowed in a registry path",
        ));
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Ok(Route::Tags {
            name: repository(name)?,
        });
    }
    for (marker, kind) in [("/manifests/", 0), ("/blobs/", 1), ("/referrers/", 2)] {
        if let Some(at) = rest.rfind(marker) {
            let name = repository(&rest[..at])?;
            let last = &rest[at + marker.len()..];
            return match kind {
                0 => Ok(Route::Manifest {
                    name,
                    reference: manifest_reference(last)?,
                }),
                1 => Ok(Route::Blob {
                    name,
                    digest: digest(last)?,
                }),
                _ => Ok(Route::Referrers {
                    name,
                    digest: digest(last)?,
                }),
            };
        }
    }
    Err(bad("NOT_FOUND", format!("no such endpoint: {path}")))
}

/// A repository name as the distribution spec's grammar has it:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most
/// [`MAX_NAME_LEN`] characters. The first component may also carry a port (`host:5000`),
/// as upstream names do.
pub fn repository(name: &str) -> Result<String, BadPath> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(bad(
            "NAME_INVALID",
            format!("a repository name has 1 to {MAX_NAME_LEN} characters"),
        ));
    }
    for (i, component) in name.split('/').enumerate() {
        let component = match (i, component.split_once(':')) {
            (0, Some((host, port)))
                if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                host
            }
            _ => component,
        };
        if !vouch_registry::valid_path_component(component) {
            return Err(bad(
                "NAME_INVALID",
                format!("invalid repository name component {component:?} in {name:?}"),
            ));
        }
    }
    Ok(name.to_owned())
}

fn manifest_reference(text: &str) -> Result<ManifestReference, BadPath> {
    if text.contains(':') {
        return Ok(ManifestReference::Digest(digest(text)?));
    }
    let ok = vouch_registry::valid_tag(text);
    if ok {
        Ok(ManifestReference::Tag(text.to_owned()))
    } else {
        Err(bad(
            "MANIFEST_INVALID",
            format!("invalid tag {text:?}: [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}"),
        ))
    }
}

fn digest(text: &str) -> Result<Digest, BadPath> {
    text.parse::<Digest>()
        .map_err(|e| bad("DIGEST_INVALID", format!("invalid digest {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn routes_read_as_the_distribution_spec_writes_them() {
        assert_eq!(parse("/v2/").unwrap(), Route::Base);
        assert_eq!(
            parse("/v2/upstream.example/library/alpine/manifests/3.20").unwrap(),
            Route::Manifest {
                name: "upstream.example/library/alpine".into(),
                reference: ManifestReference::Tag("3.20".into())
            }
        );
        assert_eq!(
            parse(&format!("/v2/a/manifests/b/manifests/{D}")).unwrap(),
            Route::Manifest {
                name: "a/manifests/b".into(),
                reference: ManifestReference::Digest(D.parse().unwrap())
            }
        );
        assert!(matches!(
            parse(&format!("/v2/127.0.0.1:5000/app/blobs/{D}")).unwrap(),
            Route::Blob { .. }
        ));
        assert_eq!(
            parse("/v2/x/app/tags/list").unwrap(),
            Route::Tags {
                name: "x/app".into()
            }
        );
        assert!(matches!(
            parse(&format!("/v2/x/app/referrers/{D}")).unwrap(),
            Route::Referrers { .. }
        ));
    }

    #[test]
    fn paths_that_could_reach_elsewhere_are_refused() {
        for path in [
            "/v2/x/../etc/manifests/v1",
            "/v2/x/./app/manifests/v1",
            "/v2/x//app/manifests/v1",
            "/v2/x%2Fapp/manifests/v1",
            "/v2/x/app%2e%2e/manifests/v1",
            "/v2/X/app/manifests/v1",
            "/v2/x/app-/manifests/v1",
            "/v2/x/a___b/manifests/v1",
            "/v2//manifests/v1",
        ] {
            let refused = parse(path).unwrap_err();
            assert_eq!(refused.code, "NAME_INVALID", "{path}: {refused:?}");
        }
        assert_eq!(
            parse("/v2/x/app/manifests/.hidden").unwrap_err().code,
            "MANIFEST_INVALID"
        );
        assert_eq!(
            parse("/v2/x/app/blobs/sha256:zz").unwrap_err().code,
            "DIGEST_INVALID"
        );
        assert_eq!(parse("/v3/x").unwrap_err().code, "NOT_FOUND");
        let long = format!("/v2/{}/manifests/v1", "a".repeat(256));
        assert_eq!(parse(&long).unwrap_err().code, "NAME_INVALID");
    }
}
