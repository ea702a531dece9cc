//! The transparency-log checks against sigstore-conformance bundles (tests/data/conformance):
//! signed entry timestamps, inclusion proofs and checkpoints of Rekor v1 and v2 entries, the
//! cases that must pass and those that must fail, and bundles mutated here bit by bit.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use vouch_keys::PublicKey;
use vouch_verifier::VerifyError;
use vouch_verifier::bundle::{InclusionProof, KindVersion, TransparencyLogEntry};
use vouch_verifier::rekor::{
    RekorLog, verify_inclusion_proof, verify_merkle_inclusion, verify_signed_entry_timestamp,
};

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(path)
}

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).expect("test data is readable");
    serde_json::from_str(&text).expect("test data is JSON")
}

fn b64(value: &Value) -> Vec<u8> {
    STANDARD
        .decode(value.as_str().expect("a base64 string"))
        .expect("valid base64")
}

/// Protobuf JSON writes 64-bit integers as strings.
fn int(value: &Value) -> i64 {
    match value {
        Value::String(s) => s.parse().expect("a decimal integer"),
        Value::Number(n) => n.as_i64().expect("an integer"),
        Value::Null => 0,
        other => panic!("not an integer: {other}"),
    }
}

fn uint(value: &Value) -> u64 {
    u64::try_from(int(value)).expect("not negative")
}

/// The log of the trusted root, with what a check needs.
struct Log {
    key: PublicKey,
    log_id: Vec<u8>,
    base_url: String,
}

impl Log {
    fn as_rekor(&self) -> RekorLog<'_> {
        RekorLog {
            key: &self.key,
            log_id: &self.log_id,
            base_url: &self.base_url,
        }
    }
}

/// A bundle's first transparency log entry, decoded.
#[derive(Clone)]
struct Entry {
    log_index: u64,
    log_id: Vec<u8>,
    integrated_time: i64,
    body: Vec<u8>,
    set: Option<Vec<u8>>,
    proof: Option<Proof>,
}

#[derive(Clone)]
struct Proof {
    log_index: u64,
    root_hash: Vec<u8>,
    tree_size: u64,
    hashes: Vec<Vec<u8>>,
    checkpoint: Option<String>,
}

impl Entry {
    /// The entry in the bundle model's form (promise and proof are passed on their own).
    fn as_log_entry(&self) -> TransparencyLogEntry {
        TransparencyLogEntry {
            log_index: self.log_index,
            log_id: self.log_id.clone(),
            kind_version: KindVersion {
                kind: "hashedrekord".into(),
                version: "0.0.1".into(),
            },
            integrated_time: u64::try_from(self.integrated_time).expect("not negative"),
            inclusion_promise: None,
            inclusion_proof: None,
            canonicalized_body: self.body.clone(),
        }
    }

    fn verify_set(&self, log: &Log) -> Result<(), VerifyError> {
        let set = self.set.as_ref().expect("the entry has a SET");
        verify_signed_entry_timestamp(&log.as_rekor(), &self.as_log_entry(), set)
    }

    fn inclusion_proof(&self) -> InclusionProof {
        let p = self
            .proof
            .as_ref()
            .expect("the entry has an inclusion proof");
        InclusionProof {
            log_index: p.log_index,
            root_hash: p.root_hash.clone(),
            tree_size: p.tree_size,
            hashes: p.hashes.clone(),
            checkpoint: p.checkpoint.clone(),
        }
    }

    fn verify_proof(&self, log: &Log) -> Result<(), VerifyError> {
        verify_inclusion_proof(
            &log.as_rekor(),
            &self.as_log_entry(),
            &self.inclusion_proof(),
        )
        .map(|_| ())
    }

    fn checkpoint_mut(&mut self) -> &mut String {
        self.proof
            .as_mut()
            .and_then(|p| p.checkpoint.as_mut())
            .expect("the entry has a checkpoint")
    }
}

