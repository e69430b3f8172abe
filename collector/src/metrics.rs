//! The collector's metrics (`collector_*`).

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

use crate::stripe::IGNORED_LABELS;

/// Requests, events and Stripe outcomes.
#[derive(Clone, Debug)]
pub struct CollectorMetrics {
    /// `collector_requests_total{route,status}`.
    pub requests: IntCounterVec,
    /// `collector_request_seconds{route}`.
    pub seconds: HistogramVec,
    /// `collector_events_accepted_total`: events the broker acknowledged.
    pub accepted: IntCounter,
    /// `collector_events_refused_total{reason}`.
    pub refused: IntCounterVec,
    /// `collector_broker_failures_total`: requests answered 503.
    pub broker_failures: IntCounter,
    /// `collector_stripe_events_total{outcome}`.
    pub stripe: IntCounterVec,
}

impl CollectorMetrics {
    /// Creates and registers the metrics.
    pub fn register(registry: &Registry) -> prometheus::Result<CollectorMetrics> {
        let m = CollectorMetrics {
            requests: IntCounterVec::new(
                Opts::new("collector_requests_total", "Requests by route and status code."),
                &["route", "status"],
            )?,
            seconds: HistogramVec::new(
                HistogramOpts::new(
                    "collector_request_seconds",
                    "Time to answer, broker acknowledgement included, by route.",
                )
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0]),
                &["route"],
            )?,
            accepted: IntCounter::new(
                "collector_events_accepted_total",
                "Events written to the raw topic and acknowledged by the broker.",
            )?,
            refused: IntCounterVec::new(
                Opts::new(
                    "collector_events_refused_total",
                    "Events refused in a request, by ingest's reason code (or program_mismatch).",
                ),
                &["reason"],
            )?,
            broker_failures: IntCounter::new(
                "collector_broker_failures_total",
                "Requests answered 503 because the broker did not acknowledge in time.",
            )?,
            stripe: IntCounterVec::new(
                Opts::new(
                    "collector_stripe_events_total",
                    "Stripe events by outcome: forwarded, refused (signature or mapping), or acknowledged and ignored (by why).",
                ),
                &["outcome"],
            )?,
        };
        for outcome in [
            "forwarded",
            "bad_signature",
            "unreadable",
            "refused",
            "broker_failure",
        ]
        .into_iter()
        .chain(IGNORED_LABELS)
        {
            m.stripe.with_label_values(&[outcome]).reset();
        }
        registry.register(Box::new(m.requests.clone()))?;
        registry.register(Box::new(m.seconds.clone()))?;
        registry.register(Box::new(m.accepted.clone()))?;
        registry.register(Box::new(m.refused.clone()))?;
        registry.register(Box::new(m.broker_failures.clone()))?;
        registry.register(Box::new(m.stripe.clone()))?;
        Ok(m)
    }
}
