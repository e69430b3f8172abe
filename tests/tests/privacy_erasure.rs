//! Erasure end to end on the real broker and ClickHouse: five services run a generated
//! workload, finance pays a payout, then `privacy erase` removes a customer with renewals,
//! refunds and paid commissions. Afterwards — the stateful services restarted from their
//! changelogs and the personal topics past their (test-short) retention — no topic read from
//! the beginning and no ClickHouse table holds that customer's ids, while ledger totals per
//! partner, payouts and the reconciliation queries are unchanged to the cent. A second
//! erasure of the same subject changes nothing.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use clickhouse::Client;
use rdkafka::consumer::{BaseConsumer, Consumer};
use runtime::topic_reader::TopicReader;
use tests::ledger::{clickhouse, database_for, documented_query, wait_for_schema};
use tests::pipeline::{run_paid_workload, Pipeline, REFERENCE};
use tests::{
    binary, client_config, publish_reference, require_broker, service_env, unique_namespace,
};

/// base64 of 32 fixed bytes (0x20, 0x21, …): the tests' subject-hash key.
const SUBJECT_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

async fn rows(db: &Client, sql: &str) -> Vec<String> {
    let mut cursor = db.query(sql).fetch_bytes("TabSeparated").expect("query");
    let mut body = Vec::new();
    while let Some(chunk) = cursor.next().await.expect("rows") {
        body.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&body)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Everything money: lines by partner, status and currency; payouts; the reconciliation
/// queries; ledger entries.
async fn money(db: &Client) -> Vec<Vec<String>> {
    vec![
        rows(db, "SELECT partner_id, status, line_kind, currency, count(), toString(sum(amount)) FROM commissions FINAL GROUP BY partner_id, status, line_kind, currency ORDER BY partner_id, status, line_kind, currency").await,
        rows(db, "SELECT payout_id, partner_id, currency, amount_minor, item_count, status FROM payouts FINAL ORDER BY payout_id").await,
        rows(db, &format!("SELECT * FROM ({}) ORDER BY 1", documented_query("reconciliation_payout_totals"))).await,
        rows(db, &format!("SELECT * FROM ({})", documented_query("reconciliation_paid_once"))).await,
        rows(db, "SELECT partner_id, currency, count(), sum(amount_minor) FROM ledger_entries FINAL GROUP BY partner_id, currency ORDER BY partner_id, currency").await,
    ]
}

/// The subject: a customer with a renewal, a refund and a paid commission whose ids no other
/// id contains (so a byte search finds exactly theirs). Returns (program, customer).
async fn pick_subject(db: &Client) -> (String, String) {
    let candidates = rows(
        db,
        "SELECT program_id, assumeNotNull(customer_id) FROM conversions \
         WHERE customer_id IS NOT NULL GROUP BY program_id, customer_id \
         HAVING countIf(chain_seq > 1) > 0 AND countIf(kind = 'refund') > 0 ORDER BY customer_id",
    )
    .await;
    let every_id: BTreeSet<String> = rows(
        db,
        "SELECT assumeNotNull(customer_id) FROM touchpoints WHERE customer_id IS NOT NULL \
         UNION ALL SELECT assumeNotNull(visitor_id) FROM touchpoints WHERE visitor_id IS NOT NULL \
         UNION ALL SELECT assumeNotNull(click_id) FROM touchpoints WHERE click_id IS NOT NULL \
         UNION ALL SELECT event_id FROM touchpoints UNION ALL SELECT order_id FROM conversions",
    )
    .await
    .into_iter()
    .collect();
    for line in candidates {
        let (program, customer) = line.split_once('\t').expect("two columns");
        let paid = rows(
            db,
            &format!(
                "SELECT count() FROM commissions FINAL WHERE status = 'paid' AND attribution_id IN \
                 (SELECT attribution_id FROM attributions WHERE customer_id = '{customer}')"
            ),
        )
        .await;
        let unique = !every_id
            .iter()
            .any(|id| id != customer && id.contains(customer));
        if paid.first().is_some_and(|n| n != "0") && unique {
            return (program.to_string(), customer.to_string());
        }
    }
    panic!("the workload has no customer with a renewal, a refund and a paid commission");
}

/// A partner with a completed payout, preferring one with self-referral ids; returns the id and
/// the profile's personal values (name first, then self-referral ids), each unique in the run.
async fn pick_partner(db: &Client, set: &reference::ReferenceSet) -> (String, Vec<String>) {
    let paid = rows(
        db,
        "SELECT DISTINCT partner_id FROM payouts FINAL WHERE status = 'completed'",
    )
    .await;
    let mut candidates: Vec<&schemas::reference::Partner> = set
        .partners
        .iter()
        .filter(|p| paid.contains(&p.partner_id))
        .collect();
    candidates.sort_by_key(|p| std::cmp::Reverse(p.self_referral_ids.len()));
    let partner = candidates.first().expect("a partner was paid");
    let mut personal = vec![partner.name.clone()];
    personal.extend(partner.self_referral_ids.iter().cloned());
    (partner.partner_id.clone(), personal)
}

/// The subject's identifiers: the customer id, their visitor ids and click ids.
async fn identifiers(db: &Client, program: &str, customer: &str) -> Vec<String> {
    let visitors = rows(
        db,
        &format!(
            "SELECT DISTINCT assumeNotNull(visitor_id) FROM touchpoints WHERE program_id = '{program}' AND customer_id = '{customer}' AND visitor_id IS NOT NULL"
        ),
    )
    .await;
    assert!(!visitors.is_empty(), "the subject has visitor ids");
    let list: Vec<String> = visitors.iter().map(|v| format!("'{v}'")).collect();
    let clicks = rows(
        db,
        &format!(
            "SELECT DISTINCT assumeNotNull(click_id) FROM touchpoints WHERE program_id = '{program}' AND visitor_id IN ({}) AND click_id IS NOT NULL",
            list.join(", ")
        ),
    )
    .await;
    let mut ids = vec![customer.to_string()];
    ids.extend(visitors);
    ids.extend(clicks);
    ids
}

/// Every (topic, identifier) found reading every topic of `namespace` (or `only` that one)
/// from the beginning.
fn found_in_topics(
    env: &HashMap<String, String>,
    namespace: &str,
    ids: &[String],
    only: Option<&str>,
) -> BTreeSet<(String, String)> {
    let mut reader_env = runtime::Env::from_map(env.clone());
    let common = runtime::CommonConfig::from_env(&mut reader_env, "scan", "127.0.0.1:0");
    let consumer: BaseConsumer = client_config()
        .set("group.id", "privacy-scan-unused")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    let topics: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|name| name.starts_with(&format!("{namespace}.")))
        .collect();
    assert!(topics.len() >= 15, "every topic of the run: {topics:?}");
    let topics = topics.into_iter().filter(|t| only.is_none_or(|o| o == t));
    let mut found = BTreeSet::new();
    for topic in topics {
        let reader = TopicReader::new(
            &common.kafka,
            "privacy-scan",
            &topic,
            Duration::from_secs(30),
        )
        .expect("reader");
        let partitions: Vec<i32> = (0..reader.partition_count().expect("partitions")).collect();
        reader.start(&partitions).expect("start");
        // Read until the topic stays quiet: after retention and compaction the reported end
        // offsets can name records that are gone, so "until the end offset" may never come.
        while reader
            .follow(Duration::from_secs(2), |record| {
                for bytes in [record.key, record.payload].into_iter().flatten() {
                    for id in ids {
                        if bytes.windows(id.len()).any(|w| w == id.as_bytes()) {
                            found.insert((topic.clone(), id.clone()));
                        }
                    }
                }
            })
            .expect("read")
        {}
    }
    found
}

