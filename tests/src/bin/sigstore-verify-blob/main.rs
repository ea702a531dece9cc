//! `sigstore-verify-blob`: verifies a file (or a digest) against a Sigstore bundle, offline,
//! with the `sigstore` crate's bundle verifier only (sigstore-rs), never vouch's own code.
//! The peer of `vouch verify-blob` in the `verify_blob` benchmark.

use std::process::ExitCode;

mod offline;

const USAGE: &str = "\
sigstore-verify-blob: verify a file against a Sigstore bundle, offline, with sigstore-rs

USAGE:
    sigstore-verify-blob --bundle BUNDLE --certificate-identity IDENTITY
        --certificate-oidc-issuer URL --trusted-root TRUSTED_ROOT.json FILE_OR_DIGEST
    sigstore-verify-blob --help

FILE_OR_DIGEST is a file, or sha256:<hex> when no file of that name exists.
Exits 0 and prints `Verified FILE_OR_DIGEST` if sigstore-rs accepts the bundle, 1 if it refuses
it (the reason on stderr), 2 on any other error.
";

struct Args {
    bundle: String,
    identity: String,
    issuer: String,
    trusted_root: String,
    artifact: String,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = std::env::args().skip(1);
    let (mut bundle, mut identity, mut issuer, mut trusted_root, mut artifact) =
        (None, None, None, None, None);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--bundle" => bundle = Some(value("--bundle")?),
            "--certificate-identity" => identity = Some(value("--certificate-identity")?),
            "--certificate-oidc-issuer" => issuer = Some(value("--certificate-oidc-issuer")?),
            "--trusted-root" => trusted_root = Some(value("--trusted-root")?),
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            _ if artifact.is_none() => artifact = Some(arg),
            _ => return Err("more than one FILE_OR_DIGEST".into()),
        }
    }
    let need = |v: Option<String>, name: &str| v.ok_or(format!("missing {name}"));
    Ok(Some(Args {
        bundle: need(bundle, "--bundle")?,
        identity: need(identity, "--certificate-identity")?,
        issuer: need(issuer, "--certificate-oidc-issuer")?,
        trusted_root: need(trusted_root, "--trusted-root")?,
        artifact: need(artifact, "FILE_OR_DIGEST")?,
    }))
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

/// The artifact's SHA-256: of the file, or the `sha256:<hex>` argument naming no file.
fn artifact_digest(argument: &str) -> Result<[u8; 32], String> {
    if std::path::Path::new(argument).exists() {
        return Ok(offline::sha256(&read(argument)?));
    }
    let hex = argument
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64)
        .ok_or_else(|| format!("{argument}: no such file, nor a sha256:<hex> digest"))?;
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("{argument}: not hex"))?;
    }
    Ok(digest)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sigstore-verify-blob: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let prepared = (|| {
        let verifier = offline::OfflineVerifier::new(
            &read(&args.trusted_root)?,
            &args.identity,
            &args.issuer,
        )?;
        let bundle = offline::parse_bundle(&read(&args.bundle)?)?;
        Ok::<_, String>((verifier, bundle, artifact_digest(&args.artifact)?))
    })();
    let (verifier, bundle, digest) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sigstore-verify-blob: {e}");
            return ExitCode::from(2);
        }
    };
    match verifier.verify(bundle, digest) {
        Ok(()) => {
            println!("Verified {}", args.artifact);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("DENIED {} with {}: {e}", args.artifact, args.bundle);
            ExitCode::from(1)
        }
    }
}
