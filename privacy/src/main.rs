//! `privacy` — erase a customer from every store, or a partner's personal profile; export what
//! is held about either.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use privacy::config::{all_vars, PrivacyConfig};
use privacy::plan::{PartnerSubject, Subject};

/// Erasure and export of a customer's or a partner's personal data (GDPR Art. 17 and 20).
#[derive(Debug, Parser)]
#[command(name = "privacy", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Erase a customer from state, changelogs, topics and ClickHouse; prints the receipt
    /// (JSON) and records it in `privacy_requests`. Exit 0 when every store confirmed.
    Erase {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Who asks (recorded).
        #[arg(long)]
        actor: String,
        /// The request's id (default: derived from the time).
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Print everything held about a customer as one JSON document.
    Export {
        #[command(flatten)]
        subject: SubjectArgs,
    },
    /// Erase a partner's personal profile (name, self-referral ids) from the reference topic;
    /// money keeps the partner id. Prints the receipt (JSON) and records it.
    ErasePartner {
        /// The partner id.
        #[arg(long)]
        partner: String,
        /// Who asks (recorded).
        #[arg(long)]
        actor: String,
        /// The request's id (default: derived from the time).
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Print everything held about a partner as one JSON document: profile, links, codes, and
    /// their rows of the partner-safe tables.
    ExportPartner {
        /// The partner id.
        #[arg(long)]
        partner: String,
    },
    /// List the environment variables (markdown table).
    Env,
}

#[derive(Debug, clap::Args)]
struct SubjectArgs {
    /// The program (tenant).
    #[arg(long)]
    program: String,
    /// The customer id the program knows the person by.
    #[arg(long)]
    customer: String,
}

impl SubjectArgs {
    fn subject(&self) -> Subject {
        Subject {
            program_id: self.program.clone(),
            customer_id: self.customer.clone(),
        }
    }
}

fn default_request_id() -> String {
    format!("era-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Env = cli.command {
        print!("{}", runtime::config::markdown_table(&all_vars()));
        return ExitCode::SUCCESS;
    }
    let config = match runtime::service::read_config("privacy", PrivacyConfig::from_env) {
        Ok(config) => config,
        Err(status) => return status,
    };
    runtime::telemetry::init(config.common.log_format, "warn");
    let result = runtime::service::tokio_runtime().block_on(async {
        match &cli.command {
            Command::Erase {
                subject,
                actor,
                request_id,
            } => {
                let id = request_id.clone().unwrap_or_else(default_request_id);
                privacy::erase(&config, &subject.subject(), actor, &id).await
            }
            Command::Export { subject } => privacy::export(&config, &subject.subject()).await,
            Command::ErasePartner {
                partner,
                actor,
                request_id,
            } => {
                let id = request_id.clone().unwrap_or_else(default_request_id);
                let subject = PartnerSubject {
                    partner_id: partner.clone(),
                };
                privacy::erase_partner(&config, &subject, actor, &id).await
            }
            Command::ExportPartner { partner } => {
                let subject = PartnerSubject {
                    partner_id: partner.clone(),
                };
                privacy::export_partner(&config, &subject).await
            }
            Command::Env => unreachable!("handled above"),
        }
    });
    match result {
        Ok(document) => {
            // Written, not `println!`: a reader that stops early (`| head`) is not a failure.
            use std::io::Write;
            let text = serde_json::to_string_pretty(&document).unwrap_or_default();
            match writeln!(std::io::stdout().lock(), "{text}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("privacy: writing the document failed: {e}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("privacy: {}", e.0);
            ExitCode::FAILURE
        }
    }
}
