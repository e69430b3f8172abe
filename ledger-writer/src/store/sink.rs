//! The batched ClickHouse writer: rows are buffered per table while a batch is processed and
//! inserted (RowBinary over HTTP) before the batch's offsets are stored. Inserts are
//! idempotent in query results (ReplacingMergeTree on deterministic ids, read with FINAL),
//! so a batch re-read after a crash writes the same rows again harmlessly.

use std::time::{Duration, Instant};

use clickhouse::{Client, Row, RowOwned, RowWrite};
use prometheus::{HistogramVec, IntCounterVec};
use runtime::clickhouse::ClickHouseConfig;
use runtime::RuntimeError;
use serde::Serialize;

use super::rows::{
    AttributionRow, ClaimRow, CommandRow, CommissionRow, ConversionRow, CreditRow, DeadLetterRow,
    EntryRow, EvidenceRow, LosingClaimRow, PayoutItemRow, PayoutRow, RiskLevelRow, RiskScoreRow,
    ShadowCreditRow, SpecialistTrustRow, TouchpointRow, VerificationRow, WebhookAttemptRow,
};

/// Attempts per insert before the loop gives up (and the batch is re-read after a restart).
const ATTEMPTS: u32 = 4;

/// A client for the server (no database selected: migrations create it), over HTTP or HTTPS
/// as `CLICKHOUSE_URL` says.
pub fn connect(config: &ClickHouseConfig) -> Result<Client, RuntimeError> {
    config.server().map_err(|e| RuntimeError::Sink {
        store: "ClickHouse",
        detail: e.to_string(),
    })
}

/// Insert metrics.
#[derive(Debug, Clone)]
pub struct SinkMetrics {
    /// Rows written per table.
    pub rows: IntCounterVec,
    /// Insert latency per table.
    pub insert_seconds: HistogramVec,
    /// Failed insert attempts per table.
    pub insert_errors: IntCounterVec,
}

/// One table's buffered rows.
#[derive(Debug)]
pub struct Table<R> {
    name: String,
    rows: Vec<R>,
}

impl<R> Table<R>
where
    R: Row + RowOwned + RowWrite + Serialize + Send + Sync,
{
    fn new(name: impl Into<String>) -> Table<R> {
        Table {
            name: name.into(),
            rows: Vec::new(),
        }
    }

    /// Buffers a row.
    pub fn push(&mut self, row: R) {
        self.rows.push(row);
    }

    /// Rows buffered.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Nothing buffered.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    async fn insert_once(&self, client: &Client) -> Result<(), clickhouse::error::Error> {
        let mut insert = client.insert::<R>(&self.name).await?;
        for row in &self.rows {
            insert.write(row).await?;
        }
        insert.end().await
    }

    async fn flush(&mut self, client: &Client, metrics: &SinkMetrics) -> Result<(), RuntimeError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            match self.insert_once(client).await {
                Ok(()) => {
                    metrics
                        .insert_seconds
                        .with_label_values(&[&self.name])
                        .observe(started.elapsed().as_secs_f64());
                    metrics
                        .rows
                        .with_label_values(&[&self.name])
                        .inc_by(self.rows.len() as u64);
                    self.rows.clear();
                    return Ok(());
                }
                Err(e) => {
                    metrics.insert_errors.with_label_values(&[&self.name]).inc();
                    if attempt >= ATTEMPTS {
                        return Err(RuntimeError::Sink {
                            store: "clickhouse",
                            detail: format!(
                                "insert into {} failed {attempt} times, last: {}",
                                self.name,
                                runtime::clickhouse::describe(&e)
                            ),
                        });
                    }
                    tracing::warn!(table = %self.name, attempt, error = %runtime::clickhouse::describe(&e), "ClickHouse insert failed; retrying.");
                    tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                }
            }
        }
    }
}

