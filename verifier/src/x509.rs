//! X.509 certificates as Sigstore uses them (RFC 5280): reading the fields a verifier needs,
//! building a path from a leaf to a trusted root, and reading Fulcio's identity extensions.
//!
//! The parser keeps the exact encoded bytes it read (the to-be-signed part, names, the public
//! key), because signatures cover encodings, not values. Only DER is accepted.

use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use vouch_keys::der::{self, INTEGER, Oid, Reader, SEQUENCE};
use vouch_keys::{DigestAlgorithm, PublicKey, SignatureScheme};
use x509_cert::Certificate as X509Certificate;
use x509_cert::Version;
use x509_cert::der::asn1::Utf8StringRef;
use x509_cert::der::{self as x509_der, Decode, Header, Reader as _, SliceReader};
use x509_cert::ext::pkix::name::GeneralName as X509Name;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::time::Time;

use crate::VerifyError;
use crate::time::UnixTime;

/// Object identifiers this module reads, DER-encoded contents.
pub(crate) mod oids {
    pub(crate) const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    pub(crate) const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    pub(crate) const ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
    pub(crate) const RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    pub(crate) const RSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    pub(crate) const RSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    pub(crate) const RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
    pub(crate) const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    pub(crate) const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    pub(crate) const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    pub(crate) const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

    pub(crate) const SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
    pub(crate) const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
    pub(crate) const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
    pub(crate) const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
    pub(crate) const NAME_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x1e];
    pub(crate) const CERTIFICATE_POLICIES: &[u8] = &[0x55, 0x1d, 0x20];
    pub(crate) const AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];
    pub(crate) const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
    /// id-kp-codeSigning, RFC 5280 section 4.2.1.12.
    pub(crate) const KP_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
    /// id-kp-timeStamping.
    pub(crate) const KP_TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];
    /// RFC 6962 section 3.3: the embedded SCT list.
    pub(crate) const SCT_LIST: &[u8] =
        &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];
    /// RFC 6962 section 3.1: the precertificate poison.
    pub(crate) const CT_POISON: &[u8] =
        &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03];
    /// Fulcio 1.3.6.1.4.1.57264.1.1: OIDC issuer, raw string (deprecated).
    pub(crate) const FULCIO_ISSUER_V1: &[u8] =
        &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x01];
    /// Fulcio 1.3.6.1.4.1.57264.1.8: OIDC issuer, DER UTF8String.
    pub(crate) const FULCIO_ISSUER_V2: &[u8] =
        &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x08];
    /// Fulcio 1.3.6.1.4.1.57264.1.N: the OID of extension number `n` (below 128).
    pub(crate) const fn fulcio(n: u8) -> [u8; 10] {
        [0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, n]
    }
}

/// One extension of a certificate (RFC 5280 section 4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The extension's OID, DER contents.
    pub oid: Vec<u8>,
    /// Whether a verifier that does not understand it must refuse the certificate.
    pub critical: bool,
    /// The contents of `extnValue` (the DER of the extension's own structure).
    pub value: Vec<u8>,
    /// Where the whole `Extension` element sits in the to-be-signed bytes.
    range_in_tbs: Range<usize>,
}

/// A name from the subject alternative name extension (RFC 5280 section 4.2.1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneralName {
    /// `rfc822Name`: an email address.
    Email(String),
    /// `dNSName`.
    Dns(String),
    /// `uniformResourceIdentifier`.
    Uri(String),
    /// `otherName` with a UTF8String value (Fulcio writes usernames this way).
    Other {
        /// The type OID in dotted form.
        oid: String,
        /// The value.
        value: String,
    },
}

impl GeneralName {
    /// The name as text, as identities are compared.
    pub fn as_str(&self) -> &str {
        match self {
            GeneralName::Email(s) | GeneralName::Dns(s) | GeneralName::Uri(s) => s,
            GeneralName::Other { value, .. } => value,
        }
    }
}

