//! One row type per table (see `migrations/0001_initial.sql`) and the pure conversions from
//! the pipeline's messages and the ledger's state. Times are `DateTime` (seconds, UTC);
//! `Decimal(18, S)` travels as its scaled integer.

use chrono::{DateTime, Utc};
use clickhouse::Row;
use rust_decimal::Decimal;
use schemas::attribution::Attribution;
use schemas::ledger_state::{LedgerLine, Payout};
use schemas::money::Currency;
use schemas::touchpoint::EnrichedTouchpoint;
use schemas::{DeadLetter, EventKind, LedgerEntry, RiskLevel, RiskScore};
use serde::{Deserialize, Serialize};

use crate::ledger::status_name;

/// Seconds since the epoch as ClickHouse `DateTime` (UInt32; clamped to its range).
pub fn secs(t: DateTime<Utc>) -> u32 {
    u32::try_from(t.timestamp().max(0)).unwrap_or(u32::MAX)
}

/// `amount_minor` of `currency` as `Decimal(18, 4)`'s scaled integer.
pub fn amount4(amount_minor: i64, currency: &str) -> i64 {
    let digits = Currency::from_code(currency).map_or(2, |c| c.minor_units());
    amount_minor.saturating_mul(10_i64.pow(4_u32.saturating_sub(digits)))
}

/// A decimal as `Decimal(18, scale)`'s scaled integer (rounded half-even to `scale`).
pub fn scaled(value: Decimal, scale: u32) -> i64 {
    let mut v = value.round_dp(scale);
    v.rescale(scale);
    i64::try_from(v.mantissa()).unwrap_or(i64::MAX)
}

fn kind_name(kind: EventKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn symbol<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `touchpoints`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TouchpointRow {
    pub event_id: String,
    pub program_id: String,
    pub kind: String,
    pub occurred_at: u32,
    pub occurred_at_ms: i64,
    pub visitor_id: Option<String>,
    pub customer_id: Option<String>,
    pub attribution_key: String,
    pub partner_id: Option<String>,
    pub resolved_by: String,
    pub link_id: Option<String>,
    pub code: Option<String>,
    pub shared_id: Option<String>,
    pub channel: String,
    pub landing_domain: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub click_id: Option<String>,
    pub referrer: Option<String>,
    pub order_id: Option<String>,
    pub enriched_at: u32,
}

/// `conversions`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ConversionRow {
    pub event_id: String,
    pub program_id: String,
    pub kind: String,
    pub order_id: String,
    pub occurred_at: u32,
    pub occurred_at_ms: i64,
    pub customer_id: Option<String>,
    pub visitor_id: Option<String>,
    pub amount_minor: i64,
    pub amount: i64,
    pub currency: String,
    pub chain_id: Option<String>,
    pub chain_seq: Option<i32>,
    pub partner_id: Option<String>,
    pub channel: String,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
}

/// A touchpoint's row, and its conversion row when it carries money.
pub fn touchpoint_rows(e: &EnrichedTouchpoint) -> (TouchpointRow, Option<ConversionRow>) {
    let t = &e.touchpoint;
    let kind = kind_name(t.kind);
    let tp = TouchpointRow {
        event_id: t.event_id.clone(),
        program_id: e.program_id.clone(),
        kind: kind.clone(),
        occurred_at: secs(t.occurred_at),
        occurred_at_ms: t.occurred_at.timestamp_millis(),
        visitor_id: t.visitor_id.clone(),
        customer_id: t.customer_id.clone(),
        attribution_key: e.attribution_key.clone(),
        partner_id: e.partner.partner_id.clone(),
        resolved_by: symbol(&e.partner.resolved_by),
        link_id: e.partner.link_id.clone(),
        code: e.partner.code.clone(),
        shared_id: e.partner.shared_id.clone(),
        channel: symbol(&e.channel),
        landing_domain: e.landing_domain.clone(),
        utm_source: e.utm.source.clone(),
        utm_medium: e.utm.medium.clone(),
        utm_campaign: e.utm.campaign.clone(),
        click_id: t.click_id.clone(),
        referrer: t.referrer.clone(),
        order_id: t.order_id.clone(),
        enriched_at: secs(e.enriched_at),
    };
    let conversion = match (&t.order_id, t.amount_minor, &t.currency) {
        (Some(order), Some(minor), Some(currency)) => Some(ConversionRow {
            event_id: t.event_id.clone(),
            program_id: e.program_id.clone(),
            kind,
            order_id: order.clone(),
            occurred_at: tp.occurred_at,
            occurred_at_ms: tp.occurred_at_ms,
            customer_id: t.customer_id.clone(),
            visitor_id: t.visitor_id.clone(),
            amount_minor: minor,
            amount: amount4(minor, currency),
            currency: currency.clone(),
            chain_id: t.chain_id.clone(),
            chain_seq: t.chain_seq,
            partner_id: e.partner.partner_id.clone(),
            channel: tp.channel.clone(),
            utm_source: tp.utm_source.clone(),
            utm_medium: tp.utm_medium.clone(),
            utm_campaign: tp.utm_campaign.clone(),
        }),
        _ => None,
    };
    (tp, conversion)
}

