//! Erasure requests as an input of the stateful services (shared plumbing).
//!
//! `privacy erase` writes an [`ErasureRequest`] to every partition of the requests topic, which
//! is co-partitioned with each stateful service's input: partition N of the requests reaches
//! the instance that holds state partition N, in order with the partition's other inputs, so
//! the harness checkpoints the erasure (tombstones, redacted records) like any other change.
//! Applying a request twice removes nothing the second time. Each service answers with one
//! [`ErasureReceipt`] per partition.

use std::sync::Arc;

use chrono::Utc;
use schemas::{ErasureReceipt, ErasureRequest};

use crate::{Input, Output, RuntimeError};

/// What an erased id (or an erased partner's name) becomes where a record must stay: state,
/// analytics rows and the reference topic use the same marker.
pub const ERASED: &str = "erased";

/// A stateful service's input: its own event, or an erasure request.
#[derive(Debug)]
pub enum WithErasure<E> {
    /// The service's own input.
    Event(E),
    /// Erase a subject from this partition's state.
    Erase(ErasureRequest),
}

/// Where erasure requests come from and receipts go.
#[derive(Debug, Clone)]
pub struct ErasureTopics {
    /// The requests topic.
    pub requests: String,
    /// The receipts topic.
    pub receipts: Arc<str>,
}

impl ErasureTopics {
    /// From the configured topic names.
    pub fn new(topics: &crate::settings::Topics) -> ErasureTopics {
        ErasureTopics {
            requests: topics.privacy_requests.clone(),
            receipts: Arc::from(topics.privacy_receipts.as_str()),
        }
    }

    /// Decodes `input` as an erasure request when it comes from the requests topic, else with
    /// `own`.
    pub fn decode<E>(
        &self,
        input: &Input<'_>,
        own: impl FnOnce(&Input<'_>) -> Result<E, String>,
    ) -> Result<WithErasure<E>, String> {
        if input.topic != self.requests {
            return own(input).map(WithErasure::Event);
        }
        let payload = crate::stateful::payload(input)?;
        schemas::decode(payload)
            .map(WithErasure::Erase)
            .map_err(|e| format!("not an erasure request: {e}"))
    }

    /// The receipt output for `request` in `partition` of `service`'s `store`.
    pub fn receipt(
        &self,
        request: &ErasureRequest,
        service: &str,
        partition: i32,
        store: &str,
        removed: usize,
        redacted: usize,
    ) -> Result<Output, RuntimeError> {
        let receipt = ErasureReceipt {
            request_id: request.request_id.clone(),
            service: service.to_string(),
            partition,
            store: store.to_string(),
            records_removed: removed as i64,
            records_redacted: redacted as i64,
            applied_at: Utc::now(),
        };
        tracing::info!(
            request_id = %request.request_id,
            partition,
            removed,
            redacted,
            "Erasure request applied."
        );
        Ok(Output::keyed(
            Arc::clone(&self.receipts),
            Some(request.request_id.clone().into_bytes()),
            crate::encode("erasure receipt", &receipt)?,
        ))
    }
}
