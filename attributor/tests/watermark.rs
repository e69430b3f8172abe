//! The watermark: a partition's clock is the slowest of the upstream partitions merged into it,
//! so a source running ahead never expires the windows of journeys still arriving from another.

mod support;

use attributor::state::{Effects, Limits, PartitionState};
use chrono::{DateTime, Duration, Utc};
use reference::Catalog;
use schemas::touchpoint::{SourceProgress, SourceWatermark};
use schemas::EnrichedTouchpoint;
use support::*;

/// `e` as the enricher stamps it: read from `partition` of `partitions`, which had got to
/// `e`'s own time.
fn from(partition: i32, partitions: i32, mut e: EnrichedTouchpoint) -> EnrichedTouchpoint {
    e.source = Some(SourceProgress {
        partition,
        partitions,
        progress: e.touchpoint.occurred_at,
    });
    e
}

/// Traffic of another visitor (no partner), at `at`.
fn other(id: &str, at: DateTime<Utc>) -> EnrichedTouchpoint {
    let mut e = view(id, "p-bob", at);
    e.partner.partner_id = None;
    e.attribution_key = "shop/v-2".into();
    e
}

struct Partition {
    state: PartitionState,
    next: i64,
    effects: Effects,
    limits: Limits,
    catalog: Catalog,
}

impl Partition {
    fn new(source_idle_inputs: i64) -> Partition {
        Partition {
            state: PartitionState::new(),
            next: 0,
            effects: Effects::default(),
            limits: Limits {
                source_idle_inputs,
                ..limits()
            },
            catalog: default_catalog(),
        }
    }

    fn apply(&mut self, e: EnrichedTouchpoint) {
        self.state
            .apply(
                self.next,
                &e,
                &self.catalog,
                &self.limits,
                &mut self.effects,
            )
            .expect("valid input");
        self.next += 1;
    }

    /// The enricher's broadcast: source `partition` of `partitions` has got to `progress`.
    fn watermark(&mut self, partition: i32, partitions: i32, progress: DateTime<Utc>) {
        self.broadcast(partition, partitions, progress, false);
    }

    /// The same, saying whether the source is live and quiet.
    fn broadcast(&mut self, partition: i32, partitions: i32, progress: DateTime<Utc>, idle: bool) {
        let w = SourceWatermark {
            partition,
            partitions,
            progress,
            idle,
            emitted_at: progress,
        };
        self.state.apply_watermark(
            self.next,
            &w,
            &self.catalog,
            &self.limits,
            &mut self.effects,
        );
        self.next += 1;
    }

    /// The partition a new owner restores from this one's changelog records, with no effects.
    fn restored(mut self) -> Partition {
        let mut records: Vec<_> = self
            .state
            .take_changes()
            .into_iter()
            .filter_map(|(_, record)| record)
            .collect();
        records.extend(self.state.take_position());
        Partition {
            state: PartitionState::restore(records, &self.catalog),
            effects: Effects::default(),
            ..self
        }
    }

    /// Partners credited by the attributions so far (`None` for unattributed ones).
    fn credited(&self) -> Vec<Option<String>> {
        self.effects
            .attributions
            .iter()
            .map(|a| a.credits.first().map(|c| c.partner_id.clone()))
            .collect()
    }
}

const DAY: i64 = 24 * 60;

/// A click from source 0, then source 1 forty-five days ahead, then the click's conversion
/// from source 0, then more of source 0 past the conversion's grace.
fn lagging_journey(stamped: bool) -> Partition {
    let mut p = Partition::new(10_000);
    let stamp = |partition: i32, e: EnrichedTouchpoint| {
        if stamped {
            from(partition, 2, e)
        } else {
            e
        }
    };
    p.apply(stamp(0, click("c1", "p-anna", t(0))));
    for i in 0..20 {
        p.apply(stamp(1, other(&format!("o{i}"), t(45 * DAY + i))));
    }
    p.apply(stamp(0, conversion("k1", "order-1", 10_000, t(60))));
    p.apply(stamp(0, other("later", t(120))));
    p
}

#[test]
fn a_source_running_ahead_does_not_expire_the_clicks_of_a_lagging_one() {
    let p = lagging_journey(true);
    assert_eq!(p.credited(), vec![Some("p-anna".to_string())]);
    assert_eq!(p.state.stream_time(), Some(t(120)));
    assert_eq!(
        p.state.held_back(&p.limits),
        Duration::minutes(45 * DAY + 19 - 120)
    );
}