/// A parsed X.509 v3 certificate. Holds its encoding; every accessor reads from it.
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: Range<usize>,
    serial: Range<usize>,
    issuer: Range<usize>,
    subject: Range<usize>,
    spki: Range<usize>,
    /// The `[3]` extensions wrapper inside the TBS, relative to the TBS start.
    extensions_in_tbs: Option<Range<usize>>,
    signature_algorithm: Range<usize>,
    signature: Range<usize>,
    not_before: UnixTime,
    not_after: UnixTime,
    extensions: Vec<Extension>,
    /// The certificate as x509-cert decoded it.
    parsed: Arc<X509Certificate>,
    /// The subject key, parsed on first use.
    key: Arc<OnceLock<Result<PublicKey, VerifyError>>>,
    /// Issuer keys (SubjectPublicKeyInfo DER) whose signature over this certificate verified:
    /// a certificate kept in a trust root is checked against its issuer once, not per bundle.
    /// The result depends only on these bytes and this certificate's, so the cache is sound.
    verified_issuers: Arc<Mutex<Vec<Vec<u8>>>>,
}

fn offset(whole: &[u8], part: &[u8]) -> Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    start..start + part.len()
}

fn malformed(what: &'static str) -> impl Fn(der::DerError) -> VerifyError {
    move |e| VerifyError::CertificateMalformed {
        reason: format!("{what}: {e}"),
    }
}

fn bad(reason: &str) -> VerifyError {
    VerifyError::CertificateMalformed {
        reason: reason.to_owned(),
    }
}

/// Where the parts that signatures cover lie in a certificate's encoding: the whole TLV of
/// each, except `serial` and `signature`, which are contents (the INTEGER's, and the BIT
/// STRING's after its unused-bits octet).
struct Spans<'a> {
    tbs: &'a [u8],
    serial: &'a [u8],
    issuer: &'a [u8],
    subject: &'a [u8],
    spki: &'a [u8],
    extensions_wrapper: Option<&'a [u8]>,
    extensions: Vec<&'a [u8]>,
    signature_algorithm: &'a [u8],
    signature: &'a [u8],
}

/// The contents of one TLV.
fn contents(tlv: &[u8]) -> x509_der::Result<&[u8]> {
    let mut reader = SliceReader::new(tlv)?;
    let header = Header::decode(&mut reader)?;
    reader.read_slice(header.length())
}

impl<'a> Spans<'a> {
    /// Walks a certificate x509-cert has already decoded, recording spans only.
    fn read(der: &'a [u8]) -> x509_der::Result<Self> {
        let mut outer = SliceReader::new(der)?;
        let (tbs, signature_algorithm, signature) = outer.sequence(|cert| {
            Ok::<_, x509_der::Error>((cert.tlv_bytes()?, cert.tlv_bytes()?, cert.tlv_bytes()?))
        })?;
        outer.finish()?;
        let signature = contents(signature)?.get(1..).unwrap_or_default();
        let mut reader = SliceReader::new(tbs)?;
        reader.sequence(|tbs_reader| {
            tbs_reader.tlv_bytes()?; // version, checked v3 by the decoder's caller
            let serial = contents(tbs_reader.tlv_bytes()?)?;
            tbs_reader.tlv_bytes()?; // signature algorithm
            let issuer = tbs_reader.tlv_bytes()?;
            tbs_reader.tlv_bytes()?; // validity
            let subject = tbs_reader.tlv_bytes()?;
            let spki = tbs_reader.tlv_bytes()?;
            let mut extensions_wrapper = None;
            let mut extensions = Vec::new();
            while !tbs_reader.is_finished() {
                let raw = tbs_reader.tlv_bytes()?;
                if raw.first() == Some(&0xa3) {
                    extensions_wrapper = Some(raw);
                    let mut list = SliceReader::new(contents(raw)?)?;
                    list.sequence(|items| {
                        while !items.is_finished() {
                            extensions.push(items.tlv_bytes()?);
                        }
                        Ok::<_, x509_der::Error>(())
                    })?;
                }
            }
            Ok(Self {
                tbs,
                serial,
                issuer,
                subject,
                spki,
                extensions_wrapper,
                extensions,
                signature_algorithm,
                signature,
            })
        })
    }
}

fn crate_error(what: &'static str) -> impl Fn(x509_der::Error) -> VerifyError {
    move |e| VerifyError::CertificateMalformed {
        reason: format!("{what}: {e}"),
    }
}

