//! Offline Sigstore bundle verification with the `sigstore` crate (sigstore-rs) only: its
//! `bundle::verify` verifier and identity policy, fed a trusted root read from a
//! `trusted_root.json` file. Shared by the `sigstore-verify-blob` binary and the
//! `verify_blob` benchmark (which includes this file with `#[path]`).
//!
//! The trusted root is given to sigstore-rs as a `ManualTrustRoot`, holding exactly what its
//! own `SigstoreTrustRoot` (feature `sigstore-trust-root`, which also pulls in a TUF client)
//! would take from the same file: every certificate of every certificate authority whose
//! validity has started (expired ones included), and the key of every CT log valid now.
//! sigstore-rs takes no Rekor key: its bundle verifier does not check signed entry timestamps,
//! inclusion proofs or checkpoints (sigstore-rs#285).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use serde_json::Value;
use sigstore::bundle::Bundle;
use sigstore::bundle::verify::ArtifactDigest;
use sigstore::bundle::verify::blocking::Verifier;
use sigstore::bundle::verify::policy::Identity;
use sigstore::trust::ManualTrustRoot;

/// A sigstore-rs bundle verifier for one trusted root and one identity policy.
pub(crate) struct OfflineVerifier {
    verifier: Verifier,
    policy: Identity,
}

impl OfflineVerifier {
    /// Builds the verifier from the bytes of a `trusted_root.json`.
    pub(crate) fn new(
        trusted_root_json: &[u8],
        identity: &str,
        issuer: &str,
    ) -> Result<Self, String> {
        let root = manual_trust_root(trusted_root_json)?;
        // The Rekor configuration (it holds an HTTP client) is required by the constructor;
        // offline verification never uses it.
        let verifier = Verifier::new(Default::default(), root)
            .map_err(|e| format!("building the sigstore-rs verifier: {e}"))?;
        Ok(Self {
            verifier,
            policy: Identity::new(identity, issuer),
        })
    }

    /// Verifies `bundle` for an artifact with this SHA-256 digest, offline.
    pub(crate) fn verify(&self, bundle: Bundle, sha256: [u8; 32]) -> Result<(), String> {
        self.verifier
            .verify_digest_with(ArtifactDigest::Sha256(sha256), bundle, &self.policy, true)
            .map_err(|e| error_chain(&e))
    }
}

/// Parses a bundle as sigstore-rs does (its protobuf-specs types through serde).
pub(crate) fn parse_bundle(json: &[u8]) -> Result<Bundle, String> {
    serde_json::from_slice(json).map_err(|e| format!("the bundle does not parse: {e}"))
}

/// The SHA-256 digest of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// An error with its sources, `a: b: c`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

fn manual_trust_root(json: &[u8]) -> Result<ManualTrustRoot<'static>, String> {
    let root: Value =
        serde_json::from_slice(json).map_err(|e| format!("trusted root is not JSON: {e}"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut trust = ManualTrustRoot::default();
    for ca in list(&root, "certificateAuthorities") {
        if !valid(ca.get("validFor"), now, true)? {
            continue;
        }
        for cert in list(&ca["certChain"], "certificates") {
            trust
                .fulcio_certs
                .push(CertificateDer::from(bytes(&cert["rawBytes"])?));
        }
    }
    for log in list(&root, "ctlogs") {
        let key = &log["publicKey"];
        if !valid(key.get("validFor"), now, false)? {
            continue;
        }
        let (Ok(id), Ok(raw)) = (bytes(&log["logId"]["keyId"]), bytes(&key["rawBytes"])) else {
            continue;
        };
        trust.ctfe_keys.insert(hex(&id), raw);
    }
    Ok(trust)
}

fn list<'a>(value: &'a Value, name: &str) -> &'a [Value] {
    value
        .get(name)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn bytes(value: &Value) -> Result<Vec<u8>, String> {
    let text = value.as_str().ok_or("a base64 field is missing")?;
    STANDARD
        .decode(text)
        .map_err(|e| format!("bad base64 in the trusted root: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sigstore-rs's rule for a validity range (`is_timerange_valid`): no start means always
/// valid; otherwise started, and (unless expired ones are allowed) not ended.
fn valid(range: Option<&Value>, now: i64, allow_expired: bool) -> Result<bool, String> {
    let time = |name: &str| -> Result<Option<i64>, String> {
        match range.and_then(|r| r.get(name)).and_then(Value::as_str) {
            None => Ok(None),
            Some(text) => rfc3339_seconds(text)
                .map(Some)
                .ok_or_else(|| format!("bad time {text:?} in the trusted root")),
        }
    };
    Ok(match (time("start")?, time("end")?) {
        (None, _) => true,
        (Some(start), _) if now < start => false,
        _ if allow_expired => true,
        (_, None) => true,
        (_, Some(end)) => now <= end,
    })
}

/// Seconds since the epoch of a `YYYY-MM-DDTHH:MM:SS[.frac]Z` time.
fn rfc3339_seconds(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !text.ends_with('Z') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}
