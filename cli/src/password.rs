//! Where key passwords come from: `VOUCH_PASSWORD`, then `COSIGN_PASSWORD`, then the
//! terminal. An empty password is refused unless the user passed `--allow-empty-password`.

use zeroize::Zeroizing;

use crate::error::CliError;

const ENV_VARS: [&str; 2] = ["VOUCH_PASSWORD", "COSIGN_PASSWORD"];

/// Why the password is wanted: decrypting asks once, encrypting asks twice.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Decrypt,
    Encrypt,
}

fn from_env() -> Option<Zeroizing<String>> {
    ENV_VARS
        .iter()
        .find_map(|name| std::env::var(name).ok().map(Zeroizing::new))
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
    let password = match from_env() {
        Some(password) => password,
        None => {
            let first = prompt("Enter password for private key: ")?;
            if purpose == Purpose::Encrypt {
                let second = prompt("Enter password for private key again: ")?;
                if *first != *second {
                    return Err(CliError::Usage("passwords do not match".into()));
                }
            }
            first
        }
    };
    if password.is_empty() && !allow_empty {
        return Err(CliError::Usage(
            "empty password refused; pass --allow-empty-password to use one".into(),
        ));
    }
    Ok(password)
}
