//! `--rekor-url` for `sign-blob` and `attest-blob`: upload the bundle's signature to a Rekor v1
//! transparency log, verify the log's answer offline, and put the entry in the bundle.
//!
//! The answer is checked as `verify-blob` will check the bundle, before anything is written:
//! the whole bundle, entry included, goes through `vouch_verifier::verify::Verifier` with the
//! signer's key and the trusted root (`--trusted-root`, else the embedded public-good root),
//! so the log must be one of the root's `tlogs`, the entry body must record this signature
//! and key (`tlog-entry-body`), the signed entry timestamp must verify with the log's key
//! (`tlog-signed-entry-timestamp`), and the inclusion proof must lead to a checkpoint the log
//! signed (`tlog-inclusion-proof`, `tlog-checkpoint`). An answer that fails any of them is an
//! error naming the check, and no bundle is written.

use std::path::PathBuf;

use vouch_attestations::dsse::{Envelope, Signature};
use vouch_keys::{Digest, DigestAlgorithm, KeyType, PublicKey};
use vouch_registry::ClientOptions;
use vouch_registry::rekor::{ProposedEntry, RekorClient};
use vouch_verifier::bundle::{Bundle, BundleContent, HashAlgorithm};
use vouch_verifier::check::Check;
use vouch_verifier::time::UnixTime;
use vouch_verifier::trust_root::TrustedRoot;
use vouch_verifier::verify::{Artifact, Options, Policy, Verifier};

use crate::error::CliError;

/// How far ahead of this machine's clock the log's integrated time may be when its answer is
/// checked: a log whose clock runs a little ahead must not make signing fail.
const CLOCK_SKEW_SECS: i64 = 300;

/// The flags that upload a blob signature to a transparency log.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct RekorArgs {
    /// Upload the signature to this Rekor v1 transparency log (e.g. `https://rekor.sigstore.dev`)
    /// and put its entry in the bundle. Without it no log is contacted.
    #[arg(long, value_name = "URL")]
    rekor_url: Option<String>,
    /// The Sigstore trusted_root.json the log's answer is verified against (the log must be
    /// one of its tlogs); default the embedded public-good root.
    #[arg(long, value_name = "FILE", requires = "rekor_url")]
    trusted_root: Option<PathBuf>,
}

/// Where an uploaded entry landed, for reports.
pub(crate) struct RecordedEntry {
    /// The log's base URL.
    pub(crate) url: String,
    /// The entry's UUID.
    pub(crate) uuid: String,
    /// The entry's log index.
    pub(crate) log_index: u64,
    /// When the log integrated it (seconds since the epoch).
    pub(crate) integrated_time: u64,
}

/// A transparency log to record signatures in, with the trust material its answers are
/// verified against.
pub(crate) struct TransparencyLog {
    client: RekorClient,
    root: TrustedRoot,
}

impl TransparencyLog {
    /// The log `--rekor-url` names, or `None` without the flag. Reads and checks the trusted
    /// root first, so a bad one stops the command before anything is signed or sent.
    pub(crate) fn from_args(args: &RekorArgs) -> Result<Option<Self>, CliError> {
        let Some(url) = &args.rekor_url else {
            return Ok(None);
        };
        let loaded = crate::trust::trusted_root(args.trusted_root.as_deref())?;
        let root = loaded.root.into_owned();
        let root_name = PathBuf::from(loaded.name);
        Verifier::new(&root).map_err(|e| CliError::Input {
            path: root_name.clone(),
            reason: e.to_string(),
        })?;
        if root.tlogs.is_empty() {
            return Err(CliError::Input {
                path: root_name,
                reason: "has no usable transparency log (tlogs); no log answer could verify".into(),
            });
        }
        let client = RekorClient::new(url, ClientOptions::default())?;
        Ok(Some(Self { client, root }))
    }

