//! Benchmark: the ledger's throughput into ClickHouse — commission decisions in; ledger
//! entries, current-state rows and finance-topic entries out — against a pass-through
//! baseline (same broker, same input, same invocation). Prints decisions/s, rows/s into
//! ClickHouse, client CPU per decision and per row, and ClickHouse's own CPU per row.
//!
//!     cargo run --release -p tests --bin bench_ledger -- [DECISIONS] [ROUNDS]
//!
//! The input (default 100,000) is commissions over 200 partners and 1,000 days, 10 % held,
//! 10 % reversed by risk, a quarter refunded (half of those in full): every kind of line and
//! transition, approvals included. Needs the local stack (`deploy/local/stack.sh up`).

use prometheus::Registry;
use runtime::kafka::{self, Cleanup};
use runtime::metrics::LoopMetrics;
use schemas::commission::Decision;
use tests::bench::{
    clickhouse_pid, cpu_seconds, measure, print_header, print_row, print_summary, Measurement,
    PassThrough,
};
use tests::ledger::{decision, messages, refund};

/// The ledger's throughput into ClickHouse against a pass-through baseline, same broker,
/// same input, same invocation (needs the local stack).
#[derive(Debug, clap::Parser)]
#[command(name = "bench_ledger", version)]
struct Cli {
    /// Commission decisions (plus a quarter as many refunds)
    #[arg(default_value_t = 100_000)]
    decisions: usize,
    /// Rounds of each run, alternating
    #[arg(default_value_t = 1)]
    rounds: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let Cli { decisions, rounds } = clap::Parser::parse();
    tests::require_broker();
    let ns = tests::unique_namespace("bench-ledger");
    let env = tests::service_env(
        &ns,
        &[("LOG_LEVEL", "error"), ("BATCH_MESSAGES_MAX", "5000")],
    );
    let config = ledger_config(&env);
    let topics = &config.common.topics;
    let passthrough_topic = format!("{ns}.bench.passthrough.v1");
    kafka::ensure_topics(
        &config.common.kafka,
        &[
            (&topics.commissions, Cleanup::Delete),
            (&topics.ledger_entries, Cleanup::Delete),
            (&topics.touchpoints_dlq, Cleanup::Delete),
            (&passthrough_topic, Cleanup::Delete),
        ],
    )
    .await?;
    let per_day = (decisions / 1_000).max(1) as i64;
    let mut input = Vec::with_capacity(decisions * 5 / 4);
    for i in 0..decisions as i64 {
        let partner = format!("p-{:03}", i % 200);
        let d = i / per_day;
        let kind = match i % 10 {
            0 => Decision::Held,
            1 => Decision::Reversed,
            _ => Decision::Payable,
        };
        input.push(decision(
            &format!("c{i}"),
            &partner,
            100 + i % 5_000,
            kind,
            d,
        ));
        if i % 4 == 3 {
            let part = if i % 8 == 3 { 100 + i % 5_000 } else { 50 };
            input.push(refund(
                &format!("r{i}"),
                &format!("c{i}"),
                &partner,
                part,
                d + 2,
            ));
        }
    }
    let count = input.len();
    eprintln!(
        "producing {count} commission decisions to {} ...",
        topics.commissions
    );
    tests::produce(&topics.commissions, &messages(&input)).await?;
    drop(input);
    tests::bench::print_client_settings(&config.common.kafka);
    println!(
        "ledger benchmark: {count} decisions (200 partners, 1,000 days); broker {}, ClickHouse {}, {rounds} round(s) each, alternating",
        tests::bootstrap_servers(),
        config.clickhouse.url
    );
    print_header();
    let mut results: Vec<(&str, Measurement)> = Vec::new();
    let mut rows_summary = Vec::new();
    for round in 1..=rounds {
        for run in ["pass-through", "ledger-writer"] {
            let registry = Registry::new();
            let loop_metrics = LoopMetrics::register("bench", &registry)?;
            let group = format!("{ns}-{round}-{run}");
            let m = if run == "ledger-writer" {
                let mut env = env.clone();
                let state = format!("{ns}.ledger.state.r{round}.v1");
                env.insert("TOPIC_LEDGER_STATE".into(), state.clone());
                env.insert(
                    "CLICKHOUSE_DATABASE".into(),
                    format!("{}_r{round}", tests::ledger::database_for(&ns)),
                );
                let config = ledger_config(&env);
                kafka::ensure_topics_partitioned(
                    &config.common.kafka,
                    &[(&state, Cleanup::Compact, 3)],
                )
                .await?;
                let server = ledger_writer::store::connect(&config.clickhouse)?;
                ledger_writer::store::migrations::migrate(&server, &config.clickhouse.database)
                    .await?;
                let metrics = ledger_writer::metrics::LedgerMetrics::register(&registry)?;
                let sink = ledger_writer::store::Sink::new(
                    &server,
                    &config.clickhouse.database,
                    metrics.sink.clone(),
                );
                let mut p = tests::bench::stateful(
                    &config.common,
                    &registry,
                    "ledger",
                    ledger_writer::app::LedgerLogic::new(&config, sink, metrics),
                    &topics.commissions,
                    &state,
                )?;
                let ch = clickhouse_pid();
                let ch0 = ch.as_deref().and_then(cpu_seconds);
                let m = measure(
                    &config.common,
                    &topics.commissions,
                    &group,
                    &mut p,
                    count,
                    loop_metrics,
                )
                .await?;
                let ch_cpu = ch
                    .as_deref()
                    .and_then(cpu_seconds)
                    .zip(ch0)
                    .map(|(b, a)| b - a);
                let rows: f64 = ["ledger_entries", "commissions"]
                    .iter()
                    .map(|t| {
                        tests::metric(
                            &registry,
                            ledger_writer::metrics::ROWS_TOTAL,
                            Some(("table", t)),
                        )
                    })
                    .sum();
                rows_summary.push((rows, m, ch_cpu));
                m
            } else {
                let mut p = PassThrough {
                    topic: passthrough_topic.as_str().into(),
                };
                measure(
                    &config.common,
                    &topics.commissions,
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
    print_summary("ledger-writer", &results, count);
    let pt_cpu = results
        .iter()
        .filter(|(r, _)| *r == "pass-through")
        .map(|(_, m)| m.cpu)
        .fold(f64::INFINITY, f64::min);
    for (rows, m, ch_cpu) in rows_summary {
        println!(
            "ClickHouse: {rows:.0} rows ({:.2} per decision) at {:.0} rows/s; client CPU {:.2} µs/row ({:.2} µs/row beyond the pass-through); ClickHouse server CPU {} µs/row",
            rows / count as f64,
            rows / m.seconds,
            m.cpu * 1e6 / rows,
            (m.cpu - pt_cpu) * 1e6 / rows,
            ch_cpu.map_or("n/a".into(), |c| format!("{:.2}", c * 1e6 / rows))
        );
    }
    Ok(())
}

fn ledger_config(
    env: &std::collections::HashMap<String, String>,
) -> ledger_writer::config::LedgerConfig {
    let mut reader = runtime::Env::from_map(env.clone());
    let config = ledger_writer::config::LedgerConfig::from_env(&mut reader).expect("valid config");
    reader.finish().expect("valid config");
    config
}
