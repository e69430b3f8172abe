//! The demo driver run by `deploy/local/demo.sh` once the five services are running: generates
//! a workload for the reference data with the load generator, replays the first 50 days with
//! a progress display, waits until the ledger has caught up, runs and settles the payouts for
//! that period, replays the rest (with refunds of orders already paid: clawbacks), checks the
//! ledger against the generator's oracle and prints a report people can read.
//!
//!     demo REFERENCE.toml WORK_DIR
//!     (topics from TOPIC_NAMESPACE, broker from KAFKA_BOOTSTRAP_SERVERS, ClickHouse from
//!      CLICKHOUSE_URL and CLICKHOUSE_DATABASE; DEMO_EVENTS (30000) and DEMO_SEED (7) size it, DEMO_RATE (2500 msg/s, 0: as
//!      fast as possible) paces the replay)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use loadgen::replay::{replay, Pace};
use loadgen::{generate, Expected, Message, Settings};
use tests::pipeline::{compare, ledger_lines};

const START: &str = "2026-06-01T00:00:00Z";
const DAYS: i64 = 60;
/// The payout period ends here; what happens later arrives after the payout.
const PERIOD_DAYS: i64 = 50;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `sql` on ClickHouse and returns the body (the demo prints tables as ClickHouse draws
/// them, so what you see is what the documented queries return). Same settings as the
/// services (`CLICKHOUSE_URL`, `_USER`, `_PASSWORD`, `_CA_FILE`, `_DATABASE`).
fn clickhouse(sql: &str) -> Result<String> {
    clickhouse_as(sql, "TabSeparatedRaw")
}

/// [`clickhouse`], in the given output format.
fn clickhouse_as(sql: &str, format: &str) -> Result<String> {
    static QUERIES: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let runtime = QUERIES.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the report's queries")
    });
    let config = tests::ledger::clickhouse_config();
    let db = config.database()?;
    runtime
        .block_on(async {
            let mut cursor = db.query(sql).fetch_bytes(format)?;
            let mut body = Vec::new();
            while let Some(chunk) = cursor.next().await? {
                body.extend_from_slice(&chunk);
            }
            String::from_utf8(body).context("ClickHouse answered with text that is not UTF-8")
        })
        .with_context(|| format!("ClickHouse at {}", config.url))
}

fn table(sql: &str) -> Result<String> {
    clickhouse_as(sql.trim().trim_end_matches(';'), "PrettyCompactNoEscapes")
}

