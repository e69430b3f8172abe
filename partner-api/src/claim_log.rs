//! Claims are on their topic before they are anywhere else: each answer (given at once, or an
//! operator's resolution) is a `ClaimNotice` the broker acknowledged before the API writes the
//! claim to ClickHouse. The webhooks service tells `claim.answered` from the topic, and the
//! ledger-writer's analytics loop writes the same version again, so a claim the API answered
//! is recorded even if the API's own write failed or it died in between.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use runtime::kafka::Cleanup;
use runtime::{Output, Producer, RuntimeError};

use crate::config::ApiConfig;
use crate::queries::ClaimRow;
use crate::store::Store;

/// Why a claim was not accepted.
#[derive(Debug)]
pub struct NotPublished(pub String);

/// The claims topic and a producer for it.
#[allow(missing_debug_implementations)]
#[derive(Clone)]
pub struct ClaimLog {
    producer: Producer,
    topic: Arc<str>,
    ack_timeout: Duration,
}

impl ClaimLog {
    /// A log on the configured claims topic. Claim notices carry the claim id, so a repeat
    /// is harmless; the producer rides out broker restarts without idempotence.
    pub fn new(config: &ApiConfig) -> Result<ClaimLog, RuntimeError> {
        Ok(ClaimLog {
            producer: Producer::at_least_once(&config.common.kafka, "partner-api-claims")?,
            topic: Arc::from(config.common.topics.claims.as_str()),
            ack_timeout: config.common.kafka.delivery_timeout,
        })
    }

    /// Creates the topic if it does not exist.
    pub async fn ensure_topic(config: &ApiConfig) -> Result<(), RuntimeError> {
        runtime::kafka::ensure_topics(
            &config.common.kafka,
            &[(config.common.topics.claims.as_str(), Cleanup::Delete)],
        )
        .await
    }

    /// Publishes `row` as a new version and, once the broker acknowledged it, writes it to
    /// ClickHouse. Only a publish failure is an error: after the acknowledgement the claim is
    /// accepted, and a failed write is made good from the topic.
    pub async fn record(&self, store: &Store, row: &ClaimRow) -> Result<(), NotPublished> {
        let version = Utc::now().timestamp_micros();
        let notice = crate::claims::notice(row, version);
        let payload =
            runtime::encode("claim notice", &notice).map_err(|e| NotPublished(e.to_string()))?;
        let output = Output::keyed(
            Arc::clone(&self.topic),
            Some(row.partner_id.clone().into_bytes()),
            payload,
        );
        match tokio::time::timeout(self.ack_timeout, self.producer.send_all(&[output])).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(NotPublished(e.to_string())),
            Err(_) => {
                return Err(NotPublished(format!(
                    "the broker did not acknowledge within {} ms",
                    self.ack_timeout.as_millis()
                )))
            }
        }
        if let Err(e) = store
            .write_claim(row, u64::try_from(version).unwrap_or_default())
            .await
        {
            tracing::warn!(claim_id = %row.claim_id, error = %e.0, "Claim published but not written to ClickHouse; the ledger-writer writes it from the claims topic.");
        }
        Ok(())
    }
}
