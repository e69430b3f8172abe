//! Worked examples of the scorer's state: what is scored, what is not, the join of an
//! attribution with its conversion's context in either order, duplicates, and a crash at any
//! point of a checkpoint followed by a restore.

use chrono::{DateTime, Duration, TimeZone, Utc};
use reference::Catalog;
use risk::router::{self, Source};
use risk::rules::{Lists, Network};
use risk::state::{Effects, ScorerSettings, ScorerState};
use schemas::attribution::{AttributionKind, Credit, Evidence, LosingClaim};
use schemas::commission::{CommissionKind, Decision};
use schemas::risk_signal::{ClickSignal, ConversionContext};
use schemas::{Attribution, RiskSignal};

const REFERENCE: &str = r#"
[[programs]]
id = "shop"
brand = "Shop"
domains = ["shop.example"]
currency = "EUR"
hold_days = 30
[programs.risk]
min_sample = 2
elevated_percent = "10"
high_percent = "25"
critical_percent = "50"
hold_on = ["click_to_conversion_too_fast"]
reverse_on = ["bot_traffic", "self_referral"]
high_risk_hold_days = 14

[[partners]]
id = "p-1"
name = "One"
status = "verified"
[[partners]]
id = "p-2"
name = "Two"
status = "verified"
self_referral_ids = ["own"]
"#;

fn catalog() -> Catalog {
    Catalog::from_set(&reference::parse(REFERENCE).expect("valid reference"))
}

fn settings() -> ScorerSettings {
    ScorerSettings {
        lists: Lists {
            bot_user_agents: vec!["headlesschrome".into()],
            coupon_domains: vec!["retailmenot.com".into()],
            datacentre_networks: vec![
                Network::parse("198.51.100.0/24").expect("test data is valid")
            ],
        },
        join_wait_days: 7,
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0)
        .single()
        .expect("a valid time")
}

/// An attribution of order `n` crediting `partner` for a click `click_gap` before it.
fn attribution(n: u32, partner: &str, at: DateTime<Utc>, click_gap: Duration) -> Attribution {
    let mut a = schemas::examples::attribution();
    a.attribution_id = format!("att-{n}");
    a.kind = AttributionKind::Conversion;
    a.program_id = "shop".into();
    a.order_id = format!("o-{n}");
    a.event_id = format!("buy-{n}");
    a.attribution_key = format!("shop/v-{n}");
    a.customer_id = Some(format!("cust-{n}"));
    a.occurred_at = at;
    a.attributed_at = at + Duration::seconds(60);
    a.chain_id = None;
    a.chain_seq = None;
    a.credits = vec![Credit {
        partner_id: partner.into(),
        shared_id: Some("blog".into()),
        share: rust_decimal::Decimal::ONE,
        commission_id: format!("com-{n}-{partner}"),
        commission_minor: 500,
        rule_id: Some("r".into()),
        touchpoint_ids: vec![format!("click-{n}")],
        revenue_minor: 10_000,
        cap_reduction_minor: 0,
        reverses_commission_id: None,
    }];
    let mut e: Evidence = a.evidence[0].clone();
    e.touchpoint_id = format!("click-{n}");
    e.kind = "click".into();
    e.occurred_at = at - click_gap;
    e.partner_id = Some(partner.into());
    e.code = None;
    a.evidence = vec![e];
    a.losing_claims = Vec::new();
    a
}

fn context(n: u32, ua: &str, ip_prefix: &str) -> ConversionContext {
    ConversionContext {
        event_id: format!("buy-{n}"),
        attribution_key: format!("shop/v-{n}"),
        customer_id: Some(format!("cust-{n}")),
        ip_hash: Some(format!("ip-{n}")),
        ip_prefix: Some(ip_prefix.into()),
        user_agent: Some(ua.into()),
        referrer: None,
    }
}

const BROWSER: &str = "Mozilla/5.0 Firefox/128.0";

