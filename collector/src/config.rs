//! The collector's configuration, all from the environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use ingest::config::{INGEST_FUTURE_SKEW_SECONDS, INGEST_MESSAGE_BYTES_MAX};
use runtime::config::{Env, EnvVar};
use runtime::{CommonConfig, Secret};

/// Where the collector listens.
pub const COLLECTOR_LISTEN_ADDR: EnvVar = EnvVar {
    name: "COLLECTOR_LISTEN_ADDR",
    default: Some("127.0.0.1:8490"),
    doc: "Address of `POST /v1/events` and `POST /v1/stripe/{program}` (put TLS in front: a load balancer or ingress).",
};
/// Largest body.
pub const COLLECTOR_BODY_BYTES_MAX: EnvVar = EnvVar {
    name: "COLLECTOR_BODY_BYTES_MAX",
    default: Some("5242880"),
    doc: "Larger request bodies are answered 413 unread.",
};
/// Most events per request.
pub const COLLECTOR_BATCH_EVENTS_MAX: EnvVar = EnvVar {
    name: "COLLECTOR_BATCH_EVENTS_MAX",
    default: Some("1000"),
    doc: "Requests with more events are answered 413 (nothing of them is accepted).",
};
/// How long a request waits for the broker.
pub const COLLECTOR_ACK_TIMEOUT_MS: EnvVar = EnvVar {
    name: "COLLECTOR_ACK_TIMEOUT_MS",
    default: Some("10000"),
    doc: "How long a request waits for the broker to acknowledge its events (the producer's `message.timeout.ms`); past it the answer is 503 and the sender retries the whole request.",
};
/// Stripe endpoint secrets.
pub const COLLECTOR_STRIPE_SECRETS: EnvVar = EnvVar {
    name: "COLLECTOR_STRIPE_SECRETS",
    default: Some(""),
    doc: "Secret: `program:whsec_…,…`, each program's Stripe endpoint signing secret (a program may be listed twice while Stripe rolls its secret). A program not listed has no Stripe intake (404).",
};

/// Every variable the collector reads, for `collector env` and the README.
pub fn all_vars() -> Vec<EnvVar> {
    runtime::settings::service_vars(
        "127.0.0.1:9490",
        &[
            COLLECTOR_LISTEN_ADDR,
            COLLECTOR_BODY_BYTES_MAX,
            COLLECTOR_BATCH_EVENTS_MAX,
            COLLECTOR_ACK_TIMEOUT_MS,
            COLLECTOR_STRIPE_SECRETS,
            INGEST_MESSAGE_BYTES_MAX,
            INGEST_FUTURE_SKEW_SECONDS,
        ],
    )
}

/// Each program's Stripe endpoint secrets. Never printed.
#[derive(Clone, Default)]
pub struct StripeSecrets(HashMap<String, Vec<String>>);

impl std::fmt::Debug for StripeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut programs: Vec<&String> = self.0.keys().collect();
        programs.sort();
        f.debug_struct("StripeSecrets")
            .field("programs", &programs)
            .finish_non_exhaustive()
    }
}

impl StripeSecrets {
    /// Parses `program:whsec_…,…`.
    pub fn parse(value: &Secret) -> Result<StripeSecrets, String> {
        let mut secrets: HashMap<String, Vec<String>> = HashMap::new();
        for entry in value
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            match entry.split_once(':') {
                Some((program, secret))
                    if !program.trim().is_empty() && secret.trim().starts_with("whsec_") =>
                {
                    secrets
                        .entry(program.trim().to_string())
                        .or_default()
                        .push(secret.trim().to_string())
                }
                _ => {
                    let program = entry.split(':').next().unwrap_or_default();
                    return Err(format!(
                        "{}: the entry for {program:?} is not program:whsec_… (the endpoint's signing secret from Stripe)",
                        COLLECTOR_STRIPE_SECRETS.name
                    ));
                }
            }
        }
        Ok(StripeSecrets(secrets))
    }

    /// A program's secrets (empty: no Stripe intake for it).
    pub fn of(&self, program: &str) -> &[String] {
        self.0.get(program).map_or(&[], Vec::as_slice)
    }
}

