//! Worked examples: one per model, precedence setting, window edge, exclusion and rule, with
//! the numbers a person can check by hand. Order amounts are 100.00 EUR unless said; Anna is
//! gold (10%), Bob silver (default 5%), Cara has a capped 10% rule, Dan a flat 7.50.

mod support;

use chrono::Duration;
use rust_decimal::Decimal;
use schemas::attribution::{AttributionModel, AttributionOutcome, AttributionWindow};
use support::*;

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn three_clicks() -> Vec<schemas::EnrichedTouchpoint> {
    vec![
        click("c1", "p-anna", t(0)),
        click("c2", "p-bob", t(60)),
        click("c3", "p-dan", t(120)),
        conversion("buy", "o-1", 10_000, t(180)),
    ]
}

#[test]
fn last_touch_credits_the_last_click_and_explains_the_rest() {
    let a = only(&default_catalog(), &three_clicks());
    assert_eq!(a.outcome, AttributionOutcome::Attributed);
    assert_eq!(a.model, AttributionModel::LastTouch);
    assert_eq!(credits(&a), vec![("p-dan".into(), 750)], "Dan's flat 7.50");
    assert_eq!(a.commission_total_minor, 750);
    assert_eq!(a.credits[0].rule_id.as_deref(), Some("r-dan-flat"));
    assert_eq!(a.credits[0].touchpoint_ids, vec!["c3".to_string()]);
    assert_eq!(a.credits[0].shared_id.as_deref(), Some("p-dan-sub"));
    assert_eq!(a.evidence.len(), 1);
    assert_eq!(a.evidence[0].click_id.as_deref(), Some("clk-c3"));
    assert_eq!(a.evidence[0].window, AttributionWindow::ClickThrough);
    assert_eq!(
        a.evidence[0].landing_domain.as_deref(),
        Some("shop.example")
    );
    let losers: Vec<(&str, &str)> = a
        .losing_claims
        .iter()
        .map(|l| (l.partner_id.as_str(), l.reason.as_str()))
        .collect();
    assert_eq!(
        losers,
        vec![("p-anna", "not_last_touch"), ("p-bob", "not_last_touch")]
    );
    // Shadow credits: first touch would have given Anna everything, linear a third each.
    let shadow = |model: AttributionModel| -> Vec<(String, Decimal)> {
        a.shadow_credits
            .iter()
            .filter(|s| s.model == model)
            .map(|s| (s.partner_id.clone(), s.share))
            .collect()
    };
    assert_eq!(
        shadow(AttributionModel::FirstTouch),
        vec![("p-anna".into(), d("1"))]
    );
    assert_eq!(
        shadow(AttributionModel::Linear),
        vec![
            ("p-anna".into(), d("0.333334")),
            ("p-bob".into(), d("0.333333")),
            ("p-dan".into(), d("0.333333"))
        ]
    );
    assert!(
        shadow(AttributionModel::LastTouch).is_empty(),
        "the model used is not a shadow"
    );
    assert_eq!(a.click_window_seconds, 30 * 86_400);
    assert_eq!(a.attributed_at, t(185), "when the 5-minute grace closed");
}

#[test]
fn first_touch_credits_the_first_click() {
    let a = only(&catalog("model = \"first_touch\""), &three_clicks());
    assert_eq!(credits(&a), vec![("p-anna".into(), 1_000)], "10% gold");
    assert_eq!(a.losing_claims[0].reason, "not_first_touch");
}

#[test]
fn linear_splits_by_largest_remainder() {
    let a = only(&catalog("model = \"linear\""), &three_clicks());
    // Exact: Anna 1000/3 = 333.33.., Bob 500/3 = 166.66.., Dan 750/3 = 250 -> total 750.00
    // split over the exact values: 333 + 167 + 250.
    assert_eq!(
        credits(&a),
        vec![
            ("p-anna".into(), 333),
            ("p-bob".into(), 167),
            ("p-dan".into(), 250)
        ]
    );
    assert_eq!(a.commission_total_minor, 750);
    let shares: Decimal = a.credits.iter().map(|c| c.share).sum();
    assert_eq!(shares, Decimal::ONE);
    let revenue: i64 = a.credits.iter().map(|c| c.revenue_minor).sum();
    assert_eq!(revenue, 10_000);
}

