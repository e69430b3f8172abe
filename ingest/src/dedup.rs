//! Suppression of repeated `event_id`s within a TTL.
//!
//! Producers retry, so the same event arrives twice. Dropping repeats here keeps the topics
//! clean, but it is an optimisation, not the guarantee: the cache is per instance and
//! forgotten on restart (a re-read batch after a crash is re-emitted on purpose, since its
//! first emission may not have been acknowledged). Exactly-once money comes from downstream
//! de-duplication on deterministic ids (DESIGN.md §5).

use std::time::Duration;

use moka::sync::Cache;

/// Remembers event ids for a while.
#[derive(Debug, Clone)]
pub struct Dedup {
    seen: Cache<String, ()>,
}

impl Dedup {
    /// Remembers up to `capacity` ids, each for `ttl` after first sighting.
    pub fn new(capacity: u64, ttl: Duration) -> Dedup {
        Dedup {
            seen: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// True the first time an id is offered within the TTL; false for repeats.
    pub fn first_sighting(&self, event_id: &str) -> bool {
        self.seen.entry_by_ref(event_id).or_insert(()).is_fresh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_within_the_ttl_is_caught_and_forgotten_after_it() {
        let dedup = Dedup::new(100, Duration::from_millis(200));
        assert!(dedup.first_sighting("e-1"));
        assert!(!dedup.first_sighting("e-1"));
        assert!(dedup.first_sighting("e-2"));
        std::thread::sleep(Duration::from_millis(300));
        assert!(dedup.first_sighting("e-1"));
    }
}
