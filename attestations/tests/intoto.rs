//! in-toto Statements against the in-toto/attestation Go test vectors and real statements
//! (tests/data/in-toto-attestation/README.md).
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

use vouch_attestations::AttestationError;
use vouch_attestations::intoto::{
    DEFAULT_MAX_STATEMENT_SIZE, ResourceDescriptor, STATEMENT_V0_1, STATEMENT_V1, Statement,
    StatementVersion,
};
use vouch_keys::{Digest, DigestAlgorithm};

fn data(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/tests/data/in-toto-attestation/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The files and upstream expectations of validation/EXPECTED.tsv under `prefix`.
fn expected(prefix: &str) -> Vec<(String, String)> {
    String::from_utf8(data("validation/EXPECTED.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut columns = line.split('\t');
            let file = columns.next()?.strip_prefix(prefix)?;
            Some((file.to_owned(), columns.next()?.to_owned()))
        })
        .collect()
}

fn unwrap_err_matches(
    file: &str,
    result: Result<impl std::fmt::Debug, AttestationError>,
    check: fn(&AttestationError) -> bool,
) {
    match result {
        Err(error) => assert!(check(&error), "{file}: unexpected error {error:?}"),
        Ok(value) => panic!("{file}: accepted {value:?}"),
    }
}

#[test]
fn statement_validation_vectors() {
    let cases = expected("statement/");
    assert_eq!(cases.len(), 11, "EXPECTED.tsv changed: review the table");
    for (file, upstream) in cases {
        let result = Statement::from_slice(&data(&format!("validation/statement/{file}")));
        match file.as_str() {
            "valid_statement_v1.json" | "type_version_v1.json" | "type_version_v0.1.json" => {
                assert!(
                    upstream.starts_with("VALID") || upstream.starts_with("PARSES"),
                    "{file}"
                );
                let statement = result.unwrap_or_else(|e| panic!("{file}: {e}"));
                let version = if file.contains("v0.1") {
                    StatementVersion::V0_1
                } else {
                    StatementVersion::V1
                };
                assert_eq!(statement.version(), version);
                assert_eq!(statement.subject_names().collect::<Vec<_>>(), ["theSub"]);
                // "alg1" is not an algorithm digest_set.md defines: kept as written.
                assert_eq!(statement.subjects()[0].digest()["alg1"], "abc123");
                assert_eq!(statement.predicate_type(), "thePredicate");
                assert_eq!(
                    statement.predicate(),
                    Some(&serde_json::json!({"keyObj": {"subKey": "subVal"}}))
                );
            }
            "bad_type_not-in-toto.json" | "type_version_v2.json" | "type_version_v0.2.json" => {
                assert_eq!(upstream, "ErrInvalidStatementType");
                unwrap_err_matches(&file, result, |e| {
                    matches!(e, AttestationError::StatementType { .. })
                });
            }
            "no_subjects.json" => {
                assert_eq!(upstream, "ErrSubjectRequired");
                assert_eq!(result, Err(AttestationError::NoSubject));
            }
            // Upstream reports ErrRDRequiredField (the subject has only downloadLocation);
            // vouch applies the Statement rule first (every subject needs a digest). Both
            // refuse the statement.
            "subject_missing_RD_required_field.json" => {
                assert_eq!(upstream, "ErrRDRequiredField");
                assert_eq!(
                    result,
                    Err(AttestationError::SubjectWithoutDigest { index: 0 })
                );
            }
            "subject_missing_Statement_requirement_on_digest.json" => {
                assert_eq!(upstream, "ErrDigestRequired");
                assert_eq!(
                    result,
                    Err(AttestationError::SubjectWithoutDigest { index: 0 })
                );
            }
            "missing_predicate_type.json" => {
                assert_eq!(upstream, "ErrPredicateTypeRequired");
                assert_eq!(result, Err(AttestationError::NoPredicateType));
            }
            // DIVERGES from upstream's Go Validate() (ErrPredicateRequired): statement.md
            // (v1.1) says `predicate` is optional and "unset is treated the same as
            // set-but-empty", so vouch reads it, with no predicate. A policy that needs
            // predicate content fails on its own when there is none.
            "missing_predicate.json" => {
                assert_eq!(upstream, "ErrPredicateRequired");
                let statement = result.unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(statement.predicate(), None);
            }
            other => panic!("no expectation for {other}"),
        }
    }
}

#[test]
fn resource_descriptor_validation_vectors() {
    let cases = expected("resource_descriptor/");
    assert_eq!(cases.len(), 8, "EXPECTED.tsv changed: review the table");
    for (file, upstream) in cases {
        let result = ResourceDescriptor::from_slice(&data(&format!(
            "validation/resource_descriptor/{file}"
        )));
        match file.as_str() {
            "wantFullRd.json" => {
                let rd = result.unwrap();
                assert_eq!(rd.name(), Some("theName"));
                assert_eq!(rd.uri(), Some("https://example.com"));
                assert_eq!(rd.digest()["alg1"], "abc123");
                assert_eq!(rd.content(), Some(&b"bytescontent"[..]));
                assert_eq!(rd.download_location(), Some("https://example.com/test.zip"));
                assert_eq!(rd.media_type(), Some("theMediaType"));
                assert_eq!(
                    rd.annotations()["a1"],
                    serde_json::json!({"keyNum": 13, "keyStr": "value1"})
                );
                assert_eq!(rd.annotations().len(), 2);
            }
            "supportedRdDigest.json" | "gitCommitSha1Rd.json" | "gitCommitSha256Rd.json" => {
                assert_eq!(upstream, "VALID");
                result.unwrap_or_else(|e| panic!("{file}: {e}"));
            }
            // No uri, digest or content: resource_descriptor.md's minimum. (Upstream's Go
            // code counts `name` instead of `content`; this vector has neither.)
            "badRd.json" => {
                assert_eq!(upstream, "ErrRDRequiredField");
                assert_eq!(result, Err(AttestationError::EmptyResourceDescriptor));
            }
            "badRdDigestEncoding.json" => {
                assert_eq!(upstream, "ErrInvalidDigestEncoding");
                assert_eq!(
                    result.unwrap_err().to_string(),
                    r#"digest sha256 "badDigest": not lowercase hex"#
                );
            }
            "badRdDigestLength.json" => {
                assert_eq!(upstream, "ErrIncorrectDigestLength");
                assert_eq!(
                    result.unwrap_err().to_string(),
                    r#"digest sha256 "abc123": 6 hex digits, sha256 has 64"#
                );
            }
            "badGitCommitLengthRd.json" => {
                assert_eq!(upstream, "ErrIncorrectDigestLength");
                assert_eq!(
                    result.unwrap_err().to_string(),
                    r#"digest gitCommit "abc123": 6 hex digits, gitCommit has 40 or 64"#
                );
            }
            other => panic!("no expectation for {other}"),
        }
    }
}

#[test]
fn real_statements_parse_and_match_their_subjects() {
    let index = String::from_utf8(data("real-statements/INDEX.tsv")).unwrap();
    let mut count = 0;
    for line in index.lines().skip(1) {
        let columns: Vec<&str> = line.split('\t').collect();
        let (file, type_uri, predicate_type) = (columns[0], columns[1], columns[2]);
        let statement = Statement::from_slice(&data(&format!("real-statements/{file}")))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(statement.version().type_uri(), type_uri, "{file}");
        assert_eq!(statement.predicate_type(), predicate_type, "{file}");
        assert!(statement.predicate().is_some(), "{file}");
        assert!(statement.subject_names().count() >= 1, "{file}");

        // Every sha256/sha512 subject digest matches; a different digest does not.
        for subject in statement.subjects() {
            for (algorithm, hex) in subject.digest() {
                if let Ok(digest) = format!("{algorithm}:{hex}").parse::<Digest>() {
                    assert!(statement.matches_digest(&digest), "{file}");
                }
            }
        }
        assert!(!statement.matches_digest(&Digest::sha256(b"something else")));
        count += 1;
    }
    assert_eq!(count, 13);

    // npm statements name the tarball by sha512 only: a sha256 of the same hex length
    // cannot be asked for, and the sha512 matches.
    let npm =
        Statement::from_slice(&data("real-statements/npm-publish-v0.1_gundam-visor.json")).unwrap();
    let sha512: Digest = "sha512:8d9d7972f676516c75014aa074e11ae604d98f0b64ec6725a61e2838ff3dab162118fa71433fb31e1550d30bd0dec9d086ce032b94457b583900c507acf39c40".parse().unwrap();
    assert_eq!(sha512.algorithm(), DigestAlgorithm::Sha512);
    assert!(npm.matches_digest(&sha512));
    assert_eq!(
        npm.subject_names().collect::<Vec<_>>(),
        ["pkg:npm/gundam-visor@1.0.1"]
    );

    // The VSA names its subject "_" with a free-form "gce_image_id" digest: nothing vouch
    // computes can match it.
    let vsa = Statement::from_slice(&data("real-statements/vsa-v1_gke.json")).unwrap();
    assert_eq!(
        vsa.subjects()[0].digest()["gce_image_id"],
        "8970095005306000053"
    );
    assert_eq!(vsa.subject_names().collect::<Vec<_>>(), ["_"]);
}

fn statement_text(subject_digest: &str, predicate: &str) -> String {
    format!(
        r#"{{"_type":"{STATEMENT_V1}","subject":[{{"name":"a","digest":{{{subject_digest}}}}}],"predicateType":"https://example.com/P/v1","predicate":{predicate}}}"#
    )
}

#[test]
fn documents_over_the_limit_are_refused_before_parsing() {
    let digest = format!(r#""sha256":"{}""#, "a".repeat(64));
    let empty = statement_text(&digest, r#""""#);
    // A string predicate padded so that the document is exactly the limit: accepted.
    let padding = DEFAULT_MAX_STATEMENT_SIZE - empty.len();
    let at_limit = statement_text(&digest, &format!(r#""{}""#, "x".repeat(padding)));
    assert_eq!(at_limit.len(), DEFAULT_MAX_STATEMENT_SIZE);
    assert!(Statement::from_slice(at_limit.as_bytes()).is_ok());

    // One byte more: refused, whatever the content (here, not even JSON).
    let mut over = at_limit.into_bytes();
    over.push(b'!');
    assert_eq!(
        Statement::from_slice(&over),
        Err(AttestationError::TooLarge {
            format: "in-toto statement",
            size: DEFAULT_MAX_STATEMENT_SIZE + 1,
            limit: DEFAULT_MAX_STATEMENT_SIZE,
        })
    );

    // A caller's own limit.
    assert!(matches!(
        Statement::from_slice_with_limit(empty.as_bytes(), 100),
        Err(AttestationError::TooLarge { limit: 100, .. })
    ));
    assert!(Statement::from_slice_with_limit(empty.as_bytes(), empty.len()).is_ok());
}

#[test]
fn strict_reading_refuses_what_could_be_read_two_ways() {
    let hex = "a".repeat(64);
    let good = statement_text(&format!(r#""sha256":"{hex}""#), "{}");
    assert!(Statement::from_slice(good.as_bytes()).is_ok());
    for (bad, expected) in [
        // Two values for one digest: which one was attested?
        (
            statement_text(
                &format!(r#""sha256":"{hex}","sha256":"{}""#, "b".repeat(64)),
                "{}",
            ),
            "duplicate key \"sha256\"",
        ),
        (
            statement_text(
                &format!(r#""sha256":"{hex}""#),
                r#"{"a":{"b":[{"c":1,"c":1}]}}"#,
            ),
            "duplicate key \"c\"",
        ),
        (
            good.replace(
                r#""predicateType":"#,
                r#""predicateType":"x","predicateType":"#,
            ),
            "duplicate key \"predicateType\"",
        ),
        (
            statement_text(&format!(r#""sha256":"{}""#, hex.to_uppercase()), "{}"),
            "not lowercase hex",
        ),
        (statement_text(r#""sha256":"abc""#, "{}"), "3 hex digits"),
        (statement_text(r#""sha512":"abc""#, "{}"), "3 hex digits"),
        (
            statement_text(&format!(r#""sha256":"{hex}""#), "{}").replace(
                r#""predicateType":"https://example.com/P/v1""#,
                r#""predicateType":5"#,
            ),
            "predicateType is a number",
        ),
        (
            good.replace(STATEMENT_V1, "https://in-toto.io/Statement/v1 "),
            "_type is",
        ),
        (
            good.replace(STATEMENT_V1, "HTTPS://in-toto.io/Statement/v1"),
            "_type is",
        ),
        (format!("{good}{good}"), "trailing characters"),
        ("[]".to_owned(), "the document is an array"),
        // Nesting is bounded (serde_json's limit of 128): an error, not a stack overflow.
        (
            statement_text(
                &format!(r#""sha256":"{hex}""#),
                &format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
            ),
            "recursion limit exceeded",
        ),
    ] {
        let error = Statement::from_slice(bad.as_bytes()).unwrap_err();
        assert!(error.to_string().contains(expected), "{bad}: {error}");
    }
}

#[test]
fn unset_fields_are_read_as_the_spec_says() {
    // No subject, null subject, empty subject list: all "no subject".
    for text in [
        format!(r#"{{"_type":"{STATEMENT_V1}","predicateType":"p"}}"#),
        format!(r#"{{"_type":"{STATEMENT_V1}","subject":null,"predicateType":"p"}}"#),
        format!(r#"{{"_type":"{STATEMENT_V1}","subject":[],"predicateType":"p"}}"#),
    ] {
        assert_eq!(
            Statement::from_slice(text.as_bytes()),
            Err(AttestationError::NoSubject)
        );
    }
    let digest = format!(r#""sha256":"{}""#, "a".repeat(64));
    // An empty digest set is no digest.
    let text = statement_text("", "{}");
    assert_eq!(
        Statement::from_slice(text.as_bytes()),
        Err(AttestationError::SubjectWithoutDigest { index: 0 })
    );
    // predicate null reads as unset; unknown fields are ignored.
    let text = statement_text(&digest, "null").replace(r#""_type""#, r#""extension":[1],"_type""#);
    let statement = Statement::from_slice(text.as_bytes()).unwrap();
    assert_eq!(statement.predicate(), None);
    // Missing _type names the problem.
    let text = statement_text(&digest, "{}").replace(&format!(r#""_type":"{STATEMENT_V1}","#), "");
    assert_eq!(
        Statement::from_slice(text.as_bytes()),
        Err(AttestationError::StatementType {
            found: String::new()
        })
    );
    // A bad digest in the second subject says which subject.
    let text = format!(
        r#"{{"_type":"{STATEMENT_V0_1}","subject":[{{"digest":{{{digest}}}}},{{"digest":{{"sha1":"xyz"}}}}],"predicateType":"p"}}"#
    );
    let error = Statement::from_slice(text.as_bytes()).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"in-toto statement subject 1: digest sha1 "xyz": not lowercase hex"#
    );
}

#[test]
fn matches_digest_compares_the_digest_algorithm_only() {
    let manifest = Digest::sha256(b"manifest");
    let other = Digest::sha256(b"other");
    let sha512 = Digest::compute(DigestAlgorithm::Sha512, b"manifest");
    let statement = Statement::new(
        vec![
            ResourceDescriptor::for_digest("first", &other),
            ResourceDescriptor::for_digest("", &manifest),
        ],
        "https://example.com/P/v1",
        None,
    )
    .unwrap();
    assert!(statement.matches_digest(&manifest));
    assert!(statement.matches_digest(&other));
    assert!(!statement.matches_digest(&sha512));
    assert!(!statement.matches_digest(&Digest::sha256(b"nothing")));
    // The unnamed subject has no name to list.
    assert_eq!(statement.subject_names().collect::<Vec<_>>(), ["first"]);
}

#[test]
fn built_statements_round_trip_and_are_validated() {
    let digest = Digest::sha256(b"artifact");
    let statement = Statement::new(
        vec![ResourceDescriptor::for_digest("artifact.tar", &digest)],
        "https://slsa.dev/provenance/v1",
        Some(serde_json::json!({"buildDefinition": {"buildType": "x"}})),
    )
    .unwrap();
    let text = String::from_utf8(statement.to_vec()).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"artifact.tar","digest":{{"sha256":"{}"}}}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{{"buildDefinition":{{"buildType":"x"}}}}}}"#,
            digest.hex()
        )
    );
    assert_eq!(Statement::from_slice(text.as_bytes()).unwrap(), statement);

    // A valid descriptor without digest is not a valid subject.
    let uri_only = ResourceDescriptor::from_slice(br#"{"uri":"pkg:generic/a"}"#).unwrap();
    assert_eq!(
        Statement::new(vec![uri_only], "p", None),
        Err(AttestationError::SubjectWithoutDigest { index: 0 })
    );
    let subject = vec![ResourceDescriptor::for_digest("a", &digest)];
    assert_eq!(
        Statement::new(Vec::new(), "p", None),
        Err(AttestationError::NoSubject)
    );
    assert_eq!(
        Statement::new(subject, "", None),
        Err(AttestationError::NoPredicateType)
    );
}
