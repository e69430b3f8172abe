//! Commands people run against a running ledger: payouts, their settlement, reviews.
//!
//! Each command is checked against ClickHouse first (so a typo gets a clear error at once),
//! published to the commands topic (a payout run to every partition, the rest to the
//! partition of the partner they concern), and then the outcome the ledger recorded in
//! `ledger_commands` is printed. The ledger is the authority: it validates again and records
//! a rejection with its reason.

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

/// The commands people run against the ledger.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum LedgerCli {
    /// Create the ClickHouse database and apply the schema migrations, then exit
    Migrate,
    /// Check that every payout equals the sum of its items and nothing is paid twice (exit 1
    /// if not)
    Reconcile,
    /// Run a payout for a period, or settle one
    #[command(subcommand)]
    Payout(PayoutCli),
    /// Decide a held commission
    #[command(subcommand)]
    Review(ReviewCli),
    /// Reverse any commission by hand (a paid one is clawed back from the next payout)
    Reverse {
        /// The commission id
        #[arg(long)]
        commission: String,
        /// Why (required)
        #[arg(long)]
        note: String,
        #[command(flatten)]
        actor: Actor,
    },
}

/// `payout …`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum PayoutCli {
    /// Pay every partner of a program, per currency, the commissions approved by the period
    /// end (smaller or negative balances carry forward); running it twice creates nothing
    Run {
        /// The program id
        #[arg(long)]
        program: String,
        /// The period's end, RFC 3339 (e.g. 2026-10-31T23:59:59Z); must have passed
        #[arg(long, value_name = "RFC3339")]
        period_end: String,
        /// Smallest balance paid, in the currency's major unit (e.g. 50.00); less carries
        /// forward
        #[arg(long)]
        minimum: Option<String>,
        #[command(flatten)]
        actor: Actor,
    },
    /// Settle a created payout as paid: its items become paid
    Complete {
        /// The payout id
        #[arg(long)]
        payout: String,
        /// A note for the record
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        actor: Actor,
    },
    /// Settle a created payout as failed: its items return to the pool
    Fail {
        /// The payout id
        #[arg(long)]
        payout: String,
        /// Why (required)
        #[arg(long)]
        note: String,
        #[command(flatten)]
        actor: Actor,
    },
}

/// `review …`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ReviewCli {
    /// Approve a held commission: it continues to approval
    Approve(Review),
    /// Reverse a held commission
    Reverse(Review),
}

/// A review's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Review {
    /// The commission id
    #[arg(long)]
    commission: String,
    /// A note for the record
    #[arg(long)]
    note: Option<String>,
    #[command(flatten)]
    actor: Actor,
}

/// Who issues a command.
#[derive(Debug, Clone, clap::Args)]
pub struct Actor {
    /// Who issues the command (default: $USER)
    #[arg(long)]
    actor: Option<String>,
}

/// A command line problem or a refused command: the message is for the person.
#[derive(Debug)]
pub struct CliError(pub String);

impl From<RuntimeError> for CliError {
    fn from(e: RuntimeError) -> Self {
        CliError(e.to_string())
    }
}

fn ch(e: clickhouse::error::Error) -> CliError {
    CliError(format!("clickhouse: {}", runtime::clickhouse::describe(&e)))
}

