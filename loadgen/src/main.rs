//! `loadgen`: generate a workload and its expected outcome, or replay one to the raw topic.
//! `loadgen --help` lists the commands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use loadgen::replay::{replay, Pace};
use loadgen::{file, generate, Settings};
use runtime::config::Env;
use runtime::settings::CommonConfig;

/// Generates a deterministic workload with an independent oracle of its expected outcome, and
/// replays it to the raw topic.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const AFTER_HELP: &str = "Kafka settings (replay) come from the shared environment variables \
    (KAFKA_BOOTSTRAP_SERVERS, TOPIC_NAMESPACE, ...). Exit status: 0 done, 1 failed, 2 \
    command-line error.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Write DIR/workload.ndjson (raw messages in send order) and DIR/expected.json (the
    /// oracle's expected orders, ledger lines and dead letters)
    Generate {
        /// The reference file the workload's programs, partners, links and codes come from
        #[arg(long)]
        reference: PathBuf,
        /// The output directory
        #[arg(long)]
        out: PathBuf,
        /// Seed: the same seed, reference and settings give the same workload
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Raw events to generate
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// First day of orders (RFC 3339)
        #[arg(long, value_name = "RFC3339", value_parser = rfc3339, default_value = "2026-06-01T00:00:00Z")]
        start: DateTime<Utc>,
        /// Days of orders
        #[arg(long, default_value_t = 60)]
        days: i64,
    },
    /// Send DIR/workload.ndjson to <TOPIC_NAMESPACE>.touchpoints.raw.v1, as fast as the broker
    /// takes it unless --rate
    Replay {
        /// A directory `generate` wrote
        dir: PathBuf,
        /// Messages per second
        #[arg(long)]
        rate: Option<f64>,
        /// Send only messages due by this time (RFC 3339)
        #[arg(long, value_name = "RFC3339", value_parser = rfc3339)]
        until: Option<DateTime<Utc>>,
        /// Send only messages due after this time (RFC 3339)
        #[arg(long, value_name = "RFC3339", value_parser = rfc3339)]
        after: Option<DateTime<Utc>>,
    },
    /// Print what DIR/expected.json expects
    Summary {
        /// A directory `generate` wrote
        dir: PathBuf,
    },
}

fn rfc3339(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("not RFC 3339: {e}"))
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Generate {
            reference,
            out,
            seed,
            events,
            start,
            days,
        } => {
            let settings = Settings {
                seed,
                events,
                start,
                days,
            };
            let reference = reference.display().to_string();
            let text = std::fs::read_to_string(&reference)
                .with_context(|| format!("reading {reference}"))?;
            let set = reference::parse(&text).map_err(|errors| {
                anyhow::anyhow!(
                    "{reference}: {} problem(s), first: {}",
                    errors.len(),
                    errors[0]
                )
            })?;
            let workload = generate(&set, &settings).map_err(|e| anyhow::anyhow!(e))?;
            file::write(&out, &workload.messages, &workload.expected)?;
            println!(
                "wrote {} messages to {}",
                workload.messages.len(),
                out.join("workload.ndjson").display()
            );
            print_summary(&workload.expected);
            Ok(())
        }
        Command::Replay {
            dir,
            rate,
            until,
            after,
        } => {
            let messages: Vec<_> = file::read_messages(&dir)?
                .into_iter()
                .filter(|m| until.is_none_or(|u| m.at <= u) && after.is_none_or(|a| m.at > a))
                .collect();
            let mut env = Env::from_process();
            let config = CommonConfig::from_env(&mut env, "loadgen", "127.0.0.1:0");
            env.finish().map_err(|e| anyhow::anyhow!("{e}"))?;
            // The Kafka client's warnings (a broker outage, retries) go to stderr.
            runtime::telemetry::init(config.log_format, &config.log_level);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let topic = config.topics.touchpoints_raw.clone();
            eprintln!(
                "replaying {} messages to {topic}{}",
                messages.len(),
                rate.map_or(String::new(), |r| format!(" at {r} msg/s"))
            );
            let done = runtime.block_on(async {
                // Without its topic the replay would only time out, a minute later.
                if config.kafka.create_topics {
                    runtime::kafka::ensure_topics(
                        &config.kafka,
                        &[(&topic, runtime::kafka::Cleanup::Delete)],
                    )
                    .await?;
                }
                replay(
                    &config.kafka,
                    "attrib-loadgen",
                    &topic,
                    &messages,
                    Pace {
                        rate,
                        progress: true,
                    },
                )
                .await
            })?;
            println!(
                "sent {} messages in {:.1} s ({:.0} msg/s)",
                messages.len(),
                done.elapsed.as_secs_f64(),
                messages.len() as f64 / done.elapsed.as_secs_f64().max(0.001)
            );
            Ok(())
        }
        Command::Summary { dir } => {
            print_summary(&file::read_expected(&dir)?);
            Ok(())
        }
    }
}

fn print_summary(expected: &loadgen::Expected) {
    let credited = expected
        .orders
        .iter()
        .filter(|o| o.partner_id.is_some())
        .count();
    println!(
        "expected: {} orders ({} credited to a partner), {} commission lines, {} dead letters",
        expected.orders.len(),
        credited,
        expected.lines.len(),
        expected.dead_letters.len()
    );
    let planted: Vec<String> = expected
        .planted
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("planted: {}", planted.join(", "));
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
