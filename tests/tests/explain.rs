//! `vouch explain` end to end: two multi-platform images on a real registry (distribution
//! 2.8), each signed keylessly in cosign's tag layout by an in-process Sigstore (a Rekor v1
//! entry and an RFC 3161 timestamp each) and attested with a CycloneDX SBOM signed by a key;
//! the trust policy wants the keyless signer on every platform and an SBOM its Rego policy
//! approves. One image is allowed; the other's SBOM carries a hostile note the Rego denial
//! quotes. The graph (`-o json`), the tree (text), the DOT file and the HTML page must all
//! say what `verify --policy` decided, with the failing link where the decision puts it, and
//! the HTML page must load nothing and show the hostile note as text, as headless Chromium
//! (Debian's, driven by playwright-core) renders it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use vouch_tests::scenarios::{EvidenceSpec, Sigstores, push_keyless};
use vouch_tests::{
    Image, KeyPair, Peer, Registry, generate_key, push_index, unavailable, unique, vouch,
    vouch_with_password,
};

const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SBOM_TYPE: &str = "https://cyclonedx.org/bom";
/// What the denied image's SBOM says about its approval, which the Rego denial quotes: markup,
/// a URL to fetch and quotes, all of which a report must show as text.
const HOSTILE: &str =
    r#"<script>alert("owned")</script><img src="https://evil.example/x.png"> & 'quoted'"#;

const REGO: &str = r#"package signature
import rego.v1
deny contains msg if {
  input.predicate.metadata.approval != "approved"
  msg := sprintf("the SBOM is not approved: %v", [input.predicate.metadata.approval])
}
"#;

/// The policy: the keyless release workflow on the index and on every platform, and an SBOM
/// signed by the release key that `sbom.rego` approves.
fn policy(dir: &Path, registry: &Registry) -> PathBuf {
    let path = dir.join("policy.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: vouch.dev/v1\n\
             kind: TrustPolicy\n\
             authorities:\n  \
               ci:\n    \
                 keyless: {{issuer: \"{ISSUER}\", subject: \"{IDENTITY}\"}}\n    \
                 trustedRoot: {{path: roots/test.json}}\n  \
               release: {{key: {{path: release.pub}}}}\n\
             scopes:\n  \
               - images: [\"{}/**\"]\n    \
                 authorities: [ci]\n    \
                 platforms: all\n    \
                 attestations:\n      \
                   - type: {SBOM_TYPE}\n        \
                     authorities: [release]\n        \
                     rego: sbom.rego\n",
            registry.addr
        ),
    )
    .unwrap();
    std::fs::write(dir.join("sbom.rego"), REGO).unwrap();
    path
}

/// Two indexes of two platforms each, signed and attested; the denied one's index SBOM is
/// not approved.
struct Setup {
    _registry: Registry,
    dir: tempfile::TempDir,
    policy: PathBuf,
    allowed: Image,
    denied: Image,
}

impl Setup {
    fn start() -> Setup {
        let registry = Registry::start();
        let dir = tempfile::tempdir().unwrap();
        let key = generate_key(dir.path(), "release", "ecdsa-p256");
        let sigstores = Sigstores::default();
        sigstores.write_roots(dir.path());
        let policy = policy(dir.path(), &registry);
        let allowed = evidenced(&registry, &sigstores, &key, dir.path(), "approved");
        let denied = evidenced(&registry, &sigstores, &key, dir.path(), HOSTILE);
        Setup {
            _registry: registry,
            dir,
            policy,
            allowed,
            denied,
        }
    }

    /// `vouch explain --policy POLICY ARGS IMAGE`.
    fn explain(&self, image: &Image, args: &[&str]) -> vouch_tests::Run {
        let mut all = vec!["explain", "--policy", self.policy.to_str().unwrap()];
        all.extend_from_slice(args);
        all.push(&image.tagged);
        vouch(&all)
    }

