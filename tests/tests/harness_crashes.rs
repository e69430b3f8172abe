//! Every stateful service on the harness with an in-memory changelog (no broker): a run that
//! is killed between any two checkpoint writes, then restored from the changelog and re-read
//! from the last commit, gives exactly the outputs of a run that was never killed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use prometheus::Registry;
use reference::ReferenceData;
use runtime::kafka::Output;
use runtime::stateful::memory::{Crash, MemoryChangelog, Message, Plan, Simulation};
use runtime::stateful::{StateMetrics, StateParts, Stateful, StatefulLogic};
use runtime::{DeadLetterWriter, Health};
use schemas::{Attribution, CommissionDecision, EnrichedTouchpoint, EventKind, LedgerEntry};

const CHANGELOG: &str = "changelog";

fn harness<L: StatefulLogic>(
    logic: L,
    state_topic: &str,
    sim: &Simulation,
) -> Stateful<L, MemoryChangelog> {
    Stateful::new(
        logic,
        StateParts {
            state_topic: state_topic.into(),
            changelog_topic: CHANGELOG.into(),
            restore: sim.changelog.clone(),
            dead_letters: DeadLetterWriter::new("test", "dlq", 1024),
            metrics: StateMetrics::unregistered("test"),
            health: Health::default(),
            refresh_interval: std::time::Duration::from_secs(3600),
        },
    )
}

/// Numbers `(partition, key, payload)` messages of `topic` per partition, in order.
fn numbered(
    topic: &str,
    messages: impl IntoIterator<Item = (i32, Option<Vec<u8>>, Vec<u8>)>,
) -> Vec<Message> {
    let mut next: HashMap<i32, i64> = HashMap::new();
    messages
        .into_iter()
        .map(|(partition, key, payload)| {
            let offset = next.entry(partition).or_insert(0);
            *offset += 1;
            Message {
                topic: topic.into(),
                partition,
                offset: *offset - 1,
                key,
                payload: Some(payload),
            }
        })
        .collect()
}

/// The outputs of a clean run, then of runs killed at crash points spread over the run (every
/// `stride`-th batch, before the first checkpoint write, after one, after three, and after the
/// last before the offsets were stored), each compared by `seen`.
fn crash_anywhere<L, T: Ord + std::fmt::Debug>(
    make: impl Fn(&Simulation) -> Stateful<L, MemoryChangelog>,
    inputs: &[Message],
    batch: usize,
    stride: usize,
    seen: &impl Fn(&[Output]) -> BTreeSet<T>,
) -> usize
where
    L: StatefulLogic,
{
    let plan = Plan {
        batch,
        ..Plan::default()
    };
    let mut clean = Simulation::new(CHANGELOG);
    assert!(clean
        .run(&mut make(&clean), inputs, &plan)
        .expect("clean run"));
    let expected = seen(&clean.delivered);
    assert!(!expected.is_empty(), "the workload produces outputs");
    let batches = inputs.len().div_ceil(batch);
    let mut crashes = 0;
    for crash_batch in (0..batches).step_by(stride) {
        for writes in [0, 1, 3, usize::MAX] {
            let crash = Crash {
                batch: crash_batch,
                writes,
            };
            let mut sim = Simulation::new(CHANGELOG);
            let killed = Plan {
                crash: Some(crash),
                ..plan.clone()
            };
            if sim.run_and_restart(&make, inputs, &killed).expect("runs") {
                crashes += 1;
            }
            assert_eq!(seen(&sim.delivered), expected, "crash {crash:?}");
        }
    }
    crashes
}

/// The `T` records among `outputs` to `topic` (the enriched topic also carries watermarks).
fn decoded<T: schemas::AvroMessage>(outputs: &[Output], topic: &str) -> Vec<T> {
    outputs
        .iter()
        .filter(|o| &*o.topic == topic)
        .filter_map(|o| o.payload.as_deref())
        .filter(|payload| schemas::codec::is::<T>(payload))
        .map(|payload| schemas::decode(payload).expect("decodes"))
        .collect()
}

