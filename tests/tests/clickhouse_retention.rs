//! Retention of personal analytics data on the real ClickHouse (18.16, scheduled mutations):
//! rows older than the retention lose the person — touchpoints deleted; conversions,
//! attributions and evidence keep their money and ids — while newer rows and the ledger
//! are untouched.

use std::time::Duration;

use tests::ledger::{clickhouse, clickhouse_config, count, database_for};
use tests::unique_namespace;

async fn settle(db: &clickhouse::Client, database: &str) {
    for _ in 0..200 {
        let pending: u64 = db
            .query("SELECT count() FROM system.mutations WHERE database = ? AND is_done = 0")
            .bind(database)
            .fetch_one()
            .await
            .expect("mutations");
        if pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("mutations did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_personal_rows_lose_the_person_and_money_and_new_rows_stay() {
    let database = database_for(&unique_namespace("retention"));
    let server = clickhouse_config().server().expect("client");
    ledger_writer::store::migrations::migrate(&server, &database)
        .await
        .expect("migrated");
    let db = clickhouse(&database);
    for sql in [
        "INSERT INTO touchpoints (event_id, program_id, kind, occurred_at, occurred_at_ms, visitor_id, customer_id, attribution_key, resolved_by, channel, enriched_at) VALUES \
         ('t-old', 'p', 'click', now() - INTERVAL 40 DAY, 0, 'v-old', 'c-old', 'p/v-old', 'link', 'referral', now()), \
         ('t-new', 'p', 'click', now() - INTERVAL 2 DAY, 0, 'v-new', 'c-new', 'p/v-new', 'link', 'referral', now())",
        "INSERT INTO conversions (event_id, program_id, kind, order_id, occurred_at, occurred_at_ms, customer_id, visitor_id, amount_minor, amount, currency, channel) VALUES \
         ('e-old', 'p', 'conversion', 'o-old', now() - INTERVAL 40 DAY, 0, 'c-old', 'v-old', 1999, 19.99, 'EUR', 'referral'), \
         ('e-new', 'p', 'conversion', 'o-new', now() - INTERVAL 2 DAY, 0, 'c-new', 'v-new', 500, 5, 'EUR', 'referral')",
        "INSERT INTO attributions (attribution_id, kind, program_id, order_id, event_id, attribution_key, customer_id, occurred_at, attributed_at, amount_minor, amount, currency, model, outcome, commission_total_minor, late_touchpoints) VALUES \
         ('a-old', 'conversion', 'p', 'o-old', 'e-old', 'p/v-old', 'c-old', now() - INTERVAL 40 DAY, now(), 1999, 19.99, 'EUR', 'last_touch', 'attributed', 200, 0)",
        "INSERT INTO attribution_evidence (attribution_id, touchpoint_id, kind, occurred_at, click_id, attribution_window) VALUES \
         ('a-old', 't-old', 'click', now() - INTERVAL 40 DAY, 'gclid-old', 'click')",
        "INSERT INTO ledger_entries (entry_id, commission_id, attribution_id, program_id, partner_id, order_id, to_status, entry_kind, amount_minor, amount, currency, cause, actor, effective_at, effective_at_ms, recorded_at) VALUES \
         ('ent-old', 'com-old', 'a-old', 'p', 'pa', 'o-old', 'pending', 'commission', 200, 2, 'EUR', 'attribution', 'attributor', now() - INTERVAL 40 DAY, 0, now())",
    ] {
        db.query(sql).execute().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    let changed = ledger_writer::store::retention::apply(&db, 30)
        .await
        .expect("retention");
    settle(&db, &database).await;
    let rows = |table: &str| changed.iter().find(|(t, _)| t == table).map(|(_, n)| *n);
    assert_eq!(rows("touchpoints"), Some(1), "{changed:?}");
    assert_eq!(rows("conversions"), Some(1), "{changed:?}");

    let n = |sql: &'static str| count(&db, sql);
    assert_eq!(
        n("SELECT count() FROM touchpoints WHERE event_id = 't-old'")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        n("SELECT count() FROM touchpoints WHERE event_id = 't-new' AND customer_id = 'c-new'")
            .await
            .unwrap(),
        1
    );
    assert_eq!(n("SELECT count() FROM conversions WHERE event_id = 'e-old' AND customer_id IS NULL AND visitor_id IS NULL AND amount_minor = 1999").await.unwrap(), 1, "the old order keeps its money, not its person");
    assert_eq!(
        n("SELECT count() FROM conversions WHERE event_id = 'e-new' AND customer_id = 'c-new'")
            .await
            .unwrap(),
        1
    );
    assert_eq!(n("SELECT count() FROM attributions WHERE attribution_id = 'a-old' AND customer_id IS NULL AND attribution_key = '' AND commission_total_minor = 200").await.unwrap(), 1);
    assert_eq!(n("SELECT count() FROM attribution_evidence WHERE attribution_id = 'a-old' AND click_id IS NULL").await.unwrap(), 1);
    assert_eq!(
        n("SELECT count() FROM ledger_entries WHERE entry_id = 'ent-old' AND amount_minor = 200")
            .await
            .unwrap(),
        1,
        "the ledger is kept"
    );

    // Run again: nothing left to change, and no empty mutations queued.
    let again = ledger_writer::store::retention::apply(&db, 30)
        .await
        .expect("retention");
    assert!(again.iter().all(|(_, n)| *n == 0), "{again:?}");
}
