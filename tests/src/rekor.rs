//! A fake Rekor v1 transparency log on 127.0.0.1: `POST /api/v1/log/entries` and
//! `GET /api/v1/log/entries/{uuid}` as rekor's `openapi.yaml` defines them, an RFC 6962 Merkle
//! tree of canonicalized entries, an ECDSA P-256 log key that signs entry timestamps and
//! Rekor-v1-style checkpoints, and the `trusted_root.json` that names it; plus scripted
//! misbehaviour for the failures a real log does not produce on demand.
//!
//! ```no_run
//! let log = vouch_tests::FakeRekor::start(vouch_tests::RekorBehavior::Honest);
//! let root = std::env::temp_dir().join("root.json");
//! log.write_trusted_root(&root);
//! // vouch sign-blob --rekor-url <log.url> --trusted-root <root> ...
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use vouch_attestations::dsse;
use vouch_keys::{Digest, DigestAlgorithm, KeyType, PrivateKey, PublicKey};
use vouch_verifier::bundle::{KindVersion, TransparencyLogEntry};
use vouch_verifier::merkle::{Hash, leaf_hash, node_hash};
use vouch_verifier::rekor::signed_entry_timestamp_payload;

/// The tree ID in the fake's checkpoint origin (`127.0.0.1 - <tree ID>`).
pub const FAKE_TREE_ID: u64 = 1_193_050_959_916_656_506;

/// What the fake log does with uploads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RekorBehavior {
    /// A working log.
    Honest,
    /// Signs each entry timestamp over another log index than the one it answers.
    BadSet,
    /// Stores (signs, proves) a body recording another signature than the one proposed.
    WrongBody,
    /// Answers an inclusion proof, with a checkpoint it signs, for a root hash the entry's
    /// audit path does not lead to.
    BadProof,
    /// Answers every request `500 Internal Server Error`.
    Status500,
    /// Reads every request, then closes the connection without answering.
    Close,
    /// Records the first upload but closes the connection before answering it, as a lost
    /// answer; the retried upload then gets `409 Conflict`, as from Rekor.
    LoseFirstAnswer,
}

struct Leaf {
    body: Vec<u8>,
    hash: Hash,
    integrated_time: i64,
}

struct LogState {
    key: PrivateKey,
    leaves: Vec<Leaf>,
    lost_one: bool,
}

impl LogState {
    fn log_id(&self) -> Vec<u8> {
        Digest::sha256(self.key.public_key().spki_der()).to_bytes()
    }
}

/// A fake Rekor log on 127.0.0.1, serving until dropped: Rekor v1's API
/// (`/api/v1/log/entries`) and Rekor v2's upload (`POST /api/v2/log/entries`), over one
/// tree.
pub struct FakeRekor {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
    state: Arc<Mutex<LogState>>,
    stop: Arc<AtomicBool>,
}

impl FakeRekor {
    /// Starts a log with a new P-256 key on a free port.
    pub fn start(behavior: RekorBehavior) -> FakeRekor {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(LogState {
            key: PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
            leaves: Vec::new(),
            lost_one: false,
        }));
        let (log, halt, shared) = (requests.clone(), stop.clone(), state.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (log, shared) = (log.clone(), shared.clone());
                        std::thread::spawn(move || serve(stream, behavior, &log, &shared));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeRekor {
            url,
            requests,
            state,
            stop,
        }
    }

    /// The request lines received so far (`POST /api/v1/log/entries HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The number of entries in the log.
    pub fn tree_size(&self) -> usize {
        self.state.lock().unwrap().leaves.len()
    }

    /// The log's public key.
    pub fn public_key(&self) -> PublicKey {
        self.state.lock().unwrap().key.public_key().clone()
    }

