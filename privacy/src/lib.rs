//! Privacy operations: erase a customer from every store with a receipt, and export what is
//! held about them. The pure part ([`plan`]) says what each store does; [`store`] does it.
//!
//! How an erasure reaches every store (DESIGN.md §8, README.md here):
//! - **state** of enricher, attributor and risk: the request is written to every partition of
//!   the requests topic, which each of them consumes beside its input; each partition removes
//!   the customer's entries (tombstones on the changelog) and answers with a receipt;
//! - **logs**: the broker may never compact, so nothing relies on it. Topics that carry
//!   personal data have time retention (`PERSONAL_RETENTION_MS`, `DEAD_LETTER_RETENTION_MS`);
//!   state changelogs are `compact,delete` with `PERSONAL_STATE_RETENTION_MS`, and the
//!   services rewrite their live state every `STATE_REFRESH_SECONDS`, so the erased
//!   customer's old records age out of every log by the dates the receipt gives;
//! - **ClickHouse**: mutations delete touchpoints and redact the customer from conversions,
//!   attributions, evidence and risk details; money rows keep amounts and ids;
//! - **the ledger** (lines, entries, payouts, the partner database) holds no personal data
//!   and is not touched.

pub mod config;
pub mod plan;
pub mod store;

use chrono::{Duration as ChronoDuration, Utc};
use schemas::ErasureRequest;
use serde_json::json;

use crate::config::PrivacyConfig;
use crate::plan::Subject;
use crate::store::PrivacyError;

/// Erases `subject`; returns the receipt (also recorded in `privacy_requests`).
pub async fn erase(
    config: &PrivacyConfig,
    subject: &Subject,
    actor: &str,
    request_id: &str,
) -> Result<serde_json::Value, PrivacyError> {
    let db = store::database(config).await?;
    let subject_hash = subject.hash(config.subject_key.expose());
    let earlier = store::earlier_requests(&db, &subject_hash).await?;
    let found = store::find(&db, subject).await?;
    let request = ErasureRequest {
        request_id: request_id.to_string(),
        program_id: subject.program_id.clone(),
        customer_id: subject.customer_id.clone(),
        visitor_ids: found.visitors.clone(),
        attribution_keys: found.keys.clone(),
        actor: actor.to_string(),
        requested_at: Utc::now(),
    };
    let partitions = store::publish(config, &request).await?;
    let mutations = plan::mutations(subject, &found);
    let changed = store::mutate(
        &db,
        &config.clickhouse.database,
        &mutations,
        config.receipt_wait,
    )
    .await?;
    let wait = config.receipt_wait;
    let reader_config = config.clone();
    let id = request_id.to_string();
    let receipts = tokio::task::spawn_blocking(move || {
        store::await_receipts(&reader_config, &id, partitions, wait)
    })
    .await
    .map_err(|e| PrivacyError(format!("receipt reader: {e}")))??;

    let now = Utc::now();
    let policy = &config.common.kafka.topic_policy;
    let topics = &config.common.topics;
    let expiry = |topic: &String| {
        let ms = policy.retention_of(topic).unwrap_or(-1);
        let by = (ms > 0).then(|| (now + ChronoDuration::milliseconds(ms)).to_rfc3339());
        json!({"topic": topic, "retention_ms": ms, "old_records_gone_by": by})
    };
    let mut logs: Vec<serde_json::Value> =
        topics.personal_streams().into_iter().map(expiry).collect();
    logs.extend(topics.personal_state().into_iter().map(expiry));
    logs.push(expiry(&topics.touchpoints_dlq));
    let receipt = json!({
        "request_id": request_id,
        "program_id": subject.program_id,
        "subject_hash": subject_hash,
        "actor": actor,
        "requested_at": request.requested_at.to_rfc3339(),
        "completed_at": now.to_rfc3339(),
        "earlier_requests": earlier.iter().map(|(id, at)| json!({"request_id": id, "completed_at": at})).collect::<Vec<_>>(),
        "found": {"visitor_ids": found.visitors.len(), "attribution_keys": found.keys.len(), "attributions": found.attributions.len()},
        "state": receipts.iter().map(|(service, (store, seen, removed, redacted))| json!({
            "service": service, "changelog": store, "partitions": seen.len(),
            "entries_removed": removed, "entries_redacted": redacted,
        })).collect::<Vec<_>>(),
        "clickhouse": changed.iter().map(|(table, action, rows)| json!({"table": table, "action": action, "rows": rows})).collect::<Vec<_>>(),
        "logs": logs,
        "kept": "ledger lines, entries, payouts and the partner database: no personal data (order ids, partners, amounts)",
    });
    store::record(&db, &request, &subject_hash, &receipt).await?;
    Ok(receipt)
}

/// Everything the analytics database holds about `subject`, as one JSON document.
pub async fn export(
    config: &PrivacyConfig,
    subject: &Subject,
) -> Result<serde_json::Value, PrivacyError> {
    let db = store::database(config).await?;
    let found = store::find(&db, subject).await?;
    let mut tables = serde_json::Map::new();
    for (table, sql) in plan::export_queries(subject, &found) {
        tables.insert(table.to_string(), json!(store::json_rows(&db, &sql).await?));
    }
    Ok(json!({
        "program_id": subject.program_id,
        "customer_id": subject.customer_id,
        "exported_at": Utc::now().to_rfc3339(),
        "visitor_ids": found.visitors,
        "attribution_keys": found.keys,
        "tables": tables,
    }))
}
