//! Content digests as the OCI image specification defines them (`algorithm:encoded`).

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest as lc;

/// The digest algorithms vouch can compute, hence verify: the two OCI registers (image-spec,
/// descriptor.md, "Registered algorithms") and SHA-384, which Sigstore bundles and X.509
/// signatures also use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// SHA-256, 64 lowercase hex digits.
    Sha256,
    /// SHA-384, 96 lowercase hex digits.
    Sha384,
    /// SHA-512, 128 lowercase hex digits.
    Sha512,
}

impl DigestAlgorithm {
    /// The name used before the colon.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha384 => "sha384",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }

    /// The length of a digest in bytes.
    pub fn output_len(self) -> usize {
        self.hex_len() / 2
    }

    fn hex_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 64,
            DigestAlgorithm::Sha384 => 96,
            DigestAlgorithm::Sha512 => 128,
        }
    }

    pub(crate) fn lc(self) -> &'static lc::Algorithm {
        match self {
            DigestAlgorithm::Sha256 => &lc::SHA256,
            DigestAlgorithm::Sha384 => &lc::SHA384,
            DigestAlgorithm::Sha512 => &lc::SHA512,
        }
    }
}

/// A validated content digest: a known algorithm and exactly as many lowercase hex digits as
/// it produces. Once built, it is safe to put in a URL path or a tag.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

/// Why a string is not a digest vouch accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest \"{input}\": {reason}")]
pub struct DigestError {
    /// The text given (truncated to 100 characters).
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Digest {
    /// The SHA-256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        Self::compute(DigestAlgorithm::Sha256, bytes)
    }

    /// The digest of `bytes` with `algorithm`.
    pub fn compute(algorithm: DigestAlgorithm, bytes: &[u8]) -> Self {
        Self {
            algorithm,
            hex: crate::hex(lc::digest(algorithm.lc(), bytes).as_ref()),
        }
    }

    /// A digest given as raw bytes (as Sigstore bundles and X.509 carry them); refused unless
    /// `bytes` has the algorithm's output length.
    pub fn from_bytes(algorithm: DigestAlgorithm, bytes: &[u8]) -> Result<Self, DigestError> {
        if bytes.len() != algorithm.output_len() {
            return Err(DigestError {
                input: format!("{} bytes of {}", bytes.len(), algorithm.name()),
                reason: "wrong length for the algorithm",
            });
        }
        Ok(Self {
            algorithm,
            hex: crate::hex(bytes),
        })
    }

    /// The raw digest bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.hex
            .as_bytes()
            .chunks(2)
            .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
            .collect()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lowercase hex digits after the colon.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// True when `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Self::compute(self.algorithm, bytes) == *self
    }

    /// An incremental hasher for content streamed in pieces; [`Hasher::finish`] says whether
    /// the content matched this digest.
    pub fn hasher(&self) -> Hasher {
        Hasher {
            expected: self.clone(),
            context: lc::Context::new(self.algorithm.lc()),
        }
    }
}

/// The value of one lowercase hex digit (a `Digest` holds nothing else).
fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'a' + 10,
    }
}

/// Hashes content as it streams, to compare with an expected [`Digest`] at the end.
pub struct Hasher {
    expected: Digest,
    context: lc::Context,
}

impl Hasher {
    /// Adds the next piece of content.
    pub fn update(&mut self, bytes: &[u8]) {
        self.context.update(bytes);
    }

    /// `Ok(())` when the content hashed to the expected digest, else the digest it had.
    pub fn finish(self) -> Result<(), Digest> {
        let found = Digest {
            algorithm: self.expected.algorithm,
            hex: crate::hex(self.context.finish().as_ref()),
        };
        if found == self.expected {
            Ok(())
        } else {
            Err(found)
        }
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    /// Parses `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = |reason| DigestError {
            input: s.chars().take(100).collect(),
            reason,
        };
        let (name, hex) = s.split_once(':').ok_or(error("no ':' separator"))?;
        let algorithm = match name {
            "sha256" => DigestAlgorithm::Sha256,
            "sha384" => DigestAlgorithm::Sha384,
            "sha512" => DigestAlgorithm::Sha512,
            _ => return Err(error("unsupported algorithm (sha256 and sha512 are)")),
        };
        if hex.len() != algorithm.hex_len() {
            return Err(error("wrong length for its algorithm"));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(error("not lowercase hex"));
        }
        Ok(Self {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_is_the_well_known_value() {
        assert_eq!(
            Digest::sha256(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_refuses_what_is_not_a_digest() {
        let good = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(good.parse::<Digest>().is_ok());
        for bad in [
            "",
            "sha256",
            "sha256:",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/..",
            "sha256:../../../../etc/passwd0000000000000000000000000000000000000000",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hasher_detects_a_mismatch() {
        let digest = Digest::sha256(b"hello world");
        let mut ok = digest.hasher();
        ok.update(b"hello ");
        ok.update(b"world");
        assert!(ok.finish().is_ok());
        let mut bad = digest.hasher();
        bad.update(b"hello there");
        assert_eq!(bad.finish().unwrap_err(), Digest::sha256(b"hello there"));
    }

    #[test]
    fn serde_uses_the_string_form_and_validates() {
        let digest = Digest::sha256(b"x");
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(json, format!("\"{digest}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
        assert!(serde_json::from_str::<Digest>("\"sha256:abc\"").is_err());
    }
}
