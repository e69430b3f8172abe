//! Wiring: the router (stateless) and the scorer (its apply step on the stateful harness),
//! each its own consumer group in one process, the reference follower, Kafka in and out.

use std::sync::Arc;

use prometheus::Registry;
use reference::ReferenceData;
use runtime::kafka::Cleanup;
use runtime::privacy::{ErasureTopics, WithErasure};
use runtime::service::{LoopSpec, Service, Topic};
use runtime::stateful::{payload, Applied, StatefulLogic};
use runtime::{encode, DeadLetterWriter, Input, Output, Processor, RuntimeError};
use schemas::attribution::Attribution;
use schemas::commission::Decision;
use schemas::risk::ScoredActionKind;
use schemas::touchpoint::SourceWatermark;
use schemas::{EnrichedTouchpoint, RiskSignal, RiskState};
use tokio_util::sync::CancellationToken;

use crate::config::RiskConfig;
use crate::level::level_name;
use crate::metrics::RiskMetrics;
use crate::router::{self, Source};
use crate::state::{Effects, ScorerSettings, ScorerState};

/// Re-keys what the scorer needs by program.
#[allow(missing_debug_implementations)]
pub struct RouterProcessor {
    enriched_topic: String,
    signals_topic: Arc<str>,
    dead_letters: DeadLetterWriter,
    metrics: RiskMetrics,
}

impl RouterProcessor {
    /// A router for `config`'s topics.
    pub fn new(config: &RiskConfig, metrics: RiskMetrics) -> RouterProcessor {
        let topics = &config.common.topics;
        RouterProcessor {
            enriched_topic: topics.touchpoints_enriched.clone(),
            signals_topic: Arc::from(topics.risk_signals.as_str()),
            dead_letters: DeadLetterWriter::new(
                "risk",
                &topics.touchpoints_dlq,
                config.common.dead_letter_payload_bytes_max,
            ),
            metrics,
        }
    }

    fn signal(&self, input: &Input<'_>, payload: &[u8]) -> Result<Option<RiskSignal>, String> {
        let source = Source {
            topic: input.topic,
            partition: input.partition,
            offset: input.offset,
        };
        if input.topic == self.enriched_topic {
            if schemas::codec::is::<SourceWatermark>(payload) {
                // The enricher's progress broadcast: nothing risk needs.
                return Ok(None);
            }
            let tp = schemas::decode::<EnrichedTouchpoint>(payload)
                .map_err(|e| format!("not an enriched touchpoint: {e}"))?;
            Ok(router::from_touchpoint(source, &tp))
        } else {
            let a = schemas::decode::<Attribution>(payload)
                .map_err(|e| format!("not an attribution: {e}"))?;
            Ok(Some(router::from_attribution(source, &a, payload)))
        }
    }
}

impl Processor for RouterProcessor {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        let result = match input.payload {
            Some(payload) => self.signal(input, payload),
            None => Err("empty message".into()),
        };
        match result {
            Ok(Some(signal)) => {
                let kind = if signal.click.is_some() {
                    "click"
                } else if signal.conversion.is_some() {
                    "conversion"
                } else {
                    "attribution"
                };
                self.metrics.forwarded.with_label_values(&[kind]).inc();
                outputs.push(Output::keyed(
                    Arc::clone(&self.signals_topic),
                    Some(signal.program_id.clone().into_bytes()),
                    encode("risk signal", &signal)?,
                ));
            }
            Ok(None) => self.metrics.not_needed.inc(),
            Err(detail) => {
                self.metrics
                    .dead_lettered
                    .with_label_values(&["router", "undecodable"])
                    .inc();
                outputs.push(
                    self.dead_letters
                        .reject(input, "undecodable", detail, None)?,
                );
            }
        }
        Ok(())
    }
}

/// The scorer's apply step over a signals partition.
#[allow(missing_debug_implementations)]
pub struct Scorer {
    reference: Arc<ReferenceData>,
    verified: Arc<crate::verified::VerifiedSpecialists>,
    settings: ScorerSettings,
    scores_topic: Arc<str>,
    decisions_topic: Arc<str>,
    levels_topic: Arc<str>,
    metrics: RiskMetrics,
    erasure: ErasureTopics,
    changelog: String,
    subjects_max: usize,
}