/// `attributions`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct AttributionRow {
    pub attribution_id: String,
    pub kind: String,
    pub program_id: String,
    pub order_id: String,
    pub event_id: String,
    pub attribution_key: String,
    pub customer_id: Option<String>,
    pub occurred_at: u32,
    pub attributed_at: u32,
    pub amount_minor: i64,
    pub amount: i64,
    pub currency: String,
    pub model: String,
    pub outcome: String,
    pub unattributed_reason: Option<String>,
    pub commission_total_minor: i64,
    pub late_touchpoints: i32,
    pub reverses_attribution_id: Option<String>,
    pub chain_id: Option<String>,
    pub chain_seq: Option<i32>,
}

/// `attribution_credits`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CreditRow {
    pub attribution_id: String,
    pub commission_id: String,
    pub program_id: String,
    pub partner_id: String,
    pub shared_id: Option<String>,
    pub share: i64,
    pub commission_minor: i64,
    pub commission: i64,
    pub currency: String,
    pub rule_id: Option<String>,
    pub touchpoint_ids: Vec<String>,
    pub revenue_minor: i64,
    pub cap_reduction_minor: i64,
    pub reverses_commission_id: Option<String>,
    // The attribution's, so a partner's credited orders read from one table (migration 8).
    pub model: String,
    pub kind: String,
    pub order_id: String,
    pub occurred_at: u32,
}

/// `attribution_evidence`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct EvidenceRow {
    pub attribution_id: String,
    pub touchpoint_id: String,
    pub kind: String,
    pub occurred_at: u32,
    pub partner_id: Option<String>,
    pub click_id: Option<String>,
    pub link_id: Option<String>,
    pub code: Option<String>,
    pub landing_domain: Option<String>,
    pub channel: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub attribution_window: String,
}

/// `attribution_losing_claims`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct LosingClaimRow {
    pub attribution_id: String,
    pub partner_id: String,
    pub touchpoint_id: String,
    pub reason: String,
    // The attribution's, so a partner's losing claims in a window read from one table.
    pub program_id: String,
    pub order_id: String,
    pub occurred_at: u32,
}

/// `attribution_shadow_credits`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ShadowCreditRow {
    pub attribution_id: String,
    pub model: String,
    pub partner_id: String,
    pub share: i64,
}

/// An attribution's rows in the five attribution tables.
#[derive(Debug, Default)]
#[allow(missing_docs)]
pub struct AttributionRows {
    pub attribution: Vec<AttributionRow>,
    pub credits: Vec<CreditRow>,
    pub evidence: Vec<EvidenceRow>,
    pub losing_claims: Vec<LosingClaimRow>,
    pub shadow_credits: Vec<ShadowCreditRow>,
}

