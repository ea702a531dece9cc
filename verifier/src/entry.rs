//! The transparency-log entry body must describe the bundle it came with: the same signature,
//! the same verification material, the same artifact or DSSE payload. Otherwise a valid log
//! entry for something else could vouch for this bundle.
//!
//! Supported kinds, as Rekor canonicalizes them: `hashedrekord` 0.0.1 (Rekor v1) and 0.0.2
//! (Rekor v2; for a DSSE envelope, over the hash of its PAE), `dsse` 0.0.1 and 0.0.2,
//! `intoto` 0.0.2.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use vouch_keys::{Digest, DigestAlgorithm};

use crate::VerifyError;

/// What the bundle says was signed, to compare with the log entry.
#[derive(Debug, Clone, Copy)]
pub enum SignedContent<'a> {
    /// A message signature over an artifact known by its digest.
    Message {
        /// The artifact digest.
        digest: &'a Digest,
        /// The signature bytes.
        signature: &'a [u8],
    },
    /// A DSSE envelope.
    Dsse {
        /// The envelope's payload type.
        payload_type: &'a str,
        /// The decoded payload.
        payload: &'a [u8],
        /// The envelope's signatures, decoded.
        signatures: &'a [&'a [u8]],
    },
}

/// What verifies the signature: a certificate (DER) or a public key (SubjectPublicKeyInfo DER).
#[derive(Debug, Clone, Copy)]
pub enum VerifierMaterial<'a> {
    /// An X.509 certificate, DER.
    Certificate(&'a [u8]),
    /// A public key, SubjectPublicKeyInfo DER.
    PublicKey(&'a [u8]),
}

impl VerifierMaterial<'_> {
    fn der(&self) -> &[u8] {
        match self {
            VerifierMaterial::Certificate(der) | VerifierMaterial::PublicKey(der) => der,
        }
    }
}

