//! The enricher's configuration: the shared variables plus its own, all from the environment.

use std::time::Duration;

use runtime::config::{Env, EnvVar};
use runtime::CommonConfig;

/// Consumer group.
pub const ENRICHER_GROUP_ID: EnvVar = EnvVar {
    name: "ENRICHER_GROUP_ID",
    default: Some("attrib-enricher"),
    doc: "Consumer group of the enricher instances.",
};
/// Referral parameters.
pub const ENRICHER_REFERRAL_PARAMETERS: EnvVar = EnvVar {
    name: "ENRICHER_REFERRAL_PARAMETERS",
    default: Some("ref,via,aff,affiliate,partner"),
    doc: "Landing-URL parameters that name a partner (a link id, else a partner id), tried in this order; names compare case-insensitively.",
};
/// Restore stall timeout.
pub const ENRICHER_RESTORE_TIMEOUT_SECONDS: EnvVar = EnvVar {
    name: "ENRICHER_RESTORE_TIMEOUT_SECONDS",
    default: Some("60"),
    doc: "Reading a binding changelog partition (or the reference topic) may go this long without progress before the service gives up and exits.",
};

/// Watermark broadcast interval.
pub const ENRICHER_WATERMARK_INTERVAL_MS: EnvVar = EnvVar {
    name: "ENRICHER_WATERMARK_INTERVAL_MS",
    default: Some("200"),
    doc: "How often, at most, each source partition's event-time progress is broadcast to every enriched partition (an `attrib.SourceWatermark` record, only when it moved), so an attributor partition never waits on a source that sends it no traffic. Smaller: attributions sooner, more records; 0 turns the broadcast off (the attributor then waits ATTRIBUTOR_SOURCE_IDLE_INPUTS inputs for such a source).",
};

/// Source idleness.
pub const ENRICHER_SOURCE_IDLE_MS: EnvVar = EnvVar {
    name: "ENRICHER_SOURCE_IDLE_MS",
    default: Some("1000"),
    doc: "A live source partition (its event time within 5 minutes of the wall clock) from which nothing was read for this long is broadcast idle: attributors stop waiting for it until it sends again, so sparse real-time traffic is attributed once its grace has passed. A source replaying history is never idle. Events of an idle source that occurred before the others' progress arrive late (the program's grace is the allowance). 0: never idle.",
};

/// The enricher's own variables.
pub const ENRICHER_VARS: [EnvVar; 6] = [
    ENRICHER_GROUP_ID,
    ENRICHER_REFERRAL_PARAMETERS,
    ENRICHER_BINDINGS_PER_PARTITION_MAX,
    ENRICHER_RESTORE_TIMEOUT_SECONDS,
    ENRICHER_WATERMARK_INTERVAL_MS,
    ENRICHER_SOURCE_IDLE_MS,
];

/// Binding cap.
pub const ENRICHER_BINDINGS_PER_PARTITION_MAX: EnvVar = EnvVar {
    name: "ENRICHER_BINDINGS_PER_PARTITION_MAX",
    default: Some("2000000"),
    doc: "Most customer → visitor bindings one input partition keeps (~200 bytes each). Beyond it the bindings made longest ago are evicted down to 90 %, so a flood of forged leads cannot grow state until the pod runs out of memory; a later customer-only event of an evicted customer is keyed by the customer alone. `enricher_evicted_bindings_total` counts evictions.",
};

/// Default admin address of the enricher.
pub const ADMIN_DEFAULT: &str = "127.0.0.1:9102";

/// Every variable the enricher reads, for `enricher env` and the README.
pub fn all_vars() -> Vec<EnvVar> {
    runtime::settings::service_vars(ADMIN_DEFAULT, &ENRICHER_VARS)
}

/// The enricher's configuration.
#[derive(Debug, Clone)]
pub struct EnricherConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Consumer group.
    pub group_id: String,
    /// Referral parameters, lower-case, in order.
    pub referral_parameters: Vec<String>,
    /// Restore stall timeout.
    pub restore_timeout: Duration,
    /// Binding cap per partition.
    pub bindings_max: usize,
    /// Watermark broadcast interval; `None`: no broadcast.
    pub watermark_interval: Option<Duration>,
    /// Quiet time after which a live source is broadcast idle; `None`: never.
    pub source_idle: Option<Duration>,
}

impl EnricherConfig {
    /// Reads and checks every variable; the error lists every problem.
    pub fn from_env(env: &mut Env) -> Result<EnricherConfig, runtime::ConfigError> {
        let common = CommonConfig::from_env(env, "enricher", ADMIN_DEFAULT);
        let referral_parameters: Vec<String> = env
            .string(&ENRICHER_REFERRAL_PARAMETERS)
            .split(',')
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
        let restore_seconds: u64 = env.parse(&ENRICHER_RESTORE_TIMEOUT_SECONDS);
        env.check(
            restore_seconds >= 1,
            "ENRICHER_RESTORE_TIMEOUT_SECONDS must be at least 1",
        );
        let bindings_max: usize = env.parse(&ENRICHER_BINDINGS_PER_PARTITION_MAX);
        env.check(
            bindings_max >= 100,
            "ENRICHER_BINDINGS_PER_PARTITION_MAX must be at least 100",
        );
        let watermark_ms: u64 = env.parse(&ENRICHER_WATERMARK_INTERVAL_MS);
        let idle_ms: u64 = env.parse(&ENRICHER_SOURCE_IDLE_MS);
        Ok(EnricherConfig {
            source_idle: (idle_ms > 0).then(|| Duration::from_millis(idle_ms)),
            watermark_interval: (watermark_ms > 0).then(|| Duration::from_millis(watermark_ms)),
            bindings_max: bindings_max.max(100),
            common,
            group_id: env.string(&ENRICHER_GROUP_ID),
            referral_parameters,
            restore_timeout: Duration::from_secs(restore_seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<EnricherConfig, String> {
        let mut env = Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let config = EnricherConfig::from_env(&mut env).map_err(|e| e.to_string())?;
        env.finish().map(|()| config).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_work_and_parameters_are_normalised() {
        let config = read(&[]).expect("defaults");
        assert_eq!(
            config.referral_parameters,
            ["ref", "via", "aff", "affiliate", "partner"]
        );
        assert_eq!(config.common.admin_listen_addr.port(), 9102);
        assert_eq!(config.watermark_interval, Some(Duration::from_millis(200)));
        let off = read(&[("ENRICHER_WATERMARK_INTERVAL_MS", "0")]).expect("ok");
        assert_eq!(off.watermark_interval, None);
        assert_eq!(config.source_idle, Some(Duration::from_millis(1000)));
        let config = read(&[("ENRICHER_REFERRAL_PARAMETERS", " Ref , ,VIA")]).expect("ok");
        assert_eq!(config.referral_parameters, ["ref", "via"]);
    }

    #[test]
    fn bad_values_are_all_reported() {
        let err = read(&[
            ("ENRICHER_RESTORE_TIMEOUT_SECONDS", "0"),
            ("KAFKA_TOPIC_PARTITIONS", "zero"),
        ])
        .expect_err("bad");
        assert!(err.contains("ENRICHER_RESTORE_TIMEOUT_SECONDS"), "{err}");
        assert!(err.contains("KAFKA_TOPIC_PARTITIONS"), "{err}");
    }

    #[test]
    fn the_readme_table_is_generated_from_these_declarations() {
        let readme = include_str!("../README.md");
        let table = runtime::config::markdown_table(&all_vars());
        assert!(
            readme.contains(&table),
            "enricher/README.md's table is stale; replace it with `enricher env`:\n{table}"
        );
    }
}