/// The collector's configuration.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Shared settings (Kafka, topics, admin, logs); the producer's delivery timeout is
    /// `COLLECTOR_ACK_TIMEOUT_MS`.
    pub common: CommonConfig,
    /// Address of the API.
    pub listen: SocketAddr,
    /// Largest body.
    pub body_bytes_max: usize,
    /// Most events per request.
    pub events_max: usize,
    /// Largest event (ingest's limit).
    pub event_bytes_max: usize,
    /// Clock skew allowed (ingest's).
    pub future_skew: Duration,
    /// Stripe secrets per program.
    pub stripe: StripeSecrets,
}

impl CollectorConfig {
    /// Reads and checks every variable; the error lists every problem.
    pub fn from_env(env: &mut Env) -> Result<CollectorConfig, runtime::ConfigError> {
        let mut common = CommonConfig::from_env(env, "collector", "127.0.0.1:9490");
        let listen = env
            .parse::<runtime::settings::ListenAddr>(&COLLECTOR_LISTEN_ADDR)
            .0
            .unwrap_or_else(|| ([127, 0, 0, 1], 8490).into());
        let body_bytes_max: usize = env.parse(&COLLECTOR_BODY_BYTES_MAX);
        let events_max: usize = env.parse(&COLLECTOR_BATCH_EVENTS_MAX);
        let ack_ms: u64 = env.parse(&COLLECTOR_ACK_TIMEOUT_MS);
        env.check(
            (1_000..=300_000).contains(&ack_ms),
            "COLLECTOR_ACK_TIMEOUT_MS must be between 1000 and 300000",
        );
        env.check(
            (1..=100_000).contains(&events_max),
            "COLLECTOR_BATCH_EVENTS_MAX must be between 1 and 100000",
        );
        env.check(
            body_bytes_max >= 1024,
            "COLLECTOR_BODY_BYTES_MAX must be at least 1024",
        );
        common.kafka.delivery_timeout = Duration::from_millis(ack_ms);
        let stripe = match StripeSecrets::parse(&Secret::new(env.string(&COLLECTOR_STRIPE_SECRETS)))
        {
            Ok(s) => s,
            Err(problem) => {
                env.check(false, problem);
                StripeSecrets::default()
            }
        };
        Ok(CollectorConfig {
            common,
            listen,
            body_bytes_max,
            events_max,
            event_bytes_max: env.parse(&INGEST_MESSAGE_BYTES_MAX),
            future_skew: Duration::from_secs(env.parse(&INGEST_FUTURE_SKEW_SECONDS)),
            stripe,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<CollectorConfig, String> {
        runtime::config::read_pairs(pairs, CollectorConfig::from_env)
    }

    #[test]
    fn defaults_secrets_and_bad_values() {
        let config = read(&[]).expect("defaults");
        assert_eq!(config.listen.port(), 8490);
        assert_eq!(
            config.common.kafka.delivery_timeout,
            Duration::from_secs(10)
        );
        assert!(config.stripe.of("acme").is_empty());
        let config = read(&[(
            "COLLECTOR_STRIPE_SECRETS",
            "acme:whsec_one, acme:whsec_two,bolt:whsec_b",
        )])
        .expect("secrets");
        assert_eq!(config.stripe.of("acme"), ["whsec_one", "whsec_two"]);
        assert!(
            !format!("{config:?}").contains("whsec_"),
            "secrets are never printed"
        );
        let err = read(&[
            ("COLLECTOR_STRIPE_SECRETS", "acme:sk_live_oops"),
            ("COLLECTOR_ACK_TIMEOUT_MS", "5"),
        ])
        .expect_err("bad");
        assert!(
            err.contains("not program:whsec_") && !err.contains("sk_live_oops"),
            "{err}"
        );
        assert!(err.contains("COLLECTOR_ACK_TIMEOUT_MS"), "{err}");
    }

    #[test]
    fn the_readme_table_is_the_one_the_code_generates() {
        let readme = include_str!("../README.md");
        let table = runtime::config::markdown_table(&all_vars());
        assert!(
            readme.contains(&table),
            "collector/README.md is out of date: paste the output of `collector env` into it"
        );
    }
}
