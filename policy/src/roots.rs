//! Sigstore trusted roots built in memory, for trust material that does not come as a
//! `trusted_root.json`: the Rekor keys and Fulcio CA files of containers-policy.json(5)
//! ([`crate::containers`]), and cosign's private-PKI flags (`--ca-roots`,
//! `--ca-intermediates`, `--certificate-chain`), which replace the certificate authorities of
//! a trusted root and keep the rest.
//!
//! A certificate authority of a trusted root is a chain that ends in a self-signed root, and
//! vouch's verifier trusts a signing certificate only with a path to such a root (it never
//! takes a bundle's or a layer's own intermediates). So certificates given as trusted are
//! read this way:
//!
//! - each self-signed certificate is a root, and one authority of its own, valid for the
//!   certificate's own validity period;
//! - each other certificate (given as trusted, or as an intermediate) goes into the chain of
//!   every root it leads to (by issuer name and signature), before the root; one that leads
//!   to none of the roots given is refused, since no path through it could be trusted.
//!
//! Errors are [`PolicyError::Invalid`] with the name given for the material as the file and
//! no line: callers that know where the material was written add the place.
//!
//! ```
//! use vouch_policy::roots;
//! use vouch_verifier::trust_root::TrustedRoot;
//! use vouch_verifier::x509::Certificate;
//!
//! let public_good = TrustedRoot::public_good()?;
//! // What an operator would pass with `--ca-roots`: here the public-good Fulcio's
//! // intermediate and root (read with `roots::certificates_from_pem` from a PEM file).
//! let trusted = public_good.certificate_authorities[1]
//!     .cert_chain
//!     .iter()
//!     .map(|der| Certificate::from_der(der))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let authorities = roots::certificate_authorities(&trusted, &[], "--ca-roots ca.pem")?;
//! let root = roots::with_certificate_authorities(public_good, authorities);
//! // One self-signed root, one authority, the intermediate placed before the root.
//! assert_eq!(root.certificate_authorities.len(), 1);
//! assert_eq!(root.certificate_authorities[0].cert_chain.len(), 2);
//! assert_eq!(root.certificate_authorities[0].common_name, "sigstore (--ca-roots ca.pem)");
//! assert_eq!(root.tlogs, public_good.tlogs);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use vouch_attestations::bundle::HashAlgorithm;
use vouch_keys::{Digest, KeyType, PublicKey};
use vouch_verifier::time::UnixTime;
use vouch_verifier::trust_root::{
    CertificateAuthority, KeyDetails, TimeRange, TransparencyLogInstance, TrustSection,
    TrustedPublicKey, TrustedRoot, TrustedRootVersion,
};
use vouch_verifier::x509::Certificate;

use crate::error::PolicyError;

fn invalid(name: &str, reason: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        file: name.to_owned(),
        line: None,
        reason: reason.into(),
    }
}

/// A trusted root that trusts nothing: no logs, no authorities (media type
/// `application/vnd.dev.sigstore.trustedroot+json;version=0.1`). Fill in what is trusted.
pub fn empty() -> TrustedRoot {
    TrustedRoot {
        media_type: "application/vnd.dev.sigstore.trustedroot+json;version=0.1".into(),
        version: TrustedRootVersion::V0_1,
        tlogs: Vec::new(),
        ctlogs: Vec::new(),
        certificate_authorities: Vec::new(),
        timestamp_authorities: Vec::new(),
        unusable: Vec::new(),
    }
}

/// A Rekor (v1) log known only by its public key, named `name` in messages: its log id is
/// the SHA-256 of the key's SubjectPublicKeyInfo (how Rekor v1 names itself in entries), its
/// hash SHA-256, and it is trusted at every time. The key must be ECDSA (P-256, P-384 or
/// P-521), the keys Rekor v1 signs entry timestamps with and the only kind containers/image
/// accepts.
pub fn rekor_log(key: &PublicKey, name: &str) -> Result<TransparencyLogInstance, PolicyError> {
    let key_details = match key.key_type() {
        KeyType::EcdsaP256 => KeyDetails::PKIX_ECDSA_P256_SHA_256,
        KeyType::EcdsaP384 => KeyDetails::PKIX_ECDSA_P384_SHA_384,
        KeyType::EcdsaP521 => KeyDetails::PKIX_ECDSA_P521_SHA_512,
        other => {
            return Err(invalid(
                name,
                format!("a Rekor key must be ECDSA, not {other}"),
            ));
        }
    };
    Ok(keyed_log(
        format!("the Rekor log of {name}"),
        HashAlgorithm::Sha2_256,
        key,
        key_details,
    ))
}