impl Scorer {
    /// A scorer over `reference`.
    pub fn new(
        config: &RiskConfig,
        reference: Arc<ReferenceData>,
        verified: Arc<crate::verified::VerifiedSpecialists>,
        metrics: RiskMetrics,
    ) -> Scorer {
        let topics = &config.common.topics;
        Scorer {
            reference,
            verified,
            settings: config.scorer.clone(),
            scores_topic: Arc::from(topics.risk_scores.as_str()),
            decisions_topic: Arc::from(topics.commissions.as_str()),
            levels_topic: Arc::from(topics.risk_levels.as_str()),
            metrics,
            erasure: ErasureTopics::new(topics),
            changelog: topics.risk_state.clone(),
            subjects_max: config.subjects_max,
        }
    }

    /// Holds the commissions of specialists not verified, where their program says so.
    fn hold_unverified(&self, effects: &mut Effects) {
        let catalog = self.reference.read();
        for d in &mut effects.decisions {
            let policy = catalog
                .program(&d.program_id)
                .and_then(|p| p.risk_policy.clone())
                .unwrap_or_else(crate::policy::default_policy);
            let specialist = catalog
                .partner(&d.partner_id)
                .is_some_and(|p| p.partner_kind == schemas::reference::PartnerKind::Specialist);
            let verified = self.verified.is_verified(&d.program_id, &d.partner_id);
            crate::policy::hold_unverified(d, &policy, specialist, verified);
        }
    }

    fn emit(&self, effects: Effects, outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        let m = &self.metrics;
        let nr = |k: &str, n: u64| m.not_rescored.with_label_values(&[k]).inc_by(n);
        nr("duplicate_signal", effects.duplicate_signals);
        nr("duplicate_attribution", effects.duplicate_attributions);
        nr("replayed", effects.replayed);
        m.join.with_label_values(&["waited"]).inc_by(effects.waited);
        m.join
            .with_label_values(&["scored_without_context"])
            .inc_by(effects.scored_without_context);
        m.passed_through
            .with_label_values(&["renewal"])
            .inc_by(effects.renewals);
        m.passed_through
            .with_label_values(&["refund"])
            .inc_by(effects.refunds);
        for score in &effects.scores {
            let action = match score.action {
                ScoredActionKind::Credit => "credit",
                ScoredActionKind::SelfReferralClaim => "self_referral_claim",
            };
            m.scored.with_label_values(&[action]).inc();
            for r in &score.reasons {
                m.reasons.with_label_values(&[&r.code]).inc();
            }
            outputs.push(Output::keyed(
                Arc::clone(&self.scores_topic),
                Some(format!("{}/{}", score.program_id, score.partner_id).into_bytes()),
                encode("risk score", score)?,
            ));
        }
        for d in &effects.decisions {
            let name = match d.decision {
                Decision::Payable => "payable",
                Decision::Held => "held",
                Decision::Reversed => "reversed",
            };
            m.decisions.with_label_values(&[name]).inc();
            outputs.push(Output::keyed(
                Arc::clone(&self.decisions_topic),
                Some(d.partner_id.clone().into_bytes()),
                encode("commission decision", d)?,
            ));
        }
        for l in &effects.levels {
            m.levels.with_label_values(&[level_name(l.level)]).inc();
            outputs.push(Output::keyed(
                Arc::clone(&self.levels_topic),
                Some(l.subject_id.clone().into_bytes()),
                encode("risk level", l)?,
            ));
        }
        Ok(())
    }
}

impl StatefulLogic for Scorer {
    type State = ScorerState;
    type Event = WithErasure<RiskSignal>;

    fn decode(&mut self, input: &Input<'_>) -> Result<WithErasure<RiskSignal>, String> {
        self.erasure.decode(input, |input| {
            self.metrics.signals.inc();
            schemas::decode(payload(input)?).map_err(|e| format!("not a risk signal: {e}"))
        })
    }

    fn restore(
        &self,
        _partition: i32,
        records: &mut dyn Iterator<Item = RiskState>,
    ) -> ScorerState {
        ScorerState::restore(records)
    }

