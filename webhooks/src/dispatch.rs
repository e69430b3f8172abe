//! The dispatcher's state of one outbox partition (pure): each endpoint's sequence and health
//! and the risk levels it was told, and every delivery its endpoint has not acknowledged yet —
//! with its exact body and retry schedule, so pending retries survive a crash.
//!
//! A notification becomes a delivery with a stable id (`msg_` + hash of endpoint and
//! notification: a replayed input finds it and adds nothing) and the endpoint's next sequence.
//! An attempt's outcome removes the delivery (acknowledged), schedules the next attempt, or —
//! past the horizon — dead-letters it and marks the endpoint failing until it next succeeds.
//!
//! Checkpoint phases: deliveries first, then endpoints, then the position. After a crash
//! between them, a restored delivery whose endpoint record is older moves the sequence past it
//! (see [`DispatchState::restore`]), so no sequence is given twice.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use runtime::stateful::{Change, PartitionState};
use schemas::webhook::{EndpointProgress, PendingDelivery, WebhookStateEntry};
use schemas::{WebhookNotification, WebhookState};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::retry::RetryPolicy;

/// The stable delivery id of `notification` for its endpoint (the `webhook-id` header).
pub fn delivery_id(endpoint_id: &str, notification_id: &str) -> String {
    let digest = Sha256::digest(format!("{endpoint_id}\n{notification_id}").as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

/// What became of a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Tried again then.
    Retry(DateTime<Utc>),
    /// Past the horizon: dead-lettered (the delivery, removed).
    DeadLettered(Box<PendingDelivery>),
    /// Not pending here (acknowledged already, or its partition moved).
    Unknown,
}

/// One outbox partition's dispatch state.
#[derive(Debug, Clone, Default)]
pub struct DispatchState {
    endpoints: BTreeMap<String, EndpointProgress>,
    deliveries: BTreeMap<String, PendingDelivery>,
    as_of_offset: i64,
    changed_deliveries: BTreeSet<String>,
    changed_endpoints: BTreeSet<String>,
    position_changed: bool,
}

impl DispatchState {
    /// An empty partition.
    pub fn new() -> DispatchState {
        DispatchState {
            as_of_offset: -1,
            ..DispatchState::default()
        }
    }

    /// Rebuilds a partition from its latest changelog records.
    pub fn restore(records: impl IntoIterator<Item = WebhookState>) -> DispatchState {
        let mut state = DispatchState::new();
        for record in records {
            match record.entry {
                WebhookStateEntry::Endpoint => {
                    if let Some(e) = record.endpoint {
                        state.endpoints.insert(e.endpoint_id.clone(), e);
                    }
                }
                WebhookStateEntry::Delivery => {
                    if let Some(d) = record.delivery {
                        state.deliveries.insert(d.delivery_id.clone(), d);
                    }
                }
                WebhookStateEntry::Position => state.as_of_offset = record.as_of_offset,
            }
        }
        // A crash after a checkpoint's deliveries and before its endpoints leaves deliveries
        // the endpoint record does not count yet.
        for d in state.deliveries.values() {
            let endpoint = state
                .endpoints
                .entry(d.endpoint_id.clone())
                .or_insert_with(|| progress(&d.endpoint_id));
            endpoint.next_sequence = endpoint.next_sequence.max(d.sequence + 1);
        }
        state
    }

    /// True when the input at `offset` is already reflected (a replay after a crash).
    pub fn applied(&self, offset: i64) -> bool {
        offset <= self.as_of_offset
    }

    /// Applies the notification read at `offset`: the new delivery to attempt now, if any
    /// (none for a risk level the endpoint was already told, or a replayed input).
    pub fn notify(
        &mut self,
        n: &WebhookNotification,
        offset: i64,
        now: DateTime<Utc>,
    ) -> Option<PendingDelivery> {
        if self.applied(offset) {
            return None;
        }
        self.as_of_offset = offset;
        self.position_changed = true;
        let id = delivery_id(&n.endpoint_id, &n.notification_id);
        if self.deliveries.contains_key(&id) {
            return None;
        }
        let endpoint = self
            .endpoints
            .entry(n.endpoint_id.clone())
            .or_insert_with(|| progress(&n.endpoint_id));
        let mut data: Value = serde_json::from_str(&n.data).unwrap_or(Value::Null);
        if let Some(level) = &n.risk_level {
            let previous = endpoint.levels.insert(n.partner_id.clone(), level.clone());
            if previous.as_ref() == Some(level) {
                // Told already; the record being new is not news (counts moved, a new day).
                return None;
            }
            if let Value::Object(map) = &mut data {
                map.insert("previous_level".into(), json!(previous));
            }
        }
        let sequence = endpoint.next_sequence;
        endpoint.next_sequence += 1;
        self.changed_endpoints.insert(n.endpoint_id.clone());
        let body = json!({
            "type": n.event_type,
            "timestamp": n.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "sequence": sequence,
            "data": data,
        });
        let delivery = PendingDelivery {
            delivery_id: id.clone(),
            endpoint_id: n.endpoint_id.clone(),
            program_id: n.program_id.clone(),
            partner_id: n.partner_id.clone(),
            event_type: n.event_type.clone(),
            sequence,
            body: body.to_string(),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
        };
        self.deliveries.insert(id.clone(), delivery.clone());
        self.changed_deliveries.insert(id);
        Some(delivery)
    }

    /// The endpoint acknowledged `delivery_id`: it is removed, the endpoint is healthy.
    pub fn delivered(&mut self, delivery_id: &str) -> Option<PendingDelivery> {
        let delivery = self.deliveries.remove(delivery_id)?;
        self.changed_deliveries.insert(delivery_id.to_string());
        if let Some(e) = self.endpoints.get_mut(&delivery.endpoint_id) {
            if e.failing_since.is_some() || e.dead_lettered > 0 {
                e.failing_since = None;
                e.dead_lettered = 0;
                self.changed_endpoints.insert(delivery.endpoint_id.clone());
            }
        }
        Some(delivery)
    }

    /// An attempt of `delivery_id` failed at `at`: schedule the next, or dead-letter it.
    pub fn failed(
        &mut self,
        delivery_id: &str,
        at: DateTime<Utc>,
        policy: &RetryPolicy,
    ) -> AfterFailure {
        let Some(delivery) = self.deliveries.get_mut(delivery_id) else {
            return AfterFailure::Unknown;
        };
        delivery.attempts += 1;
        let attempts = u32::try_from(delivery.attempts).unwrap_or(u32::MAX);
        self.changed_deliveries.insert(delivery_id.to_string());
        match policy.next_attempt(delivery_id, delivery.created_at, attempts, at) {
            Some(next) => {
                delivery.next_attempt_at = next;
                AfterFailure::Retry(next)
            }
            None => {
                let Some(delivery) = self.deliveries.remove(delivery_id) else {
                    return AfterFailure::Unknown;
                };
                let endpoint = self
                    .endpoints
                    .entry(delivery.endpoint_id.clone())
                    .or_insert_with(|| progress(&delivery.endpoint_id));
                endpoint.failing_since.get_or_insert(at);
                endpoint.dead_lettered += 1;
                self.changed_endpoints.insert(delivery.endpoint_id.clone());
                AfterFailure::DeadLettered(Box::new(delivery))
            }
        }
    }

    /// Every pending delivery (scheduled again after a restore).
    pub fn pending(&self) -> impl Iterator<Item = &PendingDelivery> {
        self.deliveries.values()
    }

    /// A pending delivery.
    pub fn delivery(&self, delivery_id: &str) -> Option<&PendingDelivery> {
        self.deliveries.get(delivery_id)
    }

    /// Endpoints marked failing (a delivery dead-lettered since their last success).
    pub fn failing(&self) -> impl Iterator<Item = &EndpointProgress> {
        self.endpoints
            .values()
            .filter(|e| e.failing_since.is_some())
    }

    /// The oldest pending delivery's creation time.
    pub fn oldest_pending(&self) -> Option<DateTime<Utc>> {
        self.deliveries.values().map(|d| d.created_at).min()
    }
}

fn progress(endpoint_id: &str) -> EndpointProgress {
    EndpointProgress {
        endpoint_id: endpoint_id.to_string(),
        next_sequence: 1,
        failing_since: None,
        dead_lettered: 0,
        levels: BTreeMap::new(),
    }
}

fn record(entry: WebhookStateEntry) -> WebhookState {
    WebhookState {
        entry,
        endpoint: None,
        delivery: None,
        as_of_offset: -1,
    }
}

impl PartitionState for DispatchState {
    type Record = WebhookState;
    const PHASES: usize = 2;
    const ENTRY_KINDS: &'static [&'static str] = &["endpoints", "pending_deliveries"];

    fn take_changes(&mut self, phase: usize) -> Vec<Change<WebhookState>> {
        if phase == 0 {
            std::mem::take(&mut self.changed_deliveries)
                .into_iter()
                .map(|id| {
                    let value = self.deliveries.get(&id).map(|d| WebhookState {
                        delivery: Some(d.clone()),
                        ..record(WebhookStateEntry::Delivery)
                    });
                    (format!("delivery/{id}"), value)
                })
                .collect()
        } else {
            std::mem::take(&mut self.changed_endpoints)
                .into_iter()
                .map(|id| {
                    let value = self.endpoints.get(&id).map(|e| WebhookState {
                        endpoint: Some(e.clone()),
                        ..record(WebhookStateEntry::Endpoint)
                    });
                    (format!("endpoint/{id}"), value)
                })
                .collect()
        }
    }

    fn take_position(&mut self) -> Option<WebhookState> {
        std::mem::take(&mut self.position_changed).then(|| WebhookState {
            as_of_offset: self.as_of_offset,
            ..record(WebhookStateEntry::Position)
        })
    }

    fn entries(&self) -> Vec<usize> {
        vec![self.endpoints.len(), self.deliveries.len()]
    }

    fn approx_bytes(&self) -> usize {
        let deliveries: usize = self
            .deliveries
            .values()
            .map(|d| 160 + d.body.len() + d.delivery_id.len() + d.endpoint_id.len())
            .sum();
        let endpoints: usize = self
            .endpoints
            .values()
            .map(|e| {
                96 + e
                    .levels
                    .iter()
                    .map(|(k, v)| 48 + k.len() + v.len())
                    .sum::<usize>()
            })
            .sum();
        deliveries + endpoints
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
    }

    fn note(id: &str, endpoint: &str) -> WebhookNotification {
        let mut n = schemas::examples::webhook_notification();
        n.notification_id = id.into();
        n.endpoint_id = endpoint.into();
        n
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            horizon: Duration::from_secs(300),
        }
    }

    #[test]
    fn each_endpoint_numbers_its_deliveries_and_a_replay_adds_nothing() {
        let mut s = DispatchState::new();
        let a1 = s.notify(&note("n1", "a"), 0, now()).expect("new");
        let b1 = s.notify(&note("n1", "b"), 1, now()).expect("new");
        let a2 = s.notify(&note("n2", "a"), 2, now()).expect("new");
        assert_eq!((a1.sequence, b1.sequence, a2.sequence), (1, 1, 2));
        assert_ne!(a1.delivery_id, b1.delivery_id);
        assert_eq!(a1.delivery_id, delivery_id("a", "n1"));
        let body: Value = serde_json::from_str(&a2.body).unwrap();
        assert_eq!(
            (body["type"].as_str(), body["sequence"].as_i64()),
            (Some("commission.approved"), Some(2))
        );
        assert_eq!(body["data"]["amount"]["amount"], "12.99");
        assert_eq!(
            s.notify(&note("n2", "a"), 2, now()),
            None,
            "the same offset: a replay"
        );
        assert_eq!(
            s.notify(&note("n2", "a"), 3, now()),
            None,
            "the same notification again"
        );
    }

    #[test]
    fn a_risk_level_is_told_only_when_it_changed() {
        let mut s = DispatchState::new();
        let level = |id: &str, level: &str| WebhookNotification {
            event_type: "risk_level.changed".into(),
            risk_level: Some(level.into()),
            data: r#"{"level":"x"}"#.into(),
            ..note(id, "a")
        };
        let first = s
            .notify(&level("r1", "low"), 0, now())
            .expect("first level");
        assert!(
            serde_json::from_str::<Value>(&first.body).unwrap()["data"]["previous_level"].is_null()
        );
        assert_eq!(s.notify(&level("r2", "low"), 1, now()), None);
        let high = s.notify(&level("r3", "high"), 2, now()).expect("changed");
        assert_eq!(
            serde_json::from_str::<Value>(&high.body).unwrap()["data"]["previous_level"],
            "low"
        );
        assert_eq!(high.sequence, 2);
    }

    #[test]
    fn failures_retry_until_the_horizon_then_dead_letter_and_a_success_heals() {
        let mut s = DispatchState::new();
        let d = s.notify(&note("n1", "a"), 0, now()).unwrap();
        let mut at = now();
        let mut retries = 0;
        loop {
            match s.failed(&d.delivery_id, at, &policy()) {
                AfterFailure::Retry(next) => {
                    assert_eq!(
                        s.delivery(&d.delivery_id).map(|p| p.next_attempt_at),
                        Some(next)
                    );
                    at = next;
                    retries += 1;
                }
                AfterFailure::DeadLettered(dead) => {
                    assert_eq!(dead.attempts, retries + 1);
                    break;
                }
                AfterFailure::Unknown => panic!("lost"),
            }
        }
        assert!(retries > 3 && at <= now() + chrono::Duration::seconds(300));
        assert_eq!(s.failing().count(), 1);
        assert_eq!(
            s.failed(&d.delivery_id, at, &policy()),
            AfterFailure::Unknown
        );
        let d2 = s.notify(&note("n2", "a"), 1, now()).unwrap();
        assert!(s.delivered(&d2.delivery_id).is_some());
        assert_eq!(s.failing().count(), 0, "healthy again");
        assert!(s.delivered(&d2.delivery_id).is_none());
    }

    #[test]
    fn a_restore_keeps_pending_retries_and_never_reuses_a_sequence() {
        let mut s = DispatchState::new();
        let d1 = s.notify(&note("n1", "a"), 0, now()).unwrap();
        s.failed(&d1.delivery_id, now(), &policy());
        let deliveries = s.take_changes(0);
        let endpoints = s.take_changes(1);
        let position = s.take_position().unwrap();
        let all: Vec<WebhookState> = deliveries
            .iter()
            .chain(&endpoints)
            .filter_map(|(_, r)| r.clone())
            .chain([position.clone()])
            .collect();
        let restored = DispatchState::restore(all);
        assert_eq!(
            restored.delivery(&d1.delivery_id).map(|d| d.attempts),
            Some(1)
        );
        assert!(restored.applied(0));
        // A crash after the deliveries of a checkpoint and before its endpoints.
        let mut s = restored;
        let d2 = s.notify(&note("n2", "a"), 1, now()).unwrap();
        let only_deliveries: Vec<WebhookState> = s
            .take_changes(0)
            .into_iter()
            .filter_map(|(_, r)| r)
            .chain(deliveries.into_iter().filter_map(|(_, r)| r))
            .chain(endpoints.into_iter().filter_map(|(_, r)| r))
            .chain([position])
            .collect();
        let mut crashed = DispatchState::restore(only_deliveries);
        assert_eq!(
            crashed.notify(&note("n2", "a"), 1, now()),
            None,
            "re-read: already pending"
        );
        let d3 = crashed.notify(&note("n3", "a"), 2, now()).unwrap();
        assert_eq!((d2.sequence, d3.sequence), (2, 3));
    }
}
