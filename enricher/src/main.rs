//! `enricher` — the enricher service. `enricher --help` lists the commands.

use std::process::ExitCode;

use clap::Parser;
use enricher::config::{all_vars, EnricherConfig};
use runtime::service::{help_footer, ServiceCommand, ServiceMain};

/// Enriches valid touchpoints: program, attribution key (customer → visitor bindings), channel, UTM, ad click ids, partner.
#[derive(Debug, Parser)]
#[command(name = "enricher", version, after_help = help_footer(REFERENCE_FIRST))]
struct Cli {
    #[command(subcommand)]
    command: Option<ServiceCommand>,
}

const REFERENCE_FIRST: &str =
    "Reference data must be on the reference topic first: `reference publish FILE.toml`.\n\n";

fn main() -> ExitCode {
    ServiceMain {
        name: "enricher",
        title: "Enricher",
        vars: all_vars,
        read: EnricherConfig::from_env,
        common: |c: &EnricherConfig| &c.common,
    }
    .run(Cli::parse().command, enricher::app::run)
}
