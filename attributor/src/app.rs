//! Wiring: the attributor's apply step on the stateful harness (state on the changelog), the
//! idle clock and the sweep, the reference follower, Kafka in and out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use prometheus::Registry;
use reference::ReferenceData;
use runtime::kafka::Cleanup;
use runtime::privacy::{ErasureTopics, WithErasure};
use runtime::service::{Service, Topic};
use runtime::stateful::{payload, Applied, Partitions, StatefulLogic};
use runtime::{Input, Output, RuntimeError};
use schemas::attribution::{AttributionKind, AttributionOutcome};
use schemas::touchpoint::EnrichedRecord;
use schemas::AttributorState;
use tokio_util::sync::CancellationToken;

use crate::config::AttributorConfig;
use crate::metrics::AttributorMetrics;
use crate::state::{Effects, Limits, PartitionState};

/// Keys one partition's sweep looks at per checkpoint.
const SWEEP_KEYS_PER_CHECKPOINT: usize = 5_000;

/// The attributor's apply step, idle clock and sweep.
#[allow(missing_debug_implementations)]
pub struct Attributor {
    reference: Arc<ReferenceData>,
    limits: Limits,
    idle_advance: Option<Duration>,
    sweep_interval: Duration,
    last_sweep: Instant,
    last_input: HashMap<i32, Instant>,
    output_topic: Arc<str>,
    metrics: AttributorMetrics,
    erasure: ErasureTopics,
    changelog: String,
}

impl Attributor {
    /// The attributor over `reference`.
    pub fn new(
        config: &AttributorConfig,
        reference: Arc<ReferenceData>,
        metrics: AttributorMetrics,
    ) -> Attributor {
        metrics
            .keys_cap
            .set(i64::try_from(config.limits.keys_max).unwrap_or(i64::MAX));
        Attributor {
            reference,
            limits: config.limits,
            idle_advance: config.idle_advance,
            sweep_interval: config.sweep_interval,
            last_sweep: Instant::now(),
            last_input: HashMap::new(),
            output_topic: Arc::from(config.common.topics.attributions.as_str()),
            metrics,
            erasure: ErasureTopics::new(&config.common.topics),
            changelog: config.common.topics.attributor_state.clone(),
        }
    }

    /// Emits `effects`' attributions and counts them.
    fn emit(&self, effects: Effects, outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        let m = &self.metrics;
        m.replayed.inc_by(effects.replayed);
        m.duplicates.inc_by(effects.duplicates);
        m.duplicate_touchpoints
            .inc_by(effects.duplicate_touchpoints);
        m.late_touchpoints.inc_by(effects.late_touchpoints);
        m.evicted.inc_by(effects.evicted);
        for attribution in effects.attributions {
            let kind = match attribution.kind {
                AttributionKind::Conversion => "conversion",
                AttributionKind::Refund => "refund",
            };
            let outcome = match attribution.outcome {
                AttributionOutcome::Attributed => "attributed",
                AttributionOutcome::Unattributed => "unattributed",
            };
            m.attributions.with_label_values(&[kind, outcome]).inc();
            if let Some(reason) = &attribution.unattributed_reason {
                m.unattributed.with_label_values(&[reason]).inc();
            }
            let payload = schemas::encode(&attribution).map_err(|error| RuntimeError::Encode {
                what: "attribution",
                error,
            })?;
            outputs.push(Output::keyed(
                Arc::clone(&self.output_topic),
                Some(attribution.attribution_key.into_bytes()),
                payload,
            ));
        }
        Ok(())
    }
}

impl StatefulLogic for Attributor {
    type State = PartitionState;
    type Event = WithErasure<EnrichedRecord>;