/// Splits an attribution into its table rows.
pub fn attribution_rows(a: &Attribution, out: &mut AttributionRows) {
    let id = &a.attribution_id;
    out.attribution.push(AttributionRow {
        attribution_id: id.clone(),
        kind: symbol(&a.kind),
        program_id: a.program_id.clone(),
        order_id: a.order_id.clone(),
        event_id: a.event_id.clone(),
        attribution_key: a.attribution_key.clone(),
        customer_id: a.customer_id.clone(),
        occurred_at: secs(a.occurred_at),
        attributed_at: secs(a.attributed_at),
        amount_minor: a.amount_minor,
        amount: amount4(a.amount_minor, &a.currency),
        currency: a.currency.clone(),
        model: symbol(&a.model),
        outcome: symbol(&a.outcome),
        unattributed_reason: a.unattributed_reason.clone(),
        commission_total_minor: a.commission_total_minor,
        late_touchpoints: a.late_touchpoints,
        reverses_attribution_id: a.reverses_attribution_id.clone(),
        chain_id: a.chain_id.clone(),
        chain_seq: a.chain_seq,
    });
    for c in &a.credits {
        out.credits.push(CreditRow {
            attribution_id: id.clone(),
            commission_id: c.commission_id.clone(),
            program_id: a.program_id.clone(),
            partner_id: c.partner_id.clone(),
            shared_id: c.shared_id.clone(),
            share: scaled(c.share, 6),
            commission_minor: c.commission_minor,
            commission: amount4(c.commission_minor, &a.currency),
            currency: a.currency.clone(),
            rule_id: c.rule_id.clone(),
            touchpoint_ids: c.touchpoint_ids.clone(),
            revenue_minor: c.revenue_minor,
            cap_reduction_minor: c.cap_reduction_minor,
            reverses_commission_id: c.reverses_commission_id.clone(),
            model: symbol(&a.model),
            kind: symbol(&a.kind),
            order_id: a.order_id.clone(),
            occurred_at: secs(a.occurred_at),
        });
    }
    for e in &a.evidence {
        out.evidence.push(EvidenceRow {
            attribution_id: id.clone(),
            touchpoint_id: e.touchpoint_id.clone(),
            kind: e.kind.clone(),
            occurred_at: secs(e.occurred_at),
            partner_id: e.partner_id.clone(),
            click_id: e.click_id.clone(),
            link_id: e.link_id.clone(),
            code: e.code.clone(),
            landing_domain: e.landing_domain.clone(),
            channel: e.channel.clone(),
            utm_source: e.utm_source.clone(),
            utm_medium: e.utm_medium.clone(),
            utm_campaign: e.utm_campaign.clone(),
            attribution_window: symbol(&e.window),
        });
    }
    for l in &a.losing_claims {
        out.losing_claims.push(LosingClaimRow {
            attribution_id: id.clone(),
            partner_id: l.partner_id.clone(),
            touchpoint_id: l.touchpoint_id.clone().unwrap_or_default(),
            reason: l.reason.clone(),
            program_id: a.program_id.clone(),
            order_id: a.order_id.clone(),
            occurred_at: secs(a.occurred_at),
        });
    }
    for s in &a.shadow_credits {
        out.shadow_credits.push(ShadowCreditRow {
            attribution_id: id.clone(),
            model: symbol(&s.model),
            partner_id: s.partner_id.clone(),
            share: scaled(s.share, 6),
        });
    }
}

/// `risk_scores` (internal: reason codes and their evidence).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct RiskScoreRow {
    pub action_id: String,
    pub attribution_id: String,
    pub program_id: String,
    pub partner_id: String,
    pub shared_id: Option<String>,
    pub order_id: String,
    pub action: String,
    pub occurred_at: u32,
    pub flagged: u8,
    pub reason_codes: Vec<String>,
    pub reason_measured: Vec<String>,
    pub reason_thresholds: Vec<String>,
    pub reason_details: Vec<String>,
    pub scored_at: u32,
}

/// A risk score's row.
pub fn risk_score_row(s: &RiskScore) -> RiskScoreRow {
    RiskScoreRow {
        action_id: s.action_id.clone(),
        attribution_id: s.attribution_id.clone(),
        program_id: s.program_id.clone(),
        partner_id: s.partner_id.clone(),
        shared_id: s.shared_id.clone(),
        order_id: s.order_id.clone(),
        action: symbol(&s.action),
        occurred_at: secs(s.occurred_at),
        flagged: u8::from(s.flagged),
        reason_codes: s.reasons.iter().map(|r| r.code.clone()).collect(),
        reason_measured: s.reasons.iter().map(|r| r.measured.clone()).collect(),
        reason_thresholds: s.reasons.iter().map(|r| r.threshold.clone()).collect(),
        reason_details: s.reasons.iter().map(|r| r.detail.clone()).collect(),
        scored_at: secs(s.scored_at),
    }
}

/// `risk_levels` (current level per subject: the newest `updated_at_ms` wins).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct RiskLevelRow {
    pub subject_id: String,
    pub program_id: String,
    pub partner_id: String,
    pub shared_id: Option<String>,
    pub level: String,
    pub risk_percent: i64,
    pub scored_actions: i64,
    pub flagged_actions: i64,
    pub window_days: i32,
    pub updated_at: u32,
    pub updated_at_ms: i64,
}

