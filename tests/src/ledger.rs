//! Ledger test helpers: commission decisions, ClickHouse reads, the documented queries, and
//! running `ledger-writer` commands.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use chrono::{DateTime, TimeZone, Utc};
use clickhouse::Client;
use schemas::commission::{CommissionKind, Decision};
use schemas::CommissionDecision;

/// The ClickHouse every test and tool reaches: the `CLICKHOUSE_*` variables the services read
/// (`deploy/local/stack.sh env`; the defaults are the local stack's).
pub fn clickhouse_config() -> runtime::clickhouse::ClickHouseConfig {
    runtime::clickhouse::ClickHouseConfig::from_process()
        .unwrap_or_else(|e| panic!("the CLICKHOUSE_* settings: {e}"))
}

/// The ClickHouse URL (`CLICKHOUSE_URL`).
pub fn clickhouse_url() -> String {
    clickhouse_config().url
}

/// A ClickHouse database name for a test namespace.
pub fn database_for(namespace: &str) -> String {
    let cleaned: String = namespace
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("db_{cleaned}")
}

/// A client on `database`, with the configured URL, credentials and CA.
pub fn clickhouse(database: &str) -> Client {
    clickhouse_config()
        .server()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_database(database)
}

/// One `UInt64` from a query.
pub async fn count(db: &Client, sql: &str) -> Result<u64> {
    Ok(db.query(sql).fetch_one::<u64>().await?)
}

/// Polls `sql` until it returns at least `want` or `deadline` passes; returns the last value.
pub async fn wait_count(db: &Client, sql: &str, want: u64, deadline: Duration) -> Result<u64> {
    let started = Instant::now();
    loop {
        let n = count(db, sql).await.unwrap_or(0);
        if n >= want || started.elapsed() > deadline {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A documented query from `ledger-writer/queries/ledger.sql`, by name.
pub fn documented_query(name: &str) -> String {
    ledger_writer::cli::documented_query(name).expect("query is documented")
}

/// Day `n` of the test calendar (2026-01-01 + n days), long past.
pub fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid")
        + chrono::Duration::days(n)
}

/// A payable (or held, or reversed) EUR commission decided on `d`, held 30 days.
pub fn decision(
    id: &str,
    partner: &str,
    minor: i64,
    decision: Decision,
    d: i64,
) -> CommissionDecision {
    CommissionDecision {
        commission_id: id.into(),
        attribution_id: format!("att-{id}"),
        kind: CommissionKind::Commission,
        reverses_commission_id: None,
        program_id: "acme".into(),
        partner_id: partner.into(),
        shared_id: None,
        order_id: format!("order-{id}"),
        amount_minor: minor,
        currency: "EUR".into(),
        rule_id: Some("default".into()),
        chain_id: None,
        chain_seq: None,
        decision,
        decision_reasons: vec![],
        risk_level: None,
        hold_until: day(d + 30),
        occurred_at: day(d),
        decided_at: day(d),
    }
}

/// A refund of `minor` of commission `of`, decided on `d`.
pub fn refund(id: &str, of: &str, partner: &str, minor: i64, d: i64) -> CommissionDecision {
    CommissionDecision {
        kind: CommissionKind::Reversal,
        reverses_commission_id: Some(of.into()),
        hold_until: day(d),
        ..decision(id, partner, -minor, Decision::Payable, d)
    }
}

/// Encoded `(partner key, decision)` messages for the commissions topic.
pub fn messages(decisions: &[CommissionDecision]) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    decisions
        .iter()
        .map(|d| {
            (
                Some(d.partner_id.clone().into_bytes()),
                schemas::encode(d).expect("encodes"),
            )
        })
        .collect()
}

/// Runs `ledger-writer ARGS` with `env`; returns (success, stdout + stderr).
pub fn ledger_command(env: &HashMap<String, String>, args: &[&str]) -> Result<(bool, String)> {
    let out = Command::new(crate::binary("ledger-writer"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

/// Waits until ledger-writer has migrated `database`.
pub async fn wait_for_schema(db: &Client, deadline: Duration) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if count(db, "SELECT count() FROM schema_migrations FINAL")
            .await
            .unwrap_or(0)
            >= 1
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("ledger-writer did not migrate ClickHouse within {deadline:?}")
}

/// The ledger-writer's config from a map, failing loudly on invalid settings.
pub fn ledger_config(env: &HashMap<String, String>) -> ledger_writer::config::LedgerConfig {
    let mut reader = runtime::Env::from_map(env.clone());
    let config = ledger_writer::config::LedgerConfig::from_env(&mut reader).expect("valid config");
    reader.finish().expect("valid config");
    config
}
