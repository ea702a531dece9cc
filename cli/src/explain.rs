//! `vouch explain`: the evidence graph of an image and the trust policy's decision on it, so
//! an operator sees why the image is allowed or denied. The decision is the one `verify
//! --policy` gets from `vouch-policy` ([`crate::verify::decide_from`]), the graph is
//! `vouch_policy::explain`'s; this module only prints them: as an indented tree (text), as
//! JSON, as Graphviz DOT, or as one self-contained HTML page.
//!
//! Every string in the graph may come from the image's evidence (locations, predicate types,
//! identities, Rego messages), which anyone who can push to the registry controls: DOT labels
//! and HTML text are escaped, and the HTML page loads nothing (no script, no URL it fetches,
//! a Content-Security-Policy that forbids any load but its own inline style).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use vouch_policy::evidence::{EvidenceSource as _, StoreSource};
use vouch_policy::explain::{Edge, EdgeKind, EvidenceGraph, Node, NodeKind, NodeStatus};
use vouch_policy::{PolicyError, TrustPolicy, Verdict};
use vouch_registry::ImageReference;
use vouch_verifier::time::UnixTime;

use crate::error::CliError;
use crate::output::{OutputFormat, print_json, refuse_existing, write_file};
use crate::{OutputArgs, RegistryArgs};

#[derive(Args)]
pub(crate) struct ExplainArgs {
    /// The trust policy file (vouch's `TrustPolicy` YAML) that decides the image.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Also write the graph as one self-contained HTML page (inline CSS, no script, nothing
    /// fetched from anywhere).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Also write the graph in Graphviz DOT (`dot -Tsvg FILE`).
    #[arg(long, value_name = "FILE")]
    dot: Option<PathBuf>,
    /// Replace the --html and --dot files if they exist.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// The image: `registry/repository[:tag][@digest]` or `oci:PATH[:TAG]`.
    #[arg(value_name = "IMAGE")]
    image: String,
}

pub(crate) async fn run(args: ExplainArgs) -> Result<ExitCode, CliError> {
    // Refused before any work, as every command that writes a file does.
    for path in [&args.html, &args.dot].into_iter().flatten() {
        refuse_existing(path, args.force)?;
    }
    if let (Some(html), Some(dot)) = (&args.html, &args.dot)
        && html == dot
    {
        return Err(CliError::Usage(format!(
            "--html and --dot name the same file, {}",
            html.display()
        )));
    }
    let reference = ImageReference::parse(&args.image)?;
    let policy = TrustPolicy::load(&args.policy)?;
    let client = args.registry.client()?;
    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    let source = StoreSource::open(&client, &reference).map_err(PolicyError::from)?;
    let outcome = crate::verify::decide_from(&policy, &source, &reference, now).await;
    let decision = &outcome.decision;
    if let Some(error) = &decision.error {
        eprintln!("vouch: {}", error.reason);
    }

    // The platforms of an index, which the decision lists only when it decided them.
    let (platforms, unlisted) = match &decision.digest {
        Some(digest) if decision.verdict != Verdict::Error => {
            match source.platforms(digest).await {
                Ok(platforms) => (platforms, None),
                Err(e) => (Vec::new(), Some(e)),
            }
        }
        _ => (Vec::new(), None),
    };
    let mut graph = EvidenceGraph::new(decision, &platforms);
    if let Some(e) = unlisted {
        graph.warnings.push(format!(
            "the platform manifests of the image could not be listed, so they are not shown: {e}"
        ));
    }
    // The image as the store names it at its digest.
    graph.image.clone_from(&outcome.image);

    if let Some(path) = &args.html {
        write_file(path, html(&graph).as_bytes(), 0o644, args.force)?;
    }
    if let Some(path) = &args.dot {
        write_file(path, dot(&graph).as_bytes(), 0o644, args.force)?;
    }
    match args.output.output {
        OutputFormat::Json => print_json(
            &serde_json::to_value(&graph)
                .map_err(|e| CliError::Internal(format!("the evidence graph: {e}")))?,
        ),
        OutputFormat::Text => crate::output::write_stdout(text(&graph).as_bytes()),
    }
    Ok(ExitCode::from(decision.exit_code()))
}