    /// The decision `vouch verify --policy` makes about `image`.
    fn decision(&self, image: &Image, code: i32) -> Value {
        let run = vouch(&[
            "verify",
            "--policy",
            self.policy.to_str().unwrap(),
            "-o",
            "json",
            &image.tagged,
        ])
        .expect_code(code);
        run.json()[0]["decision"].clone()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Pushes an index of two platforms, then signs the index and each platform with the keyless
/// release workflow and attests each with an SBOM whose approval is `index_approval` for the
/// index and `approved` for the platforms.
fn evidenced(
    registry: &Registry,
    sigstores: &Sigstores,
    key: &KeyPair,
    dir: &Path,
    index_approval: &str,
) -> Image {
    let (index, children) = push_index(registry, &unique("explain"), "v1");
    let signature: EvidenceSpec = serde_json::from_value(json!({
        "keyless": {"subject": IDENTITY, "issuer": ISSUER, "timestamp": true},
    }))
    .unwrap();
    let repository = index.repository.clone();
    let targets = std::iter::once((index.digest.clone(), index_approval))
        .chain(children.iter().map(|c| (c.clone(), "approved")));
    for (digest, approval) in targets {
        let target = format!("{repository}@{digest}");
        push_keyless(&signature, sigstores, &target, &registry.addr);
        let predicate = dir.join(format!("{}.json", unique("sbom")));
        std::fs::write(
            &predicate,
            json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "metadata": {"approval": approval}})
                .to_string(),
        )
        .unwrap();
        vouch_with_password(
            &key.password,
            &[
                "attest",
                "--key",
                key.key.to_str().unwrap(),
                "--type",
                SBOM_TYPE,
                "--predicate",
                predicate.to_str().unwrap(),
                &target,
            ],
        )
        .expect_code(0);
    }
    index
}

fn nodes(graph: &Value) -> &Vec<Value> {
    graph["nodes"].as_array().unwrap()
}

fn node<'g>(graph: &'g Value, id: &str) -> &'g Value {
    nodes(graph)
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no node {id} in {graph:#}"))
}

fn of_kind<'g>(graph: &'g Value, kind: &str) -> Vec<&'g Value> {
    nodes(graph).iter().filter(|n| n["kind"] == kind).collect()
}

fn has_edge(graph: &Value, from: &str, to: &str, kind: &str) -> bool {
    graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["from"] == from && e["to"] == to && e["kind"] == kind)
}

/// HTML-escaped, as the page must hold every string of the evidence.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Checks what the index, its platforms, and the index's signature and SBOM show: digests,
/// the keyless signer, its log entry and timestamp, the key that signed the SBOM.
fn check_evidence_links(graph: &Value, image: &Image) {
    assert_eq!(graph["digest"], image.digest.as_str());
    let index = node(graph, "index");
    assert_eq!(index["digest"], image.digest.as_str());
    assert!(has_edge(graph, "image", "index", "index"));
    let platforms = of_kind(graph, "platform");
    assert_eq!(platforms.len(), 2, "{graph:#}");
    for platform in &platforms {
        // Decided (`platforms: all`), each signed and attested.
        assert_eq!(platform["status"], "pass", "{platform:#}");
        assert!(has_edge(
            graph,
            "index",
            platform["id"].as_str().unwrap(),
            "platform"
        ));
    }
    let signatures = of_kind(graph, "signature");
    assert_eq!(signatures.len(), 3, "one per manifest: {graph:#}");
    let on_index = signatures
        .iter()
        .find(|s| has_edge(graph, "index", s["id"].as_str().unwrap(), "subject"))
        .expect("a signature about the index");
    assert_eq!(on_index["status"], "pass");
    assert_eq!(
        on_index["signer"],
        format!("{IDENTITY} ({ISSUER})").as_str()
    );
    assert!(on_index["logIndex"].is_u64(), "{on_index:#}");
    assert!(on_index["time"].is_string(), "{on_index:#}");
    let id = on_index["id"].as_str().unwrap();
    let signer = node(graph, &format!("{id}-signer-0"));
    assert!(has_edge(
        graph,
        id,
        signer["id"].as_str().unwrap(),
        "signed-by"
    ));
    let log = node(graph, &format!("{id}-signer-0-log-0"));
    assert_eq!(log["kind"], "log-entry");
    assert_eq!(log["logIndex"], on_index["logIndex"]);
    assert!(
        log["logUrl"].is_string() && log["time"].is_string(),
        "{log:#}"
    );
    let timestamp = node(graph, &format!("{id}-signer-0-timestamp-0"));
    assert_eq!(timestamp["kind"], "timestamp");
    assert!(timestamp["time"].is_string());
    // The authority it vouched for.
    let ci = of_kind(graph, "authority")
        .into_iter()
        .find(|a| a["label"] == "authority ci")
        .expect("the ci authority");
    assert_eq!(ci["status"], "pass");
    assert!(has_edge(graph, id, ci["id"].as_str().unwrap(), "vouched"));
    // The SBOMs: one per manifest, signed by the release key.
    let sboms = of_kind(graph, "sbom");
    assert_eq!(sboms.len(), 3, "{graph:#}");
    for sbom in &sboms {
        assert_eq!(sbom["predicateType"], SBOM_TYPE);
        assert!(
            sbom["signer"].as_str().unwrap().starts_with("key "),
            "{sbom:#}"
        );
    }
    let requirement = node(graph, "requirement-0");
    assert_eq!(requirement["kind"], "attestation-requirement");
    assert_eq!(requirement["predicateType"], SBOM_TYPE);
    assert!(has_edge(
        graph,
        "requirement-0",
        "requirement-0-rego-0",
        "evaluated"
    ));
}

