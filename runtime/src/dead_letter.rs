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
        let original = input.payload.unwrap_or_default();
        // A rejected event's raw IP must not outlive ingest any more than a valid one's.
        let payload = redact_ips(original);
        let kept = payload.len().min(self.payload_bytes_max);
        DeadLetter {
            dead_letter_id: format!("{}/{}/{}", input.topic, input.partition, input.offset),
            service: self.service.to_string(),
            reason: reason.to_string(),
            detail: String::from_utf8_lossy(&redact_ips(detail.as_bytes())).into_owned(),
            event_id,
            source_topic: input.topic.to_string(),
            source_partition: input.partition,
            source_offset: input.offset,
            source_key: input.key.map(<[u8]>::to_vec),
            payload: payload[..kept].to_vec(),
            payload_bytes_total: i64::try_from(original.len()).unwrap_or(i64::MAX),
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

/// What replaces an IP address in a dead letter.
pub const IP_REDACTED: &str = "[ip redacted]";

/// `bytes` with every IPv4 or IPv6 address literal replaced by [`IP_REDACTED`]: each maximal
/// run of characters an address can hold (hex digits, `.`, `:`) that parses as one. Errs on the
/// side of redacting (a version string shaped like an IPv4 address goes too); the reason and
/// the position of the input stay, so nothing is lost for diagnosis.
pub fn redact_ips(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let allowed = |b: u8| b.is_ascii_hexdigit() || b == b'.' || b == b':';
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !allowed(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && allowed(bytes[i]) {
            i += 1;
        }
        // Sentence punctuation around an address is not part of it.
        let run = &bytes[start..i];
        let trimmed = run.strip_suffix(b".").unwrap_or(run);
        let is_ip = std::str::from_utf8(trimmed)
            .ok()
            .filter(|t| t.contains('.') || t.matches(':').count() >= 2)
            .is_some_and(|t| t.parse::<std::net::IpAddr>().is_ok());
        if is_ip {
            let buffer = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
            buffer.extend_from_slice(&bytes[copied..start]);
            buffer.extend_from_slice(IP_REDACTED.as_bytes());
            copied = start + trimmed.len();
        }
    }
    match out {
        None => std::borrow::Cow::Borrowed(bytes),
        Some(mut buffer) => {
            buffer.extend_from_slice(&bytes[copied..]);
            std::borrow::Cow::Owned(buffer)
        }
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

    #[test]
    fn raw_ips_never_reach_a_dead_letter() {
        let raw = br#"{"kind":"click","ip":"203.0.113.7","ip6":"2001:db8::1","occurred_at":"2026-06-01T10:00:00Z","amount":"12.50","ua":"Chrome/120.0.6099.109","mapped":"::ffff:198.51.100.4","id":"deadbeef"}"#;
        let redacted = String::from_utf8(redact_ips(raw).into_owned()).expect("utf-8");
        for ip in ["203.0.113.7", "2001:db8::1", "198.51.100.4"] {
            assert!(!redacted.contains(ip), "{ip} in {redacted}");
        }
        for kept in [
            "2026-06-01T10:00:00Z",
            "12.50",
            "Chrome/120.0.6099.109",
            "deadbeef",
        ] {
            assert!(redacted.contains(kept), "{kept} lost from {redacted}");
        }
        assert_eq!(redacted.matches(IP_REDACTED).count(), 3);
        // Nothing to redact: the same bytes, not a copy.
        assert!(matches!(
            redact_ips(b"no address here"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            redact_ips(b"from 10.0.0.1.").as_ref(),
            b"from [ip redacted].".as_slice()
        );
    }
}
