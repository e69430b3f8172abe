//! Least privilege on the real ClickHouse of the local stack: the analyst reads everything and
//! writes nothing; the partner-facing reader reads the partner-safe database
//! (`attrib_partner`, made by migration 0003 beside the default database `attrib`) and nothing
//! else; the partner API runs as its own user, which reaches only that database. Users and
//! passwords come from `deploy/local/stack.sh` (`env-secure`).

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

/// The partner API serves statements and takes claims as `partner_api`, a user that cannot
/// even read the analytics database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partner_api_runs_as_a_user_of_the_partner_database_only() {
    let secure = secure_env().expect("deploy/local/stack.sh env-secure");
    let owner = clickhouse_config().server().expect("client");
    ledger_writer::store::migrations::migrate(&owner, "attrib")
        .await
        .expect("migrations");
    let password = &secure["CLICKHOUSE_PARTNER_API_PASSWORD"];
    let api_user = as_user("partner_api", password);
    let e = api_user
        .query("SELECT count() FROM attrib.commissions")
        .fetch_one::<u64>()
        .await
        .expect_err("the analytics database is not the API's");
    assert!(e.to_string().contains("Access denied"), "{e}");

    // An operator's user issues the token (the command applies migrations).
    let mut env: std::collections::HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CLICKHOUSE_") || k == "PATH")
        .collect();
    env.insert("CLICKHOUSE_DATABASE".into(), "attrib".into());
    let partner = tests::unique_namespace("p");
    let out = std::process::Command::new(tests::binary("partner-api"))
        .args([
            "token",
            "issue",
            "--program",
            "users-check",
            "--partner",
            &partner,
        ])
        .args(["--actor", "ops@test"])
        .env_clear()
        .envs(&env)
        .output()
        .expect("partner-api runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("token")
        .trim()
        .to_string();

    let port = tests::free_port();
    env.insert("CLICKHOUSE_USER".into(), "partner_api".into());
    env.insert("CLICKHOUSE_PASSWORD".into(), password.clone());
    env.insert(
        "PARTNER_API_LISTEN_ADDR".into(),
        format!("127.0.0.1:{port}"),
    );
    env.insert("ADMIN_LISTEN_ADDR".into(), "127.0.0.1:0".into());
    let _api =
        tests::ServiceProcess::start(&tests::binary("partner-api"), &[], &env).expect("API starts");
    let base = format!("http://127.0.0.1:{port}/v1/programs/users-check/partners/{partner}");
    let started = std::time::Instant::now();
    let statement = loop {
        match tests::http::get(&format!("{base}/statement"), Some(&token)).await {
            Ok(answer) if answer.status != 503 => break answer,
            _ if started.elapsed() < std::time::Duration::from_secs(60) => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            other => panic!("the API did not serve: {other:?}"),
        }
    };
    assert_eq!(statement.status, 200, "{}", statement.text);
    for path in ["performance", "risk", "payouts"] {
        let answer = tests::http::get(&format!("{base}/{path}"), Some(&token))
            .await
            .expect("answer");
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
    let claim = tests::http::post(
        &format!("{base}/claims"),
        Some(&token),
        r#"{"order_id": "o-nobody-knows"}"#,
    )
    .await
    .expect("answer");
    assert_eq!(
        claim.status, 202,
        "an unknown order is recorded for review: {}",
        claim.text
    );
}