/// A certificate time as seconds since the epoch (x509-cert reads only 1970 onwards).
fn unix_time(time: Time) -> UnixTime {
    UnixTime::from_secs(i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX))
}

impl Certificate {
    /// Reads one DER certificate; trailing bytes, non-DER lengths, versions other than v3
    /// and unreadable fields are errors.
    pub fn from_der(der: &[u8]) -> Result<Self, VerifyError> {
        // The structure and every field are decoded by x509-cert (strict DER); the spans of
        // the parts that signatures cover are then taken from the input itself.
        let parsed = X509Certificate::from_der(der).map_err(crate_error("certificate"))?;
        let tbs_cert = parsed.tbs_certificate();
        if tbs_cert.version() != Version::V3 {
            return Err(bad("only X.509 v3 certificates are accepted"));
        }
        if tbs_cert.signature() != parsed.signature_algorithm() {
            return Err(bad(
                "the signature algorithm inside and outside the signed part differ",
            ));
        }
        if parsed.signature().unused_bits() != 0 {
            return Err(bad("signature BIT STRING has unused bits"));
        }
        let spans = Spans::read(der).map_err(crate_error("certificate"))?;
        let mut extensions = Vec::new();
        if let Some(list) = tbs_cert.extensions() {
            if list.is_empty() {
                return Err(bad("an empty extensions list is not DER"));
            }
            if list.len() != spans.extensions.len() {
                return Err(bad("extensions list does not match its encoding"));
            }
            for (ext, raw) in list.iter().zip(&spans.extensions) {
                let oid = ext.extn_id.as_bytes();
                if extensions.iter().any(|e: &Extension| e.oid == oid) {
                    return Err(VerifyError::CertificateMalformed {
                        reason: format!("extension {} appears twice", ext.extn_id),
                    });
                }
                extensions.push(Extension {
                    oid: oid.to_vec(),
                    critical: ext.critical,
                    value: ext.extn_value.as_bytes().to_vec(),
                    range_in_tbs: offset(spans.tbs, raw),
                });
            }
        }
        let validity = tbs_cert.validity();
        Ok(Self {
            der: der.to_vec(),
            tbs: offset(der, spans.tbs),
            serial: offset(der, spans.serial),
            issuer: offset(der, spans.issuer),
            subject: offset(der, spans.subject),
            spki: offset(der, spans.spki),
            extensions_in_tbs: spans.extensions_wrapper.map(|w| offset(spans.tbs, w)),
            signature_algorithm: offset(der, spans.signature_algorithm),
            signature: offset(der, spans.signature),
            not_before: unix_time(validity.not_before),
            not_after: unix_time(validity.not_after),
            extensions,
            parsed: Arc::new(parsed),
            key: Arc::default(),
            verified_issuers: Arc::default(),
        })
    }

    /// Reads a PEM `CERTIFICATE` block.
    pub fn from_pem(text: &str) -> Result<Self, VerifyError> {
        let block = pem::parse(text).map_err(|e| VerifyError::CertificateMalformed {
            reason: format!("not PEM: {e}"),
        })?;
        if block.tag() != "CERTIFICATE" {
            return Err(VerifyError::CertificateMalformed {
                reason: format!("PEM block is {:?}, not CERTIFICATE", block.tag()),
            });
        }
        Self::from_der(block.contents())
    }

    /// The whole DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The signed part, `tbsCertificate`, as encoded.
    pub fn tbs_der(&self) -> &[u8] {
        &self.der[self.tbs.clone()]
    }

    /// The serial number's INTEGER contents.
    pub fn serial(&self) -> &[u8] {
        &self.der[self.serial.clone()]
    }

    /// The issuer Name, as encoded.
    pub fn issuer_der(&self) -> &[u8] {
        &self.der[self.issuer.clone()]
    }

    /// The subject Name, as encoded.
    pub fn subject_der(&self) -> &[u8] {
        &self.der[self.subject.clone()]
    }

    /// The SubjectPublicKeyInfo, as encoded.
    pub fn spki_der(&self) -> &[u8] {
        &self.der[self.spki.clone()]
    }

