//! Benchmark: ingest throughput and CPU per event against a pass-through baseline (consume and
//! produce the same bytes, no processing) on the same broker, same input, same invocation.
//!
//!     cargo run --release -p tests --bin bench_ingest -- [EVENTS] [ROUNDS]
//!     cargo run --release -p tests --bin bench_ingest -- --in-process [EVENTS] [ROUNDS]
//!
//! `--in-process` needs no broker: it times ingest's own work on the same input, in this
//! process: JSON parsing alone (serde_json's value tree next to the borrowed fields ingest
//! reads), validation, and the whole processor (validation, dedup, encoding, metrics), so a
//! change to one part shows without the broker's noise.
//!
//! Otherwise it needs the local stack (`deploy/local/stack.sh up`). Both runs use the shared runtime loop
//! and producer, so the difference is ingest's own work: parse, validate, normalise, hash,
//! dedup and Avro-encode. CPU is this process's user+system time (client threads included),
//! read from /proc; the broker's CPU is reported separately when its PID file is found.

use chrono::Utc;
use prometheus::Registry;
use runtime::kafka::{self, Cleanup};
use runtime::metrics::LoopMetrics;
use schemas::touchpoint::IngestPath;
use tests::bench::{measure, print_header, print_row, print_summary, Measurement, PassThrough};

/// Ingest throughput and CPU per event against a pass-through baseline, same broker, same
/// input, same invocation (needs the local stack).
#[derive(Debug, clap::Parser)]
#[command(name = "bench_ingest", version)]
struct Cli {
    /// Raw events to produce
    #[arg(default_value_t = 200_000)]
    events: usize,
    /// Rounds of each run, alternating
    #[arg(default_value_t = 2)]
    rounds: usize,
    /// Time ingest's own work in this process instead (no broker)
    #[arg(long)]
    in_process: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let Cli {
        events,
        rounds,
        in_process,
    } = clap::Parser::parse();
    if in_process {
        return in_process_runs(events, rounds);
    }
    tests::require_broker();
    let ns = tests::unique_namespace("bench");
    let env = tests::service_env(
        &ns,
        &[("LOG_LEVEL", "error"), ("BATCH_MESSAGES_MAX", "5000")],
    );
    let config = tests::ingest_config(&env);
    let topics = &config.common.topics;
    let passthrough_topic = format!("{ns}.bench.passthrough.v1");
    kafka::ensure_topics(
        &config.common.kafka,
        &[
            (&topics.touchpoints_raw, Cleanup::Delete),
            (&topics.touchpoints_valid, Cleanup::Delete),
            (&topics.touchpoints_dlq, Cleanup::Delete),
            (&passthrough_topic, Cleanup::Delete),
        ],
    )
    .await?;

    eprintln!(
        "producing {events} raw events to {} ...",
        topics.touchpoints_raw
    );
    let raw = tests::workload::raw_events(events, 42, Utc::now());
    let bytes: usize = raw.iter().map(Vec::len).sum();
    let messages: Vec<(Option<Vec<u8>>, Vec<u8>)> = raw.into_iter().map(|p| (None, p)).collect();
    tests::produce(&topics.touchpoints_raw, &messages).await?;
    drop(messages);

    tests::bench::print_client_settings(&config.common.kafka);

    println!("ingest benchmark: {events} raw events ({:.0} bytes avg), 3 partitions, broker {}, {rounds} round(s) each, alternating",
        bytes as f64 / events as f64, tests::bootstrap_servers());
    print_header();
    let mut results: Vec<(&str, Measurement)> = Vec::new();
    for round in 1..=rounds {
        for run in ["pass-through", "ingest"] {
            let registry = Registry::new();
            let loop_metrics = LoopMetrics::register("bench", &registry)?;
            let group = format!("{ns}-{run}-{round}");
            let m = if run == "ingest" {
                let metrics = ingest::metrics::IngestMetrics::register(&registry)?;
                let mut p = ingest::app::IngestProcessor::new(&config, metrics, IngestPath::Stream);
                measure(
                    &config.common,
                    &topics.touchpoints_raw,
                    &group,
                    &mut p,
                    events,
                    loop_metrics,
                )
                .await?
            } else {
                let mut p = PassThrough {
                    topic: passthrough_topic.as_str().into(),
                };
                measure(
                    &config.common,
                    &topics.touchpoints_raw,
                    &group,
                    &mut p,
                    events,
                    loop_metrics,
                )
                .await?
            };
            print_row(run, round, events, &m);
            results.push((run, m));
        }
    }
    print_summary("ingest", &results, events);
    Ok(())
}