struct Harness {
    state: ScorerState,
    offset: i64,
    source_offset: i64,
    catalog: Catalog,
    effects: Effects,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            state: ScorerState::new(),
            offset: 0,
            source_offset: 0,
            catalog: catalog(),
            effects: Effects::default(),
        }
    }

    fn source(&mut self) -> Source<'static> {
        self.source_offset += 1;
        Source {
            topic: "in",
            partition: 0,
            offset: self.source_offset,
        }
    }

    fn feed(&mut self, signal: &RiskSignal) {
        self.state
            .apply(
                self.offset,
                signal,
                &self.catalog,
                &settings(),
                &mut self.effects,
            )
            .expect("applies");
        self.offset += 1;
    }

    fn context(&mut self, c: ConversionContext, at: DateTime<Utc>) {
        let source = self.source();
        let mut s = signal(source, at);
        s.conversion = Some(c);
        self.feed(&s);
    }

    fn attribution(&mut self, a: &Attribution) {
        let source = self.source();
        let bytes = schemas::encode(a).expect("test data is valid");
        self.feed(&router::from_attribution(source, a, &bytes));
    }

    fn click(&mut self, partner: &str, at: DateTime<Utc>) {
        let source = self.source();
        let mut s = signal(source, at);
        s.click = Some(ClickSignal {
            event_id: format!("c-{}", self.source_offset),
            partner_id: partner.into(),
            shared_id: Some("blog".into()),
        });
        self.feed(&s);
    }
}

fn signal(source: Source<'_>, at: DateTime<Utc>) -> RiskSignal {
    RiskSignal {
        program_id: "shop".into(),
        source_topic: source.topic.into(),
        source_partition: source.partition,
        source_offset: source.offset,
        occurred_at: at,
        click: None,
        conversion: None,
        attribution: None,
    }
}

#[test]
fn an_honest_action_is_payable_after_the_programs_hold() {
    let mut h = Harness::new();
    h.click("p-1", t0() - Duration::minutes(10));
    h.context(context(1, BROWSER, "203.0.113.0/24"), t0());
    h.attribution(&attribution(1, "p-1", t0(), Duration::minutes(10)));
    assert_eq!(h.effects.scores.len(), 1);
    assert!(!h.effects.scores[0].flagged);
    let d = &h.effects.decisions[0];
    assert_eq!(d.decision, Decision::Payable);
    assert_eq!(d.hold_until, t0() + Duration::days(30));
    assert_eq!(
        d.risk_level,
        Some(schemas::risk::RiskLevelName::InsufficientData)
    );
}

#[test]
fn an_attribution_before_its_context_waits_and_is_scored_when_it_arrives() {
    let mut h = Harness::new();
    h.attribution(&attribution(1, "p-1", t0(), Duration::seconds(2)));
    assert!(h.effects.scores.is_empty(), "waiting for the context");
    assert_eq!(h.effects.waited, 1);
    h.context(context(1, "HeadlessChrome/120", "198.51.100.0/24"), t0());
    assert_eq!(h.effects.scores.len(), 1);
    let codes: Vec<&str> = h.effects.scores[0]
        .reasons
        .iter()
        .map(|r| r.code.as_str())
        .collect();
    assert_eq!(codes, ["click_to_conversion_too_fast", "bot_traffic"]);
    assert_eq!(h.effects.decisions[0].decision, Decision::Reversed);
    assert_eq!(h.state.joining(), 0, "the join buffer is empty again");
}

