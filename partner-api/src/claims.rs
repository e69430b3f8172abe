//! Missing-commission claims (pure): what a partner may send, and the answer the attribution
//! record gives. The answer names only the partner's own lines and claims — never who else
//! was credited.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::queries::{ClaimRow, LineRow, LosingRow};

/// A claim as sent: an order id, or the order's date and amount.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    /// The order id.
    pub order_id: Option<String>,
    /// The order's date (UTC), `YYYY-MM-DD`.
    pub date: Option<String>,
    /// The order's amount, a decimal string.
    pub amount: Option<String>,
    /// Its currency (ISO 4217).
    pub currency: Option<String>,
}

/// How the order is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRef {
    /// By id.
    Id(String),
    /// By UTC date, amount in minor units and currency.
    DateAmount {
        /// Date.
        date: NaiveDate,
        /// Minor units.
        minor: i64,
        /// ISO 4217.
        currency: String,
    },
}

impl OrderRef {
    /// As recorded with the claim.
    pub fn describe(&self) -> String {
        match self {
            OrderRef::Id(id) => format!("order {id}"),
            OrderRef::DateAmount {
                date,
                minor,
                currency,
            } => {
                let amount = schemas::money::Currency::from_code(currency)
                    .map_or_else(|| minor.to_string(), |c| c.from_minor(*minor).to_string());
                format!("an order of {amount} {currency} on {date}")
            }
        }
    }
}

/// Checks a claim; the error says what is wrong.
pub fn parse(body: &ClaimBody) -> Result<OrderRef, String> {
    match body {
        ClaimBody {
            order_id: Some(id),
            date: None,
            amount: None,
            currency: None,
        } => {
            let id = id.trim();
            if id.is_empty() || id.len() > 128 {
                return Err("`order_id` must be 1 to 128 characters".into());
            }
            Ok(OrderRef::Id(id.to_string()))
        }
        ClaimBody {
            order_id: None,
            date: Some(date),
            amount: Some(amount),
            currency: Some(currency),
        } => {
            let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .map_err(|_| format!("`date` must be YYYY-MM-DD, not {date:?}"))?;
            let c = schemas::money::Currency::from_code(currency)
                .ok_or_else(|| format!("`currency` {currency:?} is not an ISO 4217 code"))?;
            let decimal: rust_decimal::Decimal = amount.parse().map_err(|_| {
                format!("`amount` must be a decimal string such as \"40.00\", not {amount:?}")
            })?;
            let minor = c.to_minor(decimal).map_err(|e| format!("`amount`: {e}"))?;
            Ok(OrderRef::DateAmount {
                date,
                minor,
                currency: currency.clone(),
            })
        }
        _ => Err("send either `order_id`, or `date`, `amount` and `currency`".into()),
    }
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The partner has lines for the order.
    Credited(Vec<LineRow>),
    /// The partner's touchpoints for the order lost, with why.
    Lost(Vec<LosingRow>),
    /// The order is known and nothing of the partner's is recorded for it.
    NoTouchpoint,
    /// The order is not known (yet): an operator looks into it.
    Review,
}

impl Answer {
    /// From what the attribution record holds for the order and the partner.
    pub fn of(order_known: bool, lines: Vec<LineRow>, losing: Vec<LosingRow>) -> Answer {
        if !lines.is_empty() {
            Answer::Credited(lines)
        } else if !losing.is_empty() {
            Answer::Lost(losing)
        } else if order_known {
            Answer::NoTouchpoint
        } else {
            Answer::Review
        }
    }

    /// The stored `answer` column.
    pub fn code(&self) -> &'static str {
        match self {
            Answer::Credited(_) => "credited",
            Answer::Lost(_) => "lost",
            Answer::NoTouchpoint => "no_touchpoint",
            Answer::Review => "review",
        }
    }

    /// The claim's status: answered at once, or open for an operator.
    pub fn status(&self) -> &'static str {
        match self {
            Answer::Review => "open",
            _ => "answered",
        }
    }

    /// What the partner reads.
    pub fn detail(&self) -> Value {
        match self {
            Answer::Credited(lines) => json!({
                "message": "this order was credited to you",
                "lines": lines.iter().map(|l| json!({
                    "commission_id": l.commission_id,
                    "status": l.status,
                    "money": crate::views::money(l.amount_minor, &l.currency),
                })).collect::<Vec<_>>(),
            }),
            Answer::Lost(claims) => json!({
                "message": "your touchpoints for this order did not win",
                "reasons": claims.iter().map(|c| json!({
                    "touchpoint_id": c.touchpoint_id,
                    "reason": c.reason,
                    "explanation": explain(&c.reason),
                })).collect::<Vec<_>>(),
            }),
            Answer::NoTouchpoint => json!({
                "message": "no touchpoint of yours (click, code, visit) is recorded for this order",
            }),
            Answer::Review => json!({
                "message": "this order is not known yet; an operator will look into it",
            }),
        }
    }
}

