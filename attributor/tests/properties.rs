//! Property tests of the attributor's invariants over generated event sequences: money adds
//! up, output is a pure function of input order, duplicates never pay twice, and a crash at
//! any point followed by a restore from the changelog changes nothing.

mod support;

use std::collections::BTreeMap;

use attributor::state::{Effects, PartitionState};
use chrono::Duration;
use proptest::prelude::*;
use reference::Catalog;
use schemas::attribution::{AttributionKind, AttributionOutcome};
use schemas::{Attribution, AttributorState, EnrichedTouchpoint};
use support::*;

const PARTNERS: [&str; 6] = ["p-anna", "p-bob", "p-cara", "p-dan", "p-sus", "p-self"];
const MODELS: [&str; 5] = [
    "last_touch",
    "first_touch",
    "linear",
    "time_decay",
    "position_based",
];

type Step = (u8, u8, usize, i64, i64, u8, i64);

fn events(steps: &[Step]) -> Vec<EnrichedTouchpoint> {
    let mut minute = 0i64;
    steps
        .iter()
        .enumerate()
        .map(
            |(i, (kind, visitor, partner, gap, jitter, order, amount))| {
                minute += gap;
                let at = t(minute - jitter);
                let id = format!("e{i}");
                let partner = PARTNERS[*partner];
                let order = format!("o-{visitor}-{order}");
                let mut e = match kind {
                    0..=2 => click(&id, partner, at),
                    3 => view(&id, partner, at),
                    4 => code(&id, partner, at),
                    5 | 6 => {
                        let mut c = conversion(&id, &order, *amount, at);
                        c.touchpoint.chain_id = Some(format!("sub-{visitor}"));
                        c.touchpoint.chain_seq =
                            Some(if *kind == 5 { 1 } else { 2 + (i as i32 % 3) });
                        if *kind == 6 {
                            c.touchpoint.order_id = Some(format!("{order}-r{i}"));
                        }
                        c
                    }
                    _ => refund(&id, &order, *amount / 3, at),
                };
                e.attribution_key = format!("shop/v-{visitor}");
                e.touchpoint.visitor_id = Some(format!("v-{visitor}"));
                e.touchpoint.customer_id = Some(format!("cust-{visitor}"));
                e
            },
        )
        .collect()
}

fn step() -> impl Strategy<Value = Step> {
    (
        0u8..8,
        0u8..3,
        0usize..6,
        0i64..600,
        0i64..20,
        0u8..4,
        1i64..50_000,
    )
}

fn end_of(events: &[EnrichedTouchpoint]) -> chrono::DateTime<chrono::Utc> {
    events
        .iter()
        .map(|e| e.touchpoint.occurred_at)
        .max()
        .unwrap_or_else(|| t(0))
        + Duration::days(1)
}

fn encoded(out: &[Attribution]) -> Vec<Vec<u8>> {
    out.iter()
        .map(|a| schemas::encode(a).expect("encodes"))
        .collect()
}

