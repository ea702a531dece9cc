//! A whole Sigstore instance in process, for tests that need keyless evidence without a
//! server: a Fulcio-like certificate authority issuing short-lived code-signing certificates
//! with Fulcio's identity extensions (OIDC issuer, GitHub workflow claims) and an embedded SCT
//! from its CT log, a Rekor v1 log that records `hashedrekord` and `dsse` entries (signed entry
//! timestamp, RFC 6962 inclusion proof, signed checkpoint), an RFC 3161 timestamp authority,
//! and the `trusted_root.json` naming all four.
//!
//! Unlike `@sigstore/mock` (see [`crate::keyless`]), every time is the caller's to choose, so
//! tests can make certificates that expired before verification, log entries made after a
//! certificate expired, or signatures with a timestamp and no log entry. What it writes follows
//! the specifications (RFC 5280, RFC 6962, RFC 3161/5652, Rekor's entry types, the Sigstore
//! bundle v0.3), so a verifier checks it as it checks the public-good instance's output.
//!
//! ```
//! use vouch_tests::fake_sigstore::{FakeSigstore, KeylessSigner, Signed};
//! let sigstore = FakeSigstore::new("test");
//! let signer = KeylessSigner::new("https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1",
//!     "https://token.actions.githubusercontent.com");
//! let bundle = sigstore.sign(&signer, Signed::Message(b"hello"));
//! assert!(bundle["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"].is_object());
//! ```

use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use vouch_attestations::dsse;
use vouch_keys::der::{self, INTEGER, OCTET_STRING, SEQUENCE, SET};
use vouch_keys::time::format_rfc3339;
use vouch_keys::{Digest, KeyType, PrivateKey};
use vouch_verifier::bundle::{KindVersion, TransparencyLogEntry};
use vouch_verifier::merkle::{Hash, leaf_hash};
use vouch_verifier::rekor::signed_entry_timestamp_payload;

use crate::rekor::{audit_path, canonical_json, checkpoint, tree_hash};

/// Seconds since the Unix epoch now.
pub fn now() -> i64 {
    vouch_keys::time::unix_secs(std::time::SystemTime::now())
}

/// Fulcio's legacy GitHub workflow extensions (1.3.6.1.4.1.57264.1.2 to .6), by the name
/// vouch's policy files give them (`workflowTrigger`, ...).
pub const GITHUB_CLAIMS: [(&str, u8); 5] = [
    ("workflowTrigger", 2),
    ("workflowSha", 3),
    ("workflowName", 4),
    ("workflowRepository", 5),
    ("workflowRef", 6),
];

/// Who signs, what the certificate says, and what the signature gets.
#[derive(Clone, Debug)]
pub struct KeylessSigner {
    /// The certificate's subject alternative name: a URI when it has `://`, else an email.
    pub subject: String,
    /// The OIDC issuer written in Fulcio's issuer extensions (both forms).
    pub issuer: String,
    /// Fulcio extension numbers (1.3.6.1.4.1.57264.1.N) and their raw values.
    pub claims: Vec<(u8, String)>,
    /// The certificate's validity, seconds since the epoch (Fulcio's are ten minutes).
    pub not_before: i64,
    /// The end of the certificate's validity.
    pub not_after: i64,
    /// Embed an SCT from the instance's CT log.
    pub sct: bool,
    /// Log the signature at this integrated time (a signed entry timestamp and a proof).
    pub logged_at: Option<i64>,
    /// Add an RFC 3161 timestamp of the signature at this time.
    pub timestamped_at: Option<i64>,
}

impl KeylessSigner {
    /// A certificate valid from a minute ago for ten minutes, with an SCT, logged now, not
    /// timestamped: what a CI job gets from Fulcio and Rekor.
    pub fn new(subject: &str, issuer: &str) -> KeylessSigner {
        let now = now();
        KeylessSigner {
            subject: subject.to_owned(),
            issuer: issuer.to_owned(),
            claims: Vec::new(),
            not_before: now - 60,
            not_after: now + 540,
            sct: true,
            logged_at: Some(now),
            timestamped_at: None,
        }
    }
}

