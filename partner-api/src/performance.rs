//! A partner's performance (pure): clicks, conversions, conversion rate, revenue, commission
//! and average order, by month and by source, from two grouped reads.
//!
//! Definitions (the README repeats them for partners):
//! - **clicks**: the partner's click touchpoints in the month, counted once each.
//! - **conversions**: credited orders (conversions and renewals) whose order time is in the
//!   month; refunds are not conversions.
//! - **conversion rate**: conversions / clicks x 100, two decimals, half-even (none without
//!   clicks).
//! - **revenue**: the credited part of each order (its share), net of refunds credited to the
//!   partner in the month; **commission** likewise: what the attribution decided, net of
//!   refunds, in the currency of the orders — the ledger's lines for these orders, before
//!   holds and reversals (the statement shows each line's status).
//! - **average order**: revenue of the conversions (before refunds) / conversions, at the
//!   currency's minor unit, half-even.
//! - **source**: the channel and UTM of the partner's latest touchpoint in the attribution's
//!   evidence; a click's own channel and UTM.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};

use crate::queries::{ClickGroupRow, OrderGroupRow};
use crate::views::money;

impl ClickGroupRow {
    fn source(&self) -> Source {
        Source {
            channel: self.channel.clone(),
            utm_source: self.utm_source.clone(),
            utm_medium: self.utm_medium.clone(),
            utm_campaign: self.utm_campaign.clone(),
        }
    }
}

impl OrderGroupRow {
    fn source(&self) -> Source {
        Source {
            channel: self.channel.clone(),
            utm_source: self.utm_source.clone(),
            utm_medium: self.utm_medium.clone(),
            utm_campaign: self.utm_campaign.clone(),
        }
    }
}

/// `YYYYMM` → `YYYY-MM`.
pub fn month_name(yyyymm: u32) -> String {
    format!("{:04}-{:02}", yyyymm / 100, yyyymm % 100)
}

/// Where traffic came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Source {
    /// Channel ('' when unknown).
    pub channel: String,
    /// UTM source.
    pub utm_source: String,
    /// UTM medium.
    pub utm_medium: String,
    /// UTM campaign.
    pub utm_campaign: String,
}

/// Money of one currency in a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Amounts {
    conversions: u64,
    order_revenue_minor: i64,
    revenue_minor: i64,
    commission_minor: i64,
}

/// A group's counts and money per currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Group {
    clicks: u64,
    by_currency: BTreeMap<String, Amounts>,
}

impl Group {
    fn add_order(&mut self, row: &OrderGroupRow) {
        let a = self.by_currency.entry(row.currency.clone()).or_default();
        a.conversions += row.conversions;
        a.order_revenue_minor += row.order_revenue_minor;
        a.revenue_minor += row.revenue_minor;
        a.commission_minor += row.commission_minor;
    }

    fn conversions(&self) -> u64 {
        self.by_currency.values().map(|a| a.conversions).sum()
    }

    fn to_json(&self) -> Value {
        let conversions = self.conversions();
        json!({
            "clicks": self.clicks,
            "conversions": conversions,
            "conversion_rate_percent": rate_percent(conversions, self.clicks),
            "money": self.by_currency.iter().map(|(currency, a)| json!({
                "currency": currency,
                "conversions": a.conversions,
                "revenue": money(a.revenue_minor, currency),
                "commission": money(a.commission_minor, currency),
                "average_order": average_minor(a.order_revenue_minor, a.conversions)
                    .map(|m| money(m, currency)),
            })).collect::<Vec<_>>(),
        })
    }
}

/// conversions / clicks x 100 as a decimal string with two places; `None` without clicks.
pub fn rate_percent(conversions: u64, clicks: u64) -> Option<String> {
    if clicks == 0 {
        return None;
    }
    let rate = Decimal::from(conversions) * Decimal::ONE_HUNDRED / Decimal::from(clicks);
    let mut rate = rate.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    rate.rescale(2);
    Some(rate.to_string())
}

/// `total / count` in minor units, half-even; `None` when `count` is 0.
pub fn average_minor(total: i64, count: u64) -> Option<i64> {
    if count == 0 {
        return None;
    }
    let average = Decimal::from(total) / Decimal::from(count);
    i64::try_from(
        average
            .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
            .mantissa(),
    )
    .ok()
}

