//! Wiring: the router and the scorer, each its own consumer group in one process, the state
//! changelog, the reference follower, metrics, health.

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
use schemas::attribution::Attribution;
use schemas::commission::Decision;
use schemas::risk::ScoredActionKind;
use schemas::{EnrichedTouchpoint, RiskSignal, RiskState};
use tokio_util::sync::CancellationToken;

use crate::config::RiskConfig;
use crate::level::level_name;
use crate::metrics::RiskMetrics;
use crate::router::{self, Source};
use crate::state::{Changes, Effects, ScorerSettings, ScorerState, POSITION_KEY};

fn encode<T: schemas::AvroMessage>(what: &'static str, m: &T) -> Result<Vec<u8>, RuntimeError> {
    schemas::encode(m).map_err(|error| RuntimeError::Encode { what, error })
}

fn dead_letter(
    writer: &DeadLetterWriter,
    metrics: &RiskMetrics,
    stage: &str,
    input: &Input<'_>,
    reason: &'static str,
    detail: String,
) -> Result<Output, RuntimeError> {
    metrics
        .dead_lettered
        .with_label_values(&[stage, reason])
        .inc();
    tracing::debug!(
        stage,
        topic = input.topic,
        partition = input.partition,
        offset = input.offset,
        reason,
        detail,
        "Dead-lettered."
    );
    writer.output(input, reason, detail, None, Utc::now())
}

/// Re-keys what the scorer needs by program.
#[allow(missing_debug_implementations)]
pub struct RouterProcessor {
    enriched_topic: String,
    signals_topic: Arc<str>,
    dead_letters: DeadLetterWriter,
    metrics: RiskMetrics,
}

impl RouterProcessor {
    /// A router for `config`'s topics.
    pub fn new(config: &RiskConfig, metrics: RiskMetrics) -> RouterProcessor {
        let topics = &config.common.topics;
        RouterProcessor {
            enriched_topic: topics.touchpoints_enriched.clone(),
            signals_topic: Arc::from(topics.risk_signals.as_str()),
            dead_letters: DeadLetterWriter::new(
                "risk",
                &topics.touchpoints_dlq,
                config.common.dead_letter_payload_bytes_max,
            ),
            metrics,
        }
    }

    fn signal(&self, input: &Input<'_>, payload: &[u8]) -> Result<Option<RiskSignal>, String> {
        let source = Source {
            topic: input.topic,
            partition: input.partition,
            offset: input.offset,
        };
        if input.topic == self.enriched_topic {
            let tp = schemas::decode::<EnrichedTouchpoint>(payload)
                .map_err(|e| format!("not an enriched touchpoint: {e}"))?;
            Ok(router::from_touchpoint(source, &tp))
        } else {
            let a = schemas::decode::<Attribution>(payload)
                .map_err(|e| format!("not an attribution: {e}"))?;
            Ok(Some(router::from_attribution(source, &a, payload)))
        }
    }
}

impl Processor for RouterProcessor {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        let result = match input.payload {
            Some(payload) => self.signal(input, payload),
            None => Err("empty message".into()),
        };
        match result {
            Ok(Some(signal)) => {
                let kind = if signal.click.is_some() {
                    "click"
                } else if signal.conversion.is_some() {
                    "conversion"
                } else {
                    "attribution"
                };
                self.metrics.forwarded.with_label_values(&[kind]).inc();
                outputs.push(Output::keyed(
                    Arc::clone(&self.signals_topic),
                    Some(signal.program_id.clone().into_bytes()),
                    encode("risk signal", &signal)?,
                ));
            }
            Ok(None) => self.metrics.not_needed.inc(),
            Err(detail) => outputs.push(dead_letter(
                &self.dead_letters,
                &self.metrics,
                "router",
                input,
                "undecodable",
                detail,
            )?),
        }
        Ok(())
    }
}

/// A reader of the configured state changelog, for restores.
pub fn changelog_restore(config: &RiskConfig) -> Result<ChangelogReader, RuntimeError> {
    ChangelogReader::new(
        &config.common.kafka,
        "risk-restore",
        &config.common.topics.risk_state,
        config.restore_timeout,
    )
}

