//! What each endpoint reads (pure: SQL text and row types, no I/O).
//!
//! Every query names the partner-safe database (`<db>_partner`) and filters on the program and
//! partner the path names — after the token was checked against them — so isolation holds in
//! the query itself, not only in the handler. Evidence and losing claims are filtered on the
//! partner too: an attribution's other partners never appear. `?` are bound by the client
//! (escaped literals: the 18.16 server has no query parameters).
//!
//! FINAL (merge versions at read time) only where rows change: commissions, payouts, claims,
//! tokens, risk levels. Attributions, credits, evidence and losing claims never change once
//! written — a replay writes the same row again — so those reads skip FINAL's merge and the
//! store drops the repeated copies.

use clickhouse::Row;
use serde::Deserialize;

/// A statement line (a commission line of the partner).
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct LineRow {
    /// Line id.
    pub commission_id: String,
    /// `commission`, `reversal`, `clawback`, ...
    pub line_kind: String,
    /// The line it reverses ('' when none).
    pub of_commission_id: String,
    /// Attribution.
    pub attribution_id: String,
    /// Order.
    pub order_id: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Rule ('' when none).
    pub rule_id: String,
    /// Ledger status.
    pub status: String,
    /// When the order happened (Unix seconds).
    pub occurred_at: u32,
    /// Held until (Unix seconds).
    pub hold_until: u32,
    /// Payout ('' when none).
    pub payout_id: String,
}

/// Columns of [`LineRow`] from `statement_lines` (the partner's lines by time).
const LINE_COLUMNS: &str =
    "commission_id, line_kind, ifNull(of_commission_id, '') AS of_commission_id, \
    attribution_id, order_id, amount_minor, currency, ifNull(rule_id, '') AS rule_id, status, \
    toUInt32(occurred_at) AS occurred_at, toUInt32(hold_until) AS hold_until, \
    ifNull(payout_id, '') AS payout_id";

/// One page of a partner's lines with `occurred_at` in [from, to), after the cursor
/// (occurred_at, commission_id); binds: program, partner, from, to, cursor time (twice),
/// cursor id, limit.
pub fn statement_lines(db: &str) -> String {
    format!(
        "SELECT {LINE_COLUMNS} FROM `{db}`.statement_lines FINAL \
         WHERE program_id = ? AND partner_id = ? \
         AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?) \
         AND (occurred_at > toDateTime(?) OR (occurred_at = toDateTime(?) AND commission_id > ?)) \
         ORDER BY occurred_at, commission_id LIMIT ?"
    )
}

/// Totals of a partner's lines in [from, to) by currency and status; binds: program, partner,
/// from, to.
pub fn statement_totals(db: &str) -> String {
    format!(
        "SELECT currency, status, count() AS lines, sum(amount_minor) AS amount_minor \
         FROM `{db}`.statement_lines FINAL \
         WHERE program_id = ? AND partner_id = ? \
         AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?) \
         GROUP BY currency, status ORDER BY currency, status"
    )
}

/// A total of one currency and status.
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct TotalRow {
    /// ISO 4217.
    pub currency: String,
    /// Ledger status.
    pub status: String,
    /// Lines.
    pub lines: u64,
    /// Sum in minor units.
    pub amount_minor: i64,
}

/// The model of an attribution.
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct ModelRow {
    /// Attribution.
    pub attribution_id: String,
    /// Model.
    pub model: String,
}

/// The models of `ids` in the program, for credits written before they carried it (migration
/// 8); bind: program.
pub fn models(db: &str, ids: &[String]) -> String {
    format!(
        "SELECT attribution_id, model FROM `{db}`.attributions_by_id \
         WHERE program_id = ? AND attribution_id IN {}",
        runtime::clickhouse::list(ids)
    )
}

/// The partner's credit in an attribution: share and the touchpoints it came from.
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct CreditRow {
    /// Attribution.
    pub attribution_id: String,
    /// Line.
    pub commission_id: String,
    /// Share of the order (decimal string).
    pub share: String,
    /// Touchpoints credited.
    pub touchpoint_ids: Vec<String>,
    /// The attribution's model ('' on credits written before migration 8).
    pub model: String,
}

