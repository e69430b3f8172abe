//! Wiring: the router (stateless: ledger entries, payouts, risk levels and claims in, one
//! notification per subscribed endpoint out, keyed by endpoint) and the dispatcher (its apply step on the
//! stateful harness: deliveries, sequences and retries as state; the HTTP scheduler of
//! `delivery` attempts them and reports back), each its own consumer group in one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use prometheus::Registry;
use reference::ReferenceData;
use runtime::kafka::Cleanup;
use runtime::service::{LoopSpec, Service, Topic};
use runtime::stateful::{payload, Applied, Partitions, StatefulLogic};
use runtime::{encode, DeadLetterWriter, Input, Output, Processor, RuntimeError};
use schemas::ledger_state::Payout;
use schemas::risk::RiskLevel;
use schemas::webhook::{AttemptOutcome, PendingDelivery};
use schemas::{ClaimNotice, LedgerEntry, WebhookAttempt, WebhookNotification};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::WebhooksConfig;
use crate::delivery::{spawn_scheduler, Job, Outcome};
use crate::dispatch::{AfterFailure, DispatchState};
use crate::events;
use crate::metrics::WebhooksMetrics;
use crate::retry::RetryPolicy;

/// Addresses ledger entries, payouts, risk levels and claims to the endpoints that subscribe
/// to them.
#[allow(missing_debug_implementations)]
pub struct Router {
    reference: Arc<ReferenceData>,
    ledger_topic: String,
    payouts_topic: String,
    claims_topic: String,
    risk_topic: String,
    outbox: Arc<str>,
    dead_letters: DeadLetterWriter,
    metrics: WebhooksMetrics,
}

impl Router {
    fn event(&self, input: &Input<'_>) -> Result<Option<events::Event>, String> {
        let bytes = payload(input)?;
        if input.topic == self.ledger_topic {
            let entry: LedgerEntry =
                schemas::decode(bytes).map_err(|e| format!("not a ledger entry: {e}"))?;
            Ok(events::from_ledger_entry(&entry))
        } else if input.topic == self.payouts_topic {
            let payout: Payout =
                schemas::decode(bytes).map_err(|e| format!("not a payout: {e}"))?;
            Ok(Some(events::from_payout(&payout)))
        } else if input.topic == self.claims_topic {
            let claim: ClaimNotice =
                schemas::decode(bytes).map_err(|e| format!("not a claim notice: {e}"))?;
            Ok(events::from_claim(&claim))
        } else {
            let level: RiskLevel =
                schemas::decode(bytes).map_err(|e| format!("not a risk level: {e}"))?;
            Ok(events::from_risk_level(&level))
        }
    }
}

impl Processor for Router {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        if input.payload.is_none() && input.topic == self.risk_topic {
            return Ok(()); // a compacted-away risk level
        }
        match self.event(input) {
            Ok(Some(event)) => {
                let catalog = self.reference.read();
                for n in events::address(&event, catalog.webhook_endpoints()) {
                    self.metrics
                        .notifications
                        .with_label_values(&[&n.event_type])
                        .inc();
                    outputs.push(Output::keyed(
                        Arc::clone(&self.outbox),
                        Some(n.endpoint_id.clone().into_bytes()),
                        encode("webhook notification", &n)?,
                    ));
                }
            }
            Ok(None) => {}
            Err(detail) => {
                self.metrics
                    .dead_lettered
                    .with_label_values(&["undecodable"])
                    .inc();
                outputs.push(
                    self.dead_letters
                        .reject(input, "undecodable", detail, None)?,
                );
            }
        }
        Ok(())
    }
}

/// The dispatcher's apply step over an outbox partition.
#[allow(missing_debug_implementations)]
pub struct Dispatcher {
    retry: RetryPolicy,
    jobs: mpsc::UnboundedSender<Job>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    /// Reported, not yet applied (their partition's state was not at hand).
    unsettled: Vec<Outcome>,
    /// One token per held partition: cancelling it drops the partition's scheduled attempts.
    held: Mutex<HashMap<i32, CancellationToken>>,
    attempts_topic: Arc<str>,
    dead_letters: DeadLetterWriter,
    metrics: WebhooksMetrics,
}

impl Dispatcher {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<i32, CancellationToken>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn schedule(&self, partition: i32, delivery: PendingDelivery) {
        if let Some(cancelled) = self.held().get(&partition).cloned() {
            let _queued = self.jobs.send(Job {
                partition,
                delivery,
                cancelled,
            });
        }
    }