    /// Writes a `trusted_root.json` whose one transparency log is this one: `baseUrl` its
    /// URL, its SPKI as `rawBytes` (`PKIX_ECDSA_P256_SHA_256`, valid from 2020), and SHA-256
    /// of the SPKI as `logId.keyId`.
    pub fn write_trusted_root(&self, path: &Path) {
        let key = self.public_key();
        let root = json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": self.url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": STANDARD.encode(key.spki_der()),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                },
                "logId": {"keyId": STANDARD.encode(Digest::sha256(key.spki_der()).to_bytes())},
            }],
            "certificateAuthorities": [],
            "ctlogs": [],
            "timestampAuthorities": [],
        });
        std::fs::write(path, serde_json::to_vec_pretty(&root).unwrap()).unwrap();
    }
}

impl Drop for FakeRekor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(
    stream: TcpStream,
    behavior: RekorBehavior,
    log: &Mutex<Vec<String>>,
    state: &Mutex<LogState>,
) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let mut body = vec![0u8; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        log.lock().unwrap().push(request_line.trim().to_owned());
        let mut words = request_line.split_whitespace();
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let response = match behavior {
            RekorBehavior::Close => return,
            RekorBehavior::Status500 => error(500, "Internal Server Error", "trillian is down"),
            _ => {
                let mut state = state.lock().unwrap();
                match (method, path) {
                    ("POST", "/api/v1/log/entries") => match create(&mut state, behavior, &body) {
                        Some(response) => response,
                        None => return,
                    },
                    ("POST", "/api/v2/log/entries") => create_v2(&mut state, behavior, &body),
                    ("GET", _) if path.starts_with("/api/v1/log/entries/") => {
                        let uuid = &path["/api/v1/log/entries/".len()..];
                        match find(&state, uuid) {
                            Some(index) => {
                                http("200 OK", &[], &answer(&state, behavior, index).to_string())
                            }
                            None => error(404, "Not Found", "entry not found"),
                        }
                    }
                    _ => error(404, "Not Found", "no such endpoint"),
                }
            }
        };
        if stream.write_all(&response).is_err() {
            return;
        }
    }
}

fn find(state: &LogState, uuid: &str) -> Option<usize> {
    state
        .leaves
        .iter()
        .position(|leaf| vouch_keys::hex(&leaf.hash) == uuid)
}

/// One upload: `None` to close the connection without answering.
fn create(state: &mut LogState, behavior: RekorBehavior, proposed: &[u8]) -> Option<Vec<u8>> {
    let body = match canonical_body(proposed) {
        Ok(body) => body,
        Err(reason) => return Some(error(400, "Bad Request", &reason)),
    };
    let body = if behavior == RekorBehavior::WrongBody {
        tamper_signature(&body)
    } else {
        body
    };
    let hash = leaf_hash(&body);
    let uuid = vouch_keys::hex(&hash);
    if find(state, &uuid).is_some() {
        let location = format!("/api/v1/log/entries/{uuid}");
        let message =
            format!("an equivalent entry already exists in the transparency log with UUID {uuid}");
        return Some(http(
            "409 Conflict",
            &[("Location", &location)],
            &json!({"code": 409, "message": message}).to_string(),
        ));
    }
    state.leaves.push(Leaf {
        body,
        hash,
        integrated_time: vouch_verifier::time::UnixTime::from_system_time(
            std::time::SystemTime::now(),
        )
        .secs(),
    });
    if behavior == RekorBehavior::LoseFirstAnswer && !state.lost_one {
        state.lost_one = true;
        return None;
    }
    let index = state.leaves.len() - 1;
    let location = format!("/api/v1/log/entries/{uuid}");
    Some(http(
        "201 Created",
        &[("Location", &location), ("ETag", &uuid)],
        &answer(state, behavior, index).to_string(),
    ))
}