/// The partner's credits in `ids`, whose orders happened in [from, to] (one narrow range:
/// sorted by program, partner, time); binds: program, partner, from, to.
pub fn credits(db: &str, ids: &[String]) -> String {
    format!(
        "SELECT attribution_id, commission_id, toString(share) AS share, touchpoint_ids, model \
         FROM `{db}`.credits_by_partner \
         WHERE program_id = ? AND partner_id = ? \
         AND occurred_at >= toDateTime(?) AND occurred_at <= toDateTime(?) AND attribution_id IN {}",
        runtime::clickhouse::list(ids)
    )
}

/// One touchpoint of the partner's evidence.
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct EvidenceRow {
    /// Attribution.
    pub attribution_id: String,
    /// Touchpoint.
    pub touchpoint_id: String,
    /// `click`, `page_view`, `code`, ...
    pub kind: String,
    /// When (Unix seconds).
    pub occurred_at: u32,
    /// Link ('' when none).
    pub link_id: String,
    /// Code ('' when none).
    pub code: String,
    /// Landing domain ('' when none).
    pub landing_domain: String,
    /// Channel ('' when none).
    pub channel: String,
    /// UTM source.
    pub utm_source: String,
    /// UTM medium.
    pub utm_medium: String,
    /// UTM campaign.
    pub utm_campaign: String,
    /// The window the touchpoint was inside of.
    pub attribution_window: String,
}

/// The partner's touchpoints in `ids` (never another partner's); bind: partner.
pub fn evidence(db: &str, ids: &[String]) -> String {
    format!(
        "SELECT attribution_id, touchpoint_id, kind, toUInt32(occurred_at) AS occurred_at, \
         ifNull(link_id, '') AS link_id, ifNull(code, '') AS code, \
         ifNull(landing_domain, '') AS landing_domain, ifNull(channel, '') AS channel, \
         ifNull(utm_source, '') AS utm_source, ifNull(utm_medium, '') AS utm_medium, \
         ifNull(utm_campaign, '') AS utm_campaign, attribution_window \
         FROM `{db}`.statement_evidence \
         WHERE partner_id = ? AND attribution_id IN {} \
         ORDER BY attribution_id, occurred_at, touchpoint_id",
        runtime::clickhouse::list(ids)
    )
}

/// A claim of the partner that lost, and why.
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct LosingRow {
    /// Attribution.
    pub attribution_id: String,
    /// The partner's touchpoint.
    pub touchpoint_id: String,
    /// Why it lost (`outside_window`, `code_beat_link`, `self_referral`, ...).
    pub reason: String,
    /// Order.
    pub order_id: String,
    /// When the order happened (Unix seconds).
    pub occurred_at: u32,
}

/// The partner's losing claims on the program's orders in [from, to), at most `limit`;
/// binds: program, partner, from, to, limit.
pub fn losing_claims(db: &str) -> String {
    format!(
        "SELECT DISTINCT attribution_id, touchpoint_id, reason, order_id, \
         toUInt32(occurred_at) AS occurred_at FROM `{db}`.statement_losing_claims \
         WHERE program_id = ? AND partner_id = ? \
         AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?) \
         ORDER BY occurred_at, attribution_id, touchpoint_id LIMIT ?"
    )
}

/// A payout of the partner.
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct PayoutRow {
    /// Payout.
    pub payout_id: String,
    /// ISO 4217.
    pub currency: String,
    /// Lines up to this instant (Unix seconds).
    pub period_end: u32,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// Lines.
    pub item_count: u32,
    /// `created`, `completed`, `failed`.
    pub status: String,
    /// Created (Unix seconds).
    pub created_at: u32,
    /// Settled (Unix seconds, 0 when not yet).
    pub settled_at: u32,
}

