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
