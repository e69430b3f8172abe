//! Commands people run against a running ledger: payouts, their settlement, reviews.
//!
//! Each command is checked against ClickHouse first (so a typo gets a clear error at once),
//! published to the commands topic (a payout run to every partition, the rest to the
//! partition of the partner they concern), and then the outcome the ledger recorded in
//! `ledger_commands` is printed. The ledger is the authority: it validates again and records
//! a rejection with its reason.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clickhouse::{Client, Row};
use runtime::{Output, Producer, RuntimeError};
use schemas::ids::deterministic_id;
use schemas::ledger_command::{CommandKind, LedgerCommand};
use schemas::money::Currency;
use serde::Deserialize;

use crate::config::LedgerConfig;

/// Usage of the commands.
pub const USAGE: &str = "\
       ledger-writer migrate
           create the ClickHouse database and apply the schema migrations, then exit
       ledger-writer reconcile
           check every payout equals the sum of its items and nothing is paid twice (exit 1 if not)
       ledger-writer payout run --program P --period-end 2026-10-31T23:59:59Z [--minimum 50.00]
           pay every partner of P, per currency, the commissions approved by the period end
           (smaller or negative balances carry forward); running it twice creates nothing
       ledger-writer payout complete --payout ID [--note TEXT]
       ledger-writer payout fail --payout ID --note REASON
           settle a created payout: completed pays its items, failed returns them to the pool
       ledger-writer review approve|reverse --commission ID [--note TEXT]
           decide a held commission
       ledger-writer reverse --commission ID --note REASON
           reverse any commission by hand (a paid one is clawed back from the next payout)
   Every command takes --actor NAME (default: $USER) and prints the ledger's outcome.";

/// A command line problem or a refused command: the message is for the person.
#[derive(Debug)]
pub struct CliError(pub String);

impl From<RuntimeError> for CliError {
    fn from(e: RuntimeError) -> Self {
        CliError(e.to_string())
    }
}

fn ch(e: clickhouse::error::Error) -> CliError {
    CliError(format!("clickhouse: {e}"))
}

/// `--name value` pairs after the subcommand words.
fn flags(args: &[String]) -> Result<HashMap<String, String>, CliError> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(name) = it.next() {
        let Some(key) = name.strip_prefix("--") else {
            return Err(CliError(format!("unexpected argument {name:?}")));
        };
        let value = it
            .next()
            .ok_or_else(|| CliError(format!("--{key} needs a value")))?;
        out.insert(key.to_string(), value.clone());
    }
    Ok(out)
}

fn required(flags: &HashMap<String, String>, name: &str) -> Result<String, CliError> {
    flags
        .get(name)
        .cloned()
        .ok_or_else(|| CliError(format!("--{name} is required")))
}

/// Builds the command a command line asks for (no I/O).
pub fn parse(args: &[String], now: DateTime<Utc>) -> Result<LedgerCommand, CliError> {
    let words: Vec<&str> = args.iter().take(2).map(String::as_str).collect();
    let (kind, rest) = match words.as_slice() {
        ["payout", "run", ..] => (CommandKind::PayoutRun, &args[2..]),
        ["payout", "complete", ..] => (CommandKind::PayoutComplete, &args[2..]),
        ["payout", "fail", ..] => (CommandKind::PayoutFail, &args[2..]),
        ["review", "approve", ..] => (CommandKind::ReviewApprove, &args[2..]),
        ["review", "reverse", ..] => (CommandKind::ReviewReverse, &args[2..]),
        ["reverse", ..] => (CommandKind::ManualReverse, &args[1..]),
        _ => return Err(CliError(format!("unknown command {:?}", args.join(" ")))),
    };
    let f = flags(rest)?;
    let actor = f
        .get("actor")
        .cloned()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into());
    let mut c = LedgerCommand {
        command_id: String::new(),
        kind,
        actor,
        issued_at: now,
        program_id: None,
        period_end: None,
        minimum_payout: None,
        payout_id: None,
        commission_id: None,
        partner_id: None,
        note: f.get("note").cloned(),
    };
    match kind {
        CommandKind::PayoutRun => {
            c.program_id = Some(required(&f, "program")?);
            let end = required(&f, "period-end")?;
            let end = DateTime::parse_from_rfc3339(&end)
                .map_err(|e| CliError(format!("--period-end {end:?} is not RFC 3339: {e}")))?
                .with_timezone(&Utc);
            if end > now {
                return Err(CliError(format!(
                    "--period-end {end} is in the future: only time that has passed can be paid"
                )));
            }
            c.period_end = Some(end);
            c.minimum_payout = f.get("minimum").cloned();
        }
        CommandKind::PayoutComplete | CommandKind::PayoutFail => {
            c.payout_id = Some(required(&f, "payout")?);
            if kind == CommandKind::PayoutFail && c.note.is_none() {
                return Err(CliError("a failed payout needs --note REASON".into()));
            }
        }
        CommandKind::ReviewApprove | CommandKind::ReviewReverse | CommandKind::ManualReverse => {
            c.commission_id = Some(required(&f, "commission")?);
            if kind == CommandKind::ManualReverse && c.note.is_none() {
                return Err(CliError("a manual reversal needs --note REASON".into()));
            }
        }
    }
    let issued = now.timestamp_nanos_opt().unwrap_or_default().to_string();
    c.command_id = deterministic_id("cmd", &[kind.as_str(), &args.join("\u{1f}"), &issued]);
    Ok(c)
}

