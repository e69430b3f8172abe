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

use runtime::privacy::ERASED;

use crate::copies::Copies;
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
        && (&a.write_key, &a.webhook_endpoint) == (&b.write_key, &b.webhook_endpoint)
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
    let order = [
        "webhook_endpoint/",
        "write_key/",
        "commission_rule/",
        "code/",
        "link/",
        "partner/",
        "program/",
    ];
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

/// The reference topic as a reader sees it: the live record per key with the bytes it was
/// last written as, and when each key's newest copy was written.
#[derive(Debug, Default)]
pub struct Live {
    /// Live records by key.
    pub records: BTreeMap<String, (ReferenceRecord, Vec<u8>)>,
    /// Newest copy per key.
    pub copies: Copies,
}

/// Reads the live entities on the topic (stale copies skipped, as a follower does).
pub fn read_live(kafka: &KafkaConfig, topic: &str) -> Result<Live, RuntimeError> {
    let reader = TopicReader::new(
        kafka,
        "attrib-reference-publish",
        topic,
        kafka.delivery_timeout,
    )?;
    let partitions: Vec<i32> = (0..reader.partition_count()?).collect();
    let ends = reader.start(&partitions)?;
    let mut live = Live::default();
    let mut undecodable = Vec::new();
    reader.read_to(&ends, |record| {
        let Some(key) = record.key.map(|k| String::from_utf8_lossy(k).into_owned()) else {
            return;
        };
        match record
            .payload
            .map(|p| (p, schemas::decode::<ReferenceRecord>(p)))
        {
            None => {
                live.copies.admit(&key, None, false, record.timestamp_ms);
                live.records.remove(&key);
            }
            Some((payload, Ok(r))) => {
                if live
                    .copies
                    .admit(&key, Some(r.published_at), !r.deleted, record.timestamp_ms)
                {
                    if r.deleted {
                        live.records.remove(&key);
                    } else {
                        live.records.insert(key, (r, payload.to_vec()));
                    }
                }
            }
            Some((_, Err(e))) => {
                undecodable.push(format!("{key} at offset {}: {e}", record.offset));
            }
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
    Ok(live)
}

/// [`read_live`] on a blocking thread.
async fn read_live_async(kafka: &KafkaConfig, topic: &str) -> Result<Live, RuntimeError> {
    let kafka = kafka.clone();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || read_live(&kafka, &topic))
        .await
        .map_err(|e| RuntimeError::State {
            topic: "reference".into(),
            detail: format!("reader task failed: {e}"),
        })?
}

/// Partners whose profile was erased (`privacy erase-partner`) but whom `set` would give a
/// profile again — a name, own accounts, or a webhook endpoint of their own (its URL is their
/// address): the file still holds the personal data and must be edited first.
pub fn erased_profiles_in(
    current: &BTreeMap<String, ReferenceRecord>,
    set: &ReferenceSet,
) -> Vec<String> {
    let erased = |partner_id: &str| {
        current
            .get(&format!("partner/{partner_id}"))
            .and_then(|r| r.partner.as_ref())
            .is_some_and(|held| held.name == ERASED)
    };
    let mut out: Vec<String> = set
        .partners
        .iter()
        .filter(|wanted| {
            erased(&wanted.partner_id)
                && (wanted.name != ERASED || !wanted.self_referral_ids.is_empty())
        })
        .map(|p| p.partner_id.clone())
        .collect();
    for endpoint in &set.webhooks {
        if let Some(partner) = endpoint.partner_id.as_deref() {
            if erased(partner) && !out.iter().any(|p| p == partner) {
                out.push(partner.to_string());
            }
        }
    }
    out
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RefreshSummary {
    /// Live records re-sent (their newest copy was older than the threshold).
    pub resent: usize,
    /// Live records whose newest copy is recent enough.
    pub fresh: usize,
}

/// Re-sends, byte for byte (signatures stay valid), every live record whose newest copy on
/// `topic` was written more than `older_than` before `now`, so retention never takes the live
/// catalogue; superseded and erased copies are left to age out.
pub async fn refresh(
    kafka: &KafkaConfig,
    topic: &str,
    older_than: Duration,
    now: DateTime<Utc>,
) -> Result<RefreshSummary, RuntimeError> {
    let live = read_live_async(kafka, topic).await?;
    let cutoff = now.timestamp_millis() - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
    let stale = live.copies.live_written_before(cutoff);
    let topic: Arc<str> = Arc::from(topic);
    let outputs: Vec<Output> = stale
        .iter()
        .filter_map(|key| live.records.get(*key).map(|(_, bytes)| (key, bytes)))
        .map(|(key, bytes)| Output {
            topic: Arc::clone(&topic),
            key: Some(key.as_bytes().to_vec()),
            partition: None,
            payload: Some(bytes.clone()),
        })
        .collect();
    let summary = RefreshSummary {
        resent: outputs.len(),
        fresh: live.records.len() - outputs.len(),
    };
    if !outputs.is_empty() {
        let producer = Producer::new(kafka, "attrib-reference-refresh")?;
        producer.send_all(&outputs).await?;
        producer.flush(Duration::from_secs(10))?;
    }
    Ok(summary)
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
    ensure_topics_partitioned(kafka, &[(topic, Cleanup::CompactDelete, 1)]).await?;
    let current: BTreeMap<String, ReferenceRecord> = read_live_async(kafka, topic)
        .await?
        .records
        .into_iter()
        .map(|(key, (record, _))| (key, record))
        .collect();
    let erased = erased_profiles_in(&current, set);
    if !erased.is_empty() {
        return Err(RuntimeError::State {
            topic: topic.to_string(),
            detail: format!(
                "nothing published: the profile of partner(s) {} was erased (`privacy erase-partner`), \
                 and the file still holds it; set their name to \"{ERASED}\" and remove their \
                 self_referral_ids and webhook endpoints (or remove the partner) first",
                erased.join(", ")
            ),
        });
    }
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
