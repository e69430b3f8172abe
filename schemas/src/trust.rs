//! Specialist trust (issue 22): the scorer's changelog (`avro/trust_state.v1.avsc`), what a
//! program's marketplace shows of a specialist (`avro/specialist_trust.v1.avsc`) and the
//! verification history (`avro/verification_event.v1.avsc`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// What a trust changelog record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustStateEntry {
    /// One specialist's whole state.
    Specialist,
    /// The partition's position.
    Position,
}

/// One trust changelog record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustState {
    /// Kind.
    pub entry: TrustStateEntry,
    /// The specialist (empty for positions).
    pub specialist_id: String,
    /// The state as versioned JSON (empty for positions).
    pub document: String,
    /// Positions: the last signals offset applied.
    pub as_of_offset: i64,
}

/// A specialist as one program's marketplace shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialistTrust {
    /// Program.
    pub program_id: String,
    /// Partner id of the specialist.
    pub specialist_id: String,
    /// Verification status.
    pub verification: String,
    /// Listed in discovery (verified).
    pub listed: bool,
    /// Why not.
    pub not_listed_because: Option<String>,
    /// Decimal score, four places.
    pub score: String,
    /// Profile completeness, percent.
    pub completeness_percent: i32,
    /// Reviews counted.
    pub review_count: i32,
    /// Bayesian average (decimal).
    pub review_average: String,
    /// JSON: components, markers, completeness, reviews.
    pub explanation: String,
    /// Computed at.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub updated_at: DateTime<Utc>,
    /// Microseconds of the computation.
    pub version: i64,
}

impl SpecialistTrust {
    /// The compacted topic's key.
    pub fn key(&self) -> String {
        format!("{}/{}", self.program_id, self.specialist_id)
    }
}

/// A verification command as judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationEvent {
    /// The command's id.
    pub command_id: String,
    /// Specialist.
    pub specialist_id: String,
    /// Action.
    pub action: String,
    /// Accepted or refused.
    pub accepted: bool,
    /// Status before (`not_applied` before any).
    pub from_status: String,
    /// Status after.
    pub to_status: String,
    /// Why refused.
    pub refusal: Option<String>,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// Identity checked.
    pub identity_checked: bool,
    /// Credential checked.
    pub credential_checked: bool,
    /// Agreement checked.
    pub agreement_checked: bool,
    /// When the command was issued.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub at: DateTime<Utc>,
}

avro_message!(TrustState, "attrib.TrustState", ["trust_state.v1.avsc"]);
avro_message!(
    SpecialistTrust,
    "attrib.SpecialistTrust",
    ["specialist_trust.v1.avsc"]
);
avro_message!(
    VerificationEvent,
    "attrib.VerificationEvent",
    ["verification_event.v1.avsc"]
);
