//! `risk` — run the service (default), or `risk env`.

use std::process::ExitCode;

use risk::config::{all_vars, RiskConfig};

const USAGE: &str = "\
usage: risk [run]   score attributed actions until SIGTERM/SIGINT
       risk env     print the environment variables the risk service reads

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
    let config = match runtime::service::read_config("risk", RiskConfig::from_env) {
        Ok(config) => config,
        Err(status) => return status,
    };
    runtime::telemetry::init(config.common.log_format, &config.common.log_level);
    runtime::service::run_until_signalled("Risk", |registry, shutdown| {
        risk::app::run(config, registry, shutdown)
    })
}
