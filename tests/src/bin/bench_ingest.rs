//! Benchmark: ingest throughput and CPU per event against a pass-through baseline (consume and
//! produce the same bytes, no processing) on the same broker, same input, same invocation.
//!
//!     cargo run --release -p tests --bin bench_ingest -- [EVENTS] [ROUNDS]
//!
//! Needs the local stack (`deploy/local/stack.sh up`). Both runs use the shared runtime loop
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
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let Cli { events, rounds } = clap::Parser::parse();
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
