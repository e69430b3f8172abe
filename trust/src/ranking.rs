//! The trust ranking of a program's specialists (pure). Who is listed at all is a rule —
//! verified and not suspended (nor due again) — never a score. How high a listed specialist
//! ranks is a score: the sum of five components, each a value from 0 to 1 times a weight the
//! program sets, each shown with the inputs it came from.
//!
//! | component | value | default weight |
//! |---|---|---|
//! | `verification` | current credentials ÷ 2, at most 1 (two current credentials: all of it) | 0.15 |
//! | `quality` | 0.8 × completeness ÷ 100 + 0.2 × min(1, days verified ÷ 365) | 0.20 |
//! | `reviews` | (Bayesian average − 1) ÷ 4 | 0.30 |
//! | `risk` | by level: low 1, insufficient data 0.8, elevated 0.5, high 0.2, critical 0 | 0.20 |
//! | `performance` | min(1, conversions ÷ 10) × (1 − min(1, (refunded + reversed) ÷ conversions)); 0 without conversions | 0.15 |
//!
//! Values and contributions are exact decimals rounded to four places (half-even); ties rank by
//! specialist id. The risk component uses the level only, never reason codes.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

/// A program's weights (they should add up to 1; [`Weights::default`] does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    /// Verification.
    pub verification: Decimal,
    /// Profile quality and tenure.
    pub quality: Decimal,
    /// Reviews.
    pub reviews: Decimal,
    /// Risk level.
    pub risk: Decimal,
    /// Performance of referred customers.
    pub performance: Decimal,
}

impl Default for Weights {
    /// 0.15 / 0.20 / 0.30 / 0.20 / 0.15 (the reference data's documented defaults).
    fn default() -> Weights {
        crate::settings::Settings::default().weights
    }
}

/// What is known of one specialist, gathered by the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// The partner id.
    pub specialist_id: String,
    /// Verified and not suspended or due (the listing rule's input).
    pub listable: bool,
    /// The verification status, for the reason a specialist is not listed.
    pub status: String,
    /// Credentials current today.
    pub current_credentials: u32,
    /// Profile completeness, 0–100.
    pub completeness: u32,
    /// Days since first verified (0 if never).
    pub days_verified: i64,
    /// The reviews' Bayesian average (the prior without reviews).
    pub bayesian: Decimal,
    /// Reviews counted.
    pub reviews: u32,
    /// The partner's risk level name (`low`, …, `insufficient_data`), if scored.
    pub risk_level: Option<String>,
    /// Credited conversions of referred customers.
    pub conversions: u32,
    /// Of those, refunded (in part or in full).
    pub refunded: u32,
    /// Commission lines reversed.
    pub reversed: u32,
}

/// One component of a score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// Its name.
    pub name: &'static str,
    /// 0–1.
    pub value: Decimal,
    /// The program's weight.
    pub weight: Decimal,
    /// value × weight.
    pub contribution: Decimal,
    /// The inputs it came from, in words.
    pub inputs: String,
}

/// One specialist's place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ranked {
    /// The partner id.
    pub specialist_id: String,
    /// Listed at all.
    pub listed: bool,
    /// Why not, when not listed.
    pub not_listed_because: Option<String>,
    /// Σ contributions (0 when not listed).
    pub score: Decimal,
    /// 1-based place among the listed; none when not listed.
    pub rank: Option<u32>,
    /// The components, in the documented order (computed for everyone: a specialist sees
    /// their own).
    pub components: Vec<Component>,
}

/// Four places, half-even, always written with four (0.2 shows as 0.2000 beside 0.1632).
fn round4(d: Decimal) -> Decimal {
    let mut r = d.round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven);
    r.rescale(4);
    r
}

fn ratio(n: u32, d: u32) -> Decimal {
    if d == 0 {
        Decimal::ZERO
    } else {
        Decimal::from(n) / Decimal::from(d)
    }
}