/// The edges that make the tree under the image: image, index, platforms, evidence, signers,
/// log entries, timestamps. The others (to authorities, from requirements) are listed in
/// their own sections.
fn is_tree_edge(edge: &Edge) -> bool {
    matches!(
        edge.kind,
        EdgeKind::Index
            | EdgeKind::Platform
            | EdgeKind::Subject
            | EdgeKind::SignedBy
            | EdgeKind::Logged
            | EdgeKind::Timestamped
    )
}

/// The tree children of `node`, in order.
fn children<'g>(graph: &'g EvidenceGraph, node: &'g Node) -> Vec<&'g Node> {
    graph
        .edges_from(&node.id)
        .filter(|e| is_tree_edge(e))
        .filter_map(|e| graph.node(&e.to))
        .collect()
}

/// The nodes of `kind`.
fn of_kind(graph: &EvidenceGraph, kind: NodeKind) -> impl Iterator<Item = &Node> {
    graph.nodes.iter().filter(move |n| n.kind == kind)
}

/// The evidence that vouched for `authority`.
fn vouched_by<'g>(graph: &'g EvidenceGraph, authority: &Node) -> Vec<&'g Node> {
    graph
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Vouched && e.to == authority.id)
        .filter_map(|e| graph.node(&e.from))
        .collect()
}

/// What an attestation requirement or a Rego answer links to, with the link's words.
fn links<'g>(graph: &'g EvidenceGraph, node: &'g Node) -> Vec<(&'g Edge, &'g Node)> {
    graph
        .edges_from(&node.id)
        .filter(|e| !is_tree_edge(e))
        .filter_map(|e| graph.node(&e.to).map(|to| (e, to)))
        .collect()
}

fn mark(status: NodeStatus) -> &'static str {
    match status {
        NodeStatus::Pass => "✔",
        NodeStatus::Fail => "✘",
        NodeStatus::Skip => "–",
        NodeStatus::Info => "·",
    }
}

fn status_name(status: NodeStatus) -> &'static str {
    match status {
        NodeStatus::Pass => "pass",
        NodeStatus::Fail => "fail",
        NodeStatus::Skip => "skip",
        NodeStatus::Info => "info",
    }
}

fn edge_words(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Index => "is the index",
        EdgeKind::Platform => "lists",
        EdgeKind::Subject => "is the subject of",
        EdgeKind::SignedBy => "signed by",
        EdgeKind::Logged => "logged in",
        EdgeKind::Timestamped => "timestamped by",
        EdgeKind::Vouched => "vouched for",
        EdgeKind::Took => "took",
        EdgeKind::Refused => "refused",
        EdgeKind::Evaluated => "evaluated",
    }
}

/// The facts of a node worth a line each: its digest, who signed, its log entry and time,
/// and, when it failed, the check and why.
fn facts(node: &Node) -> Vec<(&'static str, String)> {
    let mut facts = Vec::new();
    if let Some(digest) = &node.digest {
        facts.push(("digest", digest.clone()));
    }
    if let Some(predicate_type) = &node.predicate_type {
        facts.push(("predicate type", predicate_type.clone()));
    }
    // A signer node's label names the signer.
    if let Some(signer) = node
        .signer
        .as_ref()
        .filter(|_| node.kind != NodeKind::Signer)
    {
        facts.push(("signer", signer.clone()));
    }
    if let Some(index) = node.log_index {
        facts.push((
            "log index",
            match &node.log_url {
                Some(url) => format!("{index} ({url})"),
                None => index.to_string(),
            },
        ));
    }
    if let Some(time) = &node.time {
        facts.push(("time", time.clone()));
    }
    if let Some(check) = node.check {
        facts.push(("check", check.name().to_owned()));
    }
    if let Some(reason) = &node.reason {
        facts.push(("reason", reason.clone()));
    }
    if let Some(note) = &node.note {
        facts.push(("note", note.clone()));
    }
    facts
}

