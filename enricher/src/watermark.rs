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

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use schemas::touchpoint::SourceProgress;

/// Progress of one source partition, as far as this instance has read it, and what was last
/// broadcast of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStamp {
    progress: Option<DateTime<Utc>>,
    /// Progress last broadcast and when.
    broadcast: Option<(DateTime<Utc>, Instant)>,
}

impl SourceStamp {
    /// Takes in a record of `partition` (one of `partitions`) that occurred at `occurred_at`
    /// and returns the stamp it carries: progress never goes back, so a late event carries
    /// the progress its source had already made.
    pub fn stamp(
        &mut self,
        partition: i32,
        partitions: i32,
        occurred_at: DateTime<Utc>,
    ) -> SourceProgress {
        let progress = self.progress.map_or(occurred_at, |p| p.max(occurred_at));
        self.progress = Some(progress);
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

    /// The progress to broadcast at `now`, if it moved since the last broadcast and that was
    /// at least `interval` ago (the first one goes out at once); marks it broadcast.
    pub fn broadcast_due(&mut self, now: Instant, interval: Duration) -> Option<DateTime<Utc>> {
        let progress = self.progress?;
        if let Some((sent, at)) = self.broadcast {
            if progress <= sent || now.saturating_duration_since(at) < interval {
                return None;
            }
        }
        self.broadcast = Some((progress, now));
        Some(progress)
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
        assert_eq!(stamp.stamp(2, 6, at(100)).progress, at(100));
        let late = stamp.stamp(2, 6, at(40));
        assert_eq!(
            late.progress,
            at(100),
            "a late event carries the progress made"
        );
        assert_eq!((late.partition, late.partitions), (2, 6));
        assert_eq!(stamp.stamp(2, 6, at(160)).progress, at(160));
        assert_eq!(stamp.progress(), Some(at(160)));
    }

    #[test]
    fn progress_is_broadcast_when_it_moved_at_most_once_per_interval() {
        let every = Duration::from_millis(200);
        let t0 = Instant::now();
        let mut stamp = SourceStamp::default();
        assert_eq!(stamp.broadcast_due(t0, every), None, "nothing read yet");
        stamp.stamp(1, 4, at(100));
        assert_eq!(
            stamp.broadcast_due(t0, every),
            Some(at(100)),
            "the first at once"
        );
        stamp.stamp(1, 4, at(130));
        assert_eq!(stamp.broadcast_due(t0 + every / 2, every), None, "too soon");
        assert_eq!(stamp.broadcast_due(t0 + every, every), Some(at(130)));
        stamp.stamp(1, 4, at(90));
        assert_eq!(
            stamp.broadcast_due(t0 + every * 5, every),
            None,
            "a late event moves nothing"
        );
        stamp.stamp(1, 4, at(131));
        assert_eq!(stamp.broadcast_due(t0 + every * 5, every), Some(at(131)));
    }
}
