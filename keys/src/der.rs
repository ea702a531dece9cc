//! The little DER that key files need: reading the outer structure of PKCS#8, SEC1, PKCS#1
//! and SubjectPublicKeyInfo far enough to learn which algorithm and curve a key uses, and
//! writing the PKCS#8 wrapper around a SEC1 or PKCS#1 key.
//!
//! Only definite-length DER is accepted (X.690 section 10.1); anything else is an error, never
//! a guess. The cryptographic parsing proper is left to aws-lc. The reader is public so that
//! the verifier can walk certificates and timestamp tokens with the same strict rules.

use std::fmt;

/// INTEGER, a universal tag (X.680 section 8.6).
pub const INTEGER: u8 = 0x02;
/// BIT STRING.
pub const BIT_STRING: u8 = 0x03;
/// OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// NULL.
pub const NULL: u8 = 0x05;
/// BOOLEAN.
pub const BOOLEAN: u8 = 0x01;
/// OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// SEQUENCE and SEQUENCE OF, constructed.
pub const SEQUENCE: u8 = 0x30;
/// SET and SET OF, constructed.
pub const SET: u8 = 0x31;
/// `[0]` constructed, context-specific: the curve parameters in SEC1's ECPrivateKey.
pub const CONTEXT_0: u8 = 0xa0;

/// A DER object identifier, kept in its encoded form.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Oid<'a>(pub &'a [u8]);

impl fmt::Display for Oid<'_> {
    /// Dotted-decimal form (X.690 section 8.19), for error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut arcs: Vec<u128> = Vec::new();
        let mut value: u128 = 0;
        for &byte in self.0 {
            value = (value << 7) | u128::from(byte & 0x7f);
            if byte & 0x80 == 0 {
                if arcs.is_empty() {
                    let first = (value / 40).min(2);
                    arcs.push(first);
                    arcs.push(value - first * 40);
                } else {
                    arcs.push(value);
                }
                value = 0;
            }
        }
        let text: Vec<String> = arcs.iter().map(u128::to_string).collect();
        f.write_str(&text.join("."))
    }
}

impl fmt::Debug for Oid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

/// Well-known object identifiers, DER-encoded contents (without tag and length).
pub mod oids {
    /// id-ecPublicKey, RFC 5480 section 2.1.1.
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    /// secp256r1 / P-256, RFC 5480 section 2.1.1.1.
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    /// secp384r1 / P-384.
    pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    /// secp521r1 / P-521.
    pub const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
    /// secp224r1 / P-224: recognised only to refuse it by name.
    pub const P224: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x21];
    /// secp256k1: recognised only to refuse it by name.
    pub const SECP256K1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x0a];
    /// id-Ed25519, RFC 8410 section 3.
    pub const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    /// rsaEncryption, RFC 8017 appendix A.1.
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
}

/// Why a DER structure could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError(pub &'static str);

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for DerError {}

/// A cursor over DER-encoded bytes.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `input`, positioned at its start.
    pub fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    /// Whether every element has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next element, if any, without consuming it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// Reads one element and returns its tag, its contents and its whole encoding (tag and
    /// length included), for structures that are signed as encoded.
    pub fn any_raw(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), DerError> {
        let start = self.rest;
        let (tag, value) = self.any()?;
        let used = start.len() - self.rest.len();
        Ok((tag, value, &start[..used]))
    }

    /// Reads the next element only if it carries `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.any().map(|(_, value)| Some(value))
        } else {
            Ok(None)
        }
    }

    /// Reads one tag-length-value element and returns its tag and contents.
    pub fn any(&mut self) -> Result<(u8, &'a [u8]), DerError> {
        let (&tag, after_tag) = self.rest.split_first().ok_or(DerError("truncated"))?;
        if tag & 0x1f == 0x1f {
            return Err(DerError("multi-byte tags are not used by key formats"));
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(DerError("truncated"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 {
                return Err(DerError("indefinite length is not DER"));
            }
            if count > 4 || after_len.len() < count {
                return Err(DerError("bad length"));
            }
            let (bytes, rest) = after_len.split_at(count);
            after_len = rest;
            if bytes[0] == 0 {
                return Err(DerError("length is not minimally encoded"));
            }
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(DerError("length is not minimally encoded"));
            }
            len
        };
        if after_len.len() < len {
            return Err(DerError("truncated"));
        }
        let (value, rest) = after_len.split_at(len);
        self.rest = rest;
        Ok((tag, value))
    }

    /// Reads one element that must carry `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        match self.any()? {
            (found, value) if found == tag => Ok(value),
            _ => Err(DerError("unexpected element")),
        }
    }

    /// Reads a SEQUENCE and returns a reader over its contents.
    pub fn sequence(&mut self) -> Result<Reader<'a>, DerError> {
        self.expect(SEQUENCE).map(Reader::new)
    }

    /// Reads a small non-negative INTEGER.
    pub fn small_uint(&mut self) -> Result<u64, DerError> {
        let bytes = self.expect(INTEGER)?;
        if bytes.is_empty() || bytes.len() > 8 || bytes[0] & 0x80 != 0 {
            return Err(DerError("integer out of range"));
        }
        Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// Reads an OBJECT IDENTIFIER.
    pub fn oid(&mut self) -> Result<Oid<'a>, DerError> {
        self.expect(OID).map(Oid)
    }
}

