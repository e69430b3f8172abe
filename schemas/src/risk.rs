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
