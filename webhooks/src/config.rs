//! The webhooks service's configuration: the shared variables plus its own, all from the
//! environment.

use std::time::Duration;

use runtime::config::{Env, EnvVar};
use runtime::{CommonConfig, Secret, SecretBytes};

use crate::retry::RetryPolicy;

/// Router consumer group.
pub const WEBHOOKS_ROUTER_GROUP_ID: EnvVar = EnvVar {
    name: "WEBHOOKS_ROUTER_GROUP_ID",
    default: Some("attrib-webhooks-router"),
    doc: "Consumer group of the router (ledger entries and risk levels in, notifications keyed by endpoint out).",
};
/// Dispatcher consumer group.
pub const WEBHOOKS_GROUP_ID: EnvVar = EnvVar {
    name: "WEBHOOKS_GROUP_ID",
    default: Some("attrib-webhooks"),
    doc: "Consumer group of the dispatcher (notifications in; deliveries, the delivery log and dead letters out).",
};
/// The key endpoint secrets are derived from.
pub const WEBHOOKS_SIGNING_KEY: EnvVar = EnvVar {
    name: "WEBHOOKS_SIGNING_KEY",
    default: None,
    doc: "Secret, base64 of 32+ random bytes: every endpoint's signing secret is derived from it, the endpoint id and its `secret_version` (`webhooks secret ENDPOINT` prints one for its owner). Changing it changes every endpoint's secret.",
};
/// First retry delay.
pub const WEBHOOKS_RETRY_BASE_MS: EnvVar = EnvVar {
    name: "WEBHOOKS_RETRY_BASE_MS",
    default: Some("5000"),
    doc: "Delay after a delivery's first failure; it doubles per failure (with jitter: between half and all of it).",
};
/// Longest retry delay.
pub const WEBHOOKS_RETRY_MAX_DELAY_SECONDS: EnvVar = EnvVar {
    name: "WEBHOOKS_RETRY_MAX_DELAY_SECONDS",
    default: Some("21600"),
    doc: "Longest delay between two attempts of a delivery (6 hours).",
};
/// Retry horizon.
pub const WEBHOOKS_RETRY_HORIZON_SECONDS: EnvVar = EnvVar {
    name: "WEBHOOKS_RETRY_HORIZON_SECONDS",
    default: Some("259200"),
    doc: "How long after its creation a delivery is still tried (3 days); then it is dead-lettered and its endpoint marked failing.",
};
/// Request timeout.
pub const WEBHOOKS_TIMEOUT_MS: EnvVar = EnvVar {
    name: "WEBHOOKS_TIMEOUT_MS",
    default: Some("10000"),
    doc: "An attempt without a complete answer within this long is a failure (`timed_out`), connection included.",
};
/// Response size limit.
pub const WEBHOOKS_RESPONSE_BYTES_MAX: EnvVar = EnvVar {
    name: "WEBHOOKS_RESPONSE_BYTES_MAX",
    default: Some("65536"),
    doc: "At most this much of an answer's body is read (the status decides; the body is only logged).",
};
/// Private targets.
pub const WEBHOOKS_ALLOW_PRIVATE_TARGETS: EnvVar = EnvVar {
    name: "WEBHOOKS_ALLOW_PRIVATE_TARGETS",
    default: Some("false"),
    doc: "`true` lets deliveries go to loopback, private and link-local addresses (tests; endpoints inside your own network). Off, such an endpoint's attempts fail as `refused_target`.",
};
/// Deliveries in flight.
pub const WEBHOOKS_CONCURRENCY: EnvVar = EnvVar {
    name: "WEBHOOKS_CONCURRENCY",
    default: Some("256"),
    doc: "Most attempts in flight at once, over all endpoints.",
};
/// Deliveries in flight per endpoint.
pub const WEBHOOKS_ENDPOINT_CONCURRENCY: EnvVar = EnvVar {
    name: "WEBHOOKS_ENDPOINT_CONCURRENCY",
    default: Some("4"),
    doc: "Most attempts in flight to one endpoint: a slow endpoint holds at most this many, never the others' share.",
};

/// The service's own variables.
pub const WEBHOOKS_VARS: [EnvVar; 11] = [
    WEBHOOKS_ROUTER_GROUP_ID,
    WEBHOOKS_GROUP_ID,
    WEBHOOKS_SIGNING_KEY,
    WEBHOOKS_RETRY_BASE_MS,
    WEBHOOKS_RETRY_MAX_DELAY_SECONDS,
    WEBHOOKS_RETRY_HORIZON_SECONDS,
    WEBHOOKS_TIMEOUT_MS,
    WEBHOOKS_RESPONSE_BYTES_MAX,
    WEBHOOKS_ALLOW_PRIVATE_TARGETS,
    WEBHOOKS_CONCURRENCY,
    WEBHOOKS_ENDPOINT_CONCURRENCY,
];

