//! A click flood on a public referral link against the attributor process: 40,000 forged
//! clicks, each with a fresh visitor id (so each makes a key), after one real journey. With
//! `ATTRIBUTOR_KEYS_PER_PARTITION_MAX` at 1,000 the state stays at the cap, the eviction metric
//! counts the rest, the real order is still attributed, and after `kill -9` the service
//! restores the bounded state and becomes ready (no crash loop).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Duration as Days;
use schemas::touchpoint::ResolvedBy;
use schemas::{Attribution, EventKind};
use tests::attribution::{base_time, enriched, messages, with_partner, REFERENCE};
use tests::bench::rss_mib_of;
use tests::{
    binary, consume_until, free_port, http_get, produce, publish_reference, require_broker, scrape,
    service_env, unique_namespace, ServiceProcess,
};

const CAP: usize = 1_000;
const FLOOD: usize = 40_000;

fn start(env: &HashMap<String, String>, port: u16) -> ServiceProcess {
    let mut env = env.clone();
    env.insert("ADMIN_LISTEN_ADDR".into(), format!("127.0.0.1:{port}"));
    ServiceProcess::start(&binary("attributor"), &[], &env).expect("start attributor")
}

fn wait(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_flood_keeps_state_at_the_cap_and_a_restart_restores_it() {
    require_broker();
    let ns = unique_namespace("flood");
    let cap = CAP.to_string();
    let env = service_env(
        &ns,
        &[
            ("ATTRIBUTOR_KEYS_PER_PARTITION_MAX", cap.as_str()),
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "2"),
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
        ],
    );
    let topics = tests::attribution::attributor_config(&env).common.topics;
    publish_reference(&env, REFERENCE).await.expect("publish");
    tests::create_topics(&[&topics.touchpoints_enriched])
        .await
        .expect("topics");

    // One real journey (a click, then its order), then the flood.
    let t0 = base_time();
    let real = "shop/v-real";
    let mut conversion = enriched(
        "real-order".into(),
        EventKind::Conversion,
        real,
        t0 + Days::hours(1),
    );
    conversion.touchpoint.order_id = Some("o-real".into());
    conversion.touchpoint.amount_minor = Some(10_000);
    conversion.touchpoint.currency = Some("EUR".into());
    let mut events = vec![
        with_partner(
            enriched("real-click".into(), EventKind::Click, real, t0),
            1,
            ResolvedBy::Link,
        ),
        conversion,
    ];
    for n in 0..FLOOD {
        let key = format!("shop/bot-{n}");
        let at = t0 + Days::hours(2) + Days::seconds(n as i64);
        events.push(with_partner(
            enriched(format!("flood-{n}"), EventKind::Click, &key, at),
            2,
            ResolvedBy::Link,
        ));
    }
    produce(&topics.touchpoints_enriched, &messages(&events))
        .await
        .expect("produced");

    let port = free_port();
    let mut service = start(&env, port);
    let metrics = || http_get(port, "/metrics");
    wait("the flood consumed", Duration::from_secs(180), || {
        scrape(&metrics(), "attributor_consumed_total") >= (FLOOD + 2) as f64
    });
    let attributions = consume_until(&topics.attributions, Duration::from_secs(60), |m| {
        !m.is_empty()
    })
    .expect("attributions");
    let real_order: Vec<Attribution> = attributions
        .iter()
        .filter_map(|m| schemas::decode::<Attribution>(tests::payload(m)).ok())
        .filter(|a| a.order_id == "o-real")
        .collect();
    assert_eq!(real_order.len(), 1, "the real order is attributed once");
    assert_eq!(
        real_order[0].credits[0].partner_id, "p-01",
        "to the real partner"
    );

    wait(
        "a checkpoint after the flood",
        Duration::from_secs(30),
        || scrape(&metrics(), "attributor_evicted_keys_total") > 0.0,
    );
    let text = metrics();
    let keys = scrape(&text, "attributor_state_entries{kind=\"keys\"}");
    let evicted = scrape(&text, "attributor_evicted_keys_total");
    let rss = rss_mib_of(&service.id().to_string());
    eprintln!(
        "click flood: {FLOOD} forged keys over 3 partitions, cap {CAP}/partition: {keys} keys held, {evicted} evicted, RSS {rss:.0} MiB"
    );
    assert!(keys <= (3 * CAP) as f64, "{keys} keys held");
    assert!(evicted >= (FLOOD - 3 * CAP) as f64, "{evicted} evicted");
    assert_eq!(scrape(&text, "attributor_state_keys_cap"), CAP as f64);

    // A crash: the restart restores what the changelog says — bounded — and becomes ready.
    service.kill_hard();
    std::thread::sleep(Duration::from_secs(7));
    let port = free_port();
    let mut service = start(&env, port);
    wait("ready after the restart", Duration::from_secs(120), || {
        http_get(port, "/_readiness").trim() == "ready"
    });
    let restored = scrape(
        &http_get(port, "/metrics"),
        "attributor_state_entries{kind=\"keys\"}",
    );
    assert!(
        restored <= (3 * CAP) as f64 + 3.0,
        "{restored} keys restored"
    );
    service
        .terminate(Duration::from_secs(30))
        .expect("clean stop");
}