/// Which records the next checkpoint call writes: scored actions, then every other key,
/// then positions (see `state` for why this order makes crashes safe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Actions,
    Keys,
    Positions,
    Done,
}

/// Scores actions per program partition.
#[allow(missing_debug_implementations)]
pub struct ScorerProcessor<R: Restore<RiskState>> {
    reference: Arc<ReferenceData>,
    settings: ScorerSettings,
    partitions: HashMap<i32, ScorerState>,
    restore: R,
    phase: Phase,
    input_topic: String,
    scores_topic: Arc<str>,
    decisions_topic: Arc<str>,
    levels_topic: Arc<str>,
    changelog_topic: Arc<str>,
    dead_letters: DeadLetterWriter,
    metrics: RiskMetrics,
}

impl<R: Restore<RiskState>> ScorerProcessor<R> {
    /// A scorer over `reference`, restoring state with `restore`.
    pub fn new(
        config: &RiskConfig,
        reference: Arc<ReferenceData>,
        restore: R,
        metrics: RiskMetrics,
    ) -> ScorerProcessor<R> {
        let topics = &config.common.topics;
        ScorerProcessor {
            reference,
            settings: config.scorer.clone(),
            partitions: HashMap::new(),
            restore,
            phase: Phase::Actions,
            input_topic: topics.risk_signals.clone(),
            scores_topic: Arc::from(topics.risk_scores.as_str()),
            decisions_topic: Arc::from(topics.commissions.as_str()),
            levels_topic: Arc::from(topics.risk_levels.as_str()),
            changelog_topic: Arc::from(topics.risk_state.as_str()),
            dead_letters: DeadLetterWriter::new(
                "risk",
                &topics.touchpoints_dlq,
                config.common.dead_letter_payload_bytes_max,
            ),
            metrics,
        }
    }

    /// State of `partition`, if held.
    pub fn partition(&self, partition: i32) -> Option<&ScorerState> {
        self.partitions.get(&partition)
    }

    fn ensure_restored(&mut self, partition: i32) -> Result<(), RuntimeError> {
        if self.partitions.contains_key(&partition) {
            return Ok(());
        }
        let started = Instant::now();
        let records = self.restore.read(partition)?;
        let count = records.len();
        let state = ScorerState::restore(records);
        self.metrics
            .restore
            .observe(started.elapsed().as_secs_f64());
        tracing::info!(
            partition,
            records = count,
            actions = state.actions(),
            subjects = state.subjects(),
            seconds = started.elapsed().as_secs_f64(),
            "Partition state restored."
        );
        self.partitions.insert(partition, state);
        self.update_gauges();
        Ok(())
    }

    fn update_gauges(&self) {
        let sum = |f: fn(&ScorerState) -> usize| -> i64 {
            i64::try_from(self.partitions.values().map(f).sum::<usize>()).unwrap_or(i64::MAX)
        };
        let e = &self.metrics.entries;
        e.with_label_values(&["actions"])
            .set(sum(ScorerState::actions));
        e.with_label_values(&["subjects"])
            .set(sum(ScorerState::subjects));
        e.with_label_values(&["fingerprints"])
            .set(sum(ScorerState::fingerprints));
        e.with_label_values(&["joining"])
            .set(sum(ScorerState::joining));
    }

    fn emit(&self, effects: Effects, outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        let m = &self.metrics;
        let nr = |k: &str, n: u64| m.not_rescored.with_label_values(&[k]).inc_by(n);
        nr("duplicate_signal", effects.duplicate_signals);
        nr("duplicate_attribution", effects.duplicate_attributions);
        nr("replayed", effects.replayed);
        m.join.with_label_values(&["waited"]).inc_by(effects.waited);
        m.join
            .with_label_values(&["scored_without_context"])
            .inc_by(effects.scored_without_context);
        m.passed_through
            .with_label_values(&["renewal"])
            .inc_by(effects.renewals);
        m.passed_through
            .with_label_values(&["refund"])
            .inc_by(effects.refunds);
        for score in &effects.scores {
            let action = match score.action {
                ScoredActionKind::Credit => "credit",
                ScoredActionKind::SelfReferralClaim => "self_referral_claim",
            };
            m.scored.with_label_values(&[action]).inc();
            for r in &score.reasons {
                m.reasons.with_label_values(&[&r.code]).inc();
            }
            outputs.push(Output::keyed(
                Arc::clone(&self.scores_topic),
                Some(format!("{}/{}", score.program_id, score.partner_id).into_bytes()),
                encode("risk score", score)?,
            ));
        }
        for d in &effects.decisions {
            let name = match d.decision {
                Decision::Payable => "payable",
                Decision::Held => "held",
                Decision::Reversed => "reversed",
            };
            m.decisions.with_label_values(&[name]).inc();
            outputs.push(Output::keyed(
                Arc::clone(&self.decisions_topic),
                Some(d.partner_id.clone().into_bytes()),
                encode("commission decision", d)?,
            ));
        }
        for l in &effects.levels {
            m.levels.with_label_values(&[level_name(l.level)]).inc();
            outputs.push(Output::keyed(
                Arc::clone(&self.levels_topic),
                Some(l.subject_id.clone().into_bytes()),
                encode("risk level", l)?,
            ));
        }
        Ok(())
    }

