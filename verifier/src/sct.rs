//! Signed certificate timestamps embedded in a Fulcio certificate (RFC 6962 sections 3.2 and
//! 3.3): proof that a certificate-transparency log saw the precertificate.
//!
//! Fulcio submits a precertificate to its CT log and embeds the returned SCT in the final
//! certificate. The log signed the precertificate's to-be-signed part, which is the final
//! certificate's TBS without the SCT list extension, together with the hash of the issuer's
//! public key, so both are rebuilt here before the signature is checked.

use vouch_keys::der::{self, OCTET_STRING};
use vouch_keys::{DigestAlgorithm, PublicKey, SignatureScheme};

use crate::VerifyError;
use crate::time::UnixTime;
use crate::x509::{Certificate, oids};

/// One SCT (RFC 6962 section 3.2, `SignedCertificateTimestamp`, version 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sct {
    /// SHA-256 of the log's public key: which log signed.
    pub log_id: [u8; 32],
    /// When the log saw the entry, milliseconds since the epoch.
    pub timestamp_ms: u64,
    /// The `CtExtensions` bytes (empty in practice).
    pub extensions: Vec<u8>,
    /// The signature scheme named by the `DigitallySigned` header.
    pub scheme: SignatureScheme,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

impl Sct {
    /// The SCT's timestamp, rounded down to the second.
    pub fn time(&self) -> UnixTime {
        UnixTime::from_secs(i64::try_from(self.timestamp_ms / 1000).unwrap_or(i64::MAX))
    }
}

fn malformed(reason: &str) -> VerifyError {
    VerifyError::SctMalformed {
        reason: reason.to_owned(),
    }
}

/// A cursor over TLS presentation-language bytes (RFC 5246 section 4).
struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], VerifyError> {
        if self.0.len() < n {
            return Err(malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn uint(&mut self, n: usize) -> Result<u64, VerifyError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn vector(&mut self, len_bytes: usize) -> Result<&'a [u8], VerifyError> {
        let len = self.uint(len_bytes)? as usize;
        self.take(len)
    }
}

/// The SCTs embedded in `cert`, or an empty list when it has none.
pub fn embedded_scts(cert: &Certificate) -> Result<Vec<Sct>, VerifyError> {
    let Some(ext) = cert.extension(oids::SCT_LIST) else {
        return Ok(Vec::new());
    };
    let list = der::parse_single(&ext.value, OCTET_STRING)
        .map_err(|e| malformed(&format!("SCT list extension: {e}")))?
        .remaining();
    let mut outer = Tls(list);
    let mut items = Tls(outer.vector(2)?);
    if !outer.0.is_empty() {
        return Err(malformed("trailing data after the SCT list"));
    }
    let mut scts = Vec::new();
    while !items.0.is_empty() {
        let mut sct = Tls(items.vector(2)?);
        if sct.uint(1)? != 0 {
            return Err(malformed("only version 1 SCTs are defined"));
        }
        let log_id: [u8; 32] = sct.take(32)?.try_into().map_err(|_| malformed("log id"))?;
        let timestamp_ms = sct.uint(8)?;
        let extensions = sct.vector(2)?.to_vec();
        let hash = match sct.uint(1)? {
            4 => DigestAlgorithm::Sha256,
            5 => DigestAlgorithm::Sha384,
            6 => DigestAlgorithm::Sha512,
            _ => return Err(malformed("unsupported hash algorithm")),
        };
        let scheme = match sct.uint(1)? {
            1 => SignatureScheme::RsaPkcs1(hash),
            3 => SignatureScheme::Ecdsa(hash),
            _ => return Err(malformed("unsupported signature algorithm")),
        };
        let signature = sct.vector(2)?.to_vec();
        if !sct.0.is_empty() {
            return Err(malformed("trailing data in an SCT"));
        }
        scts.push(Sct {
            log_id,
            timestamp_ms,
            extensions,
            scheme,
            signature,
        });
    }
    Ok(scts)
}

/// The bytes the log signed for `sct` over the precertificate of `cert`, issued by `issuer`
/// (RFC 6962 section 3.2, `digitally-signed struct` with `entry_type` `precert_entry`).
pub fn signed_data(
    sct: &Sct,
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<Vec<u8>, VerifyError> {
    let tbs = cert.tbs_without_extension(oids::SCT_LIST)?;
    if tbs.len() >= 1 << 24 {
        return Err(malformed("the certificate is too large for an SCT"));
    }
    let issuer_key_hash = vouch_keys::Digest::sha256(issuer.spki_der()).to_bytes();
    let mut data = Vec::with_capacity(tbs.len() + 64);
    data.push(0); // sct_version v1
    data.push(0); // signature_type certificate_timestamp
    data.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    data.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    data.extend_from_slice(&issuer_key_hash);
    data.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
    data.extend_from_slice(&tbs);
    data.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
    data.extend_from_slice(&sct.extensions);
    Ok(data)
}

/// Checks that at least one SCT embedded in `cert` verifies against a trusted CT log.
/// `log_key` looks a log up by its id and the SCT's time, and says why it cannot be used
/// when it cannot. Returns the SCT that verified.
pub fn verify_embedded_scts(
    cert: &Certificate,
    issuer: &Certificate,
    log_key: impl Fn(&[u8; 32], UnixTime) -> Result<PublicKey, VerifyError>,
) -> Result<Sct, VerifyError> {
    let scts = embedded_scts(cert)?;
    if scts.is_empty() {
        return Err(VerifyError::SctMissing);
    }
    let mut reasons = Vec::new();
    for sct in scts {
        let key = match log_key(&sct.log_id, sct.time()) {
            Ok(key) => key,
            Err(e) => {
                reasons.push(e.to_string());
                continue;
            }
        };
        let data = signed_data(&sct, cert, issuer)?;
        match key.verify_scheme(sct.scheme, &data, &sct.signature) {
            Ok(()) => return Ok(sct),
            Err(e) => reasons.push(format!(
                "SCT from log {}: {e}",
                vouch_keys::hex(&sct.log_id)
            )),
        }
    }
    Err(VerifyError::SctInvalid {
        reason: reasons.join("; "),
    })
}
