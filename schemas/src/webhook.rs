//! Webhooks: the router's notifications for one endpoint, the dispatcher's state, and the
//! delivery log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::avro_message;

/// One event for one endpoint. See `avro/webhook_notification.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookNotification {
    /// `<event type>/<source id>`.
    pub notification_id: String,
    /// Endpoint.
    pub endpoint_id: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// Event type.
    pub event_type: String,
    /// Business time.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    /// The body's `data`, as JSON.
    pub data: String,
    /// A risk level, for change detection.
    pub risk_level: Option<String>,
}

/// Which kind of state record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookStateEntry {
    /// An endpoint's progress.
    Endpoint,
    /// A pending delivery.
    Delivery,
    /// The partition's position.
    Position,
}

/// An endpoint's sequence, health and the risk levels it was told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointProgress {
    /// Endpoint.
    pub endpoint_id: String,
    /// The next delivery's sequence.
    pub next_sequence: i64,
    /// Failing since a delivery was dead-lettered.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub failing_since: Option<DateTime<Utc>>,
    /// Dead-lettered since the last success.
    pub dead_lettered: i64,
    /// Partner → level last told.
    pub levels: BTreeMap<String, String>,
}

/// A delivery not yet acknowledged by its endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDelivery {
    /// `msg_<hex>`.
    pub delivery_id: String,
    /// Endpoint.
    pub endpoint_id: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// Event type.
    pub event_type: String,
    /// Per-endpoint sequence.
    pub sequence: i64,
    /// The JSON body.
    pub body: String,
    /// Created.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub created_at: DateTime<Utc>,
    /// Attempts so far.
    pub attempts: i32,
    /// Next attempt.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub next_attempt_at: DateTime<Utc>,
}

/// One changelog record. See `avro/webhook_state.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookState {
    /// Which record.
    pub entry: WebhookStateEntry,
    /// Endpoint records.
    pub endpoint: Option<EndpointProgress>,
    /// Delivery records.
    pub delivery: Option<PendingDelivery>,
    /// Position records: the last outbox offset applied.
    pub as_of_offset: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// 2xx.
    Delivered,
    /// Another status, or no connection.
    Failed,
    /// No answer within the timeout.
    TimedOut,
    /// The target resolved to an address deliveries may not go to.
    RefusedTarget,
    /// The last failure: past the retry horizon, dead-lettered.
    DeadLettered,
}

impl AttemptOutcome {
    /// The schema's symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::TimedOut => "timed_out",
            AttemptOutcome::RefusedTarget => "refused_target",
            AttemptOutcome::DeadLettered => "dead_lettered",
        }
    }
}

/// One attempt, for the delivery log. See `avro/webhook_attempt.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookAttempt {
    /// `<delivery_id>/<attempt>`.
    pub attempt_id: String,
    /// Delivery.
    pub delivery_id: String,
    /// Endpoint.
    pub endpoint_id: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// Event type.
    pub event_type: String,
    /// Per-endpoint sequence.
    pub sequence: i64,
    /// 1 for the first.
    pub attempt: i32,
    /// When.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub attempted_at: DateTime<Utc>,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// HTTP status, 0 without a response.
    pub status_code: i32,
    /// Latency.
    pub latency_ms: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// The next attempt, when one is scheduled.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

avro_message!(
    WebhookNotification,
    "attrib.WebhookNotification",
    ["webhook_notification.v1.avsc"]
);
avro_message!(
    WebhookState,
    "attrib.WebhookState",
    ["webhook_state.v1.avsc"]
);
avro_message!(
    WebhookAttempt,
    "attrib.WebhookAttempt",
    ["webhook_attempt.v1.avsc"]
);
