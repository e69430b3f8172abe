//! Webhook delivery on the real broker, through everything a real endpoint does: a receiver
//! (Python, verifying every signature with the `standardwebhooks` library) that answers 5xx to
//! 30 % of requests, holds 10 % past the sender's timeout and is down for two minutes, while the
//! webhooks service is `kill -9`ed twice. Checked against the ledger entries, payout changes and
//! claim answers produced: every event reaches every endpoint that subscribes to it at least
//! once within the retry horizon,
//! every signature verifies, a delivery keeps its id and sequence across attempts and crashes;
//! duplicates are counted and reported, not hidden.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use schemas::ledger::{EntryKind, LedgerStatus};
use schemas::ledger_state::{Payout, PayoutStatus};
use schemas::{ClaimNotice, LedgerEntry};
use serde_json::Value;
use tests::{
    binary, consume, free_port, http_get, produce, publish_reference, require_broker, scrape,
    service_env, unique_namespace, ServiceProcess,
};

const SIGNING_KEY: &str = "CQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJyg=";
const PARTNERS: usize = 12;
const COMMISSIONS: usize = 240;
const ENDPOINTS: [&str; 3] = ["program-all", "p-3-own", "approvals"];

fn reference(receiver: u16) -> String {
    let mut text = String::from(
        "[[programs]]\nid = \"acme-eu\"\nbrand = \"Acme\"\ndomains = [\"shop.acme.example\"]\ncurrency = \"EUR\"\n",
    );
    for p in 0..PARTNERS {
        text.push_str(&format!(
            "\n[[partners]]\nid = \"p-{p}\"\nname = \"Partner {p}\"\nstatus = \"verified\"\n"
        ));
    }
    let url = |id: &str| format!("http://127.0.0.1:{receiver}/hooks/{id}");
    text.push_str(&format!(
        "\n[[webhooks]]\nid = \"program-all\"\nprogram = \"acme-eu\"\nurl = \"{}\"\n\
         \n[[webhooks]]\nid = \"p-3-own\"\nprogram = \"acme-eu\"\npartner = \"p-3\"\nurl = \"{}\"\n\
         \n[[webhooks]]\nid = \"approvals\"\nprogram = \"acme-eu\"\nurl = \"{}\"\nevents = [\"commission.approved\"]\n",
        url("program-all"),
        url("p-3-own"),
        url("approvals")
    ));
    text
}

/// The ledger's entries for the test: every commission created; two in three approved and
/// one in six of those paid; the rest held, one in three of them reversed.
fn entries() -> Vec<LedgerEntry> {
    let now = Utc::now();
    let mut out = Vec::new();
    for c in 0..COMMISSIONS {
        let mut step = |seq: i32, from: Option<LedgerStatus>, to: LedgerStatus, kind: EntryKind| {
            let mut e = schemas::examples::ledger_entry();
            e.entry_id = format!("ent-{c}-{seq}");
            e.commission_id = format!("com-{c}");
            e.partner_id = format!("p-{}", c % PARTNERS);
            e.order_id = format!("o-{c}");
            e.from_status = from;
            e.to_status = to;
            e.entry_kind = kind;
            e.sequence = seq;
            e.amount_minor = 100 + c as i64;
            e.amount = format!("{}.{:02}", (100 + c) / 100, (100 + c) % 100);
            e.effective_at = now;
            e.recorded_at = now;
            out.push(e);
        };
        step(1, None, LedgerStatus::Pending, EntryKind::StatusChange);
        if c % 3 != 0 {
            step(
                2,
                Some(LedgerStatus::Pending),
                LedgerStatus::Approved,
                EntryKind::StatusChange,
            );
            if c % 6 == 1 {
                step(
                    3,
                    Some(LedgerStatus::Approved),
                    LedgerStatus::Paid,
                    EntryKind::Payout,
                );
            }
        } else {
            step(
                2,
                Some(LedgerStatus::Pending),
                LedgerStatus::Held,
                EntryKind::StatusChange,
            );
            if c % 9 == 0 {
                step(
                    3,
                    Some(LedgerStatus::Held),
                    LedgerStatus::Reversed,
                    EntryKind::StatusChange,
                );
            }
        }
    }
    out
}

/// Payout changes: partners 0–3 paid out, each created then completed — except p-3's, which
/// fails.
fn payouts() -> Vec<Payout> {
    let mut out = Vec::new();
    for p in 0..4 {
        let mut payout = schemas::examples::payout();
        payout.payout_id = format!("pay-{p}");
        payout.partner_id = format!("p-{p}");
        payout.status = PayoutStatus::Created;
        payout.settled_at = None;
        payout.version = 1;
        out.push(payout.clone());
        payout.status = if p == 3 {
            PayoutStatus::Failed
        } else {
            PayoutStatus::Completed
        };
        payout.settled_at = Some(Utc::now());
        payout.version = 2;
        out.push(payout);
    }
    out
}

