//! What the CycloneDX and SPDX writers share: the image a document describes, identifiers
//! derived from content, and how locations are shown.

use std::collections::BTreeSet;

use serde::Serialize;
use vouch_keys::Digest;

use super::license::{License, classify};
use super::purl::Purl;
use super::{Location, Package};

/// The CycloneDX property naming a package's ecosystem by its purl type: `deb`, `pypi`,
/// `golang`.
pub const PROPERTY_ECOSYSTEM: &str = "vouch:ecosystem";
/// The start of the properties naming where a package was found, one pair per location
/// `<n>` from 0: `vouch:location:<n>:layer`, the digest of the layer's blob as the image
/// manifest lists it (not its diff ID; absent when the location has no layer), and
/// `vouch:location:<n>:path`, the file's absolute path in the image's filesystem.
pub const PROPERTY_LOCATION_PREFIX: &str = "vouch:location:";
/// The start of the names of a package's own facts, by the cataloger's key:
/// `vouch:package:arch`, `vouch:package:source`. CycloneDX has one property per fact; SPDX
/// one annotation per package, a `<name>=<value>` line per fact.
pub const PROPERTY_PACKAGE_PREFIX: &str = "vouch:package:";
/// The document-level property (CycloneDX metadata) carrying one inventory warning.
pub const PROPERTY_WARNING: &str = "vouch:warning";
/// The property of the operating system component carrying one `ID_LIKE` entry.
pub const PROPERTY_DISTRO_ID_LIKE: &str = "vouch:distro:idLike";

/// The image an SBOM describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// The repository, without tag or digest: `registry.example/team/app`.
    pub name: String,
    /// The digest of the image's manifest (or index), which the documents record as its
    /// version and checksum.
    pub digest: Digest,
    /// The tag the image was found by, when it was named by tag.
    pub tag: Option<String>,
}

impl Subject {
    /// The image's package URL, per the purl `oci` type: the last segment of the repository
    /// in lower case as the name, the digest as the version, the repository as
    /// `repository_url` and the tag as `tag`:
    /// `pkg:oci/app@sha256:<hex>?repository_url=registry.example%2Fteam%2Fapp&tag=v1`
    /// (encoded by [`Purl`]: `:` as is, `/` in a qualifier as `%2F`).
    pub fn purl(&self) -> String {
        let last = self.name.rsplit('/').next().unwrap_or_default();
        Purl::new("oci", last.to_ascii_lowercase(), self.digest.to_string())
            .qualifier("repository_url", self.name.as_str())
            .qualifier("tag", self.tag.clone().unwrap_or_default())
            .to_string()
    }
}

/// A UUID (RFC 9562 layout: 8-4-4-4-12 lower-case hex) made of the first 16 bytes of the
/// SHA-256 of `content`, with the version nibble set to `version` and the variant bits to
/// `10`. The same content gives the same UUID.
///
/// With version 8 this is RFC 9562's name-based UUIDv8 over SHA-256 (its Appendix B.2).
/// Version 5 is laid out like RFC 4122's name-based UUID but hashed with SHA-256 instead of
/// SHA-1; it is for fields whose specification only admits RFC 4122 versions (CycloneDX's
/// `serialNumber`).
pub(crate) fn content_uuid(content: &[u8], version: u8) -> String {
    let mut bytes = Digest::sha256(content).to_bytes();
    bytes.truncate(16);
    bytes[6] = (bytes[6] & 0x0f) | (version << 4);
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = vouch_keys::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// 16 hex digits of the SHA-256 of what identifies `package` in an inventory (ecosystem,
/// name, version, purl and locations), so that its identifiers in a document do not depend on
/// the other packages, nor change when its licences or properties do.
pub(crate) fn package_hash(package: &Package) -> String {
    let identity = (
        package.ecosystem,
        &package.name,
        &package.version,
        &package.purl,
        &package.locations,
    );
    // Serializing strings, enums and digests cannot fail.
    let bytes = serde_json::to_vec(&identity).unwrap_or_default();
    Digest::sha256(&bytes).hex()[..16].to_owned()
}

/// `text` with every character outside `[A-Za-z0-9.-]` (what SPDX identifiers allow)
/// replaced by `-`.
pub(crate) fn id_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Identifiers handed out within one document: each is unique.
#[derive(Default)]
pub(crate) struct Ids {
    used: BTreeSet<String>,
}

impl Ids {
    /// `base` if not handed out yet, else `base-2`, `base-3`, ... (the first free one).
    pub(crate) fn unique(&mut self, base: String) -> String {
        let mut id = base.clone();
        let mut n = 2;
        while self.used.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        self.used.insert(id.clone());
        id
    }
}

/// The package's licences, classified, without empty ones or repeats, in their order.
pub(crate) fn licenses(package: &Package) -> Vec<License> {
    let mut out: Vec<License> = Vec::new();
    for text in &package.licenses {
        let license = classify(text);
        if license != License::Name(String::new()) && !out.contains(&license) {
            out.push(license);
        }
    }
    out
}

/// The SPDX expressions `parts` joined with `AND` (every one applies), compound ones in
/// parentheses; `None` for no parts.
pub(crate) fn all_of(parts: &[&str]) -> Option<String> {
    match parts {
        [] => None,
        [one] => Some((*one).to_owned()),
        _ => Some(
            parts
                .iter()
                .map(|part| {
                    if part.contains(' ') {
                        format!("({part})")
                    } else {
                        (*part).to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(" AND "),
        ),
    }
}

/// The location's path as an absolute path in the image's filesystem: `/var/lib/dpkg/status`.
pub(crate) fn absolute_path(location: &Location) -> String {
    format!("/{}", location.path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ecosystem;

    #[test]
    fn content_uuids_are_stable_and_carry_version_and_variant() {
        let v5 = content_uuid(b"inventory", 5);
        assert_eq!(v5, content_uuid(b"inventory", 5));
        assert_ne!(v5, content_uuid(b"inventory 2", 5));
        let bytes: Vec<char> = v5.chars().collect();
        assert_eq!(v5.len(), 36);
        assert_eq!(bytes[14], '5');
        assert!(matches!(bytes[19], '8' | '9' | 'a' | 'b'));
        assert_eq!(content_uuid(b"inventory", 8).chars().nth(14), Some('8'));
    }

    #[test]
    fn ids_are_unique() {
        let mut ids = Ids::default();
        assert_eq!(ids.unique("a".into()), "a");
        assert_eq!(ids.unique("a".into()), "a-2");
        assert_eq!(ids.unique("a-2".into()), "a-2-2");
        assert_eq!(ids.unique("a".into()), "a-3");
    }

    #[test]
    fn oci_purl_names_repository_digest_and_tag() {
        let digest = Digest::sha256(b"manifest");
        let subject = Subject {
            name: "registry.example:5000/Team/App".into(),
            digest: digest.clone(),
            tag: Some("v1".into()),
        };
        assert_eq!(
            subject.purl(),
            format!(
                "pkg:oci/app@sha256:{}?repository_url=registry.example%3A5000%2FTeam%2FApp&tag=v1",
                digest.hex()
            )
        );
    }

    #[test]
    fn package_hash_ignores_licences() {
        let mut package = Package::new(Ecosystem::Npm, "a", "1");
        let before = package_hash(&package);
        package.licenses.push("MIT".into());
        assert_eq!(package_hash(&package), before);
        package.version = "2".into();
        assert_ne!(package_hash(&package), before);
    }
}