/// The performance document: a total, by month (`YYYY-MM`, oldest first) and by source
/// (most clicks first, then most conversions).
pub fn report(clicks: &[ClickGroupRow], orders: &[OrderGroupRow]) -> Value {
    let mut total = Group::default();
    let mut by_month: BTreeMap<u32, Group> = BTreeMap::new();
    let mut by_source: BTreeMap<Source, Group> = BTreeMap::new();
    for c in clicks {
        total.clicks += c.clicks;
        by_month.entry(c.month).or_default().clicks += c.clicks;
        by_source.entry(c.source()).or_default().clicks += c.clicks;
    }
    for o in orders {
        total.add_order(o);
        by_month.entry(o.month).or_default().add_order(o);
        by_source.entry(o.source()).or_default().add_order(o);
    }
    let mut sources: Vec<(Source, Group)> = by_source.into_iter().collect();
    sources.sort_by(|(sa, a), (sb, b)| {
        (b.clicks, b.conversions())
            .cmp(&(a.clicks, a.conversions()))
            .then_with(|| sa.cmp(sb))
    });
    json!({
        "total": total.to_json(),
        "by_month": by_month.iter().map(|(month, g)| {
            let mut doc = g.to_json();
            doc["month"] = json!(month_name(*month));
            doc
        }).collect::<Vec<_>>(),
        "by_source": sources.iter().map(|(s, g)| {
            let mut doc = g.to_json();
            doc["channel"] = optional(&s.channel);
            doc["utm"] = json!({
                "source": optional(&s.utm_source),
                "medium": optional(&s.utm_medium),
                "campaign": optional(&s.utm_campaign),
            });
            doc
        }).collect::<Vec<_>>(),
    })
}

fn optional(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        json!(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(month: u32, utm: &str, clicks: u64) -> ClickGroupRow {
        ClickGroupRow {
            month,
            channel: "referral".into(),
            utm_source: utm.into(),
            utm_medium: String::new(),
            utm_campaign: String::new(),
            clicks,
        }
    }

    fn order(
        month: u32,
        utm: &str,
        currency: &str,
        n: u64,
        order: i64,
        net: i64,
        com: i64,
    ) -> OrderGroupRow {
        OrderGroupRow {
            month,
            currency: currency.into(),
            channel: "referral".into(),
            utm_source: utm.into(),
            utm_medium: String::new(),
            utm_campaign: String::new(),
            conversions: n,
            order_revenue_minor: order,
            revenue_minor: net,
            commission_minor: com,
        }
    }

    #[test]
    fn rates_and_averages_round_half_even_and_need_a_denominator() {
        assert_eq!(rate_percent(1, 3).as_deref(), Some("33.33"));
        assert_eq!(rate_percent(2, 3).as_deref(), Some("66.67"));
        assert_eq!(rate_percent(1, 8).as_deref(), Some("12.50"));
        assert_eq!(rate_percent(1, 0), None);
        assert_eq!(average_minor(1001, 2), Some(500), "500.5 → 500 (even)");
        assert_eq!(average_minor(1003, 2), Some(502), "501.5 → 502 (even)");
        assert_eq!(average_minor(5, 0), None);
    }

    #[test]
    fn a_worked_example_by_month_and_source() {
        let clicks = [
            click(202603, "news", 40),
            click(202603, "blog", 10),
            click(202604, "news", 20),
        ];
        let orders = [
            // March, news: 2 orders of 50.00 and 30.00, one refunded by 10.00; 8.00 commission net.
            order(202603, "news", "EUR", 2, 8000, 7000, 800),
            order(202604, "news", "EUR", 1, 1999, 1999, 200),
            order(202604, "news", "GBP", 1, 4000, 4000, 400),
        ];
        let doc = report(&clicks, &orders);
        assert_eq!(doc["total"]["clicks"], 70);
        assert_eq!(doc["total"]["conversions"], 4);
        assert_eq!(doc["total"]["conversion_rate_percent"], "5.71");
        let march = &doc["by_month"][0];
        assert_eq!(march["month"], "2026-03");
        assert_eq!(
            (march["clicks"].as_u64(), march["conversions"].as_u64()),
            (Some(50), Some(2))
        );
        assert_eq!(march["conversion_rate_percent"], "4.00");
        assert_eq!(march["money"][0]["revenue"]["amount"], "70.00");
        assert_eq!(march["money"][0]["commission"]["amount"], "8.00");
        assert_eq!(march["money"][0]["average_order"]["amount"], "40.00");
        let april = &doc["by_month"][1];
        assert_eq!(
            april["money"].as_array().map(Vec::len),
            Some(2),
            "EUR and GBP apart"
        );
        // Sources: news (60 clicks, 4 conversions) before blog (10 clicks, none).
        assert_eq!(doc["by_source"][0]["utm"]["source"], "news");
        assert_eq!(doc["by_source"][0]["clicks"], 60);
        assert_eq!(doc["by_source"][1]["utm"]["source"], "blog");
        assert_eq!(doc["by_source"][1]["conversions"], 0);
        assert_eq!(doc["by_source"][1]["money"], json!([]));
    }

    #[test]
    fn conversions_without_clicks_have_no_rate() {
        let doc = report(&[], &[order(202605, "", "EUR", 1, 100, 100, 10)]);
        assert_eq!(doc["total"]["conversion_rate_percent"], Value::Null);
        assert_eq!(doc["by_source"][0]["utm"]["source"], Value::Null);
    }
}
