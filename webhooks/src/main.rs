//! `webhooks` — the webhooks service, and the command that prints an endpoint's secret.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use runtime::service::{help_footer, ServiceCommand, ServiceMain, REFERENCE_FIRST};
use webhooks::config::{all_vars, WebhooksConfig};

/// Tells programs and partners, by signed webhooks, what the ledger and risk decided.
#[derive(Debug, Parser)]
#[command(name = "webhooks", version, after_help = help_footer(REFERENCE_FIRST))]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Service(ServiceCommand),
    /// Send one endpoint its events again: about named ledger entries, payouts or claims, or those that happened in a range
    Resend {
        /// The endpoint id.
        #[arg(long)]
        endpoint: String,
        /// A ledger entry, payout or claim id (repeat for several).
        #[arg(long = "event", visible_alias = "entry")]
        entries: Vec<String>,
        /// Events that happened at or after this instant (RFC 3339).
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Events that happened before this instant (RFC 3339).
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Print an endpoint's signing secret (whsec_…) for its owner, from WEBHOOKS_SIGNING_KEY
    Secret {
        /// The endpoint id (reference data `[[webhooks]]`).
        endpoint: String,
        /// Its `secret_version`.
        #[arg(long, default_value_t = 1)]
        version: i32,
    },
}

fn main() -> ExitCode {
    let service = ServiceMain {
        name: "webhooks",
        about: "Tells programs and partners, by signed webhooks, what the ledger and risk decided.",
        title: "Webhooks",
        vars: all_vars,
        read: WebhooksConfig::from_env,
        common: |c: &WebhooksConfig| &c.common,
    };
    match Cli::parse().command {
        None => service.run(None, webhooks::app::run),
        Some(Command::Service(command)) => service.run(Some(command), webhooks::app::run),
        Some(Command::Resend {
            endpoint,
            entries,
            from,
            to,
        }) => {
            if entries.is_empty() && from.is_none() && to.is_none() {
                eprintln!("webhooks: give --event, or --from and/or --to (resending everything is not a default)");
                return ExitCode::from(2);
            }
            let config = match runtime::service::read_config("webhooks", WebhooksConfig::from_env) {
                Ok(config) => config,
                Err(status) => return status,
            };
            runtime::telemetry::init(config.common.log_format, "warn");
            let selection = webhooks::resend::Selection {
                ids: entries,
                from,
                to,
            };
            let sent = runtime::service::tokio_runtime()
                .block_on(webhooks::resend::resend(&config, &endpoint, &selection));
            match sent {
                Ok(n) => {
                    println!("{n} event(s) queued again for {endpoint}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("webhooks: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Secret { endpoint, version }) => {
            let config = match runtime::service::read_config("webhooks", WebhooksConfig::from_env) {
                Ok(config) => config,
                Err(status) => return status,
            };
            let secret = webhooks::signing::EndpointSecret::derive(
                config.signing_key.expose(),
                &endpoint,
                version,
            );
            println!("{}", secret.text());
            ExitCode::SUCCESS
        }
    }
}
