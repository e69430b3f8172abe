//! The stamp the attributor's watermark is built from (README "Event time is a watermark").
//! Pure.
//!
//! Every enriched record carries its source (input) partition, how many source partitions
//! there are, and that source's progress: the largest event time read from it so far. The
//! attributor merges every source through one enriched partition and holds its clock at the
//! smallest progress, so a source catching up weeks behind another holds it back.

use chrono::{DateTime, Utc};
use schemas::touchpoint::SourceProgress;

/// Progress of one source partition, as far as this instance has read it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStamp {
    progress: Option<DateTime<Utc>>,
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
}
