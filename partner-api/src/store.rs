//! ClickHouse for the API: token look-ups (cached) and the partner-safe reads, each filtered
//! on the program and partner the caller may read.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clickhouse::Client;
use moka::sync::Cache;
use serde_json::{json, Value};

use crate::claims::{Answer, OrderRef};
use crate::queries::{self, ClaimRow, CreditRow, EvidenceRow, LineRow, ModelRow, TokenRow};
use crate::token::{Presented, Scope};
use crate::views;

/// A failure talking to ClickHouse (the API answers 503 and logs it).
#[derive(Debug)]
pub struct StoreError(pub String);

impl From<clickhouse::error::Error> for StoreError {
    fn from(e: clickhouse::error::Error) -> Self {
        StoreError(runtime::clickhouse::describe(&e))
    }
}

/// A page request: the window and where the last page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// From (inclusive).
    pub from: DateTime<Utc>,
    /// To (exclusive).
    pub to: DateTime<Utc>,
    /// After (occurred_at, commission id).
    pub after: Option<(DateTime<Utc>, String)>,
    /// Most lines.
    pub limit: u32,
}

/// What explains a page of lines: each attribution's model, the partner's credits by
/// (attribution, line) and the partner's touchpoints by attribution.
#[derive(Default)]
struct Why {
    models: HashMap<String, String>,
    credits: HashMap<(String, String), CreditRow>,
    evidence: HashMap<String, Vec<EvidenceRow>>,
}

/// The partner-safe database and a token cache.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // the client has no Debug
pub struct Store {
    client: Client,
    db: String,
    tokens: Cache<String, Option<(String, Scope)>>,
}

impl Store {
    /// A store on `database`'s partner-safe database; checked tokens are trusted for `cache`.
    pub fn new(client: Client, database: &str, cache: Duration) -> Store {
        Store {
            client,
            db: ledger_writer::store::migrations::partner_database(database),
            tokens: Cache::builder()
                .time_to_live(cache)
                .max_capacity(100_000)
                .build(),
        }
    }

