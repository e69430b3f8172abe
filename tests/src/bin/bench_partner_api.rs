//! `bench_partner_api [LINES] [PARTNERS] [CONCURRENCY] [REQUESTS]`: the partner API's latency
//! on generated ledger data (defaults: 1,000,000 lines over 1,000 partners, 8 concurrent
//! clients, 800 requests per endpoint).
//!
//! Fills a fresh database on the local stack's ClickHouse server-side (`INSERT … SELECT FROM
//! numbers(N)` into the analytics tables; the partner database's materialized views copy them
//! as in production): lines with attributions, two touchpoints and a credit each, a losing
//! claim of another partner on every tenth order, 20 completed payouts per partner with their
//! items, a risk level per partner and a score per line (a tenth flagged), the two touchpoints of every line as clicks (for
//! performance). Then starts the `partner-api` binary of this profile and
//! calls each endpoint for random partners, printing p50/p95/p99 and throughput per endpoint,
//! next to a baseline in the same run: `GET /v1/openapi.json`, which touches no database.
//! The API's CPU time and RSS are printed at the end. `BENCH_KEEP=1` keeps the database;
//! `BENCH_DATABASE=<name>` measures a kept one again without filling it.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tests::http::get;
use tests::{binary, free_port, unique_namespace, ServiceProcess};