/// The headline: ALLOWED or DENIED, with the mode when a failing verdict is allowed.
fn headline(graph: &EvidenceGraph) -> String {
    match (graph.allowed, graph.verdict) {
        (true, Verdict::Pass) => "ALLOWED".to_owned(),
        (true, _) => format!(
            "ALLOWED ({} mode)",
            serde_json::to_value(graph.mode)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
        (false, _) => "DENIED".to_owned(),
    }
}

/// The text form: the verdict and reason on top, then the tree with ✔/✘ marks.
fn text(graph: &EvidenceGraph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} {}", headline(graph), one_line(&graph.image));
    if let Some(reason) = &graph.reason {
        let _ = writeln!(out, "  reason: {}", one_line(reason));
    }
    if let Some(failing) = &graph.failing
        && let Some(node) = graph.node(&failing.node)
    {
        let _ = writeln!(
            out,
            "  failing: {} at {}",
            failing
                .check
                .map_or("(no check: a requirement)", |c| c.name()),
            one_line(&node.label)
        );
    }
    let _ = writeln!(
        out,
        "  policy {} scope {}",
        one_line(&graph.policy),
        one_line(graph.scope.as_deref().unwrap_or("none"))
    );
    for warning in &graph.warnings {
        let _ = writeln!(out, "  warning: {}", one_line(warning));
    }
    let _ = writeln!(out);
    if let Some(image) = graph.nodes.first() {
        text_tree(graph, image, 0, &mut out);
    }
    let authorities: Vec<&Node> = of_kind(graph, NodeKind::Authority).collect();
    if !authorities.is_empty() {
        let _ = writeln!(out, "\nauthorities:");
        for authority in authorities {
            text_node(authority, 1, &mut out);
            for evidence in vouched_by(graph, authority) {
                let _ = writeln!(out, "      vouched for by {}", one_line(&evidence.label));
            }
        }
    }
    let requirements: Vec<&Node> = of_kind(graph, NodeKind::AttestationRequirement).collect();
    if !requirements.is_empty() {
        let _ = writeln!(out, "\nattestation requirements:");
        for requirement in requirements {
            text_links(graph, requirement, 1, &mut out);
        }
    }
    out
}

fn text_node(node: &Node, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    let failing = if node.failing { "  <-- FAILING" } else { "" };
    let _ = writeln!(
        out,
        "{indent}{} {}{failing}",
        mark(node.status),
        one_line(&node.label)
    );
    for (name, value) in facts(node) {
        let _ = writeln!(out, "{indent}    {name}: {}", one_line(&value));
    }
}

fn text_tree(graph: &EvidenceGraph, node: &Node, depth: usize, out: &mut String) {
    text_node(node, depth, out);
    for child in children(graph, node) {
        text_tree(graph, child, depth + 1, out);
    }
}

/// A requirement or Rego answer, with what it links to: a Rego answer as a node of its own,
/// evidence by its label.
fn text_links(graph: &EvidenceGraph, node: &Node, depth: usize, out: &mut String) {
    text_node(node, depth, out);
    let indent = "  ".repeat(depth + 2);
    for (edge, to) in links(graph, node) {
        if to.kind == NodeKind::Rego {
            text_links(graph, to, depth + 1, out);
        } else {
            let detail = edge
                .label
                .as_deref()
                .map(|l| format!(": {}", one_line(l)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{indent}{} {}{detail}",
                edge_words(edge.kind),
                one_line(&to.label)
            );
        }
    }
}

/// `text` on one line: a line break in hostile evidence must not forge lines of the report.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `text` as the inside of a DOT quoted string: `"` and `\` escaped, a line break as DOT's
/// `\n`, other control characters as spaces.
fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The graph in Graphviz DOT: failing nodes red (the failing link with a thick border),
/// passing green, skipped grey, undecided white; every label escaped.
fn dot(graph: &EvidenceGraph) -> String {
    let mut out = String::from(
        "digraph evidence {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n",
    );
    let _ = writeln!(
        out,
        "  label=\"{}\";\n  labelloc=t;",
        dot_escape(&format!(
            "{} {}\n{}",
            headline(graph),
            graph.image,
            graph.reason.as_deref().unwrap_or_default()
        ))
    );
    for node in &graph.nodes {
        let (fill, color) = match node.status {
            NodeStatus::Pass => ("#d1e7dd", "#198754"),
            NodeStatus::Fail => ("#f8d7da", "#dc3545"),
            NodeStatus::Skip => ("#e9ecef", "#6c757d"),
            NodeStatus::Info => ("#ffffff", "#6c757d"),
        };
        let mut label = node.label.clone();
        for (name, value) in facts(node) {
            let _ = write!(label, "\n{name}: {value}");
        }
        if node.failing {
            label.push_str("\nFAILING");
        }
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\", fillcolor=\"{fill}\", color=\"{color}\", penwidth={}];",
            dot_escape(&node.id),
            dot_escape(&label),
            if node.failing { 3 } else { 1 }
        );
    }
    for edge in &graph.edges {
        let label = match &edge.label {
            Some(more) => format!("{}\n{more}", edge_words(edge.kind)),
            None => edge_words(edge.kind).to_owned(),
        };
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{}\"];",
            dot_escape(&edge.from),
            dot_escape(&edge.to),
            dot_escape(&label)
        );
    }
    out.push_str("}\n");
    out
}

