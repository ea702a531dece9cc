//! Records how the binary was built, for `vouch version`: the Git commit of the source (when
//! built from a checkout), the compiler, the target and the profile.

use std::process::Command;

fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn main() {
    let commit = output_of("git", &["rev-parse", "--short=12", "HEAD"]);
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let compiler = output_of(&rustc, &["-V"]);
    println!(
        "cargo:rustc-env=VOUCH_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    println!(
        "cargo:rustc-env=VOUCH_RUSTC={}",
        compiler.as_deref().unwrap_or("unknown")
    );
    for (name, variable) in [("VOUCH_TARGET", "TARGET"), ("VOUCH_PROFILE", "PROFILE")] {
        let value = std::env::var(variable).unwrap_or_else(|_| "unknown".to_owned());
        println!("cargo:rustc-env={name}={value}");
    }
    // How the executable is laid out, on Linux with glibc:
    // - Position-dependent (`-no-pie`) by default, as Go builds cosign, syft and Trivy. A
    //   position-independent vouch has ~33,000 pointers in its read-only data that the loader
    //   rewrites at every start, copying ~140 pages: a third of `vouch --version`'s time (issue
    //   17). Stack, heap and libraries are still placed at random; only the executable's own
    //   image is at a fixed address.
    // - `VOUCH_PIE=1` keeps a position-independent executable (for a distribution whose policy
    //   requires one), with its relative relocations packed (DT_RELR, glibc 2.36 and binutils
    //   2.38 onwards) where the linker can.
    println!("cargo:rerun-if-env-changed=VOUCH_PIE");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        if std::env::var("VOUCH_PIE").as_deref() == Ok("1") {
            if output_of("ld", &["--help"])
                .is_some_and(|help| help.contains("pack-relative-relocs"))
            {
                println!("cargo:rustc-link-arg-bin=vouch=-Wl,-z,pack-relative-relocs");
            }
        } else {
            println!("cargo:rustc-link-arg-bin=vouch=-no-pie");
        }
    }
    // A new commit changes what `version` says. Git says where HEAD and the branches are:
    // `.git` may be a file (a worktree or a submodule), and a worktree keeps its HEAD apart
    // from the branches it shares.
    println!("cargo:rerun-if-changed=build.rs");
    let git_dir = |which| output_of("git", &["rev-parse", "--path-format=absolute", which]);
    let mut watched = Vec::new();
    if let Some(dir) = git_dir("--git-dir") {
        watched.push(format!("{dir}/HEAD"));
    }
    if let Some(dir) = git_dir("--git-common-dir") {
        watched.extend([format!("{dir}/refs/heads"), format!("{dir}/packed-refs")]);
    }
    for path in watched {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