    fn changelog(
        &self,
        partition: i32,
        key: String,
        record: Option<&RiskState>,
    ) -> Result<Output, RuntimeError> {
        Ok(Output {
            topic: Arc::clone(&self.changelog_topic),
            key: Some(key.into_bytes()),
            partition: Some(partition),
            payload: record.map(|r| encode("risk state", r)).transpose()?,
        })
    }

    fn write(
        &mut self,
        take: fn(&mut ScorerState) -> Changes,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        let mut records = Vec::new();
        for (partition, state) in &mut self.partitions {
            for (key, record) in take(state) {
                records.push((*partition, key, record));
            }
        }
        for (partition, key, record) in records {
            outputs.push(self.changelog(partition, key, record.as_ref())?);
        }
        Ok(())
    }
}

impl<R: Restore<RiskState>> Processor for ScorerProcessor<R> {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        self.metrics.signals.inc();
        self.ensure_restored(input.partition)?;
        let signal = match input.payload.map(schemas::decode::<RiskSignal>) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                outputs.push(dead_letter(
                    &self.dead_letters,
                    &self.metrics,
                    "scorer",
                    input,
                    "undecodable",
                    format!("not a risk signal: {e}"),
                )?);
                return Ok(());
            }
            None => {
                outputs.push(dead_letter(
                    &self.dead_letters,
                    &self.metrics,
                    "scorer",
                    input,
                    "undecodable",
                    "empty message".into(),
                )?);
                return Ok(());
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
                &signal,
                &catalog,
                &self.settings,
                &mut effects,
            )
        };
        self.emit(effects, outputs)?;
        if let Err(rejection) = result {
            outputs.push(dead_letter(
                &self.dead_letters,
                &self.metrics,
                "scorer",
                input,
                rejection.reason,
                rejection.detail,
            )?);
        }
        Ok(())
    }

    fn checkpoint(&mut self, outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        loop {
            match self.phase {
                Phase::Actions => {
                    self.phase = Phase::Keys;
                    self.write(ScorerState::take_action_changes, outputs)?;
                }
                Phase::Keys => {
                    self.phase = Phase::Positions;
                    self.write(ScorerState::take_changes, outputs)?;
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
                    let bytes: usize = self
                        .partitions
                        .values()
                        .map(ScorerState::approx_bytes)
                        .sum();
                    self.metrics
                        .bytes
                        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
                }
                Phase::Done => {
                    self.phase = Phase::Actions;
                    return Ok(());
                }
            }
            if !outputs.is_empty() {
                return Ok(());
            }
        }
    }

    fn partitions_revoked(&mut self, partitions: &[(String, i32)]) {
        for (topic, partition) in partitions {
            if *topic == self.input_topic {
                self.partitions.remove(partition);
            }
        }
        self.update_gauges();
    }

    fn partitions_assigned(&mut self, partitions: &[(String, i32)]) -> Result<(), RuntimeError> {
        for (topic, partition) in partitions {
            if *topic == self.input_topic {
                self.ensure_restored(*partition)?;
            }
        }
        Ok(())
    }
}

