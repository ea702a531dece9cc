//! Bytes → the DER and text parsers a bundle's fields go through: `Certificate::from_der`
//! (and, for a certificate that parses, every accessor that reads its extensions),
//! `TimestampToken::from_der` (and the certificates it embeds), and the signed-note and
//! checkpoint parsers on the bytes read as UTF-8. Errors are expected; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_verifier::checkpoint::{Checkpoint, SignedCheckpoint, SignedNote};
use vouch_verifier::identity::{CertificateIdentity, Matcher};
use vouch_verifier::sct::embedded_scts;
use vouch_verifier::time::UnixTime;
use vouch_verifier::tsa::TimestampToken;
use vouch_verifier::x509::Certificate;

/// 1.3.6.1.4.1.11129.2.4.2, the embedded SCT list (RFC 6962 section 3.3).
const SCT_LIST: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];

fn certificate(cert: &Certificate) {
    let _ = cert.subject_alt_names();
    let _ = cert.fulcio_issuer();
    let _ = cert.key_usage();
    let _ = cert.extended_key_usage();
    let _ = cert.ca_path_len();
    let _ = cert.subject_summary();
    let _ = cert.public_key();
    let _ = cert.signature_scheme();
    let _ = cert.valid_at(UnixTime::from_secs(1_767_225_600));
    let _ = cert.is_self_issued();
    let _ = embedded_scts(cert);
    // The SCT list is what verification removes; with none, the TBS comes back unchanged.
    let without_scts = cert.tbs_without_extension(SCT_LIST);
    if cert.extension(SCT_LIST).is_none() {
        assert_eq!(without_scts.ok().as_deref(), Some(cert.tbs_der()));
    }
    for ext in cert.extensions() {
        let _ = cert.tbs_without_extension(&ext.oid);
    }
    let identity = CertificateIdentity {
        subject: Matcher::Exact(String::new()),
        issuer: Matcher::Exact(String::new()),
        claims: Vec::new(),
    };
    let _ = identity.check(cert);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = Certificate::from_der(data) {
        certificate(&cert);
    }
    if let Ok(token) = TimestampToken::from_der(data) {
        for cert in token.certificates() {
            certificate(cert);
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = SignedNote::parse(&text);
    let _ = Checkpoint::parse(&text);
    let _ = SignedCheckpoint::parse(&text);
});
