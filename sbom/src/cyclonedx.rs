//! CycloneDX 1.6 JSON (<https://cyclonedx.org/docs/1.6/json/>) of an [`Inventory`].
//!
//! The document has:
//! * `serialNumber`: `urn:uuid:` and a UUID derived from the inventory, the subject and the
//!   tool version (SHA-256, laid out as a version 5 UUID, see below), so the same image
//!   scanned by the same vouch gives the same document except `metadata.timestamp`;
//! * `metadata`: the time, vouch as the tool (`tools.components`), the image as the
//!   component (type `container`, its repository as name, its digest as version and hash,
//!   its `pkg:oci` purl, see [`Subject::purl`]), and one `vouch:warning` property per
//!   inventory warning;
//! * `components`: the operating system (type `operating-system`, as syft writes it: `ID`
//!   as name, `VERSION_ID` as version, `PRETTY_NAME` as description, one
//!   `vouch:distro:idLike` property per `ID_LIKE` entry), then every package (type
//!   `library`), each with a `bom-ref` unique in the document, its purl, its licences, and
//!   properties: `vouch:ecosystem`, `vouch:location:<n>:layer` / `vouch:location:<n>:path`
//!   per location, and `vouch:package:<key>` per cataloger property (see
//!   [`PROPERTY_LOCATION_PREFIX`]); Maven packages carry
//!   their `group` property as the component's `group` too;
//! * `dependencies`: the image depends on every component (what it contains; nothing is
//!   said about the packages' own dependencies, which the inventory does not know).
//!
//! Property names are vouch's own (`vouch:`), not syft's: syft's `syft:location:<n>:layerID`
//! is a layer's diff ID, and vouch records the blob digest. The CycloneDX property taxonomy
//! allows unregistered namespaces and repeated names.
//!
//! Licences ([`license::classify`](super::license::classify)), all with `acknowledgement`
//! `declared` (they come from the package's own metadata): a package whose licences are all
//! known SPDX identifiers lists them as `license.id`; one whose licences are all SPDX and
//! include a compound expression gets one `expression` (all of them joined with `AND`);
//! otherwise each licence is a `license`: known identifiers as `id`, the rest (compound
//! expressions included, as syft does) as `name`. The schema checks `license.id` against
//! the SPDX list, and only identifiers this crate knows are on it are written there.
//!
//! The `serialNumber` UUID is not an RFC 4122 version 5 UUID (those hash with SHA-1): it has
//! that layout (version nibble 5, variant `10`) over the first 16 bytes of a SHA-256, because
//! the specification asks for an RFC 4122 UUID, and RFC 4122 has no SHA-256 version.

use serde::Serialize;
use vouch_keys::DigestAlgorithm;

use super::license::License;
use super::writer::{
    Ids, PROPERTY_DISTRO_ID_LIKE, PROPERTY_ECOSYSTEM, PROPERTY_LOCATION_PREFIX,
    PROPERTY_PACKAGE_PREFIX, PROPERTY_WARNING, absolute_path, all_of, content_uuid, licenses,
    package_hash,
};
use super::{Ecosystem, Inventory, Package, Subject};

/// The in-toto predicate type of a CycloneDX BOM (as cosign `--type cyclonedx` attests it).
pub const PREDICATE_TYPE: &str = "https://cyclonedx.org/bom";

/// The CycloneDX specification version written.
pub const SPEC_VERSION: &str = "1.6";

/// The media type of the documents written (CycloneDX 1.6, JSON).
pub const MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

