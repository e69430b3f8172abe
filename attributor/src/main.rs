//! `attributor` — the attributor service. `attributor --help` lists the commands.

use std::process::ExitCode;

use attributor::config::{all_vars, AttributorConfig};
use runtime::service::ServiceMain;

fn main() -> ExitCode {
    ServiceMain {
        name: "attributor",
        about: "Attributes conversions and refunds to the touchpoints that earned them, with commission line items and evidence.",
        title: "Attributor",
        vars: all_vars,
        read: AttributorConfig::from_env,
        common: |c: &AttributorConfig| &c.common,
    }
    .main(env!("CARGO_PKG_VERSION"), attributor::app::run)
}
