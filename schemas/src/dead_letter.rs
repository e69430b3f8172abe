//! Dead-letter records: a rejected message with its bytes, reason and provenance.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// A rejected message. See `avro/dead_letter.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// `<source_topic>/<partition>/<offset>`.
    pub dead_letter_id: String,
    /// Rejecting service.
    pub service: String,
    /// Reason code.
    pub reason: String,
    /// Human-readable detail.
    pub detail: String,
    /// event_id when readable.
    pub event_id: Option<String>,
    /// Source topic (or `file:<path>`).
    pub source_topic: String,
    /// Source partition (-1 for files).
    pub source_partition: i32,
    /// Source offset (line for files).
    pub source_offset: i64,
    /// Original key.
    #[serde(with = "apache_avro::serde_avro_bytes_opt")]
    pub source_key: Option<Vec<u8>>,
    /// Original bytes (prefix when truncated).
    #[serde(with = "apache_avro::serde_avro_bytes")]
    pub payload: Vec<u8>,
    /// Original size.
    pub payload_bytes_total: i64,
    /// Whether `payload` is a prefix.
    pub payload_truncated: bool,
    /// When rejected.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub failed_at: DateTime<Utc>,
}

avro_message!(DeadLetter, "attrib.DeadLetter", ["dead_letter.v1.avsc"]);
