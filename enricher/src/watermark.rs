//! The stamp the attributor's watermark is built from (README "Event time is a watermark").
//! Pure.
//!
//! Every enriched record carries its source (input) partition, how many source partitions
//! there are, and that source's progress: the largest event time read from it so far. The
//! attributor merges every source through one enriched partition and holds its clock at the
//! smallest progress, so a source catching up weeks behind another holds it back.
//!
//! Key hashing sends a source's touchpoints to some enriched partitions only (with few
//! visitors per source, none to many), so the stamps alone would leave a partition waiting
//! on a source that never writes to it. The enricher therefore also broadcasts each source's
//! progress to every enriched partition (`attrib.SourceWatermark`), at most once per interval
//! and only when it moved: written after the touchpoints it covers, so on each partition it
//! never claims more than that partition has received.
//!
//! A *live* source (its progress within [`LIVE_LAG`] of the wall clock) from which nothing has
//! been read for the idle time is broadcast `idle`: the attributor stops waiting for it until it
//! sends again, so sparse real-time traffic is attributed when its grace has passed rather than
//! when every source happens to send something newer. A source replaying history (a backfill,
//! a catch-up after an outage) is never idle: its quiet more likely means the broker is serving
//! another partition's backlog first, and its journeys are still coming.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use schemas::touchpoint::SourceProgress;

/// How far behind the wall clock a source's progress may be for it to count as live.
pub use schemas::touchpoint::LIVE_LAG;

/// How often an idle source's idleness is said again: an attributor that restarted (it does
/// not keep idleness) or took a partition over learns it within this long.
pub const IDLE_REPEAT: Duration = Duration::from_secs(10);

/// How often, while this instance is busy, a source whose progress has not moved is said
/// again: a source starved by the broker (tansu serves one partition's backlog before the
/// next, for minutes after restarts) stays heard on every partition, so no attributor takes
/// it for gone after `ATTRIBUTOR_SOURCE_IDLE_INPUTS` inputs and runs ahead of its journeys.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// When a source's progress is broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastRules {
    /// Least time between two broadcasts of a moving source.
    pub interval: Duration,
    /// Quiet time after which a live source is broadcast idle; `None`: never.
    pub idle_after: Option<Duration>,
}

/// What is broadcast of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broadcast {
    /// The source's progress.
    pub progress: DateTime<Utc>,
    /// Whether it is idle (see the module docs).
    pub idle: bool,
}

/// Progress of one source partition, as far as this instance has read it, and what was last
/// broadcast of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStamp {
    progress: Option<DateTime<Utc>>,
    /// When the last record was read from it.
    last_input: Option<Instant>,
    /// What was last broadcast, and when.
    sent: Option<(Broadcast, Instant)>,
}

impl SourceStamp {
    /// Takes in a record of `partition` (one of `partitions`) that occurred at `occurred_at`,
    /// read at `now`, and returns the stamp it carries: progress never goes back, so a late
    /// event carries the progress its source had already made.
    pub fn stamp(
        &mut self,
        partition: i32,
        partitions: i32,
        occurred_at: DateTime<Utc>,
        now: Instant,
    ) -> SourceProgress {
        let progress = self.progress.map_or(occurred_at, |p| p.max(occurred_at));
        self.progress = Some(progress);
        self.last_input = Some(now);
        SourceProgress {
            partition,
            partitions,
            progress,
        }
    }

    /// The progress so far, if anything was read.
    pub fn progress(&self) -> Option<DateTime<Utc>> {
        self.progress
    }

    /// What to broadcast at `now` (`wall` on the wall clock), if anything; marks it sent.
    /// A moving source at most once per interval (the first at once); a source turning idle
    /// or active again at once; an idle one again every [`IDLE_REPEAT`]; one that did not
    /// move, every [`HEARTBEAT`] while the instance is `busy` reading other sources.
    pub fn broadcast_due(
        &mut self,
        now: Instant,
        wall: DateTime<Utc>,
        rules: &BroadcastRules,
        busy: bool,
    ) -> Option<Broadcast> {
        let progress = self.progress?;
        let quiet = |after: Duration| {
            self.last_input
                .is_none_or(|t| now.saturating_duration_since(t) >= after)
        };
        let idle = rules.idle_after.is_some_and(quiet) && progress >= wall - LIVE_LAG;
        let due = match self.sent {
            None => true,
            Some((sent, at)) => {
                let since = now.saturating_duration_since(at);
                if sent.idle != idle {
                    true
                } else if idle {
                    since >= IDLE_REPEAT
                } else {
                    (progress > sent.progress && since >= rules.interval)
                        || (busy && since >= HEARTBEAT)
                }
            }
        };
        if !due {
            return None;
        }
        let broadcast = Broadcast { progress, idle };
        self.sent = Some((broadcast, now));
        Some(broadcast)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap_or_default()
    }