    /// Applies the reported attempt results of the partitions in `partitions` (those of
    /// other partitions wait for their turn).
    fn settle<'s>(
        &mut self,
        partitions: impl IntoIterator<Item = (i32, &'s mut DispatchState)>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        while let Ok(o) = self.outcomes.try_recv() {
            self.unsettled.push(o);
        }
        if self.unsettled.is_empty() {
            return Ok(());
        }
        for (partition, state) in partitions {
            let (mine, others): (Vec<Outcome>, Vec<Outcome>) = std::mem::take(&mut self.unsettled)
                .into_iter()
                .partition(|o| o.partition == partition);
            self.unsettled = others;
            for o in mine {
                self.apply_outcome(state, &o, outputs)?;
            }
        }
        Ok(())
    }

    fn apply_outcome(
        &mut self,
        state: &mut DispatchState,
        o: &Outcome,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        let Some(pending) = state.delivery(&o.delivery_id).cloned() else {
            return Ok(());
        };
        if pending.attempts + 1 != o.attempt {
            return Ok(()); // a stale report (the delivery was rescheduled since)
        }
        self.metrics
            .attempt_seconds
            .observe(o.result.latency_ms as f64 / 1000.0);
        let (outcome, next) = if o.result.outcome == AttemptOutcome::Delivered {
            state.delivered(&o.delivery_id);
            if let Some(occurred) = body_time(&pending.body) {
                let seconds = (o.attempted_at - occurred).num_milliseconds() as f64 / 1000.0
                    + o.result.latency_ms as f64 / 1000.0;
                self.metrics.event_to_delivery.observe(seconds.max(0.0));
            }
            (AttemptOutcome::Delivered, None)
        } else {
            match state.failed(&o.delivery_id, o.attempted_at, &self.retry) {
                // The scheduler retries on its own; the state keeps up for a restore.
                AfterFailure::Retry(next) => (o.result.outcome, Some(next)),
                AfterFailure::DeadLettered(dead) => {
                    outputs.push(self.dead_letter(o.partition, &dead, o)?);
                    (AttemptOutcome::DeadLettered, None)
                }
                AfterFailure::Unknown => return Ok(()),
            }
        };
        self.metrics
            .attempts
            .with_label_values(&[outcome.as_str()])
            .inc();
        if outcome != o.result.outcome {
            // The last failure's own outcome is counted too.
            self.metrics
                .attempts
                .with_label_values(&[o.result.outcome.as_str()])
                .inc();
        }
        let record = WebhookAttempt {
            attempt_id: format!("{}/{}", pending.delivery_id, o.attempt),
            delivery_id: pending.delivery_id.clone(),
            endpoint_id: pending.endpoint_id.clone(),
            program_id: pending.program_id.clone(),
            partner_id: pending.partner_id.clone(),
            event_type: pending.event_type.clone(),
            sequence: pending.sequence,
            attempt: o.attempt,
            attempted_at: o.attempted_at,
            outcome,
            status_code: o.result.status_code,
            latency_ms: o.result.latency_ms,
            error: o.result.error.clone(),
            next_attempt_at: next,
        };
        outputs.push(Output::keyed(
            Arc::clone(&self.attempts_topic),
            Some(pending.delivery_id.clone().into_bytes()),
            encode("webhook attempt", &record)?,
        ));
        Ok(())
    }

    fn dead_letter(
        &self,
        partition: i32,
        dead: &PendingDelivery,
        o: &Outcome,
    ) -> Result<Output, RuntimeError> {
        self.metrics
            .dead_lettered
            .with_label_values(&["webhook_undeliverable"])
            .inc();
        let source = format!("webhook:{}", dead.endpoint_id);
        let input = Input {
            topic: &source,
            partition,
            offset: dead.sequence,
            key: Some(dead.delivery_id.as_bytes()),
            payload: Some(dead.body.as_bytes()),
            timestamp_ms: None,
        };
        let detail = format!(
            "delivery {} to endpoint {} failed {} times until its retry horizon; last: {}",
            dead.delivery_id,
            dead.endpoint_id,
            dead.attempts,
            o.result.error.as_deref().unwrap_or("no answer")
        );
        self.dead_letters.output(
            &input,
            "webhook_undeliverable",
            detail,
            Some(dead.delivery_id.clone()),
            o.attempted_at,
        )
    }
}

