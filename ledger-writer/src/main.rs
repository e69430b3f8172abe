//! `ledger-writer` — the ledger service, and the commands people run against the ledger.
//! `ledger-writer --help` lists them; `ledger-writer payout run --help` explains one.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ledger_writer::cli::LedgerCli;
use ledger_writer::config::{all_vars, LedgerConfig};
use runtime::service::{help_footer, ServiceCommand, ServiceMain};

/// Keeps the commission ledger (pending → approved → paid, held, reversed, clawbacks), its
/// payouts and reviews, every entry in ClickHouse and on the finance topic, and the analytics
/// tables.
#[derive(Debug, Parser)]
#[command(name = "ledger-writer", version, after_help = help_footer(COMMANDS))]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

const COMMANDS: &str = "A ledger command is checked against ClickHouse, published to the \
    commands topic and answered with the outcome the ledger recorded: exit 0 when every \
    partition accepted it, 1 otherwise.\n\n";

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Service(ServiceCommand),
    #[command(flatten)]
    Ledger(LedgerCli),
}

fn main() -> ExitCode {
    let service = ServiceMain {
        name: "ledger-writer",
        about: "Keeps the commission ledger, its payouts and reviews, and the analytics tables.",
        title: "Ledger-writer",
        vars: all_vars,
        read: LedgerConfig::from_env,
        common: |c: &LedgerConfig| &c.common,
    };
    match Cli::parse().command {
        None => service.run(None, ledger_writer::app::run),
        Some(Command::Service(command)) => service.run(Some(command), ledger_writer::app::run),
        Some(Command::Ledger(line)) => ledger_command(&line),
    }
}

/// Runs a ledger command: exit 0 when every partition accepted it, 1 otherwise, 78 on bad
/// configuration.
fn ledger_command(line: &LedgerCli) -> ExitCode {
    let config = match runtime::service::read_config("ledger-writer", LedgerConfig::from_env) {
        Ok(config) => config,
        Err(status) => return status,
    };
    runtime::telemetry::init(config.common.log_format, "warn");
    let words: Vec<String> = std::env::args().skip(1).collect();
    let result = runtime::service::tokio_runtime().block_on(async {
        match line {
            LedgerCli::Migrate => {
                let server = ledger_writer::store::connect(&config.clickhouse)?;
                let database = &config.clickhouse.database;
                let applied = ledger_writer::store::migrations::migrate(&server, database).await?;
                Ok(format!(
                    "database {database}: migrations applied now: {applied:?} (the rest were already applied)\n"
                ))
            }
            LedgerCli::Reconcile => ledger_writer::cli::reconcile(&config).await,
            _ => ledger_writer::cli::run(&config, line, &words).await,
        }
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
