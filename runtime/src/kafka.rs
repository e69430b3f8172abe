//! Kafka clients configured for at-least-once delivery with idempotent consumers downstream
//! (DESIGN.md §5): offsets are stored by the loop only after the outputs they produced are
//! acknowledged, committed in the background from the store, and committed synchronously on
//! partition revocation and shutdown.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use rdkafka::statistics::Statistics;
use rdkafka::util::Timeout;
use rdkafka::TopicPartitionList;

use crate::error::RuntimeError;
use crate::health::{Gate, Heartbeat};
use crate::metrics::LoopMetrics;
use crate::settings::KafkaConfig;

/// How often librdkafka reports statistics (lag gauges and the Kafka liveness heartbeat).
pub const STATISTICS_INTERVAL: Duration = Duration::from_secs(5);

/// One message to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Destination topic.
    pub topic: std::sync::Arc<str>,
    /// Partitioning key.
    pub key: Option<Vec<u8>>,
    /// Explicit partition, for changelogs that must be co-partitioned with their input;
    /// `None` lets the key choose.
    pub partition: Option<i32>,
    /// Payload; `None` is a tombstone (compacted topics).
    pub payload: Option<Vec<u8>>,
}

impl Output {
    /// A keyed message partitioned by its key.
    pub fn keyed(topic: std::sync::Arc<str>, key: Option<Vec<u8>>, payload: Vec<u8>) -> Output {
        Output {
            topic,
            key,
            partition: None,
            payload: Some(payload),
        }
    }
}

pub(crate) fn base_config(kafka: &KafkaConfig, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("client.id", client_id)
        .set(
            "statistics.interval.ms",
            STATISTICS_INTERVAL.as_millis().to_string(),
        );
    for (k, v) in &kafka.client_properties {
        config.set(k, v.expose());
    }
    config
}

/// Consumer-side context: turns statistics into lag gauges and a heartbeat, and commits the
/// stored offsets before partitions are taken away.
pub struct ServiceContext {
    heartbeat: Heartbeat,
    /// Closed from an assignment until the processor has taken it (restored its state).
    assignment: Gate,
    metrics: LoopMetrics,
    revoked: std::sync::Mutex<Vec<(String, i32)>>,
    assigned: std::sync::Mutex<Vec<(String, i32)>>,
    session_timeout: Duration,
}

impl ServiceContext {
    /// The group session timeout this consumer was configured with.
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    /// Partitions revoked since the last call. The loop hands them to its processor before the
    /// next message, so partition-scoped state is dropped before anything of a new assignment
    /// is processed.
    pub fn take_revoked(&self) -> Vec<(String, i32)> {
        take(&self.revoked)
    }

    /// Partitions assigned since the last call (handed over after the revoked ones), so a
    /// stateful processor can restore them before their first message, or without one.
    pub fn take_assigned(&self) -> Vec<(String, i32)> {
        take(&self.assigned)
    }

    /// The processor took the assignments handed to it: readiness stops waiting, unless
    /// another arrived meanwhile.
    pub fn assignment_taken(&self) {
        let pending = match self.assigned.lock() {
            Ok(list) => list,
            Err(poisoned) => poisoned.into_inner(),
        };
        if pending.is_empty() {
            self.assignment.open();
        }
    }
}

fn take(list: &std::sync::Mutex<Vec<(String, i32)>>) -> Vec<(String, i32)> {
    match list.lock() {
        Ok(mut list) => std::mem::take(&mut *list),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    }
}

fn record(
    list: &std::sync::Mutex<Vec<(String, i32)>>,
    partitions: &TopicPartitionList,
    close: Option<&Gate>,
) {
    let items = partitions
        .elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect::<Vec<_>>();
    let mut list = match list.lock() {
        Ok(list) => list,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(gate) = close {
        gate.close();
    }
    list.extend(items);
}

impl std::fmt::Debug for ServiceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceContext")
    }
}

