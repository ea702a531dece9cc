//! Who may vouch, as cosign's verify flags say it: `--key`, or a keyless identity
//! (`--certificate-identity[-regexp]`, `--certificate-oidc-issuer[-regexp]`, the
//! `--certificate-github-workflow-*` claims) checked against `--trusted-root` (else the
//! embedded public-good root), whose certificate authorities cosign's private-PKI flags
//! (`--ca-roots` with `--ca-intermediates`, or `--certificate-chain`) replace. Turned into a
//! `vouch-policy` authority, so flags and policy files are decided the same way.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use vouch_policy::policy::{Authority, Signer, Tlog};
use vouch_policy::roots;
use vouch_verifier::identity::{CertificateIdentity, Matcher, WorkflowClaim};
use vouch_verifier::x509::Certificate;

use crate::error::{CliError, read_input};
use crate::trust::LoadedRoot;

/// The signer flags of `verify` (and the commands that verify like it).
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct SignerArgs {
    /// The public key (PEM SubjectPublicKeyInfo, as `generate-key-pair` writes PREFIX.pub, or
    /// env://VAR).
    #[arg(long, short = 'k', value_name = "FILE", conflicts_with_all = ["certificate_identity", "certificate_identity_regexp", "certificate_oidc_issuer", "certificate_oidc_issuer_regexp"])]
    pub(crate) key: Option<PathBuf>,
    /// The identity (subject alternative name) a keyless signature's certificate must carry.
    #[arg(long, value_name = "IDENTITY")]
    pub(crate) certificate_identity: Option<String>,
    /// A regular expression the certificate identity must match (unanchored, as cosign's).
    #[arg(long, value_name = "REGEX", conflicts_with = "certificate_identity")]
    pub(crate) certificate_identity_regexp: Option<String>,
    /// The OIDC issuer the certificate must name.
    #[arg(long, value_name = "URL")]
    pub(crate) certificate_oidc_issuer: Option<String>,
    /// A regular expression the OIDC issuer must match (unanchored, as cosign's).
    #[arg(long, value_name = "REGEX", conflicts_with = "certificate_oidc_issuer")]
    pub(crate) certificate_oidc_issuer_regexp: Option<String>,
    /// The GitHub workflow trigger the certificate must record (`push`, `release`, ...).
    #[arg(long, value_name = "EVENT")]
    pub(crate) certificate_github_workflow_trigger: Option<String>,
    /// The commit the GitHub workflow ran on.
    #[arg(long, value_name = "SHA")]
    pub(crate) certificate_github_workflow_sha: Option<String>,
    /// The GitHub workflow's name.
    #[arg(long, value_name = "NAME")]
    pub(crate) certificate_github_workflow_name: Option<String>,
    /// The GitHub repository (`owner/name`) the workflow ran in.
    #[arg(long, value_name = "OWNER/NAME")]
    pub(crate) certificate_github_workflow_repository: Option<String>,
    /// The git ref the workflow ran on (`refs/tags/v1`).
    #[arg(long, value_name = "REF")]
    pub(crate) certificate_github_workflow_ref: Option<String>,
    /// A Sigstore trusted_root.json (a private Sigstore's Fulcio, Rekor, CT logs and
    /// timestamp authorities) instead of the embedded public-good root.
    #[arg(long, value_name = "FILE")]
    pub(crate) trusted_root: Option<PathBuf>,
    /// Accept a keyless certificate without a valid SCT from a CT log of the trusted root
    /// (cosign's flag): for a private certificate authority that logs to no CT log.
    #[arg(long)]
    pub(crate) insecure_ignore_sct: bool,
    /// Root CA certificates (a PEM bundle) trusted for keyless certificates in place of the
    /// trusted root's certificate authorities; its logs, CT logs and timestamp authorities
    /// are kept (cosign's flag). Each self-signed certificate is a root; a CA without a CT
    /// log also needs --insecure-ignore-sct.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["key", "certificate_chain"])]
    pub(crate) ca_roots: Option<PathBuf>,
    /// Intermediate CA certificates (PEM) between the signing certificates and the
    /// --ca-roots roots (cosign's flag).
    #[arg(long, value_name = "FILE", requires = "ca_roots")]
    pub(crate) ca_intermediates: Option<PathBuf>,
    /// The signing CA's certificate chain (PEM): the certificate that issued the signing
    /// certificate first, the root last, which alone is trusted, in place of the trusted
    /// root's certificate authorities (cosign's flag; instead of --ca-roots).
    #[arg(long, value_name = "FILE", conflicts_with = "key")]
    pub(crate) certificate_chain: Option<PathBuf>,
}

/// The certificates of the PEM file `path` (read bounded, as every small input is); an
/// error names the file.
fn pem_certificates(path: &Path) -> Result<Vec<Certificate>, CliError> {
    let text = read_input(path)?;
    roots::certificates_from_pem(&text, &path.display().to_string())
        .map_err(|e| input_error(path, e))
}

/// A `vouch_policy::roots` error about the file `path`, as an input error naming it.
fn input_error(path: &Path, error: vouch_policy::PolicyError) -> CliError {
    match error {
        vouch_policy::PolicyError::Invalid { reason, .. } => CliError::Input {
            path: path.to_owned(),
            reason,
        },
        other => CliError::Policy(other),
    }
}

