//! RFC 3161 timestamps: a trusted timestamp authority's signed statement that some bytes (in
//! Sigstore, the artifact signature) existed at a time. With Rekor v2 entries, which carry no
//! integrated time, this is where the signing time comes from.
//!
//! The token is CMS `SignedData` (RFC 5652) whose content is a `TSTInfo`. Verification checks
//! the message imprint, the signed attributes (content type and message digest), the signer's
//! signature, the signer certificate's path to a trusted TSA root at the stamped time with the
//! `timeStamping` purpose, and the authority's validity window in the trusted root.

use vouch_keys::der::{self, INTEGER, OCTET_STRING, OID, Reader, SEQUENCE, SET};
use vouch_keys::{Digest, DigestAlgorithm, PublicKey, SignatureScheme};

use crate::VerifyError;
use crate::time::UnixTime;
use crate::x509::{self, Certificate, Purpose};

/// id-signedData, RFC 5652 section 5.1.
const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// id-ct-TSTInfo, RFC 3161 section 2.4.2.
const TST_INFO: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
];
/// id-contentType attribute, RFC 5652 section 11.1.
const ATTR_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
/// id-messageDigest attribute, RFC 5652 section 11.2.
const ATTR_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
/// rsaEncryption used as a CMS signature algorithm (the hash comes from digestAlgorithm).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey used as a CMS signature algorithm.
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// A `TimeStampReq` (RFC 3161 section 2.4.1) for the bytes whose digest is `imprint`: version
/// 1, the message imprint (the digest's algorithm with NULL parameters, as most authorities
/// expect), `nonce` (big-endian; a leading zero bit is added when needed so that it reads as
/// positive), and `certReq` true, so that the token carries the signing certificate. DER.
pub fn timestamp_request(imprint: &Digest, nonce: &[u8]) -> Vec<u8> {
    let algorithm = match imprint.algorithm() {
        DigestAlgorithm::Sha256 => x509::oids::SHA256,
        DigestAlgorithm::Sha384 => x509::oids::SHA384,
        DigestAlgorithm::Sha512 => x509::oids::SHA512,
    };
    let mut algorithm_identifier = der::tlv(OID, algorithm);
    algorithm_identifier.extend(der::tlv(der::NULL, &[]));
    let mut message_imprint = der::tlv(SEQUENCE, &algorithm_identifier);
    message_imprint.extend(der::tlv(OCTET_STRING, &imprint.to_bytes()));
    let mut body = der::tlv(INTEGER, &[1]);
    body.extend(der::tlv(SEQUENCE, &message_imprint));
    body.extend(der::tlv(INTEGER, &integer_octets(nonce)));
    body.extend(der::tlv(der::BOOLEAN, &[0xff]));
    der::tlv(SEQUENCE, &body)
}

/// The content octets of a non-negative DER INTEGER holding the big-endian `value`: no
/// redundant leading zeros, and one zero added when the top bit is set.
fn integer_octets(value: &[u8]) -> Vec<u8> {
    let significant = value
        .iter()
        .position(|&b| b != 0)
        .map_or(&[0u8][..], |at| &value[at..]);
    let mut out = Vec::with_capacity(significant.len() + 1);
    if significant[0] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(significant);
    out
}

/// Checks that the authority's answer `response` (a DER `TimeStampResp`) grants a timestamp
/// for the request [`timestamp_request`] made of `imprint` and `nonce`: status granted, the
/// same imprint (algorithm and bytes) and the same nonce. The token's signature and chain are
/// not checked here: [`verify_timestamp`] does that against trusted authorities. Returns the
/// token.
pub fn check_response(
    response: &[u8],
    imprint: &Digest,
    nonce: &[u8],
) -> Result<TimestampToken, VerifyError> {
    let token = TimestampToken::from_der(response)?;
    if token.imprint_algorithm != imprint.algorithm() || token.imprint != imprint.to_bytes() {
        return Err(VerifyError::TimestampMismatch {
            reason: format!(
                "the timestamp is over {}, not over {imprint}",
                Digest::from_bytes(token.imprint_algorithm, &token.imprint)
                    .map_or_else(|_| "bytes of another length".to_owned(), |d| d.to_string())
            ),
        });
    }
    if token.nonce.as_deref() != Some(&integer_octets(nonce)[..]) {
        return Err(VerifyError::TimestampMismatch {
            reason: "the timestamp does not echo the request's nonce (a replayed answer?)".into(),
        });
    }
    Ok(token)
}

/// A timestamp authority the caller trusts: its certificate chain (signer first when the
/// trusted root lists it, the root last) and when the trusted root says it may be relied on.
#[derive(Debug, Clone)]
pub struct TimestampAuthority {
    /// The chain from the trusted root, leaf-most first.
    pub chain: Vec<Certificate>,
    /// Start of the authority's validity window (inclusive).
    pub valid_from: UnixTime,
    /// End of the window (inclusive); `None` while the authority is current.
    pub valid_until: Option<UnixTime>,
}

