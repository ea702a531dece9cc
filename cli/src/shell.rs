//! What a command-line tool owes its shell: completion scripts, man pages and a version that
//! says how the binary was built, all generated from the same definitions as the arguments.

use std::process::ExitCode;

use clap::Args;

use crate::OutputArgs;
use crate::error::CliError;
use crate::output::{OutputFormat, outln, print_json, write_stdout};

/// `vouch completion SHELL`.
#[derive(Args, Debug)]
pub(crate) struct CompletionArgs {
    /// The shell: bash, zsh, fish, elvish or powershell. For bash:
    /// `vouch completion bash > ~/.local/share/bash-completion/completions/vouch`.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// `vouch man [COMMAND]`.
#[derive(Args, Debug)]
pub(crate) struct ManArgs {
    /// A command (`verify`, `sign-blob`, ...) whose page to print instead of vouch's own.
    /// Read one with `vouch man verify | man -l -`.
    command: Option<String>,
}

/// `vouch version`.
#[derive(Args, Debug)]
pub(crate) struct VersionArgs {
    #[command(flatten)]
    output: OutputArgs,
}

/// Prints the completion script for `args.shell`.
pub(crate) fn completion(args: CompletionArgs, mut command: clap::Command) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "vouch", &mut script);
    write_stdout(&script);
    ExitCode::SUCCESS
}

/// Prints the man page (roff) of vouch, or of one of its commands.
pub(crate) fn man(args: ManArgs, mut command: clap::Command) -> Result<ExitCode, CliError> {
    // Global options (-v, --timeout) reach the commands' pages only once built.
    command.build();
    let page = match &args.command {
        None => command,
        Some(name) => {
            let found = command
                .get_subcommands()
                .find(|sub| sub.get_name() == name)
                .cloned()
                .ok_or_else(|| {
                    CliError::Usage(format!("no command {name:?}; `vouch --help` lists them"))
                })?;
            // The page is named after the whole command line, as git's are: vouch-verify(1).
            let full = format!("vouch-{name}");
            found
                .display_name(full.clone())
                .bin_name(full)
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(|e| CliError::Internal(format!("rendering the man page failed: {e}")))?;
    write_stdout(&roff);
    Ok(ExitCode::SUCCESS)
}

/// The version, and how this binary was built.
pub(crate) fn version(args: VersionArgs) -> ExitCode {
    let version = env!("CARGO_PKG_VERSION");
    let commit = env!("VOUCH_GIT_COMMIT");
    let rustc = env!("VOUCH_RUSTC");
    let target = env!("VOUCH_TARGET");
    let profile = env!("VOUCH_PROFILE");
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "version": version,
            "git_commit": commit,
            "rustc": rustc,
            "target": target,
            "profile": profile,
        })),
        OutputFormat::Text => {
            outln!("vouch {version}");
            outln!("git commit: {commit}");
            outln!("compiler:   {rustc}");
            outln!("target:     {target}");
            outln!("profile:    {profile}");
        }
    }
    ExitCode::SUCCESS
}
