//! Conditions on attestations, written in Rego (evaluated by `regorus`, a Rust interpreter of
//! OPA's language), as cosign's `verify-attestation --policy` takes them.
//!
//! The `input` document is the attestation's in-toto statement (`_type`, `subject`,
//! `predicateType`, `predicate`). A policy decides with one or more of these rules, in the
//! package it declares:
//!
//! * `deny`: a set (or array) of messages; the statement is denied when it is non-empty, and
//!   the messages are the reasons shown to the user (the conftest / Gatekeeper style);
//! * `allow`: must be `true` (cosign's contract: it queries `data.signature.allow`); `false` or
//!   undefined denies;
//! * `isCompliant`: cosign's newer form, an object `{"result": bool, "error": "...",
//!   "warning": "..."}`, whose `result` must be `true`; or policy-controller's, a boolean that
//!   must be `true`.
//!
//! Every rule the policy defines must pass. A policy that defines none of them is refused
//! when it is read, as is one that does not parse. Policies may be written for Rego v1 (OPA
//! 1.x, the default) or v0 (what cosign evaluates): v1 is tried first, then v0.
//!
//! A policy is trusted input, like the key it comes with: its evaluation is not bounded in
//! time or memory (regorus checks its time limit only between rules, not inside
//! comprehensions, so a limit would promise what it does not keep).
//!
//! ```
//! use vouch_verifier::rego::RegoPolicy;
//!
//! let policy = RegoPolicy::parse("builder.rego", r#"
//!     package signature
//!     import rego.v1
//!     deny contains msg if {
//!         input.predicate.runDetails.builder.id != "https://github.com/actions/runner/github-hosted"
//!         msg := sprintf("untrusted builder %s", [input.predicate.runDetails.builder.id])
//!     }
//! "#).unwrap();
//! let good = serde_json::json!({"predicate": {"runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}}}});
//! assert!(policy.evaluate(&good).unwrap().allowed);
//! let bad = serde_json::json!({"predicate": {"runDetails": {"builder": {"id": "https://evil.example"}}}});
//! let decision = policy.evaluate(&bad).unwrap();
//! assert!(!decision.allowed);
//! assert_eq!(decision.messages, ["untrusted builder https://evil.example"]);
//! ```

use regorus::{Engine, Value};
use serde::Serialize;

use crate::VerifyError;

/// The message regorus gives for a rule path that the policy does not define.
const NO_SUCH_RULE: &str = "not a valid rule path";

/// A parsed Rego policy, ready to evaluate statements. Cheap to evaluate many times.
#[derive(Clone)]
pub struct RegoPolicy {
    name: String,
    engine: Engine,
    package: String,
    allow: bool,
    deny: bool,
    is_compliant: bool,
}

impl std::fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegoPolicy")
            .field("name", &self.name)
            .field("package", &self.package)
            .field("allow", &self.allow)
            .field("deny", &self.deny)
            .field("is_compliant", &self.is_compliant)
            .finish()
    }
}

/// What a policy said about one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDecision {
    /// True when every rule the policy defines passes.
    pub allowed: bool,
    /// Why it was denied: the `deny` messages, `isCompliant`'s `error`, or a sentence naming
    /// the rule that did not hold. Empty when allowed.
    pub messages: Vec<String>,
    /// `isCompliant`'s `warning`, when it gives one (allowed or not).
    pub warnings: Vec<String>,
}

/// The deepest nesting of brackets (`[`, `{`, `(`) a policy may have. regorus parses nested
/// arrays and comprehensions by trying one reading and then the other, so its time doubles
/// with each level (found by the `signed_documents` fuzz target: 30 levels take minutes);
/// policies people write nest a few levels.
pub const MAX_NESTING: usize = 16;

/// The largest exponent, either sign, a number written in a policy may have: a 64-bit float's
/// (`1e308`). regorus turns a literal in scientific notation into an exact integer,
/// `exponent` digits long, and checks the float's range only when the mantissa is not zero, so
/// `0e99999999` takes minutes and gigabytes (found by the `signed_documents` fuzz target).
pub const MAX_EXPONENT: u64 = 308;

/// The most minus signs a policy may write in a row (whitespace and comments between them
/// allowed). regorus reads each unary minus by recursing, with no limit, so a long run
/// overflows the stack (found by the `signed_documents` fuzz target: a few hundred do under
/// AddressSanitizer); policies people write have two at most (`a - -1`).
pub const MAX_MINUS_RUN: usize = 8;

