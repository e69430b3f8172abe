//! Benchmark: the whole pipeline end to end. The five services run as processes on the local
//! stack; a generated workload is replayed into the raw topic at fixed rates (and once as fast
//! as the broker takes it), and every ledger line is timed from the raw produce of the event
//! that created it (the order, refund or renewal) to the moment its row is queryable in
//! ClickHouse. The baseline, measured in the same runs, is the broker alone: the same raw
//! messages timed from produce to a plain consumer receiving them.
//!
//!     cargo run --release -p tests --bin bench_e2e -- [EVENTS] [RATE ...]
//!
//! RATE is messages/s or `max`; defaults: 40,000 events at 1000, 2000, 4000 and max. Prints a
//! table (throughput, latency p50/p95/p99, CPU µs per event and peak RSS per service, broker
//! and ClickHouse CPU) and writes the chart to `BENCH_SVG` (default `target/bench_e2e.svg`).
//! Each rate gets fresh topics and a fresh ClickHouse database. The workload spans 60 days of
//! event time, compressed into the replay: a program's grace (5–10 minutes of event time)
//! passes in milliseconds here, while in production every conversion also waits its grace.
//! The closing lines — those whose grace ends in the workload's last hour of event time — are
//! decided by the attributor's quiet clock after the input ends (a replay of history waits
//! ten quiet spells, 20 s here), not by the pipeline's pace: they are counted, not timed.
//! Needs the local stack (`deploy/local/stack.sh up`); a freshly purged broker gives steadier
//! figures.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use loadgen::replay::{replay, Pace};
use loadgen::Workload;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use tests::bench::{broker_pid, clickhouse_pid, cpu_seconds};
use tests::chart::{svg, Panel};
use tests::ledger::{clickhouse, database_for, wait_for_schema};
use tests::pipeline::{Pipeline, REFERENCE, SERVICES};

