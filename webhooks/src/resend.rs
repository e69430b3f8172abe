//! `webhooks resend`: an endpoint's events again — about one ledger entry, payout or claim,
//! several, or a time range of when they happened — for an owner who lost what they received.
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
use schemas::ledger_state::Payout;
use schemas::{ClaimNotice, LedgerEntry};

use crate::config::WebhooksConfig;
use crate::events::{self, Event};

/// Which events to send again.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Events about these ledger entries, payouts or claims.
    pub ids: Vec<String>,
    /// Events that happened (the ledger recorded the entry, the payout was created or settled,
    /// the claim answered) at or after this.
    pub from: Option<DateTime<Utc>>,
    /// … and before this.
    pub to: Option<DateTime<Utc>>,
}

impl Selection {
    /// Whether `event` is selected.
    pub fn selects(&self, event: &Event) -> bool {
        let named = self.ids.is_empty() || self.ids.contains(&event.source_id);
        let after = self.from.is_none_or(|f| event.occurred_at >= f);
        let before = self.to.is_none_or(|t| event.occurred_at < t);
        named && after && before
    }
}

/// Every event recorded on `topic` so far, as `to_event` reads its records.
fn events_of(
    config: &WebhooksConfig,
    topic: &str,
    to_event: impl Fn(&[u8]) -> Option<Event>,
) -> Result<Vec<Event>, String> {
    let fail = |e: RuntimeError| e.to_string();
    let reader = TopicReader::new(
        &config.common.kafka,
        "webhooks-resend",
        topic,
        Duration::from_secs(30),
    )
    .map_err(fail)?;
    let partitions: Vec<i32> = (0..reader.partition_count().map_err(fail)?).collect();
    let ends = reader.start(&partitions).map_err(fail)?;
    let mut out = Vec::new();
    reader
        .read_until(&ends, |r| {
            if let Some(event) = r.payload.and_then(&to_event) {
                out.push(event);
            }
        })
        .map_err(fail)?;
    Ok(out)
}

/// Reads the ledger entries, payouts and claims topics and the reference data, and sends the
/// selected events of `endpoint_id` to the outbox again; returns how many.
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
    let mut found = events_of(config, &t.ledger_entries, |p| {
        schemas::decode::<LedgerEntry>(p)
            .ok()
            .and_then(|e| events::from_ledger_entry(&e))
    })?;
    found.extend(events_of(config, &t.payouts, |p| {
        schemas::decode::<Payout>(p)
            .ok()
            .map(|p| events::from_payout(&p))
    })?);
    found.extend(events_of(config, &t.claims, |p| {
        schemas::decode::<ClaimNotice>(p)
            .ok()
            .and_then(|c| events::from_claim(&c))
    })?);
    let outbox: Arc<str> = Arc::from(t.webhooks_outbox.as_str());
    let mut outputs = Vec::new();
    for event in found.iter().filter(|e| selection.selects(e)) {
        for n in events::address(event, std::iter::once(&endpoint)) {
            let bytes = schemas::encode(&n).map_err(|e| e.to_string())?;
            outputs.push(Output::keyed(
                Arc::clone(&outbox),
                Some(n.endpoint_id.clone().into_bytes()),
                bytes,
            ));
        }
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
    fn a_selection_is_named_events_within_a_range() {
        let mut entry = schemas::examples::ledger_entry();
        entry.recorded_at = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
        let e = events::from_ledger_entry(&entry).expect("an event");
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
                to: Some(entry.recorded_at),
                ..Selection::default()
            }
            .selects(&e),
            "the end is excluded"
        );
        assert!(Selection {
            ids: vec![entry.entry_id.clone()],
            ..Selection::default()
        }
        .selects(&e));
        assert!(!Selection {
            ids: vec!["other".into()],
            ..Selection::default()
        }
        .selects(&e));
        let payout = events::from_payout(&schemas::examples::payout());
        assert!(Selection {
            ids: vec!["pay-3".into()],
            ..Selection::default()
        }
        .selects(&payout));
    }
}