#[test]
fn explain_lays_out_why_an_index_is_allowed_or_denied() {
    let setup = Setup::start();

    // Allowed: exit 0, nothing failing, every link there.
    let decision = setup.decision(&setup.allowed, 0);
    let graph = setup
        .explain(&setup.allowed, &["-o", "json"])
        .expect_code(0)
        .json();
    assert_eq!(graph["schemaVersion"], "vouch.dev/evidence-graph/v1");
    assert_eq!(graph["allowed"], true);
    assert_eq!(graph["verdict"], "pass");
    assert!(graph["failing"].is_null() && graph["reason"].is_null());
    assert!(nodes(&graph).iter().all(|n| n["failing"] == false));
    check_evidence_links(&graph, &setup.allowed);
    assert_eq!(decision["failing"], Value::Null);
    assert_eq!(node(&graph, "requirement-0")["status"], "pass");
    assert_eq!(node(&graph, "requirement-0-rego-0")["status"], "pass");

    // Denied: exit 1; the failing node is the Rego denial, with the decision's check and
    // reason, and the only one marked.
    let decision = setup.decision(&setup.denied, 1);
    assert_eq!(decision["denial"], "attestation-denied");
    let graph = setup
        .explain(&setup.denied, &["-o", "json"])
        .expect_code(1)
        .json();
    assert_eq!(graph["allowed"], false);
    assert_eq!(graph["reason"], decision["reason"]);
    assert_eq!(graph["denial"], decision["denial"]);
    let reason = decision["reason"].as_str().unwrap();
    assert!(reason.contains(HOSTILE), "{reason}");
    assert_eq!(decision["failing"]["check"], "policy");
    assert_eq!(decision["failing"]["at"]["kind"], "rego");
    assert_eq!(graph["failing"]["check"], decision["failing"]["check"]);
    let failing: Vec<&Value> = nodes(&graph)
        .iter()
        .filter(|n| n["failing"] == true)
        .collect();
    assert_eq!(failing.len(), 1, "{graph:#}");
    let failing = failing[0];
    assert_eq!(failing["id"], graph["failing"]["node"]);
    assert_eq!(failing["kind"], "rego");
    assert_eq!(failing["status"], "fail");
    assert_eq!(failing["check"], "policy");
    assert_eq!(failing["reason"], decision["reason"]);
    assert_eq!(failing["location"], decision["failing"]["at"]["location"]);
    assert_eq!(node(&graph, "requirement-0")["status"], "fail");
    // The attestation it denied is the index's SBOM, whose signature held.
    let denied_sbom = of_kind(&graph, "sbom")
        .into_iter()
        .find(|s| s["location"] == failing["location"])
        .expect("the denied SBOM");
    assert_eq!(denied_sbom["status"], "pass");
    assert!(has_edge(
        &graph,
        failing["id"].as_str().unwrap(),
        denied_sbom["id"].as_str().unwrap(),
        "evaluated"
    ));
    check_evidence_links(&graph, &setup.denied);

    // Text: the verdict and the reason on top, then the tree with its marks.
    let text = setup.explain(&setup.denied, &[]).expect_code(1).stdout;
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("DENIED "), "{text}");
    assert_eq!(
        lines.next().unwrap(),
        format!("  reason: {reason}"),
        "{text}"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("  failing: policy at Rego policy sbom.rego denied "),
        "{text}"
    );
    assert!(
        text.contains("✘ image ") && text.contains("✔ signature at "),
        "{text}"
    );
    assert!(text.contains("<-- FAILING"), "{text}");
    assert!(
        text.contains(&format!("✔ signed by {IDENTITY} ({ISSUER})")),
        "{text}"
    );
    let allowed = setup.explain(&setup.allowed, &[]).expect_code(0).stdout;
    assert!(allowed.starts_with("ALLOWED "), "{allowed}");
    assert!(
        !allowed.contains('✘') && !allowed.contains("FAILING"),
        "{allowed}"
    );

    // DOT and HTML files: written once, refused a second time without --force.
    let dot = setup.file("denied.dot");
    let html = setup.file("denied.html");
    let files = [
        "--dot",
        dot.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ];
    setup.explain(&setup.denied, &files).expect_code(1);
    let again = setup.explain(&setup.denied, &files).expect_code(2);
    assert!(
        again.stderr.contains("already exists; pass --force"),
        "{again:#?}"
    );
    let mut forced = files.to_vec();
    forced.push("--force");
    setup.explain(&setup.denied, &forced).expect_code(1);

    check_dot(&std::fs::read_to_string(&dot).unwrap(), &graph);
    let page = std::fs::read_to_string(&html).unwrap();
    check_html(&page, &graph);
    assert!(page.contains("<header class=\"verdict denied\"><h1>DENIED</h1>"));
    assert!(page.contains("Failing check: <code class=\"check\">policy</code>"));
    assert!(page.contains(&format!(
        "<p class=\"failing-reason\">{}</p>",
        escaped(reason)
    )));
    assert!(page.contains("class=\"node fail failing\""));
    assert!(!page.contains(HOSTILE) && !page.contains("<img"));
    assert!(page.contains(&escaped(HOSTILE)));

    let allowed_html = setup.file("allowed.html");
    setup
        .explain(&setup.allowed, &["--html", allowed_html.to_str().unwrap()])
        .expect_code(0);
    let allowed_page = std::fs::read_to_string(&allowed_html).unwrap();
    let allowed_graph = setup
        .explain(&setup.allowed, &["-o", "json"])
        .expect_code(0)
        .json();
    check_html(&allowed_page, &allowed_graph);
    assert!(allowed_page.contains("<header class=\"verdict allowed\"><h1>ALLOWED</h1>"));
    assert!(!allowed_page.contains("Failing check") && !allowed_page.contains(" failing\""));
}

