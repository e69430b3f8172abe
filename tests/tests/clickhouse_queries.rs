//! The migrations and every documented query run on the CI's ClickHouse server (18.16) and on
//! current ClickHouse (embedded `chdb-core`, 26.x), through `deploy/local/check_queries.py`.

use std::process::Command;

fn check(args: &[&str]) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/local/check_queries.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs (deploy/local/install.sh installs chdb-core)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ok   query reconciliation_payout_totals"),
        "{text}"
    );
    assert!(!text.contains("FAIL"), "{text}");
}

#[test]
fn migrations_and_documented_queries_run_on_the_ci_server() {
    let db = tests::ledger::database_for(&tests::unique_namespace("queries"));
    check(&["http", &tests::ledger::clickhouse_url(), &db]);
}

#[test]
fn migrations_and_documented_queries_run_on_current_clickhouse() {
    check(&["chdb"]);
}
