//! Package URLs (purl, ECMA-427 / the purl specification): `pkg:type/namespace/name@version
//! ?qualifiers#subpath`, and the purls of OS packages, which name their distribution.
//!
//! Encoding follows the specification's character rules: ASCII letters and digits, `.`, `-`,
//! `_`, `~` and `:` are written as they are; every other byte of the UTF-8 text is
//! percent-encoded with upper-case hex (`+` is `%2B`, `@` is `%40`, `/` inside a name is
//! `%2F`). Qualifier values encode `:` too (`%3A`), as syft and Grype (packageurl-go) write
//! them: a `vcs_url` reads `git%2Bhttps%3A%2F%2F...`. Qualifier keys are lower case and
//! sorted; empty values are left out.
//!
//! ```
//! use vouch_sbom::purl::Purl;
//!
//! let purl = Purl::new("npm", "core", "7.24.0").namespace("@babel").to_string();
//! assert_eq!(purl, "pkg:npm/%40babel/core@7.24.0");
//! let purl = Purl::new("deb", "zlib1g", "1:1.2.13.dfsg-1")
//!     .namespace("debian")
//!     .qualifier("distro", "debian-12")
//!     .qualifier("arch", "amd64")
//!     .to_string();
//! assert_eq!(purl, "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use super::{Distro, Ecosystem, Package};

/// A package URL under construction; [`fmt::Display`] writes its canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    kind: String,
    namespace: Vec<String>,
    name: String,
    version: String,
    qualifiers: BTreeMap<String, String>,
    subpath: Vec<String>,
}

impl Purl {
    /// `pkg:kind/name@version` (no version part when `version` is empty). The type is
    /// written in lower case.
    pub fn new(kind: &str, name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            kind: kind.to_ascii_lowercase(),
            namespace: Vec::new(),
            name: name.into(),
            version: version.into(),
            qualifiers: BTreeMap::new(),
            subpath: Vec::new(),
        }
    }

    /// Sets the namespace; `/` separates its segments (`github.com/spf13`), each encoded.
    /// Empty segments are dropped.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        self
    }

    /// Adds a qualifier (the key in lower case); an empty value is left out, as the
    /// specification requires.
    pub fn qualifier(mut self, key: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        if !value.is_empty() {
            self.qualifiers.insert(key.to_ascii_lowercase(), value);
        }
        self
    }

    /// Sets the subpath; `/` separates its segments, `.` and `..` segments are dropped.
    pub fn subpath(mut self, subpath: &str) -> Self {
        self.subpath = subpath
            .split('/')
            .filter(|s| !s.is_empty() && *s != "." && *s != "..")
            .map(str::to_owned)
            .collect();
        self
    }
}

/// Writes `text` percent-encoded per the purl character rules.
fn encode(f: &mut impl fmt::Write, text: &str) -> fmt::Result {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_' | b'~' | b':') {
            write!(f, "{}", byte as char)?;
        } else {
            write!(f, "%{byte:02X}")?;
        }
    }
    Ok(())
}

/// Writes a qualifier value: the purl character rules, and `:` encoded as well.
fn encode_value(f: &mut impl fmt::Write, text: &str) -> fmt::Result {
    for part in text.split_inclusive(':') {
        match part.strip_suffix(':') {
            Some(head) => {
                encode(f, head)?;
                f.write_str("%3A")?;
            }
            None => encode(f, part)?,
        }
    }
    Ok(())
}

/// `purl` (a purl in the canonical form [`Purl`] writes) with the qualifier `key` set to
/// `value`, kept in sorted order; an existing value of the key is replaced. An empty
/// `value` leaves the purl as it is.
pub fn with_qualifier(purl: &str, key: &str, value: &str) -> String {
    if value.is_empty() {
        return purl.to_owned();
    }
    let (rest, subpath) = match purl.split_once('#') {
        Some((rest, subpath)) => (rest, Some(subpath)),
        None => (purl, None),
    };
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut qualifiers: BTreeMap<String, String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut encoded = String::new();
    // Writing into a String cannot fail.
    let _ = encode_value(&mut encoded, value);
    qualifiers.insert(key.to_ascii_lowercase(), encoded);
    let mut out = base.to_owned();
    for (index, (k, v)) in qualifiers.iter().enumerate() {
        out.push(if index == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    if let Some(subpath) = subpath {
        out.push('#');
        out.push_str(subpath);
    }
    out
}

impl fmt::Display for Purl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pkg:{}/", self.kind)?;
        for segment in &self.namespace {
            encode(f, segment)?;
            f.write_str("/")?;
        }
        encode(f, &self.name)?;
        if !self.version.is_empty() {
            f.write_str("@")?;
            encode(f, &self.version)?;
        }
        for (index, (key, value)) in self.qualifiers.iter().enumerate() {
            f.write_str(if index == 0 { "?" } else { "&" })?;
            f.write_str(key)?;
            f.write_str("=")?;
            encode_value(f, value)?;
        }
        for (index, segment) in self.subpath.iter().enumerate() {
            f.write_str(if index == 0 { "#" } else { "/" })?;
            encode(f, segment)?;
        }
        Ok(())
    }
}

