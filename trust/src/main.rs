//! `trust` — the specialist trust service, and the command that issues verification commands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use runtime::service::{help_footer, ServiceCommand, ServiceMain, REFERENCE_FIRST};
use trust::config::{all_vars, TrustConfig};
use trust::verification::Checklist;

/// Verifies specialists, scores their profiles and reviews, and ranks them for discovery.
#[derive(Debug, Parser)]
#[command(name = "trust", version, after_help = help_footer(REFERENCE_FIRST))]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Service(ServiceCommand),
    /// Issue a verification command: apply, start_review, verify, reject, suspend, reinstate or credential_expired
    Verification {
        /// The action.
        action: String,
        /// The specialist (partner id).
        specialist: String,
        /// Who issues it (recorded in the history).
        #[arg(long)]
        actor: String,
        /// Why (needed to reject, suspend or reinstate; shown in the history).
        #[arg(long, default_value = "")]
        reason: String,
        /// The specialist's identity was checked.
        #[arg(long)]
        identity: bool,
        /// Their credential was checked.
        #[arg(long)]
        credential: bool,
        /// The program's agreement is signed (or re-confirmed).
        #[arg(long)]
        agreement: bool,
    },
}

fn main() -> ExitCode {
    let service = ServiceMain {
        name: "trust",
        about:
            "Verifies specialists, scores their profiles and reviews, and ranks them for discovery.",
        title: "Trust",
        vars: all_vars,
        read: TrustConfig::from_env,
        common: |c: &TrustConfig| &c.common,
    };
    match Cli::parse().command {
        None => service.run(None, trust::app::run),
        Some(Command::Service(command)) => service.run(Some(command), trust::app::run),
        Some(Command::Verification {
            action,
            specialist,
            actor,
            reason,
            identity,
            credential,
            agreement,
        }) => {
            let action = match trust::cli::action(&action) {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("trust: {e}");
                    return ExitCode::from(2);
                }
            };
            let config = match runtime::service::read_config("trust", TrustConfig::from_env) {
                Ok(config) => config,
                Err(status) => return status,
            };
            runtime::telemetry::init(config.common.log_format, "warn");
            let record = trust::cli::command(
                &specialist,
                action,
                &actor,
                &reason,
                Checklist {
                    identity,
                    credential,
                    agreement,
                },
                chrono::Utc::now(),
            );
            match runtime::service::tokio_runtime().block_on(trust::cli::send(&config, &record)) {
                Ok(id) => {
                    println!("{id}: {} {specialist} sent; its judgement is on {} (ClickHouse: trust_verification)", action.as_str(), config.common.topics.trust_verification);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("trust: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