/// A parsed timestamp token, not yet verified.
#[derive(Debug, Clone)]
pub struct TimestampToken {
    /// The time the authority stamped.
    pub gen_time: UnixTime,
    /// The hash algorithm of the message imprint.
    pub imprint_algorithm: DigestAlgorithm,
    /// The imprint: the hash of what was stamped.
    pub imprint: Vec<u8>,
    /// The request's nonce, echoed (the INTEGER's content octets), when the request had one.
    pub nonce: Option<Vec<u8>>,
    tst_info: Vec<u8>,
    certificates: Vec<Certificate>,
    signer: SignerId,
    digest_algorithm: DigestAlgorithm,
    signed_attrs: Option<Vec<u8>>,
    content_type_attr: Option<Vec<u8>>,
    message_digest_attr: Option<Vec<u8>>,
    signature_algorithm: Vec<u8>,
    signature: Vec<u8>,
}

/// How a CMS signer names its certificate (RFC 5652 section 5.3).
#[derive(Debug, Clone)]
enum SignerId {
    IssuerAndSerial { issuer: Vec<u8>, serial: Vec<u8> },
    SubjectKeyId(Vec<u8>),
}

fn malformed(what: &'static str) -> impl Fn(der::DerError) -> VerifyError {
    move |e| VerifyError::TimestampMalformed {
        reason: format!("{what}: {e}"),
    }
}

fn bad(reason: &str) -> VerifyError {
    VerifyError::TimestampMalformed {
        reason: reason.to_owned(),
    }
}

impl TimestampToken {
    /// Reads a `TimeStampResp` (RFC 3161 section 2.4.2, as Sigstore bundles carry it) or a bare
    /// `TimeStampToken` (`ContentInfo`). A response whose status is not granted is refused.
    pub fn from_der(bytes: &[u8]) -> Result<Self, VerifyError> {
        let mut outer = der::parse_single(bytes, SEQUENCE).map_err(malformed("timestamp"))?;
        let content_info = if outer.peek_tag() == Some(SEQUENCE) {
            let mut status = outer.sequence().map_err(malformed("PKIStatusInfo"))?;
            let code = status.small_uint().map_err(malformed("PKIStatus"))?;
            if code > 1 {
                return Err(VerifyError::TimestampMalformed {
                    reason: format!("the authority refused the request (status {code})"),
                });
            }
            let token = outer.sequence().map_err(malformed("timeStampToken"))?;
            if !outer.is_empty() {
                return Err(bad("trailing data after the timestamp token"));
            }
            token
        } else {
            outer
        };
        Self::from_content_info(content_info)
    }

