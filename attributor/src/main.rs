//! `attributor` — the attributor service. `attributor --help` lists the commands.

use std::process::ExitCode;

use attributor::config::{all_vars, AttributorConfig};
use clap::Parser;
use runtime::service::{help_footer, ServiceCommand, ServiceMain};

/// Attributes conversions and refunds to the touchpoints that earned them, with commission line items and evidence.
#[derive(Debug, Parser)]
#[command(name = "attributor", version, after_help = help_footer(REFERENCE_FIRST))]
struct Cli {
    #[command(subcommand)]
    command: Option<ServiceCommand>,
}

const REFERENCE_FIRST: &str =
    "Reference data must be on the reference topic first: `reference publish FILE.toml`.\n\n";

fn main() -> ExitCode {
    ServiceMain {
        name: "attributor",
        title: "Attributor",
        vars: all_vars,
        read: AttributorConfig::from_env,
        common: |c: &AttributorConfig| &c.common,
    }
    .run(Cli::parse().command, attributor::app::run)
}