/// Builds the ledger command a command line asks for (no I/O); `words` are the arguments as
/// typed, which with the time make the command's id (each invocation is its own command).
pub fn parse(
    line: &LedgerCli,
    words: &[String],
    now: DateTime<Utc>,
) -> Result<LedgerCommand, CliError> {
    let blank = |kind, actor: &Actor, note: &Option<String>| LedgerCommand {
        command_id: String::new(),
        kind,
        actor: actor
            .actor
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "cli".into()),
        issued_at: now,
        program_id: None,
        period_end: None,
        minimum_payout: None,
        payout_id: None,
        commission_id: None,
        partner_id: None,
        note: note.clone(),
        principal: None,
        signature: None,
    };
    let mut c = match line {
        LedgerCli::Migrate | LedgerCli::Reconcile => {
            return Err(CliError(format!("{line:?} is not a ledger command")))
        }
        LedgerCli::Payout(PayoutCli::Run {
            program,
            period_end,
            minimum,
            actor,
        }) => {
            let end = DateTime::parse_from_rfc3339(period_end)
                .map_err(|e| CliError(format!("--period-end {period_end:?} is not RFC 3339: {e}")))?
                .with_timezone(&Utc);
            if end > now {
                return Err(CliError(format!(
                    "--period-end {end} is in the future: only time that has passed can be paid"
                )));
            }
            LedgerCommand {
                program_id: Some(program.clone()),
                period_end: Some(end),
                minimum_payout: minimum.clone(),
                ..blank(CommandKind::PayoutRun, actor, &None)
            }
        }
        LedgerCli::Payout(PayoutCli::Complete {
            payout,
            note,
            actor,
        }) => LedgerCommand {
            payout_id: Some(payout.clone()),
            ..blank(CommandKind::PayoutComplete, actor, note)
        },
        LedgerCli::Payout(PayoutCli::Fail {
            payout,
            note,
            actor,
        }) => LedgerCommand {
            payout_id: Some(payout.clone()),
            ..blank(CommandKind::PayoutFail, actor, &Some(note.clone()))
        },
        LedgerCli::Review(review) => {
            let (kind, r) = match review {
                ReviewCli::Approve(r) => (CommandKind::ReviewApprove, r),
                ReviewCli::Reverse(r) => (CommandKind::ReviewReverse, r),
            };
            LedgerCommand {
                commission_id: Some(r.commission.clone()),
                ..blank(kind, &r.actor, &r.note)
            }
        }
        LedgerCli::Reverse {
            commission,
            note,
            actor,
        } => LedgerCommand {
            commission_id: Some(commission.clone()),
            ..blank(CommandKind::ManualReverse, actor, &Some(note.clone()))
        },
    };
    let issued = now.timestamp_nanos_opt().unwrap_or_default().to_string();
    c.command_id = deterministic_id("cmd", &[c.kind.as_str(), &words.join("\u{1f}"), &issued]);
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

/// Runs one ledger command; returns what to print.
pub async fn run(
    config: &LedgerConfig,
    line: &LedgerCli,
    words: &[String],
) -> Result<String, CliError> {
    let mut command = parse(line, words, Utc::now())?;
    let Some((principal, key)) = &config.command_signer else {
        return Err(CliError(
            "set LEDGER_COMMAND_PRINCIPAL and LEDGER_COMMAND_KEY: the ledger refuses unsigned commands".into(),
        ));
    };
    let kafka = &config.common.kafka;
    runtime::service::create_topics(kafka, &crate::app::topics(&config.common.topics)).await?;
    let partitions = runtime::service::partition_count(kafka, &config.common.topics.commissions)?;
    let server = crate::store::connect(&config.clickhouse)?;
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
    // Signed last: the routing partner is part of what the signature covers.
    crate::authority::sign(&mut command, principal, key.expose());
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
    let db = crate::store::connect(&config.clickhouse)?.with_database(&config.clickhouse.database);
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

    #[derive(Debug, clap::Parser)]
    struct Line {
        #[command(subcommand)]
        command: LedgerCli,
    }

    fn parse_line(text: &str, now: DateTime<Utc>) -> Result<LedgerCommand, String> {
        use clap::Parser;
        let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        let line =
            Line::try_parse_from(std::iter::once("ledger-writer".to_string()).chain(words.clone()))
                .map_err(|e| e.to_string())?;
        parse(&line.command, &words, now).map_err(|e| e.0)
    }

    #[test]
    fn command_lines_become_commands_with_clear_errors() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .single()
            .expect("valid");
        let c = parse_line(
            "payout run --program acme --period-end 2026-10-31T23:59:59Z --minimum 50 --actor ann",
            now,
        )
        .expect("valid");
        assert_eq!(c.kind, CommandKind::PayoutRun);
        assert_eq!(c.actor, "ann");
        assert_eq!(c.minimum_payout.as_deref(), Some("50"));
        for (line, says) in [
            ("payout run --program acme", "--period-end <RFC3339>"),
            (
                "payout run --program acme --period-end 2027-01-01T00:00:00Z",
                "in the future",
            ),
            (
                "payout run --program acme --period-end yesterday",
                "not RFC 3339",
            ),
            ("payout fail --payout pay-1", "--note <NOTE>"),
            ("reverse --commission com-1", "--note <NOTE>"),
            ("review approve --commission", "a value is required"),
            ("payout pay", "unrecognized subcommand 'pay'"),
        ] {
            let err = parse_line(line, now).expect_err(line);
            assert!(err.contains(says), "{line}: {err}");
        }
        let a = parse_line("review approve --commission com-1", now).expect("valid");
        let b = parse_line(
            "review approve --commission com-1",
            now + chrono::Duration::seconds(1),
        )
        .expect("valid");
        assert_eq!(a.commission_id.as_deref(), Some("com-1"));
        assert_ne!(
            a.command_id, b.command_id,
            "each invocation is its own command"
        );
    }
}
