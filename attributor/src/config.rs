//! The attributor's configuration: the shared variables plus its own, all from the environment.

use std::time::Duration;

use runtime::config::{Env, EnvVar};
use runtime::CommonConfig;

use crate::state::Limits;

/// Consumer group.
pub const ATTRIBUTOR_GROUP_ID: EnvVar = EnvVar {
    name: "ATTRIBUTOR_GROUP_ID",
    default: Some("attrib-attributor"),
    doc: "Consumer group of the attributor instances.",
};
/// Per-key touchpoint cap.
pub const ATTRIBUTOR_TOUCHPOINTS_PER_KEY: EnvVar = EnvVar {
    name: "ATTRIBUTOR_TOUCHPOINTS_PER_KEY",
    default: Some("50"),
    doc: "Partner touchpoints kept per attribution key (at least 2). When full, the oldest but the first is dropped, so first and last touch stay exact.",
};
/// Order and binding retention.
pub const ATTRIBUTOR_RETENTION_DAYS: EnvVar = EnvVar {
    name: "ATTRIBUTOR_RETENTION_DAYS",
    default: Some("400"),
    doc: "Attributed orders and chain bindings are kept this long (event time) for duplicate detection, refunds, renewals and caps.",
};
/// Idle clock advance.
pub const ATTRIBUTOR_IDLE_ADVANCE_SECONDS: EnvVar = EnvVar {
    name: "ATTRIBUTOR_IDLE_ADVANCE_SECONDS",
    default: Some("10"),
    doc: "After this long without input on a partition that holds pending conversions, its event-time clock follows the wall clock so they are attributed when their grace ends; ten times as long while the partition replays history (its newest event time more than 5 minutes behind the wall clock) or waits for a lagging source (0: never; conversions then wait for newer events).",
};
/// Source idleness, in inputs.
pub const ATTRIBUTOR_SOURCE_IDLE_INPUTS: EnvVar = EnvVar {
    name: "ATTRIBUTOR_SOURCE_IDLE_INPUTS",
    default: Some("100000"),
    doc: "A source partition not heard from for this many inputs of a partition stops holding that partition's watermark back. The enricher broadcasts every source it holds (each second while busy, even one the broker starves), so this only lets go of a source nobody reads (its enricher gone, or one before watermark broadcasts); keep it above what a partition reads in the time an enricher takes to come back.",
};
/// Sweep interval.
pub const ATTRIBUTOR_SWEEP_INTERVAL_SECONDS: EnvVar = EnvVar {
    name: "ATTRIBUTOR_SWEEP_INTERVAL_SECONDS",
    default: Some("60"),
    doc: "How often every key is checked for expired touchpoints, orders and bindings (keys that receive input are expired as they are touched).",
};
/// Key cap.
pub const ATTRIBUTOR_KEYS_PER_PARTITION_MAX: EnvVar = EnvVar {
    name: "ATTRIBUTOR_KEYS_PER_PARTITION_MAX",
    default: Some("1000000"),
    doc: "Most attribution keys one input partition keeps. Beyond it, keys holding only touchpoints (no pending conversion, order or chain) are evicted, oldest newest-touchpoint first, down to 90 %: a flood of forged clicks cannot grow state until the pod runs out of memory. Size memory as partitions per pod × this × bytes per key (`attributor_state_bytes` / keys); `attributor_evicted_keys_total` counts evictions.",
};
/// Restore stall timeout.
pub const ATTRIBUTOR_RESTORE_TIMEOUT_SECONDS: EnvVar = EnvVar {
    name: "ATTRIBUTOR_RESTORE_TIMEOUT_SECONDS",
    default: Some("60"),
    doc: "Reading a state changelog partition (or the reference topic) may go this long without progress before the service gives up and exits.",
};

/// The attributor's own variables.
pub const ATTRIBUTOR_VARS: [EnvVar; 8] = [
    ATTRIBUTOR_GROUP_ID,
    ATTRIBUTOR_TOUCHPOINTS_PER_KEY,
    ATTRIBUTOR_RETENTION_DAYS,
    ATTRIBUTOR_IDLE_ADVANCE_SECONDS,
    ATTRIBUTOR_SOURCE_IDLE_INPUTS,
    ATTRIBUTOR_SWEEP_INTERVAL_SECONDS,
    ATTRIBUTOR_KEYS_PER_PARTITION_MAX,
    ATTRIBUTOR_RESTORE_TIMEOUT_SECONDS,
];

/// Default admin address of the attributor.
pub const ADMIN_DEFAULT: &str = "127.0.0.1:9103";

/// Every variable the attributor reads, for `attributor env` and the README.
pub fn all_vars() -> Vec<EnvVar> {
    runtime::settings::service_vars(ADMIN_DEFAULT, &ATTRIBUTOR_VARS)
}