/// A risk level's row.
pub fn risk_level_row(l: &RiskLevel) -> RiskLevelRow {
    RiskLevelRow {
        subject_id: l.subject_id.clone(),
        program_id: l.program_id.clone(),
        partner_id: l.partner_id.clone(),
        shared_id: l.shared_id.clone(),
        level: l.level.as_str().into(),
        risk_percent: scaled(l.risk_percent, 2),
        scored_actions: l.scored_actions,
        flagged_actions: l.flagged_actions,
        window_days: l.window_days,
        updated_at: secs(l.updated_at),
        updated_at_ms: l.updated_at.timestamp_millis(),
    }
}

/// `commissions` (current state per line: the highest version wins).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CommissionRow {
    pub commission_id: String,
    pub line_kind: String,
    pub of_commission_id: Option<String>,
    pub attribution_id: String,
    pub program_id: String,
    pub partner_id: String,
    pub shared_id: Option<String>,
    pub order_id: String,
    pub amount_minor: i64,
    pub amount: i64,
    pub currency: String,
    pub rule_id: Option<String>,
    pub decision_reasons: Vec<String>,
    pub risk_level: Option<String>,
    pub status: String,
    pub hold_until: u32,
    pub occurred_at: u32,
    pub decided_at: u32,
    pub approved_at: Option<u32>,
    pub payout_id: Option<String>,
    pub version: u32,
}

/// A line's current-state row.
pub fn commission_row(l: &LedgerLine) -> CommissionRow {
    CommissionRow {
        commission_id: l.line_id.clone(),
        line_kind: l.kind.as_str().into(),
        of_commission_id: l.of_commission_id.clone(),
        attribution_id: l.attribution_id.clone(),
        program_id: l.program_id.clone(),
        partner_id: l.partner_id.clone(),
        shared_id: l.shared_id.clone(),
        order_id: l.order_id.clone(),
        amount_minor: l.amount_minor,
        amount: amount4(l.amount_minor, &l.currency),
        currency: l.currency.clone(),
        rule_id: l.rule_id.clone(),
        decision_reasons: l.decision_reasons.clone(),
        risk_level: l.risk_level.clone(),
        status: status_name(l.status).into(),
        hold_until: secs(l.hold_until),
        occurred_at: secs(l.occurred_at),
        decided_at: secs(l.decided_at),
        approved_at: l.approved_at.map(secs),
        payout_id: l.payout_id.clone(),
        version: u32::try_from(l.version).unwrap_or(0),
    }
}

/// `ledger_entries`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct EntryRow {
    pub entry_id: String,
    pub commission_id: String,
    pub attribution_id: String,
    pub program_id: String,
    pub partner_id: String,
    pub shared_id: Option<String>,
    pub order_id: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub entry_kind: String,
    pub amount_minor: i64,
    pub amount: i64,
    pub currency: String,
    pub cause: String,
    pub actor: String,
    pub payout_id: Option<String>,
    pub effective_at: u32,
    pub effective_at_ms: i64,
    pub recorded_at: u32,
    pub sequence: u32,
}

/// An entry's row.
pub fn entry_row(e: &LedgerEntry) -> EntryRow {
    EntryRow {
        entry_id: e.entry_id.clone(),
        commission_id: e.commission_id.clone(),
        attribution_id: e.attribution_id.clone(),
        program_id: e.program_id.clone(),
        partner_id: e.partner_id.clone(),
        shared_id: e.shared_id.clone(),
        order_id: e.order_id.clone(),
        from_status: e.from_status.map(|s| status_name(s).into()),
        to_status: status_name(e.to_status).into(),
        entry_kind: symbol(&e.entry_kind),
        amount_minor: e.amount_minor,
        amount: amount4(e.amount_minor, &e.currency),
        currency: e.currency.clone(),
        cause: e.cause.clone(),
        actor: e.actor.clone(),
        payout_id: e.payout_id.clone(),
        effective_at: secs(e.effective_at),
        effective_at_ms: e.effective_at.timestamp_millis(),
        recorded_at: secs(e.recorded_at),
        sequence: u32::try_from(e.sequence).unwrap_or(0),
    }
}

