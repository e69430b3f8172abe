//! The attributor's metrics. The accounting invariant, checked by the integration tests:
//! every consumed conversion or refund is attributed, unattributed, a duplicate, a replay or
//! dead-lettered.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::attribute::reason;

/// Enriched touchpoints consumed.
pub const CONSUMED_TOTAL: &str = "attributor_consumed_total";
/// Attributions produced, by kind and outcome.
pub const ATTRIBUTIONS_TOTAL: &str = "attributor_attributions_total";
/// Unattributed conversions and refunds, by reason.
pub const UNATTRIBUTED_TOTAL: &str = "attributor_unattributed_total";
/// Duplicate conversions and refunds (no output).
pub const DUPLICATES_TOTAL: &str = "attributor_duplicates_total";
/// Duplicate touchpoints ignored.
pub const DUPLICATE_TOUCHPOINTS_TOTAL: &str = "attributor_duplicate_touchpoints_total";
/// Touchpoints that arrived after a conversion they would have claimed was attributed.
pub const LATE_TOUCHPOINTS_TOTAL: &str = "attributor_late_touchpoints_total";
/// Touchpoints dropped by the per-key cap.
pub const EVICTED_TOTAL: &str = "attributor_evicted_touchpoints_total";
/// Inputs already reflected in restored state (re-read after a crash).
pub const REPLAYED_TOTAL: &str = "attributor_replayed_total";
/// Inputs dead-lettered, by reason.
pub const DEAD_LETTERED_TOTAL: &str = "attributor_dead_lettered_total";
/// Attribution keys held.
pub const STATE_KEYS: &str = "attributor_state_keys";
/// Touchpoints held.
pub const STATE_TOUCHPOINTS: &str = "attributor_state_touchpoints";
/// Conversions waiting for their grace.
pub const STATE_PENDING: &str = "attributor_state_pending";
/// Approximate bytes of state held (refreshed at each sweep).
pub const STATE_BYTES: &str = "attributor_state_bytes";
/// Event time the slowest active source holds the watermark back by (largest over partitions).
pub const WATERMARK_HELD_BACK_SECONDS: &str = "attributor_watermark_held_back_seconds";
/// Seconds to restore one partition.
pub const RESTORE_SECONDS: &str = "attributor_restore_seconds";

/// Dead-letter reasons.
pub const DEAD_LETTER_REASONS: [&str; 2] = ["undecodable", "missing_order_fields"];

/// The attributor's metrics.
#[derive(Debug, Clone)]
pub struct AttributorMetrics {
    /// See [`CONSUMED_TOTAL`].
    pub consumed: IntCounter,
    /// See [`ATTRIBUTIONS_TOTAL`].
    pub attributions: IntCounterVec,
    /// See [`UNATTRIBUTED_TOTAL`].
    pub unattributed: IntCounterVec,
    /// See [`DUPLICATES_TOTAL`].
    pub duplicates: IntCounter,
    /// See [`DUPLICATE_TOUCHPOINTS_TOTAL`].
    pub duplicate_touchpoints: IntCounter,
    /// See [`LATE_TOUCHPOINTS_TOTAL`].
    pub late_touchpoints: IntCounter,
    /// See [`EVICTED_TOTAL`].
    pub evicted: IntCounter,
    /// See [`REPLAYED_TOTAL`].
    pub replayed: IntCounter,
    /// See [`DEAD_LETTERED_TOTAL`].
    pub dead_lettered: IntCounterVec,
    /// See [`STATE_KEYS`].
    pub keys: IntGauge,
    /// See [`STATE_TOUCHPOINTS`].
    pub touchpoints: IntGauge,
    /// See [`STATE_PENDING`].
    pub pending: IntGauge,
    /// See [`STATE_BYTES`].
    pub bytes: IntGauge,
    /// See [`WATERMARK_HELD_BACK_SECONDS`].
    pub held_back: IntGauge,
    /// See [`RESTORE_SECONDS`].
    pub restore: Histogram,
}

impl AttributorMetrics {
    /// Registers every metric, with all label values pre-created so dashboards see zeros.
    pub fn register(registry: &Registry) -> Result<AttributorMetrics, prometheus::Error> {
        fn add<C: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            c: C,
        ) -> Result<C, prometheus::Error> {
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let counter = |name: &str, help: &str| add(registry, IntCounter::new(name, help)?);
        let gauge = |name: &str, help: &str| add(registry, IntGauge::new(name, help)?);
        let metrics = AttributorMetrics {
            consumed: counter(CONSUMED_TOTAL, "Enriched touchpoints consumed.")?,
            attributions: add(
                registry,
                IntCounterVec::new(
                    Opts::new(ATTRIBUTIONS_TOTAL, "Attributions produced, by kind and outcome."),
                    &["kind", "outcome"],
                )?,
            )?,
            unattributed: add(
                registry,
                IntCounterVec::new(
                    Opts::new(UNATTRIBUTED_TOTAL, "Unattributed conversions and refunds, by reason."),
                    &["reason"],
                )?,
            )?,
            duplicates: counter(DUPLICATES_TOTAL, "Duplicate conversions and refunds (no output).")?,
            duplicate_touchpoints: counter(
                DUPLICATE_TOUCHPOINTS_TOTAL,
                "Duplicate touchpoints ignored.",
            )?,
            late_touchpoints: counter(
                LATE_TOUCHPOINTS_TOTAL,
                "Touchpoints that arrived after a conversion they would have claimed was attributed.",
            )?,
            evicted: counter(EVICTED_TOTAL, "Touchpoints dropped by the per-key cap.")?,
            replayed: counter(
                REPLAYED_TOTAL,
                "Inputs already reflected in restored state (re-read after a crash).",
            )?,
            dead_lettered: add(
                registry,
                IntCounterVec::new(
                    Opts::new(DEAD_LETTERED_TOTAL, "Inputs dead-lettered, by reason."),
                    &["reason"],
                )?,
            )?,
            keys: gauge(STATE_KEYS, "Attribution keys held.")?,
            touchpoints: gauge(STATE_TOUCHPOINTS, "Touchpoints held.")?,
            pending: gauge(STATE_PENDING, "Conversions waiting for their grace.")?,
            bytes: gauge(STATE_BYTES, "Approximate bytes of state held (refreshed at each sweep).")?,
            held_back: gauge(
                WATERMARK_HELD_BACK_SECONDS,
                "Event time the slowest active source partition holds the watermark back by (largest over partitions).",
            )?,
            restore: add(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(RESTORE_SECONDS, "Seconds to restore one partition.")
                        .buckets(vec![0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0]),
                )?,
            )?,
        };
        for kind in ["conversion", "refund"] {
            for outcome in ["attributed", "unattributed"] {
                metrics.attributions.with_label_values(&[kind, outcome]);
            }
        }
        for r in reason::ALL {
            metrics.unattributed.with_label_values(&[r]);
        }
        for r in DEAD_LETTER_REASONS {
            metrics.dead_lettered.with_label_values(&[r]);
        }
        Ok(metrics)
    }
}
