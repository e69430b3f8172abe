//! The privacy tool's configuration: the shared variables (Kafka, topics), ClickHouse, and its
//! own, all from the environment.

use std::time::Duration;

use runtime::clickhouse::ClickHouseConfig;
use runtime::config::{Env, EnvVar};
use runtime::{CommonConfig, Secret, SecretBytes};

/// Key of the subject hash.
pub const PRIVACY_SUBJECT_KEY: EnvVar = EnvVar {
    name: "PRIVACY_SUBJECT_KEY",
    default: None,
    doc: "Secret, base64 of 32+ random bytes: the key of the subject hash the audit trail (`privacy_requests`) records instead of the customer id. Keep it stable: a second request finds the first by it.",
};
/// How long an erasure waits for the services' receipts.
pub const PRIVACY_RECEIPT_WAIT_SECONDS: EnvVar = EnvVar {
    name: "PRIVACY_RECEIPT_WAIT_SECONDS",
    default: Some("120"),
    doc: "`privacy erase` waits this long for every partition of enricher, attributor and risk to confirm, then exits 1 naming the missing ones (the request stays queued for them).",
};

/// The tool's own variables.
pub const PRIVACY_VARS: [EnvVar; 2] = [PRIVACY_SUBJECT_KEY, PRIVACY_RECEIPT_WAIT_SECONDS];

/// Every variable the tool reads, for `privacy env` and the README.
pub fn all_vars() -> Vec<EnvVar> {
    let mut own = runtime::clickhouse::CLICKHOUSE_VARS.to_vec();
    own.extend(PRIVACY_VARS);
    own.extend([
        reference::REFERENCE_PUBLISH_PRINCIPAL,
        reference::REFERENCE_PUBLISH_KEY,
    ]);
    runtime::settings::service_vars("127.0.0.1:0", &own)
}

/// The privacy tool's configuration.
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// Shared settings (Kafka, topics).
    pub common: CommonConfig,
    /// ClickHouse.
    pub clickhouse: ClickHouseConfig,
    /// Key of the subject hash.
    pub subject_key: SecretBytes,
    /// Receipt wait.
    pub receipt_wait: Duration,
    /// How `erase-partner` signs the redacted partner record (principal, key), when set.
    pub reference_signer: Option<(String, SecretBytes)>,
}

impl PrivacyConfig {
    /// Reads and checks every variable; the error lists every problem.
    pub fn from_env(env: &mut Env) -> Result<PrivacyConfig, runtime::ConfigError> {
        let common = CommonConfig::from_env(env, "privacy", "127.0.0.1:0");
        let clickhouse = ClickHouseConfig::from_env(env);
        let key = Secret::new(env.string(&PRIVACY_SUBJECT_KEY));
        let subject_key = if key.expose().is_empty() {
            SecretBytes::default()
        } else {
            match runtime::secret::decode_key(PRIVACY_SUBJECT_KEY.name, &key, 32) {
                Ok(bytes) => SecretBytes::new(bytes),
                Err(problem) => {
                    env.check(false, problem);
                    SecretBytes::default()
                }
            }
        };
        let reference_signer = reference::publisher_signer(env);
        Ok(PrivacyConfig {
            reference_signer,
            common,
            clickhouse,
            subject_key,
            receipt_wait: Duration::from_secs(env.parse(&PRIVACY_RECEIPT_WAIT_SECONDS)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<PrivacyConfig, String> {
        runtime::config::read_pairs(pairs, PrivacyConfig::from_env)
    }

    #[test]
    fn the_subject_key_is_required_real_and_never_printed() {
        let err = read(&[]).expect_err("required");
        assert!(err.contains("PRIVACY_SUBJECT_KEY is required"), "{err}");
        let err = read(&[("PRIVACY_SUBJECT_KEY", "replace-me")]).expect_err("placeholder");
        assert!(err.contains("placeholder"), "{err}");
        let key = "q6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIyco=";
        let config = read(&[("PRIVACY_SUBJECT_KEY", key)]).expect("valid");
        assert_eq!(config.subject_key.expose().len(), 32);
        assert!(!format!("{config:?}").contains(key));
    }

    #[test]
    fn the_readme_table_is_the_one_the_code_generates() {
        let readme = include_str!("../README.md");
        let table = runtime::config::markdown_table(&all_vars());
        assert!(
            readme.contains(&table),
            "privacy/README.md is out of date: paste the output of `privacy env` into it"
        );
    }
}