/// What [`scan`] found in a policy's source, outside strings and comments.
#[derive(Debug, Default, PartialEq, Eq)]
struct Shape {
    /// The deepest nesting of brackets.
    deepest: usize,
    /// The largest exponent of a number literal, saturating.
    exponent: u64,
    /// The longest run of minus signs.
    minus_run: usize,
}

/// Reads `source` once for the things regorus's parser is slow or unbounded on.
fn scan(source: &str) -> Shape {
    let mut shape = Shape::default();
    let mut depth = 0usize;
    let mut chars = source.chars().peekable();
    // Whether the previous character continues a name (so `x1e9` is not a number).
    let mut in_name = false;
    let mut minus_run = 0usize;
    while let Some(c) = chars.next() {
        if c == '-' {
            minus_run += 1;
            shape.minus_run = shape.minus_run.max(minus_run);
        } else if !(c.is_whitespace() || c == '#') {
            minus_run = 0;
        }
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '`' => {
                for c in chars.by_ref() {
                    if c == '`' {
                        break;
                    }
                }
            }
            '[' | '{' | '(' => {
                depth += 1;
                shape.deepest = shape.deepest.max(depth);
            }
            ']' | '}' | ')' => depth = depth.saturating_sub(1),
            '0'..='9' if !in_name => {
                while chars
                    .next_if(|c| c.is_ascii_digit() || matches!(c, '.' | '_'))
                    .is_some()
                {}
                if chars.next_if(|c| matches!(c, 'e' | 'E')).is_some() {
                    chars.next_if(|c| matches!(c, '+' | '-'));
                    let mut exponent = 0u64;
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        exponent = exponent
                            .saturating_mul(10)
                            .saturating_add(u64::from(d as u8 - b'0'));
                    }
                    shape.exponent = shape.exponent.max(exponent);
                }
                in_name = false;
                continue;
            }
            _ => {}
        }
        in_name = c.is_alphanumeric() || c == '_';
    }
    shape
}

/// Whether `source` uses Rego v1's keywords (`if`, `contains`) without importing them from
/// `future.keywords`: a v1 policy, which the v0 parser could only misread.
fn uses_v1_keywords(source: &str) -> bool {
    !source.contains("future.keywords")
        && source
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|word| word == "if" || word == "contains")
}

/// A parse error as one line: regorus reports `--> FILE:LINE:COL`, a source excerpt and
/// `error: MESSAGE` on separate lines; this keeps the position and the message.
fn syntax_error(name: &str, error: &impl std::fmt::Display) -> VerifyError {
    let text = error.to_string();
    let position = text.lines().find_map(|line| {
        let at = line.trim().strip_prefix("--> ")?;
        let mut parts = at.rsplitn(3, ':');
        let column = parts.next()?.parse().ok()?;
        let line = parts.next()?.parse().ok()?;
        Some((line, column))
    });
    let message = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "));
    match position {
        Some((line, column)) => VerifyError::RegoSyntax {
            policy: name.to_owned(),
            line,
            column,
            message,
        },
        None => VerifyError::RegoInvalid {
            policy: name.to_owned(),
            reason: format!("does not parse as Rego: {message}"),
        },
    }
}

