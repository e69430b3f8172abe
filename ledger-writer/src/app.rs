//! Wiring: the ledger loop (commission decisions and commands → entries, payouts, ClickHouse
//! rows, the finance topic, the state changelog) and the analytics loop (touchpoints,
//! attributions, risk → ClickHouse), each its own consumer group in one process.
//!
//! Order of writes in a ledger batch: finance-topic entries and payout records (a payout is
//! recorded before anything else about it, because which lines it takes depends on what had
//! arrived when the run was read), then ClickHouse rows, then the changelog (command
//! outcomes, lines, position), then the input offsets. A crash anywhere re-reads the batch;
//! every id is deterministic, so ClickHouse and finance see the same rows again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use prometheus::Registry;
use runtime::consumer_loop::LoopParts;
use runtime::kafka::{self, Cleanup};
use runtime::metrics::LoopMetrics;
use runtime::topic_reader::{ChangelogReader, Restore, TopicReader};
use runtime::{DeadLetterWriter, Health, Input, Output, Processor, Producer, RuntimeError};
use schemas::attribution::Attribution;
use schemas::{
    CommissionDecision, EnrichedTouchpoint, LedgerCommand, LedgerState, RiskLevel, RiskScore,
};
use tokio_util::sync::CancellationToken;

use crate::config::LedgerConfig;
use crate::ledger::{payout_record, status_name, Effects, Ledger};
use crate::metrics::LedgerMetrics;
use crate::store::rows::{self, AttributionRows, CommandRow};
use crate::store::{migrations, Sink};

fn encode<T: schemas::AvroMessage>(what: &'static str, m: &T) -> Result<Vec<u8>, RuntimeError> {
    schemas::encode(m).map_err(|error| RuntimeError::Encode { what, error })
}

fn dead_letter(
    writer: &DeadLetterWriter,
    metrics: &LedgerMetrics,
    stage: &str,
    input: &Input<'_>,
    reason: &str,
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

fn dead_letters(config: &LedgerConfig) -> DeadLetterWriter {
    DeadLetterWriter::new(
        "ledger-writer",
        &config.common.topics.touchpoints_dlq,
        config.common.dead_letter_payload_bytes_max,
    )
}

/// Writes the pipeline's analytics rows.
#[allow(missing_debug_implementations)]
pub struct AnalyticsProcessor {
    enriched: String,
    attributions: String,
    scores: String,
    sink: Sink,
    dead_letters: DeadLetterWriter,
    metrics: LedgerMetrics,
}

impl AnalyticsProcessor {
    /// A writer into `sink`.
    pub fn new(config: &LedgerConfig, sink: Sink, metrics: LedgerMetrics) -> AnalyticsProcessor {
        let t = &config.common.topics;
        AnalyticsProcessor {
            enriched: t.touchpoints_enriched.clone(),
            attributions: t.attributions.clone(),
            scores: t.risk_scores.clone(),
            sink,
            dead_letters: dead_letters(config),
            metrics,
        }
    }

    fn rows(
        &mut self,
        input: &Input<'_>,
        payload: &[u8],
    ) -> Result<&'static str, (&'static str, String)> {
        let undecodable =
            |what: &str, e: schemas::CodecError| ("undecodable", format!("not {what}: {e}"));
        if input.topic == self.enriched {
            let e = schemas::decode::<EnrichedTouchpoint>(payload)
                .map_err(|e| undecodable("an enriched touchpoint", e))?;
            let (tp, conversion) = rows::touchpoint_rows(&e);
            self.sink.touchpoints.push(tp);
            if let Some(c) = conversion {
                self.sink.conversions.push(c);
            }
            Ok("touchpoint")
        } else if input.topic == self.attributions {
            let a = schemas::decode::<Attribution>(payload)
                .map_err(|e| undecodable("an attribution", e))?;
            let mut out = AttributionRows::default();
            rows::attribution_rows(&a, &mut out);
            out.attribution
                .into_iter()
                .for_each(|r| self.sink.attributions.push(r));
            out.credits
                .into_iter()
                .for_each(|r| self.sink.credits.push(r));
            out.evidence
                .into_iter()
                .for_each(|r| self.sink.evidence.push(r));
            out.losing_claims
                .into_iter()
                .for_each(|r| self.sink.losing_claims.push(r));
            out.shadow_credits
                .into_iter()
                .for_each(|r| self.sink.shadow_credits.push(r));
            Ok("attribution")
        } else if input.topic == self.scores {
            let s = schemas::decode::<RiskScore>(payload)
                .map_err(|e| undecodable("a risk score", e))?;
            self.sink.risk_scores.push(rows::risk_score_row(&s));
            Ok("risk_score")
        } else {
            let l = schemas::decode::<RiskLevel>(payload)
                .map_err(|e| undecodable("a risk level", e))?;
            self.sink.risk_levels.push(rows::risk_level_row(&l));
            Ok("risk_level")
        }
    }
}