    /// Answers when the partner database and its token table are there.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.client
            .query(&format!("SELECT count() FROM `{}`.api_tokens", self.db))
            .fetch_one::<u64>()
            .await?;
        Ok(())
    }

    /// The scope of a presented token, `None` when unknown, revoked or not matching.
    pub async fn scope_of(&self, presented: &Presented) -> Result<Option<Scope>, StoreError> {
        let cached = match self.tokens.get(&presented.id) {
            Some(entry) => entry,
            None => {
                let row: Option<TokenRow> = self
                    .client
                    .query(&queries::token(&self.db))
                    .bind(&presented.id)
                    .fetch_optional()
                    .await?;
                let entry = row.filter(|r| r.revoked == 0).and_then(|r| {
                    Scope::from_columns(&r.scope, &r.program_id, &r.partner_id)
                        .map(|scope| (r.secret_sha256, scope))
                });
                self.tokens.insert(presented.id.clone(), entry.clone());
                entry
            }
        };
        Ok(cached.and_then(|(hash, scope)| presented.matches(&hash).then_some(scope)))
    }

    /// A page of the partner's statement: totals of the window, lines with why each was
    /// credited, the partner's losing claims in the window, and the next cursor.
    pub async fn statement(
        &self,
        program: &str,
        partner: &str,
        page: &Page,
    ) -> Result<Value, StoreError> {
        let (after_at, after_id) = page
            .after
            .clone()
            .unwrap_or((DateTime::<Utc>::UNIX_EPOCH, String::new()));
        // Independent reads run at once; the evidence needs the page's attribution ids.
        let (lines, totals, losing) = tokio::try_join!(
            self.client
                .query(&queries::statement_lines(&self.db))
                .bind(program)
                .bind(partner)
                .bind(page.from.timestamp())
                .bind(page.to.timestamp())
                .bind(after_at.timestamp())
                .bind(after_at.timestamp())
                .bind(&after_id)
                .bind(page.limit)
                .fetch_all::<LineRow>(),
            self.client
                .query(&queries::statement_totals(&self.db))
                .bind(program)
                .bind(partner)
                .bind(page.from.timestamp())
                .bind(page.to.timestamp())
                .fetch_all::<queries::TotalRow>(),
            self.client
                .query(&queries::losing_claims(&self.db))
                .bind(program)
                .bind(partner)
                .bind(page.from.timestamp())
                .bind(page.to.timestamp())
                .bind(page.limit)
                .fetch_all::<queries::LosingRow>(),
        )?;
        let why = self.why(program, partner, &lines).await?;
        let next = (lines.len() == page.limit as usize)
            .then(|| {
                lines
                    .last()
                    .map(|l| cursor(l.occurred_at, &l.commission_id))
            })
            .flatten();
        Ok(json!({
            "program_id": program,
            "partner_id": partner,
            "from": page.from.to_rfc3339(),
            "to": page.to.to_rfc3339(),
            "totals": views::totals(&totals),
            "lines": lines.iter().map(|l| Self::line(&why, l)).collect::<Vec<_>>(),
            "losing_claims": losing.iter().map(views::losing_claim).collect::<Vec<_>>(),
            "next_cursor": next,
        }))
    }

    /// Each line's model, the partner's credits and the partner's touchpoints.
    async fn why(
        &self,
        program: &str,
        partner: &str,
        lines: &[LineRow],
    ) -> Result<Why, StoreError> {
        let mut ids: Vec<String> = lines.iter().map(|l| l.attribution_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let ids = &ids;
        // A credit's time is its order's, as the line's: the page's time span narrows the read.
        let (Some(first), Some(last)) = (
            lines.iter().map(|l| l.occurred_at).min(),
            lines.iter().map(|l| l.occurred_at).max(),
        ) else {
            return Ok(Why::default());
        };
        let (credits, evidence) = tokio::try_join!(
            self.client
                .query(&queries::credits(&self.db, ids))
                .bind(program)
                .bind(partner)
                .bind(first)
                .bind(last)
                .fetch_all::<CreditRow>(),
            self.client
                .query(&queries::evidence(&self.db, ids))
                .bind(partner)
                .fetch_all::<EvidenceRow>(),
        )?;
        let mut why = Why::default();
        for c in credits {
            if !c.model.is_empty() {
                why.models.insert(c.attribution_id.clone(), c.model.clone());
            }
            why.credits
                .insert((c.attribution_id.clone(), c.commission_id.clone()), c);
        }
        // Credits written before they carried the model: look those few up by id.
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !why.models.contains_key(*id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let rows: Vec<ModelRow> = self
                .client
                .query(&queries::models(&self.db, &missing))
                .bind(program)
                .fetch_all()
                .await?;
            why.models
                .extend(rows.into_iter().map(|r| (r.attribution_id, r.model)));
        }
        for e in distinct(evidence) {
            why.evidence
                .entry(e.attribution_id.clone())
                .or_default()
                .push(e);
        }
        Ok(why)
    }

    /// A line with why it was credited.
    fn line(why: &Why, l: &LineRow) -> Value {
        views::line(
            l,
            why.models.get(&l.attribution_id).map(String::as_str),
            why.credits
                .get(&(l.attribution_id.clone(), l.commission_id.clone())),
            &why.evidence
                .get(&l.attribution_id)
                .map(|v| v.iter().collect::<Vec<_>>())
                .unwrap_or_default(),
        )
    }

    /// The partner's payouts, newest first.
    pub async fn payouts(
        &self,
        program: &str,
        partner: &str,
        limit: u32,
    ) -> Result<Value, StoreError> {
        let rows: Vec<queries::PayoutRow> = self
            .client
            .query(&queries::payouts(&self.db))
            .bind(program)
            .bind(partner)
            .bind(limit)
            .fetch_all()
            .await?;
        Ok(json!({
            "program_id": program,
            "partner_id": partner,
            "payouts": rows.iter().map(views::payout).collect::<Vec<_>>(),
        }))
    }

    /// One payout traced to its lines and each line's evidence; `None` when the partner has
    /// no such payout (another partner's payout is not found, not forbidden).
    pub async fn payout(
        &self,
        program: &str,
        partner: &str,
        payout_id: &str,
    ) -> Result<Option<Value>, StoreError> {
        let payout: Option<queries::PayoutRow> = self
            .client
            .query(&queries::payout(&self.db))
            .bind(program)
            .bind(partner)
            .bind(payout_id)
            .fetch_optional()
            .await?;
        let Some(payout) = payout else {
            return Ok(None);
        };
        let lines: Vec<LineRow> = self
            .client
            .query(&queries::payout_lines(&self.db))
            .bind(program)
            .bind(partner)
            .bind(payout_id)
            .fetch_all()
            .await?;
        let why = self.why(program, partner, &lines).await?;
        let mut doc = views::payout(&payout);
        doc["program_id"] = json!(program);
        doc["partner_id"] = json!(partner);
        doc["items"] = json!(lines
            .iter()
            .map(|l| Self::line(&why, l))
            .collect::<Vec<_>>());
        Ok(Some(doc))
    }

    /// Answers a missing-commission claim from the attribution record (an order not known
    /// yet stays open for operators); [`crate::claim_log::ClaimLog::record`] records it.
    pub async fn claim(
        &self,
        program: &str,
        partner: &str,
        order: &OrderRef,
    ) -> Result<ClaimRow, StoreError> {
        let ids: Vec<String> = match order {
            OrderRef::Id(id) => {
                self.client
                    .query(&queries::orders_by_id(&self.db))
                    .bind(program)
                    .bind(id)
                    .fetch_all()
                    .await?
            }
            OrderRef::DateAmount {
                date,
                minor,
                currency,
            } => {
                self.client
                    .query(&queries::orders_by_date_amount(&self.db))
                    .bind(program)
                    .bind(date.format("%Y-%m-%d").to_string())
                    .bind(date.format("%Y-%m-%d").to_string())
                    .bind(*minor)
                    .bind(currency)
                    .fetch_all()
                    .await?
            }
        };
        let (lines, losing) = if ids.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let lines: Vec<LineRow> = self
                .client
                .query(&queries::lines_of(&self.db, &ids))
                .bind(program)
                .bind(partner)
                .fetch_all()
                .await?;
            let losing: Vec<queries::LosingRow> = self
                .client
                .query(&queries::losing_of(&self.db, &ids))
                .bind(program)
                .bind(partner)
                .fetch_all()
                .await?;
            (lines, losing)
        };
        let answer = Answer::of(!ids.is_empty(), lines, losing);
        let now = u32::try_from(Utc::now().timestamp()).unwrap_or_default();
        let id: String = random_bytes::<8>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let row = ClaimRow {
            claim_id: format!("clm-{id}"),
            program_id: program.to_string(),
            partner_id: partner.to_string(),
            order_reference: order.describe(),
            answer: answer.code().to_string(),
            detail: answer.detail().to_string(),
            status: answer.status().to_string(),
            resolution: String::new(),
            resolved_by: String::new(),
            submitted_at: now,
            updated_at: now,
        };
        Ok(row)
    }

    /// Writes version `version` of a claim.
    pub async fn write_claim(&self, row: &ClaimRow, version: u64) -> Result<(), StoreError> {
        self.client
            .query(&queries::insert_claim(&self.db))
            .bind(&row.claim_id)
            .bind(&row.program_id)
            .bind(&row.partner_id)
            .bind(&row.order_reference)
            .bind(&row.answer)
            .bind(&row.detail)
            .bind(&row.status)
            .bind(&row.resolution)
            .bind(&row.resolved_by)
            .bind(row.submitted_at)
            .bind(row.updated_at)
            .bind(version)
            .execute()
            .await?;
        Ok(())
    }

    /// The partner's claims, newest first.
    pub async fn claims(
        &self,
        program: &str,
        partner: &str,
        limit: u32,
    ) -> Result<Value, StoreError> {
        let rows: Vec<ClaimRow> = self
            .client
            .query(&queries::claims_of(&self.db))
            .bind(program)
            .bind(partner)
            .bind(limit)
            .fetch_all()
            .await?;
        Ok(json!({
            "program_id": program,
            "partner_id": partner,
            "claims": rows.iter().map(views::claim).collect::<Vec<_>>(),
        }))
    }

    /// The partner's performance in [from, to): by month and by source.
    pub async fn performance(
        &self,
        program: &str,
        partner: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Value, StoreError> {
        let (clicks, orders) = tokio::try_join!(
            self.client
                .query(&queries::clicks_by_month_and_source(&self.db))
                .bind(program)
                .bind(partner)
                .bind(from.timestamp())
                .bind(to.timestamp())
                .fetch_all::<queries::ClickGroupRow>(),
            self.client
                .query(&queries::orders_by_month_and_source(&self.db))
                .bind(program)
                .bind(partner)
                .bind(from.timestamp())
                .bind(to.timestamp())
                .bind(partner)
                .fetch_all::<queries::OrderGroupRow>(),
        )?;
        let mut doc = crate::performance::report(&clicks, &orders);
        doc["program_id"] = json!(program);
        doc["partner_id"] = json!(partner);
        doc["from"] = json!(from.to_rfc3339());
        doc["to"] = json!(to.to_rfc3339());
        Ok(doc)
    }

    /// The program's partners by risk severity (operators).
    pub async fn partners_by_risk(&self, program: &str, limit: u32) -> Result<Value, StoreError> {
        let rows: Vec<queries::PartnerRiskRow> = self
            .client
            .query(&queries::partners_by_risk(&self.db))
            .bind(program)
            .bind(limit)
            .fetch_all()
            .await?;
        Ok(json!({
            "program_id": program,
            "partners": rows.iter().map(|r| json!({
                "partner_id": r.partner_id,
                "level": r.level,
                "risk_percent": r.risk_percent,
                "scored_actions": r.scored_actions,
                "flagged_actions": r.flagged_actions,
                "updated_at": views::time(r.updated_at),
            })).collect::<Vec<_>>(),
        }))
    }

    /// A program's claims with `status`, oldest first (operators).
    pub async fn claims_with_status(
        &self,
        program: &str,
        status: &str,
    ) -> Result<Vec<ClaimRow>, StoreError> {
        Ok(self
            .client
            .query(&queries::claims_with_status(&self.db))
            .bind(program)
            .bind(status)
            .fetch_all()
            .await?)
    }

    /// One claim.
    pub async fn find_claim(&self, claim_id: &str) -> Result<Option<ClaimRow>, StoreError> {
        Ok(self
            .client
            .query(&queries::claim(&self.db))
            .bind(claim_id)
            .fetch_optional()
            .await?)
    }

    /// The partner's risk levels: its own and each SharedId's (levels and counts, never the
    /// events' reason codes).
    pub async fn risk(&self, program: &str, partner: &str) -> Result<Value, StoreError> {
        let rows: Vec<queries::RiskRow> = self
            .client
            .query(&queries::risk_levels(&self.db))
            .bind(program)
            .bind(partner)
            .fetch_all()
            .await?;
        let own = rows.iter().find(|r| r.shared_id.is_empty());
        // The reason-code snapshot covers the levels' window: it ends where they were last
        // computed (event time) and is as long as the longest.
        let window_days = rows.iter().map(|r| r.window_days).max().unwrap_or(0);
        let end = rows.iter().map(|r| r.updated_at).max().unwrap_or(0);
        let since = DateTime::<Utc>::from_timestamp(i64::from(end), 0)
            .unwrap_or_default()
            .checked_sub_signed(chrono::Duration::days(i64::from(window_days)))
            .unwrap_or_default()
            .format("%Y-%m-%d")
            .to_string();
        let reasons: Vec<queries::ReasonCountRow> = if rows.is_empty() {
            Vec::new()
        } else {
            self.client
                .query(&queries::reason_counts(&self.db))
                .bind(program)
                .bind(partner)
                .bind(&since)
                .fetch_all()
                .await?
        };
        Ok(json!({
            "program_id": program,
            "partner_id": partner,
            "partner": own.map(views::risk),
            "shared_ids": rows.iter().filter(|r| !r.shared_id.is_empty()).map(views::risk).collect::<Vec<_>>(),
            "reason_codes": views::reason_counts(&reasons, &since, window_days),
        }))
    }

    /// A specialist's own trust record in a program (`trust: null` when the trust service has
    /// none: not a specialist, or not scored yet).
    pub async fn trust(&self, program: &str, partner: &str) -> Result<Value, StoreError> {
        let rows: Vec<queries::TrustRow> = self
            .client
            .query(&queries::trust(&self.db))
            .bind(program)
            .bind(partner)
            .fetch_all()
            .await?;
        Ok(json!({
            "program_id": program,
            "partner_id": partner,
            "trust": rows.first().map(views::trust),
        }))
    }

    /// The program's listed specialists, highest score first.
    pub async fn discovery(&self, program: &str, limit: u32) -> Result<Value, StoreError> {
        let rows: Vec<queries::TrustRow> = self
            .client
            .query(&queries::discovery(&self.db))
            .bind(program)
            .bind(limit)
            .fetch_all()
            .await?;
        let specialists: Vec<Value> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut v = views::trust(r);
                v["rank"] = json!(i + 1);
                v
            })
            .collect();
        Ok(json!({"program_id": program, "specialists": specialists}))
    }
}

