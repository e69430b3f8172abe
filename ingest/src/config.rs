//! Ingest's configuration: the shared variables plus its own, all from the environment.

use std::time::Duration;

use runtime::config::{Env, EnvVar};
use runtime::CommonConfig;

use crate::pii::IpMode;

/// Consumer group.
pub const INGEST_GROUP_ID: EnvVar = EnvVar {
    name: "INGEST_GROUP_ID",
    default: Some("attrib-ingest"),
    doc: "Consumer group of the ingest instances.",
};
/// Message size limit.
pub const INGEST_MESSAGE_BYTES_MAX: EnvVar = EnvVar {
    name: "INGEST_MESSAGE_BYTES_MAX",
    default: Some("65536"),
    doc: "Raw messages larger than this are dead-lettered as `message_too_large`.",
};
/// Future skew.
pub const INGEST_FUTURE_SKEW_SECONDS: EnvVar = EnvVar {
    name: "INGEST_FUTURE_SKEW_SECONDS",
    default: Some("300"),
    doc: "How far ahead of ingest's clock `occurred_at` may be (producers' clock skew).",
};
/// Dedup TTL.
pub const INGEST_DEDUP_TTL_SECONDS: EnvVar = EnvVar {
    name: "INGEST_DEDUP_TTL_SECONDS",
    default: Some("86400"),
    doc: "A repeated `event_id` within this long of its first sighting is counted and dropped.",
};
/// Dedup capacity.
pub const INGEST_DEDUP_CAPACITY: EnvVar = EnvVar {
    name: "INGEST_DEDUP_CAPACITY",
    default: Some("2000000"),
    doc: "Most event ids remembered per instance (about 100 bytes each); beyond it moka evicts the least-used ids, so a very late repeat may pass (downstream de-duplicates anyway).",
};
/// IP mode.
pub const INGEST_IP_MODE: EnvVar = EnvVar {
    name: "INGEST_IP_MODE",
    default: Some("hash"),
    doc: "`hash`: keep a keyed hash and the /24 (/48) prefix; `keep`: also the raw IP; `drop`: nothing.",
};
/// IP hash key.
pub const INGEST_IP_HASH_KEY: EnvVar = EnvVar {
    name: "INGEST_IP_HASH_KEY",
    default: None,
    doc: "Secret key (16+ characters) for the IP hash; required unless `INGEST_IP_MODE=drop`. Keep it stable: changing it breaks joins across the change.",
};

/// Ingest's own variables.
pub const INGEST_VARS: [EnvVar; 7] = [
    INGEST_GROUP_ID,
    INGEST_MESSAGE_BYTES_MAX,
    INGEST_FUTURE_SKEW_SECONDS,
    INGEST_DEDUP_TTL_SECONDS,
    INGEST_DEDUP_CAPACITY,
    INGEST_IP_MODE,
    INGEST_IP_HASH_KEY,
];

/// Default admin address of ingest.
pub const ADMIN_DEFAULT: &str = "127.0.0.1:9101";

/// Every variable ingest reads, for `ingest env` and the README.
pub fn all_vars() -> Vec<EnvVar> {
    runtime::settings::service_vars(ADMIN_DEFAULT, &INGEST_VARS)
}

/// Ingest's configuration.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Consumer group.
    pub group_id: String,
    /// Message size limit.
    pub message_bytes_max: usize,
    /// Allowed future skew.
    pub future_skew: Duration,
    /// Dedup window.
    pub dedup_ttl: Duration,
    /// Dedup capacity.
    pub dedup_capacity: u64,
    /// IP mode.
    pub ip_mode: IpMode,
    /// IP hash key (empty in mode `drop`).
    pub ip_hash_key: runtime::Secret,
}

impl IngestConfig {
    /// Reads and checks every variable; the error lists every problem.
    pub fn from_env(env: &mut Env) -> Result<IngestConfig, runtime::ConfigError> {
        let common = CommonConfig::from_env(env, "ingest", ADMIN_DEFAULT);
        let ip_mode: IpMode = env.parse(&INGEST_IP_MODE);
        let ip_hash_key = runtime::Secret::new(if ip_mode == IpMode::Drop {
            String::new()
        } else {
            env.string(&INGEST_IP_HASH_KEY)
        });
        let config = IngestConfig {
            common,
            group_id: env.string(&INGEST_GROUP_ID),
            message_bytes_max: env.parse(&INGEST_MESSAGE_BYTES_MAX),
            future_skew: Duration::from_secs(env.parse(&INGEST_FUTURE_SKEW_SECONDS)),
            dedup_ttl: Duration::from_secs(env.parse(&INGEST_DEDUP_TTL_SECONDS)),
            dedup_capacity: env.parse(&INGEST_DEDUP_CAPACITY),
            ip_mode,
            ip_hash_key,
        };
        env.check(
            ip_mode == IpMode::Drop
                || config.ip_hash_key.expose().is_empty()
                || config.ip_hash_key.expose().len() >= 16,
            "INGEST_IP_HASH_KEY must be at least 16 characters: a short key makes IP hashes guessable",
        );
        env.check(
            (256..=16 * 1024 * 1024).contains(&config.message_bytes_max),
            "INGEST_MESSAGE_BYTES_MAX must be between 256 and 16777216",
        );
        env.check(
            config.dedup_capacity >= 1,
            "INGEST_DEDUP_CAPACITY must be at least 1",
        );
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<IngestConfig, String> {
        let mut env = Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let config = IngestConfig::from_env(&mut env).map_err(|e| e.to_string())?;
        env.finish().map(|()| config).map_err(|e| e.to_string())
    }

    #[test]
    fn the_ip_hash_key_is_never_printed() {
        let config = read(&[
            ("INGEST_IP_HASH_KEY", "a-very-secret-hash-key"),
            ("KAFKA_PROP_SASL_PASSWORD", "kafka-secret"),
        ])
        .expect("valid");
        let printed = format!("{config:?}");
        assert!(!printed.contains("a-very-secret-hash-key"), "{printed}");
        assert!(!printed.contains("kafka-secret"), "{printed}");
    }

    #[test]
    fn the_ip_hash_key_is_required_unless_ips_are_dropped() {
        let err = read(&[]).expect_err("no key");
        assert!(err.contains("INGEST_IP_HASH_KEY is required"), "{err}");
        assert!(read(&[("INGEST_IP_MODE", "drop")]).is_ok());
        let err = read(&[("INGEST_IP_HASH_KEY", "short")]).expect_err("short key");
        assert!(err.contains("at least 16 characters"), "{err}");
        let ok = read(&[("INGEST_IP_HASH_KEY", "a-long-enough-secret")]).expect("valid");
        assert_eq!(ok.common.admin_listen_addr.port(), 9101);
    }

    #[test]
    fn the_readme_table_is_the_one_the_code_generates() {
        let readme = include_str!("../README.md");
        let table = runtime::config::markdown_table(&all_vars());
        assert!(
            readme.contains(&table),
            "ingest/README.md is out of date: paste the output of `ingest env` into it"
        );
    }
}
