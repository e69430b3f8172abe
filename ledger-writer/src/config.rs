//! The ledger-writer's configuration: the shared variables plus its own, all from the
//! environment.

use std::time::Duration;

use runtime::config::{Env, EnvVar};
use runtime::CommonConfig;

use crate::store::ClickHouseConfig;

/// Ledger consumer group.
pub const LEDGER_GROUP_ID: EnvVar = EnvVar {
    name: "LEDGER_GROUP_ID",
    default: Some("attrib-ledger"),
    doc: "Consumer group of the ledger (commission decisions and ledger commands in; ledger entries, payouts and their rows out).",
};
/// Analytics consumer group.
pub const LEDGER_ANALYTICS_GROUP_ID: EnvVar = EnvVar {
    name: "LEDGER_ANALYTICS_GROUP_ID",
    default: Some("attrib-ledger-analytics"),
    doc: "Consumer group of the analytics writer (enriched touchpoints, attributions, risk scores and levels into ClickHouse).",
};
/// ClickHouse URL.
pub const CLICKHOUSE_URL: EnvVar = EnvVar {
    name: "CLICKHOUSE_URL",
    default: Some("http://127.0.0.1:18123"),
    doc: "ClickHouse HTTP endpoint.",
};
/// ClickHouse database.
pub const CLICKHOUSE_DATABASE: EnvVar = EnvVar {
    name: "CLICKHOUSE_DATABASE",
    default: Some("attrib"),
    doc: "Database for every table; created and migrated on start.",
};
/// ClickHouse user.
pub const CLICKHOUSE_USER: EnvVar = EnvVar {
    name: "CLICKHOUSE_USER",
    default: Some("default"),
    doc: "ClickHouse user.",
};
/// ClickHouse password.
pub const CLICKHOUSE_PASSWORD: EnvVar = EnvVar {
    name: "CLICKHOUSE_PASSWORD",
    default: Some(""),
    doc: "ClickHouse password.",
};
/// Row validation.
pub const CLICKHOUSE_VALIDATION: EnvVar = EnvVar {
    name: "CLICKHOUSE_VALIDATION",
    default: Some("false"),
    doc: "`true` makes the client check rows against the table schema (ClickHouse 24+); must be `false` against 18.16.",
};
/// Restore stall timeout.
pub const LEDGER_RESTORE_TIMEOUT_SECONDS: EnvVar = EnvVar {
    name: "LEDGER_RESTORE_TIMEOUT_SECONDS",
    default: Some("60"),
    doc: "Reading a state changelog partition may go this long without progress before the service gives up and exits.",
};
/// How long a command waits for its outcome.
pub const LEDGER_COMMAND_WAIT_SECONDS: EnvVar = EnvVar {
    name: "LEDGER_COMMAND_WAIT_SECONDS",
    default: Some("60"),
    doc: "`ledger-writer payout|review …` waits this long for the running ledger to record the command's outcome.",
};

/// The ledger-writer's own variables.
pub const LEDGER_VARS: [EnvVar; 9] = [
    LEDGER_GROUP_ID,
    LEDGER_ANALYTICS_GROUP_ID,
    CLICKHOUSE_URL,
    CLICKHOUSE_DATABASE,
    CLICKHOUSE_USER,
    CLICKHOUSE_PASSWORD,
    CLICKHOUSE_VALIDATION,
    LEDGER_RESTORE_TIMEOUT_SECONDS,
    LEDGER_COMMAND_WAIT_SECONDS,
];

/// Default admin address of the ledger-writer.
pub const ADMIN_DEFAULT: &str = "127.0.0.1:9105";

/// Every variable the ledger-writer reads, for `ledger-writer env` and the README.
pub fn all_vars() -> Vec<EnvVar> {
    runtime::settings::service_vars(ADMIN_DEFAULT, &LEDGER_VARS)
}

/// The ledger-writer's configuration.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Ledger consumer group.
    pub group_id: String,
    /// Analytics consumer group.
    pub analytics_group_id: String,
    /// ClickHouse.
    pub clickhouse: ClickHouseConfig,
    /// Restore stall timeout.
    pub restore_timeout: Duration,
    /// Command outcome wait.
    pub command_wait: Duration,
}

impl LedgerConfig {
    /// Reads and checks every variable; the error lists every problem.
    pub fn from_env(env: &mut Env) -> Result<LedgerConfig, runtime::ConfigError> {
        let common = CommonConfig::from_env(env, "ledger-writer", ADMIN_DEFAULT);
        let url = env.string(&CLICKHOUSE_URL);
        env.check(
            url.starts_with("http://") || url.starts_with("https://"),
            format!("CLICKHOUSE_URL: {url:?} is not an http(s) URL"),
        );
        let database = env.string(&CLICKHOUSE_DATABASE);
        env.check(
            !database.is_empty()
                && database
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            format!("CLICKHOUSE_DATABASE: {database:?} must be letters, digits and '_'"),
        );
        let validation: bool = env.parse(&CLICKHOUSE_VALIDATION);
        let restore: u64 = env.parse(&LEDGER_RESTORE_TIMEOUT_SECONDS);
        env.check(
            restore >= 1,
            "LEDGER_RESTORE_TIMEOUT_SECONDS must be at least 1",
        );
        let wait: u64 = env.parse(&LEDGER_COMMAND_WAIT_SECONDS);
        Ok(LedgerConfig {
            common,
            group_id: env.string(&LEDGER_GROUP_ID),
            analytics_group_id: env.string(&LEDGER_ANALYTICS_GROUP_ID),
            clickhouse: ClickHouseConfig {
                url,
                database,
                user: env.string(&CLICKHOUSE_USER),
                password: runtime::Secret::new(env.string(&CLICKHOUSE_PASSWORD)),
                validation,
            },
            restore_timeout: Duration::from_secs(restore.max(1)),
            command_wait: Duration::from_secs(wait),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<LedgerConfig, String> {
        let mut env = Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let config = LedgerConfig::from_env(&mut env).map_err(|e| e.to_string())?;
        env.finish().map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn the_clickhouse_password_is_never_printed() {
        let config = read(&[("CLICKHOUSE_PASSWORD", "clickhouse-secret")]).expect("valid");
        assert_eq!(config.clickhouse.password.expose(), "clickhouse-secret");
        let printed = format!("{config:?}");
        assert!(!printed.contains("clickhouse-secret"), "{printed}");
    }

    #[test]
    fn defaults_work_and_every_problem_is_reported() {
        let c = read(&[]).expect("defaults");
        assert_eq!(c.clickhouse.database, "attrib");
        assert!(!c.clickhouse.validation);
        assert_eq!(c.common.topics.ledger_commands, "attrib.ledger.commands.v1");
        let err = read(&[
            ("CLICKHOUSE_URL", "127.0.0.1:18123"),
            ("CLICKHOUSE_DATABASE", "a-b"),
            ("CLICKHOUSE_VALIDATION", "maybe"),
        ])
        .expect_err("invalid");
        for name in [
            "CLICKHOUSE_URL",
            "CLICKHOUSE_DATABASE",
            "CLICKHOUSE_VALIDATION",
        ] {
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn the_readme_table_is_generated_from_these_declarations() {
        let readme = include_str!("../README.md");
        let table = runtime::config::markdown_table(&all_vars());
        assert!(
            readme.contains(&table),
            "ledger-writer/README.md's table is stale; replace it with `ledger-writer env`:\n{table}"
        );
    }
}
