//! Privacy operations: erase a customer from every store, or a partner's personal profile,
//! with a receipt; export what is held about either. The pure part ([`plan`]) says what each store does; [`store`] does it.
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
//!
//! A partner's profile (name, self-referral ids) lives only on the reference topic (and the
//! catalogues services build from it): `erase_partner` publishes it redacted, and the topic's
//! retention with `reference refresh` removes the older copies.

pub mod config;
pub mod plan;
pub mod store;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use schemas::ErasureRequest;
use serde_json::json;

use crate::config::PrivacyConfig;
use crate::plan::{PartnerSubject, Subject};
use crate::store::PrivacyError;

/// The analytics database, and the earlier requests for the subject of `subject_hash` (what a
/// receipt lists, so a repeated request shows the first).
async fn open_request(
    config: &PrivacyConfig,
    subject_hash: &str,
) -> Result<(clickhouse::Client, serde_json::Value), PrivacyError> {
    let db = store::database(config).await?;
    let earlier = store::earlier_requests(&db, subject_hash).await?;
    let earlier = earlier
        .iter()
        .map(|(id, at)| json!({"request_id": id, "completed_at": at}))
        .collect();
    Ok((db, earlier))
}

/// Erases `subject`; returns the receipt (also recorded in `privacy_requests`).
pub async fn erase(
    config: &PrivacyConfig,
    subject: &Subject,
    actor: &str,
    request_id: &str,
) -> Result<serde_json::Value, PrivacyError> {
    let subject_hash = subject.hash(config.subject_key.expose());
    let (db, earlier) = open_request(config, &subject_hash).await?;
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
        let ms = policy.retention_of(topic);
        json!({"topic": topic, "retention_ms": ms.unwrap_or(-1), "old_records_gone_by": gone_by(now, ms)})
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
        "earlier_requests": earlier,
        "found": {"visitor_ids": found.visitors.len(), "attribution_keys": found.keys.len(), "attributions": found.attributions.len()},
        "state": receipts.iter().map(|(service, (store, seen, removed, redacted))| json!({
            "service": service, "changelog": store, "partitions": seen.len(),
            "entries_removed": removed, "entries_redacted": redacted,
        })).collect::<Vec<_>>(),
        "clickhouse": changed.iter().map(|(table, action, rows)| json!({"table": table, "action": action, "rows": rows})).collect::<Vec<_>>(),
        "logs": logs,
        "kept": "ledger lines, entries, payouts and the partner database: no personal data (order ids, partners, amounts)",
    });
    let audit = store::Audit {
        request_id,
        program_id: &subject.program_id,
        subject_hash: &subject_hash,
        actor,
        requested_at: request.requested_at,
    };
    store::record(&db, &audit, &receipt).await?;
    Ok(receipt)
}

/// When the old copies on a topic with `retention_ms` are gone, counting from `now`.
fn gone_by(now: DateTime<Utc>, retention_ms: Option<i64>) -> serde_json::Value {
    match retention_ms.filter(|ms| *ms > 0) {
        Some(ms) => json!((now + ChronoDuration::milliseconds(ms)).to_rfc3339()),
        None => json!(null),
    }
}

