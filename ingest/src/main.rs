//! `ingest` — the ingest service, and `ingest import` for offline files. `ingest --help` lists
//! the commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ingest::config::{all_vars, IngestConfig};
use runtime::service::{help_footer, ServiceCommand, ServiceMain};

/// Validates raw JSON touchpoints into Avro, de-duplicates them and dead-letters what is bad.
#[derive(Debug, Parser)]
#[command(name = "ingest", version, after_help = help_footer(""))]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Service(ServiceCommand),
    /// Validate and publish offline events, one JSON object per line, like the stream's
    /// (dead letters included); exits once every line is acknowledged
    Import {
        /// The NDJSON file
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let service = ServiceMain {
        name: "ingest",
        about: "Validates raw JSON touchpoints into Avro, de-duplicates them and dead-letters what is bad.",
        title: "Ingest",
        vars: all_vars,
        read: IngestConfig::from_env,
        common: |c: &IngestConfig| &c.common,
    };
    let file = match Cli::parse().command {
        None => return service.run(None, ingest::app::run),
        Some(Command::Service(command)) => return service.run(Some(command), ingest::app::run),
        Some(Command::Import { file }) => file,
    };
    let config = match runtime::service::read_config("ingest", IngestConfig::from_env) {
        Ok(config) => config,
        Err(status) => return status,
    };
    runtime::telemetry::init(config.common.log_format, &config.common.log_level);
    match runtime::service::tokio_runtime().block_on(ingest::import::import(&config, &file)) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "Import failed; lines up to the last acknowledged chunk were published.");
            ExitCode::FAILURE
        }
    }
}