/// The value a risk level gives.
pub fn risk_value(level: Option<&str>) -> Decimal {
    match level {
        Some("low") => Decimal::ONE,
        Some("elevated") => Decimal::new(5, 1),
        Some("high") => Decimal::new(2, 1),
        Some("critical") => Decimal::ZERO,
        // Not scored yet, or too little data: the benefit of some doubt.
        _ => Decimal::new(8, 1),
    }
}

/// The components of `i` under `w`.
pub fn components(i: &Inputs, w: &Weights) -> Vec<Component> {
    let one = Decimal::ONE;
    let part = |name, value: Decimal, weight: Decimal, inputs: String| {
        let value = round4(value.clamp(Decimal::ZERO, one));
        Component {
            name,
            value,
            weight,
            contribution: round4(value * weight),
            inputs,
        }
    };
    let tenure = (Decimal::from(i.days_verified.max(0)) / Decimal::from(365)).min(one);
    let quality = Decimal::new(8, 1) * Decimal::from(i.completeness) / Decimal::from(100)
        + Decimal::new(2, 1) * tenure;
    let bad = (ratio(i.refunded + i.reversed, i.conversions)).min(one);
    let performance = if i.conversions == 0 {
        Decimal::ZERO
    } else {
        ratio(i.conversions, 10).min(one) * (one - bad)
    };
    vec![
        part(
            "verification",
            ratio(i.current_credentials, 2),
            w.verification,
            format!("{} current credential(s)", i.current_credentials),
        ),
        part(
            "quality",
            quality,
            w.quality,
            format!(
                "profile {} % complete, verified {} day(s)",
                i.completeness, i.days_verified
            ),
        ),
        part(
            "reviews",
            (i.bayesian - one) / Decimal::from(4),
            w.reviews,
            format!(
                "Bayesian average {} over {} review(s)",
                i.bayesian, i.reviews
            ),
        ),
        part(
            "risk",
            risk_value(i.risk_level.as_deref()),
            w.risk,
            format!(
                "risk level {}",
                i.risk_level.as_deref().unwrap_or("not scored")
            ),
        ),
        part(
            "performance",
            performance,
            w.performance,
            format!(
                "{} conversion(s), {} refunded, {} reversed",
                i.conversions, i.refunded, i.reversed
            ),
        ),
    ]
}

/// The score of a specialist with `components`: their sum when listed, 0 when not.
pub fn score(components: &[Component], listed: bool) -> Decimal {
    if listed {
        components.iter().map(|c| c.contribution).sum()
    } else {
        Decimal::ZERO
    }
}

/// Why a specialist with verification `status` is not listed.
pub fn not_listed_because(status: &str) -> String {
    format!("verification is `{status}`: only verified specialists are listed")
}