fn body_time(body: &str) -> Option<DateTime<Utc>> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    DateTime::parse_from_rfc3339(value.get("timestamp")?.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl StatefulLogic for Dispatcher {
    type State = DispatchState;
    type Event = WebhookNotification;

    fn decode(&mut self, input: &Input<'_>) -> Result<WebhookNotification, String> {
        schemas::decode(payload(input)?).map_err(|e| format!("not a webhook notification: {e}"))
    }

    fn restore(
        &self,
        partition: i32,
        records: &mut dyn Iterator<Item = schemas::WebhookState>,
    ) -> DispatchState {
        let state = DispatchState::restore(records);
        // A fresh token: attempts scheduled by an earlier holding of the partition stop.
        if let Some(old) = self.held().insert(partition, CancellationToken::new()) {
            old.cancel();
        }
        for delivery in state.pending() {
            self.schedule(partition, delivery.clone());
        }
        state
    }

    fn apply(
        &mut self,
        state: &mut DispatchState,
        input: &Input<'_>,
        n: WebhookNotification,
        outputs: &mut Vec<Output>,
    ) -> Result<Applied, RuntimeError> {
        if let Some(delivery) = state.notify(&n, input.offset, Utc::now()) {
            self.schedule(input.partition, delivery);
        }
        // Results reported meanwhile, so a busy outbox does not hold them back.
        self.settle([(input.partition, &mut *state)], outputs)?;
        Ok(Applied::Done)
    }

    fn idle(
        &mut self,
        partitions: &mut Partitions<DispatchState>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        self.settle(partitions.iter_mut().map(|(p, s)| (*p, s)), outputs)
    }

    // Every batch, every partition: a quiet partition's results are recorded while another
    // keeps the dispatcher busy (their attempt records acknowledged before the state).
    fn emit_before_checkpoint(
        &mut self,
        partitions: &mut Partitions<DispatchState>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        self.settle(partitions.iter_mut().map(|(p, s)| (*p, s)), outputs)
    }

    fn partition_dropped(&mut self, partition: i32) {
        if let Some(token) = self.held().remove(&partition) {
            token.cancel();
        }
        self.unsettled.retain(|o| o.partition != partition);
    }

    fn dead_lettered(&self, reason: &str) {
        self.metrics
            .dead_lettered
            .with_label_values(&[reason])
            .inc();
    }

    fn update_gauges(&self, partitions: &Partitions<DispatchState>) {
        let pending: usize = partitions.values().map(|s| s.pending().count()).sum();
        let failing: usize = partitions.values().map(|s| s.failing().count()).sum();
        let oldest = partitions
            .values()
            .filter_map(DispatchState::oldest_pending)
            .min();
        self.metrics
            .pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        self.metrics
            .failing
            .set(i64::try_from(failing).unwrap_or(i64::MAX));
        self.metrics
            .oldest_pending
            .set(oldest.map_or(0, |t| (Utc::now() - t).num_seconds().max(0)));
    }
}

/// Runs the router and the dispatcher until `shutdown`, then drains and commits both.
pub async fn run(
    config: WebhooksConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let t = &config.common.topics;
    let service = Service::start(
        "webhooks",
        &config.common,
        registry,
        shutdown,
        &[
            Topic::Stream(&t.ledger_entries, Cleanup::Delete),
            Topic::Stream(&t.risk_levels, Cleanup::Compact),
            Topic::Stream(&t.payouts, Cleanup::Delete),
            Topic::Stream(&t.claims, Cleanup::Delete),
            Topic::Stream(&t.webhooks_outbox, Cleanup::Delete),
            Topic::Stream(&t.webhooks_attempts, Cleanup::Delete),
            Topic::Stream(&t.touchpoints_dlq, Cleanup::Delete),
            Topic::Reference(&t.reference_config),
            // State partition N holds the endpoints of outbox partition N. No personal data
            // (partner ids and amounts, kept with the money anyway): compacted, kept.
            Topic::Like {
                topic: &t.webhooks_state,
                cleanup: Cleanup::Compact,
                input: &t.webhooks_outbox,
            },
        ],
    )
    .await?;
    let metrics =
        WebhooksMetrics::register(service.registry()).map_err(|e| RuntimeError::Sink {
            store: "metrics",
            detail: e.to_string(),
        })?;
    // Endpoints come from the reference data: routing without them would address nobody.
    let Some(reference) = reference::follow(&service).await? else {
        return Ok(());
    };
    let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
    let jobs = spawn_scheduler(
        config.delivery.clone(),
        config.retry,
        Arc::clone(&reference),
        config.signing_key.clone(),
        outcomes_tx,
        service.shutdown().clone(),
    );
    let mut router = Router {
        reference,
        ledger_topic: t.ledger_entries.clone(),
        payouts_topic: t.payouts.clone(),
        claims_topic: t.claims.clone(),
        risk_topic: t.risk_levels.clone(),
        outbox: Arc::from(t.webhooks_outbox.as_str()),
        dead_letters: service.dead_letters(),
        metrics: metrics.clone(),
    };
    let dispatcher = Dispatcher {
        retry: config.retry,
        jobs,
        outcomes,
        unsettled: Vec::new(),
        held: Mutex::new(HashMap::new()),
        attempts_topic: Arc::from(t.webhooks_attempts.as_str()),
        dead_letters: service.dead_letters(),
        metrics,
    };
    let mut dispatcher = service.stateful(
        dispatcher,
        &t.webhooks_outbox,
        &t.webhooks_state,
        "webhooks",
        std::time::Duration::from_secs(60),
    )?;
    let router_loop = service.consumer(LoopSpec {
        name: "router",
        client_id: "webhooks-router",
        group_id: &config.router_group_id,
        topics: &[&t.ledger_entries, &t.payouts, &t.risk_levels, &t.claims],
        metrics_prefix: "webhooks_router",
    })?;
    let dispatcher_loop = service.consumer(LoopSpec {
        name: "dispatcher",
        client_id: "webhooks",
        group_id: &config.group_id,
        topics: &[&t.webhooks_outbox],
        metrics_prefix: "webhooks_dispatcher",
    })?;
    service
        .run_two(
            (router_loop, &mut router),
            (dispatcher_loop, &mut dispatcher),
        )
        .await
}
