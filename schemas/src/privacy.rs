//! Erasure requests and the receipts each service answers them with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// Erase one customer of one program. See `avro/erasure_request.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRequest {
    /// Unique per request.
    pub request_id: String,
    /// The program.
    pub program_id: String,
    /// The subject.
    pub customer_id: String,
    /// Visitor ids bound to the customer.
    pub visitor_ids: Vec<String>,
    /// Attribution keys of those visitors and of the customer.
    pub attribution_keys: Vec<String>,
    /// Who asked.
    pub actor: String,
    /// When.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub requested_at: DateTime<Utc>,
}

impl ErasureRequest {
    /// Whether `customer_id` (of `program_id`) is this request's subject.
    pub fn is_customer(&self, program_id: &str, customer_id: &str) -> bool {
        self.program_id == program_id && self.customer_id == customer_id
    }

    /// Whether `key` is one of the subject's attribution keys.
    pub fn is_attribution_key(&self, key: &str) -> bool {
        self.attribution_keys.iter().any(|k| k == key)
    }

    /// Whether `visitor_id` (of `program_id`) belongs to the subject.
    pub fn is_visitor(&self, program_id: &str, visitor_id: &str) -> bool {
        self.program_id == program_id && self.visitor_ids.iter().any(|v| v == visitor_id)
    }
}

/// One service's answer for one partition. See `avro/erasure_receipt.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureReceipt {
    /// The request.
    pub request_id: String,
    /// The service.
    pub service: String,
    /// The partition searched.
    pub partition: i32,
    /// The store (changelog topic).
    pub store: String,
    /// Entries removed.
    pub records_removed: i64,
    /// Entries kept with the subject's fields removed.
    pub records_redacted: i64,
    /// When.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub applied_at: DateTime<Utc>,
}

avro_message!(
    ErasureRequest,
    "attrib.ErasureRequest",
    ["erasure_request.v1.avsc"]
);
avro_message!(
    ErasureReceipt,
    "attrib.ErasureReceipt",
    ["erasure_receipt.v1.avsc"]
);
