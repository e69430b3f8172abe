//! Benchmark: attributor throughput and CPU per event against a pass-through baseline (same
//! broker, same input, same invocation), over a click-heavy mix with a million keys; then the
//! state it built: restore time from the changelog and memory per stored touchpoint.
//!
//!     cargo run --release -p tests --bin bench_attributor -- [VISITORS] [ROUNDS]
//!
//! Defaults: 1,000,000 visitors (one attribution key each; ~1.33 M events), 1 round. Needs the
//! local stack (`deploy/local/stack.sh up`).

use attributor::app::Attributor;
use attributor::metrics::AttributorMetrics;
use prometheus::Registry;
use reference::ReferenceData;
use runtime::kafka::{self, Cleanup};
use runtime::metrics::LoopMetrics;
use tests::attribution::{attributor_config, bench_workload, catalog, messages};
use tests::bench::{measure, print_header, print_row, print_summary, Measurement, PassThrough};

/// The attributor against a pass-through baseline, same broker, same input, same invocation,
/// then a restore of the state it built in a fresh process (needs the local stack).
#[derive(Debug, clap::Parser)]
#[command(name = "bench_attributor", version)]
struct Cli {
    /// Attribution keys (one partner click each; page views and conversions on top)
    #[arg(default_value_t = 1_000_000)]
    visitors: usize,
    /// Rounds of each run, alternating
    #[arg(default_value_t = 1)]
    rounds: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // The restore run is this binary started again by itself (not for people).
    if std::env::args().nth(1).as_deref() == Some("restore") {
        let args: Vec<String> = std::env::args().skip(2).collect();
        return restore_only(&args[0], &args[1]);
    }
    let Cli { visitors, rounds } = clap::Parser::parse();
    tests::require_broker();

    let ns = tests::unique_namespace("bench-attrib");
    let env = tests::service_env(
        &ns,
        &[
            ("LOG_LEVEL", "error"),
            ("BATCH_MESSAGES_MAX", "5000"),
            // The benchmark measures processing, not the quiet-partition clock.
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "0"),
        ],
    );
    let config = attributor_config(&env);
    let topics = &config.common.topics;
    let passthrough_topic = format!("{ns}.bench.passthrough.v1");
    kafka::ensure_topics(
        &config.common.kafka,
        &[
            (&topics.touchpoints_enriched, Cleanup::Delete),
            (&topics.attributions, Cleanup::Delete),
            (&topics.touchpoints_dlq, Cleanup::Delete),
            (&passthrough_topic, Cleanup::Delete),
        ],
    )
    .await?;
    let events = bench_workload(visitors, 5);
    let count = events.len();
    let conversions = events
        .iter()
        .filter(|e| e.touchpoint.order_id.is_some())
        .count();
    let input = messages(&events);
    drop(events);
    let bytes: usize = input.iter().map(|(_, p)| p.len()).sum();
    eprintln!(
        "producing {count} enriched touchpoints to {} ...",
        topics.touchpoints_enriched
    );
    tests::produce(&topics.touchpoints_enriched, &input).await?;
    drop(input);

    tests::bench::print_client_settings(&config.common.kafka);

    println!("attributor benchmark: {count} enriched touchpoints ({:.0} bytes avg) over {visitors} attribution keys, {conversions} conversions; 3 partitions, broker {}, {rounds} round(s) each, alternating",
        bytes as f64 / count as f64, tests::bootstrap_servers());
    print_header();
    let reference = ReferenceData::preloaded(catalog());
    let mut results: Vec<(&str, Measurement)> = Vec::new();
    let mut changelog_topic = String::new();
    for round in 1..=rounds {
        for run in ["pass-through", "attributor"] {
            let registry = Registry::new();
            let loop_metrics = LoopMetrics::register("bench", &registry)?;
            let group = format!("{ns}-{run}-{round}");
            let m = if run == "attributor" {
                // Each round writes its own changelog, as a fresh deployment would.
                let mut env = env.clone();
                changelog_topic = format!("{ns}.attributor.state.r{round}.v1");
                env.insert("TOPIC_ATTRIBUTOR_STATE".into(), changelog_topic.clone());
                let config = attributor_config(&env);
                kafka::ensure_topics_partitioned(
                    &config.common.kafka,
                    &[(&changelog_topic, Cleanup::Compact, 3)],
                )
                .await?;
                let metrics = AttributorMetrics::register(&registry)?;
                let mut p = tests::bench::stateful(
                    &config.common,
                    &registry,
                    "attributor",
                    Attributor::new(&config, reference.clone(), metrics),
                    &topics.touchpoints_enriched,
                    &changelog_topic,
                )?;
                measure(
                    &config.common,
                    &topics.touchpoints_enriched,
                    &group,
                    &mut p,
                    count,
                    loop_metrics,
                )
                .await?
            } else {
                let mut p = PassThrough {
                    topic: passthrough_topic.as_str().into(),
                };
                measure(
                    &config.common,
                    &topics.touchpoints_enriched,
                    &group,
                    &mut p,
                    count,
                    loop_metrics,
                )
                .await?
            };
            print_row(run, round, count, &m);
            results.push((run, m));
        }
    }
    print_summary("attributor", &results, count);

    // Restore the last round's state in a fresh process (so its heap holds nothing else), as a
    // new owner of all three partitions would.
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(["restore", &ns, &changelog_topic])
        .status()?;
    anyhow::ensure!(status.success(), "restore run failed: {status}");
    Ok(())
}

/// Restores every partition of `changelog_topic` and reports time and memory.
fn restore_only(ns: &str, changelog_topic: &str) -> anyhow::Result<()> {
    tests::bench::restore_attributor(ns, changelog_topic, &catalog())
}
