//! The attributor on the real broker: conversions join touchpoints that arrived before them
//! with keys over several partitions; `kill -9` mid-stream and a restart give the same
//! attributions; of two instances, the survivor of a `kill -9` restores the dead one's
//! partitions and the output is the same as a single uninterrupted run.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use schemas::attribution::AttributionOutcome;
use schemas::Attribution;
use tests::attribution::{
    attributor_config, catalog, commission_ids, distinct, messages, single_run, workload, REFERENCE,
};
use tests::{
    binary, consume, consume_until, free_port, http_get, metric, produce, publish_reference,
    require_broker, scrape, service_env, unique_namespace, ServiceProcess,
};

async fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversions_join_earlier_touchpoints_across_partitions() {
    require_broker();
    let ns = unique_namespace("attrib");
    let env = service_env(
        &ns,
        &[
            ("BATCH_LINGER_MS", "20"),
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "2"),
        ],
    );
    let config = attributor_config(&env);
    let topics = config.common.topics.clone();
    publish_reference(&env, REFERENCE).await.expect("publish");
    tests::create_topics(&[&topics.touchpoints_enriched])
        .await
        .expect("topics");
    let events = workload(400, 0, 7);
    let mut input = messages(&events);
    input.push((Some(b"shop/v-bad".to_vec()), b"not avro".to_vec()));
    produce(&topics.touchpoints_enriched, &input)
        .await
        .expect("produce");

    let registry = prometheus::Registry::new();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let service = tokio::spawn(attributor::app::run(
        config,
        registry.clone(),
        shutdown.clone(),
    ));
    let enriched = consume(
        &topics.touchpoints_enriched,
        input.len(),
        Duration::from_secs(60),
    )
    .expect("read input back");
    let expected = single_run(&enriched, &catalog());
    let out = consume(
        &topics.attributions,
        expected.len(),
        Duration::from_secs(120),
    )
    .expect("attributions");
    let got = distinct(&out).expect("copies identical");
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "the service's output is the single-run output"
    );
    let partitions: std::collections::HashSet<i32> = out.iter().map(|m| m.partition()).collect();
    assert_eq!(partitions.len(), 3, "keys spread over every partition");

    // Checked by hand-computable rules, not by the attributor's own code: a shop (last
    // touch) conversion without a code credits the partner of its visitor's last click.
    let by_key: HashMap<String, Vec<&schemas::EnrichedTouchpoint>> =
        events.iter().fold(HashMap::new(), |mut map, e| {
            map.entry(e.attribution_key.clone()).or_default().push(e);
            map
        });
    let mut checked = 0;
    for bytes in got.values() {
        let a: Attribution = schemas::decode(bytes).expect("decodes");
        let total: i64 = a.credits.iter().map(|c| c.commission_minor).sum();
        assert_eq!(total, a.commission_total_minor, "{}", a.attribution_id);
        if a.program_id != "shop" || a.chain_seq.is_some_and(|s| s > 1) || a.amount_minor < 0 {
            continue;
        }
        let history = &by_key[&a.attribution_key];
        let buy = history
            .iter()
            .find(|e| e.touchpoint.event_id == a.event_id)
            .expect("conversion in input");
        if buy.partner.partner_id.is_some() {
            continue;
        }
        let last = history.iter().rfind(|e| {
            e.partner.partner_id.is_some()
                && e.touchpoint.occurred_at <= a.occurred_at
                && e.partner.partner_id.as_deref() != Some("p-19")
                && (e.touchpoint.kind == schemas::EventKind::Click
                    || a.occurred_at - e.touchpoint.occurred_at <= chrono::Duration::hours(24))
        });
        match last {
            Some(tp) => {
                assert_eq!(
                    a.outcome,
                    AttributionOutcome::Attributed,
                    "{}",
                    a.attribution_id
                );
                assert_eq!(a.credits.len(), 1);
                assert_eq!(
                    a.credits[0].partner_id,
                    tp.partner.partner_id.clone().unwrap()
                );
                assert_eq!(a.evidence[0].touchpoint_id, tp.touchpoint.event_id);
            }
            None => assert_eq!(a.outcome, AttributionOutcome::Unattributed),
        }
        checked += 1;
    }
    assert!(
        checked > 30,
        "checked {checked} shop conversions by hand rules"
    );

    // Every input is accounted for.
    wait_for("metrics", Duration::from_secs(30), || {
        metric(&registry, "attributor_consumed_total", None) >= input.len() as f64
    })
    .await;
    assert_eq!(
        metric(
            &registry,
            "attributor_dead_lettered_total",
            Some(("reason", "undecodable"))
        ),
        1.0
    );
    let copies = events
        .iter()
        .filter(|e| e.touchpoint.event_id.ends_with("-buy-copy"))
        .count();
    assert!(copies > 0, "the workload has duplicate conversions");
    assert_eq!(
        metric(&registry, "attributor_duplicates_total", None),
        copies as f64
    );
    assert_eq!(
        metric(&registry, "attributor_attributions_total", None),
        expected.len() as f64
    );
    shutdown.cancel();
    service.await.expect("joined").expect("clean shutdown");
}

fn start(env: &HashMap<String, String>, port: u16) -> ServiceProcess {
    let mut env = env.clone();
    env.insert("ADMIN_LISTEN_ADDR".into(), format!("127.0.0.1:{port}"));
    ServiceProcess::start(&binary("attributor"), &[], &env).expect("start attributor")
}

