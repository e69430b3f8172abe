//! The ledger on the real broker and the real ClickHouse: decisions in → entries, states,
//! payouts and finance-topic entries out; refunds before and after a payout; a payout run
//! twice; reconciliation to the minor unit with the documented queries; and `kill -9`
//! mid-batch leaving exactly one row per id.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use ledger_writer::ledger::{Effects, Ledger};
use schemas::commission::Decision;
use schemas::LedgerEntry;
use tests::ledger::{
    clickhouse, count, database_for, day, decision, documented_query, ledger_command, messages,
    refund, wait_count, wait_for_schema,
};
use tests::{
    binary, consume_until, produce, require_broker, service_env, unique_namespace, ServiceProcess,
};

const WAIT: Duration = Duration::from_secs(90);

/// The reviewer principal's key in these tests (base64 of 32 fixed bytes, 0x40, 0x41, …).
const REVIEWER_KEY: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";

fn env_for(ns: &str) -> std::collections::HashMap<String, String> {
    let mut env = service_env(
        ns,
        &[
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
            ("BATCH_LINGER_MS", "50"),
            ("LEDGER_COMMAND_WAIT_SECONDS", "90"),
        ],
    );
    // Besides `ops` (everything), a reviewer who may only approve reviews.
    env.insert(
        "LEDGER_COMMAND_KEYS".into(),
        format!("ops:{},reviewer:{REVIEWER_KEY}", tests::TEST_COMMAND_KEY),
    );
    env.insert(
        "LEDGER_COMMAND_GRANTS".into(),
        format!("{};reviewer=review_approve", tests::TEST_COMMAND_GRANTS),
    );
    env
}

/// `env` with the command-line tool signing as `principal` with `key`.
fn signing_as(
    env: &std::collections::HashMap<String, String>,
    principal: &str,
    key: &str,
) -> std::collections::HashMap<String, String> {
    let mut env = env.clone();
    env.insert("LEDGER_COMMAND_PRINCIPAL".into(), principal.into());
    env.insert("LEDGER_COMMAND_KEY".into(), key.into());
    env
}