/// The DOT file declares every node (colour by status, the failing one red with a thick
/// border) and every edge, and every quoted string in it is closed on its line with only
/// DOT's escapes inside. With Graphviz installed, `dot` must also read it.
fn check_dot(dot: &str, graph: &Value) {
    assert!(dot.starts_with("digraph evidence {\n"), "{dot}");
    assert!(dot.ends_with("}\n"), "{dot}");
    let mut declared = 0;
    let mut edges = 0;
    for line in dot.lines().skip(1) {
        // Quoted strings: closed on the line, with \" \\ and \n as the only escapes.
        let mut in_string = false;
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match (in_string, c) {
                (true, '\\') => {
                    let next = chars.next();
                    assert!(
                        matches!(next, Some('"' | '\\' | 'n')),
                        "escape \\{next:?} in {line}"
                    );
                }
                (_, '"') => in_string = !in_string,
                _ => {}
            }
        }
        assert!(!in_string, "an unclosed string: {line}");
        if line.contains(" -> ") {
            edges += 1;
        } else if line.contains(" [label=") {
            declared += 1;
        }
    }
    assert_eq!(declared, nodes(graph).len(), "{dot}");
    assert_eq!(edges, graph["edges"].as_array().unwrap().len(), "{dot}");
    for node in nodes(graph) {
        let id = node["id"].as_str().unwrap();
        let line = dot
            .lines()
            .find(|l| l.starts_with(&format!("  \"{id}\" [label=")))
            .unwrap_or_else(|| panic!("{id} is not declared:\n{dot}"));
        let colour = match node["status"].as_str().unwrap() {
            "pass" => "fillcolor=\"#d1e7dd\"",
            "fail" => "fillcolor=\"#f8d7da\"",
            "skip" => "fillcolor=\"#e9ecef\"",
            _ => "fillcolor=\"#ffffff\"",
        };
        assert!(line.contains(colour), "{line}");
        assert_eq!(
            node["failing"] == true,
            line.contains("penwidth=3"),
            "{line}"
        );
    }
    // The hostile note, escaped for DOT: its quotes behind backslashes.
    if graph["failing"].is_object() {
        assert!(
            dot.contains(r#"<script>alert(\"owned\")</script>"#),
            "the denial's note, escaped: {dot}"
        );
    }
    if vouch_tests::run("sh", &["-c", "command -v dot"]).code == 0 {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("graph.dot");
        std::fs::write(&file, dot).unwrap();
        vouch_tests::tool("dot", &["-Tsvg", file.to_str().unwrap()]);
    }
}