    #[test]
    fn progress_is_the_largest_event_time_and_never_goes_back() {
        let mut stamp = SourceStamp::default();
        assert_eq!(stamp.progress(), None);
        let now = Instant::now();
        assert_eq!(stamp.stamp(2, 6, at(100), now).progress, at(100));
        let late = stamp.stamp(2, 6, at(40), now);
        assert_eq!(
            late.progress,
            at(100),
            "a late event carries the progress made"
        );
        assert_eq!((late.partition, late.partitions), (2, 6));
        assert_eq!(stamp.stamp(2, 6, at(160), now).progress, at(160));
        assert_eq!(stamp.progress(), Some(at(160)));
    }

    const EVERY: Duration = Duration::from_millis(200);
    const RULES: BroadcastRules = BroadcastRules {
        interval: EVERY,
        idle_after: Some(Duration::from_secs(1)),
    };

    fn moving(progress: DateTime<Utc>) -> Option<Broadcast> {
        Some(Broadcast {
            progress,
            idle: false,
        })
    }

    #[test]
    fn progress_is_broadcast_when_it_moved_at_most_once_per_interval() {
        // Event time long before the wall clock: history, never idle.
        let wall = at(1_000_000);
        let t0 = Instant::now();
        let mut stamp = SourceStamp::default();
        assert_eq!(
            stamp.broadcast_due(t0, wall, &RULES, false),
            None,
            "nothing read yet"
        );
        stamp.stamp(1, 4, at(100), t0);
        assert_eq!(
            stamp.broadcast_due(t0, wall, &RULES, false),
            moving(at(100)),
            "the first at once"
        );
        stamp.stamp(1, 4, at(130), t0);
        assert_eq!(
            stamp.broadcast_due(t0 + EVERY / 2, wall, &RULES, false),
            None,
            "too soon"
        );
        assert_eq!(
            stamp.broadcast_due(t0 + EVERY, wall, &RULES, false),
            moving(at(130))
        );
        stamp.stamp(1, 4, at(90), t0);
        assert_eq!(
            stamp.broadcast_due(t0 + EVERY * 5, wall, &RULES, false),
            None,
            "a late event moves nothing"
        );
        stamp.stamp(1, 4, at(131), t0);
        assert_eq!(
            stamp.broadcast_due(t0 + EVERY * 5, wall, &RULES, false),
            moving(at(131))
        );
        assert_eq!(
            stamp.broadcast_due(t0 + Duration::from_secs(60), wall, &RULES, false),
            None,
            "a quiet source replaying history is never idle"
        );
        assert_eq!(
            stamp.broadcast_due(t0 + Duration::from_secs(60), wall, &RULES, true),
            moving(at(131)),
            "but is said again while the instance is busy with other sources"
        );
        assert_eq!(
            stamp.broadcast_due(
                t0 + Duration::from_secs(60) + HEARTBEAT / 2,
                wall,
                &RULES,
                true
            ),
            None,
            "once per heartbeat"
        );
    }

    #[test]
    fn a_quiet_live_source_is_idle_until_it_sends_again() {
        let wall = at(10_000);
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut stamp = SourceStamp::default();
        stamp.stamp(0, 6, at(9_999), t0);
        assert_eq!(
            stamp.broadcast_due(t0, wall, &RULES, false),
            moving(at(9_999))
        );
        assert_eq!(
            stamp.broadcast_due(t0 + second / 2, wall, &RULES, false),
            None
        );
        let idle = Some(Broadcast {
            progress: at(9_999),
            idle: true,
        });
        assert_eq!(
            stamp.broadcast_due(t0 + second, wall, &RULES, false),
            idle,
            "quiet a second"
        );
        assert_eq!(
            stamp.broadcast_due(t0 + second * 2, wall, &RULES, false),
            None,
            "said once"
        );
        assert_eq!(
            stamp.broadcast_due(t0 + second + IDLE_REPEAT, wall, &RULES, false),
            idle,
            "and again every IDLE_REPEAT"
        );
        // It sends again: active at once, whatever the interval.
        let back = t0 + second + IDLE_REPEAT + EVERY / 4;
        stamp.stamp(0, 6, at(10_003), back);
        assert_eq!(
            stamp.broadcast_due(back, wall, &RULES, false),
            moving(at(10_003))
        );
        // A source five minutes or more behind the wall clock is history: never idle.
        let much_later = at(10_003) + LIVE_LAG + chrono::Duration::seconds(1);
        assert_eq!(
            stamp.broadcast_due(back + second * 2, much_later, &RULES, false),
            None
        );
        // Idleness turned off.
        let never = BroadcastRules {
            idle_after: None,
            ..RULES
        };
        assert_eq!(
            stamp.broadcast_due(back + second * 60, wall, &never, false),
            None
        );
    }
}
