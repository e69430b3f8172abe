//! Wiring: the enricher's apply step on the stateful harness (bindings on the changelog), the
//! reference follower, Kafka in and out.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use prometheus::Registry;
use reference::ReferenceData;
use runtime::kafka::Cleanup;
use runtime::privacy::{ErasureTopics, WithErasure};
use runtime::service::{Service, Topic};
use runtime::stateful::{payload, Applied, Partitions, StatefulLogic};
use runtime::{Input, Output, RuntimeError};
use schemas::touchpoint::{ResolvedBy, SourceWatermark};
use schemas::{IdentityBinding, ValidTouchpoint};
use tokio_util::sync::CancellationToken;

use crate::config::EnricherConfig;
use crate::enrich::{enrich, Position};
use crate::identity::KeySource;
use crate::metrics::EnricherMetrics;
use crate::state::EnricherState;
use crate::watermark::BroadcastRules;

/// The enricher's apply step: one valid touchpoint in, one enriched touchpoint (or a dead
/// letter) out, and the customer's binding when the event makes one.
#[allow(missing_debug_implementations)]
pub struct Enricher {
    reference: Arc<ReferenceData>,
    output_topic: Arc<str>,
    referral_parameters: Vec<String>,
    metrics: EnricherMetrics,
    source_partitions: i32,
    /// Partitions of the enriched topic: where each source's progress is broadcast.
    output_partitions: i32,
    /// When sources' progress is broadcast; `None`: never.
    broadcast: Option<BroadcastRules>,
    erasure: ErasureTopics,
    changelog: String,
    bindings_max: usize,
}

impl Enricher {
    /// The enricher over `reference`; `source_partitions` is the input topic's partition
    /// count, stamped on every output so a merge waits for sources it has not heard from;
    /// `output_partitions` the enriched topic's, every one of which hears every source's
    /// progress.
    pub fn new(
        config: &EnricherConfig,
        reference: Arc<ReferenceData>,
        metrics: EnricherMetrics,
        source_partitions: i32,
        output_partitions: i32,
    ) -> Enricher {
        Enricher {
            reference,
            output_topic: Arc::from(config.common.topics.touchpoints_enriched.as_str()),
            referral_parameters: config.referral_parameters.clone(),
            metrics,
            source_partitions,
            output_partitions,
            broadcast: config.watermark_interval.map(|interval| BroadcastRules {
                interval,
                idle_after: config.source_idle,
            }),
            erasure: ErasureTopics::new(&config.common.topics),
            changelog: config.common.topics.identity_bindings.clone(),
            bindings_max: config.bindings_max,
        }
    }

    /// Broadcasts every source's progress that is due to every enriched partition: after
    /// the touchpoints it covers (the batch's outputs are acknowledged before this runs), so
    /// no partition hears of progress before the touchpoints behind it.
    fn broadcast(
        &self,
        partitions: &mut Partitions<EnricherState>,
        busy: bool,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        let Some(rules) = &self.broadcast else {
            return Ok(());
        };
        let (now, wall) = (Instant::now(), Utc::now());
        for (&partition, state) in partitions.iter_mut() {
            let Some(due) = state.stamp.broadcast_due(now, wall, rules, busy) else {
                continue;
            };
            let watermark = SourceWatermark {
                partition,
                partitions: self.source_partitions,
                progress: due.progress,
                idle: due.idle,
                emitted_at: wall,
            };
            let payload = schemas::encode(&watermark).map_err(|error| RuntimeError::Encode {
                what: "source watermark",
                error,
            })?;
            let key = watermark.key().into_bytes();
            for to in 0..self.output_partitions {
                outputs.push(Output {
                    topic: Arc::clone(&self.output_topic),
                    key: Some(key.clone()),
                    partition: Some(to),
                    payload: Some(payload.clone()),
                });
            }
            let sent = u64::try_from(self.output_partitions).unwrap_or(0);
            let kind = if due.idle { "idle" } else { "progress" };
            self.metrics
                .watermarks_sent
                .with_label_values(&[kind])
                .inc_by(sent);
        }
        Ok(())
    }

    fn count(&self, record: &schemas::EnrichedTouchpoint, key_source: KeySource) {
        let partner = &record.partner;
        let outcome = match (partner.partner_id.is_some(), partner.resolved_by) {
            (true, ResolvedBy::Link) => "link",
            (true, ResolvedBy::QueryParameter) => "query_parameter",
            (true, ResolvedBy::Code) => "code",
            _ if partner.unresolved_reason.is_some() => "unresolved",
            _ if record.utm.source.is_some() || record.utm.campaign.is_some() => "utm_only",
            _ => "none",
        };
        self.metrics.enriched.with_label_values(&[outcome]).inc();
        if let Some(reason) = &partner.unresolved_reason {
            self.metrics.unresolved.with_label_values(&[reason]).inc();
        }
        let source = match key_source {
            KeySource::Visitor => "visitor",
            KeySource::Binding => "binding",
            KeySource::CustomerOnly => "customer_only",
        };
        self.metrics.identity.with_label_values(&[source]).inc();
    }
}

impl StatefulLogic for Enricher {
    type State = EnricherState;
    type Event = WithErasure<ValidTouchpoint>;

