//! `risk` — the risk service. `risk --help` lists the commands.

use std::process::ExitCode;

use clap::Parser;
use risk::config::{all_vars, RiskConfig};
use runtime::service::{help_footer, ServiceCommand, ServiceMain};

/// Scores attributed actions with reason-coded rules, keeps Risk % and levels, and decides commissions by the program's policy.
#[derive(Debug, Parser)]
#[command(name = "risk", version, after_help = help_footer(REFERENCE_FIRST))]
struct Cli {
    #[command(subcommand)]
    command: Option<ServiceCommand>,
}

const REFERENCE_FIRST: &str =
    "Reference data must be on the reference topic first: `reference publish FILE.toml`.\n\n";

fn main() -> ExitCode {
    ServiceMain {
        name: "risk",
        title: "Risk",
        vars: all_vars,
        read: RiskConfig::from_env,
        common: |c: &RiskConfig| &c.common,
    }
    .run(Cli::parse().command, risk::app::run)
}