/// The `LogEntry` answer for leaf `index`, with a proof against the current tree.
fn answer(state: &LogState, behavior: RekorBehavior, index: usize) -> Value {
    let leaf = &state.leaves[index];
    let log_id = state.log_id();
    let signed_index = if behavior == RekorBehavior::BadSet {
        index + 1
    } else {
        index
    };
    let payload = signed_entry_timestamp_payload(&TransparencyLogEntry {
        log_index: signed_index as u64,
        log_id: log_id.to_vec(),
        kind_version: KindVersion {
            kind: "hashedrekord".into(),
            version: "0.0.1".into(),
        },
        integrated_time: u64::try_from(leaf.integrated_time).unwrap(),
        inclusion_promise: None,
        inclusion_proof: None,
        canonicalized_body: leaf.body.clone(),
    })
    .unwrap();
    let set = state.key.sign(payload.as_bytes()).unwrap();
    let hashes: Vec<Hash> = state.leaves.iter().map(|l| l.hash).collect();
    let mut root = tree_hash(&hashes);
    if behavior == RekorBehavior::BadProof {
        // A tree head the log signs, but not of the tree that holds the entry.
        root[0] ^= 1;
    }
    let path = audit_path(index, &hashes);
    let checkpoint = checkpoint(&state.key, hashes.len(), &root);
    let entry = json!({
            "body": STANDARD.encode(&leaf.body),
            "integratedTime": leaf.integrated_time,
            "logID": vouch_keys::hex(&log_id),
            "logIndex": index,
            "verification": {
                "signedEntryTimestamp": STANDARD.encode(set),
                "inclusionProof": {
                    "checkpoint": checkpoint,
                    "hashes": path.iter().map(|h| vouch_keys::hex(h)).collect::<Vec<_>>(),
                    "logIndex": index,
                    "rootHash": vouch_keys::hex(&root),
                    "treeSize": hashes.len(),
                },
            },
    });
    let mut answer = serde_json::Map::new();
    answer.insert(vouch_keys::hex(&leaf.hash), entry);
    Value::Object(answer)
}

/// A Rekor v1 signed checkpoint: origin `<host> - <tree ID>`, size, base64 root, a timestamp
/// extension line, then `— <host> base64(key hint || ECDSA signature)` with the key hint the
/// first four bytes of SHA-256 of the log's SPKI.
pub(crate) fn checkpoint(key: &PrivateKey, size: usize, root: &Hash) -> String {
    signed_checkpoint(&format!("127.0.0.1 - {FAKE_TREE_ID}"), key, size, root)
}