fn consumed(port: u16) -> f64 {
    scrape(&http_get(port, "/metrics"), "attributor_consumed_total")
}

/// Publishes the reference data and creates the input topic.
async fn setup(env: &HashMap<String, String>) -> runtime::settings::Topics {
    let topics = attributor_config(env).common.topics;
    publish_reference(env, REFERENCE).await.expect("publish");
    tests::create_topics(&[&topics.touchpoints_enriched])
        .await
        .expect("topics");
    topics
}

/// Produces the workload; returns its size.
async fn produce_workload(topics: &runtime::settings::Topics, visitors: usize) -> usize {
    let input = messages(&workload(visitors, 2, 11));
    produce(&topics.touchpoints_enriched, &input)
        .await
        .expect("produce");
    input.len()
}

/// The single-run output for the input topic as read back (with partitions and offsets).
fn expected_output(topics: &runtime::settings::Topics, total: usize) -> BTreeMap<String, Vec<u8>> {
    let enriched =
        consume(&topics.touchpoints_enriched, total, Duration::from_secs(60)).expect("read back");
    assert_eq!(enriched.len(), total);
    single_run(&enriched, &catalog())
}

fn restores(port: u16) -> f64 {
    scrape(
        &http_get(port, "/metrics"),
        "attributor_restore_seconds_count",
    )
}

fn check_output(topic: &str, expected: &BTreeMap<String, Vec<u8>>) {
    let mut got = BTreeMap::new();
    let out = consume_until(topic, Duration::from_secs(180), |seen| {
        if seen.len() < expected.len() {
            return false;
        }
        got = distinct(seen).expect("copies of one attribution are identical");
        got.len() >= expected.len()
    })
    .expect("attributions");
    let got = distinct(&out).expect("copies of one attribution are identical");
    assert_eq!(got.len(), expected.len(), "every attribution, once");
    assert!(
        &got == expected,
        "same attributions as a single uninterrupted run"
    );
    let commissions = commission_ids(&got).expect("no commission id twice");
    assert!(commissions > 100, "{commissions} commissions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_and_restart_gives_the_same_attributions() {
    require_broker();
    let ns = unique_namespace("attrib-kill");
    let env = service_env(
        &ns,
        &[
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
            ("BATCH_MESSAGES_MAX", "200"),
            ("BATCH_LINGER_MS", "20"),
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "3"),
        ],
    );
    let topics = setup(&env).await;
    let total = produce_workload(&topics, 3_000).await;
    let port = free_port();
    let mut a = start(&env, port);
    wait_for("a third consumed", Duration::from_secs(120), || {
        consumed(port) >= total as f64 / 3.0
    })
    .await;
    a.kill_hard();
    // tansu evicts a dead member only after its session timeout.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mut a = start(&env, port);
    check_output(&topics.attributions, &expected_output(&topics, total));
    let replayed = scrape(&http_get(port, "/metrics"), "attributor_replayed_total");
    eprintln!("after restart: replayed {replayed} inputs already in the changelog");
    let status = a.terminate(Duration::from_secs(30)).expect("stop");
    assert!(status.success(), "{status}");
}

/// Joins the group and leaves it again: on tansu a dead member is only evicted when someone
/// joins after its session expired (LOCAL-STACK.md); a real broker does this by itself.
fn nudge_group(group: &str, topic: &str) {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", tests::bootstrap_servers())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        drop(consumer.poll(Duration::from_millis(200)));
        if consumer.assignment().is_ok_and(|a| a.count() > 0) {
            break;
        }
    }
    consumer.unsubscribe();
    drop(consumer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_survivor_of_two_instances_restores_the_dead_ones_partitions() {
    require_broker();
    let ns = unique_namespace("attrib-two");
    let env = service_env(
        &ns,
        &[
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
            ("BATCH_MESSAGES_MAX", "100"),
            ("BATCH_LINGER_MS", "20"),
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "3"),
        ],
    );
    let config = attributor_config(&env);
    let topics = setup(&env).await;
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = start(&env, port_a);
    wait_for("a assigned", Duration::from_secs(120), || {
        restores(port_a) >= 1.0
    })
    .await;
    let mut b = start(&env, port_b);
    // Input only once the group is split, so both instances work mid-stream.
    wait_for("b assigned", Duration::from_secs(120), || {
        restores(port_b) >= 1.0
    })
    .await;
    let total = produce_workload(&topics, 3_000).await;
    wait_for("both consuming", Duration::from_secs(120), || {
        consumed(port_a) > 0.0 && consumed(port_b) > 0.0
    })
    .await;
    wait_for("some progress", Duration::from_secs(120), || {
        consumed(port_a) + consumed(port_b) >= total as f64 / 4.0
    })
    .await;
    b.kill_hard();
    tokio::time::sleep(Duration::from_secs(7)).await;
    nudge_group(&config.group_id, &config.common.topics.touchpoints_enriched);
    check_output(&topics.attributions, &expected_output(&topics, total));
    let restores = scrape(
        &http_get(port_a, "/metrics"),
        "attributor_restore_seconds_count",
    );
    assert!(
        restores >= 3.0,
        "the survivor restored b's partitions too ({restores} restores)"
    );
    let status = a.terminate(Duration::from_secs(30)).expect("stop");
    assert!(status.success(), "{status}");
}