#[test]
fn time_decay_favours_recent_clicks() {
    // Half-life 1 day; clicks 2 days and 0 days before: weights 0.25 and 1 -> 20% / 80%.
    let cat = catalog("model = \"time_decay\"\nhalf_life_days = 1");
    let a = only(
        &cat,
        &[
            click("c1", "p-anna", t(0)),
            click("c2", "p-bob", t(2 * 1440)),
            conversion("buy", "o-1", 10_000, t(2 * 1440)),
        ],
    );
    let shares: Vec<(String, Decimal)> = a
        .credits
        .iter()
        .map(|c| (c.partner_id.clone(), c.share))
        .collect();
    assert_eq!(
        shares,
        vec![("p-anna".into(), d("0.2")), ("p-bob".into(), d("0.8"))]
    );
    // Anna 10% of 20.00 = 2.00, Bob 5% of 80.00 = 4.00.
    assert_eq!(
        credits(&a),
        vec![("p-anna".into(), 200), ("p-bob".into(), 400)]
    );
}

#[test]
fn position_based_gives_40_20_40() {
    let cat = catalog("model = \"position_based\"");
    let mut events = vec![
        click("c1", "p-anna", t(0)),
        click("c2", "p-bob", t(10)),
        click("c3", "p-bob", t(20)),
        click("c4", "p-anna", t(30)),
    ];
    events.push(conversion("buy", "o-1", 10_000, t(40)));
    let a = only(&cat, &events);
    let shares: Vec<(String, Decimal)> = a
        .credits
        .iter()
        .map(|c| (c.partner_id.clone(), c.share))
        .collect();
    assert_eq!(
        shares,
        vec![("p-anna".into(), d("0.8")), ("p-bob".into(), d("0.2"))]
    );
    assert_eq!(
        a.credits[0].touchpoint_ids,
        vec!["c1".to_string(), "c4".to_string()]
    );
    assert_eq!(
        credits(&a),
        vec![("p-anna".into(), 800), ("p-bob".into(), 100)]
    );
}

#[test]
fn a_code_beats_links_when_codes_win() {
    let a = only(
        &default_catalog(),
        &[
            click("c1", "p-anna", t(0)),
            code("k1", "p-bob", t(5)),
            click("c2", "p-anna", t(10)),
            conversion("buy", "o-1", 10_000, t(20)),
        ],
    );
    assert_eq!(credits(&a), vec![("p-bob".into(), 500)]);
    assert_eq!(a.evidence[0].window, AttributionWindow::Code);
    assert_eq!(a.evidence[0].code.as_deref(), Some("P-BOB10"));
    assert!(a
        .losing_claims
        .iter()
        .all(|l| l.reason == "code_precedence"));
    assert_eq!(a.code_precedence.as_deref(), Some("code_wins"));
}

#[test]
fn links_beat_a_code_when_links_win() {
    let cat = catalog("code_precedence = \"link_wins\"");
    let a = only(
        &cat,
        &[
            code("k1", "p-bob", t(5)),
            click("c2", "p-anna", t(10)),
            conversion("buy", "o-1", 10_000, t(20)),
        ],
    );
    assert_eq!(credits(&a), vec![("p-anna".into(), 1_000)]);
    assert_eq!(a.losing_claims[0].reason, "link_precedence");
}

#[test]
fn the_code_at_checkout_is_the_latest_code() {
    let mut buy = conversion("buy", "o-1", 10_000, t(20));
    buy.partner.partner_id = Some("p-anna".into());
    buy.partner.resolved_by = schemas::touchpoint::ResolvedBy::Code;
    buy.partner.code = Some("ANNA".into());
    let a = only(&default_catalog(), &[code("k1", "p-bob", t(5)), buy]);
    assert_eq!(credits(&a), vec![("p-anna".into(), 1_000)]);
    assert_eq!(a.losing_claims[0].reason, "not_latest_code");
}