/// Every (table, identifier) found in every table of the analytics and partner databases.
async fn found_in_tables(
    db: &Client,
    database: &str,
    ids: &[String],
) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let partner = ledger_writer::store::migrations::partner_database(database);
    for name in [database.to_string(), partner] {
        let tables = rows(db, &format!("SELECT name FROM system.tables WHERE database = '{name}' AND engine NOT IN ('View', 'MaterializedView')")).await;
        assert!(!tables.is_empty(), "{name} has tables");
        for table in tables {
            let text = rows(db, &format!("SELECT * FROM `{name}`.`{table}`"))
                .await
                .join("\n");
            for id in ids {
                if text.contains(id.as_str()) {
                    found.insert((format!("{name}.{table}"), id.clone()));
                }
            }
        }
    }
    found
}

fn privacy(env: &HashMap<String, String>, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(binary("privacy"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .env("PRIVACY_SUBJECT_KEY", SUBJECT_KEY)
        .output()
        .expect("privacy runs");
    assert!(
        out.status.success(),
        "privacy {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON document")
}

fn endpoint_url(partner: &str) -> String {
    format!("https://{partner}.hooks.example/attrib")
}

/// `text` with a webhook endpoint of each partner's own, on the first program.
fn with_partner_endpoints(text: &str) -> String {
    let set = reference::parse(text).expect("valid reference");
    let program = &set.programs[0].program_id;
    let mut out = text.to_string();
    for p in &set.partners {
        out.push_str(&format!(
            "\n[[webhooks]]\nid = \"{id}-hooks\"\nprogram = \"{program}\"\npartner = \"{id}\"\nurl = \"{url}\"\n",
            id = p.partner_id,
            url = endpoint_url(&p.partner_id)
        ));
    }
    out
}

fn erase_partner(env: &HashMap<String, String>, partner: &str, request: &str) -> serde_json::Value {
    privacy(
        env,
        &[
            "erase-partner",
            "--partner",
            partner,
            "--actor",
            "dpo@test",
            "--request-id",
            request,
        ],
    )
}

fn sum(receipt: &serde_json::Value, section: &str, field: &str) -> u64 {
    receipt[section]
        .as_array()
        .expect("section")
        .iter()
        .map(|e| e[field].as_u64().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_customer_leaves_every_topic_table_and_state_while_the_money_stays() {
    require_broker();
    let ns = unique_namespace("erasure");
    let env = service_env(
        &ns,
        &[
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "2"),
            // Test-short retention: personal data leaves every log a minute after it was
            // written (tansu's storage maintenance runs every minute), and live state is
            // rewritten every 20 s so it stays.
            ("PERSONAL_RETENTION_MS", "60000"),
            ("PERSONAL_STATE_RETENTION_MS", "60000"),
            ("DEAD_LETTER_RETENTION_MS", "60000"),
            ("STATE_REFRESH_SECONDS", "20"),
            ("REFERENCE_RETENTION_MS", "60000"),
            (
                "LOG_LEVEL",
                "warn,runtime=info,rdkafka=error,librdkafka=error",
            ),
        ],
    );
    // Every partner has a webhook endpoint of its own: its URL is the partner's address.
    let reference_text = with_partner_endpoints(REFERENCE);
    publish_reference(&env, &reference_text)
        .await
        .expect("reference published");
    // What the deploy/ CronJob does daily, at test pace: the reference topic keeps a minute
    // of history, so its live records are re-sent every few seconds.
    let refresher = {
        let mut reader = runtime::Env::from_map(env.clone());
        let common = runtime::CommonConfig::from_env(&mut reader, "refresh", "127.0.0.1:0");
        tokio::spawn(async move {
            loop {
                reference::publish::refresh(
                    &common.kafka,
                    &common.topics.reference_config,
                    Duration::from_secs(15),
                    chrono::Utc::now(),
                )
                .await
                .expect("refreshed");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        })
    };
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

    let set = reference::parse(&reference_text).expect("valid reference");
    if let Err(e) = run_paid_workload(&env, &db, 19, 4_000).await {
        pipeline.fail(&e);
    }
    let mut reader = runtime::Env::from_map(env.clone());
    let common = runtime::CommonConfig::from_env(&mut reader, "erasure", "127.0.0.1:0");

    let (partner, partner_ids) = pick_partner(&db, &set).await;
    let exported = privacy(&env, &["export-partner", "--partner", &partner]);
    assert_eq!(
        exported["profile"]["name"],
        partner_ids[0].as_str(),
        "{exported:#}"
    );
    let partner_db = ledger_writer::store::migrations::partner_database(&database);
    let lines = rows(
        &db,
        &format!(
            "SELECT count() FROM `{partner_db}`.commissions FINAL WHERE partner_id = '{partner}'"
        ),
    )
    .await;
    assert_eq!(
        exported["tables"]["commissions"]
            .as_array()
            .map(Vec::len)
            .map(|n| n.to_string()),
        lines.first().cloned(),
        "every commission line of the partner"
    );
    assert!(!exported["tables"]["payouts"]
        .as_array()
        .expect("rows")
        .is_empty());
    assert!(
        !exported["links"].as_array().expect("links").is_empty()
            || !exported["codes"].as_array().expect("codes").is_empty()
    );

    let (program, customer) = pick_subject(&db).await;
    let ids = identifiers(&db, &program, &customer).await;
    eprintln!(
        "erasure: subject {customer} of {program}: {} identifiers",
        ids.len()
    );
    assert!(
        !found_in_tables(&db, &database, &ids).await.is_empty(),
        "the subject is in ClickHouse before"
    );
    let exported = privacy(
        &env,
        &["export", "--program", &program, "--customer", &customer],
    );
    assert!(
        !exported["tables"]["touchpoints"]
            .as_array()
            .expect("rows")
            .is_empty(),
        "{exported}"
    );
    assert!(!exported["tables"]["conversions"]
        .as_array()
        .expect("rows")
        .is_empty());
    let before = money(&db).await;

    // Erase.
    let receipt = privacy(
        &env,
        &[
            "erase",
            "--program",
            &program,
            "--customer",
            &customer,
            "--actor",
            "dpo@test",
            "--request-id",
            "era-1",
        ],
    );
    eprintln!("erasure: receipt {receipt:#}");
    assert!(
        !receipt.to_string().contains(&customer),
        "the receipt names no subject"
    );
    assert_eq!(
        receipt["earlier_requests"].as_array().map(Vec::len),
        Some(0)
    );
    assert!(
        sum(&receipt, "state", "entries_removed") > 0,
        "state held the subject"
    );
    assert!(
        sum(&receipt, "clickhouse", "rows") > 0,
        "ClickHouse held the subject"
    );
    assert_eq!(
        receipt["state"].as_array().map(Vec::len),
        Some(3),
        "enricher, attributor, risk"
    );
    let recorded = rows(
        &db,
        "SELECT subject_hash, actor FROM privacy_requests FINAL WHERE request_id = 'era-1'",
    )
    .await;
    assert_eq!(recorded.len(), 1);
    assert!(
        !recorded[0].contains(&customer) && recorded[0].ends_with("dpo@test"),
        "{recorded:?}"
    );
    assert!(
        found_in_tables(&db, &database, &ids).await.is_empty(),
        "ClickHouse holds none of the subject's ids at once"
    );
    assert_eq!(money(&db).await, before, "money unchanged by the erasure");

    // A second erasure of the same subject: nothing left to change.
    let again = privacy(
        &env,
        &[
            "erase",
            "--program",
            &program,
            "--customer",
            &customer,
            "--actor",
            "dpo@test",
            "--request-id",
            "era-2",
        ],
    );
    assert_eq!(
        again["earlier_requests"][0]["request_id"], "era-1",
        "{again:#}"
    );
    assert_eq!(sum(&again, "state", "entries_removed"), 0, "{again:#}");
    assert_eq!(sum(&again, "state", "entries_redacted"), 0, "{again:#}");
    assert_eq!(sum(&again, "clickhouse", "rows"), 0, "{again:#}");

    // The partner's profile: erased from the reference topic; money keeps the partner id.
    let receipt = erase_partner(&env, &partner, "era-p1");
    eprintln!("erasure: partner receipt {receipt:#}");
    assert_eq!(
        receipt["reference"]["fields_erased"][0], "name",
        "{receipt:#}"
    );
    assert_eq!(
        receipt["reference"]["webhook_endpoints_switched_off"],
        serde_json::json!([format!("webhook_endpoint/{partner}-hooks")]),
        "{receipt:#}"
    );
    let recorded = rows(
        &db,
        "SELECT receipt FROM privacy_requests FINAL WHERE request_id = 'era-p1'",
    )
    .await;
    assert_eq!(recorded.len(), 1);
    for id in &partner_ids {
        assert!(
            !recorded[0].contains(id.as_str()),
            "the recorded receipt names no {id}"
        );
    }
    let again = erase_partner(&env, &partner, "era-p2");
    assert_eq!(
        again["earlier_requests"][0]["request_id"], "era-p1",
        "{again:#}"
    );
    assert_eq!(
        again["reference"]["fields_erased"].as_array().map(Vec::len),
        Some(0)
    );
    let exported = privacy(&env, &["export-partner", "--partner", &partner]);
    assert_eq!(exported["profile"]["name"], "erased", "{exported:#}");
    assert_eq!(
        money(&db).await,
        before,
        "money unchanged by the partner's erasure"
    );
    // A partner with own accounts (self-referral ids): those leave the profile too, and the
    // ones seen as customers are listed for `privacy erase` but not recorded.
    let own = set
        .partners
        .iter()
        .find(|p| p.partner_id != partner && !p.self_referral_ids.is_empty())
        .expect("the sample has a partner with self-referral ids");
    let receipt = erase_partner(&env, &own.partner_id, "era-p3");
    assert_eq!(
        receipt["reference"]["fields_erased"],
        serde_json::json!(["name", "self_referral_ids"]),
        "{receipt:#}"
    );
    for account in receipt["own_accounts_to_erase"]["accounts"]
        .as_array()
        .expect("list")
    {
        let id = account["customer_id"].as_str().expect("id").to_string();
        assert!(own.self_referral_ids.contains(&id), "{account}");
    }
    let recorded = rows(
        &db,
        "SELECT receipt FROM privacy_requests FINAL WHERE request_id = 'era-p3'",
    )
    .await;
    for id in &own.self_referral_ids {
        assert!(
            !recorded[0].contains(id.as_str()),
            "the recorded receipt names no {id}"
        );
    }
    let mut partner_names = vec![partner_ids[0].clone(), own.name.clone()];
    let mut partner_ids = partner_ids.clone();
    partner_ids.push(own.name.clone());
    // Their endpoints' URLs leave the reference topic with the profiles.
    partner_ids.push(endpoint_url(&partner));
    partner_ids.push(endpoint_url(&own.partner_id));
    partner_ids.extend(own.self_referral_ids.iter().cloned());

    // Publishing the old file again would restore the profiles: refused, nothing sent.
    let file = logs.join("reference.toml");
    std::fs::write(&file, &reference_text).expect("file written");
    let out = std::process::Command::new(binary("reference"))
        .arg("publish")
        .arg(&file)
        .env_clear()
        .envs(&env)
        .output()
        .expect("reference runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("was erased") && stderr.contains(&partner),
        "{stderr}"
    );

    // The stateful services restore from their changelogs; then every log, read from the
    // beginning, must be free of the subject once retention has run.
    for service in ["enricher", "attributor", "risk", "ledger-writer"] {
        pipeline.restart(service).expect("restarts");
    }
    pipeline
        .wait_ready(Duration::from_secs(120))
        .expect("ready after restart");
    let started = Instant::now();
    // The partner's name must leave every log; their own-account ids (which may also be
    // customers of the run, not erased here) the reference topic.
    let mut every_id = ids.clone();
    every_id.append(&mut partner_names);
    let left = loop {
        let mut left = found_in_topics(&env, &ns, &every_id, None);
        left.extend(found_in_topics(
            &env,
            &ns,
            &partner_ids,
            Some(&common.topics.reference_config),
        ));
        if left.is_empty() || started.elapsed() > Duration::from_secs(300) {
            break left;
        }
        eprintln!(
            "erasure: {:>4}s still on the logs: {left:?}",
            started.elapsed().as_secs()
        );
        tokio::time::sleep(Duration::from_secs(15)).await;
    };
    assert!(left.is_empty(), "the subjects are still on: {left:?}");
    eprintln!(
        "erasure: every log clean after {}s",
        started.elapsed().as_secs()
    );
    assert!(
        found_in_tables(&db, &database, &every_id).await.is_empty(),
        "ClickHouse stays clean"
    );
    assert_eq!(
        money(&db).await,
        before,
        "money unchanged after restarts and retention"
    );
    // Retention took the old copies, not the catalogue: every entity is live, the erased
    // profile among them, and a restarted service loads it.
    let live = {
        let (kafka, topic) = (common.kafka.clone(), common.topics.reference_config.clone());
        tokio::task::spawn_blocking(move || reference::publish::read_live(&kafka, &topic))
            .await
            .expect("reader")
            .expect("read")
    };
    let wanted = set.records(chrono::Utc::now(), "x");
    assert_eq!(live.records.len(), wanted.len(), "every entity is live");
    let held = live.records[&format!("partner/{partner}")]
        .0
        .partner
        .clone()
        .expect("partner");
    assert_eq!(
        (held.name.as_str(), held.self_referral_ids.len()),
        ("erased", 0)
    );
    let endpoint = live.records[&format!("webhook_endpoint/{partner}-hooks")]
        .0
        .webhook_endpoint
        .clone()
        .expect("endpoint");
    assert_eq!(
        (endpoint.url.as_str(), endpoint.enabled),
        ("erased", false),
        "the partner's endpoint is switched off, its URL gone"
    );
    pipeline.restart("attributor").expect("restarts");
    pipeline
        .wait_ready(Duration::from_secs(120))
        .expect("the catalogue loads after retention");
    refresher.abort();
    let exported = privacy(
        &env,
        &["export", "--program", &program, "--customer", &customer],
    );
    assert!(
        exported["tables"]["touchpoints"]
            .as_array()
            .expect("rows")
            .is_empty(),
        "{exported}"
    );
    pipeline.stop().expect("clean stop");
}
