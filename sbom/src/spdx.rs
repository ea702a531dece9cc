//! SPDX 2.3 JSON (<https://spdx.github.io/spdx-spec/v2.3/>) of an [`Inventory`].
//!
//! The document has:
//! * `documentNamespace`: the vouch repository URL, `/spdx/`, the image's name and a UUID
//!   derived from the inventory, the subject and the tool version (RFC 9562 UUIDv8 over
//!   SHA-256, its Appendix B.2), so the same image scanned by the same vouch gives the same
//!   document except for `creationInfo.created` and the annotation dates;
//! * `creationInfo`: the time, `Tool: vouch-<version>` as creator, and the inventory's
//!   warnings as the creator comment, one a line;
//! * `packages`: the image (`primaryPackagePurpose` `CONTAINER`, its digest as
//!   `versionInfo` and checksum, its `pkg:oci` purl, see [`Subject::purl`]), the operating
//!   system (`OPERATING-SYSTEM`), and every package (`LIBRARY`), each with an `SPDXID`
//!   unique in the document (`SPDXRef-Package-<purl type>-<name>-<16 hex digits of a hash of
//!   the package>`, characters outside `[A-Za-z0-9.-]` as `-`), its purl as a
//!   `PACKAGE-MANAGER` external reference, where it was found (path and layer digest) as
//!   `sourceInfo`, and its cataloger properties as one annotation, one
//!   `vouch:package:<key>=<value>` a line (the names of the CycloneDX properties, see
//!   [`PROPERTY_PACKAGE_PREFIX`]);
//! * `relationships`: the document `DESCRIBES` the image (the deprecated
//!   `documentDescribes` is not written), the image `CONTAINS` the operating system and
//!   every package.
//!
//! Nothing was downloaded, no file was analyzed and no licence concluded:
//! `downloadLocation`, `licenseConcluded` and `copyrightText` are `NOASSERTION` and
//! `filesAnalyzed` is false. `licenseDeclared` is the package's licences joined with `AND`:
//! SPDX identifiers and expressions this crate knows
//! ([`license::classify`](super::license::classify)) as they are, any other licence name as
//! a `LicenseRef-<name>` defined in `hasExtractedLicensingInfos` (whose `extractedText` is
//! the name: vouch reads names, not licence texts); `NOASSERTION` when there are none.

use std::collections::BTreeMap;

use serde::Serialize;
use vouch_keys::DigestAlgorithm;

use super::license::License;
use super::writer::{
    Ids, PROPERTY_PACKAGE_PREFIX, absolute_path, all_of, content_uuid, id_safe, licenses,
    package_hash,
};
use super::{Inventory, Package, Subject};

/// The in-toto predicate type of an SPDX document (as cosign `--type spdxjson` attests it).
pub const PREDICATE_TYPE: &str = "https://spdx.dev/Document";

/// The SPDX specification version written.
pub const SPDX_VERSION: &str = "SPDX-2.3";

/// The media type of the documents written (SPDX, JSON).
pub const MEDIA_TYPE: &str = "application/spdx+json";

const NOASSERTION: &str = "NOASSERTION";