const PAYOUT_COLUMNS: &str =
    "payout_id, currency, toUInt32(period_end) AS period_end, amount_minor, \
    item_count, status, toUInt32(created_at) AS created_at, \
    toUInt32(ifNull(settled_at, toDateTime(0))) AS settled_at";

/// The partner's payouts, newest first; binds: program, partner, limit.
pub fn payouts(db: &str) -> String {
    format!(
        "SELECT {PAYOUT_COLUMNS} FROM `{db}`.payouts FINAL \
         WHERE program_id = ? AND partner_id = ? ORDER BY created_at DESC, payout_id LIMIT ?"
    )
}

/// One payout of the partner; binds: program, partner, payout.
pub fn payout(db: &str) -> String {
    format!(
        "SELECT {PAYOUT_COLUMNS} FROM `{db}`.payouts FINAL \
         WHERE program_id = ? AND partner_id = ? AND payout_id = ?"
    )
}

/// The lines a payout paid, as the ledger holds them now; binds: program, partner, payout.
pub fn payout_lines(db: &str) -> String {
    format!(
        "SELECT {LINE_COLUMNS} FROM `{db}`.statement_lines FINAL \
         WHERE program_id = ? AND partner_id = ? AND commission_id IN \
         (SELECT commission_id FROM `{db}`.payout_items WHERE payout_id = ?) \
         ORDER BY occurred_at, commission_id"
    )
}

/// A risk level of the partner or one of its SharedIds.
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct RiskRow {
    /// '' for the partner's own level, else the SharedId.
    pub shared_id: String,
    /// `low` … `critical`.
    pub level: String,
    /// Risk % (decimal string).
    pub risk_percent: String,
    /// Actions scored in the window.
    pub scored_actions: i64,
    /// Of which flagged.
    pub flagged_actions: i64,
    /// Window.
    pub window_days: i32,
    /// Updated (Unix seconds).
    pub updated_at: u32,
}

/// The partner's levels (its own and per SharedId); binds: program, partner.
pub fn risk_levels(db: &str) -> String {
    format!(
        "SELECT ifNull(shared_id, '') AS shared_id, level, toString(risk_percent) AS risk_percent, \
         scored_actions, flagged_actions, window_days, toUInt32(updated_at) AS updated_at \
         FROM `{db}`.risk_levels FINAL WHERE program_id = ? AND partner_id = ? \
         ORDER BY shared_id"
    )
}

/// The conversions and renewals of an order named by id; binds: program, order id.
pub fn orders_by_id(db: &str) -> String {
    format!(
        "SELECT DISTINCT attribution_id FROM `{db}`.orders_by_id \
         WHERE program_id = ? AND order_id = ? AND kind != 'refund'"
    )
}

/// The conversions and renewals on a UTC date with an exact amount; binds: program, date
/// (`YYYY-MM-DD`) twice, amount in minor units, currency.
pub fn orders_by_date_amount(db: &str) -> String {
    format!(
        "SELECT DISTINCT attribution_id FROM `{db}`.orders_by_id \
         WHERE program_id = ? AND occurred_at >= toDateTime(toDate(?)) \
         AND occurred_at < toDateTime(toDate(?)) + 86400 AND amount_minor = ? \
         AND currency = ? AND kind != 'refund'"
    )
}

/// The partner's lines of `ids`; binds: program, partner.
pub fn lines_of(db: &str, ids: &[String]) -> String {
    format!(
        "SELECT {LINE_COLUMNS} FROM `{db}`.statement_lines FINAL \
         WHERE program_id = ? AND partner_id = ? AND attribution_id IN {} \
         ORDER BY occurred_at, commission_id",
        runtime::clickhouse::list(ids)
    )
}

/// The partner's losing claims on `ids`; binds: program, partner.
pub fn losing_of(db: &str, ids: &[String]) -> String {
    format!(
        "SELECT DISTINCT attribution_id, touchpoint_id, reason, order_id, \
         toUInt32(occurred_at) AS occurred_at FROM `{db}`.statement_losing_claims \
         WHERE program_id = ? AND partner_id = ? AND attribution_id IN {} \
         ORDER BY attribution_id, touchpoint_id",
        runtime::clickhouse::list(ids)
    )
}

