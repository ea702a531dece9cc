//! How every signing verb signs (`sign`, `attest`, `sbom --attest`, `sign-blob`,
//! `attest-blob`), and where the signature is recorded.
//!
//! * With `--key` (a key file, or a `pkcs11:` URI), the key signs; a transparency log is used
//!   only when `--rekor-url` names one, a timestamp authority when `--timestamp-server-url`
//!   does.
//! * Without it, keylessly, as cosign does: an identity token ([`crate::identity_token`])
//!   buys a short-lived certificate from Fulcio for a fresh P-256 key that lives in memory
//!   only. The certificate is checked before anything is signed with it: its chain to a
//!   certificate authority of the trusted root, its embedded SCT, its key, and that it names
//!   the token's identity and issuer. The signature is then logged in Rekor and/or
//!   timestamped. Which services: `--fulcio-url`, `--rekor-url`, `--timestamp-server-url`
//!   when any is given, else the `--signing-config` (else the public-good one, embedded).
//!
//! Whatever the services answer is verified as a verifier will verify it, the whole bundle
//! through `vouch_verifier::verify::Verifier` with the trusted root (`--trusted-root`, else
//! the embedded public-good root), before any file is written or anything is pushed: a log
//! entry for another signature, a bad inclusion proof, a timestamp over other bytes, a
//! certificate for someone else are errors naming the check.

use std::path::PathBuf;

use clap::Args;
use vouch_attestations::bundle::{
    BundleVersion, DsseEnvelope, DsseSignature, HashOutput, MessageSignature, SignerMaterial,
    VerificationMaterial,
};
use vouch_attestations::dsse::{Envelope, Signature};
use vouch_attestations::rekor::{EntryVerifier, ProposedEntry, ProposedEntryV2};
use vouch_keys::{Digest, KeyType, PrivateKey, PublicKey, Signer};
use vouch_registry::ClientOptions;
use vouch_registry::sigstore::fulcio::FulcioClient;
use vouch_registry::sigstore::rekor::{RekorClient, RekorV2Client};
use vouch_registry::sigstore::tsa::TimestampClient;
use vouch_verifier::bundle::{Bundle, BundleContent, HashAlgorithm};
use vouch_verifier::check::Check;
use vouch_verifier::identity::{CertificateIdentity, Matcher};
use vouch_verifier::signing_config::{SigningConfig, Supported};
use vouch_verifier::time::UnixTime;
use vouch_verifier::trust_root::TrustedRoot;
use vouch_verifier::verify::{Artifact, Options, Policy, Verifier};
use vouch_verifier::x509::Certificate;

use crate::error::{CliError, read_document};
use crate::identity_token::{self, IdentityToken};

/// How far ahead of this machine's clock a service's time may be when its answer is checked:
/// a log or authority whose clock runs a little ahead must not make signing fail.
const CLOCK_SKEW_SECS: i64 = 300;

/// The largest signing config read.
const MAX_SIGNING_CONFIG_BYTES: u64 = 1024 * 1024;