/// What is signed.
#[derive(Clone, Copy, Debug)]
pub enum Signed<'a> {
    /// Bytes, signed as a message (a `hashedrekord` entry): a simple-signing payload.
    Message(&'a [u8]),
    /// An in-toto statement, signed in a DSSE envelope (a `dsse` entry).
    Statement(&'a [u8]),
}

/// A key and the self-signed CA certificate (or leaf) made for it.
struct Issued {
    key: PrivateKey,
    der: Vec<u8>,
    serial: Vec<u8>,
}

/// The in-process instance. Its keys are new for each instance; its log keeps every entry.
pub struct FakeSigstore {
    name: String,
    created: i64,
    fulcio: Issued,
    ct_log: PrivateKey,
    rekor: PrivateKey,
    tsa_root: Issued,
    tsa: Issued,
    log: Mutex<Vec<Hash>>,
}

impl FakeSigstore {
    /// A new instance whose services are named `https://{service}.{name}.test`.
    pub fn new(name: &str) -> FakeSigstore {
        let created = now() - 86_400;
        let valid = (created, created + 10 * 365 * 86_400);
        let fulcio_key = key();
        let fulcio = self_signed(fulcio_key, &format!("{name} fulcio"), valid);
        let tsa_root = self_signed(key(), &format!("{name} tsa root"), valid);
        let tsa_key = key();
        let tsa_cert = certificate(&CertificateSpec {
            issuer_name: &name_der(&format!("{name} tsa root")),
            issuer_key: &tsa_root.key,
            subject_name: &name_der(&format!("{name} tsa")),
            subject_key: &tsa_key,
            serial: &serial(),
            validity: valid,
            extensions: vec![
                extension(oid(KEY_USAGE), true, &der::tlv(0x03, &[0x07, 0x80])),
                extension(
                    oid(EXT_KEY_USAGE),
                    true,
                    &der::tlv(SEQUENCE, &oid(KP_TIME_STAMPING)),
                ),
            ],
        });
        let tsa = Issued {
            key: tsa_key,
            serial: serial_of(&tsa_cert),
            der: tsa_cert,
        };
        FakeSigstore {
            name: name.to_owned(),
            created,
            fulcio,
            ct_log: key(),
            rekor: key(),
            tsa_root,
            tsa,
            log: Mutex::new(Vec::new()),
        }
    }

    /// The `trusted_root.json` (v0.1) naming this instance's CA, log, CT log and TSA, each
    /// valid from the instance's creation.
    pub fn trusted_root(&self) -> Value {
        let start = format_rfc3339(self.created);
        let key = |key: &PrivateKey, url: &str| {
            let spki = key.public_key().spki_der();
            json!({
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": STANDARD.encode(spki),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
                "logId": {"keyId": STANDARD.encode(Digest::sha256(spki).to_bytes())},
            })
        };
        let name = &self.name;
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [key(&self.rekor, &format!("https://rekor.{name}.test"))],
            "certificateAuthorities": [{
                "subject": {"organization": name, "commonName": format!("{name} fulcio")},
                "uri": format!("https://fulcio.{name}.test"),
                "certChain": {"certificates": [{"rawBytes": STANDARD.encode(&self.fulcio.der)}]},
                "validFor": {"start": start},
            }],
            "ctlogs": [key(&self.ct_log, &format!("https://ctfe.{name}.test"))],
            "timestampAuthorities": [{
                "subject": {"organization": name, "commonName": format!("{name} tsa")},
                "uri": format!("https://tsa.{name}.test"),
                "certChain": {"certificates": [
                    {"rawBytes": STANDARD.encode(&self.tsa.der)},
                    {"rawBytes": STANDARD.encode(&self.tsa_root.der)},
                ]},
                "validFor": {"start": start},
            }],
        })
    }

    /// `text` (a policy-controller `TrustRoot` template) with its placeholders filled with
    /// this instance's trust material as `spec.sigstoreKeys` takes it, the base64 of the PEM:
    /// `FULCIO_CHAIN` and `TSA_CHAIN` (certificate chains), `REKOR_KEY` and `CTFE_KEY` (the
    /// transparency and CT logs' keys).
    pub fn fill_trust_root_template(&self, text: &str) -> String {
        let chain = |issued: &[&Issued]| {
            let pem: String = issued.iter().map(|i| pem(&i.der)).collect();
            STANDARD.encode(pem)
        };
        text.replace("FULCIO_CHAIN", &chain(&[&self.fulcio]))
            .replace("TSA_CHAIN", &chain(&[&self.tsa, &self.tsa_root]))
            .replace(
                "REKOR_KEY",
                &STANDARD.encode(self.rekor.public_key().to_pem()),
            )
            .replace(
                "CTFE_KEY",
                &STANDARD.encode(self.ct_log.public_key().to_pem()),
            )
    }

    /// Writes [`Self::trusted_root`] to `path`.
    pub fn write_trusted_root(&self, path: &Path) {
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&self.trusted_root()).unwrap(),
        )
        .unwrap();
    }

    /// Signs `content` as `signer` with a new P-256 key and a certificate for it, logs and
    /// timestamps the signature as `signer` says, and returns the v0.3 Sigstore bundle.
    pub fn sign(&self, signer: &KeylessSigner, content: Signed<'_>) -> Value {
        let key = key();
        let leaf = self.issue(signer, &key);
        let leaf_b64 = STANDARD.encode(&leaf);
        let certificate_b64 = STANDARD.encode(pem(&leaf));
        let (signature, body, kind, content_json) = match content {
            Signed::Message(bytes) => {
                let signature = key.sign(bytes).unwrap();
                let digest = Digest::sha256(bytes);
                let body = json!({
                    "apiVersion": "0.0.1",
                    "kind": "hashedrekord",
                    "spec": {
                        "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                        "signature": {
                            "content": STANDARD.encode(&signature),
                            "publicKey": {"content": certificate_b64},
                        },
                    },
                });
                let content = json!({"messageSignature": {
                    "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest.to_bytes())},
                    "signature": STANDARD.encode(&signature),
                }});
                (signature, body, "hashedrekord", content)
            }
            Signed::Statement(statement) => {
                let payload_type = dsse::IN_TOTO_PAYLOAD_TYPE;
                let signature = key.sign(&dsse::pae(payload_type, statement)).unwrap();
                let envelope = json!({
                    "payload": STANDARD.encode(statement),
                    "payloadType": payload_type,
                    "signatures": [{"sig": STANDARD.encode(&signature), "keyid": ""}],
                });
                let body = json!({
                    "apiVersion": "0.0.1",
                    "kind": "dsse",
                    "spec": {
                        "envelopeHash": {"algorithm": "sha256", "value": Digest::sha256(envelope.to_string().as_bytes()).hex()},
                        "payloadHash": {"algorithm": "sha256", "value": Digest::sha256(statement).hex()},
                        "signatures": [{
                            "signature": STANDARD.encode(&signature),
                            "verifier": certificate_b64,
                        }],
                    },
                });
                (signature, body, "dsse", json!({ "dsseEnvelope": envelope }))
            }
        };
        let mut material = json!({"certificate": {"rawBytes": leaf_b64}});
        if let Some(time) = signer.logged_at {
            let body = canonical_json(&body).into_bytes();
            material["tlogEntries"] = json!([self.log_entry(&body, kind, time)]);
        } else {
            material["tlogEntries"] = json!([]);
        }
        if let Some(time) = signer.timestamped_at {
            material["timestampVerificationData"] = json!({"rfc3161Timestamps": [
                {"signedTimestamp": STANDARD.encode(self.timestamp(&signature, time))},
            ]});
        }
        let mut bundle = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": material,
        });
        let (name, value) = content_json.as_object().unwrap().iter().next().unwrap();
        bundle[name] = value.clone();
        bundle
    }

    /// A leaf certificate for `key` as `signer` describes it.
    fn issue(&self, signer: &KeylessSigner, key: &PrivateKey) -> Vec<u8> {
        let san = if signer.subject.contains("://") {
            der::tlv(0x86, signer.subject.as_bytes())
        } else {
            der::tlv(0x81, signer.subject.as_bytes())
        };
        let mut extensions = vec![
            extension(oid(KEY_USAGE), true, &der::tlv(0x03, &[0x07, 0x80])),
            extension(
                oid(EXT_KEY_USAGE),
                false,
                &der::tlv(SEQUENCE, &oid(KP_CODE_SIGNING)),
            ),
            extension(oid(SUBJECT_ALT_NAME), true, &der::tlv(SEQUENCE, &san)),
            extension(fulcio_oid(1), false, signer.issuer.as_bytes()),
            extension(
                fulcio_oid(8),
                false,
                &der::tlv(0x0c, signer.issuer.as_bytes()),
            ),
        ];
        for (number, value) in &signer.claims {
            extensions.push(extension(fulcio_oid(*number), false, value.as_bytes()));
        }
        let issuer_name = subject_of(&self.fulcio.der);
        let serial = serial();
        let validity = (signer.not_before, signer.not_after);
        let empty_name = der::tlv(SEQUENCE, &[]);
        let spec = |extensions: Vec<Vec<u8>>| CertificateSpec {
            issuer_name: &issuer_name,
            issuer_key: &self.fulcio.key,
            subject_name: &empty_name,
            subject_key: key,
            serial: &serial,
            validity,
            extensions,
        };
        if signer.sct {
            // The SCT signs the certificate as it is without the SCT list (RFC 6962 3.2).
            let tbs = tbs_certificate(&spec(extensions.clone()));
            let list = self.sct_list(&tbs, signer.not_before * 1000);
            extensions.push(extension(
                oid(SCT_LIST),
                false,
                &der::tlv(OCTET_STRING, &list),
            ));
        }
        certificate(&spec(extensions))
    }

    /// A TLS-encoded `SignedCertificateTimestampList` with one SCT from the CT log over the
    /// precertificate `tbs` at `timestamp_ms`.
    fn sct_list(&self, tbs: &[u8], timestamp_ms: i64) -> Vec<u8> {
        let log_id = Digest::sha256(self.ct_log.public_key().spki_der()).to_bytes();
        let timestamp = u64::try_from(timestamp_ms).unwrap().to_be_bytes();
        let mut signed = vec![0, 0];
        signed.extend_from_slice(&timestamp);
        signed.extend_from_slice(&1u16.to_be_bytes());
        signed.extend(Digest::sha256(self.fulcio.key.public_key().spki_der()).to_bytes());
        signed.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
        signed.extend_from_slice(tbs);
        signed.extend_from_slice(&0u16.to_be_bytes());
        let signature = self.ct_log.sign(&signed).unwrap();
        let mut sct = vec![0];
        sct.extend(log_id);
        sct.extend_from_slice(&timestamp);
        sct.extend_from_slice(&0u16.to_be_bytes());
        sct.extend_from_slice(&[4, 3]);
        sct.extend_from_slice(&(signature.len() as u16).to_be_bytes());
        sct.extend(signature);
        let mut list = Vec::new();
        list.extend_from_slice(&((sct.len() + 2) as u16).to_be_bytes());
        list.extend_from_slice(&(sct.len() as u16).to_be_bytes());
        list.extend(sct);
        list
    }

    /// Appends `body` to the log at `time`: the bundle's `TransparencyLogEntry` with a signed
    /// entry timestamp and an inclusion proof against the tree as it now is.
    fn log_entry(&self, body: &[u8], kind: &str, time: i64) -> Value {
        let mut log = self.log.lock().unwrap();
        let index = log.len();
        log.push(leaf_hash(body));
        let log_id = Digest::sha256(self.rekor.public_key().spki_der()).to_bytes();
        let payload = signed_entry_timestamp_payload(&TransparencyLogEntry {
            log_index: index as u64,
            log_id: log_id.clone(),
            kind_version: KindVersion {
                kind: kind.into(),
                version: "0.0.1".into(),
            },
            integrated_time: u64::try_from(time).unwrap(),
            inclusion_promise: None,
            inclusion_proof: None,
            canonicalized_body: body.to_vec(),
        })
        .unwrap();
        let set = self.rekor.sign(payload.as_bytes()).unwrap();
        let root = tree_hash(&log);
        json!({
            "logIndex": index.to_string(),
            "logId": {"keyId": STANDARD.encode(&log_id)},
            "kindVersion": {"kind": kind, "version": "0.0.1"},
            "integratedTime": time.to_string(),
            "inclusionPromise": {"signedEntryTimestamp": STANDARD.encode(set)},
            "inclusionProof": {
                "logIndex": index.to_string(),
                "rootHash": STANDARD.encode(root),
                "treeSize": log.len().to_string(),
                "hashes": audit_path(index, &log).iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
                "checkpoint": {"envelope": checkpoint(&self.rekor, log.len(), &root)},
            },
            "canonicalizedBody": STANDARD.encode(body),
        })
    }

    /// An RFC 3161 timestamp token (CMS `SignedData` over a `TSTInfo`) for `stamped` at
    /// `time`, signed by the TSA with the content-type and message-digest attributes and its
    /// certificate embedded.
    pub fn timestamp(&self, stamped: &[u8], time: i64) -> Vec<u8> {
        let sha256 = der::tlv(SEQUENCE, &oid(SHA256));
        let tst_info = der::tlv(
            SEQUENCE,
            &[
                integer(&[1]),
                oid(&[1, 3, 6, 1, 4, 1, 57264, 2]),
                der::tlv(
                    SEQUENCE,
                    &[
                        sha256.clone(),
                        der::tlv(OCTET_STRING, &Digest::sha256(stamped).to_bytes()),
                    ]
                    .concat(),
                ),
                integer(&serial()),
                der::tlv(0x18, generalized_time(time).as_bytes()),
            ]
            .concat(),
        );
        let attribute = |kind: &[u64], value: Vec<u8>| {
            der::tlv(SEQUENCE, &[oid(kind), der::tlv(SET, &value)].concat())
        };
        let mut attributes = [
            attribute(CONTENT_TYPE, oid(TST_INFO)),
            attribute(
                MESSAGE_DIGEST,
                der::tlv(OCTET_STRING, &Digest::sha256(&tst_info).to_bytes()),
            ),
        ];
        attributes.sort();
        let attributes = attributes.concat();
        let signature = self.tsa.key.sign(&der::tlv(SET, &attributes)).unwrap();
        let signer_info = der::tlv(
            SEQUENCE,
            &[
                integer(&[1]),
                der::tlv(
                    SEQUENCE,
                    &[subject_of(&self.tsa_root.der), integer(&self.tsa.serial)].concat(),
                ),
                sha256.clone(),
                der::tlv(0xa0, &attributes),
                der::tlv(SEQUENCE, &oid(ECDSA_WITH_SHA256)),
                der::tlv(OCTET_STRING, &signature),
            ]
            .concat(),
        );
        let signed_data = der::tlv(
            SEQUENCE,
            &[
                integer(&[3]),
                der::tlv(SET, &sha256),
                der::tlv(
                    SEQUENCE,
                    &[
                        oid(TST_INFO),
                        der::tlv(0xa0, &der::tlv(OCTET_STRING, &tst_info)),
                    ]
                    .concat(),
                ),
                der::tlv(0xa0, &self.tsa.der),
                der::tlv(SET, &signer_info),
            ]
            .concat(),
        );
        der::tlv(
            SEQUENCE,
            &[oid(SIGNED_DATA), der::tlv(0xa0, &signed_data)].concat(),
        )
    }
}