#[derive(Debug, Row, Deserialize)]
struct Owner {
    partner_id: String,
    status: String,
}

#[derive(Debug, Row, Deserialize)]
struct Outcome {
    source_partition: i32,
    accepted: u8,
    detail: String,
}

#[derive(Debug, Row, Deserialize)]
struct PayoutLine {
    payout_id: String,
    partner_id: String,
    currency: String,
    amount_minor: i64,
    item_count: u32,
    status: String,
}

/// Money for people: `12.34 EUR`.
pub fn money(minor: i64, currency: &str) -> String {
    match Currency::from_code(currency) {
        Some(c) => format!("{} {currency}", c.from_minor(minor)),
        None => format!("{minor} minor units {currency}"),
    }
}

async fn owner(db: &Client, table: &str, id_column: &str, id: &str) -> Result<Owner, CliError> {
    let rows: Vec<Owner> = db
        .query(&format!(
            "SELECT partner_id, status FROM {table} FINAL WHERE {id_column} = ? LIMIT 1"
        ))
        .bind(id)
        .fetch_all()
        .await
        .map_err(ch)?;
    rows.into_iter().next().ok_or_else(|| {
        CliError(format!(
            "{id} is not in {table}: check the id (the ledger may not have caught up yet)"
        ))
    })
}

