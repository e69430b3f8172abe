//! Reviews and their aggregate (pure). A review is validated at intake (rating 1–5, text at
//! most [`TEXT_MAX_CHARS`], one per order). It counts as *verified* only when its order was
//! attributed to the specialist reviewed; verified reviews are then excluded — each with its
//! recorded reason — when they are self-reviews (the reviewer is one of the specialist's own
//! accounts), part of a burst from one device or one network, or tied to an order risk flagged.
//! What is left is counted: a Bayesian average with a documented prior, the count, the
//! distribution and the recent trend.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Longest review text, in characters.
pub const TEXT_MAX_CHARS: usize = 2_000;

/// One review as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Id.
    pub review_id: String,
    /// Program.
    pub program_id: String,
    /// The specialist (partner id) reviewed.
    pub specialist_id: String,
    /// The order it is about.
    pub order_id: String,
    /// 1–5.
    pub rating: u8,
    /// Optional text.
    pub text: Option<String>,
    /// The reviewer's customer id (hashed upstream, like every customer id), when known.
    pub customer_id: Option<String>,
    /// The device it was sent from (a hash), when known.
    pub device_id: Option<String>,
    /// The network it was sent from (an IP prefix), when known.
    pub network: Option<String>,
    /// When it was written.
    pub at: DateTime<Utc>,
}

/// Checks a review at intake; `order_reviewed` says whether its order has a review already.
/// The error is a reason code and a sentence.
pub fn validate(review: &Review, order_reviewed: bool) -> Result<(), (&'static str, String)> {
    if !(1..=5).contains(&review.rating) {
        return Err((
            "rating_out_of_range",
            format!("`rating` must be 1 to 5, not {}", review.rating),
        ));
    }
    let chars = review.text.as_deref().map_or(0, |t| t.chars().count());
    if chars > TEXT_MAX_CHARS {
        return Err((
            "text_too_long",
            format!("`text` has {chars} characters; at most {TEXT_MAX_CHARS}"),
        ));
    }
    if review.order_id.trim().is_empty() || review.specialist_id.trim().is_empty() {
        return Err((
            "missing_field",
            "`order_id` and `specialist_id` are required".into(),
        ));
    }
    if order_reviewed {
        return Err((
            "duplicate_order",
            format!(
                "order {} has a review already: one per order",
                review.order_id
            ),
        ));
    }
    Ok(())
}

/// What the attribution record and risk say about a review's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFacts {
    /// The partners credited for the order.
    pub credited: Vec<String>,
    /// The order's attribution was flagged by risk.
    pub risk_flagged: bool,
}

/// Why a review does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// The order was not attributed to the specialist (or is not known): not verified.
    NotAttributed,
    /// The reviewer is one of the specialist's own accounts.
    SelfReview,
    /// Too many reviews of the specialist from one device within the burst window.
    DeviceBurst,
    /// Too many reviews of the specialist from one network within the burst window.
    NetworkBurst,
    /// The order's attribution was flagged by risk.
    RiskFlagged,
}

impl Exclusion {
    /// The recorded reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Exclusion::NotAttributed => "not_attributed",
            Exclusion::SelfReview => "self_review",
            Exclusion::DeviceBurst => "device_burst",
            Exclusion::NetworkBurst => "network_burst",
            Exclusion::RiskFlagged => "risk_flagged",
        }
    }
}

/// A program's review settings (documented defaults in [`Policy::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// More reviews of one specialist than this from one device or network within
    /// `burst_window` make all of them a burst.
    pub burst_max: usize,
    /// The burst window.
    pub burst_window: Duration,
    /// The prior's mean rating: what a specialist without reviews is assumed to have.
    pub prior_mean: Decimal,
    /// The prior's weight, in reviews: how many real reviews it takes to move half-way.
    pub prior_weight: Decimal,
    /// The trend compares the mean of the last this-many days with the same span before.
    pub trend_days: i64,
}

impl Default for Policy {
    /// Three per device or network a day; a prior of 3.5 weighing as 5 reviews; 90-day trend
    /// (the reference data's documented defaults, `TrustSettings::default`).
    fn default() -> Policy {
        crate::settings::Settings::default().policy
    }
}

