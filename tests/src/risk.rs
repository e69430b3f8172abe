//! The risk service's test and benchmark workload — twenty days of one program's traffic with
//! planted fraud next to honest partners — and a pure run of attributor + router + scorer
//! that the broker tests compare against.

use std::collections::{BTreeMap, HashMap};

use attributor::state::PartitionState;
use chrono::{DateTime, Duration, Utc};
use rdkafka::message::{Message, OwnedMessage};
use reference::Catalog;
use risk::router::{self, Source};
use risk::rules::{Lists, Network};
use risk::state::{Effects, ScorerSettings, ScorerState};
use schemas::attribution::AttributionKind;
use schemas::risk::{RiskLevel, RiskScore};
use schemas::touchpoint::ResolvedBy;
use schemas::{Attribution, CommissionDecision, EnrichedTouchpoint, EventKind};

use crate::attribution::{base_time, enriched, limits, with_partner};
use crate::workload::Rng;

/// Honest partners: they must end at Low.
pub const HONEST: [&str; 5] = ["p-01", "p-02", "p-03", "p-04", "p-06"];
/// Floods clicks from people who never buy.
pub const FLOODER: &str = "p-07";
/// Its code is on coupon sites.
pub const LEAKER: &str = "p-08";
/// Buys through its own link (its own customer id is `cust-9`) and from the same device.
pub const SELF_REFERRER: &str = "p-09";
/// Honest through one SharedId, a bot farm through another.
pub const BOT_FARM_PARTNER: &str = "p-05";
/// The bot farm's SharedId.
pub const BOT_FARM: &str = "farm";
/// The data-centre network the bot farm converts from.
pub const DATACENTRE: &str = "198.51.100.0/24";
/// Days of traffic.
pub const DAYS: i64 = 20;

const BROWSER: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
const HEADLESS: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36";

/// The scorer settings of the tests: the service defaults plus [`DATACENTRE`].
pub fn settings() -> ScorerSettings {
    let split = |v: &str| v.split(',').map(str::to_string).collect::<Vec<_>>();
    ScorerSettings {
        lists: Lists {
            bot_user_agents: split(risk::config::RISK_BOT_USER_AGENTS.default.unwrap_or("")),
            coupon_domains: split(risk::config::RISK_COUPON_DOMAINS.default.unwrap_or("")),
            datacentre_networks: vec![Network::parse(DATACENTRE).expect("valid")],
        },
        join_wait_days: 7,
    }
}

struct Day {
    events: Vec<(DateTime<Utc>, EnrichedTouchpoint)>,
    order: u64,
}

impl Day {
    #[allow(clippy::too_many_arguments)]
    fn buyer(
        &mut self,
        visitor: &str,
        partner: Option<(u64, Option<&str>)>,
        at: DateTime<Utc>,
        click_gap: Duration,
        customer: &str,
        ip: &str,
        ua: &str,
        ip_prefix: &str,
    ) -> &mut EnrichedTouchpoint {
        let key = format!("shop/{visitor}");
        if let Some((p, shared)) = partner {
            let mut click = with_partner(
                enriched(
                    format!("{visitor}-c"),
                    EventKind::Click,
                    &key,
                    at - click_gap,
                ),
                p,
                ResolvedBy::Link,
            );
            if let Some(s) = shared {
                click.partner.shared_id = Some(s.to_string());
            }
            self.events.push((at - click_gap, click));
        }
        self.order += 1;
        let mut buy = enriched(format!("{visitor}-buy"), EventKind::Conversion, &key, at);
        let tp = &mut buy.touchpoint;
        tp.order_id = Some(format!("o-{visitor}"));
        tp.amount_minor = Some(5_000 + (self.order % 7) as i64 * 1_000);
        tp.currency = Some("EUR".into());
        tp.customer_id = Some(customer.to_string());
        tp.ip_hash = Some(ip.to_string());
        tp.ip_prefix = Some(ip_prefix.to_string());
        tp.user_agent = Some(ua.to_string());
        self.events.push((at, buy));
        &mut self.events.last_mut().expect("just pushed").1
    }

    fn clicker(&mut self, visitor: &str, partner: u64, at: DateTime<Utc>) {
        let key = format!("shop/{visitor}");
        let click = with_partner(
            enriched(format!("{visitor}-c"), EventKind::Click, &key, at),
            partner,
            ResolvedBy::Link,
        );
        self.events.push((at, click));
    }
}

fn partner_number(id: &str) -> u64 {
    id.trim_start_matches("p-").parse().expect("p-NN")
}

