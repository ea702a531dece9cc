//! `generate-key-pair`, `import-key-pair`, `public-key`, and loading a private key for signing.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use vouch_keys::{KeyType, PrivateKey, PrivateKeyPem, ScryptCost};

use crate::OutputArgs;
use crate::error::{CliError, read_input};
use crate::output::{OutputFormat, print_json};
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
    /// The private key.
    #[arg(long, short = 'k', value_name = "FILE")]
    key: PathBuf,
    /// Write the public key to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    outfile: Option<PathBuf>,
    /// Accept an empty password for an encrypted key.
    #[arg(long)]
    allow_empty_password: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// Reads a private key, asking for the password only if the file is encrypted.
pub(crate) fn load_private_key(
    path: &Path,
    allow_empty_password: bool,
) -> Result<PrivateKey, CliError> {
    let text = read_input(path)?;
    let key_error = |source| CliError::Key {
        path: path.to_owned(),
        source,
    };
    match PrivateKeyPem::parse(&text).map_err(key_error)? {
        PrivateKeyPem::Plain(key) => Ok(key),
        PrivateKeyPem::Encrypted(encrypted) => {
            let password = password::read(Purpose::Decrypt, allow_empty_password)?;
            encrypted.decrypt(password.as_bytes()).map_err(key_error)
        }
    }
}

fn with_extension(prefix: &Path, extension: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

/// A file written next to its destination, then moved into place.
pub(crate) struct Staged {
    temp: PathBuf,
    destination: PathBuf,
}

impl Staged {
    pub(crate) fn write(destination: &Path, contents: &[u8], mode: u32) -> Result<Self, CliError> {
        let write_error = |source| CliError::Write {
            path: destination.to_owned(),
            source,
        };
        let dir = destination
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = destination.file_name().ok_or_else(|| {
            CliError::Usage(format!("{} is not a file name", destination.display()))
        })?;
        let temp = dir.join(format!(
            ".{}.vouch-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .map_err(write_error)?;
        let staged = Self {
            temp,
            destination: destination.to_owned(),
        };
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(write_error)?;
        Ok(staged)
    }

    /// Moves the file into place: replacing what is there only with `force`, else failing
    /// if the destination appeared meanwhile (a hard link never overwrites).
    pub(crate) fn commit(self, force: bool) -> Result<(), CliError> {
        let result = if force {
            fs::rename(&self.temp, &self.destination)
        } else {
            fs::hard_link(&self.temp, &self.destination)
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(CliError::Exists {
                path: self.destination.clone(),
            }),
            Err(source) => Err(CliError::Write {
                path: self.destination.clone(),
                source,
            }),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.temp);
    }
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
    if !force {
        for path in [&key_path, &pub_path] {
            if path.exists() {
                return Err(CliError::Exists { path: path.clone() });
            }
        }
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
            println!("Private key written to {}", key_path.display());
            println!("Public key written to {}", pub_path.display());
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
    let text = read_input(&args.key)?;
    let key = match PrivateKeyPem::parse(&text) {
        Ok(PrivateKeyPem::Plain(key)) => key,
        Ok(PrivateKeyPem::Encrypted(_)) => {
            return Err(CliError::Usage(format!(
                "{} is already an encrypted cosign key; use it as it is",
                args.key.display()
            )));
        }
        Err(source) => {
            return Err(CliError::Key {
                path: args.key,
                source,
            });
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
    let key = load_private_key(&args.key, args.allow_empty_password)?;
    let pem = key.public_key().to_pem();
    if let Some(path) = &args.outfile {
        Staged::write(path, pem.as_bytes(), 0o644)?.commit(true)?;
    }
    match (args.output.output, &args.outfile) {
        (OutputFormat::Json, _) => print_json(&serde_json::json!({
            "public_key": pem,
            "algorithm": key.key_type().to_string(),
            "scheme": key.key_type().scheme(),
            "fingerprint": key.public_key().fingerprint(),
            "outfile": args.outfile,
        })),
        (OutputFormat::Text, None) => print!("{pem}"),
        (OutputFormat::Text, Some(path)) => println!("Public key written to {}", path.display()),
    }
    Ok(ExitCode::SUCCESS)
}