/// The page is self-contained and loads nothing: no script, no attribute that fetches or
/// links (`src=`, `href=`, `url(`), a Content-Security-Policy that forbids loads; and it shows,
/// escaped, every node's label and its digest, signer, log index and time.
fn check_html(page: &str, graph: &Value) {
    assert!(page.starts_with("<!DOCTYPE html>"));
    let lower = page.to_lowercase();
    for forbidden in [
        "<script", "url(", "@import", "<link", "<iframe", "<img", "<object",
    ] {
        assert!(
            !lower.contains(forbidden),
            "{forbidden} in the page:\n{page}"
        );
    }
    // Every `<` of the evidence is escaped, so each one left opens a tag of the page: none
    // may carry an attribute that fetches or links.
    for tag in lower.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or_default();
        for attribute in ["src=", "href=", "srcset=", "action=", "background="] {
            assert!(!tag.contains(attribute), "<{tag}> in the page");
        }
    }
    assert!(page.contains("content=\"default-src 'none'; style-src 'unsafe-inline'\""));
    for node in nodes(graph) {
        assert!(
            page.contains(&escaped(node["label"].as_str().unwrap())),
            "{node:#}"
        );
        for field in ["digest", "signer", "time", "logUrl"] {
            if let Some(value) = node[field].as_str() {
                assert!(page.contains(&escaped(value)), "{field} of {node:#}");
            }
        }
        if let Some(index) = node["logIndex"].as_u64() {
            assert!(
                page.contains(&format!("<dt>log index</dt><dd>{index} (")),
                "{node:#}"
            );
        }
    }
}

#[test]
fn chromium_renders_the_reports_and_they_load_nothing() {
    let Some(browser) = Peer::Browser.install() else {
        return;
    };
    if !Path::new("/usr/bin/chromium").exists() {
        unavailable(
            "chromium",
            "/usr/bin/chromium is not installed (apt-get install chromium)",
        );
        return;
    }
    vouch_tests::peer_ran("chromium");
    let setup = Setup::start();
    let reason = setup.decision(&setup.denied, 1)["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    // Kept where a person can look at them: <cargo target dir>/explain-reports.
    let shots = vouch_tests::peers_dir()
        .parent()
        .unwrap()
        .join("explain-reports");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, image, code) in [("denied", &setup.denied, 1), ("allowed", &setup.allowed, 0)] {
        let html = setup.file(&format!("{name}.html"));
        setup
            .explain(image, &["--html", html.to_str().unwrap()])
            .expect_code(code);
        let png = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&png);
        std::fs::copy(&html, shots.join(format!("{name}.html"))).unwrap();
        let run = browser.run(&[html.to_str().unwrap(), png.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{run:#?}");
        let rendered = run.json();
        // One request: the report itself.
        let requests = rendered["requests"].as_array().unwrap();
        assert_eq!(requests.len(), 1, "{rendered:#}");
        assert!(
            requests[0].as_str().unwrap().starts_with("file:///"),
            "{rendered:#}"
        );
        assert_eq!(rendered["scripts"], 0);
        let text = rendered["text"].as_str().unwrap();
        if name == "denied" {
            assert!(text.starts_with("DENIED"), "{text}");
            assert!(text.contains("Failing check: policy"), "{text}");
            // The reason as the sentence it is, the hostile note as text.
            assert!(text.contains(&reason), "{text}");
            assert!(text.contains(HOSTILE), "{text}");
            assert!(text.contains("FAILING"), "{text}");
        } else {
            assert!(text.starts_with("ALLOWED"), "{text}");
            assert!(!text.contains("Failing check"), "{text}");
        }
        assert!(text.contains(IDENTITY), "{text}");
        check_png(&png);
    }
}

/// A PNG of a page with something on it: the signature, a width and height past a few
/// hundred pixels, and more bytes than a blank page takes.
fn check_png(png: &Path) {
    let bytes = std::fs::read(png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", png.display());
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(width >= 400 && height >= 400, "{width}x{height}");
    assert!(bytes.len() > 20_000, "{} bytes", bytes.len());
}