/// Ranks a program's specialists: the listed by score (highest first, ties by id), then the
/// others with the reason they are not listed.
pub fn rank(specialists: &[Inputs], w: &Weights) -> Vec<Ranked> {
    let mut out: Vec<Ranked> = specialists
        .iter()
        .map(|i| {
            let components = components(i, w);
            let score = if i.listable {
                components.iter().map(|c| c.contribution).sum()
            } else {
                Decimal::ZERO
            };
            Ranked {
                specialist_id: i.specialist_id.clone(),
                listed: i.listable,
                not_listed_because: (!i.listable).then(|| {
                    format!(
                        "verification is `{}`: only verified specialists are listed",
                        i.status
                    )
                }),
                score,
                rank: None,
                components,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.listed
            .cmp(&a.listed)
            .then(b.score.cmp(&a.score))
            .then(a.specialist_id.cmp(&b.specialist_id))
    });
    let mut place = 0;
    for r in out.iter_mut().filter(|r| r.listed) {
        place += 1;
        r.rank = Some(place);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(id: &str) -> Inputs {
        Inputs {
            specialist_id: id.into(),
            listable: true,
            status: "verified".into(),
            current_credentials: 1,
            completeness: 85,
            days_verified: 146,
            bayesian: Decimal::new(394, 2),
            reviews: 3,
            risk_level: Some("low".into()),
            conversions: 8,
            refunded: 1,
            reversed: 1,
        }
    }

    /// By hand, default weights:
    /// verification 1 ÷ 2 = 0.5 × 0.15 = 0.075;
    /// quality 0.8 × 0.85 + 0.2 × 146/365 (0.4) = 0.68 + 0.08 = 0.76 × 0.20 = 0.152;
    /// reviews (3.94 − 1) ÷ 4 = 0.735 × 0.30 = 0.2205;
    /// risk low 1 × 0.20 = 0.2;
    /// performance min(1, 8/10) × (1 − 2/8) = 0.8 × 0.75 = 0.6 × 0.15 = 0.09;
    /// score 0.7375.
    #[test]
    fn a_score_worked_by_hand() {
        let ranked = rank(&[inputs("p-dr-lena")], &Weights::default());
        let r = &ranked[0];
        let got: Vec<(&str, Decimal, Decimal)> = r
            .components
            .iter()
            .map(|c| (c.name, c.value, c.contribution))
            .collect();
        let d = |n: i64, s: u32| Decimal::new(n, s);
        assert_eq!(
            got,
            [
                ("verification", d(5, 1), d(75, 3)),
                ("quality", d(76, 2), d(152, 3)),
                ("reviews", d(735, 3), d(2205, 4)),
                ("risk", d(1, 0), d(2, 1)),
                ("performance", d(6, 1), d(9, 2)),
            ]
        );
        assert_eq!(r.score, d(7375, 4));
        assert_eq!(r.rank, Some(1));
        assert_eq!(
            r.components[2].inputs,
            "Bayesian average 3.94 over 3 review(s)"
        );
        let sum: Decimal = [
            Weights::default().verification,
            Weights::default().quality,
            Weights::default().reviews,
            Weights::default().risk,
            Weights::default().performance,
        ]
        .iter()
        .sum();
        assert_eq!(sum, Decimal::ONE);
    }

    #[test]
    fn listing_is_a_rule_and_order_is_the_score() {
        let mut high_risk = inputs("p-b");
        high_risk.risk_level = Some("high".into());
        let mut suspended = inputs("p-a");
        suspended.listable = false;
        suspended.status = "suspended".into();
        let tie = inputs("p-c");
        let ranked = rank(
            &[high_risk, suspended, tie, inputs("p-0")],
            &Weights::default(),
        );
        let order: Vec<(&str, Option<u32>)> = ranked
            .iter()
            .map(|r| (r.specialist_id.as_str(), r.rank))
            .collect();
        assert_eq!(
            order,
            [
                ("p-0", Some(1)),
                ("p-c", Some(2)),
                ("p-b", Some(3)),
                ("p-a", None)
            ],
            "ties by id; the suspended one last and unranked, however good"
        );
        let out = ranked.last().unwrap();
        assert_eq!(out.score, Decimal::ZERO);
        assert_eq!(
            out.not_listed_because.as_deref(),
            Some("verification is `suspended`: only verified specialists are listed")
        );
        assert_eq!(out.components.len(), 5, "they still see their components");
        // High risk: 0.2 instead of 1 on a weight of 0.2 — 0.16 lower.
        assert_eq!(ranked[0].score - ranked[2].score, Decimal::new(16, 2));
    }

    #[test]
    fn no_conversions_no_performance_and_unscored_risk_gets_some_doubt() {
        let mut new = inputs("p-new");
        new.conversions = 0;
        new.refunded = 0;
        new.reversed = 0;
        new.risk_level = None;
        let c = components(&new, &Weights::default());
        assert_eq!(c[4].value, Decimal::ZERO);
        assert_eq!(c[3].value, Decimal::new(8, 1));
        assert_eq!(c[3].inputs, "risk level not scored");
    }
}
