//! The generator: journeys (facts), checked by the oracle, then written as the raw JSON a
//! tracking platform would send, with background traffic, duplicates, late and out-of-order
//! events, planted fraud and a known set of malformed messages. Same seed, same bytes.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reference::ReferenceSet;
use schemas::money::Currency;
use schemas::reference::{Code, Link, Program};
use schemas::touchpoint::PartnerStatus;
use serde_json::{json, Map, Value};

use crate::expected::{Expected, ExpectedDeadLetter};
use crate::journey::{Fraud, Journey, Refund, Renewal, Touch, Via};
use crate::oracle::Oracle;
use crate::rng::Rng;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Seed.
    pub seed: u64,
    /// Raw messages in total (journeys, background traffic, duplicates, malformed).
    pub events: usize,
    /// First day of orders.
    pub start: DateTime<Utc>,
    /// Days of orders.
    pub days: i64,
}

/// One raw message, in send order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// When a live platform would send it (the replay order).
    pub at: DateTime<Utc>,
    /// Kafka key: the customer id, else the visitor id, as a tracking platform keys by person.
    pub key: Option<String>,
    /// The raw message (JSON, or the planted garbage).
    pub payload: String,
}

/// A generated workload and its expected outcome.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Messages in send order.
    pub messages: Vec<Message>,
    /// What the pipeline must produce.
    pub expected: Expected,
}

/// Journey shapes, by share (per mille) of journeys.
const SHAPES: [(u64, Shape); 10] = [
    (550, Shape::OneLink),
    (100, Shape::CodeOnly),
    (100, Shape::LinkAndCode),
    (80, Shape::TwoLinks),
    (70, Shape::Organic),
    (40, Shape::OutsideWindow),
    (20, Shape::Suspended),
    (20, Shape::OtherCurrency),
    (10, Shape::SelfReferral),
    (10, Shape::Bot),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    OneLink,
    CodeOnly,
    LinkAndCode,
    TwoLinks,
    Organic,
    OutsideWindow,
    Suspended,
    OtherCurrency,
    SelfReferral,
    Bot,
}

/// Prices by currency, minor units: sandals and accessories, bikes and parts.
fn prices(currency: &str) -> &'static [i64] {
    match currency {
        "EUR" => &[1575, 2990, 3450, 4900, 5990, 7990, 8995, 12990],
        "USD" => &[2990, 4900, 8900, 14900, 24900, 39900, 64900],
        _ => &[1999, 4500, 9900],
    }
}

const BROWSERS: [&str; 3] = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
];

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn money(minor: i64, currency: &str) -> String {
    Currency::from_code(currency)
        .map_or_else(|| minor.to_string(), |c| c.from_minor(minor).to_string())
}

/// What the generator may use from the reference data in one program.
struct ProgramPool<'r> {
    program: &'r Program,
    /// Links of verified or pending partners without self-referral identities.
    links: Vec<&'r Link>,
    /// Links of suspended partners.
    suspended: Vec<&'r Link>,
    /// Links of partners with self-referral identities, with the first identity.
    self_referral: Vec<(&'r Link, &'r str)>,
    /// Codes of earning partners valid over the whole workload.
    codes: Vec<&'r Code>,
}

struct Builder {
    rng: Rng,
    seed: u64,
    messages: Vec<(DateTime<Utc>, u64, Message)>,
    planted: BTreeMap<String, usize>,
}

impl Builder {
    fn plant(&mut self, what: &str) {
        *self.planted.entry(what.into()).or_insert(0) += 1;
    }

    fn push(&mut self, at: DateTime<Utc>, key: Option<&str>, payload: String) {
        let seq = self.messages.len() as u64;
        self.messages.push((
            at,
            seq,
            Message {
                at,
                key: key.map(str::to_string),
                payload,
            },
        ));
    }