    fn from_content_info(mut content_info: Reader<'_>) -> Result<Self, VerifyError> {
        if content_info.oid().map_err(malformed("contentType"))?.0 != SIGNED_DATA {
            return Err(bad("the token is not CMS SignedData"));
        }
        let explicit = content_info.expect(0xa0).map_err(malformed("content"))?;
        let mut signed = der::parse_single(explicit, SEQUENCE).map_err(malformed("SignedData"))?;
        let version = signed
            .small_uint()
            .map_err(malformed("SignedData version"))?;
        if version != 3 {
            return Err(bad("SignedData version must be 3 for a TSTInfo content"));
        }
        signed.expect(SET).map_err(malformed("digestAlgorithms"))?;
        let mut encap = signed.sequence().map_err(malformed("encapContentInfo"))?;
        if encap.oid().map_err(malformed("eContentType"))?.0 != TST_INFO {
            return Err(bad("the signed content is not a TSTInfo"));
        }
        let e_content = encap.expect(0xa0).map_err(malformed("eContent"))?;
        let tst_info = der::parse_single(e_content, OCTET_STRING)
            .map_err(malformed("eContent"))?
            .remaining();
        let mut certificates = Vec::new();
        if let Some(set) = signed.optional(0xa0).map_err(malformed("certificates"))? {
            let mut set = Reader::new(set);
            while !set.is_empty() {
                let (tag, _, raw) = set.any_raw().map_err(malformed("certificate"))?;
                // Other certificate formats (attribute certificates, [1]..[3]) are skipped.
                if tag == SEQUENCE {
                    certificates.push(Certificate::from_der(raw)?);
                }
            }
        }
        signed.optional(0xa1).map_err(malformed("crls"))?;
        let mut signer_infos = Reader::new(signed.expect(SET).map_err(malformed("signerInfos"))?);
        if !signed.is_empty() {
            return Err(bad("trailing data in SignedData"));
        }
        let mut signer_info = signer_infos.sequence().map_err(malformed("SignerInfo"))?;
        if !signer_infos.is_empty() {
            return Err(bad("a timestamp token must have exactly one signer"));
        }

        signer_info
            .small_uint()
            .map_err(malformed("SignerInfo version"))?;
        let signer = match signer_info.any().map_err(malformed("sid"))? {
            (SEQUENCE, contents) => {
                let mut ias = Reader::new(contents);
                let (tag, _, issuer) = ias.any_raw().map_err(malformed("sid issuer"))?;
                if tag != SEQUENCE {
                    return Err(bad("sid issuer is not a Name"));
                }
                let serial = ias.expect(INTEGER).map_err(malformed("sid serial"))?;
                SignerId::IssuerAndSerial {
                    issuer: issuer.to_vec(),
                    serial: serial.to_vec(),
                }
            }
            (0x80, key_id) => SignerId::SubjectKeyId(key_id.to_vec()),
            _ => return Err(bad("unknown signer identifier")),
        };
        let digest_algorithm = x509::digest_algorithm(
            signer_info
                .expect(SEQUENCE)
                .map_err(malformed("digestAlgorithm"))?,
        )?;
        let mut signed_attrs = None;
        let mut content_type_attr = None;
        let mut message_digest_attr = None;
        if let Some(attrs) = signer_info
            .optional(0xa0)
            .map_err(malformed("signedAttrs"))?
        {
            // The signature covers the attributes encoded as a SET (RFC 5652 section 5.4).
            signed_attrs = Some(der::tlv(SET, attrs));
            let mut attrs = Reader::new(attrs);
            while !attrs.is_empty() {
                let mut attribute = attrs.sequence().map_err(malformed("attribute"))?;
                let kind = attribute.oid().map_err(malformed("attribute type"))?;
                let mut values = Reader::new(
                    attribute
                        .expect(SET)
                        .map_err(malformed("attribute values"))?,
                );
                let (tag, value) = values.any().map_err(malformed("attribute value"))?;
                if !values.is_empty() {
                    return Err(bad("a signed attribute has more than one value"));
                }
                let slot = match kind.0 {
                    ATTR_CONTENT_TYPE if tag == OID => &mut content_type_attr,
                    ATTR_MESSAGE_DIGEST if tag == OCTET_STRING => &mut message_digest_attr,
                    ATTR_CONTENT_TYPE | ATTR_MESSAGE_DIGEST => {
                        return Err(bad("a signed attribute has the wrong type"));
                    }
                    _ => continue,
                };
                if slot.replace(value.to_vec()).is_some() {
                    return Err(bad("a signed attribute appears twice"));
                }
            }
        }
        let (tag, _, signature_algorithm) = signer_info
            .any_raw()
            .map_err(malformed("signatureAlgorithm"))?;
        if tag != SEQUENCE {
            return Err(bad("signatureAlgorithm is not a SEQUENCE"));
        }
        let signature = signer_info
            .expect(OCTET_STRING)
            .map_err(malformed("signature"))?;
        signer_info
            .optional(0xa1)
            .map_err(malformed("unsignedAttrs"))?;
        if !signer_info.is_empty() {
            return Err(bad("trailing data in SignerInfo"));
        }

        let mut info = der::parse_single(tst_info, SEQUENCE).map_err(malformed("TSTInfo"))?;
        if info.small_uint().map_err(malformed("TSTInfo version"))? != 1 {
            return Err(bad("TSTInfo version must be 1"));
        }
        info.oid().map_err(malformed("policy"))?;
        let mut imprint = info.sequence().map_err(malformed("messageImprint"))?;
        let imprint_algorithm = x509::digest_algorithm(
            imprint
                .expect(SEQUENCE)
                .map_err(malformed("messageImprint hashAlgorithm"))?,
        )?;
        let hashed = imprint
            .expect(OCTET_STRING)
            .map_err(malformed("hashedMessage"))?;
        info.expect(INTEGER).map_err(malformed("serialNumber"))?;
        let gen_time = info.expect(0x18).map_err(malformed("genTime"))?;
        let gen_time = UnixTime::parse_generalized_time(gen_time)?;
        info.optional(SEQUENCE).map_err(malformed("accuracy"))?;
        info.optional(der::BOOLEAN).map_err(malformed("ordering"))?;
        let nonce = info.optional(INTEGER).map_err(malformed("nonce"))?;

        Ok(Self {
            gen_time,
            imprint_algorithm,
            imprint: hashed.to_vec(),
            nonce: nonce.map(<[u8]>::to_vec),
            tst_info: tst_info.to_vec(),
            certificates,
            signer,
            digest_algorithm,
            signed_attrs,
            content_type_attr,
            message_digest_attr,
            signature_algorithm: signature_algorithm.to_vec(),
            signature: signature.to_vec(),
        })
    }