/// The flags of every signing verb.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct SigningArgs {
    /// The private key: a key file (cosign's encrypted format, or PKCS#8 / SEC1 / PKCS#1
    /// PEM), or a key in a PKCS#11 token (`pkcs11:token=T;object=O?module-path=...`).
    /// Without it, vouch signs keylessly with a certificate from Fulcio.
    #[arg(long, short = 'k', value_name = "FILE|URI")]
    pub(crate) key: Option<PathBuf>,
    /// Accept an empty password for an encrypted key.
    #[arg(long)]
    pub(crate) allow_empty_password: bool,
    /// Keyless: the OIDC identity token (or @FILE holding it). Default: $SIGSTORE_ID_TOKEN,
    /// else GitHub Actions' token for the job (needs `permissions: id-token: write`). There
    /// is no interactive browser flow.
    #[arg(long, value_name = "TOKEN|@FILE", conflicts_with = "key")]
    pub(crate) identity_token: Option<String>,
    /// Keyless: the audience the identity token is for (cosign's flag).
    #[arg(long, value_name = "ID", default_value = "sigstore")]
    pub(crate) oidc_client_id: String,
    /// Keyless: the Fulcio certificate authority (e.g. `https://fulcio.sigstore.dev`).
    #[arg(long, value_name = "URL", conflicts_with_all = ["key", "signing_config"])]
    pub(crate) fulcio_url: Option<String>,
    /// Record the signature in this Rekor v1 transparency log (e.g.
    /// `https://rekor.sigstore.dev`).
    #[arg(long, value_name = "URL", conflicts_with = "signing_config")]
    pub(crate) rekor_url: Option<String>,
    /// Timestamp the signature with this RFC 3161 timestamp authority (its full URL, e.g.
    /// `https://timestamp.sigstore.dev/api/v1/timestamp`).
    #[arg(long, value_name = "URL", conflicts_with = "signing_config")]
    pub(crate) timestamp_server_url: Option<String>,
    /// A Sigstore signing config (v0.2) naming the certificate authority, transparency logs
    /// and timestamp authorities to use. Default for keyless signing: the one `vouch trust
    /// update` cached, else the public-good instance's built into vouch, unless --fulcio-url,
    /// --rekor-url or --timestamp-server-url name them.
    #[arg(long, value_name = "FILE")]
    pub(crate) signing_config: Option<PathBuf>,
    /// The Sigstore trusted_root.json the services' answers are verified against; default
    /// the TUF cache's (`vouch trust update`), else the embedded public-good root.
    #[arg(long, value_name = "FILE")]
    pub(crate) trusted_root: Option<PathBuf>,
    /// Record the signature in a transparency log (cosign's flag). Keyless signing logs by
    /// default; false then needs a timestamp authority. With --key, true takes the log from
    /// --rekor-url or the signing config.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub(crate) tlog_upload: Option<bool>,
    /// Accepted for cosign compatibility: vouch asks no confirmation before signing.
    #[arg(short = 'y', long)]
    pub(crate) yes: bool,
}

/// A keyless signer's certificate, checked.
struct Certified {
    /// The signing certificate, DER.
    leaf: Vec<u8>,
    /// Its issuers as Fulcio gave them, DER.
    issuers: Vec<Vec<u8>>,
    /// The identity it names (the SAN that matched the token).
    identity: String,
    /// The OIDC issuer it names.
    issuer: String,
}

/// What a signature is over, with the signature: the bundle content to seal.
pub(crate) enum Content {
    /// A signature over a message whose digest is `digest` (in the algorithm the key's scheme
    /// hashes with).
    Message { digest: Digest, signature: Vec<u8> },
    /// A DSSE envelope's signature over its PAE.
    Dsse {
        payload_type: String,
        payload: Vec<u8>,
        signature: Vec<u8>,
    },
}

/// Where a signature was recorded, for reports.
pub(crate) struct RecordedEntry {
    /// The log's base URL.
    pub(crate) url: String,
    /// The entry's UUID (Rekor v1; v2 entries have none).
    pub(crate) uuid: Option<String>,
    /// The entry's log index.
    pub(crate) log_index: u64,
    /// When the log integrated it (seconds since the epoch).
    pub(crate) integrated_time: u64,
}

/// A signature with everything the services added, verified.
pub(crate) struct Sealed {
    /// The v0.3 bundle.
    pub(crate) bundle: Bundle,
    /// The log entries made.
    pub(crate) entries: Vec<RecordedEntry>,
}

/// A transparency log to record signatures in, by its API version.
enum Log {
    /// Rekor v1: a signed entry timestamp and an inclusion proof, with the integrated time.
    V1(RekorClient),
    /// Rekor v2: an inclusion proof only; the signing time comes from a timestamp.
    V2(RekorV2Client),
}

impl Log {
    fn url(&self) -> &str {
        match self {
            Log::V1(client) => client.url(),
            Log::V2(client) => client.url(),
        }
    }
}

/// A signer ready to sign, with the services that record its signatures.
pub(crate) struct Signing {
    signer: Box<dyn Signer>,
    certified: Option<Certified>,
    tlogs: Vec<Log>,
    timestamp_authorities: Vec<TimestampClient>,
    root: TrustedRoot,
}

/// Options for the Sigstore services' clients.
fn service_options() -> ClientOptions {
    ClientOptions::default()
}

fn now() -> UnixTime {
    UnixTime::from_system_time(std::time::SystemTime::now())
}