/// Ingest's own work on `events` generated raw events, in this process: validation alone, then
/// the whole processor on a fresh instance (so dedup starts empty, as a new service does).
fn in_process_runs(events: usize, rounds: usize) -> anyhow::Result<()> {
    let env = tests::service_env("bench", &[("LOG_LEVEL", "error")]);
    let config = tests::ingest_config(&env);
    let raw = tests::workload::raw_events(events, 42, Utc::now());
    let bytes: usize = raw.iter().map(Vec::len).sum();
    let rules = ingest::app::IngestProcessor::new(
        &config,
        ingest::metrics::IngestMetrics::register(&Registry::new())?,
        IngestPath::Stream,
    )
    .rules()
    .clone();
    println!(
        "ingest in process: {events} raw events ({:.0} bytes avg), {rounds} round(s) each, alternating",
        bytes as f64 / events as f64
    );
    println!("| run | round | events/s | CPU µs/event | valid | dead letters |");
    println!("|---|---|---|---|---|---|");
    let cpu = || tests::bench::cpu_seconds("self").unwrap_or(0.0);
    for round in 1..=rounds {
        // Parsing alone: the value tree ingest used to build, then the borrowed fields it reads.
        let texts: Vec<&str> = raw
            .iter()
            .filter_map(|p| std::str::from_utf8(p).ok())
            .collect();
        let before = cpu();
        let objects = texts
            .iter()
            .filter(|t| matches!(serde_json::from_str(t), Ok(serde_json::Value::Object(_))))
            .count();
        row(
            "parse: value tree",
            round,
            events,
            cpu() - before,
            objects,
            events - objects,
        );
        let before = cpu();
        let objects = texts
            .iter()
            .filter(|t| {
                matches!(
                    ingest::raw_json::parse(t),
                    Ok(ingest::raw_json::Message::Object(_))
                )
            })
            .count();
        row(
            "parse: borrowed fields",
            round,
            events,
            cpu() - before,
            objects,
            events - objects,
        );

        let now = Utc::now();
        let before = cpu();
        let mut valid = 0;
        for payload in &raw {
            valid += usize::from(
                ingest::process::validate(payload, &rules, now, IngestPath::Stream).is_ok(),
            );
        }
        let spent = cpu() - before;
        row("validate", round, events, spent, valid, events - valid);

        let mut processor = ingest::app::IngestProcessor::new(
            &config,
            ingest::metrics::IngestMetrics::register(&Registry::new())?,
            IngestPath::Stream,
        );
        let mut outputs = Vec::with_capacity(1);
        let (mut valid, mut dead) = (0, 0);
        let before = cpu();
        for (offset, payload) in raw.iter().enumerate() {
            let input = runtime::Input {
                topic: "raw",
                partition: 0,
                offset: offset as i64,
                key: None,
                payload: Some(payload),
                timestamp_ms: None,
            };
            runtime::Processor::process(&mut processor, &input, &mut outputs)?;
            for output in outputs.drain(..) {
                if output.topic.as_ref() == config.common.topics.touchpoints_valid.as_str() {
                    valid += 1;
                } else {
                    dead += 1;
                }
            }
        }
        let spent = cpu() - before;
        row("processor", round, events, spent, valid, dead);
    }
    Ok(())
}

fn row(run: &str, round: usize, events: usize, cpu_s: f64, valid: usize, dead: usize) {
    println!(
        "| {run} | {round} | {:.0} | {:.2} | {valid} | {dead} |",
        events as f64 / cpu_s,
        cpu_s * 1e6 / events as f64
    );
}
