//! The enricher's identity changelog: customer → visitor bindings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// A customer bound to the visitor (and program) of the first event that carried both ids.
/// See `avro/identity_binding.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityBinding {
    /// Customer id.
    pub customer_id: String,
    /// Program of the binding event.
    pub program_id: String,
    /// Visitor id.
    pub visitor_id: String,
    /// Valid-touchpoint partition of the binding event.
    pub source_partition: i32,
    /// Its offset; later events of that partition see the binding, earlier ones never do.
    pub source_offset: i64,
    /// The binding event.
    pub event_id: String,
    /// The binding event's time.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub bound_at: DateTime<Utc>,
}

avro_message!(
    IdentityBinding,
    "attrib.IdentityBinding",
    ["identity_binding.v1.avsc"]
);
