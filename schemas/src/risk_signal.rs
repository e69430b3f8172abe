//! What the risk router forwards to the risk scorer, re-keyed by program so that a program's
//! clicks, conversions and attributions meet in one partition, in one order. Internal.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// A click credited to a partner (counted for click flooding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClickSignal {
    /// Event id.
    pub event_id: String,
    /// Partner the click resolved to.
    pub partner_id: String,
    /// SharedId.
    pub shared_id: Option<String>,
}

/// What risk needs of a conversion that its attribution does not carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionContext {
    /// The conversion's event id (the attribution's `event_id`).
    pub event_id: String,
    /// `<program>/<visitor>`.
    pub attribution_key: String,
    /// Customer.
    pub customer_id: Option<String>,
    /// Hashed IP.
    pub ip_hash: Option<String>,
    /// Network prefix of the IP, e.g. `203.0.113.0/24`.
    pub ip_prefix: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Referrer URL.
    pub referrer: Option<String>,
}

/// One forwarded record. See `avro/risk_signal.v1.avsc`; exactly one of `click`,
/// `conversion`, `attribution` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskSignal {
    /// Program (the message key).
    pub program_id: String,
    /// Source topic.
    pub source_topic: String,
    /// Source partition.
    pub source_partition: i32,
    /// Source offset.
    pub source_offset: i64,
    /// Event time of what it carries.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    /// A partner click.
    pub click: Option<ClickSignal>,
    /// A conversion's context.
    pub conversion: Option<ConversionContext>,
    /// An attribution message, as read.
    #[serde(with = "apache_avro::serde_avro_bytes_opt")]
    pub attribution: Option<Vec<u8>>,
}

avro_message!(RiskSignal, "attrib.RiskSignal", ["risk_signal.v1.avsc"]);
