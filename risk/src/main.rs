//! `risk` — the risk service. `risk --help` lists the commands.

use std::process::ExitCode;

use risk::config::{all_vars, RiskConfig};
use runtime::service::ServiceMain;

fn main() -> ExitCode {
    ServiceMain {
        name: "risk",
        about: "Scores attributed actions with reason-coded rules, keeps Risk % and levels, and decides commissions by the program's policy.",
        title: "Risk",
        vars: all_vars,
        read: RiskConfig::from_env,
        common: |c: &RiskConfig| &c.common,
    }
    .main(env!("CARGO_PKG_VERSION"), risk::app::run)
}
