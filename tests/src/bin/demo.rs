//! The demo driver run by `deploy/local/demo.sh`: sends the bundled sample of raw events to
//! the raw topic, waits until each running service has handled all of it (read from their
//! `/metrics`), then reads the topics and prints what was accepted, enriched, attributed,
//! scored and decided, and rejected, and why.
//!
//!     demo SAMPLE.ndjson INGEST_ADMIN ENRICHER_ADMIN ATTRIBUTOR_ADMIN RISK_ADMIN
//!     (topics from TOPIC_NAMESPACE, broker from KAFKA_BOOTSTRAP_SERVERS)

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::message::Message;
use schemas::money::Currency;
use schemas::{DeadLetter, EnrichedTouchpoint, ValidTouchpoint};

/// Scrapes `/metrics` and returns the sum of each metric family by name.
fn scrape(admin: &str) -> Result<BTreeMap<String, f64>> {
    let mut stream =
        std::net::TcpStream::connect(admin).with_context(|| format!("admin server at {admin}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: ingest\r\n\r\n")?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    let mut sums = BTreeMap::new();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        if let Some((name_labels, value)) = line.rsplit_once(' ') {
            let name = name_labels
                .split('{')
                .next()
                .unwrap_or_default()
                .to_string();
            let value = value.parse::<f64>().unwrap_or(0.0);
            if let Some(entity) = name_labels
                .split("entity=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
            {
                *sums.entry(format!("{name}/{entity}")).or_insert(0.0) += value;
            }
            *sums.entry(name).or_insert(0.0) += value;
        }
    }
    Ok(sums)
}

fn money(t: &ValidTouchpoint) -> String {
    match (
        t.amount_minor,
        t.currency.as_deref().and_then(Currency::from_code),
    ) {
        (Some(minor), Some(c)) => format!("{} {}", c.from_minor(minor), c),
        _ => String::new(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(sample), Some(admin), Some(enricher_admin), Some(attributor_admin), Some(risk_admin)) = (
        args.first(),
        args.get(1),
        args.get(2),
        args.get(3),
        args.get(4),
    ) else {
        bail!("usage: demo SAMPLE.ndjson INGEST_ADMIN ENRICHER_ADMIN ATTRIBUTOR_ADMIN RISK_ADMIN");
    };
    let ns = std::env::var("TOPIC_NAMESPACE").context("TOPIC_NAMESPACE names the demo's topics")?;
    let (raw, valid, dlq, enriched) = (
        format!("{ns}.touchpoints.raw.v1"),
        format!("{ns}.touchpoints.valid.v1"),
        format!("{ns}.touchpoints.dlq.v1"),
        format!("{ns}.touchpoints.enriched.v1"),
    );
    let lines: Vec<Vec<u8>> = std::fs::read_to_string(sample)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect();
    println!(
        "Sending {} raw events from {sample} to {raw} ...",
        lines.len()
    );
    // Keyed by person (customer id, else visitor id), as a tracking platform sends them: one
    // person's events stay in order, so a lead's binding precedes that customer's renewal.
    let messages: Vec<(Option<Vec<u8>>, Vec<u8>)> = lines
        .iter()
        .map(|l| {
            let person = serde_json::from_slice::<serde_json::Value>(l)
                .ok()
                .and_then(|v| {
                    ["customer_id", "visitor_id"]
                        .iter()
                        .find_map(|f| v.get(f).and_then(|x| x.as_str()).map(str::to_string))
                });
            (person.map(String::into_bytes), l.clone())
        })
        .collect();
    tests::produce(&raw, &messages).await?;

    let metrics = wait_for(admin, "ingest", lines.len()).await?;
    let get = |name: &str| metrics.get(name).copied().unwrap_or(0.0) as usize;
    let (consumed, accepted, dead, dups) = (
        get("ingest_consumed_total"),
        get("ingest_valid_total"),
        get("ingest_dead_lettered_total"),
        get("ingest_duplicates_total"),
    );
    let enricher = wait_for(enricher_admin, "enricher", accepted).await?;
    let enricher_get = |name: &str| enricher.get(name).copied().unwrap_or(0.0) as usize;
    let enricher_dead = enricher_get("enricher_dead_lettered_total");
    let out = tests::consume(&valid, accepted, Duration::from_secs(60))?;
    let letters = tests::consume(&dlq, dead + enricher_dead, Duration::from_secs(60))?;
    let letters: Vec<DeadLetter> = letters
        .iter()
        .map(|m| schemas::decode::<DeadLetter>(m.payload().unwrap_or_default()))
        .collect::<Result<_, _>>()?;

    println!();
    println!("== Ingest report (topics {ns}.*) ==");
    println!("consumed {consumed} = accepted {accepted} + dead-lettered {dead} + duplicates dropped {dups}  [{}]",
        if consumed == accepted + dead + dups { "balanced" } else { "UNBALANCED" });
    println!();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let decoded: Vec<(String, ValidTouchpoint)> = out
        .iter()
        .map(|m| {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).to_string();
            Ok((
                key,
                schemas::decode::<ValidTouchpoint>(m.payload().unwrap_or_default())?,
            ))
        })
        .collect::<Result<_>>()?;
    for (_, t) in &decoded {
        *by_kind.entry(t.kind.as_str()).or_default() += 1;
    }
    println!("Accepted ({} on {valid}, Avro):", decoded.len());
    for (kind, n) in &by_kind {
        println!("  {kind:<16} {n}");
    }
    println!();
    println!("Money and keys of the accepted conversions and refunds (exact minor units, UTC):");
    println!(
        "  {:<18} {:<11} {:<13} {:>14}  {:<10} occurred at (UTC)",
        "event", "kind", "order", "amount", "key"
    );
    for (key, t) in decoded.iter().filter(|(_, t)| t.amount_minor.is_some()) {
        println!(
            "  {:<18} {:<11} {:<13} {:>14}  {:<10} {}",
            t.event_id,
            t.kind.as_str(),
            t.order_id.as_deref().unwrap_or(""),
            money(t),
            key,
            t.occurred_at.format("%Y-%m-%d %H:%M:%S")
        );
    }
    if let Some((_, click)) = decoded.iter().find(|(_, t)| t.ip_hash.is_some()) {
        println!();
        println!(
            "PII: click {} kept ip_prefix {} and a keyed hash {}…; the raw IP was not kept.",
            click.event_id,
            click.ip_prefix.as_deref().unwrap_or("-"),
            &click.ip_hash.as_deref().unwrap_or("-")[..16]
        );
    }
    println!();
    print_dead_letters(&letters, "ingest", &dlq);

    let enriched_out =
        tests::consume(&enriched, accepted - enricher_dead, Duration::from_secs(60))?;
    let enriched_out: Vec<EnrichedTouchpoint> = enriched_out
        .iter()
        .map(|m| schemas::decode::<EnrichedTouchpoint>(m.payload().unwrap_or_default()))
        .collect::<Result<_, _>>()?;
    println!();
    println!("== Enricher report ==");
    println!(
        "consumed {} = enriched {} + dead-lettered {enricher_dead}  [{}]",
        enricher_get("enricher_consumed_total"),
        enricher_get("enricher_enriched_total"),
        if enricher_get("enricher_consumed_total")
            == enricher_get("enricher_enriched_total") + enricher_dead
        {
            "balanced"
        } else {
            "UNBALANCED"
        }
    );
    println!(
        "reference data: {} programs, {} partners, {} links, {} codes (from the reference topic)",
        enricher_label(&enricher, "program"),
        enricher_label(&enricher, "partner"),
        enricher_label(&enricher, "link"),
        enricher_label(&enricher, "code")
    );
    println!();
    println!(
        "  {:<18} {:<15} {:<22} {:<14} {:<28} unresolved",
        "event", "kind", "attribution key", "channel", "partner (by)"
    );
    for e in &enriched_out {
        let p = &e.partner;
        let partner = match &p.partner_id {
            Some(id) => format!("{id} ({:?})", p.resolved_by).to_lowercase(),
            None => "-".into(),
        };
        println!(
            "  {:<18} {:<15} {:<22} {:<14} {:<28} {}",
            e.touchpoint.event_id,
            e.touchpoint.kind.as_str(),
            e.attribution_key,
            format!("{:?}", e.channel).to_lowercase(),
            partner,
            p.unresolved_reason.as_deref().unwrap_or("")
        );
    }
    println!();
    print_dead_letters(&letters, "enricher", &dlq);
    let attributions = attribution_report(&ns, attributor_admin, &enriched_out).await?;
    risk_report(&ns, risk_admin, enriched_out.len() + attributions).await
}

/// Waits until the risk service has routed and scored everything, then prints its commission
/// decisions (the program manager's view, with reason codes) and the partner-facing levels.
async fn risk_report(ns: &str, admin: &str, inputs: usize) -> Result<()> {
    let started = Instant::now();
    let metrics = loop {
        let m = scrape(admin)?;
        let get = |name: &str| m.get(name).copied().unwrap_or(0.0) as usize;
        let routed = get("risk_router_input_messages_total");
        let forwarded = get("risk_router_forwarded_total");
        let scored = get("risk_signals_total");
        eprint!("\r  risk routed {routed}/{inputs} inputs, scored {scored}/{forwarded} signals ");
        if routed >= inputs && scored >= forwarded {
            eprintln!();
            break m;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("risk handled only {routed} of {inputs} inputs in 120 s; see its log");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let get = |name: &str| metrics.get(name).copied().unwrap_or(0.0) as usize;
    let topic = format!("{ns}.commissions.v1");
    let out = tests::consume(&topic, get("risk_decisions_total"), Duration::from_secs(60))?;
    println!();
    println!(
        "== Risk report: commission decisions (topic {topic}; internal, with reason codes) =="
    );
    println!(
        "scored actions {}; renewals and refunds passed through {}; decisions {}",
        get("risk_scored_total"),
        get("risk_passed_through_total"),
        out.len()
    );
    for m in &out {
        let d: schemas::CommissionDecision = schemas::decode(m.payload().unwrap_or_default())?;
        let money = |minor: i64| format!("{}.{:02}", minor / 100, (minor % 100).abs());
        println!(
            "  {:<10} {:<8} order {:<10} {:>8} {} {:?} until {}  {:?}{}",
            d.partner_id,
            format!("{:?}", d.kind).to_lowercase(),
            d.order_id,
            money(d.amount_minor),
            d.currency,
            d.decision,
            d.hold_until.format("%Y-%m-%d"),
            d.risk_level,
            if d.decision_reasons.is_empty() {
                String::new()
            } else {
                format!("  reasons: {}", d.decision_reasons.join(", "))
            }
        );
    }
    let topic = format!("{ns}.risk.levels.v1");
    let levels = tests::consume(
        &topic,
        get("risk_level_updates_total"),
        Duration::from_secs(60),
    )?;
    let mut latest: BTreeMap<String, schemas::RiskLevel> = BTreeMap::new();
    for m in &levels {
        let l: schemas::RiskLevel = schemas::decode(m.payload().unwrap_or_default())?;
        latest.insert(l.subject_id.clone(), l);
    }
    println!();
    println!("== Risk levels (topic {topic}; partner-facing: aggregates only) ==");
    for l in latest.values() {
        println!(
            "  {:<36} {:<18} Risk % {:>6}  ({} flagged of {} scored, {} days)",
            l.subject_id,
            format!("{:?}", l.level),
            l.risk_percent,
            l.flagged_actions,
            l.scored_actions,
            l.window_days
        );
    }
    Ok(())
}

/// Waits until the attributor has consumed every enriched touchpoint and attributed every
/// conversion and refund (after their grace), then prints who earned what and why.
async fn attribution_report(
    ns: &str,
    admin: &str,
    enriched: &[EnrichedTouchpoint],
) -> Result<usize> {
    let metrics = wait_for(admin, "attributor", enriched.len()).await?;
    let orders = enriched
        .iter()
        .filter(|e| e.touchpoint.order_id.is_some())
        .count();
    let started = Instant::now();
    let metrics = loop {
        let m = scrape(admin)?;
        let get = |name: &str| m.get(name).copied().unwrap_or(0.0) as usize;
        let done = get("attributor_attributions_total")
            + get("attributor_duplicates_total")
            + get("attributor_dead_lettered_total");
        eprint!("\r  attributor decided {done}/{orders} conversions and refunds (each waits its program's grace) ");
        if done >= orders {
            eprintln!();
            break m;
        }
        if started.elapsed() > Duration::from_secs(120) {
            drop(metrics);
            bail!("the attributor decided only {done} of {orders} in 120 s; see its log");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let get = |name: &str| metrics.get(name).copied().unwrap_or(0.0) as usize;
    let topic = format!("{ns}.attributions.v1");
    let out = tests::consume(
        &topic,
        get("attributor_attributions_total"),
        Duration::from_secs(60),
    )?;
    let mut attributions: Vec<schemas::Attribution> = out
        .iter()
        .map(|m| schemas::decode::<schemas::Attribution>(m.payload().unwrap_or_default()))
        .collect::<Result<_, _>>()?;
    attributions.sort_by(|a, b| (a.occurred_at, &a.event_id).cmp(&(b.occurred_at, &b.event_id)));
    println!();
    println!("== Attributor report (topic {topic}) ==");
    println!(
        "consumed {}; attributions {} ; duplicates dropped {}; dead-lettered {}",
        get("attributor_consumed_total"),
        attributions.len(),
        get("attributor_duplicates_total"),
        get("attributor_dead_lettered_total")
    );
    for a in &attributions {
        let money = |minor: i64| format!("{}.{:02}", minor / 100, (minor % 100).abs());
        println!();
        println!(
            "  {:?} {} order {} ({} {}) key {} model {:?}{}",
            a.kind,
            a.event_id,
            a.order_id,
            money(a.amount_minor),
            a.currency,
            a.attribution_key,
            a.model,
            a.chain_seq
                .map(|s| format!(" chain seq {s}"))
                .unwrap_or_default()
        );
        match &a.unattributed_reason {
            Some(reason) => println!("    nobody credited: {reason}"),
            None => {
                for c in &a.credits {
                    println!(
                        "    {} share {} → commission {} {} (rule {}, id {}){}",
                        c.partner_id,
                        c.share,
                        money(c.commission_minor),
                        a.currency,
                        c.rule_id.as_deref().unwrap_or("-"),
                        c.commission_id,
                        c.reverses_commission_id
                            .as_ref()
                            .map(|r| format!(", reverses {r}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        for e in &a.evidence {
            println!(
                "    why: {} {} at {} via {} {} (click id {}, utm_source {}, window {:?})",
                e.kind,
                e.touchpoint_id,
                e.occurred_at.format("%Y-%m-%d %H:%M"),
                e.landing_domain.as_deref().unwrap_or("-"),
                e.link_id.as_deref().or(e.code.as_deref()).unwrap_or("-"),
                e.click_id.as_deref().unwrap_or("-"),
                e.utm_source.as_deref().unwrap_or("-"),
                e.window
            );
        }
        if let Some(bound) = &a.bound_attribution_id {
            println!("    renewal follows the partners of the chain's first attribution {bound}");
        }
        for l in &a.losing_claims {
            println!(
                "    lost: {} ({}) {}",
                l.partner_id,
                l.touchpoint_id.as_deref().unwrap_or("-"),
                l.reason
            );
        }
    }
    Ok(out.len())
}

/// Polls a service's `/metrics` until its consumed counter reaches `expected`.
async fn wait_for(admin: &str, service: &str, expected: usize) -> Result<BTreeMap<String, f64>> {
    let started = Instant::now();
    let counter = format!("{service}_consumed_total");
    loop {
        let m = scrape(admin)?;
        let consumed = m.get(&counter).copied().unwrap_or(0.0) as usize;
        eprint!("\r  {service} consumed {consumed}/{expected} ");
        if consumed >= expected {
            eprintln!();
            return Ok(m);
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!(
                "{service} consumed only {consumed} of {expected} messages in 120 s; see its log"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn enricher_label(metrics: &BTreeMap<String, f64>, entity: &str) -> usize {
    metrics
        .get(&format!("enricher_reference_entities/{entity}"))
        .copied()
        .unwrap_or(0.0) as usize
}

fn print_dead_letters(letters: &[DeadLetter], service: &str, dlq: &str) {
    let mine: Vec<&DeadLetter> = letters.iter().filter(|l| l.service == service).collect();
    println!(
        "Dead-lettered by {service} ({} on {dlq}, each with the original bytes and source position):",
        mine.len()
    );
    for l in mine {
        println!(
            "  {:<18} {:<20} {}",
            l.event_id.as_deref().unwrap_or("-"),
            l.reason,
            l.detail
        );
    }
}