impl ClientContext for ServiceContext {
    fn stats(&self, statistics: Statistics) {
        self.heartbeat.beat();
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                // librdkafka reports -1 for partitions it does not consume, and an internal
                // partition -1; neither is lag.
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics
                        .consumer_lag
                        .with_label_values(&[topic.as_str(), &partition.to_string()])
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for ServiceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                self.metrics.rebalances.with_label_values(&["revoke"]).inc();
                // Stored offsets cover only acknowledged outputs, so committing them now lets
                // the next owner start exactly after them. A batch still in flight for these
                // partitions is re-read by the next owner: at-least-once, de-duplicated
                // downstream by deterministic ids.
                match consumer.commit_consumer_state(CommitMode::Sync) {
                    Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "Commit on revoke failed; the next owner may re-read some messages.")
                    }
                }
                record(&self.revoked, partitions, None);
                for elem in partitions.elements() {
                    let _removed = self
                        .metrics
                        .consumer_lag
                        .remove_label_values(&[elem.topic(), &elem.partition().to_string()]);
                }
                tracing::info!(partitions = partitions.count(), "Partitions revoked.");
            }
            Rebalance::Assign(partitions) => {
                self.metrics.rebalances.with_label_values(&["assign"]).inc();
                // Not ready until the loop handed these to the processor (a stateful one
                // restores them first). Closed under the list's lock, so the loop cannot open
                // the gate between the two.
                record(&self.assigned, partitions, Some(&self.assignment));
                let list: Vec<String> = partitions
                    .elements()
                    .iter()
                    .map(|e| format!("{}/{}", e.topic(), e.partition()))
                    .collect();
                tracing::info!(partitions = ?list, "Partitions assigned.");
            }
            Rebalance::Error(e) => {
                self.metrics.rebalances.with_label_values(&["error"]).inc();
                tracing::warn!(error = %e, "Rebalance error.");
            }
        }
    }
}

/// Client settings the pipeline's delivery guarantees rest on (offsets stored only after the
/// outputs are acknowledged, idempotent `acks=all` producers): `KAFKA_PROP_*` may not change
/// them (settings refuse it at start); every other property may override the services' own
/// tunables (`linger.ms`, `fetch.wait.max.ms`, …).
pub const GUARANTEED_SETTINGS: [&str; 7] = [
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "enable.partition.eof",
    "enable.idempotence",
    "acks",
];

/// The operator's properties last, so they win over the services' tunables.
fn with_overrides(mut config: ClientConfig, kafka: &KafkaConfig) -> ClientConfig {
    for (k, v) in &kafka.client_properties {
        if !GUARANTEED_SETTINGS.contains(&k.as_str()) {
            config.set(k, v.expose());
        }
    }
    config
}

/// What every service consumer is configured with.
fn consumer_config(kafka: &KafkaConfig, client_id: &str, group_id: &str) -> ClientConfig {
    let mut config = base_config(kafka, client_id);
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        // The loop stores an offset only once the outputs it produced are acknowledged.
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set(
            "session.timeout.ms",
            kafka.session_timeout.as_millis().to_string(),
        );
    with_overrides(config, kafka)
}

/// What every service producer is configured with.
fn producer_config(kafka: &KafkaConfig, client_id: &str, idempotent: bool) -> ClientConfig {
    let mut config = base_config(kafka, client_id);
    config
        .set("enable.idempotence", idempotent.to_string())
        .set("acks", "all")
        .set("linger.ms", "5")
        .set(
            "message.timeout.ms",
            kafka.delivery_timeout.as_millis().to_string(),
        );
    with_overrides(config, kafka)
}

