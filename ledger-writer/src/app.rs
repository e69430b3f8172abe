//! Wiring: the ledger loop (commission decisions and commands → entries, payouts, ClickHouse
//! rows, the finance topic, the state changelog) and the analytics loop (touchpoints,
//! attributions, risk, dead letters → ClickHouse), each its own consumer group in one process.
//!
//! Order of writes in a ledger batch: finance-topic entries and payout records (a payout is
//! recorded before anything else about it, because which lines it takes depends on what had
//! arrived when the run was read), then ClickHouse rows, then the changelog (command
//! outcomes, lines, position), then the input offsets. A crash anywhere re-reads the batch;
//! every id is deterministic, so ClickHouse and finance see the same rows again.

use std::future::Future;
use std::sync::Arc;

use chrono::Utc;
use prometheus::Registry;
use runtime::kafka::Cleanup;
use runtime::service::{LoopSpec, Service, Topic};
use runtime::settings::Topics;
use runtime::stateful::{payload, Applied, StatefulLogic};
use runtime::{DeadLetterWriter, Input, Output, Processor, RuntimeError};
use schemas::attribution::Attribution;
use schemas::touchpoint::SourceWatermark;
use schemas::{
    CommissionDecision, DeadLetter, EnrichedTouchpoint, LedgerCommand, LedgerState, RiskLevel,
    RiskScore,
};
use tokio_util::sync::CancellationToken;

use crate::authority::{acting_actor, CommandAuthority};
use crate::config::LedgerConfig;
use crate::ledger::{payout_record, status_name, Effects, Ledger};
use crate::metrics::LedgerMetrics;
use crate::store::rows::{self, AttributionRows, CommandRow};
use crate::store::{migrations, Sink};

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
    dlq: String,
    webhook_attempts: String,
    claims: String,
    specialists: String,
    verification: String,
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
            dlq: t.touchpoints_dlq.clone(),
            webhook_attempts: t.webhooks_attempts.clone(),
            claims: t.claims.clone(),
            specialists: t.trust_specialists.clone(),
            verification: t.trust_verification.clone(),
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
            if schemas::codec::is::<SourceWatermark>(payload) {
                // The enricher's progress broadcast: the attributor's, no row of its own.
                return Ok(WATERMARK);
            }
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
        } else if input.topic == self.dlq {
            let d = schemas::decode::<DeadLetter>(payload)
                .map_err(|e| undecodable("a dead letter", e))?;
            self.sink.dead_letters.push(rows::dead_letter_row(&d));
            Ok("dead_letter")
        } else if input.topic == self.webhook_attempts {
            let a = schemas::decode::<schemas::WebhookAttempt>(payload)
                .map_err(|e| undecodable("a webhook attempt", e))?;
            self.sink
                .webhook_attempts
                .push(rows::webhook_attempt_row(&a));
            Ok("webhook_attempt")
        } else if input.topic == self.claims {
            let c = schemas::decode::<schemas::ClaimNotice>(payload)
                .map_err(|e| undecodable("a claim notice", e))?;
            self.sink.claims.push(rows::claim_row(&c));
            Ok("claim")
        } else if input.topic == self.specialists {
            let t = schemas::decode::<schemas::SpecialistTrust>(payload)
                .map_err(|e| undecodable("a specialist trust record", e))?;
            let row = rows::specialist_trust_row(&t).ok_or_else(|| {
                (
                    "undecodable",
                    "a specialist trust record whose score or average is not a decimal".to_string(),
                )
            })?;
            self.sink.specialists.push(row);
            Ok("specialist_trust")
        } else if input.topic == self.verification {
            let v = schemas::decode::<schemas::VerificationEvent>(payload)
                .map_err(|e| undecodable("a verification event", e))?;
            self.sink.verification.push(rows::verification_row(&v));
            Ok("verification")
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

/// The analytics source label of the enricher's watermark records (skipped, not written).
const WATERMARK: &str = "watermark";

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
            Ok(WATERMARK) => self
                .metrics
                .analytics
                .with_label_values(&[WATERMARK, "skipped"])
                .inc(),
            Ok(source) => self
                .metrics
                .analytics
                .with_label_values(&[source, "written"])
                .inc(),
            // A dead letter that cannot be read is counted and logged, never dead-lettered
            // again: that would feed the topic this loop reads.
            Err((_, detail)) if input.topic == self.dlq => {
                self.metrics
                    .analytics
                    .with_label_values(&["undecodable", "skipped"])
                    .inc();
                tracing::warn!(partition = input.partition, offset = input.offset, %detail, "An unreadable record on the dead-letter topic was skipped.");
            }
            Err((reason, detail)) => {
                self.metrics
                    .analytics
                    .with_label_values(&["undecodable", "dead_lettered"])
                    .inc();
                self.metrics
                    .dead_lettered
                    .with_label_values(&["analytics", reason])
                    .inc();
                outputs.push(self.dead_letters.reject(input, reason, detail, None)?);
            }
        }
        Ok(())
    }

    fn flush_sinks(&mut self) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        self.sink.flush()
    }
}

