//! Deterministic ids: the same inputs give the same id on every run and every instance, which
//! is what lets every consumer de-duplicate a replayed output (DESIGN.md §5).

use schemas::ids::deterministic_id as id;

/// A conversion's attribution: program + order id.
pub fn attribution_id(program_id: &str, order_id: &str) -> String {
    id("att", &[program_id, order_id])
}

/// A refund's attribution: program + order id + the refund's event id (an order may be
/// refunded in several parts).
pub fn refund_attribution_id(program_id: &str, order_id: &str, refund_event_id: &str) -> String {
    id("att", &[program_id, order_id, refund_event_id])
}

/// A commission line item: attribution + partner.
pub fn commission_id(attribution_id: &str, partner_id: &str) -> String {
    id("com", &[attribution_id, partner_id])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_unambiguous() {
        assert_eq!(
            attribution_id("acme-eu", "o-1"),
            attribution_id("acme-eu", "o-1")
        );
        assert_ne!(attribution_id("ab", "c"), attribution_id("a", "bc"));
        assert_ne!(
            attribution_id("p", "o"),
            refund_attribution_id("p", "o", "")
        );
        let id = commission_id("att-x", "p-1");
        assert!(id.starts_with("com-") && id.len() == 36, "{id}");
        // Pinned: ids must never change between releases, or replays would double-count.
        assert_eq!(
            attribution_id("acme-eu", "o-1"),
            "att-2e837a20fec7921c8e5613b060801bdd"
        );
    }
}
