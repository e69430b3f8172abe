//! The partner API on the real stack: a generated workload runs through the five services,
//! finance pays, then partners and operators read over HTTP with tokens issued by the command.
//! Every figure a partner reads equals the ledger's (ClickHouse and the finance topic), a
//! token reads only what its scope allows, and no answer carries an event's risk reason code.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use clickhouse::Client;
use runtime::topic_reader::TopicReader;
use schemas::money::Currency;
use tests::http::{get, post, Answer};
use tests::ledger::{clickhouse, database_for, wait_for_schema};
use tests::pipeline::{run_paid_workload, Pipeline, REFERENCE};
use tests::{
    binary, free_port, publish_reference, require_broker, service_env, unique_namespace,
    ServiceProcess,
};

async fn rows(db: &Client, sql: &str) -> Vec<Vec<String>> {
    let mut cursor = db.query(sql).fetch_bytes("TabSeparated").expect("query");
    let mut body = Vec::new();
    while let Some(chunk) = cursor.next().await.expect("rows") {
        body.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&body)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// `partner-api token issue …`: the token it prints.
fn issue(env: &HashMap<String, String>, args: &[&str]) -> String {
    let out = std::process::Command::new(binary("partner-api"))
        .args(["token", "issue", "--actor", "ops@test"])
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .expect("partner-api runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().last().expect("the token").trim().to_string()
}

/// Money as the API writes it, from minor units.
fn money(minor: i64, currency: &str) -> serde_json::Value {
    let c = Currency::from_code(currency).expect("ISO code");
    serde_json::json!({"amount": c.from_minor(minor).to_string(), "currency": currency})
}

/// Every line of a statement, following the cursor.
async fn statement(base: &str, token: &str, limit: u32) -> (Vec<serde_json::Value>, Vec<Answer>) {
    let mut lines = Vec::new();
    let mut pages = Vec::new();
    let mut url = format!("{base}/statement?limit={limit}");
    loop {
        let page = get(&url, Some(token)).await.expect("statement");
        assert_eq!(page.status, 200, "{}", page.text);
        lines.extend(
            page.json["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .cloned(),
        );
        let next = page.json["next_cursor"].as_str().map(str::to_string);
        pages.push(page);
        match next {
            Some(cursor) => url = format!("{base}/statement?limit={limit}&cursor={cursor}"),
            None => return (lines, pages),
        }
    }
}

/// The ids of every dead letter on the dead-letter topic.
fn dead_letter_ids(env: &HashMap<String, String>) -> BTreeSet<String> {
    let mut reader_env = runtime::Env::from_map(env.clone());
    let common = runtime::CommonConfig::from_env(&mut reader_env, "dlq-check", "127.0.0.1:0");
    let reader = TopicReader::new(
        &common.kafka,
        "dlq-check",
        &common.topics.touchpoints_dlq,
        Duration::from_secs(30),
    )
    .expect("reader");
    let partitions: Vec<i32> = (0..reader.partition_count().expect("partitions")).collect();
    let ends = reader.start(&partitions).expect("start");
    let mut ids = BTreeSet::new();
    reader
        .read_to(&ends, |record| {
            if let Some(Ok(d)) = record.payload.map(schemas::decode::<schemas::DeadLetter>) {
                ids.insert(d.dead_letter_id);
            }
        })
        .expect("read");
    reader.stop().expect("stop");
    ids
}

/// The finance topic's latest entry per line of `partner`: (status, kind, amount_minor).
fn finance_view(
    env: &HashMap<String, String>,
    partner: &str,
) -> BTreeMap<String, (String, String, i64)> {
    let mut reader_env = runtime::Env::from_map(env.clone());
    let common = runtime::CommonConfig::from_env(&mut reader_env, "finance", "127.0.0.1:0");
    let reader = TopicReader::new(
        &common.kafka,
        "finance-check",
        &common.topics.ledger_entries,
        Duration::from_secs(30),
    )
    .expect("reader");
    let partitions: Vec<i32> = (0..reader.partition_count().expect("partitions")).collect();
    let ends = reader.start(&partitions).expect("start");
    let mut latest: BTreeMap<String, (i32, String, String, i64)> = BTreeMap::new();
    reader
        .read_to(&ends, |record| {
            let Some(Ok(entry)) = record.payload.map(schemas::decode::<schemas::LedgerEntry>)
            else {
                return;
            };
            if entry.partner_id != partner {
                return;
            }
            let newer = latest
                .get(&entry.commission_id)
                .is_none_or(|(s, ..)| entry.sequence >= *s);
            if newer {
                latest.insert(
                    entry.commission_id.clone(),
                    (
                        entry.sequence,
                        entry.to_status.as_str().to_string(),
                        format!("{:?}", entry.entry_kind),
                        entry.amount_minor,
                    ),
                );
            }
        })
        .expect("read");
    reader.stop().expect("stop");
    latest
        .into_iter()
        .map(|(k, (_, status, kind, amount))| (k, (status, kind, amount)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_read_exactly_the_ledgers_figures_and_only_their_own() {
    require_broker();
    let ns = unique_namespace("partnerapi");
    let env = service_env(
        &ns,
        &[
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "2"),
        ],
    );
    publish_reference(&env, REFERENCE)
        .await
        .expect("reference published");
    let database = database_for(&ns);
    let db = clickhouse(&database);
    let logs = std::env::temp_dir().join(format!("attrib-{ns}"));
    let mut pipeline = Pipeline::start(&env, &logs).expect("services start");
    wait_for_schema(&db, Duration::from_secs(120))
        .await
        .expect("migrated");
    pipeline
        .wait_ready(Duration::from_secs(120))
        .expect("ready");
    if let Err(e) = run_paid_workload(&env, &db, 20, 3_000).await {
        pipeline.fail(&e);
    }

    // Every dead letter of the run is a row of `dead_letters` (the workload has malformed
    // messages), without the original bytes.
    let on_topic = dead_letter_ids(&env);
    assert!(
        !on_topic.is_empty(),
        "the workload's malformed messages were dead-lettered"
    );
    let started = Instant::now();
    loop {
        let in_table: BTreeSet<String> =
            rows(&db, "SELECT DISTINCT dead_letter_id FROM dead_letters")
                .await
                .into_iter()
                .map(|r| r[0].clone())
                .collect();
        if in_table == on_topic {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "dead_letters has {} of the topic's {} dead letters",
            in_table.len(),
            on_topic.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let by_reason = rows(
        &db,
        "SELECT service, reason, count() FROM dead_letters FINAL GROUP BY service, reason",
    )
    .await;
    assert!(by_reason.iter().all(|r| !r[1].is_empty()), "{by_reason:?}");

    // Two paid partners with the most lines; a program neither operator token may read.
    let paid = rows(
        &db,
        "SELECT program_id, partner_id, count() AS n FROM commissions FINAL \
         WHERE partner_id IN (SELECT partner_id FROM payouts FINAL WHERE status = 'completed') \
         GROUP BY program_id, partner_id ORDER BY n DESC, partner_id LIMIT 2",
    )
    .await;
    assert_eq!(paid.len(), 2, "two paid partners: {paid:?}");
    let (program, a) = (paid[0][0].clone(), paid[0][1].clone());
    let (program_b, b) = (paid[1][0].clone(), paid[1][1].clone());
    let other_program = if program == "sandals-eu" {
        "bolt-us"
    } else {
        "sandals-eu"
    };
    let token_a = issue(
        &env,
        &["--program", &program, "--partner", &a, "--label", "A"],
    );
    let token_b = issue(&env, &["--program", &program_b, "--partner", &b]);
    let operator = issue(&env, &["--program", &program, "--operator"]);
    let foreign_operator = issue(&env, &["--program", other_program, "--operator"]);

    let port = free_port();
    let mut api_env = env.clone();
    api_env.insert(
        "PARTNER_API_LISTEN_ADDR".into(),
        format!("127.0.0.1:{port}"),
    );
    api_env.insert("PARTNER_API_TOKEN_CACHE_SECONDS".into(), "1".into());
    api_env.insert("ADMIN_LISTEN_ADDR".into(), "127.0.0.1:0".into());
    let _api = ServiceProcess::start(&binary("partner-api"), &[], &api_env).expect("API starts");
    let root = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while get(&format!("{root}/"), None).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the API did not come up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let base_a = format!("{root}/v1/programs/{program}/partners/{a}");
    let base_b = format!("{root}/v1/programs/{program_b}/partners/{b}");

    // The statement: every line of the ledger, exactly, page by page.
    let (lines, pages) = statement(&base_a, &token_a, 7).await;
    assert!(pages.len() > 1, "several pages");
    let ledger: BTreeMap<String, (String, i64, String)> = rows(
        &db,
        &format!("SELECT commission_id, status, amount_minor, currency FROM commissions FINAL WHERE program_id = '{program}' AND partner_id = '{a}'"),
    )
    .await
    .into_iter()
    .map(|r| (r[0].clone(), (r[1].clone(), r[2].parse().expect("minor"), r[3].clone())))
    .collect();
    let read: BTreeMap<String, &serde_json::Value> = lines
        .iter()
        .map(|l| (l["commission_id"].as_str().expect("id").to_string(), l))
        .collect();
    assert_eq!(read.len(), lines.len(), "no line twice across pages");
    assert_eq!(
        read.keys().collect::<Vec<_>>(),
        ledger.keys().collect::<Vec<_>>(),
        "every line, once"
    );
    for (id, (status, minor, currency)) in &ledger {
        assert_eq!(read[id]["status"], status.as_str(), "{id}");
        assert_eq!(read[id]["money"], money(*minor, currency), "{id}");
    }
    // … and the finance topic agrees with every line's current status and amount.
    let finance = finance_view(&env, &a);
    assert_eq!(
        finance.keys().collect::<Vec<_>>(),
        ledger.keys().collect::<Vec<_>>(),
        "the finance topic has the same lines"
    );
    for (id, (status, kind, minor)) in &finance {
        assert_eq!(
            read[id]["status"],
            status.as_str(),
            "{id} on the finance topic"
        );
        if kind == "StatusChange" {
            assert_eq!(
                read[id]["money"],
                money(*minor, &ledger[id].2),
                "{id} on the finance topic"
            );
        }
    }
    // Totals of the window are the sums of the lines.
    let mut sums: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (status, minor, currency) in ledger.values() {
        *sums.entry((currency.clone(), status.clone())).or_default() += minor;
    }
    let totals = pages[0].json["totals"].as_array().expect("totals");
    assert_eq!(totals.len(), sums.len());
    for t in totals {
        let currency = t["money"]["currency"]
            .as_str()
            .expect("currency")
            .to_string();
        let status = t["status"].as_str().expect("status").to_string();
        assert_eq!(
            t["money"],
            money(sums[&(currency.clone(), status)], &currency)
        );
    }
    // Why credited: the partner's own touchpoints only, at least one credited per commission.
    let own_touchpoints: BTreeSet<String> = rows(
        &db,
        &format!("SELECT touchpoint_id FROM attribution_evidence FINAL WHERE partner_id = '{a}'"),
    )
    .await
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let mut credited = 0;
    for line in &lines {
        let why = &line["why_credited"];
        for t in why["touchpoints"].as_array().expect("touchpoints") {
            assert!(
                own_touchpoints.contains(t["touchpoint_id"].as_str().expect("id")),
                "{line}"
            );
            credited += usize::from(t["credited"] == true);
        }
        if line["kind"] == "commission" {
            assert!(why["model"].is_string(), "{line}");
        }
    }
    assert!(credited > 0, "the evidence names credited touchpoints");

    // Payouts, and one traced to its lines.
    let payouts = get(&format!("{base_a}/payouts"), Some(&token_a))
        .await
        .expect("payouts");
    assert_eq!(payouts.status, 200, "{}", payouts.text);
    let ledger_payouts = rows(
        &db,
        &format!("SELECT payout_id, status, amount_minor, currency, item_count FROM payouts FINAL WHERE program_id = '{program}' AND partner_id = '{a}' ORDER BY payout_id"),
    )
    .await;
    let listed = payouts.json["payouts"].as_array().expect("payouts");
    assert_eq!(listed.len(), ledger_payouts.len());
    for p in &ledger_payouts {
        let shown = listed
            .iter()
            .find(|l| l["payout_id"] == p[0].as_str())
            .expect("listed");
        assert_eq!(shown["status"], p[1].as_str());
        assert_eq!(shown["money"], money(p[2].parse().expect("minor"), &p[3]));
        let trace = get(&format!("{base_a}/payouts/{}", p[0]), Some(&token_a))
            .await
            .expect("trace");
        assert_eq!(trace.status, 200, "{}", trace.text);
        let items = trace.json["items"].as_array().expect("items");
        assert_eq!(items.len().to_string(), p[4], "every line of the payout");
        let paid: Vec<String> = rows(&db, &format!("SELECT commission_id FROM payout_items FINAL WHERE payout_id = '{}' ORDER BY commission_id", p[0]))
            .await
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        let mut traced: Vec<String> = items
            .iter()
            .map(|i| i["commission_id"].as_str().expect("id").to_string())
            .collect();
        traced.sort();
        assert_eq!(traced, paid);
    }

    // Risk: the partner's levels as the risk service published them.
    let risk = get(&format!("{base_a}/risk"), Some(&token_a))
        .await
        .expect("risk");
    assert_eq!(risk.status, 200, "{}", risk.text);
    let level = rows(&db, &format!("SELECT level, toString(risk_percent) FROM risk_levels FINAL WHERE program_id = '{program}' AND partner_id = '{a}' AND shared_id IS NULL")).await;
    if let Some(level) = level.first() {
        assert_eq!(risk.json["partner"]["level"], level[0].as_str());
        assert_eq!(risk.json["partner"]["risk_percent"], level[1].as_str());
    }
    // The reason-code snapshot: per code, the flagged actions it fired on since the window
    // began, counted from the internal scores — for A and for the program's most flagged
    // partner (an operator's token), so the check is not vacuous.
    let flagged = rows(&db, "SELECT program_id, partner_id FROM risk_scores FINAL WHERE flagged = 1 GROUP BY program_id, partner_id ORDER BY count() DESC, partner_id LIMIT 1").await;
    assert!(!flagged.is_empty(), "the workload flags actions");
    let mut snapshots = vec![(program.clone(), a.clone(), risk.json.clone())];
    let (flagged_program, most_flagged) = (flagged[0][0].clone(), flagged[0][1].clone());
    let flagged_operator = issue(&env, &["--program", &flagged_program, "--operator"]);
    let answer = get(
        &format!("{root}/v1/programs/{flagged_program}/partners/{most_flagged}/risk"),
        Some(&flagged_operator),
    )
    .await
    .expect("risk");
    assert_eq!(answer.status, 200, "{}", answer.text);
    snapshots.push((flagged_program, most_flagged, answer.json));
    for (program, partner, doc) in &snapshots {
        let since = doc["reason_codes"]["since"].as_str().expect("since");
        let want: BTreeSet<(String, String, u64)> = rows(
            &db,
            &format!(
                "SELECT ifNull(shared_id, ''), code, uniqExact(action_id) FROM risk_scores FINAL \
             ARRAY JOIN reason_codes AS code WHERE flagged = 1 AND program_id = '{program}' \
             AND partner_id = '{partner}' AND toDate(occurred_at) >= toDate('{since}') \
             GROUP BY shared_id, code"
            ),
        )
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].parse().expect("n")))
        .collect();
        let got: BTreeSet<(String, String, u64)> = doc["reason_codes"]["counts"]
            .as_array()
            .expect("counts")
            .iter()
            .map(|c| {
                (
                    c["shared_id"].as_str().unwrap_or_default().to_string(),
                    c["reason_code"].as_str().expect("code").to_string(),
                    c["flagged_actions"].as_u64().expect("n"),
                )
            })
            .collect();
        assert_eq!(got, want, "{partner}'s reason-code snapshot since {since}");
    }
    assert!(
        !snapshots[1].2["reason_codes"]["counts"]
            .as_array()
            .expect("counts")
            .is_empty(),
        "the most flagged partner's snapshot has codes"
    );

    // The documented example queries name the sample reference's ids: they find rows here.
    for name in [
        "partner_statement",
        "payout_trace",
        "payout_trace_touchpoints",
        "risk_summary",
        "orders_by_month",
    ] {
        let found = rows(&db, &tests::ledger::documented_query(name)).await;
        assert!(!found.is_empty(), "the example query {name} finds rows");
    }

    // Performance: clicks from the touchpoints, conversions and commission from the ledger's
    // lines (and the finance topic), revenue from the attributions' credits — by month.
    let performance = get(&format!("{base_a}/performance"), Some(&token_a))
        .await
        .expect("performance");
    assert_eq!(performance.status, 200, "{}", performance.text);
    let months = |sql: String| {
        let db = db.clone();
        async move {
            rows(&db, &sql)
                .await
                .into_iter()
                .map(|r| (r[0].clone(), r[1].parse::<i64>().expect("number")))
                .collect::<BTreeMap<String, i64>>()
        }
    };
    let month_of = "concat(toString(toYear(occurred_at)), '-', if(toMonth(occurred_at) < 10, '0', ''), toString(toMonth(occurred_at)))";
    let clicks = months(format!("SELECT {month_of} AS m, toInt64(uniqExact(event_id)) FROM touchpoints WHERE program_id = '{program}' AND partner_id = '{a}' AND kind = 'click' GROUP BY m")).await;
    let conversions = months(format!("SELECT {month_of} AS m, toInt64(count()) FROM commissions FINAL WHERE program_id = '{program}' AND partner_id = '{a}' AND line_kind = 'commission' GROUP BY m")).await;
    let commission = months(format!("SELECT {month_of} AS m, sum(amount_minor) FROM commissions FINAL WHERE program_id = '{program}' AND partner_id = '{a}' GROUP BY m")).await;
    let revenue = months(format!("SELECT {month_of} AS m, sum(revenue_minor) FROM (SELECT attribution_id, revenue_minor FROM attribution_credits FINAL WHERE program_id = '{program}' AND partner_id = '{a}') ALL INNER JOIN (SELECT attribution_id, occurred_at FROM attributions FINAL) USING attribution_id GROUP BY m")).await;
    assert!(
        !clicks.is_empty() && !conversions.is_empty(),
        "A has clicks and conversions"
    );
    let currency = &ledger.values().next().expect("a line").2;
    let by_month = performance.json["by_month"].as_array().expect("months");
    let mut seen = BTreeSet::new();
    for m in by_month {
        let month = m["month"].as_str().expect("month").to_string();
        let get = |map: &BTreeMap<String, i64>| map.get(&month).copied().unwrap_or(0);
        assert_eq!(m["clicks"].as_i64(), Some(get(&clicks)), "{month} clicks");
        assert_eq!(
            m["conversions"].as_i64(),
            Some(get(&conversions)),
            "{month} conversions"
        );
        let money_of = m["money"].as_array().expect("money");
        if get(&conversions) > 0 || get(&commission) != 0 {
            assert_eq!(money_of.len(), 1, "{month}: one currency");
            assert_eq!(
                money_of[0]["commission"],
                money(get(&commission), currency),
                "{month} commission"
            );
            assert_eq!(
                money_of[0]["revenue"],
                money(get(&revenue), currency),
                "{month} revenue"
            );
        }
        seen.insert(month);
    }
    let expected: BTreeSet<String> = clicks
        .keys()
        .chain(conversions.keys())
        .chain(commission.keys())
        .cloned()
        .collect();
    assert_eq!(seen, expected, "every month with activity");
    let finance_total: i64 = finance.values().map(|(_, _, minor)| minor).sum();
    assert_eq!(
        performance.json["total"]["money"][0]["commission"],
        money(finance_total, currency),
        "the commission total is the finance topic's"
    );
    let by_source_clicks: i64 = performance.json["by_source"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|g| g["clicks"].as_i64().expect("clicks"))
        .sum();
    assert_eq!(
        by_source_clicks,
        clicks.values().sum::<i64>(),
        "sources add up"
    );

    // Isolation: each token reads what its scope allows and nothing else.
    for path in ["statement", "payouts", "risk", "performance", "payouts/x"] {
        let other = get(&format!("{base_b}/{path}"), Some(&token_a))
            .await
            .expect("answer");
        assert_eq!(other.status, 403, "A's token on B's {path}: {}", other.text);
        let none = get(&format!("{base_a}/{path}"), None)
            .await
            .expect("answer");
        assert_eq!(none.status, 401, "{path} without a token");
        let foreign = get(&format!("{base_a}/{path}"), Some(&foreign_operator))
            .await
            .expect("answer");
        assert_eq!(foreign.status, 403, "another program's operator on {path}");
    }
    let b_payout = rows(
        &db,
        &format!("SELECT payout_id FROM payouts FINAL WHERE partner_id = '{b}' LIMIT 1"),
    )
    .await;
    let smuggled = get(
        &format!("{base_a}/payouts/{}", b_payout[0][0]),
        Some(&token_a),
    )
    .await
    .expect("answer");
    assert_eq!(
        smuggled.status, 404,
        "B's payout under A's path is not A's: {}",
        smuggled.text
    );
    assert_eq!(
        get(&format!("{base_b}/risk"), Some(&token_b))
            .await
            .expect("answer")
            .status,
        200
    );
    let by_operator = get(&format!("{base_a}/payouts"), Some(&operator))
        .await
        .expect("answer");
    assert_eq!(by_operator.status, 200);
    assert_eq!(
        by_operator.json, payouts.json,
        "the operator reads the same figures"
    );
    let forged = format!(
        "{}{}",
        &token_a[..token_a.len() - 1],
        if token_a.ends_with('0') { '1' } else { '0' }
    );
    assert_eq!(
        get(&format!("{base_a}/risk"), Some(&forged))
            .await
            .expect("answer")
            .status,
        401
    );
    assert_eq!(
        get(&format!("{base_a}/risk"), Some("not-a-token"))
            .await
            .expect("answer")
            .status,
        401
    );

    // No answer carries an event's risk reason code.
    let codes: BTreeSet<String> = rows(
        &db,
        "SELECT DISTINCT arrayJoin(reason_codes) FROM risk_scores",
    )
    .await
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let claim_reasons: BTreeSet<String> =
        rows(&db, "SELECT DISTINCT reason FROM attribution_losing_claims")
            .await
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
    assert!(!codes.is_empty(), "the workload has flagged actions");
    // The risk answer names codes only in its aggregate snapshot (checked above).
    let mut risk_levels_only = risk.json.clone();
    risk_levels_only["reason_codes"] = serde_json::Value::Null;
    let risk_text = risk_levels_only.to_string();
    let mut texts: Vec<&str> = pages.iter().map(|p| p.text.as_str()).collect();
    texts.extend([
        payouts.text.as_str(),
        performance.text.as_str(),
        risk_text.as_str(),
    ]);
    for code in codes.difference(&claim_reasons) {
        for text in &texts {
            assert!(!text.contains(code.as_str()), "{code} in an answer");
        }
    }

    // Bad requests say what is wrong.
    for (query, word) in [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("from=yesterday", "from"),
        ("cursor=zz", "cursor"),
    ] {
        let bad = get(&format!("{base_a}/statement?{query}"), Some(&token_a))
            .await
            .expect("answer");
        assert_eq!(bad.status, 400, "{query}");
        assert!(
            bad.json["error"]["message"]
                .as_str()
                .expect("message")
                .contains(word),
            "{}",
            bad.text
        );
    }
    assert_eq!(
        get(&format!("{root}/v1/nothing"), Some(&token_a))
            .await
            .expect("answer")
            .status,
        404
    );

    // Every answer is what the served OpenAPI document says it is.
    let served = get(&format!("{root}/v1/openapi.json"), None)
        .await
        .expect("document");
    assert_eq!(served.status, 200);
    let doc = served.json;
    let statement_path = "/v1/programs/{program}/partners/{partner}/statement";
    let mut documented: Vec<(&str, u16, &Answer)> =
        pages.iter().map(|p| (statement_path, 200, p)).collect();
    documented.push((
        "/v1/programs/{program}/partners/{partner}/payouts",
        200,
        &payouts,
    ));
    documented.push(("/v1/programs/{program}/partners/{partner}/risk", 200, &risk));
    documented.push((
        "/v1/programs/{program}/partners/{partner}/performance",
        200,
        &performance,
    ));
    let forbidden = get(&format!("{base_b}/risk"), Some(&token_a))
        .await
        .expect("answer");
    documented.push((
        "/v1/programs/{program}/partners/{partner}/risk",
        403,
        &forbidden,
    ));
    let trace = get(
        &format!("{base_a}/payouts/{}", ledger_payouts[0][0]),
        Some(&token_a),
    )
    .await
    .expect("trace");
    documented.push((
        "/v1/programs/{program}/partners/{partner}/payouts/{payout}",
        200,
        &trace,
    ));
    for (path, status, answer) in documented {
        assert_eq!(answer.status, status, "{path}");
        let schema = tests::openapi::response_schema(&doc, "get", path, status)
            .unwrap_or_else(|| panic!("{path} {status} documented"));
        let problems = tests::openapi::check(&doc, schema, &answer.json, "$");
        assert!(
            problems.is_empty(),
            "{path} {status} departs from the document: {problems:?}"
        );
    }

    // Missing-commission claims, answered from the attribution record.
    let claims_path = "/v1/programs/{program}/partners/{partner}/claims";
    let check_claim = |answer: &Answer, status: u16| {
        assert_eq!(answer.status, status, "{}", answer.text);
        let schema =
            tests::openapi::response_schema(&doc, "post", claims_path, status).expect("documented");
        let problems = tests::openapi::check(&doc, schema, &answer.json, "$");
        assert!(
            problems.is_empty(),
            "claim answer departs from the document: {problems:?}"
        );
    };
    let credited = &rows(
        &db,
        &format!(
            "SELECT c.order_id, c.commission_id, toString(toDate(a.occurred_at)), toString(a.amount), a.currency \
             FROM commissions AS c FINAL ANY INNER JOIN (SELECT attribution_id, occurred_at, amount, currency FROM attributions FINAL) AS a USING attribution_id \
             WHERE c.program_id = '{program}' AND c.partner_id = '{a}' AND c.line_kind = 'commission' ORDER BY c.commission_id LIMIT 1"
        ),
    )
    .await[0];
    let by_id = post(
        &format!("{base_a}/claims"),
        Some(&token_a),
        &format!(r#"{{"order_id": "{}"}}"#, credited[0]),
    )
    .await
    .expect("claim");
    check_claim(&by_id, 200);
    assert_eq!(by_id.json["answer"], "credited", "{}", by_id.text);
    assert!(
        by_id.text.contains(&credited[1]),
        "the credited line is named: {}",
        by_id.text
    );
    let currency = Currency::from_code(&credited[4]).expect("ISO");
    let amount = currency.from_minor(
        currency
            .to_minor(credited[3].parse().expect("decimal"))
            .expect("exact"),
    );
    let by_amount = post(
        &format!("{base_a}/claims"),
        Some(&token_a),
        &format!(
            r#"{{"date": "{}", "amount": "{amount}", "currency": "{}"}}"#,
            credited[2], credited[4]
        ),
    )
    .await
    .expect("claim");
    check_claim(&by_amount, 200);
    assert_eq!(by_amount.json["answer"], "credited", "{}", by_amount.text);
    // Each losing-claim reason of the run, claimed by its partner (an operator's token).
    let losing = rows(
        &db,
        &format!(
            "SELECT reason, any(partner_id), any(order_id) FROM (SELECT l.reason AS reason, l.partner_id AS partner_id, a.order_id AS order_id \
             FROM attribution_losing_claims AS l FINAL ANY INNER JOIN (SELECT attribution_id, order_id, program_id, kind FROM attributions FINAL) AS a USING attribution_id \
             WHERE a.program_id = '{program}' AND a.kind = 'conversion' \
             AND (l.partner_id, a.order_id) NOT IN (SELECT partner_id, order_id FROM commissions FINAL WHERE program_id = '{program}')) \
             GROUP BY reason ORDER BY reason"
        ),
    )
    .await;
    assert!(!losing.is_empty(), "the run has losing claims");
    for row in &losing {
        let (reason, partner, order) = (&row[0], &row[1], &row[2]);
        let answer = post(
            &format!("{root}/v1/programs/{program}/partners/{partner}/claims"),
            Some(&operator),
            &format!(r#"{{"order_id": "{order}"}}"#),
        )
        .await
        .expect("claim");
        check_claim(&answer, 200);
        assert_eq!(answer.json["answer"], "lost", "{reason}: {}", answer.text);
        let reasons: Vec<&str> = answer.json["detail"]["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .filter_map(|r| r["reason"].as_str())
            .collect();
        assert!(
            reasons.contains(&reason.as_str()),
            "{reason}: {}",
            answer.text
        );
    }
    eprintln!(
        "partner-api: claims answered for the losing reasons {:?}",
        losing.iter().map(|r| r[0].clone()).collect::<Vec<_>>()
    );
    // An order someone else earned, where A has nothing: A learns only that.
    let others = rows(
        &db,
        &format!(
            "SELECT order_id, partner_id FROM commissions FINAL WHERE program_id = '{program}' AND partner_id != '{a}' \
             AND attribution_id NOT IN (SELECT attribution_id FROM attribution_losing_claims FINAL WHERE partner_id = '{a}') \
             AND order_id NOT IN (SELECT order_id FROM commissions FINAL WHERE partner_id = '{a}') ORDER BY order_id LIMIT 1"
        ),
    )
    .await;
    let nothing = post(
        &format!("{base_a}/claims"),
        Some(&token_a),
        &format!(r#"{{"order_id": "{}"}}"#, others[0][0]),
    )
    .await
    .expect("claim");
    check_claim(&nothing, 200);
    assert_eq!(nothing.json["answer"], "no_touchpoint", "{}", nothing.text);
    assert!(
        !nothing.text.contains(&others[0][1]),
        "the winner is not revealed: {}",
        nothing.text
    );
    // An order nobody knows: open for an operator, resolved, and the partner reads it.
    let unknown = post(
        &format!("{base_a}/claims"),
        Some(&token_a),
        r#"{"order_id": "o-never-seen"}"#,
    )
    .await
    .expect("claim");
    check_claim(&unknown, 202);
    assert_eq!(
        (
            unknown.json["answer"].as_str(),
            unknown.json["status"].as_str()
        ),
        (Some("review"), Some("open"))
    );
    let claim_id = unknown.json["claim_id"].as_str().expect("id").to_string();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(binary("partner-api"))
            .args(args)
            .env_clear()
            .envs(&env)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        cli(&["claims", "list", "--program", &program]).contains(&claim_id),
        "operators see the open claim"
    );
    cli(&[
        "claims",
        "resolve",
        "--claim-id",
        &claim_id,
        "--resolution",
        "order arrived late; credited manually",
        "--actor",
        "ops@test",
    ]);
    let listed = get(&format!("{base_a}/claims"), Some(&token_a))
        .await
        .expect("claims");
    assert_eq!(listed.status, 200);
    let mine = listed.json["claims"].as_array().expect("claims");
    let expected = 4 + losing.iter().filter(|r| r[1] == a).count();
    assert_eq!(
        mine.len(),
        expected,
        "every claim made for A: {}",
        listed.text
    );
    let resolved = mine
        .iter()
        .find(|c| c["claim_id"] == claim_id.as_str())
        .expect("listed");
    assert_eq!(
        (resolved["status"].as_str(), resolved["resolution"].as_str()),
        (
            Some("resolved"),
            Some("order arrived late; credited manually")
        )
    );
    // Every answer is on the claims topic before it is in ClickHouse (webhooks tell
    // `claim.answered` from there): each of A's claims with its listed status and answer, the
    // resolved one as opened and as resolved.
    let claims_topic = format!("{ns}.partner.claims.v1");
    let decode_all = |m: &[rdkafka::message::OwnedMessage]| -> Vec<schemas::ClaimNotice> {
        m.iter()
            .map(|m| schemas::decode(tests::payload(m)).expect("a claim notice"))
            .collect()
    };
    let wanted: BTreeSet<(String, String)> = mine
        .iter()
        .map(|c| {
            let field = |f: &str| c[f].as_str().expect("listed").to_string();
            (field("claim_id"), field("status"))
        })
        .collect();
    let notices = decode_all(
        &tests::consume_until(&claims_topic, Duration::from_secs(60), |m| {
            let got: BTreeSet<(String, String)> = decode_all(m)
                .into_iter()
                .map(|n| (n.claim_id, n.status))
                .collect();
            wanted.is_subset(&got)
        })
        .expect("claims topic"),
    );
    for listed in mine {
        let id = listed["claim_id"].as_str().expect("id");
        let latest = notices
            .iter()
            .filter(|n| n.claim_id == id)
            .max_by_key(|n| n.version)
            .unwrap_or_else(|| panic!("claim {id} is not on the claims topic"));
        assert_eq!(
            (latest.status.as_str(), latest.answer.as_str()),
            (
                listed["status"].as_str().expect("status"),
                listed["answer"].as_str().expect("answer")
            ),
            "{id}"
        );
    }
    let versions: Vec<&str> = notices
        .iter()
        .filter(|n| n.claim_id == claim_id)
        .map(|n| n.status.as_str())
        .collect();
    assert_eq!(versions, ["open", "resolved"]);
    // A claim the API published and died before writing is recorded from the topic.
    let mut orphan = notices[0].clone();
    orphan.claim_id = "clm-published-only".into();
    orphan.version += 1;
    tests::produce(
        &claims_topic,
        &[(
            Some(orphan.partner_id.clone().into_bytes()),
            schemas::encode(&orphan).expect("encode"),
        )],
    )
    .await
    .expect("produced");
    let partner_db = ledger_writer::store::migrations::partner_database(&database);
    let recorded = tests::ledger::wait_count(
        &db,
        &format!(
            "SELECT count() FROM `{partner_db}`.partner_claims FINAL WHERE claim_id = 'clm-published-only'"
        ),
        1,
        Duration::from_secs(60),
    )
    .await
    .expect("count");
    assert_eq!(recorded, 1, "the ledger-writer records the published claim");
    // Operators: the open claims and the partners by risk severity.
    let open = get(
        &format!("{root}/v1/programs/{program}/claims"),
        Some(&operator),
    )
    .await
    .expect("claims");
    assert_eq!(open.status, 200, "{}", open.text);
    assert!(
        open.json["claims"].as_array().expect("claims").is_empty(),
        "the open claim was resolved: {}",
        open.text
    );
    let resolved_list = get(
        &format!("{root}/v1/programs/{program}/claims?status=resolved"),
        Some(&operator),
    )
    .await
    .expect("claims");
    assert!(
        resolved_list.text.contains(&claim_id),
        "{}",
        resolved_list.text
    );
    let by_risk = get(
        &format!("{root}/v1/programs/{program}/partners"),
        Some(&operator),
    )
    .await
    .expect("partners");
    assert_eq!(by_risk.status, 200, "{}", by_risk.text);
    let severity = ["critical", "high", "elevated", "low", "insufficient_data"];
    let ranks: Vec<usize> = by_risk.json["partners"]
        .as_array()
        .expect("partners")
        .iter()
        .map(|p| {
            severity
                .iter()
                .position(|l| p["level"] == *l)
                .expect("a known level")
        })
        .collect();
    assert!(
        !ranks.is_empty() && ranks.windows(2).all(|w| w[0] <= w[1]),
        "ordered by severity: {}",
        by_risk.text
    );
    for (path, answer) in [
        ("/v1/programs/{program}/partners", &by_risk),
        ("/v1/programs/{program}/claims", &resolved_list),
    ] {
        let schema = tests::openapi::response_schema(&doc, "get", path, 200).expect("documented");
        let problems = tests::openapi::check(&doc, schema, &answer.json, "$");
        assert!(problems.is_empty(), "{path}: {problems:?}");
    }
    for url in [
        format!("{root}/v1/programs/{program}/partners"),
        format!("{root}/v1/programs/{program}/claims"),
    ] {
        assert_eq!(
            get(&url, Some(&token_a)).await.expect("answer").status,
            403,
            "a partner token on {url}"
        );
        assert_eq!(
            get(&url, Some(&foreign_operator))
                .await
                .expect("answer")
                .status,
            403,
            "another program's operator on {url}"
        );
    }
    for (body, word) in [
        ("{}", "either"),
        (r#"{"order_id": 7}"#, "JSON"),
        ("not json", "JSON"),
        (
            r#"{"date": "2026-06-01", "amount": "1.001", "currency": "EUR"}"#,
            "amount",
        ),
    ] {
        let bad = post(&format!("{base_a}/claims"), Some(&token_a), body)
            .await
            .expect("answer");
        assert_eq!(bad.status, 400, "{body}: {}", bad.text);
        assert!(bad.text.contains(word), "{body}: {}", bad.text);
    }
    let huge = format!(r#"{{"order_id": "{}"}}"#, "x".repeat(20_000));
    assert_eq!(
        post(&format!("{base_a}/claims"), Some(&token_a), &huge)
            .await
            .expect("answer")
            .status,
        413
    );
    assert_eq!(
        post(
            &format!("{base_b}/claims"),
            Some(&token_a),
            r#"{"order_id": "x"}"#
        )
        .await
        .expect("answer")
        .status,
        403
    );

    // The portal, in a real browser: the statement, the risk level and a payout traced to its
    // lines, as the API gave them. Screenshots (desktop and phone) are kept as artifacts.
    let traced = &ledger_payouts[0][0];
    let portal =
        format!("{root}/portal#token={token_a}&program={program}&partner={a}&payout={traced}");
    let dom = tests::browser::dom(&portal).expect("the portal renders");
    assert!(
        dom.contains(r#"data-loaded="true""#),
        "the portal loaded: {dom}"
    );
    let first_page: Vec<&str> = lines
        .iter()
        .take(100)
        .map(|l| l["commission_id"].as_str().expect("id"))
        .collect();
    for id in &first_page {
        assert!(
            dom.contains(&format!(r#"data-commission="{id}""#)),
            "line {id} shown"
        );
    }
    for p in &ledger_payouts {
        assert!(
            dom.contains(&format!(r#"<tr data-payout="{}""#, p[0])),
            "payout {} listed",
            p[0]
        );
    }
    assert!(
        dom.contains(&format!(r#"id="trace" data-payout="{traced}""#)),
        "the trace of {traced} is open"
    );
    let trace_lines = dom
        .split(r#"id="trace-lines""#)
        .nth(1)
        .expect("trace table");
    for item in trace.json["items"].as_array().expect("items") {
        let id = item["commission_id"].as_str().expect("id");
        assert!(
            trace_lines.contains(&format!(r#"data-commission="{id}""#)),
            "traced line {id} shown"
        );
    }
    if let Some(level) = level.first() {
        assert!(
            dom.contains(&format!(r#"id="risk-level">{}<"#, level[0])),
            "risk level shown"
        );
    }
    for m in performance.json["by_month"].as_array().expect("months") {
        let month = m["month"].as_str().expect("month");
        let row = dom
            .split(&format!(r#"data-month="{month}""#))
            .nth(1)
            .and_then(|rest| rest.split("</tr>").next())
            .unwrap_or_else(|| panic!("month {month} shown"));
        assert!(
            row.contains(&format!(r#"data-clicks="{}""#, m["clicks"]))
                && row.contains(&format!(r#"data-conversions="{}""#, m["conversions"])),
            "month {month} as the API gave it: {row}"
        );
    }
    assert!(!dom.contains(&token_a), "the token is not left in the page");
    assert!(
        dom.contains(&format!(r#"data-claim="{claim_id}""#)),
        "the claims are listed"
    );
    assert!(
        dom.contains("order arrived late; credited manually"),
        "with the operator's resolution"
    );
    let artifacts = tests::browser::artifacts_dir();
    tests::browser::screenshot(&portal, &artifacts.join("portal-desktop.png"), 1280, 1600)
        .expect("desktop screenshot");
    tests::browser::screenshot(&portal, &artifacts.join("portal-phone.png"), 390, 1600)
        .expect("phone screenshot");
    eprintln!("partner-api: portal screenshots in {}", artifacts.display());

    // A revoked token stops working (the cache trusts it for a second here).
    let token_id = &token_a[4..20];
    let out = std::process::Command::new(binary("partner-api"))
        .args([
            "token",
            "revoke",
            "--token-id",
            token_id,
            "--actor",
            "ops@test",
        ])
        .env_clear()
        .envs(&env)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        get(&format!("{base_a}/risk"), Some(&token_a))
            .await
            .expect("answer")
            .status,
        401
    );
    pipeline.stop().expect("clean stop");
}