/// Default admin address.
pub const ADMIN_DEFAULT: &str = "127.0.0.1:9106";

/// Every variable the service reads, for `webhooks env` and the README.
pub fn all_vars() -> Vec<EnvVar> {
    runtime::settings::service_vars(ADMIN_DEFAULT, &WEBHOOKS_VARS)
}

/// How attempts are made.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Request timeout.
    pub timeout: Duration,
    /// Response bytes read.
    pub response_bytes_max: usize,
    /// Private targets allowed.
    pub allow_private: bool,
    /// Attempts in flight.
    pub concurrency: usize,
    /// Attempts in flight per endpoint.
    pub endpoint_concurrency: usize,
}

/// The webhooks service's configuration.
#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Router group.
    pub router_group_id: String,
    /// Dispatcher group.
    pub group_id: String,
    /// The key endpoint secrets derive from.
    pub signing_key: SecretBytes,
    /// Retries.
    pub retry: RetryPolicy,
    /// Attempts.
    pub delivery: DeliverySettings,
}

impl WebhooksConfig {
    /// Reads and checks every variable; the error lists every problem.
    pub fn from_env(env: &mut Env) -> Result<WebhooksConfig, runtime::ConfigError> {
        let common = CommonConfig::from_env(env, "webhooks", ADMIN_DEFAULT);
        let key = Secret::new(env.string(&WEBHOOKS_SIGNING_KEY));
        let signing_key = match runtime::secret::decode_key(WEBHOOKS_SIGNING_KEY.name, &key, 32) {
            Ok(bytes) => SecretBytes::new(bytes),
            Err(problem) => {
                env.check(false, problem);
                SecretBytes::default()
            }
        };
        let retry = RetryPolicy {
            base: Duration::from_millis(env.parse(&WEBHOOKS_RETRY_BASE_MS)),
            max_delay: Duration::from_secs(env.parse(&WEBHOOKS_RETRY_MAX_DELAY_SECONDS)),
            horizon: Duration::from_secs(env.parse(&WEBHOOKS_RETRY_HORIZON_SECONDS)),
        };
        env.check(
            !retry.base.is_zero() && retry.base <= retry.max_delay,
            "WEBHOOKS_RETRY_BASE_MS must be above 0 and at most WEBHOOKS_RETRY_MAX_DELAY_SECONDS",
        );
        let delivery = DeliverySettings {
            timeout: Duration::from_millis(env.parse(&WEBHOOKS_TIMEOUT_MS)),
            response_bytes_max: env.parse(&WEBHOOKS_RESPONSE_BYTES_MAX),
            allow_private: env.parse(&WEBHOOKS_ALLOW_PRIVATE_TARGETS),
            concurrency: env.parse(&WEBHOOKS_CONCURRENCY),
            endpoint_concurrency: env.parse(&WEBHOOKS_ENDPOINT_CONCURRENCY),
        };
        env.check(
            delivery.concurrency >= 1 && delivery.endpoint_concurrency >= 1,
            "WEBHOOKS_CONCURRENCY and WEBHOOKS_ENDPOINT_CONCURRENCY must be at least 1",
        );
        env.check(
            delivery.timeout >= Duration::from_millis(100),
            "WEBHOOKS_TIMEOUT_MS must be at least 100",
        );
        Ok(WebhooksConfig {
            common,
            router_group_id: env.string(&WEBHOOKS_ROUTER_GROUP_ID),
            group_id: env.string(&WEBHOOKS_GROUP_ID),
            signing_key,
            retry,
            delivery,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "q6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIyco=";

    fn read(pairs: &[(&str, &str)]) -> Result<WebhooksConfig, String> {
        runtime::config::read_pairs(pairs, WebhooksConfig::from_env)
    }

    #[test]
    fn defaults_and_bad_values() {
        let config = read(&[("WEBHOOKS_SIGNING_KEY", KEY)]).expect("defaults");
        assert_eq!(config.retry.horizon, Duration::from_secs(3 * 86_400));
        assert!(!config.delivery.allow_private);
        assert!(!format!("{config:?}").contains(KEY));
        let err = read(&[("WEBHOOKS_RETRY_BASE_MS", "0")]).expect_err("bad");
        assert!(
            err.contains("WEBHOOKS_SIGNING_KEY") && err.contains("WEBHOOKS_RETRY_BASE_MS"),
            "{err}"
        );
    }

    #[test]
    fn the_readme_table_is_the_one_the_code_generates() {
        let readme = include_str!("../README.md");
        let table = runtime::config::markdown_table(&all_vars());
        assert!(
            readme.contains(&table),
            "webhooks/README.md is out of date: paste the output of `webhooks env` into it"
        );
    }
}
