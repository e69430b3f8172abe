//! The enricher on the real broker: reference file → topic → enriched output; reference changes
//! taking effect without restart; customer-only events keyed through bindings; bindings
//! restored after `kill -9` and across a second instance joining and leaving.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use schemas::touchpoint::{Channel, PartnerStatus, ResolvedBy, SourceWatermark};
use schemas::{DeadLetter, EnrichedTouchpoint, EventKind, ValidTouchpoint};
use tests::{
    binary, consume, consume_until, free_port, http_get, metric, payload, produce,
    publish_reference, require_broker, scrape, service_env, unique_namespace, ServiceProcess,
};

const REFERENCE: &str = include_str!("../fixtures/enricher_reference.toml");

fn touchpoint(event_id: &str, kind: EventKind) -> ValidTouchpoint {
    let at = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
    ValidTouchpoint::new(event_id, kind, at)
}

/// Encoded and keyed as ingest does: customer id, else visitor id.
fn message(tp: &ValidTouchpoint) -> (Option<Vec<u8>>, Vec<u8>) {
    let key = tp.customer_id.as_ref().or(tp.visitor_id.as_ref());
    (
        key.map(|k| k.as_bytes().to_vec()),
        schemas::encode(tp).expect("encodes"),
    )
}

/// The enriched touchpoints among `messages` (the topic also carries the enricher's source
/// watermarks between them).
fn touchpoints(
    messages: &[rdkafka::message::OwnedMessage],
) -> impl Iterator<Item = EnrichedTouchpoint> + '_ {
    messages
        .iter()
        .map(payload)
        .filter(|p| !schemas::codec::is::<SourceWatermark>(p))
        .map(|p| schemas::decode(p).expect("enriched decodes"))
}

fn by_event(
    messages: &[rdkafka::message::OwnedMessage],
) -> HashMap<String, Vec<EnrichedTouchpoint>> {
    let mut out: HashMap<String, Vec<EnrichedTouchpoint>> = HashMap::new();
    for e in touchpoints(messages) {
        out.entry(e.touchpoint.event_id.clone())
            .or_default()
            .push(e);
    }
    out
}

/// Reads the enriched topic until `expected` touchpoints arrived (or `deadline`).
fn consume_enriched(
    topic: &str,
    expected: usize,
    deadline: Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    consume_until(topic, deadline, |read| {
        touchpoints(read).count() >= expected
    })
    .expect("consume enriched")
}

async fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_file_to_enriched_output_and_changes_apply_without_restart() {
    require_broker();
    let ns = unique_namespace("enrich");
    let env = service_env(&ns, &[("BATCH_LINGER_MS", "20")]);
    let config = tests::enricher_config(&env);
    let topics = config.common.topics.clone();
    let summary = publish_reference(&env, REFERENCE).await.expect("publish");
    assert_eq!(summary.added, 7);

    let registry = prometheus::Registry::new();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let service = tokio::spawn(enricher::app::run(
        config,
        registry.clone(),
        shutdown.clone(),
    ));
    wait_for("reference loaded", Duration::from_secs(60), || {
        metric(
            &registry,
            "enricher_reference_entities",
            Some(("entity", "program")),
        ) >= 2.0
    })
    .await;

    let mut click = touchpoint("click-1", EventKind::Click);
    click.visitor_id = Some("v-1".into());
    click.url =
        Some("https://WWW.Acme-Outdoor.com/tents?REF=trail-1&utm_source=podcast&gclid=Cj0".into());
    click.referrer = Some("https://www.google.de/".into());
    let mut newsletter = touchpoint("pv-news", EventKind::PageView);
    newsletter.visitor_id = Some("v-2".into());
    newsletter.url = Some(
        "https://shop.acme-outdoor.de/?utm_source=newsletter&utm_medium=email&utm_campaign=may"
            .into(),
    );
    let mut unknown_link = touchpoint("click-unknown", EventKind::Click);
    unknown_link.visitor_id = Some("v-3".into());
    unknown_link.url = Some("https://acme-outdoor.com/".into());
    unknown_link.link_id = Some("no-such-link".into());
    let mut idn = touchpoint("pv-idn", EventKind::PageView);
    idn.visitor_id = Some("v-4".into());
    idn.url = Some("https://xn--bcher-acme-9db.example/?via=p-anna".into());
    let mut foreign = touchpoint("pv-foreign", EventKind::PageView);
    foreign.visitor_id = Some("v-5".into());
    foreign.url = Some("https://evil.example/".into());
    let mut lead = touchpoint("lead-c1", EventKind::Lead);
    lead.visitor_id = Some("v-lead".into());
    lead.customer_id = Some("c-1".into());
    lead.url = Some("https://acme-outdoor.com/signup".into());
    let mut renewal = touchpoint("conv-c1-2", EventKind::Conversion);
    renewal.customer_id = Some("c-1".into());
    renewal.order_id = Some("o-2".into());
    renewal.amount_minor = Some(4_900);
    renewal.currency = Some("EUR".into());
    renewal.code = Some("NEWCODE".into());
    let mut orphan_refund = touchpoint("refund-c9", EventKind::Refund);
    orphan_refund.customer_id = Some("c-9".into());
    orphan_refund.order_id = Some("o-9".into());
    let first: Vec<_> = [
        &click,
        &newsletter,
        &unknown_link,
        &idn,
        &foreign,
        &lead,
        &renewal,
        &orphan_refund,
    ]
    .into_iter()
    .map(message)
    .collect();
    produce(&topics.touchpoints_valid, &first)
        .await
        .expect("produce");

    let out = by_event(&consume_enriched(
        &topics.touchpoints_enriched,
        6,
        Duration::from_secs(60),
    ));
    let dlq = consume(&topics.touchpoints_dlq, 2, Duration::from_secs(30)).expect("dlq");
    let one = |id: &str| {
        out.get(id)
            .and_then(|v| v.first())
            .unwrap_or_else(|| panic!("{id} enriched"))
    };

    let c = one("click-1");
    assert_eq!(
        (c.program_id.as_str(), c.attribution_key.as_str()),
        ("acme", "acme/v-1")
    );
    assert_eq!(c.landing_domain.as_deref(), Some("acme-outdoor.com"));
    assert_eq!(c.partner.partner_id.as_deref(), Some("p-trail"));
    assert_eq!(c.partner.resolved_by, ResolvedBy::QueryParameter);
    assert_eq!(c.partner.shared_id.as_deref(), Some("ep-41"));
    assert_eq!(c.utm.source.as_deref(), Some("podcast"));
    assert_eq!(
        c.utm.campaign.as_deref(),
        Some("spring"),
        "the link's campaign fills utm_campaign"
    );
    assert_eq!(c.channel, Channel::Paid, "gclid makes it paid");
    assert_eq!(c.ad_click_ids[0].parameter, "gclid");

    let n = one("pv-news");
    assert_eq!(n.channel, Channel::Email);
    assert_eq!(n.partner.resolved_by, ResolvedBy::None);
    assert_eq!(n.partner.unresolved_reason, None);
    assert_eq!(
        one("click-unknown").partner.unresolved_reason.as_deref(),
        Some("unknown_link")
    );
    let i = one("pv-idn");
    assert_eq!(
        i.program_id, "acme",
        "punycode host matches the Unicode domain of the file"
    );
    assert_eq!(i.partner.partner_id.as_deref(), Some("p-anna"));
    assert_eq!(one("lead-c1").attribution_key, "acme/v-lead");
    let r = one("conv-c1-2");
    assert_eq!(
        r.attribution_key, "acme/v-lead",
        "customer-only conversion keyed to the lead's visitor"
    );
    assert_eq!(r.partner.unresolved_reason.as_deref(), Some("unknown_code"));

    let reasons: Vec<String> = dlq
        .iter()
        .map(|m| {
            schemas::decode::<DeadLetter>(payload(m))
                .expect("dead letter")
                .reason
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons.contains(&"unknown_domain".to_string()),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"no_program".to_string()), "{reasons:?}");

    // A new code and a suspended partner, published while the enricher runs.
    let applied = metric(&registry, "enricher_reference_records_applied_total", None);
    let changed = REFERENCE
        .replace(
            "[[rules]]",
            "[[codes]]\ncode = \"newcode\"\npartner = \"p-anna\"\nprogram = \"acme\"\n\n[[rules]]",
        )
        .replacen(
            "status = \"verified\"\ntier = \"gold\"",
            "status = \"suspended\"\ntier = \"gold\"",
            1,
        );
    let summary = publish_reference(&env, &changed).await.expect("republish");
    assert_eq!((summary.added, summary.changed), (1, 1));
    wait_for("the change applied", Duration::from_secs(30), || {
        metric(&registry, "enricher_reference_records_applied_total", None) >= applied + 2.0
    })
    .await;
    let mut again = renewal.clone();
    again.event_id = "conv-c1-3".into();
    let mut click2 = click.clone();
    click2.event_id = "click-2".into();
    produce(
        &topics.touchpoints_valid,
        &[message(&again), message(&click2)],
    )
    .await
    .expect("produce");
    let out = by_event(&consume_enriched(
        &topics.touchpoints_enriched,
        8,
        Duration::from_secs(60),
    ));
    let a = &out["conv-c1-3"][0];
    assert_eq!(
        a.partner.partner_id.as_deref(),
        Some("p-anna"),
        "the new code resolves"
    );
    assert_eq!(a.partner.resolved_by, ResolvedBy::Code);
    assert_eq!(
        out["click-2"][0].partner.partner_status,
        Some(PartnerStatus::Suspended)
    );

    // Every input is accounted for.
    let consumed = metric(&registry, "enricher_consumed_total", None);
    let enriched = metric(&registry, "enricher_enriched_total", None);
    let dead = metric(&registry, "enricher_dead_lettered_total", None);
    assert_eq!(consumed, 10.0);
    assert_eq!(enriched + dead, consumed);
    assert_eq!(
        metric(
            &registry,
            "enricher_identity_total",
            Some(("source", "binding"))
        ),
        2.0
    );

    shutdown.cancel();
    service.await.expect("joins").expect("clean stop");
}

