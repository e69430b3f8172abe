//! Which copy of each reference entity is current, and how old it is on the log (pure).
//!
//! The reference topic is `compact,delete` with `REFERENCE_RETENTION_MS`: on a broker that
//! never compacts, retention is what removes an erased partner's old profile. `reference
//! refresh` re-sends every live record before it gets that old, so the catalogue itself never
//! ages out. A refresh reads the topic and then re-sends; a publish between the two would be
//! undone by the re-sent older copy, so a record published earlier than the one already held
//! for its key is a stale copy and is skipped. Equal times are the same record (a refresh).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// What is known of one key's newest record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Newest {
    published_at: Option<DateTime<Utc>>,
    /// When that copy was written to the log (ms since the epoch); `None` if unknown.
    written_at_ms: Option<i64>,
    live: bool,
}

/// Per key: the publish time of the newest record and when its copy was written.
#[derive(Debug, Clone, Default)]
pub struct Copies {
    newest: BTreeMap<String, Newest>,
}

impl Copies {
    /// Admits a record read from the log: `published_at` is `None` for a tombstone, `live`
    /// false for a tombstone or a `deleted` record. Returns false for a stale copy (older than
    /// the record already held), which must not be applied.
    pub fn admit(
        &mut self,
        key: &str,
        published_at: Option<DateTime<Utc>>,
        live: bool,
        written_at_ms: Option<i64>,
    ) -> bool {
        if let (
            Some(new),
            Some(Newest {
                published_at: Some(held),
                ..
            }),
        ) = (published_at, self.newest.get(key))
        {
            if new < *held {
                return false;
            }
        }
        self.newest.insert(
            key.to_string(),
            Newest {
                published_at,
                written_at_ms,
                live,
            },
        );
        true
    }

    /// When the oldest live entity's newest copy was written (ms since the epoch): the
    /// catalogue starts to age out `REFERENCE_RETENTION_MS` after it unless refreshed.
    pub fn oldest_live_copy_ms(&self) -> Option<i64> {
        self.newest
            .values()
            .filter(|n| n.live)
            .filter_map(|n| n.written_at_ms)
            .min()
    }

    /// The live keys whose newest copy was written before `cutoff_ms` (or at an unknown
    /// time): what a refresh re-sends.
    pub fn live_written_before(&self, cutoff_ms: i64) -> Vec<&str> {
        self.newest
            .iter()
            .filter(|(_, n)| n.live && n.written_at_ms.is_none_or(|at| at < cutoff_ms))
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(s, 0)
    }

    #[test]
    fn a_copy_published_before_the_held_record_is_stale() {
        let mut c = Copies::default();
        assert!(c.admit("partner/p1", at(100), true, Some(1_000)));
        assert!(c.admit("partner/p1", at(200), true, Some(2_000)), "newer");
        assert!(
            !c.admit("partner/p1", at(100), true, Some(3_000)),
            "a refresh's copy of the older record, written after the newer one"
        );
        assert!(
            c.admit("partner/p1", at(200), true, Some(4_000)),
            "the same record re-sent"
        );
        assert_eq!(c.oldest_live_copy_ms(), Some(4_000));
    }

    #[test]
    fn deleted_records_block_resurrection_and_do_not_count_as_live() {
        let mut c = Copies::default();
        assert!(c.admit("link/l1", at(100), true, Some(1_000)));
        assert!(
            c.admit("link/l1", at(150), false, Some(1_500)),
            "signed deletion"
        );
        assert!(
            !c.admit("link/l1", at(100), true, Some(2_000)),
            "stale refresh"
        );
        assert!(c.admit("program/x", at(100), true, Some(5_000)));
        assert_eq!(c.oldest_live_copy_ms(), Some(5_000));
        assert_eq!(c.live_written_before(6_000), vec!["program/x"]);
        assert!(c.live_written_before(5_000).is_empty());
    }

    #[test]
    fn a_tombstone_has_no_time_and_always_applies() {
        let mut c = Copies::default();
        assert!(c.admit("code/c", at(100), true, Some(1_000)));
        assert!(c.admit("code/c", None, false, Some(1_100)));
        assert!(
            c.admit("code/c", at(50), true, Some(1_200)),
            "nothing to compare with"
        );
        assert_eq!(c.live_written_before(i64::MAX), vec!["code/c"]);
    }
}