/// The `distro` qualifier: `<ID>-<VERSION_ID>`, or `<ID>` for a distribution without a
/// version.
pub fn distro_qualifier(distro: &Distro) -> String {
    if distro.version_id.is_empty() {
        distro.id.clone()
    } else {
        format!("{}-{}", distro.id, distro.version_id)
    }
}

/// The purl of an OS package in `distro`, as syft and Trivy write them:
/// * deb: `pkg:deb/<ID>/<name>@<version>?arch=<arch>&distro=<ID>-<VERSION_ID>` and
///   `upstream=<source>` (with `@<source_version>` when it differs) when the source package
///   is another (properties `arch`, `source`, `source_version`);
/// * apk: `pkg:apk/<ID>/<name>@<version>?arch=..&distro=..`, `upstream=<origin>` when the
///   origin is another (properties `arch`, `origin`);
/// * rpm: `pkg:rpm/<ID>/<name>@<version>-<release>?arch=..&distro=..`, `epoch=<n>` and
///   `upstream=<source rpm>` when set (properties `arch`, `epoch`, `source_rpm`).
///
/// Other ecosystems get `pkg:<type>/<name>@<version>`.
pub fn os_package(package: &Package, distro: &Distro) -> String {
    let property = |key: &str| package.properties.get(key).cloned().unwrap_or_default();
    let base = Purl::new(
        package.ecosystem.purl_type(),
        package.name.as_str(),
        package.version.as_str(),
    );
    let with_distro = |purl: Purl| {
        purl.namespace(&distro.id)
            .qualifier("arch", property("arch"))
            .qualifier("distro", distro_qualifier(distro))
    };
    let purl = match package.ecosystem {
        Ecosystem::Deb => {
            let source = property("source");
            let source_version = property("source_version");
            let upstream = match (source.as_str(), source_version.as_str()) {
                ("", _) => String::new(),
                (s, v) if !v.is_empty() && v != package.version => format!("{s}@{v}"),
                (s, _) if s == package.name => String::new(),
                (s, _) => s.to_owned(),
            };
            with_distro(base).qualifier("upstream", upstream)
        }
        Ecosystem::Apk => {
            let origin = property("origin");
            let upstream = if origin == package.name {
                String::new()
            } else {
                origin
            };
            with_distro(base).qualifier("upstream", upstream)
        }
        Ecosystem::Rpm => with_distro(base)
            .qualifier("epoch", property("epoch"))
            .qualifier("upstream", property("source_rpm")),
        _ => base,
    };
    purl.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_follows_the_character_rules() {
        assert_eq!(
            Purl::new("pypi", "zope.interface", "5.4.0+local").to_string(),
            "pkg:pypi/zope.interface@5.4.0%2Blocal"
        );
        assert_eq!(
            Purl::new("golang", "doublestar", "v1.3.1")
                .namespace("github.com/bmatcuk")
                .to_string(),
            "pkg:golang/github.com/bmatcuk/doublestar@v1.3.1"
        );
        assert_eq!(
            Purl::new("generic", "a b/c", "")
                .qualifier("Z", "x y")
                .qualifier("a", "")
                .subpath("./src/../lib")
                .to_string(),
            "pkg:generic/a%20b%2Fc?z=x%20y#src/lib"
        );
    }

    #[test]
    fn qualifiers_are_added_in_order_with_colons_encoded() {
        let purl = Purl::new("pypi", "pygments", "2.6.1")
            .qualifier("z", "1")
            .subpath("lib")
            .to_string();
        assert_eq!(
            with_qualifier(&purl, "VCS_URL", "git+https://example.com/a.git@abc"),
            "pkg:pypi/pygments@2.6.1?vcs_url=git%2Bhttps%3A%2F%2Fexample.com%2Fa.git%40abc&z=1#lib"
        );
        assert_eq!(with_qualifier(&purl, "a", ""), purl);
        assert_eq!(
            with_qualifier("pkg:npm/a@1?b=2", "b", "3"),
            "pkg:npm/a@1?b=3"
        );
    }

    #[test]
    fn os_packages_name_their_distribution() {
        let distro = Distro {
            id: "debian".into(),
            version_id: "12".into(),
            ..Distro::default()
        };
        let mut pam = Package::new(Ecosystem::Deb, "libpam-runtime", "1.1.8-3.6");
        pam.properties.insert("arch".into(), "all".into());
        pam.properties.insert("source".into(), "pam".into());
        assert_eq!(
            os_package(&pam, &distro),
            "pkg:deb/debian/libpam-runtime@1.1.8-3.6?arch=all&distro=debian-12&upstream=pam"
        );
        pam.properties
            .insert("source_version".into(), "1.1.8-3".into());
        assert_eq!(
            os_package(&pam, &distro),
            "pkg:deb/debian/libpam-runtime@1.1.8-3.6?arch=all&distro=debian-12&upstream=pam%401.1.8-3"
        );
        let alpine = Distro {
            id: "alpine".into(),
            version_id: "3.20.3".into(),
            ..Distro::default()
        };
        let mut ssl = Package::new(Ecosystem::Apk, "libssl3", "3.3.2-r0");
        ssl.properties.insert("arch".into(), "x86_64".into());
        ssl.properties.insert("origin".into(), "openssl".into());
        assert_eq!(
            os_package(&ssl, &alpine),
            "pkg:apk/alpine/libssl3@3.3.2-r0?arch=x86_64&distro=alpine-3.20.3&upstream=openssl"
        );
    }
}
