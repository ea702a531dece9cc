//! `vouch verify A B C`: every image gets its result, in order, whatever happens to the
//! others, and the exit code is the worst of them (0 verified < 1 denied < 2 input error < 3
//! registry error).
#![allow(clippy::unwrap_used)]

use vouch_tests::{Registry, generate_key, push_image, unique, vouch, vouch_with_password};

#[test]
fn every_image_gets_its_result_and_the_exit_code_is_the_worst() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let public = key.public.to_str().unwrap();
    let signed = push_image(&registry, &unique("signed"), "v1");
    let unsigned = push_image(&registry, &unique("unsigned"), "v1");
    let missing = format!("{}/{}:v1", registry.addr, unique("missing"));
    let sign = ["sign", "--key", key.key.to_str().unwrap(), &signed.tagged];
    vouch_with_password(&key.password, &sign).expect_code(0);

    let run = vouch(&[
        "verify",
        "--key",
        public,
        &signed.tagged,
        &unsigned.tagged,
        &missing,
    ])
    .expect_code(2);
    assert!(run.stdout.contains("Verified "), "{run:#?}");
    assert!(run.stdout.contains("DENIED "), "{run:#?}");
    assert!(
        run.stderr.contains("not found") || run.stderr.contains("unknown"),
        "{run:#?}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");

    let run = vouch(&[
        "verify",
        "--key",
        public,
        "-o",
        "json",
        &missing,
        &signed.tagged,
        &unsigned.tagged,
    ])
    .expect_code(2);
    let results = run.json();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 3, "{run:#?}");
    assert_eq!(results[0]["image"], missing.as_str());
    assert_eq!(results[0]["verified"], false);
    assert_eq!(results[0]["exit_code"], 2);
    assert!(
        results[0]["error"].as_str().unwrap().contains("missing"),
        "{run:#?}"
    );
    assert_eq!(results[1]["verified"], true, "{run:#?}");
    assert_eq!(results[2]["verified"], false, "{run:#?}");

    // Without the missing one: denied is the worst.
    vouch(&["verify", "--key", public, &signed.tagged, &unsigned.tagged]).expect_code(1);
    vouch(&["verify", "--key", public, &signed.tagged, &signed.tagged]).expect_code(0);
}

#[test]
fn a_registry_without_the_referrers_api_is_asked_once() {
    // distribution 2.8 answers the referrers API with 404, which the distribution spec
    // forbids a registry that has the API: one 404 is enough for every image after it.
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    // More images than are decided at once (8): one asks, the others wait for its answer.
    let images: Vec<_> = (0..10)
        .map(|_| push_image(&registry, &unique("no-referrers-api"), "v1"))
        .collect();
    let mut sign = vec!["sign", "--key", key.key.to_str().unwrap()];
    sign.extend(images.iter().map(|i| i.tagged.as_str()));
    vouch_with_password(&key.password, &sign).expect_code(0);
    let mut verify = vec!["-v", "verify", "--key", key.public.to_str().unwrap()];
    verify.extend(images.iter().map(|i| i.tagged.as_str()));
    let run = vouch(&verify).expect_code(0);
    let asked = run
        .stderr
        .lines()
        .filter(|l| l.contains("/referrers/sha256:") && l.contains(" -> 404"))
        .count();
    // Up to 8 images are decided at once; the first to ask holds the others until the 404.
    assert_eq!(asked, 1, "{asked} referrers requests: {}", run.stderr);
    // The tag schema is still read for each image.
    let tag_schema = run
        .stderr
        .lines()
        .filter(|l| l.contains("/manifests/sha256-") && !l.contains(".sig"))
        .count();
    assert!(tag_schema >= images.len(), "{}", run.stderr);
}