/// A log known only by its public key, trusted at every time: its log id is the SHA-256 of
/// the key's SubjectPublicKeyInfo (how Rekor v1 and CT logs name themselves).
pub(crate) fn keyed_log(
    base_url: String,
    hash_algorithm: HashAlgorithm,
    key: &PublicKey,
    key_details: KeyDetails,
) -> TransparencyLogInstance {
    let spki = key.spki_der().to_vec();
    TransparencyLogInstance {
        base_url,
        hash_algorithm,
        log_id: Digest::sha256(&spki).to_bytes(),
        public_key: TrustedPublicKey {
            raw_bytes: spki,
            key_details,
            valid_for: TimeRange {
                start: UnixTime::from_secs(0),
                end: None,
            },
        },
        checkpoint_key_id: None,
        operator: String::new(),
    }
}

/// Every certificate of the PEM text `text`, named `name` in messages, in order. Text
/// around the blocks (comments, as CA bundles carry) is ignored; a block that is not a
/// `CERTIFICATE`, a certificate that does not parse, and text with no certificate at all are
/// refused.
pub fn certificates_from_pem(text: &str, name: &str) -> Result<Vec<Certificate>, PolicyError> {
    const BEGIN: &str = "-----BEGIN ";
    let mut certificates = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = &rest[start..];
        let label = block[BEGIN.len()..]
            .split_once("-----")
            .map(|(label, _)| label)
            .filter(|label| !label.contains('\n'))
            .ok_or_else(|| invalid(name, "a PEM BEGIN line is not closed by -----"))?;
        let number = certificates.len() + 1;
        if label != "CERTIFICATE" {
            return Err(invalid(
                name,
                format!("PEM block {number} is {label:?}, not CERTIFICATE"),
            ));
        }
        let end_line = "-----END CERTIFICATE-----";
        let end = block
            .find(end_line)
            .ok_or_else(|| invalid(name, format!("PEM block {number} has no END line")))?
            + end_line.len();
        let certificate = Certificate::from_pem(&block[..end])
            .map_err(|e| invalid(name, format!("certificate {number}: {e}")))?;
        certificates.push(certificate);
        rest = &block[end..];
    }
    if certificates.is_empty() {
        return Err(invalid(name, "holds no PEM certificate"));
    }
    Ok(certificates)
}

/// Decodes standard base64 with padding, ignoring line breaks, as Go's `encoding/json` reads a
/// `[]byte` field (policy-controller's TrustRoot gives its keys and certificate chains so);
/// `None` when the text is not that.
pub(crate) fn go_base64_bytes(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let symbols: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    base64::engine::general_purpose::STANDARD
        .decode(symbols)
        .ok()
}

/// The index in `pool` of the self-signed certificate `pool[from]` leads to, following
/// issuers by name and signature; `None` when the path breaks or loops.
fn root_of(pool: &[&Certificate], from: usize) -> Option<usize> {
    let mut current = from;
    for _ in 0..=pool.len() {
        if pool[current].is_self_issued() {
            return Some(current);
        }
        let cert = pool[current];
        current = pool.iter().position(|candidate| {
            candidate.subject_der() == cert.issuer_der()
                && candidate
                    .public_key()
                    .is_ok_and(|key| cert.verify_signed_by(&key).is_ok())
        })?;
    }
    None
}