/// `inventory` of `subject` as a CycloneDX 1.6 JSON document, pretty-printed with a final
/// newline, created at `created_secs` (Unix time) by vouch `tool_version`.
///
/// Guarantees: the document validates against the CycloneDX 1.6 JSON schema; every
/// `bom-ref` is unique and every reference in `dependencies` names one; every package's purl
/// appears as its component's `purl`; the output depends only on the arguments, and only
/// `metadata.timestamp` depends on `created_secs`.
pub fn cyclonedx_json(
    inventory: &Inventory,
    subject: &Subject,
    created_secs: i64,
    tool_version: &str,
) -> Vec<u8> {
    let content = ("CycloneDX", SPEC_VERSION, inventory, subject, tool_version);
    // Serializing strings, enums, maps and digests cannot fail.
    let content = serde_json::to_vec(&content).unwrap_or_default();

    let mut ids = Ids::default();
    let image_ref = ids.unique(subject.purl());
    let mut components = Vec::with_capacity(inventory.packages.len() + 1);
    if let Some(distro) = &inventory.distro {
        let version = (!distro.version_id.is_empty()).then(|| distro.version_id.clone());
        components.push(Component {
            kind: "operating-system",
            bom_ref: Some(ids.unique(match &version {
                Some(version) => format!("os:{}@{version}", distro.id),
                None => format!("os:{}", distro.id),
            })),
            group: None,
            name: distro.id.clone(),
            version,
            description: distro.pretty_name.clone(),
            hashes: Vec::new(),
            licenses: Vec::new(),
            purl: None,
            properties: distro
                .id_like
                .iter()
                .map(|like| Property::new(PROPERTY_DISTRO_ID_LIKE, like))
                .collect(),
        });
    }
    for package in &inventory.packages {
        components.push(component(package, &mut ids));
    }

    let dependencies = vec![Dependency {
        reference: image_ref.clone(),
        depends_on: components
            .iter()
            .filter_map(|component| component.bom_ref.clone())
            .collect(),
    }];

    let bom = Bom {
        bom_format: "CycloneDX",
        spec_version: SPEC_VERSION,
        serial_number: format!("urn:uuid:{}", content_uuid(&content, 5)),
        version: 1,
        metadata: Metadata {
            timestamp: vouch_keys::time::format_rfc3339(created_secs),
            tools: Tools {
                components: vec![Component {
                    kind: "application",
                    bom_ref: None,
                    group: None,
                    name: "vouch".into(),
                    version: Some(tool_version.to_owned()),
                    description: None,
                    hashes: Vec::new(),
                    licenses: Vec::new(),
                    purl: None,
                    properties: Vec::new(),
                }],
            },
            component: Component {
                kind: "container",
                bom_ref: Some(image_ref),
                group: None,
                name: subject.name.clone(),
                version: Some(subject.digest.to_string()),
                description: None,
                hashes: vec![Hash {
                    alg: match subject.digest.algorithm() {
                        DigestAlgorithm::Sha256 => "SHA-256",
                        DigestAlgorithm::Sha384 => "SHA-384",
                        DigestAlgorithm::Sha512 => "SHA-512",
                    },
                    content: subject.digest.hex().to_owned(),
                }],
                licenses: Vec::new(),
                purl: Some(subject.purl()),
                properties: Vec::new(),
            },
            properties: inventory
                .warnings
                .iter()
                .map(|warning| Property::new(PROPERTY_WARNING, warning))
                .collect(),
        },
        components,
        dependencies,
    };
    // Serializing strings and vectors of plain structs cannot fail.
    let mut out = serde_json::to_vec_pretty(&bom).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The component of one package.
fn component(package: &Package, ids: &mut Ids) -> Component {
    let version = if package.version.is_empty() {
        String::new()
    } else {
        format!("@{}", package.version)
    };
    let bom_ref = ids.unique(format!(
        "{}:{}{version}:{}",
        package.ecosystem.purl_type(),
        package.name,
        package_hash(package)
    ));
    let group = match package.ecosystem {
        Ecosystem::Java => package.properties.get("group").cloned(),
        _ => None,
    };
    Component {
        kind: "library",
        bom_ref: Some(bom_ref),
        group,
        name: package.name.clone(),
        version: (!package.version.is_empty()).then(|| package.version.clone()),
        description: None,
        hashes: Vec::new(),
        licenses: license_choice(&licenses(package)),
        purl: package.purl.clone(),
        properties: package_properties(package)
            .into_iter()
            .map(|(name, value)| Property { name, value })
            .collect(),
    }
}

/// The properties of `package`, in order: its ecosystem, its locations, its own facts.
fn package_properties(package: &Package) -> Vec<(String, String)> {
    let mut out = vec![(
        PROPERTY_ECOSYSTEM.to_owned(),
        package.ecosystem.purl_type().to_owned(),
    )];
    for (index, location) in package.locations.iter().enumerate() {
        if let Some(layer) = &location.layer {
            out.push((
                format!("{PROPERTY_LOCATION_PREFIX}{index}:layer"),
                layer.to_string(),
            ));
        }
        out.push((
            format!("{PROPERTY_LOCATION_PREFIX}{index}:path"),
            absolute_path(location),
        ));
    }
    for (key, value) in &package.properties {
        out.push((format!("{PROPERTY_PACKAGE_PREFIX}{key}"), value.clone()));
    }
    out
}

/// The `licenses` of a component (see the module documentation).
fn license_choice(licenses: &[License]) -> Vec<LicenseChoice> {
    let spdx: Option<Vec<&str>> = licenses.iter().map(License::spdx).collect();
    if let Some(spdx) = spdx
        && licenses
            .iter()
            .any(|license| matches!(license, License::Expression(_)))
        && let Some(expression) = all_of(&spdx)
    {
        return vec![LicenseChoice::Expression {
            expression,
            acknowledgement: DECLARED,
        }];
    }
    licenses
        .iter()
        .map(|license| LicenseChoice::License {
            license: match license {
                License::Id(id) => LicenseObject {
                    id: Some(id),
                    name: None,
                    acknowledgement: DECLARED,
                },
                License::Expression(text) | License::Name(text) => LicenseObject {
                    id: None,
                    name: Some(text.clone()),
                    acknowledgement: DECLARED,
                },
            },
        })
        .collect()
}

/// The licence acknowledgement of licences read from packages' own metadata.
const DECLARED: &str = "declared";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: Metadata,
    components: Vec<Component>,
    dependencies: Vec<Dependency>,
}

