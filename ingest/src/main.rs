//! `ingest` — run the service (default), `ingest import <file.ndjson>`, or `ingest env`.

use std::process::ExitCode;

use ingest::config::{all_vars, IngestConfig};

const USAGE: &str = "\
usage: ingest [run]               consume the raw topic until SIGTERM/SIGINT
       ingest import FILE.ndjson  validate and publish offline events, one JSON object per line
       ingest env                 print the environment variables ingest reads

Configuration comes from environment variables; `ingest env` lists them.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str);
    match command {
        Some("env") => {
            print!("{}", runtime::config::markdown_table(&all_vars()));
            return ExitCode::SUCCESS;
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        None | Some("run") | Some("import") => {}
        Some(other) => {
            eprintln!("unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let config = match runtime::service::read_config("ingest", IngestConfig::from_env) {
        Ok(config) => config,
        Err(status) => return status,
    };
    runtime::telemetry::init(config.common.log_format, &config.common.log_level);
    match command {
        Some("import") => {
            let Some(path) = args.get(1) else {
                eprintln!("ingest import needs a file\n\n{USAGE}");
                return ExitCode::from(2);
            };
            match runtime::service::tokio_runtime()
                .block_on(ingest::import::import(&config, std::path::Path::new(path)))
            {
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
        _ => runtime::service::run_until_signalled("Ingest", |registry, shutdown| {
            ingest::app::run(config, registry, shutdown)
        }),
    }
}