/// Runs one command line; returns what to print.
pub async fn run(config: &LedgerConfig, args: &[String]) -> Result<String, CliError> {
    let mut command = parse(args, Utc::now())?;
    let kafka = &config.common.kafka;
    runtime::service::create_topics(kafka, &crate::app::topics(&config.common.topics)).await?;
    let partitions = runtime::service::partition_count(kafka, &config.common.topics.commissions)?;
    let server = crate::store::connect(&config.clickhouse);
    crate::store::migrations::migrate(&server, &config.clickhouse.database).await?;
    let db = server.clone().with_database(&config.clickhouse.database);
    // Route to the partition that owns the partner, refusing what cannot apply.
    match command.kind {
        CommandKind::PayoutRun => {}
        CommandKind::PayoutComplete | CommandKind::PayoutFail => {
            let id = command.payout_id.clone().unwrap_or_default();
            let o = owner(&db, "payouts", "payout_id", &id).await?;
            if o.status != "created" {
                return Err(CliError(format!("payout {id} is already {}", o.status)));
            }
            command.partner_id = Some(o.partner_id);
        }
        _ => {
            let id = command.commission_id.clone().unwrap_or_default();
            let o = owner(&db, "commissions", "commission_id", &id).await?;
            command.partner_id = Some(o.partner_id);
        }
    }
    let topic: Arc<str> = Arc::from(config.common.topics.ledger_commands.as_str());
    let payload = schemas::encode(&command).map_err(|e| CliError(e.to_string()))?;
    let outputs: Vec<Output> = match &command.partner_id {
        Some(partner) => vec![Output::keyed(
            Arc::clone(&topic),
            Some(partner.clone().into_bytes()),
            payload,
        )],
        None => (0..partitions)
            .map(|p| Output {
                topic: Arc::clone(&topic),
                key: command.program_id.clone().map(String::into_bytes),
                partition: Some(p),
                payload: Some(payload.clone()),
            })
            .collect(),
    };
    let expected = outputs.len();
    let producer = Producer::new(&config.common.kafka, "ledger-cli")?;
    producer.send_all(&outputs).await?;
    // Wait for every partition that got it to record its outcome.
    let started = Instant::now();
    let outcomes = loop {
        let rows: Vec<Outcome> = db
            .query("SELECT source_partition, accepted, detail FROM ledger_commands FINAL WHERE command_id = ? ORDER BY source_partition")
            .bind(command.command_id.as_str())
            .fetch_all()
            .await
            .map_err(ch)?;
        if rows.len() >= expected {
            break rows;
        }
        if started.elapsed() > config.command_wait {
            return Err(CliError(format!(
                "command {} was published, but {} of {expected} partition(s) recorded an outcome within {:?}: is ledger-writer running? (it applies the command when it gets to it)",
                command.command_id,
                rows.len(),
                config.command_wait
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut out = format!(
        "command {} ({})\n",
        command.command_id,
        command.kind.as_str()
    );
    let mut refused = Vec::new();
    for o in &outcomes {
        let verdict = if o.accepted == 1 {
            "accepted"
        } else {
            "REJECTED"
        };
        out.push_str(&format!(
            "  partition {}: {verdict}: {}\n",
            o.source_partition, o.detail
        ));
        if o.accepted == 0 {
            refused.push(o.detail.clone());
        }
    }
    if command.kind == CommandKind::PayoutRun {
        let payouts: Vec<PayoutLine> = db
            .query("SELECT payout_id, partner_id, currency, amount_minor, item_count, status FROM payouts FINAL WHERE program_id = ? AND period_end = ? ORDER BY partner_id, currency")
            .bind(command.program_id.as_deref().unwrap_or_default())
            .bind(command.period_end.map(crate::store::rows::secs).unwrap_or_default())
            .fetch_all()
            .await
            .map_err(ch)?;
        out.push_str(&format!("payouts for this period: {}\n", payouts.len()));
        for p in payouts {
            out.push_str(&format!(
                "  {}  {:<16} {:>14}  {} item(s)  {}\n",
                p.payout_id,
                p.partner_id,
                money(p.amount_minor, &p.currency),
                p.item_count,
                p.status
            ));
        }
    }
    if refused.is_empty() {
        Ok(out)
    } else {
        Err(CliError(out))
    }
}

/// A documented query from `queries/ledger.sql`, by its `-- name:`, without its comment lines
/// and final `;` (ready to nest as a subquery).
pub fn documented_query(name: &str) -> Option<String> {
    let text = include_str!("../queries/ledger.sql");
    let marker = format!("-- name: {name}\n");
    let start = text.find(&marker)? + marker.len();
    let body = &text[start..];
    let end = body.find("-- name: ").unwrap_or(body.len());
    let sql = body[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    Some(sql.trim().trim_end_matches(';').to_string())
}

/// `ledger-writer reconcile`: runs the documented reconciliation queries (every payout equals
/// the sum of its items; no commission in two live payouts). `Err` names what failed, so a
/// scheduled job (Kubernetes CronJob) fails visibly and the `LedgerReconciliationFailed`
/// alert fires.
pub async fn reconcile(config: &LedgerConfig) -> Result<String, CliError> {
    let db = crate::store::connect(&config.clickhouse).with_database(&config.clickhouse.database);
    let totals = documented_query("reconciliation_payout_totals").unwrap_or_default();
    let paid_once = documented_query("reconciliation_paid_once").unwrap_or_default();
    let count = |sql: String| {
        let db = db.clone();
        async move { db.query(&sql).fetch_one::<u64>().await.map_err(ch) }
    };
    let payouts = count(format!("SELECT count() FROM ({totals})")).await?;
    let unequal = count(format!(
        "SELECT count() FROM ({totals}) WHERE difference != 0"
    ))
    .await?;
    let twice = count(format!("SELECT count() FROM ({paid_once})")).await?;
    if unequal > 0 || twice > 0 {
        return Err(CliError(format!(
            "reconciliation FAILED in {}: {unequal} of {payouts} payout(s) differ from the sum of their items, \
             {twice} commission(s) are in more than one live payout (queries reconciliation_payout_totals, \
             reconciliation_paid_once in queries/ledger.sql)\n",
            config.clickhouse.database
        )));
    }
    Ok(format!(
        "reconciliation ok in {}: {payouts} payout(s) equal the sum of their items, no commission paid twice\n",
        config.clickhouse.database
    ))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn command_lines_become_commands_with_clear_errors() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .single()
            .expect("valid");
        let c = parse(&args("payout run --program acme --period-end 2026-10-31T23:59:59Z --minimum 50 --actor ann"), now)
            .expect("valid");
        assert_eq!(c.kind, CommandKind::PayoutRun);
        assert_eq!(c.actor, "ann");
        assert_eq!(c.minimum_payout.as_deref(), Some("50"));
        for (line, says) in [
            ("payout run --program acme", "--period-end is required"),
            (
                "payout run --program acme --period-end 2027-01-01T00:00:00Z",
                "in the future",
            ),
            (
                "payout run --program acme --period-end yesterday",
                "not RFC 3339",
            ),
            ("payout fail --payout pay-1", "needs --note"),
            ("reverse --commission com-1", "needs --note"),
            ("review approve --commission", "needs a value"),
            ("payout pay", "unknown command"),
        ] {
            let err = parse(&args(line), now).expect_err(line).0;
            assert!(err.contains(says), "{line}: {err}");
        }
        let a = parse(&args("review approve --commission com-1"), now).expect("valid");
        let b = parse(
            &args("review approve --commission com-1"),
            now + chrono::Duration::seconds(1),
        )
        .expect("valid");
        assert_ne!(
            a.command_id, b.command_id,
            "each invocation is its own command"
        );
    }
}
