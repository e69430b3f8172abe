//! `webhooks resend`: the ledger's events of one endpoint again — one entry, several, or a
//! time range of when the ledger recorded them — for an owner who lost what they received.
//! Each goes to the outbox as the notification it was (same notification id, so the same
//! `webhook-id`: a receiver that has it can tell), and the dispatcher delivers it with the
//! endpoint's next sequence number.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reference::Catalog;
use runtime::kafka::{Output, Producer};
use runtime::topic_reader::TopicReader;
use runtime::RuntimeError;
use schemas::LedgerEntry;

use crate::config::WebhooksConfig;
use crate::events;

/// Which events to send again.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// These ledger entries.
    pub entries: Vec<String>,
    /// Entries the ledger recorded at or after this.
    pub from: Option<DateTime<Utc>>,
    /// … and before this.
    pub to: Option<DateTime<Utc>>,
}

impl Selection {
    /// Whether `entry` is selected.
    pub fn selects(&self, entry: &LedgerEntry) -> bool {
        let named = self.entries.is_empty() || self.entries.contains(&entry.entry_id);
        let after = self.from.is_none_or(|f| entry.recorded_at >= f);
        let before = self.to.is_none_or(|t| entry.recorded_at < t);
        named && after && before
    }
}

/// Reads the ledger entries topic and the reference data, and sends the selected events of
/// `endpoint_id` to the outbox again; returns how many.
pub async fn resend(
    config: &WebhooksConfig,
    endpoint_id: &str,
    selection: &Selection,
) -> Result<usize, String> {
    let kafka = &config.common.kafka;
    let t = &config.common.topics;
    let timeout = Duration::from_secs(30);
    let fail = |e: RuntimeError| e.to_string();
    let mut catalog = Catalog::default();
    let reference = TopicReader::new(
        kafka,
        "webhooks-resend-reference",
        &t.reference_config,
        timeout,
    )
    .map_err(fail)?;
    let partitions: Vec<i32> = (0..reference.partition_count().map_err(fail)?).collect();
    let ends = reference.start(&partitions).map_err(fail)?;
    reference
        .read_to(&ends, |r| {
            let key = r
                .key
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default();
            let record = r.payload.and_then(|p| schemas::decode(p).ok());
            let _applied = catalog.apply(&key, record);
        })
        .map_err(fail)?;
    let endpoint = catalog
        .webhook_endpoints()
        .find(|e| e.endpoint_id == endpoint_id)
        .cloned()
        .ok_or_else(|| format!("no webhook endpoint {endpoint_id:?} in the reference data"))?;
    let ledger = TopicReader::new(kafka, "webhooks-resend-ledger", &t.ledger_entries, timeout)
        .map_err(fail)?;
    let partitions: Vec<i32> = (0..ledger.partition_count().map_err(fail)?).collect();
    let ends = ledger.start(&partitions).map_err(fail)?;
    let outbox: Arc<str> = Arc::from(t.webhooks_outbox.as_str());
    let mut outputs = Vec::new();
    let mut encode_error = None;
    ledger
        .read_until(&ends, |r| {
            let Some(entry) = r
                .payload
                .and_then(|p| schemas::decode::<LedgerEntry>(p).ok())
            else {
                return;
            };
            if !selection.selects(&entry) {
                return;
            }
            let Some(event) = events::from_ledger_entry(&entry) else {
                return;
            };
            for n in events::address(&event, std::iter::once(&endpoint)) {
                match schemas::encode(&n) {
                    Ok(bytes) => outputs.push(Output::keyed(
                        Arc::clone(&outbox),
                        Some(n.endpoint_id.clone().into_bytes()),
                        bytes,
                    )),
                    Err(e) => encode_error = Some(e.to_string()),
                }
            }
        })
        .map_err(fail)?;
    if let Some(e) = encode_error {
        return Err(e);
    }
    let producer = Producer::new(kafka, "webhooks-resend").map_err(fail)?;
    producer.send_all(&outputs).await.map_err(fail)?;
    Ok(outputs.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_selection_is_named_entries_within_a_recorded_range() {
        let mut e = schemas::examples::ledger_entry();
        e.recorded_at = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
        assert!(Selection::default().selects(&e));
        let day = |d| Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap();
        assert!(Selection {
            from: Some(day(1)),
            to: Some(day(2)),
            ..Selection::default()
        }
        .selects(&e));
        assert!(!Selection {
            from: Some(day(2)),
            ..Selection::default()
        }
        .selects(&e));
        assert!(
            !Selection {
                to: Some(e.recorded_at),
                ..Selection::default()
            }
            .selects(&e),
            "the end is excluded"
        );
        assert!(Selection {
            entries: vec![e.entry_id.clone()],
            ..Selection::default()
        }
        .selects(&e));
        assert!(!Selection {
            entries: vec!["other".into()],
            ..Selection::default()
        }
        .selects(&e));
    }
}