impl SigningArgs {
    /// The signing config the flags name, else (keyless, no service flag) the TUF cache's
    /// (`vouch trust update`) while it is current, else the embedded public-good one; `None`
    /// when the service flags say it all.
    fn signing_config(&self) -> Result<Option<SigningConfig>, CliError> {
        if let Some(path) = &self.signing_config {
            let bytes = read_document(path, MAX_SIGNING_CONFIG_BYTES)?;
            return SigningConfig::from_json(&bytes)
                .map(Some)
                .map_err(|e| CliError::Input {
                    path: path.clone(),
                    reason: e.to_string(),
                });
        }
        let flags = self.fulcio_url.is_some()
            || self.rekor_url.is_some()
            || self.timestamp_server_url.is_some();
        if self.key.is_some() || flags {
            return Ok(None);
        }
        // The TUF cache's, when `vouch trust update` fetched one and it is current.
        if let Some((bytes, name)) = crate::trust::cached_signing_config() {
            return SigningConfig::from_json(bytes)
                .map(Some)
                .map_err(|e| CliError::Input {
                    path: PathBuf::from(name),
                    reason: format!("signing config: {e}"),
                });
        }
        SigningConfig::public_good()
            .map(Some)
            .map_err(|e| CliError::Internal(format!("the embedded signing config: {e}")))
    }
}