#[test]
fn without_sources_the_largest_event_time_is_the_clock_and_the_click_expires() {
    // The behaviour the watermark replaces, kept for inputs from enrichers before v3.
    let p = lagging_journey(false);
    assert_eq!(p.credited(), vec![None]);
    assert_eq!(p.state.stream_time(), Some(t(45 * DAY + 19)));
}

#[test]
fn a_source_not_heard_yet_holds_the_watermark() {
    let mut p = Partition::new(10_000);
    p.apply(from(0, 2, click("c1", "p-anna", t(0))));
    p.apply(from(0, 2, conversion("k1", "order-1", 10_000, t(10))));
    p.apply(from(0, 2, other("o1", t(DAY))));
    assert!(
        p.credited().is_empty(),
        "source 1 may still send a late click"
    );
    assert_eq!(p.state.pending(), 1);
    assert_eq!(p.state.stream_time(), None);
    p.apply(from(1, 2, other("o2", t(30))));
    assert_eq!(p.credited(), vec![Some("p-anna".to_string())]);
    assert_eq!(p.state.stream_time(), Some(t(30)));
}

#[test]
fn a_silent_source_stops_holding_the_watermark_after_the_idle_inputs() {
    let mut p = Partition::new(5);
    p.apply(from(1, 2, other("o1", t(0))));
    p.apply(from(0, 2, click("c1", "p-anna", t(1))));
    p.apply(from(0, 2, conversion("k1", "order-1", 10_000, t(10))));
    for i in 0..2 {
        p.apply(from(0, 2, other(&format!("a{i}"), t(100 + i))));
    }
    assert!(p.credited().is_empty(), "four inputs since source 1");
    p.apply(from(0, 2, other("a3", t(103))));
    assert_eq!(p.credited(), vec![Some("p-anna".to_string())]);
    assert_eq!(p.state.stream_time(), Some(t(103)));
    // Heard again far behind: it holds the clock from here on, but never turns it back.
    p.apply(from(1, 2, other("o2", t(50))));
    assert_eq!(p.state.stream_time(), Some(t(103)));
    p.apply(from(0, 2, other("a4", t(500))));
    assert_eq!(p.state.stream_time(), Some(t(103)));
}

#[test]
fn a_restored_partition_still_waits_for_its_slowest_source() {
    let mut p = Partition::new(10_000);
    p.apply(from(1, 2, other("o1", t(0))));
    p.apply(from(0, 2, click("c1", "p-anna", t(1))));
    p.apply(from(0, 2, other("a1", t(40 * DAY))));
    let mut restored = p.restored();
    assert_eq!(restored.state.stream_time(), Some(t(0)));
    // Right after a restore, before any input: the idle clock must already be patient.
    assert!(restored
        .state
        .sources_disagree(&restored.catalog, &restored.limits));
    assert_eq!(
        restored.state.held_back(&restored.limits),
        Duration::days(40)
    );
    restored.apply(from(1, 2, conversion("k1", "order-1", 10_000, t(60))));
    restored.apply(from(1, 2, other("o2", t(DAY))));
    let credited = restored.credited();
    assert_eq!(credited, vec![Some("p-anna".to_string())]);
}

#[test]
fn sources_far_apart_disagree_and_close_ones_do_not() {
    let mut p = Partition::new(10_000);
    p.apply(from(0, 2, other("a", t(0))));
    p.apply(from(1, 2, conversion("k1", "order-1", 10_000, t(50))));
    assert_eq!(p.state.pending(), 1);
    assert!(
        !p.state.sources_disagree(&p.catalog, &p.limits),
        "50 minutes apart: sparse sources, not a catch-up"
    );
    p.apply(from(1, 2, other("b", t(DAY))));
    assert_eq!(p.state.pending(), 1);
    assert!(p.state.sources_disagree(&p.catalog, &p.limits));
}

