//! Builds dead-letter records: the original bytes (capped), a stable reason code, a readable
//! detail and the exact source position, so every rejected message can be found, understood
//! and replayed. The record's id is derived from the source position, so a replay after a
//! crash produces the same id and consumers can de-duplicate.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use schemas::DeadLetter;

use crate::consumer_loop::Input;
use crate::error::RuntimeError;
use crate::kafka::Output;

/// Turns rejected inputs into dead-letter outputs for one topic.
#[derive(Debug, Clone)]
pub struct DeadLetterWriter {
    service: &'static str,
    topic: Arc<str>,
    payload_bytes_max: usize,
}

impl DeadLetterWriter {
    /// Writer for `service`'s dead letters on `topic`.
    pub fn new(service: &'static str, topic: &str, payload_bytes_max: usize) -> Self {
        DeadLetterWriter {
            service,
            topic: topic.into(),
            payload_bytes_max,
        }
    }

    /// The dead-letter topic.
    pub fn topic(&self) -> &Arc<str> {
        &self.topic
    }

    /// The record for a rejected input.
    pub fn record(
        &self,
        input: &Input<'_>,
        reason: &str,
        detail: String,
        event_id: Option<String>,
        failed_at: DateTime<Utc>,
    ) -> DeadLetter {
        let payload = input.payload.unwrap_or_default();
        let kept = payload.len().min(self.payload_bytes_max);
        DeadLetter {
            dead_letter_id: format!("{}/{}/{}", input.topic, input.partition, input.offset),
            service: self.service.to_string(),
            reason: reason.to_string(),
            detail,
            event_id,
            source_topic: input.topic.to_string(),
            source_partition: input.partition,
            source_offset: input.offset,
            source_key: input.key.map(<[u8]>::to_vec),
            payload: payload[..kept].to_vec(),
            payload_bytes_total: i64::try_from(payload.len()).unwrap_or(i64::MAX),
            payload_truncated: kept < payload.len(),
            failed_at,
        }
    }

    /// The dead letter of `input`, failed now, logged at debug level with where it came from.
    pub fn reject(
        &self,
        input: &Input<'_>,
        reason: &str,
        detail: String,
        event_id: Option<String>,
    ) -> Result<Output, RuntimeError> {
        tracing::debug!(
            topic = input.topic,
            partition = input.partition,
            offset = input.offset,
            reason,
            detail,
            "Dead-lettered."
        );
        self.output(input, reason, detail, event_id, Utc::now())
    }

    /// The encoded output for a rejected input, keyed like the original message.
    pub fn output(
        &self,
        input: &Input<'_>,
        reason: &str,
        detail: String,
        event_id: Option<String>,
        failed_at: DateTime<Utc>,
    ) -> Result<Output, RuntimeError> {
        let record = self.record(input, reason, detail, event_id, failed_at);
        let payload = schemas::encode(&record).map_err(|error| RuntimeError::Encode {
            what: "dead letter",
            error,
        })?;
        Ok(Output::keyed(
            self.topic.clone(),
            input.key.map(<[u8]>::to_vec),
            payload,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversize_payload_is_truncated_and_says_so() {
        let writer = DeadLetterWriter::new("ingest", "t.dlq", 4);
        let input = Input {
            topic: "t.raw",
            partition: 3,
            offset: 99,
            key: Some(b"k"),
            payload: Some(b"0123456789"),
            timestamp_ms: None,
        };
        let record = writer.record(&input, "oversize", "10 bytes".into(), None, Utc::now());
        assert_eq!(record.dead_letter_id, "t.raw/3/99");
        assert_eq!(record.payload, b"0123");
        assert_eq!(record.payload_bytes_total, 10);
        assert!(record.payload_truncated);
        let output = writer
            .output(&input, "oversize", "10 bytes".into(), None, Utc::now())
            .expect("encodes");
        let back: DeadLetter =
            schemas::decode(output.payload.as_deref().expect("payload")).expect("decodes");
        assert_eq!(back.reason, "oversize");
        assert_eq!(output.key.as_deref(), Some(&b"k"[..]));
    }
}
