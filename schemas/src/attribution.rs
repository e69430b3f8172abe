//! The attributor's output: who earned a conversion, with evidence and commission line items.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// Attribution models (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionModel {
    /// All credit to the last qualifying touchpoint (default).
    LastTouch,
    /// All credit to the first.
    FirstTouch,
    /// Equal shares.
    Linear,
    /// Exponentially more to recent touchpoints (configurable half-life).
    TimeDecay,
    /// 40% first, 40% last, 20% spread over the middle.
    PositionBased,
}

/// Conversion or refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionKind {
    /// A conversion.
    Conversion,
    /// A refund reversing an earlier conversion's commissions.
    Refund,
}

/// Whether any partner was credited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionOutcome {
    /// At least one partner credited.
    Attributed,
    /// Nobody credited; see `unattributed_reason`.
    Unattributed,
}

/// Which window admitted a touchpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionWindow {
    /// Click-through window.
    ClickThrough,
    /// View-through window.
    ViewThrough,
    /// A code at conversion (no window).
    Code,
}

/// One partner's share and commission line item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// Partner credited.
    pub partner_id: String,
    /// SharedId of the winning touchpoint.
    pub shared_id: Option<String>,
    /// Fraction of the credit (shares sum to 1).
    pub share: Decimal,
    /// Deterministic commission id.
    pub commission_id: String,
    /// Commission in minor units.
    pub commission_minor: i64,
    /// Rule applied.
    pub rule_id: Option<String>,
    /// Touchpoints behind this credit.
    pub touchpoint_ids: Vec<String>,
    /// The partner's share of the order (or refund) amount in minor units (v2).
    #[serde(default)]
    pub revenue_minor: i64,
    /// How much the rule's cap removed from this line item (v2).
    #[serde(default)]
    pub cap_reduction_minor: i64,
    /// Refunds: the commission this reversal line item reverses (v2).
    #[serde(default)]
    pub reverses_commission_id: Option<String>,
}

/// A touchpoint that supports the attribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Touchpoint event id.
    pub touchpoint_id: String,
    /// Event kind name.
    pub kind: String,
    /// When it happened.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    /// Partner it points at.
    pub partner_id: Option<String>,
    /// Click id.
    pub click_id: Option<String>,
    /// Link id.
    pub link_id: Option<String>,
    /// Code.
    pub code: Option<String>,
    /// Landing domain.
    pub landing_domain: Option<String>,
    /// Channel name.
    pub channel: Option<String>,
    /// utm_source.
    pub utm_source: Option<String>,
    /// utm_medium.
    pub utm_medium: Option<String>,
    /// utm_campaign.
    pub utm_campaign: Option<String>,
    /// Window that admitted it.
    pub window: AttributionWindow,
}

/// A partner's claim that did not win, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LosingClaim {
    /// Partner that claimed.
    pub partner_id: String,
    /// Touchpoint behind the claim.
    pub touchpoint_id: Option<String>,
    /// Reason code, e.g. `not_last_touch`.
    pub reason: String,
}

/// What another model would have credited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowCredit {
    /// The other model.
    pub model: AttributionModel,
    /// Partner.
    pub partner_id: String,
    /// Share under that model.
    pub share: Decimal,
}

/// The attribution of one conversion or refund. See `avro/attribution.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// Deterministic id from program + order id.
    pub attribution_id: String,
    /// Conversion or refund.
    pub kind: AttributionKind,
    /// Program.
    pub program_id: String,
    /// Order id.
    pub order_id: String,
    /// Triggering event.
    pub event_id: String,
    /// Attribution key.
    pub attribution_key: String,
    /// Customer id if known.
    pub customer_id: Option<String>,
    /// When the conversion happened.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    /// When it was attributed.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub attributed_at: DateTime<Utc>,
    /// Order amount in minor units (negative for refunds).
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Subscription chain.
    pub chain_id: Option<String>,
    /// Position in chain.
    pub chain_seq: Option<i32>,
    /// Model used.
    pub model: AttributionModel,
    /// Outcome.
    pub outcome: AttributionOutcome,
    /// Why unattributed.
    pub unattributed_reason: Option<String>,
    /// Credits and line items.
    pub credits: Vec<Credit>,
    /// For refunds, the attribution reversed.
    pub reverses_attribution_id: Option<String>,
    /// Supporting touchpoints.
    pub evidence: Vec<Evidence>,
    /// Claims that lost.
    pub losing_claims: Vec<LosingClaim>,
    /// Other models' credits.
    pub shadow_credits: Vec<ShadowCredit>,
    /// Touchpoints included that arrived after the conversion message (within its grace).
    pub late_touchpoints: i32,
    /// Sum of the credits' commissions, negative for refunds (v2).
    #[serde(default)]
    pub commission_total_minor: i64,
    /// Click-through window used (v2).
    #[serde(default)]
    pub click_window_seconds: i64,
    /// View-through window used (v2).
    #[serde(default)]
    pub view_window_seconds: i64,
    /// `code_wins` or `link_wins` as the program was set (v2).
    #[serde(default)]
    pub code_precedence: Option<String>,
    /// Renewals: the attribution of the chain's first action whose partners are credited (v2).
    #[serde(default)]
    pub bound_attribution_id: Option<String>,
}

avro_message!(
    Attribution,
    "attrib.Attribution",
    ["attribution.v1.avsc", "attribution.v2.avsc"],
    hand = crate::attribution_codec::ATTRIBUTION
);
