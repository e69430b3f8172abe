//! Telling a broker that is not there yet from a configuration that can never work.
//!
//! librdkafka retries every connection failure forever, wrong password included, so a service
//! that only waited for metadata would print "retrying" until its start-up limit. The ping
//! listens to the client's own connection failures instead: refused credentials, a certificate
//! that does not verify, a TLS client on a plaintext listener or the reverse are permanent,
//! reported at once with what to change.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::util::Timeout;

use crate::error::RuntimeError;
use crate::settings::KafkaConfig;

/// Why a connection can never succeed with this configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The broker rejected the SASL credentials.
    Credentials(String),
    /// The broker does not offer the configured SASL mechanism.
    Mechanism(String),
    /// The TLS handshake failed: the certificate did not verify, or the listener is not TLS.
    Tls(String),
    /// A plaintext client reached a TLS listener.
    ExpectsTls,
    /// A TLS client reached a plaintext listener.
    ExpectsPlaintext,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Credentials(why) => write!(
                f,
                "the broker refused the credentials ({why}); check KAFKA_PROP_SASL_USERNAME, KAFKA_PROP_SASL_PASSWORD and KAFKA_PROP_SASL_MECHANISM"
            ),
            Refusal::Mechanism(why) => write!(
                f,
                "the broker does not offer this SASL mechanism ({why}); set KAFKA_PROP_SASL_MECHANISM to one it offers (e.g. SCRAM-SHA-512)"
            ),
            Refusal::Tls(why) => write!(
                f,
                "the TLS handshake failed ({why}); check KAFKA_PROP_SSL_CA_LOCATION (the CA that signed the broker's certificate) and that the listener speaks TLS"
            ),
            Refusal::ExpectsTls => f.write_str(
                "the listener speaks TLS but the client does not; set KAFKA_PROP_SECURITY_PROTOCOL=SASL_SSL (or SSL)",
            ),
            Refusal::ExpectsPlaintext => f.write_str(
                "the client speaks TLS but the listener does not; point KAFKA_BOOTSTRAP_SERVERS at the TLS listener, or set KAFKA_PROP_SECURITY_PROTOCOL=SASL_PLAINTEXT (or PLAINTEXT)",
            ),
        }
    }
}

/// Classifies one librdkafka connection-failure message; `None` for failures that may pass
/// (refused connection, broker restarting, timeouts).
pub fn classify(message: &str) -> Option<Refusal> {
    let reason = message
        .split_once(": ")
        .map_or(message, |(_, rest)| rest)
        .trim();
    if message.contains("SASL authentication error") || message.contains("Authentication failed") {
        Some(Refusal::Credentials(reason.to_string()))
    } else if message.contains("mechanism handshake failed") {
        Some(Refusal::Mechanism(reason.to_string()))
    } else if message.contains("SSL handshake failed") || message.contains("in state SSL_HANDSHAKE")
    {
        Some(Refusal::Tls(reason.to_string()))
    } else {
        None
    }
}

/// Collects the client's connection-failure log lines (librdkafka's `FAIL` facility) instead of
/// printing one per retry.
#[derive(Default)]
struct Listener {
    failures: Mutex<Vec<String>>,
}

impl ClientContext for Listener {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if fac == "FAIL" {
            self.record(log_message);
        }
    }

    fn error(&self, _error: rdkafka::error::KafkaError, reason: &str) {
        self.record(reason);
    }

    fn stats(&self, _statistics: rdkafka::Statistics) {}
}

impl rdkafka::consumer::ConsumerContext for Listener {}

impl Listener {
    fn record(&self, message: &str) {
        let mut failures = match self.failures.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        if failures.len() < 100 {
            failures.push(message.to_string());
        }
    }

