//! Partner-safe aggregate risk levels (no event-level reason codes, by construction).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// Risk level buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevelName {
    /// Fewer scored actions than the minimum sample.
    InsufficientData,
    /// Low.
    Low,
    /// Elevated.
    Elevated,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl RiskLevelName {
    /// The schema's symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevelName::InsufficientData => "insufficient_data",
            RiskLevelName::Low => "low",
            RiskLevelName::Elevated => "elevated",
            RiskLevelName::High => "high",
            RiskLevelName::Critical => "critical",
        }
    }
}

/// Risk % and level of a partner or (partner, SharedId). See `avro/risk_level.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskLevel {
    /// `<program>/<partner>[/<shared_id>]`.
    pub subject_id: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// SharedId for sub-source levels.
    pub shared_id: Option<String>,
    /// Level.
    pub level: RiskLevelName,
    /// Flagged / scored x 100, exact.
    pub risk_percent: Decimal,
    /// Scored actions in the window.
    pub scored_actions: i64,
    /// Flagged actions in the window.
    pub flagged_actions: i64,
    /// Rolling window length.
    pub window_days: i32,
    /// When computed.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub updated_at: DateTime<Utc>,
}

avro_message!(RiskLevel, "attrib.RiskLevel", ["risk_level.v1.avsc"]);

/// What was scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoredActionKind {
    /// A credited conversion.
    Credit,
    /// A claim the attributor excluded as self-referral.
    SelfReferralClaim,
}

/// A reason code that fired, with its evidence. Internal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskReason {
    /// Reason code (see `reference::RISK_REASON_CODES`).
    pub code: String,
    /// Measured value.
    pub measured: String,
    /// Threshold it crossed.
    pub threshold: String,
    /// One line for a person.
    pub detail: String,
}

/// One scored action. INTERNAL: event-level reason codes never reach partners. See
/// `avro/risk_score.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskScore {
    /// Commission id of the credit (attribution + partner).
    pub action_id: String,
    /// Attribution.
    pub attribution_id: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// SharedId.
    pub shared_id: Option<String>,
    /// Order.
    pub order_id: String,
    /// Credit or self-referral claim.
    pub action: ScoredActionKind,
    /// Conversion time.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    /// Whether any rule fired.
    pub flagged: bool,
    /// Rules that fired.
    pub reasons: Vec<RiskReason>,
    /// Program stream time when scored.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub scored_at: DateTime<Utc>,
}

avro_message!(RiskScore, "attrib.RiskScore", ["risk_score.v1.avsc"]);
