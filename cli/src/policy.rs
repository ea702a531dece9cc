//! `vouch policy lint` and `vouch policy test`: checking a trust policy before it enforces
//! anything, and testing it against cases the way OPA users test Rego.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use futures_util::StreamExt as _;
use serde::Deserialize;
use vouch_policy::evidence::StoreSource;
use vouch_policy::{Decision, ImageName, PolicyError, TrustPolicy};
use vouch_registry::ImageReference;
use vouch_verifier::time::UnixTime;

use crate::error::{CliError, read_input};
use crate::output::{OutputFormat, outln, print_json};
use crate::{OutputArgs, RegistryArgs};

#[derive(Args)]
pub(crate) struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Subcommand)]
#[command(defer = true)]
enum PolicyCommand {
    /// Check a trust policy: errors with FILE:LINE:COLUMN (exit 2), then warnings (authorities
    /// no scope uses, patterns an earlier scope already has); exit 0 when it loads.
    Lint(LintArgs),
    /// Decide test cases with a trust policy: each case is a folder holding `case.yaml` (the
    /// image name the policy sees and the decision expected) and an OCI layout with the image
    /// and its evidence. Exit 0 when every case decides as expected, 1 otherwise.
    Test(TestArgs),
}

#[derive(Args)]
struct LintArgs {
    /// Fail (exit 1) when there are warnings.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    output: OutputArgs,
    /// The policy file.
    #[arg(value_name = "FILE")]
    policy: PathBuf,
}

#[derive(Args)]
struct TestArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// The policy file.
    #[arg(value_name = "FILE")]
    policy: PathBuf,
    /// A folder of cases, one folder each.
    #[arg(value_name = "CASES_DIR")]
    cases: PathBuf,
}

pub(crate) async fn run(args: PolicyArgs) -> Result<ExitCode, CliError> {
    match args.command {
        PolicyCommand::Lint(args) => lint(&args),
        PolicyCommand::Test(args) => test(args).await,
    }
}