#[derive(Serialize)]
struct Metadata {
    timestamp: String,
    tools: Tools,
    component: Component,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Serialize)]
struct Tools {
    components: Vec<Component>,
}

#[derive(Serialize)]
struct Component {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref", skip_serializing_if = "Option::is_none")]
    bom_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<LicenseChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum LicenseChoice {
    License {
        license: LicenseObject,
    },
    Expression {
        expression: String,
        acknowledgement: &'static str,
    },
}

#[derive(Serialize)]
struct LicenseObject {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    acknowledgement: &'static str,
}

#[derive(Serialize)]
struct Property {
    name: String,
    value: String,
}

impl Property {
    fn new(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }
}

#[derive(Serialize)]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(rename = "dependsOn")]
    depends_on: Vec<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;
    use vouch_keys::Digest;

    use super::*;
    use crate::{Distro, Location};

    fn subject() -> Subject {
        Subject {
            name: "registry.example/app".into(),
            digest: Digest::sha256(b"manifest"),
            tag: Some("v1".into()),
        }
    }

    fn inventory() -> Inventory {
        let mut a = Package::new(Ecosystem::Npm, "a/b", "1.0.0");
        a.purl = Some("pkg:npm/a%2Fb@1.0.0".into());
        a.licenses = vec!["MIT".into(), "Apache-2.0".into()];
        let mut b = Package::new(Ecosystem::Npm, "a-b", "1.0.0");
        b.purl = Some("pkg:npm/a-b@1.0.0".into());
        b.licenses = vec!["MIT OR Apache-2.0".into(), "ISC".into()];
        let mut c = b.clone();
        c.licenses = vec!["MIT OR Apache-2.0".into(), "Custom".into()];
        c.locations = vec![Location {
            layer: Some(Digest::sha256(b"layer")),
            path: "app/package.json".into(),
        }];
        Inventory {
            distro: Some(Distro {
                id: "debian".into(),
                version_id: "12".into(),
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
                id_like: vec![],
            }),
            // The same package twice, as a hand-built inventory may have it.
            packages: vec![a, b.clone(), b, c],
            warnings: vec!["lib/apk/db/installed: truncated".into()],
        }
    }

