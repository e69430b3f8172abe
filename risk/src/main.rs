//! `risk` — run the service (default), or `risk env`.

use std::process::ExitCode;

use risk::config::{all_vars, RiskConfig};
use runtime::service::ServiceMain;

const USAGE: &str = "\
usage: risk [run]   score attributed actions until SIGTERM/SIGINT
       risk env     print the environment variables the risk service reads

Reference data must be on the reference topic first: `reference publish FILE.toml`.";

fn main() -> ExitCode {
    ServiceMain {
        name: "risk",
        title: "Risk",
        usage: USAGE,
        vars: all_vars,
        read: RiskConfig::from_env,
        common: |c: &RiskConfig| &c.common,
    }
    .run(risk::app::run)
}