impl Signing {
    /// Prepares the signer the flags describe: loads `--key`, or gets and checks a
    /// certificate keylessly; opens the services. Everything the user gave is checked here,
    /// before any image is resolved or anything is signed.
    pub(crate) async fn prepare(args: &SigningArgs) -> Result<Signing, CliError> {
        let config = args.signing_config()?;
        let at = now();
        let selected = match &config {
            Some(config) => {
                let selected = config
                    .select(at, Supported::default())
                    .map_err(|e| CliError::Usage(e.to_string()))?;
                if selected.tlogs.is_empty()
                    && let Some(v2) = config.unsupported_tlogs(at, Supported::default()).first()
                {
                    return Err(CliError::Usage(format!(
                        "the signing config names only Rekor v{} logs ({}), and vouch speaks Rekor v1 and v2: pass --rekor-url",
                        v2.major_api_version, v2.url
                    )));
                }
                selected
            }
            None => Default::default(),
        };
        // (URL, Rekor API version); --rekor-url names a v1 log, as cosign's does.
        let tlog_urls: Vec<(String, u32)> = match (&args.rekor_url, args.tlog_upload) {
            (_, Some(false)) => Vec::new(),
            (Some(url), _) => vec![(url.clone(), 1)],
            // Keys log only when asked to.
            (None, None) if args.key.is_some() => Vec::new(),
            (None, _) => selected
                .tlogs
                .iter()
                .map(|s| (s.url.clone(), s.major_api_version))
                .collect(),
        };
        if args.tlog_upload == Some(true) && tlog_urls.is_empty() {
            return Err(CliError::Usage(
                "--tlog-upload=true: no transparency log to upload to; pass --rekor-url or a --signing-config that names one".into(),
            ));
        }
        let tsa_urls: Vec<String> = match &args.timestamp_server_url {
            Some(url) => vec![url.clone()],
            None if args.key.is_some() => Vec::new(),
            None => selected
                .timestamp_authorities
                .iter()
                .map(|s| s.url.clone())
                .collect(),
        };
        if args.key.is_some()
            && tlog_urls.is_empty()
            && tsa_urls.is_empty()
            && args.trusted_root.is_some()
        {
            return Err(CliError::Usage(
                "--trusted-root checks what a transparency log or timestamp authority answers; with --key, pass --rekor-url or --timestamp-server-url too".into(),
            ));
        }
        let loaded = crate::trust::trusted_root(args.trusted_root.as_deref())?;
        let root = loaded.root.into_owned();
        let root_name = PathBuf::from(loaded.name);
        let verifier = Verifier::new(&root).map_err(|e| CliError::Input {
            path: root_name.clone(),
            reason: e.to_string(),
        })?;
        if !tlog_urls.is_empty() && root.tlogs.is_empty() {
            return Err(CliError::Input {
                path: root_name,
                reason: "has no transparency log (tlogs); no log answer could verify".into(),
            });
        }
        let tlogs = tlog_urls
            .iter()
            .map(|(url, version)| match version {
                2 => RekorV2Client::new(url, service_options()).map(Log::V2),
                _ => RekorClient::new(url, service_options()).map(Log::V1),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let timestamp_authorities = tsa_urls
            .iter()
            .map(|url| TimestampClient::new(url, service_options()))
            .collect::<Result<Vec<_>, _>>()?;
        if args.key.is_none()
            && timestamp_authorities.is_empty()
            && let Some(log) = tlogs.iter().find(|l| matches!(l, Log::V2(_)))
        {
            return Err(CliError::Usage(format!(
                "{} is a Rekor v2 log, whose entries carry no signing time: a keyless signature logged there needs a timestamp authority too (--timestamp-server-url, or a signing config that names one)",
                log.url()
            )));
        }

        let (signer, certified): (Box<dyn Signer>, _) = match &args.key {
            Some(path) => (
                crate::keys::load_signer(path, args.allow_empty_password)?,
                None,
            ),
            None => {
                if tlogs.is_empty() && timestamp_authorities.is_empty() {
                    return Err(CliError::Usage(
                        "a keyless signature needs a transparency-log entry or an RFC 3161 timestamp to be verifiable once its certificate expires (minutes from now): drop --tlog-upload=false, or pass --timestamp-server-url".into(),
                    ));
                }
                let fulcio_url = args
                    .fulcio_url
                    .clone()
                    .or(selected.ca.map(|ca| ca.url))
                    .ok_or_else(|| CliError::Usage(
                        "keyless signing needs a certificate authority: pass --fulcio-url, or a --signing-config that names one (or sign with --key)".into(),
                    ))?;
                let fulcio = FulcioClient::new(&fulcio_url, service_options())?;
                let (token, source) =
                    identity_token::find(args.identity_token.as_deref(), &args.oidc_client_id, service_options())
                        .await?
                        .ok_or_else(|| CliError::IdentityToken(format!(
                            "keyless signing needs an identity token: pass --identity-token TOKEN (or @FILE), set {}, or run in GitHub Actions with `permissions: id-token: write`; vouch has no interactive browser flow. Or sign with --key.",
                            identity_token::TOKEN_VARIABLE
                        )))?;
                let token = IdentityToken::parse(&token, source, &args.oidc_client_id, at.secs())?;
                let key = PrivateKey::generate(KeyType::EcdsaP256)?;
                let certified = certify(&fulcio, &token, &key, &verifier).await?;
                tracing::info!(
                    fulcio = fulcio.url(),
                    identity = %certified.identity,
                    issuer = %certified.issuer,
                    "certificate issued and checked"
                );
                (Box::new(key) as Box<dyn Signer>, Some(certified))
            }
        };
        Ok(Signing {
            signer,
            certified,
            tlogs,
            timestamp_authorities,
            root,
        })
    }

    /// The signing key's public half (the ephemeral key's, keyless).
    pub(crate) fn public_key(&self) -> &PublicKey {
        self.signer.public_key()
    }

    /// The signing key's type.
    pub(crate) fn key_type(&self) -> KeyType {
        self.signer.key_type()
    }

    /// Signs `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CliError> {
        Ok(self.signer.sign(message)?)
    }

    /// Who signs, for reports: the key's fingerprint, or the certificate's identity.
    pub(crate) fn signer_json(&self) -> serde_json::Value {
        match &self.certified {
            Some(c) => serde_json::json!({
                "identity": c.identity,
                "issuer": c.issuer,
                "certificate": vouch_keys::pem_encode("CERTIFICATE", &c.leaf),
            }),
            None => serde_json::json!({ "key_fingerprint": self.public_key().fingerprint() }),
        }
    }

    /// The signing certificate as PEM, keyless.
    pub(crate) fn certificate_pem(&self) -> Option<String> {
        self.certified
            .as_ref()
            .map(|c| vouch_keys::pem_encode("CERTIFICATE", &c.leaf))
    }

    /// The cosign layer annotations for `bundle`'s material (certificate, chain, Rekor
    /// bundle, timestamp); empty for a key signature that went nowhere.
    pub(crate) fn layer_annotations(
        &self,
        bundle: &Bundle,
    ) -> std::collections::BTreeMap<String, String> {
        let issuers = self
            .certified
            .as_ref()
            .map_or(&[][..], |c| c.issuers.as_slice());
        vouch_attestations::cosign::material_annotations(&bundle.material, issuers)
    }

    /// Whether a signature would be recorded anywhere (a log or a timestamp authority).
    pub(crate) fn records(&self) -> bool {
        !self.tlogs.is_empty() || !self.timestamp_authorities.is_empty()
    }

    /// The material of a fresh v0.3 bundle: the key's hint, or the certificate.
    fn material(&self) -> VerificationMaterial {
        match &self.certified {
            Some(c) => VerificationMaterial {
                signer: SignerMaterial::Certificate(c.leaf.clone()),
                tlog_entries: Vec::new(),
                rfc3161_timestamps: Vec::new(),
            },
            None => VerificationMaterial::public_key_hint(self.public_key()),
        }
    }

    /// Who a log entry names as the signer: the certificate, or the key.
    fn entry_verifier(&self) -> EntryVerifier<'_> {
        match &self.certified {
            Some(c) => EntryVerifier::Certificate(&c.leaf),
            None => EntryVerifier::Key(self.public_key()),
        }
    }