fn mismatch(field: &str, reason: impl Into<String>) -> VerifyError {
    VerifyError::EntryMismatch {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A JSON value of a log entry body. Strings are borrowed from the body where they hold no
/// escape (as every string of a canonicalized body does), so reading a body allocates only its
/// objects and lists: this is on the verification path of every bundle.
#[derive(Debug, PartialEq)]
enum Node<'a> {
    Null,
    Bool(bool),
    Number,
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    fn parse(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The member `key` of an object. `Err` when it appears more than once: which of two
    /// values a log meant is not for a verifier to guess.
    fn member(&self, key: &str) -> Result<Option<&Node<'a>>, ()> {
        let Node::Object(members) = self else {
            return Ok(None);
        };
        let mut found = members.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
        match (found.next(), found.next()) {
            (Some(_), Some(_)) => Err(()),
            (value, _) => Ok(value),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(text) => Some(text),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&[Node<'a>]> {
        match self {
            Node::Array(items) => Some(items),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Node<'de>, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node<'de>, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E>(self, value: bool) -> Result<Node<'de>, E> {
                Ok(Node::Bool(value))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node<'de>, E> {
                Ok(Node::Number)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node<'de>, E> {
                Ok(Node::Number)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node<'de>, E> {
                Ok(Node::Number)
            }
            fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Node<'de>, E> {
                Ok(Node::String(Cow::Borrowed(value)))
            }
            fn visit_str<E>(self, value: &str) -> Result<Node<'de>, E> {
                Ok(Node::String(Cow::Owned(value.to_owned())))
            }
            fn visit_string<E>(self, value: String) -> Result<Node<'de>, E> {
                Ok(Node::String(Cow::Owned(value)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
                let mut members = Vec::new();
                // Keys read as nodes, so that they are borrowed too (serde reads a
                // `Cow<str>` as an owned string).
                while let Some(key) = map.next_key::<Node<'de>>()? {
                    let Node::String(key) = key else {
                        return Err(serde::de::Error::custom("an object key is not a string"));
                    };
                    members.push((key, map.next_value()?));
                }
                Ok(Node::Object(members))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

fn get<'v, 'a>(value: &'v Node<'a>, path: &[&str]) -> Result<&'v Node<'a>, VerifyError> {
    let mut current = value;
    for key in path {
        current = current
            .member(key)
            .map_err(|()| mismatch(&path.join("."), format!("repeats the key {key:?}")))?
            .ok_or_else(|| mismatch(&path.join("."), "missing from the log entry"))?;
    }
    Ok(current)
}

/// Whether the object `value` has the member `key` (once; twice is a mismatch).
fn has(value: &Node<'_>, key: &str) -> Result<bool, VerifyError> {
    value
        .member(key)
        .map(|found| found.is_some())
        .map_err(|()| mismatch(key, format!("repeats the key {key:?}")))
}

fn get_str<'v>(value: &'v Node<'_>, path: &[&str]) -> Result<&'v str, VerifyError> {
    get(value, path)?
        .as_str()
        .ok_or_else(|| mismatch(&path.join("."), "is not a string"))
}

fn b64(value: &Node<'_>, path: &[&str]) -> Result<Vec<u8>, VerifyError> {
    STANDARD
        .decode(get_str(value, path)?)
        .map_err(|_| mismatch(&path.join("."), "is not base64"))
}

/// A verifier as Rekor v1 stores it: base64 of PEM text. Returns the DER inside.
fn pem_der(value: &Node<'_>, path: &[&str]) -> Result<Vec<u8>, VerifyError> {
    let text = b64(value, path)?;
    let text =
        std::str::from_utf8(&text).map_err(|_| mismatch(&path.join("."), "is not PEM text"))?;
    if let Some(der) = single_pem_block(text) {
        return Ok(der);
    }
    let block = pem::parse(text).map_err(|_| mismatch(&path.join("."), "is not PEM"))?;
    Ok(block.into_contents())
}

/// The contents of `text` when it is exactly one plain PEM block (RFC 7468: a BEGIN line, base64
/// lines, the END line of the same label, nothing else but whitespace), as Rekor stores every
/// verifier; `None` for anything else, which `pem::parse` then reads (or refuses) as before.
/// The same answer as `pem::parse` on such text, without its per-character copy: on the
/// verification path of every bundle.
fn single_pem_block(text: &str) -> Option<Vec<u8>> {
    let rest = text.trim().strip_prefix("-----BEGIN ")?;
    let (label, rest) = rest.split_once("-----")?;
    let body = rest.strip_suffix("-----")?.strip_suffix(label)?;
    let body = body.strip_suffix("-----END ")?;
    let body = body
        .strip_prefix('\n')
        .or_else(|| body.strip_prefix("\r\n"))?;
    if label.is_empty() || !body.ends_with('\n') || body.contains('-') || body.contains(':') {
        return None;
    }
    let mut base64 = Vec::with_capacity(body.len());
    for line in body.split_ascii_whitespace() {
        base64.extend_from_slice(line.as_bytes());
    }
    STANDARD.decode(base64).ok()
}

/// A Rekor v2 `Verifier` message: `{x509Certificate: {rawBytes}}` or `{publicKey: {rawBytes}}`.
fn v2_verifier_der(value: &Node<'_>, path: &[&str]) -> Result<Vec<u8>, VerifyError> {
    let verifier = get(value, path)?;
    let raw = if has(verifier, "x509Certificate")? {
        b64(verifier, &["x509Certificate", "rawBytes"])?
    } else {
        b64(verifier, &["publicKey", "rawBytes"])?
    };
    Ok(raw)
}

fn check_verifier(
    found: &[u8],
    material: VerifierMaterial<'_>,
    field: &str,
) -> Result<(), VerifyError> {
    if found == material.der() {
        Ok(())
    } else {
        Err(mismatch(
            field,
            "the log entry names another certificate or key than the bundle",
        ))
    }
}

/// Whether the lowercase hex digest at `path` is `expected` (of the same algorithm: a
/// digest's hex length names it). Anything but lowercase hex of a SHA-2 length is a mismatch.
fn hex_digest_is(value: &Node<'_>, path: &[&str], expected: &Digest) -> Result<bool, VerifyError> {
    let hex = get_str(value, path)?;
    if !matches!(hex.len(), 64 | 96 | 128) {
        return Err(mismatch(&path.join("."), "is not a hex digest"));
    }
    if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(mismatch(&path.join("."), "is not a lowercase hex digest"));
    }
    Ok(hex == expected.hex())
}

fn algorithm_v1(name: &str) -> Option<DigestAlgorithm> {
    match name {
        "sha256" => Some(DigestAlgorithm::Sha256),
        "sha384" => Some(DigestAlgorithm::Sha384),
        "sha512" => Some(DigestAlgorithm::Sha512),
        _ => None,
    }
}

fn algorithm_v2(name: &str) -> Option<DigestAlgorithm> {
    match name {
        "SHA2_256" => Some(DigestAlgorithm::Sha256),
        "SHA2_384" => Some(DigestAlgorithm::Sha384),
        "SHA2_512" => Some(DigestAlgorithm::Sha512),
        _ => None,
    }
}

/// Checks that the canonicalized log entry `body` of `kind`/`version` (from the bundle's
/// `kindVersion`) records exactly `content` signed with `material`.
pub fn check_entry_body(
    kind: &str,
    version: &str,
    body: &[u8],
    content: SignedContent<'_>,
    material: VerifierMaterial<'_>,
) -> Result<(), VerifyError> {
    let body = Node::parse(body).map_err(|e| VerifyError::EntryMismatch {
        field: "canonicalizedBody".into(),
        reason: format!("is not JSON: {e}"),
    })?;
    let body_kind = get_str(&body, &["kind"])?;
    let body_version = get_str(&body, &["apiVersion"])?;
    if body_kind != kind || body_version != version {
        return Err(mismatch(
            "kind",
            format!("the entry is {body_kind} {body_version}, the bundle says {kind} {version}"),
        ));
    }
    match (kind, version, content) {
        ("hashedrekord", "0.0.1", SignedContent::Message { digest, signature }) => {
            let spec = get(&body, &["spec"])?;
            let algorithm = get_str(spec, &["data", "hash", "algorithm"])?;
            if algorithm_v1(algorithm) != Some(digest.algorithm()) {
                return Err(mismatch(
                    "spec.data.hash.algorithm",
                    format!(
                        "{algorithm}, the artifact digest is {}",
                        digest.algorithm().name()
                    ),
                ));
            }
            if !hex_digest_is(spec, &["data", "hash", "value"], digest)? {
                return Err(mismatch(
                    "spec.data.hash.value",
                    "the log entry is for another artifact",
                ));
            }
            if b64(spec, &["signature", "content"])? != signature {
                return Err(mismatch(
                    "spec.signature.content",
                    "the log entry holds another signature",
                ));
            }
            let found = pem_der(spec, &["signature", "publicKey", "content"])?;
            check_verifier(&found, material, "spec.signature.publicKey")
        }
        ("hashedrekord", "0.0.2", SignedContent::Message { digest, signature }) => {
            check_hashedrekord_v2(&body, digest, signature, material)
        }
        (
            "dsse",
            "0.0.1",
            SignedContent::Dsse {
                payload,
                signatures,
                ..
            },
        ) => {
            let spec = get(&body, &["spec"])?;
            check_payload_hash_v1(spec, payload, &["payloadHash"])?;
            let entries = get(spec, &["signatures"])?
                .as_array()
                .ok_or_else(|| mismatch("spec.signatures", "is not a list"))?;
            let mut found = Vec::with_capacity(entries.len());
            for entry in entries {
                let verifier = pem_der(entry, &["verifier"])?;
                check_verifier(&verifier, material, "spec.signatures[].verifier")?;
                found.push(b64(entry, &["signature"])?);
            }
            same_signatures(&found, signatures, "spec.signatures")
        }
        (
            "dsse",
            "0.0.2",
            SignedContent::Dsse {
                payload,
                signatures,
                ..
            },
        ) => {
            let spec = get(&body, &["spec", "dsseV002"])?;
            let algorithm = get_str(spec, &["payloadHash", "algorithm"])?;
            let algorithm = algorithm_v2(algorithm)
                .ok_or_else(|| mismatch("spec.dsseV002.payloadHash.algorithm", algorithm))?;
            if b64(spec, &["payloadHash", "digest"])?
                != Digest::compute(algorithm, payload).to_bytes()
            {
                return Err(mismatch(
                    "spec.dsseV002.payloadHash",
                    "the log entry is for another DSSE payload",
                ));
            }
            let entries = get(spec, &["signatures"])?
                .as_array()
                .ok_or_else(|| mismatch("spec.dsseV002.signatures", "is not a list"))?;
            let mut found = Vec::with_capacity(entries.len());
            for entry in entries {
                let verifier = v2_verifier_der(entry, &["verifier"])?;
                check_verifier(&verifier, material, "spec.dsseV002.signatures[].verifier")?;
                found.push(b64(entry, &["content"])?);
            }
            same_signatures(&found, signatures, "spec.dsseV002.signatures")
        }
        (
            "intoto",
            "0.0.2",
            SignedContent::Dsse {
                payload_type,
                payload,
                signatures,
            },
        ) => {
            let spec = get(&body, &["spec", "content"])?;
            check_payload_hash_v1(spec, payload, &["payloadHash"])?;
            let envelope = get(spec, &["envelope"])?;
            if get_str(envelope, &["payloadType"])? != payload_type {
                return Err(mismatch(
                    "spec.content.envelope.payloadType",
                    "the log entry has another payload type",
                ));
            }
            // intoto 0.0.2 stores the envelope's base64 fields base64-encoded once more.
            if has(envelope, "payload")? {
                let once = b64(envelope, &["payload"])?;
                let twice = STANDARD
                    .decode(&once)
                    .map_err(|_| mismatch("spec.content.envelope.payload", "is not base64"))?;
                if twice != payload {
                    return Err(mismatch(
                        "spec.content.envelope.payload",
                        "the log entry holds another payload",
                    ));
                }
            }
            let entries = get(envelope, &["signatures"])?
                .as_array()
                .ok_or_else(|| mismatch("spec.content.envelope.signatures", "is not a list"))?;
            let mut found = Vec::with_capacity(entries.len());
            for entry in entries {
                let verifier = pem_der(entry, &["publicKey"])?;
                check_verifier(
                    &verifier,
                    material,
                    "spec.content.envelope.signatures[].publicKey",
                )?;
                let once = b64(entry, &["sig"])?;
                found.push(STANDARD.decode(&once).map_err(|_| {
                    mismatch("spec.content.envelope.signatures[].sig", "is not base64")
                })?);
            }
            same_signatures(&found, signatures, "spec.content.envelope.signatures")
        }
        (
            "hashedrekord",
            "0.0.2",
            SignedContent::Dsse {
                payload_type,
                payload,
                signatures: [signature],
            },
        ) => {
            // Rekor v2's "hashedrekord over DSSE" (rekor-v2 spec section 6.1.4): the entry
            // records the hash of the envelope's PAE and its one signature.
            let spec = get(&body, &["spec", "hashedRekordV002"])?;
            let algorithm = get_str(spec, &["data", "algorithm"])?;
            let algorithm = algorithm_v2(algorithm)
                .ok_or_else(|| mismatch("spec.hashedRekordV002.data.algorithm", algorithm))?;
            let pae = vouch_attestations::dsse::pae(payload_type, payload);
            let digest = Digest::compute(algorithm, &pae);
            check_hashedrekord_v2(&body, &digest, signature, material).map_err(|e| match e {
                VerifyError::EntryMismatch { field, reason }
                    if field == "spec.hashedRekordV002.data.digest" =>
                {
                    mismatch(&field, reason.replace("artifact", "DSSE envelope"))
                }
                other => other,
            })
        }
        (kind, version, SignedContent::Message { .. }) if kind == "hashedrekord" => {
            Err(VerifyError::UnsupportedEntry {
                kind: kind.into(),
                version: version.into(),
            })
        }
        (kind @ ("dsse" | "intoto"), version, SignedContent::Message { .. })
        | (kind @ "hashedrekord", version @ "0.0.1", SignedContent::Dsse { .. }) => Err(mismatch(
            "kind",
            format!(
                "a {kind} {version} entry cannot record this bundle's {}",
                match content {
                    SignedContent::Message { .. } => "message signature",
                    SignedContent::Dsse { .. } => "DSSE envelope",
                }
            ),
        )),
        (kind, version, _) => Err(VerifyError::UnsupportedEntry {
            kind: kind.into(),
            version: version.into(),
        }),
    }
}

/// A `hashedrekord` 0.0.2 body (Rekor v2) records `digest`, `signature` and `material`.
fn check_hashedrekord_v2(
    body: &Node<'_>,
    digest: &Digest,
    signature: &[u8],
    material: VerifierMaterial<'_>,
) -> Result<(), VerifyError> {
    let spec = get(body, &["spec", "hashedRekordV002"])?;
    let algorithm = get_str(spec, &["data", "algorithm"])?;
    if algorithm_v2(algorithm) != Some(digest.algorithm()) {
        return Err(mismatch(
            "spec.hashedRekordV002.data.algorithm",
            format!(
                "{algorithm}, the artifact digest is {}",
                digest.algorithm().name()
            ),
        ));
    }
    if b64(spec, &["data", "digest"])? != digest.to_bytes() {
        return Err(mismatch(
            "spec.hashedRekordV002.data.digest",
            "the log entry is for another artifact",
        ));
    }
    if b64(spec, &["signature", "content"])? != signature {
        return Err(mismatch(
            "spec.hashedRekordV002.signature.content",
            "the log entry holds another signature",
        ));
    }
    let found = v2_verifier_der(spec, &["signature", "verifier"])?;
    check_verifier(&found, material, "spec.hashedRekordV002.signature.verifier")
}

fn check_payload_hash_v1(
    spec: &Node<'_>,
    payload: &[u8],
    path: &[&str],
) -> Result<(), VerifyError> {
    let field = format!("spec.{}", path.join("."));
    let hash = get(spec, path)?;
    let algorithm = get_str(hash, &["algorithm"])?;
    let algorithm = algorithm_v1(algorithm).ok_or_else(|| mismatch(&field, algorithm))?;
    if !hex_digest_is(hash, &["value"], &Digest::compute(algorithm, payload))? {
        return Err(mismatch(
            &field,
            "the log entry is for another DSSE payload",
        ));
    }
    Ok(())
}

/// The entry's signatures and the envelope's must be the same set.
fn same_signatures(found: &[Vec<u8>], expected: &[&[u8]], field: &str) -> Result<(), VerifyError> {
    let all_found = expected.iter().all(|e| found.iter().any(|f| f == e));
    let none_extra = found
        .iter()
        .all(|f| expected.iter().any(|e| e == &f.as_slice()));
    if found.len() == expected.len() && all_found && none_extra {
        Ok(())
    } else {
        Err(mismatch(
            field,
            "the log entry holds other signatures than the envelope",
        ))
    }
}

#[cfg(test)]
mod pem_tests {
    use super::*;

    #[test]
    fn a_single_block_reads_as_pem_parse_reads_it_and_anything_else_is_left_to_it() {
        let der: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let block = pem::encode_config(
            &pem::Pem::new("CERTIFICATE", der.clone()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        );
        for text in [
            block.clone(),
            block.replace('\n', "\r\n"),
            format!("\n  {block}\n\n"),
        ] {
            assert_eq!(single_pem_block(&text), Some(der.clone()), "{text:?}");
            assert_eq!(pem::parse(&text).unwrap().into_contents(), der);
        }
        let odd = [
            block.replace("END CERTIFICATE", "END PUBLIC KEY"),
            format!("junk\n{block}"),
            format!("{block}{block}"),
            block.replacen("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1),
            block.replacen('A', "*", 1),
            "-----BEGIN -----\n-----END -----".to_owned(),
        ];
        for text in odd {
            assert_eq!(single_pem_block(&text), None, "{text:?}");
        }
    }
}

#[cfg(test)]
mod node_tests {
    use super::*;

    #[test]
    fn strings_are_borrowed_unless_escaped_and_read_the_same_either_way() {
        let body = br#"{"a":"plain","b":"esc\u0061ped\/","c":[1,-2.5,true,null,{}]}"#;
        let node = Node::parse(body).unwrap();
        let a = node.member("a").unwrap().unwrap();
        assert!(matches!(a, Node::String(Cow::Borrowed("plain"))), "{a:?}");
        let Node::Object(members) = &node else {
            panic!("{node:?}")
        };
        assert!(
            members
                .iter()
                .all(|(key, _)| matches!(key, Cow::Borrowed(_))),
            "keys are borrowed: {members:?}"
        );
        let b = node.member("b").unwrap().unwrap();
        assert!(matches!(b, Node::String(Cow::Owned(_))), "{b:?}");
        assert_eq!(b.as_str(), Some("escaped/"));
        let c = node.member("c").unwrap().unwrap().as_array().unwrap();
        assert_eq!(
            c,
            [
                Node::Number,
                Node::Number,
                Node::Bool(true),
                Node::Null,
                Node::Object(Vec::new())
            ]
        );
        assert_eq!(node.member("d"), Ok(None));
        assert_eq!(a.member("a"), Ok(None), "a string has no members");
    }

    #[test]
    fn a_key_given_twice_is_a_mismatch_not_a_guess() {
        let digest = Digest::sha256(b"artifact");
        let body = format!(
            r#"{{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{{"data":{{"hash":{{"algorithm":"sha256","value":"{}","value":"{}"}}}}}}}}"#,
            digest.hex(),
            digest.hex()
        );
        let error = check_entry_body(
            "hashedrekord",
            "0.0.1",
            body.as_bytes(),
            SignedContent::Message {
                digest: &digest,
                signature: b"sig",
            },
            VerifierMaterial::PublicKey(b"key"),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("repeats the key \"value\""),
            "{error}"
        );
    }
}
