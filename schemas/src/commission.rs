//! Commission line items with risk's decision, consumed by the ledger.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;
use crate::risk::RiskLevelName;

/// Commission or reversal of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommissionKind {
    /// A commission earned.
    Commission,
    /// A (partial) reversal of an earlier commission.
    Reversal,
}

/// Risk policy's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Pending until the hold period passes, then approved.
    Payable,
    /// Held for review.
    Held,
    /// Reversed by policy.
    Reversed,
}

/// A commission decision. See `avro/commission_decision.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionDecision {
    /// Deterministic commission id.
    pub commission_id: String,
    /// Attribution it came from.
    pub attribution_id: String,
    /// Commission or reversal.
    pub kind: CommissionKind,
    /// For reversals, the commission reversed.
    pub reverses_commission_id: Option<String>,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// SharedId.
    pub shared_id: Option<String>,
    /// Order id.
    pub order_id: String,
    /// Signed amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Rule applied.
    pub rule_id: Option<String>,
    /// Subscription chain.
    pub chain_id: Option<String>,
    /// Position in chain.
    pub chain_seq: Option<i32>,
    /// Decision.
    pub decision: Decision,
    /// Internal reasons.
    pub decision_reasons: Vec<String>,
    /// Partner's risk level at decision time.
    pub risk_level: Option<RiskLevelName>,
    /// Earliest approval time.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub hold_until: DateTime<Utc>,
    /// Conversion time.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    /// Decision time.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub decided_at: DateTime<Utc>,
}

avro_message!(
    CommissionDecision,
    "attrib.CommissionDecision",
    ["commission_decision.v1.avsc"]
);
