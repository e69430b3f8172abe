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
    doc: "Most event ids remembered per instance (about 100 bytes each); beyond it the oldest are forgotten first, so a very late repeat may pass (downstream de-duplicates anyway).",
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
    doc: "Secret key for the IP hash, base64 of at least 32 random bytes (`head -c 32 /dev/urandom | base64`); placeholders are refused. Required unless `INGEST_IP_MODE=drop`. Keep it stable: changing it breaks joins across the change.",
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

/// Shortest IP-hash key accepted, in decoded bytes: with a /24 prefix stored beside the hash, a
/// guessable key makes the raw IP one of 256 guesses.
pub const IP_HASH_KEY_BYTES_MIN: usize = 32;

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
    /// IP hash key, decoded (empty in mode `drop`).
    pub ip_hash_key: runtime::SecretBytes,
}

impl IngestConfig {
    /// Reads and checks every variable; the error lists every problem.
    pub fn from_env(env: &mut Env) -> Result<IngestConfig, runtime::ConfigError> {
        let common = CommonConfig::from_env(env, "ingest", ADMIN_DEFAULT);
        let ip_mode: IpMode = env.parse(&INGEST_IP_MODE);
        let mut key_problem = None;
        let ip_hash_key = if ip_mode == IpMode::Drop {
            runtime::SecretBytes::default()
        } else {
            let text = runtime::Secret::new(env.string(&INGEST_IP_HASH_KEY));
            // An absent key is already reported as required; only judge a given one.
            if text.expose().is_empty() {
                runtime::SecretBytes::default()
            } else {
                match runtime::secret::decode_key(
                    INGEST_IP_HASH_KEY.name,
                    &text,
                    IP_HASH_KEY_BYTES_MIN,
                ) {
                    Ok(bytes) => runtime::SecretBytes::new(bytes),
                    Err(problem) => {
                        key_problem = Some(problem);
                        runtime::SecretBytes::default()
                    }
                }
            }
        };
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
        if let Some(problem) = key_problem {
            env.check(false, problem);
        }
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
            ("INGEST_IP_HASH_KEY", KEY),
            ("KAFKA_PROP_SASL_PASSWORD", "kafka-secret"),
        ])
        .expect("valid");
        let printed = format!("{config:?}");
        assert!(!printed.contains(KEY), "{printed}");
        assert!(!printed.contains("171"), "no key byte printed: {printed}");
        assert!(!printed.contains("kafka-secret"), "{printed}");
    }

    #[test]
    fn the_ip_hash_key_is_required_unless_ips_are_dropped() {
        let err = read(&[]).expect_err("no key");
        assert!(err.contains("INGEST_IP_HASH_KEY is required"), "{err}");
        assert!(read(&[("INGEST_IP_MODE", "drop")]).is_ok());
        let ok = read(&[("INGEST_IP_HASH_KEY", KEY)]).expect("valid");
        assert_eq!(ok.common.admin_listen_addr.port(), 9101);
        assert_eq!(ok.ip_hash_key.expose().len(), 32);
    }

    /// base64 of the 32 bytes 0xab, 0xac, …
    const KEY: &str = "q6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIyco=";

    #[test]
    fn placeholder_raw_text_and_short_keys_are_refused() {
        for (value, expected) in [
            // The value secrets.example.yaml ships and the old demo default.
            ("replace-with-32-random-bytes-base64", "placeholder"),
            ("demo-only-key-do-not-use-in-production", "placeholder"),
            // Raw text is not base64: it used to be taken as the key itself.
            ("a-long-enough-secret", "must be base64"),
            ("c2hvcnQta2V5", "decodes to 9 bytes; at least 32"),
        ] {
            let err = read(&[("INGEST_IP_HASH_KEY", value)]).expect_err(value);
            assert!(err.contains("INGEST_IP_HASH_KEY"), "{err}");
            assert!(err.contains(expected), "{value}: {err}");
        }
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
