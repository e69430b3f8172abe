//! The ledger-writer's metrics. Accounting: every decision and command read is applied, a
//! duplicate, or dead-lettered; every analytics message is written or dead-lettered.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::store::sink::SinkMetrics;

/// Ledger inputs by kind and outcome.
pub const INPUTS_TOTAL: &str = "ledger_inputs_total";
/// Ledger entries written, by transition.
pub const ENTRIES_TOTAL: &str = "ledger_entries_total";
/// Payouts by status change.
pub const PAYOUTS_TOTAL: &str = "ledger_payouts_total";
/// Analytics messages by topic kind and outcome.
pub const ANALYTICS_TOTAL: &str = "ledger_analytics_messages_total";
/// Inputs dead-lettered, by stage and reason.
pub const DEAD_LETTERED_TOTAL: &str = "ledger_dead_lettered_total";
/// Rows inserted into ClickHouse, by table.
pub const ROWS_TOTAL: &str = "ledger_clickhouse_rows_total";
/// ClickHouse insert latency, by table.
pub const INSERT_SECONDS: &str = "ledger_clickhouse_insert_seconds";
/// Failed ClickHouse insert attempts, by table.
pub const INSERT_ERRORS_TOTAL: &str = "ledger_clickhouse_insert_errors_total";
// State entries (lines, payouts, parked_refunds), bytes and restore time and progress are the
// harness's `ledger_state_entries{kind}`, `ledger_state_bytes`, `ledger_restore_seconds`,
// `ledger_restore_records_total` and `ledger_restoring_partitions` (runtime::stateful).

/// The ledger-writer's metrics.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct LedgerMetrics {
    pub inputs: IntCounterVec,
    pub entries: IntCounterVec,
    pub payouts: IntCounterVec,
    pub analytics: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    pub sink: SinkMetrics,
}

impl LedgerMetrics {
    /// Registers every metric.
    pub fn register(registry: &Registry) -> Result<LedgerMetrics, prometheus::Error> {
        fn add<C: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            c: C,
        ) -> Result<C, prometheus::Error> {
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let vec = |name: &str, help: &str, labels: &[&str]| {
            add(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
        };
        let m = LedgerMetrics {
            inputs: vec(
                INPUTS_TOTAL,
                "Ledger inputs: kind decision|command, outcome applied|duplicate|rejected|dead_lettered.",
                &["kind", "outcome"],
            )?,
            entries: vec(ENTRIES_TOTAL, "Ledger entries written, by status reached.", &["to_status"])?,
            payouts: vec(PAYOUTS_TOTAL, "Payouts written, by status.", &["status"])?,
            analytics: vec(
                ANALYTICS_TOTAL,
                "Analytics messages: source touchpoint|attribution|risk_score|risk_level|dead_letter|webhook_attempt, outcome written|dead_lettered; source watermark (the enricher's progress records on the enriched topic), outcome skipped.",
                &["source", "outcome"],
            )?,
            dead_lettered: vec(DEAD_LETTERED_TOTAL, "Inputs dead-lettered, by stage and reason.", &["stage", "reason"])?,
            sink: SinkMetrics {
                rows: vec(ROWS_TOTAL, "Rows inserted into ClickHouse, by table.", &["table"])?,
                insert_seconds: add(
                    registry,
                    HistogramVec::new(
                        HistogramOpts::new(INSERT_SECONDS, "ClickHouse insert latency, by table.")
                            .buckets(vec![0.005, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0]),
                        &["table"],
                    )?,
                )?,
                insert_errors: vec(INSERT_ERRORS_TOTAL, "Failed ClickHouse insert attempts, by table.", &["table"])?,
            },
        };
        for k in ["decision", "command"] {
            for o in ["applied", "duplicate", "rejected", "dead_lettered"] {
                m.inputs.with_label_values(&[k, o]);
            }
        }
        for s in [
            "touchpoint",
            "attribution",
            "risk_score",
            "risk_level",
            "dead_letter",
            "webhook_attempt",
        ] {
            for o in ["written", "dead_lettered"] {
                m.analytics.with_label_values(&[s, o]);
            }
        }
        m.analytics.with_label_values(&["watermark", "skipped"]);
        Ok(m)
    }
}
