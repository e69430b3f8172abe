//! Reference data on the real broker with REFERENCE_PUBLISHER_KEYS set: records signed by the
//! publisher apply; an unsigned record, one signed with another key, one altered after signing
//! and a raw tombstone are skipped and counted; a removal is a signed `deleted` record.

use std::time::{Duration, Instant};

use reference::{spawn_follower, ReferenceMetrics};
use runtime::health::Health;
use tests::pipeline::REFERENCE;
use tests::{metric, produce, publish_reference, require_broker, service_env, unique_namespace};
use tokio_util::sync::CancellationToken;

/// A key nobody configured (base64 of 32 bytes 0x01…0x20).
const FORGER_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

fn wait(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_records_signed_by_a_configured_publisher_change_the_catalogue() {
    require_broker();
    let ns = unique_namespace("refsign");
    let env = service_env(&ns, &[]);
    publish_reference(&env, REFERENCE)
        .await
        .expect("signed publish");
    let mut reader = runtime::Env::from_map(env.clone());
    let common = runtime::CommonConfig::from_env(&mut reader, "test", "127.0.0.1:0");
    assert_eq!(common.reference_publishers.principals(), vec!["platform"]);
    let registry = prometheus::Registry::new();
    let metrics = ReferenceMetrics::register("refsign", &registry).expect("metrics");
    let health = Health::default();
    let shutdown = CancellationToken::new();
    let (data, follower) = spawn_follower(
        &common.kafka,
        "refsign",
        &common.topics.reference_config,
        metrics,
        health.register("reference", Duration::from_secs(30)),
        common.reference_publishers.clone(),
        shutdown.clone(),
    )
    .expect("follower");
    wait("the signed catalogue", || {
        data.is_loaded()
            && data.read().counts().partners == 56
            && data.read().counts().programs == 2
    });
    let loaded = data.read().counts();
    assert_eq!((loaded.programs, loaded.partners), (2, 56));
    let hold = data
        .read()
        .program("sandals-eu")
        .expect("program")
        .hold_seconds;
    let rejected = || metric(&registry, "refsign_reference_records_rejected_total", None);
    assert_eq!(rejected(), 0.0);

    // A forger with write access to the topic: a program that pays at once, three ways, and a
    // tombstone that would remove a partner.
    let set = reference::parse(REFERENCE).expect("valid");
    let records = set.records(chrono::Utc::now(), "forged");
    let (key, program) = records
        .iter()
        .find(|(k, _)| k == "program/sandals-eu")
        .expect("program record")
        .clone();
    let mut forged = program.clone();
    if let Some(p) = forged.program.as_mut() {
        p.hold_seconds = 0;
    }
    let unsigned = forged.clone();
    let mut wrong_key = forged.clone();
    reference::signing::sign(
        &mut wrong_key,
        "platform",
        &runtime::secret::decode_base64(FORGER_KEY).expect("base64"),
    );
    let mut altered = program.clone();
    reference::signing::sign(
        &mut altered,
        "platform",
        &runtime::secret::decode_base64(tests::TEST_PUBLISHER_KEY).expect("base64"),
    );
    if let Some(p) = altered.program.as_mut() {
        p.hold_seconds = 0;
    }
    let topic = &common.topics.reference_config;
    let mut messages: Vec<(Option<Vec<u8>>, Vec<u8>)> = Vec::new();
    for r in [&unsigned, &wrong_key, &altered] {
        messages.push((
            Some(key.clone().into_bytes()),
            schemas::encode(r).expect("encode"),
        ));
    }
    produce(topic, &messages)
        .await
        .expect("forged records produced");
    tests::produce_tombstone(topic, "partner/p-dealshub")
        .await
        .expect("tombstone produced");
    wait("four rejections", || rejected() >= 4.0);
    assert_eq!(rejected(), 4.0);
    assert_eq!(
        data.read()
            .program("sandals-eu")
            .expect("program")
            .hold_seconds,
        hold,
        "no forged record applied"
    );
    assert!(
        data.read().partner("p-dealshub").is_some(),
        "the raw tombstone removed nothing"
    );

    // The publisher renames a code: the old one goes by a signed `deleted` record, which
    // applies.
    assert!(data.read().code("DEALS15").is_some());
    let renamed: String = REFERENCE.replacen("code = \"DEALS15\"", "code = \"DEALS16\"", 1);
    publish_reference(&env, &renamed)
        .await
        .expect("signed publish");
    wait("the signed removal", || {
        data.read().code("DEALS15").is_none()
    });
    assert!(data.read().code("DEALS16").is_some());
    assert_eq!(rejected(), 4.0, "the publisher's own records all apply");
    shutdown.cancel();
    follower
        .join()
        .expect("joins")
        .expect("follower ended cleanly");
}