fn number(sql: &str) -> u64 {
    clickhouse(sql)
        .ok()
        .and_then(|b| b.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until ClickHouse holds `want` commission lines, printing progress.
fn wait_for_ledger(want: usize, deadline: Duration) -> Result<()> {
    let started = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        let n = number("SELECT count() FROM commissions FINAL") as usize;
        if n != last.0 {
            last = (n, Instant::now());
        }
        if n > 0 && last.1.elapsed() > Duration::from_secs(60) {
            eprintln!();
            println!("   stopped waiting: no new lines for 60 s, {n} of the {want} the oracle expects (see step 5)");
            return Ok(());
        }
        eprint!(
            "\r  ledger: {n:>7} / {want} commission lines in ClickHouse ({:>4.0} s)  ",
            started.elapsed().as_secs_f64()
        );
        std::io::stderr().flush().ok();
        if n >= want {
            eprintln!();
            return Ok(());
        }
        if started.elapsed() > deadline {
            eprintln!();
            bail!("the ledger did not catch up within {deadline:?}; see the service logs");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn ledger_writer() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.with_file_name("ledger-writer")
}

/// Runs `ledger-writer ARGS` and returns its output.
fn ledger_command(args: &[&str]) -> Result<String> {
    let out = Command::new(ledger_writer())
        .args(args)
        .output()
        .context("running ledger-writer")?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("ledger-writer {}: {}", args.join(" "), text.trim());
    }
    Ok(text)
}

fn send(runtime: &tokio::runtime::Runtime, messages: &[Message]) -> Result<()> {
    let mut env = runtime::Env::from_process();
    let common = runtime::CommonConfig::from_env(&mut env, "demo", "127.0.0.1:0");
    runtime.block_on(async {
        replay(
            &common.kafka,
            "attrib-demo",
            &common.topics.touchpoints_raw,
            messages,
            Pace {
                // Paced like live traffic so the progress bar means something; 0 replays as
                // fast as the broker takes it (the watermark keeps that exact too).
                rate: Some(setting("DEMO_RATE", 2_500) as f64).filter(|rate| *rate > 0.0),
                progress: true,
            },
        )
        .await
    })?;
    Ok(())
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The demo's driver (`deploy/local/demo.sh` starts the services and runs it): generates a
/// workload, replays it in two parts around a payout run, checks the ledger against the
/// oracle and prints the report. DEMO_EVENTS, DEMO_SEED and DEMO_RATE set the workload.
#[derive(Debug, clap::Parser)]
#[command(name = "demo", version)]
struct Cli {
    /// The reference file the services were given
    reference: String,
    /// A directory for the workload files
    work: String,
}

fn main() -> Result<()> {
    let Cli { reference, work } = clap::Parser::parse();
    let (reference, work) = (&reference, &work);
    let (events, seed) = (
        setting("DEMO_EVENTS", 30_000) as usize,
        setting("DEMO_SEED", 7),
    );
    let text = std::fs::read_to_string(reference)?;
    let set = reference::parse(&text)
        .map_err(|e| anyhow::anyhow!("{reference}: {} problem(s)", e.len()))?;
    let start = DateTime::parse_from_rfc3339(START)?.to_utc();
    let period_end = start + chrono::Duration::days(PERIOD_DAYS);

    println!("\n== 1. A workload: {events} raw events over {DAYS} days from {START} (seed {seed})");
    let workload = generate(
        &set,
        &Settings {
            seed,
            events,
            start,
            days: DAYS,
        },
    )
    .map_err(anyhow::Error::msg)?;
    loadgen::file::write(Path::new(work), &workload.messages, &workload.expected)?;
    let expected: &Expected = &workload.expected;
    let credited = expected
        .orders
        .iter()
        .filter(|o| o.partner_id.is_some())
        .count();
    println!(
        "   {} orders ({credited} credited to partners), {} commission lines, {} malformed messages expected to be dead-lettered",
        expected.orders.len(),
        expected.lines.len(),
        expected.dead_letters.len()
    );
    let planted: Vec<String> = expected
        .planted
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("   planted: {}", planted.join(", "));
    println!("   (files: {work}/workload.ndjson, {work}/expected.json — the oracle's answer)");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()?;
    let (before, after): (Vec<Message>, Vec<Message>) = workload
        .messages
        .iter()
        .cloned()
        .partition(|m| m.at <= period_end);
    println!(
        "\n== 2. Replaying days 1–{PERIOD_DAYS} ({} messages) to the raw topic",
        before.len()
    );
    send(&runtime, &before)?;
    let due = expected
        .lines
        .iter()
        .filter(|l| l.occurred_at <= period_end)
        .count();
    wait_for_ledger(due, Duration::from_secs(900))?;

    println!(
        "\n== 3. Payout run for the period ending {} (then finance settles every payout)",
        iso(period_end)
    );
    for program in &set.programs {
        let out = ledger_command(&[
            "payout",
            "run",
            "--program",
            &program.program_id,
            "--period-end",
            &iso(period_end),
        ])?;
        println!(
            "   {}: {}",
            program.program_id,
            out.lines().last().unwrap_or_default().trim()
        );
    }
    let ids = clickhouse(
        "SELECT payout_id FROM payouts FINAL WHERE status = 'created' ORDER BY payout_id",
    )?;
    let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
    for chunk in ids.chunks(8) {
        let children: Vec<_> = chunk
            .iter()
            .map(|id| {
                Command::new(ledger_writer())
                    .args(["payout", "complete", "--payout", id])
                    .output()
            })
            .collect();
        for child in children {
            let out = child.context("running ledger-writer payout complete")?;
            if !out.status.success() {
                bail!(
                    "payout complete failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    println!("   {} payouts completed", ids.len());

    println!(
        "\n== 4. Replaying days {}–{DAYS} ({} messages), incl. refunds of orders already paid",
        PERIOD_DAYS + 1,
        after.len()
    );
    send(&runtime, &after)?;
    wait_for_ledger(expected.lines.len(), Duration::from_secs(900))?;
    std::thread::sleep(Duration::from_secs(2));

    println!("\n== 5. The ledger against the generator's oracle");
    let database = std::env::var("CLICKHOUSE_DATABASE").unwrap_or_else(|_| "attrib".into());
    let lines = runtime.block_on(ledger_lines(&tests::ledger::clickhouse(&database)))?;
    let problems = compare(expected, &lines);
    if problems.is_empty() {
        println!(
            "   equal: all {} expected commission and refund lines, exact to the cent, no duplicates, nothing missing",
            expected.lines.len()
        );
    } else {
        println!("   {} differences, first ones:", problems.len());
        for p in problems.iter().take(10) {
            println!("   - {p}");
        }
    }
    let ns = std::env::var("TOPIC_NAMESPACE").unwrap_or_else(|_| "attrib".into());
    let letters =
        tests::pipeline::dead_letters(&ns, expected.dead_letters.len(), Duration::from_secs(60))?;
    let mut by_reason: std::collections::BTreeMap<String, usize> =
        std::collections::BTreeMap::new();
    for ((service, ..), reason) in &letters {
        *by_reason.entry(format!("{service}/{reason}")).or_insert(0) += 1;
    }
    println!(
        "   dead letters: {} (planted: {}), by service/reason: {}",
        letters.len(),
        expected.dead_letters.len(),
        by_reason
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    report(work)?;
    if std::env::var("DEMO_MARKETPLACE").as_deref() != Ok("no") {
        marketplace(&runtime, &set)?;
    }
    Ok(())
}

/// Step 8: the reference data's specialists get profiles, verification commands and reviews
/// of orders the pipeline credited them for; the trust service (started by demo.sh) ranks
/// them; prints each program's marketplace and one specialist's verification history.
fn marketplace(runtime: &tokio::runtime::Runtime, set: &reference::ReferenceSet) -> Result<()> {
    use schemas::reference::PartnerKind;
    println!(
        "\n== 8. The specialist marketplace: verification, profiles, reviews, the trust ranking"
    );
    let specialists: Vec<tests::marketplace::Specialist> = set
        .partners
        .iter()
        .filter(|p| p.partner_kind == PartnerKind::Specialist)
        .map(|p| tests::marketplace::Specialist {
            id: p.partner_id.clone(),
            name: p.name.clone(),
            own: p.self_referral_ids.clone(),
        })
        .collect();
    let ids = specialists
        .iter()
        .map(|s| format!("'{}'", s.id))
        .collect::<Vec<_>>()
        .join(",");
    let orders: Vec<(String, String, String)> = clickhouse(&format!(
        "SELECT program_id, partner_id, order_id FROM commissions FINAL \
         WHERE line_kind = 'commission' AND partner_id IN ({ids}) ORDER BY partner_id, order_id"
    ))?
    .lines()
    .filter_map(|l| {
        let mut f = l.split('\t');
        Some((
            f.next()?.to_string(),
            f.next()?.to_string(),
            f.next()?.to_string(),
        ))
    })
    .collect();
    let mut env = runtime::Env::from_process();
    let common = runtime::CommonConfig::from_env(&mut env, "demo", "127.0.0.1:0");
    let written = runtime.block_on(tests::marketplace::publish(
        &common.kafka,
        &common.topics,
        &specialists,
        &orders,
        Utc::now(),
    ))?;
    println!(
        "   {} specialists: {written} profiles, verification commands and reviews written (reviews of {} credited orders)",
        specialists.len(),
        orders.len().min(12 * specialists.len())
    );
    // The trust service scores as signals arrive: wait until the history is complete and the
    // records stop changing.
    let started = Instant::now();
    let mut last = (String::new(), Instant::now());
    loop {
        let state = clickhouse("SELECT count(), max(updated_at) FROM trust_specialists FINAL")
            .unwrap_or_default()
            .trim()
            .to_string();
        if state != last.0 {
            last = (state, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(5) && !last.0.starts_with('0') {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            println!("   (the trust records did not settle within 2 minutes; see the trust log)");
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let partner_db = format!(
        "{}_partner",
        std::env::var("CLICKHOUSE_DATABASE").unwrap_or_else(|_| "attrib".into())
    );
    println!("Discovery per program: listed (verified) specialists by trust score, each contribution weight × component (the partner API serves it: GET /v1/programs/PROGRAM/specialists):");
    let listed = clickhouse(&format!(
        "SELECT program_id, specialist_id, toString(score), toString(review_average), review_count, \
                completeness_percent, explanation \
         FROM `{partner_db}`.trust_specialists FINAL WHERE listed = 1 \
         ORDER BY program_id, score DESC, specialist_id"
    ))?;
    println!(
        "   {:<10} {:>4}  {:<8} {:>6}  {:>7} {:>7} {:>8}  contributions: verification quality reviews risk performance",
        "program", "rank", "partner", "score", "reviews", "average", "complete"
    );
    let (mut program, mut rank) = (String::new(), 0);
    for line in listed.lines() {
        let f: Vec<&str> = line.splitn(7, '\t').collect();
        let [p, id, score, average, count, complete, explanation] = f[..] else {
            continue;
        };
        if p != program {
            (program, rank) = (p.to_string(), 0);
        }
        rank += 1;
        let e: serde_json::Value = serde_json::from_str(explanation).unwrap_or_default();
        let parts: Vec<String> = e["components"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| c["contribution"].as_str().unwrap_or("?").to_string())
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "   {p:<10} {rank:>4}  {id:<8} {score:>6}  {count:>7} {average:>7} {complete:>7}%  {}",
            parts.join(" + ")
        );
    }
    if let Some(first) = listed.lines().next() {
        let f: Vec<&str> = first.splitn(7, '\t').collect();
        if let [p, id, .., explanation] = f[..] {
            let e: serde_json::Value = serde_json::from_str(explanation).unwrap_or_default();
            println!("   Why {id} ranks first in {p}: each component, its weight and the inputs it came from:");
            for c in e["components"].as_array().into_iter().flatten() {
                println!(
                    "     {:<13} {:>6} × {:<4} = {:<7} {}",
                    c["name"].as_str().unwrap_or(""),
                    c["value"].as_str().unwrap_or(""),
                    c["weight"].as_str().unwrap_or(""),
                    c["contribution"].as_str().unwrap_or(""),
                    c["inputs"].as_str().unwrap_or("")
                );
            }
            println!(
                "     reviews not counted, by reason: {}",
                e["reviews"]["excluded"]
            );
        }
    }
    println!("Not listed, and why:");
    println!("{}", table(&format!(
        "SELECT program_id AS program, specialist_id AS specialist, verification, not_listed_because \
         FROM `{partner_db}`.trust_specialists FINAL WHERE listed = 0 ORDER BY program, specialist"
    ))?);
    if let Some(second) = specialists.get(1) {
        println!(
            "{}'s verification history (a refused command included), from trust_verification:",
            second.id
        );
        println!("{}", table(&format!(
            "SELECT at, action, accepted, from_status, to_status, ifNull(refusal, '') AS refusal, actor, reason \
             FROM trust_verification FINAL WHERE specialist_id = '{}' ORDER BY at_ms",
            second.id
        ))?);
    }
    Ok(())
}

/// The report; `work` gets the partner the portal shows.
fn report(work: &str) -> Result<()> {
    println!(
        "\n== 6. Per program and partner: conversions, commissions by status, Risk % and level"
    );
    println!("{}", table(
        "SELECT c.program_id AS program, c.partner_id AS partner, c.currency AS cur, c.conversions,
                c.pending, c.approved, c.held, c.paid, c.reversed, r.risk_percent AS risk_pct, r.level AS risk_level
         FROM (
             SELECT program_id, partner_id, currency,
                    uniqExactIf(order_id, line_kind = 'commission') AS conversions,
                    sumIf(amount, status = 'pending') AS pending, sumIf(amount, status = 'approved') AS approved,
                    sumIf(amount, status = 'held') AS held, sumIf(amount, status = 'paid') AS paid,
                    sumIf(amount, status = 'reversed') AS reversed
             FROM commissions FINAL GROUP BY program_id, partner_id, currency
         ) AS c
         ALL LEFT JOIN (
             SELECT program_id, partner_id, toString(risk_percent) AS risk_percent, level
             FROM risk_levels FINAL WHERE shared_id IS NULL
         ) AS r USING (program_id, partner_id)
         ORDER BY program, conversions DESC, partner"
    )?);
    println!("Totals by program, currency and status (query `totals_by_status`):");
    println!(
        "{}",
        table(&tests::ledger::documented_query("totals_by_status"))?
    );

    let payout = clickhouse("SELECT payout_id FROM payouts FINAL WHERE status = 'completed' ORDER BY item_count DESC, payout_id LIMIT 1")?;
    let payout = payout.trim();
    if payout.is_empty() {
        println!("(no completed payout to trace)");
        return Ok(());
    }
    // The partner paid by it is the one the demo shows in the partner portal (demo.sh).
    let owner = clickhouse(&format!(
        "SELECT program_id, partner_id FROM payouts FINAL WHERE payout_id = '{payout}'"
    ))?;
    std::fs::write(
        Path::new(work).join("portal-partner"),
        format!("{}\n", owner.trim()),
    )?;
    println!("== 7. One payout traced to its commissions and the touchpoints that earned them");
    println!("{}", table(&format!(
        "SELECT payout_id, program_id, partner_id, currency, amount, item_count, status, period_end FROM payouts FINAL WHERE payout_id = '{payout}'"
    ))?);
    let placeholder = "pay-00000000000000000000000000000000";
    println!("Its items (query `payout_trace`):");
    println!(
        "{}",
        table(&tests::ledger::documented_query("payout_trace").replace(placeholder, payout))?
    );
    println!("The touchpoints behind them (query `payout_trace_touchpoints`):");
    println!(
        "{}",
        table(
            &tests::ledger::documented_query("payout_trace_touchpoints")
                .replace(placeholder, payout)
        )?
    );
    println!("Reconciliation (query `reconciliation_payout_totals`, difference must be 0):");
    println!(
        "{}",
        table(&format!(
            "SELECT * FROM ({}) WHERE difference != 0 OR payout_id = '{payout}'",
            tests::ledger::documented_query("reconciliation_payout_totals")
                .trim()
                .trim_end_matches(';')
        ))?
    );
    Ok(())
}
