//! Deterministic ids: the same inputs give the same id on every run and every instance, which
//! is what lets every consumer de-duplicate a replayed output (DESIGN.md §5).

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use crate::ledger::LedgerStatus;

/// `<prefix>-` and the first 16 bytes of SHA-256 over the parts, each followed by a NUL so
/// that `("ab", "c")` and `("a", "bc")` differ.
pub fn deterministic_id(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut out = String::with_capacity(prefix.len() + 33);
    out.push_str(prefix);
    out.push('-');
    push_hex(&mut out, &digest[..16]);
    out
}

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Appends `bytes` as lowercase hex: every id and digest of the pipeline goes through here,
/// per event, so it is a table lookup rather than a `format!` per byte.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

/// A conversion's attribution: program + order id.
pub fn attribution_id(program_id: &str, order_id: &str) -> String {
    deterministic_id("att", &[program_id, order_id])
}

/// A refund's attribution: program + order id + the refund's event id (an order may be
/// refunded in several parts).
pub fn refund_attribution_id(program_id: &str, order_id: &str, refund_event_id: &str) -> String {
    deterministic_id("att", &[program_id, order_id, refund_event_id])
}

/// A commission line item: attribution + partner.
pub fn commission_id(attribution_id: &str, partner_id: &str) -> String {
    deterministic_id("com", &[attribution_id, partner_id])
}

/// A ledger entry: the line and the status it reached (each status once per line).
pub fn entry_id(line_id: &str, to: LedgerStatus) -> String {
    deterministic_id("ent", &[line_id, to.as_str()])
}

/// A payout: program + partner + currency + period end.
pub fn payout_id(
    program: &str,
    partner: &str,
    currency: &str,
    period_end: DateTime<Utc>,
) -> String {
    let end = period_end.to_rfc3339_opts(SecondsFormat::Millis, true);
    deterministic_id("pay", &[program, partner, currency, &end])
}

/// The clawback line of a commission reversed by hand after it was paid.
pub fn clawback_line_id(commission_id: &str) -> String {
    deterministic_id("clb", &[commission_id])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lowercase_digits_per_byte_for_every_byte() {
        let every: Vec<u8> = (0..=255).collect();
        let by_format: String = every.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&every), by_format);
        assert_eq!(hex(&[]), "");
        let mut out = String::from("com-");
        push_hex(&mut out, &[0x00, 0xab, 0x0f]);
        assert_eq!(out, "com-00ab0f");
    }

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
        assert_eq!(
            entry_id("com-1", LedgerStatus::Paid),
            deterministic_id("ent", &["com-1", "paid"])
        );
    }
}