    fn document(inventory: &Inventory, created: i64) -> Value {
        serde_json::from_slice(&cyclonedx_json(inventory, &subject(), created, "0.1.0")).unwrap()
    }

    #[test]
    fn same_inventory_same_serial_number() {
        let one = document(&inventory(), 1_700_000_000);
        let two = document(&inventory(), 1_800_000_000);
        assert_eq!(one["serialNumber"], two["serialNumber"]);
        assert_ne!(one["metadata"]["timestamp"], two["metadata"]["timestamp"]);
        let mut other = inventory();
        other.packages.pop();
        assert_ne!(
            one["serialNumber"],
            document(&other, 1_700_000_000)["serialNumber"]
        );
        let serial = one["serialNumber"].as_str().unwrap();
        assert!(serial.starts_with("urn:uuid:"));
        assert_eq!(serial.chars().nth(9 + 14), Some('5'));
    }

    #[test]
    fn bom_refs_are_unique_and_dependencies_name_them() {
        let bom = document(&inventory(), 0);
        let mut refs = BTreeSet::new();
        assert!(refs.insert(bom["metadata"]["component"]["bom-ref"].as_str().unwrap()));
        for component in bom["components"].as_array().unwrap() {
            assert!(
                refs.insert(component["bom-ref"].as_str().unwrap()),
                "{component}"
            );
        }
        assert_eq!(refs.len(), 6);
        let dependency = &bom["dependencies"][0];
        assert_eq!(dependency["ref"], bom["metadata"]["component"]["bom-ref"]);
        assert_eq!(dependency["dependsOn"].as_array().unwrap().len(), 5);
        for reference in dependency["dependsOn"].as_array().unwrap() {
            assert!(refs.contains(reference.as_str().unwrap()));
        }
    }

    #[test]
    fn every_purl_appears() {
        let inventory = inventory();
        let bom = document(&inventory, 0);
        let purls: BTreeSet<&str> = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["purl"].as_str())
            .collect();
        for package in &inventory.packages {
            assert!(purls.contains(package.purl.as_deref().unwrap()));
        }
        assert_eq!(
            bom["metadata"]["component"]["purl"].as_str().unwrap(),
            subject().purl()
        );
    }

    #[test]
    fn licences_take_the_form_their_kind_allows() {
        let bom = document(&inventory(), 0);
        let components = bom["components"].as_array().unwrap();
        assert_eq!(
            components[1]["licenses"],
            serde_json::json!([
                {"license": {"id": "MIT", "acknowledgement": "declared"}},
                {"license": {"id": "Apache-2.0", "acknowledgement": "declared"}},
            ])
        );
        assert_eq!(
            components[2]["licenses"],
            serde_json::json!([
                {"expression": "(MIT OR Apache-2.0) AND ISC", "acknowledgement": "declared"},
            ])
        );
        assert_eq!(
            components[4]["licenses"],
            serde_json::json!([
                {"license": {"name": "MIT OR Apache-2.0", "acknowledgement": "declared"}},
                {"license": {"name": "Custom", "acknowledgement": "declared"}},
            ])
        );
    }

    #[test]
    fn warnings_and_locations_are_properties() {
        let bom = document(&inventory(), 0);
        assert_eq!(
            bom["metadata"]["properties"],
            serde_json::json!([{"name": "vouch:warning", "value": "lib/apk/db/installed: truncated"}])
        );
        assert_eq!(
            bom["components"][4]["properties"],
            serde_json::json!([
                {"name": "vouch:ecosystem", "value": "npm"},
                {"name": "vouch:location:0:layer", "value": Digest::sha256(b"layer").to_string()},
                {"name": "vouch:location:0:path", "value": "/app/package.json"},
            ])
        );
    }
}
