//! The README's layout section lists, for every crate, the workspace crates it depends on;
//! this test holds that list to the `[dependencies]` of each crate's `Cargo.toml`, so the
//! documented arrows cannot drift from the real ones.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use vouch_tests::workspace_dir;

/// The crates the README says each crate depends on.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let readme = fs::read_to_string(workspace_dir().join("README.md")).unwrap();
    let layout = &readme[readme.find("## Layout").unwrap()..];
    layout
        .lines()
        .filter_map(|line| line.split_once(" -> "))
        .chain(
            layout
                .lines()
                .filter_map(|line| line.strip_suffix(" ->").map(|name| (name, ""))),
        )
        .map(|(name, deps)| {
            let deps = deps
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect();
            (name.trim().to_owned(), deps)
        })
        .collect()
}

/// The workspace's product crates: every member but the test harness.
fn members() -> Vec<String> {
    let manifest = fs::read_to_string(workspace_dir().join("Cargo.toml")).unwrap();
    let line = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("members = "))
        .expect("the workspace lists its members on one line");
    line.trim_matches(['[', ']'])
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty() && m != "tests")
        .collect()
}

/// The workspace crates each product crate's `[dependencies]` names.
fn manifests() -> BTreeMap<String, BTreeSet<String>> {
    let mut crates = BTreeMap::new();
    let members = members();
    assert!(members.len() >= 7, "{members:?}");
    for folder in &members {
        let manifest = fs::read_to_string(workspace_dir().join(folder).join("Cargo.toml")).unwrap();
        let name = manifest
            .lines()
            .find_map(|l| l.strip_prefix("name = "))
            .unwrap()
            .trim_matches('"')
            .to_owned();
        let mut section = "";
        let mut deps = BTreeSet::new();
        for line in manifest.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line;
            } else if section == "[dependencies]" && line.starts_with("vouch-") {
                deps.insert(line.split(['.', ' ', '=']).next().unwrap().to_owned());
            }
        }
        crates.insert(name, deps);
    }
    crates
}

#[test]
fn the_readme_layout_arrows_are_the_manifests() {
    let manifests = manifests();
    assert_eq!(manifests.len(), members().len());
    assert_eq!(documented(), manifests);
}

#[test]
fn the_verification_core_depends_only_on_formats_and_keys() {
    let manifests = manifests();
    let verifier = &manifests["vouch-verifier"];
    for forbidden in ["vouch-registry", "vouch-sbom"] {
        assert!(
            !verifier.contains(forbidden),
            "vouch-verifier -> {forbidden}"
        );
    }
}