const PROGRAM: &str = "bench-eu";
const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The data, as statements the server runs (`{n}` lines, `{p}` partners).
fn fill(n: u64, p: u64) -> Vec<(&'static str, String)> {
    let paid =
        format!("concat('pay-', toString(number % {p}), '-', toString(intDiv(number, {p}) % 20))");
    vec![
        ("commissions", format!(
            "INSERT INTO commissions (commission_id, line_kind, attribution_id, program_id, partner_id, order_id, \
             amount_minor, amount, currency, rule_id, decision_reasons, status, hold_until, occurred_at, decided_at, payout_id, version) \
             SELECT concat('com-', toString(number)), 'commission', concat('att-', toString(number)), '{PROGRAM}', \
             concat('p-', toString(number % {p})), concat('o-', toString(number)), toInt64(100 + number % 5000), \
             toDecimal64(0, 4), 'EUR', 'r-default', [], \
             arrayElement(['pending', 'approved', 'paid', 'held', 'reversed'], (number % 5) + 1), \
             toDateTime({START} + number * 30), toDateTime({START} + number * 30), toDateTime({START} + number * 30), \
             if(number % 5 = 2, {paid}, NULL), 1 FROM numbers({n})"
        )),
        ("attributions", format!(
            "INSERT INTO attributions (attribution_id, kind, program_id, order_id, event_id, attribution_key, occurred_at, \
             attributed_at, amount_minor, amount, currency, model, outcome) \
             SELECT concat('att-', toString(number)), 'conversion', '{PROGRAM}', concat('o-', toString(number)), \
             concat('e-', toString(number)), concat('k-', toString(number)), toDateTime({START} + number * 30), \
             toDateTime({START} + number * 30), toInt64(1000 + number % 50000), toDecimal64(0, 4), 'EUR', 'last_touch', 'attributed' \
             FROM numbers({n})"
        )),
        ("attribution_credits", format!(
            "INSERT INTO attribution_credits (attribution_id, commission_id, program_id, partner_id, share, commission_minor, \
             commission, currency, rule_id, touchpoint_ids, revenue_minor, cap_reduction_minor, model, kind, order_id, occurred_at) \
             SELECT concat('att-', toString(number)), concat('com-', toString(number)), '{PROGRAM}', \
             concat('p-', toString(number % {p})), toDecimal64(1, 6), toInt64(100 + number % 5000), toDecimal64(0, 4), 'EUR', \
             'r-default', [concat('tp-', toString(number), '-2')], toInt64(1000 + number % 50000), 0, \
             'last_touch', 'conversion', concat('o-', toString(number)), toDateTime({START} + number * 30) FROM numbers({n})"
        )),
        ("attribution_evidence", format!(
            "INSERT INTO attribution_evidence (attribution_id, touchpoint_id, kind, occurred_at, partner_id, link_id, \
             landing_domain, channel, utm_source, utm_medium, utm_campaign, attribution_window) \
             SELECT concat('att-', toString(intDiv(number, 2))), \
             concat('tp-', toString(intDiv(number, 2)), '-', toString(number % 2 + 1)), 'click', \
             toDateTime({START} + intDiv(number, 2) * 30 - 3600 * (2 - number % 2)), \
             concat('p-', toString(intDiv(number, 2) % {p})), concat('lnk-', toString(intDiv(number, 2) % {p})), \
             'shop.example.com', 'referral', 'partner', 'cpc', 'spring', 'click' FROM numbers({})",
            n * 2
        )),
        ("attribution_losing_claims", format!(
            "INSERT INTO attribution_losing_claims (attribution_id, partner_id, touchpoint_id, reason, program_id, order_id, occurred_at) \
             SELECT concat('att-', toString(number * 10)), concat('p-', toString((number * 10 + 1) % {p})), \
             concat('tp-x-', toString(number)), 'outside_window', '{PROGRAM}', concat('o-', toString(number * 10)), \
             toDateTime({START} + number * 10 * 30) FROM numbers({})",
            n / 10
        )),
        ("payouts", format!(
            "INSERT INTO payouts (payout_id, program_id, partner_id, currency, period_end, amount_minor, amount, item_count, \
             status, created_at, settled_at, command_id, actor, version) \
             SELECT concat('pay-', toString(number % {p}), '-', toString(intDiv(number, {p}))), '{PROGRAM}', \
             concat('p-', toString(number % {p})), 'EUR', toDateTime({START} + intDiv(number, {p}) * 86400 * 18), \
             toInt64(0), toDecimal64(0, 4), toUInt32(0), 'completed', toDateTime({START}), toDateTime({START}), '', 'bench', 1 \
             FROM numbers({})",
            p * 20
        )),
        ("payout_items", format!(
            "INSERT INTO payout_items (payout_id, commission_id, line_kind, amount_minor, amount, currency) \
             SELECT {paid}, concat('com-', toString(number)), 'commission', toInt64(100 + number % 5000), toDecimal64(0, 4), 'EUR' \
             FROM numbers({n}) WHERE number % 5 = 2"
        )),
        ("touchpoints", format!(
            "INSERT INTO touchpoints (event_id, program_id, kind, occurred_at, occurred_at_ms, attribution_key, partner_id, \
             resolved_by, link_id, channel, landing_domain, utm_source, utm_medium, utm_campaign, enriched_at) \
             SELECT concat('tp-', toString(intDiv(number, 2)), '-', toString(number % 2 + 1)), '{PROGRAM}', 'click', \
             toDateTime({START} + intDiv(number, 2) * 30 - 3600 * (2 - number % 2)), \
             toInt64({START} + intDiv(number, 2) * 30 - 3600 * (2 - number % 2)) * 1000, concat('k-', toString(number)), \
             concat('p-', toString(intDiv(number, 2) % {p})), 'link', concat('lnk-', toString(intDiv(number, 2) % {p})), \
             'referral', 'shop.example.com', arrayElement(['news', 'blog', 'video'], (number % 3) + 1), 'cpc', 'spring', \
             toDateTime({START}) FROM numbers({})",
            n * 2
        )),
        ("risk_scores", format!(
            "INSERT INTO risk_scores (action_id, attribution_id, program_id, partner_id, order_id, action, occurred_at, flagged, \
             reason_codes, reason_measured, reason_thresholds, reason_details, scored_at) \
             SELECT concat('act-', toString(number)), concat('att-', toString(number)), '{PROGRAM}', \
             concat('p-', toString(number % {p})), concat('o-', toString(number)), 'credit', toDateTime({START} + number * 30), \
             toUInt8(number % 10 = 0), if(number % 10 = 0, [arrayElement(['click_flooding', 'shared_fingerprint', 'code_leak'], (intDiv(number, 10) % 3) + 1)], emptyArrayString()), \
             [], [], [], toDateTime({START} + number * 30) FROM numbers({n})"
        )),
        ("risk_levels", format!(
            "INSERT INTO risk_levels (subject_id, program_id, partner_id, level, risk_percent, scored_actions, flagged_actions, \
             window_days, updated_at, updated_at_ms) \
             SELECT concat('{PROGRAM}/p-', toString(number)), '{PROGRAM}', concat('p-', toString(number)), \
             arrayElement(['insufficient_data', 'low', 'elevated', 'high', 'critical'], (number % 5) + 1), \
             toDecimal64(number % 100, 2), toInt64(100), toInt64(number % 10), 60, toDateTime({START} + {n} * 30), toInt64(1) FROM numbers({p})"
        )),
    ]
}

/// An endpoint's path for (partner number, payout number).
type PathOf = fn(u64, u64) -> String;

