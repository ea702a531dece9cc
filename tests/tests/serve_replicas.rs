//! Two `vouch serve` replicas sharing decisions through one `redis-server`: 200 concurrent
//! manifest requests for 50 signed images, spread over both, are decided with 50 evaluations
//! in total; a blob is served by a replica other than the one that served its manifest;
//! with Redis gone, a replica decides for itself and says so.
#![allow(clippy::unwrap_used)]

use vouch_tests::serve::{RedisServer, Serve, http_request, key_policy, release_scope};
use vouch_tests::{Registry, generate_key, push_image, vouch_with_password};

const IMAGES: usize = 50;
const REQUESTS: usize = 200;

#[test]
fn replicas_sharing_redis_evaluate_each_image_once_and_survive_its_loss() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let upstream = Registry::spawn("");
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    let images: Vec<_> = (0..=IMAGES)
        .map(|i| push_image(&upstream, &format!("app{i}"), "v1"))
        .collect();
    let mut sign = vec!["sign", "--key", key.key.to_str().unwrap()];
    sign.extend(images.iter().map(|i| i.by_digest.as_str()));
    vouch_with_password(&key.password, &sign).expect_code(0);

    let policy = key_policy(
        dir.path(),
        &key,
        &[release_scope("up/**", Some(("up", upstream.addr.as_str())))],
    );
    let upstream_flag = format!("up=http://{}", upstream.addr);
    let start = || {
        Serve::start(&[
            "--policy",
            policy.to_str().unwrap(),
            "--upstream",
            &upstream_flag,
            "--cache",
            &redis.url,
        ])
    };
    let replicas = [start(), start()];
    let addrs: Vec<String> = replicas.iter().map(|r| r.addr.clone()).collect();
    let threads: Vec<_> = (0..REQUESTS)
        .map(|n| {
            let addr = addrs[n % 2].clone();
            std::thread::spawn(move || {
                let path = format!("/v2/up/app{}/manifests/v1", n % IMAGES);
                http_request(&addr, "GET", &path, &[]).status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let total = replicas[0].evaluations() + replicas[1].evaluations();
    assert_eq!(
        total,
        IMAGES as u64,
        "evaluations: {} + {}\n{}\n{}",
        replicas[0].evaluations(),
        replicas[1].evaluations(),
        replicas[0].log(),
        replicas[1].log()
    );

    // A client's requests may reach different replicas: app0's manifest was served by the
    // first only (even request numbers), its blobs are served by the second, through the
    // grant the first shared, without a decision of its own.
    let manifest = http_request(&replicas[0].addr, "GET", "/v2/up/app0/manifests/v1", &[]);
    assert_eq!(manifest.status, 200);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.body).unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap();
    let before = replicas[1].evaluations();
    let blob = http_request(
        &replicas[1].addr,
        "GET",
        &format!("/v2/up/app0/blobs/{config}"),
        &[],
    );
    assert_eq!(blob.status, 200, "{}", blob.text());
    assert_eq!(
        format!("sha256:{}", vouch_tests::sha256_hex(&blob.body)),
        config
    );
    assert_eq!(replicas[1].evaluations(), before);

    // Redis gone: the last image is still decided (here), with a warning, never allowed
    // without a decision.
    drop(redis);
    let answer = http_request(
        &replicas[0].addr,
        "GET",
        &format!("/v2/up/app{IMAGES}/manifests/v1"),
        &[],
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        replicas[0].evaluations() + replicas[1].evaluations(),
        IMAGES as u64 + 1
    );
    assert!(
        replicas[0].log().contains("shared decision cache"),
        "{}",
        replicas[0].log()
    );
}