impl Processor for AnalyticsProcessor {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        let Some(payload) = input.payload else {
            // A tombstone on the compacted levels topic: nothing to write, nothing lost.
            return Ok(());
        };
        match self.rows(input, payload) {
            Ok(source) => self
                .metrics
                .analytics
                .with_label_values(&[source, "written"])
                .inc(),
            Err((reason, detail)) => {
                self.metrics
                    .analytics
                    .with_label_values(&["undecodable", "dead_lettered"])
                    .inc();
                outputs.push(dead_letter(
                    &self.dead_letters,
                    &self.metrics,
                    "analytics",
                    input,
                    reason,
                    detail,
                )?);
            }
        }
        Ok(())
    }

    fn flush_sinks(&mut self) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        self.sink.flush()
    }
}

/// The ledger, one [`Ledger`] per assigned partition.
#[allow(missing_debug_implementations)]
pub struct LedgerProcessor<R: Restore<LedgerState>> {
    partitions: HashMap<i32, Ledger>,
    restore: R,
    commissions: String,
    entries_topic: Arc<str>,
    changelog_topic: Arc<str>,
    sink: Sink,
    dead_letters: DeadLetterWriter,
    metrics: LedgerMetrics,
}

impl<R: Restore<LedgerState>> LedgerProcessor<R> {
    /// A ledger writing into `sink`, restoring with `restore`.
    pub fn new(
        config: &LedgerConfig,
        sink: Sink,
        restore: R,
        metrics: LedgerMetrics,
    ) -> LedgerProcessor<R> {
        let t = &config.common.topics;
        LedgerProcessor {
            partitions: HashMap::new(),
            restore,
            commissions: t.commissions.clone(),
            entries_topic: Arc::from(t.ledger_entries.as_str()),
            changelog_topic: Arc::from(t.ledger_state.as_str()),
            sink,
            dead_letters: dead_letters(config),
            metrics,
        }
    }

    /// State of `partition`, if held.
    pub fn partition(&self, partition: i32) -> Option<&Ledger> {
        self.partitions.get(&partition)
    }

    fn ensure_restored(&mut self, partition: i32) -> Result<(), RuntimeError> {
        if self.partitions.contains_key(&partition) {
            return Ok(());
        }
        let started = Instant::now();
        let records = self.restore.read(partition)?;
        let count = records.len();
        let ledger = Ledger::restore(records);
        self.metrics
            .restore
            .observe(started.elapsed().as_secs_f64());
        tracing::info!(
            partition,
            records = count,
            lines = ledger.lines(),
            payouts = ledger.payouts(),
            seconds = started.elapsed().as_secs_f64(),
            "Ledger partition restored."
        );
        self.partitions.insert(partition, ledger);
        self.update_gauges();
        Ok(())
    }

    fn update_gauges(&self) {
        let sum = |f: fn(&Ledger) -> usize| -> i64 {
            i64::try_from(self.partitions.values().map(f).sum::<usize>()).unwrap_or(i64::MAX)
        };
        self.metrics
            .state
            .with_label_values(&["lines"])
            .set(sum(Ledger::lines));
        self.metrics
            .state
            .with_label_values(&["payouts"])
            .set(sum(Ledger::payouts));
        self.metrics
            .state
            .with_label_values(&["parked_refunds"])
            .set(sum(Ledger::parked_refunds));
        self.metrics.bytes.set(sum(Ledger::approx_bytes));
    }

    fn changelog(
        &self,
        partition: i32,
        key: String,
        record: Option<&LedgerState>,
    ) -> Result<Output, RuntimeError> {
        Ok(Output {
            topic: Arc::clone(&self.changelog_topic),
            key: Some(key.into_bytes()),
            partition: Some(partition),
            payload: record.map(|r| encode("ledger state", r)).transpose()?,
        })
    }

