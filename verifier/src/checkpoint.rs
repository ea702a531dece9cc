//! Transparency log checkpoints: signed notes (<https://c2sp.org/signed-note>) whose text is
//! a tree head (<https://c2sp.org/tlog-checkpoint>), as Rekor v1 and Rekor v2 write them in a
//! bundle's `inclusionProof.checkpoint.envelope`.
//!
//! ```text
//! log2025-alpha1.rekor.sigstage.dev        <- origin
//! 736                                      <- tree size
//! rs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=   <- root hash
//!                                          <- blank line
//! — log2025-alpha1.rekor.sigstage.dev 8w1amdbj...   <- key name, base64(key hint || signature)
//! ```
//!
//! Parsing is strict ([`SignedNote::parse`], [`Checkpoint::parse`]); [`verify_checkpoint`]
//! then finds the log's own signature line among any others (witness cosignatures, other
//! keys) and verifies it, as the Sigstore clients do. Nothing in the text is trusted before
//! that signature has verified.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use vouch_keys::{KeyType, PublicKey};

use crate::merkle::{HASH_LEN, Hash, sha256};
use crate::{Verified, VerifyError};

/// What starts every signature line: an em dash (U+2014) and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The most signature lines a note may have (Go's `golang.org/x/mod/sumdb/note` reads 100;
/// the signed-note spec asks verifiers to accept at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// The 4-byte key hint that starts every decoded signature.
pub type KeyHint = [u8; 4];

/// One signature line of a signed note, syntactically valid, not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name: non-empty, without Unicode spaces or `+`.
    pub name: String,
    /// The first four bytes of the decoded signature: which key of that name signed.
    pub key_hint: KeyHint,
    /// The signature proper (the decoded bytes after the hint); never empty.
    pub signature: Vec<u8>,
}

/// A signed note split into its text and its signature lines, syntactically valid per
/// c2sp.org/signed-note; no signature has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// Whether `name` may be a signed-note key name: non-empty, no Unicode white space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

impl SignedNote {
    /// Splits `envelope` into text and signature lines, refusing anything the signed-note
    /// spec does not allow:
    ///
    /// - an ASCII control character other than newline ([`VerifyError::NoteMalformed`]);
    /// - a note that does not end in a newline, or has no blank line: the text is everything
    ///   up to and including the newline before the *last* blank line
    ///   ([`VerifyError::NoteMalformed`]);
    /// - no signature line after it ([`VerifyError::NoteNoSignatures`]);
    /// - a line that is not `— <name> <base64>` with a valid key name and at least 5 decoded
    ///   bytes, or more than [`MAX_SIGNATURES`] lines ([`VerifyError::NoteSignatureLine`],
    ///   [`VerifyError::NoteTooManySignatures`]).
    pub fn parse(envelope: &str) -> Result<Self, VerifyError> {
        let malformed = |reason: String| VerifyError::NoteMalformed { reason };
        if let Some((offset, c)) = envelope.char_indices().find(|&(_, c)| c < ' ' && c != '\n') {
            return Err(malformed(format!(
                "control character U+{:04X} at byte {offset}",
                u32::from(c)
            )));
        }
        if !envelope.ends_with('\n') {
            return Err(malformed("does not end with a newline".into()));
        }
        let split = envelope.rfind("\n\n").ok_or_else(|| {
            malformed("no blank line separates the text from the signatures".into())
        })?;
        let (text, block) = (&envelope[..=split], &envelope[split + 2..]);
        if block.is_empty() {
            return Err(VerifyError::NoteNoSignatures);
        }
        // Line numbers count from the top of the whole note: the text's lines, the blank.
        let first_line = text.matches('\n').count() + 2;
        let lines: Vec<&str> = block.split_terminator('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(VerifyError::NoteTooManySignatures {
                count: lines.len(),
                max: MAX_SIGNATURES,
            });
        }
        let signatures = lines
            .iter()
            .enumerate()
            .map(|(i, line)| parse_signature_line(line, first_line + i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note text: the signed bytes, ending with its final newline, without the blank
    /// line.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in note order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }
}

fn parse_signature_line(line: &str, number: usize) -> Result<NoteSignature, VerifyError> {
    let bad = |reason: String| VerifyError::NoteSignatureLine {
        line: number,
        reason,
    };
    let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or_else(|| {
        bad(format!(
            "{line:?} does not start with an em dash (U+2014) and a space"
        ))
    })?;
    let (name, encoded) = rest.split_once(' ').ok_or_else(|| {
        bad(format!(
            "{line:?} has no space between key name and signature"
        ))
    })?;
    if !is_valid_key_name(name) {
        return Err(bad(format!(
            "key name {name:?} is empty or has a space or a '+'"
        )));
    }
    let decoded = STANDARD
        .decode(encoded)
        .map_err(|e| bad(format!("signature of {name} is not standard base64: {e}")))?;
    let Some((hint, signature)) = decoded.split_first_chunk::<4>() else {
        return Err(bad(format!(
            "signature of {name} has {} bytes; a 4-byte key hint and a signature are needed",
            decoded.len()
        )));
    };
    if signature.is_empty() {
        return Err(bad(format!(
            "signature of {name} has only its 4-byte key hint"
        )));
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_hint: *hint,
        signature: signature.to_vec(),
    })
}