/// Claims: answered at once (p-1, p-3), and one (p-3) opened for an operator then resolved.
fn claims() -> Vec<ClaimNotice> {
    let claim = |id: &str, partner: &str, status: &str| {
        let mut c = schemas::examples::claim_notice();
        c.claim_id = id.into();
        c.partner_id = partner.into();
        c.status = status.into();
        c.updated_at = Utc::now();
        c
    };
    vec![
        claim("clm-1", "p-1", "answered"),
        claim("clm-2", "p-3", "answered"),
        claim("clm-3", "p-3", "open"),
        claim("clm-3", "p-3", "resolved"),
    ]
}

/// Every (endpoint, subject) the inputs must reach — a ledger entry by its id, a payout change
/// or claim answer as `<type>/<id>` — worked out from the subscriptions above, not with the
/// service's code.
fn expected(
    entries: &[LedgerEntry],
    payouts: &[Payout],
    claims: &[ClaimNotice],
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut reach = |partner: &str, subject: String, approval: bool| {
        out.insert(("program-all".to_string(), subject.clone()));
        if partner == "p-3" {
            out.insert(("p-3-own".to_string(), subject.clone()));
        }
        if approval {
            out.insert(("approvals".to_string(), subject));
        }
    };
    for e in entries {
        reach(
            &e.partner_id,
            e.entry_id.clone(),
            e.to_status == LedgerStatus::Approved,
        );
    }
    for p in payouts {
        let subject = format!("payout.{}/{}", p.status.as_str(), p.payout_id);
        reach(&p.partner_id, subject, false);
    }
    for c in claims.iter().filter(|c| c.status != "open") {
        reach(
            &c.partner_id,
            format!("claim.answered/{}", c.claim_id),
            false,
        );
    }
    out
}

