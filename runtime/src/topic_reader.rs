//! Reading compacted topics from the beginning without a consumer group: state changelogs
//! (restore one partition up to its end) and reference data (load everything, then follow).
//!
//! "The end" of a changelog partition is found by writing to it: the restoring owner appends an
//! end marker and reads until it meets it, so everything acknowledged before is seen however
//! the broker reports high watermarks (tansu 0.6.0 reports the start of the last batch) and
//! however slowly it serves the fetches under load. Records produced later by a previous owner
//! belong to inputs whose offsets were never committed, so the new owner re-reads and re-applies
//! them anyway. Reference data has no owner: it is read to the reported end, then until quiet.

use std::time::{Duration, Instant};

use std::sync::Mutex;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::util::Timeout;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::error::RuntimeError;
use crate::kafka::base_config;
use crate::settings::KafkaConfig;

/// How long a topic must stay silent, once its reported end is reached, to count as read.
const DRAIN_QUIET: Duration = Duration::from_millis(300);

/// One record read from a compacted topic.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<&'a [u8]>,
    /// Payload; `None` is a tombstone.
    pub payload: Option<&'a [u8]>,
    /// The broker's (or producer's) timestamp, ms since the epoch, when the message has one.
    pub timestamp_ms: Option<i64>,
}

impl<'a> Record<'a> {
    fn of(message: &'a rdkafka::message::BorrowedMessage<'a>) -> Record<'a> {
        Record {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key(),
            payload: message.payload(),
            timestamp_ms: message.timestamp().to_millis(),
        }
    }
}

/// A group-less reader of one topic.
#[allow(missing_debug_implementations)] // rdkafka's consumer has no Debug
pub struct TopicReader {
    consumer: BaseConsumer,
    topic: String,
    timeout: Duration,
}

/// How long a restore's fetch may wait for data (librdkafka's default is 500 ms). A restore
/// reads a backlog that is all there, so waiting buys nothing; on the local tansu broker the
/// default wait made a 150,000-record restore take 12.8 s instead of 1.9 s (`bench_stages`).
pub const RESTORE_FETCH_WAIT_MS: u32 = 10;

impl TopicReader {
    /// A reader of `topic`; `timeout` bounds each metadata request and the wait for the end.
    pub fn new(
        kafka: &KafkaConfig,
        client_id: &str,
        topic: &str,
        timeout: Duration,
    ) -> Result<TopicReader, RuntimeError> {
        Self::build(kafka, client_id, topic, timeout, None)
    }

    /// A reader for reading a backlog to its end and stopping (a restore): its fetches do not
    /// wait for more data ([`RESTORE_FETCH_WAIT_MS`]) unless `KAFKA_PROP_FETCH_WAIT_MAX_MS`
    /// says otherwise. A follower keeps the client's default, so an idle one does not poll.
    pub fn for_backlog(
        kafka: &KafkaConfig,
        client_id: &str,
        topic: &str,
        timeout: Duration,
    ) -> Result<TopicReader, RuntimeError> {
        Self::build(
            kafka,
            client_id,
            topic,
            timeout,
            Some(RESTORE_FETCH_WAIT_MS),
        )
    }