    /// A journey event: sent at `sent`, and 1% of them sent twice (a retrying platform).
    fn event(
        &mut self,
        sent: DateTime<Utc>,
        key: Option<&str>,
        mut body: Map<String, Value>,
        person: &Person,
    ) {
        if let Some(v) = &person.visitor {
            body.entry("visitor_id").or_insert_with(|| json!(v));
        }
        if let Some(c) = &person.customer {
            body.entry("customer_id").or_insert_with(|| json!(c));
        }
        let payload = Value::Object(body).to_string();
        if self.rng.chance(10) {
            self.plant("duplicates");
            self.push(sent + Duration::seconds(1), key, payload.clone());
        }
        self.push(sent, key, payload);
    }
}

/// Who a journey's events are about.
struct Person {
    visitor: Option<String>,
    customer: Option<String>,
}

fn body(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Generates the workload for `set` and `settings`.
pub fn generate(set: &ReferenceSet, settings: &Settings) -> Result<Workload, String> {
    let oracle = Oracle::new(set);
    let start = settings.start;
    let end = start + Duration::days(settings.days.max(3));
    let pools = pools(set, start, end);
    if pools.iter().any(|p| p.links.is_empty()) {
        return Err("every program needs at least one link of an earning partner".into());
    }
    let mut b = Builder {
        rng: Rng::new(settings.seed),
        seed: settings.seed,
        messages: Vec::with_capacity(settings.events + 16),
        planted: BTreeMap::new(),
    };
    let malformed_count = (settings.events / 200).max(11).min(settings.events / 4);
    let journey_budget = settings.events * 11 / 20;
    let mut expected = Expected {
        seed: settings.seed,
        ..Expected::default()
    };
    // Earnings so far per (program, partner) with a capped rule: kept under half the cap over
    // the whole workload, so no cap ever bites and the oracle need not model cap periods.
    let mut capped: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut n = 0usize;
    while b.messages.len() < journey_budget {
        n += 1;
        let pool = b.rng.pick(&pools);
        let mut journey = journey(&mut b, pool, n, start, end);
        let mut outcome = oracle.journey(&journey)?;
        let over_cap = outcome.lines.iter().any(|line| {
            let cap = oracle
                .rule_for(&line.program_id, &line.partner_id)
                .and_then(|r| r.cap_minor);
            let so_far = capped
                .get(&(line.program_id.clone(), line.partner_id.clone()))
                .copied()
                .unwrap_or(0);
            cap.is_some_and(|cap| so_far + line.amount_minor.max(0) > cap / 2)
        });
        if over_cap {
            journey.touches.clear();
            journey.fraud = None;
            b.plant("capped_partner_journeys_made_organic");
            outcome = oracle.journey(&journey)?;
        }
        for line in &outcome.lines {
            if oracle
                .rule_for(&line.program_id, &line.partner_id)
                .is_some_and(|r| r.cap_minor.is_some())
            {
                *capped
                    .entry((line.program_id.clone(), line.partner_id.clone()))
                    .or_insert(0) += line.amount_minor.max(0);
            }
        }
        emit(&mut b, pool.program, &journey, n);
        expected.orders.extend(outcome.orders);
        expected.lines.extend(outcome.lines);
    }
    b.planted.insert("journeys".into(), n);
    let noise = settings
        .events
        .saturating_sub(b.messages.len() + malformed_count);
    for k in 0..noise {
        background(&mut b, &pools, k, start, end);
    }
    b.planted.insert("background_events".into(), noise);
    for k in 0..malformed_count {
        let sent =
            start + Duration::seconds(b.rng.below((end - start).num_seconds() as u64) as i64);
        let (payload, letter) = malformed(k, settings.seed, sent, &pools[0]);
        b.push(sent, Some(&format!("bad-{k}")), payload);
        expected.dead_letters.push(letter);
    }
    b.planted.insert("malformed".into(), malformed_count);
    b.messages.sort_by_key(|m| (m.0, m.1));
    expected.messages = b.messages.len();
    expected.planted = b.planted;
    expected.lines.sort();
    Ok(Workload {
        messages: b.messages.into_iter().map(|(_, _, m)| m).collect(),
        expected,
    })
}

fn pools<'r>(
    set: &'r ReferenceSet,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<ProgramPool<'r>> {
    let partner = |id: &str| set.partners.iter().find(|p| p.partner_id == id);
    set.programs
        .iter()
        .map(|program| {
            let mine = |l: &&Link| l.program_id == program.program_id;
            let earning = |id: &str| {
                partner(id).is_some_and(|p| {
                    p.status != PartnerStatus::Suspended && p.self_referral_ids.is_empty()
                })
            };
            ProgramPool {
                program,
                links: set
                    .links
                    .iter()
                    .filter(mine)
                    .filter(|l| earning(&l.partner_id))
                    .collect(),
                suspended: set
                    .links
                    .iter()
                    .filter(mine)
                    .filter(|l| {
                        partner(&l.partner_id).is_some_and(|p| p.status == PartnerStatus::Suspended)
                    })
                    .collect(),
                self_referral: set
                    .links
                    .iter()
                    .filter(mine)
                    .filter_map(|l| {
                        let p = partner(&l.partner_id)?;
                        (p.status != PartnerStatus::Suspended)
                            .then(|| p.self_referral_ids.first().map(|id| (l, id.as_str())))
                            .flatten()
                    })
                    .collect(),
                codes: set
                    .codes
                    .iter()
                    .filter(|c| c.program_id == program.program_id && earning(&c.partner_id))
                    .filter(|c| c.valid_from.is_none_or(|f| f < start - Duration::days(2)))
                    .filter(|c| c.valid_until.is_none_or(|u| u > end + Duration::days(2)))
                    .collect(),
            }
        })
        .collect()
}

fn shape(rng: &mut Rng) -> Shape {
    let mut roll = rng.below(1000);
    for (share, shape) in SHAPES {
        if roll < share {
            return shape;
        }
        roll -= share;
    }
    Shape::OneLink
}

/// The facts of journey `n`.
fn journey(
    b: &mut Builder,
    pool: &ProgramPool<'_>,
    n: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Journey {
    let program = pool.program;
    let rng = &mut b.rng;
    let at = start
        + Duration::days(2)
        + Duration::seconds(rng.below(((end - start).num_seconds() - 2 * 86_400) as u64) as i64);
    let mut shape = shape(rng);
    let multi_ok = matches!(
        program.attribution.model,
        schemas::attribution::AttributionModel::LastTouch
            | schemas::attribution::AttributionModel::FirstTouch
    );
    let reverses_bots = program
        .risk_policy
        .as_ref()
        .is_some_and(|p| p.reverse_reasons.iter().any(|r| r == "bot_traffic"));
    if (shape == Shape::TwoLinks && (!multi_ok || pool.links.len() < 2))
        || (matches!(shape, Shape::CodeOnly | Shape::LinkAndCode) && pool.codes.is_empty())
        || (shape == Shape::Suspended && pool.suspended.is_empty())
        || (shape == Shape::SelfReferral && pool.self_referral.is_empty())
        || (shape == Shape::Bot && !reverses_bots)
    {
        shape = Shape::OneLink;
    }
    let click = |link: &Link, before: Duration| Touch {
        at: at - before,
        via: Via::Link(link.link_id.clone()),
        late: false,
    };
    let hours =
        |rng: &mut Rng, lo: i64, hi: i64| Duration::seconds(rng.between(lo * 3600, hi * 3600));
    let mut customer = rng.chance(500).then(|| format!("c{}-{n}", b.seed));
    let mut currency = program.currency.clone();
    let mut fraud = None;
    let mut touches = Vec::new();
    match shape {
        Shape::OneLink | Shape::Bot | Shape::OtherCurrency => {
            let link = *rng.pick(&pool.links);
            for _ in 0..rng.between(1, 3) {
                let before = hours(rng, 1, 120);
                touches.push(click(link, before));
            }
            if rng.chance(80) {
                // Happened before the order, sent after it: a late event.
                touches.push(Touch {
                    at: at - Duration::seconds(rng.between(120, 480)),
                    via: Via::Link(link.link_id.clone()),
                    late: true,
                });
            }
            if shape == Shape::Bot {
                fraud = Some(Fraud::Bot);
            }
            if shape == Shape::OtherCurrency {
                currency = if currency == "EUR" {
                    "USD".into()
                } else {
                    "GBP".into()
                };
            }
        }
        Shape::CodeOnly => {
            let code = *rng.pick(&pool.codes);
            touches.push(Touch {
                at: at - Duration::seconds(rng.between(60, 3600)),
                via: Via::Code(code.code.clone()),
                late: false,
            });
        }
        Shape::LinkAndCode => {
            let code = *rng.pick(&pool.codes);
            let link = *rng.pick(&pool.links);
            let before = hours(rng, 1, 72);
            touches.push(click(link, before));
            touches.push(Touch {
                at: at - Duration::seconds(rng.between(60, 3000)),
                via: Via::Code(code.code.clone()),
                late: false,
            });
        }
        Shape::TwoLinks => {
            let first = *rng.pick(&pool.links);
            let mut second = *rng.pick(&pool.links);
            while second.partner_id == first.partner_id {
                second = *rng.pick(&pool.links);
            }
            let (early, late) = (hours(rng, 48, 96), hours(rng, 1, 24));
            touches.push(click(first, early));
            touches.push(click(second, late));
        }
        Shape::Organic => {}
        Shape::OutsideWindow => {
            let link = *rng.pick(&pool.links);
            let beyond =
                Duration::seconds(program.attribution.click_window_seconds) + hours(rng, 24, 144);
            touches.push(click(link, beyond));
        }
        Shape::Suspended => {
            let link = *rng.pick(&pool.suspended);
            let before = hours(rng, 1, 48);
            touches.push(click(link, before));
        }
        Shape::SelfReferral => {
            let (link, identity) = *rng.pick(&pool.self_referral);
            customer = Some(identity.to_string());
            let before = hours(rng, 1, 48);
            touches.push(click(link, before));
            fraud = Some(Fraud::SelfReferral);
        }
    }
    let amount_minor = *rng.pick(prices(&currency));
    let honest = fraud.is_none() && currency == program.currency;
    let chain = honest && customer.is_some() && rng.chance(300);
    let mut renewals = Vec::new();
    if chain {
        for seq in 2..=4 {
            let renewed = at + Duration::days(30 * i64::from(seq - 1));
            if renewed > end {
                break;
            }
            renewals.push(Renewal {
                order_id: format!("o{}-{n}-r{seq}", b.seed),
                seq,
                at: renewed,
                amount_minor,
            });
        }
    }
    let refund = (fraud.is_none() && rng.chance(100)).then(|| {
        let refunded = at + Duration::seconds(rng.between(86_400, 10 * 86_400));
        let partial = rng.chance(500);
        Refund {
            event_id: format!("{}-{n}-refund", b.seed),
            at: refunded.min(end),
            amount_minor: if partial {
                amount_minor * rng.between(25, 75) / 100
            } else {
                amount_minor
            },
        }
    });
    for (what, planted) in [
        ("fraud_bot", shape == Shape::Bot),
        ("fraud_self_referral", shape == Shape::SelfReferral),
        ("suspended_partner", shape == Shape::Suspended),
        ("outside_window", shape == Shape::OutsideWindow),
        ("other_currency", shape == Shape::OtherCurrency),
        ("late_touchpoints", touches.iter().any(|t| t.late)),
        (
            "refunds_full",
            refund
                .as_ref()
                .is_some_and(|r| r.amount_minor == amount_minor),
        ),
        (
            "refunds_partial",
            refund
                .as_ref()
                .is_some_and(|r| r.amount_minor < amount_minor),
        ),
    ] {
        if planted {
            b.plant(what);
        }
    }
    if !renewals.is_empty() {
        *b.planted.entry("renewals".into()).or_insert(0) += renewals.len();
    }
    Journey {
        program_id: program.program_id.clone(),
        customer_id: customer,
        touches,
        order_id: format!("o{}-{n}", b.seed),
        at,
        amount_minor,
        currency,
        chain_id: chain.then(|| format!("s{}-{n}", b.seed)),
        fraud,
        refund,
        renewals,
    }
}

/// Writes journey `n`'s raw events.
fn emit(b: &mut Builder, program: &Program, j: &Journey, n: usize) {
    let seed = b.seed;
    let person = Person {
        visitor: Some(format!("v{seed}-{n}")),
        customer: j.customer_id.clone(),
    };
    let key = j.customer_id.clone().or(person.visitor.clone());
    let key = key.as_deref();
    let domain = program.domains.first().cloned().unwrap_or_default();
    let ip = format!("203.0.{}.{}", (n / 250) % 250, n % 250 + 1);
    let browser = *b.rng.pick(&BROWSERS);
    let mut k = 0;
    let mut id = || {
        k += 1;
        format!("{seed}-{n}-{k}")
    };
    for touch in &j.touches {
        let sent = if touch.late {
            j.at + Duration::seconds(b.rng.between(15, 45))
        } else {
            touch.at
        };
        let event_id = id();
        let event = match &touch.via {
            Via::Link(link) => {
                json!({"kind": "click", "event_id": event_id, "occurred_at": ts(touch.at),
                "link_id": link, "click_id": format!("clk-{event_id}"),
                "url": format!("https://{domain}/?ref={link}&utm_medium=affiliate&utm_source=partner"),
                "referrer": "https://partner.example.org/post", "ip": ip, "user_agent": browser})
            }
            Via::Code(code) => {
                json!({"kind": "code_redemption", "event_id": event_id, "occurred_at": ts(touch.at),
                "code": code, "ip": ip, "user_agent": browser})
            }
        };
        b.event(sent, key, body(event), &person);
    }
    // Browsing between the first touch and the order; some of it sent late, out of order.
    let first = j
        .touches
        .iter()
        .map(|t| t.at)
        .min()
        .unwrap_or(j.at - Duration::hours(2))
        .min(j.at - Duration::minutes(5));
    for _ in 0..b.rng.between(1, 3) {
        let span = (j.at - first).num_seconds().max(1) as u64;
        let at = first + Duration::seconds(b.rng.below(span) as i64);
        let out_of_order = b.rng.chance(100);
        let sent = if out_of_order {
            b.plant("out_of_order");
            j.at + Duration::seconds(5)
        } else {
            at
        };
        let event = json!({"kind": "page_view", "event_id": id(), "occurred_at": ts(at),
            "url": format!("https://{domain}/products/{}?utm_source=newsletter&utm_medium=email", b.rng.below(400)),
            "referrer": format!("https://{domain}/"), "ip": ip, "user_agent": browser});
        b.event(sent, key, body(event), &person);
    }
    if j.customer_id.is_some() {
        let at = j.at - Duration::seconds(b.rng.between(60, 600));
        let event = json!({"kind": "lead", "event_id": id(), "program_id": program.program_id, "occurred_at": ts(at)});
        b.event(at, key, body(event), &person);
    }
    let agent = if j.fraud == Some(Fraud::Bot) {
        "python-requests/2.31.0"
    } else {
        browser
    };
    let mut conversion = json!({"kind": "conversion", "event_id": id(), "program_id": program.program_id,
        "occurred_at": ts(j.at), "order_id": j.order_id, "amount": money(j.amount_minor, &j.currency),
        "currency": j.currency, "ip": ip, "user_agent": agent});
    if let Some(chain) = &j.chain_id {
        conversion["chain_id"] = json!(chain);
        conversion["chain_seq"] = json!(1);
    }
    b.event(j.at, key, body(conversion), &person);
    if let Some(refund) = &j.refund {
        let event = json!({"kind": "refund", "event_id": refund.event_id, "program_id": program.program_id,
            "occurred_at": ts(refund.at), "order_id": j.order_id,
            "amount": money(refund.amount_minor, &j.currency), "currency": j.currency});
        b.event(refund.at, key, body(event), &person);
    }
    // Renewals come from a billing system: customer and chain, no visitor.
    let billing = Person {
        visitor: None,
        customer: j.customer_id.clone(),
    };
    for renewal in &j.renewals {
        let event = json!({"kind": "conversion", "event_id": id(), "program_id": program.program_id,
            "occurred_at": ts(renewal.at), "order_id": renewal.order_id,
            "amount": money(renewal.amount_minor, &j.currency), "currency": j.currency,
            "chain_id": j.chain_id, "chain_seq": renewal.seq});
        b.event(renewal.at, key, body(event), &billing);
    }
}

/// Background traffic: visitors who browse or click and never buy.
fn background(
    b: &mut Builder,
    pools: &[ProgramPool<'_>],
    k: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) {
    let pool = b.rng.pick(pools);
    let at = start + Duration::seconds(b.rng.below((end - start).num_seconds() as u64) as i64);
    let visitor = format!("n{}-{}", b.seed, b.rng.below(20_000));
    let domain = pool.program.domains.first().cloned().unwrap_or_default();
    let browser = *b.rng.pick(&BROWSERS);
    let event = if b.rng.chance(700) {
        json!({"kind": "page_view", "event_id": format!("{}-bg-{k}", b.seed), "occurred_at": ts(at),
            "visitor_id": visitor, "url": format!("https://{domain}/products/{}?utm_source=google&utm_medium=cpc", b.rng.below(400)),
            "referrer": "https://www.google.com/", "user_agent": browser})
    } else {
        let link = b.rng.pick(&pool.links).link_id.clone();
        json!({"kind": "click", "event_id": format!("{}-bg-{k}", b.seed), "occurred_at": ts(at),
            "visitor_id": visitor, "link_id": link, "click_id": format!("clk-{}-bg-{k}", b.seed),
            "url": format!("https://{domain}/?ref={link}"), "user_agent": browser})
    };
    b.push(at, Some(&visitor), event.to_string());
}

/// The `k`-th planted bad input and the dead letter it must become.
fn malformed(
    k: usize,
    seed: u64,
    at: DateTime<Utc>,
    pool: &ProgramPool<'_>,
) -> (String, ExpectedDeadLetter) {
    let id = format!("{seed}-bad-{k}");
    let when = ts(at);
    let program = &pool.program.program_id;
    let conversion = |change: &dyn Fn(&mut Value)| {
        let mut v = json!({"kind": "conversion", "event_id": id, "program_id": program, "occurred_at": when,
            "visitor_id": format!("bad-v-{k}"), "order_id": format!("bad-o-{k}"), "amount": "19.90", "currency": "EUR"});
        change(&mut v);
        v.to_string()
    };
    let (name, service, reason, payload): (&str, &str, &str, String) = match k % 11 {
        0 => ("empty message", "ingest", "empty_message", String::new()),
        1 => (
            "truncated JSON",
            "ingest",
            "invalid_json",
            format!("{{\"kind\":\"click\",\"event_id\":\"{id}\""),
        ),
        2 => ("a JSON array", "ingest", "not_an_object", "[1,2,3]".into()),
        3 => (
            "conversion without occurred_at",
            "ingest",
            "missing_field",
            conversion(&|v| {
                v.as_object_mut().map(|o| o.remove("occurred_at"));
            }),
        ),
        4 => (
            "unknown kind",
            "ingest",
            "unknown_kind",
            conversion(&|v| v["kind"] = json!("purchase")),
        ),
        5 => (
            "timestamp in words",
            "ingest",
            "invalid_timestamp",
            conversion(&|v| v["occurred_at"] = json!("yesterday")),
        ),
        6 => (
            "negative refund",
            "ingest",
            "negative_amount",
            conversion(&|v| {
                v["kind"] = json!("refund");
                v["amount"] = json!("-5.00");
            }),
        ),
        7 => (
            "amount finer than cents",
            "ingest",
            "amount_too_precise",
            conversion(&|v| v["amount"] = json!("12.345")),
        ),
        8 => (
            "unknown currency",
            "ingest",
            "unknown_currency",
            conversion(&|v| v["currency"] = json!("XYZ")),
        ),
        9 => (
            "unknown program",
            "enricher",
            "unknown_program",
            conversion(&|v| v["program_id"] = json!("no-such-program")),
        ),
        _ => (
            "page on a domain no program owns",
            "enricher",
            "unknown_domain",
            json!({"kind": "page_view",
            "event_id": id, "occurred_at": when, "visitor_id": format!("bad-v-{k}"),
            "url": "https://unknown-shop.example.net/cart"})
            .to_string(),
        ),
    };
    (
        payload,
        ExpectedDeadLetter {
            name: name.into(),
            service: service.into(),
            reason: reason.into(),
        },
    )
}
