//! The enricher's metrics. The accounting invariant, checked by the integration tests:
//! `enricher_consumed_total = sum(enricher_enriched_total) + sum(enricher_dead_lettered_total)`.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use crate::partner::Unresolved;

/// Valid touchpoints consumed.
pub const CONSUMED_TOTAL: &str = "enricher_consumed_total";
/// Enriched touchpoints produced, by how the partner resolved.
pub const ENRICHED_TOTAL: &str = "enricher_enriched_total";
/// Named links/codes/partners that did not resolve, by reason.
pub const UNRESOLVED_TOTAL: &str = "enricher_unresolved_total";
/// Inputs dead-lettered, by reason.
pub const DEAD_LETTERED_TOTAL: &str = "enricher_dead_lettered_total";
/// Attribution keys, by how they were found.
pub const IDENTITY_TOTAL: &str = "enricher_identity_total";
/// Bindings created (and written to the changelog).
pub const BINDINGS_CREATED_TOTAL: &str = "enricher_bindings_created_total";
/// Bindings evicted by the per-partition cap.
pub const EVICTED_BINDINGS_TOTAL: &str = "enricher_evicted_bindings_total";
/// Source watermark records written (one per source broadcast per enriched partition), by
/// kind: `progress` (a moving source) or `idle` (a quiet live one).
pub const WATERMARKS_SENT_TOTAL: &str = "enricher_watermarks_sent_total";
// Bindings held, restore time and progress are the harness's `enricher_state_entries{kind="bindings"}`,
// `enricher_state_bytes`, `enricher_restore_seconds`, `enricher_restore_records_total` and
// `enricher_restoring_partitions` (runtime::stateful).

/// Outcomes of `enricher_enriched_total`.
pub const OUTCOMES: [&str; 6] = [
    "link",
    "query_parameter",
    "code",
    "utm_only",
    "none",
    "unresolved",
];
/// Dead-letter reasons.
pub const DEAD_LETTER_REASONS: [&str; 4] = [
    "unknown_program",
    "unknown_domain",
    "no_program",
    "undecodable",
];
/// Identity sources.
pub const IDENTITY_SOURCES: [&str; 3] = ["visitor", "binding", "customer_only"];

/// The enricher's metrics.
#[derive(Debug, Clone)]
pub struct EnricherMetrics {
    /// See [`CONSUMED_TOTAL`].
    pub consumed: IntCounter,
    /// See [`ENRICHED_TOTAL`].
    pub enriched: IntCounterVec,
    /// See [`UNRESOLVED_TOTAL`].
    pub unresolved: IntCounterVec,
    /// See [`DEAD_LETTERED_TOTAL`].
    pub dead_lettered: IntCounterVec,
    /// See [`IDENTITY_TOTAL`].
    pub identity: IntCounterVec,
    /// See [`BINDINGS_CREATED_TOTAL`].
    pub bindings_created: IntCounter,
    /// See [`EVICTED_BINDINGS_TOTAL`].
    pub evicted_bindings: IntCounter,
    /// See [`WATERMARKS_SENT_TOTAL`].
    pub watermarks_sent: IntCounterVec,
}

impl EnricherMetrics {
    /// Creates and registers the metrics, every label value present from the start.
    pub fn register(registry: &Registry) -> prometheus::Result<EnricherMetrics> {
        let m = EnricherMetrics {
            consumed: IntCounter::new(CONSUMED_TOTAL, "Valid touchpoints consumed.")?,
            enriched: IntCounterVec::new(
                Opts::new(ENRICHED_TOTAL, "Enriched touchpoints produced, by outcome: link, query_parameter, code (partner resolved by it), utm_only (no partner named, UTM present), none, unresolved (a named link/code/partner did not resolve)."),
                &["outcome"],
            )?,
            unresolved: IntCounterVec::new(
                Opts::new(UNRESOLVED_TOTAL, "Named links, codes or partners that did not resolve, by reason."),
                &["reason"],
            )?,
            dead_lettered: IntCounterVec::new(
                Opts::new(DEAD_LETTERED_TOTAL, "Inputs dead-lettered, by reason."),
                &["reason"],
            )?,
            identity: IntCounterVec::new(
                Opts::new(IDENTITY_TOTAL, "Attribution keys by source: visitor, binding (customer-only event resolved to its visitor), customer_only (no binding)."),
                &["source"],
            )?,
            bindings_created: IntCounter::new(BINDINGS_CREATED_TOTAL, "Bindings created and written to the changelog.")?,
            evicted_bindings: IntCounter::new(EVICTED_BINDINGS_TOTAL, "Bindings evicted by the per-partition cap (ENRICHER_BINDINGS_PER_PARTITION_MAX).")?,
            watermarks_sent: IntCounterVec::new(
                Opts::new(WATERMARKS_SENT_TOTAL, "Source watermark records written, one per broadcast of a source per enriched partition, by kind: progress (a moving source, ENRICHER_WATERMARK_INTERVAL_MS), idle (a quiet live source, ENRICHER_SOURCE_IDLE_MS)."),
                &["kind"],
            )?,
        };
        for outcome in OUTCOMES {
            m.enriched.with_label_values(&[outcome]);
        }
        for reason in Unresolved::ALL {
            m.unresolved.with_label_values(&[reason.as_str()]);
        }
        for reason in DEAD_LETTER_REASONS {
            m.dead_lettered.with_label_values(&[reason]);
        }
        for kind in ["progress", "idle"] {
            m.watermarks_sent.with_label_values(&[kind]);
        }
        for source in IDENTITY_SOURCES {
            m.identity.with_label_values(&[source]);
        }
        registry.register(Box::new(m.consumed.clone()))?;
        registry.register(Box::new(m.enriched.clone()))?;
        registry.register(Box::new(m.unresolved.clone()))?;
        registry.register(Box::new(m.dead_lettered.clone()))?;
        registry.register(Box::new(m.identity.clone()))?;
        registry.register(Box::new(m.bindings_created.clone()))?;
        registry.register(Box::new(m.evicted_bindings.clone()))?;
        registry.register(Box::new(m.watermarks_sent.clone()))?;
        Ok(m)
    }
}
