//! Where key passwords come from: `VOUCH_PASSWORD`, then `COSIGN_PASSWORD`, then the
//! terminal. An empty password is refused unless the user passed `--allow-empty-password`,
//! or set `COSIGN_PASSWORD=""`, which is how cosign's users ask for a passwordless key (cosign
//! accepts it, and their scripts keep working); making such a key says so on stderr.

use zeroize::Zeroizing;

use crate::error::CliError;

const ENV_VARS: [&str; 2] = ["VOUCH_PASSWORD", "COSIGN_PASSWORD"];

/// Why the password is wanted: decrypting asks once, encrypting asks twice.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Decrypt,
    Encrypt,
}

/// The password from the first variable of [`ENV_VARS`] that is set, and that variable.
fn from_env() -> Option<(Zeroizing<String>, &'static str)> {
    ENV_VARS
        .iter()
        .find_map(|name| std::env::var(name).ok().map(|p| (Zeroizing::new(p), *name)))
}

fn prompt(text: &str) -> Result<Zeroizing<String>, CliError> {
    rpassword::prompt_password(text)
        .map(Zeroizing::new)
        .map_err(|_| {
            CliError::Usage(
                "no password: set VOUCH_PASSWORD (or COSIGN_PASSWORD), or run in a terminal".into(),
            )
        })
}

/// The password for `purpose`, refusing an empty one unless `allow_empty`.
pub(crate) fn read(purpose: Purpose, allow_empty: bool) -> Result<Zeroizing<String>, CliError> {
    let (password, source) = match from_env() {
        Some(found) => found,
        None => {
            let first = prompt("Enter password for private key: ")?;
            if purpose == Purpose::Encrypt {
                let second = prompt("Enter password for private key again: ")?;
                if *first != *second {
                    return Err(CliError::Usage("passwords do not match".into()));
                }
            }
            (first, "the terminal")
        }
    };
    // cosign's contract: COSIGN_PASSWORD="" asks for a passwordless key.
    let cosign_empty = source == "COSIGN_PASSWORD";
    if password.is_empty() && cosign_empty && purpose == Purpose::Encrypt && !allow_empty {
        eprintln!("vouch: COSIGN_PASSWORD is empty: the private key is written without a password");
    }
    if password.is_empty() && !allow_empty && !cosign_empty {
        return Err(CliError::Usage(
            "empty password refused; pass --allow-empty-password to use one".into(),
        ));
    }
    Ok(password)
}
