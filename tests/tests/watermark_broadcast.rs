//! Watermarks that reach every partition, on the real broker with the real enricher and
//! attributor: each source partition's journeys are one visitor's, so every source sends its
//! touchpoints to one enriched partition and nothing to the others. With the enricher's
//! broadcast every attributor partition still hears every source: a conversion is attributed
//! as soon as every source's event time has passed its grace, with 4 and with 6 partitions,
//! and the held-back gauge shows a lagging source. Without the broadcast (the control) the
//! same input attributes only where every source's traffic happens to meet. And live traffic
//! (event time = now) that leaves sources quiet is attributed once its grace has passed,
//! because the enricher says quiet live sources are idle.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rdkafka::message::Message;
use schemas::attribution::AttributionOutcome;
use schemas::touchpoint::SourceWatermark;
use schemas::{Attribution, EnrichedTouchpoint, EventKind, ValidTouchpoint};
use tests::attribution::attributor_config;
use tests::{
    consume_until, metric, payload, produce_to_partitions, publish_reference, require_broker,
    service_env, unique_namespace,
};

const REFERENCE: &str = r#"
[[programs]]
id = "acme"
brand = "Acme"
domains = ["acme.example"]
currency = "EUR"
[programs.attribution]
grace_seconds = 300

[[partners]]
id = "p-trail"
name = "Trail Talk"
status = "verified"

[[links]]
id = "trail-1"
partner = "p-trail"
program = "acme"

[[rules]]
id = "acme-default"
program = "acme"
percent = "8"
"#;

/// Event time of the journeys: in the past, like a backfill.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// Source `s`'s visitor's touchpoint, written to source partition `s` as ingest would.
fn event(s: i32, id: &str, kind: EventKind, minute: i64) -> (i32, Vec<u8>, Vec<u8>) {
    event_at(s, id, kind, at(minute))
}

/// The same at `when`.
fn event_at(s: i32, id: &str, kind: EventKind, when: DateTime<Utc>) -> (i32, Vec<u8>, Vec<u8>) {
    let minute = (when - at(0)).num_minutes();
    let mut tp = ValidTouchpoint::new(format!("{id}-{s}"), kind, when);
    let visitor = format!("v-{s}");
    tp.visitor_id = Some(visitor.clone());
    tp.url = Some(match kind {
        EventKind::Click => "https://acme.example/?ref=trail-1".to_string(),
        _ => format!("https://acme.example/page-{minute}"),
    });
    if kind == EventKind::Conversion {
        tp.order_id = Some(format!("o-{s}"));
        tp.amount_minor = Some(10_000);
        tp.currency = Some("EUR".into());
    }
    (
        s,
        visitor.into_bytes(),
        schemas::encode(&tp).expect("encodes"),
    )
}

async fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What one run saw.
struct Run {
    /// Attributions after the first phase (every source short of the grace).
    early: usize,
    /// The held-back gauge after the first phase, in seconds.
    held_back: f64,
    /// Attributed conversions, by order, after the second phase.
    attributed: BTreeMap<String, String>,
    /// Conversions whose enriched partition received touchpoints of every source.
    met_every_source: usize,
}

/// The enricher and the attributor running in this process on `env`, once both have loaded
/// the reference.
struct Pair {
    topics: runtime::settings::Topics,
    enricher_metrics: prometheus::Registry,
    attributor_metrics: prometheus::Registry,
    shutdown: tokio_util::sync::CancellationToken,
    enricher: tokio::task::JoinHandle<Result<(), runtime::RuntimeError>>,
    attributor: tokio::task::JoinHandle<Result<(), runtime::RuntimeError>>,
}

