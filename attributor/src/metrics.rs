//! The attributor's metrics. The accounting invariant, checked by the integration tests:
//! every consumed conversion or refund is attributed, unattributed, a duplicate, a replay or
//! dead-lettered.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::attribute::reason;

/// Enriched touchpoints consumed.
pub const CONSUMED_TOTAL: &str = "attributor_consumed_total";
/// Source watermark records read (the enricher's broadcasts between the touchpoints).
pub const WATERMARKS_TOTAL: &str = "attributor_watermarks_total";
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
/// Keys evicted by the per-partition cap.
pub const EVICTED_KEYS_TOTAL: &str = "attributor_evicted_keys_total";
/// The per-partition key cap.
pub const KEYS_CAP: &str = "attributor_state_keys_cap";
/// Inputs already reflected in restored state (re-read after a crash).
pub const REPLAYED_TOTAL: &str = "attributor_replayed_total";
/// Inputs dead-lettered, by reason.
pub const DEAD_LETTERED_TOTAL: &str = "attributor_dead_lettered_total";
/// Conversions decided because the wall clock moved a partition's clock, by path.
pub const WALL_CLOCK_DECISIONS_TOTAL: &str = "attributor_wall_clock_decisions_total";
/// Event time the slowest active source holds the watermark back by (largest over partitions).
pub const WATERMARK_HELD_BACK_SECONDS: &str = "attributor_watermark_held_back_seconds";

// State entries (keys, touchpoints, pending), bytes and restore time and progress are the
// harness's `attributor_state_entries{kind}`, `attributor_state_bytes`,
// `attributor_restore_seconds`, `attributor_restore_records_total` and
// `attributor_restoring_partitions` (runtime::stateful).

/// Dead-letter reasons.
pub const DEAD_LETTER_REASONS: [&str; 2] = ["undecodable", "missing_order_fields"];

/// The attributor's metrics.
#[derive(Debug, Clone)]
pub struct AttributorMetrics {
    /// See [`CONSUMED_TOTAL`].
    pub consumed: IntCounter,
    /// See [`WATERMARKS_TOTAL`].
    pub watermarks: IntCounter,
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
    /// See [`EVICTED_KEYS_TOTAL`].
    pub evicted_keys: IntCounter,
    /// See [`KEYS_CAP`].
    pub keys_cap: IntGauge,
    /// See [`REPLAYED_TOTAL`].
    pub replayed: IntCounter,
    /// See [`DEAD_LETTERED_TOTAL`].
    pub dead_lettered: IntCounterVec,
    /// See [`WATERMARK_HELD_BACK_SECONDS`].
    pub held_back: IntGauge,
    /// See [`WALL_CLOCK_DECISIONS_TOTAL`].
    pub wall_clock_decisions: IntCounterVec,
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
            watermarks: counter(
                WATERMARKS_TOTAL,
                "Source watermark records read: the enricher's broadcasts of each source partition's progress.",
            )?,
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
            evicted_keys: counter(
                EVICTED_KEYS_TOTAL,
                "Keys holding only touchpoints evicted by the per-partition key cap (a click flood).",
            )?,
            keys_cap: gauge(KEYS_CAP, "ATTRIBUTOR_KEYS_PER_PARTITION_MAX: the per-partition key cap.")?,
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
            held_back: gauge(
                WATERMARK_HELD_BACK_SECONDS,
                "Event time the slowest active source partition holds the watermark back by (largest over partitions).",
            )?,
            wall_clock_decisions: add(
                registry,
                IntCounterVec::new(
                    Opts::new(WALL_CLOCK_DECISIONS_TOTAL, "Conversions decided because the wall clock moved a partition's clock rather than event time, by path: sources_idle (every source said live and quiet), quiet (no input for ATTRIBUTOR_IDLE_ADVANCE_SECONDS, or ten times that while replaying history or waiting for a lagging source)."),
                    &["path"],
                )?,
            )?,
        };
        for path in ["sources_idle", "quiet"] {
            metrics.wall_clock_decisions.with_label_values(&[path]);
        }
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