/// The tree head a checkpoint's note text states (c2sp.org/tlog-checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity: for Rekor v2 its host name (`log2025-1.rekor.sigstore.dev`), for
    /// Rekor v1 the host and tree ID (`rekor.sigstore.dev - 2605736670972794746`).
    pub origin: String,
    /// The number of leaves in the tree.
    pub tree_size: u64,
    /// The RFC 6962 root hash of the tree at that size.
    pub root_hash: Hash,
    /// Extension lines after the root hash (Rekor v1 writes `Timestamp: <nanoseconds>`),
    /// each non-empty. Opaque: nothing here interprets them.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// Reads a checkpoint's note text, which must end in a newline: at least three lines, all
    /// non-empty, the origin, the tree size in decimal without leading zeros, the standard
    /// base64 of a 32-byte root hash, then extension lines. Anything else is
    /// [`VerifyError::CheckpointMalformed`] naming the line.
    pub fn parse(text: &str) -> Result<Self, VerifyError> {
        let bad = |line: usize, reason: String| VerifyError::CheckpointMalformed { line, reason };
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad(text.matches('\n').count() + 1, "no final newline".into()))?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(bad(
                lines.len() + 1,
                format!(
                    "the text has {} line(s); origin, tree size and root hash lines are required",
                    lines.len()
                ),
            ));
        }
        if let Some(empty) = lines.iter().position(|l| l.is_empty()) {
            let what = match empty {
                0 => "origin",
                1 => "tree size",
                2 => "root hash",
                _ => "extension line",
            };
            return Err(bad(empty + 1, format!("{what} is empty")));
        }
        let origin = lines[0];
        let size = lines[1];
        if !size.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(
                2,
                format!("tree size {size:?} is not a decimal number"),
            ));
        }
        if size.len() > 1 && size.starts_with('0') {
            return Err(bad(2, format!("tree size {size:?} has a leading zero")));
        }
        let tree_size: u64 = size
            .parse()
            .map_err(|_| bad(2, format!("tree size {size:?} does not fit in 64 bits")))?;
        let root = STANDARD.decode(lines[2]).map_err(|e| {
            bad(
                3,
                format!("root hash {:?} is not standard base64: {e}", lines[2]),
            )
        })?;
        let root_hash = <Hash>::try_from(root.as_slice()).map_err(|_| {
            bad(
                3,
                format!("root hash has {} bytes, not {HASH_LEN}", root.len()),
            )
        })?;
        Ok(Self {
            origin: origin.to_owned(),
            tree_size,
            root_hash,
            extensions: lines[3..].iter().map(|l| (*l).to_owned()).collect(),
        })
    }

    /// Whether this is a Rekor v1 signed tree head: its origin is `<name> - <decimal tree
    /// ID>`. sigstore-go tells the two kinds apart this way (`hasRekorV1STH`, the regular
    /// expression `.* - [0-9]+$` on the first line), and so does [`verify_checkpoint`].
    pub fn is_rekor_v1(&self) -> bool {
        self.origin
            .rsplit_once(" - ")
            .is_some_and(|(_, id)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// A checkpoint read from a signed note: the note and the tree head its text states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The note, with its signature lines.
    pub note: SignedNote,
    /// The note text, read as a checkpoint.
    pub checkpoint: Checkpoint,
}

impl SignedCheckpoint {
    /// Reads `envelope` as a signed note ([`SignedNote::parse`]) whose text is a checkpoint
    /// ([`Checkpoint::parse`]). Nothing is verified.
    pub fn parse(envelope: &str) -> Result<Self, VerifyError> {
        let note = SignedNote::parse(envelope)?;
        let checkpoint = Checkpoint::parse(note.text())?;
        Ok(Self { note, checkpoint })
    }
}

fn first_four(hash: [u8; 32]) -> KeyHint {
    [hash[0], hash[1], hash[2], hash[3]]
}

/// The key hint of `key` as Rekor v1 computes it for any key type: the first four bytes of
/// SHA-256 of the DER SubjectPublicKeyInfo (rekor `pkg/util/signed_note.go`,
/// `getPublicKeyHash`). It is also the signed-note key ID for ECDSA keys (signature type
/// `0x02`), and the first four bytes of a Rekor v1 log ID.
pub fn spki_key_hint(key: &PublicKey) -> KeyHint {
    first_four(sha256(&[key.spki_der()]))
}

/// The raw 32-byte Ed25519 key inside a SubjectPublicKeyInfo (RFC 8410: a fixed 12-byte
/// header, then the key).
fn ed25519_raw(key: &PublicKey) -> Option<&[u8]> {
    let spki = key.spki_der();
    (spki.len() == 44).then(|| &spki[12..])
}

/// The signed-note key hint (`key ID`) of `key` under key name `name`, as Rekor v2 signs
/// checkpoints (rekor-tiles `pkg/note`, `KeyHash`):
///
/// - Ed25519: `SHA-256(name || 0x0A || 0x01 || 32-byte key)[:4]` (c2sp.org/signed-note);
/// - ECDSA: `SHA-256(DER SubjectPublicKeyInfo)[:4]`, the spec's rule for type `0x02`,
///   which does not involve the name ([`spki_key_hint`]);
/// - RSA: `SHA-256(name || 0x0A || 0xFF || "PKIX-RSA-PKCS#1v1.5" || DER SPKI)[:4]`.
pub fn note_key_hint(name: &str, key: &PublicKey) -> Result<KeyHint, VerifyError> {
    match key.key_type() {
        KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => Ok(spki_key_hint(key)),
        KeyType::Ed25519 => {
            let raw = ed25519_raw(key).ok_or(VerifyError::CheckpointKeyUnsupported {
                key_type: "malformed Ed25519".into(),
            })?;
            Ok(first_four(sha256(&[name.as_bytes(), b"\n", &[0x01], raw])))
        }
        KeyType::Rsa { .. } => Ok(first_four(sha256(&[
            name.as_bytes(),
            b"\n",
            &[0xff],
            b"PKIX-RSA-PKCS#1v1.5",
            key.spki_der(),
        ]))),
    }
}

/// The host name in a log's base URL (`https://log2025-1.rekor.sigstore.dev` gives
/// `log2025-1.rekor.sigstore.dev`): no scheme, user, port or path, IPv6 brackets removed,
/// as Go's `url.URL.Hostname` gives it. This is the name sigstore-go expects as a Rekor v2
/// checkpoint's origin and the key name of the log's signature line.
pub fn log_name_from_base_url(base_url: &str) -> Result<String, VerifyError> {
    let bad = |reason| VerifyError::LogBaseUrl {
        url: base_url.to_owned(),
        reason,
    };
    let (_, rest) = base_url
        .split_once("://")
        .ok_or_else(|| bad("no scheme://host"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed
            .split_once(']')
            .map(|(h, _)| h)
            .ok_or_else(|| bad("unclosed '[' in the host"))?
    } else {
        match host_port.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host_port,
        }
    };
    if host.is_empty() {
        return Err(bad("no host name"));
    }
    if !is_valid_key_name(host) {
        return Err(bad("the host name is not a valid signed-note key name"));
    }
    Ok(host.to_owned())
}

/// Verifies a checkpoint `envelope` as signed by the transparency log whose key is `key` and
/// whose base URL is `base_url`, and returns the tree head it states.
///
/// The rules are those of sigstore-go (`pkg/verify/tlog.go`), which picks them by the
/// origin line ([`Checkpoint::is_rekor_v1`]):
///
/// - **Rekor v1** (`rekor.sigstore.dev - 2605736670972794746`): the log's signature lines
///   are those whose key hint is [`spki_key_hint`] of the key (the first four bytes of the
///   Rekor v1 log ID). Rekor v1 does not tie its key hint to a name, and neither rekor's
///   `VerifyCheckpointSignature` nor sigstore-python and sigstore-js check the key name or
///   the origin, so neither is checked here.
/// - **Rekor v2 and any other checkpoint**: the log's name is the host of `base_url`
///   ([`log_name_from_base_url`]), as sigstore-go passes `url.Hostname()` to rekor-tiles'
///   `NewNoteVerifier`. The log's signature lines are those whose key name is that name
///   *and* whose key hint is [`note_key_hint`] for that name (c2sp.org/signed-note: a
///   signature is identified by both). After the signature, the origin line must be that
///   name too (transparency-dev `log.ParseCheckpoint`), else
///   [`VerifyError::CheckpointOriginMismatch`].
///
/// Every other signature line (a witness cosignature, another key of the same name, a key
/// hint of another key) is ignored, as the signed-note spec requires for unknown keys; that
/// is more lenient than Rekor v1's own verifier and sigstore-python, which refuse any line not
/// by the log. Every log signature line present must verify over the note text
/// ([`PublicKey::verify`]: Ed25519 over the text, ECDSA over its SHA-256, DER encoded), else
/// [`VerifyError::CheckpointSignatureInvalid`]; at least one must be present, else
/// [`VerifyError::CheckpointNoLogSignature`]. Syntax is checked first
/// ([`SignedCheckpoint::parse`]).
///
/// The returned tree head is only as good as the caller's comparison of it with the
/// inclusion proof's root hash and tree size; [`crate::rekor::verify_inclusion_proof`] does
/// both.
pub fn verify_checkpoint(
    envelope: &str,
    key: &PublicKey,
    base_url: &str,
) -> Result<Verified<Checkpoint>, VerifyError> {
    let SignedCheckpoint { note, checkpoint } = SignedCheckpoint::parse(envelope)?;
    let (name, hint) = if checkpoint.is_rekor_v1() {
        (None, spki_key_hint(key))
    } else {
        let name = log_name_from_base_url(base_url)?;
        let hint = note_key_hint(&name, key)?;
        (Some(name), hint)
    };
    let mut verified = 0usize;
    for line in note.signatures() {
        if line.key_hint != hint || name.as_deref().is_some_and(|n| n != line.name) {
            continue;
        }
        key.verify(note.text().as_bytes(), &line.signature)
            .map_err(|_| VerifyError::CheckpointSignatureInvalid {
                name: line.name.clone(),
                key_hint: vouch_keys::hex(&line.key_hint),
            })?;
        verified += 1;
    }
    if verified == 0 {
        let found: Vec<String> = note
            .signatures()
            .iter()
            .map(|s| format!("{}/{}", s.name, vouch_keys::hex(&s.key_hint)))
            .collect();
        return Err(VerifyError::CheckpointNoLogSignature {
            name: name.unwrap_or_else(|| "any name".into()),
            key_hint: vouch_keys::hex(&hint),
            found: found.join(", "),
        });
    }
    if let Some(name) = name
        && checkpoint.origin != name
    {
        return Err(VerifyError::CheckpointOriginMismatch {
            origin: checkpoint.origin,
            expected: name,
        });
    }
    Ok(Verified(checkpoint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_keys::PrivateKey;

    const ROOT: &str = "rs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=";

    fn line(name: &str, hint: KeyHint, signature: &[u8]) -> String {
        let mut bytes = hint.to_vec();
        bytes.extend_from_slice(signature);
        format!("\u{2014} {name} {}\n", STANDARD.encode(bytes))
    }

    fn signed(text: &str, key: &PrivateKey, name: &str, hint: KeyHint) -> String {
        line(name, hint, &key.sign(text.as_bytes()).unwrap())
    }

    #[test]
    fn a_note_splits_at_the_last_blank_line() {
        let envelope = format!("a\n\nb\n\n{}", line("n", [1, 2, 3, 4], b"sig"));
        let note = SignedNote::parse(&envelope).unwrap();
        assert_eq!(note.text(), "a\n\nb\n");
        assert_eq!(
            note.signatures(),
            [NoteSignature {
                name: "n".into(),
                key_hint: [1, 2, 3, 4],
                signature: b"sig".to_vec()
            }]
        );
    }

    #[test]
    fn malformed_notes_are_named() {
        let sig = line("n", [1, 2, 3, 4], b"s");
        let cases = [
            format!("a\n\n{}", sig.trim_end()),
            format!("a\n{sig}"),
            format!("a\r\n\n{sig}"),
            format!("a\t\n\n{sig}"),
        ];
        for envelope in cases {
            assert!(
                matches!(
                    SignedNote::parse(&envelope),
                    Err(VerifyError::NoteMalformed { .. })
                ),
                "{envelope:?}"
            );
        }
        assert_eq!(
            SignedNote::parse("a\n1\nroot\n\n"),
            Err(VerifyError::NoteNoSignatures)
        );
        // A blank line after the signatures is the last one: what precedes it is text.
        assert_eq!(
            SignedNote::parse(&format!("a\n\n{sig}\n")),
            Err(VerifyError::NoteNoSignatures)
        );
    }

    #[test]
    fn malformed_signature_lines_are_named_with_their_line_number() {
        let good = line("n", [1, 2, 3, 4], b"s");
        let bad_lines = [
            "- n AQIDBAU=\n".to_owned(),
            "\u{2014}n AQIDBAU=\n".to_owned(),
            "\u{2014} nAQIDBAU=\n".to_owned(),
            "\u{2014}  AQIDBAU=\n".to_owned(),
            "\u{2014} a+b AQIDBAU=\n".to_owned(),
            "\u{2014} a\u{00a0}b AQIDBAU=\n".to_owned(),
            "\u{2014} n AQIDBA==\n".to_owned(),
            "\u{2014} n AQIDBAU\n".to_owned(),
            "\u{2014} n AQID BAU=\n".to_owned(),
            "\u{2014} n \n".to_owned(),
        ];
        for bad in bad_lines {
            let envelope = format!("o\n1\n{ROOT}\n\n{good}{bad}");
            match SignedNote::parse(&envelope) {
                Err(VerifyError::NoteSignatureLine { line: 6, .. }) => {}
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn more_than_a_hundred_signatures_are_refused() {
        let many: String = (0..=MAX_SIGNATURES)
            .map(|i| line(&format!("w{i}"), [0; 4], b"s"))
            .collect();
        assert_eq!(
            SignedNote::parse(&format!("o\n1\n{ROOT}\n\n{many}")),
            Err(VerifyError::NoteTooManySignatures {
                count: 101,
                max: 100
            })
        );
    }

    #[test]
    fn checkpoint_text_is_read_strictly() {
        let cp = Checkpoint::parse(&format!("o\n736\n{ROOT}\nTimestamp: 1\n")).unwrap();
        assert_eq!(cp.origin, "o");
        assert_eq!(cp.tree_size, 736);
        assert_eq!(cp.root_hash.to_vec(), STANDARD.decode(ROOT).unwrap());
        assert_eq!(cp.extensions, ["Timestamp: 1"]);
        assert_eq!(
            Checkpoint::parse(&format!("o\n0\n{ROOT}\n"))
                .unwrap()
                .tree_size,
            0
        );

        let cases: [(String, usize); 11] = [
            (format!("o\n736\n{ROOT}"), 3),
            ("736\nrs1Y\n".into(), 3),
            ("o\n736\n".into(), 3),
            (format!("\n736\n{ROOT}\n"), 1),
            (format!("o\n\n{ROOT}\n"), 2),
            (format!("o\n0736\n{ROOT}\n"), 2),
            (format!("o\n+736\n{ROOT}\n"), 2),
            (format!("o\n18446744073709551616\n{ROOT}\n"), 2),
            ("o\n736\nnot base64!\n".into(), 3),
            ("o\n736\nAAAA\n".into(), 3),
            (format!("o\n736\n{ROOT}\nx\n\ny\n"), 5),
        ];
        for (text, line) in cases {
            match Checkpoint::parse(&text) {
                Err(VerifyError::CheckpointMalformed { line: l, .. }) if l == line => {}
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn rekor_v1_origins_end_in_a_tree_id() {
        let cp = |origin: &str| Checkpoint {
            origin: origin.into(),
            tree_size: 1,
            root_hash: [0; 32],
            extensions: vec![],
        };
        assert!(cp("rekor.sigstore.dev - 2605736670972794746").is_rekor_v1());
        assert!(cp("localhost:8000 - 209406721089291").is_rekor_v1());
        assert!(!cp("log2025-1.rekor.sigstore.dev").is_rekor_v1());
        assert!(!cp("rekor.sigstore.dev - ").is_rekor_v1());
        assert!(!cp("rekor.sigstore.dev - 12a").is_rekor_v1());
    }

    #[test]
    fn key_hints_match_the_sigstore_trust_roots_log_ids() {
        let key = |b64: &str| PublicKey::from_spki_der(&STANDARD.decode(b64).unwrap()).unwrap();
        // Production Rekor v1: log ID = SHA-256 of the SPKI, wNI9atQG...
        let v1 = key(
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==",
        );
        assert_eq!(spki_key_hint(&v1), [0xc0, 0xd2, 0x3d, 0x6a]);
        assert_eq!(
            note_key_hint("anything", &v1).unwrap(),
            [0xc0, 0xd2, 0x3d, 0x6a]
        );
        // Staging Rekor v2 (log2025-alpha1): log ID 8w1amZ2S... = SHA-256(name \n 0x01 key).
        let v2 = key("MCowBQYDK2VwAyEAPn+AREHoBaZ7wgS1zBqpxmLSGnyhxXj4lFxSdWVB8o8=");
        assert_eq!(
            note_key_hint("log2025-alpha1.rekor.sigstage.dev", &v2).unwrap(),
            [0xf3, 0x0d, 0x5a, 0x99]
        );
        assert_ne!(
            note_key_hint("log2025-alpha1.rekor.github.dev", &v2).unwrap(),
            [0xf3, 0x0d, 0x5a, 0x99]
        );
        // Production Rekor v2 (log2025-1): log ID zxGZFVvd...
        let prod = key("MCowBQYDK2VwAyEAt8rlp1knGwjfbcXAYPYAkn0XiLz1x8O4t0YkEhie244=");
        assert_eq!(
            note_key_hint("log2025-1.rekor.sigstore.dev", &prod).unwrap(),
            [0xcf, 0x11, 0x99, 0x15]
        );
    }

    #[test]
    fn log_names_are_base_url_hosts() {
        for (url, host) in [
            ("https://rekor.sigstore.dev", "rekor.sigstore.dev"),
            (
                "https://log2025-1.rekor.sigstore.dev/",
                "log2025-1.rekor.sigstore.dev",
            ),
            ("http://localhost:8000", "localhost"),
            ("https://u@example.com:443/api/v2?x#y", "example.com"),
            ("http://[::1]:3000/", "::1"),
        ] {
            assert_eq!(log_name_from_base_url(url).unwrap(), host, "{url}");
        }
        for url in [
            "rekor.sigstore.dev",
            "https://",
            "https:///path",
            "http://[::1",
        ] {
            assert!(
                matches!(
                    log_name_from_base_url(url),
                    Err(VerifyError::LogBaseUrl { .. })
                ),
                "{url}"
            );
        }
    }

    const V2_NAME: &str = "log.example.dev";
    const V2_URL: &str = "https://log.example.dev";

    fn v2_text() -> String {
        format!("{V2_NAME}\n42\n{ROOT}\n")
    }

    #[test]
    fn a_rekor_v2_checkpoint_verifies_among_witness_cosignatures() {
        let log = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let witness = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let hint = note_key_hint(V2_NAME, log.public_key()).unwrap();
        let text = v2_text();
        let witness_hint = note_key_hint("witness.example", witness.public_key()).unwrap();
        // Around the log's line: a witness cosignature, another key of the log's name, and a
        // line with the log's hint but another name. None is the log's key; all are ignored.
        let envelope = format!(
            "{text}\n{}{}{}{}",
            signed(&text, &witness, "witness.example", witness_hint),
            signed(&text, &log, V2_NAME, hint),
            line(V2_NAME, [9, 9, 9, 9], b"not checked"),
            line("other.name", hint, b"not checked"),
        );
        let cp = verify_checkpoint(&envelope, log.public_key(), V2_URL).unwrap();
        assert_eq!(cp.origin, V2_NAME);
        assert_eq!(cp.tree_size, 42);
    }

    #[test]
    fn rekor_v2_checkpoints_without_the_log_signature_are_refused() {
        let log = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let other = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let hint = note_key_hint(V2_NAME, log.public_key()).unwrap();
        let text = v2_text();
        // Signed by another key under the log's name.
        let other_hint = note_key_hint(V2_NAME, other.public_key()).unwrap();
        let envelope = format!("{text}\n{}", signed(&text, &other, V2_NAME, other_hint));
        assert!(matches!(
            verify_checkpoint(&envelope, log.public_key(), V2_URL),
            Err(VerifyError::CheckpointNoLogSignature { .. })
        ));
        // Signed by the log, but the base URL names another log.
        let envelope = format!("{text}\n{}", signed(&text, &log, V2_NAME, hint));
        match verify_checkpoint(&envelope, log.public_key(), "https://other.example.dev") {
            Err(VerifyError::CheckpointNoLogSignature { name, found, .. }) => {
                assert_eq!(name, "other.example.dev");
                assert!(found.starts_with("log.example.dev/"), "{found}");
            }
            other => panic!("{other:?}"),
        }
        // The right name and hint but a bad signature.
        let mut sig = log.sign(text.as_bytes()).unwrap();
        sig[5] ^= 1;
        let envelope = format!("{text}\n{}", line(V2_NAME, hint, &sig));
        assert_eq!(
            verify_checkpoint(&envelope, log.public_key(), V2_URL).unwrap_err(),
            VerifyError::CheckpointSignatureInvalid {
                name: V2_NAME.into(),
                key_hint: vouch_keys::hex(&hint)
            }
        );
        // A good signature followed by a bad one from the same key: the note is refused.
        let envelope = format!(
            "{text}\n{}{}",
            signed(&text, &log, V2_NAME, hint),
            line(V2_NAME, hint, &sig)
        );
        assert!(matches!(
            verify_checkpoint(&envelope, log.public_key(), V2_URL),
            Err(VerifyError::CheckpointSignatureInvalid { .. })
        ));
    }

    #[test]
    fn a_rekor_v2_checkpoint_for_another_origin_is_refused_after_its_signature() {
        let log = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let hint = note_key_hint(V2_NAME, log.public_key()).unwrap();
        let text = format!("another.origin\n42\n{ROOT}\n");
        let envelope = format!("{text}\n{}", signed(&text, &log, V2_NAME, hint));
        assert_eq!(
            verify_checkpoint(&envelope, log.public_key(), V2_URL).unwrap_err(),
            VerifyError::CheckpointOriginMismatch {
                origin: "another.origin".into(),
                expected: V2_NAME.into()
            }
        );
    }

    #[test]
    fn an_ecdsa_rekor_v2_checkpoint_uses_the_spki_hint_and_the_name() {
        let log = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let hint = spki_key_hint(log.public_key());
        let text = v2_text();
        let envelope = format!("{text}\n{}", signed(&text, &log, V2_NAME, hint));
        verify_checkpoint(&envelope, log.public_key(), V2_URL).unwrap();
        let renamed = format!("{text}\n{}", signed(&text, &log, "x.example.dev", hint));
        assert!(matches!(
            verify_checkpoint(&renamed, log.public_key(), V2_URL),
            Err(VerifyError::CheckpointNoLogSignature { .. })
        ));
    }

    #[test]
    fn a_rekor_v1_checkpoint_is_found_by_key_hint_alone() {
        let log = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let hint = spki_key_hint(log.public_key());
        let text = format!("rekor.example.dev - 1234\n42\n{ROOT}\nTimestamp: 5\n");
        // Rekor v1 signs with its host name; the base URL's host is not compared.
        let envelope = format!(
            "{text}\n{}{}",
            line("witness.example", [1, 2, 3, 4], b"ignored"),
            signed(&text, &log, "rekor.example.dev", hint)
        );
        let cp = verify_checkpoint(&envelope, log.public_key(), "http://localhost:8000").unwrap();
        assert_eq!(cp.extensions, ["Timestamp: 5"]);
        // A wrong hint: no log signature.
        let mut wrong = hint;
        wrong[0] ^= 0x04;
        let envelope = format!(
            "{text}\n{}",
            signed(&text, &log, "rekor.example.dev", wrong)
        );
        match verify_checkpoint(&envelope, log.public_key(), "https://rekor.example.dev") {
            Err(VerifyError::CheckpointNoLogSignature { name, .. }) => assert_eq!(name, "any name"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn syntax_is_checked_before_signatures() {
        let log = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let hint = note_key_hint(V2_NAME, log.public_key()).unwrap();
        let text = format!("{V2_NAME}\n042\n{ROOT}\n");
        let envelope = format!("{text}\n{}", signed(&text, &log, V2_NAME, hint));
        assert!(matches!(
            verify_checkpoint(&envelope, log.public_key(), V2_URL),
            Err(VerifyError::CheckpointMalformed { line: 2, .. })
        ));
    }
}