/// p-th percentile of sorted samples.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() -> Result<()> {
    let (lines, partners) = (arg(1, 1_000_000), arg(2, 1_000).max(1));
    let (concurrency, requests) = (arg(3, 8).max(1), arg(4, 800).max(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // BENCH_DATABASE names a database a run kept (BENCH_KEEP=1): measure it again, unfilled.
    let reuse = std::env::var("BENCH_DATABASE").ok();
    let database = reuse
        .clone()
        .unwrap_or_else(|| tests::ledger::database_for(&unique_namespace("benchapi")));
    let config = tests::ledger::clickhouse_config();
    let server = config.server()?;
    let db = server.clone().with_database(&database);
    runtime.block_on(async {
        ledger_writer::store::migrations::migrate(&server, &database).await?;
        if reuse.is_some() {
            println!("bench_partner_api: reusing database {database} (BENCH_DATABASE)");
            return Ok(());
        }
        println!(
            "bench_partner_api: {lines} lines over {partners} partners in database {database}"
        );
        for (table, sql) in fill(lines, partners) {
            let started = Instant::now();
            db.query(&sql)
                .execute()
                .await
                .with_context(|| format!("filling {table}"))?;
            println!(
                "  {table:<26} filled in {:>6.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        Ok::<_, anyhow::Error>(())
    })?;

    let mut env: std::collections::HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CLICKHOUSE_") || k == "PATH")
        .collect();
    env.insert("CLICKHOUSE_DATABASE".into(), database.clone());
    let out = std::process::Command::new(binary("partner-api"))
        .args([
            "token",
            "issue",
            "--program",
            PROGRAM,
            "--operator",
            "--actor",
            "bench",
        ])
        .env_clear()
        .envs(&env)
        .output()?;
    if !out.status.success() {
        bail!("token issue: {}", String::from_utf8_lossy(&out.stderr));
    }
    let token = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    let port = free_port();
    env.insert(
        "PARTNER_API_LISTEN_ADDR".into(),
        format!("127.0.0.1:{port}"),
    );
    env.insert("ADMIN_LISTEN_ADDR".into(), "127.0.0.1:0".into());
    env.insert("LOG_LEVEL".into(), "warn".into());
    let api = ServiceProcess::start(&binary("partner-api"), &[], &env)?;
    let pid = api.id().to_string();
    let root = format!("http://127.0.0.1:{port}");

    runtime.block_on(async {
        let started = Instant::now();
        while get(&format!("{root}/v1/openapi.json"), None).await.is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the API did not come up");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let cpu_before = tests::bench::cpu_seconds(&pid).unwrap_or(0.0);
        println!(
            "\n{concurrency} concurrent clients, {requests} requests per endpoint, a random partner each; ms:\n{:<34} {:>8} {:>8} {:>8} {:>8} {:>9}",
            "endpoint", "p50", "p95", "p99", "max", "req/s"
        );
        let endpoints: [(&str, PathOf); 6] = [
            ("baseline: GET /v1/openapi.json", |_, _| "/v1/openapi.json".to_string()),
            ("statement (100 lines + evidence)", |p, _| format!("/v1/programs/{PROGRAM}/partners/p-{p}/statement?limit=100")),
            ("payouts", |p, _| format!("/v1/programs/{PROGRAM}/partners/p-{p}/payouts")),
            ("payout trace", |p, k| format!("/v1/programs/{PROGRAM}/partners/p-{p}/payouts/pay-{p}-{k}")),
            ("risk", |p, _| format!("/v1/programs/{PROGRAM}/partners/p-{p}/risk")),
            ("performance (12 months)", |p, _| format!("/v1/programs/{PROGRAM}/partners/p-{p}/performance?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z")),
        ];
        for (name, path) in endpoints {
            // Warm up (connections, token cache), then measure.
            for i in 0..10 {
                get(&format!("{root}{}", path(i % partners, 0)), Some(&token)).await?;
            }
            let began = Instant::now();
            let mut tasks = Vec::new();
            for c in 0..concurrency {
                let (root, token) = (root.clone(), token.clone());
                tasks.push(tokio::spawn(async move {
                    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (c + 1);
                    let mut took = Vec::new();
                    for _ in 0..requests / concurrency {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let url = format!("{root}{}", path(seed % partners, (seed >> 32) % 20));
                        let t = Instant::now();
                        let answer = get(&url, Some(&token)).await?;
                        took.push(t.elapsed());
                        if answer.status != 200 {
                            bail!("{url}: {} {}", answer.status, answer.text);
                        }
                    }
                    Ok(took)
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await??);
            }
            let wall = began.elapsed().as_secs_f64();
            all.sort();
            println!(
                "{name:<34} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.0}",
                pct(&all, 0.50),
                pct(&all, 0.95),
                pct(&all, 0.99),
                pct(&all, 1.0),
                all.len() as f64 / wall
            );
        }
        let cpu = tests::bench::cpu_seconds(&pid).unwrap_or(0.0) - cpu_before;
        println!(
            "\npartner-api: {cpu:.1} s CPU over the run, RSS {:.0} MiB (ClickHouse does the reads: its CPU is not in this figure)",
            tests::bench::rss_mib_of(&pid)
        );
        Ok::<_, anyhow::Error>(())
    })?;
    drop(api);
    if std::env::var_os("BENCH_KEEP").is_some() || reuse.is_some() {
        println!("kept database {database} (BENCH_KEEP)");
        return Ok(());
    }
    runtime.block_on(async {
        let _ignored = server
            .query(&format!("DROP DATABASE IF EXISTS `{database}_partner`"))
            .execute()
            .await;
        let _ignored = server
            .query(&format!("DROP DATABASE IF EXISTS `{database}`"))
            .execute()
            .await;
    });
    Ok(())
}