#[test]
fn a_source_not_heard_yet_while_others_are_disagrees() {
    // The enricher reads one source's backlog first: this partition hears nothing of source 0
    // for now. A quiet spell must not be taken for the end of the stream.
    let mut p = Partition::new(10_000);
    p.apply(from(1, 2, click("c1", "p-anna", t(0))));
    p.apply(from(1, 2, conversion("k1", "order-1", 10_000, t(10))));
    assert_eq!(p.state.pending(), 1);
    assert!(p.state.sources_disagree(&p.catalog, &p.limits));
    assert_eq!(
        p.state.held_back(&p.limits),
        Duration::zero(),
        "the gauge counts heard sources only"
    );
    // Heard, and close to the other: an ordinary quiet partition again.
    p.watermark(0, 2, t(5));
    assert!(!p.state.sources_disagree(&p.catalog, &p.limits));
}

#[test]
fn a_source_that_sends_no_traffic_here_moves_the_clock_by_its_watermarks() {
    // Four sources; only source 2 has journeys hashed to this partition. Without the
    // broadcast the others would hold the clock until they turn idle (10,000 inputs).
    let mut p = Partition::new(10_000);
    p.apply(from(2, 4, click("c1", "p-anna", t(0))));
    p.apply(from(2, 4, conversion("k1", "order-1", 10_000, t(10))));
    assert_eq!(p.state.stream_time(), None, "sources 0, 1, 3 not heard yet");
    for source in [0, 1, 3] {
        p.watermark(source, 4, t(12));
    }
    assert_eq!(p.state.stream_time(), Some(t(10)), "the slowest: source 2");
    assert!(p.credited().is_empty(), "grace (5 minutes) not over");
    p.apply(from(2, 4, other("o1", t(20))));
    assert_eq!(p.state.stream_time(), Some(t(12)));
    assert_eq!(
        p.state.held_back(&p.limits),
        Duration::minutes(8),
        "source 2 is 8 minutes ahead of the rest"
    );
    for source in [0, 1, 3] {
        p.watermark(source, 4, t(16));
    }
    assert_eq!(p.state.stream_time(), Some(t(16)));
    assert_eq!(
        p.credited(),
        vec![Some("p-anna".to_string())],
        "attributed by a watermark: 10 + 5 minutes of grace passed on every source"
    );
}

#[test]
fn a_watermark_already_reflected_in_restored_state_changes_nothing() {
    let mut p = Partition::new(10_000);
    p.apply(from(0, 2, conversion("k1", "order-1", 10_000, t(10))));
    p.watermark(1, 2, t(11));
    let mut p = p.restored();
    assert_eq!(p.state.stream_time(), Some(t(10)));
    // Replayed after a crash: at or below the position, so applied no second time.
    p.next = 1;
    p.watermark(1, 2, t(100));
    assert_eq!(p.state.stream_time(), Some(t(10)));
    // The next one moves it on.
    p.watermark(1, 2, t(100));
    assert_eq!(
        p.state.stream_time(),
        Some(t(10)),
        "source 0 is the slowest"
    );
    p.apply(from(0, 2, other("o", t(30))));
    assert_eq!(p.state.stream_time(), Some(t(30)));
    assert_eq!(p.credited().len(), 1);
}

#[test]
fn an_idle_source_is_not_waited_for_until_it_sends_again() {
    let mut p = Partition::new(10_000);
    p.apply(from(0, 3, click("c1", "p-anna", t(0))));
    p.apply(from(0, 3, conversion("k1", "order-1", 10_000, t(10))));
    p.broadcast(1, 3, t(3), false);
    p.broadcast(2, 3, t(4), false);
    assert_eq!(p.state.stream_time(), Some(t(3)));
    // Sources 1 and 2 go quiet: source 0 alone sets the clock.
    p.broadcast(1, 3, t(3), true);
    p.broadcast(2, 3, t(4), true);
    assert_eq!(p.state.stream_time(), Some(t(10)));
    assert!(!p.state.sources_idle(), "source 0 is not idle");
    p.apply(from(0, 3, other("o1", t(16))));
    assert_eq!(p.state.stream_time(), Some(t(16)));
    assert_eq!(p.credited(), vec![Some("p-anna".to_string())]);
    // Source 1 sends again (a touchpoint here): waited for again, where it is.
    p.apply(from(1, 3, conversion("k2", "order-2", 10_000, t(17))));
    p.apply(from(0, 3, other("o2", t(40))));
    assert_eq!(
        p.state.stream_time(),
        Some(t(17)),
        "source 1 holds it at 17"
    );
    assert_eq!(p.state.held_back(&p.limits), Duration::minutes(23));
}