    /// The entry to propose for `bundle`'s signature: `hashedrekord` for a message signature
    /// (over the digest the bundle names), `dsse` for a DSSE envelope. Rekor checks a
    /// `hashedrekord` signature against the digest alone, which an Ed25519 signature (over the
    /// whole file) cannot be checked against: refused as a usage error.
    pub(crate) fn proposed_entry(
        bundle: &Bundle,
        key: &PublicKey,
    ) -> Result<ProposedEntry, CliError> {
        match &bundle.content {
            BundleContent::MessageSignature(message) => {
                if key.key_type() == KeyType::Ed25519 {
                    return Err(CliError::Usage(
                        "--rekor-url: a Rekor hashedrekord entry holds the file's digest, and an \
                         Ed25519 signature covers the whole file; sign with an ECDSA or RSA key \
                         (attest-blob's DSSE entries take Ed25519)"
                            .into(),
                    ));
                }
                let hint = message.message_digest.as_ref().ok_or_else(|| {
                    CliError::Internal("the bundle has no message digest to record".into())
                })?;
                let algorithm = match &hint.algorithm {
                    HashAlgorithm::Sha2_256 => DigestAlgorithm::Sha256,
                    HashAlgorithm::Sha2_384 => DigestAlgorithm::Sha384,
                    HashAlgorithm::Sha2_512 => DigestAlgorithm::Sha512,
                    other => {
                        return Err(CliError::Internal(format!(
                            "a message digest in {} cannot be recorded in a hashedrekord entry",
                            other.name()
                        )));
                    }
                };
                let digest = Digest::from_bytes(algorithm, &hint.digest)
                    .map_err(|e| CliError::Internal(e.to_string()))?;
                Ok(ProposedEntry::hashed_rekord(
                    &digest,
                    &message.signature,
                    key,
                ))
            }
            BundleContent::DsseEnvelope(dsse) => {
                let envelope = Envelope {
                    payload: dsse.payload.clone(),
                    payload_type: dsse.payload_type.clone(),
                    signatures: vec![Signature {
                        keyid: dsse.signature.keyid.clone(),
                        sig: dsse.signature.sig.clone(),
                    }],
                };
                // Strings and lists of strings always serialize.
                let json = serde_json::to_string(&envelope).unwrap_or_default();
                Ok(ProposedEntry::dsse(&json, key))
            }
        }
    }

    /// Uploads `bundle`'s signature, verifies the log's answer and returns the bundle with
    /// the entry in it. `artifact` and `key` are what the bundle is for and signed with.
    pub(crate) async fn record(
        &self,
        mut bundle: Bundle,
        artifact: Artifact<'_>,
        key: &PublicKey,
    ) -> Result<(Bundle, RecordedEntry), CliError> {
        let proposed = Self::proposed_entry(&bundle, key)?;
        let url = self.client.url().to_owned();
        let answer = self.client.create_entry(&proposed).await?;
        let refused = |check: Check, reason: String| CliError::LogAnswer {
            url: url.clone(),
            check,
            reason,
        };
        let entry = answer.entry;
        let recorded = RecordedEntry {
            url: url.clone(),
            uuid: answer.uuid,
            log_index: entry.log_index,
            integrated_time: entry.integrated_time,
        };
        bundle.material.tlog_entries.push(entry);
        let verifier =
            Verifier::new(&self.root).map_err(|e| refused(Check::TrustedRoot, e.to_string()))?;
        let options = Options {
            now: UnixTime::from_secs(
                UnixTime::from_system_time(std::time::SystemTime::now())
                    .secs()
                    .saturating_add(CLOCK_SKEW_SECS),
            ),
            require_tlog: true,
            require_sct: true,
        };
        verifier
            .verify(&bundle, artifact, &Policy::Key(key.clone()), options)
            .map_err(|e| refused(e.check(), e.to_string()))?;
        tracing::info!(
            url = %recorded.url,
            uuid = %recorded.uuid,
            log_index = recorded.log_index,
            "recorded in the transparency log; its answer verified"
        );
        Ok((bundle, recorded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_keys::PrivateKey;

    #[test]
    fn ed25519_message_signatures_cannot_be_hashedrekord_entries() {
        let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let bundle = Bundle::key_signed_message(
            key.public_key(),
            &Digest::sha256(b"x"),
            key.sign(b"x").unwrap(),
        );
        assert!(matches!(
            TransparencyLog::proposed_entry(&bundle, key.public_key()),
            Err(CliError::Usage(_))
        ));
    }
}
