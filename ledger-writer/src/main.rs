//! `ledger-writer` — run the service (default), `ledger-writer env`, or a ledger command.

use std::process::ExitCode;

use ledger_writer::config::{all_vars, LedgerConfig};
use runtime::service::ServiceMain;

const USAGE: &str = "\
usage: ledger-writer [run]   keep the ledger and the analytics tables until SIGTERM/SIGINT
       ledger-writer env     print the environment variables the ledger-writer reads";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = format!("{USAGE}\n{}", ledger_writer::cli::USAGE);
    match args.first().map(String::as_str) {
        Some("migrate" | "reconcile" | "payout" | "review" | "reverse") => command(&args),
        Some("-h" | "--help" | "help") => {
            println!("{usage}");
            ExitCode::SUCCESS
        }
        _ => ServiceMain {
            name: "ledger-writer",
            title: "Ledger-writer",
            usage: Box::leak(usage.into_boxed_str()),
            vars: all_vars,
            read: LedgerConfig::from_env,
            common: |c: &LedgerConfig| &c.common,
        }
        .run(ledger_writer::app::run),
    }
}

/// Runs a ledger command: exit 0 when every partition accepted it, 1 otherwise, 78 on bad
/// configuration.
fn command(args: &[String]) -> ExitCode {
    let config = match runtime::service::read_config("ledger-writer", LedgerConfig::from_env) {
        Ok(config) => config,
        Err(status) => return status,
    };
    runtime::telemetry::init(config.common.log_format, "warn");
    let result = runtime::service::tokio_runtime().block_on(async {
        if args[0] == "migrate" {
            let server = ledger_writer::store::connect(&config.clickhouse);
            let applied =
                ledger_writer::store::migrations::migrate(&server, &config.clickhouse.database)
                    .await?;
            return Ok(format!(
                "database {}: migrations applied now: {applied:?} (the rest were already applied)\n",
                config.clickhouse.database
            ));
        }
        if args[0] == "reconcile" {
            return ledger_writer::cli::reconcile(&config).await;
        }
        ledger_writer::cli::run(&config, args).await
    });
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{}", e.0);
            if !e.0.ends_with('\n') {
                eprintln!();
            }
            ExitCode::FAILURE
        }
    }
}
