//! `enricher` — run the service (default), or `enricher env`.

use std::process::ExitCode;

use enricher::config::{all_vars, EnricherConfig};
use runtime::service::ServiceMain;

const USAGE: &str = "\
usage: enricher [run]   consume valid touchpoints until SIGTERM/SIGINT
       enricher env     print the environment variables the enricher reads

Reference data must be on the reference topic first: `reference publish FILE.toml`.";

fn main() -> ExitCode {
    ServiceMain {
        name: "enricher",
        title: "Enricher",
        usage: USAGE,
        vars: all_vars,
        read: EnricherConfig::from_env,
        common: |c: &EnricherConfig| &c.common,
    }
    .run(enricher::app::run)
}