/// `text` HTML-escaped, for element content and quoted attribute values alike.
fn h(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's whole style: inline, since the page loads nothing.
const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#212529;background:#fff;line-height:1.4}
header{border-radius:8px;padding:1rem 1.25rem;margin-bottom:1.25rem}
header.allowed{background:#d1e7dd;border:2px solid #198754}
header.denied{background:#f8d7da;border:2px solid #dc3545}
header h1{margin:0 0 .25rem 0;font-size:1.6rem}
header p{margin:.25rem 0}
p.reason{font-size:1.1rem;font-weight:600}
section{margin:1rem 0}
section.failing{border:3px solid #dc3545;border-radius:8px;padding:.75rem 1rem;background:#fff5f5}
h2{font-size:1.2rem;margin:.5rem 0}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:1.5rem;border-left:1px dashed #adb5bd}
ul.tree{padding-left:0;border-left:none}
li{margin:.4rem 0}
.node{display:inline-block;border:1px solid #adb5bd;border-radius:6px;padding:.35rem .6rem;max-width:60rem;overflow-wrap:anywhere}
.node.pass{background:#d1e7dd;border-color:#198754}
.node.fail{background:#f8d7da;border-color:#dc3545}
.node.skip{background:#e9ecef;border-color:#6c757d}
.node.info{background:#fff;border-color:#6c757d}
.node.failing{border:3px solid #b02a37;box-shadow:0 0 0 3px #f1aeb5}
.mark{font-weight:700;margin-right:.3rem}
.flag{color:#b02a37;font-weight:700;margin-left:.5rem}
dl{display:grid;grid-template-columns:max-content auto;gap:.1rem .75rem;margin:.3rem 0 0 0;font-size:.9rem}
dt{color:#495057}
dd{margin:0;font-family:ui-monospace,monospace;overflow-wrap:anywhere}
.link{font-size:.9rem;color:#495057}
";

/// One node as a card: mark, kind, label, and its facts.
fn html_node(node: &Node, out: &mut String) {
    let failing = if node.failing { " failing" } else { "" };
    let _ = write!(
        out,
        "<div class=\"node {}{failing}\" id=\"node-{}\"><span class=\"mark\">{}</span><span class=\"label\">{}</span>",
        status_name(node.status),
        h(&node.id),
        mark(node.status),
        h(&node.label)
    );
    if node.failing {
        out.push_str("<span class=\"flag\">FAILING</span>");
    }
    let facts = facts(node);
    if !facts.is_empty() {
        out.push_str("<dl>");
        for (name, value) in facts {
            let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", h(name), h(&value));
        }
        out.push_str("</dl>");
    }
    out.push_str("</div>");
}

fn html_tree(graph: &EvidenceGraph, node: &Node, out: &mut String) {
    out.push_str("<li>");
    html_node(node, out);
    let children = children(graph, node);
    if !children.is_empty() {
        out.push_str("<ul>");
        for child in children {
            html_tree(graph, child, out);
        }
        out.push_str("</ul>");
    }
    out.push_str("</li>");
}

fn html_links(graph: &EvidenceGraph, node: &Node, out: &mut String) {
    out.push_str("<li>");
    html_node(node, out);
    let links = links(graph, node);
    if !links.is_empty() {
        out.push_str("<ul>");
        for (edge, to) in links {
            if to.kind == NodeKind::Rego {
                html_links(graph, to, out);
            } else {
                let detail = edge
                    .label
                    .as_deref()
                    .map(|l| format!(": {}", h(l)))
                    .unwrap_or_default();
                let _ = write!(
                    out,
                    "<li class=\"link\">{} <span class=\"label\">{}</span>{detail}</li>",
                    h(edge_words(edge.kind)),
                    h(&to.label)
                );
            }
        }
        out.push_str("</ul>");
    }
    out.push_str("</li>");
}

/// The graph as one HTML page that needs nothing else: the verdict and the reason on top,
/// the failing check in a box of its own, then the tree, the authorities and the attestation
/// requirements as nested lists of cards. No script, no external resource, no link; a
/// Content-Security-Policy forbids loading anything should a browser find something to load.
fn html(graph: &EvidenceGraph) -> String {
    let mut out =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<title>vouch explain: {} {}</title>",
        h(&headline(graph)),
        h(&graph.image)
    );
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = write!(
        out,
        "<header class=\"verdict {}\"><h1>{}</h1><p class=\"image\">{}</p>",
        if graph.allowed { "allowed" } else { "denied" },
        h(&headline(graph)),
        h(&graph.image)
    );
    match &graph.reason {
        Some(reason) => {
            let _ = write!(out, "<p class=\"reason\">{}</p>", h(reason));
        }
        None => out.push_str("<p class=\"reason\">Every requirement of the policy holds.</p>"),
    }
    let _ = writeln!(
        out,
        "<p>policy {} · scope {}</p></header>",
        h(&graph.policy),
        h(graph.scope.as_deref().unwrap_or("none"))
    );
    if let Some(failing) = &graph.failing
        && let Some(node) = graph.node(&failing.node)
    {
        let _ = writeln!(
            out,
            "<section class=\"failing\"><h2>Failing check: <code class=\"check\">{}</code></h2><p>at {}</p><p class=\"failing-reason\">{}</p></section>",
            h(failing
                .check
                .map_or("none (a requirement, not a check)", |c| c.name())),
            h(&node.label),
            h(graph.reason.as_deref().unwrap_or_default())
        );
    }
    if !graph.warnings.is_empty() {
        out.push_str("<section class=\"warnings\"><h2>Warnings</h2><ul>");
        for warning in &graph.warnings {
            let _ = write!(out, "<li>{}</li>", h(warning));
        }
        out.push_str("</ul></section>\n");
    }
    out.push_str("<section><h2>Evidence</h2><ul class=\"tree\">");
    if let Some(image) = graph.nodes.first() {
        html_tree(graph, image, &mut out);
    }
    out.push_str("</ul></section>\n");
    let authorities: Vec<&Node> = of_kind(graph, NodeKind::Authority).collect();
    if !authorities.is_empty() {
        out.push_str("<section><h2>Authorities</h2><ul class=\"tree\">");
        for authority in authorities {
            out.push_str("<li>");
            html_node(authority, &mut out);
            let by = vouched_by(graph, authority);
            if !by.is_empty() {
                out.push_str("<ul>");
                for evidence in by {
                    let _ = write!(
                        out,
                        "<li class=\"link\">vouched for by <span class=\"label\">{}</span></li>",
                        h(&evidence.label)
                    );
                }
                out.push_str("</ul>");
            }
            out.push_str("</li>");
        }
        out.push_str("</ul></section>\n");
    }
    let requirements: Vec<&Node> = of_kind(graph, NodeKind::AttestationRequirement).collect();
    if !requirements.is_empty() {
        out.push_str("<section><h2>Attestation requirements</h2><ul class=\"tree\">");
        for requirement in requirements {
            html_links(graph, requirement, &mut out);
        }
        out.push_str("</ul></section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::{dot_escape, h, one_line};

    #[test]
    fn hostile_text_is_escaped_for_html_dot_and_lines() {
        assert_eq!(
            h(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(
            dot_escape("a\"b\\c\nd\re"),
            "a\\\"b\\\\c\\nd e",
            "quotes, backslashes, line breaks"
        );
        assert_eq!(one_line("ok\nFORGED ✔ line\r"), "ok FORGED ✔ line ");
    }
}
