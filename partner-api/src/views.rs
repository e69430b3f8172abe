//! Rows → the JSON partners read (pure). Money is a decimal string at the currency's minor
//! unit with its code beside it; times are RFC 3339 UTC; empty optional columns are null.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::queries::{
    CreditRow, EvidenceRow, LineRow, LosingRow, PayoutRow, ReasonCountRow, RiskRow, TotalRow,
};

/// `12.50` for 1250 EUR minor units; an unknown code keeps the minor units (never guessed).
pub fn money(minor: i64, currency: &str) -> Value {
    match schemas::money::Currency::from_code(currency) {
        Some(c) => json!({"amount": c.from_minor(minor).to_string(), "currency": currency}),
        None => json!({"amount_minor": minor.to_string(), "currency": currency}),
    }
}

/// Unix seconds → RFC 3339; 0 is "not yet" (null).
pub fn time(seconds: u32) -> Value {
    if seconds == 0 {
        return Value::Null;
    }
    DateTime::<Utc>::from_timestamp(i64::from(seconds), 0)
        .map_or(Value::Null, |t| json!(t.to_rfc3339()))
}

fn optional(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        json!(text)
    }
}

/// A line, with the evidence of why it was credited when the attribution is known.
pub fn line(
    row: &LineRow,
    model: Option<&str>,
    credit: Option<&CreditRow>,
    evidence: &[&EvidenceRow],
) -> Value {
    json!({
        "commission_id": row.commission_id,
        "kind": row.line_kind,
        "reverses": optional(&row.of_commission_id),
        "order_id": row.order_id,
        "occurred_at": time(row.occurred_at),
        "status": row.status,
        "hold_until": time(row.hold_until),
        "payout_id": optional(&row.payout_id),
        "rule_id": optional(&row.rule_id),
        "money": money(row.amount_minor, &row.currency),
        "why_credited": {
            "attribution_id": row.attribution_id,
            "model": model,
            "share": credit.map(|c| c.share.clone()),
            "touchpoints": evidence.iter().map(|e| touchpoint(e, credit)).collect::<Vec<_>>(),
        },
    })
}

fn touchpoint(e: &EvidenceRow, credit: Option<&CreditRow>) -> Value {
    json!({
        "touchpoint_id": e.touchpoint_id,
        "kind": e.kind,
        "occurred_at": time(e.occurred_at),
        "credited": credit.is_some_and(|c| c.touchpoint_ids.contains(&e.touchpoint_id)),
        "link_id": optional(&e.link_id),
        "code": optional(&e.code),
        "landing_domain": optional(&e.landing_domain),
        "channel": optional(&e.channel),
        "utm": {"source": optional(&e.utm_source), "medium": optional(&e.utm_medium), "campaign": optional(&e.utm_campaign)},
        "window": e.attribution_window,
    })
}

/// A claim of the partner that lost.
pub fn losing_claim(row: &LosingRow) -> Value {
    json!({
        "attribution_id": row.attribution_id,
        "order_id": row.order_id,
        "occurred_at": time(row.occurred_at),
        "touchpoint_id": row.touchpoint_id,
        "reason": row.reason,
        "explanation": crate::claims::explain(&row.reason),
    })
}

/// Totals by currency and status.
pub fn totals(rows: &[TotalRow]) -> Value {
    json!(rows
        .iter()
        .map(|t| json!({"status": t.status, "lines": t.lines, "money": money(t.amount_minor, &t.currency)}))
        .collect::<Vec<_>>())
}

/// A payout.
pub fn payout(row: &PayoutRow) -> Value {
    json!({
        "payout_id": row.payout_id,
        "status": row.status,
        "money": money(row.amount_minor, &row.currency),
        "lines": row.item_count,
        "period_end": time(row.period_end),
        "created_at": time(row.created_at),
        "settled_at": time(row.settled_at),
    })
}

/// A claim as the partner reads it.
pub fn claim(row: &crate::queries::ClaimRow) -> Value {
    json!({
        "claim_id": row.claim_id,
        "order": row.order_reference,
        "answer": row.answer,
        "detail": serde_json::from_str::<Value>(&row.detail).unwrap_or(Value::Null),
        "status": row.status,
        "resolution": optional(&row.resolution),
        "submitted_at": time(row.submitted_at),
        "updated_at": time(row.updated_at),
    })
}

/// A risk level: the partner's own (`shared_id` null) or one SharedId's.
pub fn risk(row: &RiskRow) -> Value {
    json!({
        "shared_id": optional(&row.shared_id),
        "level": row.level,
        "risk_percent": row.risk_percent,
        "scored_actions": row.scored_actions,
        "flagged_actions": row.flagged_actions,
        "window_days": row.window_days,
        "updated_at": time(row.updated_at),
    })
}

/// The reason-code snapshot: how many of the partner's flagged actions (its own, and per
/// SharedId) each code fired on since `since` — counts, never which action.
pub fn reason_counts(rows: &[ReasonCountRow], since: &str, window_days: i32) -> Value {
    json!({
        "since": since,
        "window_days": window_days,
        "counts": rows.iter().map(|r| json!({
            "shared_id": optional(&r.shared_id),
            "reason_code": r.reason_code,
            "flagged_actions": r.actions,
        })).collect::<Vec<_>>(),
    })
}

/// A specialist as a marketplace shows them: status, score, and the explanation (each
/// component with weight, contribution and inputs; markers with inputs; completeness per
/// field; the review aggregate).
pub fn trust(row: &crate::queries::TrustRow) -> Value {
    let explanation: Value = serde_json::from_str(&row.explanation).unwrap_or(Value::Null);
    json!({
        "specialist_id": row.specialist_id,
        "verification": row.verification,
        "listed": row.listed == 1,
        "not_listed_because": (!row.not_listed_because.is_empty()).then_some(&row.not_listed_because),
        "score": row.score,
        "completeness_percent": row.completeness_percent,
        "review_count": row.review_count,
        "review_average": row.review_average,
        "profile": explanation["profile"],
        "components": explanation["components"],
        "markers": explanation["markers"],
        "completeness": explanation["completeness"],
        "reviews": explanation["reviews"],
        "updated_at": time(row.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact_at_the_minor_unit() {
        assert_eq!(
            money(1250, "EUR"),
            json!({"amount": "12.50", "currency": "EUR"})
        );
        assert_eq!(
            money(-5, "EUR"),
            json!({"amount": "-0.05", "currency": "EUR"})
        );
        assert_eq!(
            money(1250, "JPY"),
            json!({"amount": "1250", "currency": "JPY"})
        );
        assert_eq!(
            money(1250, "KWD"),
            json!({"amount": "1.250", "currency": "KWD"})
        );
        assert_eq!(
            money(7, "XXQ"),
            json!({"amount_minor": "7", "currency": "XXQ"})
        );
    }

    #[test]
    fn times_are_utc_and_zero_is_null() {
        assert_eq!(time(0), Value::Null);
        assert_eq!(time(1_780_000_000), json!("2026-05-28T20:26:40+00:00"));
    }
}
