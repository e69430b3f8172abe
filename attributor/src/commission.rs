//! Commission maths: which rule applies to a partner, what it pays, how caps bite, and how a
//! refund reverses line items.
//!
//! Invariants: amounts are integer minor units of the program's currency; a conversion's line
//! items sum exactly to its commission total; reversals of one order never exceed what was
//! credited, and the refund that completes the order reverses exactly the rest.

use rust_decimal::Decimal;
use schemas::attributor_state::OrderRecord;
use schemas::reference::{CommissionRule, Partner};

use crate::split::{round_minor, split};

/// The first rule (in precedence order) whose partner, tier and specialist-category
/// conditions match `partner`.
pub fn matching_rule<'a>(
    rules: &[&'a CommissionRule],
    partner: &Partner,
) -> Option<&'a CommissionRule> {
    rules.iter().copied().find(|rule| rule.matches(partner))
}

/// What `rule` pays for a whole order of `amount_minor`, exactly (before rounding).
pub fn full_commission(rule: &CommissionRule, amount_minor: i64) -> Decimal {
    match (rule.rate, rule.flat_minor) {
        (Some(rate), _) => Decimal::from(amount_minor) * rate / Decimal::ONE_HUNDRED,
        (None, Some(flat)) => Decimal::from(flat),
        (None, None) => Decimal::ZERO,
    }
}

/// One partner's input to [`line_items`].
#[derive(Debug, Clone)]
pub struct Share<'a> {
    /// Fraction of the credit (all shares sum to 1).
    pub share: Decimal,
    /// The partner's rule, if any matched.
    pub rule: Option<&'a CommissionRule>,
    /// Room left under the rule's cap, if it has one.
    pub cap_room_minor: Option<i64>,
}

/// A partner's computed line item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    /// Share of the order amount.
    pub revenue_minor: i64,
    /// Commission after the cap.
    pub commission_minor: i64,
    /// What the cap removed.
    pub cap_reduction_minor: i64,
}

/// Line items for an order of `amount_minor` shared as `shares`.
///
/// Each partner's exact commission is its rule's full commission times its share; the total
/// is their sum rounded half-to-even, and it is split back over the partners by largest
/// remainder, so the items sum to the total exactly. A cap then lowers an item to the room
/// left under it (never below zero); the reduction is reported, not redistributed.
pub fn line_items(amount_minor: i64, shares: &[Share<'_>]) -> Vec<LineItem> {
    let share_weights: Vec<Decimal> = shares.iter().map(|s| s.share).collect();
    let revenue = split(amount_minor, &share_weights);
    let exact: Vec<Decimal> = shares
        .iter()
        .map(|s| {
            s.rule.map_or(Decimal::ZERO, |r| {
                full_commission(r, amount_minor) * s.share
            })
        })
        .collect();
    let total = round_minor(exact.iter().sum());
    let commissions = if total == 0 {
        vec![0; shares.len()]
    } else {
        split(total, &exact)
    };
    shares
        .iter()
        .zip(revenue)
        .zip(commissions)
        .map(|((s, revenue_minor), commission)| {
            let capped = match s.cap_room_minor {
                Some(room) => commission.min(room.max(0)),
                None => commission,
            };
            LineItem {
                revenue_minor,
                commission_minor: capped,
                cap_reduction_minor: commission - capped,
            }
        })
        .collect()
}

/// Room left under `rule`'s cap for `partner_id` at `at`: the cap minus what the partner
/// already earned (net of reversals) on `orders` of the same program within the cap period
/// ending at `at`. `None` when the rule has no cap.
pub fn cap_room(
    rule: &CommissionRule,
    partner_id: &str,
    orders: &[OrderRecord],
    at: chrono::DateTime<chrono::Utc>,
) -> Option<i64> {
    let cap = rule.cap_minor?;
    let period = chrono::Duration::days(i64::from(rule.cap_period_days.unwrap_or(30)));
    let earned: i64 = orders
        .iter()
        .filter(|o| o.program_id == rule.program_id && o.occurred_at > at - period)
        .flat_map(|o| &o.credits)
        .filter(|c| c.partner_id == partner_id)
        .map(|c| c.commission_minor - c.reversed_minor)
        .sum();
    Some(cap - earned)
}

/// A refund's effect on one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversal {
    /// Refund amount applied (at most what was left unrefunded).
    pub applied_minor: i64,
    /// Per credit of the order, in order: commission reversed (positive).
    pub commission_minor: Vec<i64>,
    /// Per credit: revenue reversed (positive).
    pub revenue_minor: Vec<i64>,
}