/// Reads a complete DER element that must make up all of `input`.
pub fn parse_single(input: &[u8], tag: u8) -> Result<Reader<'_>, DerError> {
    let mut outer = Reader::new(input);
    let inner = outer.expect(tag)?;
    if !outer.is_empty() {
        return Err(DerError("trailing data"));
    }
    Ok(Reader::new(inner))
}

/// Encodes one tag-length-value element.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// The algorithm identifier and parameter a PKCS#8 or SPKI structure names.
pub struct AlgorithmIdentifier<'a> {
    /// The algorithm's object identifier.
    pub algorithm: Oid<'a>,
    /// The parameter when it is an OID (the named curve of an EC key), else `None`.
    pub curve: Option<Oid<'a>>,
}

impl<'a> AlgorithmIdentifier<'a> {
    /// RFC 5280 section 4.1.1.2: `SEQUENCE { algorithm OID, parameters ANY OPTIONAL }`.
    pub fn read(reader: &mut Reader<'a>) -> Result<Self, DerError> {
        let mut seq = reader.sequence()?;
        let algorithm = seq.oid()?;
        let curve = match seq.peek_tag() {
            Some(OID) => Some(seq.oid()?),
            Some(_) => {
                seq.any()?;
                None
            }
            None => None,
        };
        if !seq.is_empty() {
            return Err(DerError("trailing data in algorithm identifier"));
        }
        Ok(Self { algorithm, curve })
    }

    /// Encodes `SEQUENCE { algorithm, parameter }`, with NULL when there is no parameter
    /// (RFC 8017 appendix A.1 requires NULL for rsaEncryption).
    pub fn encode(algorithm: &[u8], curve: Option<&[u8]>) -> Vec<u8> {
        let mut body = tlv(OID, algorithm);
        match curve {
            Some(curve) => body.extend(tlv(OID, curve)),
            None => body.extend(tlv(NULL, &[])),
        }
        tlv(SEQUENCE, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_display_is_dotted_decimal() {
        assert_eq!(Oid(oids::P256).to_string(), "1.2.840.10045.3.1.7");
        assert_eq!(Oid(oids::P224).to_string(), "1.3.132.0.33");
        assert_eq!(Oid(oids::ED25519).to_string(), "1.3.101.112");
        assert_eq!(
            Oid(oids::RSA_ENCRYPTION).to_string(),
            "1.2.840.113549.1.1.1"
        );
    }

    #[test]
    fn tlv_round_trips_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let value = vec![7u8; len];
            let encoded = tlv(OCTET_STRING, &value);
            let mut reader = Reader::new(&encoded);
            assert_eq!(reader.expect(OCTET_STRING).unwrap(), &value[..]);
            assert!(reader.is_empty());
        }
    }

    #[test]
    fn non_der_lengths_are_refused() {
        // Indefinite length (BER only).
        assert!(Reader::new(&[0x30, 0x80, 0, 0]).any().is_err());
        // Long form used for a short length.
        assert!(
            Reader::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5])
                .any()
                .is_err()
        );
        // Leading zero in the length.
        assert!(Reader::new(&[0x04, 0x82, 0x00, 0x80]).any().is_err());
        // Length past the end.
        assert!(Reader::new(&[0x04, 0x05, 1, 2]).any().is_err());
        // Nothing at all.
        assert!(Reader::new(&[]).any().is_err());
    }

    #[test]
    fn parse_single_refuses_trailing_bytes() {
        assert!(parse_single(&[0x30, 0x00, 0x00], SEQUENCE).is_err());
        assert!(parse_single(&[0x30, 0x00], SEQUENCE).is_ok());
    }
}