    fn emit(
        &mut self,
        partition: i32,
        fx: Effects,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        for p in &fx.payouts {
            let (key, record) = payout_record(p);
            outputs.push(self.changelog(partition, key, Some(&record))?);
            let (row, items) = rows::payout_rows(p);
            self.metrics
                .payouts
                .with_label_values(&[p.status.as_str()])
                .inc();
            items
                .into_iter()
                .for_each(|i| self.sink.payout_items.push(i));
            self.sink.payouts.push(row);
        }
        for e in &fx.entries {
            self.metrics
                .entries
                .with_label_values(&[status_name(e.to_status)])
                .inc();
            outputs.push(Output::keyed(
                Arc::clone(&self.entries_topic),
                Some(e.partner_id.clone().into_bytes()),
                encode("ledger entry", e)?,
            ));
            self.sink.entries.push(rows::entry_row(e));
        }
        for l in &fx.lines {
            self.sink.commissions.push(rows::commission_row(l));
        }
        if let Some(o) = &fx.outcome {
            self.sink.commands.push(CommandRow {
                command_id: o.command_id.clone(),
                source_partition: partition,
                kind: o.kind.clone(),
                accepted: u8::from(o.accepted),
                detail: o.detail.clone(),
                decided_at: rows::secs(o.decided_at),
                recorded_at: rows::secs(Utc::now()),
            });
        }
        Ok(())
    }
}

impl<R: Restore<LedgerState>> Processor for LedgerProcessor<R> {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        self.ensure_restored(input.partition)?;
        let is_decision = input.topic == self.commissions;
        let kind = if is_decision { "decision" } else { "command" };
        let now = Utc::now();
        let mut fx = Effects::default();
        let ledger =
            self.partitions
                .get_mut(&input.partition)
                .ok_or_else(|| RuntimeError::State {
                    topic: input.topic.to_string(),
                    detail: format!("partition {} not restored", input.partition),
                })?;
        let result: Result<(), (&str, String)> = match input.payload {
            None => Err(("undecodable", "empty message".into())),
            Some(payload) if is_decision => match schemas::decode::<CommissionDecision>(payload) {
                Ok(d) => ledger
                    .apply_decision(&d, now, &mut fx)
                    .map_err(|r| (r.reason, r.detail)),
                Err(e) => Err(("undecodable", format!("not a commission decision: {e}"))),
            },
            Some(payload) => match schemas::decode::<LedgerCommand>(payload) {
                Ok(c) => {
                    ledger.apply_command(&c, now, &mut fx);
                    Ok(())
                }
                Err(e) => Err(("undecodable", format!("not a ledger command: {e}"))),
            },
        };
        let outcome = match (&result, fx.duplicates, &fx.outcome) {
            (Err(_), _, _) => "dead_lettered",
            (Ok(()), d, _) if d > 0 => "duplicate",
            (Ok(()), _, _) if fx.parked > 0 => "parked",
            (Ok(()), _, Some(o)) if !o.accepted => "rejected",
            _ => "applied",
        };
        self.metrics
            .inputs
            .with_label_values(&[kind, outcome])
            .inc();
        self.emit(input.partition, fx, outputs)?;
        if let Err((reason, detail)) = result {
            outputs.push(dead_letter(
                &self.dead_letters,
                &self.metrics,
                "ledger",
                input,
                reason,
                detail,
            )?);
        }
        Ok(())
    }

    fn flush_sinks(&mut self) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        self.sink.flush()
    }

    fn checkpoint(&mut self, outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        let mut records = Vec::new();
        for (partition, ledger) in &mut self.partitions {
            for (key, record) in ledger.take_changes() {
                records.push((*partition, key, record));
            }
        }
        for (partition, key, record) in records {
            outputs.push(self.changelog(partition, key, record.as_ref())?);
        }
        self.update_gauges();
        Ok(())
    }

    fn partitions_revoked(&mut self, partitions: &[(String, i32)]) {
        for (topic, partition) in partitions {
            if *topic == self.commissions {
                self.partitions.remove(partition);
            }
        }
        self.update_gauges();
    }

    fn partitions_assigned(&mut self, partitions: &[(String, i32)]) -> Result<(), RuntimeError> {
        for (topic, partition) in partitions {
            if *topic == self.commissions {
                self.ensure_restored(*partition)?;
            }
        }
        Ok(())
    }
}

