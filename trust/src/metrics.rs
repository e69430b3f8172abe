//! The trust service's metrics (`trust_*`).

use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Every counter and gauge of the service.
#[derive(Clone, Debug)]
pub struct TrustMetrics {
    /// `trust_signals_routed_total{kind}`: signals the router keyed by specialist.
    pub routed: IntCounterVec,
    /// `trust_dead_lettered_total{reason}`: inputs dead-lettered by router or scorer.
    pub dead_lettered: IntCounterVec,
    /// `trust_verification_commands_total{action,outcome}`: commands accepted or refused.
    pub commands: IntCounterVec,
    /// `trust_records_published_total`: trust records written to the compacted topic.
    pub published: prometheus::IntCounter,
    /// `trust_specialists{status}`: specialists held, by verification status.
    pub specialists: IntGaugeVec,
    /// `trust_listed_specialists`: (specialist, program) pairs listed in discovery.
    pub listed: IntGauge,
    /// `trust_held_lines_settled_total{outcome}`: lines held until verification, approved or
    /// reversed by the scorer's ledger commands.
    pub released: IntCounterVec,
    /// `trust_settings_refused_total`: rankings made with the defaults because a program's
    /// trust settings fail their checks (`reference publish` refuses such settings).
    pub settings_refused: prometheus::IntCounter,
}

impl TrustMetrics {
    /// Creates and registers the metrics.
    pub fn register(registry: &Registry) -> prometheus::Result<TrustMetrics> {
        let m = TrustMetrics {
            routed: IntCounterVec::new(
                Opts::new("trust_signals_routed_total", "Signals the router keyed by specialist, by kind."),
                &["kind"],
            )?,
            dead_lettered: IntCounterVec::new(
                Opts::new("trust_dead_lettered_total", "Inputs dead-lettered (unreadable, not a specialist, a review refused at intake), by reason."),
                &["reason"],
            )?,
            commands: IntCounterVec::new(
                Opts::new("trust_verification_commands_total", "Verification commands judged, by action and outcome (accepted, refused)."),
                &["action", "outcome"],
            )?,
            published: prometheus::IntCounter::new(
                "trust_records_published_total",
                "Trust records written to the compacted trust topic.",
            )?,
            specialists: IntGaugeVec::new(
                Opts::new("trust_specialists", "Specialists held by this instance, by verification status."),
                &["status"],
            )?,
            listed: IntGauge::new(
                "trust_listed_specialists",
                "Specialists held by this instance that are listed (verified).",
            )?,
            released: IntCounterVec::new(
                Opts::new("trust_held_lines_settled_total", "Commissions held until verification that the scorer's signed ledger commands approved (verified) or reversed (rejected)."),
                &["outcome"],
            )?,
            settings_refused: prometheus::IntCounter::new(
                "trust_settings_refused_total",
                "Rankings made with the documented defaults because the program's trust settings fail their checks.",
            )?,
        };
        registry.register(Box::new(m.settings_refused.clone()))?;
        registry.register(Box::new(m.released.clone()))?;
        registry.register(Box::new(m.routed.clone()))?;
        registry.register(Box::new(m.dead_lettered.clone()))?;
        registry.register(Box::new(m.commands.clone()))?;
        registry.register(Box::new(m.published.clone()))?;
        registry.register(Box::new(m.specialists.clone()))?;
        registry.register(Box::new(m.listed.clone()))?;
        Ok(m)
    }
}