/// Reverses commissions in proportion to a refund of `refund_minor` (positive).
///
/// Cumulative, so partial refunds never drift: after refunds totalling R of an order of A,
/// the reversed total is round(C × R / A) of the commission C, and this refund reverses the
/// difference from what earlier refunds reversed, split over what each credit has left. A
/// refund completing the order reverses exactly the rest.
pub fn reversal(order: &OrderRecord, refund_minor: i64) -> Reversal {
    let left = (order.amount_minor - order.refunded_minor).max(0);
    let applied = refund_minor.abs().min(left);
    let n = order.credits.len();
    if applied == 0 || order.amount_minor <= 0 {
        return Reversal {
            applied_minor: applied,
            commission_minor: vec![0; n],
            revenue_minor: vec![0; n],
        };
    }
    let commission: i64 = order.credits.iter().map(|c| c.commission_minor).sum();
    let reversed: i64 = order.credits.iter().map(|c| c.reversed_minor).sum();
    let refunded_after = order.refunded_minor + applied;
    let target = if refunded_after >= order.amount_minor {
        commission
    } else {
        round_minor(
            Decimal::from(commission) * Decimal::from(refunded_after)
                / Decimal::from(order.amount_minor),
        )
    };
    let room: Vec<Decimal> = order
        .credits
        .iter()
        .map(|c| Decimal::from((c.commission_minor - c.reversed_minor).max(0)))
        .collect();
    let now = (target - reversed).max(0);
    let revenue_weights: Vec<Decimal> = order
        .credits
        .iter()
        .map(|c| Decimal::from(c.revenue_minor))
        .collect();
    Reversal {
        applied_minor: applied,
        commission_minor: if now == 0 {
            vec![0; n]
        } else {
            split(now, &room)
        },
        revenue_minor: split(applied, &revenue_weights),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;
    use schemas::attributor_state::OrderCredit;
    use schemas::reference::PartnerKind;
    use schemas::touchpoint::PartnerStatus;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    fn rule(id: &str, precedence: i32) -> CommissionRule {
        CommissionRule {
            rule_id: id.into(),
            program_id: "acme".into(),
            precedence,
            partner_tier: None,
            partner_id: None,
            rate: Some(d("10")),
            flat_minor: None,
            recurring_renewals: None,
            cap_minor: None,
            cap_period_days: None,
            specialist_categories: vec![],
        }
    }

    fn partner(id: &str, tier: Option<&str>) -> Partner {
        Partner {
            partner_id: id.into(),
            name: id.into(),
            partner_kind: PartnerKind::Affiliate,
            status: PartnerStatus::Verified,
            tier: tier.map(Into::into),
            self_referral_ids: vec![],
            categories: vec![],
        }
    }

    #[test]
    fn the_first_matching_rule_by_precedence_wins() {
        let mut anna = rule("anna", 10);
        anna.partner_id = Some("p-anna".into());
        let mut gold = rule("gold", 20);
        gold.partner_tier = Some("gold".into());
        let default = rule("default", 100);
        let rules = [&anna, &gold, &default];
        let id = |p: &Partner| matching_rule(&rules, p).map(|r| r.rule_id.clone());
        assert_eq!(id(&partner("p-anna", Some("gold"))), Some("anna".into()));
        assert_eq!(id(&partner("p-bob", Some("gold"))), Some("gold".into()));
        assert_eq!(
            id(&partner("p-bob", Some("silver"))),
            Some("default".into())
        );
        assert_eq!(id(&partner("p-bob", None)), Some("default".into()));
        assert_eq!(
            matching_rule(&[&anna, &gold], &partner("p-bob", None)),
            None
        );
    }

    #[test]
    fn a_category_rule_pays_only_specialists_in_its_categories() {
        let mut derm = rule("derm", 10);
        derm.specialist_categories = vec!["dermatology".into(), "allergy".into()];
        derm.rate = Some(d("15"));
        let default = rule("default", 100);
        let rules = [&derm, &default];
        let id = |p: &Partner| matching_rule(&rules, p).map(|r| r.rule_id.clone());
        let mut lena = partner("p-lena", None);
        lena.partner_kind = PartnerKind::Specialist;
        lena.categories = vec!["allergy".into()];
        assert_eq!(id(&lena), Some("derm".into()), "one category in common");
        lena.categories = vec!["physiotherapy".into()];
        assert_eq!(id(&lena), Some("default".into()), "another category");
        lena.categories = vec![];
        assert_eq!(id(&lena), Some("default".into()), "no category assigned");
        // An affiliate never matches a specialist rule, whatever its categories say.
        let mut blog = partner("p-blog", None);
        blog.categories = vec!["dermatology".into()];
        assert_eq!(id(&blog), Some("default".into()));
    }

    #[test]
    fn percent_rounds_half_to_even_and_flat_is_flat() {
        let mut r = rule("r", 1);
        r.rate = Some(d("12.5"));
        // 12.5% of 19.99 = 2.49875 -> 2.50
        let items = line_items(
            1999,
            &[Share {
                share: Decimal::ONE,
                rule: Some(&r),
                cap_room_minor: None,
            }],
        );
        assert_eq!(items[0].commission_minor, 250);
        assert_eq!(items[0].revenue_minor, 1999);
        let mut flat = rule("flat", 1);
        flat.rate = None;
        flat.flat_minor = Some(2500);
        assert_eq!(full_commission(&flat, 1), d("2500"));
    }

    #[test]
    fn shared_credit_sums_to_the_total_by_largest_remainder() {
        let r = rule("r", 1); // 10% of 100.01 = 10.001 -> 10.00 total
        let third = |s: &str| Share {
            share: d(s),
            rule: Some(&r),
            cap_room_minor: None,
        };
        let items = line_items(
            10_001,
            &[third("0.333334"), third("0.333333"), third("0.333333")],
        );
        let commissions: Vec<i64> = items.iter().map(|i| i.commission_minor).collect();
        assert_eq!(commissions, vec![334, 333, 333]);
        let revenue: Vec<i64> = items.iter().map(|i| i.revenue_minor).collect();
        assert_eq!(revenue.iter().sum::<i64>(), 10_001);
    }

    #[test]
    fn partners_on_different_rules_each_get_their_rate_of_their_share() {
        let ten = rule("ten", 1);
        let mut twenty = rule("twenty", 2);
        twenty.rate = Some(d("20"));
        let items = line_items(
            10_000,
            &[
                Share {
                    share: d("0.5"),
                    rule: Some(&ten),
                    cap_room_minor: None,
                },
                Share {
                    share: d("0.5"),
                    rule: Some(&twenty),
                    cap_room_minor: None,
                },
                Share {
                    share: d("0"),
                    rule: None,
                    cap_room_minor: None,
                },
            ],
        );
        let commissions: Vec<i64> = items.iter().map(|i| i.commission_minor).collect();
        assert_eq!(commissions, vec![500, 1000, 0]);
    }

    fn order(amount: i64, credits: &[(i64, i64)]) -> OrderRecord {
        OrderRecord {
            program_id: "acme".into(),
            order_id: "o-1".into(),
            attribution_id: "att-1".into(),
            occurred_at: Utc.timestamp_opt(1_700_000_000, 0).single().expect("t"),
            amount_minor: amount,
            currency: "EUR".into(),
            refunded_minor: 0,
            refund_event_ids: vec![],
            credits: credits
                .iter()
                .enumerate()
                .map(|(i, (c, r))| OrderCredit {
                    partner_id: format!("p-{i}"),
                    shared_id: None,
                    commission_id: format!("com-{i}"),
                    commission_minor: *c,
                    revenue_minor: *r,
                    reversed_minor: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn caps_bite_on_net_earnings_within_the_period() {
        let mut capped = rule("capped", 1);
        capped.cap_minor = Some(1000);
        capped.cap_period_days = Some(30);
        let mut earlier = order(10_000, &[(700, 10_000)]);
        earlier.credits[0].partner_id = "p-anna".into();
        earlier.credits[0].reversed_minor = 100;
        let at = earlier.occurred_at + chrono::Duration::days(29);
        assert_eq!(
            cap_room(&capped, "p-anna", std::slice::from_ref(&earlier), at),
            Some(400)
        );
        // Exactly 30 days later the earlier order has left the period.
        let at = earlier.occurred_at + chrono::Duration::days(30);
        assert_eq!(
            cap_room(&capped, "p-anna", std::slice::from_ref(&earlier), at),
            Some(1000)
        );
        let items = line_items(
            10_000,
            &[Share {
                share: Decimal::ONE,
                rule: Some(&capped),
                cap_room_minor: Some(400),
            }],
        );
        assert_eq!(
            items[0],
            LineItem {
                revenue_minor: 10_000,
                commission_minor: 400,
                cap_reduction_minor: 600
            }
        );
        assert_eq!(cap_room(&rule("uncapped", 1), "p-anna", &[], at), None);
    }

    #[test]
    fn partial_refunds_reverse_proportionally_and_the_last_one_exactly() {
        let mut o = order(10_000, &[(667, 6_667), (333, 3_333)]);
        let first = reversal(&o, 3_000);
        // 30% of 1000 = 300, split over 667/333.
        assert_eq!(first.commission_minor, vec![200, 100]);
        assert_eq!(first.revenue_minor.iter().sum::<i64>(), 3_000);
        o.refunded_minor += first.applied_minor;
        for (c, r) in o.credits.iter_mut().zip(&first.commission_minor) {
            c.reversed_minor += r;
        }
        let rest = reversal(&o, 50_000);
        assert_eq!(rest.applied_minor, 7_000, "capped at what is left");
        assert_eq!(rest.commission_minor, vec![467, 233]);
        o.refunded_minor += rest.applied_minor;
        assert_eq!(reversal(&o, 100).applied_minor, 0, "nothing left");
    }

    proptest! {
        #[test]
        fn refunds_never_reverse_more_than_was_credited(
            amount in 1i64..1_000_000,
            credits in proptest::collection::vec((0i64..100_000, 0i64..100_000), 1..4),
            refunds in proptest::collection::vec(1i64..500_000, 1..6),
        ) {
            let mut o = order(amount, &credits);
            for refund in refunds {
                let r = reversal(&o, refund);
                o.refunded_minor += r.applied_minor;
                for (c, v) in o.credits.iter_mut().zip(&r.commission_minor) {
                    prop_assert!(*v >= 0);
                    c.reversed_minor += v;
                    prop_assert!(c.reversed_minor <= c.commission_minor);
                }
            }
            if o.refunded_minor == amount {
                for c in &o.credits {
                    prop_assert_eq!(c.reversed_minor, c.commission_minor);
                }
            }
        }

        #[test]
        fn line_items_sum_to_the_rounded_total_before_caps(
            amount in 0i64..100_000_000,
            rate_bp in 1i64..10_000,
            units in proptest::collection::vec(1i64..1000, 1..6),
        ) {
            let mut r = rule("r", 1);
            r.rate = Some(Decimal::new(rate_bp, 2));
            let weights: Vec<Decimal> = units.iter().map(|u| Decimal::from(*u)).collect();
            let shares: Vec<Decimal> = split(1_000_000, &weights).into_iter().map(|u| Decimal::new(u, 6)).collect();
            let input: Vec<Share<'_>> = shares.iter().map(|s| Share { share: *s, rule: Some(&r), cap_room_minor: None }).collect();
            let items = line_items(amount, &input);
            let total = round_minor(full_commission(&r, amount));
            prop_assert_eq!(items.iter().map(|i| i.commission_minor).sum::<i64>(), total);
            prop_assert_eq!(items.iter().map(|i| i.revenue_minor).sum::<i64>(), amount);
        }
    }
}