/// The consumer and producer settings the services run with (and a benchmark measured),
/// one `key=value` per entry, sorted; `KAFKA_PROP_*` overrides included, secrets masked, and
/// the per-instance ids (bootstrap servers, client and group ids) left out.
pub fn client_settings(kafka: &KafkaConfig) -> (Vec<String>, Vec<String>) {
    let render = |config: ClientConfig| -> Vec<String> {
        config
            .config_map()
            .into_iter()
            .filter(|(k, _)| !matches!(*k, "bootstrap.servers" | "client.id" | "group.id"))
            .map(|(k, v)| {
                let secret = ["password", "secret", "key", "token"]
                    .iter()
                    .any(|s| k.contains(s));
                format!("{k}={}", if secret { "***" } else { v })
            })
            .collect()
    };
    (
        render(consumer_config(kafka, "report", "report")),
        render(producer_config(kafka, "report", true)),
    )
}

/// A consumer of `topics` in `group_id` with manual offset storing. Its statistics beat the
/// `heartbeat`; readiness waits from each assignment until the loop handed it over.
pub fn consumer(
    kafka: &KafkaConfig,
    client_id: &str,
    group_id: &str,
    topics: &[&str],
    (heartbeat, assignment): (Heartbeat, Gate),
    metrics: LoopMetrics,
) -> Result<StreamConsumer<ServiceContext>, RuntimeError> {
    let consumer: StreamConsumer<ServiceContext> = consumer_config(kafka, client_id, group_id)
        .create_with_context(ServiceContext {
            heartbeat,
            assignment,
            metrics,
            revoked: std::sync::Mutex::default(),
            assigned: std::sync::Mutex::default(),
            session_timeout: kafka.session_timeout,
        })
        .map_err(RuntimeError::Kafka)?;
    consumer.subscribe(topics).map_err(RuntimeError::Kafka)?;
    Ok(consumer)
}

/// A producer whose sends complete only when the broker acknowledged them. Every Avro
/// message gets headers naming its writer schema; a topic with a JSON mirror
/// ([`crate::settings::TopicPolicy`]) gets each message's JSON form there too.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer<DefaultClientContext>,
    mirrors: std::sync::Arc<Vec<(String, std::sync::Arc<str>)>>,
    /// The headers of every published writer schema, built once: no lock on the send path.
    headers: std::sync::Arc<std::collections::HashMap<u64, OwnedHeaders>>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Producer")
    }
}

impl Producer {
    /// An idempotent producer (no duplicates from its own retries) with `acks=all`.
    pub fn new(kafka: &KafkaConfig, client_id: &str) -> Result<Producer, RuntimeError> {
        Producer::with_idempotence(kafka, client_id, true)
    }

    /// A producer with `acks=all` whose retries may duplicate, for a long-lived edge that must
    /// ride out broker restarts without exiting: an idempotent producer keeps its producer id
    /// across a restart, and tansu 0.6 after a `kill -9` panics on that id and stops serving
    /// every client (LOCAL-STACK.md). Only for outputs whose readers drop repeats by id.
    pub fn at_least_once(kafka: &KafkaConfig, client_id: &str) -> Result<Producer, RuntimeError> {
        Producer::with_idempotence(kafka, client_id, false)
    }

    fn with_idempotence(
        kafka: &KafkaConfig,
        client_id: &str,
        idempotent: bool,
    ) -> Result<Producer, RuntimeError> {
        let inner = producer_config(kafka, client_id, idempotent)
            .create()
            .map_err(RuntimeError::Kafka)?;
        let mirrors = kafka
            .topic_policy
            .json_mirrors
            .iter()
            .map(|(topic, mirror)| (topic.clone(), std::sync::Arc::from(mirror.as_str())))
            .collect();
        Ok(Producer {
            inner,
            mirrors: std::sync::Arc::new(mirrors),
            headers: std::sync::Arc::new(
                schemas::json_view::writers()
                    .map(|writer| {
                        let headers = schemas::json_view::headers(&writer).iter().fold(
                            OwnedHeaders::new(),
                            |headers, (key, value)| {
                                headers.insert(Header {
                                    key,
                                    value: Some(value.as_str()),
                                })
                            },
                        );
                        (writer.fingerprint, headers)
                    })
                    .collect(),
            ),
        })
    }

