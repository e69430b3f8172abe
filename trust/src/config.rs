//! The trust service's configuration: the shared variables plus its own, all from the
//! environment.

use runtime::config::{Env, EnvVar};
use runtime::CommonConfig;

/// Router consumer group.
pub const TRUST_ROUTER_GROUP_ID: EnvVar = EnvVar {
    name: "TRUST_ROUTER_GROUP_ID",
    default: Some("attrib-trust-router"),
    doc: "Consumer group of the router (profiles, reviews, verification commands and the pipeline's records in; signals keyed by specialist out).",
};
/// Scorer consumer group.
pub const TRUST_GROUP_ID: EnvVar = EnvVar {
    name: "TRUST_GROUP_ID",
    default: Some("attrib-trust"),
    doc: "Consumer group of the scorer (signals in; trust records, the verification history and ledger commands out).",
};
/// How often every specialist is scored again without a signal.
pub const TRUST_RESCORE_SECONDS: EnvVar = EnvVar {
    name: "TRUST_RESCORE_SECONDS",
    default: Some("3600"),
    doc: "Every this many seconds the scorer scores every specialist again: tenure, the review trend and credential expiry move with time, not with signals (an expired credential makes a verified specialist `due`).",
};
/// Restore deadline.
pub const TRUST_RESTORE_TIMEOUT_SECONDS: EnvVar = EnvVar {
    name: "TRUST_RESTORE_TIMEOUT_SECONDS",
    default: Some("120"),
    doc: "Longest a partition's state restore may take before the scorer gives up (and liveness fails).",
};

/// The principal the scorer signs its ledger commands as.
pub const TRUST_LEDGER_COMMAND_PRINCIPAL: EnvVar = EnvVar {
    name: "LEDGER_COMMAND_PRINCIPAL",
    default: Some(""),
    doc: "The principal the scorer signs its ledger commands as: `review_approve` for a specialist's commissions held until verification when they are verified, `review_reverse` when they are rejected. The ledger must grant it both (`LEDGER_COMMAND_GRANTS`, e.g. `trust=review_approve,review_reverse`). Unset: such lines stay held (logged).",
};
/// Its key.
pub const TRUST_LEDGER_COMMAND_KEY: EnvVar = EnvVar {
    name: "LEDGER_COMMAND_KEY",
    default: Some(""),
    doc: "Secret: that principal's key (base64), the same as its entry in the ledger's `LEDGER_COMMAND_KEYS`.",
};

/// The service's own variables.
pub const TRUST_VARS: [EnvVar; 6] = [
    TRUST_ROUTER_GROUP_ID,
    TRUST_GROUP_ID,
    TRUST_RESCORE_SECONDS,
    TRUST_RESTORE_TIMEOUT_SECONDS,
    TRUST_LEDGER_COMMAND_PRINCIPAL,
    TRUST_LEDGER_COMMAND_KEY,
];

/// Default admin address.
pub const ADMIN_DEFAULT: &str = "127.0.0.1:9107";

/// Every variable the service reads, for `trust env` and the README.
pub fn all_vars() -> Vec<EnvVar> {
    runtime::settings::service_vars(ADMIN_DEFAULT, &TRUST_VARS)
}

/// The trust service's configuration.
#[derive(Debug, Clone)]
pub struct TrustConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Router group.
    pub router_group_id: String,
    /// Scorer group.
    pub group_id: String,
    /// Scoring again without signals.
    pub rescore: std::time::Duration,
    /// Restore deadline.
    pub restore_timeout: std::time::Duration,
    /// Who the scorer's ledger commands are signed as, and the key.
    pub command_signer: Option<(String, runtime::SecretBytes)>,
}

impl TrustConfig {
    /// Reads and checks every variable; the error lists every problem.
    pub fn from_env(env: &mut Env) -> Result<TrustConfig, runtime::ConfigError> {
        let common = CommonConfig::from_env(env, "trust", ADMIN_DEFAULT);
        let rescore: u64 = env.parse(&TRUST_RESCORE_SECONDS);
        env.check(rescore >= 1, "TRUST_RESCORE_SECONDS must be at least 1");
        let restore: u64 = env.parse(&TRUST_RESTORE_TIMEOUT_SECONDS);
        env.check(
            restore >= 1,
            "TRUST_RESTORE_TIMEOUT_SECONDS must be at least 1",
        );
        Ok(TrustConfig {
            common,
            router_group_id: env.string(&TRUST_ROUTER_GROUP_ID),
            group_id: env.string(&TRUST_GROUP_ID),
            rescore: std::time::Duration::from_secs(rescore),
            restore_timeout: std::time::Duration::from_secs(restore),
            command_signer: runtime::secret::signer_from_env(
                env,
                &TRUST_LEDGER_COMMAND_PRINCIPAL,
                &TRUST_LEDGER_COMMAND_KEY,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<TrustConfig, String> {
        runtime::config::read_pairs(pairs, TrustConfig::from_env)
    }

    #[test]
    fn defaults_and_bad_values() {
        let config = read(&[]).expect("defaults");
        assert_eq!(config.rescore, std::time::Duration::from_secs(3600));
        let err = read(&[("TRUST_RESCORE_SECONDS", "0")]).expect_err("bad");
        assert!(err.contains("TRUST_RESCORE_SECONDS"), "{err}");
    }

    #[test]
    fn the_readme_table_is_the_one_the_code_generates() {
        let readme = include_str!("../README.md");
        let table = runtime::config::markdown_table(&all_vars());
        assert!(
            readme.contains(&table),
            "trust/README.md is out of date: paste the output of `trust env` into it"
        );
    }
}