/// `payouts`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct PayoutRow {
    pub payout_id: String,
    pub program_id: String,
    pub partner_id: String,
    pub currency: String,
    pub period_end: u32,
    pub amount_minor: i64,
    pub amount: i64,
    pub item_count: u32,
    pub status: String,
    pub created_at: u32,
    pub settled_at: Option<u32>,
    pub command_id: String,
    pub actor: String,
    pub note: Option<String>,
    pub version: u32,
}

/// `payout_items`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct PayoutItemRow {
    pub payout_id: String,
    pub commission_id: String,
    pub line_kind: String,
    pub amount_minor: i64,
    pub amount: i64,
    pub currency: String,
}

/// A payout's row and its items' rows.
pub fn payout_rows(p: &Payout) -> (PayoutRow, Vec<PayoutItemRow>) {
    let row = PayoutRow {
        payout_id: p.payout_id.clone(),
        program_id: p.program_id.clone(),
        partner_id: p.partner_id.clone(),
        currency: p.currency.clone(),
        period_end: secs(p.period_end),
        amount_minor: p.amount_minor,
        amount: amount4(p.amount_minor, &p.currency),
        item_count: u32::try_from(p.items.len()).unwrap_or(u32::MAX),
        status: p.status.as_str().into(),
        created_at: secs(p.created_at),
        settled_at: p.settled_at.map(secs),
        command_id: p.command_id.clone(),
        actor: p.actor.clone(),
        note: p.note.clone(),
        version: u32::try_from(p.version).unwrap_or(0),
    };
    let items = p
        .items
        .iter()
        .map(|i| PayoutItemRow {
            payout_id: p.payout_id.clone(),
            commission_id: i.line_id.clone(),
            line_kind: i.kind.as_str().into(),
            amount_minor: i.amount_minor,
            amount: amount4(i.amount_minor, &p.currency),
            currency: p.currency.clone(),
        })
        .collect();
    (row, items)
}

/// `ledger_commands`: what became of each command, per partition that read it.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CommandRow {
    pub command_id: String,
    pub source_partition: i32,
    pub kind: String,
    pub accepted: u8,
    pub detail: String,
    pub decided_at: u32,
    pub recorded_at: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_travels_as_decimal_18_4_at_the_currency_scale() {
        assert_eq!(amount4(1_234, "EUR"), 123_400);
        assert_eq!(amount4(1_234, "JPY"), 12_340_000);
        assert_eq!(amount4(-1_234, "BHD"), -12_340);
        assert_eq!(scaled(Decimal::new(125, 1), 2), 1_250);
        assert_eq!(scaled(Decimal::new(1, 0) / Decimal::new(3, 0), 6), 333_333);
    }
}

/// `dead_letters` (no payload: the original bytes stay on the topic).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct DeadLetterRow {
    pub dead_letter_id: String,
    pub service: String,
    pub reason: String,
    pub detail: String,
    pub event_id: Option<String>,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    pub payload_bytes_total: i64,
    pub payload_truncated: u8,
    pub failed_at: u32,
    pub failed_at_ms: i64,
}

/// A dead letter's row.
pub fn dead_letter_row(d: &DeadLetter) -> DeadLetterRow {
    DeadLetterRow {
        dead_letter_id: d.dead_letter_id.clone(),
        service: d.service.clone(),
        reason: d.reason.clone(),
        detail: d.detail.clone(),
        event_id: d.event_id.clone(),
        source_topic: d.source_topic.clone(),
        source_partition: d.source_partition,
        source_offset: d.source_offset,
        payload_bytes_total: d.payload_bytes_total,
        payload_truncated: u8::from(d.payload_truncated),
        failed_at: secs(d.failed_at),
        failed_at_ms: d.failed_at.timestamp_millis(),
    }
}

/// `webhook_attempts`: the webhooks' delivery log.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct WebhookAttemptRow {
    pub attempt_id: String,
    pub delivery_id: String,
    pub endpoint_id: String,
    pub program_id: String,
    pub partner_id: String,
    pub event_type: String,
    pub sequence: i64,
    pub attempt: i32,
    pub attempted_at: u32,
    pub attempted_at_ms: i64,
    pub outcome: String,
    pub status_code: i32,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub next_attempt_at: Option<u32>,
}

