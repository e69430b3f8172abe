//! Wiring: the router (stateless: profiles, reviews, verification commands and the
//! pipeline's records in; signals keyed by specialist out) and the scorer (its apply step on
//! the stateful harness, the trust changelog co-partitioned with the signals topic), each its
//! own consumer group in one process.

use std::sync::Arc;
use std::time::Instant;

use prometheus::Registry;
use runtime::kafka::Cleanup;
use runtime::service::{LoopSpec, Service, Topic};
use runtime::settings::Topics;
use runtime::RuntimeError;
use tokio_util::sync::CancellationToken;

use crate::config::TrustConfig;
use crate::metrics::TrustMetrics;
use crate::router::{Router, RouterTopics};
use crate::scorer::Scorer;

/// Every topic the service reads or writes.
pub fn topics(t: &Topics) -> Vec<Topic<'_>> {
    vec![
        Topic::Stream(&t.touchpoints_enriched, Cleanup::Delete),
        Topic::Stream(&t.attributions, Cleanup::Delete),
        Topic::Stream(&t.ledger_entries, Cleanup::Delete),
        Topic::Stream(&t.claims, Cleanup::Delete),
        Topic::Stream(&t.risk_levels, Cleanup::Compact),
        Topic::Stream(&t.touchpoints_dlq, Cleanup::Delete),
        Topic::Stream(&t.commissions, Cleanup::Delete),
        // The ledger's commands, co-partitioned with the commissions (keyed by partner).
        Topic::Like {
            topic: &t.ledger_commands,
            cleanup: Cleanup::Delete,
            input: &t.commissions,
        },
        // Profiles are personal: compacted (the latest per specialist) and retained by time
        // (PERSONAL_RETENTION_MS); the scorer's state keeps each profile it read, and a
        // tombstone (`privacy erase-partner`) withdraws one.
        Topic::Stream(&t.trust_profiles, Cleanup::CompactDelete),
        Topic::Stream(&t.trust_reviews, Cleanup::Delete),
        Topic::Stream(&t.trust_commands, Cleanup::Delete),
        Topic::Stream(&t.trust_signals, Cleanup::Delete),
        Topic::Stream(&t.trust_specialists, Cleanup::Compact),
        Topic::Stream(&t.trust_verification, Cleanup::Delete),
        Topic::Reference(&t.reference_config),
        // Partition N holds the specialists of signals partition N. Profiles and reviews are
        // personal: compact + time retention, the state rewritten every STATE_REFRESH_SECONDS.
        Topic::Like {
            topic: &t.trust_state,
            cleanup: Cleanup::CompactDelete,
            input: &t.trust_signals,
        },
    ]
}

/// Runs the router and the scorer until `shutdown`, then drains and commits both.
pub async fn run(
    config: TrustConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let t = &config.common.topics;
    let service = Service::start("trust", &config.common, registry, shutdown, &topics(t)).await?;
    let metrics = TrustMetrics::register(service.registry()).map_err(|e| RuntimeError::Sink {
        store: "metrics",
        detail: e.to_string(),
    })?;
    // Which partners are specialists comes from the reference data.
    let Some(reference) = reference::follow(&service).await? else {
        return Ok(());
    };
    let mut router = Router {
        reference: Arc::clone(&reference),
        topics: RouterTopics {
            profiles: t.trust_profiles.clone(),
            reviews: t.trust_reviews.clone(),
            commands: t.trust_commands.clone(),
            touchpoints: t.touchpoints_enriched.clone(),
            attributions: t.attributions.clone(),
            ledger_entries: t.ledger_entries.clone(),
            claims: t.claims.clone(),
            risk_levels: t.risk_levels.clone(),
            commissions: t.commissions.clone(),
        },
        signals: Arc::from(t.trust_signals.as_str()),
        dead_letters: service.dead_letters(),
        metrics: metrics.clone(),
    };
    let scorer = Scorer {
        reference,
        specialists_topic: Arc::from(t.trust_specialists.as_str()),
        verification_topic: Arc::from(t.trust_verification.as_str()),
        rescore: config.rescore,
        last_rescore: Instant::now(),
        ledger_commands_topic: Arc::from(t.ledger_commands.as_str()),
        command_signer: config.command_signer.clone(),
        metrics,
    };
    let mut scorer = service.stateful(
        scorer,
        &t.trust_signals,
        &t.trust_state,
        "trust",
        config.restore_timeout,
    )?;
    let router_loop = service.consumer(LoopSpec {
        name: "router",
        client_id: "trust-router",
        group_id: &config.router_group_id,
        topics: &[
            &t.trust_profiles,
            &t.trust_reviews,
            &t.trust_commands,
            &t.touchpoints_enriched,
            &t.attributions,
            &t.ledger_entries,
            &t.claims,
            &t.risk_levels,
            &t.commissions,
        ],
        metrics_prefix: "trust_router",
    })?;
    let scorer_loop = service.consumer(LoopSpec {
        name: "scorer",
        client_id: "trust",
        group_id: &config.group_id,
        topics: &[&t.trust_signals],
        metrics_prefix: "trust_scorer",
    })?;
    service
        .run_two((router_loop, &mut router), (scorer_loop, &mut scorer))
        .await
}