    /// Start of the validity period.
    pub fn not_before(&self) -> UnixTime {
        self.not_before
    }

    /// End of the validity period (inclusive, RFC 5280 section 4.1.2.5).
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }

    /// Whether `time` lies in the validity period, both ends inclusive.
    pub fn valid_at(&self, time: UnixTime) -> bool {
        self.not_before <= time && time <= self.not_after
    }

    /// The extensions, in certificate order.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// The extension with this OID (DER contents), if present.
    pub fn extension(&self, oid: &[u8]) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.oid == oid)
    }

    /// The subject public key.
    pub fn public_key(&self) -> Result<PublicKey, VerifyError> {
        self.key
            .get_or_init(|| {
                PublicKey::from_spki_der(self.spki_der()).map_err(|e| VerifyError::CertificateKey {
                    reason: e.to_string(),
                })
            })
            .clone()
    }

    /// Whether issuer and subject names are the same (a self-issued certificate).
    pub fn is_self_issued(&self) -> bool {
        self.issuer_der() == self.subject_der()
    }

    /// The signature scheme the certificate's signatureAlgorithm names.
    pub fn signature_scheme(&self) -> Result<SignatureScheme, VerifyError> {
        signature_scheme(&self.der[self.signature_algorithm.clone()])
    }

    /// Checks that `issuer`'s key signed this certificate.
    pub fn verify_signed_by(&self, issuer: &PublicKey) -> Result<(), VerifyError> {
        let verified = |cache: &Vec<Vec<u8>>| cache.iter().any(|k| k == issuer.spki_der());
        if self
            .verified_issuers
            .lock()
            .is_ok_and(|cache| verified(&cache))
        {
            return Ok(());
        }
        let scheme = self.signature_scheme()?;
        issuer
            .verify_scheme(scheme, self.tbs_der(), &self.der[self.signature.clone()])
            .map_err(|e| VerifyError::CertificateSignature {
                subject: self.subject_summary(),
                reason: e.to_string(),
            })?;
        if let Ok(mut cache) = self.verified_issuers.lock()
            && !verified(&cache)
        {
            cache.push(issuer.spki_der().to_vec());
        }
        Ok(())
    }

    /// Records that `issuer` signed this certificate without checking the signature here: for
    /// the links of a chain checked where the chain was made (the embedded trusted root, whose
    /// every link this crate's tests verify). Only an issuer whose subject is this
    /// certificate's issuer is recorded.
    pub(crate) fn assume_signed_by(&self, issuer: &Certificate) {
        if issuer.subject_der() != self.issuer_der() {
            return;
        }
        let spki = issuer.spki_der();
        if let Ok(mut cache) = self.verified_issuers.lock()
            && !cache.iter().any(|k| k == spki)
        {
            cache.push(spki.to_vec());
        }
    }

    /// `basicConstraints`: `Some(path_len)` for a CA (`path_len` `None` when unlimited),
    /// `None` for an end entity or when the extension is absent.
    pub fn ca_path_len(&self) -> Result<Option<Option<u64>>, VerifyError> {
        let Some(ext) = self.extension(oids::BASIC_CONSTRAINTS) else {
            return Ok(None);
        };
        let constraints =
            BasicConstraints::from_der(&ext.value).map_err(crate_error("basicConstraints"))?;
        Ok(constraints
            .ca
            .then_some(constraints.path_len_constraint.map(u64::from)))
    }

    /// `keyUsage` bits (bit 0 = digitalSignature, 5 = keyCertSign), or `None` when absent.
    pub fn key_usage(&self) -> Result<Option<u16>, VerifyError> {
        let Some(ext) = self.extension(oids::KEY_USAGE) else {
            return Ok(None);
        };
        let usage = KeyUsage::from_der(&ext.value).map_err(crate_error("keyUsage"))?;
        Ok(Some(usage.0.bits()))
    }

    /// The `extKeyUsage` purposes (OID contents), or `None` when absent.
    pub fn extended_key_usage(&self) -> Result<Option<Vec<Vec<u8>>>, VerifyError> {
        let Some(ext) = self.extension(oids::EXT_KEY_USAGE) else {
            return Ok(None);
        };
        let usage = ExtendedKeyUsage::from_der(&ext.value).map_err(crate_error("extKeyUsage"))?;
        Ok(Some(
            usage.0.iter().map(|oid| oid.as_bytes().to_vec()).collect(),
        ))
    }

    /// The subject alternative names; names of kinds Sigstore does not use are skipped.
    pub fn subject_alt_names(&self) -> Result<Vec<GeneralName>, VerifyError> {
        let Some(ext) = self.extension(oids::SUBJECT_ALT_NAME) else {
            return Ok(Vec::new());
        };
        let all = SubjectAltName::from_der(&ext.value).map_err(crate_error("subjectAltName"))?;
        let mut names = Vec::new();
        for name in all.0 {
            match name {
                X509Name::Rfc822Name(s) => names.push(GeneralName::Email(s.as_str().to_owned())),
                X509Name::DnsName(s) => names.push(GeneralName::Dns(s.as_str().to_owned())),
                X509Name::UniformResourceIdentifier(s) => {
                    names.push(GeneralName::Uri(s.as_str().to_owned()));
                }
                X509Name::OtherName(other) => {
                    if let Ok(utf8) = other.value.decode_as::<Utf8StringRef<'_>>() {
                        names.push(GeneralName::Other {
                            oid: other.type_id.to_string(),
                            value: utf8.as_str().to_owned(),
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(names)
    }

    /// The OIDC issuer Fulcio recorded: extension 1.3.6.1.4.1.57264.1.8 (a DER UTF8String),
    /// else the deprecated 1.3.6.1.4.1.57264.1.1 (raw text).
    pub fn fulcio_issuer(&self) -> Result<Option<String>, VerifyError> {
        if let Some(ext) = self.extension(oids::FULCIO_ISSUER_V2) {
            let utf8 = Utf8StringRef::from_der(&ext.value).map_err(crate_error("OIDC issuer"))?;
            return Ok(Some(utf8.as_str().to_owned()));
        }
        if let Some(ext) = self.extension(oids::FULCIO_ISSUER_V1) {
            return std::str::from_utf8(&ext.value)
                .map(|s| Some(s.to_owned()))
                .map_err(|_| bad("OIDC issuer extension is not UTF-8"));
        }
        Ok(None)
    }

    /// The value of Fulcio extension 1.3.6.1.4.1.57264.1.`number`: a DER UTF8String for the
    /// extensions numbered 8 and above, raw text for the deprecated 1 to 6 (Fulcio's
    /// `docs/oid-info.md`). `None` when the certificate has no such extension.
    pub fn fulcio_extension(&self, number: u8) -> Result<Option<String>, VerifyError> {
        let Some(ext) = self.extension(&oids::fulcio(number)) else {
            return Ok(None);
        };
        if number >= 8 {
            let utf8 =
                Utf8StringRef::from_der(&ext.value).map_err(crate_error("Fulcio extension"))?;
            return Ok(Some(utf8.as_str().to_owned()));
        }
        std::str::from_utf8(&ext.value)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| bad("a Fulcio extension is not UTF-8"))
    }

    /// The to-be-signed bytes with one extension removed and the lengths around it re-encoded:
    /// what a CT log signed for a precertificate (RFC 6962 section 3.2) once the SCT list
    /// extension is taken out.
    pub fn tbs_without_extension(&self, oid: &[u8]) -> Result<Vec<u8>, VerifyError> {
        let tbs = self.tbs_der();
        let (Some(wrapper), Some(ext)) = (&self.extensions_in_tbs, self.extension(oid)) else {
            return Ok(tbs.to_vec());
        };
        let mut list = Vec::new();
        for other in &self.extensions {
            if other.oid != ext.oid {
                list.extend_from_slice(&tbs[other.range_in_tbs.clone()]);
            }
        }
        let contents = der::parse_single(tbs, SEQUENCE)
            .map_err(malformed("tbsCertificate"))?
            .remaining();
        let contents_start = tbs.len() - contents.len();
        let mut body = Vec::with_capacity(tbs.len());
        body.extend_from_slice(&tbs[contents_start..wrapper.start]);
        if !list.is_empty() {
            body.extend(der::tlv(0xa3, &der::tlv(SEQUENCE, &list)));
        }
        body.extend_from_slice(&tbs[wrapper.end..]);
        Ok(der::tlv(SEQUENCE, &body))
    }

    /// A short description for messages: the subject's common name or organisation, else
    /// the first subject alternative name, else the serial number.
    pub fn subject_summary(&self) -> String {
        let subject = self.parsed.tbs_certificate().subject();
        if let Some(cn) = name_attribute(subject, &[0x55, 0x04, 0x03])
            .or_else(|| name_attribute(subject, &[0x55, 0x04, 0x0a]))
        {
            return cn;
        }
        if let Ok(names) = self.subject_alt_names()
            && let Some(name) = names.first()
        {
            return name.as_str().to_owned();
        }
        format!("serial {}", vouch_keys::hex(self.serial()))
    }
}

/// The first attribute of type `oid` in a Name, as text.
fn name_attribute(name: &Name, oid: &[u8]) -> Option<String> {
    name.iter()
        .find(|attribute| attribute.oid.as_bytes() == oid)
        .and_then(|attribute| std::str::from_utf8(attribute.value.value()).ok())
        .map(str::to_owned)
}

/// The scheme an encoded AlgorithmIdentifier names (RFC 5758, RFC 4055, RFC 8410).
pub(crate) fn signature_scheme(algorithm: &[u8]) -> Result<SignatureScheme, VerifyError> {
    let mut seq = der::parse_single(algorithm, SEQUENCE).map_err(malformed("algorithm"))?;
    let oid = seq.oid().map_err(malformed("algorithm"))?;
    let params = seq.remaining();
    let no_params = params.is_empty();
    let null_or_none = no_params || params == [der::NULL, 0];
    let scheme = match oid.0 {
        oids::ECDSA_SHA256 if no_params => SignatureScheme::Ecdsa(DigestAlgorithm::Sha256),
        oids::ECDSA_SHA384 if no_params => SignatureScheme::Ecdsa(DigestAlgorithm::Sha384),
        oids::ECDSA_SHA512 if no_params => SignatureScheme::Ecdsa(DigestAlgorithm::Sha512),
        oids::RSA_SHA256 if null_or_none => SignatureScheme::RsaPkcs1(DigestAlgorithm::Sha256),
        oids::RSA_SHA384 if null_or_none => SignatureScheme::RsaPkcs1(DigestAlgorithm::Sha384),
        oids::RSA_SHA512 if null_or_none => SignatureScheme::RsaPkcs1(DigestAlgorithm::Sha512),
        oids::ED25519 if no_params => SignatureScheme::Ed25519,
        oids::RSA_PSS => SignatureScheme::RsaPss(pss_hash(params)?),
        _ => {
            return Err(VerifyError::UnsupportedAlgorithm {
                oid: oid.to_string(),
            });
        }
    };
    Ok(scheme)
}

/// The digest OID of an AlgorithmIdentifier, as CMS and RFC 3161 name hashes.
pub(crate) fn digest_algorithm(algorithm_contents: &[u8]) -> Result<DigestAlgorithm, VerifyError> {
    let mut seq = Reader::new(algorithm_contents);
    let oid = seq.oid().map_err(malformed("digest algorithm"))?;
    let rest = seq.remaining();
    if !(rest.is_empty() || rest == [der::NULL, 0]) {
        return Err(bad("digest algorithm has parameters"));
    }
    hash_for_oid(oid)
}

fn hash_for_oid(oid: Oid<'_>) -> Result<DigestAlgorithm, VerifyError> {
    match oid.0 {
        oids::SHA256 => Ok(DigestAlgorithm::Sha256),
        oids::SHA384 => Ok(DigestAlgorithm::Sha384),
        oids::SHA512 => Ok(DigestAlgorithm::Sha512),
        _ => Err(VerifyError::UnsupportedAlgorithm {
            oid: oid.to_string(),
        }),
    }
}

/// RSASSA-PSS parameters (RFC 4055 section 3.1): the hash, MGF1 with the same hash, and a salt
/// as long as the hash, the only combination accepted.
fn pss_hash(params: &[u8]) -> Result<DigestAlgorithm, VerifyError> {
    let mut seq = der::parse_single(params, SEQUENCE).map_err(malformed("RSA-PSS parameters"))?;
    let hash_alg = seq.expect(0xa0).map_err(malformed("RSA-PSS hash"))?;
    let hash = digest_algorithm(
        der::parse_single(hash_alg, SEQUENCE)
            .map_err(malformed("RSA-PSS hash"))?
            .remaining(),
    )?;
    let mgf = seq
        .expect(0xa1)
        .map_err(malformed("RSA-PSS mask generation"))?;
    let mut mgf = der::parse_single(mgf, SEQUENCE).map_err(malformed("RSA-PSS mask generation"))?;
    mgf.oid().map_err(malformed("RSA-PSS mask generation"))?;
    let mgf_hash = digest_algorithm(
        mgf.sequence()
            .map_err(malformed("RSA-PSS mask generation"))?
            .remaining(),
    )?;
    let salt = seq.expect(0xa2).map_err(malformed("RSA-PSS salt length"))?;
    let salt = der::parse_single(salt, INTEGER).map_err(malformed("RSA-PSS salt length"))?;
    let salt_len = salt.remaining();
    if mgf_hash != hash || salt_len != [hash.output_len() as u8] {
        return Err(bad(
            "RSA-PSS parameters other than MGF1 with the same hash and a hash-length salt",
        ));
    }
    Ok(hash)
}

/// What a certificate path must allow its leaf to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Code signing (Fulcio leaves): `id-kp-codeSigning`.
    CodeSigning,
    /// Time stamping (RFC 3161 signers): `id-kp-timeStamping`, the only purpose, critical.
    TimeStamping,
}

/// Finds a path from `leaf` to a self-signed root among `pool` (the trusted chain, leaf-most
/// first, the root last) and checks every link at `time` (RFC 5280 section 6, the parts
/// Sigstore relies on): signatures, validity periods, CA basic constraints and path lengths,
/// `keyCertSign` on issuers, the leaf's purpose, and no unknown critical extension anywhere.
/// Returns the path from the leaf's issuer to the root.
pub fn verify_path<'a>(
    leaf: &Certificate,
    pool: &'a [Certificate],
    time: UnixTime,
    purpose: Purpose,
) -> Result<Vec<&'a Certificate>, VerifyError> {
    check_leaf(leaf, purpose)?;
    check_validity(leaf, time)?;
    let mut path: Vec<&Certificate> = Vec::new();
    let mut current = leaf;
    loop {
        if path.len() >= pool.len() {
            return Err(VerifyError::CertificateChain {
                reason: "the trusted chain does not end in a root".into(),
            });
        }
        let issuer = pool
            .iter()
            .filter(|candidate| candidate.subject_der() == current.issuer_der())
            .find(|candidate| {
                candidate
                    .public_key()
                    .is_ok_and(|key| current.verify_signed_by(&key).is_ok())
            })
            .ok_or_else(|| VerifyError::CertificateChain {
                reason: format!(
                    "no trusted certificate issued and signed \"{}\"",
                    current.subject_summary()
                ),
            })?;
        check_issuer(issuer, path.len())?;
        check_validity(issuer, time)?;
        path.push(issuer);
        if issuer.is_self_issued() {
            // A trust anchor: the path ends here.
            break;
        }
        current = issuer;
    }
    Ok(path)
}