/// Creates the risk topics: signals with the configured partition count, the changelog
/// co-partitioned with it, risk levels compacted.
async fn ensure_topics(config: &RiskConfig) -> Result<(), RuntimeError> {
    let kafka = &config.common.kafka;
    let topics = &config.common.topics;
    if kafka.create_topics {
        kafka::ensure_topics(
            kafka,
            &[
                (&topics.touchpoints_enriched, Cleanup::Delete),
                (&topics.attributions, Cleanup::Delete),
                (&topics.risk_signals, Cleanup::Delete),
                (&topics.risk_scores, Cleanup::Delete),
                (&topics.commissions, Cleanup::Delete),
                (&topics.risk_levels, Cleanup::Compact),
                (&topics.touchpoints_dlq, Cleanup::Delete),
            ],
        )
        .await?;
        kafka::ensure_topics_partitioned(kafka, &[(&topics.reference_config, Cleanup::Compact, 1)])
            .await?;
    }
    runtime::topic_reader::ensure_copartitioned_changelog(
        kafka,
        &topics.risk_signals,
        &topics.risk_state,
    )
    .await?;
    Ok(())
}

/// Runs the router and the scorer until `shutdown`, then drains and commits both.
pub async fn run(
    config: RiskConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let health = Health::default();
    let router_loop = LoopMetrics::register("risk_router", &registry)?;
    let scorer_loop = LoopMetrics::register("risk", &registry)?;
    let metrics = RiskMetrics::register(&registry)?;
    let reference_metrics = ReferenceMetrics::register("risk", &registry)?;
    runtime::service::start(&config.common, &registry, &health, &shutdown).await?;
    ensure_topics(&config).await?;

    // Policies, thresholds and hold periods come from the programs: scoring without them
    // would decide wrongly, so consumption waits for the reference data.
    let Some(reference) = reference::follow_until_loaded(
        &config.common.kafka,
        "risk",
        &config.common.topics.reference_config,
        reference_metrics,
        health.register("reference", Duration::from_secs(30)),
        &shutdown,
    )
    .await?
    else {
        return Ok(());
    };

    let topics = &config.common.topics;
    let producer = Producer::new(&config.common.kafka, "risk")?;
    let router_consumer = kafka::consumer(
        &config.common.kafka,
        "risk-router",
        &config.router_group_id,
        &[&topics.touchpoints_enriched, &topics.attributions],
        health.register("router_kafka", kafka::STATISTICS_INTERVAL * 6),
        router_loop.clone(),
    )?;
    let scorer_consumer = kafka::consumer(
        &config.common.kafka,
        "risk",
        &config.group_id,
        &[&topics.risk_signals],
        health.register("scorer_kafka", kafka::STATISTICS_INTERVAL * 6),
        scorer_loop.clone(),
    )?;
    let mut router = RouterProcessor::new(&config, metrics.clone());
    let mut scorer = ScorerProcessor::new(&config, reference, changelog_restore(&config)?, metrics);
    tracing::info!(
        inputs = %format!("{}, {}", topics.touchpoints_enriched, topics.attributions),
        signals = %topics.risk_signals,
        outputs = %format!("{}, {}, {}", topics.commissions, topics.risk_levels, topics.risk_scores),
        changelog = %topics.risk_state,
        "Risk running."
    );
    let drain = config.common.shutdown_drain_timeout;
    let router_parts = LoopParts {
        consumer: &router_consumer,
        producer: &producer,
        batch: config.common.batch,
        heartbeat: health.register("router_loop", Duration::from_secs(90)),
        metrics: router_loop,
    };
    let scorer_parts = LoopParts {
        consumer: &scorer_consumer,
        producer: &producer,
        batch: config.common.batch,
        heartbeat: health.register("scorer_loop", Duration::from_secs(90)),
        metrics: scorer_loop,
    };
    // Either loop failing stops both: the process restarts as a whole.
    let stop_both = |r: Result<(), RuntimeError>| {
        if r.is_err() {
            shutdown.cancel();
        }
        r
    };
    let (routed, scored) = tokio::join!(
        async {
            stop_both(
                runtime::service::run_loop(router_parts, &mut router, &health, &shutdown, drain)
                    .await,
            )
        },
        async {
            stop_both(
                runtime::service::run_loop(scorer_parts, &mut scorer, &health, &shutdown, drain)
                    .await,
            )
        },
    );
    shutdown.cancel();
    routed.and(scored)
}
