//! What tools outside the project need to read our topics: which schema wrote a message
//! (Kafka headers naming it, from the fingerprint in its first ten bytes) and the same record
//! as one JSON object (the optional JSON mirror topics).
//!
//! The JSON form is the Avro record as written, field for field: timestamps as RFC 3339 UTC
//! strings with milliseconds, enums as their symbol, optional fields as the value or `null`,
//! bytes as text when they are UTF-8 (raw events are) and `{"hex": "…"}` otherwise. Money
//! stays exact: minor units as JSON integers and, on ledger entries, `amount` as a decimal
//! string.

use apache_avro::types::Value;
use apache_avro::{from_avro_datum, Schema};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::codec::{read_header, AvroMessage, CodecError, SchemaFamily, HEADER_LEN};

/// Every message type that travels on a topic, with all its published versions.
pub fn families() -> [&'static SchemaFamily; 26] {
    [
        crate::ValidTouchpoint::family(),
        crate::EnrichedTouchpoint::family(),
        crate::Attribution::family(),
        crate::CommissionDecision::family(),
        crate::RiskLevel::family(),
        crate::LedgerEntry::family(),
        crate::ReferenceRecord::family(),
        crate::DeadLetter::family(),
        crate::IdentityBinding::family(),
        crate::AttributorState::family(),
        crate::RiskSignal::family(),
        crate::RiskState::family(),
        crate::RiskScore::family(),
        crate::LedgerCommand::family(),
        crate::LedgerState::family(),
        crate::ErasureRequest::family(),
        crate::ErasureReceipt::family(),
        crate::WebhookNotification::family(),
        crate::WebhookState::family(),
        crate::WebhookAttempt::family(),
        crate::ledger_state::Payout::family(),
        crate::ClaimNotice::family(),
        crate::TrustState::family(),
        crate::SpecialistTrust::family(),
        crate::VerificationEvent::family(),
        crate::touchpoint::SourceWatermark::family(),
    ]
}

/// The writer schema a fingerprint names.
#[derive(Debug, Clone, Copy)]
pub struct Writer {
    /// Full Avro name, e.g. `attrib.LedgerEntry`.
    pub name: &'static str,
    /// Its version (the `vN` of the file name).
    pub version: u32,
    /// The file under `schemas/avro/`.
    pub file: &'static str,
    /// CRC-64-AVRO fingerprint of its parsing canonical form.
    pub fingerprint: u64,
    schema: &'static Schema,
}

/// Every published schema version.
pub fn writers() -> impl Iterator<Item = Writer> {
    families().into_iter().flat_map(|family| {
        family.versions.iter().map(move |v| Writer {
            name: family.name,
            version: version_of(v.file),
            file: v.file,
            fingerprint: v.fingerprint,
            schema: &v.schema,
        })
    })
}

/// Looks a fingerprint up among every published schema.
pub fn writer(fingerprint: u64) -> Option<Writer> {
    writers().find(|w| w.fingerprint == fingerprint)
}