impl Pair {
    async fn start(env: &std::collections::HashMap<String, String>) -> Pair {
        let enricher_config = tests::enricher_config(env);
        let topics = enricher_config.common.topics.clone();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let enricher_metrics = prometheus::Registry::new();
        let attributor_metrics = prometheus::Registry::new();
        let enricher = tokio::spawn(enricher::app::run(
            enricher_config,
            enricher_metrics.clone(),
            shutdown.clone(),
        ));
        let attributor = tokio::spawn(attributor::app::run(
            attributor_config(env),
            attributor_metrics.clone(),
            shutdown.clone(),
        ));
        wait_for(
            "both services loaded the reference",
            Duration::from_secs(60),
            || {
                metric(
                    &enricher_metrics,
                    "enricher_reference_entities",
                    Some(("entity", "program")),
                ) >= 1.0
                    && metric(
                        &attributor_metrics,
                        "attributor_reference_entities",
                        Some(("entity", "program")),
                    ) >= 1.0
            },
        )
        .await;
        Pair {
            topics,
            enricher_metrics,
            attributor_metrics,
            shutdown,
            enricher,
            attributor,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.enricher.await.expect("join").expect("enricher");
        self.attributor.await.expect("join").expect("attributor");
    }
}

/// Runs the enricher and the attributor over `partitions` partitions: phase 1 gives each
/// source a click at minute 0, its conversion at 1 and views up to minute 5 (source 0 stops at
/// 2), short of the grace (5 minutes: due at 6); phase 2 moves every source to minute 7.
async fn run(partitions: i32, broadcast: bool) -> Run {
    let ns = unique_namespace(&format!("wm{partitions}{}", u8::from(broadcast)));
    let env = service_env(
        &ns,
        &[
            ("KAFKA_TOPIC_PARTITIONS", &partitions.to_string()),
            ("BATCH_LINGER_MS", "20"),
            // Only watermarks move the clocks here: no wall-clock stand-in, no idle sources.
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "0"),
            ("ATTRIBUTOR_SOURCE_IDLE_INPUTS", "100000"),
            (
                "ENRICHER_WATERMARK_INTERVAL_MS",
                if broadcast { "100" } else { "0" },
            ),
        ],
    );
    publish_reference(&env, REFERENCE).await.expect("publish");
    let pair = Pair::start(&env).await;
    let (topics, enricher_metrics, attributor_metrics) = (
        &pair.topics,
        &pair.enricher_metrics,
        &pair.attributor_metrics,
    );

    let mut first = Vec::new();
    for s in 0..partitions {
        first.push(event(s, "click", EventKind::Click, 0));
        first.push(event(s, "conv", EventKind::Conversion, 1));
        let last = if s == 0 { 2 } else { 5 };
        for minute in 2..=last {
            first.push(event(s, "pv", EventKind::PageView, minute));
        }
    }
    produce_to_partitions(&topics.touchpoints_valid, &first)
        .await
        .expect("phase 1");
    let consumed = |n: usize| {
        let enriched = enricher_metrics;
        let attributor = attributor_metrics;
        move || {
            metric(enriched, "enricher_consumed_total", None) >= n as f64
                && metric(attributor, "attributor_consumed_total", None) >= n as f64
        }
    };
    wait_for(
        "phase 1 enriched and read",
        Duration::from_secs(60),
        consumed(first.len()),
    )
    .await;
    // The broadcast of the last progress goes out within its interval (or at the enricher's
    // next idle tick, a second): give it time to arrive everywhere.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let attributions = |registry: &prometheus::Registry| {
        metric(
            registry,
            "attributor_attributions_total",
            Some(("outcome", "attributed")),
        ) + metric(
            registry,
            "attributor_attributions_total",
            Some(("outcome", "unattributed")),
        )
    };
    let early = attributions(attributor_metrics) as usize;
    let held_back = metric(
        attributor_metrics,
        "attributor_watermark_held_back_seconds",
        None,
    );

    let second: Vec<_> = (0..partitions)
        .map(|s| event(s, "pv-late", EventKind::PageView, 7))
        .collect();
    produce_to_partitions(&topics.touchpoints_valid, &second)
        .await
        .expect("phase 2");
    let total = first.len() + second.len();
    wait_for(
        "phase 2 enriched and read",
        Duration::from_secs(60),
        consumed(total),
    )
    .await;
    if broadcast {
        wait_for(
            "every conversion attributed",
            Duration::from_secs(30),
            || attributions(attributor_metrics) >= f64::from(partitions),
        )
        .await;
    } else {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let made = attributions(attributor_metrics) as usize;
    let out = consume_until(&topics.attributions, Duration::from_secs(30), |read| {
        read.len() >= made
    })
    .expect("attributions");
    let attributed: BTreeMap<String, String> = out
        .iter()
        .map(|m| schemas::decode::<Attribution>(payload(m)).expect("attribution"))
        .filter(|a| a.outcome == AttributionOutcome::Attributed)
        .map(|a| {
            let partner = a
                .credits
                .first()
                .map(|c| c.partner_id.clone())
                .unwrap_or_default();
            (a.order_id, partner)
        })
        .collect();

    // Where each source's touchpoints went, from the enriched topic itself.
    let enriched = consume_until(
        &topics.touchpoints_enriched,
        Duration::from_secs(30),
        |read| {
            read.iter()
                .filter(|m| !schemas::codec::is::<SourceWatermark>(payload(m)))
                .count()
                >= total
        },
    )
    .expect("enriched");
    let mut sources_of: BTreeMap<i32, BTreeSet<i32>> = BTreeMap::new();
    let mut conversion_partition = Vec::new();
    for m in &enriched {
        if schemas::codec::is::<SourceWatermark>(payload(m)) {
            continue;
        }
        let e: EnrichedTouchpoint = schemas::decode(payload(m)).expect("enriched");
        let source = e.source.expect("stamped").partition;
        sources_of.entry(m.partition()).or_default().insert(source);
        if e.touchpoint.kind == EventKind::Conversion {
            conversion_partition.push(m.partition());
        }
    }
    let met_every_source = conversion_partition
        .iter()
        .filter(|p| sources_of[p].len() == partitions as usize)
        .count();
    assert!(
        sources_of.len() < partitions as usize
            || sources_of.values().any(|s| s.len() < partitions as usize),
        "some source sends nothing to some enriched partition: {sources_of:?}"
    );

    println!(
        "{partitions} partitions, broadcast {broadcast}: {early} early, held back {held_back} s, {} attributed, {met_every_source} conversions met every source; enriched partitions by sources heard in traffic: {sources_of:?}",
        attributed.len()
    );
    pair.stop().await;
    Run {
        early,
        held_back,
        attributed,
        met_every_source,
    }
}