    fn build(
        kafka: &KafkaConfig,
        client_id: &str,
        topic: &str,
        timeout: Duration,
        fetch_wait_ms: Option<u32>,
    ) -> Result<TopicReader, RuntimeError> {
        let mut config = base_config(kafka, client_id);
        config
            // No group: offsets are never committed, every read starts at the beginning.
            .set("group.id", format!("{client_id}-unused"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        let overridden = kafka
            .client_properties
            .iter()
            .any(|(name, _)| name == "fetch.wait.max.ms");
        if let (Some(ms), false) = (fetch_wait_ms, overridden) {
            config.set("fetch.wait.max.ms", ms.to_string());
        }
        let consumer: BaseConsumer = config.create().map_err(RuntimeError::Kafka)?;
        Ok(TopicReader {
            consumer,
            topic: topic.to_string(),
            timeout,
        })
    }

    /// The topic's partition count (0 when it does not exist).
    pub fn partition_count(&self) -> Result<i32, RuntimeError> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.topic), Timeout::After(self.timeout))
            .map_err(RuntimeError::Kafka)?;
        let count = metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }

    /// Assigns `partitions` from their beginning and returns each one's end offset now.
    pub fn start(&self, partitions: &[i32]) -> Result<Vec<(i32, i64)>, RuntimeError> {
        let mut ends = Vec::with_capacity(partitions.len());
        let mut list = TopicPartitionList::new();
        for &partition in partitions {
            let (low, high) = self
                .consumer
                .fetch_watermarks(&self.topic, partition, Timeout::After(self.timeout))
                .map_err(RuntimeError::Kafka)?;
            if high > low {
                ends.push((partition, high));
            }
            list.add_partition_offset(&self.topic, partition, Offset::Beginning)
                .map_err(RuntimeError::Kafka)?;
        }
        self.consumer.assign(&list).map_err(RuntimeError::Kafka)?;
        Ok(ends)
    }

    /// Reads to the reported ends (see [`TopicReader::read_until`]), then on until the topic
    /// stays quiet: for topics without an owner to write an end marker (reference data).
    pub fn read_to(
        &self,
        ends: &[(i32, i64)],
        mut apply: impl FnMut(Record<'_>),
    ) -> Result<usize, RuntimeError> {
        let mut read = self.read_until(ends, &mut apply)?;
        // The end offsets came from the broker's high watermarks, which tansu 0.6.0 reports as
        // the start of the last batch plus one (LOCAL-STACK.md): the rest of that batch lies
        // beyond them. Read on until the topic stays quiet.
        while let Some(polled) = self.consumer.poll(DRAIN_QUIET) {
            match polled {
                Ok(message) => {
                    read += 1;
                    apply(Record::of(&message));
                }
                Err(e) => {
                    tracing::warn!(topic = %self.topic, error = %e, "Error while reading a compacted topic; retrying.");
                    std::thread::sleep(DRAIN_QUIET);
                }
            }
        }
        Ok(read)
    }

    /// Reads until every partition in `ends` reached its end offset (exclusive), handing each
    /// record to `apply`. Fails if nothing arrives for the reader's timeout before that.
    pub fn read_until(
        &self,
        ends: &[(i32, i64)],
        mut apply: impl FnMut(Record<'_>),
    ) -> Result<usize, RuntimeError> {
        let mut remaining: Vec<(i32, i64)> = ends.to_vec();
        let mut read = 0;
        let mut last_progress = Instant::now();
        while !remaining.is_empty() {
            match self.consumer.poll(Duration::from_millis(100)) {
                None => {
                    if last_progress.elapsed() > self.timeout {
                        return Err(RuntimeError::RestoreStalled {
                            topic: self.topic.clone(),
                            waited: self.timeout,
                            partitions: remaining.iter().map(|(p, _)| *p).collect(),
                        });
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(topic = %self.topic, error = %e, "Error while reading a compacted topic; retrying.");
                }
                Some(Ok(message)) => {
                    last_progress = Instant::now();
                    read += 1;
                    let (partition, offset) = (message.partition(), message.offset());
                    apply(Record::of(&message));
                    remaining.retain(|(p, end)| !(*p == partition && offset + 1 >= *end));
                }
            }
        }
        Ok(read)
    }

    /// Waits up to `timeout` for the next record and applies it; `false` when none came. A
    /// consumption error (the broker restarting, a network blip) is logged and retried: the
    /// client reconnects on its own, and a follower that stopped would serve stale data.
    pub fn follow(
        &self,
        timeout: Duration,
        apply: impl FnOnce(Record<'_>),
    ) -> Result<bool, RuntimeError> {
        match self.consumer.poll(timeout) {
            None => Ok(false),
            Some(Err(e)) => {
                tracing::warn!(topic = %self.topic, error = %e, "Error while following a topic; retrying.");
                std::thread::sleep(timeout.min(Duration::from_millis(500)));
                Ok(false)
            }
            Some(Ok(message)) => {
                apply(Record::of(&message));
                Ok(true)
            }
        }
    }

    /// Stops reading every partition.
    pub fn stop(&self) -> Result<(), RuntimeError> {
        self.consumer.unassign().map_err(RuntimeError::Kafka)
    }
}

/// Creates (when allowed) `topic` with as many partitions as `input`, and checks that it has
/// them: partition N of a changelog holds the state of input partition N (and a second input
/// of that state must meet it there), so a mismatch would restore the wrong state. Call after
/// `input` exists. Returns the partition count.
pub async fn ensure_copartitioned(
    kafka: &KafkaConfig,
    input: &str,
    topic: &str,
    cleanup: crate::kafka::Cleanup,
) -> Result<i32, RuntimeError> {
    let count = |topic: &str| -> Result<i32, RuntimeError> {
        TopicReader::new(kafka, "copartitioning", topic, Duration::from_secs(10))?.partition_count()
    };
    let input_partitions = count(input)?;
    if kafka.create_topics {
        crate::kafka::ensure_topics_partitioned(kafka, &[(topic, cleanup, input_partitions)])
            .await?;
    }
    let partitions = count(topic)?;
    if partitions != input_partitions {
        return Err(RuntimeError::State {
            topic: topic.to_string(),
            detail: format!(
                "has {partitions} partitions but {input} has {input_partitions}; it must be co-partitioned with it"
            ),
        });
    }
    Ok(input_partitions)
}

impl<T: schemas::AvroMessage> crate::stateful::Restore<T> for ChangelogReader {
    fn read(
        &mut self,
        partition: i32,
        progress: &mut dyn FnMut(),
    ) -> Result<Vec<Vec<u8>>, RuntimeError> {
        ChangelogReader::read_payloads::<T>(self, partition, progress)
    }
}

/// Key of the end marker a restore appends to its changelog partition. Restores skip it;
/// compaction keeps one per partition.
pub const END_MARKER_KEY: &[u8] = b"~restore-end";

/// Remembers where the last end marker landed.
#[derive(Default)]
struct MarkerContext {
    delivered: Mutex<Option<Result<i64, String>>>,
}

impl ClientContext for MarkerContext {}

impl ProducerContext for MarkerContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        let outcome = match result {
            Ok(message) => Ok(message.offset()),
            Err((error, _)) => Err(error.to_string()),
        };
        if let Ok(mut slot) = self.delivered.lock() {
            *slot = Some(outcome);
        }
    }
}

/// Reads a state changelog back: the latest record of every key of one partition, tombstoned
/// keys left out. A record that does not decode as `T` is an error: restoring without it
/// would silently compute something else.
#[allow(missing_debug_implementations)]
pub struct ChangelogReader {
    reader: TopicReader,
    marker: BaseProducer<MarkerContext>,
    topic: String,
    timeout: Duration,
}

impl ChangelogReader {
    /// A reader of `topic` that gives up after `stall` without progress.
    pub fn new(
        kafka: &KafkaConfig,
        client_id: &str,
        topic: &str,
        stall: Duration,
    ) -> Result<ChangelogReader, RuntimeError> {
        let marker = base_config(kafka, &format!("{client_id}-marker"))
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                kafka.delivery_timeout.as_millis().to_string(),
            )
            .create_with_context(MarkerContext::default())
            .map_err(RuntimeError::Kafka)?;
        Ok(ChangelogReader {
            reader: TopicReader::for_backlog(kafka, client_id, topic, stall)?,
            marker,
            topic: topic.to_string(),
            timeout: kafka.delivery_timeout,
        })
    }

    /// Appends an end marker to `partition` and returns its offset once acknowledged.
    fn mark_end(&self, partition: i32) -> Result<i64, RuntimeError> {
        if let Ok(mut slot) = self.marker.context().delivered.lock() {
            *slot = None;
        }
        let record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic)
            .partition(partition)
            .key(END_MARKER_KEY)
            .payload(&[]);
        self.marker
            .send(record)
            .map_err(|(error, _)| RuntimeError::Kafka(error))?;
        self.marker
            .flush(Timeout::After(self.timeout))
            .map_err(RuntimeError::Kafka)?;
        let delivered = self
            .marker
            .context()
            .delivered
            .lock()
            .ok()
            .and_then(|mut slot| slot.take());
        match delivered {
            Some(Ok(offset)) => Ok(offset),
            Some(Err(error)) => Err(RuntimeError::State {
                topic: self.topic.clone(),
                detail: format!("the restore's end marker was not written: {error}"),
            }),
            None => Err(RuntimeError::State {
                topic: self.topic.clone(),
                detail: "the restore's end marker got no delivery report".into(),
            }),
        }
    }

    /// The latest `T` of every key of `partition`, decoded; `progress` is called for every
    /// record read.
    pub fn read<T: schemas::AvroMessage>(
        &mut self,
        partition: i32,
        progress: &mut dyn FnMut(),
    ) -> Result<Vec<T>, RuntimeError> {
        let payloads = self.read_payloads::<T>(partition, progress)?;
        payloads
            .iter()
            .map(|payload| {
                schemas::decode::<T>(payload).map_err(|e| RuntimeError::State {
                    topic: self.topic.clone(),
                    detail: format!("a record of partition {partition} does not decode: {e}"),
                })
            })
            .collect()
    }

    /// The latest payload of every key of `partition`, each checked to be a `T` by its header
    /// (not decoded); `progress` is called for every record read.
    pub fn read_payloads<T: schemas::AvroMessage>(
        &mut self,
        partition: i32,
        progress: &mut dyn FnMut(),
    ) -> Result<Vec<Vec<u8>>, RuntimeError> {
        let end = self.mark_end(partition)?;
        self.reader.start(&[partition])?;
        let mut latest: std::collections::HashMap<Vec<u8>, Vec<u8>> =
            std::collections::HashMap::new();
        let mut bad = 0usize;
        self.reader.read_until(&[(partition, end + 1)], |record| {
            progress();
            match (record.key, record.payload) {
                (Some(END_MARKER_KEY), _) => {}
                (Some(key), None) => drop(latest.remove(key)),
                (Some(key), Some(payload)) if schemas::codec::is::<T>(payload) => {
                    drop(latest.insert(key.to_vec(), payload.to_vec()))
                }
                _ => bad += 1,
            }
        })?;
        self.reader.stop()?;
        if bad > 0 {
            return Err(RuntimeError::State {
                topic: self.topic.clone(),
                detail: format!(
                    "{bad} records of partition {partition} are unkeyed or not {}",
                    T::family().name
                ),
            });
        }
        Ok(latest.into_values().collect())
    }
}