fn lint(args: &LintArgs) -> Result<ExitCode, CliError> {
    let policy = TrustPolicy::load(&args.policy)?;
    let file = args.policy.display().to_string();
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "policy": file,
            "digest": policy.digest.to_string(),
            "authorities": policy.authorities.len(),
            "scopes": policy.scopes.len(),
            "warnings": policy.warnings.iter().map(|w| serde_json::json!({
                "line": w.line.map(|(l, _)| l),
                "column": w.line.map(|(_, c)| c),
                "message": w.message,
            })).collect::<Vec<_>>(),
        })),
        OutputFormat::Text => {
            for warning in &policy.warnings {
                let place = warning
                    .line
                    .map(|(l, c)| format!(":{l}:{c}"))
                    .unwrap_or_default();
                outln!("{file}{place}: warning: {}", warning.message);
            }
            outln!(
                "{file}: ok ({} authorit{}, {} scope{}, {} warning{})",
                policy.authorities.len(),
                if policy.authorities.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                policy.scopes.len(),
                if policy.scopes.len() == 1 { "" } else { "s" },
                policy.warnings.len(),
                if policy.warnings.len() == 1 { "" } else { "s" },
            );
        }
    }
    Ok(if args.strict && !policy.warnings.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `case.yaml`: the image the policy sees, where its evidence is, and what must be decided.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Case {
    /// The image name the policy decides (`registry/repository[:tag][@digest]`).
    image: String,
    /// The OCI layout holding the image and its evidence, relative to the case's folder
    /// (default `layout`).
    #[serde(default)]
    layout: Option<String>,
    /// The layout's tag for the image (default: its only image).
    #[serde(default)]
    tag: Option<String>,
    /// The decision expected.
    expect: Expected,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Expected {
    allowed: bool,
    #[serde(default)]
    denial: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

impl Expected {
    /// What differs between `decision` and what is expected.
    fn differences(&self, decision: &Decision) -> Vec<String> {
        let mut problems = Vec::new();
        if decision.allowed != self.allowed {
            problems.push(format!(
                "{} where {} was expected",
                if decision.allowed {
                    "allowed"
                } else {
                    "denied"
                },
                if self.allowed { "allowed" } else { "denied" }
            ));
        }
        let denial = decision
            .denial
            .and_then(|d| serde_json::to_value(d).ok())
            .and_then(|v| v.as_str().map(str::to_owned));
        if self.denial.is_some() && denial != self.denial {
            problems.push(format!(
                "denial {} where {} was expected",
                denial.as_deref().unwrap_or("none"),
                self.denial.as_deref().unwrap_or("none")
            ));
        }
        if let Some(text) = &self.reason
            && !decision
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains(text.as_str())
        {
            problems.push(format!(
                "the reason {:?} does not say {text:?}",
                decision.reason.as_deref().unwrap_or_default()
            ));
        }
        problems
    }
}

/// One case's outcome.
struct Tested {
    name: String,
    decision: Option<Decision>,
    problems: Vec<String>,
}

async fn test_case(
    policy: &TrustPolicy,
    client: &vouch_registry::RegistryClient,
    dir: &Path,
) -> Result<Tested, CliError> {
    let name = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let file = dir.join("case.yaml");
    let text = read_input(&file)?;
    let case: Case = serde_saphyr::from_str(&text).map_err(|e| CliError::Input {
        path: file.clone(),
        reason: e.to_string().lines().next().unwrap_or_default().to_owned(),
    })?;
    let image = ImageName::parse(&case.image)?;
    let layout = dir.join(case.layout.as_deref().unwrap_or("layout"));
    let reference = match &case.tag {
        Some(tag) => format!("oci:{}:{tag}", layout.display()),
        None => format!("oci:{}", layout.display()),
    };
    let reference = ImageReference::parse(&reference)?;
    let source = StoreSource::open(client, &reference).map_err(PolicyError::from)?;
    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    let decision = policy.decide(&image, &source, now).await;
    let problems = case.expect.differences(&decision);
    Ok(Tested {
        name,
        decision: Some(decision),
        problems,
    })
}

async fn test(args: TestArgs) -> Result<ExitCode, CliError> {
    let policy = TrustPolicy::load(&args.policy)?;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&args.cases)
        .map_err(|source| CliError::ReadInput {
            path: args.cases.clone(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("case.yaml").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(CliError::Input {
            path: args.cases.clone(),
            reason: "holds no case (a folder with a case.yaml)".into(),
        });
    }
    let client = args.registry.client()?;
    let results: Vec<Result<Tested, CliError>> = futures_util::stream::iter(&dirs)
        .map(|dir| test_case(&policy, &client, dir))
        .buffered(8)
        .collect()
        .await;
    let mut tested = Vec::with_capacity(results.len());
    for (dir, result) in dirs.iter().zip(results) {
        tested.push(match result {
            Ok(t) => t,
            Err(e) => Tested {
                name: dir.display().to_string(),
                decision: None,
                problems: vec![format!("the case cannot be decided: {e}")],
            },
        });
    }
    let failed = tested.iter().filter(|t| !t.problems.is_empty()).count();
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "policy": args.policy.display().to_string(),
            "passed": tested.len() - failed,
            "failed": failed,
            "cases": tested.iter().map(|t| serde_json::json!({
                "case": t.name,
                "passed": t.problems.is_empty(),
                "problems": t.problems,
                "decision": t.decision,
            })).collect::<Vec<_>>(),
        })),
        OutputFormat::Text => {
            for t in &tested {
                if t.problems.is_empty() {
                    outln!("PASS {}", t.name);
                } else {
                    outln!("FAIL {}: {}", t.name, t.problems.join("; "));
                }
            }
            outln!("{} passed, {failed} failed", tested.len() - failed);
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
