//! A Fulcio client: trade an OIDC identity token and a proof of possession of a key for a
//! short-lived code-signing certificate (Fulcio's `fulcio.proto`, API v2):
//!
//! * `POST {url}/api/v2/signingCert` with
//!   `{"credentials":{"oidcIdentityToken":TOKEN},"publicKeyRequest":{"publicKey":
//!   {"algorithm":"ECDSA","content":PEM},"proofOfPossession":BASE64}}`, where the proof is the
//!   key's signature over the token's subject (its `email` claim when it has one, else `sub`).
//! * The answer is `{"signedCertificateEmbeddedSct":{"chain":{"certificates":[PEM, ...]}}}`
//!   (the leaf first, then its issuers), or `signedCertificateDetachedSct` with the chain and
//!   a detached SCT (`signedCertificateTimestamp`, base64).
//!
//! The token is sent in the request body only, never logged, and never part of an error.
//! Nothing here checks the certificate: the caller verifies the chain, the SCT, the key and
//! the identity against its trusted root before signing anything with it.
//!
//! ```no_run
//! use vouch_registry::ClientOptions;
//! use vouch_registry::sigstore::fulcio::FulcioClient;
//!
//! # async fn run(token: &str, key: &vouch_keys::PrivateKey) -> Result<(), vouch_registry::RegistryError> {
//! let fulcio = FulcioClient::new("https://fulcio.sigstore.dev", ClientOptions::default())?;
//! let proof = key.sign(b"user@example.com").expect("signing");
//! let issued = fulcio.signing_certificate(token, key.public_key(), &proof).await?;
//! println!("{} certificates", issued.chain.len());
//! # Ok(()) }
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;
use vouch_keys::{KeyType, PublicKey};

use super::Endpoint;
use crate::RegistryError;
use crate::client::ClientOptions;

/// How errors name the service.
const SERVICE: &str = "Fulcio";

/// The certificate endpoint, below the CA's base URL.
pub const SIGNING_CERT_PATH: &str = "/api/v2/signingCert";

/// The largest answer read, in bytes: a chain of a few certificates is a few kilobytes.
pub const MAX_ANSWER_BYTES: u64 = 256 * 1024;

/// The most certificates an answer's chain may hold.
pub const MAX_CHAIN_LENGTH: usize = 10;

/// What Fulcio issued. Unverified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The chain as Fulcio answered it, DER, the signing certificate first, then its
    /// issuers (root last, when Fulcio includes it); never empty.
    pub chain: Vec<Vec<u8>>,
    /// A detached SCT (`signedCertificateDetachedSct`), when the certificate carries none
    /// embedded.
    pub detached_sct: Option<Vec<u8>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    signed_certificate_embedded_sct: Option<Signed>,
    signed_certificate_detached_sct: Option<Signed>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Signed {
    chain: Chain,
    #[serde(default)]
    signed_certificate_timestamp: Option<String>,
}

#[derive(Deserialize)]
struct Chain {
    certificates: Vec<String>,
}

/// The certificates of a chain answer, in order, each one PEM `CERTIFICATE` block.
fn chain_der(certificates: &[String]) -> Result<Vec<Vec<u8>>, String> {
    if certificates.is_empty() {
        return Err("the chain holds no certificate".into());
    }
    if certificates.len() > MAX_CHAIN_LENGTH {
        return Err(format!(
            "the chain holds {} certificates, more than {MAX_CHAIN_LENGTH}",
            certificates.len()
        ));
    }
    certificates
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let blocks = pem::parse_many(text)
                .map_err(|e| format!("certificate {index} is not PEM: {e}"))?;
            match blocks.as_slice() {
                [block] if block.tag() == "CERTIFICATE" && !block.contents().is_empty() => {
                    Ok(block.contents().to_vec())
                }
                [] => Err(format!("certificate {index} is not PEM: no PEM block")),
                [block] => Err(format!(
                    "certificate {index} is a PEM \"{}\" block, not a CERTIFICATE",
                    block.tag()
                )),
                _ => Err(format!(
                    "certificate {index} holds {} PEM blocks, not one",
                    blocks.len()
                )),
            }
        })
        .collect()
}

