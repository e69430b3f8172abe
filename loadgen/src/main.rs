//! `loadgen`: generate a workload and its expected outcome, or replay one to the raw topic.
//!
//!     loadgen generate --reference FILE --out DIR [--seed N] [--events N] [--start RFC3339] [--days N]
//!     loadgen replay DIR [--rate MSGS_PER_S] [--until RFC3339] [--after RFC3339]
//!     loadgen summary DIR

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use loadgen::replay::{replay, Pace};
use loadgen::{file, generate, Settings};
use runtime::config::Env;
use runtime::settings::CommonConfig;

const USAGE: &str = "usage:
  loadgen generate --reference FILE --out DIR [--seed N] [--events N] [--start RFC3339] [--days N]
      writes DIR/workload.ndjson (raw messages in send order) and DIR/expected.json (the oracle's
      expected orders, ledger lines and dead letters). Defaults: seed 1, 100000 events,
      start 2026-06-01T00:00:00Z, 60 days.
  loadgen replay DIR [--rate MSGS_PER_S] [--until RFC3339] [--after RFC3339]
      sends DIR/workload.ndjson to <TOPIC_NAMESPACE>.touchpoints.raw.v1 (KAFKA_BOOTSTRAP_SERVERS),
      as fast as possible unless --rate; --until/--after send only messages due by/after a time.
  loadgen summary DIR
      prints what DIR/expected.json expects.";

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn parsed<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match flag(args, name) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|e| anyhow::anyhow!("{name} {text:?}: {e}")),
    }
}

fn time(args: &[String], name: &str) -> Result<Option<DateTime<Utc>>> {
    flag(args, name)
        .map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|d| d.with_timezone(&Utc))
                .with_context(|| format!("{name} {t:?}"))
        })
        .transpose()
}

fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("generate") => {
            let reference = flag(args, "--reference").context("--reference FILE is required")?;
            let out = PathBuf::from(flag(args, "--out").context("--out DIR is required")?);
            let settings = Settings {
                seed: parsed(args, "--seed", 1)?,
                events: parsed(args, "--events", 100_000)?,
                start: time(args, "--start")?.unwrap_or_else(default_start),
                days: parsed(args, "--days", 60)?,
            };
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
        Some("replay") => {
            let dir = PathBuf::from(args.get(1).context("replay DIR")?);
            let rate = flag(args, "--rate")
                .map(|r| r.parse::<f64>())
                .transpose()
                .context("--rate")?;
            let (until, after) = (time(args, "--until")?, time(args, "--after")?);
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
        Some("summary") => {
            let dir = PathBuf::from(args.get(1).context("summary DIR")?);
            print_summary(&file::read_expected(&dir)?);
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

/// The default first day of orders: fixed, so a seed means the same workload on every day.
fn default_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .map_or_else(|_| Utc::now(), |d| d.with_timezone(&Utc))
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}
