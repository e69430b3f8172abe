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

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Remembers event ids for a while: oldest first out, when past the TTL or beyond capacity.
///
/// A set for the lookups and a queue in order of first sighting for the forgetting, sharing
/// each id's one allocation. The set's hasher is std's (keyed SipHash): ids are the
/// producers', so a predictable hash would let one flood a bucket.
#[derive(Debug)]
pub struct Dedup {
    capacity: usize,
    ttl: Duration,
    seen: HashSet<Arc<str>>,
    order: VecDeque<(Instant, Arc<str>)>,
    // The scoped id of the message at hand, built here so a repeat allocates nothing.
    scratch: String,
}

impl Dedup {
    /// Remembers up to `capacity` ids, each for `ttl` after first sighting.
    pub fn new(capacity: u64, ttl: Duration) -> Dedup {
        Dedup {
            capacity: usize::try_from(capacity).unwrap_or(usize::MAX).max(1),
            ttl,
            seen: HashSet::new(),
            order: VecDeque::new(),
            scratch: String::new(),
        }
    }

    /// True the first time `event_id` is offered within `scope` and the TTL; false for repeats.
    pub fn first_sighting(&mut self, scope: &str, event_id: &str) -> bool {
        self.first_sighting_at(scope, event_id, Instant::now())
    }

    fn first_sighting_at(&mut self, scope: &str, event_id: &str, now: Instant) -> bool {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.ttl {
                break;
            }
            self.forget_oldest();
        }
        self.scratch.clear();
        self.scratch.push_str(scope);
        // A separator no id may contain (control characters are rejected by validation).
        self.scratch.push('\u{1f}');
        self.scratch.push_str(event_id);
        if self.seen.contains(self.scratch.as_str()) {
            return false;
        }
        if self.order.len() >= self.capacity {
            self.forget_oldest();
        }
        let id: Arc<str> = Arc::from(self.scratch.as_str());
        self.seen.insert(Arc::clone(&id));
        self.order.push_back((now, id));
        true
    }

    fn forget_oldest(&mut self) {
        if let Some((_, id)) = self.order.pop_front() {
            self.seen.remove(&id);
        }
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
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
        let mut dedup = Dedup::new(100, Duration::from_secs(60));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(dedup.first_sighting_at("acme", "e-1", at(0)));
        assert!(!dedup.first_sighting_at("acme", "e-1", at(59)));
        assert!(dedup.first_sighting_at("acme", "e-2", at(30)));
        // The TTL runs from the first sighting, not the latest repeat.
        assert!(dedup.first_sighting_at("acme", "e-1", at(60)));
        assert!(!dedup.first_sighting_at("acme", "e-2", at(61)));
        assert!(dedup.first_sighting_at("acme", "e-2", at(90)));
        assert_eq!(dedup.len(), 2);
        // The real clock works too.
        assert!(dedup.first_sighting("acme", "e-3"));
        assert!(!dedup.first_sighting("acme", "e-3"));
    }

    #[test]
    fn beyond_capacity_the_oldest_id_is_forgotten_first() {
        let mut dedup = Dedup::new(3, Duration::from_secs(3600));
        let now = Instant::now();
        for id in ["a", "b", "c", "d"] {
            assert!(dedup.first_sighting_at("", id, now));
        }
        assert_eq!(dedup.len(), 3);
        // "a" went out to make room for "d"; the three younger ones are still caught.
        for id in ["b", "c", "d"] {
            assert!(!dedup.first_sighting_at("", id, now), "{id}");
        }
        assert!(dedup.first_sighting_at("", "a", now));
        assert!(dedup.first_sighting_at("", "b", now), "b made room for a");
    }

    #[test]
    fn one_tenants_id_never_suppresses_anothers() {
        let mut dedup = Dedup::new(100, Duration::from_secs(60));
        assert!(dedup.first_sighting(scope(Some("brand-a"), None), "42"));
        assert!(dedup.first_sighting(scope(Some("brand-b"), None), "42"));
        assert!(!dedup.first_sighting(scope(Some("brand-b"), None), "42"));
        // Without a program, the producer's message key scopes the id.
        assert!(dedup.first_sighting(scope(None, Some(b"producer-1")), "42"));
        assert!(dedup.first_sighting(scope(None, Some(b"producer-2")), "42"));
        assert!(!dedup.first_sighting(scope(None, Some(b"producer-2")), "42"));
    }
}