/// Latest record per key, as a compacted changelog would keep it.
fn persist(
    log: &mut BTreeMap<String, AttributorState>,
    records: Vec<(String, Option<AttributorState>)>,
) {
    for (key, record) in records {
        match record {
            Some(r) => drop(log.insert(key, r)),
            None => drop(log.remove(&key)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn money_adds_up_and_replay_is_byte_identical(
        steps in proptest::collection::vec(step(), 1..60),
        model in 0usize..5,
    ) {
        let catalog: Catalog = catalog(&format!("model = \"{}\"\ngrace_seconds = 600", MODELS[model]));
        let input = events(&steps);
        let (first, _) = run(&catalog, &input);
        let (second, _) = run(&catalog, &input);
        prop_assert_eq!(encoded(&first), encoded(&second));

        let mut commission_ids = std::collections::HashSet::new();
        let mut attribution_ids = std::collections::HashSet::new();
        for a in &first {
            prop_assert!(attribution_ids.insert(a.attribution_id.clone()), "attribution twice: {}", a.attribution_id);
            let total: i64 = a.credits.iter().map(|c| c.commission_minor).sum();
            prop_assert_eq!(total, a.commission_total_minor);
            for c in &a.credits {
                prop_assert!(commission_ids.insert(c.commission_id.clone()), "commission twice: {}", c.commission_id);
            }
            if a.kind == AttributionKind::Conversion && a.outcome == AttributionOutcome::Attributed {
                let revenue: i64 = a.credits.iter().map(|c| c.revenue_minor).sum();
                prop_assert_eq!(revenue, a.amount_minor);
                if a.chain_seq == Some(1) {
                    let shares: rust_decimal::Decimal = a.credits.iter().map(|c| c.share).sum();
                    prop_assert_eq!(shares, rust_decimal::Decimal::ONE);
                }
                prop_assert!(a.credits.iter().all(|c| c.commission_minor >= 0));
            }
        }
    }

    #[test]
    fn a_duplicated_input_stream_pays_nothing_twice(steps in proptest::collection::vec(step(), 1..40)) {
        let catalog = default_catalog();
        let input = events(&steps);
        // Every conversion and refund delivered twice (a producer retry), at later offsets.
        let mut doubled = input.clone();
        doubled.extend(input.iter().filter(|e| e.touchpoint.order_id.is_some()).cloned());
        let (once, _) = run(&catalog, &input);
        let (twice, _) = run(&catalog, &doubled);
        // Every commission line item is emitted exactly once. (A refund of an order never
        // seen is not remembered, so its copy repeats the same unattributed, commission-free
        // record under the same id, which consumers de-duplicate.)
        let commission_ids: Vec<&str> = twice
            .iter()
            .flat_map(|a| a.credits.iter().map(|c| c.commission_id.as_str()))
            .collect();
        let distinct: std::collections::HashSet<&&str> = commission_ids.iter().collect();
        prop_assert_eq!(distinct.len(), commission_ids.len());
        let distinct = |out: &[Attribution]| -> BTreeMap<String, Vec<u8>> {
            out.iter().map(|a| (a.attribution_id.clone(), schemas::encode(a).expect("encodes"))).collect()
        };
        prop_assert_eq!(distinct(&once), distinct(&twice));
        let remembered = |out: &[Attribution]| {
            out.iter().filter(|a| a.unattributed_reason.as_deref() != Some("unknown_order")).count()
        };
        prop_assert_eq!(remembered(&once), remembered(&twice));
    }

    #[test]
    fn a_crash_anywhere_then_restore_gives_the_same_attributions(
        steps in proptest::collection::vec(step(), 2..60),
        checkpoint_at in 0usize..60,
        crash_after in 0usize..60,
        persisted in proptest::collection::vec(any::<bool>(), 0..8),
    ) {
        let catalog = catalog("model = \"linear\"\ngrace_seconds = 600");
        let input = events(&steps);
        let (clean, _) = run(&catalog, &input);
        let committed = checkpoint_at.min(input.len());
        let crash = (committed + crash_after).min(input.len());

        // First life: process to the committed offset and checkpoint fully, then on to the
        // crash point; the outputs of everything processed were acknowledged (they are
        // flushed before any changelog record of their batch), then only some of the batch's
        // key records made it to the changelog and the position record did not.
        let mut log = BTreeMap::new();
        let mut state = PartitionState::new();
        let mut effects = Effects::default();
        for (offset, e) in input.iter().enumerate().take(committed) {
            state.apply(offset as i64, e, &catalog, &limits(), &mut effects).expect("valid");
        }
        persist(&mut log, state.take_changes());
        if let Some(p) = state.take_position() {
            log.insert("~position".into(), p);
        }
        for (offset, e) in input.iter().enumerate().take(crash).skip(committed) {
            state.apply(offset as i64, e, &catalog, &limits(), &mut effects).expect("valid");
        }
        let changes = state.take_changes();
        let kept: Vec<_> = changes
            .into_iter()
            .enumerate()
            .filter(|(i, _)| persisted.get(*i).copied().unwrap_or(false))
            .map(|(_, c)| c)
            .collect();
        persist(&mut log, kept);
        let mut delivered = effects.attributions;

        // Second life: restore, re-read from the committed offset, run to the end.
        // Restored as the service restores: each record encoded, then decoded borrowed.
        let payloads: Vec<Vec<u8>> = log
            .into_values()
            .map(|r| schemas::encode(&r).expect("encodes"))
            .collect();
        let mut state =
            PartitionState::restore_encoded(payloads.iter().map(Vec::as_slice), &catalog)
                .expect("decodes");
        let mut effects = Effects::default();
        for (offset, e) in input.iter().enumerate().skip(committed) {
            state.apply(offset as i64, e, &catalog, &limits(), &mut effects).expect("valid");
        }
        state.advance_idle(end_of(&input), &catalog, &mut effects);
        delivered.extend(effects.attributions);

        // Downstream de-duplicates on attribution id: every copy must be byte-identical,
        // and the distinct set must be the clean run's.
        let mut by_id: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for a in &delivered {
            let bytes = schemas::encode(a).expect("encodes");
            if let Some(previous) = by_id.insert(a.attribution_id.clone(), bytes.clone()) {
                prop_assert_eq!(previous, bytes, "two different payloads for {}", a.attribution_id);
            }
        }
        let expected: BTreeMap<String, Vec<u8>> = clean
            .iter()
            .map(|a| (a.attribution_id.clone(), schemas::encode(a).expect("encodes")))
            .collect();
        prop_assert_eq!(by_id, expected);
    }
}