/// A checkpoint with origin `origin` (Rekor v2: the log's host name), signed as
/// [`checkpoint`] signs (an ECDSA key's signed-note key ID is its SPKI hint either way).
fn signed_checkpoint(origin: &str, key: &PrivateKey, size: usize, root: &Hash) -> String {
    let text = format!(
        "{origin}\n{size}\n{}\nTimestamp: {}\n",
        STANDARD.encode(root),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut signature = Digest::sha256(key.public_key().spki_der()).to_bytes()[..4].to_vec();
    signature.extend(key.sign(text.as_bytes()).unwrap());
    format!(
        "{text}\n\u{2014} 127.0.0.1 {}\n",
        STANDARD.encode(signature)
    )
}

/// A Rekor v2 `Verifier`'s key: the certificate's or the public key's, DER.
fn v2_key(verifier: &Value) -> Result<PublicKey, String> {
    let b64 = |path: &[&str]| {
        str_at(verifier, path).and_then(|t| {
            STANDARD
                .decode(t)
                .map_err(|_| format!("{} is not base64", path.join(".")))
        })
    };
    if verifier.get("x509Certificate").is_some() {
        let der = b64(&["x509Certificate", "rawBytes"])?;
        let cert = vouch_verifier::x509::Certificate::from_der(&der).map_err(|e| e.to_string())?;
        cert.public_key().map_err(|e| e.to_string())
    } else {
        PublicKey::from_spki_der(&b64(&["publicKey", "rawBytes"])?).map_err(|e| e.to_string())
    }
}

/// What a Rekor v2 log stores for a `CreateEntryRequest` (rekor-tiles `pkg/types`): a
/// `hashedrekord` or `dsse` 0.0.2 entry with the verifiers as given, after checking every
/// signature. Returns the kind and the canonical body.
fn canonical_body_v2(request: &[u8]) -> Result<(&'static str, Vec<u8>), String> {
    let request: Value = serde_json::from_slice(request).map_err(|e| e.to_string())?;
    let b64 = |value: &Value, path: &[&str]| {
        str_at(value, path).and_then(|t| {
            STANDARD
                .decode(t)
                .map_err(|_| format!("{} is not base64", path.join(".")))
        })
    };
    let (kind, spec) = if let Some(hashed) = request.get("hashedRekordRequestV002") {
        let digest = b64(hashed, &["digest"])?;
        let signature = b64(hashed, &["signature", "content"])?;
        let verifier = &hashed["signature"]["verifier"];
        let key = v2_key(verifier)?;
        let algorithm = key.key_type().message_digest_algorithm();
        let digest = Digest::from_bytes(algorithm, &digest).map_err(|e| e.to_string())?;
        key.verify_prehashed(&digest, &signature)
            .map_err(|_| "verifying signature: invalid signature".to_owned())?;
        let name = match algorithm {
            vouch_keys::DigestAlgorithm::Sha384 => "SHA2_384",
            vouch_keys::DigestAlgorithm::Sha512 => "SHA2_512",
            vouch_keys::DigestAlgorithm::Sha256 => "SHA2_256",
        };
        let spec = json!({"hashedRekordV002": {
            "data": {"algorithm": name, "digest": STANDARD.encode(digest.to_bytes())},
            "signature": {"content": STANDARD.encode(&signature), "verifier": verifier},
        }});
        ("hashedrekord", spec)
    } else if let Some(dsse) = request.get("dsseRequestV002") {
        let envelope = &dsse["envelope"];
        let payload = b64(envelope, &["payload"])?;
        let payload_type = str_at(envelope, &["payloadType"])?;
        let pae = vouch_attestations::dsse::pae(payload_type, &payload);
        let verifiers = dsse["verifiers"]
            .as_array()
            .ok_or("verifiers is not a list")?;
        let mut signatures = Vec::new();
        for signature in envelope["signatures"]
            .as_array()
            .ok_or("signatures is not a list")?
        {
            let sig = b64(signature, &["sig"])?;
            let verifier = verifiers
                .iter()
                .find(|v| v2_key(v).is_ok_and(|key| key.verify(&pae, &sig).is_ok()))
                .ok_or("all signatures must have a key that verifies it")?;
            signatures.push(json!({"content": STANDARD.encode(&sig), "verifier": verifier}));
        }
        let spec = json!({"dsseV002": {
            "payloadHash": {"algorithm": "SHA2_256", "digest": STANDARD.encode(Digest::sha256(&payload).to_bytes())},
            "signatures": signatures,
        }});
        ("dsse", spec)
    } else {
        return Err("the request is neither hashedRekordRequestV002 nor dsseRequestV002".into());
    };
    let body = json!({"apiVersion": "0.0.2", "kind": kind, "spec": spec});
    Ok((kind, canonical_json(&body).into_bytes()))
}

/// One Rekor v2 upload: the `TransparencyLogEntry` for the new leaf, with a proof against the
/// current tree and a checkpoint whose origin is the log's host, `127.0.0.1`.
fn create_v2(state: &mut LogState, behavior: RekorBehavior, request: &[u8]) -> Vec<u8> {
    let (kind, mut body) = match canonical_body_v2(request) {
        Ok(found) => found,
        Err(reason) => return error(400, "Bad Request", &reason),
    };
    if behavior == RekorBehavior::WrongBody {
        // Another signature than the one proposed: the first base64 "content" altered.
        let text = String::from_utf8(body).unwrap();
        let at = text.find("\"content\":\"").unwrap() + "\"content\":\"".len();
        let mut bytes = text.into_bytes();
        bytes[at] = if bytes[at] == b'M' { b'N' } else { b'M' };
        body = bytes;
    }
    let hash = leaf_hash(&body);
    state.leaves.push(Leaf {
        body: body.clone(),
        hash,
        integrated_time: 0,
    });
    let index = state.leaves.len() - 1;
    let hashes: Vec<Hash> = state.leaves.iter().map(|l| l.hash).collect();
    let mut root = tree_hash(&hashes);
    if behavior == RekorBehavior::BadProof {
        root[0] ^= 1;
    }
    let path = audit_path(index, &hashes);
    let entry = json!({
        "logIndex": index.to_string(),
        "logId": {"keyId": STANDARD.encode(state.log_id())},
        "kindVersion": {"kind": kind, "version": "0.0.2"},
        "inclusionProof": {
            "logIndex": index.to_string(),
            "rootHash": STANDARD.encode(root),
            "treeSize": hashes.len().to_string(),
            "hashes": path.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
            "checkpoint": {"envelope": signed_checkpoint("127.0.0.1", &state.key, hashes.len(), &root)},
        },
        "canonicalizedBody": STANDARD.encode(&body),
    });
    http("201 Created", &[], &entry.to_string())
}

/// The RFC 6962 root hash of `leaves` (at least one).
pub(crate) fn tree_hash(leaves: &[Hash]) -> Hash {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let split = split_point(leaves.len());
    node_hash(&tree_hash(&leaves[..split]), &tree_hash(&leaves[split..]))
}

/// The RFC 6962 audit path of leaf `index` (RFC 6962 section 2.1.1, `PATH(m, D[n])`).
pub(crate) fn audit_path(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let split = split_point(leaves.len());
    let (left, right) = leaves.split_at(split);
    if index < split {
        let mut path = audit_path(index, left);
        path.push(tree_hash(right));
        path
    } else {
        let mut path = audit_path(index - split, right);
        path.push(tree_hash(left));
        path
    }
}

/// The largest power of two smaller than `n` (n > 1).
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// JSON text with every object's keys sorted and no white space (RFC 8785 for the strings,
/// integers and objects Rekor entries hold).
pub(crate) fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let members: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String((*k).clone()),
                        canonical_json(&map[*k])
                    )
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

