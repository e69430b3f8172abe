//! The risk service's metrics. Accounting: every attribution signal is scored, a renewal or
//! refund passed through, waiting for its context, a duplicate, a replay, or dead-lettered.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// Records the router forwarded, by kind.
pub const FORWARDED_TOTAL: &str = "risk_router_forwarded_total";
/// Enriched touchpoints the router did not need (not a partner click or a conversion).
pub const NOT_NEEDED_TOTAL: &str = "risk_router_not_needed_total";
/// Signals consumed by the scorer.
pub const SIGNALS_TOTAL: &str = "risk_signals_total";
/// Subjects evicted by the per-partition cap.
pub const EVICTED_SUBJECTS_TOTAL: &str = "risk_evicted_subjects_total";
/// Actions scored, by kind.
pub const SCORED_TOTAL: &str = "risk_scored_total";
/// Reason codes fired, by code.
pub const REASONS_TOTAL: &str = "risk_reasons_total";
/// Commission decisions, by decision.
pub const DECISIONS_TOTAL: &str = "risk_decisions_total";
/// Level records published, by level.
pub const LEVELS_TOTAL: &str = "risk_level_updates_total";
/// Signals, attributions and replays not scored again, by kind.
pub const NOT_RESCORED_TOTAL: &str = "risk_not_rescored_total";
/// Attributions that waited for their context; scored without it after the join wait.
pub const JOIN_TOTAL: &str = "risk_join_total";
/// Renewals and refunds passed through unscored.
pub const PASSED_THROUGH_TOTAL: &str = "risk_passed_through_total";
/// Inputs dead-lettered, by stage and reason.
pub const DEAD_LETTERED_TOTAL: &str = "risk_dead_lettered_total";
// State entries, bytes and restore time and progress are the harness's
// `risk_state_entries{kind}`, `risk_state_bytes`, `risk_restore_seconds`,
// `risk_restore_records_total` and `risk_restoring_partitions` (runtime::stateful).

/// The risk service's metrics.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct RiskMetrics {
    pub forwarded: IntCounterVec,
    pub not_needed: IntCounter,
    pub signals: IntCounter,
    pub scored: IntCounterVec,
    pub reasons: IntCounterVec,
    pub decisions: IntCounterVec,
    pub levels: IntCounterVec,
    pub not_rescored: IntCounterVec,
    pub join: IntCounterVec,
    pub passed_through: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    /// See [`EVICTED_SUBJECTS_TOTAL`].
    pub evicted_subjects: IntCounter,
}

impl RiskMetrics {
    /// Registers every metric, with label values pre-created so dashboards see zeros.
    pub fn register(registry: &Registry) -> Result<RiskMetrics, prometheus::Error> {
        fn add<C: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            c: C,
        ) -> Result<C, prometheus::Error> {
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let vec = |name: &str, help: &str, label: &str| {
            add(
                registry,
                IntCounterVec::new(Opts::new(name, help), &[label])?,
            )
        };
        let m = RiskMetrics {
            forwarded: vec(FORWARDED_TOTAL, "Records the router forwarded, by kind.", "kind")?,
            not_needed: add(
                registry,
                IntCounter::new(NOT_NEEDED_TOTAL, "Enriched touchpoints risk does not need (not a partner click or a conversion).")?,
            )?,
            signals: add(registry, IntCounter::new(SIGNALS_TOTAL, "Signals consumed by the scorer.")?)?,
            scored: vec(SCORED_TOTAL, "Actions scored, by kind.", "action")?,
            reasons: vec(REASONS_TOTAL, "Reason codes fired, by code (internal).", "code")?,
            decisions: vec(DECISIONS_TOTAL, "Commission decisions, by decision.", "decision")?,
            levels: vec(LEVELS_TOTAL, "Level records published, by level.", "level")?,
            not_rescored: vec(
                NOT_RESCORED_TOTAL,
                "Inputs not scored again: duplicate_signal (re-forwarded by the router), duplicate_attribution (re-emitted by the attributor), replayed (re-read after a crash; recorded outcome re-applied).",
                "kind",
            )?,
            join: vec(
                JOIN_TOTAL,
                "Attributions that waited for their conversion's context, and those scored without it after the join wait.",
                "outcome",
            )?,
            passed_through: vec(PASSED_THROUGH_TOTAL, "Renewals and refunds passed through unscored.", "kind")?,
            dead_lettered: add(
                registry,
                IntCounterVec::new(
                    Opts::new(DEAD_LETTERED_TOTAL, "Inputs dead-lettered, by stage and reason."),
                    &["stage", "reason"],
                )?,
            )?,
            evicted_subjects: add(
                registry,
                IntCounter::new(
                    EVICTED_SUBJECTS_TOTAL,
                    "SharedId subjects with clicks only evicted by the per-partition cap (RISK_SUBJECTS_PER_PARTITION_MAX).",
                )?,
            )?,
        };
        for k in ["click", "conversion", "attribution"] {
            m.forwarded.with_label_values(&[k]);
        }
        for k in ["credit", "self_referral_claim"] {
            m.scored.with_label_values(&[k]);
        }
        for c in schemas::reference::RISK_REASON_CODES {
            m.reasons.with_label_values(&[c]);
        }
        for d in ["payable", "held", "reversed"] {
            m.decisions.with_label_values(&[d]);
        }
        for l in ["insufficient_data", "low", "elevated", "high", "critical"] {
            m.levels.with_label_values(&[l]);
        }
        for k in ["duplicate_signal", "duplicate_attribution", "replayed"] {
            m.not_rescored.with_label_values(&[k]);
        }
        for k in ["waited", "scored_without_context"] {
            m.join.with_label_values(&[k]);
        }
        for k in ["renewal", "refund"] {
            m.passed_through.with_label_values(&[k]);
        }
        Ok(m)
    }
}
