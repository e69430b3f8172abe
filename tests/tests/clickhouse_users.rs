//! Least privilege on the real ClickHouse of the local stack: the analyst reads everything and
//! writes nothing; the partner-facing reader reads the partner-safe database
//! (`attrib_partner`, made by migration 0003 beside the default database `attrib`) and nothing
//! else. Users and passwords come from `deploy/local/stack.sh` (`env-secure`).

use tests::ledger::clickhouse_config;
use tests::secure::secure_env;

fn as_user(user: &str, password: &str) -> clickhouse::Client {
    let mut config = clickhouse_config();
    config.user = user.into();
    config.password = runtime::Secret::new(password);
    config.server().expect("client")
}

async fn refusal(client: &clickhouse::Client, sql: &str) -> String {
    match client.query(sql).execute().await {
        Ok(()) => panic!("{sql}: allowed, must be refused"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysts_only_read_and_partner_readers_only_see_the_partner_database() {
    let secure = secure_env().expect("deploy/local/stack.sh env-secure");
    // The default database and its partner-safe twin, as a production deploy has them.
    let owner = clickhouse_config().server().expect("client");
    let applied = ledger_writer::store::migrations::migrate(&owner, "attrib").await;
    applied.expect("migrations");
    let analyst = as_user("analyst", &secure["CLICKHOUSE_ANALYST_PASSWORD"]);
    let n: u64 = analyst
        .query("SELECT count() FROM attrib.schema_migrations")
        .fetch_one()
        .await
        .expect("the analyst reads the analytics database");
    assert!(n >= 3, "{n} migrations");
    analyst
        .query("SELECT count() FROM attrib_partner.commissions")
        .fetch_one::<u64>()
        .await
        .expect("and the partner database");
    let e = refusal(
        &analyst,
        "INSERT INTO attrib.ledger_commands (command_id) VALUES ('x')",
    )
    .await;
    assert!(e.contains("readonly"), "{e}");
    let e = refusal(&analyst, "DROP TABLE attrib.ledger_commands").await;
    assert!(e.contains("readonly"), "{e}");
    let e = refusal(&analyst, "CREATE DATABASE analyst_was_here").await;
    assert!(e.contains("readonly"), "{e}");

    let partner = as_user(
        "partner_reader",
        &secure["CLICKHOUSE_PARTNER_READER_PASSWORD"],
    );
    for table in [
        "commissions",
        "payouts",
        "payout_items",
        "ledger_entries",
        "risk_levels",
    ] {
        partner
            .query(&format!("SELECT count() FROM attrib_partner.{table}"))
            .fetch_one::<u64>()
            .await
            .unwrap_or_else(|e| panic!("partner_reader reads attrib_partner.{table}: {e}"));
    }
    for table in [
        "commissions",
        "touchpoints",
        "risk_scores",
        "ledger_commands",
    ] {
        let e = partner
            .query(&format!("SELECT count() FROM attrib.{table}"))
            .fetch_one::<u64>()
            .await
            .expect_err("the analytics database is not the partner's");
        assert!(e.to_string().contains("Access denied"), "{table}: {e}");
    }
    let e = refusal(
        &partner,
        "INSERT INTO attrib_partner.payout_items (payout_id) VALUES ('x')",
    )
    .await;
    assert!(e.contains("readonly"), "{e}");
    let e = refusal(&as_user("partner_reader", "wrong-password"), "SELECT 1").await;
    assert!(
        e.contains("password") || e.contains("Authentication"),
        "{e}"
    );
}
