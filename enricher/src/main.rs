//! `enricher` — the enricher service. `enricher --help` lists the commands.

use std::process::ExitCode;

use enricher::config::{all_vars, EnricherConfig};
use runtime::service::ServiceMain;

fn main() -> ExitCode {
    ServiceMain {
        name: "enricher",
        about: "Enriches valid touchpoints: program, attribution key (customer → visitor bindings), channel, UTM, ad click ids, partner.",
        title: "Enricher",
        vars: all_vars,
        read: EnricherConfig::from_env,
        common: |c: &EnricherConfig| &c.common,
    }
    .main(env!("CARGO_PKG_VERSION"), enricher::app::run)
}
