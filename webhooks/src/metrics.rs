//! The webhooks service's metrics (`webhooks_*`).

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};

/// Every counter and gauge of the service.
#[derive(Clone, Debug)]
pub struct WebhooksMetrics {
    /// `webhooks_notifications_total{event_type}`: notifications the router addressed.
    pub notifications: IntCounterVec,
    /// `webhooks_attempts_total{outcome}`.
    pub attempts: IntCounterVec,
    /// `webhooks_dead_lettered_total{reason}`: inputs and deliveries dead-lettered.
    pub dead_lettered: IntCounterVec,
    /// `webhooks_pending_deliveries`: deliveries not yet acknowledged (the retry backlog).
    pub pending: IntGauge,
    /// `webhooks_oldest_pending_seconds`: age of the oldest of them.
    pub oldest_pending: IntGauge,
    /// `webhooks_failing_endpoints`: endpoints with a dead-lettered delivery since their last success.
    pub failing: IntGauge,
    /// `webhooks_attempt_seconds`: time an attempt took.
    pub attempt_seconds: Histogram,
    /// `webhooks_event_to_delivery_seconds`: business time of the event to its acknowledged delivery.
    pub event_to_delivery: Histogram,
}

/// Attempt outcomes (labels present from the start).
pub const OUTCOMES: [&str; 5] = [
    "delivered",
    "failed",
    "timed_out",
    "refused_target",
    "dead_lettered",
];

impl WebhooksMetrics {
    /// Creates and registers the metrics.
    pub fn register(registry: &Registry) -> prometheus::Result<WebhooksMetrics> {
        let m = WebhooksMetrics {
            notifications: IntCounterVec::new(
                Opts::new("webhooks_notifications_total", "Notifications the router addressed to endpoints, by event type."),
                &["event_type"],
            )?,
            attempts: IntCounterVec::new(
                Opts::new("webhooks_attempts_total", "Delivery attempts by outcome (dead_lettered: the last one, past the horizon)."),
                &["outcome"],
            )?,
            dead_lettered: IntCounterVec::new(
                Opts::new("webhooks_dead_lettered_total", "Inputs (undecodable) and deliveries (undeliverable) dead-lettered, by reason."),
                &["reason"],
            )?,
            pending: IntGauge::new("webhooks_pending_deliveries", "Deliveries not yet acknowledged by their endpoint: the retry backlog.")?,
            oldest_pending: IntGauge::new("webhooks_oldest_pending_seconds", "Age of the oldest pending delivery (0 when none).")?,
            failing: IntGauge::new("webhooks_failing_endpoints", "Endpoints with a dead-lettered delivery since their last success.")?,
            attempt_seconds: Histogram::with_opts(
                HistogramOpts::new("webhooks_attempt_seconds", "Time an attempt took, answer included.")
                    .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            )?,
            event_to_delivery: Histogram::with_opts(
                HistogramOpts::new(
                    "webhooks_event_to_delivery_seconds",
                    "From the event's business time (a ledger entry's effective time) to its acknowledged delivery.",
                )
                .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, 86400.0]),
            )?,
        };
        for outcome in OUTCOMES {
            m.attempts.with_label_values(&[outcome]).reset();
        }
        for reason in ["undecodable", "webhook_undeliverable"] {
            m.dead_lettered.with_label_values(&[reason]).reset();
        }
        registry.register(Box::new(m.notifications.clone()))?;
        registry.register(Box::new(m.attempts.clone()))?;
        registry.register(Box::new(m.dead_lettered.clone()))?;
        registry.register(Box::new(m.pending.clone()))?;
        registry.register(Box::new(m.oldest_pending.clone()))?;
        registry.register(Box::new(m.failing.clone()))?;
        registry.register(Box::new(m.attempt_seconds.clone()))?;
        registry.register(Box::new(m.event_to_delivery.clone()))?;
        Ok(m)
    }
}
