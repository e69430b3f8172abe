//! Benchmark: the risk scorer's throughput and CPU per signal and per scored action against a
//! pass-through baseline (same broker, same input, same invocation); then its state: entries,
//! bytes per remembered action, and restore time from the changelog.
//!
//!     cargo run --release -p tests --bin bench_risk -- [COPIES] [ROUNDS]
//!
//! The input is the signal log the router writes for COPIES consecutive 20-day copies of the
//! fraud workload (default 100: ~324k signals, 60k scored actions, 2,000 days of one program,
//! so windows roll and expire as in a long run). One program means one signals partition:
//! this is the per-program serial speed. Needs the local stack (`deploy/local/stack.sh up`).

use std::time::Instant;

use prometheus::Registry;
use reference::ReferenceData;
use risk::app::Scorer;
use risk::metrics::RiskMetrics;
use risk::state::ScorerState;
use runtime::kafka::{self, Cleanup};
use runtime::metrics::LoopMetrics;
use runtime::topic_reader::ChangelogReader;
use tests::attribution::catalog;
use tests::bench::{
    measure, print_header, print_row, print_summary, rss_mib, Measurement, PassThrough,
};
use tests::risk::{bench_signals, risk_config, DATACENTRE};

/// The risk scorer over the signal log of consecutive copies of the fraud workload, against a
/// pass-through baseline, same broker, same input, same invocation (needs the local stack).
#[derive(Debug, clap::Parser)]
#[command(name = "bench_risk", version)]
struct Cli {
    /// Consecutive 20-day copies of the fraud workload
    #[arg(default_value_t = 100)]
    copies: usize,
    /// Rounds of each run, alternating
    #[arg(default_value_t = 1)]
    rounds: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let Cli { copies, rounds } = clap::Parser::parse();
    tests::require_broker();

    let ns = tests::unique_namespace("bench-risk");
    let env = tests::service_env(
        &ns,
        &[
            ("LOG_LEVEL", "error"),
            ("BATCH_MESSAGES_MAX", "5000"),
            ("RISK_DATACENTRE_NETWORKS", DATACENTRE),
        ],
    );
    let config = risk_config(&env);
    let topics = &config.common.topics;
    let passthrough_topic = format!("{ns}.bench.passthrough.v1");
    kafka::ensure_topics(
        &config.common.kafka,
        &[
            (&topics.risk_signals, Cleanup::Delete),
            (&topics.risk_scores, Cleanup::Delete),
            (&topics.commissions, Cleanup::Delete),
            (&topics.risk_levels, Cleanup::Compact),
            (&topics.touchpoints_dlq, Cleanup::Delete),
            (&passthrough_topic, Cleanup::Delete),
        ],
    )
    .await?;
    eprintln!("building the signal log of {copies} workload copies ...");
    let (input, actions) = bench_signals(copies);
    let count = input.len();
    let bytes: usize = input.iter().map(|(_, p)| p.len()).sum();
    eprintln!("producing {count} signals to {} ...", topics.risk_signals);
    tests::produce(&topics.risk_signals, &input).await?;
    drop(input);

    tests::bench::print_client_settings(&config.common.kafka);

    println!("risk scorer benchmark: {count} signals ({:.0} bytes avg), {actions} scored actions, one program over {} days; broker {}, {rounds} round(s) each, alternating",
        bytes as f64 / count as f64, copies as i64 * tests::risk::DAYS, tests::bootstrap_servers());
    print_header();
    let reference = ReferenceData::preloaded(catalog());
    let mut results: Vec<(&str, Measurement)> = Vec::new();
    let mut changelog_topic = String::new();
    let mut held: Option<(usize, usize, usize)> = None;
    for round in 1..=rounds {
        for run in ["pass-through", "risk scorer"] {
            let registry = Registry::new();
            let loop_metrics = LoopMetrics::register("bench", &registry)?;
            let group = format!("{ns}-{round}-{}", run.replace(' ', "-"));
            let m = if run == "risk scorer" {
                let mut env = env.clone();
                changelog_topic = format!("{ns}.risk.state.r{round}.v1");
                env.insert("TOPIC_RISK_STATE".into(), changelog_topic.clone());
                let config = risk_config(&env);
                kafka::ensure_topics_partitioned(
                    &config.common.kafka,
                    &[(&changelog_topic, Cleanup::Compact, 3)],
                )
                .await?;
                let metrics = RiskMetrics::register(&registry)?;
                let mut p = tests::bench::stateful(
                    &config.common,
                    &registry,
                    "risk",
                    Scorer::new(&config, reference.clone(), Default::default(), metrics),
                    &topics.risk_signals,
                    &changelog_topic,
                )?;
                let m = measure(
                    &config.common,
                    &topics.risk_signals,
                    &group,
                    &mut p,
                    count,
                    loop_metrics,
                )
                .await?;
                let states = p.partitions().values();
                held = Some((
                    states.clone().map(ScorerState::actions).sum(),
                    states.clone().map(ScorerState::subjects).sum(),
                    states.map(ScorerState::approx_bytes).sum(),
                ));
                m
            } else {
                let mut p = PassThrough {
                    topic: passthrough_topic.as_str().into(),
                };
                measure(
                    &config.common,
                    &topics.risk_signals,
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
    print_summary("risk scorer", &results, count);
    if let Some((_, m)) = results.iter().rev().find(|(r, _)| *r == "risk scorer") {
        println!(
            "per scored action: {:.0} µs client CPU ({} signals per action)",
            m.cpu * 1e6 / actions.max(1) as f64,
            count / actions.max(1)
        );
    }
    if let Some((acts, subjects, bytes)) = held {
        println!("state at the end: {acts} remembered actions (the last {} days), {subjects} subjects, ~{bytes} bytes ({:.0} bytes per remembered action, estimate from sizes)",
            30, bytes as f64 / acts.max(1) as f64);
    }

    // Restore the last round's changelog, as a new owner of the partition would.
    let mut env = env.clone();
    env.insert("TOPIC_RISK_STATE".into(), changelog_topic);
    let config = risk_config(&env);
    let mut restore = ChangelogReader::new(
        &config.common.kafka,
        "bench-restore",
        &config.common.topics.risk_state,
        config.restore_timeout,
    )?;
    let rss_before = rss_mib();
    let started = Instant::now();
    let mut records = 0;
    let mut states = Vec::new();
    for partition in 0..3 {
        let read: Vec<schemas::RiskState> = restore.read(partition, &mut || ())?;
        records += read.len();
        states.push(ScorerState::restore(read));
    }
    let seconds = started.elapsed().as_secs_f64();
    let actions_held: usize = states.iter().map(ScorerState::actions).sum();
    println!(
        "restore: {records} changelog records in {seconds:.2} s; RSS grew {:.1} MiB for {actions_held} remembered actions",
        rss_mib() - rss_before
    );
    Ok(())
}