fn version_of(file: &str) -> u32 {
    file.trim_end_matches(".avsc")
        .rsplit(".v")
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The Kafka headers every Avro message carries, so a consumer without our code can pick the
/// `.avsc` file: `content-type`, `avro.encoding`, `avro.schema.name`, `avro.schema.version`,
/// `avro.schema.file` and `avro.schema.fingerprint` (16 hex digits of the CRC-64-AVRO
/// fingerprint, as the message's bytes 2–9 hold it little-endian).
pub fn headers(writer: &Writer) -> [(&'static str, String); 6] {
    [
        ("content-type", "application/avro".to_string()),
        ("avro.encoding", "single-object".to_string()),
        ("avro.schema.name", writer.name.to_string()),
        ("avro.schema.version", writer.version.to_string()),
        ("avro.schema.file", writer.file.to_string()),
        (
            "avro.schema.fingerprint",
            format!("{:016x}", writer.fingerprint),
        ),
    ]
}

/// Every published schema as a Markdown table: name, version, file, the fingerprint as the
/// `avro.schema.fingerprint` header spells it (the README's table comes from this).
pub fn fingerprint_table() -> String {
    let mut out = String::from(
        "| Schema | Version | File | `avro.schema.fingerprint` |\n|---|---|---|---|\n",
    );
    for w in writers() {
        out.push_str(&format!(
            "| `{}` | {} | `{}` | `{:016x}` |\n",
            w.name, w.version, w.file, w.fingerprint
        ));
    }
    out
}

/// A single-object encoded message of any published schema as one JSON object.
pub fn to_json(bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
    let fingerprint = read_header(bytes)?;
    let writer =
        writer(fingerprint).ok_or(CodecError::UnknownFingerprint(fingerprint, "any type"))?;
    let mut body = &bytes[HEADER_LEN..];
    let value = from_avro_datum(writer.schema, &mut body, None)?;
    Ok(json(value))
}

fn json(value: Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Boolean(b) => J::Bool(b),
        Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => J::from(i),
        Value::Long(i) | Value::TimeMicros(i) => J::from(i),
        Value::Float(f) => J::from(f64::from(f)),
        Value::Double(f) => J::from(f),
        Value::String(s) => J::String(s),
        Value::Enum(_, symbol) => J::String(symbol),
        Value::Bytes(b) | Value::Fixed(_, b) => match String::from_utf8(b) {
            Ok(text) => J::String(text),
            Err(e) => {
                serde_json::json!({ "hex": crate::ids::hex(e.as_bytes()) })
            }
        },
        Value::Union(_, inner) => json(*inner),
        Value::Array(items) => J::Array(items.into_iter().map(json).collect()),
        Value::Map(map) => J::Object(map.into_iter().map(|(k, v)| (k, json(v))).collect()),
        Value::Record(fields) => J::Object(fields.into_iter().map(|(k, v)| (k, json(v))).collect()),
        Value::TimestampMillis(ms) | Value::LocalTimestampMillis(ms) => {
            timestamp(DateTime::<Utc>::from_timestamp_millis(ms), ms)
        }
        Value::TimestampMicros(us) | Value::LocalTimestampMicros(us) => {
            timestamp(DateTime::<Utc>::from_timestamp_micros(us), us)
        }
        other => J::String(format!("{other:?}")),
    }
}

fn timestamp(at: Option<DateTime<Utc>>, raw: i64) -> serde_json::Value {
    at.map_or(serde_json::Value::from(raw), |at| {
        serde_json::Value::String(at.to_rfc3339_opts(SecondsFormat::Millis, true))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;

    #[test]
    fn a_ledger_entry_reads_as_json_with_exact_money_and_utc_times() {
        let bytes = crate::encode(&examples::ledger_entry()).expect("encode");
        let j = to_json(&bytes).expect("json");
        assert_eq!(j["commission_id"], "com-a1");
        assert_eq!(j["amount_minor"], 650);
        assert_eq!(j["amount"], "6.50");
        assert_eq!(j["currency_exponent"], 2);
        assert_eq!(j["sequence"], 2);
        assert_eq!(j["from_status"], "pending");
        assert_eq!(j["to_status"], "approved");
        assert_eq!(j["payout_id"], serde_json::Value::Null);
        assert_eq!(j["effective_at"], "2026-01-31T00:00:00.000Z");
    }

    #[test]
    fn every_example_has_headers_naming_its_schema_file() {
        for example in examples::all().expect("examples") {
            let fingerprint = read_header(&example.encoded).expect("header");
            let writer = writer(fingerprint).expect("published");
            assert_eq!(format!("{}.avsc", example.name), writer.file);
            let headers = headers(&writer);
            assert_eq!(headers[4].1, writer.file);
            assert_eq!(headers[5].1.len(), 16);
            assert!(to_json(&example.encoded).expect("json").is_object());
        }
    }

    #[test]
    fn the_readme_lists_every_fingerprint() {
        let table = fingerprint_table();
        assert!(
            include_str!("../README.md").contains(&table),
            "schemas/README.md's fingerprint table is stale; replace it with:\n{table}"
        );
    }

    #[test]
    fn a_dead_letter_keeps_its_payload_readable() {
        let bytes = crate::encode(&examples::dead_letter()).expect("encode");
        let j = to_json(&bytes).expect("json");
        assert!(j["payload"].is_string(), "{j}");
        assert!(j["reason"].is_string());
    }
}
