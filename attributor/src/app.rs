//! Wiring: Kafka in and out, the state changelog, the reference follower, metrics, health.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use prometheus::Registry;
use reference::{ReferenceData, ReferenceMetrics};
use runtime::consumer_loop::LoopParts;
use runtime::kafka::{self, Cleanup};
use runtime::metrics::LoopMetrics;
use runtime::topic_reader::{ChangelogReader, Restore};
use runtime::{DeadLetterWriter, Health, Input, Output, Processor, Producer, RuntimeError};
use schemas::attribution::{AttributionKind, AttributionOutcome};
use schemas::{AttributorState, EnrichedTouchpoint};
use tokio_util::sync::CancellationToken;

use crate::config::AttributorConfig;
use crate::metrics::AttributorMetrics;
use crate::state::{Effects, Limits, PartitionState};

/// Changelog key of a partition's position record (attribution keys always contain a '/').
pub const POSITION_KEY: &str = "~position";

/// A reader of the configured state changelog, for restores.
pub fn changelog_restore(config: &AttributorConfig) -> Result<ChangelogReader, RuntimeError> {
    ChangelogReader::new(
        &config.common.kafka,
        "attributor-restore",
        &config.common.topics.attributor_state,
        config.restore_timeout,
    )
}

/// How many times `ATTRIBUTOR_IDLE_ADVANCE_SECONDS` a quiet partition waits before its clock
/// follows the wall clock while its sources disagree.
const LAGGING_SOURCE_PATIENCE: u32 = 10;

/// Which records the next checkpoint call writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Keys,
    Positions,
    Done,
}

/// The attributor's per-message logic.
#[allow(missing_debug_implementations)]
pub struct AttributorProcessor<R: Restore<AttributorState>> {
    reference: Arc<ReferenceData>,
    partitions: HashMap<i32, PartitionState>,
    last_input: HashMap<i32, Instant>,
    restore: R,
    limits: Limits,
    idle_advance: Option<Duration>,
    sweep_interval: Duration,
    last_sweep: Instant,
    phase: Phase,
    input_topic: String,
    output_topic: Arc<str>,
    changelog_topic: Arc<str>,
    dead_letters: DeadLetterWriter,
    metrics: AttributorMetrics,
}

impl<R: Restore<AttributorState>> AttributorProcessor<R> {
    /// A processor over `reference`, restoring state with `restore`.
    pub fn new(
        config: &AttributorConfig,
        reference: Arc<ReferenceData>,
        restore: R,
        metrics: AttributorMetrics,
    ) -> AttributorProcessor<R> {
        let topics = &config.common.topics;
        AttributorProcessor {
            reference,
            partitions: HashMap::new(),
            last_input: HashMap::new(),
            restore,
            limits: config.limits,
            idle_advance: config.idle_advance,
            sweep_interval: config.sweep_interval,
            last_sweep: Instant::now(),
            phase: Phase::Keys,
            input_topic: topics.touchpoints_enriched.clone(),
            output_topic: Arc::from(topics.attributions.as_str()),
            changelog_topic: Arc::from(topics.attributor_state.as_str()),
            dead_letters: DeadLetterWriter::new(
                "attributor",
                &topics.touchpoints_dlq,
                config.common.dead_letter_payload_bytes_max,
            ),
            metrics,
        }
    }

    /// State of `partition`, if held.
    pub fn partition(&self, partition: i32) -> Option<&PartitionState> {
        self.partitions.get(&partition)
    }

    fn ensure_restored(&mut self, partition: i32) -> Result<(), RuntimeError> {
        if self.partitions.contains_key(&partition) {
            return Ok(());
        }
        let started = Instant::now();
        let records = self.restore.read(partition)?;
        let count = records.len();
        let state = PartitionState::restore(records, &self.reference.read());
        self.metrics
            .restore
            .observe(started.elapsed().as_secs_f64());
        tracing::info!(
            partition,
            records = count,
            keys = state.keys(),
            touchpoints = state.touchpoints(),
            pending = state.pending(),
            seconds = started.elapsed().as_secs_f64(),
            "Partition state restored."
        );
        self.partitions.insert(partition, state);
        // A partition just taken over usually has a backlog still to fetch: its quiet time
        // starts now, not at its previous owner's last input, or the idle clock would
        // attribute its pending conversions before their late touchpoints are read.
        self.last_input.insert(partition, Instant::now());
        self.update_gauges();
        Ok(())
    }