/// `inventory` of `subject` as an SPDX 2.3 JSON document, pretty-printed with a final
/// newline, created at `created_secs` (Unix time) by vouch `tool_version`.
///
/// Guarantees: every `SPDXID` is unique and matches `SPDXRef-[A-Za-z0-9.-]+`; every
/// relationship names elements of the document; every `LicenseRef-` used is defined in
/// `hasExtractedLicensingInfos`; every package's purl appears as an external reference; the
/// output depends only on the arguments, and only the `created` and `annotationDate` fields
/// depend on `created_secs`.
pub fn spdx_json(
    inventory: &Inventory,
    subject: &Subject,
    created_secs: i64,
    tool_version: &str,
) -> Vec<u8> {
    let content = ("SPDX", SPDX_VERSION, inventory, subject, tool_version);
    // Serializing strings, enums, maps and digests cannot fail.
    let content = serde_json::to_vec(&content).unwrap_or_default();
    let created = vouch_keys::time::format_rfc3339(created_secs);
    let tool = format!("Tool: vouch-{tool_version}");

    let mut ids = Ids::default();
    ids.unique("SPDXRef-DOCUMENT".into());
    let image_id = ids.unique(format!("SPDXRef-Image-{}", id_safe(&subject.name)));
    let image = SpdxPackage {
        name: subject.name.clone(),
        spdx_id: image_id.clone(),
        version_info: Some(subject.digest.to_string()),
        checksums: vec![Checksum {
            algorithm: match subject.digest.algorithm() {
                DigestAlgorithm::Sha256 => "SHA256",
                DigestAlgorithm::Sha384 => "SHA384",
                DigestAlgorithm::Sha512 => "SHA512",
            },
            checksum_value: subject.digest.hex().to_owned(),
        }],
        license_declared: NOASSERTION.into(),
        external_refs: vec![ExternalRef::purl(subject.purl())],
        primary_package_purpose: "CONTAINER",
        ..SpdxPackage::DEFAULT
    };
    let mut packages = vec![image];

    if let Some(distro) = &inventory.distro {
        let id = if distro.version_id.is_empty() {
            format!("SPDXRef-OperatingSystem-{}", id_safe(&distro.id))
        } else {
            format!(
                "SPDXRef-OperatingSystem-{}-{}",
                id_safe(&distro.id),
                id_safe(&distro.version_id)
            )
        };
        packages.push(SpdxPackage {
            name: distro.id.clone(),
            spdx_id: ids.unique(id),
            version_info: (!distro.version_id.is_empty()).then(|| distro.version_id.clone()),
            description: distro.pretty_name.clone(),
            license_declared: NOASSERTION.into(),
            primary_package_purpose: "OPERATING-SYSTEM",
            ..SpdxPackage::DEFAULT
        });
    }

    let mut license_refs = LicenseRefs::default();
    for package in &inventory.packages {
        let id = ids.unique(format!(
            "SPDXRef-Package-{}-{}-{}",
            package.ecosystem.purl_type(),
            id_safe(&package.name),
            package_hash(package)
        ));
        packages.push(spdx_package(
            package,
            id,
            &mut license_refs,
            &tool,
            &created,
        ));
    }

    let mut relationships = vec![Relationship {
        spdx_element_id: "SPDXRef-DOCUMENT".into(),
        relationship_type: "DESCRIBES",
        related_spdx_element: image_id.clone(),
    }];
    relationships.extend(packages[1..].iter().map(|package| Relationship {
        spdx_element_id: image_id.clone(),
        relationship_type: "CONTAINS",
        related_spdx_element: package.spdx_id.clone(),
    }));

    let document = Document {
        spdx_version: SPDX_VERSION,
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: format!("{}@{}", subject.name, subject.digest),
        document_namespace: format!(
            "{}/spdx/{}-{}",
            env!("CARGO_PKG_REPOSITORY"),
            id_safe(&subject.name),
            content_uuid(&content, 8)
        ),
        creation_info: CreationInfo {
            created,
            creators: vec![tool],
            comment: (!inventory.warnings.is_empty()).then(|| {
                format!(
                    "vouch's warnings while reading the image:\n{}",
                    inventory.warnings.join("\n")
                )
            }),
        },
        packages,
        has_extracted_licensing_infos: license_refs.infos(),
        relationships,
    };
    // Serializing strings and vectors of plain structs cannot fail.
    let mut out = serde_json::to_vec_pretty(&document).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The SPDX package of one inventory package, with `id`.
fn spdx_package(
    package: &Package,
    id: String,
    license_refs: &mut LicenseRefs,
    tool: &str,
    created: &str,
) -> SpdxPackage {
    let declared: Vec<String> = licenses(package)
        .into_iter()
        .map(|license| match license {
            License::Id(id) => id.to_owned(),
            License::Expression(expression) => expression,
            License::Name(name) => license_refs.reference(&name),
        })
        .collect();
    let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
    let source_info = (!package.locations.is_empty()).then(|| {
        let places: Vec<String> = package
            .locations
            .iter()
            .map(|location| match &location.layer {
                Some(layer) => format!("{} (layer {layer})", absolute_path(location)),
                None => absolute_path(location),
            })
            .collect();
        format!("found by vouch in {}", places.join("; "))
    });
    SpdxPackage {
        name: package.name.clone(),
        spdx_id: id,
        version_info: (!package.version.is_empty()).then(|| package.version.clone()),
        source_info,
        license_declared: all_of(&declared).unwrap_or_else(|| NOASSERTION.into()),
        external_refs: package
            .purl
            .iter()
            .cloned()
            .map(ExternalRef::purl)
            .collect(),
        primary_package_purpose: "LIBRARY",
        annotations: properties_annotation(package, tool, created)
            .into_iter()
            .collect(),
        ..SpdxPackage::DEFAULT
    }
}

/// One annotation carrying the package's own facts (its cataloger properties), one
/// `vouch:package:<key>=<value>` a line; `None` when it has none.
fn properties_annotation(package: &Package, tool: &str, created: &str) -> Option<Annotation> {
    (!package.properties.is_empty()).then(|| Annotation {
        annotation_date: created.to_owned(),
        annotation_type: "OTHER",
        annotator: tool.to_owned(),
        comment: package
            .properties
            .iter()
            .map(|(key, value)| format!("{PROPERTY_PACKAGE_PREFIX}{key}={value}"))
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

/// The `LicenseRef-` identifiers given to licence names, one per distinct name.
#[derive(Default)]
struct LicenseRefs {
    by_name: BTreeMap<String, String>,
    ids: Ids,
}

impl LicenseRefs {
    /// The `LicenseRef-` of `name`, made on first use.
    fn reference(&mut self, name: &str) -> String {
        if let Some(id) = self.by_name.get(name) {
            return id.clone();
        }
        let id = self.ids.unique(format!("LicenseRef-{}", id_safe(name)));
        self.by_name.insert(name.to_owned(), id.clone());
        id
    }

    /// The definitions, sorted by identifier.
    fn infos(self) -> Vec<ExtractedLicensingInfo> {
        let mut infos: Vec<ExtractedLicensingInfo> = self
            .by_name
            .into_iter()
            .map(|(name, license_id)| ExtractedLicensingInfo {
                license_id,
                extracted_text: name.clone(),
                name,
                comment: "The licence name a package's metadata gives; vouch did not read a \
                          licence text.",
            })
            .collect();
        infos.sort_by(|a, b| a.license_id.cmp(&b.license_id));
        infos
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<SpdxPackage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    has_extracted_licensing_infos: Vec<ExtractedLicensingInfo>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    download_location: &'static str,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    primary_package_purpose: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    annotations: Vec<Annotation>,
}

impl SpdxPackage {
    /// The fields every package of these documents has the same; the rest are set per
    /// package.
    const DEFAULT: SpdxPackage = SpdxPackage {
        name: String::new(),
        spdx_id: String::new(),
        version_info: None,
        description: None,
        download_location: NOASSERTION,
        files_analyzed: false,
        checksums: Vec::new(),
        source_info: None,
        license_concluded: NOASSERTION,
        license_declared: String::new(),
        copyright_text: NOASSERTION,
        external_refs: Vec::new(),
        primary_package_purpose: "LIBRARY",
        annotations: Vec::new(),
    };
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

impl ExternalRef {
    fn purl(purl: String) -> Self {
        Self {
            reference_category: "PACKAGE-MANAGER",
            reference_type: "purl",
            reference_locator: purl,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Annotation {
    annotation_date: String,
    annotation_type: &'static str,
    annotator: String,
    comment: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExtractedLicensingInfo {
    license_id: String,
    extracted_text: String,
    name: String,
    comment: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;
    use vouch_keys::Digest;

    use super::*;
    use crate::{Distro, Ecosystem, Location};

    fn subject() -> Subject {
        Subject {
            name: "registry.example/app".into(),
            digest: Digest::sha256(b"manifest"),
            tag: None,
        }
    }

    fn inventory() -> Inventory {
        let mut a = Package::new(Ecosystem::Npm, "a/b", "1.0.0");
        a.purl = Some("pkg:npm/a%2Fb@1.0.0".into());
        a.licenses = vec!["MIT OR Apache-2.0".into(), "GPL 2+".into()];
        let mut b = Package::new(Ecosystem::Npm, "a-b", "1.0.0");
        b.purl = Some("pkg:npm/a-b@1.0.0".into());
        b.licenses = vec!["GPL-2+".into(), "GPL 2+".into(), "GPL_2+".into()];
        b.properties.insert("source".into(), "zlib".into());
        b.properties.insert("arch".into(), "amd64".into());
        b.locations = vec![Location {
            layer: Some(Digest::sha256(b"layer")),
            path: "app/package.json".into(),
        }];
        Inventory {
            distro: Some(Distro {
                id: "alpine".into(),
                version_id: "3.20.3".into(),
                ..Distro::default()
            }),
            packages: vec![a, b.clone(), b],
            warnings: vec!["one".into(), "two".into()],
        }
    }

    fn document(inventory: &Inventory, created: i64) -> Value {
        serde_json::from_slice(&spdx_json(inventory, &subject(), created, "0.1.0")).unwrap()
    }

    #[test]
    fn same_inventory_same_namespace() {
        let one = document(&inventory(), 1_700_000_000);
        let two = document(&inventory(), 1_800_000_000);
        assert_eq!(one["documentNamespace"], two["documentNamespace"]);
        assert_ne!(
            one["creationInfo"]["created"],
            two["creationInfo"]["created"]
        );
        let mut other = inventory();
        other.warnings.clear();
        assert_ne!(
            one["documentNamespace"],
            document(&other, 1_700_000_000)["documentNamespace"]
        );
    }

    #[test]
    fn spdx_ids_are_unique_valid_and_related() {
        let doc = document(&inventory(), 0);
        let mut ids = BTreeSet::from(["SPDXRef-DOCUMENT".to_owned()]);
        for package in doc["packages"].as_array().unwrap() {
            let id = package["SPDXID"].as_str().unwrap();
            let rest = id.strip_prefix("SPDXRef-").unwrap();
            assert!(
                rest.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
                "{id}"
            );
            assert!(ids.insert(id.to_owned()), "{id} repeats");
        }
        assert_eq!(ids.len(), 6);
        let relationships = doc["relationships"].as_array().unwrap();
        assert_eq!(relationships.len(), 5);
        for relationship in relationships {
            assert!(ids.contains(relationship["spdxElementId"].as_str().unwrap()));
            assert!(ids.contains(relationship["relatedSpdxElement"].as_str().unwrap()));
        }
        assert_eq!(relationships[0]["relationshipType"], "DESCRIBES");
    }

    #[test]
    fn licence_names_become_defined_licence_refs() {
        let doc = document(&inventory(), 0);
        assert_eq!(
            doc["packages"][2]["licenseDeclared"],
            "(MIT OR Apache-2.0) AND LicenseRef-GPL-2-"
        );
        assert_eq!(
            doc["packages"][3]["licenseDeclared"],
            "GPL-2.0-or-later AND LicenseRef-GPL-2- AND LicenseRef-GPL-2--2"
        );
        assert_eq!(doc["packages"][0]["licenseDeclared"], "NOASSERTION");
        let defined: Vec<(&str, &str)> = doc["hasExtractedLicensingInfos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|info| {
                (
                    info["licenseId"].as_str().unwrap(),
                    info["extractedText"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            defined,
            [
                ("LicenseRef-GPL-2-", "GPL 2+"),
                ("LicenseRef-GPL-2--2", "GPL_2+")
            ]
        );
    }

    #[test]
    fn every_purl_appears_and_locations_are_source_info() {
        let inventory = inventory();
        let doc = document(&inventory, 0);
        let purls: BTreeSet<&str> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["externalRefs"].as_array().into_iter().flatten())
            .map(|r| r["referenceLocator"].as_str().unwrap())
            .collect();
        for package in &inventory.packages {
            assert!(purls.contains(package.purl.as_deref().unwrap()));
        }
        assert!(purls.contains(subject().purl().as_str()));
        assert_eq!(
            doc["packages"][3]["sourceInfo"],
            format!(
                "found by vouch in /app/package.json (layer {})",
                Digest::sha256(b"layer")
            )
        );
        assert_eq!(
            doc["packages"][3]["annotations"][0]["comment"],
            "vouch:package:arch=amd64\nvouch:package:source=zlib"
        );
        assert!(doc["packages"][2].get("annotations").is_none());
        assert_eq!(
            doc["creationInfo"]["comment"],
            "vouch's warnings while reading the image:\none\ntwo"
        );
    }
}
