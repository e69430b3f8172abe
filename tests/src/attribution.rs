//! The attributor's test and benchmark workload (enriched touchpoints, as the enricher writes
//! them), and the single-run reference its crash tests compare against.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Result};
use attributor::state::{Effects, Limits, PartitionState};
use chrono::{DateTime, Duration, TimeZone, Utc};
use rdkafka::message::{Message, OwnedMessage};
use reference::Catalog;
use schemas::touchpoint::{Channel, PartnerResolution, PartnerStatus, ResolvedBy, Utm};
use schemas::{Attribution, EnrichedTouchpoint, EventKind, ValidTouchpoint};

use crate::workload::Rng;

/// Reference data of the attributor tests and benchmark.
pub const REFERENCE: &str = include_str!("../fixtures/attributor_reference.toml");

/// The catalogue of [`REFERENCE`].
pub fn catalog() -> Catalog {
    Catalog::from_set(&reference::parse(REFERENCE).expect("fixture is valid"))
}

/// Event time of the workload: in the past, so an idle attributor's clock (the wall clock)
/// is past every grace at the end of a run.
pub fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
        .single()
        .expect("valid")
}

/// An enriched touchpoint of `kind` for `key` (`<program>/<visitor>`) at `at`, no partner.
pub fn enriched(id: String, kind: EventKind, key: &str, at: DateTime<Utc>) -> EnrichedTouchpoint {
    let (program, visitor) = key.split_once('/').expect("program/visitor");
    let mut tp = ValidTouchpoint::new(id, kind, at);
    tp.visitor_id = Some(visitor.to_string());
    tp.program_id = Some(program.to_string());
    EnrichedTouchpoint {
        touchpoint: tp,
        program_id: program.to_string(),
        attribution_key: key.to_string(),
        landing_domain: Some(format!("{program}.example")),
        channel: Channel::Direct,
        utm: Utm::default(),
        ad_click_ids: Vec::new(),
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

/// `e` resolved to partner `p-<partner>` by link (with a SharedId) or by code.
pub fn with_partner(mut e: EnrichedTouchpoint, partner: u64, by: ResolvedBy) -> EnrichedTouchpoint {
    let id = format!("p-{partner:02}");
    e.partner.partner_status = Some(if partner == 19 {
        PartnerStatus::Suspended
    } else {
        PartnerStatus::Verified
    });
    match by {
        ResolvedBy::Code => e.partner.code = Some(format!("CODE{partner:02}")),
        _ => {
            e.partner.link_id = Some(format!("{id}-link"));
            e.partner.shared_id = Some(format!("{id}-sub{}", partner % 3));
            e.channel = Channel::Referral;
            e.utm.source = Some(id.clone());
            e.utm.medium = Some("affiliate".into());
            e.touchpoint.click_id = Some(format!("clk-{}", e.touchpoint.event_id));
        }
    }
    e.partner.partner_id = Some(id);
    e.partner.resolved_by = by;
    e
}

/// A deterministic workload over `visitors` people: each has one to four partner clicks or
/// page views, plus unattributed page views (`noise` per visitor); about a third convert
/// (some with a code, some twice under the same order id, some refunded in part), and a few
/// subscriptions renew 35 days later, at the end of the stream. In event-time order, which is
/// the order a producer sends them.
pub fn workload(visitors: usize, noise: usize, seed: u64) -> Vec<EnrichedTouchpoint> {
    let mut rng = Rng::new(seed);
    let base = base_time();
    let mut events: Vec<(DateTime<Utc>, EnrichedTouchpoint)> = Vec::new();
    let mut renewals = Vec::new();
    for v in 0..visitors {
        let program = if v % 2 == 0 { "shop" } else { "deals" };
        let key = format!("{program}/v-{v}");
        let start = base + Duration::seconds(v as i64 * 2);
        let id = |what: &str| format!("{v}-{what}");
        for j in 0..noise {
            let at = start + Duration::seconds(j as i64 * 7);
            events.push((
                at,
                enriched(id(&format!("pv{j}")), EventKind::PageView, &key, at),
            ));
        }
        let clicks = 1 + rng.below(4);
        for j in 0..clicks {
            let at = start + Duration::minutes(j as i64 * 3);
            let partner = rng.below(20);
            let kind = if rng.below(5) == 0 {
                EventKind::PageView
            } else {
                EventKind::Click
            };
            let e = enriched(id(&format!("c{j}")), kind, &key, at);
            events.push((at, with_partner(e, partner, ResolvedBy::Link)));
        }
        if rng.below(3) != 0 {
            continue;
        }
        let at = start + Duration::minutes(15);
        let amount = 1_000 + rng.below(99_000) as i64;
        let mut buy = enriched(id("buy"), EventKind::Conversion, &key, at);
        if rng.below(6) == 0 {
            buy = with_partner(buy, rng.below(20), ResolvedBy::Code);
        }
        let tp = &mut buy.touchpoint;
        tp.order_id = Some(format!("o-{v}"));
        tp.amount_minor = Some(amount);
        tp.currency = Some("EUR".into());
        tp.customer_id = Some(format!("cust-{v}"));
        let subscribes = rng.below(4) == 0;
        if subscribes {
            tp.chain_id = Some(format!("sub-{v}"));
            tp.chain_seq = Some(1);
        }
        if rng.below(10) == 0 {
            let mut copy = buy.clone();
            copy.touchpoint.event_id = id("buy-copy");
            events.push((at + Duration::seconds(30), copy));
        }
        if rng.below(6) == 0 {
            let mut refund = buy.clone();
            refund.touchpoint.kind = EventKind::Refund;
            refund.touchpoint.event_id = id("refund");
            refund.touchpoint.amount_minor = Some(amount / 2);
            refund.touchpoint.occurred_at = at + Duration::minutes(20);
            events.push((refund.touchpoint.occurred_at, refund));
        }
        if subscribes {
            let mut renewal = buy.clone();
            renewal.touchpoint.event_id = id("renewal");
            renewal.touchpoint.order_id = Some(format!("o-{v}-2"));
            renewal.touchpoint.chain_seq = Some(2);
            renewal.touchpoint.occurred_at = at + Duration::days(35);
            // Billing sends renewals without any partner signal.
            renewal.partner = enriched(String::new(), EventKind::Conversion, &key, at).partner;
            renewals.push(renewal);
        }
        events.push((at, buy));
    }
    events.sort_by_key(|(at, _)| *at);
    let mut out: Vec<EnrichedTouchpoint> = events.into_iter().map(|(_, e)| e).collect();
    out.extend(renewals);
    out
}

/// The benchmark's mix over `visitors` keys: one partner click each, an unattributed page
/// view for three in ten, a conversion for three in a hundred (15 minutes after the click).
/// Clicks and page views outnumber conversions about 40 to 1.
pub fn bench_workload(visitors: usize, seed: u64) -> Vec<EnrichedTouchpoint> {
    let mut rng = Rng::new(seed);
    let base = base_time();
    let mut events = Vec::with_capacity(visitors * 14 / 10);
    for v in 0..visitors {
        let program = if v % 2 == 0 { "shop" } else { "deals" };
        let key = format!("{program}/v-{v}");
        let at = base + Duration::milliseconds(v as i64 * 50);
        let click = enriched(format!("{v}-c"), EventKind::Click, &key, at);
        events.push((at, with_partner(click, rng.below(19), ResolvedBy::Link)));
        if rng.below(10) < 3 {
            let at = at + Duration::seconds(20);
            events.push((
                at,
                enriched(format!("{v}-pv"), EventKind::PageView, &key, at),
            ));
        }
        if rng.below(100) < 3 {
            let at = at + Duration::minutes(15);
            let mut buy = enriched(format!("{v}-buy"), EventKind::Conversion, &key, at);
            buy.touchpoint.order_id = Some(format!("o-{v}"));
            buy.touchpoint.amount_minor = Some(1_000 + rng.below(99_000) as i64);
            buy.touchpoint.currency = Some("EUR".into());
            events.push((at, buy));
        }
    }
    events.sort_by_key(|(at, _)| *at);
    events.into_iter().map(|(_, e)| e).collect()
}

/// Messages for the enriched topic: keyed by attribution key, as the enricher writes them.
pub fn messages(events: &[EnrichedTouchpoint]) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    events
        .iter()
        .map(|e| {
            (
                Some(e.attribution_key.as_bytes().to_vec()),
                schemas::encode(e).expect("encodes"),
            )
        })
        .collect()
}

/// Test limits (the service defaults).
pub fn limits() -> Limits {
    Limits {
        touchpoints_per_key: 50,
        retention: Duration::days(400),
        source_idle_inputs: 100_000,
        keys_max: usize::MAX,
    }
}

/// What one uninterrupted attributor would emit for the enriched topic's `messages` (read
/// back with their partitions and offsets), by attribution id.
pub fn single_run(messages: &[OwnedMessage], catalog: &Catalog) -> BTreeMap<String, Vec<u8>> {
    let mut by_partition: HashMap<i32, Vec<&OwnedMessage>> = HashMap::new();
    for m in messages {
        by_partition.entry(m.partition()).or_default().push(m);
    }
    let mut out = BTreeMap::new();
    for (_, mut list) in by_partition {
        list.sort_by_key(|m| m.offset());
        let mut state = PartitionState::new();
        let mut effects = Effects::default();
        for m in list {
            let Some(Ok(e)) = m.payload().map(schemas::decode::<EnrichedTouchpoint>) else {
                continue;
            };
            let _rejected = state.apply(m.offset(), &e, catalog, &limits(), &mut effects);
        }
        state.advance_idle(Utc::now(), catalog, &mut effects);
        for a in effects.attributions {
            out.insert(
                a.attribution_id.clone(),
                schemas::encode(&a).expect("encodes"),
            );
        }
    }
    out
}

/// Attribution messages by id, failing if two copies of one id differ.
pub fn distinct(messages: &[OwnedMessage]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for m in messages {
        let bytes = m.payload().unwrap_or_default().to_vec();
        let a: Attribution = schemas::decode(&bytes)?;
        if let Some(previous) = out.insert(a.attribution_id.clone(), bytes.clone()) {
            if previous != bytes {
                bail!(
                    "two different payloads for attribution {}",
                    a.attribution_id
                );
            }
        }
    }
    Ok(out)
}

/// Commission ids of distinct attributions, failing if one appears in two of them.
pub fn commission_ids(attributions: &BTreeMap<String, Vec<u8>>) -> Result<usize> {
    let mut seen = std::collections::HashSet::new();
    for bytes in attributions.values() {
        let a: Attribution = schemas::decode(bytes)?;
        for c in a.credits {
            if !seen.insert(c.commission_id.clone()) {
                bail!("commission {} appears in two attributions", c.commission_id);
            }
        }
    }
    Ok(seen.len())
}

/// The attributor's config from a map, failing loudly on invalid settings.
pub fn attributor_config(env: &HashMap<String, String>) -> attributor::config::AttributorConfig {
    let mut reader = runtime::Env::from_map(env.clone());
    let config = attributor::config::AttributorConfig::from_env(&mut reader).expect("valid config");
    reader.finish().expect("valid config");
    config
}