    /// The headers of a single-object Avro payload; `None` for anything else (raw JSON,
    /// tombstones).
    fn headers_for(&self, payload: &[u8]) -> Option<OwnedHeaders> {
        let fingerprint = schemas::codec::read_header(payload).ok()?;
        self.headers.get(&fingerprint).cloned()
    }

    /// The JSON copy of `output` for its topic's mirror, if it has one.
    pub fn mirror(&self, output: &Output) -> Result<Option<Output>, RuntimeError> {
        let Some((_, mirror)) = self.mirrors.iter().find(|(t, _)| **t == *output.topic) else {
            return Ok(None);
        };
        let Some(payload) = &output.payload else {
            return Ok(None);
        };
        let json = schemas::json_view::to_json(payload).map_err(|error| RuntimeError::Encode {
            what: "JSON mirror",
            error,
        })?;
        Ok(Some(Output {
            topic: mirror.clone(),
            key: output.key.clone(),
            partition: output.partition,
            payload: Some(json.to_string().into_bytes()),
        }))
    }

    /// Enqueues `output` and, for a mirrored topic, its JSON copy; each delivery to await is
    /// added to `deliveries`.
    pub async fn enqueue_mirrored(
        &self,
        output: Output,
        deliveries: &mut Vec<(std::sync::Arc<str>, DeliveryFuture)>,
    ) -> Result<(), RuntimeError> {
        let mirror = self.mirror(&output)?;
        let delivery = self.enqueue(&output).await?;
        deliveries.push((output.topic, delivery));
        if let Some(mirror) = mirror {
            let delivery = self.enqueue(&mirror).await?;
            deliveries.push((mirror.topic, delivery));
        }
        Ok(())
    }

    /// Hands one message to the client, waiting while its queue is full; the returned future
    /// resolves when the broker acknowledges (or finally rejects) it. Fails at once only for a
    /// record the client refuses outright (e.g. larger than `message.max.bytes`).
    pub async fn enqueue(&self, output: &Output) -> Result<DeliveryFuture, RuntimeError> {
        loop {
            let mut record: FutureRecord<'_, Vec<u8>, Vec<u8>> = FutureRecord::to(&output.topic);
            if let Some(payload) = &output.payload {
                record = record.payload(payload);
                if let Some(headers) = self.headers_for(payload) {
                    record = record.headers(headers);
                } else if self.mirrors.iter().any(|(_, m)| *m == output.topic) {
                    record = record.headers(OwnedHeaders::new().insert(Header {
                        key: "content-type",
                        value: Some("application/json"),
                    }));
                }
            }
            if let Some(key) = &output.key {
                record = record.key(key);
            }
            if let Some(partition) = output.partition {
                record = record.partition(partition);
            }
            match self.inner.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // Back-pressure: let deliveries drain rather than growing without bound.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => {
                    return Err(RuntimeError::Delivery {
                        topic: output.topic.to_string(),
                        error,
                    })
                }
            }
        }
    }

    /// Produces every output and waits until all are acknowledged.
    pub async fn send_all(&self, outputs: &[Output]) -> Result<(), RuntimeError> {
        let mut pending = Vec::with_capacity(outputs.len());
        for output in outputs {
            self.enqueue_mirrored(output.clone(), &mut pending).await?;
        }
        for (topic, delivery) in pending {
            await_delivery(&topic, delivery).await?;
        }
        Ok(())
    }

    /// Flushes everything queued (used at shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), RuntimeError> {
        self.inner
            .flush(Timeout::After(timeout))
            .map_err(RuntimeError::Kafka)
    }
}

/// Waits for one delivery report.
pub async fn await_delivery(topic: &str, delivery: DeliveryFuture) -> Result<(), RuntimeError> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((error, _message))) => Err(RuntimeError::Delivery {
            topic: topic.to_string(),
            error,
        }),
        Err(_cancelled) => Err(RuntimeError::DeliveryCancelled {
            topic: topic.to_string(),
        }),
    }
}

