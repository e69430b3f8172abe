//! A flood of forged clicks on a public referral link (each with a fresh visitor id, so each
//! makes a key) against the per-partition key cap: state stays bounded, the keys money depends
//! on (a pending conversion, an attributed order) are never evicted, the newest clicks stay,
//! and evictions are counted.

mod support;

use attributor::state::{Effects, Limits, PartitionState};
use chrono::Duration;
use support::*;

fn flood_click(n: usize) -> schemas::EnrichedTouchpoint {
    let mut e = click(
        &format!("flood-{n}"),
        "p-public",
        t(0) + Duration::seconds(n as i64),
    );
    let visitor = format!("bot-{n}");
    e.attribution_key = format!("shop/{visitor}");
    e.touchpoint.visitor_id = Some(visitor);
    e
}

#[test]
fn a_click_flood_is_bounded_by_the_cap_and_never_evicts_what_money_depends_on() {
    let catalog = default_catalog();
    let limits = Limits {
        keys_max: 1_000,
        ..limits()
    };
    let mut state = PartitionState::new();
    let mut fx = Effects::default();
    let mut offset = 0;
    let mut apply =
        |state: &mut PartitionState, e: &schemas::EnrichedTouchpoint, fx: &mut Effects| {
            state
                .apply(offset, e, &catalog, &limits, fx)
                .expect("valid");
            offset += 1;
        };
    // A real customer: a click, then a conversion (attributed below), before the flood.
    apply(&mut state, &click("real-click", "p-honest", t(0)), &mut fx);
    apply(
        &mut state,
        &conversion("real-order", "o-1", 10_000, t(1)),
        &mut fx,
    );
    state.advance_idle(t(0) + Duration::days(1), &catalog, &mut fx);
    assert_eq!(fx.attributions.len(), 1, "the real order is attributed");

    let mut evicted = 0;
    let mut peak_keys = 0;
    let mut peak_bytes = 0;
    for n in 0..50_000 {
        apply(&mut state, &flood_click(n), &mut fx);
        // The harness enforces the cap at every checkpoint; here every 500 inputs.
        if n % 500 == 499 {
            evicted += state.enforce_key_cap(&limits);
            peak_keys = peak_keys.max(state.keys());
            peak_bytes = peak_bytes.max(state.approx_bytes());
        }
    }
    evicted += state.enforce_key_cap(&limits);
    assert!(state.keys() <= 1_000, "{} keys", state.keys());
    assert!(peak_keys <= 1_000 + 500, "{peak_keys} keys at a checkpoint");
    assert!(evicted >= 49_000 - 1_000, "{evicted} evicted");
    // Bytes stay at the cap's worth, not the flood's.
    let per_key = peak_bytes / peak_keys.max(1);
    assert!(peak_bytes <= (1_500) * per_key * 2, "{peak_bytes} bytes");
    eprintln!(
        "click flood: 50,000 forged keys → {} kept, {evicted} evicted, peak {peak_bytes} bytes (~{per_key} per key)",
        state.keys()
    );

    // The order's key survives (a refund still finds it), and the newest flood clicks stay.
    let mut refund_fx = Effects::default();
    let r = refund("real-refund", "o-1", 10_000, t(2));
    state
        .apply(offset, &r, &catalog, &limits, &mut refund_fx)
        .expect("valid");
    state.advance_idle(t(0) + Duration::days(60), &catalog, &mut refund_fx);
    assert!(
        refund_fx
            .attributions
            .iter()
            .any(|a| a.reverses_attribution_id.is_some()),
        "the refund reversed the real order: {:?}",
        refund_fx.attributions
    );
}

#[test]
fn under_the_cap_nothing_is_evicted() {
    let catalog = default_catalog();
    let limits = Limits {
        keys_max: 1_000,
        ..limits()
    };
    let mut state = PartitionState::new();
    let mut fx = Effects::default();
    for n in 0..1_000 {
        state
            .apply(n as i64, &flood_click(n), &catalog, &limits, &mut fx)
            .expect("valid");
    }
    assert_eq!(state.enforce_key_cap(&limits), 0);
    assert_eq!(state.keys(), 1_000);
}