    /// The certificates embedded in the token.
    pub fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    fn names(&self, cert: &Certificate) -> bool {
        match &self.signer {
            SignerId::IssuerAndSerial { issuer, serial } => {
                cert.issuer_der() == issuer.as_slice() && cert.serial() == serial.as_slice()
            }
            SignerId::SubjectKeyId(id) => cert
                .extension(x509::oids::SUBJECT_KEY_ID)
                .and_then(|ext| der::parse_single(&ext.value, OCTET_STRING).ok())
                .is_some_and(|ski| ski.remaining() == id.as_slice()),
        }
    }

    fn scheme(&self) -> Result<SignatureScheme, VerifyError> {
        let mut seq = der::parse_single(&self.signature_algorithm, SEQUENCE)
            .map_err(malformed("signatureAlgorithm"))?;
        let oid = seq.oid().map_err(malformed("signatureAlgorithm"))?;
        match oid.0 {
            RSA_ENCRYPTION => Ok(SignatureScheme::RsaPkcs1(self.digest_algorithm)),
            EC_PUBLIC_KEY => Ok(SignatureScheme::Ecdsa(self.digest_algorithm)),
            _ => x509::signature_scheme(&self.signature_algorithm),
        }
    }

    /// Checks the CMS signature with `key`: over the signed attributes when present (whose
    /// message digest must then be the hash of the TSTInfo), else over the TSTInfo itself.
    fn verify_signature(&self, key: &PublicKey) -> Result<(), VerifyError> {
        let scheme = self.scheme()?;
        let message = match &self.signed_attrs {
            Some(attrs) => {
                if self.content_type_attr.as_deref() != Some(TST_INFO) {
                    return Err(bad("the signed content-type attribute is not TSTInfo"));
                }
                let expected = Digest::compute(self.digest_algorithm, &self.tst_info).to_bytes();
                if self.message_digest_attr.as_deref() != Some(expected.as_slice()) {
                    return Err(VerifyError::TimestampSignature {
                        reason: "the signed message-digest attribute does not match the TSTInfo"
                            .into(),
                    });
                }
                attrs.as_slice()
            }
            None => self.tst_info.as_slice(),
        };
        key.verify_scheme(scheme, message, &self.signature)
            .map_err(|e| VerifyError::TimestampSignature {
                reason: e.to_string(),
            })
    }
}

/// Verifies `token` as a timestamp over `stamped` (the bytes whose hash is the message
/// imprint) by one of `authorities`, and returns the stamped time.
///
/// The signer certificate is taken from the token when embedded, else it is the leaf of the
/// authority's trusted chain; either way it must have signed the token and chain to that
/// authority's root at the stamped time, and the time must lie in the authority's window.
pub fn verify_timestamp(
    token: &TimestampToken,
    stamped: &[u8],
    authorities: &[TimestampAuthority],
) -> Result<UnixTime, VerifyError> {
    let imprint = Digest::compute(token.imprint_algorithm, stamped).to_bytes();
    if imprint != token.imprint {
        return Err(VerifyError::TimestampImprint);
    }
    if authorities.is_empty() {
        return Err(VerifyError::TimestampUntrusted {
            reason: "the trusted root lists no timestamp authority".into(),
        });
    }
    let mut reasons = Vec::new();
    for authority in authorities {
        match verify_with(token, authority) {
            Ok(()) => return Ok(token.gen_time),
            Err(e) => reasons.push(e),
        }
    }
    // One authority's reason is the precise one; several are summarised.
    if reasons.len() == 1 {
        return Err(reasons.remove(0));
    }
    Err(VerifyError::TimestampUntrusted {
        reason: reasons
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    })
}

fn verify_with(token: &TimestampToken, authority: &TimestampAuthority) -> Result<(), VerifyError> {
    let time = token.gen_time;
    // Candidates: embedded certificates naming the signer, then the trusted chain's own.
    let signer = token
        .certificates
        .iter()
        .chain(authority.chain.iter())
        .find(|cert| token.names(cert))
        .ok_or_else(|| VerifyError::TimestampUntrusted {
            reason: "no certificate of this authority matches the token's signer".into(),
        })?;
    let key = signer.public_key()?;
    token.verify_signature(&key)?;
    x509::verify_path(signer, &authority.chain, time, Purpose::TimeStamping).map_err(|e| {
        VerifyError::TimestampUntrusted {
            reason: format!("the signer does not chain to a trusted authority: {e}"),
        }
    })?;
    let in_window =
        authority.valid_from <= time && authority.valid_until.is_none_or(|end| time <= end);
    if !in_window {
        return Err(VerifyError::TimestampOutsideAuthorityValidity {
            time,
            valid_from: authority.valid_from,
            valid_until: authority.valid_until,
        });
    }
    Ok(())
}