fn check_validity(cert: &Certificate, time: UnixTime) -> Result<(), VerifyError> {
    if cert.valid_at(time) {
        Ok(())
    } else {
        Err(VerifyError::CertificateExpired {
            subject: cert.subject_summary(),
            time,
            not_before: cert.not_before(),
            not_after: cert.not_after(),
        })
    }
}

fn check_critical(cert: &Certificate, understood: &[&[u8]]) -> Result<(), VerifyError> {
    for ext in cert.extensions() {
        let known = understood.contains(&ext.oid.as_slice());
        if ext.critical && !known {
            return Err(VerifyError::CertificateChain {
                reason: format!(
                    "certificate \"{}\" has an unknown critical extension {}",
                    cert.subject_summary(),
                    Oid(&ext.oid)
                ),
            });
        }
    }
    Ok(())
}

const UNDERSTOOD: &[&[u8]] = &[
    oids::KEY_USAGE,
    oids::EXT_KEY_USAGE,
    oids::SUBJECT_ALT_NAME,
    oids::BASIC_CONSTRAINTS,
    oids::SUBJECT_KEY_ID,
    oids::AUTHORITY_KEY_ID,
    oids::CERTIFICATE_POLICIES,
];

fn check_leaf(leaf: &Certificate, purpose: Purpose) -> Result<(), VerifyError> {
    check_critical(leaf, UNDERSTOOD)?;
    if leaf.extension(oids::CT_POISON).is_some() {
        return Err(VerifyError::CertificateChain {
            reason: "the leaf is a CT precertificate (it carries the poison extension)".into(),
        });
    }
    if leaf.ca_path_len()?.is_some() {
        return Err(VerifyError::CertificateChain {
            reason: format!(
                "the leaf \"{}\" is a CA certificate",
                leaf.subject_summary()
            ),
        });
    }
    if let Some(usage) = leaf.key_usage()?
        && usage & 1 == 0
    {
        return Err(VerifyError::CertificateChain {
            reason: "the leaf's key usage does not include digitalSignature".into(),
        });
    }
    let wanted = match purpose {
        Purpose::CodeSigning => oids::KP_CODE_SIGNING,
        Purpose::TimeStamping => oids::KP_TIME_STAMPING,
    };
    let purposes = leaf.extended_key_usage()?.unwrap_or_default();
    if !purposes.iter().any(|p| p == wanted) {
        return Err(VerifyError::CertificateChain {
            reason: format!(
                "the leaf's extended key usage does not allow {}",
                match purpose {
                    Purpose::CodeSigning => "code signing",
                    Purpose::TimeStamping => "time stamping",
                }
            ),
        });
    }
    if purpose == Purpose::TimeStamping {
        // RFC 3161 section 2.3: the TSA's certificate has exactly this one purpose, critical.
        let critical = leaf
            .extension(oids::EXT_KEY_USAGE)
            .is_some_and(|e| e.critical);
        if purposes.len() != 1 || !critical {
            return Err(VerifyError::CertificateChain {
                reason: "a TSA certificate must have timeStamping as its only, critical, extended key usage".into(),
            });
        }
    }
    Ok(())
}