fn partition_of(key: &str) -> i32 {
    // FNV-1a: stable, so every run puts a key in the same partition.
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % 3) as i32
}

#[test]
fn the_attributor_gives_the_clean_attributions_after_a_crash_anywhere() {
    let env = tests::service_env("harness", &[]);
    let config = tests::attribution::attributor_config(&env);
    let reference = ReferenceData::preloaded(tests::attribution::catalog());
    let events = tests::attribution::workload(120, 2, 11);
    let inputs = numbered(
        "enriched",
        events.iter().map(|e| {
            let key = e.attribution_key.clone();
            (
                partition_of(&key),
                Some(key.into_bytes()),
                schemas::encode(e).expect("encodes"),
            )
        }),
    );
    let make = |sim: &Simulation| {
        let metrics =
            attributor::metrics::AttributorMetrics::register(&Registry::new()).expect("metrics");
        harness(
            attributor::app::Attributor::new(&config, Arc::clone(&reference), metrics),
            "enriched",
            sim,
        )
    };
    let topic = config.common.topics.attributions.clone();
    let seen = |outputs: &[Output]| -> BTreeSet<(String, Vec<u8>)> {
        outputs
            .iter()
            .filter(|o| *o.topic == *topic)
            .map(|o| {
                let a: Attribution =
                    schemas::decode(o.payload.as_deref().expect("payload")).expect("decodes");
                (a.attribution_id, o.payload.clone().expect("payload"))
            })
            .collect()
    };
    let crashes = crash_anywhere(make, &inputs, 40, 2, &seen);
    assert!(crashes > 10, "{crashes} crashes");
}

#[test]
fn the_risk_scorer_gives_the_clean_decisions_and_levels_after_a_crash_anywhere() {
    let env = tests::service_env("harness", &[]);
    let config = tests::risk::risk_config(&env);
    let reference = ReferenceData::preloaded(tests::attribution::catalog());
    let (signals, _actions) = tests::risk::bench_signals(1);
    let inputs = numbered(
        "signals",
        signals.into_iter().map(|(key, payload)| (0, key, payload)),
    );
    let make = |sim: &Simulation| {
        let metrics = risk::metrics::RiskMetrics::register(&Registry::new()).expect("metrics");
        harness(
            risk::app::Scorer::new(&config, Arc::clone(&reference), Default::default(), metrics),
            "signals",
            sim,
        )
    };
    let topics = config.common.topics.clone();
    let seen = |outputs: &[Output]| -> BTreeSet<(String, String)> {
        let decisions = decoded::<CommissionDecision>(outputs, &topics.commissions)
            .into_iter()
            .map(|d| {
                (
                    d.commission_id.clone(),
                    format!("{:?} {:?}", d.decision, d.decision_reasons),
                )
            });
        let levels = decoded::<schemas::RiskLevel>(outputs, &topics.risk_levels)
            .into_iter()
            .map(|l| {
                let counts = format!(
                    "{:?} {} {}/{}",
                    l.level, l.risk_percent, l.flagged_actions, l.scored_actions
                );
                (l.subject_id.clone(), counts)
            });
        decisions.chain(levels).collect()
    };
    let crashes = crash_anywhere(make, &inputs, 100, 4, &seen);
    assert!(crashes > 10, "{crashes} crashes");
}