/// [`DAYS`] days of the `shop` program, in event-time order. Per day: each honest partner
/// brings 3 buyers (clicks 5-30 minutes before buying) and 3 clickers who do not buy; the
/// flooder 2 buyers and 60 clickers; the leaker 3 code-only buyers referred by a coupon site
/// and 1 through its link; the self-referrer its own purchase (`cust-9`), a purchase from the
/// same device under another customer id, and 1 honest buyer; the bot-farm partner 3 honest
/// buyers through SharedId `blog` and 3 through `farm` — headless browsers in a data centre,
/// buying 2 s after the click, from two IPs.
pub fn fraud_workload(seed: u64) -> Vec<EnrichedTouchpoint> {
    let mut rng = Rng::new(seed);
    let mut day = Day {
        events: Vec::new(),
        order: 0,
    };
    let prefix = "203.0.113.0/24";
    for d in 0..DAYS {
        let start = base_time() + Duration::days(d) + Duration::hours(8);
        let at = |slot: i64, rng: &mut Rng| {
            start + Duration::minutes(slot * 7) + Duration::seconds(rng.below(300) as i64)
        };
        for (i, p) in HONEST.iter().enumerate() {
            let n = partner_number(p);
            for b in 0..3 {
                let v = format!("v{d}-{p}-b{b}");
                let t = at((i * 6 + b) as i64, &mut rng);
                let gap = Duration::minutes(5 + rng.below(25) as i64);
                day.buyer(
                    &v,
                    Some((n, None)),
                    t,
                    gap,
                    &format!("cust-{v}"),
                    &format!("ip-{v}"),
                    BROWSER,
                    prefix,
                );
                day.clicker(&format!("v{d}-{p}-n{b}"), n, t + Duration::minutes(1));
            }
        }
        let flooder = partner_number(FLOODER);
        for c in 0..60 {
            day.clicker(&format!("v{d}-flood-{c}"), flooder, at(c, &mut rng));
        }
        for b in 0..2 {
            let v = format!("v{d}-{FLOODER}-b{b}");
            let t = at(40 + b * 10, &mut rng);
            day.buyer(
                &v,
                Some((flooder, None)),
                t,
                Duration::minutes(12),
                &format!("cust-{v}"),
                &format!("ip-{v}"),
                BROWSER,
                prefix,
            );
        }
        let leaker = partner_number(LEAKER);
        for b in 0..3 {
            let v = format!("v{d}-{LEAKER}-code{b}");
            let t = at(50 + b, &mut rng);
            let buy = day.buyer(
                &v,
                None,
                t,
                Duration::zero(),
                &format!("cust-{v}"),
                &format!("ip-{v}"),
                BROWSER,
                prefix,
            );
            buy.touchpoint.referrer = Some("https://www.retailmenot.com/view/shop.example".into());
            let coded = with_partner(buy.clone(), leaker, ResolvedBy::Code);
            *buy = coded;
        }
        let v = format!("v{d}-{LEAKER}-b");
        let t = at(55, &mut rng);
        day.buyer(
            &v,
            Some((leaker, None)),
            t,
            Duration::minutes(9),
            &format!("cust-{v}"),
            &format!("ip-{v}"),
            BROWSER,
            prefix,
        );

        let selfish = partner_number(SELF_REFERRER);
        let home = "ip-p09-home";
        let mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15";
        let t = at(60, &mut rng);
        day.buyer(
            &format!("v{d}-self"),
            Some((selfish, None)),
            t,
            Duration::minutes(6),
            "cust-9",
            home,
            mac,
            prefix,
        );
        let t = at(62, &mut rng);
        day.buyer(
            &format!("v{d}-selfalt"),
            Some((selfish, None)),
            t,
            Duration::minutes(6),
            &format!("cust-9-alt-{d}"),
            home,
            mac,
            prefix,
        );
        let v = format!("v{d}-{SELF_REFERRER}-b");
        let t = at(64, &mut rng);
        day.buyer(
            &v,
            Some((selfish, None)),
            t,
            Duration::minutes(20),
            &format!("cust-{v}"),
            &format!("ip-{v}"),
            BROWSER,
            prefix,
        );

        let farm = partner_number(BOT_FARM_PARTNER);
        for b in 0..3 {
            let v = format!("v{d}-{BOT_FARM_PARTNER}-blog{b}");
            let t = at(70 + b, &mut rng);
            day.buyer(
                &v,
                Some((farm, Some("blog"))),
                t,
                Duration::minutes(15),
                &format!("cust-{v}"),
                &format!("ip-{v}"),
                BROWSER,
                prefix,
            );
            let v = format!("v{d}-farm{b}");
            let t = at(74 + b, &mut rng);
            let ip = format!("ip-dc-{}", b % 2);
            day.buyer(
                &v,
                Some((farm, Some(BOT_FARM))),
                t,
                Duration::seconds(2),
                &format!("cust-{v}"),
                &ip,
                HEADLESS,
                DATACENTRE,
            );
        }
    }
    let mut events = day.events;
    events.sort_by_key(|(at, e)| (*at, e.touchpoint.event_id.clone()));
    events.into_iter().map(|(_, e)| e).collect()
}