/// The attributor's configuration.
#[derive(Debug, Clone)]
pub struct AttributorConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Consumer group.
    pub group_id: String,
    /// State bounds.
    pub limits: Limits,
    /// Quiet time before a partition's clock follows the wall clock; `None`: never.
    pub idle_advance: Option<Duration>,
    /// Wall-clock time between sweeps.
    pub sweep_interval: Duration,
    /// Restore stall timeout.
    pub restore_timeout: Duration,
}

impl AttributorConfig {
    /// Reads and checks every variable; the error lists every problem.
    pub fn from_env(env: &mut Env) -> Result<AttributorConfig, runtime::ConfigError> {
        let common = CommonConfig::from_env(env, "attributor", ADMIN_DEFAULT);
        let per_key: usize = env.parse(&ATTRIBUTOR_TOUCHPOINTS_PER_KEY);
        env.check(
            per_key >= 2,
            "ATTRIBUTOR_TOUCHPOINTS_PER_KEY must be at least 2",
        );
        let retention_days: i64 = env.parse(&ATTRIBUTOR_RETENTION_DAYS);
        env.check(
            (1..=36_500).contains(&retention_days),
            "ATTRIBUTOR_RETENTION_DAYS must be between 1 and 36500",
        );
        let idle: u64 = env.parse(&ATTRIBUTOR_IDLE_ADVANCE_SECONDS);
        let source_idle: i64 = env.parse(&ATTRIBUTOR_SOURCE_IDLE_INPUTS);
        env.check(
            source_idle >= 1,
            "ATTRIBUTOR_SOURCE_IDLE_INPUTS must be at least 1",
        );
        let sweep: u64 = env.parse(&ATTRIBUTOR_SWEEP_INTERVAL_SECONDS);
        env.check(
            sweep >= 1,
            "ATTRIBUTOR_SWEEP_INTERVAL_SECONDS must be at least 1",
        );
        let keys_max: usize = env.parse(&ATTRIBUTOR_KEYS_PER_PARTITION_MAX);
        env.check(
            keys_max >= 100,
            "ATTRIBUTOR_KEYS_PER_PARTITION_MAX must be at least 100",
        );
        let restore_seconds: u64 = env.parse(&ATTRIBUTOR_RESTORE_TIMEOUT_SECONDS);
        env.check(
            restore_seconds >= 1,
            "ATTRIBUTOR_RESTORE_TIMEOUT_SECONDS must be at least 1",
        );
        Ok(AttributorConfig {
            common,
            group_id: env.string(&ATTRIBUTOR_GROUP_ID),
            limits: Limits {
                touchpoints_per_key: per_key,
                retention: chrono::Duration::days(retention_days.clamp(1, 36_500)),
                source_idle_inputs: source_idle.max(1),
                keys_max: keys_max.max(100),
            },
            idle_advance: (idle > 0).then(|| Duration::from_secs(idle)),
            sweep_interval: Duration::from_secs(sweep.max(1)),
            restore_timeout: Duration::from_secs(restore_seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<AttributorConfig, String> {
        let mut env = Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let config = AttributorConfig::from_env(&mut env).map_err(|e| e.to_string())?;
        env.finish().map(|()| config).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_work() {
        let config = read(&[]).expect("defaults");
        assert_eq!(config.limits.touchpoints_per_key, 50);
        assert_eq!(config.limits.retention, chrono::Duration::days(400));
        assert_eq!(config.idle_advance, Some(Duration::from_secs(10)));
        assert_eq!(config.limits.source_idle_inputs, 100_000);
        assert_eq!(config.common.admin_listen_addr.port(), 9103);
        assert_eq!(
            config.common.topics.attributor_state,
            "attrib.attributor.state.v1"
        );
        let config = read(&[("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "0")]).expect("ok");
        assert_eq!(config.idle_advance, None);
    }

    #[test]
    fn bad_values_are_all_reported() {
        let err = read(&[
            ("ATTRIBUTOR_TOUCHPOINTS_PER_KEY", "1"),
            ("ATTRIBUTOR_RETENTION_DAYS", "0"),
            ("ATTRIBUTOR_SWEEP_INTERVAL_SECONDS", "x"),
        ])
        .expect_err("bad");
        for var in [
            "ATTRIBUTOR_TOUCHPOINTS_PER_KEY",
            "ATTRIBUTOR_RETENTION_DAYS",
            "ATTRIBUTOR_SWEEP_INTERVAL_SECONDS",
        ] {
            assert!(err.contains(var), "{err}");
        }
    }

    #[test]
    fn the_readme_table_is_generated_from_these_declarations() {
        let readme = include_str!("../README.md");
        let table = runtime::config::markdown_table(&all_vars());
        assert!(
            readme.contains(&table),
            "attributor/README.md's table is stale; replace it with `attributor env`:\n{table}"
        );
    }
}