/// A ledger input.
#[derive(Debug)]
pub enum LedgerInput {
    /// From the commissions topic.
    Decision(CommissionDecision),
    /// From the commands topic.
    Command(LedgerCommand),
}

/// The ledger's apply step over a partition's [`Ledger`].
#[allow(missing_debug_implementations)]
pub struct LedgerLogic {
    commissions: String,
    entries_topic: Arc<str>,
    payouts_topic: Arc<str>,
    changelog_topic: Arc<str>,
    sink: Sink,
    metrics: LedgerMetrics,
    authority: CommandAuthority,
}

impl LedgerLogic {
    /// A ledger writing into `sink`.
    pub fn new(config: &LedgerConfig, sink: Sink, metrics: LedgerMetrics) -> LedgerLogic {
        let t = &config.common.topics;
        LedgerLogic {
            commissions: t.commissions.clone(),
            entries_topic: Arc::from(t.ledger_entries.as_str()),
            payouts_topic: Arc::from(t.payouts.as_str()),
            changelog_topic: Arc::from(t.ledger_state.as_str()),
            sink,
            metrics,
            authority: config.command_authority.clone(),
        }
    }

    fn kind(&self, input: &Input<'_>) -> &'static str {
        if input.topic == self.commissions {
            "decision"
        } else {
            "command"
        }
    }

    fn emit(
        &mut self,
        partition: i32,
        fx: Effects,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        // A payout is on the changelog before anything else about it: which lines it took
        // depends on what had arrived when the run was read.
        for p in &fx.payouts {
            let (key, record) = payout_record(p);
            outputs.push(Output {
                topic: Arc::clone(&self.changelog_topic),
                key: Some(key.into_bytes()),
                partition: Some(partition),
                payload: Some(runtime::encode("ledger state", &record)?),
            });
            // Then for finance and webhooks, keyed like the partner's entries.
            outputs.push(Output::keyed(
                Arc::clone(&self.payouts_topic),
                Some(p.partner_id.clone().into_bytes()),
                runtime::encode("payout", p)?,
            ));
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
                runtime::encode("ledger entry", e)?,
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

impl StatefulLogic for LedgerLogic {
    type State = Ledger;
    type Event = LedgerInput;

    fn decode(&mut self, input: &Input<'_>) -> Result<LedgerInput, String> {
        let kind = self.kind(input);
        let decoded = payload(input).and_then(|payload| {
            if kind == "decision" {
                schemas::decode(payload)
                    .map(LedgerInput::Decision)
                    .map_err(|e| format!("not a commission decision: {e}"))
            } else {
                schemas::decode(payload)
                    .map(LedgerInput::Command)
                    .map_err(|e| format!("not a ledger command: {e}"))
            }
        });
        if decoded.is_err() {
            self.metrics
                .inputs
                .with_label_values(&[kind, "dead_lettered"])
                .inc();
        }
        decoded
    }

    fn restore(&self, _partition: i32, records: &mut dyn Iterator<Item = LedgerState>) -> Ledger {
        Ledger::restore(records)
    }

    fn apply(
        &mut self,
        ledger: &mut Ledger,
        input: &Input<'_>,
        event: LedgerInput,
        outputs: &mut Vec<Output>,
    ) -> Result<Applied, RuntimeError> {
        let now = Utc::now();
        let mut fx = Effects::default();
        let result = match &event {
            LedgerInput::Decision(d) => ledger.apply_decision(d, now, &mut fx),
            LedgerInput::Command(c) => {
                match self.authority.check(c).map(str::to_string) {
                    Ok(principal) => {
                        let mut c = c.clone();
                        c.actor = acting_actor(&principal, &c.actor);
                        ledger.apply_command(&c, now, &mut fx);
                    }
                    Err(reason) => {
                        tracing::warn!(
                            command_id = %c.command_id,
                            kind = c.kind.as_str(),
                            principal = c.principal.as_deref().unwrap_or(""),
                            %reason,
                            "ledger command refused"
                        );
                        ledger.refuse_command(c, reason, &mut fx);
                    }
                }
                Ok(())
            }
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
            .with_label_values(&[self.kind(input), outcome])
            .inc();
        self.emit(input.partition, fx, outputs)?;
        Ok(Applied::of(result, None))
    }

    fn flush_sinks(&mut self) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        self.sink.flush()
    }

    fn dead_lettered(&self, reason: &str) {
        self.metrics
            .dead_lettered
            .with_label_values(&["ledger", reason])
            .inc();
    }
}

/// Every topic the ledger-writer reads or writes: commands and the changelog co-partitioned
/// with the commissions topic (a partner's decisions, commands and state meet in one
/// partition).
pub fn topics(t: &Topics) -> Vec<Topic<'_>> {
    let like = |topic, cleanup| Topic::Like {
        topic,
        cleanup,
        input: &t.commissions,
    };
    vec![
        Topic::Stream(&t.touchpoints_enriched, Cleanup::Delete),
        Topic::Stream(&t.attributions, Cleanup::Delete),
        Topic::Stream(&t.risk_scores, Cleanup::Delete),
        Topic::Stream(&t.commissions, Cleanup::Delete),
        Topic::Stream(&t.risk_levels, Cleanup::Compact),
        Topic::Stream(&t.ledger_entries, Cleanup::Delete),
        Topic::Stream(&t.touchpoints_dlq, Cleanup::Delete),
        Topic::Stream(&t.webhooks_attempts, Cleanup::Delete),
        Topic::Stream(&t.payouts, Cleanup::Delete),
        Topic::Stream(&t.claims, Cleanup::Delete),
        Topic::Stream(&t.trust_specialists, Cleanup::Compact),
        Topic::Stream(&t.trust_verification, Cleanup::Delete),
        like(&t.ledger_commands, Cleanup::Delete),
        like(&t.ledger_state, Cleanup::Compact),
    ]
}

/// Applies ClickHouse retention of personal analytics data now and then every `interval`
/// (TTLs on current servers make the repeats no-ops) until `stop`. A failure is logged and
/// tried again next time: retention is late, never wrong.
fn spawn_retention(
    db: clickhouse::Client,
    days: u32,
    interval: std::time::Duration,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            match crate::store::retention::apply(&db, days).await {
                Ok(changed) => {
                    let rows: u64 = changed.iter().map(|(_, n)| n).sum();
                    tracing::info!(
                        days,
                        rows,
                        ?changed,
                        "Personal analytics retention applied."
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Personal analytics retention failed; retrying next interval.")
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    });
}

/// Runs the ledger and the analytics writer until `shutdown`, then drains and commits both.
pub async fn run(
    config: LedgerConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let t = &config.common.topics;
    let retention_stop = shutdown.clone();
    let service = Service::start(
        "ledger-writer",
        &config.common,
        registry,
        shutdown,
        &topics(t),
    )
    .await?;
    let metrics = LedgerMetrics::register(service.registry())?;
    let server = crate::store::connect(&config.clickhouse)?;
    let applied = migrations::migrate(&server, &config.clickhouse.database).await?;
    tracing::info!(database = %config.clickhouse.database, ?applied, clickhouse = %config.clickhouse.url, "ClickHouse schema is current.");
    let principals = config.command_authority.principals();
    if principals.is_empty() {
        tracing::warn!(
            "No LEDGER_COMMAND_KEYS: every ledger command (payouts, reviews) will be refused."
        );
    } else {
        tracing::info!(
            ?principals,
            "Ledger commands are accepted from these principals."
        );
    }
    spawn_retention(
        server.clone().with_database(&config.clickhouse.database),
        config.personal_retention_days,
        config.retention_interval,
        retention_stop.clone(),
    );
    let sink = || Sink::new(&server, &config.clickhouse.database, metrics.sink.clone());
    let mut ledger = service.stateful(
        LedgerLogic::new(&config, sink(), metrics.clone()),
        &t.commissions,
        &t.ledger_state,
        "ledger",
        config.restore_timeout,
    )?;
    let mut analytics = AnalyticsProcessor::new(&config, sink(), metrics.clone());
    let ledger_loop = service.consumer(LoopSpec {
        name: "ledger",
        client_id: "ledger-writer",
        group_id: &config.group_id,
        topics: &[&t.commissions, &t.ledger_commands],
        metrics_prefix: "ledger",
    })?;
    let analytics_loop = service.consumer(LoopSpec {
        name: "analytics",
        client_id: "ledger-analytics",
        group_id: &config.analytics_group_id,
        topics: &[
            &t.touchpoints_enriched,
            &t.attributions,
            &t.risk_scores,
            &t.risk_levels,
            &t.touchpoints_dlq,
            &t.webhooks_attempts,
            &t.claims,
            &t.trust_specialists,
            &t.trust_verification,
        ],
        metrics_prefix: "ledger_analytics",
    })?;
    service
        .run_two((ledger_loop, &mut ledger), (analytics_loop, &mut analytics))
        .await
}