/// A review and whether it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessed<'r> {
    /// The review.
    pub review: &'r Review,
    /// `None`: counted; otherwise why not (the first reason that applies, in the order of
    /// [`Exclusion`]).
    pub excluded: Option<Exclusion>,
}

/// Assesses one specialist's reviews: `facts` by order id, `own_accounts` the specialist's
/// self-referral ids.
pub fn assess<'r>(
    reviews: &'r [Review],
    facts: &HashMap<String, OrderFacts>,
    own_accounts: &[String],
    policy: &Policy,
) -> Vec<Assessed<'r>> {
    let device_bursts = bursts(reviews, |r| r.device_id.as_deref(), policy);
    let network_bursts = bursts(reviews, |r| r.network.as_deref(), policy);
    reviews
        .iter()
        .enumerate()
        .map(|(i, review)| {
            let order = facts.get(&review.order_id);
            let excluded = if !order.is_some_and(|o| o.credited.contains(&review.specialist_id)) {
                Some(Exclusion::NotAttributed)
            } else if review
                .customer_id
                .as_ref()
                .is_some_and(|c| own_accounts.contains(c))
            {
                Some(Exclusion::SelfReview)
            } else if device_bursts[i] {
                Some(Exclusion::DeviceBurst)
            } else if network_bursts[i] {
                Some(Exclusion::NetworkBurst)
            } else if order.is_some_and(|o| o.risk_flagged) {
                Some(Exclusion::RiskFlagged)
            } else {
                None
            };
            Assessed { review, excluded }
        })
        .collect()
}

/// For each review, whether it belongs to a window of more than `burst_max` reviews from the
/// same source (device or network) within `burst_window`.
fn bursts<'r>(
    reviews: &'r [Review],
    source: impl Fn(&'r Review) -> Option<&'r str>,
    policy: &Policy,
) -> Vec<bool> {
    let mut by_source: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in reviews.iter().enumerate() {
        if let Some(s) = source(r) {
            by_source.entry(s).or_default().push(i);
        }
    }
    let mut out = vec![false; reviews.len()];
    for mut indices in by_source.into_values() {
        indices.sort_by_key(|&i| (reviews[i].at, i));
        // Slide a window over the source's reviews; every review of a too-full window is in
        // the burst.
        let mut start = 0;
        for end in 0..indices.len() {
            while reviews[indices[end]].at - reviews[indices[start]].at > policy.burst_window {
                start += 1;
            }
            if end - start + 1 > policy.burst_max {
                for &i in &indices[start..=end] {
                    out[i] = true;
                }
            }
        }
    }
    out
}

/// A specialist's review figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Aggregate {
    /// Reviews counted.
    pub count: u32,
    /// Their plain mean (two decimals), if any.
    pub mean: Option<Decimal>,
    /// `(prior_weight × prior_mean + Σ ratings) / (prior_weight + count)`, two decimals
    /// (half-even): the prior for a specialist without reviews.
    pub bayesian: Decimal,
    /// Counted reviews per rating, 1 to 5.
    pub distribution: [u32; 5],
    /// Mean of the last `trend_days` minus the mean of the span before (two decimals), when
    /// both have counted reviews.
    pub trend: Option<Decimal>,
    /// Reviews not counted, per recorded reason.
    pub excluded: BTreeMap<&'static str, u32>,
}

fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
}

fn mean(ratings: &[u8]) -> Option<Decimal> {
    if ratings.is_empty() {
        return None;
    }
    let sum: u32 = ratings.iter().map(|r| u32::from(*r)).sum();
    Some(Decimal::from(sum) / Decimal::from(ratings.len() as u32))
}

