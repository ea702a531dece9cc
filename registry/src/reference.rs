//! Image references: `[registry/]repository[:tag][@digest]` with docker's defaults, and
//! `oci:PATH[:TAG|@DIGEST]` for OCI image layouts on disk.
//!
//! Grammar: distribution/reference `reference.go`; defaults: `normalize.go` (a first path
//! component is a registry when it contains `.` or `:`, is `localhost`, or has uppercase
//! letters; otherwise the registry is `docker.io`, and single-name Docker Hub repositories get
//! `library/`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use vouch_keys::Digest;

use crate::RegistryError;

/// The registry name Docker Hub images normalise to.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub(crate) const DOCKER_HUB_API: &str = "registry-1.docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A fully normalised reference to an image in a registry: the registry, the repository
/// path, and a tag, a digest, or both. When both are present the digest wins: the tag is kept
/// for display only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

fn invalid(input: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::InvalidReference {
        input: input.chars().take(300).collect(),
        reason: reason.into(),
    }
}

/// Whether `component` is one component of a repository path as the distribution grammar
/// has it: `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*` (distribution/reference `pathComponent`).
pub fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Whether `tag` is a tag as the distribution grammar has it: `[\w][\w.-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// Splits `host[:port]` or `[v6][:port]`; the host comes back without brackets.
fn split_host_port(registry: &str) -> Option<(&str, bool, Option<&str>)> {
    if let Some(rest) = registry.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        return Some((v6, true, port));
    }
    Some(match registry.rsplit_once(':') {
        Some((host, port)) => (host, false, Some(port)),
        None => (registry, false, None),
    })
}

/// A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port.
fn valid_registry(registry: &str) -> bool {
    let Some((host, bracketed, port)) = split_host_port(registry) else {
        return false;
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = if bracketed {
        host.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                let b = label.as_bytes();
                !b.is_empty()
                    && b[0].is_ascii_alphanumeric()
                    && b[b.len() - 1].is_ascii_alphanumeric()
                    && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
            })
    };
    registry.len() <= MAX_NAME_LEN && port_ok && host_ok
}

impl Reference {
    /// Parses a reference as docker does and normalises it (see the module docs). Refuses
    /// empty or over-long names, uppercase repositories, invalid tags and digests that are not
    /// valid `sha256:`/`sha512:` digests, naming the part that is wrong.
    pub fn parse(input: &str) -> Result<Self, RegistryError> {
        if input.is_empty() {
            return Err(invalid(input, "empty reference"));
        }
        if input.contains("://") {
            return Err(invalid(input, "a reference has no URL scheme"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                let digest: Digest = digest
                    .parse()
                    .map_err(|e: vouch_keys::DigestError| invalid(input, e.reason))?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        // A ':' after the last '/' separates the tag; one before it belongs to a port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                if !valid_tag(tag) {
                    return Err(invalid(input, format!("invalid tag \"{tag}\"")));
                }
                (&rest[..last_slash + i], Some(tag.to_owned()))
            }
            None => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                (first.to_owned(), remainder.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_owned()
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !valid_registry(&registry) {
            return Err(invalid(input, format!("invalid registry \"{registry}\"")));
        }
        if repository.is_empty() {
            return Err(invalid(input, "no repository name"));
        }
        if let Some(bad) = repository.split('/').find(|c| !valid_path_component(c)) {
            let reason = if bad.bytes().any(|b| b.is_ascii_uppercase()) {
                "repository names must be lowercase".to_owned()
            } else {
                format!("invalid repository path component \"{bad}\"")
            };
            return Err(invalid(input, reason));
        }
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(invalid(input, "repository name longer than 255 characters"));
        }
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry name as written in references (`docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) to send requests to (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The repository path inside the registry (`library/alpine`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if one was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was given or resolved.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`, the name cosign writes into a signature's `docker-reference`
    /// (go-containerregistry calls Docker Hub `index.docker.io`, and so does cosign).
    pub fn cosign_repository_name(&self) -> String {
        let registry = if self.registry == DOCKER_HUB {
            "index.docker.io"
        } else {
            &self.registry
        };
        format!("{registry}/{}", self.repository)
    }

    /// The same repository at `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository at `tag`, without digest.
    pub fn with_tag(&self, tag: &str) -> Self {
        Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    /// True when the registry host is a loopback name or address, which docker treats as an
    /// insecure (plain HTTP) registry.
    pub fn is_loopback(&self) -> bool {
        is_loopback_registry(&self.registry)
    }
}

/// Whether `registry` (`host[:port]`) names the loopback interface.
pub(crate) fn is_loopback_registry(registry: &str) -> bool {
    let Some((host, _, _)) = split_host_port(registry) else {
        return false;
    };
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl FromStr for Reference {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Reference {
    /// The full normalised form: `registry/repository[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// An image in an OCI image layout directory: `oci:PATH[:TAG]` or `oci:PATH@DIGEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutReference {
    /// The layout directory.
    pub path: PathBuf,
    /// The tag (`org.opencontainers.image.ref.name` in `index.json`), if given.
    pub tag: Option<String>,
    /// The manifest digest, if given.
    pub digest: Option<Digest>,
}

impl fmt::Display for LayoutReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci:{}", self.path.display())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Where an image lives: a registry, or an OCI layout on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageReference {
    /// `[registry/]repository[:tag][@digest]`.
    Registry(Reference),
    /// `oci:PATH[:TAG|@DIGEST]`.
    Layout(LayoutReference),
}

impl ImageReference {
    /// Parses either form; the `oci:` prefix selects a layout.
    pub fn parse(input: &str) -> Result<Self, RegistryError> {
        let Some(rest) = input.strip_prefix("oci:") else {
            return Reference::parse(input).map(Self::Registry);
        };
        if rest.is_empty() {
            return Err(invalid(input, "oci: needs a directory path"));
        }
        let (rest, digest) = match rest.rsplit_once('@') {
            Some((path, digest)) if digest.contains(':') => {
                let digest = digest
                    .parse()
                    .map_err(|e: vouch_keys::DigestError| invalid(input, e.reason))?;
                (path, Some(digest))
            }
            _ => (rest, None),
        };
        // PATH:TAG, where the tag has no '/' (skopeo's oci: transport rule).
        let (path, tag) = match rest.rsplit_once(':') {
            Some((path, tag)) if !tag.contains('/') && !path.is_empty() => {
                if !valid_tag(tag) {
                    return Err(invalid(input, format!("invalid tag \"{tag}\"")));
                }
                (path, Some(tag.to_owned()))
            }
            _ => (rest, None),
        };
        if path.is_empty() {
            return Err(invalid(input, "oci: needs a directory path"));
        }
        Ok(Self::Layout(LayoutReference {
            path: PathBuf::from(path),
            tag,
            digest,
        }))
    }

    /// The digest, if the reference names one.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            ImageReference::Registry(r) => r.digest(),
            ImageReference::Layout(l) => l.digest.as_ref(),
        }
    }
}

impl FromStr for ImageReference {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageReference::Registry(r) => r.fmt(f),
            ImageReference::Layout(l) => l.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parts(input: &str) -> (String, String, Option<String>, Option<String>) {
        let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        (
            r.registry().to_owned(),
            r.repository().to_owned(),
            r.tag().map(str::to_owned),
            r.digest().map(ToString::to_string),
        )
    }

    #[test]
    fn docker_defaults_apply() {
        let s = |x: &str| x.to_owned();
        assert_eq!(
            parts("alpine"),
            (s("docker.io"), s("library/alpine"), None, None)
        );
        assert_eq!(
            parts("alpine:3.20"),
            (s("docker.io"), s("library/alpine"), Some(s("3.20")), None)
        );
        assert_eq!(
            parts("user/app"),
            (s("docker.io"), s("user/app"), None, None)
        );
        assert_eq!(
            parts("index.docker.io/alpine"),
            (s("docker.io"), s("library/alpine"), None, None)
        );
        assert_eq!(
            parts("localhost/app"),
            (s("localhost"), s("app"), None, None)
        );
        assert_eq!(
            parts("127.0.0.1:5000/a/b/c:v1"),
            (s("127.0.0.1:5000"), s("a/b/c"), Some(s("v1")), None)
        );
        assert_eq!(
            parts(&format!("ghcr.io/o/r:t@{D}")),
            (s("ghcr.io"), s("o/r"), Some(s("t")), Some(s(D)))
        );
        assert_eq!(
            parts(&format!("localhost:5000/r@{D}")),
            (s("localhost:5000"), s("r"), None, Some(s(D)))
        );
        assert_eq!(parts("[::1]:5000/r"), (s("[::1]:5000"), s("r"), None, None));
    }

    #[test]
    fn display_is_the_normalised_form() {
        let r = Reference::parse("alpine:3").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/alpine:3");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.cosign_repository_name(), "index.docker.io/library/alpine");
    }

    #[test]
    fn malformed_references_are_refused_with_a_reason() {
        for (input, reason) in [
            ("", "empty"),
            ("upper/Case", "lowercase"),
            ("docker.io/Upper", "lowercase"),
            ("repo:", "invalid tag"),
            ("repo:-tag", "invalid tag"),
            ("repo@sha256:abc", "wrong length"),
            ("repo@md5:abc", "unsupported algorithm"),
            ("https://ghcr.io/x", "scheme"),
            ("a//b", "path component"),
            ("a/b_/c", "path component"),
            ("host:port/x", "invalid registry"),
            ("-bad.host/x", "invalid registry"),
        ] {
            let err = Reference::parse(input).expect_err(input).to_string();
            assert!(err.contains(reason), "{input}: {err}");
        }
        let long = format!("example.com/{}", "a".repeat(250));
        assert!(Reference::parse(&long).is_err());
    }

    #[test]
    fn path_components_follow_the_grammar() {
        for ok in ["a", "a.b", "a_b", "a__b", "a-b", "a---b", "a1.b2"] {
            assert!(valid_path_component(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a..b", "a___b", "a.-b", "A"] {
            assert!(!valid_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn loopback_registries_are_recognised() {
        for yes in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:1",
            "127.8.9.1",
            "[::1]:80",
        ] {
            assert!(is_loopback_registry(yes), "{yes}");
        }
        for no in [
            "example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]",
        ] {
            assert!(!is_loopback_registry(no), "{no}");
        }
    }

    #[test]
    fn layout_references_parse() {
        let parse = |s: &str| match ImageReference::parse(s).unwrap() {
            ImageReference::Layout(l) => l,
            other => panic!("{other:?}"),
        };
        let l = parse("oci:./dir:v1");
        assert_eq!(
            (l.path, l.tag, l.digest),
            (PathBuf::from("./dir"), Some("v1".into()), None)
        );
        let l = parse("oci:/tmp/a/b");
        assert_eq!((l.path, l.tag), (PathBuf::from("/tmp/a/b"), None));
        let l = parse(&format!("oci:dir@{D}"));
        assert_eq!(l.digest.unwrap().to_string(), D);
        assert!(ImageReference::parse("oci:").is_err());
        assert!(ImageReference::parse("oci:dir:bad tag").is_err());
        assert!(matches!(
            ImageReference::parse("ghcr.io/x").unwrap(),
            ImageReference::Registry(_)
        ));
    }
}
