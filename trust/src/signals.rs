//! The pipeline's records as signals about partners (pure): what the trust router will re-key
//! by specialist. Each function returns `(partner id, signal)` pairs; whether the partner is a
//! specialist is the router's question (the reference data knows).
//!
//! | record | signal |
//! |---|---|
//! | an enriched click with a resolved partner | `Click` (once per touchpoint) |
//! | an attributed conversion (or renewal) | `Credited` for each partner credited |
//! | a ledger entry caused by a refund | `Refunded` (the order, once) |
//! | a ledger entry reversing a line for another cause (risk, review, by hand) | `Reversed` |
//! | a line's first entry held or reversed by risk's policy | `Flagged` (the order) |
//! | a claim notice | `Claim` (once per claim) |
//! | a partner's risk level (not a SharedId's) | `RiskLevel` |
//! | a commission held with reason `unverified_specialist` | `AwaitingVerification` |

use schemas::attribution::{AttributionKind, AttributionOutcome};
use schemas::ledger::LedgerStatus;
use schemas::touchpoint::EventKind;
use schemas::{Attribution, ClaimNotice, EnrichedTouchpoint, LedgerEntry, RiskLevel};

use crate::specialist::Signal;

/// A click of a resolved partner.
pub fn from_touchpoint(t: &EnrichedTouchpoint) -> Option<(String, Signal)> {
    if t.touchpoint.kind != EventKind::Click {
        return None;
    }
    let partner = t.partner.partner_id.clone()?;
    Some((
        partner,
        Signal::Click {
            program_id: t.program_id.clone(),
            touchpoint_id: t.touchpoint.event_id.clone(),
        },
    ))
}

/// The partners an attributed conversion credited.
pub fn from_attribution(a: &Attribution) -> Vec<(String, Signal)> {
    if a.kind != AttributionKind::Conversion || a.outcome != AttributionOutcome::Attributed {
        return Vec::new();
    }
    let mut out: Vec<(String, Signal)> = Vec::new();
    for c in &a.credits {
        if out.iter().any(|(p, _)| *p == c.partner_id) {
            continue;
        }
        out.push((
            c.partner_id.clone(),
            Signal::Credited {
                program_id: a.program_id.clone(),
                order_id: a.order_id.clone(),
            },
        ));
    }
    out
}

/// What a ledger entry says of its partner's customers.
pub fn from_ledger_entry(e: &LedgerEntry) -> Option<(String, Signal)> {
    let program_id = e.program_id.clone();
    let signal = match (e.cause.as_str(), e.from_status, e.to_status) {
        ("refund", _, _) => Signal::Refunded {
            program_id,
            order_id: e.order_id.clone(),
        },
        ("risk_policy", None, LedgerStatus::Held | LedgerStatus::Reversed) => Signal::Flagged {
            program_id,
            order_id: e.order_id.clone(),
        },
        ("refund_of_reversed", _, _) => return None,
        (_, Some(_), LedgerStatus::Reversed) => Signal::Reversed {
            program_id,
            commission_id: e.commission_id.clone(),
        },
        _ => return None,
    };
    Some((e.partner_id.clone(), signal))
}

/// The reason risk gives a commission it holds until its specialist is verified.
pub const UNVERIFIED_SPECIALIST: &str = "unverified_specialist";

/// A commission held until its specialist is verified.
pub fn from_decision(d: &schemas::CommissionDecision) -> Option<(String, Signal)> {
    let held = d.decision == schemas::commission::Decision::Held
        && d.decision_reasons
            .iter()
            .any(|r| r == UNVERIFIED_SPECIALIST);
    held.then(|| {
        (
            d.partner_id.clone(),
            Signal::AwaitingVerification {
                program_id: d.program_id.clone(),
                commission_id: d.commission_id.clone(),
            },
        )
    })
}

/// A claim the partner filed.
pub fn from_claim(c: &ClaimNotice) -> (String, Signal) {
    (
        c.partner_id.clone(),
        Signal::Claim {
            program_id: c.program_id.clone(),
            claim_id: c.claim_id.clone(),
        },
    )
}

