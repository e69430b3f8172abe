//! `attributor` — run the service (default), or `attributor env`.

use std::process::ExitCode;

use attributor::config::{all_vars, AttributorConfig};

const USAGE: &str = "\
usage: attributor [run]   consume enriched touchpoints until SIGTERM/SIGINT
       attributor env     print the environment variables the attributor reads

Reference data must be on the reference topic first: `reference publish FILE.toml`.";

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None | Some("run") => {}
        Some("env") => {
            print!("{}", runtime::config::markdown_table(&all_vars()));
            return ExitCode::SUCCESS;
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let config = match runtime::service::read_config("attributor", AttributorConfig::from_env) {
        Ok(config) => config,
        Err(status) => return status,
    };
    runtime::telemetry::init(config.common.log_format, &config.common.log_level);
    runtime::service::run_until_signalled("Attributor", |registry, shutdown| {
        attributor::app::run(config, registry, shutdown)
    })
}
