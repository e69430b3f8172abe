//! Benchmark: how long the attributor's sweep holds input back. In process (no broker): a
//! partition holding VISITORS keys (the attributor benchmark's click-heavy mix) whose clicks
//! have all expired — the worst case, every key changes — is swept at once (the baseline, what
//! the attributor did before) and in slices of 5,000 keys per checkpoint (what it does now),
//! each step timed with the changelog records it makes encoded, as a checkpoint writes them.
//!
//!     cargo run --release -p tests --bin bench_sweep -- [VISITORS]

use std::time::{Duration, Instant};

use attributor::state::{Effects, PartitionState};
use schemas::EventKind;
use tests::attribution::{base_time, bench_workload, catalog, enriched, limits};

/// Keys per checkpoint, as the attributor sweeps (`SWEEP_KEYS_PER_CHECKPOINT`).
const SLICE: usize = 5_000;

/// One checkpoint's share of the work: the keys changed, encoded as changelog records.
fn write(state: &mut PartitionState) -> usize {
    state
        .take_changes()
        .into_iter()
        .filter_map(|(_, record)| record)
        .map(|record| schemas::encode(&record).map_or(0, |b| b.len()))
        .sum()
}

/// A partition of `visitors` keys, then an event 40 days on: every click has expired.
fn expired(visitors: usize) -> PartitionState {
    let catalog = catalog();
    let limits = limits();
    let mut state = PartitionState::new();
    let mut effects = Effects::default();
    let events = bench_workload(visitors, 7);
    let late = enriched(
        "late".into(),
        EventKind::PageView,
        "shop/v-late",
        base_time() + chrono::Duration::days(40),
    );
    for (offset, e) in events.iter().chain([&late]).enumerate() {
        state
            .apply(offset as i64, e, &catalog, &limits, &mut effects)
            .expect("valid");
    }
    write(&mut state);
    state
}

fn main() {
    let visitors: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let catalog = catalog();
    let limits = limits();
    println!("sweep benchmark: {visitors} keys, every click expired (every key changes)");

    let mut state = expired(visitors);
    let started = Instant::now();
    let changed = state.sweep(&catalog, &limits);
    let bytes = write(&mut state);
    let whole = started.elapsed();
    println!(
        "whole sweep (baseline): one checkpoint of {:.0} ms ({changed} keys changed, {bytes} changelog bytes)",
        whole.as_secs_f64() * 1e3
    );

    let mut state = expired(visitors);
    let mut longest = Duration::ZERO;
    let mut total = Duration::ZERO;
    let mut steps = 0;
    let mut changed = 0;
    state.start_sweep();
    while state.sweeping() {
        let started = Instant::now();
        changed += state.sweep_step(&catalog, &limits, SLICE);
        write(&mut state);
        let took = started.elapsed();
        longest = longest.max(took);
        total += took;
        steps += 1;
    }
    println!(
        "sliced sweep ({SLICE} keys per checkpoint): {steps} checkpoints, longest {:.1} ms, total {:.0} ms ({changed} keys changed); longest stall {:.0}× shorter",
        longest.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        whole.as_secs_f64() / longest.as_secs_f64().max(1e-9)
    );
}