#[test]
fn windows_include_their_boundary_and_nothing_beyond() {
    let cat = default_catalog();
    let at = t(0) + Duration::days(30);
    let edge = only(
        &cat,
        &[
            click("c1", "p-anna", t(0)),
            conversion("buy", "o-1", 10_000, at),
        ],
    );
    assert_eq!(
        edge.outcome,
        AttributionOutcome::Attributed,
        "exactly 30 days counts"
    );
    let past = only(
        &cat,
        &[
            click("c1", "p-anna", t(0)),
            conversion("buy", "o-1", 10_000, at + Duration::milliseconds(1)),
        ],
    );
    assert_eq!(past.unattributed_reason.as_deref(), Some("outside_window"));
    assert_eq!(past.losing_claims[0].reason, "outside_window");
    // A page view claims through the 24-hour view window.
    let view_edge = only(
        &cat,
        &[
            view("v1", "p-bob", t(0)),
            conversion("buy", "o-1", 10_000, t(24 * 60)),
        ],
    );
    assert_eq!(view_edge.evidence[0].window, AttributionWindow::ViewThrough);
    let view_past = only(
        &cat,
        &[
            view("v1", "p-bob", t(0)),
            conversion("buy", "o-1", 10_000, t(24 * 60 + 1)),
        ],
    );
    assert_eq!(
        view_past.unattributed_reason.as_deref(),
        Some("outside_window")
    );
    // A touchpoint after the conversion claims nothing.
    let after = only(
        &cat,
        &[
            conversion("buy", "o-1", 10_000, t(0)),
            click("c1", "p-anna", t(1)),
        ],
    );
    assert_eq!(
        after.unattributed_reason.as_deref(),
        Some("no_partner_touchpoint")
    );
}

#[test]
fn suspended_partners_and_self_referrals_earn_nothing() {
    let cat = default_catalog();
    let a = only(
        &cat,
        &[
            click("c1", "p-bob", t(0)),
            click("c2", "p-sus", t(10)),
            conversion("buy", "o-1", 10_000, t(20)),
        ],
    );
    assert_eq!(
        credits(&a),
        vec![("p-bob".into(), 500)],
        "the last eligible click wins"
    );
    assert_eq!(a.losing_claims[0].reason, "suspended_partner");
    let mut own = conversion("buy", "o-2", 10_000, t(20));
    own.touchpoint.customer_id = Some("cust-self".into());
    let selfish = only(&cat, &[click("c1", "p-self", t(0)), own]);
    assert_eq!(
        selfish.unattributed_reason.as_deref(),
        Some("partner_excluded")
    );
    assert_eq!(selfish.losing_claims[0].reason, "self_referral");
}