/// The PEM text of a DER certificate.
pub fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut text = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap());
        text.push('\n');
    }
    text.push_str("-----END CERTIFICATE-----\n");
    text
}

const KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
const BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const COMMON_NAME: &[u64] = &[2, 5, 4, 3];
const KP_CODE_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 3];
const KP_TIME_STAMPING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 8];
const SCT_LIST: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];
const ECDSA_WITH_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
const SHA256: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 2, 1];
const SIGNED_DATA: &[u64] = &[1, 2, 840, 113_549, 1, 7, 2];
const TST_INFO: &[u64] = &[1, 2, 840, 113_549, 1, 9, 16, 1, 4];
const CONTENT_TYPE: &[u64] = &[1, 2, 840, 113_549, 1, 9, 3];
const MESSAGE_DIGEST: &[u64] = &[1, 2, 840, 113_549, 1, 9, 4];

fn key() -> PrivateKey {
    PrivateKey::generate(KeyType::EcdsaP256).unwrap()
}

fn fulcio_oid(number: u8) -> Vec<u8> {
    oid(&[1, 3, 6, 1, 4, 1, 57264, 1, u64::from(number)])
}

/// A DER OBJECT IDENTIFIER.
fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![u8::try_from(arcs[0] * 40 + arcs[1]).unwrap()];
    for &arc in &arcs[2..] {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        body.extend(groups.iter().rev());
    }
    der::tlv(der::OID, &body)
}