#[test]
fn renewals_are_not_scored_and_inherit_nothing() {
    let mut h = Harness::new();
    let mut first = attribution(1, "p-1", t0(), Duration::seconds(1));
    first.chain_id = Some("sub-1".into());
    first.chain_seq = Some(1);
    h.context(context(1, BROWSER, "203.0.113.0/24"), t0());
    h.attribution(&first);
    assert_eq!(
        h.effects.scores.len(),
        1,
        "the chain's first action is scored"
    );
    assert_eq!(h.effects.decisions[0].decision, Decision::Held, "too fast");
    let mut renewal = attribution(2, "p-1", t0() + Duration::days(30), Duration::seconds(1));
    renewal.chain_id = Some("sub-1".into());
    renewal.chain_seq = Some(2);
    h.attribution(&renewal);
    assert_eq!(h.effects.scores.len(), 1, "the renewal is not scored");
    assert_eq!(h.effects.renewals, 1);
    let d = &h.effects.decisions[1];
    assert_eq!(d.commission_id, "com-2-p-1");
    assert_eq!(
        d.decision,
        Decision::Payable,
        "nothing inherited from the held first action"
    );
    assert!(d.decision_reasons.is_empty());
    assert_eq!(d.risk_level, None);
    assert_eq!(
        h.state.joining(),
        0,
        "a renewal does not wait for a context"
    );
}

#[test]
fn refunds_pass_through_as_reversals() {
    let mut h = Harness::new();
    let mut refund = attribution(3, "p-1", t0(), Duration::minutes(5));
    refund.kind = AttributionKind::Refund;
    refund.credits[0].commission_minor = -200;
    refund.credits[0].reverses_commission_id = Some("com-1-p-1".into());
    h.attribution(&refund);
    assert!(h.effects.scores.is_empty());
    let d = &h.effects.decisions[0];
    assert_eq!((d.kind, d.amount_minor), (CommissionKind::Reversal, -200));
    assert_eq!(d.reverses_commission_id.as_deref(), Some("com-1-p-1"));
}

#[test]
fn duplicates_are_not_scored_again() {
    let mut h = Harness::new();
    let a = attribution(1, "p-1", t0(), Duration::minutes(5));
    h.context(context(1, BROWSER, "203.0.113.0/24"), t0());
    h.attribution(&a);
    h.attribution(&a); // the attributor re-emitted it after a crash
    assert_eq!(h.effects.scores.len(), 1);
    assert_eq!(h.effects.duplicate_attributions, 1);
    // The router re-forwarded a record: same source position, skipped outright.
    let bytes = schemas::encode(&a).expect("test data is valid");
    let copy = router::from_attribution(
        Source {
            topic: "in",
            partition: 0,
            offset: h.source_offset,
        },
        &a,
        &bytes,
    );
    h.feed(&copy);
    assert_eq!(h.effects.duplicate_signals, 1);
    assert_eq!(h.effects.scores.len(), 1);
}

#[test]
fn a_self_referral_claim_is_a_flagged_action_and_marks_the_device() {
    let mut h = Harness::new();
    let mut own = attribution(1, "p-1", t0(), Duration::minutes(5));
    own.credits.clear();
    own.customer_id = Some("own".into());
    own.losing_claims = vec![LosingClaim {
        partner_id: "p-2".into(),
        touchpoint_id: Some("click-1".into()),
        reason: "self_referral".into(),
    }];
    h.context(context(1, BROWSER, "203.0.113.0/24"), t0());
    h.attribution(&own);
    assert_eq!(h.effects.scores.len(), 1);
    assert_eq!(h.effects.scores[0].reasons[0].code, "self_referral");
    assert!(h.effects.decisions.is_empty(), "no commission to decide");
    // Another customer buying from the same device through p-2 is a self-referral too.
    let mut c = context(2, BROWSER, "203.0.113.0/24");
    c.ip_hash = Some("ip-1".into());
    h.context(c, t0() + Duration::hours(1));
    h.attribution(&attribution(
        2,
        "p-2",
        t0() + Duration::hours(1),
        Duration::minutes(5),
    ));
    let codes: Vec<&str> = h.effects.scores[1]
        .reasons
        .iter()
        .map(|r| r.code.as_str())
        .collect();
    assert_eq!(codes, ["self_referral"]);
    assert_eq!(h.effects.decisions[0].decision, Decision::Reversed);
    // Two of two flagged with a minimum sample of 2: Critical, and published.
    let level = h
        .effects
        .levels
        .iter()
        .rev()
        .find(|l| l.subject_id == "shop/p-2")
        .expect("test data is valid");
    assert_eq!(level.level, schemas::risk::RiskLevelName::Critical);
    assert_eq!((level.scored_actions, level.flagged_actions), (2, 2));
}