    fn failures(&self) -> Vec<String> {
        match self.failures.lock() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// One metadata request with the service's settings: the number of brokers, or why not —
/// [`RuntimeError::KafkaRefused`] when the configuration can never work.
pub fn ping(kafka: &KafkaConfig, timeout: Duration) -> Result<usize, RuntimeError> {
    let (result, failures) = metadata(kafka, &[], timeout)?;
    match result {
        Ok(brokers) => Ok(brokers),
        Err(error) => {
            if let Some(refusal) = failures.iter().find_map(|f| classify(f)) {
                return Err(refused(kafka, refusal));
            }
            // Closed by the peer at the first request, not timed out (a stalled broker).
            let closed_at_hello = |f: &String| {
                f.contains("APIVERSION_QUERY")
                    && f.contains("Disconnected")
                    && !f.contains("Timed out")
            };
            if !uses_tls(kafka) && failures.iter().any(closed_at_hello) {
                // Closed right after connecting: a TLS listener does that to a plaintext
                // hello, but so may a broker still starting. Only a TLS handshake that
                // succeeds on the same address tells them apart.
                if listener_speaks_tls(kafka) {
                    return Err(refused(kafka, Refusal::ExpectsTls));
                }
            }
            let down = failures.iter().any(|f| f.contains("Connection refused"));
            if uses_tls(kafka) && !down && listener_speaks_plaintext(kafka) {
                // A plaintext listener reads a TLS hello as the start of a huge request and
                // waits: the client sees only a timeout.
                return Err(refused(kafka, Refusal::ExpectsPlaintext));
            }
            Err(RuntimeError::Unreachable {
                servers: kafka.bootstrap_servers.clone(),
                error,
            })
        }
    }
}

fn refused(kafka: &KafkaConfig, refusal: Refusal) -> RuntimeError {
    RuntimeError::KafkaRefused {
        servers: kafka.bootstrap_servers.clone(),
        reason: refusal.to_string(),
    }
}

type Metadata = (Result<usize, rdkafka::error::KafkaError>, Vec<String>);

fn metadata(
    kafka: &KafkaConfig,
    overrides: &[(&str, &str)],
    timeout: Duration,
) -> Result<Metadata, RuntimeError> {
    let mut config = crate::kafka::base_config(kafka, "attrib-ping");
    config.set("statistics.interval.ms", "0");
    for (k, v) in overrides {
        config.set(*k, *v);
    }
    let probe: BaseConsumer<Listener> = config
        .set_log_level(RDKafkaLogLevel::Info)
        .create_with_context(Listener::default())
        .map_err(RuntimeError::Kafka)?;
    let result = probe
        .fetch_metadata(None, Timeout::After(timeout))
        .map(|m| m.brokers().len());
    // librdkafka queues its log lines and errors for the client's poll: serve them.
    let drained = std::time::Instant::now();
    while drained.elapsed() < Duration::from_millis(200) {
        if probe.poll(Duration::from_millis(1)).is_some() {
            break;
        }
    }
    let failures = probe.context().failures();
    Ok((result, failures))
}

fn uses_tls(kafka: &KafkaConfig) -> bool {
    kafka
        .client_properties
        .iter()
        .any(|(k, v)| k == "security.protocol" && v.expose().to_ascii_lowercase().ends_with("ssl"))
}

/// Whether a TLS handshake (certificate not checked: only the protocol matters here)
/// succeeds with the bootstrap servers.
fn listener_speaks_tls(kafka: &KafkaConfig) -> bool {
    let plain = KafkaConfig {
        client_properties: Vec::new(),
        ..kafka.clone()
    };
    match metadata(
        &plain,
        &[
            ("security.protocol", "ssl"),
            ("enable.ssl.certificate.verification", "false"),
        ],
        Duration::from_secs(3),
    ) {
        Ok((Ok(_), _)) => true,
        Ok((Err(_), failures)) => {
            !failures.is_empty() && failures.iter().all(|f| classify(f).is_none())
        }
        Err(_) => false,
    }
}

/// Whether the bootstrap servers answer the same client without TLS (SASL kept): the
/// metadata arrives, or the broker gets as far as judging the credentials.
fn listener_speaks_plaintext(kafka: &KafkaConfig) -> bool {
    let sasl = kafka.client_properties.iter().any(|(k, v)| {
        k == "security.protocol" && v.expose().to_ascii_lowercase().starts_with("sasl")
    });
    let plain = KafkaConfig {
        client_properties: kafka
            .client_properties
            .iter()
            .filter(|(k, _)| k != "security.protocol" && !k.starts_with("ssl."))
            .cloned()
            .collect(),
        ..kafka.clone()
    };
    let protocol = if sasl { "sasl_plaintext" } else { "plaintext" };
    match metadata(
        &plain,
        &[("security.protocol", protocol)],
        Duration::from_secs(5),
    ) {
        Ok((Ok(_), _)) => true,
        Ok((Err(_), failures)) => failures.iter().any(|f| {
            matches!(
                classify(f),
                Some(Refusal::Credentials(_) | Refusal::Mechanism(_))
            )
        }),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafkas_failures_are_classified() {
        // Lines as librdkafka 2.12 logs them against tansu behind TLS (seen by hand).
        let wrong_password = "sasl_ssl://127.0.0.1:19093/bootstrap: SASL authentication error: SASL SCRAM authentication failed: broker responded with invalid-proof (after 13ms in state AUTH_REQ)";
        let unknown_ca = "sasl_ssl://127.0.0.1:19093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured or root CA certificates are installed (install ca-certificates package) (after 1ms in state SSL_HANDSHAKE)";
        let mechanism = "sasl_plaintext://127.0.0.1:19094/bootstrap: SASL PLAIN mechanism handshake failed: Local: Broker transport failure: broker's supported mechanisms: (n/a) (after 0ms in state DOWN)";
        let reset = "sasl_plaintext://127.0.0.1:19093/bootstrap: Disconnected: connection reset by peer (after 0ms in state APIVERSION_QUERY)";
        let refused = "127.0.0.1:19092/bootstrap: Connect to ipv4#127.0.0.1:19092 failed: Connection refused (after 0ms in state CONNECT)";
        assert!(
            matches!(classify(wrong_password), Some(Refusal::Credentials(why)) if why.starts_with("SASL authentication error"))
        );
        assert!(
            matches!(classify(unknown_ca), Some(Refusal::Tls(why)) if why.contains("certificate verify failed"))
        );
        assert!(matches!(classify(mechanism), Some(Refusal::Mechanism(_))));
        assert_eq!(classify(reset), None);
        assert_eq!(classify(refused), None);
    }

    #[test]
    fn each_refusal_names_the_variables_to_change() {
        assert!(Refusal::Credentials("x".into())
            .to_string()
            .contains("KAFKA_PROP_SASL_PASSWORD"));
        assert!(Refusal::Tls("x".into())
            .to_string()
            .contains("KAFKA_PROP_SSL_CA_LOCATION"));
        assert!(Refusal::ExpectsTls
            .to_string()
            .contains("KAFKA_PROP_SECURITY_PROTOCOL=SASL_SSL"));
    }
}