/// A DER INTEGER of the unsigned big-endian `bytes`.
fn integer(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
    let mut body = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        vec![0]
    } else {
        Vec::new()
    };
    body.extend(if trimmed.is_empty() { vec![0] } else { trimmed });
    der::tlv(INTEGER, &body)
}

/// A random 16-byte serial number.
fn serial() -> Vec<u8> {
    let mut bytes = vec![0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes
}

fn extension(oid: Vec<u8>, critical: bool, value: &[u8]) -> Vec<u8> {
    let mut body = oid;
    if critical {
        body.extend(der::tlv(0x01, &[0xff]));
    }
    body.extend(der::tlv(OCTET_STRING, value));
    der::tlv(SEQUENCE, &body)
}

fn name_der(common_name: &str) -> Vec<u8> {
    let attribute = der::tlv(
        SEQUENCE,
        &[oid(COMMON_NAME), der::tlv(0x0c, common_name.as_bytes())].concat(),
    );
    der::tlv(SEQUENCE, &der::tlv(SET, &attribute))
}

fn generalized_time(secs: i64) -> String {
    format_rfc3339(secs).replace(['-', ':', 'T'], "")
}

/// UTCTime before 2050, GeneralizedTime after (RFC 5280 4.1.2.5).
fn validity_time(secs: i64) -> Vec<u8> {
    let text = generalized_time(secs);
    if text.as_str() < "2050" {
        der::tlv(0x17, &text.as_bytes()[2..])
    } else {
        der::tlv(0x18, text.as_bytes())
    }
}

struct CertificateSpec<'a> {
    issuer_name: &'a [u8],
    issuer_key: &'a PrivateKey,
    subject_name: &'a [u8],
    subject_key: &'a PrivateKey,
    serial: &'a [u8],
    validity: (i64, i64),
    extensions: Vec<Vec<u8>>,
}

