//! Versioned schema migrations, applied on start.
//!
//! Each migration is a file of statements that are idempotent on their own (`CREATE … IF NOT
//! EXISTS`; an `ALTER TABLE … ADD COLUMN` whose column already exists counts as applied), so
//! several instances starting at once may all apply it: the statements do
//! nothing the second time and the version row they record merges into one. A version is
//! recorded only after all of its statements ran.

use clickhouse::Client;
use runtime::RuntimeError;

/// One migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version, in order.
    pub version: u32,
    /// File name.
    pub name: &'static str,
    /// SQL text; statements end with `;`.
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_initial.sql",
        sql: include_str!("../../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "0002_entry_sequence.sql",
        sql: include_str!("../../migrations/0002_entry_sequence.sql"),
    },
    Migration {
        version: 3,
        name: "0003_partner_database.sql",
        sql: include_str!("../../migrations/0003_partner_database.sql"),
    },
    Migration {
        version: 4,
        name: "0004_privacy_requests.sql",
        sql: include_str!("../../migrations/0004_privacy_requests.sql"),
    },
    Migration {
        version: 5,
        name: "0005_api_tokens.sql",
        sql: include_str!("../../migrations/0005_api_tokens.sql"),
    },
    Migration {
        version: 6,
        name: "0006_partner_claims.sql",
        sql: include_str!("../../migrations/0006_partner_claims.sql"),
    },
    Migration {
        version: 7,
        name: "0007_partner_read_keys.sql",
        sql: include_str!("../../migrations/0007_partner_read_keys.sql"),
    },
    Migration {
        version: 8,
        name: "0008_partner_facts.sql",
        sql: include_str!("../../migrations/0008_partner_facts.sql"),
    },
    Migration {
        version: 9,
        name: "0009_webhook_attempts.sql",
        sql: include_str!("../../migrations/0009_webhook_attempts.sql"),
    },
    Migration {
        version: 10,
        name: "0010_specialist_trust.sql",
        sql: include_str!("../../migrations/0010_specialist_trust.sql"),
    },
];

/// The partner-safe database beside `database` (migration 0003): partner-facing readers are
/// granted this one only.
pub fn partner_database(database: &str) -> String {
    format!("{database}_partner")
}

/// `statement` with `{database}` and `{partner_database}` filled in (statements that name
/// another database than the client's).
fn bind_databases(statement: &str, database: &str) -> String {
    statement
        .replace("{partner_database}", &partner_database(database))
        .replace("{database}", database)
}

/// The statements of a migration file: comment lines dropped, split on `;`.
pub fn statements(sql: &str) -> Vec<String> {
    let text: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn sink_error(what: &str, e: clickhouse::error::Error) -> RuntimeError {
    RuntimeError::Sink {
        store: "clickhouse",
        detail: format!("{what}: {}", runtime::clickhouse::describe(&e)),
    }
}

fn adds_a_column(statement: &str) -> bool {
    let upper = statement.to_ascii_uppercase();
    upper.starts_with("ALTER TABLE") && upper.contains("ADD COLUMN")
}

/// Creates `database` if needed and applies every migration not recorded yet. Returns the
/// versions applied now.
pub async fn migrate(server: &Client, database: &str) -> Result<Vec<u32>, RuntimeError> {
    server
        .query(&format!("CREATE DATABASE IF NOT EXISTS `{database}`"))
        .execute()
        .await
        .map_err(|e| sink_error("create database", e))?;
    let client = server.clone().with_database(database);
    // The first migration creates this table, so it is created ahead of reading it.
    let first = statements(MIGRATIONS[0].sql);
    client
        .query(&first[0])
        .execute()
        .await
        .map_err(|e| sink_error("create schema_migrations", e))?;
    let applied: Vec<u32> = client
        .query("SELECT version FROM schema_migrations FINAL ORDER BY version")
        .fetch_all()
        .await
        .map_err(|e| sink_error("read schema_migrations", e))?;
    let mut now_applied = Vec::new();
    for m in MIGRATIONS {
        if applied.contains(&m.version) {
            continue;
        }
        for statement in statements(m.sql) {
            let statement = bind_databases(&statement, database);
            match client.query(&statement).execute().await {
                Ok(()) => {}
                // Another instance added it first (18.16 has no ADD COLUMN IF NOT EXISTS).
                Err(e) if adds_a_column(&statement) && e.to_string().contains("already exists") => {
                }
                Err(e) => return Err(sink_error(m.name, e)),
            }
        }
        client
            .query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, now())")
            .bind(m.version)
            .bind(m.name)
            .execute()
            .await
            .map_err(|e| sink_error("record migration", e))?;
        tracing::info!(version = m.version, name = m.name, "Migration applied.");
        now_applied.push(m.version);
    }
    Ok(now_applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_files_split_into_statements_and_start_with_the_version_table() {
        let s = statements(MIGRATIONS[0].sql);
        assert!(s[0].starts_with("CREATE TABLE IF NOT EXISTS schema_migrations"));
        assert!(s
            .iter()
            .all(|st| st.starts_with("CREATE TABLE IF NOT EXISTS")));
        assert_eq!(s.len(), 15);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "versions are consecutive");
        }
        let partner = statements(MIGRATIONS[2].sql);
        let bound = bind_databases(&partner[1], "attrib");
        assert!(bound.contains("`attrib_partner`.commissions"), "{bound}");
        assert!(bound.contains("FROM `attrib`.commissions"), "{bound}");
        assert!(!bound.contains("decision_reasons"), "{bound}");
    }
}
