//! The ledger-writer's configuration: the shared variables plus its own, all from the
//! environment.

use std::time::Duration;

use runtime::config::{Env, EnvVar};
use runtime::CommonConfig;

use runtime::clickhouse::ClickHouseConfig;

use crate::authority::CommandAuthority;

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
    doc: "Consumer group of the analytics writer (enriched touchpoints, attributions, risk scores and levels, dead letters into ClickHouse).",
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

/// Command keys (the ledger's side).
pub const LEDGER_COMMAND_KEYS: EnvVar = EnvVar {
    name: "LEDGER_COMMAND_KEYS",
    default: Some(""),
    doc: "Secret: `principal:base64key,…`, the key (32+ random bytes) each principal signs its commands with. Without keys every command is refused (and recorded as refused).",
};
/// Command grants.
pub const LEDGER_COMMAND_GRANTS: EnvVar = EnvVar {
    name: "LEDGER_COMMAND_GRANTS",
    default: Some("finance=payout_run,payout_complete,payout_fail;reviewer=review_approve,review_reverse,manual_reverse"),
    doc: "Which command kinds each principal may issue: `principal=kind,kind;…`. Every principal with a key needs a grant and the reverse.",
};
/// The command-line tool's principal.
pub const LEDGER_COMMAND_PRINCIPAL: EnvVar = EnvVar {
    name: "LEDGER_COMMAND_PRINCIPAL",
    default: Some(""),
    doc: "`ledger-writer payout|review …`: the principal the command is signed as.",
};
/// The command-line tool's key.
pub const LEDGER_COMMAND_KEY: EnvVar = EnvVar {
    name: "LEDGER_COMMAND_KEY",
    default: Some(""),
    doc: "Secret, `ledger-writer payout|review …`: that principal's key (base64), the same as its entry in the ledger's `LEDGER_COMMAND_KEYS`.",
};

/// Retention of personal analytics rows.
pub const CLICKHOUSE_PERSONAL_RETENTION_DAYS: EnvVar = EnvVar {
    name: "CLICKHOUSE_PERSONAL_RETENTION_DAYS",
    default: Some("395"),
    doc: "Personal analytics data in ClickHouse is kept this many days after its event (13 months by default): touchpoints are deleted, conversions and attributions keep their money and lose customer, visitor and key, evidence loses click ids. TTLs on current servers, hourly mutations on 18.16. Ledger and payout tables are kept (finance: 7+ years).",
};
/// How often retention runs on 18.16.
pub const CLICKHOUSE_RETENTION_INTERVAL_SECONDS: EnvVar = EnvVar {
    name: "CLICKHOUSE_RETENTION_INTERVAL_SECONDS",
    default: Some("3600"),
    doc: "How often the ledger-writer applies `CLICKHOUSE_PERSONAL_RETENTION_DAYS` on a server without TTLs (18.16); on current servers the TTLs are set once at start.",
};

/// The ledger-writer's own variables.
pub const LEDGER_VARS: [EnvVar; 10] = [
    LEDGER_GROUP_ID,
    LEDGER_ANALYTICS_GROUP_ID,
    LEDGER_RESTORE_TIMEOUT_SECONDS,
    LEDGER_COMMAND_WAIT_SECONDS,
    LEDGER_COMMAND_KEYS,
    LEDGER_COMMAND_GRANTS,
    LEDGER_COMMAND_PRINCIPAL,
    LEDGER_COMMAND_KEY,
    CLICKHOUSE_PERSONAL_RETENTION_DAYS,
    CLICKHOUSE_RETENTION_INTERVAL_SECONDS,
];

/// Default admin address of the ledger-writer.
pub const ADMIN_DEFAULT: &str = "127.0.0.1:9105";

/// Every variable the ledger-writer reads, for `ledger-writer env` and the README.
pub fn all_vars() -> Vec<EnvVar> {
    let mut own = LEDGER_VARS[..2].to_vec();
    own.extend(runtime::clickhouse::CLICKHOUSE_VARS);
    own.extend(&LEDGER_VARS[2..]);
    runtime::settings::service_vars(ADMIN_DEFAULT, &own)
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
    /// Who may command the ledger.
    pub command_authority: CommandAuthority,
    /// The command-line tool's principal and key, when set.
    pub command_signer: Option<(String, runtime::SecretBytes)>,
    /// Days personal analytics rows are kept.
    pub personal_retention_days: u32,
    /// How often retention runs where the server has no TTL.
    pub retention_interval: Duration,
}

impl LedgerConfig {
    /// Reads and checks every variable; the error lists every problem.
    pub fn from_env(env: &mut Env) -> Result<LedgerConfig, runtime::ConfigError> {
        let common = CommonConfig::from_env(env, "ledger-writer", ADMIN_DEFAULT);
        let clickhouse = ClickHouseConfig::from_env(env);
        let restore: u64 = env.parse(&LEDGER_RESTORE_TIMEOUT_SECONDS);
        env.check(
            restore >= 1,
            "LEDGER_RESTORE_TIMEOUT_SECONDS must be at least 1",
        );
        let wait: u64 = env.parse(&LEDGER_COMMAND_WAIT_SECONDS);
        let keys = runtime::Secret::new(env.string(&LEDGER_COMMAND_KEYS));
        let command_authority = CommandAuthority::parse(&keys, &env.string(&LEDGER_COMMAND_GRANTS))
            .unwrap_or_else(|problem| {
                env.check(
                    false,
                    format!("LEDGER_COMMAND_KEYS/LEDGER_COMMAND_GRANTS: {problem}"),
                );
                CommandAuthority::default()
            });
        let command_signer =
            runtime::secret::signer_from_env(env, &LEDGER_COMMAND_PRINCIPAL, &LEDGER_COMMAND_KEY);
        let retention_days: u32 = env.parse(&CLICKHOUSE_PERSONAL_RETENTION_DAYS);
        env.check(
            retention_days >= 1,
            "CLICKHOUSE_PERSONAL_RETENTION_DAYS must be at least 1",
        );
        let retention_interval: u64 = env.parse(&CLICKHOUSE_RETENTION_INTERVAL_SECONDS);
        Ok(LedgerConfig {
            common,
            group_id: env.string(&LEDGER_GROUP_ID),
            analytics_group_id: env.string(&LEDGER_ANALYTICS_GROUP_ID),
            clickhouse,
            restore_timeout: Duration::from_secs(restore.max(1)),
            command_wait: Duration::from_secs(wait),
            command_authority,
            command_signer,
            personal_retention_days: retention_days.max(1),
            retention_interval: Duration::from_secs(retention_interval.max(60)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<LedgerConfig, String> {
        runtime::config::read_pairs(pairs, LedgerConfig::from_env)
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