/// Customers: a lead binds `c-i` to `v-i`; later customer-only conversions must be keyed
/// `acme/v-i` whichever process restored the bindings.
fn leads(customers: usize) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    (0..customers)
        .map(|i| {
            let mut lead = touchpoint(&format!("lead-{i}"), EventKind::Lead);
            lead.visitor_id = Some(format!("v-{i}"));
            lead.customer_id = Some(format!("c-{i}"));
            lead.url = Some("https://acme-outdoor.com/signup".into());
            message(&lead)
        })
        .collect()
}

fn conversions(round: &str, customers: usize) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    (0..customers)
        .map(|i| {
            let mut conv = touchpoint(&format!("conv-{round}-{i}"), EventKind::Conversion);
            conv.customer_id = Some(format!("c-{i}"));
            conv.order_id = Some(format!("o-{round}-{i}"));
            conv.amount_minor = Some(1_000);
            conv.currency = Some("EUR".into());
            message(&conv)
        })
        .collect()
}

/// Waits until every event of `round` was enriched, then checks each is keyed to its
/// customer's visitor and that re-emitted copies are identical (apart from `enriched_at`).
fn check_round(topic: &str, round: &str, customers: usize) {
    let prefix = format!("conv-{round}-");
    let mut seen = std::collections::HashSet::new();
    let mut folded = 0;
    let all = consume_until(topic, Duration::from_secs(180), |read| {
        for e in touchpoints(&read[folded..]) {
            if e.touchpoint.event_id.starts_with(&prefix) {
                seen.insert(e.touchpoint.event_id);
            }
        }
        folded = read.len();
        seen.len() >= customers
    })
    .expect("consume");
    assert_eq!(
        seen.len(),
        customers,
        "round {round}: every conversion enriched"
    );
    for (id, copies) in by_event(&all) {
        let Some(i) = id.strip_prefix(&prefix) else {
            continue;
        };
        let first = &copies[0];
        assert_eq!(
            first.attribution_key,
            format!("acme/v-{i}"),
            "{id} keyed through its binding"
        );
        for copy in &copies[1..] {
            let mut copy = copy.clone();
            copy.enriched_at = first.enriched_at;
            assert_eq!(&copy, first, "{id}: a re-emitted copy is identical");
        }
    }
}

