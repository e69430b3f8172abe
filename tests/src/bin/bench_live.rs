//! Benchmark: latency at real-world traffic. The five services run as processes on the local
//! stack with every topic at PARTITIONS partitions and every program's grace set to GRACE
//! seconds; a generated workload is sent into the raw topic at RATE messages/s in real time,
//! each message's `occurred_at` rewritten to the moment it is sent (live traffic, not a
//! backfill). Each commission line is timed from the produce of the conversion that created it
//! to the moment its row is queryable in ClickHouse. The baseline, in the same run, is the
//! broker alone: the same conversions timed from produce to a plain consumer receiving them.
//!
//!     cargo run --release -p tests --bin bench_live -- [--rate 2] [--partitions 6] [--grace 0] [--seconds 120] [--source-idle-ms 1000]
//!
//! What it shows: sparse traffic leaves most source partitions quiet most of the time, so
//! attribution waits for its grace only when the enricher says quiet live sources are idle
//! (ENRICHER_SOURCE_IDLE_MS); without that, a conversion waits until every source sends
//! something newer. Needs the local stack (`deploy/local/stack.sh up`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use loadgen::{generate, Settings};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use tests::ledger::{clickhouse, database_for, wait_for_schema};
use tests::pipeline::{Pipeline, REFERENCE};

/// How often ClickHouse is asked which lines exist: the latency's resolution.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, clap::Parser)]
#[command(name = "bench_live", version)]
struct Cli {
    /// Raw messages per second, sent in real time
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Partitions of every topic
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Every program's grace, in seconds
    #[arg(long, default_value_t = 0)]
    grace: i64,
    /// How long to send
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// The enricher's ENRICHER_SOURCE_IDLE_MS (0: sources never idle, the comparison)
    #[arg(long, default_value_t = 1000)]
    source_idle_ms: u64,
}

