//! Customer → visitor bindings and the attribution key (DESIGN.md §3). Pure.
//!
//! Valid touchpoints are keyed by customer id when they carry one, so every event of a
//! customer — the lead that carried both ids and the later customer-only renewal or refund —
//! is in the same input partition. [`Bindings`] are therefore one input partition's, and
//! written to the changelog partition with the same number.
//!
//! Rules:
//! - the **first** event of a customer that carries a visitor id binds them, for good
//!   (the referring visitor is what later customer-only events must reach);
//! - a binding is visible only to events at a **later offset** of its partition. Restoring
//!   the changelog may bring bindings made by events that will be re-read after a crash;
//!   ignoring them for earlier offsets makes the replay resolve exactly as the first run did.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use schemas::IdentityBinding;

/// How the attribution key was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The event's own visitor id.
    Visitor,
    /// The customer's binding.
    Binding,
    /// No visitor and no binding: keyed by the customer id itself, so the customer's
    /// conversion and its refunds still meet.
    CustomerOnly,
}

/// A binding as kept in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// Program of the binding event.
    pub program_id: String,
    /// Visitor.
    pub visitor_id: String,
    /// Offset of the binding event in its partition.
    pub source_offset: i64,
    /// Partition of the binding event.
    pub source_partition: i32,
    /// The binding event.
    pub event_id: String,
    /// Its time.
    pub bound_at: DateTime<Utc>,
}

impl Bound {
    /// The changelog record of this binding of `customer_id`.
    pub fn record(&self, customer_id: &str) -> IdentityBinding {
        IdentityBinding {
            customer_id: customer_id.to_string(),
            program_id: self.program_id.clone(),
            visitor_id: self.visitor_id.clone(),
            source_partition: self.source_partition,
            source_offset: self.source_offset,
            event_id: self.event_id.clone(),
            bound_at: self.bound_at,
        }
    }
}

/// One input partition's bindings.
#[derive(Debug, Default)]
pub struct Bindings {
    table: HashMap<String, Bound>,
}

impl Bindings {
    /// A partition's bindings read from its changelog partition (one record per customer, as
    /// compaction leaves it).
    pub fn restore(records: impl IntoIterator<Item = IdentityBinding>) -> Bindings {
        let table = records
            .into_iter()
            .map(|b| {
                let bound = Bound {
                    program_id: b.program_id,
                    visitor_id: b.visitor_id,
                    source_offset: b.source_offset,
                    source_partition: b.source_partition,
                    event_id: b.event_id,
                    bound_at: b.bound_at,
                };
                (b.customer_id, bound)
            })
            .collect();
        Bindings { table }
    }

    /// The binding an event at `offset` may see.
    pub fn lookup(&self, offset: i64, customer_id: &str) -> Option<&Bound> {
        self.table
            .get(customer_id)
            .filter(|b| b.source_offset < offset)
    }

    /// Binds `customer_id` to the visitor of `event` (at `partition`/`offset`) unless it is
    /// bound already; returns the new binding's changelog record.
    pub fn bind(
        &mut self,
        (partition, offset): (i32, i64),
        customer_id: &str,
        program_id: &str,
        visitor_id: &str,
        (event_id, bound_at): (&str, DateTime<Utc>),
    ) -> Option<IdentityBinding> {
        if self.table.contains_key(customer_id) {
            return None;
        }
        let bound = Bound {
            program_id: program_id.to_string(),
            visitor_id: visitor_id.to_string(),
            source_offset: offset,
            source_partition: partition,
            event_id: event_id.to_string(),
            bound_at,
        };
        let record = bound.record(customer_id);
        self.table.insert(customer_id.to_string(), bound);
        Some(record)
    }

    /// Every binding's changelog record (a state refresh rewrites them all).
    pub fn records(&self) -> Vec<IdentityBinding> {
        self.table
            .iter()
            .map(|(customer, bound)| bound.record(customer))
            .collect()
    }

    /// Removes the binding of an erased customer (of the request's program); true if there
    /// was one. A later event with both ids binds them again, as a new person.
    pub fn erase(&mut self, request: &schemas::ErasureRequest) -> bool {
        let subject = self
            .table
            .get(&request.customer_id)
            .is_some_and(|b| request.is_customer(&b.program_id, &request.customer_id));
        subject && self.table.remove(&request.customer_id).is_some()
    }

    /// Evicts the `n` bindings made longest ago (by the binding event's time); returns their
    /// customers, for tombstones.
    pub fn evict_oldest(&mut self, n: usize) -> Vec<String> {
        let by_age: Vec<(chrono::DateTime<chrono::Utc>, &String)> = self
            .table
            .iter()
            .map(|(customer, b)| (b.bound_at, customer))
            .collect();
        let evicted = runtime::stateful::oldest_keys(by_age, n);
        for customer in &evicted {
            self.table.remove(customer);
        }
        evicted
    }

    /// Bindings held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when no binding is held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Approximate bytes held: the strings and a map entry's overhead.
    pub fn approx_bytes(&self) -> usize {
        self.table
            .iter()
            .map(|(customer, b)| {
                customer.len() + b.program_id.len() + b.visitor_id.len() + b.event_id.len() + 112
            })
            .sum()
    }
}

/// `<program_id>/<visitor_id>`, or `<program_id>/customer:<customer_id>` without a visitor.
pub fn attribution_key(program_id: &str, visitor_id: Option<&str>, customer_id: &str) -> String {
    match visitor_id {
        Some(v) => format!("{program_id}/{v}"),
        None => format!("{program_id}/customer:{customer_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_binding_wins_and_is_seen_only_by_later_offsets() {
        let mut b = Bindings::default();
        assert!(b
            .bind((0, 10), "c1", "acme", "v1", ("e1", Utc::now()))
            .is_some());
        assert!(
            b.bind((0, 12), "c1", "acme", "v2", ("e2", Utc::now()))
                .is_none(),
            "first binding kept"
        );
        assert_eq!(
            b.lookup(11, "c1").map(|x| x.visitor_id.as_str()),
            Some("v1")
        );
        assert!(b.lookup(10, "c1").is_none(), "not visible to its own event");
        assert!(b.lookup(9, "c1").is_none(), "not visible to earlier events");
    }

    #[test]
    fn a_replay_after_restore_resolves_as_the_first_run() {
        // First run: offset 5 customer-only (unbound), offset 6 binds, offset 7 customer-only.
        let mut first = Bindings::default();
        let run = |b: &mut Bindings| {
            let at5 = b.lookup(5, "c").map(|x| x.visitor_id.clone());
            let _bound = b.bind((0, 6), "c", "acme", "v", ("e", Utc::now()));
            let at7 = b.lookup(7, "c").map(|x| x.visitor_id.clone());
            (at5, at7)
        };
        let original = run(&mut first);
        // Crash before offsets 5..7 were committed: the changelog already holds offset 6's
        // binding; the restart restores it and re-reads 5..7.
        let mut restarted = Bindings::restore([IdentityBinding {
            customer_id: "c".into(),
            program_id: "acme".into(),
            visitor_id: "v".into(),
            source_partition: 0,
            source_offset: 6,
            event_id: "e6".into(),
            bound_at: chrono::Utc::now(),
        }]);
        assert_eq!(run(&mut restarted), original);
        assert_eq!(original, (None, Some("v".to_string())));
    }

    #[test]
    fn keys_name_the_program_and_the_person() {
        assert_eq!(attribution_key("acme", Some("v1"), "c1"), "acme/v1");
        assert_eq!(attribution_key("acme", None, "c1"), "acme/customer:c1");
    }
}