fn iso(d: i64) -> String {
    day(d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_become_entries_payouts_clawbacks_and_exact_reconciliation() {
    require_broker();
    let ns = unique_namespace("ledger");
    let env = env_for(&ns);
    let db = clickhouse(&database_for(&ns));
    let mut service = ServiceProcess::start(&binary("ledger-writer"), &[], &env).expect("starts");
    wait_for_schema(&db, WAIT).await.expect("migrated");

    let commissions = format!("{ns}.commissions.v1");
    let first = vec![
        decision("c1", "p-a", 1_000, Decision::Payable, 0),
        decision("c2", "p-a", 800, Decision::Payable, 1),
        decision("c3", "p-a", 500, Decision::Held, 2),
        decision("c4", "p-b", 2_000, Decision::Payable, 3),
        decision("c5", "p-b", 300, Decision::Reversed, 3),
        // c2 refunded in full before any payout.
        refund("r2", "c2", "p-a", 800, 5),
    ];
    produce(&commissions, &messages(&first))
        .await
        .expect("produced");
    let lines = "SELECT count() FROM commissions FINAL";
    assert_eq!(wait_count(&db, lines, 6, WAIT).await.expect("lines"), 6);

    // Pay the period ending on day 40: c1 (c2 reversed, c3 held) and c4.
    let run = [
        "payout",
        "run",
        "--program",
        "acme",
        "--period-end",
        &iso(40),
        "--minimum",
        "5.00",
        "--actor",
        "fin",
    ];
    let (ok, out) = ledger_command(&env, &run).expect("runs");
    assert!(ok, "{out}");
    assert!(out.contains("payouts for this period: 2"), "{out}");
    let payouts = "SELECT count() FROM payouts FINAL";
    let items = "SELECT count() FROM payout_items FINAL";
    assert_eq!(
        (
            count(&db, payouts).await.expect("n"),
            count(&db, items).await.expect("n")
        ),
        (2, 2)
    );
    // The same period again: nothing new.
    let (ok, out) = ledger_command(&env, &run).expect("runs");
    assert!(ok && out.contains("0 payout(s) created"), "{out}");
    assert_eq!(
        (
            count(&db, payouts).await.expect("n"),
            count(&db, items).await.expect("n")
        ),
        (2, 2)
    );

    // Reviews are validated; a held commission is approved.
    let (ok, out) =
        ledger_command(&env, &["review", "approve", "--commission", "c1"]).expect("runs");
    assert!(
        !ok && out.contains("only held commissions are reviewed"),
        "{out}"
    );
    let (ok, out) =
        ledger_command(&env, &["review", "approve", "--commission", "nope"]).expect("runs");
    assert!(!ok && out.contains("nope is not in commissions"), "{out}");
    let (ok, out) =
        ledger_command(&env, &["review", "approve", "--commission", "c3"]).expect("runs");
    assert!(ok, "{out}");

    // Complete p-a's payout: c1 paid. Then c1 is refunded: clawed back from the next payout.
    let pa: String = db
        .query("SELECT payout_id FROM payouts FINAL WHERE partner_id = 'p-a'")
        .fetch_one()
        .await
        .expect("p-a payout");
    // Only a principal granted payouts, with its own key, completes one; the refusals are
    // recorded outcomes and the payout stays created.
    let complete = ["payout", "complete", "--payout", pa.as_str()];
    let (ok, out) =
        ledger_command(&signing_as(&env, "reviewer", REVIEWER_KEY), &complete).expect("runs");
    assert!(
        !ok && out.contains("principal `reviewer` may not issue payout_complete"),
        "{out}"
    );
    let (ok, out) =
        ledger_command(&signing_as(&env, "ops", REVIEWER_KEY), &complete).expect("runs");
    assert!(!ok && out.contains("signature does not match"), "{out}");
    let (ok, out) =
        ledger_command(&signing_as(&env, "mallory", REVIEWER_KEY), &complete).expect("runs");
    assert!(!ok && out.contains("unknown principal `mallory`"), "{out}");
    let mut unsigned = env.clone();
    unsigned.remove("LEDGER_COMMAND_PRINCIPAL");
    unsigned.remove("LEDGER_COMMAND_KEY");
    let (ok, out) = ledger_command(&unsigned, &complete).expect("runs");
    assert!(!ok && out.contains("set LEDGER_COMMAND_PRINCIPAL"), "{out}");
    let refused = count(
        &db,
        "SELECT count() FROM ledger_commands FINAL WHERE kind = 'payout_complete' AND accepted = 0 AND detail LIKE 'refused:%'",
    )
    .await
    .expect("n");
    assert_eq!(refused, 3, "each refusal is on the record");
    let status: String = db
        .query("SELECT status FROM payouts FINAL WHERE payout_id = ?")
        .bind(pa.as_str())
        .fetch_one()
        .await
        .expect("payout");
    assert_eq!(status, "created", "a refused command changes nothing");
    // The reviewer may do what it was granted.
    let (ok, out) = ledger_command(
        &signing_as(&env, "reviewer", REVIEWER_KEY),
        &["review", "approve", "--commission", "c3"],
    )
    .expect("runs");
    assert!(!ok && out.contains("only held commissions"), "{out}");

    let (ok, out) = ledger_command(&env, &complete).expect("runs");
    assert!(ok, "{out}");
    let (ok, out) = ledger_command(&env, &complete).expect("runs");
    assert!(!ok && out.contains("already completed"), "{out}");
    // Entries carry the authenticated principal, then the person named.
    let actors: Vec<String> = db
        .query("SELECT DISTINCT actor FROM ledger_entries FINAL WHERE to_status = 'paid'")
        .fetch_all()
        .await
        .expect("actors");
    assert!(
        !actors.is_empty() && actors.iter().all(|a| a.starts_with("ops")),
        "{actors:?}"
    );
    let later = vec![
        refund("r1", "c1", "p-a", 1_000, 45),
        decision("c7", "p-a", 1_500, Decision::Payable, 41),
    ];
    produce(&commissions, &messages(&later))
        .await
        .expect("produced");
    assert_eq!(wait_count(&db, lines, 8, WAIT).await.expect("lines"), 8);
    let status: String = db
        .query("SELECT status FROM commissions FINAL WHERE commission_id = 'c1'")
        .fetch_one()
        .await
        .expect("c1");
    assert_eq!(status, "reversed", "paid, then refunded in full");
    let (ok, out) = ledger_command(
        &env,
        &[
            "payout",
            "run",
            "--program",
            "acme",
            "--period-end",
            &iso(80),
        ],
    )
    .expect("runs");
    assert!(ok, "{out}");
    // p-a nets c7 against the clawback: 15.00 - 10.00.
    let (net, n): (i64, u32) = db
        .query("SELECT amount_minor, item_count FROM payouts FINAL WHERE partner_id = 'p-a' AND status = 'created'")
        .fetch_one()
        .await
        .expect("netted payout");
    assert_eq!((net, n), (500, 2));

    // Reconciliation, with the documented queries, exact to the minor unit.
    let totals: Vec<(String, String, String)> = db
        .query(&format!(
            "SELECT payout_id, toString(amount), toString(difference) FROM ({})",
            documented_query("reconciliation_payout_totals")
        ))
        .fetch_all()
        .await
        .expect("reconciliation");
    assert_eq!(totals.len(), 3);
    assert!(
        totals
            .iter()
            .all(|(_, _, diff)| diff == "0" || diff == "0.0000"),
        "{totals:?}"
    );
    let twice: Vec<String> = db
        .query(&format!(
            "SELECT commission_id FROM ({})",
            documented_query("reconciliation_paid_once")
        ))
        .fetch_all()
        .await
        .expect("paid once");
    assert!(twice.is_empty(), "{twice:?}");
    let by_status: Vec<(String, String, u64, String)> = db
        .query(&format!(
            "SELECT status, line_kind, lines, toString(amount) FROM ({}) ORDER BY status, line_kind",
            documented_query("totals_by_status")
        ))
        .fetch_all()
        .await
        .expect("totals");
    let got: BTreeMap<(String, String), (u64, String)> = by_status
        .into_iter()
        .map(|(s, k, n, a)| ((s, k), (n, a)))
        .collect();
    let want: BTreeMap<(String, String), (u64, String)> = [
        (("approved", "commission"), (3, "40.0000")), // c3 (review), c4, c7
        (("approved", "refund"), (1, "-10.0000")),    // r1, the clawback
        (("reversed", "commission"), (3, "21.0000")), // c1 (clawed back), c2, c5
        (("reversed", "refund"), (1, "-8.0000")),     // r2
    ]
    .into_iter()
    .map(|((s, k), (n, a))| ((s.to_string(), k.to_string()), (n, a.to_string())))
    .collect();
    assert_eq!(got, want);
    for name in [
        "partner_statement",
        "payout_trace",
        "payout_trace_touchpoints",
        "risk_summary",
        "performance_by_channel",
    ] {
        db.query(&format!("SELECT count() FROM ({})", documented_query(name)))
            .fetch_one::<u64>()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    // The partner-safe database mirrors the money tables, without personal data, reason codes
    // or internal actors and notes.
    let partner_db = ledger_writer::store::migrations::partner_database(&database_for(&ns));
    let forbidden: Vec<(String, String)> = db
        .query(
            "SELECT table, name FROM system.columns WHERE database = ? AND name IN \
             ('customer_id', 'visitor_id', 'click_id', 'ip_hash', 'ip_prefix', 'user_agent', \
              'referrer', 'url', 'event_id', 'attribution_key', 'decision_reasons', \
              'reason_codes', 'reason_details', 'actor', 'note', 'cause', 'command_id')",
        )
        .bind(partner_db.as_str())
        .fetch_all()
        .await
        .expect("columns");
    assert!(forbidden.is_empty(), "{forbidden:?}");
    for table in ["commissions", "ledger_entries", "payouts", "payout_items"] {
        let source = count(&db, &format!("SELECT count() FROM {table} FINAL"))
            .await
            .expect("n");
        let mirrored = count(
            &db,
            &format!("SELECT count() FROM `{partner_db}`.{table} FINAL"),
        )
        .await
        .expect("n");
        assert_eq!((table, mirrored), (table, source));
    }

    // Finance: every entry is on the topic; de-duplicated on entry_id it equals ClickHouse.
    let entries_in_ch = count(&db, "SELECT count() FROM ledger_entries FINAL")
        .await
        .expect("n");
    let topic = format!("{ns}.ledger.entries.v1");
    let read = consume_until(&topic, WAIT, |m| m.len() as u64 >= entries_in_ch).expect("read");
    let ids: BTreeSet<String> = read
        .iter()
        .map(|m| {
            schemas::decode::<LedgerEntry>(tests::payload(m))
                .expect("entry")
                .entry_id
        })
        .collect();
    assert_eq!(ids.len() as u64, entries_in_ch);

    // Payouts: each change is on the payouts topic, keyed by partner; the latest of each
    // equals ClickHouse's, amount and items exact, and the completed one was created first.
    let in_ch: Vec<(String, String, String, i64, u32)> = db
        .query("SELECT payout_id, partner_id, status, amount_minor, item_count FROM payouts FINAL ORDER BY payout_id")
        .fetch_all()
        .await
        .expect("payouts");
    let changes_in_ch = count(&db, "SELECT count() FROM payouts").await.expect("n");
    let read = consume_until(&format!("{ns}.ledger.payouts.v1"), WAIT, |m| {
        m.len() as u64 >= changes_in_ch
    })
    .expect("read");
    let mut latest: BTreeMap<String, schemas::ledger_state::Payout> = BTreeMap::new();
    let mut seen: BTreeSet<(String, &'static str)> = BTreeSet::new();
    for m in &read {
        let p: schemas::ledger_state::Payout =
            schemas::decode(tests::payload(m)).expect("a payout");
        assert_eq!(
            rdkafka::Message::key(m),
            Some(p.partner_id.as_bytes()),
            "keyed by partner"
        );
        seen.insert((p.payout_id.clone(), p.status.as_str()));
        let newer = latest
            .get(&p.payout_id)
            .is_none_or(|known| known.version <= p.version);
        if newer {
            latest.insert(p.payout_id.clone(), p);
        }
    }
    let on_topic: Vec<(String, String, String, i64, u32)> = latest
        .values()
        .map(|p| {
            (
                p.payout_id.clone(),
                p.partner_id.clone(),
                p.status.as_str().to_string(),
                p.items.iter().map(|i| i.amount_minor).sum(),
                p.items.len() as u32,
            )
        })
        .collect();
    assert_eq!(on_topic, in_ch, "the payouts topic agrees with ClickHouse");
    assert!(
        seen.contains(&(pa.clone(), "created")) && seen.contains(&(pa.clone(), "completed")),
        "{seen:?}"
    );
    service.terminate(Duration::from_secs(30)).expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_batch_and_a_restart_leave_exactly_one_row_per_id() {
    require_broker();
    let ns = unique_namespace("ledgerkill");
    let env = env_for(&ns);
    let db = clickhouse(&database_for(&ns));
    // 2,400 commissions over 40 partners and 300 days, a quarter refunded (half in part).
    let mut input = Vec::new();
    for i in 0..2_400_i64 {
        let partner = format!("p-{:02}", i % 40);
        let d = i / 8;
        let kind = match i % 10 {
            0 => Decision::Held,
            1 => Decision::Reversed,
            _ => Decision::Payable,
        };
        input.push(decision(&format!("c{i}"), &partner, 100 + i, kind, d));
        if i % 4 == 3 {
            let part = if i % 8 == 3 { 100 + i } else { 50 };
            input.push(refund(
                &format!("r{i}"),
                &format!("c{i}"),
                &partner,
                part,
                d + 2,
            ));
        }
    }
    // A last decision per partner on day 400 brings every partition's clock to the same day,
    // so the approvals do not depend on which partners share a partition.
    for p in 0..40 {
        input.push(decision(
            &format!("z{p}"),
            &format!("p-{p:02}"),
            1,
            Decision::Payable,
            400,
        ));
    }
    // The expected ledger: the pure state machine over the same decisions.
    let mut pure = Ledger::default();
    let mut want_entries = BTreeSet::new();
    for d in &input {
        let mut fx = Effects::default();
        pure.apply_decision(d, Utc::now(), &mut fx).expect("valid");
        want_entries.extend(fx.entries.into_iter().map(|e| e.entry_id));
    }
    let topic = format!("{ns}.commissions.v1");
    tests::create_topics(&[&topic]).await.expect("topic");
    produce(&topic, &messages(&input)).await.expect("produced");

    let mut service = ServiceProcess::start(&binary("ledger-writer"), &[], &env).expect("starts");
    wait_for_schema(&db, WAIT).await.expect("migrated");
    let lines = input.len() as u64;
    let seen = wait_count(&db, "SELECT count() FROM commissions", lines / 4, WAIT)
        .await
        .expect("progress");
    assert!(seen >= lines / 4, "only {seen} rows before the kill");
    service.kill_hard();
    // The killed member leaves the group only when its session expires.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mut service = ServiceProcess::start(&binary("ledger-writer"), &[], &env).expect("restarts");
    let final_lines = "SELECT count() FROM commissions FINAL";
    assert_eq!(
        wait_count(&db, final_lines, lines, WAIT * 2)
            .await
            .expect("lines"),
        lines
    );
    let want = want_entries.len() as u64;
    let entries = wait_count(&db, "SELECT count() FROM ledger_entries FINAL", want, WAIT)
        .await
        .expect("entries");
    assert_eq!(entries, want);
    let unique = count(&db, "SELECT uniqExact(entry_id) FROM ledger_entries FINAL")
        .await
        .expect("n");
    assert_eq!(unique, want, "exactly one row per entry id");
    let ids: Vec<String> = db
        .query("SELECT entry_id FROM ledger_entries FINAL ORDER BY entry_id")
        .fetch_all()
        .await
        .expect("ids");
    let want_ids: Vec<String> = want_entries.into_iter().collect();
    assert_eq!(
        ids, want_ids,
        "the same entries as the pure ledger, none missing, none extra"
    );
    // Current state equals the pure ledger's, line by line.
    let states: Vec<(String, String, i64)> = db
        .query("SELECT commission_id, status, amount_minor FROM commissions FINAL")
        .fetch_all()
        .await
        .expect("states");
    for (id, status, amount) in states {
        let line = pure.line(&id).expect("known line");
        assert_eq!(
            status,
            ledger_writer::ledger::status_name(line.status),
            "{id}"
        );
        assert_eq!(amount, line.amount_minor, "{id}");
    }
    service.terminate(Duration::from_secs(30)).expect("stops");
}
