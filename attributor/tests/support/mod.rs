//! Shared fixtures for the attributor's pure tests: a small catalogue and event builders.
#![allow(dead_code)]

use attributor::state::{Effects, Limits, PartitionState};
use chrono::{DateTime, Duration, TimeZone, Utc};
use reference::Catalog;
use schemas::touchpoint::{Channel, PartnerResolution, PartnerStatus, ResolvedBy, Utm};
use schemas::{Attribution, EnrichedTouchpoint, EventKind, ValidTouchpoint};

/// The program's attribution settings as TOML lines.
pub fn catalog(attribution: &str) -> Catalog {
    let text = format!(
        r#"
[[programs]]
id = "shop"
brand = "Shop"
domains = ["shop.example"]
currency = "EUR"
[programs.attribution]
{attribution}

[[partners]]
id = "p-anna"
name = "Anna"
tier = "gold"
status = "verified"
[[partners]]
id = "p-bob"
name = "Bob"
tier = "silver"
status = "verified"
[[partners]]
id = "p-cara"
name = "Cara"
status = "verified"
[[partners]]
id = "p-dan"
name = "Dan"
status = "verified"
[[partners]]
id = "p-sus"
name = "Suspended"
status = "suspended"
[[partners]]
id = "p-self"
name = "Self"
status = "verified"
self_referral_ids = ["cust-self"]

[[rules]]
id = "r-cara-capped"
program = "shop"
precedence = 10
partner = "p-cara"
percent = "10"
cap = "15.00"
cap_period_days = 30
[[rules]]
id = "r-dan-flat"
program = "shop"
precedence = 10
partner = "p-dan"
flat = "7.50"
[[rules]]
id = "r-gold"
program = "shop"
precedence = 20
tier = "gold"
percent = "10"
recurring_renewals = 12
[[rules]]
id = "r-default"
program = "shop"
precedence = 100
percent = "5"
"#
    );
    let set = reference::parse(&text).unwrap_or_else(|e| panic!("fixture: {e:?}"));
    Catalog::from_set(&set)
}

/// Default settings: last touch, 30-day clicks, 24-hour views, code wins, 5-minute grace.
pub fn default_catalog() -> Catalog {
    catalog("model = \"last_touch\"")
}

/// 2026-03-01T00:00:00Z plus `minutes`.
pub fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("valid")
        + Duration::minutes(minutes)
}

/// An event of `kind` for visitor v-1 at `at`.
pub fn event(id: &str, kind: EventKind, at: DateTime<Utc>) -> EnrichedTouchpoint {
    let mut tp = ValidTouchpoint::new(id, kind, at);
    tp.visitor_id = Some("v-1".into());
    EnrichedTouchpoint {
        touchpoint: tp,
        program_id: "shop".into(),
        attribution_key: "shop/v-1".into(),
        landing_domain: Some("shop.example".into()),
        channel: Channel::Referral,
        utm: Utm::default(),
        ad_click_ids: vec![],
        partner: PartnerResolution {
            partner_id: None,
            partner_status: None,
            resolved_by: ResolvedBy::None,
            link_id: None,
            code: None,
            shared_id: None,
            unresolved_reason: None,
        },
        enriched_at: at,
        source: None,
    }
}

/// A click on `partner`'s link.
pub fn click(id: &str, partner: &str, at: DateTime<Utc>) -> EnrichedTouchpoint {
    let mut e = event(id, EventKind::Click, at);
    e.partner.partner_id = Some(partner.into());
    e.partner.partner_status = Some(PartnerStatus::Verified);
    e.partner.resolved_by = ResolvedBy::Link;
    e.partner.link_id = Some(format!("{partner}-link"));
    e.partner.shared_id = Some(format!("{partner}-sub"));
    e.touchpoint.click_id = Some(format!("clk-{id}"));
    e.utm.source = Some("partner".into());
    e
}

/// A page view attributed to `partner` (view-through).
pub fn view(id: &str, partner: &str, at: DateTime<Utc>) -> EnrichedTouchpoint {
    let mut e = click(id, partner, at);
    e.touchpoint.kind = EventKind::PageView;
    e
}

/// A code redemption of `partner`'s code.
pub fn code(id: &str, partner: &str, at: DateTime<Utc>) -> EnrichedTouchpoint {
    let mut e = event(id, EventKind::CodeRedemption, at);
    e.partner.partner_id = Some(partner.into());
    e.partner.resolved_by = ResolvedBy::Code;
    e.partner.code = Some(format!("{}10", partner.to_uppercase()));
    e
}

/// A conversion of `amount_minor` EUR for order `order`.
pub fn conversion(
    id: &str,
    order: &str,
    amount_minor: i64,
    at: DateTime<Utc>,
) -> EnrichedTouchpoint {
    let mut e = event(id, EventKind::Conversion, at);
    e.touchpoint.order_id = Some(order.into());
    e.touchpoint.amount_minor = Some(amount_minor);
    e.touchpoint.currency = Some("EUR".into());
    e.touchpoint.customer_id = Some("cust-1".into());
    e
}

/// A refund of `amount_minor` for `order`.
pub fn refund(id: &str, order: &str, amount_minor: i64, at: DateTime<Utc>) -> EnrichedTouchpoint {
    let mut e = conversion(id, order, amount_minor, at);
    e.touchpoint.kind = EventKind::Refund;
    e
}

/// Generous limits.
pub fn limits() -> Limits {
    Limits {
        touchpoints_per_key: 50,
        retention: Duration::days(400),
        source_idle_inputs: 100_000,
        keys_max: usize::MAX,
    }
}

/// Runs `events` through one fresh partition (offsets 0, 1, ...), then lets stream time run
/// a day past the last event so every conversion's grace passes; returns the attributions.
pub fn run(catalog: &Catalog, events: &[EnrichedTouchpoint]) -> (Vec<Attribution>, Effects) {
    let mut state = PartitionState::new();
    let mut effects = Effects::default();
    for (offset, e) in events.iter().enumerate() {
        state
            .apply(offset as i64, e, catalog, &limits(), &mut effects)
            .expect("valid input");
    }
    let end = events
        .iter()
        .map(|e| e.touchpoint.occurred_at)
        .max()
        .unwrap_or_else(|| t(0));
    state.advance_idle(end + Duration::days(1), catalog, &mut effects);
    (effects.attributions.clone(), effects)
}

/// The single attribution of a run.
pub fn only(catalog: &Catalog, events: &[EnrichedTouchpoint]) -> Attribution {
    let (mut out, _) = run(catalog, events);
    assert_eq!(out.len(), 1, "{out:#?}");
    out.remove(0)
}

/// (partner, commission) pairs of an attribution.
pub fn credits(a: &Attribution) -> Vec<(String, i64)> {
    a.credits
        .iter()
        .map(|c| (c.partner_id.clone(), c.commission_minor))
        .collect()
}