/// Creates the ledger's topics: commands and the changelog co-partitioned with the
/// commissions topic (a partner's decisions, commands and state meet in one partition).
pub async fn ensure_topics(config: &LedgerConfig) -> Result<i32, RuntimeError> {
    let kafka_config = &config.common.kafka;
    let t = &config.common.topics;
    if kafka_config.create_topics {
        kafka::ensure_topics(
            kafka_config,
            &[
                (&t.touchpoints_enriched, Cleanup::Delete),
                (&t.attributions, Cleanup::Delete),
                (&t.risk_scores, Cleanup::Delete),
                (&t.commissions, Cleanup::Delete),
                (&t.risk_levels, Cleanup::Compact),
                (&t.ledger_entries, Cleanup::Delete),
                (&t.touchpoints_dlq, Cleanup::Delete),
            ],
        )
        .await?;
    }
    let count = |topic: &str| -> Result<i32, RuntimeError> {
        TopicReader::new(
            kafka_config,
            "ledger-metadata",
            topic,
            Duration::from_secs(10),
        )?
        .partition_count()
    };
    let partitions = count(&t.commissions)?;
    if kafka_config.create_topics {
        kafka::ensure_topics_partitioned(
            kafka_config,
            &[
                (&t.ledger_commands, Cleanup::Delete, partitions),
                (&t.ledger_state, Cleanup::Compact, partitions),
            ],
        )
        .await?;
    }
    for topic in [&t.ledger_commands, &t.ledger_state] {
        let n = count(topic)?;
        if n != partitions {
            return Err(RuntimeError::State {
                topic: topic.clone(),
                detail: format!(
                    "has {n} partitions but {} has {partitions}; it must be co-partitioned with it",
                    t.commissions
                ),
            });
        }
    }
    Ok(partitions)
}

/// Runs the ledger and the analytics writer until `shutdown`, then drains and commits both.
pub async fn run(
    config: LedgerConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let health = Health::default();
    let ledger_loop = LoopMetrics::register("ledger", &registry)?;
    let analytics_loop = LoopMetrics::register("ledger_analytics", &registry)?;
    let metrics = LedgerMetrics::register(&registry)?;
    runtime::service::start(&config.common, &registry, &health, &shutdown).await?;
    ensure_topics(&config).await?;
    let server = crate::store::connect(&config.clickhouse);
    let applied = migrations::migrate(&server, &config.clickhouse.database).await?;
    tracing::info!(database = %config.clickhouse.database, ?applied, "ClickHouse schema is current.");

    let t = &config.common.topics;
    let producer = Producer::new(&config.common.kafka, "ledger-writer")?;
    let ledger_consumer = kafka::consumer(
        &config.common.kafka,
        "ledger-writer",
        &config.group_id,
        &[&t.commissions, &t.ledger_commands],
        health.register("ledger_kafka", kafka::STATISTICS_INTERVAL * 6),
        ledger_loop.clone(),
    )?;
    let analytics_consumer = kafka::consumer(
        &config.common.kafka,
        "ledger-analytics",
        &config.analytics_group_id,
        &[
            &t.touchpoints_enriched,
            &t.attributions,
            &t.risk_scores,
            &t.risk_levels,
        ],
        health.register("analytics_kafka", kafka::STATISTICS_INTERVAL * 6),
        analytics_loop.clone(),
    )?;
    let sink = |m: &LedgerMetrics| Sink::new(&server, &config.clickhouse.database, m.sink.clone());
    let restore = ChangelogReader::new(
        &config.common.kafka,
        "ledger-restore",
        &t.ledger_state,
        config.restore_timeout,
    )?;
    let mut ledger = LedgerProcessor::new(&config, sink(&metrics), restore, metrics.clone());
    let mut analytics = AnalyticsProcessor::new(&config, sink(&metrics), metrics);
    tracing::info!(
        inputs = %format!("{}, {}", t.commissions, t.ledger_commands),
        analytics = %format!("{}, {}, {}, {}", t.touchpoints_enriched, t.attributions, t.risk_scores, t.risk_levels),
        finance = %t.ledger_entries,
        changelog = %t.ledger_state,
        clickhouse = %config.clickhouse.url,
        "Ledger-writer running."
    );
    let drain = config.common.shutdown_drain_timeout;
    let ledger_parts = LoopParts {
        consumer: &ledger_consumer,
        producer: &producer,
        batch: config.common.batch,
        heartbeat: health.register("ledger_loop", Duration::from_secs(90)),
        metrics: ledger_loop,
    };
    let analytics_parts = LoopParts {
        consumer: &analytics_consumer,
        producer: &producer,
        batch: config.common.batch,
        heartbeat: health.register("analytics_loop", Duration::from_secs(90)),
        metrics: analytics_loop,
    };
    let stop_both = |r: Result<(), RuntimeError>| {
        if r.is_err() {
            shutdown.cancel();
        }
        r
    };
    let (l, a) = tokio::join!(
        async {
            stop_both(
                runtime::service::run_loop(ledger_parts, &mut ledger, &health, &shutdown, drain)
                    .await,
            )
        },
        async {
            stop_both(
                runtime::service::run_loop(
                    analytics_parts,
                    &mut analytics,
                    &health,
                    &shutdown,
                    drain,
                )
                .await,
            )
        },
    );
    shutdown.cancel();
    l.and(a)
}
