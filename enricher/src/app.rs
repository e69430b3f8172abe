//! Wiring: the enricher's apply step on the stateful harness (bindings on the changelog), the
//! reference follower, Kafka in and out.

use std::sync::Arc;

use chrono::Utc;
use prometheus::Registry;
use reference::ReferenceData;
use runtime::kafka::Cleanup;
use runtime::service::{LoopSpec, Service, Topic};
use runtime::stateful::{payload, Applied, StatefulLogic};
use runtime::{Input, Output, RuntimeError};
use schemas::touchpoint::ResolvedBy;
use schemas::{IdentityBinding, ValidTouchpoint};
use tokio_util::sync::CancellationToken;

use crate::config::EnricherConfig;
use crate::enrich::{enrich, Position};
use crate::identity::KeySource;
use crate::metrics::EnricherMetrics;
use crate::state::EnricherState;

/// The enricher's apply step: one valid touchpoint in, one enriched touchpoint (or a dead
/// letter) out, and the customer's binding when the event makes one.
#[allow(missing_debug_implementations)]
pub struct Enricher {
    reference: Arc<ReferenceData>,
    output_topic: Arc<str>,
    referral_parameters: Vec<String>,
    metrics: EnricherMetrics,
    source_partitions: i32,
}

impl Enricher {
    /// The enricher over `reference`; `source_partitions` is the input topic's partition
    /// count, stamped on every output so a merge waits for sources it has not heard from.
    pub fn new(
        config: &EnricherConfig,
        reference: Arc<ReferenceData>,
        metrics: EnricherMetrics,
        source_partitions: i32,
    ) -> Enricher {
        Enricher {
            reference,
            output_topic: Arc::from(config.common.topics.touchpoints_enriched.as_str()),
            referral_parameters: config.referral_parameters.clone(),
            metrics,
            source_partitions,
        }
    }

    fn count(&self, record: &schemas::EnrichedTouchpoint, key_source: KeySource) {
        let partner = &record.partner;
        let outcome = match (partner.partner_id.is_some(), partner.resolved_by) {
            (true, ResolvedBy::Link) => "link",
            (true, ResolvedBy::QueryParameter) => "query_parameter",
            (true, ResolvedBy::Code) => "code",
            _ if partner.unresolved_reason.is_some() => "unresolved",
            _ if record.utm.source.is_some() || record.utm.campaign.is_some() => "utm_only",
            _ => "none",
        };
        self.metrics.enriched.with_label_values(&[outcome]).inc();
        if let Some(reason) = &partner.unresolved_reason {
            self.metrics.unresolved.with_label_values(&[reason]).inc();
        }
        let source = match key_source {
            KeySource::Visitor => "visitor",
            KeySource::Binding => "binding",
            KeySource::CustomerOnly => "customer_only",
        };
        self.metrics.identity.with_label_values(&[source]).inc();
    }
}

impl StatefulLogic for Enricher {
    type State = EnricherState;
    type Event = ValidTouchpoint;

    fn decode(&mut self, input: &Input<'_>) -> Result<ValidTouchpoint, String> {
        self.metrics.consumed.inc();
        schemas::decode(payload(input)?).map_err(|e| format!("not a valid touchpoint: {e}"))
    }

    fn restore(&self, _partition: i32, records: Vec<IdentityBinding>) -> EnricherState {
        EnricherState::restore(records)
    }

    fn apply(
        &mut self,
        state: &mut EnricherState,
        input: &Input<'_>,
        touchpoint: ValidTouchpoint,
        outputs: &mut Vec<Output>,
    ) -> Result<Applied, RuntimeError> {
        let event_id = touchpoint.event_id.clone();
        let at = Position {
            partition: input.partition,
            offset: input.offset,
        };
        let result = enrich(
            touchpoint,
            at,
            &self.reference.read(),
            &mut state.bindings,
            &self.referral_parameters,
            Utc::now(),
        );
        let mut enriched = match result {
            Ok(enriched) => enriched,
            Err(rejection) => {
                return Ok(Applied::Rejected {
                    reason: rejection.reason(),
                    detail: rejection.detail(),
                    event_id: Some(event_id),
                })
            }
        };
        if let Some(binding) = enriched.new_binding.take() {
            self.metrics.bindings_created.inc();
            state.written.push(binding);
        }
        let occurred_at = enriched.record.touchpoint.occurred_at;
        enriched.record.source = Some(state.stamp.stamp(
            input.partition,
            self.source_partitions,
            occurred_at,
        ));
        let record = &enriched.record;
        let payload = schemas::encode(record).map_err(|error| RuntimeError::Encode {
            what: "enriched touchpoint",
            error,
        })?;
        outputs.push(Output::keyed(
            Arc::clone(&self.output_topic),
            Some(record.attribution_key.as_bytes().to_vec()),
            payload,
        ));
        self.count(record, enriched.key_source);
        Ok(Applied::Done)
    }

    fn dead_lettered(&self, reason: &str) {
        self.metrics
            .dead_lettered
            .with_label_values(&[reason])
            .inc();
    }
}