/// Reads Fulcio's answer.
fn parse_answer(bytes: &[u8]) -> Result<IssuedCertificate, String> {
    let answer: Answer =
        serde_json::from_slice(bytes).map_err(|e| format!("not a certificate answer: {e}"))?;
    match (
        answer.signed_certificate_embedded_sct,
        answer.signed_certificate_detached_sct,
    ) {
        (Some(signed), None) => Ok(IssuedCertificate {
            chain: chain_der(&signed.chain.certificates)?,
            detached_sct: None,
        }),
        (None, Some(signed)) => {
            let sct = signed
                .signed_certificate_timestamp
                .ok_or("a detached-SCT answer without signedCertificateTimestamp")?;
            let sct = STANDARD
                .decode(sct)
                .map_err(|e| format!("signedCertificateTimestamp is not base64: {e}"))?;
            Ok(IssuedCertificate {
                chain: chain_der(&signed.chain.certificates)?,
                detached_sct: Some(sct),
            })
        }
        (None, None) => Err("it holds neither signedCertificateEmbeddedSct nor \
             signedCertificateDetachedSct"
            .into()),
        (Some(_), Some(_)) => Err("it holds both an embedded-SCT and a detached-SCT answer".into()),
    }
}

/// Fulcio's name for a key's algorithm (`PublicKeyAlgorithm`).
fn algorithm(key: &PublicKey) -> &'static str {
    match key.key_type() {
        KeyType::Ed25519 => "ED25519",
        KeyType::Rsa { .. } => "RSA_PSS",
        _ => "ECDSA",
    }
}

/// A client for one Fulcio instance. Clones share connections.
#[derive(Clone)]
pub struct FulcioClient {
    endpoint: Endpoint,
}

impl FulcioClient {
    /// A client for the CA at `url` (`https://fulcio.sigstore.dev`, or a base path below
    /// which `/api/v2/...` lives). URLs are refused as a transparency log's are: see
    /// [`RegistryError::ServiceUrl`].
    pub fn new(url: &str, options: ClientOptions) -> Result<Self, RegistryError> {
        Ok(Self {
            endpoint: Endpoint::new(SERVICE, url, options, false)?,
        })
    }

    /// The CA's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.endpoint.base
    }

    /// Asks for a certificate for `key`, proven by `proof` (the key's signature over the
    /// token's subject), on the strength of the identity `token`. Transport failures, 5xx
    /// and 429 answers are retried ([`ClientOptions::attempts`]); a refusal is
    /// [`RegistryError::ServiceStatus`] with Fulcio's message (tokens cut out), an answer
    /// that is not a certificate chain [`RegistryError::ServiceAnswer`].
    pub async fn signing_certificate(
        &self,
        token: &str,
        key: &PublicKey,
        proof: &[u8],
    ) -> Result<IssuedCertificate, RegistryError> {
        let url = format!("{}{SIGNING_CERT_PATH}", self.endpoint.base);
        let body = zeroize::Zeroizing::new(
            json!({
                "credentials": { "oidcIdentityToken": token },
                "publicKeyRequest": {
                    "publicKey": { "algorithm": algorithm(key), "content": key.to_pem() },
                    "proofOfPossession": STANDARD.encode(proof),
                },
            })
            .to_string(),
        );
        let json = "application/json";
        let bytes = self
            .endpoint
            .post(&url, json, json, body.as_bytes(), MAX_ANSWER_BYTES)
            .await?;
        parse_answer(&bytes).map_err(|reason| self.endpoint.malformed(&url, reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";

    #[test]
    fn embedded_and_detached_answers_read() {
        let embedded =
            json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": [PEM, PEM]}}});
        let issued = parse_answer(embedded.to_string().as_bytes()).unwrap();
        assert_eq!(issued.chain, vec![vec![1, 2, 3], vec![1, 2, 3]]);
        assert_eq!(issued.detached_sct, None);
        let detached = json!({"signedCertificateDetachedSct": {
            "chain": {"certificates": [PEM]}, "signedCertificateTimestamp": "BAU="}});
        let issued = parse_answer(detached.to_string().as_bytes()).unwrap();
        assert_eq!(issued.detached_sct, Some(vec![4, 5]));
    }

    #[test]
    fn malformed_answers_say_what_is_wrong() {
        for (answer, needle) in [
            (json!({}), "neither"),
            (
                json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": []}}}),
                "no certificate",
            ),
            (
                json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": ["nope"]}}}),
                "not PEM",
            ),
            (
                json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": [PEM.replace("CERTIFICATE", "PUBLIC KEY")]}}}),
                "not a CERTIFICATE",
            ),
            (
                json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": [format!("{PEM}{PEM}")]}}}),
                "2 PEM blocks",
            ),
            (
                json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": vec![PEM; 11]}}}),
                "more than 10",
            ),
            (
                json!({"signedCertificateDetachedSct": {"chain": {"certificates": [PEM]}}}),
                "without signedCertificateTimestamp",
            ),
        ] {
            let error = parse_answer(answer.to_string().as_bytes()).unwrap_err();
            assert!(error.contains(needle), "{answer}: {error}");
        }
    }
}