/// How a topic is cleaned up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    /// Retained by time (event streams).
    Delete,
    /// Compacted by key (state changelogs without personal data, risk levels).
    Compact,
    /// Compacted by key and also retained by time: state changelogs holding personal data,
    /// whose live entries the harness rewrites every `STATE_REFRESH_SECONDS`, and the
    /// reference topic, whose live records `reference refresh` re-sends.
    CompactDelete,
}

/// The settings a new topic is created with. `cleanup.policy=delete` is written out only for
/// a finite retention: some brokers (tansu) apply retention only to topics that say `delete`
/// explicitly, and tansu reads `retention.ms=-1` as "older than -1 ms", which would empty a
/// topic meant to be kept forever.
pub fn topic_configs(cleanup: Cleanup, retention_ms: Option<i64>) -> Vec<(&'static str, String)> {
    let mut configs = Vec::new();
    if let Some(ms) = retention_ms {
        configs.push(("retention.ms", ms.to_string()));
    }
    let finite = retention_ms.is_some_and(|ms| ms > 0);
    match cleanup {
        Cleanup::Delete if finite => configs.push(("cleanup.policy", "delete".into())),
        Cleanup::Delete => {}
        Cleanup::Compact => configs.push(("cleanup.policy", "compact".into())),
        Cleanup::CompactDelete if finite => {
            configs.push(("cleanup.policy", "compact,delete".into()));
        }
        Cleanup::CompactDelete => configs.push(("cleanup.policy", "compact".into())),
    }
    configs
}

/// Creates the topics that do not exist yet with the configured partition count; existing
/// topics are left as they are.
pub async fn ensure_topics(
    kafka: &KafkaConfig,
    topics: &[(&str, Cleanup)],
) -> Result<(), RuntimeError> {
    let specs: Vec<(&str, Cleanup, i32)> = topics
        .iter()
        .map(|(name, cleanup)| (*name, *cleanup, kafka.topic_partitions))
        .collect();
    ensure_topics_partitioned(kafka, &specs).await
}