/// Rows read without FINAL from a table whose rows never change (a replayed insert repeats a
/// row exactly), ordered by their id, so copies are neighbours: each once.
fn distinct<T: PartialEq>(mut rows: Vec<T>) -> Vec<T> {
    rows.dedup();
    rows
}

/// `n` random bytes from the kernel.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    runtime::api_key::random_bytes::<N>()
        .map_err(|e| StoreError(format!("cannot read /dev/urandom: {e}")))
}

/// The opaque cursor after a line: hex of `<unix seconds>|<commission id>`.
pub fn cursor(occurred_at: u32, commission_id: &str) -> String {
    format!("{occurred_at}|{commission_id}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The (time, id) a cursor stands for; `None` when it is not one of ours.
pub fn parse_cursor(text: &str) -> Option<(DateTime<Utc>, String)> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    let decoded = String::from_utf8(bytes?).ok()?;
    let (at, id) = decoded.split_once('|')?;
    let at = DateTime::<Utc>::from_timestamp(at.parse().ok()?, 0)?;
    Some((at, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let c = cursor(1_780_000_000, "com|x-1");
        let (at, id) = parse_cursor(&c).expect("ours");
        assert_eq!((at.timestamp(), id.as_str()), (1_780_000_000, "com|x-1"));
        assert_eq!(parse_cursor("zz"), None);
        assert_eq!(parse_cursor("abc"), None);
        assert_eq!(parse_cursor(&"41".repeat(3)), None, "no separator");
    }
}