fn check_issuer(issuer: &Certificate, below: usize) -> Result<(), VerifyError> {
    check_critical(issuer, &[UNDERSTOOD, &[oids::NAME_CONSTRAINTS]].concat())?;
    let Some(path_len) = issuer.ca_path_len()? else {
        return Err(VerifyError::CertificateChain {
            reason: format!(
                "\"{}\" signs certificates but is not a CA",
                issuer.subject_summary()
            ),
        });
    };
    if let Some(limit) = path_len
        && below as u64 > limit
    {
        return Err(VerifyError::CertificateChain {
            reason: format!(
                "\"{}\" allows {limit} intermediate(s) below it, the path has {below}",
                issuer.subject_summary()
            ),
        });
    }
    if let Some(usage) = issuer.key_usage()?
        && usage & (1 << 5) == 0
    {
        return Err(VerifyError::CertificateChain {
            reason: format!(
                "\"{}\" key usage does not include keyCertSign",
                issuer.subject_summary()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fulcio_oids_encode_57264() {
        assert_eq!(
            Oid(oids::FULCIO_ISSUER_V2).to_string(),
            "1.3.6.1.4.1.57264.1.8"
        );
        assert_eq!(
            Oid(oids::FULCIO_ISSUER_V1).to_string(),
            "1.3.6.1.4.1.57264.1.1"
        );
        assert_eq!(Oid(oids::SCT_LIST).to_string(), "1.3.6.1.4.1.11129.2.4.2");
        assert_eq!(Oid(oids::KP_TIME_STAMPING).to_string(), "1.3.6.1.5.5.7.3.8");
    }
}