/// Runs the enricher until `shutdown`, then drains and commits.
pub async fn run(
    config: EnricherConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let t = &config.common.topics;
    let service = Service::start(
        "enricher",
        &config.common,
        registry,
        shutdown,
        &[
            Topic::Stream(&t.touchpoints_valid, Cleanup::Delete),
            Topic::Stream(&t.touchpoints_enriched, Cleanup::Delete),
            Topic::Stream(&t.touchpoints_dlq, Cleanup::Delete),
            // Binding partition N holds the bindings of input partition N.
            Topic::Like {
                topic: &t.identity_bindings,
                cleanup: Cleanup::Compact,
                input: &t.touchpoints_valid,
            },
            Topic::Reference(&t.reference_config),
        ],
    )
    .await?;
    let metrics = EnricherMetrics::register(service.registry())?;
    // Enriching against an empty catalogue would dead-letter every event.
    let Some(reference) = reference::follow(&service).await? else {
        return Ok(());
    };
    let sources = service.partitions(&t.touchpoints_valid)?;
    let mut processor = service.stateful(
        Enricher::new(&config, reference, metrics, sources),
        &t.touchpoints_valid,
        &t.identity_bindings,
        "enricher",
        config.restore_timeout,
    )?;
    let consumer = service.consumer(LoopSpec {
        name: "consumer",
        client_id: "enricher",
        group_id: &config.group_id,
        topics: &[&t.touchpoints_valid],
        metrics_prefix: "enricher",
    })?;
    service.run(consumer, &mut processor).await
}

#[cfg(test)]
mod tests {
    //! The enricher on the harness with an in-memory changelog: whatever write a crash
    //! interrupts, a customer-only event after its customer's lead reaches the lead's visitor.

    use std::collections::BTreeSet;

    use chrono::{TimeZone, Utc};
    use reference::Catalog;
    use runtime::stateful::memory::{Crash, Message, Plan, Simulation};
    use runtime::stateful::{StateMetrics, StateParts, Stateful};
    use runtime::{DeadLetterWriter, Health};
    use schemas::{EnrichedTouchpoint, EventKind};

    use super::*;

    const REFERENCE: &str = r#"
[[programs]]
id = "acme"
brand = "Acme"
domains = ["acme.example"]
currency = "EUR"
"#;

    fn enricher(
        sim: &Simulation,
    ) -> Stateful<Enricher, runtime::stateful::memory::MemoryChangelog> {
        let env = std::collections::HashMap::new();
        let config = crate::config::EnricherConfig::from_env(&mut runtime::Env::from_map(env))
            .expect("defaults");
        let catalog = Catalog::from_set(&reference::parse(REFERENCE).expect("valid"));
        let metrics = EnricherMetrics::register(&Registry::new()).expect("metrics");
        let logic = Enricher::new(&config, ReferenceData::preloaded(catalog), metrics, 2);
        Stateful::new(
            logic,
            StateParts {
                state_topic: "valid".into(),
                changelog_topic: "bindings".into(),
                restore: sim.changelog.clone(),
                dead_letters: DeadLetterWriter::new("enricher", "dlq", 1024),
                metrics: StateMetrics::unregistered("enricher"),
                health: Health::default(),
            },
        )
    }

    /// Per customer: a lead binding visitor `v<i>` (partition i % 2), then a customer-only
    /// refund; the refunds of half the customers come before any lead of the other half.
    fn inputs(customers: usize) -> Vec<Message> {
        let at = Utc
            .with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
            .single()
            .expect("time");
        let mut next = [0i64; 2];
        let mut message = |i: usize, tp: ValidTouchpoint| {
            let partition = (i % 2) as i32;
            let offset = next[partition as usize];
            next[partition as usize] += 1;
            Message {
                topic: "valid".into(),
                partition,
                offset,
                key: None,
                payload: Some(schemas::encode(&tp).expect("encodes")),
            }
        };
        let mut out = Vec::new();
        for i in 0..customers {
            let mut lead = ValidTouchpoint::new(format!("lead-{i}"), EventKind::Lead, at);
            lead.program_id = Some("acme".into());
            lead.visitor_id = Some(format!("v{i}"));
            lead.customer_id = Some(format!("c{i}"));
            out.push(message(i, lead));
        }
        for i in 0..customers {
            let mut refund = ValidTouchpoint::new(format!("refund-{i}"), EventKind::Refund, at);
            refund.customer_id = Some(format!("c{i}"));
            out.push(message(i, refund));
        }
        out
    }

    fn keys(outputs: &[Output]) -> BTreeSet<(String, String)> {
        outputs
            .iter()
            .filter(|o| &*o.topic == "attrib.touchpoints.enriched.v1")
            .map(|o| {
                let e: EnrichedTouchpoint =
                    schemas::decode(o.payload.as_deref().expect("payload")).expect("decodes");
                (e.touchpoint.event_id, e.attribution_key)
            })
            .collect()
    }

    #[test]
    fn bindings_survive_a_crash_at_every_checkpoint_write() {
        let inputs = inputs(12);
        for batch in [1, 3, 7] {
            for crash_batch in 0..8 {
                for writes in [0, 1, 2, usize::MAX] {
                    let mut sim = Simulation::new("bindings");
                    let crash = Some(Crash {
                        batch: crash_batch,
                        writes,
                    });
                    let plan = Plan {
                        batch,
                        crash,
                        rebalance: None,
                    };
                    if !sim.run(&mut enricher(&sim), &inputs, &plan).expect("run") {
                        let plan = Plan {
                            batch,
                            ..Plan::default()
                        };
                        assert!(sim
                            .run(&mut enricher(&sim), &inputs, &plan)
                            .expect("restart"));
                    }
                    let keys = keys(&sim.delivered);
                    for i in 0..12 {
                        assert!(
                            keys.contains(&(format!("refund-{i}"), format!("acme/v{i}"))),
                            "batch {batch}, crash {crash:?}: refund-{i} not keyed through its binding: {keys:?}"
                        );
                    }
                    assert_eq!(keys.len(), 24, "one key per event, however often re-read");
                }
            }
        }
    }
}