    fn decode(&mut self, input: &Input<'_>) -> Result<WithErasure<EnrichedRecord>, String> {
        self.erasure.decode(input, |input| {
            self.last_input.insert(input.partition, Instant::now());
            let record = EnrichedRecord::decode(payload(input)?);
            match record {
                Ok(EnrichedRecord::Watermark(_)) => self.metrics.watermarks.inc(),
                _ => self.metrics.consumed.inc(),
            }
            record.map_err(|e| format!("not an enriched touchpoint: {e}"))
        })
    }

    fn restore(
        &self,
        _partition: i32,
        records: &mut dyn Iterator<Item = AttributorState>,
    ) -> PartitionState {
        PartitionState::restore(records, &self.reference.read())
    }

    /// Decodes each record borrowed: its touchpoints' text goes straight from the payload
    /// into the state's compact form, never into strings of its own.
    fn restore_encoded(
        &self,
        _partition: i32,
        payloads: &mut dyn Iterator<Item = &[u8]>,
    ) -> Result<PartitionState, schemas::CodecError> {
        PartitionState::restore_encoded(payloads, &self.reference.read())
    }

    fn apply(
        &mut self,
        state: &mut PartitionState,
        input: &Input<'_>,
        event: WithErasure<EnrichedRecord>,
        outputs: &mut Vec<Output>,
    ) -> Result<Applied, RuntimeError> {
        let touchpoint = match event {
            WithErasure::Event(EnrichedRecord::Touchpoint(touchpoint)) => touchpoint,
            WithErasure::Event(EnrichedRecord::Watermark(watermark)) => {
                let mut effects = Effects::default();
                state.apply_watermark(
                    input.offset,
                    &watermark,
                    &self.reference.read(),
                    &self.limits,
                    &mut effects,
                );
                self.emit(effects, outputs)?;
                return Ok(Applied::Done);
            }
            WithErasure::Erase(request) => {
                let removed = state.erase(&request);
                outputs.push(self.erasure.receipt(
                    &request,
                    "attributor",
                    input.partition,
                    &self.changelog,
                    removed,
                    0,
                )?);
                return Ok(Applied::Done);
            }
        };
        let mut effects = Effects::default();
        let catalog = self.reference.read();
        let result = state.apply(
            input.offset,
            &touchpoint,
            &catalog,
            &self.limits,
            &mut effects,
        );
        drop(catalog);
        // Attributions made due by this input come out even when the input itself is bad.
        self.emit(effects, outputs)?;
        Ok(Applied::of(result, Some(touchpoint.touchpoint.event_id)))
    }

    fn idle(
        &mut self,
        partitions: &mut Partitions<PartitionState>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        // Partitions whose sources are all idle move at once, as at every batch.
        self.emit_before_checkpoint(partitions, outputs)?;
        let now = Utc::now();
        let mut effects = Effects::default();
        {
            let catalog = self.reference.read();
            for (partition, state) in partitions.iter_mut() {
                if state.pending() == 0 || state.sources_idle() {
                    continue;
                }
                let Some(quiet) = self.idle_advance else {
                    continue;
                };
                let quiet_for = self
                    .last_input
                    .get(partition)
                    .map_or(Duration::ZERO, Instant::elapsed);
                if quiet_for >= state.quiet_patience(quiet, now, &catalog, &self.limits) {
                    let decided = state.advance_idle(now, &catalog, &mut effects);
                    self.metrics
                        .wall_clock_decisions
                        .with_label_values(&["quiet"])
                        .inc_by(decided as u64);
                }
            }
        }
        self.emit(effects, outputs)
    }

    // Every batch: a partition whose sources are all live and quiet (the enricher says so)
    // attributes a conversion as soon as its grace has passed on the wall clock, even while
    // other partitions keep the consumer busy.
    fn emit_before_checkpoint(
        &mut self,
        partitions: &mut Partitions<PartitionState>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        let now = Utc::now();
        let mut effects = Effects::default();
        {
            let catalog = self.reference.read();
            for state in partitions.values_mut() {
                if state.pending() > 0 && state.sources_idle() {
                    let decided = state.advance_idle(now, &catalog, &mut effects);
                    self.metrics
                        .wall_clock_decisions
                        .with_label_values(&["sources_idle"])
                        .inc_by(decided as u64);
                }
            }
        }
        self.emit(effects, outputs)
    }