fn start(env: &HashMap<String, String>, port: u16) -> ServiceProcess {
    let mut env = env.clone();
    env.insert("ADMIN_LISTEN_ADDR".into(), format!("127.0.0.1:{port}"));
    ServiceProcess::start(&binary("enricher"), &[], &env).expect("start enricher")
}

async fn metrics_of(port: u16, name: &str, at_least: f64) -> f64 {
    let started = Instant::now();
    loop {
        let value = scrape(&http_get(port, "/metrics"), name);
        if value >= at_least || started.elapsed() > Duration::from_secs(60) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_are_restored_after_kill_and_across_a_second_instance_joining_and_leaving() {
    require_broker();
    let ns = unique_namespace("bindings");
    let env = service_env(
        &ns,
        &[
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
            ("BATCH_LINGER_MS", "20"),
        ],
    );
    let topics = tests::enricher_config(&env).common.topics;
    tests::create_topics(&[&topics.touchpoints_valid])
        .await
        .expect("topics");
    publish_reference(&env, REFERENCE).await.expect("publish");
    const CUSTOMERS: usize = 300;

    // Bindings made, committed, then the process is killed.
    produce(&topics.touchpoints_valid, &leads(CUSTOMERS))
        .await
        .expect("leads");
    let port_a = free_port();
    let mut a = start(&env, port_a);
    assert_eq!(
        metrics_of(port_a, "enricher_bindings_created_total", CUSTOMERS as f64).await,
        CUSTOMERS as f64
    );
    tokio::time::sleep(Duration::from_secs(2)).await; // past the 1 s auto-commit
    a.kill_hard();

    // Restart after the session timeout (tansu evicts dead members only then): the
    // customer-only conversions need the bindings restored from the changelog.
    tokio::time::sleep(Duration::from_secs(7)).await;
    produce(&topics.touchpoints_valid, &conversions("r1", CUSTOMERS))
        .await
        .expect("r1");
    let mut a = start(&env, port_a);
    check_round(&topics.touchpoints_enriched, "r1", CUSTOMERS);
    assert!(
        metrics_of(port_a, "enricher_restore_seconds_count", 3.0).await >= 3.0,
        "all three partitions restored"
    );

    // A second instance joins: partitions are split, each side restores its own.
    let port_b = free_port();
    let mut b = start(&env, port_b);
    assert!(scrape(&http_get(port_b, "/metrics"), "enricher_consumed_total") == 0.0);
    tokio::time::sleep(Duration::from_secs(8)).await; // rebalance
    produce(&topics.touchpoints_valid, &conversions("r2", CUSTOMERS))
        .await
        .expect("r2");
    check_round(&topics.touchpoints_enriched, "r2", CUSTOMERS);
    let b_consumed = metrics_of(port_b, "enricher_consumed_total", 1.0).await;
    assert!(b_consumed >= 1.0, "the second instance took partitions");
    assert!(b_consumed < CUSTOMERS as f64, "and only some of them");

    // It leaves: the first takes everything back and restores it again.
    let status = b.terminate(Duration::from_secs(30)).expect("stop b");
    assert!(status.success(), "{status}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    produce(&topics.touchpoints_valid, &conversions("r3", CUSTOMERS))
        .await
        .expect("r3");
    check_round(&topics.touchpoints_enriched, "r3", CUSTOMERS);
    let status = a.terminate(Duration::from_secs(30)).expect("stop a");
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_bindings_in_flight_keeps_every_customer_only_conversion_keyed() {
    require_broker();
    let ns = unique_namespace("bindings-k9");
    // Small batches: many checkpoints, so the kill lands between binding writes.
    let env = service_env(
        &ns,
        &[
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
            ("BATCH_MESSAGES_MAX", "40"),
            ("BATCH_LINGER_MS", "5"),
        ],
    );
    let topics = tests::enricher_config(&env).common.topics;
    tests::create_topics(&[&topics.touchpoints_valid])
        .await
        .expect("topics");
    publish_reference(&env, REFERENCE).await.expect("publish");
    const CUSTOMERS: usize = 4_000;
    // Each customer's lead, then (later in the same partition) a customer-only conversion.
    let mut messages = leads(CUSTOMERS);
    messages.extend(conversions("k9", CUSTOMERS));
    produce(&topics.touchpoints_valid, &messages)
        .await
        .expect("produce");
    let port = free_port();
    let mut first = start(&env, port);
    let made = metrics_of(
        port,
        "enricher_bindings_created_total",
        CUSTOMERS as f64 / 4.0,
    )
    .await;
    first.kill_hard();
    assert!(
        made < CUSTOMERS as f64,
        "killed mid-stream: {made} of {CUSTOMERS} bindings made"
    );
    tokio::time::sleep(Duration::from_secs(7)).await; // tansu evicts the dead member
    let mut second = start(&env, port);
    check_round(&topics.touchpoints_enriched, "k9", CUSTOMERS);
    let restored = metrics_of(port, "enricher_restore_records_total", 1.0).await;
    assert!(
        restored >= 1.0,
        "the restart restored bindings from the changelog"
    );
    println!("killed after {made} bindings; the restart read {restored} changelog records");
    let status = second.terminate(Duration::from_secs(30)).expect("stop");
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_a_large_restore_and_liveness_holds_through_it() {
    require_broker();
    let ns = unique_namespace("bindings-ready");
    let env = service_env(&ns, &[("KAFKA_SESSION_TIMEOUT_MS", "6000")]);
    let topics = tests::enricher_config(&env).common.topics;
    tests::create_topics(&[&topics.touchpoints_valid, &topics.identity_bindings])
        .await
        .expect("topics");
    publish_reference(&env, REFERENCE).await.expect("publish");
    // A large state: 300,000 bindings on the changelog (100,000 per partition).
    const BINDINGS: usize = 300_000;
    let at = chrono::Utc::now();
    let records: Vec<(i32, Vec<u8>, Vec<u8>)> = (0..BINDINGS)
        .map(|i| {
            let b = schemas::IdentityBinding {
                customer_id: format!("c-{i}"),
                program_id: "acme".into(),
                visitor_id: format!("v-{i}"),
                source_partition: (i % 3) as i32,
                source_offset: -1,
                event_id: format!("lead-{i}"),
                bound_at: at,
            };
            let encoded = schemas::encode(&b).expect("encodes");
            ((i % 3) as i32, b.customer_id.into_bytes(), encoded)
        })
        .collect();
    tests::produce_to_partitions(&topics.identity_bindings, &records)
        .await
        .expect("changelog");
    let port = free_port();
    let mut enricher = start(&env, port);
    let started = Instant::now();
    let (mut unready_while_restoring, mut live_throughout) = (0, true);
    let ready_at = loop {
        let status = tests::http_status(port, "/_readiness");
        let metrics = http_get(port, "/metrics");
        let restores = scrape(&metrics, "enricher_restore_seconds_count");
        let read = scrape(&metrics, "enricher_restore_records_total");
        if status == 503 && read > 0.0 && restores < 3.0 {
            unready_while_restoring += 1;
        }
        if status != 0 && tests::http_status(port, "/_liveness") != 200 {
            live_throughout = false;
        }
        if status == 200 {
            // At least once each: a rebalance while restoring (a loaded machine delays the
            // group's heartbeats) restores every partition again before readiness.
            assert!(
                restores >= 3.0,
                "ready only once every partition is restored: {restores} restores"
            );
            assert!(read >= BINDINGS as f64, "{read} records read before ready");
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(180), "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("ready after {ready_at:?}; {unready_while_restoring} probes answered 503 during the restore");
    assert!(
        unready_while_restoring >= 3,
        "503 seen while restoring: {unready_while_restoring}"
    );
    assert!(
        live_throughout,
        "liveness stayed green while the restore made progress"
    );
    // The restored bindings are used: a customer-only conversion reaches its visitor.
    produce(&topics.touchpoints_valid, &conversions("ready", 5))
        .await
        .expect("conversions");
    let all = consume_until(
        &topics.touchpoints_enriched,
        Duration::from_secs(60),
        |read| read.len() >= 5,
    )
    .expect("enriched");
    for (id, copies) in by_event(&all) {
        let i = id.trim_start_matches("conv-ready-");
        assert_eq!(copies[0].attribution_key, format!("acme/v-{i}"));
    }
    let status = enricher.terminate(Duration::from_secs(30)).expect("stop");
    assert!(status.success(), "{status}");
}