/// The certificate authorities that `trusted` certificates make, with `intermediates` to
/// reach them, named after `name` (which says where they came from: `--ca-roots ca.pem`,
/// `fulcio caPath /etc/ca.pem`). See the module documentation: one authority per
/// self-signed certificate of `trusted` (repeats ignored), valid for the certificate's own
/// validity; every other certificate, of either list, placed before each root it leads to.
/// Refused: no self-signed certificate in `trusted`, or a certificate that leads to none.
pub fn certificate_authorities(
    trusted: &[Certificate],
    intermediates: &[Certificate],
    name: &str,
) -> Result<Vec<CertificateAuthority>, PolicyError> {
    let mut pool: Vec<&Certificate> = Vec::new();
    for cert in trusted.iter().chain(intermediates) {
        if !pool.iter().any(|c| c.der() == cert.der()) {
            pool.push(cert);
        }
    }
    if !trusted.iter().any(Certificate::is_self_issued) {
        return Err(invalid(
            name,
            "holds no self-signed (root) certificate: vouch trusts a certificate authority only with its path to a root, so give the root too",
        ));
    }
    // A self-signed certificate given only as an intermediate is not trusted: a path that
    // ends there leads to no root.
    let is_root =
        |cert: &Certificate| cert.is_self_issued() && trusted.iter().any(|t| t.der() == cert.der());
    let mut leads_to = Vec::with_capacity(pool.len());
    for (index, cert) in pool.iter().enumerate() {
        if is_root(cert) {
            leads_to.push(None);
            continue;
        }
        match root_of(&pool, index).filter(|&root| is_root(pool[root])) {
            Some(root) => leads_to.push(Some(root)),
            None => {
                return Err(invalid(
                    name,
                    format!(
                        "certificate \"{}\" leads to none of the root certificates given: vouch trusts a certificate authority only with its path to a self-signed root, so give the certificates that issued it up to the root",
                        cert.subject_summary()
                    ),
                ));
            }
        }
    }
    let mut authorities = Vec::new();
    for (index, root) in pool.iter().enumerate() {
        if !is_root(root) {
            continue;
        }
        let mut cert_chain: Vec<Vec<u8>> = pool
            .iter()
            .zip(&leads_to)
            .filter(|(_, to)| **to == Some(index))
            .map(|(cert, _)| cert.der().to_vec())
            .collect();
        cert_chain.push(root.der().to_vec());
        authorities.push(CertificateAuthority {
            organization: String::new(),
            common_name: format!("{} ({name})", root.subject_summary()),
            uri: String::new(),
            cert_chain,
            valid_for: TimeRange {
                start: root.not_before(),
                end: Some(root.not_after()),
            },
            operator: String::new(),
        });
    }
    Ok(authorities)
}

/// The certificate authority of cosign's `--certificate-chain`: `chain` starts with the
/// certificate that issued the signing certificate and ends with the root, which alone is
/// trusted; the certificates before it are its intermediates. Refused when the last
/// certificate is not self-signed or one before it does not lead to it.
pub fn certificate_chain(
    chain: &[Certificate],
    name: &str,
) -> Result<Vec<CertificateAuthority>, PolicyError> {
    let Some((root, intermediates)) = chain.split_last() else {
        return Err(invalid(name, "holds no certificate"));
    };
    if !root.is_self_issued() {
        return Err(invalid(
            name,
            format!(
                "the last certificate of a certificate chain must be the root (self-signed); \"{}\" is not",
                root.subject_summary()
            ),
        ));
    }
    certificate_authorities(std::slice::from_ref(root), intermediates, name)
}

