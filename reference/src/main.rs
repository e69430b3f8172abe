//! `reference check FILE` / `reference publish FILE` / `reference refresh`: validate a
//! reference file, publish it to the reference topic, and keep the topic's live records
//! younger than its retention.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use runtime::{CommonConfig, Env};

/// Reference data (programs, partners, links, codes, commission rules, risk policies) from a
/// TOML file people write: validate it, and publish it to the compacted reference topic.
#[derive(Debug, Parser)]
#[command(name = "reference", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const AFTER_HELP: &str = "Kafka settings come from the shared environment variables \
    (KAFKA_BOOTSTRAP_SERVERS, TOPIC_NAMESPACE, TOPIC_REFERENCE_CONFIG, REFERENCE_RETENTION_MS, \
    ...); see the root README.\n\
    Exit status: 0 done, 1 publishing failed, 2 command-line error, 65 invalid file, \
    66 unreadable file, 78 invalid configuration.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a reference file; every problem is listed with its line
    Check {
        /// The TOML file
        file: PathBuf,
    },
    /// Validate, then publish new and changed entities and tombstone the ones the file no
    /// longer has (nothing is sent if there is any problem)
    Publish {
        /// The TOML file
        file: PathBuf,
    },
    /// Re-send (byte for byte, signatures intact) every live record whose newest copy is
    /// older than a quarter of REFERENCE_RETENTION_MS, so retention removes only superseded
    /// and erased copies, never the catalogue. Run daily (deploy/: a CronJob)
    Refresh {
        /// Re-send records whose newest copy is older than this (default: a quarter of
        /// REFERENCE_RETENTION_MS)
        #[arg(long)]
        older_than_seconds: Option<u64>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { file } => check(&file).map_or_else(|status| status, |_| ExitCode::SUCCESS),
        Command::Publish { file } => match check(&file) {
            Ok((set, text)) => publish(&file, &set, &text),
            Err(status) => status,
        },
        Command::Refresh { older_than_seconds } => refresh(older_than_seconds),
    }
}

/// Reads and validates the file; prints what it holds.
fn check(path: &std::path::Path) -> Result<(reference::ReferenceSet, String), ExitCode> {
    let path = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        eprintln!("reference: cannot read {path}: {e}");
        ExitCode::from(66) // EX_NOINPUT
    })?;
    let set = reference::parse(&text).map_err(|errors| {
        for e in &errors {
            eprintln!("{path}:{e}");
        }
        eprintln!("{path}: {} problem(s); nothing was published", errors.len());
        ExitCode::from(65) // EX_DATAERR
    })?;
    println!(
        "{path}: ok — {} programs, {} partners, {} links, {} codes, {} rules",
        set.programs.len(),
        set.partners.len(),
        set.links.len(),
        set.codes.len(),
        set.rules.len()
    );
    Ok((set, text))
}

/// The shared configuration (and the publisher's signer), or the exit status.
fn config(
    signer: bool,
) -> Result<(CommonConfig, Option<(String, runtime::SecretBytes)>), ExitCode> {
    let mut env = Env::from_process();
    let config = CommonConfig::from_env(&mut env, "reference", "127.0.0.1:0");
    let signer = if signer {
        reference::publisher_signer(&mut env)
    } else {
        None
    };
    if let Err(e) = env.finish() {
        eprintln!("reference: {e}");
        return Err(ExitCode::from(78));
    }
    runtime::telemetry::init(config.log_format, &config.log_level);
    Ok((config, signer))
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
        .block_on(future)
}

fn publish(path: &std::path::Path, set: &reference::ReferenceSet, text: &str) -> ExitCode {
    let (config, signer) = match config(true) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let revision = reference::revision_of(text);
    let topic = &config.topics.reference_config;
    match block_on(reference::publish::publish(
        &config.kafka,
        topic,
        set,
        &revision,
        chrono::Utc::now(),
        signer
            .as_ref()
            .map(|(principal, key)| (principal.as_str(), key.expose())),
    )) {
        Ok(summary) => {
            println!("published {revision} to {topic}: {summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "reference: publishing {} to {topic} failed: {e}",
                path.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn refresh(older_than_seconds: Option<u64>) -> ExitCode {
    let (config, _) = match config(false) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let topic = &config.topics.reference_config;
    let retention = config.kafka.topic_policy.retention_of(topic).unwrap_or(-1);
    let older_than = match (older_than_seconds, u64::try_from(retention)) {
        (Some(s), _) => Duration::from_secs(s),
        (None, Ok(ms)) if ms > 0 => Duration::from_millis(ms / 4),
        (None, _) => {
            println!("{topic}: REFERENCE_RETENTION_MS is forever (-1); nothing to refresh");
            return ExitCode::SUCCESS;
        }
    };
    match block_on(reference::publish::refresh(
        &config.kafka,
        topic,
        older_than,
        chrono::Utc::now(),
    )) {
        Ok(s) => {
            println!(
                "refreshed {topic}: {} live records re-sent (older than {} s), {} recent enough",
                s.resent,
                older_than.as_secs(),
                s.fresh
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("reference: refreshing {topic} failed: {e}");
            ExitCode::FAILURE
        }
    }
}
