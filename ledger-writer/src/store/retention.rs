//! Retention of personal analytics data in ClickHouse (data class "personal analytics",
//! `CLICKHOUSE_PERSONAL_RETENTION_DAYS`): TTLs on current servers (`retention/ttl.sql`), and
//! on 18.16, which has none, the same effect by scheduled mutations
//! (`retention/scheduled.sql`). Ledger and payout tables are not touched: finance keeps them.

use clickhouse::Client;
use runtime::RuntimeError;

const TTL_SQL: &str = include_str!("../../retention/ttl.sql");
const SCHEDULED_SQL: &str = include_str!("../../retention/scheduled.sql");

/// The TTL statements for `days` (current servers; applied once, idempotent).
pub fn ttl_statements(days: u32) -> Vec<String> {
    super::migrations::statements(TTL_SQL)
        .into_iter()
        .map(|s| s.replace("{days}", &days.to_string()))
        .collect()
}

/// (count, mutation) pairs for `days` (18.16; run on a schedule, each mutation only when its
/// count finds rows).
pub fn scheduled_statements(days: u32) -> Vec<(String, String)> {
    let days = days.to_string();
    let mut pairs = Vec::new();
    let mut count = None;
    for line in SCHEDULED_SQL.lines().map(str::trim) {
        if let Some(query) = line.strip_prefix("-- count:") {
            count = Some(query.trim().trim_end_matches(';').replace("{days}", &days));
        } else if line.starts_with("ALTER TABLE") {
            let statement = line.trim_end_matches(';').replace("{days}", &days);
            if let Some(query) = count.take() {
                pairs.push((query, statement));
            }
        }
    }
    pairs
}

/// Whether a server of `version` (`SELECT version()`) has table and column TTLs.
pub fn has_ttl(version: &str) -> bool {
    version
        .split('.')
        .next()
        .and_then(|major| major.trim().parse::<u32>().ok())
        .is_some_and(|major| major >= 20)
}

fn sink_error(what: &str, e: clickhouse::error::Error) -> RuntimeError {
    RuntimeError::Sink {
        store: "clickhouse",
        detail: format!("{what}: {}", runtime::clickhouse::describe(&e)),
    }
}

/// Applies retention once on `db`: sets the TTLs (current servers) or runs the due mutations
/// (18.16). Returns the rows each scheduled mutation changed (empty with TTLs).
pub async fn apply(db: &Client, days: u32) -> Result<Vec<(String, u64)>, RuntimeError> {
    let version: String = db
        .query("SELECT version()")
        .fetch_one()
        .await
        .map_err(|e| sink_error("version", e))?;
    if has_ttl(&version) {
        for statement in ttl_statements(days) {
            db.query(&statement)
                .execute()
                .await
                .map_err(|e| sink_error("retention TTL", e))?;
        }
        return Ok(Vec::new());
    }
    let mut changed = Vec::new();
    for (count, statement) in scheduled_statements(days) {
        let rows: u64 = db
            .query(&count)
            .fetch_one()
            .await
            .map_err(|e| sink_error("retention count", e))?;
        if rows > 0 {
            db.query(&statement)
                .execute()
                .await
                .map_err(|e| sink_error("retention mutation", e))?;
        }
        let table = statement
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_string();
        changed.push((table, rows));
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_cover_the_same_personal_tables_and_never_the_ledger() {
        let ttl = ttl_statements(30);
        let scheduled = scheduled_statements(30);
        assert_eq!(scheduled.len(), 4);
        for table in [
            "touchpoints",
            "conversions",
            "attributions",
            "attribution_evidence",
        ] {
            assert!(
                ttl.iter().any(|s| s.contains(&format!("TABLE {table} "))),
                "{table}"
            );
            assert!(
                scheduled
                    .iter()
                    .any(|(_, s)| s.contains(&format!("TABLE {table} "))),
                "{table}"
            );
        }
        for s in ttl.iter().chain(scheduled.iter().map(|(_, s)| s)) {
            assert!(s.contains("INTERVAL 30 DAY"), "{s}");
            for kept in ["commissions", "ledger_entries", "payouts", "payout_items"] {
                assert!(!s.contains(&format!("TABLE {kept} ")), "{s}");
            }
            assert!(!s.contains("amount"), "money is never expired: {s}");
        }
        assert!(scheduled
            .iter()
            .all(|(c, _)| c.starts_with("SELECT count()")));
    }

    #[test]
    fn ttl_is_used_from_clickhouse_20() {
        assert!(!has_ttl("18.16.1"));
        assert!(has_ttl("20.3.2.1"));
        assert!(has_ttl("26.9.2.1"));
        assert!(!has_ttl("garbage"));
    }
}