/// A partner's own risk level (SharedId levels are not the partner's).
pub fn from_risk_level(l: &RiskLevel) -> Option<(String, Signal)> {
    if l.shared_id.is_some() {
        return None;
    }
    Some((
        l.partner_id.clone(),
        Signal::RiskLevel {
            program_id: l.program_id.clone(),
            level: l.level.as_str().to_string(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::examples;
    use schemas::ledger::EntryKind;

    #[test]
    fn clicks_of_resolved_partners_only() {
        let mut t = examples::enriched_touchpoint();
        t.touchpoint.kind = EventKind::Click;
        t.partner.partner_id = Some("p-lena".into());
        let (partner, signal) = from_touchpoint(&t).expect("a click");
        assert_eq!(partner, "p-lena");
        assert!(
            matches!(signal, Signal::Click { touchpoint_id, .. } if touchpoint_id == t.touchpoint.event_id)
        );
        t.partner.partner_id = None;
        assert!(from_touchpoint(&t).is_none());
        t.partner.partner_id = Some("p-lena".into());
        t.touchpoint.kind = EventKind::PageView;
        assert!(from_touchpoint(&t).is_none());
    }

    #[test]
    fn each_credited_partner_once_and_refunds_are_not_credits() {
        let mut a = examples::attribution();
        a.kind = AttributionKind::Conversion;
        a.outcome = AttributionOutcome::Attributed;
        let mut expected: Vec<String> = Vec::new();
        for c in &a.credits {
            if !expected.contains(&c.partner_id) {
                expected.push(c.partner_id.clone());
            }
        }
        let mut again = a.credits[0].clone();
        again.share = rust_decimal::Decimal::ZERO;
        a.credits.push(again);
        let partners: Vec<String> = from_attribution(&a).into_iter().map(|(p, _)| p).collect();
        assert_eq!(partners, expected, "a partner credited twice is one signal");
        a.kind = AttributionKind::Refund;
        assert!(from_attribution(&a).is_empty());
    }

    #[test]
    fn ledger_entries_as_refunds_reversals_and_risk_flags() {
        let entry = |cause: &str, from: Option<LedgerStatus>, to: LedgerStatus| {
            let mut e = examples::ledger_entry();
            e.cause = cause.into();
            e.from_status = from;
            e.to_status = to;
            e.entry_kind = EntryKind::StatusChange;
            e
        };
        use LedgerStatus as S;
        let kind = |e: &LedgerEntry| {
            from_ledger_entry(e).map(|(_, s)| match s {
                Signal::Refunded { .. } => "refunded",
                Signal::Flagged { .. } => "flagged",
                Signal::Reversed { .. } => "reversed",
                _ => "other",
            })
        };
        assert_eq!(
            kind(&entry("refund", Some(S::Pending), S::Reversed)),
            Some("refunded")
        );
        assert_eq!(kind(&entry("refund", None, S::Pending)), Some("refunded"));
        assert_eq!(kind(&entry("risk_policy", None, S::Held)), Some("flagged"));
        assert_eq!(
            kind(&entry("risk_policy", None, S::Reversed)),
            Some("flagged")
        );
        assert_eq!(
            kind(&entry("review", Some(S::Held), S::Reversed)),
            Some("reversed")
        );
        assert_eq!(
            kind(&entry("manual", Some(S::Paid), S::Reversed)),
            Some("reversed")
        );
        assert_eq!(kind(&entry("decided", None, S::Pending)), None);
        assert_eq!(
            kind(&entry("hold_elapsed", Some(S::Pending), S::Approved)),
            None
        );
        assert_eq!(
            kind(&entry("refund_of_reversed", Some(S::Reversed), S::Reversed)),
            None
        );
    }

    #[test]
    fn only_lines_held_for_verification_await_it() {
        let mut d = examples::commission_decision();
        d.decision = schemas::commission::Decision::Held;
        d.decision_reasons = vec!["code_leakage".into()];
        assert!(from_decision(&d).is_none(), "held for another reason");
        d.decision_reasons.push(UNVERIFIED_SPECIALIST.into());
        let (partner, signal) = from_decision(&d).expect("awaiting");
        assert_eq!(partner, d.partner_id);
        assert!(
            matches!(signal, Signal::AwaitingVerification { commission_id, .. } if commission_id == d.commission_id)
        );
        d.decision = schemas::commission::Decision::Payable;
        assert!(from_decision(&d).is_none());
    }

    #[test]
    fn claims_and_the_partners_own_risk_level() {
        let c = examples::claim_notice();
        assert!(
            matches!(from_claim(&c).1, Signal::Claim { claim_id, .. } if claim_id == c.claim_id)
        );
        let mut l = examples::risk_level();
        l.shared_id = None;
        let (partner, signal) = from_risk_level(&l).expect("the partner's");
        assert_eq!(partner, l.partner_id);
        assert!(matches!(signal, Signal::RiskLevel { level, .. } if level == l.level.as_str()));
        l.shared_id = Some("newsletter".into());
        assert!(from_risk_level(&l).is_none());
    }
}