/// The published version `version` (microseconds) of a claim.
pub fn notice(row: &ClaimRow, version: i64) -> schemas::ClaimNotice {
    let time = |secs: u32| DateTime::<Utc>::from_timestamp(i64::from(secs), 0).unwrap_or_default();
    schemas::ClaimNotice {
        claim_id: row.claim_id.clone(),
        program_id: row.program_id.clone(),
        partner_id: row.partner_id.clone(),
        order_reference: row.order_reference.clone(),
        answer: row.answer.clone(),
        detail: row.detail.clone(),
        status: row.status.clone(),
        resolution: row.resolution.clone(),
        resolved_by: row.resolved_by.clone(),
        submitted_at: time(row.submitted_at),
        updated_at: time(row.updated_at),
        version,
    }
}

/// A losing-claim reason in words (the attributor's codes).
pub fn explain(reason: &str) -> &'static str {
    match reason {
        "outside_window" => "your touchpoint was older than the attribution window",
        "code_precedence" => "a voucher code took precedence over your link",
        "link_precedence" => "a referral link took precedence over your code",
        "not_latest_code" => "a later voucher code was used",
        "not_last_touch" => "another touchpoint came later (last-touch attribution)",
        "not_first_touch" => "another touchpoint came first (first-touch attribution)",
        "self_referral" => "the buyer is one of your own accounts",
        "suspended_partner" => "your partnership was suspended at the time",
        "unknown_partner" => "the partner was not known to the program",
        "no_rule" => "no commission rule of the program covers this order",
        "not_recurring" => "the program pays the first order of a subscription, not its renewals",
        "recurring_limit_reached" => "the program pays this many renewals and no more",
        _ => "see the program's attribution rules",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(
        order_id: Option<&str>,
        date: Option<&str>,
        amount: Option<&str>,
        currency: Option<&str>,
    ) -> ClaimBody {
        ClaimBody {
            order_id: order_id.map(String::from),
            date: date.map(String::from),
            amount: amount.map(String::from),
            currency: currency.map(String::from),
        }
    }

    #[test]
    fn a_claim_names_an_order_by_id_or_by_date_and_exact_amount() {
        assert_eq!(
            parse(&body(Some(" o-1 "), None, None, None)),
            Ok(OrderRef::Id("o-1".into()))
        );
        let by_amount =
            parse(&body(None, Some("2026-06-18"), Some("40.00"), Some("USD"))).expect("valid");
        assert_eq!(
            by_amount,
            OrderRef::DateAmount {
                date: NaiveDate::from_ymd_opt(2026, 6, 18).expect("date"),
                minor: 4000,
                currency: "USD".into()
            }
        );
        assert_eq!(by_amount.describe(), "an order of 40.00 USD on 2026-06-18");
        for (bad, word) in [
            (body(None, None, None, None), "either"),
            (body(Some("o"), Some("2026-06-18"), None, None), "either"),
            (body(Some(""), None, None, None), "order_id"),
            (
                body(None, Some("18.06.2026"), Some("1"), Some("EUR")),
                "date",
            ),
            (
                body(None, Some("2026-06-18"), Some("1.001"), Some("EUR")),
                "amount",
            ),
            (
                body(None, Some("2026-06-18"), Some("x"), Some("EUR")),
                "amount",
            ),
            (
                body(None, Some("2026-06-18"), Some("1"), Some("EURO")),
                "currency",
            ),
        ] {
            let err = parse(&bad).expect_err("refused");
            assert!(err.contains(word), "{err}");
        }
    }

    #[test]
    fn the_answer_prefers_credit_then_losing_claims_then_the_order_being_known() {
        let losing = LosingRow {
            attribution_id: "a".into(),
            touchpoint_id: "t".into(),
            reason: "code_precedence".into(),
            order_id: "o".into(),
            occurred_at: 0,
        };
        assert_eq!(
            Answer::of(true, vec![], vec![losing.clone()]).code(),
            "lost"
        );
        assert_eq!(Answer::of(true, vec![], vec![]).code(), "no_touchpoint");
        let review = Answer::of(false, vec![], vec![]);
        assert_eq!((review.code(), review.status()), ("review", "open"));
        let lost = Answer::of(true, vec![], vec![losing]).detail();
        assert_eq!(
            lost["reasons"][0]["explanation"],
            "a voucher code took precedence over your link"
        );
    }
}