/// Every table's buffer.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct Sink {
    client: Client,
    /// The partner database (claims are the partner API's own table there).
    partner_client: Client,
    metrics: SinkMetrics,
    pub touchpoints: Table<TouchpointRow>,
    pub conversions: Table<ConversionRow>,
    pub attributions: Table<AttributionRow>,
    pub credits: Table<CreditRow>,
    pub evidence: Table<EvidenceRow>,
    pub losing_claims: Table<LosingClaimRow>,
    pub shadow_credits: Table<ShadowCreditRow>,
    pub risk_scores: Table<RiskScoreRow>,
    pub risk_levels: Table<RiskLevelRow>,
    pub commissions: Table<CommissionRow>,
    pub entries: Table<EntryRow>,
    pub payouts: Table<PayoutRow>,
    pub payout_items: Table<PayoutItemRow>,
    pub commands: Table<CommandRow>,
    pub dead_letters: Table<DeadLetterRow>,
    pub webhook_attempts: Table<WebhookAttemptRow>,
    pub claims: Table<ClaimRow>,
    pub specialists: Table<SpecialistTrustRow>,
    pub verification: Table<VerificationRow>,
}

impl Sink {
    /// A sink writing to `database` through `client`.
    pub fn new(client: &Client, database: &str, metrics: SinkMetrics) -> Sink {
        Sink {
            client: client.clone().with_database(database),
            partner_client: client
                .clone()
                .with_database(super::migrations::partner_database(database)),
            metrics,
            touchpoints: Table::new("touchpoints"),
            conversions: Table::new("conversions"),
            attributions: Table::new("attributions"),
            credits: Table::new("attribution_credits"),
            evidence: Table::new("attribution_evidence"),
            losing_claims: Table::new("attribution_losing_claims"),
            shadow_credits: Table::new("attribution_shadow_credits"),
            risk_scores: Table::new("risk_scores"),
            risk_levels: Table::new("risk_levels"),
            commissions: Table::new("commissions"),
            entries: Table::new("ledger_entries"),
            payouts: Table::new("payouts"),
            payout_items: Table::new("payout_items"),
            commands: Table::new("ledger_commands"),
            dead_letters: Table::new("dead_letters"),
            webhook_attempts: Table::new("webhook_attempts"),
            claims: Table::new("partner_claims"),
            specialists: Table::new("trust_specialists"),
            verification: Table::new("trust_verification"),
        }
    }

    /// Rows buffered over all tables.
    pub fn buffered(&self) -> usize {
        self.touchpoints.len()
            + self.conversions.len()
            + self.attributions.len()
            + self.credits.len()
            + self.evidence.len()
            + self.losing_claims.len()
            + self.shadow_credits.len()
            + self.risk_scores.len()
            + self.risk_levels.len()
            + self.commissions.len()
            + self.entries.len()
            + self.payouts.len()
            + self.payout_items.len()
            + self.commands.len()
            + self.dead_letters.len()
            + self.webhook_attempts.len()
            + self.claims.len()
            + self.specialists.len()
            + self.verification.len()
    }

    /// Inserts every buffered row. Items before their payout and entries before the lines'
    /// current state, so a reader never sees a payout without its items.
    pub async fn flush(&mut self) -> Result<(), RuntimeError> {
        let (c, m) = (&self.client, &self.metrics);
        self.touchpoints.flush(c, m).await?;
        self.conversions.flush(c, m).await?;
        self.credits.flush(c, m).await?;
        self.evidence.flush(c, m).await?;
        self.losing_claims.flush(c, m).await?;
        self.shadow_credits.flush(c, m).await?;
        self.attributions.flush(c, m).await?;
        self.risk_scores.flush(c, m).await?;
        self.risk_levels.flush(c, m).await?;
        self.entries.flush(c, m).await?;
        self.payout_items.flush(c, m).await?;
        self.payouts.flush(c, m).await?;
        self.commissions.flush(c, m).await?;
        self.dead_letters.flush(c, m).await?;
        self.webhook_attempts.flush(c, m).await?;
        self.claims.flush(&self.partner_client, m).await?;
        self.specialists.flush(&self.partner_client, m).await?;
        self.verification.flush(c, m).await?;
        self.commands.flush(c, m).await
    }
}
