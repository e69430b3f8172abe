//! `attributor` — run the service (default), or `attributor env`.

use std::process::ExitCode;

use attributor::config::{all_vars, AttributorConfig};
use runtime::service::ServiceMain;

const USAGE: &str = "\
usage: attributor [run]   consume enriched touchpoints until SIGTERM/SIGINT
       attributor env     print the environment variables the attributor reads

Reference data must be on the reference topic first: `reference publish FILE.toml`.";

fn main() -> ExitCode {
    ServiceMain {
        name: "attributor",
        title: "Attributor",
        usage: USAGE,
        vars: all_vars,
        read: AttributorConfig::from_env,
        common: |c: &AttributorConfig| &c.common,
    }
    .run(attributor::app::run)
}