/// Erases a partner's personal profile: the reference topic gets the partner record with name
/// and self-referral ids removed (signed, so the services apply it); older copies leave the
/// topic with its retention (`REFERENCE_RETENTION_MS`). Returns the receipt (also recorded).
pub async fn erase_partner(
    config: &PrivacyConfig,
    subject: &PartnerSubject,
    actor: &str,
    request_id: &str,
) -> Result<serde_json::Value, PrivacyError> {
    let subject_hash = subject.hash(config.subject_key.expose());
    let (db, earlier) = open_request(config, &subject_hash).await?;
    let requested_at = Utc::now();
    let key = subject.reference_key();
    let live = store::reference_live(config).await?;
    let Some((record, _)) = live.records.get(&key) else {
        return Err(PrivacyError(format!(
            "partner {} is not on the reference topic {}: nothing to erase",
            subject.partner_id, config.common.topics.reference_config
        )));
    };
    let own_accounts = record
        .partner
        .as_ref()
        .map(|p| p.self_referral_ids.clone())
        .unwrap_or_default();
    // The partner's own accounts seen as customers are listed for the operator (to erase
    // with `privacy erase`) but only counted in the recorded receipt.
    let own_accounts_seen = if own_accounts.is_empty() {
        Vec::new()
    } else {
        store::json_rows(&db, &plan::as_customer_query(&own_accounts)).await?
    };
    let mut as_customer: std::collections::BTreeMap<String, u64> = Default::default();
    for row in &own_accounts_seen {
        *as_customer
            .entry(row["program_id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    let changed = match plan::redact_partner(record, request_id, requested_at) {
        Some((redacted, changed)) => {
            store::publish_reference(config, &key, redacted).await?;
            changed
        }
        None => Vec::new(),
    };
    // The partner's own webhook endpoints: their URL is the partner's address; switched off.
    let mut endpoints_erased = Vec::new();
    for (endpoint_key, (endpoint, _)) in &live.records {
        if let Some(redacted) = plan::redact_endpoint(endpoint, subject, request_id, requested_at) {
            store::publish_reference(config, endpoint_key, redacted).await?;
            endpoints_erased.push(endpoint_key.clone());
        }
    }
    // A specialist's profile (name, bio, photo) is withdrawn; the trust service drops it from
    // its state and republishes their trust records without it. The records it published
    // before are deleted from ClickHouse (they never carried the name, but they describe the
    // profile's completeness).
    let profiles = &config.common.topics.trust_profiles;
    store::tombstone(config, profiles, &subject.partner_id).await?;
    let partner_db =
        ledger_writer::store::migrations::partner_database(&config.clickhouse.database);
    let trust_rows = store::mutate(
        &db,
        &partner_db,
        &[plan::erase_trust_rows(&partner_db, &subject.partner_id)],
        config.receipt_wait,
    )
    .await?;
    // Read back as a service would: the redacted records are the ones that apply.
    let after = store::reference_live(config).await?.records;
    let applied = after
        .get(&key)
        .and_then(|(r, _)| r.partner.clone())
        .is_some_and(|p| p.name == plan::ERASED && p.self_referral_ids.is_empty())
        && endpoints_erased.iter().all(|k| {
            after
                .get(k)
                .and_then(|(r, _)| r.webhook_endpoint.as_ref())
                .is_some_and(|e| e.url == plan::ERASED && !e.enabled)
        });
    if !applied {
        return Err(PrivacyError(format!(
            "the redacted record for {key} is not the live one on {}: a newer publish raced it; run the erasure again",
            config.common.topics.reference_config
        )));
    }
    let now = Utc::now();
    let topic = &config.common.topics.reference_config;
    let receipt = json!({
        "request_id": request_id,
        "subject": "partner",
        "subject_hash": subject_hash,
        "actor": actor,
        "requested_at": requested_at.to_rfc3339(),
        "completed_at": now.to_rfc3339(),
        "earlier_requests": earlier,
        "reference": {
            "topic": topic,
            "fields_erased": changed,
            "webhook_endpoints_switched_off": endpoints_erased,
            "retention_ms": config.common.kafka.topic_policy.retention_of(topic).unwrap_or(-1),
            "old_copies_gone_by": gone_by(now, config.common.kafka.topic_policy.retention_of(topic)),
        },
        "services": "enricher, attributor, risk and webhooks follow the reference topic: their catalogues hold the erased profile (and the switched-off endpoints) from their next poll, and after a restart",
        "specialist_profile": {
            "topic": profiles,
            "withdrawn": true,
            "retention_ms": config.common.kafka.topic_policy.retention_of(profiles).unwrap_or(-1),
            "old_copies_gone_by": gone_by(now, config.common.kafka.topic_policy.retention_of(profiles)),
            "trust": "the trust service drops the profile from its state on reading the withdrawal and republishes the specialist's records without it",
        },
        "clickhouse": "no table holds partner profile data (names, self-referral ids); a specialist's trust_specialists rows are deleted (the trust service writes them again without the profile)",
        "trust_rows_deleted": trust_rows.first().map_or(0, |(_, _, n)| *n),
        "own_accounts_as_customers": as_customer.iter().map(|(program, n)| json!({"program_id": program, "customers": n})).collect::<Vec<_>>(),
        "file": "remove the name, self_referral_ids and the partner's webhook endpoints from the reference file too: `reference publish` refuses a file that would restore an erased profile",
        "kept": "the partner id on ledger lines, entries, payouts, evidence and risk levels: the program's pseudonymous account id, kept with the money for finance's legal retention",
    });
    let audit = store::Audit {
        request_id,
        program_id: "",
        subject_hash: &subject_hash,
        actor,
        requested_at,
    };
    store::record(&db, &audit, &receipt).await?;
    let mut printed = receipt;
    printed["own_accounts_to_erase"] = json!({
        "note": "not recorded: the partner's own accounts seen as customers; erase each with `privacy erase --program P --customer C`",
        "accounts": own_accounts_seen.iter().map(|r| json!({"program_id": r["program_id"], "customer_id": r["customer"]})).collect::<Vec<_>>(),
    });
    Ok(printed)
}

/// Everything held about a partner, as one JSON document: the profile and the partner's
/// links and codes from the reference topic, and their rows of the partner-safe tables.
pub async fn export_partner(
    config: &PrivacyConfig,
    subject: &PartnerSubject,
) -> Result<serde_json::Value, PrivacyError> {
    let db = store::database(config).await?;
    let live = store::reference_live(config).await?;
    let profile = live
        .records
        .get(&subject.reference_key())
        .and_then(|(r, _)| r.partner.clone());
    let mine = |r: &schemas::ReferenceRecord| {
        r.link
            .as_ref()
            .is_some_and(|l| l.partner_id == subject.partner_id)
            || r.code
                .as_ref()
                .is_some_and(|c| c.partner_id == subject.partner_id)
    };
    let (links, codes): (Vec<_>, Vec<_>) = live
        .records
        .values()
        .map(|(r, _)| r)
        .filter(|r| mine(r))
        .partition(|r| r.link.is_some());
    let partner_db =
        ledger_writer::store::migrations::partner_database(&config.clickhouse.database);
    let mut tables = serde_json::Map::new();
    for (table, sql) in plan::partner_export_queries(subject, &partner_db) {
        tables.insert(table.to_string(), json!(store::json_rows(&db, &sql).await?));
    }
    Ok(json!({
        "partner_id": subject.partner_id,
        "exported_at": Utc::now().to_rfc3339(),
        "profile": profile,
        "links": links.iter().map(|r| &r.link).collect::<Vec<_>>(),
        "codes": codes.iter().map(|r| &r.code).collect::<Vec<_>>(),
        "tables": tables,
    }))
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