/// The aggregate of assessed reviews as of `now`.
pub fn aggregate(assessed: &[Assessed<'_>], policy: &Policy, now: DateTime<Utc>) -> Aggregate {
    let mut excluded: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut counted: Vec<&Review> = Vec::new();
    for a in assessed {
        match a.excluded {
            Some(why) => *excluded.entry(why.as_str()).or_default() += 1,
            None => counted.push(a.review),
        }
    }
    let ratings: Vec<u8> = counted.iter().map(|r| r.rating).collect();
    let mut distribution = [0u32; 5];
    for r in &ratings {
        distribution[usize::from(*r - 1)] += 1;
    }
    let n = Decimal::from(ratings.len() as u32);
    let sum = Decimal::from(ratings.iter().map(|r| u32::from(*r)).sum::<u32>());
    let bayesian =
        round2((policy.prior_weight * policy.prior_mean + sum) / (policy.prior_weight + n));
    let span = Duration::days(policy.trend_days);
    let within = |from: DateTime<Utc>, to: DateTime<Utc>| -> Vec<u8> {
        counted
            .iter()
            .filter(|r| r.at > from && r.at <= to)
            .map(|r| r.rating)
            .collect()
    };
    let recent = mean(&within(now - span, now));
    let before = mean(&within(now - span - span, now - span));
    Aggregate {
        count: ratings.len() as u32,
        mean: mean(&ratings).map(round2),
        bayesian,
        distribution,
        trend: recent.zip(before).map(|(r, b)| round2(r - b)),
        excluded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    fn review(id: &str, order: &str, rating: u8, at: DateTime<Utc>) -> Review {
        Review {
            review_id: id.into(),
            program_id: "sandals-eu".into(),
            specialist_id: "p-dr-lena".into(),
            order_id: order.into(),
            rating,
            text: None,
            customer_id: Some(format!("c-{id}")),
            device_id: Some(format!("d-{id}")),
            network: Some(format!("n-{id}")),
            at,
        }
    }

    fn credited(orders: &[&str]) -> HashMap<String, OrderFacts> {
        orders
            .iter()
            .map(|o| {
                (
                    o.to_string(),
                    OrderFacts {
                        credited: vec!["p-dr-lena".into()],
                        risk_flagged: false,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn intake_checks_range_length_and_one_per_order() {
        let mut r = review("r1", "o1", 5, at(1, 9));
        assert!(validate(&r, false).is_ok());
        assert_eq!(validate(&r, true).unwrap_err().0, "duplicate_order");
        r.rating = 0;
        assert_eq!(validate(&r, false).unwrap_err().0, "rating_out_of_range");
        r.rating = 6;
        assert_eq!(validate(&r, false).unwrap_err().0, "rating_out_of_range");
        r.rating = 4;
        r.text = Some("é".repeat(TEXT_MAX_CHARS));
        assert!(validate(&r, false).is_ok(), "characters, not bytes");
        r.text = Some("a".repeat(TEXT_MAX_CHARS + 1));
        assert_eq!(validate(&r, false).unwrap_err().0, "text_too_long");
    }

    /// The Bayesian average, by hand: prior 3.5 weighing 5 reviews; ratings 5, 5, 4:
    /// (5 × 3.5 + 14) / (5 + 3) = 31.5 / 8 = 3.9375 → 3.94. No reviews: the prior, 3.50.
    #[test]
    fn the_bayesian_average_by_hand() {
        let policy = Policy::default();
        let reviews = [
            review("a", "o1", 5, at(1, 9)),
            review("b", "o2", 5, at(2, 9)),
            review("c", "o3", 4, at(3, 9)),
        ];
        let assessed = assess(&reviews, &credited(&["o1", "o2", "o3"]), &[], &policy);
        let agg = aggregate(&assessed, &policy, at(20, 0));
        assert_eq!(agg.bayesian, Decimal::new(394, 2));
        assert_eq!(agg.mean, Some(Decimal::new(467, 2)));
        assert_eq!(agg.distribution, [0, 0, 0, 1, 2]);
        assert_eq!(agg.count, 3);
        assert_eq!(
            aggregate(&[], &policy, at(20, 0)).bayesian,
            Decimal::new(350, 2)
        );
    }

    #[test]
    fn each_exclusion_rule_with_its_reason() {
        let policy = Policy::default();
        let mut facts = credited(&["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8"]);
        facts.get_mut("o3").unwrap().risk_flagged = true;
        facts.get_mut("o2").unwrap().credited = vec!["p-someone-else".into()];
        let mut reviews = vec![
            review("ok", "o1", 5, at(1, 9)),
            review("other", "o2", 5, at(1, 9)),
            review("flagged", "o3", 5, at(1, 9)),
            review("unknown", "o99", 5, at(1, 9)),
        ];
        let mut own = review("self", "o4", 5, at(1, 9));
        own.customer_id = Some("cus-own".into());
        reviews.push(own);
        // A flood: four reviews from one device in 23 hours — all four are the burst.
        for (i, h) in [0, 5, 10, 23].into_iter().enumerate() {
            let mut r = review(&format!("flood{i}"), &format!("o{}", 5 + i), 1, at(2, 0));
            r.at = at(2, 0) + Duration::hours(h);
            r.device_id = Some("d-flood".into());
            reviews.push(r);
        }
        let assessed = assess(&reviews, &facts, &["cus-own".to_string()], &policy);
        let reason = |id: &str| {
            assessed
                .iter()
                .find(|a| a.review.review_id == id)
                .unwrap()
                .excluded
                .map(Exclusion::as_str)
        };
        assert_eq!(reason("ok"), None);
        assert_eq!(reason("other"), Some("not_attributed"));
        assert_eq!(reason("unknown"), Some("not_attributed"));
        assert_eq!(reason("flagged"), Some("risk_flagged"));
        assert_eq!(reason("self"), Some("self_review"));
        for i in 0..4 {
            assert_eq!(reason(&format!("flood{i}")), Some("device_burst"), "{i}");
        }
        let agg = aggregate(&assessed, &policy, at(20, 0));
        assert_eq!(agg.count, 1);
        assert_eq!(
            agg.excluded,
            BTreeMap::from([
                ("device_burst", 4),
                ("not_attributed", 2),
                ("risk_flagged", 1),
                ("self_review", 1)
            ])
        );
    }

    #[test]
    fn three_a_day_from_one_network_is_no_burst_and_spread_out_is_none() {
        let policy = Policy::default();
        let mut reviews = Vec::new();
        // Three in a day, then a fourth 25 hours after the first: never more than three per
        // 24 hours.
        for (i, h) in [0, 1, 2, 25].into_iter().enumerate() {
            let mut r = review(&format!("n{i}"), &format!("o{i}"), 4, at(3, 0));
            r.at = at(3, 0) + Duration::hours(h);
            r.network = Some("203.0.113.0/24".into());
            reviews.push(r);
        }
        let orders: Vec<String> = (0..4).map(|i| format!("o{i}")).collect();
        let names: Vec<&str> = orders.iter().map(String::as_str).collect();
        let assessed = assess(&reviews, &credited(&names), &[], &policy);
        assert!(assessed.iter().all(|a| a.excluded.is_none()));
        // A fifth at 24.5 h: from n1 (1 h) to n3 (25 h) is exactly 24 hours and holds n1, n2,
        // n4 and n3 — four in a day, a burst of those four (n0 stays out of it).
        let mut fifth = review("n4", "o4", 4, at(4, 0) + Duration::minutes(30));
        fifth.network = Some("203.0.113.0/24".into());
        reviews.push(fifth);
        let mut facts = credited(&names);
        facts.extend(credited(&["o4"]));
        let assessed = assess(&reviews, &facts, &[], &policy);
        let burst: Vec<&str> = assessed
            .iter()
            .filter(|a| a.excluded == Some(Exclusion::NetworkBurst))
            .map(|a| a.review.review_id.as_str())
            .collect();
        assert_eq!(burst, ["n1", "n2", "n3", "n4"]);
    }

    #[test]
    fn the_trend_compares_the_last_ninety_days_with_the_ninety_before() {
        let policy = Policy::default();
        let now = at(28, 0);
        let mut reviews = vec![
            review("old1", "o1", 3, now - Duration::days(120)),
            review("old2", "o2", 4, now - Duration::days(100)),
            review("new1", "o3", 5, now - Duration::days(10)),
        ];
        let facts = credited(&["o1", "o2", "o3", "o4"]);
        let assessed = assess(&reviews, &facts, &[], &policy);
        // 5 − 3.5 = +1.50
        assert_eq!(
            aggregate(&assessed, &policy, now).trend,
            Some(Decimal::new(150, 2))
        );
        reviews.truncate(2);
        let assessed = assess(&reviews, &facts, &[], &policy);
        assert_eq!(aggregate(&assessed, &policy, now).trend, None);
    }
}
