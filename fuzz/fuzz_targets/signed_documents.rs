//! Bytes → every reader of a signed document or service answer vouch parses from untrusted
//! input: cosign's simple-signing payload, a DSSE envelope and the in-toto statement inside,
//! SLSA provenance from that statement, a Sigstore bundle, a Rekor v1 log answer, an OCI
//! manifest or index, and a Rego policy (parsed). The first byte picks the reader, the rest is its
//! input. Errors are expected; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_attestations::bundle::Bundle;
use vouch_attestations::dsse::Envelope;
use vouch_attestations::intoto::Statement;
use vouch_attestations::rekor::parse_entry_answer;
use vouch_attestations::simple_signing::SimpleSigning;
use vouch_attestations::slsa::AnyProvenance;
use vouch_keys::Digest;
use vouch_registry::manifest::FetchedManifest;
use vouch_verifier::rego::RegoPolicy;

/// The media types a manifest may be declared with.
const MANIFEST_TYPES: [&str; 5] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/octet-stream",
];

fn statement(bytes: &[u8]) {
    if let Ok(statement) = Statement::from_slice(bytes) {
        let _ = statement.predicate_type();
        let _ = statement.matches_digest(&Digest::sha256(b"image"));
        let _ = AnyProvenance::from_statement(&statement).map(|p| {
            let _ = (
                p.builder_id().len(),
                p.build_type().len(),
                p.source().is_some(),
            );
            p.to_value()
        });
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => {
            if let Ok(payload) = SimpleSigning::from_slice(input) {
                let _ = payload.digest();
                let _ = payload.docker_reference();
                let _ = payload.optional().count();
            }
        }
        1 => {
            if let Ok(envelope) = Envelope::from_slice(input) {
                let _ = envelope.to_vec();
                let _ = Statement::from_envelope(&envelope);
            }
        }
        2 => statement(input),
        3 => {
            if let Ok(bundle) = Bundle::from_json(input) {
                // What is read is written back the same.
                let again = Bundle::from_json(&bundle.to_json());
                assert_eq!(again.as_ref(), Ok(&bundle), "a bundle does not round-trip");
            }
        }
        4 => {
            let _ = parse_entry_answer(input);
        }
        5 => {
            let media_type = MANIFEST_TYPES[usize::from(input.first().copied().unwrap_or(0)) % 5];
            let fetched = FetchedManifest {
                digest: Digest::sha256(input),
                media_type: media_type.to_owned(),
                bytes: input.to_vec(),
            };
            if let Ok(manifest) = fetched.parse() {
                let _ = format!("{manifest:?}");
            }
        }
        6 => {
            if let Ok(text) = std::str::from_utf8(input) {
                // Parsed only: evaluating a policy runs what its author wrote (a policy file is
                // the operator's, not an attacker's), and Rego can loop for as long as asked.
                let _ = RegoPolicy::parse("fuzz.rego", text);
            }
        }
        _ => statement(&[b"{\"_type\":\"https://in-toto.io/Statement/v1\",", input].concat()),
    }
});