/// A claim as stored (latest version).
#[derive(Debug, Clone, Row, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct ClaimRow {
    /// Id.
    pub claim_id: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// The order as the partner named it.
    pub order_reference: String,
    /// `credited`, `lost`, `no_touchpoint`, `review`.
    pub answer: String,
    /// The answer's detail (JSON).
    pub detail: String,
    /// `answered`, `open`, `resolved`.
    pub status: String,
    /// An operator's resolution.
    pub resolution: String,
    /// Who resolved it.
    pub resolved_by: String,
    /// Submitted (Unix seconds).
    pub submitted_at: u32,
    /// Last change (Unix seconds).
    pub updated_at: u32,
}

const CLAIM_COLUMNS: &str = "claim_id, program_id, partner_id, order_reference, answer, detail, status, \
    resolution, resolved_by, toUInt32(submitted_at) AS submitted_at, toUInt32(updated_at) AS updated_at";

/// The partner's claims, newest first; binds: program, partner, limit.
pub fn claims_of(db: &str) -> String {
    format!(
        "SELECT {CLAIM_COLUMNS} FROM `{db}`.partner_claims FINAL \
         WHERE program_id = ? AND partner_id = ? ORDER BY submitted_at DESC, claim_id LIMIT ?"
    )
}

/// A program's claims with a status, oldest first; binds: program, status.
pub fn claims_with_status(db: &str) -> String {
    format!(
        "SELECT {CLAIM_COLUMNS} FROM `{db}`.partner_claims FINAL \
         WHERE program_id = ? AND status = ? ORDER BY submitted_at, claim_id"
    )
}

/// One claim; bind: claim id.
pub fn claim(db: &str) -> String {
    format!("SELECT {CLAIM_COLUMNS} FROM `{db}`.partner_claims FINAL WHERE claim_id = ?")
}

/// Writes a claim version; binds in the column order of [`ClaimRow`], then the version.
pub fn insert_claim(db: &str) -> String {
    format!(
        "INSERT INTO `{db}`.partner_claims (claim_id, program_id, partner_id, order_reference, answer, \
         detail, status, resolution, resolved_by, submitted_at, updated_at, version) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, toDateTime(?), toDateTime(?), ?)"
    )
}

/// A partner's own level, for the operators' list.
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct PartnerRiskRow {
    /// Partner.
    pub partner_id: String,
    /// Level.
    pub level: String,
    /// Risk % (decimal string).
    pub risk_percent: String,
    /// Actions scored in the window.
    pub scored_actions: i64,
    /// Of which flagged.
    pub flagged_actions: i64,
    /// Updated (Unix seconds).
    pub updated_at: u32,
}

/// The program's partners by risk severity (critical first, then by Risk %); binds: program,
/// limit.
pub fn partners_by_risk(db: &str) -> String {
    format!(
        "SELECT partner_id, level, toString(risk_percent) AS risk_percent, scored_actions, \
         flagged_actions, toUInt32(updated_at) AS updated_at \
         FROM `{db}`.risk_levels FINAL WHERE program_id = ? AND shared_id IS NULL \
         ORDER BY indexOf(['critical', 'high', 'elevated', 'low', 'insufficient_data'], level), \
         risk_percent DESC, partner_id LIMIT ?"
    )
}

/// A token's stored row.
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct TokenRow {
    /// Id.
    pub token_id: String,
    /// SHA-256 of the secret (hex).
    pub secret_sha256: String,
    /// `partner` or `operator`.
    pub scope: String,
    /// Program.
    pub program_id: String,
    /// Partner ('' for operators).
    pub partner_id: String,
    /// What it is for.
    pub label: String,
    /// Who issued it.
    pub issued_by: String,
    /// When (Unix seconds).
    pub issued_at: u32,
    /// 1 once revoked.
    pub revoked: u8,
}