/// What the pure chain (attributor, router, scorer, each one partition) produced.
#[derive(Debug, Default)]
pub struct PureRun {
    /// Attributions by id.
    pub attributions: BTreeMap<String, Attribution>,
    /// Scores in order.
    pub scores: Vec<RiskScore>,
    /// Decisions in order.
    pub decisions: Vec<CommissionDecision>,
    /// The last level of every subject.
    pub levels: BTreeMap<String, RiskLevel>,
}

struct Scorer<'a> {
    state: ScorerState,
    effects: Effects,
    offset: i64,
    settings: ScorerSettings,
    catalog: &'a Catalog,
    forwarded: i64,
}

impl Scorer<'_> {
    fn feed(&mut self, signal: &schemas::RiskSignal) {
        self.state
            .apply(
                self.offset,
                signal,
                self.catalog,
                &self.settings,
                &mut self.effects,
            )
            .expect("valid signal");
        self.offset += 1;
    }

    fn forward(&mut self, attributions: Vec<Attribution>, out: &mut PureRun) {
        for a in attributions {
            let bytes = schemas::encode(&a).expect("encodes");
            let source = Source {
                topic: "attributions",
                partition: 0,
                offset: self.forwarded,
            };
            self.forwarded += 1;
            self.feed(&router::from_attribution(source, &a, &bytes));
            out.attributions.insert(a.attribution_id.clone(), a);
        }
    }
}

/// Runs `events` through the attributor's state, the router and the scorer, forwarding each
/// attribution right after the input that made it due — the order the services see.
pub fn pure_run(events: &[EnrichedTouchpoint], catalog: &Catalog) -> PureRun {
    let mut attributor = PartitionState::new();
    let mut scorer = Scorer {
        state: ScorerState::new(),
        effects: Effects::default(),
        offset: 0,
        settings: settings(),
        catalog,
        forwarded: 0,
    };
    let mut out = PureRun::default();
    for (offset, e) in events.iter().enumerate() {
        let mut effects = attributor::state::Effects::default();
        let _rejected = attributor.apply(offset as i64, e, catalog, &limits(), &mut effects);
        let source = Source {
            topic: "enriched",
            partition: 0,
            offset: offset as i64,
        };
        if let Some(signal) = router::from_touchpoint(source, e) {
            scorer.feed(&signal);
        }
        scorer.forward(effects.attributions, &mut out);
    }
    let mut effects = attributor::state::Effects::default();
    attributor.advance_idle(Utc::now(), catalog, &mut effects);
    scorer.forward(effects.attributions, &mut out);
    out.scores = scorer.effects.scores;
    out.decisions = scorer.effects.decisions;
    out.levels = latest_levels(scorer.effects.levels);
    out
}

/// The last level record of every subject.
pub fn latest_levels(levels: impl IntoIterator<Item = RiskLevel>) -> BTreeMap<String, RiskLevel> {
    levels
        .into_iter()
        .map(|l| (l.subject_id.clone(), l))
        .collect()
}

/// Scored actions per partner that distinct attributions call for: each credit of a first
/// (or only) conversion of a chain, and each partner whose claim was excluded as a
/// self-referral.
pub fn expected_actions(attributions: &BTreeMap<String, Attribution>) -> HashMap<String, i64> {
    let mut out: HashMap<String, i64> = HashMap::new();
    for a in attributions.values() {
        if a.kind != AttributionKind::Conversion || a.chain_seq.is_some_and(|s| s > 1) {
            continue;
        }
        for c in &a.credits {
            *out.entry(c.partner_id.clone()).or_default() += 1;
        }
        let mut claimed = std::collections::BTreeSet::new();
        for l in a
            .losing_claims
            .iter()
            .filter(|l| l.reason == "self_referral")
        {
            if claimed.insert(&l.partner_id) {
                *out.entry(l.partner_id.clone()).or_default() += 1;
            }
        }
    }
    out
}