impl RegoPolicy {
    /// Parses `source` (named `name` in messages, usually its file name). Refuses a policy
    /// that does not parse as Rego v1 or v0, and one that defines none of `allow`, `deny` and
    /// `isCompliant` ([`VerifyError::RegoInvalid`]).
    pub fn parse(name: &str, source: &str) -> Result<Self, VerifyError> {
        let invalid = |reason: String| VerifyError::RegoInvalid {
            policy: name.to_owned(),
            reason,
        };
        let shape = scan(source);
        if shape.deepest > MAX_NESTING {
            return Err(invalid(format!(
                "nests brackets {} deep; at most {MAX_NESTING} are read (the Rego parser's \
                 time doubles with each level)",
                shape.deepest
            )));
        }
        if shape.exponent > MAX_EXPONENT {
            return Err(invalid(format!(
                "writes a number with exponent {}; at most {MAX_EXPONENT} is read (the Rego \
                 parser expands such a number to every digit)",
                shape.exponent
            )));
        }
        if shape.minus_run > MAX_MINUS_RUN {
            return Err(invalid(format!(
                "writes {} minus signs in a row; at most {MAX_MINUS_RUN} are read (the Rego \
                 parser recurses once for each)",
                shape.minus_run
            )));
        }
        let mut engine = Engine::new();
        let package = match engine.add_policy(name.to_owned(), source.to_owned()) {
            Ok(package) => package,
            // A policy written for Rego v1 (its keywords used without importing them) is not
            // read again as v0: the v0 parser would only warn about every keyword, on stderr.
            Err(v1) if uses_v1_keywords(source) => return Err(syntax_error(name, &v1)),
            // Without them it may be a v0 policy (cosign's and Kyverno's older ones are):
            // read it as v0, and if that fails too, report what v0 found.
            Err(_) => {
                let mut v0_engine = Engine::new();
                v0_engine.set_rego_v0(true);
                match v0_engine.add_policy(name.to_owned(), source.to_owned()) {
                    Ok(package) => {
                        engine = v0_engine;
                        package
                    }
                    Err(v0) => return Err(syntax_error(name, &v0)),
                }
            }
        };
        engine.set_input(Value::new_object());
        let mut defines = |rule: &str| match engine.eval_rule(format!("{package}.{rule}")) {
            Err(e) if e.to_string() == NO_SUCH_RULE => false,
            // Evaluating against an empty input may fail or be undefined: the rule exists.
            _ => true,
        };
        let (allow, deny, is_compliant) =
            (defines("allow"), defines("deny"), defines("isCompliant"));
        if !(allow || deny || is_compliant) {
            return Err(invalid(format!(
                "package {} defines none of the rules allow, deny and isCompliant",
                package.trim_start_matches("data.")
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            engine,
            package,
            allow,
            deny,
            is_compliant,
        })
    }

    /// The policy's name, as given to [`RegoPolicy::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The package the policy declares, without the leading `data.`.
    pub fn package(&self) -> &str {
        self.package.trim_start_matches("data.")
    }

    /// Evaluates the policy with `input` (a statement). Fails only when evaluation itself
    /// fails (a builtin error, a rule with conflicting values, a rule of the wrong type), naming the rule; a policy that says no is an `Ok` with `allowed` false.
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<PolicyDecision, VerifyError> {
        let failed = |rule: &str, reason: String| VerifyError::RegoEvaluation {
            policy: self.name.clone(),
            rule: format!("{}.{rule}", self.package()),
            reason,
        };
        let mut engine = self.engine.clone();
        let input =
            Value::from_json_str(&input.to_string()).map_err(|e| failed("input", e.to_string()))?;
        engine.set_input(input);
        let mut decision = PolicyDecision {
            allowed: true,
            messages: Vec::new(),
            warnings: Vec::new(),
        };
        let mut eval = |rule: &str| {
            engine
                .eval_rule(format!("{}.{rule}", self.package))
                .map_err(|e| failed(rule, e.to_string()))
        };
        if self.deny {
            match eval("deny")? {
                Value::Undefined => {}
                Value::Set(messages) => decision.messages.extend(messages.iter().map(message)),
                Value::Array(messages) => decision.messages.extend(messages.iter().map(message)),
                Value::Bool(false) => {}
                Value::Bool(true) => decision.messages.push("deny is true".into()),
                other => {
                    return Err(failed(
                        "deny",
                        format!("must be a set of messages, not {}", message(&other)),
                    ));
                }
            }
        }
        if self.allow {
            match eval("allow")? {
                Value::Bool(true) => {}
                Value::Bool(false) => decision
                    .messages
                    .push(format!("{}.allow is false", self.package())),
                Value::Undefined => decision.messages.push(format!(
                    "{}.allow is undefined (no allow rule matched)",
                    self.package()
                )),
                other => {
                    return Err(failed(
                        "allow",
                        format!("must be a boolean, not {}", message(&other)),
                    ));
                }
            }
        }
        if self.is_compliant {
            let value = eval("isCompliant")?;
            // policy-controller's form: a boolean.
            let value = match value {
                Value::Bool(result) => {
                    let mut object = Value::new_object();
                    if let Ok(map) = object.as_object_mut() {
                        map.insert(Value::from("result"), Value::Bool(result));
                    }
                    object
                }
                other => other,
            };
            let field = |name: &str| match &value[name] {
                Value::String(s) if !s.is_empty() => Some(s.to_string()),
                _ => None,
            };
            decision.warnings.extend(field("warning"));
            match &value["result"] {
                Value::Bool(true) => {}
                Value::Undefined if value == Value::Undefined => decision.messages.push(format!(
                    "{}.isCompliant is undefined (no rule matched)",
                    self.package()
                )),
                Value::Bool(false) | Value::Undefined => {
                    decision.messages.push(field("error").unwrap_or_else(|| {
                        format!("{}.isCompliant result is not true", self.package())
                    }))
                }
                other => {
                    return Err(failed(
                        "isCompliant",
                        format!("result must be a boolean, not {}", message(other)),
                    ));
                }
            }
        }
        decision.allowed = decision.messages.is_empty();
        Ok(decision)
    }
}

/// A Rego value as a message: strings as they are, anything else as JSON.
fn message(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        other => other.to_json_str().unwrap_or_else(|_| format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(builder: &str) -> serde_json::Value {
        serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"runDetails": {"builder": {"id": builder}}},
        })
    }

