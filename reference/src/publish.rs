//! Publishing a validated file to the compacted reference topic: one record per entity that is
//! new or changed, and a tombstone per entity the topic holds but the file no longer does.
//! Unchanged entities are not re-sent, so publishing the same file twice sends nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use runtime::kafka::{ensure_topics_partitioned, Cleanup, Output, Producer};
use runtime::settings::KafkaConfig;
use runtime::topic_reader::TopicReader;
use runtime::RuntimeError;
use schemas::ReferenceRecord;

use crate::file::ReferenceSet;

/// What a publish changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishSummary {
    /// Entities the topic did not hold.
    pub added: usize,
    /// Entities whose content changed.
    pub changed: usize,
    /// Entities already on the topic as they are in the file.
    pub unchanged: usize,
    /// Entities removed (tombstoned).
    pub removed: usize,
}

impl std::fmt::Display for PublishSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} added, {} changed, {} unchanged, {} removed",
            self.added, self.changed, self.unchanged, self.removed
        )
    }
}

/// The same entity, ignoring when and from which file revision it was published.
fn same_entity(a: &ReferenceRecord, b: &ReferenceRecord) -> bool {
    (&a.program, &a.partner, &a.link, &a.code, &a.commission_rule)
        == (&b.program, &b.partner, &b.link, &b.code, &b.commission_rule)
}

/// The messages that bring a topic holding `current` to `set`: upserts first (programs and
/// partners before what names them), then tombstones (dependents before what they name).
pub fn plan(
    current: &BTreeMap<String, ReferenceRecord>,
    set: &ReferenceSet,
    published_at: DateTime<Utc>,
    revision: &str,
) -> (Vec<(String, Option<ReferenceRecord>)>, PublishSummary) {
    let mut summary = PublishSummary::default();
    let mut messages = Vec::new();
    let wanted = set.records(published_at, revision);
    for (key, record) in &wanted {
        match current.get(key) {
            Some(existing) if same_entity(existing, record) => summary.unchanged += 1,
            Some(_) => {
                summary.changed += 1;
                messages.push((key.clone(), Some(record.clone())));
            }
            None => {
                summary.added += 1;
                messages.push((key.clone(), Some(record.clone())));
            }
        }
    }
    let order = ["commission_rule/", "code/", "link/", "partner/", "program/"];
    for prefix in order {
        for key in current.keys().filter(|k| k.starts_with(prefix)) {
            if !wanted.iter().any(|(k, _)| k == key) {
                summary.removed += 1;
                messages.push((key.clone(), None));
            }
        }
    }
    (messages, summary)
}

/// Reads the live entities on the topic.
pub fn read_current(
    kafka: &KafkaConfig,
    topic: &str,
) -> Result<BTreeMap<String, ReferenceRecord>, RuntimeError> {
    let reader = TopicReader::new(
        kafka,
        "attrib-reference-publish",
        topic,
        kafka.delivery_timeout,
    )?;
    let partitions: Vec<i32> = (0..reader.partition_count()?).collect();
    let ends = reader.start(&partitions)?;
    let mut current = BTreeMap::new();
    let mut undecodable = Vec::new();
    reader.read_to(&ends, |record| {
        let Some(key) = record.key.map(|k| String::from_utf8_lossy(k).into_owned()) else {
            return;
        };
        match record.payload.map(schemas::decode::<ReferenceRecord>) {
            None => {
                current.remove(&key);
            }
            Some(Ok(r)) if r.deleted => {
                current.remove(&key);
            }
            Some(Ok(r)) => {
                current.insert(key, r);
            }
            Some(Err(e)) => undecodable.push(format!("{key} at offset {}: {e}", record.offset)),
        }
    })?;
    reader.stop()?;
    if !undecodable.is_empty() {
        return Err(RuntimeError::State {
            topic: topic.to_string(),
            detail: format!(
                "records that are not reference records: {}",
                undecodable.join("; ")
            ),
        });
    }
    Ok(current)
}

/// Publishes `set` to `topic` (created compacted with one partition, so every reader sees
/// changes in publishing order) and waits until the broker acknowledged every record.
///
/// With a `signer` (principal, key) every record is signed, and a removal is a signed
/// `deleted` record rather than a tombstone (which cannot carry a signature).
pub async fn publish(
    kafka: &KafkaConfig,
    topic: &str,
    set: &ReferenceSet,
    revision: &str,
    now: DateTime<Utc>,
    signer: Option<(&str, &[u8])>,
) -> Result<PublishSummary, RuntimeError> {
    ensure_topics_partitioned(kafka, &[(topic, Cleanup::Compact, 1)]).await?;
    let current = {
        let kafka = kafka.clone();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || read_current(&kafka, &topic))
            .await
            .map_err(|e| RuntimeError::State {
                topic: "reference".into(),
                detail: format!("reader task failed: {e}"),
            })??
    };
    let (messages, summary) = plan(&current, set, now, revision);
    let topic: Arc<str> = Arc::from(topic);
    let mut outputs = Vec::with_capacity(messages.len());
    for (key, record) in messages {
        let record = match (record, signer) {
            (Some(r), _) => Some(r),
            // A signed removal: the entity as last published, marked deleted.
            (None, Some(_)) => current.get(&key).map(|last| ReferenceRecord {
                deleted: true,
                published_at: now,
                source_revision: revision.to_string(),
                ..last.clone()
            }),
            (None, None) => None,
        };
        let record = record.map(|mut r| {
            if let Some((principal, key)) = signer {
                crate::signing::sign(&mut r, principal, key);
            }
            r
        });
        let payload = match record {
            Some(r) => Some(schemas::encode(&r).map_err(|error| RuntimeError::Encode {
                what: "reference record",
                error,
            })?),
            None => None,
        };
        outputs.push(Output {
            topic: Arc::clone(&topic),
            key: Some(key.into_bytes()),
            partition: None,
            payload,
        });
    }
    let producer = Producer::new(kafka, "attrib-reference-publish")?;
    producer.send_all(&outputs).await?;
    producer.flush(Duration::from_secs(10))?;
    Ok(summary)
}