/// Loads a case: its first tlog entry and the log its trusted root has for it.
fn load(case: &str) -> (Entry, Log) {
    let bundle = read_json(data(&format!("{case}/bundle.sigstore.json")));
    let own_root = data(&format!("{case}/trusted_root.json"));
    let root = if own_root.exists() {
        read_json(own_root)
    } else {
        serde_json::from_slice(vouch_verifier::trust_root::PUBLIC_GOOD_JSON)
            .expect("embedded root is JSON")
    };
    let e = &bundle["verificationMaterial"]["tlogEntries"][0];
    let proof = e.get("inclusionProof").map(|p| Proof {
        log_index: uint(&p["logIndex"]),
        root_hash: b64(&p["rootHash"]),
        tree_size: uint(&p["treeSize"]),
        hashes: p["hashes"]
            .as_array()
            .expect("hashes")
            .iter()
            .map(b64)
            .collect(),
        checkpoint: p["checkpoint"]["envelope"].as_str().map(str::to_owned),
    });
    let entry = Entry {
        log_index: uint(&e["logIndex"]),
        log_id: b64(&e["logId"]["keyId"]),
        integrated_time: int(&e["integratedTime"]),
        body: b64(&e["canonicalizedBody"]),
        set: e
            .get("inclusionPromise")
            .map(|p| b64(&p["signedEntryTimestamp"])),
        proof,
    };
    let tlog = root["tlogs"]
        .as_array()
        .expect("tlogs")
        .iter()
        .find(|t| b64(&t["logId"]["keyId"]) == entry.log_id)
        .expect("the trusted root has the entry's log");
    let log = Log {
        key: PublicKey::from_spki_der(&b64(&tlog["publicKey"]["rawBytes"])).expect("log key"),
        log_id: b64(&tlog["logId"]["keyId"]),
        base_url: tlog["baseUrl"].as_str().expect("baseUrl").to_owned(),
    };
    (entry, log)
}

/// Flips one bit of the base64 signature on the checkpoint's signature line `index`, keeping
/// its key hint.
fn flip_checkpoint_signature_bit(envelope: &str, index: usize) -> String {
    let (text, block) = envelope.rsplit_once("\n\n").expect("a signed note");
    let mut lines: Vec<String> = block.lines().map(str::to_owned).collect();
    let (prefix, encoded) = lines[index].rsplit_once(' ').expect("a signature line");
    let mut raw = STANDARD.decode(encoded).expect("base64");
    raw[10] ^= 0x01;
    lines[index] = format!("{prefix} {}", STANDARD.encode(raw));
    format!("{text}\n\n{}\n", lines.join("\n"))
}

const REKOR_V1_HAPPY: [&str; 3] = [
    "happy-path-v0.1",
    "happy-path-v0.3",
    "intoto-with-custom-trust-root",
];

const REKOR_V2_HAPPY: [&str; 6] = [
    "rekor2-happy-path",
    "rekor2-checkpoint-cosigned",
    "rekor2-checkpoint-multiple-cosigs",
    "rekor2-checkpoint-origin-not-first",
    "rekor2-checkpoint-two-sigs-from-origin",
    "rekor2-dsse-happy-path",
];

#[test]
fn rekor_v1_happy_cases_pass_the_set_and_the_inclusion_proof() {
    for case in REKOR_V1_HAPPY {
        let (entry, log) = load(case);
        entry
            .verify_set(&log)
            .unwrap_or_else(|e| panic!("{case}: SET: {e}"));
        entry
            .verify_proof(&log)
            .unwrap_or_else(|e| panic!("{case}: proof: {e}"));
    }
}

#[test]
fn rekor_v2_happy_cases_pass_the_inclusion_proof() {
    for case in REKOR_V2_HAPPY {
        let (entry, log) = load(case);
        assert!(entry.set.is_none(), "{case}: Rekor v2 has no SET");
        let checkpoint = verify_inclusion_proof(
            &log.as_rekor(),
            &entry.as_log_entry(),
            &entry.inclusion_proof(),
        )
        .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(!checkpoint.is_rekor_v1(), "{case}");
        assert_eq!(
            checkpoint.origin,
            log.base_url.trim_start_matches("https://")
        );
    }
}