#[test]
fn a_conversion_waits_for_grace_and_later_touchpoints_are_only_counted() {
    let cat = default_catalog();
    let (out, effects) = run(
        &cat,
        &[
            click("c1", "p-bob", t(0)),
            conversion("buy", "o-1", 10_000, t(10)),
            // Arrives after the conversion, happened before it, grace not over: included.
            click("c2", "p-anna", t(9)),
            // Stream time reaches 10 + 5 minutes: attributed now.
            click("c3", "p-bob", t(15)),
            // Happened before the conversion but arrives after it was attributed: counted only.
            click("c4", "p-dan", t(9)),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(credits(&out[0]), vec![("p-anna".into(), 1_000)]);
    assert_eq!(out[0].late_touchpoints, 1);
    assert_eq!(effects.late_touchpoints, 1);
}

#[test]
fn a_duplicate_conversion_produces_nothing() {
    let cat = default_catalog();
    let (out, effects) = run(
        &cat,
        &[
            click("c1", "p-bob", t(0)),
            conversion("buy", "o-1", 10_000, t(10)),
            conversion("buy-again", "o-1", 10_000, t(11)),
            click("c2", "p-bob", t(60)),
            conversion("buy-late-copy", "o-1", 10_000, t(12)),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(effects.duplicates, 2);
}

#[test]
fn renewals_follow_the_chain_within_the_rules_recurring_duration() {
    let cat = default_catalog();
    let renewal = |id: &str, seq: i32, minutes: i64| {
        let mut e = conversion(id, &format!("o-{id}"), 5_000, t(minutes));
        e.touchpoint.chain_id = Some("sub-1".into());
        e.touchpoint.chain_seq = Some(seq);
        e
    };
    let mut first = conversion("buy", "o-1", 5_000, t(10));
    first.touchpoint.chain_id = Some("sub-1".into());
    first.touchpoint.chain_seq = Some(1);
    let (out, _) = run(
        &cat,
        &[
            click("c1", "p-anna", t(0)),
            first,
            // A later click by Bob does not steal the renewal.
            click("c2", "p-bob", t(20_000)),
            renewal("r2", 2, 43_200),
            renewal("r13", 13, 86_400),
            renewal("r14", 14, 129_600),
        ],
    );
    type Row = (Option<i32>, Vec<(String, i64)>, Option<String>);
    let by_seq: Vec<Row> = out
        .iter()
        .map(|a| (a.chain_seq, credits(a), a.unattributed_reason.clone()))
        .collect();
    assert_eq!(
        by_seq,
        vec![
            (Some(1), vec![("p-anna".into(), 500)], None),
            (Some(2), vec![("p-anna".into(), 500)], None),
            (Some(13), vec![("p-anna".into(), 500)], None),
            (Some(14), vec![], Some("renewal_not_credited".into())),
        ]
    );
    assert_eq!(
        out[1].bound_attribution_id.as_deref(),
        Some(out[0].attribution_id.as_str())
    );
    assert_eq!(out[3].losing_claims[0].reason, "recurring_limit_reached");
}

#[test]
fn renewals_without_a_number_are_counted_per_chain_and_a_repeat_counts_once() {
    let cat = default_catalog();
    let mut first = conversion("buy", "o-1", 5_000, t(10));
    first.touchpoint.chain_id = Some("sub-1".into());
    first.touchpoint.chain_seq = Some(1);
    let mut events = vec![click("c1", "p-anna", t(0)), first];
    // Thirteen monthly invoices as a billing system sends them: the chain, never a number.
    for month in 1..=13 {
        let mut renewal = conversion(
            &format!("in-{month}"),
            &format!("in-{month}"),
            5_000,
            t(month * 43_200),
        );
        renewal.touchpoint.chain_id = Some("sub-1".into());
        events.push(renewal.clone());
        if month == 3 {
            renewal.touchpoint.event_id = "in-3-resent".into();
            events.push(renewal); // the same invoice again: a duplicate, not a renewal
        }
    }
    let (out, effects) = run(&cat, &events);
    assert_eq!(effects.duplicates, 1);
    let seqs: Vec<Option<i32>> = out.iter().map(|a| a.chain_seq).collect();
    let expected: Vec<Option<i32>> = (1..=14).map(Some).collect();
    assert_eq!(seqs, expected, "numbered 2..14 after the first action");
    // The gold rule pays renewals 2..13 (recurring_renewals = 12); the 14th action does not earn.
    assert!(out[1..13]
        .iter()
        .all(|a| credits(a) == vec![("p-anna".to_string(), 500)]));
    assert_eq!(out[13].losing_claims[0].reason, "recurring_limit_reached");
}

#[test]
fn renewals_of_a_partner_on_a_non_recurring_rule_earn_nothing() {
    let mut first = conversion("buy", "o-1", 5_000, t(10));
    first.touchpoint.chain_id = Some("sub-1".into());
    first.touchpoint.chain_seq = Some(1);
    let mut second = conversion("r2", "o-2", 5_000, t(50_000));
    second.touchpoint.chain_id = Some("sub-1".into());
    second.touchpoint.chain_seq = Some(2);
    let (out, _) = run(
        &default_catalog(),
        &[click("c1", "p-bob", t(0)), first, second],
    );
    assert_eq!(out[1].losing_claims[0].reason, "not_recurring");
    // No chain at all: the customer binding is used; none either: unattributed.
    let mut orphan = conversion("r9", "o-9", 5_000, t(10));
    orphan.touchpoint.chain_id = Some("sub-9".into());
    orphan.touchpoint.chain_seq = Some(3);
    orphan.touchpoint.customer_id = Some("cust-9".into());
    let a = only(&default_catalog(), &[orphan]);
    assert_eq!(a.unattributed_reason.as_deref(), Some("no_chain_binding"));
}

#[test]
fn refunds_reverse_the_original_commissions_proportionally() {
    let cat = catalog("model = \"linear\"");
    let (out, _) = run(
        &cat,
        &[
            click("c1", "p-anna", t(0)),
            click("c2", "p-bob", t(1)),
            conversion("buy", "o-1", 10_000, t(10)),
            refund("ref-1", "o-1", 2_500, t(1_000)),
            refund("ref-2", "o-1", 7_500, t(2_000)),
            refund("ref-3", "o-1", 100, t(3_000)),
        ],
    );
    // Linear: Anna 10% of 50.00 = 5.00, Bob 5% of 50.00 = 2.50.
    assert_eq!(
        credits(&out[0]),
        vec![("p-anna".into(), 500), ("p-bob".into(), 250)]
    );
    let quarter = &out[1];
    assert_eq!(quarter.amount_minor, -2_500);
    assert_eq!(
        credits(quarter),
        vec![("p-anna".into(), -125), ("p-bob".into(), -63)]
    );
    assert_eq!(
        quarter.credits[0].reverses_commission_id.as_deref(),
        Some(out[0].credits[0].commission_id.as_str())
    );
    assert_eq!(
        quarter.reverses_attribution_id.as_deref(),
        Some(out[0].attribution_id.as_str())
    );
    assert_ne!(
        quarter.credits[0].commission_id,
        out[0].credits[0].commission_id
    );
    // The rest reverses exactly what is left: 750 - 188 = 562.
    assert_eq!(
        credits(&out[2]),
        vec![("p-anna".into(), -375), ("p-bob".into(), -187)]
    );
    assert_eq!(
        out[3].unattributed_reason.as_deref(),
        Some("nothing_left_to_refund")
    );
    let unknown = only(&cat, &[refund("ref-x", "o-none", 100, t(0))]);
    assert_eq!(
        unknown.unattributed_reason.as_deref(),
        Some("unknown_order")
    );
}

#[test]
fn a_cap_limits_a_partners_commission_per_customer_and_period() {
    // Cara: 10% capped at 15.00 per 30 days. 100.00 -> 10.00; next 100.00 -> 5.00 (cap);
    // third -> 0.00; 30 days after the first, the first leaves the period: 10.00 again.
    let cat = default_catalog();
    let mut events = vec![];
    for (i, day) in [0i64, 1, 2, 30].iter().enumerate() {
        let at = t(day * 1440 + 10);
        events.push(click(&format!("c{i}"), "p-cara", at - Duration::minutes(1)));
        events.push(conversion(
            &format!("buy{i}"),
            &format!("o-{i}"),
            10_000,
            at,
        ));
    }
    let (out, _) = run(&cat, &events);
    let got: Vec<(i64, i64)> = out
        .iter()
        .map(|a| {
            (
                a.credits[0].commission_minor,
                a.credits[0].cap_reduction_minor,
            )
        })
        .collect();
    assert_eq!(got, vec![(1_000, 0), (500, 500), (0, 1_000), (1_000, 0)]);
}

#[test]
fn conversions_in_another_currency_are_not_attributed() {
    let mut usd = conversion("buy", "o-1", 10_000, t(10));
    usd.touchpoint.currency = Some("USD".into());
    let a = only(&default_catalog(), &[click("c1", "p-anna", t(0)), usd]);
    assert_eq!(
        a.unattributed_reason.as_deref(),
        Some("currency_not_program_currency")
    );
}

#[test]
fn the_per_key_cap_keeps_the_first_and_the_latest_touchpoints() {
    let cat = catalog("model = \"first_touch\"");
    let mut state = attributor::state::PartitionState::new();
    let mut effects = attributor::state::Effects::default();
    let limits = attributor::state::Limits {
        touchpoints_per_key: 3,
        retention: Duration::days(400),
        source_idle_inputs: 100_000,
        keys_max: usize::MAX,
    };
    let partners = ["p-anna", "p-bob", "p-cara", "p-dan", "p-bob"];
    for (i, p) in partners.iter().enumerate() {
        state
            .apply(
                i as i64,
                &click(&format!("c{i}"), p, t(i as i64)),
                &cat,
                &limits,
                &mut effects,
            )
            .expect("ok");
    }
    let kept: Vec<String> = state
        .touchpoints_of("shop/v-1")
        .iter()
        .map(|t| t.event_id.clone())
        .collect();
    assert_eq!(kept, vec!["c0", "c3", "c4"]);
    assert_eq!(effects.evicted, 2);
}
