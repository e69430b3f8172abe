//! One input partition's state, as the stateful harness keeps it: the customer → visitor
//! bindings (on the changelog, key = customer id), the bindings made since the last
//! checkpoint, and the source's watermark stamp (in memory: it restarts from the first record
//! read, which only holds the attributor's clock back, never moves it on). Pure.

use runtime::stateful::{Change, PartitionState};
use schemas::IdentityBinding;

use crate::identity::Bindings;
use crate::watermark::SourceStamp;

/// An input partition's state.
#[derive(Debug, Default)]
pub struct EnricherState {
    /// Bindings, restored and made.
    pub bindings: Bindings,
    /// Bindings made since the last checkpoint, oldest first.
    pub written: Vec<IdentityBinding>,
    /// The source's progress.
    pub stamp: SourceStamp,
    /// Customers erased since the last checkpoint: tombstones for the changelog.
    pub erased: Vec<String>,
}

impl EnricherState {
    /// A partition's state from its changelog records.
    pub fn restore(records: impl IntoIterator<Item = IdentityBinding>) -> EnricherState {
        EnricherState {
            bindings: Bindings::restore(records),
            ..EnricherState::default()
        }
    }
}

impl EnricherState {
    /// Erases the request's customer from this partition: the binding goes (a tombstone at the
    /// next checkpoint), including one made since the last checkpoint. Returns the bindings
    /// removed.
    pub fn erase(&mut self, request: &schemas::ErasureRequest) -> usize {
        let before = self.written.len();
        self.written
            .retain(|b| !request.is_customer(&b.program_id, &b.customer_id));
        let unwritten = before - self.written.len();
        if self.bindings.erase(request) || unwritten > 0 {
            self.erased.push(request.customer_id.clone());
            1
        } else {
            0
        }
    }
}

impl EnricherState {
    /// Bounds the bindings under untrusted input (each event with a new customer and visitor
    /// pair makes one): over `max`, the bindings made longest ago go (tombstones), down to
    /// 90 % of `max`. A later customer-only event (renewal, refund) of an evicted customer is
    /// keyed by the customer alone, as if it had never been bound. Returns the evictions.
    pub fn enforce_cap(&mut self, max: usize) -> usize {
        let excess = runtime::stateful::over_cap(self.bindings.len(), max);
        if excess == 0 {
            return 0;
        }
        let evicted = self.bindings.evict_oldest(excess);
        let n = evicted.len();
        self.written.retain(|b| !evicted.contains(&b.customer_id));
        self.erased.extend(evicted);
        n
    }
}

impl PartitionState for EnricherState {
    type Record = IdentityBinding;
    const PHASES: usize = 1;
    const ENTRY_KINDS: &'static [&'static str] = &["bindings"];

    fn take_changes(&mut self, _phase: usize) -> Vec<Change<IdentityBinding>> {
        let tombstones = std::mem::take(&mut self.erased)
            .into_iter()
            .map(|customer| (customer, None));
        std::mem::take(&mut self.written)
            .into_iter()
            .map(|b| (b.customer_id.clone(), Some(b)))
            .chain(tombstones)
            .collect()
    }

    fn refresh(&mut self) {
        // Bindings made since the last checkpoint are among them: written once, not twice.
        self.written = self.bindings.records();
    }

    fn entries(&self) -> Vec<usize> {
        vec![self.bindings.len()]
    }

    fn approx_bytes(&self) -> usize {
        self.bindings.approx_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn bind(state: &mut EnricherState, n: i64) {
        let at = Utc.timestamp_opt(1_800_000_000 + n, 0).unwrap();
        let customer = format!("c-{n}");
        let record = state
            .bindings
            .bind(
                (0, n),
                &customer,
                "acme",
                &format!("v-{n}"),
                (&format!("e-{n}"), at),
            )
            .expect("new");
        state.written.push(record);
    }

    #[test]
    fn a_flood_of_bindings_is_cut_to_the_cap_oldest_first_with_tombstones() {
        let mut state = EnricherState::default();
        for n in 0..5_000 {
            bind(&mut state, n);
        }
        drop(state.take_changes(0));
        assert_eq!(state.enforce_cap(1_000), 4_100);
        assert_eq!(state.bindings.len(), 900);
        // The newest stay; the evicted get tombstones.
        assert!(state.bindings.lookup(i64::MAX, "c-4999").is_some());
        assert!(state.bindings.lookup(i64::MAX, "c-0").is_none());
        let changes = state.take_changes(0);
        assert_eq!(changes.len(), 4_100);
        assert!(changes.iter().all(|(_, record)| record.is_none()));
        assert_eq!(state.enforce_cap(1_000), 0, "under the cap nothing goes");
    }

    #[test]
    fn an_erased_customer_leaves_with_a_tombstone_and_a_refresh_rewrites_the_rest() {
        let mut state = EnricherState::default();
        bind(&mut state, 1);
        bind(&mut state, 2);
        drop(state.take_changes(0));
        let request = schemas::examples::erasure_request();
        let request = schemas::ErasureRequest {
            program_id: "acme".into(),
            customer_id: "c-1".into(),
            ..request
        };
        assert_eq!(state.erase(&request), 1);
        assert_eq!(state.erase(&request), 0, "a second erasure finds nothing");
        state.refresh();
        let changes = state.take_changes(0);
        assert!(changes.contains(&("c-1".to_string(), None)));
        assert!(changes
            .iter()
            .any(|(k, r)| k == "c-2" && r.as_ref().is_some_and(|b| b.visitor_id == "v-2")));
        assert!(!changes.iter().any(|(k, r)| k == "c-1" && r.is_some()));
    }
}