/// `base` with its certificate authorities replaced by `authorities`: its transparency logs,
/// CT logs and timestamp authorities are kept (with what of them was unusable), its
/// certificate authorities, usable or not, are not.
pub fn with_certificate_authorities(
    base: &TrustedRoot,
    authorities: Vec<CertificateAuthority>,
) -> TrustedRoot {
    TrustedRoot {
        media_type: base.media_type.clone(),
        version: base.version,
        tlogs: base.tlogs.clone(),
        ctlogs: base.ctlogs.clone(),
        certificate_authorities: authorities,
        timestamp_authorities: base.timestamp_authorities.clone(),
        unusable: base
            .unusable
            .iter()
            .filter(|entry| entry.section != TrustSection::CertificateAuthorities)
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The public-good CA certificates as PEM: (intermediate, root) of the current Fulcio,
    /// and the first Fulcio's root.
    fn public_good_pem() -> (String, String, String) {
        let root = TrustedRoot::public_good().unwrap();
        let pem = |der: &[u8]| to_pem(der);
        let current = &root.certificate_authorities[1].cert_chain;
        (
            pem(&current[0]),
            pem(&current[1]),
            pem(&root.certificate_authorities[0].cert_chain[0]),
        )
    }

    fn to_pem(der: &[u8]) -> String {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "# a comment\n-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn each_root_is_an_authority_with_the_intermediates_that_lead_to_it() {
        let (intermediate, root, old_root) = public_good_pem();
        let all = format!("{intermediate}{root}{old_root}");
        let trusted = certificates_from_pem(&all, "ca.pem").unwrap();
        assert_eq!(trusted.len(), 3);
        let authorities = certificate_authorities(&trusted, &[], "ca.pem").unwrap();
        assert_eq!(authorities.len(), 2);
        assert_eq!(
            authorities[0].cert_chain,
            [trusted[0].der().to_vec(), trusted[1].der().to_vec()]
        );
        assert_eq!(authorities[0].common_name, "sigstore (ca.pem)");
        assert_eq!(authorities[0].valid_for.start, trusted[1].not_before());
        assert_eq!(authorities[0].valid_for.end, Some(trusted[1].not_after()));
        assert_eq!(authorities[1].cert_chain, [trusted[2].der().to_vec()]);

        // The intermediate given apart: the same authority.
        let roots = certificates_from_pem(&root, "roots.pem").unwrap();
        let intermediates = certificates_from_pem(&intermediate, "i.pem").unwrap();
        let apart = certificate_authorities(&roots, &intermediates, "roots.pem").unwrap();
        assert_eq!(apart[0].cert_chain, authorities[0].cert_chain);
        let chain = certificates_from_pem(&format!("{intermediate}{root}"), "c.pem").unwrap();
        assert_eq!(
            certificate_chain(&chain, "c.pem").unwrap()[0].cert_chain,
            authorities[0].cert_chain
        );

        // An intermediate alone, or one that leads to another root, is refused.
        let error = certificate_authorities(&intermediates, &[], "i.pem").unwrap_err();
        assert!(
            error.to_string().starts_with("i.pem: holds no self-signed"),
            "{error}"
        );
        let old = certificates_from_pem(&old_root, "old.pem").unwrap();
        let error = certificate_authorities(&old, &intermediates, "old.pem").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"sigstore-intermediate\" leads to none"),
            "{error}"
        );
        let reversed = [chain[1].clone(), chain[0].clone()];
        let error = certificate_chain(&reversed, "c.pem").unwrap_err();
        assert!(error.to_string().contains("must be the root"), "{error}");
    }

    #[test]
    fn pem_text_must_hold_certificates_only() {
        let (intermediate, _, _) = public_good_pem();
        for (text, says) in [
            ("", "holds no PEM certificate"),
            ("no pem here", "holds no PEM certificate"),
            (
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                "PEM block 1 is \"PUBLIC KEY\"",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n",
                "PEM block 1 has no END line",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "certificate 1:",
            ),
        ] {
            let error = certificates_from_pem(text, "x.pem")
                .unwrap_err()
                .to_string();
            assert!(error.contains(says), "{error}");
        }
        let text =
            format!("{intermediate}-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
        let error = certificates_from_pem(&text, "x.pem")
            .unwrap_err()
            .to_string();
        assert!(error.contains("PEM block 2 is \"X509 CRL\""), "{error}");
    }

    #[test]
    fn base64_is_read_as_go_reads_byte_fields() {
        assert_eq!(go_base64_bytes("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(go_base64_bytes("aGVs\nbG8h").unwrap(), b"hello!");
        assert_eq!(go_base64_bytes("").unwrap(), b"");
        for bad in ["aGVsbG8", "aGV=bG8h", "aGVsbG8h===", "-----BEGIN"] {
            assert!(go_base64_bytes(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn replacing_authorities_keeps_the_logs() {
        let base = TrustedRoot::public_good().unwrap();
        let replaced = with_certificate_authorities(base, Vec::new());
        assert!(replaced.certificate_authorities.is_empty());
        assert_eq!(replaced.tlogs, base.tlogs);
        assert_eq!(replaced.ctlogs, base.ctlogs);
        assert_eq!(replaced.timestamp_authorities, base.timestamp_authorities);

        let signer = vouch_keys::PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let key = signer.public_key();
        let log = rekor_log(key, "rekor.pub").unwrap();
        assert_eq!(log.log_id, Digest::sha256(key.spki_der()).to_bytes());
        let ed25519 = vouch_keys::PrivateKey::generate(KeyType::Ed25519).unwrap();
        assert!(
            rekor_log(ed25519.public_key(), "r.pub")
                .unwrap_err()
                .to_string()
                .starts_with("r.pub: a Rekor key must be ECDSA")
        );
    }
}