    fn before_checkpoint(&mut self, partitions: &mut Partitions<PartitionState>) {
        let evicted: usize = partitions
            .values_mut()
            .map(|state| state.enforce_key_cap(&self.limits))
            .sum();
        if evicted > 0 {
            self.metrics.evicted_keys.inc_by(evicted as u64);
            tracing::warn!(
                evicted,
                cap = self.limits.keys_max,
                "Key cap reached (ATTRIBUTOR_KEYS_PER_PARTITION_MAX): evicted the keys holding only the oldest touchpoints."
            );
        }
        if self.last_sweep.elapsed() >= self.sweep_interval {
            self.last_sweep = Instant::now();
            partitions
                .values_mut()
                .for_each(PartitionState::start_sweep);
        }
        // A slice per checkpoint: the keys it changes are rewritten by this checkpoint, so a
        // sweep never holds input back for long (README "Sweeps").
        let catalog = self.reference.read();
        for state in partitions.values_mut().filter(|s| s.sweeping()) {
            let changed = state.sweep_step(&catalog, &self.limits, SWEEP_KEYS_PER_CHECKPOINT);
            tracing::debug!(changed, "Swept a slice of expired state.");
        }
    }

    fn partition_restored(&mut self, partition: i32) {
        // A partition just taken over usually has a backlog still to fetch: its quiet time
        // starts now, not at its previous owner's last input, or the idle clock would
        // attribute its pending conversions before their late touchpoints are read.
        self.last_input.insert(partition, Instant::now());
    }

    fn partition_dropped(&mut self, partition: i32) {
        self.last_input.remove(&partition);
    }

    fn dead_lettered(&self, reason: &str) {
        self.metrics
            .dead_lettered
            .with_label_values(&[reason])
            .inc();
    }

    fn update_gauges(&self, partitions: &Partitions<PartitionState>) {
        let held_back = partitions
            .values()
            .map(|state| state.held_back(&self.limits))
            .max();
        self.metrics
            .held_back
            .set(held_back.map_or(0, |d| d.num_seconds()));
    }
}

/// Runs the attributor until `shutdown`, then drains and commits.
pub async fn run(
    config: AttributorConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let t = &config.common.topics;
    let service = Service::start(
        "attributor",
        &config.common,
        registry,
        shutdown,
        &[
            Topic::Stream(&t.touchpoints_enriched, Cleanup::Delete),
            Topic::Stream(&t.attributions, Cleanup::Delete),
            Topic::Stream(&t.touchpoints_dlq, Cleanup::Delete),
            Topic::Reference(&t.reference_config),
            // State partition N holds the keys of input partition N.
            Topic::Like {
                topic: &t.attributor_state,
                cleanup: Cleanup::CompactDelete,
                input: &t.touchpoints_enriched,
            },
            Topic::Like {
                topic: &t.privacy_requests,
                cleanup: Cleanup::Delete,
                input: &t.touchpoints_enriched,
            },
            Topic::Stream(&t.privacy_receipts, Cleanup::Delete),
        ],
    )
    .await?;
    let metrics = AttributorMetrics::register(service.registry())?;
    // Programs give windows, graces and rules: attributing without them would be wrong, so
    // readiness (and consumption) waits for the reference data.
    let Some(reference) = reference::follow(&service).await? else {
        return Ok(());
    };
    let mut processor = service.stateful(
        Attributor::new(&config, reference, metrics),
        &t.touchpoints_enriched,
        &t.attributor_state,
        "attributor",
        config.restore_timeout,
    )?;
    let consumer = service.single_consumer(
        &config.group_id,
        &[&t.touchpoints_enriched, &t.privacy_requests],
    )?;
    service.run(consumer, &mut processor).await
}
