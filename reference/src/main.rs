//! `reference check FILE` / `reference publish FILE`: validate a reference file, and publish
//! it to the compacted reference topic.

use std::path::PathBuf;
use std::process::ExitCode;

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
    (KAFKA_BOOTSTRAP_SERVERS, TOPIC_NAMESPACE, TOPIC_REFERENCE_CONFIG, ...); see the root README.\n\
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
}

fn main() -> ExitCode {
    let (publish, path) = match Cli::parse().command {
        Command::Check { file } => (false, file),
        Command::Publish { file } => (true, file),
    };
    let path = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("reference: cannot read {path}: {e}");
            return ExitCode::from(66); // EX_NOINPUT
        }
    };
    let set = match reference::parse(&text) {
        Ok(set) => set,
        Err(errors) => {
            for e in &errors {
                eprintln!("{path}:{e}");
            }
            eprintln!("{path}: {} problem(s); nothing was published", errors.len());
            return ExitCode::from(65); // EX_DATAERR
        }
    };
    println!(
        "{path}: ok — {} programs, {} partners, {} links, {} codes, {} rules",
        set.programs.len(),
        set.partners.len(),
        set.links.len(),
        set.codes.len(),
        set.rules.len()
    );
    if !publish {
        return ExitCode::SUCCESS;
    }
    let mut env = Env::from_process();
    let config = CommonConfig::from_env(&mut env, "reference", "127.0.0.1:0");
    let signer = reference::publisher_signer(&mut env);
    if let Err(e) = env.finish() {
        eprintln!("reference: {e}");
        return ExitCode::from(78);
    }
    runtime::telemetry::init(config.log_format, &config.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can be built");
    let revision = reference::revision_of(&text);
    let topic = &config.topics.reference_config;
    match runtime.block_on(reference::publish::publish(
        &config.kafka,
        topic,
        &set,
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
            eprintln!("reference: publishing to {topic} failed: {e}");
            ExitCode::FAILURE
        }
    }
}
