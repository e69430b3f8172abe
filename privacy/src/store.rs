//! ClickHouse and Kafka for the privacy tool: finding the subject, the mutations, the
//! requests and receipts, the audit row.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clickhouse::Client;
use runtime::topic_reader::TopicReader;
use runtime::{Output, Producer};
use schemas::{ErasureReceipt, ErasureRequest};

use crate::config::PrivacyConfig;
use crate::plan::{list, literal, Found, Subject};

/// A failure, worded for the person running the command.
#[derive(Debug)]
pub struct PrivacyError(pub String);

impl From<runtime::RuntimeError> for PrivacyError {
    fn from(e: runtime::RuntimeError) -> Self {
        PrivacyError(e.to_string())
    }
}

fn ch(e: clickhouse::error::Error) -> PrivacyError {
    PrivacyError(format!("clickhouse: {}", runtime::clickhouse::describe(&e)))
}

/// A client on the analytics database, its schema current.
pub async fn database(config: &PrivacyConfig) -> Result<Client, PrivacyError> {
    let server = ledger_writer::store::connect(&config.clickhouse)?;
    let database = &config.clickhouse.database;
    ledger_writer::store::migrations::migrate(&server, database).await?;
    Ok(server.with_database(database))
}

async fn strings(db: &Client, sql: &str) -> Result<Vec<String>, PrivacyError> {
    db.query(sql).fetch_all::<String>().await.map_err(ch)
}

/// The subject's visitors, attribution keys and attributions, from the analytics tables.
pub async fn find(db: &Client, subject: &Subject) -> Result<Found, PrivacyError> {
    let program = literal(&subject.program_id);
    let customer = literal(&subject.customer_id);
    let mut visitors = strings(
        db,
        &format!(
            "SELECT DISTINCT assumeNotNull(visitor_id) FROM touchpoints WHERE program_id = {program} AND customer_id = {customer} AND visitor_id IS NOT NULL \
             UNION ALL SELECT DISTINCT assumeNotNull(visitor_id) FROM conversions WHERE program_id = {program} AND customer_id = {customer} AND visitor_id IS NOT NULL"
        ),
    )
    .await?;
    visitors.sort();
    visitors.dedup();
    let mut keys = subject.attribution_keys(&visitors);
    keys.extend(
        strings(
            db,
            &format!(
                "SELECT DISTINCT attribution_key FROM touchpoints WHERE program_id = {program} AND (customer_id = {customer} OR visitor_id IN {})",
                list(&visitors)
            ),
        )
        .await?,
    );
    keys.sort();
    keys.dedup();
    let attributions = strings(
        db,
        &format!(
            "SELECT DISTINCT attribution_id FROM attributions WHERE program_id = {program} AND (customer_id = {customer} OR attribution_key IN {})",
            list(&keys)
        ),
    )
    .await?;
    Ok(Found {
        visitors,
        keys,
        attributions,
    })
}

/// Earlier requests for the same subject: (request id, completed at).
pub async fn earlier_requests(
    db: &Client,
    subject_hash: &str,
) -> Result<Vec<(String, String)>, PrivacyError> {
    db.query("SELECT request_id, toString(completed_at) FROM privacy_requests FINAL WHERE subject_hash = ? ORDER BY completed_at")
        .bind(subject_hash)
        .fetch_all::<(String, String)>()
        .await
        .map_err(ch)
}