    #[test]
    fn cosign_v0_allow_policies_are_read() {
        let policy = RegoPolicy::parse(
            "p.rego",
            "package signature\n\nallow {\n  input.predicateType == \"https://slsa.dev/provenance/v1\"\n}\n",
        )
        .unwrap();
        assert_eq!(policy.package(), "signature");
        assert!(policy.evaluate(&statement("b")).unwrap().allowed);
        let other = serde_json::json!({"predicateType": "https://example.com/other"});
        let decision = policy.evaluate(&other).unwrap();
        assert!(!decision.allowed);
        assert_eq!(
            decision.messages,
            ["signature.allow is undefined (no allow rule matched)"]
        );
    }

    #[test]
    fn deny_messages_are_the_reasons() {
        let policy = RegoPolicy::parse(
            "p.rego",
            r#"package vouch
import rego.v1
deny contains sprintf("builder %s is not trusted", [input.predicate.runDetails.builder.id]) if {
    input.predicate.runDetails.builder.id != "good"
}
deny contains "always checked" if { input.predicateType == "" }
"#,
        )
        .unwrap();
        assert!(policy.evaluate(&statement("good")).unwrap().allowed);
        let decision = policy.evaluate(&statement("evil")).unwrap();
        assert_eq!(decision.messages, ["builder evil is not trusted"]);
    }

    #[test]
    fn allow_and_deny_must_both_pass() {
        let policy = RegoPolicy::parse(
            "p.rego",
            r#"package p
import rego.v1
default allow := false
allow if input.predicate.runDetails.builder.id == "good"
deny contains "no evil" if input.predicate.runDetails.builder.id == "evil"
"#,
        )
        .unwrap();
        assert!(policy.evaluate(&statement("good")).unwrap().allowed);
        assert_eq!(
            policy.evaluate(&statement("evil")).unwrap().messages,
            ["no evil", "p.allow is false"]
        );
    }

    #[test]
    fn cosign_is_compliant_results_are_read() {
        let policy = RegoPolicy::parse(
            "p.rego",
            r#"package sigstore
import rego.v1
default isCompliant := {"result": false, "error": "builder not trusted", "warning": "checked"}
isCompliant := {"result": true, "warning": "checked"} if input.predicate.runDetails.builder.id == "good"
"#,
        )
        .unwrap();
        let good = policy.evaluate(&statement("good")).unwrap();
        assert!(good.allowed);
        assert_eq!(good.warnings, ["checked"]);
        let bad = policy.evaluate(&statement("evil")).unwrap();
        assert_eq!(bad.messages, ["builder not trusted"]);
    }

    #[test]
    fn policies_without_a_decision_or_that_do_not_parse_are_refused() {
        let none = RegoPolicy::parse("p.rego", "package p\nx := 1\n").unwrap_err();
        assert_eq!(none.check(), crate::check::Check::Policy);
        assert!(
            none.to_string().contains("defines none of the rules"),
            "{none}"
        );
        let broken = RegoPolicy::parse("broken.rego", "package p\nallow {{ if\n").unwrap_err();
        assert!(broken.to_string().contains("broken.rego"), "{broken}");
    }