#[test]
fn the_ledger_gives_the_clean_entries_after_a_crash_anywhere() {
    use schemas::commission::Decision;
    use tests::ledger::{decision, refund};
    let env = tests::service_env("harness", &[]);
    let config = tests::ledger::ledger_config(&env);
    let mut decisions = Vec::new();
    for i in 0..150i64 {
        let partner = format!("p{}", i % 7);
        let id = format!("c{i}");
        let kind = match i % 10 {
            0 => Decision::Held,
            1 => Decision::Reversed,
            _ => Decision::Payable,
        };
        // Every fifth refund overtakes its commission: it is parked until the commission comes.
        if i % 5 == 3 {
            decisions.push(refund(&format!("r{i}"), &id, &partner, 100, i));
        }
        decisions.push(decision(&id, &partner, 1_000 + i, kind, i));
        if i % 5 == 1 {
            decisions.push(refund(&format!("r{i}"), &id, &partner, 1_000 + i, i + 2));
        }
    }
    let commissions = config.common.topics.commissions.clone();
    let inputs = numbered(
        &commissions,
        decisions.iter().map(|d| {
            let key = d.partner_id.clone();
            (
                partition_of(&key),
                Some(key.into_bytes()),
                schemas::encode(d).expect("encodes"),
            )
        }),
    );
    let server = ledger_writer::store::connect(&config.clickhouse).expect("a ClickHouse client");
    let make = |sim: &Simulation| {
        let metrics =
            ledger_writer::metrics::LedgerMetrics::register(&Registry::new()).expect("metrics");
        let sink = ledger_writer::store::Sink::new(&server, "unused", metrics.sink.clone());
        harness(
            ledger_writer::app::LedgerLogic::new(&config, sink, metrics),
            &commissions,
            sim,
        )
    };
    let topic = config.common.topics.ledger_entries.clone();
    let seen = |outputs: &[Output]| -> BTreeSet<(String, String, i64)> {
        decoded::<LedgerEntry>(outputs, &topic)
            .into_iter()
            .map(|e| {
                (
                    e.entry_id,
                    format!("{} {:?}", e.commission_id, e.to_status),
                    e.amount_minor,
                )
            })
            .collect()
    };
    let crashes = crash_anywhere(make, &inputs, 25, 1, &seen);
    assert!(crashes > 10, "{crashes} crashes");
}

#[test]
fn the_enricher_keys_customer_only_events_through_bindings_after_a_crash_anywhere() {
    let env = tests::service_env("harness", &[]);
    let config = tests::enricher_config(&env);
    let reference = ReferenceData::preloaded(tests::attribution::catalog());
    let at = tests::attribution::base_time();
    let customers = 60;
    let mut events = Vec::new();
    for i in 0..customers {
        let mut lead = schemas::ValidTouchpoint::new(format!("lead-{i}"), EventKind::Lead, at);
        lead.program_id = Some("shop".into());
        lead.visitor_id = Some(format!("v{i}"));
        lead.customer_id = Some(format!("c{i}"));
        events.push(lead);
    }
    for i in 0..customers {
        let mut refund =
            schemas::ValidTouchpoint::new(format!("refund-{i}"), EventKind::Refund, at);
        refund.customer_id = Some(format!("c{i}"));
        events.push(refund);
    }
    let inputs = numbered(
        "valid",
        events.iter().map(|tp| {
            let key = tp.customer_id.clone().unwrap_or_default();
            (
                partition_of(&key),
                Some(key.into_bytes()),
                schemas::encode(tp).expect("encodes"),
            )
        }),
    );
    let make = |sim: &Simulation| {
        let metrics =
            enricher::metrics::EnricherMetrics::register(&Registry::new()).expect("metrics");
        harness(
            enricher::app::Enricher::new(&config, Arc::clone(&reference), metrics, 3, 3),
            "valid",
            sim,
        )
    };
    let topic = config.common.topics.touchpoints_enriched.clone();
    let seen = |outputs: &[Output]| -> BTreeSet<(String, String)> {
        decoded::<EnrichedTouchpoint>(outputs, &topic)
            .into_iter()
            .map(|e| (e.touchpoint.event_id, e.attribution_key))
            .collect()
    };
    let crashes = crash_anywhere(make, &inputs, 7, 1, &seen);
    assert!(crashes > 10, "{crashes} crashes");
    // And what the clean run gives is right: every refund reaches its lead's visitor.
    let mut clean = Simulation::new(CHANGELOG);
    let plan = Plan {
        batch: 7,
        ..Plan::default()
    };
    assert!(clean.run(&mut make(&clean), &inputs, &plan).expect("run"));
    let keys: BTreeMap<String, String> = seen(&clean.delivered).into_iter().collect();
    for i in 0..customers {
        assert_eq!(keys[&format!("refund-{i}")], format!("shop/v{i}"));
    }
}
