//! Wiring: the ingest processor (validation + dedup + encoding per message) and the service's
//! run loop on Kafka. Offsets, batching and delivery guarantees come from `runtime`.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use prometheus::{IntCounter, Registry};
use runtime::kafka::Cleanup;
use runtime::service::{Service, Topic};
use runtime::settings::Topics;
use runtime::{DeadLetterWriter, Input, Output, Processor, RuntimeError};
use schemas::touchpoint::IngestPath;
use schemas::EventKind;
use tokio_util::sync::CancellationToken;

use crate::config::IngestConfig;
use crate::dedup::Dedup;
use crate::metrics::IngestMetrics;
use crate::pii::IpPolicy;
use crate::process::{output_key, validate, Rules};
use crate::reason::Reason;

/// Turns raw messages into valid touchpoints or dead letters.
#[derive(Debug)]
pub struct IngestProcessor {
    rules: Rules,
    dedup: Dedup,
    dead_letters: DeadLetterWriter,
    valid_topic: Arc<str>,
    path: IngestPath,
    metrics: IngestMetrics,
    // Resolved once: a label lookup per message would cost more than the counting.
    valid_by_kind: Vec<IntCounter>,
    dead_by_reason: Vec<IntCounter>,
}

impl IngestProcessor {
    /// A processor for messages arriving by `path`.
    pub fn new(config: &IngestConfig, metrics: IngestMetrics, path: IngestPath) -> IngestProcessor {
        let valid_by_kind = EventKind::ALL
            .iter()
            .map(|k| metrics.valid.with_label_values(&[k.as_str()]))
            .collect();
        let dead_by_reason = Reason::ALL
            .iter()
            .map(|r| metrics.dead_lettered.with_label_values(&[r.code()]))
            .collect();
        IngestProcessor {
            rules: Rules {
                message_bytes_max: config.message_bytes_max,
                future_skew: chrono::Duration::from_std(config.future_skew)
                    .unwrap_or(chrono::Duration::MAX),
                ip_policy: IpPolicy::new(config.ip_mode, config.ip_hash_key.expose()),
            },
            dedup: Dedup::new(config.dedup_capacity, config.dedup_ttl),
            dead_letters: DeadLetterWriter::new(
                "ingest",
                &config.common.topics.touchpoints_dlq,
                config.common.dead_letter_payload_bytes_max,
            ),
            valid_topic: config.common.topics.touchpoints_valid.as_str().into(),
            path,
            metrics,
            valid_by_kind,
            dead_by_reason,
        }
    }

    /// The validation rules this processor applies.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }
}

impl Processor for IngestProcessor {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        let started = Instant::now();
        let now = Utc::now();
        self.metrics.consumed.inc();
        if let Some(ms) = input.timestamp_ms {
            let age_ms = now.timestamp_millis().saturating_sub(ms).max(0);
            self.metrics.event_age.observe(age_ms as f64 / 1000.0);
        }
        match validate(
            input.payload.unwrap_or_default(),
            &self.rules,
            now,
            self.path,
        ) {
            Ok(touchpoint) => {
                let scope = crate::dedup::scope(touchpoint.program_id.as_deref(), input.key);
                if self.dedup.first_sighting(scope, &touchpoint.event_id) {
                    let payload =
                        schemas::encode(&touchpoint).map_err(|error| RuntimeError::Encode {
                            what: "valid touchpoint",
                            error,
                        })?;
                    outputs.push(Output::keyed(
                        self.valid_topic.clone(),
                        output_key(&touchpoint).map(|k| k.as_bytes().to_vec()),
                        payload,
                    ));
                    self.valid_by_kind[touchpoint.kind as usize].inc();
                } else {
                    self.metrics.duplicates.inc();
                    tracing::debug!(event_id = %touchpoint.event_id, "Duplicate event dropped.");
                }
            }
            Err(rejection) => {
                tracing::debug!(
                    topic = input.topic, partition = input.partition, offset = input.offset,
                    reason = rejection.reason.code(), detail = %rejection.detail,
                    "Message dead-lettered."
                );
                outputs.push(self.dead_letters.output(
                    input,
                    rejection.reason.code(),
                    rejection.detail,
                    rejection.event_id,
                    now,
                )?);
                // Reason::ALL lists the variants in declaration order (pinned by a test).
                self.dead_by_reason[rejection.reason as usize].inc();
            }
        }
        self.metrics
            .processing
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }
}

/// The topics ingest reads and writes.
pub fn topics(t: &Topics) -> [Topic<'_>; 3] {
    [
        Topic::Stream(&t.touchpoints_raw, Cleanup::Delete),
        Topic::Stream(&t.touchpoints_valid, Cleanup::Delete),
        Topic::Stream(&t.touchpoints_dlq, Cleanup::Delete),
    ]
}

/// Runs the ingest service until `shutdown`, then drains and commits.
pub async fn run(
    config: IngestConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let t = &config.common.topics;
    let service = Service::start("ingest", &config.common, registry, shutdown, &topics(t)).await?;
    let metrics = IngestMetrics::register(service.registry())?;
    let mut processor = IngestProcessor::new(&config, metrics, IngestPath::Stream);
    let consumer = service.single_consumer(&config.group_id, &[&t.touchpoints_raw])?;
    service.run(consumer, &mut processor).await
}