    fn update_gauges(&self) {
        let sum = |f: fn(&PartitionState) -> usize| -> i64 {
            gauge(self.partitions.values().map(f).sum())
        };
        self.metrics.keys.set(sum(PartitionState::keys));
        self.metrics
            .touchpoints
            .set(sum(PartitionState::touchpoints));
        self.metrics.pending.set(sum(PartitionState::pending));
        let held_back = self
            .partitions
            .values()
            .map(|state| state.held_back(&self.limits))
            .max();
        self.metrics
            .held_back
            .set(held_back.map_or(0, |d| d.num_seconds()));
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

    fn dead_letter(
        &self,
        input: &Input<'_>,
        reason: &'static str,
        detail: String,
        event_id: Option<String>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        self.metrics
            .dead_lettered
            .with_label_values(&[reason])
            .inc();
        tracing::debug!(
            partition = input.partition,
            offset = input.offset,
            reason,
            detail,
            "Dead-lettered."
        );
        outputs.push(
            self.dead_letters
                .output(input, reason, detail, event_id, Utc::now())?,
        );
        Ok(())
    }

    fn changelog(
        &self,
        partition: i32,
        key: String,
        record: Option<&AttributorState>,
    ) -> Result<Output, RuntimeError> {
        let payload =
            record
                .map(schemas::encode)
                .transpose()
                .map_err(|error| RuntimeError::Encode {
                    what: "attributor state",
                    error,
                })?;
        Ok(Output {
            topic: Arc::clone(&self.changelog_topic),
            key: Some(key.into_bytes()),
            partition: Some(partition),
            payload,
        })
    }

    fn sweep_if_due(&mut self) {
        if self.last_sweep.elapsed() < self.sweep_interval {
            return;
        }
        self.last_sweep = Instant::now();
        let catalog = self.reference.read();
        let mut changed = 0;
        let mut bytes = 0;
        for state in self.partitions.values_mut() {
            changed += state.sweep(&catalog, &self.limits);
            bytes += state.approx_bytes();
        }
        drop(catalog);
        self.metrics.bytes.set(gauge(bytes));
        self.update_gauges();
        tracing::debug!(changed, bytes, "Swept expired state.");
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl<R: Restore<AttributorState>> Processor for AttributorProcessor<R> {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        self.metrics.consumed.inc();
        self.ensure_restored(input.partition)?;
        self.last_input.insert(input.partition, Instant::now());
        let touchpoint = match input.payload.map(schemas::decode::<EnrichedTouchpoint>) {
            Some(Ok(tp)) => tp,
            Some(Err(e)) => {
                return self.dead_letter(
                    input,
                    "undecodable",
                    format!("not an enriched touchpoint: {e}"),
                    None,
                    outputs,
                )
            }
            None => {
                return self.dead_letter(
                    input,
                    "undecodable",
                    "empty message".into(),
                    None,
                    outputs,
                )
            }
        };
        let mut effects = Effects::default();
        let result = {
            let catalog = self.reference.read();
            let state =
                self.partitions
                    .get_mut(&input.partition)
                    .ok_or_else(|| RuntimeError::State {
                        topic: self.input_topic.clone(),
                        detail: format!("partition {} not restored", input.partition),
                    })?;
            state.apply(
                input.offset,
                &touchpoint,
                &catalog,
                &self.limits,
                &mut effects,
            )
        };
        // Attributions made due by this input come out even when the input itself is bad.
        let rejected = result.err();
        self.emit(effects, outputs)?;
        if let Some(rejection) = rejected {
            return self.dead_letter(
                input,
                rejection.reason,
                rejection.detail,
                Some(touchpoint.touchpoint.event_id),
                outputs,
            );
        }
        Ok(())
    }

    fn checkpoint(&mut self, outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        loop {
            match self.phase {
                Phase::Keys => {
                    self.phase = Phase::Positions;
                    self.sweep_if_due();
                    let mut records = Vec::new();
                    for (partition, state) in &mut self.partitions {
                        for (key, record) in state.take_changes() {
                            records.push((*partition, key, record));
                        }
                    }
                    for (partition, key, record) in records {
                        outputs.push(self.changelog(partition, key, record.as_ref())?);
                    }
                }
                Phase::Positions => {
                    self.phase = Phase::Done;
                    let mut records = Vec::new();
                    for (partition, state) in &mut self.partitions {
                        if let Some(position) = state.take_position() {
                            records.push((*partition, position));
                        }
                    }
                    for (partition, record) in records {
                        outputs.push(self.changelog(
                            partition,
                            POSITION_KEY.into(),
                            Some(&record),
                        )?);
                    }
                    self.update_gauges();
                }
                Phase::Done => {
                    self.phase = Phase::Keys;
                    return Ok(());
                }
            }
            if !outputs.is_empty() {
                return Ok(());
            }
        }
    }

    fn idle(&mut self, outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        let Some(quiet) = self.idle_advance else {
            return Ok(());
        };
        let now = Utc::now();
        let mut effects = Effects::default();
        {
            let catalog = self.reference.read();
            for (partition, state) in &mut self.partitions {
                let quiet_for = self
                    .last_input
                    .get(partition)
                    .map_or(Duration::ZERO, Instant::elapsed);
                // Sources far apart: a lagging one is most likely catching up (an upstream
                // restart), so the wall clock waits longer before it stands in for it.
                let patience = if state.sources_disagree(&catalog, &self.limits) {
                    quiet * LAGGING_SOURCE_PATIENCE
                } else {
                    quiet
                };
                if quiet_for >= patience && state.pending() > 0 {
                    state.advance_idle(now, &catalog, &mut effects);
                }
            }
        }
        self.emit(effects, outputs)?;
        Ok(())
    }

    fn partitions_revoked(&mut self, partitions: &[(String, i32)]) {
        for (topic, partition) in partitions {
            if *topic == self.input_topic {
                self.partitions.remove(partition);
                self.last_input.remove(partition);
            }
        }
        self.update_gauges();
    }

    fn partitions_assigned(&mut self, partitions: &[(String, i32)]) -> Result<(), RuntimeError> {
        // Restored at once, not at the first input: pending conversions of a partition that
        // receives nothing new must still be attributed when their grace ends.
        for (topic, partition) in partitions {
            if *topic == self.input_topic {
                self.ensure_restored(*partition)?;
            }
        }
        Ok(())
    }
}

/// Creates the attributor's topics: the changelog gets as many partitions as the input, since
/// state partition N holds the keys of input partition N.
async fn ensure_topics(config: &AttributorConfig) -> Result<(), RuntimeError> {
    let kafka = &config.common.kafka;
    let topics = &config.common.topics;
    if kafka.create_topics {
        kafka::ensure_topics(
            kafka,
            &[
                (&topics.touchpoints_enriched, Cleanup::Delete),
                (&topics.attributions, Cleanup::Delete),
                (&topics.touchpoints_dlq, Cleanup::Delete),
            ],
        )
        .await?;
        kafka::ensure_topics_partitioned(kafka, &[(&topics.reference_config, Cleanup::Compact, 1)])
            .await?;
    }
    runtime::topic_reader::ensure_copartitioned_changelog(
        kafka,
        &topics.touchpoints_enriched,
        &topics.attributor_state,
    )
    .await?;
    Ok(())
}

/// Runs the attributor until `shutdown`, then drains and commits.
pub async fn run(
    config: AttributorConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let health = Health::default();
    let loop_metrics = LoopMetrics::register("attributor", &registry)?;
    let metrics = AttributorMetrics::register(&registry)?;
    let reference_metrics = ReferenceMetrics::register("attributor", &registry)?;
    runtime::service::start(&config.common, &registry, &health, &shutdown).await?;
    ensure_topics(&config).await?;

    // Programs give windows, graces and rules: attributing without them would be wrong, so
    // readiness (and consumption) waits for the reference data.
    let Some(reference) = reference::follow_until_loaded(
        &config.common.kafka,
        "attributor",
        &config.common.topics.reference_config,
        reference_metrics,
        health.register("reference", Duration::from_secs(30)),
        &shutdown,
    )
    .await?
    else {
        return Ok(());
    };

    let producer = Producer::new(&config.common.kafka, "attributor")?;
    let consumer = kafka::consumer(
        &config.common.kafka,
        "attributor",
        &config.group_id,
        &[&config.common.topics.touchpoints_enriched],
        health.register("kafka", kafka::STATISTICS_INTERVAL * 6),
        loop_metrics.clone(),
    )?;
    let restore = changelog_restore(&config)?;
    let mut processor = AttributorProcessor::new(&config, reference, restore, metrics);
    let parts = LoopParts {
        consumer: &consumer,
        producer: &producer,
        batch: config.common.batch,
        heartbeat: health.register("consumer_loop", Duration::from_secs(90)),
        metrics: loop_metrics,
    };
    tracing::info!(
        input = %config.common.topics.touchpoints_enriched,
        output = %config.common.topics.attributions,
        changelog = %config.common.topics.attributor_state,
        group = %config.group_id,
        "Attributor running."
    );
    let result = runtime::service::run_loop(
        parts,
        &mut processor,
        &health,
        &shutdown,
        config.common.shutdown_drain_timeout,
    )
    .await;
    shutdown.cancel();
    result
}