#[test]
fn a_partner_at_high_risk_is_held_longer() {
    let mut h = Harness::new();
    for n in 1..=2 {
        let at = t0() + Duration::hours(i64::from(n));
        h.context(context(n, BROWSER, "203.0.113.0/24"), at);
        h.attribution(&attribution(n, "p-1", at, Duration::seconds(1)));
    }
    let second = &h.effects.decisions[1];
    assert_eq!(
        second.risk_level,
        Some(schemas::risk::RiskLevelName::Critical)
    );
    assert_eq!(
        second.hold_until,
        t0() + Duration::hours(2) + Duration::days(30 + 14)
    );
    assert!(second
        .decision_reasons
        .contains(&"high_risk_hold".to_string()));
}

#[test]
fn partner_facing_levels_never_carry_a_reason_code() {
    // Event-level reason codes are internal: the partner-facing record has only counts, a
    // percentage and a level. Its schema has no field that could carry one...
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/avro/risk_level.v1.avsc"))
            .expect("test data is valid");
    let fields: Vec<&str> = schema["fields"]
        .as_array()
        .expect("test data is valid")
        .iter()
        .map(|f| f["name"].as_str().expect("test data is valid"))
        .collect();
    assert_eq!(
        fields,
        [
            "subject_id",
            "program_id",
            "partner_id",
            "shared_id",
            "level",
            "risk_percent",
            "scored_actions",
            "flagged_actions",
            "window_days",
            "updated_at"
        ]
    );
    // ...and every level record produced while every rule fires carries none of them.
    let mut h = Harness::new();
    for n in 1..=6 {
        let at = t0() + Duration::hours(i64::from(n));
        let mut c = context(n, "HeadlessChrome", "198.51.100.0/24");
        c.ip_hash = Some("farm".into());
        c.referrer = Some("https://www.retailmenot.com/".into());
        h.context(c, at);
        h.attribution(&attribution(n, "p-1", at, Duration::seconds(1)));
    }
    assert!(!h.effects.levels.is_empty());
    for level in &h.effects.levels {
        let bytes = schemas::encode(level).expect("test data is valid");
        let text = String::from_utf8_lossy(&bytes);
        for code in schemas::reference::RISK_REASON_CODES {
            assert!(!text.contains(code), "{code} in {level:?}");
        }
    }
}

#[test]
fn forged_shared_ids_in_a_click_flood_are_bounded_by_the_subject_cap() {
    let catalog = catalog();
    let settings = settings();
    let mut state = ScorerState::default();
    let mut fx = Effects::default();
    for n in 0..20_000_i64 {
        // Each click its own upstream position (the scorer de-duplicates re-read signals).
        let source = Source {
            topic: "t",
            partition: 0,
            offset: n,
        };
        let mut s = signal(source, t0() + Duration::seconds(n));
        s.click = Some(ClickSignal {
            event_id: format!("flood-{n}"),
            partner_id: "p-1".into(),
            shared_id: Some(format!("forged-{n}")),
        });
        state
            .apply(n, &s, &catalog, &settings, &mut fx)
            .expect("valid");
        if n % 1_000 == 999 {
            state.enforce_subject_cap(500);
        }
    }
    state.enforce_subject_cap(500);
    assert!(state.subjects() <= 500, "{} subjects", state.subjects());
    // The partner itself is never evicted: its clicks still count for its Risk %.
    let key = "s\u{1f}shop\u{1f}p-1";
    assert!(
        state.subject_clicks(key).is_some_and(|c| c == 20_000),
        "the partner-level subject keeps every click"
    );
}