fn tbs_certificate(spec: &CertificateSpec<'_>) -> Vec<u8> {
    der::tlv(
        SEQUENCE,
        &[
            der::tlv(0xa0, &integer(&[2])),
            integer(spec.serial),
            der::tlv(SEQUENCE, &oid(ECDSA_WITH_SHA256)),
            spec.issuer_name.to_vec(),
            der::tlv(
                SEQUENCE,
                &[
                    validity_time(spec.validity.0),
                    validity_time(spec.validity.1),
                ]
                .concat(),
            ),
            spec.subject_name.to_vec(),
            spec.subject_key.public_key().spki_der().to_vec(),
            der::tlv(0xa3, &der::tlv(SEQUENCE, &spec.extensions.concat())),
        ]
        .concat(),
    )
}

fn certificate(spec: &CertificateSpec<'_>) -> Vec<u8> {
    let tbs = tbs_certificate(spec);
    let signature = spec.issuer_key.sign(&tbs).unwrap();
    let mut bits = vec![0];
    bits.extend(signature);
    der::tlv(
        SEQUENCE,
        &[
            tbs,
            der::tlv(SEQUENCE, &oid(ECDSA_WITH_SHA256)),
            der::tlv(0x03, &bits),
        ]
        .concat(),
    )
}

/// A self-signed CA certificate (`keyCertSign`, basic constraints CA without a path length).
fn self_signed(key: PrivateKey, common_name: &str, validity: (i64, i64)) -> Issued {
    let name = name_der(common_name);
    let serial = serial();
    let der = certificate(&CertificateSpec {
        issuer_name: &name,
        issuer_key: &key,
        subject_name: &name,
        subject_key: &key,
        serial: &serial,
        validity,
        extensions: vec![
            extension(oid(KEY_USAGE), true, &der::tlv(0x03, &[0x01, 0x06])),
            extension(
                oid(BASIC_CONSTRAINTS),
                true,
                &der::tlv(SEQUENCE, &der::tlv(0x01, &[0xff])),
            ),
        ],
    });
    Issued { key, der, serial }
}

