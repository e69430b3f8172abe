//! `partner-api` — the partner API service, and the token commands operators run.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use partner_api::config::{all_vars, ApiConfig};
use partner_api::token::Scope;
use runtime::service::{help_footer, ServiceCommand, ServiceMain};

/// Partners read their own statement, payouts and risk over HTTP; operators read their
/// program's partners.
#[derive(Debug, Parser)]
#[command(name = "partner-api", version, after_help = help_footer(""))]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Service(ServiceCommand),
    /// Issue, revoke or list API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// List or resolve the missing-commission claims the API could not answer
    #[command(subcommand)]
    Claims(ClaimsCommand),
}

#[derive(Debug, Subcommand)]
enum ClaimsCommand {
    /// List a program's claims with a status (open: waiting for an operator)
    List {
        /// The program.
        #[arg(long)]
        program: String,
        /// `open`, `resolved` or `answered`.
        #[arg(long, default_value = "open")]
        status: String,
    },
    /// Resolve an open claim; the partner reads the resolution
    Resolve {
        /// The claim (`clm-…`).
        #[arg(long)]
        claim_id: String,
        /// What was decided, in words the partner reads.
        #[arg(long)]
        resolution: String,
        /// Who decided.
        #[arg(long)]
        actor: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a token: a partner's (with --partner) or a program operator's (--operator);
    /// prints it once
    Issue {
        /// The program.
        #[arg(long)]
        program: String,
        /// The partner the token reads.
        #[arg(
            long,
            conflicts_with = "operator",
            required_unless_present = "operator"
        )]
        partner: Option<String>,
        /// An operator's token: every partner of the program.
        #[arg(long)]
        operator: bool,
        /// What it is for (recorded).
        #[arg(long, default_value = "")]
        label: String,
        /// Who issues it (recorded).
        #[arg(long)]
        actor: String,
    },
    /// Revoke a token by its id
    Revoke {
        /// The token id (the 16 hex digits after `atk_`).
        #[arg(long)]
        token_id: String,
        /// Who revokes it.
        #[arg(long)]
        actor: String,
    },
    /// List a program's tokens (ids, scopes, labels; never secrets)
    List {
        /// The program.
        #[arg(long)]
        program: String,
    },
}

fn main() -> ExitCode {
    let service = ServiceMain {
        name: "partner-api",
        about: "Partners read their own statement, payouts and risk over HTTP.",
        title: "Partner API",
        vars: all_vars,
        read: ApiConfig::from_env,
        common: |c: &ApiConfig| &c.common,
    };
    match Cli::parse().command {
        None => service.run(None, partner_api::app::run),
        Some(Command::Service(command)) => service.run(Some(command), partner_api::app::run),
        Some(Command::Token(command)) => command_line(Line::Token(command)),
        Some(Command::Claims(command)) => command_line(Line::Claims(command)),
    }
}

/// An operator's command.
enum Line {
    Token(TokenCommand),
    Claims(ClaimsCommand),
}

fn command_line(line: Line) -> ExitCode {
    let config = match runtime::service::read_config("partner-api", ApiConfig::from_env) {
        Ok(config) => config,
        Err(status) => return status,
    };
    runtime::telemetry::init(config.common.log_format, "warn");
    let result = runtime::service::tokio_runtime().block_on(async {
        let command = match line {
            Line::Token(command) => command,
            Line::Claims(ClaimsCommand::List { program, status }) => {
                return partner_api::commands::claims_list(&config, &program, &status).await;
            }
            Line::Claims(ClaimsCommand::Resolve {
                claim_id,
                resolution,
                actor,
            }) => {
                return partner_api::commands::claims_resolve(
                    &config,
                    &claim_id,
                    &resolution,
                    &actor,
                )
                .await;
            }
        };
        match command {
            TokenCommand::Issue {
                program,
                partner,
                operator: _,
                label,
                actor,
            } => {
                let scope = match partner {
                    Some(partner_id) => Scope::Partner {
                        program_id: program,
                        partner_id,
                    },
                    None => Scope::Operator {
                        program_id: program,
                    },
                };
                partner_api::commands::issue(&config, &scope, &label, &actor).await
            }
            TokenCommand::Revoke { token_id, actor } => {
                partner_api::commands::revoke(&config, &token_id, &actor).await
            }
            TokenCommand::List { program } => partner_api::commands::list(&config, &program).await,
        }
    });
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("partner-api: {}", e.0);
            ExitCode::FAILURE
        }
    }
}