/// An attempt's row.
pub fn webhook_attempt_row(a: &schemas::WebhookAttempt) -> WebhookAttemptRow {
    WebhookAttemptRow {
        attempt_id: a.attempt_id.clone(),
        delivery_id: a.delivery_id.clone(),
        endpoint_id: a.endpoint_id.clone(),
        program_id: a.program_id.clone(),
        partner_id: a.partner_id.clone(),
        event_type: a.event_type.clone(),
        sequence: a.sequence,
        attempt: a.attempt,
        attempted_at: secs(a.attempted_at),
        attempted_at_ms: a.attempted_at.timestamp_millis(),
        outcome: a.outcome.as_str().to_string(),
        status_code: a.status_code,
        latency_ms: a.latency_ms,
        error: a.error.clone(),
        next_attempt_at: a.next_attempt_at.map(secs),
    }
}

/// `partner_claims` (partner database): a claim's version as published, the same row the
/// partner API wrote when it answered (same version: ReplacingMergeTree keeps one).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ClaimRow {
    pub claim_id: String,
    pub program_id: String,
    pub partner_id: String,
    pub order_reference: String,
    pub answer: String,
    pub detail: String,
    pub status: String,
    pub resolution: String,
    pub resolved_by: String,
    pub submitted_at: u32,
    pub updated_at: u32,
    pub version: u64,
}

/// A claim notice's row.
pub fn claim_row(c: &schemas::ClaimNotice) -> ClaimRow {
    ClaimRow {
        claim_id: c.claim_id.clone(),
        program_id: c.program_id.clone(),
        partner_id: c.partner_id.clone(),
        order_reference: c.order_reference.clone(),
        answer: c.answer.clone(),
        detail: c.detail.clone(),
        status: c.status.clone(),
        resolution: c.resolution.clone(),
        resolved_by: c.resolved_by.clone(),
        submitted_at: secs(c.submitted_at),
        updated_at: secs(c.updated_at),
        version: u64::try_from(c.version).unwrap_or_default(),
    }
}

/// `trust_specialists` (partner database): what a program's marketplace shows of a specialist.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct SpecialistTrustRow {
    pub program_id: String,
    pub specialist_id: String,
    pub verification: String,
    pub listed: u8,
    pub not_listed_because: Option<String>,
    pub score: i64,
    pub completeness_percent: i32,
    pub review_count: i32,
    pub review_average: i64,
    pub explanation: String,
    pub updated_at: u32,
    pub version: u64,
}

/// A trust record's row; `None` when its decimals do not read (dead-lettered by the caller).
pub fn specialist_trust_row(t: &schemas::SpecialistTrust) -> Option<SpecialistTrustRow> {
    Some(SpecialistTrustRow {
        program_id: t.program_id.clone(),
        specialist_id: t.specialist_id.clone(),
        verification: t.verification.clone(),
        listed: u8::from(t.listed),
        not_listed_because: t.not_listed_because.clone(),
        score: scaled(t.score.parse().ok()?, 4),
        completeness_percent: t.completeness_percent,
        review_count: t.review_count,
        review_average: scaled(t.review_average.parse().ok()?, 2),
        explanation: t.explanation.clone(),
        updated_at: secs(t.updated_at),
        version: u64::try_from(t.version).unwrap_or_default(),
    })
}

/// `trust_verification`: one verification command as judged.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct VerificationRow {
    pub command_id: String,
    pub specialist_id: String,
    pub action: String,
    pub accepted: u8,
    pub from_status: String,
    pub to_status: String,
    pub refusal: Option<String>,
    pub actor: String,
    pub reason: String,
    pub identity_checked: u8,
    pub credential_checked: u8,
    pub agreement_checked: u8,
    pub at: u32,
    pub at_ms: i64,
}

/// A judgement's row.
pub fn verification_row(v: &schemas::VerificationEvent) -> VerificationRow {
    VerificationRow {
        command_id: v.command_id.clone(),
        specialist_id: v.specialist_id.clone(),
        action: v.action.clone(),
        accepted: u8::from(v.accepted),
        from_status: v.from_status.clone(),
        to_status: v.to_status.clone(),
        refusal: v.refusal.clone(),
        actor: v.actor.clone(),
        reason: v.reason.clone(),
        identity_checked: u8::from(v.identity_checked),
        credential_checked: u8::from(v.credential_checked),
        agreement_checked: u8::from(v.agreement_checked),
        at: secs(v.at),
        at_ms: v.at.timestamp_millis(),
    }
}