    fn decode(&mut self, input: &Input<'_>) -> Result<WithErasure<ValidTouchpoint>, String> {
        self.erasure.decode(input, |input| {
            self.metrics.consumed.inc();
            schemas::decode(payload(input)?).map_err(|e| format!("not a valid touchpoint: {e}"))
        })
    }

    fn restore(
        &self,
        _partition: i32,
        records: &mut dyn Iterator<Item = IdentityBinding>,
    ) -> EnricherState {
        EnricherState::restore(records)
    }

    fn apply(
        &mut self,
        state: &mut EnricherState,
        input: &Input<'_>,
        event: WithErasure<ValidTouchpoint>,
        outputs: &mut Vec<Output>,
    ) -> Result<Applied, RuntimeError> {
        let touchpoint = match event {
            WithErasure::Event(touchpoint) => touchpoint,
            WithErasure::Erase(request) => {
                let removed = state.erase(&request);
                outputs.push(self.erasure.receipt(
                    &request,
                    "enricher",
                    input.partition,
                    &self.changelog,
                    removed,
                    0,
                )?);
                return Ok(Applied::Done);
            }
        };
        let event_id = touchpoint.event_id.clone();
        let at = Position {
            partition: input.partition,
            offset: input.offset,
        };
        let result = enrich(
            touchpoint,
            at,
            &self.reference.read(),
            &mut state.bindings,
            &self.referral_parameters,
            Utc::now(),
        );
        let mut enriched = match result {
            Ok(enriched) => enriched,
            Err(rejection) => {
                return Ok(Applied::Rejected {
                    reason: rejection.reason(),
                    detail: rejection.detail(),
                    event_id: Some(event_id),
                })
            }
        };
        if let Some(binding) = enriched.new_binding.take() {
            self.metrics.bindings_created.inc();
            state.written.push(binding);
        }
        let occurred_at = enriched.record.touchpoint.occurred_at;
        enriched.record.source = Some(state.stamp.stamp(
            input.partition,
            self.source_partitions,
            occurred_at,
            Instant::now(),
        ));
        let record = &enriched.record;
        let payload = schemas::encode(record).map_err(|error| RuntimeError::Encode {
            what: "enriched touchpoint",
            error,
        })?;
        outputs.push(Output::keyed(
            Arc::clone(&self.output_topic),
            Some(record.attribution_key.as_bytes().to_vec()),
            payload,
        ));
        self.count(record, enriched.key_source);
        Ok(Applied::Done)
    }

    fn emit_before_checkpoint(
        &mut self,
        partitions: &mut Partitions<EnricherState>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        // A batch was read: the sources it did not touch are said again now and then.
        self.broadcast(partitions, true, outputs)
    }

    fn idle(
        &mut self,
        partitions: &mut Partitions<EnricherState>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        // A source gone quiet: its last progress, then its idleness.
        self.broadcast(partitions, false, outputs)
    }

    fn before_checkpoint(&mut self, partitions: &mut Partitions<EnricherState>) {
        let evicted: usize = partitions
            .values_mut()
            .map(|state| state.enforce_cap(self.bindings_max))
            .sum();
        if evicted > 0 {
            self.metrics.evicted_bindings.inc_by(evicted as u64);
            tracing::warn!(evicted, cap = self.bindings_max, "Binding cap reached (ENRICHER_BINDINGS_PER_PARTITION_MAX): evicted the oldest bindings.");
        }
    }

    fn dead_lettered(&self, reason: &str) {
        self.metrics
            .dead_lettered
            .with_label_values(&[reason])
            .inc();
    }
}

/// Runs the enricher until `shutdown`, then drains and commits.
pub async fn run(
    config: EnricherConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let t = &config.common.topics;
    let service = Service::start(
        "enricher",
        &config.common,
        registry,
        shutdown,
        &[
            Topic::Stream(&t.touchpoints_valid, Cleanup::Delete),
            Topic::Stream(&t.touchpoints_enriched, Cleanup::Delete),
            Topic::Stream(&t.touchpoints_dlq, Cleanup::Delete),
            // Binding partition N holds the bindings of input partition N.
            Topic::Like {
                topic: &t.identity_bindings,
                cleanup: Cleanup::CompactDelete,
                input: &t.touchpoints_valid,
            },
            Topic::Reference(&t.reference_config),
            Topic::Like {
                topic: &t.privacy_requests,
                cleanup: Cleanup::Delete,
                input: &t.touchpoints_valid,
            },
            Topic::Stream(&t.privacy_receipts, Cleanup::Delete),
        ],
    )
    .await?;
    let metrics = EnricherMetrics::register(service.registry())?;
    // Enriching against an empty catalogue would dead-letter every event.
    let Some(reference) = reference::follow(&service).await? else {
        return Ok(());
    };
    let sources = service.partitions(&t.touchpoints_valid)?;
    let outputs = service.partitions(&t.touchpoints_enriched)?;
    let mut processor = service.stateful(
        Enricher::new(&config, reference, metrics, sources, outputs),
        &t.touchpoints_valid,
        &t.identity_bindings,
        "enricher",
        config.restore_timeout,
    )?;
    let consumer = service.single_consumer(
        &config.group_id,
        &[&t.touchpoints_valid, &t.privacy_requests],
    )?;
    service.run(consumer, &mut processor).await
}
