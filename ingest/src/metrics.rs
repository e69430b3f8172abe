//! Ingest's metrics. The accounting invariant, checked by the integration tests:
//! `ingest_consumed_total = ingest_valid_total + ingest_dead_lettered_total + ingest_duplicates_total`.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};
use schemas::EventKind;

use crate::reason::Reason;

/// Raw messages consumed (stream and import).
pub const CONSUMED_TOTAL: &str = "ingest_consumed_total";
/// Valid touchpoints produced, by kind.
pub const VALID_TOTAL: &str = "ingest_valid_total";
/// Messages dead-lettered, by reason.
pub const DEAD_LETTERED_TOTAL: &str = "ingest_dead_lettered_total";
/// Valid messages dropped as repeats of an `event_id` seen within the TTL.
pub const DUPLICATES_TOTAL: &str = "ingest_duplicates_total";
/// Seconds to validate, normalise and encode one message.
pub const PROCESSING_SECONDS: &str = "ingest_processing_seconds";
/// Seconds between a raw message's broker timestamp and its processing.
pub const EVENT_AGE_SECONDS: &str = "ingest_event_age_seconds";

/// Ingest's metrics.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    /// See [`CONSUMED_TOTAL`].
    pub consumed: IntCounter,
    /// See [`VALID_TOTAL`].
    pub valid: IntCounterVec,
    /// See [`DEAD_LETTERED_TOTAL`].
    pub dead_lettered: IntCounterVec,
    /// See [`DUPLICATES_TOTAL`].
    pub duplicates: IntCounter,
    /// See [`PROCESSING_SECONDS`].
    pub processing: Histogram,
    /// See [`EVENT_AGE_SECONDS`].
    pub event_age: Histogram,
}

impl IngestMetrics {
    /// Creates and registers the metrics; every kind and reason label exists from the start
    /// so dashboards show zeros rather than gaps.
    pub fn register(registry: &Registry) -> prometheus::Result<IngestMetrics> {
        let m = IngestMetrics {
            consumed: IntCounter::new(CONSUMED_TOTAL, "Raw messages consumed.")?,
            valid: IntCounterVec::new(
                Opts::new(VALID_TOTAL, "Valid touchpoints produced, by kind."),
                &["kind"],
            )?,
            dead_lettered: IntCounterVec::new(
                Opts::new(DEAD_LETTERED_TOTAL, "Messages dead-lettered, by reason."),
                &["reason"],
            )?,
            duplicates: IntCounter::new(
                DUPLICATES_TOTAL,
                "Repeated event ids dropped within the TTL.",
            )?,
            processing: Histogram::with_opts(
                HistogramOpts::new(
                    PROCESSING_SECONDS,
                    "Seconds to validate, normalise and encode one message.",
                )
                .buckets(vec![1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 1e-3, 1e-2]),
            )?,
            event_age: Histogram::with_opts(
                HistogramOpts::new(
                    EVENT_AGE_SECONDS,
                    "Seconds from a raw message's broker timestamp to its processing.",
                )
                .buckets(vec![
                    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0,
                ]),
            )?,
        };
        for kind in EventKind::ALL {
            m.valid.with_label_values(&[kind.as_str()]);
        }
        for reason in Reason::ALL {
            m.dead_lettered.with_label_values(&[reason.code()]);
        }
        registry.register(Box::new(m.consumed.clone()))?;
        registry.register(Box::new(m.valid.clone()))?;
        registry.register(Box::new(m.dead_lettered.clone()))?;
        registry.register(Box::new(m.duplicates.clone()))?;
        registry.register(Box::new(m.processing.clone()))?;
        registry.register(Box::new(m.event_age.clone()))?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_pinned() {
        let registry = Registry::new();
        IngestMetrics::register(&registry).expect("registers");
        let mut names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "ingest_consumed_total",
                "ingest_dead_lettered_total",
                "ingest_duplicates_total",
                "ingest_event_age_seconds",
                "ingest_processing_seconds",
                "ingest_valid_total",
            ]
        );
    }
}