fn start_receiver(port: u16, log: &Path, secrets: &str) -> Child {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/webhook_receiver.py");
    let child = Command::new("python3")
        .arg(script)
        .args([
            &port.to_string(),
            &log.display().to_string(),
            secrets,
            "30",
            "10",
            "1.5",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("the receiver starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the receiver did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

fn received(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn delivered(records: &[Value]) -> BTreeSet<(String, String)> {
    records
        .iter()
        .filter(|r| r["answer"] == 200 && r["verified"] == true)
        .map(|r| {
            (
                r["endpoint"].as_str().unwrap_or("").to_string(),
                r["subject"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn start_webhooks(env: &HashMap<String, String>, log: &Path) -> ServiceProcess {
    ServiceProcess::start_logged(&binary("webhooks"), env, log).expect("webhooks starts")
}

/// `kill -9`, then a new instance once the dead one's group session expired: tansu evicts a
/// dead member only when another joins after that (LOCAL-STACK.md; the chaos test does the
/// same), and the retries it held are what the new one must resume.
async fn crash_and_restart(
    webhooks: &mut ServiceProcess,
    env: &HashMap<String, String>,
    log: &Path,
) {
    webhooks.kill_hard();
    tokio::time::sleep(Duration::from_secs(8)).await;
    *webhooks = start_webhooks(env, log);
}

fn wait_ready(admin: u16) {
    let started = Instant::now();
    while http_get(admin, "/_readiness").trim() != "ready" {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "webhooks did not get ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ledger_event_reaches_its_endpoints_through_failures_an_outage_and_crashes() {
    require_broker();
    let namespace = unique_namespace("webhooks");
    let (receiver_port, admin) = (free_port(), free_port());
    let admin_addr = format!("127.0.0.1:{admin}");
    let env = service_env(
        &namespace,
        &[
            ("WEBHOOKS_SIGNING_KEY", SIGNING_KEY),
            ("WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true"),
            ("WEBHOOKS_RETRY_BASE_MS", "250"),
            ("WEBHOOKS_RETRY_MAX_DELAY_SECONDS", "5"),
            ("WEBHOOKS_RETRY_HORIZON_SECONDS", "900"),
            ("WEBHOOKS_TIMEOUT_MS", "1000"),
            ("ADMIN_LISTEN_ADDR", &admin_addr),
            ("WEBHOOKS_GROUP_ID", &format!("{namespace}-webhooks")),
            (
                "WEBHOOKS_ROUTER_GROUP_ID",
                &format!("{namespace}-webhooks-router"),
            ),
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
        ],
    );
    publish_reference(&env, &reference(receiver_port))
        .await
        .expect("reference published");
    // The owners' secrets, as an operator gets them: `webhooks secret ENDPOINT`.
    let mut secrets = serde_json::Map::new();
    for endpoint in ENDPOINTS {
        let out = Command::new(binary("webhooks"))
            .args(["secret", endpoint])
            .env_clear()
            .envs(&env)
            .output()
            .expect("webhooks secret");
        let secret = String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_string();
        assert!(secret.starts_with("whsec_"), "{secret}");
        secrets.insert(endpoint.into(), Value::String(secret));
    }
    let secrets = Value::Object(secrets).to_string();
    let dir = std::env::temp_dir().join(format!("{namespace}-webhooks"));
    std::fs::create_dir_all(&dir).expect("dir");
    let log = dir.join("received.jsonl");
    let service_log = dir.join("webhooks.log");
    let mut receiver = start_receiver(receiver_port, &log, &secrets);
    let mut webhooks = start_webhooks(&env, &service_log);
    wait_ready(admin);

    let all = entries();
    let (payouts, claims) = (payouts(), claims());
    let expected = expected(&all, &payouts, &claims);
    let topic = format!("{namespace}.ledger.entries.v1");
    let waves: Vec<&[LedgerEntry]> = all.chunks(all.len().div_ceil(3)).collect();
    let send = |wave: &[LedgerEntry]| {
        wave.iter()
            .map(|e| {
                (
                    Some(e.partner_id.clone().into_bytes()),
                    schemas::encode(e).expect("encode"),
                )
            })
            .collect::<Vec<_>>()
    };
    let started = Instant::now();
    produce(&topic, &send(waves[0])).await.expect("wave 1");
    tokio::time::sleep(Duration::from_secs(8)).await;
    // Crash 1, deliveries in flight and retries pending.
    crash_and_restart(&mut webhooks, &env, &service_log).await;
    produce(&topic, &send(waves[1])).await.expect("wave 2");
    let keyed = |partner: &str, bytes: Vec<u8>| (Some(partner.as_bytes().to_vec()), bytes);
    let payout_records: Vec<_> = payouts
        .iter()
        .map(|p| keyed(&p.partner_id, schemas::encode(p).expect("encode")))
        .collect();
    produce(&format!("{namespace}.ledger.payouts.v1"), &payout_records)
        .await
        .expect("payouts");
    let claim_records: Vec<_> = claims
        .iter()
        .map(|c| keyed(&c.partner_id, schemas::encode(c).expect("encode")))
        .collect();
    produce(&format!("{namespace}.partner.claims.v1"), &claim_records)
        .await
        .expect("claims");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let _killed = receiver.kill(); // the endpoint goes down for two minutes
    let _reaped = receiver.wait();
    let down = Instant::now();
    produce(&topic, &send(waves[2])).await.expect("wave 3");
    tokio::time::sleep(Duration::from_secs(60)).await;
    // Crash 2, with a backlog of retries for a dead endpoint.
    crash_and_restart(&mut webhooks, &env, &service_log).await;
    tokio::time::sleep(Duration::from_secs(120).saturating_sub(down.elapsed())).await;
    receiver = start_receiver(receiver_port, &log, &secrets);

    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let got = delivered(&received(&log));
        if expected.is_subset(&got) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let all_done = started.elapsed();
    let records = received(&log);
    let got = delivered(&records);
    let missing: Vec<&(String, String)> = expected.difference(&got).collect();
    let success = (expected.len() - missing.len()) as f64 / expected.len() as f64 * 100.0;
    let answered_ok = records.iter().filter(|r| r["answer"] == 200).count();
    let requests = records.len();
    let unverified = records.iter().filter(|r| r["verified"] != true).count();
    // One id, one sequence, one event: across attempts, crashes and endpoints.
    let mut by_id: BTreeMap<String, BTreeSet<(String, i64, String)>> = BTreeMap::new();
    for r in &records {
        by_id
            .entry(r["id"].as_str().unwrap_or("").to_string())
            .or_default()
            .insert((
                r["endpoint"].as_str().unwrap_or("").to_string(),
                r["sequence"].as_i64().unwrap_or(-1),
                r["subject"].as_str().unwrap_or("").to_string(),
            ));
    }
    let unstable: Vec<_> = by_id.iter().filter(|(_, v)| v.len() != 1).collect();
    let mut sequences: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for versions in by_id.values() {
        for (endpoint, sequence, _) in versions {
            sequences
                .entry(endpoint.clone())
                .or_default()
                .insert(*sequence);
        }
    }
    let metrics = http_get(admin, "/metrics");
    println!(
        "webhooks: {} expected deliveries ({} ledger entries, {} payout changes, {} claim versions, {} endpoints); {} requests received ({} answered 2xx, {} failed or held on purpose); \
         delivered within the horizon: {:.3} % in {:.0} s; duplicates (2xx more than once): {}; signatures that did not verify: {}; \
         pending at the end: {}",
        expected.len(),
        all.len(),
        payouts.len(),
        claims.len(),
        ENDPOINTS.len(),
        requests,
        answered_ok,
        requests - answered_ok,
        success,
        all_done.as_secs_f64(),
        answered_ok.saturating_sub(got.len()),
        unverified,
        scrape(&metrics, "webhooks_pending_deliveries"),
    );
    assert!(
        missing.is_empty(),
        "{} deliveries missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(success >= 99.9);
    assert_eq!(
        unverified, 0,
        "every signature verifies with standardwebhooks"
    );
    assert!(
        unstable.is_empty(),
        "a delivery changed id, sequence or event: {:?}",
        &unstable[..unstable.len().min(3)]
    );
    for (endpoint, seen) in &sequences {
        let count = expected.iter().filter(|(e, _)| e == endpoint).count() as i64;
        assert_eq!(
            seen.iter().copied().collect::<Vec<_>>(),
            (1..=count).collect::<Vec<_>>(),
            "{endpoint}: every sequence once, no gaps"
        );
    }
    let dead = consume(
        &format!("{namespace}.touchpoints.dlq.v1"),
        1,
        Duration::from_secs(3),
    )
    .expect("dlq");
    assert!(dead.is_empty(), "nothing dead-lettered within the horizon");
    // Every record of the log (an outage makes thousands of refused attempts): read to the end.
    let attempts = consume(
        &format!("{namespace}.webhooks.attempts.v1"),
        usize::MAX,
        Duration::from_secs(20),
    )
    .expect("attempts");
    assert!(
        attempts.len() >= got.len(),
        "the delivery log has every delivery ({} records)",
        attempts.len()
    );
    // The delivery log in ClickHouse, written by the ledger-writer's analytics loop.
    let mut ledger_env = env.clone();
    ledger_env.insert("ADMIN_LISTEN_ADDR".into(), "127.0.0.1:0".into());
    let ledger_writer = ServiceProcess::start_logged(
        &binary("ledger-writer"),
        &ledger_env,
        &dir.join("ledger-writer.log"),
    )
    .expect("ledger-writer starts");
    let db = tests::ledger::clickhouse(&tests::ledger::database_for(&namespace));
    tests::ledger::wait_for_schema(&db, Duration::from_secs(120))
        .await
        .expect("schema");
    let distinct = attempts
        .iter()
        .filter_map(|m| schemas::decode::<schemas::WebhookAttempt>(tests::payload(m)).ok())
        .map(|a| a.attempt_id)
        .collect::<BTreeSet<_>>()
        .len() as u64;
    let rows = tests::ledger::wait_count(
        &db,
        "SELECT count() FROM webhook_attempts FINAL",
        distinct,
        Duration::from_secs(120),
    )
    .await
    .expect("attempt rows");
    assert_eq!(rows, distinct, "one row per attempt");
    let delivered_rows = tests::ledger::count(
        &db,
        "SELECT count() FROM webhook_attempts FINAL WHERE outcome = 'delivered'",
    )
    .await
    .expect("delivered rows");
    assert!(
        delivered_rows >= expected.len() as u64,
        "{delivered_rows} delivered rows"
    );
    println!("webhooks: delivery log in ClickHouse: {rows} attempts, {delivered_rows} delivered");
    drop(ledger_writer);
    // An owner lost an approval: `webhooks resend` sends it again, same id, a new sequence.
    let lost = all
        .iter()
        .find(|e| e.to_status == LedgerStatus::Approved)
        .expect("an approval");
    let first = records
        .iter()
        .find(|r| r["endpoint"] == "approvals" && r["entry_id"] == lost.entry_id.as_str())
        .expect("delivered once")
        .clone();
    let out = Command::new(binary("webhooks"))
        .args([
            "resend",
            "--endpoint",
            "approvals",
            "--entry",
            &lost.entry_id,
        ])
        .env_clear()
        .envs(&env)
        .output()
        .expect("webhooks resend");
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("1 event(s) queued again"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let approvals = expected.iter().filter(|(e, _)| e == "approvals").count() as i64;
    let again = {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let found = received(&log).into_iter().find(|r| {
                r["endpoint"] == "approvals"
                    && r["entry_id"] == lost.entry_id.as_str()
                    && r["sequence"].as_i64() == Some(approvals + 1)
                    && r["answer"] == 200
            });
            if found.is_some() || Instant::now() > deadline {
                break found;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    .expect("the resent event arrives with the endpoint's next sequence");
    assert_eq!(again["id"], first["id"], "the same webhook-id");
    // A payout's events are found by its id too: created and completed.
    let out = Command::new(binary("webhooks"))
        .args(["resend", "--endpoint", "program-all", "--event", "pay-0"])
        .env_clear()
        .envs(&env)
        .output()
        .expect("webhooks resend");
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("2 event(s) queued again"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let status = webhooks.terminate(Duration::from_secs(30)).expect("stops");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let _killed = receiver.kill();
    let _reaped = receiver.wait();
}