    #[test]
    fn deeply_nested_brackets_are_refused_before_the_parser_sees_them() {
        let nested = |n: usize| {
            format!(
                "package p\nimport rego.v1\nallow if {{ x := {}1{}; true }}\n",
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        // `allow if { ... }` is one level; the array adds n.
        RegoPolicy::parse("ok.rego", &nested(MAX_NESTING - 1)).unwrap();
        let error = RegoPolicy::parse("deep.rego", &nested(40)).unwrap_err();
        assert!(
            error.to_string().contains("nests brackets 41 deep"),
            "{error}"
        );
        // Brackets in strings and comments do not count.
        let quoted = format!(
            "package p\nimport rego.v1\n# {}\nallow if {{ \"{}\" != \"\\\"[\" }}\n",
            "[".repeat(100),
            "(".repeat(100)
        );
        RegoPolicy::parse("quoted.rego", &quoted).unwrap();
    }

    #[test]
    fn long_runs_of_minus_signs_are_refused_before_the_parser_sees_them() {
        let policy = |minus: &str| {
            format!("package p\nimport rego.v1\nallow if {{ x := 2 {minus}1; x > 0 }}\n")
        };
        // `2 - -1` is 3: a binary and a unary minus read as before.
        let ok = RegoPolicy::parse("ok.rego", &policy("- -")).unwrap();
        assert!(ok.evaluate(&serde_json::json!({})).unwrap().allowed);
        // Thousands would overflow this thread's stack inside the parser.
        for run in ["-".repeat(5000), "- ".repeat(5000), "-\n# c\n".repeat(9)] {
            let error = RegoPolicy::parse("minus.rego", &policy(&run)).unwrap_err();
            assert!(error.to_string().contains("minus.rego"), "{error}");
            assert!(
                error.to_string().contains("minus signs in a row"),
                "{error}"
            );
        }
        // Dashes in strings and comments are not minus signs.
        let quoted = format!(
            "package p\nimport rego.v1\n# {}\nallow if {{ \"{}\" != \"\" }}\n",
            "-".repeat(100),
            "-".repeat(100)
        );
        RegoPolicy::parse("quoted.rego", &quoted).unwrap();
    }

    #[test]
    fn numbers_with_huge_exponents_are_refused_before_the_parser_sees_them() {
        let policy = |number: &str| {
            format!("package p\nimport rego.v1\nallow if {{ x := {number}; x >= 0 }}\n")
        };
        let allowed = RegoPolicy::parse("ok.rego", &policy("1.5e308 / 1e-300 + 1E+2")).unwrap();
        assert!(allowed.evaluate(&serde_json::json!({})).unwrap().allowed);
        for huge in ["0e99999999", "0.0E+309", "1_0.5e99999999999999999999999"] {
            let error = RegoPolicy::parse("huge.rego", &policy(huge)).unwrap_err();
            assert_eq!(error.check(), crate::check::Check::Policy);
            assert!(error.to_string().contains("huge.rego"), "{error}");
            assert!(error.to_string().contains("exponent"), "{huge}: {error}");
        }
        // Negative exponents are read as well (regorus divides by 10^n).
        let negative = RegoPolicy::parse("neg.rego", &policy("0e-99999999")).unwrap_err();
        assert!(negative.to_string().contains("exponent"), "{negative}");
        // A name that looks like one, or a number in a string or comment, is not a number.
        let names = "package p\nimport rego.v1\n# 1e99999999\nallow if { x1e99999999 := \"1e99999999\"; x1e99999999 != \"\" }\n";
        RegoPolicy::parse("names.rego", names).unwrap();
    }

    #[test]
    fn a_syntax_error_is_one_line_with_file_line_and_column() {
        // A v1 policy (it uses `if`) with an incomplete expression on line 4.
        let v1 = "package signature\n\nallow if {\n  input.x ==\n}\n";
        let error = RegoPolicy::parse("bad.rego", v1).unwrap_err();
        assert!(
            matches!(
                error,
                VerifyError::RegoSyntax {
                    line: 5,
                    column: 1,
                    ..
                }
            ),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.starts_with("bad.rego:5:1: does not parse as Rego: "),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1, "{text}");
        // A v0 policy (no `if`) that does not parse reports v0's error, also on one line.
        let v0 = "package signature\n\ndeny[msg] {\n  input.x ==\n}\n";
        let error = RegoPolicy::parse("old.rego", v0).unwrap_err();
        assert!(matches!(error, VerifyError::RegoSyntax { .. }), "{error:?}");
        assert_eq!(error.to_string().lines().count(), 1, "{error}");
    }

    #[test]
    fn rules_of_the_wrong_type_are_evaluation_errors() {
        let policy = RegoPolicy::parse("p.rego", "package p\nallow := \"yes\"\n").unwrap();
        let e = policy.evaluate(&statement("good")).unwrap_err();
        assert!(matches!(e, VerifyError::RegoEvaluation { .. }), "{e}");
        assert!(e.to_string().contains("p.allow"), "{e}");
    }

    #[test]
    fn policy_controllers_boolean_is_compliant_decides_too() {
        let policy = RegoPolicy::parse(
            "pc.rego",
            "package sigstore\nimport rego.v1\ndefault isCompliant := false\nisCompliant if input.predicate.ok\n",
        )
        .unwrap();
        assert!(
            policy
                .evaluate(&serde_json::json!({"predicate": {"ok": true}}))
                .unwrap()
                .allowed
        );
        let denied = policy
            .evaluate(&serde_json::json!({"predicate": {"ok": false}}))
            .unwrap();
        assert!(!denied.allowed);
        assert_eq!(denied.messages, ["sigstore.isCompliant result is not true"]);
    }
}