    fn apply(
        &mut self,
        state: &mut ScorerState,
        input: &Input<'_>,
        event: WithErasure<RiskSignal>,
        outputs: &mut Vec<Output>,
    ) -> Result<Applied, RuntimeError> {
        let signal = match event {
            WithErasure::Event(signal) => signal,
            WithErasure::Erase(request) => {
                let (removed, redacted) = state.erase(&request);
                outputs.push(self.erasure.receipt(
                    &request,
                    "risk",
                    input.partition,
                    &self.changelog,
                    removed,
                    redacted,
                )?);
                return Ok(Applied::Done);
            }
        };
        let mut effects = Effects::default();
        let settings = &self.settings;
        let result = state.apply(
            input.offset,
            &signal,
            &self.reference.read(),
            settings,
            &mut effects,
        );
        self.hold_unverified(&mut effects);
        self.emit(effects, outputs)?;
        Ok(Applied::of(result, None))
    }

    fn before_checkpoint(&mut self, partitions: &mut runtime::stateful::Partitions<ScorerState>) {
        let evicted: usize = partitions
            .values_mut()
            .map(|state| state.enforce_subject_cap(self.subjects_max))
            .sum();
        if evicted > 0 {
            self.metrics.evicted_subjects.inc_by(evicted as u64);
            tracing::warn!(evicted, cap = self.subjects_max, "Subject cap reached (RISK_SUBJECTS_PER_PARTITION_MAX): evicted SharedId subjects with clicks only.");
        }
    }

    fn dead_lettered(&self, reason: &str) {
        self.metrics
            .dead_lettered
            .with_label_values(&["scorer", reason])
            .inc();
    }
}

/// Runs the router and the scorer until `shutdown`, then drains and commits both.
pub async fn run(
    config: RiskConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let t = &config.common.topics;
    let service = Service::start(
        "risk",
        &config.common,
        registry,
        shutdown,
        &[
            Topic::Stream(&t.touchpoints_enriched, Cleanup::Delete),
            Topic::Stream(&t.attributions, Cleanup::Delete),
            Topic::Stream(&t.risk_signals, Cleanup::Delete),
            Topic::Stream(&t.risk_scores, Cleanup::Delete),
            Topic::Stream(&t.commissions, Cleanup::Delete),
            Topic::Stream(&t.risk_levels, Cleanup::Compact),
            Topic::Stream(&t.touchpoints_dlq, Cleanup::Delete),
            Topic::Stream(&t.trust_specialists, Cleanup::Compact),
            Topic::Reference(&t.reference_config),
            // State partition N holds the programs of signals partition N.
            Topic::Like {
                topic: &t.risk_state,
                cleanup: Cleanup::CompactDelete,
                input: &t.risk_signals,
            },
            Topic::Like {
                topic: &t.privacy_requests,
                cleanup: Cleanup::Delete,
                input: &t.risk_signals,
            },
            Topic::Stream(&t.privacy_receipts, Cleanup::Delete),
        ],
    )
    .await?;
    let metrics = RiskMetrics::register(service.registry())?;
    // Policies, thresholds and hold periods come from the programs: scoring without them
    // would decide wrongly, so consumption waits for the reference data.
    let Some(reference) = reference::follow(&service).await? else {
        return Ok(());
    };
    // Specialists' verification (the trust service's records), for programs that hold the
    // commissions of the unverified.
    let verified = crate::verified::follow(
        &config.common.kafka,
        &t.trust_specialists,
        service.shutdown().clone(),
    )?;
    let mut router = RouterProcessor::new(&config, metrics.clone());
    let mut scorer = service.stateful(
        Scorer::new(&config, reference, verified, metrics),
        &t.risk_signals,
        &t.risk_state,
        "risk",
        config.restore_timeout,
    )?;
    let router_loop = service.consumer(LoopSpec {
        name: "router",
        client_id: "risk-router",
        group_id: &config.router_group_id,
        topics: &[&t.touchpoints_enriched, &t.attributions],
        metrics_prefix: "risk_router",
    })?;
    let scorer_loop = service.consumer(LoopSpec {
        name: "scorer",
        client_id: "risk",
        group_id: &config.group_id,
        topics: &[&t.risk_signals, &t.privacy_requests],
        metrics_prefix: "risk",
    })?;
    service
        .run_two((router_loop, &mut router), (scorer_loop, &mut scorer))
        .await
}