impl SignerArgs {
    /// Whether any signer flag was given.
    pub(crate) fn given(&self) -> bool {
        self.key.is_some()
            || self.certificate_identity.is_some()
            || self.certificate_identity_regexp.is_some()
            || self.certificate_oidc_issuer.is_some()
            || self.certificate_oidc_issuer_regexp.is_some()
    }

    /// The workflow claims asked for.
    fn claims(&self) -> Vec<(WorkflowClaim, String)> {
        [
            (
                WorkflowClaim::Trigger,
                &self.certificate_github_workflow_trigger,
            ),
            (WorkflowClaim::Sha, &self.certificate_github_workflow_sha),
            (WorkflowClaim::Name, &self.certificate_github_workflow_name),
            (
                WorkflowClaim::Repository,
                &self.certificate_github_workflow_repository,
            ),
            (WorkflowClaim::Ref, &self.certificate_github_workflow_ref),
        ]
        .into_iter()
        .filter_map(|(claim, value)| value.clone().map(|v| (claim, v)))
        .collect()
    }

    /// The keyless identity the flags describe; a usage error names what is missing.
    pub(crate) fn identity(&self) -> Result<CertificateIdentity, CliError> {
        let matcher = |exact: &Option<String>, regexp: &Option<String>, flag: &str| match (
            exact, regexp,
        ) {
            (Some(text), None) => Ok(Matcher::Exact(text.clone())),
            (None, Some(pattern)) => Matcher::regex(pattern)
                .map_err(|e| CliError::Usage(format!("--{flag}-regexp: {e}"))),
            _ => Err(CliError::Usage(format!(
                "give --key, or both --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp] (missing --{flag} or --{flag}-regexp)"
            ))),
        };
        let mut identity = CertificateIdentity::new(
            matcher(
                &self.certificate_identity,
                &self.certificate_identity_regexp,
                "certificate-identity",
            )?,
            matcher(
                &self.certificate_oidc_issuer,
                &self.certificate_oidc_issuer_regexp,
                "certificate-oidc-issuer",
            )?,
        );
        identity.claims = self.claims();
        Ok(identity)
    }

    /// The trusted root keyless certificates are checked against: `--trusted-root` (else the
    /// embedded public-good root), with its certificate authorities replaced by those of
    /// `--ca-roots` (and `--ca-intermediates`) or `--certificate-chain` when given. A file
    /// that cannot be read or holds what cannot be trusted is an input error naming it.
    pub(crate) fn trusted_root(&self) -> Result<LoadedRoot, CliError> {
        let loaded = crate::trust::trusted_root(self.trusted_root.as_deref())?;
        let (authorities, flag, path) = match (&self.ca_roots, &self.certificate_chain) {
            (Some(path), _) => {
                let trusted = pem_certificates(path)?;
                let intermediates = match &self.ca_intermediates {
                    Some(path) => pem_certificates(path)?,
                    None => Vec::new(),
                };
                let authorities = roots::certificate_authorities(
                    &trusted,
                    &intermediates,
                    &path.display().to_string(),
                )
                .map_err(|e| input_error(path, e))?;
                (authorities, "--ca-roots", path)
            }
            (None, Some(path)) => {
                let chain = pem_certificates(path)?;
                let authorities = roots::certificate_chain(&chain, &path.display().to_string())
                    .map_err(|e| input_error(path, e))?;
                (authorities, "--certificate-chain", path)
            }
            (None, None) => return Ok(loaded),
        };
        Ok(LoadedRoot {
            root: Cow::Owned(roots::with_certificate_authorities(
                &loaded.root,
                authorities,
            )),
            name: format!(
                "{} with the certificate authorities of {flag} {}",
                loaded.name,
                path.display()
            ),
        })
    }

    /// The authority the flags describe. `ignore_tlog` is cosign's `--insecure-ignore-tlog`:
    /// a keyless signature may then be trusted by an RFC 3161 timestamp instead of a log
    /// entry. Key signatures never need one here (vouch's tag-layout signatures carry one only
    /// when signed with `--tlog-upload`); an entry present is checked either way.
    pub(crate) fn authority(&self, ignore_tlog: bool) -> Result<Authority, CliError> {
        if self.key.is_some() && !self.claims().is_empty() {
            return Err(CliError::Usage(
                "the --certificate-github-workflow-* flags check keyless certificates; they do not go with --key".into(),
            ));
        }
        let trusted_root = Arc::new(self.trusted_root()?.root.into_owned());
        Ok(match &self.key {
            Some(path) => Authority {
                name: format!("key {}", path.display()),
                signer: Signer::Key(crate::trust::public_key(path)?),
                trusted_root,
                tlog: Tlog::Optional,
                require_sct: true,
            },
            None => {
                let identity = self.identity()?;
                Authority {
                    name: format!(
                        "identity {} issued by {}",
                        identity.subject, identity.issuer
                    ),
                    signer: Signer::Keyless(identity),
                    trusted_root,
                    tlog: if ignore_tlog {
                        Tlog::Optional
                    } else {
                        Tlog::Required
                    },
                    require_sct: !self.insecure_ignore_sct,
                }
            }
        })
    }
}