/// The DER subject name of a certificate.
fn subject_of(cert: &[u8]) -> Vec<u8> {
    tbs_field(cert, 5)
}

/// The serial number's contents of a certificate.
fn serial_of(cert: &[u8]) -> Vec<u8> {
    let field = tbs_field(cert, 1);
    der::parse_single(&field, INTEGER)
        .unwrap()
        .remaining()
        .to_vec()
}

/// The `n`th element (whole TLV) of a certificate's TBSCertificate.
fn tbs_field(cert: &[u8], n: usize) -> Vec<u8> {
    let mut outer = der::parse_single(cert, SEQUENCE).unwrap();
    let mut tbs = outer.sequence().unwrap();
    for _ in 0..n {
        tbs.any_raw().unwrap();
    }
    tbs.any_raw().unwrap().2.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_verifier::VerifyError;
    use vouch_verifier::bundle::Bundle;
    use vouch_verifier::check::Check;
    use vouch_verifier::identity::{CertificateIdentity, Matcher};
    use vouch_verifier::time::UnixTime;
    use vouch_verifier::trust_root::TrustedRoot;
    use vouch_verifier::verify::{Artifact, Options, Policy, Verifier};

    const SUBJECT: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
    const ISSUER: &str = "https://token.actions.githubusercontent.com";

    fn verify(
        sigstore: &FakeSigstore,
        signer: &KeylessSigner,
        statement: bool,
        options: impl FnOnce(&mut Options),
    ) -> Result<Vec<Check>, VerifyError> {
        let payload = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"}}],"predicateType":"https://example.com/p","predicate":{}}"#;
        let artifact: &[u8] = if statement { b"hello" } else { payload };
        let content = if statement {
            Signed::Statement(payload)
        } else {
            Signed::Message(artifact)
        };
        let json = sigstore.sign(signer, content);
        let bundle = Bundle::from_json(json.to_string().as_bytes())?;
        let root = TrustedRoot::from_json(sigstore.trusted_root().to_string().as_bytes())?;
        let policy = Policy::Identity(CertificateIdentity {
            subject: Matcher::Exact(SUBJECT.into()),
            issuer: Matcher::Exact(ISSUER.into()),
            claims: Vec::new(),
        });
        let mut opts = Options::at(UnixTime::from_secs(now()));
        options(&mut opts);
        let verified =
            Verifier::new(&root)?.verify(&bundle, Artifact::Bytes(artifact), &policy, opts)?;
        Ok(verified.checks.iter().map(|c| c.check).collect())
    }

    #[test]
    fn a_logged_message_signature_verifies_with_every_check() {
        let sigstore = FakeSigstore::new("unit");
        let checks = verify(
            &sigstore,
            &KeylessSigner::new(SUBJECT, ISSUER),
            false,
            |_| {},
        )
        .unwrap();
        for wanted in [
            Check::CertificateChain,
            Check::CertificateSct,
            Check::TlogSignedEntryTimestamp,
            Check::TlogInclusionProof,
        ] {
            assert!(
                checks.contains(&wanted),
                "{wanted:?} missing from {checks:?}"
            );
        }
    }

    #[test]
    fn a_logged_dsse_statement_verifies_and_the_log_grows() {
        let sigstore = FakeSigstore::new("unit");
        let signer = KeylessSigner::new(SUBJECT, ISSUER);
        for _ in 0..3 {
            verify(&sigstore, &signer, true, |_| {}).unwrap();
        }
        assert_eq!(sigstore.log.lock().unwrap().len(), 3);
    }

    #[test]
    fn a_timestamp_alone_gives_the_time_when_the_log_is_optional() {
        let sigstore = FakeSigstore::new("unit");
        let mut signer = KeylessSigner::new(SUBJECT, ISSUER);
        signer.logged_at = None;
        signer.timestamped_at = Some(now());
        let checks = verify(&sigstore, &signer, false, |o| o.require_tlog = false).unwrap();
        assert!(checks.contains(&Check::Rfc3161Timestamp), "{checks:?}");
        assert!(matches!(
            verify(&sigstore, &signer, false, |_| {}),
            Err(VerifyError::TlogEntryMissing)
        ));
    }

    #[test]
    fn an_expired_certificate_holds_only_at_a_verified_time_within_its_validity() {
        let sigstore = FakeSigstore::new("unit");
        let mut signer = KeylessSigner::new(SUBJECT, ISSUER);
        signer.not_before = now() - 1200;
        signer.not_after = now() - 600;
        signer.logged_at = Some(now() - 900);
        verify(&sigstore, &signer, false, |_| {}).unwrap();
        signer.logged_at = Some(now() - 300);
        let late = verify(&sigstore, &signer, false, |_| {}).unwrap_err();
        assert!(
            matches!(late, VerifyError::CertificateExpired { .. }),
            "{late}"
        );
    }

    #[test]
    fn another_instance_is_not_trusted() {
        let ours = FakeSigstore::new("ours");
        let theirs = FakeSigstore::new("theirs");
        let json = theirs.sign(&KeylessSigner::new(SUBJECT, ISSUER), Signed::Message(b"x"));
        let bundle = Bundle::from_json(json.to_string().as_bytes()).unwrap();
        let root = TrustedRoot::from_json(ours.trusted_root().to_string().as_bytes()).unwrap();
        let policy = Policy::Identity(CertificateIdentity {
            subject: Matcher::Exact(SUBJECT.into()),
            issuer: Matcher::Exact(ISSUER.into()),
            claims: Vec::new(),
        });
        let err = Verifier::new(&root)
            .unwrap()
            .verify(
                &bundle,
                Artifact::Bytes(b"x"),
                &policy,
                Options::at(UnixTime::from_secs(now())),
            )
            .unwrap_err();
        assert!(err.to_string().contains("no transparency log"), "{err}");
    }
}
