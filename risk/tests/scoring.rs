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
            datacentre_networks: vec![Network::parse("198.51.100.0/24").unwrap()],
        },
        join_wait_days: 7,
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap()
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
            .apply(self.offset, signal, &self.catalog, &settings(), &mut self.effects)
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
        let bytes = schemas::encode(a).unwrap();
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
    assert_eq!(d.risk_level, Some(schemas::risk::RiskLevelName::InsufficientData));
}

#[test]
fn an_attribution_before_its_context_waits_and_is_scored_when_it_arrives() {
    let mut h = Harness::new();
    h.attribution(&attribution(1, "p-1", t0(), Duration::seconds(2)));
    assert!(h.effects.scores.is_empty(), "waiting for the context");
    assert_eq!(h.effects.waited, 1);
    h.context(context(1, "HeadlessChrome/120", "198.51.100.0/24"), t0());
    assert_eq!(h.effects.scores.len(), 1);
    let codes: Vec<&str> = h.effects.scores[0].reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["click_to_conversion_too_fast", "bot_traffic"]);
    assert_eq!(h.effects.decisions[0].decision, Decision::Reversed);
    assert_eq!(h.state.joining(), 0, "the join buffer is empty again");
}
