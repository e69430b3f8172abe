//! The risk scorer's changelog: per-program totals, per-subject (partner or partner SharedId)
//! day counts, fingerprints, scored actions, join buffers and positions. Internal.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;
use crate::risk_signal::ConversionContext;

/// Counts of one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCounts {
    /// Days since 1970-01-01.
    pub day: i32,
    /// Partner clicks.
    pub clicks: i64,
    /// Scored actions.
    pub actions: i64,
    /// Flagged scored actions.
    pub flagged: i64,
    /// Actions credited by a code alone.
    pub code_only: i64,
    /// Actions credited through a link touchpoint.
    pub link: i64,
}

/// A program's totals and event-time clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramTotals {
    /// Program.
    pub program_id: String,
    /// Largest event time seen.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub stream_time: DateTime<Utc>,
    /// Latest attribution event time: expires contexts that found no attribution.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub attribution_time: DateTime<Utc>,
    /// Latest conversion-context event time: expires attributions that found no context.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub context_time: DateTime<Utc>,
    /// Day counts, oldest first.
    pub days: Vec<DayCounts>,
}

/// A partner's or a partner SharedId's counts and last published level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectState {
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// SharedId, for sub-source subjects.
    pub shared_id: Option<String>,
    /// Day counts, oldest first.
    pub days: Vec<DayCounts>,
    /// Fingerprints seen on this partner's self-referral claims.
    pub self_fingerprints: Vec<String>,
    /// Level last published.
    pub published_level: Option<String>,
    /// Scored count last published.
    pub published_scored: i64,
    /// Flagged count last published.
    pub published_flagged: i64,
    /// Day the level was last evaluated for.
    pub evaluated_day: i32,
}

/// A customer seen converting from a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintCustomer {
    /// Customer id, else attribution key.
    pub customer: String,
    /// Last day seen.
    pub day: i32,
}

/// Customers converting from one device/IP fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintState {
    /// Program.
    pub program_id: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Distinct customers, most recent last.
    pub customers: Vec<FingerprintCustomer>,
}

/// The recorded outcome of a scored action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoredAction {
    /// Action id (commission id).
    pub action_id: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// SharedId.
    pub shared_id: Option<String>,
    /// Day of the conversion.
    pub day: i32,
    /// Whether any rule fired.
    pub flagged: bool,
    /// Credited by a code alone.
    pub code_only: bool,
    /// Credited through a link touchpoint.
    pub link: bool,
    /// Conversion fingerprint.
    pub fingerprint: Option<String>,
    /// Customer id, else attribution key.
    pub customer: String,
    /// A self-referral claim rather than a credit.
    pub self_referral_claim: bool,
}

/// Which part of a changelog record is set follows from its key; see `avro/risk_state.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskState {
    /// Changelog key.
    pub key: String,
    /// Last signals offset applied to this key.
    pub as_of_offset: i64,
    /// Program totals.
    pub program: Option<ProgramTotals>,
    /// Subject counts.
    pub subject: Option<SubjectState>,
    /// Fingerprint customers.
    pub fingerprint: Option<FingerprintState>,
    /// Scored action.
    pub action: Option<ScoredAction>,
    /// Conversion context waiting for its attribution.
    pub context: Option<ConversionContext>,
    /// Day of a context or waiting attribution.
    pub day: i32,
    /// Attribution waiting for its context.
    #[serde(with = "apache_avro::serde_avro_bytes_opt")]
    pub waiting: Option<Vec<u8>>,
    /// Position record: highest source offset applied per source partition.
    pub positions: Vec<SourcePosition>,
}

/// Highest forwarded offset applied from one source partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePosition {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

avro_message!(RiskState, "attrib.RiskState", ["risk_state.v1.avsc"]);