/// The sample reference data with every program's grace set to `grace` seconds.
fn reference_with_grace(grace: i64) -> String {
    REFERENCE
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("grace_seconds") {
                format!("grace_seconds = {grace}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `payload` with `occurred_at` set to `at`, and its kind and order id (non-JSON as it is).
fn live(payload: &str, at: DateTime<Utc>) -> (String, Option<(String, String)>) {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(payload) else {
        return (payload.to_string(), None);
    };
    if v.get("occurred_at").is_some() {
        v["occurred_at"] = at.to_rfc3339_opts(SecondsFormat::Millis, true).into();
    }
    let kind = v["kind"].as_str().unwrap_or_default().to_string();
    let order = v["order_id"].as_str().map(str::to_string);
    (v.to_string(), order.map(|o| (kind, o)))
}

fn percentiles(mut ms: Vec<f64>) -> String {
    if ms.is_empty() {
        return "none".into();
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    format!(
        "p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} samples)",
        at(0.5),
        at(0.95),
        at(0.99),
        at(1.0),
        ms.len()
    )
}

fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Receives the raw topic and notes when each conversion (by payload) first arrived.
fn broker_baseline(
    topic: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<HashMap<String, SystemTime>> {
    let consumer: BaseConsumer = tests::client_config()
        .set("group.id", tests::unique_namespace("bench-live-baseline"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[&topic])?;
    let mut seen = HashMap::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let at = SystemTime::now();
            let payload = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            seen.entry(payload).or_insert(at);
        }
    }
    Ok(seen)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let cli: Cli = clap::Parser::parse();
    tests::require_broker();
    let reference = reference_with_grace(cli.grace);
    let set = reference::parse(&reference)
        .map_err(|e| anyhow::anyhow!("the sample reference data: {e:?}"))?;
    let count = (cli.rate * cli.seconds as f64).ceil() as usize;
    let workload = generate(
        &set,
        &Settings {
            seed: 7,
            events: count.max(50),
            start: DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")?.to_utc(),
            days: 3,
        },
    )
    .map_err(|e| anyhow::anyhow!("generating the workload: {e}"))?;

    let ns = tests::unique_namespace("bench-live");
    let partitions = cli.partitions.to_string();
    let source_idle = cli.source_idle_ms.to_string();
    let env = tests::service_env(
        &ns,
        &[
            ("LOG_LEVEL", "warn,rdkafka=error,librdkafka=error"),
            ("KAFKA_TOPIC_PARTITIONS", partitions.as_str()),
            ("ENRICHER_SOURCE_IDLE_MS", source_idle.as_str()),
        ],
    );
    let mut reader = runtime::Env::from_map(env.clone());
    let common = runtime::CommonConfig::from_env(&mut reader, "bench-live", "127.0.0.1:0");
    let raw = format!("{ns}.touchpoints.raw.v1");
    runtime::kafka::ensure_topics(&common.kafka, &[(&raw, runtime::kafka::Cleanup::Delete)])
        .await?;
    tests::publish_reference(&env, &reference).await?;
    let db = clickhouse(&database_for(&ns));
    let logs = std::env::temp_dir().join(format!("attrib-{ns}"));
    let mut pipeline = Pipeline::start(&env, &logs)?;
    wait_for_schema(&db, Duration::from_secs(120)).await?;
    tokio::task::block_in_place(|| pipeline.wait_ready(Duration::from_secs(120)))?;
    tests::bench::print_client_settings(&common.kafka);
    println!(
        "bench_live: {count} raw messages at {} msg/s over {} partitions, grace {} s, ENRICHER_SOURCE_IDLE_MS {}, live event time (broker {})",
        cli.rate,
        cli.partitions,
        cli.grace,
        cli.source_idle_ms,
        tests::bootstrap_servers()
    );

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let baseline = {
        let (topic, stop) = (raw.clone(), Arc::clone(&stop));
        std::thread::spawn(move || broker_baseline(topic, stop))
    };
    // Commission lines (order id → first time queryable), polled while sending.
    let seen: Arc<Mutex<HashMap<String, SystemTime>>> = Arc::default();
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (db, seen, watching) = (db.clone(), Arc::clone(&seen), Arc::clone(&watching));
        tokio::spawn(async move {
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                let rows: Vec<(String, String)> = db
                    .query("SELECT DISTINCT commission_id, order_id FROM commissions")
                    .fetch_all()
                    .await?;
                let at = SystemTime::now();
                if let Ok(mut seen) = seen.lock() {
                    for (_, order) in rows {
                        seen.entry(order).or_insert(at);
                    }
                }
                tokio::time::sleep(POLL).await;
            }
            anyhow::Ok(())
        })
    };

    let producer: FutureProducer = tests::client_config()
        .set("linger.ms", "0")
        .create()
        .context("producer")?;
    // Conversion order id → (its payload, when it was produced).
    let mut sent: HashMap<String, (String, SystemTime)> = HashMap::new();
    let started = Instant::now();
    for (i, message) in workload.messages.iter().take(count).enumerate() {
        let due = started + Duration::from_secs_f64(i as f64 / cli.rate);
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        let (payload, order) = live(&message.payload, Utc::now());
        let at = SystemTime::now();
        let mut record = FutureRecord::to(&raw).payload(payload.as_bytes());
        if let Some(key) = &message.key {
            record = record.key(key.as_bytes());
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
        if let Some(("conversion", order)) = order.as_ref().map(|(k, o)| (k.as_str(), o)) {
            sent.entry(order.clone()).or_insert((payload, at));
        }
    }
    // Everything sent: wait for the grace and the lines still on their way.
    let settle = Duration::from_secs(cli.grace.max(0) as u64 + 20);
    tokio::time::sleep(settle).await;
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    watcher.await.context("watcher")??;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let arrived = baseline
        .join()
        .map_err(|_| anyhow::anyhow!("baseline consumer panicked"))??;
    pipeline.stop()?;

    let seen = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let mut pipeline_ms = Vec::new();
    let mut broker_ms = Vec::new();
    for (order, (payload, at)) in &sent {
        if let Some(line) = seen.get(order) {
            pipeline_ms.push(ms_between(*at, *line));
        }
        if let Some(received) = arrived.get(payload) {
            broker_ms.push(ms_between(*at, *received));
        }
    }
    println!(
        "conversions sent: {}, with a commission line in ClickHouse: {}",
        sent.len(),
        pipeline_ms.len()
    );
    println!(
        "conversion produced → commission line queryable: {}",
        percentiles(pipeline_ms)
    );
    println!(
        "conversion produced → raw consumer (broker only): {}",
        percentiles(broker_ms)
    );
    Ok(())
}
