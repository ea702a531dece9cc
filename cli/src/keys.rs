//! `generate-key-pair`, `import-key-pair`, `public-key`, and loading a private key for signing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use vouch_keys::{KeyType, PrivateKey, PrivateKeyPem, ScryptCost};

use crate::OutputArgs;
use crate::error::{CliError, read_key_file};
use crate::output::{
    OutputFormat, Staged, outln, print_json, refuse_existing, write_file, write_stdout,
};
use crate::password::{self, Purpose};

/// Key algorithms `generate-key-pair` offers.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Algorithm {
    /// ECDSA on NIST P-256 with SHA-256 (cosign's default).
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
}

impl From<Algorithm> for KeyType {
    fn from(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::EcdsaP256 => KeyType::EcdsaP256,
            Algorithm::EcdsaP384 => KeyType::EcdsaP384,
            Algorithm::Ed25519 => KeyType::Ed25519,
        }
    }
}

#[derive(Args)]
pub(crate) struct GenerateArgs {
    /// Write PREFIX.key and PREFIX.pub.
    #[arg(long, value_name = "PREFIX", default_value = "cosign")]
    output_key_prefix: PathBuf,
    /// Key algorithm.
    #[arg(long, value_enum, default_value_t = Algorithm::EcdsaP256)]
    algorithm: Algorithm,
    /// Overwrite existing key files.
    #[arg(long)]
    force: bool,
    /// Accept an empty password (the key is then protected by nothing but file permissions).
    #[arg(long)]
    allow_empty_password: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
pub(crate) struct ImportArgs {
    /// The unencrypted PEM private key to import.
    #[arg(long, short = 'k', value_name = "FILE")]
    key: PathBuf,
    /// Write PREFIX.key and PREFIX.pub.
    #[arg(long, value_name = "PREFIX", default_value = "import-cosign")]
    output_key_prefix: PathBuf,
    /// Overwrite existing key files.
    #[arg(long)]
    force: bool,
    /// Accept an empty password for the encrypted key.
    #[arg(long)]
    allow_empty_password: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
pub(crate) struct PublicKeyArgs {
    /// The private key: a key file, or a key in a PKCS#11 token
    /// (`pkcs11:token=T;object=O?module-path=...`).
    #[arg(long, short = 'k', value_name = "FILE|URI")]
    key: PathBuf,
    /// Write the public key to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    outfile: Option<PathBuf>,
    /// Replace the --outfile file if it exists.
    #[arg(long, requires = "outfile")]
    force: bool,
    /// Accept an empty password for an encrypted key.
    #[arg(long)]
    allow_empty_password: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// The signer `--key` names: a key on a PKCS#11 token when it is a `pkcs11:` URI (RFC 7512,
/// as cosign takes it; the key never leaves the token), else a private key file (see
/// [`load_private_key`]). Every signing verb loads its key through here, so each kind of key
/// works with every verb.
pub(crate) fn load_signer(
    key: &Path,
    allow_empty_password: bool,
) -> Result<Box<dyn vouch_keys::Signer>, CliError> {
    use vouch_keys::pkcs11::{Pkcs11Key, Pkcs11Uri, redact_pin};

    let text = key.as_os_str().to_string_lossy();
    if Pkcs11Uri::is_pkcs11_uri(&text) {
        // Errors name the URI as Display writes it, or, when it does not parse, redacted:
        // never with its PIN.
        let uri = Pkcs11Uri::parse(&text).map_err(|source| CliError::Pkcs11 {
            uri: redact_pin(&text),
            source,
        })?;
        let signer = Pkcs11Key::open(&uri).map_err(|source| CliError::Pkcs11 {
            uri: uri.to_string(),
            source,
        })?;
        tracing::debug!(signer = %vouch_keys::Signer::describe(&signer), "signing key opened");
        return Ok(Box::new(signer));
    }
    Ok(Box::new(load_private_key(key, allow_empty_password)?))
}

/// Reads a private key, asking for the password only if the file is encrypted. A key file
/// that group or others may access is used, with a warning (as ssh gives).
pub(crate) fn load_private_key(
    path: &Path,
    allow_empty_password: bool,
) -> Result<PrivateKey, CliError> {
    let pem = read_private_key_pem(path)?;
    let key_error = |source| CliError::Key {
        path: path.to_owned(),
        source,
    };
    match pem {
        PrivateKeyPem::Plain(key) => Ok(key),
        PrivateKeyPem::Encrypted(encrypted) => {
            let password = password::read(Purpose::Decrypt, allow_empty_password)?;
            encrypted.decrypt(password.as_bytes()).map_err(key_error)
        }
    }
}

/// Reads and parses the private key file at `path` (a regular file of at most
/// [`vouch_keys::MAX_KEY_FILE_BYTES`]); once it has parsed as a private key, warns on
/// standard error when group or others may access the file.
fn read_private_key_pem(path: &Path) -> Result<PrivateKeyPem, CliError> {
    let file = read_key_file(path)?;
    let pem = PrivateKeyPem::parse(&file.text).map_err(|source| CliError::Key {
        path: path.to_owned(),
        source,
    })?;
    // Only once it is known to be a private key: a public key or a file that is no key at all
    // gets its error alone.
    if let Some(warning) = exposure_warning(path, file.mode) {
        eprintln!("{warning}");
    }
    Ok(pem)
}

/// The warning for a private key file whose mode lets group or others in (`mode & 0o077`),
/// as ssh warns about an unprotected key; `None` for a private mode. vouch warns and goes
/// on: refusing would break keys on file systems without Unix modes, and a CI secret
/// mounted 0644 in a single-user container.
fn exposure_warning(path: &Path, mode: u32) -> Option<String> {
    if mode & 0o077 == 0 {
        return None;
    }
    let access = if mode & 0o044 != 0 {
        "readable"
    } else {
        "accessible"
    };
    Some(format!(
        "warning: {} is {access} by others (mode {:04o}); chmod 600 it",
        path.display(),
        mode & 0o7777
    ))
}

fn with_extension(prefix: &Path, extension: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

/// Writes PREFIX.key (0600) and PREFIX.pub, refusing to replace either without `force`; on
/// any failure neither file is left half-written.
fn write_key_pair(
    prefix: &Path,
    key: &PrivateKey,
    allow_empty_password: bool,
    force: bool,
    output: OutputFormat,
) -> Result<ExitCode, CliError> {
    let key_path = with_extension(prefix, "key");
    let pub_path = with_extension(prefix, "pub");
    for path in [&key_path, &pub_path] {
        refuse_existing(path, force)?;
    }
    let password = password::read(Purpose::Encrypt, allow_empty_password)?;
    let encrypted = key.to_encrypted_pem(password.as_bytes(), ScryptCost::COSIGN)?;
    let public = key.public_key().to_pem();
    let staged_key = Staged::write(&key_path, encrypted.as_bytes(), 0o600)?;
    let staged_pub = Staged::write(&pub_path, public.as_bytes(), 0o644)?;
    staged_key.commit(force)?;
    if let Err(e) = staged_pub.commit(force) {
        // Do not leave a private key without its public half.
        let _ = fs::remove_file(&key_path);
        return Err(e);
    }
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "private_key": key_path,
            "public_key": pub_path,
            "algorithm": key.key_type().to_string(),
            "scheme": key.key_type().scheme(),
            "fingerprint": key.public_key().fingerprint(),
        })),
        OutputFormat::Text => {
            outln!("Private key written to {}", key_path.display());
            outln!("Public key written to {}", pub_path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn generate(args: GenerateArgs) -> Result<ExitCode, CliError> {
    let key = PrivateKey::generate(args.algorithm.into())?;
    write_key_pair(
        &args.output_key_prefix,
        &key,
        args.allow_empty_password,
        args.force,
        args.output.output,
    )
}

pub(crate) fn import(args: ImportArgs) -> Result<ExitCode, CliError> {
    let key = match read_private_key_pem(&args.key)? {
        PrivateKeyPem::Plain(key) => key,
        PrivateKeyPem::Encrypted(_) => {
            return Err(CliError::Usage(format!(
                "{} is already an encrypted cosign key; use it as it is",
                args.key.display()
            )));
        }
    };
    write_key_pair(
        &args.output_key_prefix,
        &key,
        args.allow_empty_password,
        args.force,
        args.output.output,
    )
}

pub(crate) fn public_key(args: PublicKeyArgs) -> Result<ExitCode, CliError> {
    if let Some(path) = &args.outfile {
        refuse_existing(path, args.force)?;
    }
    // Through load_signer, so that a key on a PKCS#11 token (`--key pkcs11:...`) works too.
    let key = load_signer(&args.key, args.allow_empty_password)?;
    let pem = key.public_key().to_pem();
    if let Some(path) = &args.outfile {
        write_file(path, pem.as_bytes(), 0o644, args.force)?;
    }
    match (args.output.output, &args.outfile) {
        (OutputFormat::Json, _) => print_json(&serde_json::json!({
            "public_key": pem,
            "algorithm": key.key_type().to_string(),
            "scheme": key.key_type().scheme(),
            "fingerprint": key.public_key().fingerprint(),
            "outfile": args.outfile,
        })),
        (OutputFormat::Text, None) => write_stdout(pem.as_bytes()),
        (OutputFormat::Text, Some(path)) => outln!("Public key written to {}", path.display()),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_only_its_owner_can_read_gets_no_warning() {
        for mode in [0o600, 0o400, 0o700] {
            assert_eq!(exposure_warning(Path::new("k.key"), mode), None);
        }
    }

    #[test]
    fn a_key_others_can_read_is_named_with_its_mode() {
        assert_eq!(
            exposure_warning(Path::new("cosign.key"), 0o644).as_deref(),
            Some("warning: cosign.key is readable by others (mode 0644); chmod 600 it")
        );
        assert_eq!(
            exposure_warning(Path::new("k"), 0o640).as_deref(),
            Some("warning: k is readable by others (mode 0640); chmod 600 it")
        );
        assert_eq!(
            exposure_warning(Path::new("k"), 0o620).as_deref(),
            Some("warning: k is accessible by others (mode 0620); chmod 600 it")
        );
    }
}