#[test]
fn when_every_source_is_idle_the_clock_follows_the_wall_clock_up_to_the_last_grace() {
    let mut p = Partition::new(10_000);
    p.apply(from(0, 2, click("c1", "p-anna", t(0))));
    p.apply(from(0, 2, conversion("k1", "order-1", 10_000, t(10))));
    p.broadcast(1, 2, t(9), true);
    assert_eq!(p.state.stream_time(), Some(t(10)));
    assert!(p.credited().is_empty(), "grace runs to 15");
    p.broadcast(0, 2, t(10), true);
    assert!(p.state.sources_idle());
    // What the service does at its next batch or idle tick, with the wall clock at 12 ...
    p.state.advance_idle(t(12), &p.catalog, &mut p.effects);
    assert!(p.credited().is_empty());
    // ... and later: never past the last pending conversion's grace.
    p.state.advance_idle(t(600), &p.catalog, &mut p.effects);
    assert_eq!(p.credited(), vec![Some("p-anna".to_string())]);
    assert_eq!(p.state.stream_time(), Some(t(15)));
    // A restored partition does not keep idleness: the enricher says it again.
    let p = p.restored();
    assert!(!p.state.sources_idle());
}

#[test]
fn a_quiet_replay_of_history_waits_ten_times_as_long_before_the_wall_clock_decides() {
    // The CI run of d879b8b: a replay of June events paused upstream for a few seconds, the
    // quiet clock (2 s) moved every partition to its last pending grace at once, and the late
    // clicks still in flight counted for nothing. Read while live, the same pause is most
    // likely the end of traffic; read months later, most likely a stall.
    use attributor::state::LAGGING_SOURCE_PATIENCE;
    let quiet = std::time::Duration::from_secs(2);
    let mut p = Partition::new(10_000);
    p.apply(from(0, 2, click("c1", "p-anna", t(0))));
    p.apply(from(0, 2, conversion("k1", "order-1", 10_000, t(10))));
    p.watermark(1, 2, t(10));
    assert!(!p.state.sources_disagree(&p.catalog, &p.limits));
    let live = t(11);
    let months_later = t(0) + Duration::days(90);
    assert!(!p.state.replaying_history(live));
    assert!(!p.state.replaying_history(t(10) + Duration::minutes(4)));
    assert!(p.state.replaying_history(t(10) + Duration::minutes(6)));
    assert!(p.state.replaying_history(months_later));
    assert_eq!(
        p.state.quiet_patience(quiet, live, &p.catalog, &p.limits),
        quiet
    );
    assert_eq!(
        p.state
            .quiet_patience(quiet, months_later, &p.catalog, &p.limits),
        quiet * LAGGING_SOURCE_PATIENCE
    );
    // Once the wall clock does stand in, it decides what was pending, and says how many.
    assert_eq!(
        p.state
            .advance_idle(months_later, &p.catalog, &mut p.effects),
        1
    );
    assert_eq!(p.credited(), vec![Some("p-anna".to_string())]);
    assert_eq!(
        p.state
            .advance_idle(months_later, &p.catalog, &mut p.effects),
        0
    );
}

#[test]
fn a_starved_source_said_again_keeps_holding_the_clock_past_the_idle_inputs() {
    // Source 1 is starved (its enricher reads source 0's backlog first) but still held: the
    // enricher says its unchanged progress again every second, so however many of source 0's
    // inputs go by, source 1's journeys still find their clicks.
    let mut p = Partition::new(5);
    p.apply(from(1, 2, click("c1", "p-anna", t(0))));
    p.apply(from(1, 2, conversion("k1", "order-1", 10_000, t(1))));
    for i in 0..20 {
        p.apply(from(0, 2, other(&format!("o{i}"), t(60 + i))));
        if i % 3 == 0 {
            p.watermark(1, 2, t(1));
        }
    }
    assert_eq!(p.state.stream_time(), Some(t(1)), "source 1 still holds it");
    assert!(
        p.credited().is_empty(),
        "its conversion's grace has not passed"
    );
    // Without the repeats it would have been let go after 5 inputs.
    let mut q = Partition::new(5);
    q.apply(from(1, 2, click("c1", "p-anna", t(0))));
    q.apply(from(1, 2, conversion("k1", "order-1", 10_000, t(1))));
    for i in 0..20 {
        q.apply(from(0, 2, other(&format!("o{i}"), t(60 + i))));
    }
    assert_eq!(q.state.stream_time(), Some(t(79)));
}