/// Creates the topics that do not exist yet, each with its own partition count.
pub async fn ensure_topics_partitioned(
    kafka: &KafkaConfig,
    topics: &[(&str, Cleanup, i32)],
) -> Result<(), RuntimeError> {
    let admin: AdminClient<DefaultClientContext> = base_config(kafka, "attrib-admin")
        .create()
        .map_err(RuntimeError::Kafka)?;
    // A mirrored topic brings its JSON mirror, created alike.
    let mut specs: Vec<(&str, Cleanup, i32)> = topics.to_vec();
    for (name, cleanup, partitions) in topics {
        if let Some(mirror) = kafka.topic_policy.mirror_of(name) {
            specs.push((mirror, *cleanup, *partitions));
        }
    }
    let configs: Vec<Vec<(&'static str, String)>> = specs
        .iter()
        .map(|(name, cleanup, _)| topic_configs(*cleanup, kafka.topic_policy.retention_of(name)))
        .collect();
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .zip(&configs)
        .map(|((name, _, partitions), configs)| {
            configs.iter().fold(
                NewTopic::new(
                    name,
                    *partitions,
                    TopicReplication::Fixed(kafka.topic_replication),
                ),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(RuntimeError::Kafka)?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(RuntimeError::TopicCreation { topic, code });
            }
        }
    }
    Ok(())
}

/// Fetches cluster metadata: a connectivity check before the service reports ready; a
/// configuration that can never connect is [`RuntimeError::KafkaRefused`] at once.
pub fn ping(kafka: &KafkaConfig, timeout: Duration) -> Result<usize, RuntimeError> {
    crate::connection::ping(kafka, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_explicit_and_forever_is_never_a_delete_policy() {
        let s = |v: &[(&str, &str)]| -> Vec<(&'static str, String)> {
            v.iter()
                .map(|(k, v)| {
                    let k: &'static str = match *k {
                        "retention.ms" => "retention.ms",
                        _ => "cleanup.policy",
                    };
                    (k, v.to_string())
                })
                .collect()
        };
        assert_eq!(topic_configs(Cleanup::Delete, None), s(&[]));
        assert_eq!(
            topic_configs(Cleanup::Delete, Some(-1)),
            s(&[("retention.ms", "-1")]),
            "kept forever: no explicit delete policy (tansu would empty the topic)"
        );
        assert_eq!(
            topic_configs(Cleanup::Delete, Some(60_000)),
            s(&[("retention.ms", "60000"), ("cleanup.policy", "delete")])
        );
        assert_eq!(
            topic_configs(Cleanup::Compact, None),
            s(&[("cleanup.policy", "compact")])
        );
        assert_eq!(
            topic_configs(Cleanup::CompactDelete, Some(60_000)),
            s(&[
                ("retention.ms", "60000"),
                ("cleanup.policy", "compact,delete")
            ])
        );
    }
    use rdkafka::producer::BaseProducer;

    #[test]
    fn the_settings_report_shows_what_clients_get_with_overrides_and_masks_secrets() {
        let kafka = KafkaConfig {
            bootstrap_servers: "broker:9092".into(),
            client_properties: vec![
                ("linger.ms".into(), crate::Secret::new("20")),
                ("sasl.password".into(), crate::Secret::new("hunter2")),
            ],
            create_topics: false,
            topic_partitions: 1,
            topic_replication: 1,
            delivery_timeout: Duration::from_secs(60),
            session_timeout: Duration::from_secs(10),
            startup_wait: Duration::from_secs(1),
            topic_policy: crate::settings::TopicPolicy::default(),
        };
        let (consumer, producer) = client_settings(&kafka);
        assert!(consumer.contains(&"enable.auto.offset.store=false".to_string()));
        assert!(consumer.contains(&"session.timeout.ms=10000".to_string()));
        // A KAFKA_PROP_ override is what the client gets, and the report says so.
        assert!(
            producer.contains(&"linger.ms=20".to_string()),
            "{producer:?}"
        );
        assert!(producer.contains(&"sasl.password=***".to_string()));
        let all = [consumer, producer].concat().join(" ");
        assert!(
            !all.contains("hunter2") && !all.contains("broker:9092"),
            "{all}"
        );
    }

    fn client_with(properties: &[(&str, &str)]) -> Result<BaseProducer, KafkaError> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", "127.0.0.1:1");
        for (k, v) in properties {
            config.set(*k, *v);
        }
        config.create()
    }

    /// What deploy/README.md promises for managed clusters is built into the client: each
    /// setting fails at client creation ("not built with …") if a library is missing.
    #[test]
    fn tls_every_sasl_mechanism_and_every_codec_are_built_in() {
        for (mechanism, extra) in [
            ("PLAIN", vec![]),
            ("SCRAM-SHA-256", vec![]),
            ("SCRAM-SHA-512", vec![]),
            (
                "OAUTHBEARER",
                vec![
                    ("sasl.oauthbearer.method", "oidc"),
                    ("sasl.oauthbearer.client.id", "attrib"),
                    ("sasl.oauthbearer.client.secret", "secret"),
                    (
                        "sasl.oauthbearer.token.endpoint.url",
                        "https://idp.example/oauth2/token",
                    ),
                    (
                        "sasl.oauthbearer.extensions",
                        "logicalCluster=lkc-1,identityPoolId=pool-1",
                    ),
                ],
            ),
        ] {
            let mut properties = vec![
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", mechanism),
                ("sasl.username", "attrib"),
                ("sasl.password", "secret"),
            ];
            properties.extend(extra);
            if let Err(e) = client_with(&properties) {
                panic!("{mechanism}: {e}");
            }
        }
        for codec in ["zstd", "lz4", "gzip", "snappy"] {
            if let Err(e) = client_with(&[("compression.type", codec)]) {
                panic!("{codec}: {e}");
            }
        }
        // The negative control: a setting librdkafka does not know is refused the same way.
        assert!(client_with(&[("compression.type", "brotli")]).is_err());
    }
}