/// Reason codes that fired per partner (and per `partner/shared_id`).
pub fn reasons_by_subject(
    scores: &[RiskScore],
) -> HashMap<String, std::collections::BTreeSet<String>> {
    let mut out: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
    for s in scores {
        let codes = s.reasons.iter().map(|r| r.code.clone());
        out.entry(s.partner_id.clone())
            .or_default()
            .extend(codes.clone());
        if let Some(shared) = &s.shared_id {
            out.entry(format!("{}/{shared}", s.partner_id))
                .or_default()
                .extend(codes);
        }
    }
    out
}

/// Decoded messages of one type, in partition/offset order.
pub fn decode_all<T: schemas::AvroMessage>(messages: &[OwnedMessage]) -> Vec<T> {
    let mut sorted: Vec<&OwnedMessage> = messages.iter().collect();
    sorted.sort_by_key(|m| (m.partition(), m.offset()));
    sorted
        .into_iter()
        .filter_map(|m| m.payload().and_then(|p| schemas::decode(p).ok()))
        .collect()
}

/// The risk service's config from a map, failing loudly on invalid settings.
pub fn risk_config(env: &HashMap<String, String>) -> risk::config::RiskConfig {
    let mut reader = runtime::Env::from_map(env.clone());
    let config = risk::config::RiskConfig::from_env(&mut reader).expect("valid config");
    reader.finish().expect("valid config");
    config
}

/// A message to produce: key and payload.
pub type KeyedMessage = (Option<Vec<u8>>, Vec<u8>);

/// Copy `copy` of a workload: every id prefixed, every time `copy × DAYS` days later, so that
/// copies follow each other as a long-running program's traffic would.
pub fn shifted(events: &[EnrichedTouchpoint], copy: usize) -> Vec<EnrichedTouchpoint> {
    let shift = Duration::days(DAYS * copy as i64);
    let p = |s: &mut String| *s = format!("r{copy}-{s}");
    let po = |s: &mut Option<String>| {
        if let Some(v) = s.as_mut() {
            if v != "cust-9" {
                *v = format!("r{copy}-{v}");
            }
        }
    };
    events
        .iter()
        .cloned()
        .map(|mut e| {
            let t = &mut e.touchpoint;
            t.occurred_at += shift;
            t.received_at += shift;
            p(&mut t.event_id);
            po(&mut t.visitor_id);
            po(&mut t.customer_id);
            po(&mut t.order_id);
            po(&mut t.click_id);
            e.attribution_key = format!(
                "shop/r{copy}-{}",
                e.attribution_key.trim_start_matches("shop/")
            );
            e.enriched_at += shift;
            e
        })
        .collect()
}

/// The signal log the router would write for `copies` consecutive copies of the fraud
/// workload: `(key, payload)` messages for the signals topic, and how many actions it holds.
pub fn bench_signals(copies: usize) -> (Vec<KeyedMessage>, usize) {
    let base = fraud_workload(3);
    let cat = crate::attribution::catalog();
    let mut attributor = PartitionState::new();
    let mut out = Vec::new();
    let mut actions = 0;
    let mut offset = 0i64;
    let mut forwarded = 0i64;
    let push = |s: &schemas::RiskSignal, out: &mut Vec<KeyedMessage>| {
        out.push((
            Some(s.program_id.clone().into_bytes()),
            schemas::encode(s).expect("encodes"),
        ));
    };
    for copy in 0..copies {
        for e in shifted(&base, copy) {
            let mut fx = attributor::state::Effects::default();
            let _rejected = attributor.apply(offset, &e, &cat, &limits(), &mut fx);
            let source = Source {
                topic: "enriched",
                partition: 0,
                offset,
            };
            offset += 1;
            if let Some(s) = router::from_touchpoint(source, &e) {
                push(&s, &mut out);
            }
            for a in fx.attributions {
                actions += expected_actions(
                    &[(a.attribution_id.clone(), a.clone())]
                        .into_iter()
                        .collect(),
                )
                .values()
                .sum::<i64>() as usize;
                let bytes = schemas::encode(&a).expect("encodes");
                let source = Source {
                    topic: "attributions",
                    partition: 0,
                    offset: forwarded,
                };
                forwarded += 1;
                push(&router::from_attribution(source, &a, &bytes), &mut out);
            }
        }
    }
    (out, actions)
}