fn check_broadcast(partitions: i32, run: &Run) {
    assert_eq!(
        run.early, 0,
        "{partitions} partitions: nothing attributed while every source is short of the grace"
    );
    assert_eq!(
        run.held_back, 180.0,
        "{partitions} partitions: source 0 is 3 minutes behind the others, and every partition knows it"
    );
    let expected: BTreeMap<String, String> = (0..partitions)
        .map(|s| (format!("o-{s}"), "p-trail".to_string()))
        .collect();
    assert_eq!(
        run.attributed, expected,
        "{partitions} partitions: every conversion attributed to its click once every source passed the grace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_partition_hears_every_source_with_4_partitions() {
    require_broker();
    let with = run(4, true).await;
    check_broadcast(4, &with);
    // The control: the same input without the broadcast attributes only the conversions whose
    // partition happened to receive traffic of every source.
    let without = run(4, false).await;
    assert_eq!(without.early, 0);
    assert_eq!(
        without.attributed.len(),
        without.met_every_source,
        "without the broadcast a partition waits for the sources it never hears"
    );
    assert!(without.attributed.len() < 4, "{:?}", without.attributed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_partition_hears_every_source_with_6_partitions() {
    require_broker();
    let with = run(6, true).await;
    check_broadcast(6, &with);
}

/// Live traffic: every source sends a page view, then source 0 a click and its conversion,
/// and nothing more. With a grace of 0 the conversion is attributed within seconds, as the
/// quiet sources are said idle; with idleness off (and no wall-clock stand-in) never.
async fn live(idle_ms: &str) -> Option<Duration> {
    let ns = unique_namespace("wm-live");
    let env = service_env(
        &ns,
        &[
            ("KAFKA_TOPIC_PARTITIONS", "4"),
            ("BATCH_LINGER_MS", "20"),
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "0"),
            ("ENRICHER_SOURCE_IDLE_MS", idle_ms),
        ],
    );
    let reference = REFERENCE.replace("grace_seconds = 300", "grace_seconds = 0");
    publish_reference(&env, &reference).await.expect("publish");
    let pair = Pair::start(&env).await;
    let (topics, attributor_metrics) = (&pair.topics, &pair.attributor_metrics);
    let enricher_metrics = &pair.enricher_metrics;
    let now = Utc::now();
    let views: Vec<_> = (0..4)
        .map(|s| {
            event_at(
                s,
                "pv",
                EventKind::PageView,
                now - chrono::Duration::seconds(5),
            )
        })
        .collect();
    produce_to_partitions(&topics.touchpoints_valid, &views)
        .await
        .expect("views");
    // Both consumers have joined and read the views: the clock starts with the journey.
    wait_for(
        "the views enriched and read",
        Duration::from_secs(60),
        || {
            metric(enricher_metrics, "enricher_consumed_total", None) >= 4.0
                && metric(attributor_metrics, "attributor_consumed_total", None) >= 4.0
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let journey = [
        event_at(0, "click", EventKind::Click, Utc::now()),
        event_at(0, "conv", EventKind::Conversion, Utc::now()),
    ];
    produce_to_partitions(&topics.touchpoints_valid, &journey)
        .await
        .expect("journey");
    let sent = Instant::now();
    let attributed = || {
        metric(
            attributor_metrics,
            "attributor_attributions_total",
            Some(("outcome", "attributed")),
        ) >= 1.0
    };
    let mut took = None;
    while sent.elapsed() < Duration::from_secs(20) {
        if attributed() {
            took = Some(sent.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pair.stop().await;
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_traffic_is_attributed_once_its_grace_has_passed_though_sources_are_quiet() {
    require_broker();
    let took = live("1000").await.expect("attributed");
    println!(
        "grace 0, sources idle after 1 s: attributed {took:?} after the conversion was produced"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(
        live("0").await,
        None,
        "without idleness the quiet sources hold the clock"
    );
}
