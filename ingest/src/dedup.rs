//! Suppression of repeated `event_id`s within a TTL, per tenant.
//!
//! Event ids are the producer's, unique only within its own system: brand B's `"42"` is not a
//! repeat of brand A's `"42"`. An id is scoped by the program the event names (`program_id`),
//! else by the producer's message key, else by nothing (an unscoped producer shares one space).
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

    /// True the first time `event_id` is offered within `scope` and the TTL; false for repeats.
    pub fn first_sighting(&self, scope: &str, event_id: &str) -> bool {
        // A separator no id may contain (control characters are rejected by validation).
        let key = format!("{scope}\u{1f}{event_id}");
        self.seen.entry(key).or_insert(()).is_fresh()
    }
}

/// The scope of a touchpoint's id: its program, else the raw message's key.
pub fn scope<'a>(program_id: Option<&'a str>, message_key: Option<&'a [u8]>) -> &'a str {
    program_id
        .or_else(|| message_key.and_then(|k| std::str::from_utf8(k).ok()))
        .map_or("", |s| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_within_the_ttl_is_caught_and_forgotten_after_it() {
        let dedup = Dedup::new(100, Duration::from_millis(200));
        assert!(dedup.first_sighting("acme", "e-1"));
        assert!(!dedup.first_sighting("acme", "e-1"));
        assert!(dedup.first_sighting("acme", "e-2"));
        std::thread::sleep(Duration::from_millis(300));
        assert!(dedup.first_sighting("acme", "e-1"));
    }

    #[test]
    fn one_tenants_id_never_suppresses_anothers() {
        let dedup = Dedup::new(100, Duration::from_secs(60));
        assert!(dedup.first_sighting(scope(Some("brand-a"), None), "42"));
        assert!(dedup.first_sighting(scope(Some("brand-b"), None), "42"));
        assert!(!dedup.first_sighting(scope(Some("brand-b"), None), "42"));
        // Without a program, the producer's message key scopes the id.
        assert!(dedup.first_sighting(scope(None, Some(b"producer-1")), "42"));
        assert!(dedup.first_sighting(scope(None, Some(b"producer-2")), "42"));
        assert!(!dedup.first_sighting(scope(None, Some(b"producer-2")), "42"));
    }
}
