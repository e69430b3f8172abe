//! The sweep: a slice of keys per checkpoint expires exactly what one whole sweep does, and
//! never rewrites more keys in one checkpoint than its slice.

mod support;

use attributor::state::{Effects, PartitionState};
use schemas::EnrichedTouchpoint;
use support::*;

/// 1,000 visitors: clicks spread over 60 days, half of them with a conversion, then one
/// event 40 days after the last, so the clicks of the first weeks have expired (30-day
/// window) but nobody touched their keys since.
fn state() -> PartitionState {
    let catalog = default_catalog();
    let mut state = PartitionState::new();
    let mut effects = Effects::default();
    let mut offset = 0;
    let mut apply = |state: &mut PartitionState, e: EnrichedTouchpoint| {
        state
            .apply(offset, &e, &catalog, &limits(), &mut effects)
            .expect("valid");
        offset += 1;
    };
    for i in 0..1_000 {
        let key = format!("shop/v-{i}");
        let at = t(i * 86);
        let mut c = click(&format!("c{i}"), "p-anna", at);
        c.attribution_key = key.clone();
        apply(&mut state, c);
        if i % 2 == 0 {
            let mut k = conversion(&format!("k{i}"), &format!("o-{i}"), 1_000, t(i * 86 + 30));
            k.attribution_key = key;
            apply(&mut state, k);
        }
    }
    let mut last = event("late", schemas::EventKind::PageView, t(100 * 24 * 60));
    last.attribution_key = "shop/v-late".into();
    apply(&mut state, last);
    state.take_changes();
    state
}

#[test]
fn a_sweep_in_slices_expires_what_one_whole_sweep_does() {
    let catalog = default_catalog();
    let mut whole = state();
    let changed = whole.sweep(&catalog, &limits());
    assert!(changed > 300, "{changed} keys had expired clicks");
    let whole_changes = whole.take_changes();

    let mut sliced = state();
    sliced.start_sweep();
    let mut steps = 0;
    let mut sliced_changes = Vec::new();
    while sliced.sweeping() {
        let changed = sliced.sweep_step(&catalog, &limits(), 64);
        let written = sliced.take_changes();
        assert!(
            changed <= 64 && written.len() <= 64,
            "one slice per checkpoint"
        );
        sliced_changes.extend(written);
        steps += 1;
    }
    assert_eq!(steps, 1_001_usize.div_ceil(64));
    assert_eq!(sliced.keys(), whole.keys());
    assert_eq!(sliced.touchpoints(), whole.touchpoints());
    let sorted = |mut c: Vec<_>| {
        c.sort_by(|a: &(String, _), b| a.0.cmp(&b.0));
        c
    };
    assert_eq!(sorted(sliced_changes), sorted(whole_changes));
}