/// The latest version of a token; bind: token id.
pub fn token(db: &str) -> String {
    format!(
        "SELECT token_id, secret_sha256, scope, program_id, partner_id, label, issued_by, \
         toUInt32(issued_at) AS issued_at, revoked FROM `{db}`.api_tokens FINAL WHERE token_id = ?"
    )
}

/// Every token of a program, newest first; bind: program.
pub fn tokens(db: &str) -> String {
    format!(
        "SELECT token_id, secret_sha256, scope, program_id, partner_id, label, issued_by, \
         toUInt32(issued_at) AS issued_at, revoked FROM `{db}`.api_tokens FINAL \
         WHERE program_id = ? ORDER BY issued_at DESC, token_id"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_partner_query_filters_on_the_partner() {
        let ids = vec!["att-1".to_string(), "o'1".to_string()];
        for sql in [
            statement_lines("d_partner"),
            statement_totals("d_partner"),
            credits("d_partner", &ids),
            evidence("d_partner", &ids),
            losing_claims("d_partner"),
            payouts("d_partner"),
            payout("d_partner"),
            payout_lines("d_partner"),
            risk_levels("d_partner"),
            lines_of("d_partner", &ids),
            losing_of("d_partner", &ids),
            claims_of("d_partner"),
        ] {
            assert!(sql.contains("partner_id = ?"), "{sql}");
            assert!(sql.contains("`d_partner`."), "{sql}");
            assert!(
                !sql.contains("decision_reasons") && !sql.contains("reason_codes"),
                "{sql}"
            );
        }
        assert!(evidence("d", &ids).contains(r"IN ('att-1', 'o\'1')"));
    }
}

/// Clicks of a partner in a month from one source.
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct ClickGroupRow {
    /// `YYYYMM`.
    pub month: u32,
    /// Channel.
    pub channel: String,
    /// UTM source ('' when none).
    pub utm_source: String,
    /// UTM medium ('' when none).
    pub utm_medium: String,
    /// UTM campaign ('' when none).
    pub utm_campaign: String,
    /// Clicks, each once.
    pub clicks: u64,
}

/// The partner's clicks in [from, to) by month and source; binds: program, partner, from, to.
pub fn clicks_by_month_and_source(db: &str) -> String {
    format!(
        "SELECT toYYYYMM(occurred_at) AS month, channel, ifNull(utm_source, '') AS utm_source, \
         ifNull(utm_medium, '') AS utm_medium, ifNull(utm_campaign, '') AS utm_campaign, \
         uniqExact(touchpoint_id) AS clicks \
         FROM `{db}`.touchpoints_by_partner \
         WHERE program_id = ? AND partner_id = ? AND kind = 'click' \
         AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?) \
         GROUP BY month, channel, utm_source, utm_medium, utm_campaign"
    )
}

/// Credited orders of a partner in a month from one source, in one currency.
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct OrderGroupRow {
    /// `YYYYMM` of the order (of the refund, for refunds).
    pub month: u32,
    /// ISO 4217.
    pub currency: String,
    /// Channel of the partner's latest touchpoint in the evidence ('' when none).
    pub channel: String,
    /// Its UTM source.
    pub utm_source: String,
    /// Its UTM medium.
    pub utm_medium: String,
    /// Its UTM campaign.
    pub utm_campaign: String,
    /// Conversions and renewals (not refunds).
    pub conversions: u64,
    /// Credited revenue of those, before refunds (minor units).
    pub order_revenue_minor: i64,
    /// Credited revenue net of refunds (minor units).
    pub revenue_minor: i64,
    /// Commission decided, net of refunds (minor units).
    pub commission_minor: i64,
}

/// The partner's credited orders in [from, to) by month, currency and source; binds:
/// program, partner, from, to, partner. Credits are read without FINAL (they never change)
/// and de-duplicated by DISTINCT; the source joins the partner's own evidence only.
pub fn orders_by_month_and_source(db: &str) -> String {
    format!(
        "SELECT toYYYYMM(c.at) AS month, c.cur AS currency, e.ch AS channel, \
         e.src AS utm_source, e.med AS utm_medium, e.camp AS utm_campaign, \
         countIf(c.k != 'refund') AS conversions, \
         sumIf(c.rev, c.k != 'refund') AS order_revenue_minor, \
         sum(c.rev) AS revenue_minor, sum(c.com) AS commission_minor \
         FROM (SELECT attribution_id, any(kind) AS k, any(occurred_at) AS at, \
                any(currency) AS cur, sum(revenue_minor) AS rev, sum(commission_minor) AS com \
            FROM (SELECT DISTINCT attribution_id, commission_id, kind, occurred_at, currency, \
                    revenue_minor, commission_minor FROM `{db}`.credits_by_partner \
                  WHERE program_id = ? AND partner_id = ? \
                  AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?)) \
            GROUP BY attribution_id) AS c \
         ANY LEFT JOIN (SELECT attribution_id, \
                argMax(ifNull(channel, ''), occurred_at) AS ch, \
                argMax(ifNull(utm_source, ''), occurred_at) AS src, \
                argMax(ifNull(utm_medium, ''), occurred_at) AS med, \
                argMax(ifNull(utm_campaign, ''), occurred_at) AS camp \
            FROM `{db}`.statement_evidence WHERE partner_id = ? GROUP BY attribution_id) AS e \
         USING attribution_id \
         GROUP BY month, currency, channel, utm_source, utm_medium, utm_campaign"
    )
}

/// Flagged actions per reason code over a window: counts only, never which action.
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct ReasonCountRow {
    /// '' for the partner's own actions, else the SharedId.
    pub shared_id: String,
    /// Reason code.
    pub reason_code: String,
    /// Flagged actions it fired on.
    pub actions: u64,
}

/// The partner's flagged actions per reason code from a day on; binds: program, partner,
/// first day (`YYYY-MM-DD`).
pub fn reason_counts(db: &str) -> String {
    format!(
        "SELECT shared_id, reason_code, uniqExactMerge(actions) AS actions \
         FROM `{db}`.risk_reason_days \
         WHERE program_id = ? AND partner_id = ? AND day >= toDate(?) \
         GROUP BY shared_id, reason_code ORDER BY shared_id, actions DESC, reason_code"
    )
}

/// What a program's marketplace shows of a specialist (the trust service's record).
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq)]
pub struct TrustRow {
    /// The specialist.
    pub specialist_id: String,
    /// Verification status.
    pub verification: String,
    /// Listed in discovery.
    pub listed: u8,
    /// Why not ('' when listed).
    pub not_listed_because: String,
    /// Score (decimal string, four places).
    pub score: String,
    /// Profile completeness, percent.
    pub completeness_percent: i32,
    /// Reviews counted.
    pub review_count: i32,
    /// Bayesian average (decimal string).
    pub review_average: String,
    /// JSON: profile, components, markers, completeness, reviews.
    pub explanation: String,
    /// Computed at (Unix seconds).
    pub updated_at: u32,
}

const TRUST_COLUMNS: &str = "specialist_id, verification, listed, \
     ifNull(not_listed_because, '') AS not_listed_because, toString(score) AS score, \
     completeness_percent, review_count, toString(review_average) AS review_average, \
     explanation, toUInt32(updated_at) AS updated_at";

/// One specialist's record; binds: program, specialist.
pub fn trust(db: &str) -> String {
    format!(
        "SELECT {TRUST_COLUMNS} FROM `{db}`.trust_specialists FINAL \
         WHERE program_id = ? AND specialist_id = ?"
    )
}

/// The listed specialists of a program, highest score first (ties by id); binds: program,
/// limit.
pub fn discovery(db: &str) -> String {
    format!(
        "SELECT {TRUST_COLUMNS} FROM `{db}`.trust_specialists FINAL \
         WHERE program_id = ? AND listed = 1 ORDER BY score DESC, specialist_id LIMIT ?"
    )
}