#[test]
fn a_checkpoint_with_a_bad_key_hint_has_no_log_signature() {
    let (entry, log) = load("checkpoint-bad-keyhint_fail");
    // The SET is the happy path's; only the checkpoint is wrong.
    entry.verify_set(&log).unwrap();
    match entry.verify_proof(&log) {
        Err(VerifyError::CheckpointNoLogSignature {
            name,
            key_hint,
            found,
        }) => {
            assert_eq!(name, "any name");
            assert_eq!(key_hint, "c0d23d6a");
            assert_eq!(found, "rekor.sigstore.dev/c4d23d6a");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_invalid_checkpoint_signature_is_refused() {
    let (entry, log) = load("invalid-checkpoint-signature_fail");
    entry.verify_set(&log).unwrap();
    assert_eq!(
        entry.verify_proof(&log),
        Err(VerifyError::CheckpointSignatureInvalid {
            name: "rekor.sigstore.dev".into(),
            key_hint: "c0d23d6a".into()
        })
    );
}

#[test]
fn an_inclusion_proof_for_another_tree_is_refused() {
    let (entry, log) = load("invalid-inclusion-proof_fail");
    entry.verify_set(&log).unwrap();
    // The proof's own root hash, rPA8NBuV...: the proof is for another entry.
    let expected = "acf03c341b95341fecd7523390b09153eff05d140edb988f27f07287ef6691e0";
    let mismatch = |r: Result<(), VerifyError>| matches!(r, Err(VerifyError::InclusionRootMismatch { expected: ref e, .. }) if e == expected);
    assert!(mismatch(verify_merkle_inclusion(
        &entry.as_log_entry(),
        &entry.inclusion_proof()
    )));
    // The Merkle proof is checked before the (here absent) checkpoint.
    assert!(mismatch(entry.verify_proof(&log)));
}

#[test]
fn rekor_v2_checkpoint_failures_have_their_own_errors() {
    let (entry, log) = load("rekor2-checkpoint-missing-log-signature_fail");
    assert_eq!(entry.verify_proof(&log), Err(VerifyError::NoteNoSignatures));

    for case in [
        "rekor2-checkpoint-missing-origin_fail",
        "rekor2-checkpoint-missing-root-hash_fail",
    ] {
        let (entry, log) = load(case);
        match entry.verify_proof(&log) {
            Err(VerifyError::CheckpointMalformed { line: 3, reason }) => {
                assert!(reason.contains("2 line(s)"), "{case}: {reason}");
            }
            other => panic!("{case}: {other:?}"),
        }
    }

    let (entry, log) = load("rekor2-checkpoint-no-matching-signature_fail");
    match entry.verify_proof(&log) {
        Err(VerifyError::CheckpointNoLogSignature {
            name,
            key_hint,
            found,
        }) => {
            assert_eq!(name, "log2025-alpha1.rekor.sigstage.dev");
            assert_eq!(key_hint, "f30d5a99");
            assert_eq!(found, "log2025-alpha1.rekor.github.dev/f30d5a99");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_flipped_bit_in_the_set_is_refused() {
    for case in REKOR_V1_HAPPY {
        let (mut entry, log) = load(case);
        let set = entry.set.as_mut().unwrap();
        let last = set.len() - 1;
        set[last] ^= 0x01;
        assert!(
            matches!(
                entry.verify_set(&log),
                Err(VerifyError::SetSignatureInvalid { .. })
            ),
            "{case}"
        );
    }
}

#[test]
fn the_set_covers_index_time_body_and_log() {
    let (entry, log) = load("happy-path-v0.3");
    let mut changed = entry.clone();
    changed.log_index += 1;
    assert!(matches!(
        changed.verify_set(&log),
        Err(VerifyError::SetSignatureInvalid {
            log_index: 79571824,
            ..
        })
    ));
    let mut changed = entry.clone();
    changed.integrated_time -= 1;
    assert!(matches!(
        changed.verify_set(&log),
        Err(VerifyError::SetSignatureInvalid { .. })
    ));
    let mut changed = entry.clone();
    changed.body[20] ^= 0x20;
    assert!(matches!(
        changed.verify_set(&log),
        Err(VerifyError::SetSignatureInvalid { .. })
    ));
    // A Rekor v1 entry checked against the Rekor v2 log of the same trusted root.
    let (_, v2) = load("rekor2-happy-path");
    assert!(matches!(
        entry.verify_set(&v2),
        Err(VerifyError::LogIdMismatch { .. })
    ));
    assert!(matches!(
        entry.verify_proof(&v2),
        Err(VerifyError::LogIdMismatch { .. })
    ));
}

#[test]
fn a_flipped_bit_in_any_proof_hash_is_refused() {
    for case in REKOR_V1_HAPPY.into_iter().chain(REKOR_V2_HAPPY) {
        let (entry, log) = load(case);
        let n = entry.proof.as_ref().unwrap().hashes.len();
        for i in 0..n {
            let mut changed = entry.clone();
            changed.proof.as_mut().unwrap().hashes[i][31] ^= 0x80;
            assert!(
                matches!(
                    changed.verify_proof(&log),
                    Err(VerifyError::InclusionRootMismatch { .. })
                ),
                "{case} hash {i}"
            );
        }
        // And in the body, the leaf.
        let mut changed = entry.clone();
        changed.body[0] ^= 0x01;
        assert!(
            matches!(
                changed.verify_proof(&log),
                Err(VerifyError::InclusionRootMismatch { .. })
            ),
            "{case} body"
        );
    }
}

#[test]
fn a_proof_that_does_not_fit_its_index_and_size_is_refused() {
    let (entry, log) = load("happy-path-v0.3");
    let mut shorter = entry.clone();
    shorter.proof.as_mut().unwrap().hashes.pop();
    assert!(matches!(
        shorter.verify_proof(&log),
        Err(VerifyError::InclusionProofLength {
            got: 10,
            expected: 11,
            ..
        })
    ));
    let mut outside = entry.clone();
    outside.proof.as_mut().unwrap().log_index = 75408393;
    assert!(matches!(
        outside.verify_proof(&log),
        Err(VerifyError::InclusionIndexOutOfRange { .. })
    ));
    // A root hash the proof does not reach, even though the checkpoint signs it.
    let mut root = entry.clone();
    root.proof.as_mut().unwrap().root_hash[0] ^= 0x01;
    assert!(matches!(
        root.verify_proof(&log),
        Err(VerifyError::InclusionRootMismatch { .. })
    ));
}

#[test]
fn a_flipped_bit_in_the_checkpoint_signature_is_refused() {
    for case in REKOR_V1_HAPPY.into_iter().chain(REKOR_V2_HAPPY) {
        let (mut entry, log) = load(case);
        let envelope = entry.checkpoint_mut();
        // The log's line: the only or first one, but the second where a witness signs first.
        let index = usize::from(case == "rekor2-checkpoint-origin-not-first");
        *envelope = flip_checkpoint_signature_bit(envelope, index);
        assert!(
            matches!(
                entry.verify_proof(&log),
                Err(VerifyError::CheckpointSignatureInvalid { .. })
            ),
            "{case}"
        );
    }
}

#[test]
fn a_flipped_witness_signature_is_still_ignored() {
    let (mut entry, log) = load("rekor2-checkpoint-multiple-cosigs");
    let envelope = entry.checkpoint_mut();
    *envelope = flip_checkpoint_signature_bit(envelope, 1);
    *envelope = flip_checkpoint_signature_bit(envelope, 2);
    entry.verify_proof(&log).unwrap();
}

#[test]
fn an_edited_checkpoint_text_no_longer_verifies() {
    let (mut entry, log) = load("rekor2-happy-path");
    let envelope = entry.checkpoint_mut();
    *envelope = envelope.replacen("\n736\n", "\n737\n", 1);
    assert!(matches!(
        entry.verify_proof(&log),
        Err(VerifyError::CheckpointSignatureInvalid { .. })
    ));

    let (mut entry, log) = load("happy-path-v0.3");
    let envelope = entry.checkpoint_mut();
    *envelope = envelope.replacen("rekor.sigstore.dev - ", "rekor.sigstore.dev - 1", 1);
    assert!(matches!(
        entry.verify_proof(&log),
        Err(VerifyError::CheckpointSignatureInvalid { .. })
    ));
}

#[test]
fn a_rekor_v2_checkpoint_needs_the_logs_host_name() {
    let (entry, mut log) = load("rekor2-happy-path");
    log.base_url = "https://log2025-alpha1.rekor.sigstore.dev".into();
    assert!(matches!(
        entry.verify_proof(&log),
        Err(VerifyError::CheckpointNoLogSignature { .. })
    ));
    // A port or path in the base URL does not change the name.
    log.base_url = "https://log2025-alpha1.rekor.sigstage.dev:443/api/v2".into();
    entry.verify_proof(&log).unwrap();
}

#[test]
fn a_rekor_v2_entry_index_must_be_the_proofs() {
    let (mut entry, log) = load("rekor2-happy-path");
    entry.log_index = 734;
    assert_eq!(
        entry.verify_proof(&log),
        Err(VerifyError::LogIndexMismatch {
            entry: 734,
            proof: 735
        })
    );
}