/// Runs each mutation (counting its rows first) and waits until ClickHouse has finished
/// them all; returns (table, action, rows).
pub async fn mutate(
    db: &Client,
    database: &str,
    mutations: &[crate::plan::Mutation],
    wait: Duration,
) -> Result<Vec<(String, String, u64)>, PrivacyError> {
    let mut done = Vec::new();
    for m in mutations {
        let rows: u64 = db.query(&m.count).fetch_one().await.map_err(ch)?;
        if rows > 0 {
            db.query(&m.statement).execute().await.map_err(ch)?;
        }
        done.push((m.table.to_string(), m.action.to_string(), rows));
    }
    let started = Instant::now();
    loop {
        let pending: u64 = db
            .query("SELECT count() FROM system.mutations WHERE database = ? AND is_done = 0")
            .bind(database)
            .fetch_one()
            .await
            .map_err(ch)?;
        if pending == 0 {
            return Ok(done);
        }
        if started.elapsed() > wait {
            return Err(PrivacyError(format!(
                "ClickHouse still runs {pending} mutation(s) of database {database} after {wait:?}; see system.mutations"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes `request` to every partition of the requests topic; returns the partition count.
pub async fn publish(
    config: &PrivacyConfig,
    request: &ErasureRequest,
) -> Result<i32, PrivacyError> {
    let kafka = &config.common.kafka;
    let topic = &config.common.topics.privacy_requests;
    let partitions = runtime::service::partition_count(kafka, topic)?;
    if partitions < 1 {
        return Err(PrivacyError(format!(
            "topic {topic} does not exist: start the services (they create it) before erasing"
        )));
    }
    let payload = runtime::encode("erasure request", request)?;
    let topic: Arc<str> = Arc::from(topic.as_str());
    let outputs: Vec<Output> = (0..partitions)
        .map(|p| Output {
            topic: Arc::clone(&topic),
            key: Some(request.request_id.clone().into_bytes()),
            partition: Some(p),
            payload: Some(payload.clone()),
        })
        .collect();
    Producer::new(kafka, "privacy")?.send_all(&outputs).await?;
    Ok(partitions)
}

/// The services that hold personal state and answer every erasure request.
pub const STATEFUL_SERVICES: [&str; 3] = ["enricher", "attributor", "risk"];

/// Per service: (store, partitions answered, removed, redacted).
pub type Receipts = BTreeMap<String, (String, Vec<i32>, i64, i64)>;

/// Reads the receipts topic until every service answered `request_id` for every partition
/// (or `wait` passes: then the missing ones are named).
pub fn await_receipts(
    config: &PrivacyConfig,
    request_id: &str,
    partitions: i32,
    wait: Duration,
) -> Result<Receipts, PrivacyError> {
    let topic = &config.common.topics.privacy_receipts;
    let reader = TopicReader::new(&config.common.kafka, "privacy-receipts", topic, wait)?;
    let all: Vec<i32> = (0..reader.partition_count()?).collect();
    reader.start(&all)?;
    let mut receipts = Receipts::new();
    let started = Instant::now();
    let complete = |r: &Receipts| {
        STATEFUL_SERVICES.iter().all(|s| {
            r.get(*s)
                .is_some_and(|(_, seen, ..)| (0..partitions).all(|p| seen.contains(&p)))
        })
    };
    while !complete(&receipts) {
        if started.elapsed() > wait {
            let missing: Vec<String> = STATEFUL_SERVICES
                .iter()
                .flat_map(|s| {
                    let seen = receipts
                        .get(*s)
                        .map(|(_, seen, ..)| seen.clone())
                        .unwrap_or_default();
                    (0..partitions)
                        .filter(move |p| !seen.contains(p))
                        .map(move |p| format!("{s} partition {p}"))
                })
                .collect();
            return Err(PrivacyError(format!(
                "no receipt after {wait:?} from: {} (are they running? the request stays on the topic and is applied when they start)",
                missing.join(", ")
            )));
        }
        reader.follow(Duration::from_millis(250), |record| {
            let Some(receipt) = record
                .payload
                .and_then(|p| schemas::decode::<ErasureReceipt>(p).ok())
            else {
                return;
            };
            if receipt.request_id != request_id {
                return;
            }
            let entry = receipts
                .entry(receipt.service.clone())
                .or_insert_with(|| (receipt.store.clone(), Vec::new(), 0, 0));
            if !entry.1.contains(&receipt.partition) {
                entry.1.push(receipt.partition);
            }
            // A request re-read after a crash answers again with nothing left to remove.
            entry.2 += receipt.records_removed;
            entry.3 += receipt.records_redacted;
        })?;
    }
    Ok(receipts)
}

/// Records the request and its receipt in `privacy_requests`.
pub async fn record(
    db: &Client,
    audit: &Audit<'_>,
    receipt: &serde_json::Value,
) -> Result<(), PrivacyError> {
    db.query("INSERT INTO privacy_requests (request_id, program_id, subject_hash, actor, requested_at, completed_at, receipt) VALUES (?, ?, ?, ?, toDateTime(?), now(), ?)")
        .bind(audit.request_id)
        .bind(audit.program_id)
        .bind(audit.subject_hash)
        .bind(audit.actor)
        .bind(audit.requested_at.timestamp())
        .bind(receipt.to_string())
        .execute()
        .await
        .map_err(ch)
}

/// What the audit trail records of a request (never the subject's id).
#[derive(Debug)]
pub struct Audit<'a> {
    /// The request.
    pub request_id: &'a str,
    /// The program; empty for a partner, whose profile spans programs.
    pub program_id: &'a str,
    /// Keyed hash of the subject.
    pub subject_hash: &'a str,
    /// Who asked.
    pub actor: &'a str,
    /// When.
    pub requested_at: chrono::DateTime<chrono::Utc>,
}

/// The reference topic's live records (read as the services read it).
pub async fn reference_live(
    config: &PrivacyConfig,
) -> Result<reference::publish::Live, PrivacyError> {
    let kafka = config.common.kafka.clone();
    let topic = config.common.topics.reference_config.clone();
    tokio::task::spawn_blocking(move || reference::publish::read_live(&kafka, &topic))
        .await
        .map_err(|e| PrivacyError(format!("reference reader: {e}")))?
        .map_err(PrivacyError::from)
}

/// Signs `record` (when the tool has a publisher key) and writes it to the reference topic.
/// Refused when the services check signatures and the tool cannot sign: they would skip it.
pub async fn publish_reference(
    config: &PrivacyConfig,
    key: &str,
    mut record: schemas::ReferenceRecord,
) -> Result<(), PrivacyError> {
    match &config.reference_signer {
        Some((principal, secret)) => {
            reference::signing::sign(&mut record, principal, secret.expose());
        }
        None if !config.common.reference_publishers.is_empty() => {
            return Err(PrivacyError(
                "REFERENCE_PUBLISHER_KEYS is set, so the services apply only signed reference records: set REFERENCE_PUBLISH_PRINCIPAL and REFERENCE_PUBLISH_KEY (a publisher's key) for erase-partner".into(),
            ));
        }
        None => {}
    }
    let payload = runtime::encode("reference record", &record)?;
    let producer = Producer::new(&config.common.kafka, "privacy")?;
    producer
        .send_all(&[Output {
            topic: Arc::from(config.common.topics.reference_config.as_str()),
            key: Some(key.as_bytes().to_vec()),
            partition: None,
            payload: Some(payload),
        }])
        .await?;
    producer.flush(Duration::from_secs(10))?;
    Ok(())
}

/// Withdraws `key`'s record from a compacted topic (a tombstone): the trust service drops the
/// specialist's profile when it reads it.
pub async fn tombstone(config: &PrivacyConfig, topic: &str, key: &str) -> Result<(), PrivacyError> {
    // The topic exists once the trust service ran; before, the tombstone waits there for it.
    runtime::service::create_topics(
        &config.common.kafka,
        &[runtime::service::Topic::Stream(
            topic,
            runtime::kafka::Cleanup::CompactDelete,
        )],
    )
    .await?;
    let producer = Producer::new(&config.common.kafka, "privacy")?;
    producer
        .send_all(&[Output {
            topic: Arc::from(topic),
            key: Some(key.as_bytes().to_vec()),
            partition: None,
            payload: None,
        }])
        .await?;
    producer.flush(Duration::from_secs(10))?;
    Ok(())
}

/// The rows of `sql` as JSON objects.
pub async fn json_rows(db: &Client, sql: &str) -> Result<Vec<serde_json::Value>, PrivacyError> {
    let mut cursor = db.query(sql).fetch_bytes("JSONEachRow").map_err(ch)?;
    let mut body = Vec::new();
    while let Some(chunk) = cursor.next().await.map_err(ch)? {
        body.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| PrivacyError(format!("ClickHouse sent a row that is not JSON: {e}")))
        })
        .collect()
}
