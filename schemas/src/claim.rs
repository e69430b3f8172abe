//! A missing-commission claim as answered (`avro/claim_notice.v1.avsc`): what the partner API
//! publishes for each answer, so the answer is on a topic before it is anywhere else.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// One version of a claim: answered at once, open for an operator, or resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimNotice {
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
    /// The answer the partner reads (JSON).
    pub detail: String,
    /// `answered`, `open`, `resolved`.
    pub status: String,
    /// An operator's resolution (empty until resolved).
    pub resolution: String,
    /// Who resolved it (never sent to partners).
    pub resolved_by: String,
    /// Submitted.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub submitted_at: DateTime<Utc>,
    /// This change.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub updated_at: DateTime<Utc>,
    /// Microseconds of the change: the newer version wins.
    pub version: i64,
}

impl ClaimNotice {
    /// Whether the partner has an answer (at once, or an operator's resolution); an `open`
    /// claim is waiting for one.
    pub fn is_answered(&self) -> bool {
        self.status != "open"
    }
}

avro_message!(ClaimNotice, "attrib.ClaimNotice", ["claim_notice.v1.avsc"]);