/// How often ClickHouse is asked which lines exist: the latency's resolution.
const POLL: Duration = Duration::from_millis(200);
/// The run ends when no new line appeared for this long.
const STALL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, Default)]
struct Percentiles {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

fn percentiles(mut ms: Vec<f64>) -> Percentiles {
    if ms.is_empty() {
        return Percentiles::default();
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    Percentiles {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        max: at(1.0),
    }
}

#[derive(Debug, Clone)]
struct RunResult {
    label: String,
    messages: usize,
    produce_rate: f64,
    /// Messages / (last timed ledger line queryable − first produce).
    throughput: f64,
    lines: usize,
    /// Closing lines among `lines`: not timed (see the module docs).
    closing: usize,
    lines_expected: usize,
    pipeline: Percentiles,
    broker: Percentiles,
    /// (service, CPU µs per input message, peak RSS MiB).
    services: Vec<(&'static str, f64, f64)>,
    broker_cpu_us: Option<f64>,
    clickhouse_cpu_us: Option<f64>,
}

/// Commission ids of the closing lines: their grace ends within the last hour of the
/// workload's event time, so no later input decides them and the quiet clock does.
fn closing_lines(workload: &Workload, set: &reference::ReferenceSet) -> HashSet<String> {
    let Some(end) = workload.expected.lines.iter().map(|l| l.occurred_at).max() else {
        return HashSet::new();
    };
    let grace = |program: &str| {
        set.programs
            .iter()
            .find(|p| p.program_id == program)
            .map_or(0, |p| p.attribution.grace_seconds)
    };
    workload
        .expected
        .lines
        .iter()
        .filter(|l| {
            l.occurred_at + chrono::Duration::seconds(grace(&l.program_id))
                > end - chrono::Duration::hours(1)
        })
        .map(|l| l.commission_id.clone())
        .collect()
}

/// The message that creates each ledger line: its (order, occurred_at) → first index.
fn creators(workload: &Workload) -> HashMap<(String, DateTime<Utc>), usize> {
    let mut out = HashMap::new();
    for (i, m) in workload.messages.iter().enumerate() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&m.payload) else {
            continue;
        };
        let kind = v["kind"].as_str().unwrap_or_default();
        if kind != "conversion" && kind != "refund" {
            continue;
        }
        let (Some(order), Some(at)) = (v["order_id"].as_str(), v["occurred_at"].as_str()) else {
            continue;
        };
        if let Ok(at) = DateTime::parse_from_rfc3339(at) {
            out.entry((order.to_string(), at.to_utc())).or_insert(i);
        }
    }
    out
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Receives the raw topic with a plain consumer and notes when each message index arrived
/// (matched by payload, first copy), until `stop`.
fn broker_baseline(
    topic: String,
    payloads: HashMap<String, usize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<HashMap<usize, SystemTime>> {
    let consumer: BaseConsumer = tests::client_config()
        .set("group.id", tests::unique_namespace("bench-e2e-baseline"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[&topic])?;
    let mut seen = HashMap::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let at = SystemTime::now();
            let payload = std::str::from_utf8(m.payload().unwrap_or_default()).unwrap_or("");
            if let Some(i) = payloads.get(payload) {
                seen.entry(*i).or_insert(at);
            }
        }
    }
    Ok(seen)
}

/// Polls ClickHouse for ledger line ids and notes when each was first queryable, until
/// `want` are seen or nothing new appears for [`STALL`].
async fn watch_ledger(
    db: clickhouse::Client,
    want: usize,
    seen: Arc<Mutex<HashMap<String, SystemTime>>>,
) -> Result<()> {
    let mut last_new = Instant::now();
    loop {
        let ids: Vec<String> = db
            .query("SELECT DISTINCT commission_id FROM commissions")
            .fetch_all()
            .await?;
        let at = SystemTime::now();
        let count = {
            let mut seen = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            let before = seen.len();
            for id in ids {
                seen.entry(id).or_insert(at);
            }
            if seen.len() > before {
                last_new = Instant::now();
            }
            seen.len()
        };
        if count >= want || last_new.elapsed() > STALL {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

async fn run_at(
    workload: &Workload,
    closing: &HashSet<String>,
    rate: Option<f64>,
) -> Result<RunResult> {
    let label = rate.map_or("max".to_string(), |r| format!("{r:.0}/s"));
    eprintln!("bench_e2e: run at {label}");
    let ns = tests::unique_namespace("bench-e2e");
    let env = tests::service_env(
        &ns,
        &[
            ("LOG_LEVEL", "warn,rdkafka=error,librdkafka=error"),
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "2"),
        ],
    );
    let raw = format!("{ns}.touchpoints.raw.v1");
    tests::create_topics(&[&raw]).await?;
    tests::publish_reference(&env, REFERENCE).await?;
    let db = clickhouse(&database_for(&ns));
    let logs = std::env::temp_dir().join(format!("attrib-{ns}"));
    let mut pipeline = Pipeline::start(&env, &logs)?;
    wait_for_schema(&db, Duration::from_secs(120)).await?;
    tokio::task::block_in_place(|| pipeline.wait_ready(Duration::from_secs(120)))?;

    let creators = creators(workload);
    let payloads: HashMap<String, usize> = creators
        .values()
        .map(|i| (workload.messages[*i].payload.clone(), *i))
        .collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let baseline = {
        let (topic, stop) = (raw.clone(), Arc::clone(&stop));
        std::thread::spawn(move || broker_baseline(topic, payloads, stop))
    };
    let want = workload.expected.lines.len();
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let watcher = tokio::spawn(watch_ledger(db.clone(), want, Arc::clone(&seen)));

    let pids = pipeline.pids();
    let cpu = |pid: &str| cpu_seconds(pid).unwrap_or(0.0);
    let services_before: Vec<f64> = pids.iter().map(|(_, p)| cpu(&p.to_string())).collect();
    let broker_before = broker_pid().map(|p| cpu(&p));
    let clickhouse_before = clickhouse_pid().map(|p| cpu(&p));

    let mut reader = runtime::Env::from_map(env.clone());
    let common = runtime::CommonConfig::from_env(&mut reader, "bench-e2e", "127.0.0.1:0");
    let replayed = replay(
        &common.kafka,
        "bench-e2e-replay",
        &raw,
        &workload.messages,
        Pace {
            rate,
            progress: false,
        },
    )
    .await?;
    watcher.await.context("ledger watcher")??;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let arrived = baseline
        .join()
        .map_err(|_| anyhow::anyhow!("baseline consumer panicked"))??;

    let messages = workload.messages.len() as f64;
    let per_message_us = |before: f64, after: f64| (after - before) / messages * 1e6;
    let services = pids
        .iter()
        .zip(&services_before)
        .map(|((name, pid), before)| {
            (
                *name,
                per_message_us(*before, cpu(&pid.to_string())),
                peak_rss_mib(*pid),
            )
        })
        .collect();
    let broker_cpu_us = broker_before
        .zip(broker_pid())
        .map(|(b, p)| per_message_us(b, cpu(&p)));
    let clickhouse_cpu_us = clickhouse_before
        .zip(clickhouse_pid())
        .map(|(b, p)| per_message_us(b, cpu(&p)));
    pipeline.stop()?;

    let seen = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let first_send = replayed
        .sent_at
        .first()
        .copied()
        .unwrap_or(SystemTime::now());
    let mut latencies = Vec::new();
    let mut last_seen = first_send;
    let mut closing_seen = 0;
    for line in &workload.expected.lines {
        let (Some(at), Some(index)) = (
            seen.get(&line.commission_id),
            creators.get(&(line.order_id.clone(), line.occurred_at)),
        ) else {
            continue;
        };
        if closing.contains(&line.commission_id) {
            closing_seen += 1;
            continue;
        }
        latencies.push(ms_between(replayed.sent_at[*index], *at));
        last_seen = last_seen.max(*at);
    }
    let broker_latencies = arrived
        .iter()
        .map(|(i, at)| ms_between(replayed.sent_at[*i], *at))
        .collect();
    let span = last_seen
        .duration_since(first_send)
        .unwrap_or_default()
        .as_secs_f64()
        .max(0.001);
    let lines = latencies.len() + closing_seen;
    if lines < want {
        eprintln!(
            "bench_e2e: only {lines} of {want} lines appeared at {label}; the figures cover those"
        );
    }
    Ok(RunResult {
        label,
        messages: workload.messages.len(),
        produce_rate: messages / replayed.elapsed.as_secs_f64().max(0.001),
        throughput: messages / span,
        lines,
        closing: closing_seen,
        lines_expected: want,
        pipeline: percentiles(latencies),
        broker: percentiles(broker_latencies),
        services,
        broker_cpu_us,
        clickhouse_cpu_us,
    })
}

fn print_table(results: &[RunResult]) {
    println!();
    println!("| offered | produced msg/s | end-to-end msg/s | ledger lines (closing, not timed) | pipeline p50 / p95 / p99 / max ms | broker-only p50 / p95 / p99 ms |");
    println!("|---|---|---|---|---|---|");
    for r in results {
        println!(
            "| {} | {:.0} | {:.0} | {} / {} ({}) | {:.0} / {:.0} / {:.0} / {:.0} | {:.0} / {:.0} / {:.0} |",
            r.label,
            r.produce_rate,
            r.throughput,
            r.lines,
            r.lines_expected,
            r.closing,
            r.pipeline.p50,
            r.pipeline.p95,
            r.pipeline.p99,
            r.pipeline.max,
            r.broker.p50,
            r.broker.p95,
            r.broker.p99
        );
    }
    println!();
    let header: Vec<String> = SERVICES.iter().map(|s| format!("{s} µs / MiB")).collect();
    println!(
        "| offered | {} | broker µs | ClickHouse µs |",
        header.join(" | ")
    );
    println!("|---|{}---|---|", "---|".repeat(SERVICES.len()));
    for r in results {
        let cells: Vec<String> = SERVICES
            .iter()
            .map(|s| {
                r.services
                    .iter()
                    .find(|(n, ..)| n == s)
                    .map_or("-".into(), |(_, us, mib)| format!("{us:.0} / {mib:.0}"))
            })
            .collect();
        let opt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
        println!(
            "| {} | {} | {} | {} |",
            r.label,
            cells.join(" | "),
            opt(r.broker_cpu_us),
            opt(r.clickhouse_cpu_us)
        );
    }
    println!();
    println!("CPU is µs per raw message (user + system, from /proc), RSS the peak (VmHWM) of each service process; {} messages per run.", results.first().map_or(0, |r| r.messages));
}

fn chart(results: &[RunResult]) -> String {
    let latency = Panel {
        title: "Produce → ledger row queryable".into(),
        unit: "milliseconds".into(),
        series: vec![
            "p50".into(),
            "p95".into(),
            "p99".into(),
            "broker-only p99".into(),
        ],
        groups: results
            .iter()
            .map(|r| {
                (
                    format!("{} ({:.0}/s)", r.label, r.throughput),
                    vec![r.pipeline.p50, r.pipeline.p95, r.pipeline.p99, r.broker.p99],
                )
            })
            .collect(),
    };
    let mut series: Vec<String> = SERVICES.iter().map(|s| (*s).to_string()).collect();
    series.push("broker".into());
    let cpu = Panel {
        title: "CPU per raw message".into(),
        unit: "µs (user + system)".into(),
        series,
        groups: results
            .iter()
            .map(|r| {
                let mut values: Vec<f64> = SERVICES
                    .iter()
                    .map(|s| {
                        r.services
                            .iter()
                            .find(|(n, ..)| n == s)
                            .map_or(0.0, |(_, us, _)| *us)
                    })
                    .collect();
                values.push(r.broker_cpu_us.unwrap_or(0.0));
                (r.label.clone(), values)
            })
            .collect(),
    };
    svg(
        &[latency, cpu],
        &format!(
            "bench_e2e: {} raw messages per run, offered rate (achieved end-to-end msg/s); 2-core machine, tansu (sqlite), ClickHouse 18.16",
            results.first().map_or(0, |r| r.messages)
        ),
    )
}

/// The whole pipeline end to end at offered rates, next to the broker alone (needs the local
/// stack); writes the chart to `BENCH_SVG` (default `target/bench_e2e.svg`).
#[derive(Debug, clap::Parser)]
#[command(name = "bench_e2e", version)]
struct Cli {
    /// Raw messages per run
    #[arg(default_value_t = 40_000)]
    events: usize,
    /// Offered rates in messages/s, or `max` (default: 1000 2000 4000 max)
    rates: Vec<String>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let Cli { events, rates } = clap::Parser::parse();
    let rates: Vec<Option<f64>> = if !rates.is_empty() {
        rates
            .iter()
            .map(|r| match r.as_str() {
                "max" => Ok(None),
                n => n.parse::<f64>().map(Some).context("RATE"),
            })
            .collect::<Result<_>>()?
    } else {
        vec![Some(1000.0), Some(2000.0), Some(4000.0), None]
    };
    if rates.is_empty() {
        bail!("no rates");
    }
    tests::require_broker();
    let (set, workload) = tests::pipeline::sample_workload(42, events, 60)?;
    eprintln!(
        "bench_e2e: {} raw messages, {} ledger lines expected per run",
        workload.messages.len(),
        workload.expected.lines.len()
    );
    let closing = closing_lines(&workload, &set);
    let mut results = Vec::new();
    for rate in rates {
        results.push(run_at(&workload, &closing, rate).await?);
    }
    print_table(&results);
    let path = std::env::var("BENCH_SVG")
        .unwrap_or_else(|_| format!("{}/../target/bench_e2e.svg", env!("CARGO_MANIFEST_DIR")));
    // A fresh clone built with CARGO_TARGET_DIR elsewhere has no target/ of its own.
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, chart(&results)).with_context(|| format!("writing {path}"))?;
    println!("chart: {path}");
    Ok(())
}