    /// Refuses to log a message signature by an Ed25519 key: a `hashedrekord` entry holds
    /// the signed file's digest, and an Ed25519 signature covers the whole file.
    fn refuse_ed25519_message(&self) -> Result<(), CliError> {
        if self.key_type() == KeyType::Ed25519 {
            return Err(CliError::Usage(
                "a Rekor hashedrekord entry holds the signed file's digest, and an \
                 Ed25519 signature covers the whole file; sign with an ECDSA or RSA key \
                 to log it (DSSE attestations take Ed25519)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The Rekor v1 entry to propose for `content`: `hashedrekord` over `digest` (the
    /// message's, which a message signature comes with) for a message signature, `dsse` for
    /// an envelope.
    fn proposed_entry(
        &self,
        content: &BundleContent,
        digest: Option<&Digest>,
    ) -> Result<ProposedEntry, CliError> {
        match content {
            BundleContent::MessageSignature(message) => {
                self.refuse_ed25519_message()?;
                Ok(ProposedEntry::hashed_rekord_by(
                    message_digest(digest)?,
                    &message.signature,
                    self.entry_verifier(),
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
                let json = serde_json::to_string(&envelope)
                    .map_err(|e| CliError::Internal(e.to_string()))?;
                Ok(ProposedEntry::dsse_by(&json, self.entry_verifier()))
            }
        }
    }

    /// The Rekor v2 request for `content`: `hashedrekord` 0.0.2 over `digest` for a message
    /// signature, over the hash of the PAE for an envelope.
    fn proposed_entry_v2(
        &self,
        content: &BundleContent,
        digest: Option<&Digest>,
    ) -> Result<ProposedEntryV2, CliError> {
        match content {
            BundleContent::MessageSignature(message) => {
                self.refuse_ed25519_message()?;
                Ok(ProposedEntryV2::hashed_rekord(
                    message_digest(digest)?,
                    &message.signature,
                    self.entry_verifier(),
                    self.key_type(),
                ))
            }
            // As the Rekor v2 specification records envelopes (section 6.1.4): a hashedrekord
            // over the hash of the PAE, which every verifier takes (dsse 0.0.2 is deprecated).
            BundleContent::DsseEnvelope(dsse) => {
                let pae = vouch_attestations::dsse::pae(&dsse.payload_type, &dsse.payload);
                let algorithm = self.key_type().message_digest_algorithm();
                Ok(ProposedEntryV2::dsse_as_hashed_rekord(
                    &Digest::compute(algorithm, &pae),
                    &dsse.signature.sig,
                    self.entry_verifier(),
                    self.key_type(),
                ))
            }
        }
    }

    /// Refuses cosign's tag layout when a log is Rekor v2: its entries have no signed entry
    /// timestamp, which is all a `dev.sigstore.cosign/bundle` annotation can carry, so only a
    /// Sigstore bundle (`--bundle-format v3`) holds them.
    pub(crate) fn check_tag_layout(&self) -> Result<(), CliError> {
        match self.tlogs.iter().find(|l| matches!(l, Log::V2(_))) {
            Some(log) => Err(CliError::Usage(format!(
                "{} is a Rekor v2 log; its entries fit only in a Sigstore bundle: pass --bundle-format v3",
                log.url()
            ))),
            None => Ok(()),
        }
    }

    /// Checks, before anything is signed, that a message signature can be recorded: with a
    /// transparency log, not by an Ed25519 key.
    pub(crate) fn check_recordable(&self) -> Result<(), CliError> {
        if self.tlogs.is_empty() {
            return Ok(());
        }
        self.refuse_ed25519_message()
    }

    /// Seals `content` into a v0.3 bundle: the key hint or certificate, a log entry from each
    /// transparency log, a timestamp from each authority; then verifies the whole bundle for
    /// `artifact` as a verifier will (the key, or the certificate's identity and issuer,
    /// against the trusted root) before returning it.
    pub(crate) async fn seal(
        &self,
        content: Content,
        artifact: Artifact<'_>,
    ) -> Result<Sealed, CliError> {
        // A message signature's digest is kept as it is, for the log entries.
        let (content, digest) = match content {
            Content::Message { digest, signature } => (
                BundleContent::MessageSignature(MessageSignature {
                    message_digest: Some(HashOutput {
                        algorithm: HashAlgorithm::of(digest.algorithm()),
                        digest: digest.to_bytes(),
                    }),
                    signature,
                }),
                Some(digest),
            ),
            Content::Dsse {
                payload_type,
                payload,
                signature,
            } => (
                BundleContent::DsseEnvelope(DsseEnvelope {
                    payload,
                    payload_type,
                    signature: DsseSignature {
                        sig: signature,
                        keyid: String::new(),
                    },
                }),
                None,
            ),
        };
        let mut bundle = Bundle {
            media_type: vouch_attestations::bundle::MEDIA_TYPE_V0_3.into(),
            version: BundleVersion::V0_3,
            material: self.material(),
            content,
        };
        let mut entries = Vec::new();
        for log in &self.tlogs {
            let (uuid, entry) = match log {
                Log::V1(client) => {
                    let answer = client
                        .create_entry(&self.proposed_entry(&bundle.content, digest.as_ref())?)
                        .await?;
                    (Some(answer.uuid), answer.entry)
                }
                Log::V2(client) => (
                    None,
                    client
                        .create_entry(&self.proposed_entry_v2(&bundle.content, digest.as_ref())?)
                        .await?,
                ),
            };
            entries.push(RecordedEntry {
                url: log.url().to_owned(),
                uuid,
                log_index: entry.log_index,
                integrated_time: entry.integrated_time,
            });
            bundle.material.tlog_entries.push(entry);
        }
        let signature = match &bundle.content {
            BundleContent::MessageSignature(m) => m.signature.clone(),
            BundleContent::DsseEnvelope(d) => d.signature.sig.clone(),
        };
        for authority in &self.timestamp_authorities {
            let imprint = Digest::sha256(&signature);
            let mut nonce = vouch_keys::random_bytes(16)?;
            nonce[0] &= 0x7f;
            let request = vouch_verifier::tsa::timestamp_request(&imprint, &nonce);
            let response = authority.timestamp(&request).await?;
            vouch_verifier::tsa::check_response(&response, &imprint, &nonce).map_err(|e| {
                CliError::ServiceAnswer {
                    service: format!("timestamp authority {}", authority.url()),
                    check: e.check(),
                    reason: e.to_string(),
                }
            })?;
            bundle.material.rfc3161_timestamps.push(response);
        }
        self.verify_sealed(&bundle, artifact)?;
        for entry in &entries {
            tracing::info!(
                url = %entry.url,
                uuid = entry.uuid.as_deref().unwrap_or("-"),
                log_index = entry.log_index,
                "recorded in the transparency log; its answer verified"
            );
        }
        Ok(Sealed { bundle, entries })
    }

    /// Verifies a sealed bundle as `verify-blob` will, naming the service whose answer
    /// failed.
    fn verify_sealed(&self, bundle: &Bundle, artifact: Artifact<'_>) -> Result<(), CliError> {
        let verifier = Verifier::new(&self.root).map_err(|e| CliError::Internal(e.to_string()))?;
        let policy = match &self.certified {
            Some(c) => Policy::Identity(CertificateIdentity::new(
                Matcher::Exact(c.identity.clone()),
                Matcher::Exact(c.issuer.clone()),
            )),
            None => Policy::Key(self.public_key().clone()),
        };
        let options = Options {
            now: UnixTime::from_secs(now().secs().saturating_add(CLOCK_SKEW_SECS)),
            require_tlog: !self.tlogs.is_empty(),
            require_sct: true,
        };
        verifier
            .verify(bundle, artifact, &policy, options)
            .map(|_| ())
            .map_err(|e| {
                let check = e.check();
                let service = match check {
                    Check::TlogEntryBody
                    | Check::TlogSignedEntryTimestamp
                    | Check::TlogInclusionProof
                    | Check::TlogCheckpoint
                    | Check::TlogEntry => self
                        .tlogs
                        .iter()
                        .map(|l| l.url().to_owned())
                        .collect::<Vec<_>>()
                        .join(", "),
                    Check::Rfc3161Timestamp => self
                        .timestamp_authorities
                        .iter()
                        .map(|t| t.url().to_owned())
                        .collect::<Vec<_>>()
                        .join(", "),
                    _ => "the signature".to_owned(),
                };
                CliError::ServiceAnswer {
                    service,
                    check,
                    reason: e.to_string(),
                }
            })
    }
}

/// The digest a message signature comes with (see [`Signing::seal`]).
fn message_digest(digest: Option<&Digest>) -> Result<&Digest, CliError> {
    digest.ok_or_else(|| CliError::Internal("a message signature without its digest".into()))
}

/// Buys a certificate for `key` from `fulcio` with `token`, and checks it before it is used:
/// it parses, certifies `key`, chains to a certificate authority of `verifier`'s root now with an SCT
/// from one of its CT logs, and names the token's identity and issuer.
async fn certify(
    fulcio: &FulcioClient,
    token: &IdentityToken,
    key: &PrivateKey,
    verifier: &Verifier<'_>,
) -> Result<Certified, CliError> {
    let proof = key.sign(token.subject.as_bytes())?;
    let issued = fulcio
        .signing_certificate(token.as_str(), key.public_key(), &proof)
        .await?;
    let refused = |check: Check, reason: String| CliError::ServiceAnswer {
        service: format!("Fulcio {}", fulcio.url()),
        check,
        reason,
    };
    let leaf = Certificate::from_der(&issued.chain[0])
        .map_err(|e| refused(Check::CertificateChain, format!("the certificate: {e}")))?;
    let certified_key = leaf
        .public_key()
        .map_err(|e| refused(Check::CertificateChain, e.to_string()))?;
    if certified_key.spki_der() != key.public_key().spki_der() {
        return Err(refused(
            Check::CertificateChain,
            "the certificate is for another key than the one whose possession was proven".into(),
        ));
    }
    if issued.detached_sct.is_some() {
        return Err(refused(
            Check::CertificateSct,
            "the certificate comes with a detached SCT; vouch takes certificates with an embedded SCT, which every verifier can check".into(),
        ));
    }
    let authority = verifier
        .verify_signing_certificate(&leaf, now(), true)
        .map_err(|e| refused(e.check(), e.to_string()))?;
    let issuer = leaf
        .fulcio_issuer()
        .map_err(|e| refused(Check::CertificateIdentity, e.to_string()))?
        .unwrap_or_default();
    if issuer != token.issuer {
        return Err(refused(
            Check::CertificateIdentity,
            format!(
                "the certificate names the OIDC issuer {issuer:?}, not the token's {:?}",
                token.issuer
            ),
        ));
    }
    let names = leaf
        .subject_alt_names()
        .map_err(|e| refused(Check::CertificateIdentity, e.to_string()))?;
    let identity = names
        .iter()
        .map(|n| n.as_str())
        .find(|name| token.identities.iter().any(|id| id == name))
        .ok_or_else(|| {
            refused(
                Check::CertificateIdentity,
                format!(
                    "the certificate names {}, not the identity of the token from {}",
                    names
                        .iter()
                        .map(|n| format!("{:?}", n.as_str()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    token.source
                ),
            )
        })?
        .to_owned();
    tracing::debug!(%authority, "the certificate chains to a trusted authority");
    Ok(Certified {
        leaf: issued.chain[0].clone(),
        issuers: issued.chain[1..].to_vec(),
        identity,
        issuer,
    })
}