fn str_at<'v>(value: &'v Value, path: &[&str]) -> Result<&'v str, String> {
    path.iter()
        .try_fold(value, |v, k| v.get(k))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{} is missing or not a string", path.join(".")))
}

fn key_from_b64_pem(text: &str) -> Result<PublicKey, String> {
    let pem = STANDARD.decode(text).map_err(|_| "key is not base64")?;
    let pem = String::from_utf8(pem).map_err(|_| "key is not PEM text")?;
    // A keyless signer is named by its certificate, whose key checks the signature.
    if pem.contains("-----BEGIN CERTIFICATE-----") {
        let cert = vouch_verifier::x509::Certificate::from_pem(&pem).map_err(|e| e.to_string())?;
        return cert.public_key().map_err(|e| e.to_string());
    }
    PublicKey::from_pem(&pem).map_err(|e| e.to_string())
}

/// What Rekor stores for a proposed entry, after checking the signatures as Rekor does:
/// `hashedrekord` 0.0.1 re-serialized canonically with only its fields; `dsse` 0.0.1 as
/// `envelopeHash`, `payloadHash` and `signatures` (rekor `pkg/types/*/v0.0.1/entry.go`).
fn canonical_body(proposed: &[u8]) -> Result<Vec<u8>, String> {
    let proposed: Value = serde_json::from_slice(proposed).map_err(|e| e.to_string())?;
    let kind = str_at(&proposed, &["kind"])?;
    let version = str_at(&proposed, &["apiVersion"])?;
    let stored = match (kind, version) {
        ("hashedrekord", "0.0.1") => {
            let spec = &proposed["spec"];
            let algorithm = str_at(spec, &["data", "hash", "algorithm"])?;
            let value = str_at(spec, &["data", "hash", "value"])?;
            let signature = str_at(spec, &["signature", "content"])?;
            let key = str_at(spec, &["signature", "publicKey", "content"])?;
            let algorithm_id = match algorithm {
                "sha256" => DigestAlgorithm::Sha256,
                "sha384" => DigestAlgorithm::Sha384,
                "sha512" => DigestAlgorithm::Sha512,
                other => return Err(format!("unsupported hash algorithm {other}")),
            };
            let digest: Digest = format!("{}:{value}", algorithm_id.name())
                .parse()
                .map_err(|_| "bad hash value")?;
            let sig = STANDARD
                .decode(signature)
                .map_err(|_| "signature not base64")?;
            key_from_b64_pem(key)?
                .verify_prehashed(&digest, &sig)
                .map_err(|e| format!("signature does not verify over the hash: {e}"))?;
            json!({
                "apiVersion": "0.0.1",
                "kind": "hashedrekord",
                "spec": {
                    "data": {"hash": {"algorithm": algorithm, "value": value}},
                    "signature": {"content": signature, "publicKey": {"content": key}},
                },
            })
        }
        ("dsse", "0.0.1") => {
            let envelope_text = str_at(&proposed, &["spec", "proposedContent", "envelope"])?;
            let envelope =
                dsse::Envelope::from_slice(envelope_text.as_bytes()).map_err(|e| e.to_string())?;
            let verifiers = proposed["spec"]["proposedContent"]["verifiers"]
                .as_array()
                .ok_or("verifiers is missing")?;
            let mut signatures = Vec::new();
            for signature in &envelope.signatures {
                let pae = dsse::pae(&envelope.payload_type, &envelope.payload);
                let verifier = verifiers
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|v| {
                        key_from_b64_pem(v).is_ok_and(|k| k.verify(&pae, &signature.sig).is_ok())
                    })
                    .ok_or("a signature has no verifier that verifies it")?;
                signatures.push(json!({
                    "signature": STANDARD.encode(&signature.sig),
                    "verifier": verifier,
                }));
            }
            json!({
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "envelopeHash": {
                        "algorithm": "sha256",
                        "value": Digest::sha256(envelope_text.as_bytes()).hex(),
                    },
                    "payloadHash": {
                        "algorithm": "sha256",
                        "value": Digest::sha256(&envelope.payload).hex(),
                    },
                    "signatures": signatures,
                },
            })
        }
        (kind, version) => return Err(format!("unsupported entry {kind} {version}")),
    };
    Ok(canonical_json(&stored).into_bytes())
}

/// The body with its (first) signature replaced by another well-formed one.
fn tamper_signature(body: &[u8]) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(body).unwrap();
    let other = STANDARD.encode(b"a signature over something else");
    if value["kind"] == "dsse" {
        value["spec"]["signatures"][0]["signature"] = json!(other);
    } else {
        value["spec"]["signature"]["content"] = json!(other);
    }
    canonical_json(&value).into_bytes()
}

fn http(status: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

fn error(code: u16, reason: &str, message: &str) -> Vec<u8> {
    http(
        &format!("{code} {reason}"),
        &[],
        &json!({"code": code, "message": message}).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_verifier::merkle::verify_inclusion;

    #[test]
    fn audit_paths_verify_for_every_leaf_of_every_size() {
        for size in 1..=9usize {
            let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&[i as u8])).collect();
            let root = tree_hash(&leaves);
            for (index, leaf) in leaves.iter().enumerate() {
                let path = audit_path(index, &leaves);
                verify_inclusion(index as u64, size as u64, leaf, &path, &root).unwrap();
            }
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = json!({"b": {"z": 1, "a": [{"y": "x", "c": "é\""}]}, "a": 2});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":2,"b":{"a":[{"c":"é\"","y":"x"}],"z":1}}"#
        );
    }
}
