//! Loading the reference topic at start and following it afterwards, on a thread of its own.
//!
//! A service reads the whole compacted topic (to the end offsets of when it started) before it
//! reports ready; `ReferenceData::wait_loaded` is what its start-up awaits. Later records are
//! applied as they arrive, so a new code or a suspended partner takes effect without restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus::{IntCounter, IntGauge, IntGaugeVec, Opts, Registry};
use runtime::health::Heartbeat;
use runtime::secret::PrincipalKeys;
use runtime::settings::KafkaConfig;
use runtime::topic_reader::{Record, TopicReader};
use runtime::RuntimeError;
use schemas::ReferenceRecord;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::copies::Copies;

/// How long a follower waits for one poll before looking at the shutdown token.
const POLL: Duration = Duration::from_millis(250);

/// Metrics of the reference follower.
#[derive(Debug, Clone)]
pub struct ReferenceMetrics {
    entities: IntGaugeVec,
    applied: IntCounter,
    rejected: IntCounter,
    oldest_copy: IntGauge,
}

impl ReferenceMetrics {
    /// `<service>_reference_entities{entity}`, `<service>_reference_records_applied_total`,
    /// `<service>_reference_records_rejected_total`,
    /// `<service>_reference_oldest_copy_timestamp_seconds`.
    pub fn register(service: &str, registry: &Registry) -> prometheus::Result<ReferenceMetrics> {
        let name = |suffix: &str| format!("{}_{suffix}", service.replace('-', "_"));
        let metrics = ReferenceMetrics {
            entities: IntGaugeVec::new(
                Opts::new(
                    name("reference_entities"),
                    "Live reference entities by type.",
                ),
                &["entity"],
            )?,
            applied: IntCounter::new(
                name("reference_records_applied_total"),
                "Reference records (and tombstones) applied.",
            )?,
            rejected: IntCounter::new(
                name("reference_records_rejected_total"),
                "Reference records that could not be decoded or applied (logged, skipped).",
            )?,
            oldest_copy: IntGauge::new(
                name("reference_oldest_copy_timestamp_seconds"),
                "When the oldest live reference record was last written to the topic (Unix seconds); the catalogue starts to age out REFERENCE_RETENTION_MS later unless `reference refresh` re-sends it.",
            )?,
        };
        registry.register(Box::new(metrics.oldest_copy.clone()))?;
        registry.register(Box::new(metrics.entities.clone()))?;
        registry.register(Box::new(metrics.applied.clone()))?;
        registry.register(Box::new(metrics.rejected.clone()))?;
        Ok(metrics)
    }

    fn observe(&self, catalog: &Catalog, copies: &Copies) {
        if let Some(ms) = copies.oldest_live_copy_ms() {
            self.oldest_copy.set(ms.div_euclid(1000));
        }
        let c = catalog.counts();
        for (entity, n) in [
            ("program", c.programs),
            ("partner", c.partners),
            ("link", c.links),
            ("code", c.codes),
            ("commission_rule", c.rules),
        ] {
            self.entities
                .with_label_values(&[entity])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

/// The catalogue shared between the follower thread and a service's processing.
#[derive(Debug, Default)]
pub struct ReferenceData {
    catalog: RwLock<Catalog>,
    loaded: AtomicBool,
    failed: AtomicBool,
    /// When set, only records signed by one of these principals apply.
    publishers: PrincipalKeys,
    /// The newest record per key, to skip stale copies and date the oldest live one.
    copies: Mutex<Copies>,
}

impl ReferenceData {
    /// A catalogue that is already loaded (tests, benchmarks, offline tools).
    pub fn preloaded(catalog: Catalog) -> Arc<ReferenceData> {
        Arc::new(ReferenceData {
            catalog: RwLock::new(catalog),
            loaded: AtomicBool::new(true),
            failed: AtomicBool::new(false),
            publishers: PrincipalKeys::default(),
            copies: Mutex::default(),
        })
    }

    /// Read access to the current catalogue.
    pub fn read(&self) -> RwLockReadGuard<'_, Catalog> {
        match self.catalog.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// True once the whole topic was read and it holds at least one program.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Waits until loaded; `false` if the follower failed or `shutdown` came first.
    pub async fn wait_loaded(&self, shutdown: &CancellationToken) -> bool {
        let mut waited = 0u32;
        loop {
            if self.is_loaded() {
                return true;
            }
            if self.failed.load(Ordering::Acquire) || shutdown.is_cancelled() {
                return false;
            }
            waited += 1;
            if waited.is_multiple_of(40) {
                tracing::info!("Waiting for reference data (programs on the reference topic); publish it with `reference publish FILE`.");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn apply(&self, record: Record<'_>, metrics: &ReferenceMetrics, topic: &str) {
        let key = record.key.map(String::from_utf8_lossy);
        let decoded = record.payload.map(schemas::decode::<ReferenceRecord>);
        let checked = !self.publishers.is_empty();
        let result = match (key, decoded) {
            (None, _) => Err("record without key".to_string()),
            (Some(_), Some(Err(e))) => Err(e.to_string()),
            (Some(key), Some(Ok(r))) => {
                let verified = if checked {
                    crate::signing::verify(&r, &self.publishers).map(|_| ())
                } else {
                    Ok(())
                };
                verified.and_then(|()| {
                    if !self.copies().admit(
                        &key,
                        Some(r.published_at),
                        !r.deleted,
                        record.timestamp_ms,
                    ) {
                        tracing::info!(%key, published_at = %r.published_at, "Stale reference copy skipped: a newer record for this key was already applied.");
                        return Ok(());
                    }
                    let record = (!r.deleted).then_some(r);
                    self.write()
                        .apply(&key, record)
                        .map_err(|e| e.to_string())
                })
            }
            (Some(_), None) if checked => Err(
                "tombstone ignored: REFERENCE_PUBLISHER_KEYS is set, and removals are signed `deleted` records"
                    .to_string(),
            ),
            (Some(key), None) => {
                self.copies().admit(&key, None, false, record.timestamp_ms);
                self.write().apply(&key, None).map_err(|e| e.to_string())
            }
        };
        match result {
            Ok(()) => metrics.applied.inc(),
            Err(error) => {
                metrics.rejected.inc();
                tracing::error!(
                    topic,
                    partition = record.partition,
                    offset = record.offset,
                    error,
                    "Reference record skipped."
                );
            }
        }
    }

    fn copies(&self) -> std::sync::MutexGuard<'_, Copies> {
        match self.copies.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn observe(&self, metrics: &ReferenceMetrics) {
        metrics.observe(&self.read(), &self.copies());
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Catalog> {
        match self.catalog.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// The follower thread; joining it gives its error, if it stopped on one.
pub type Follower = JoinHandle<Result<(), RuntimeError>>;

/// Reads the whole reference topic, then every later change, until `shutdown`. The thread
/// beats `heartbeat` while it follows, so a dead follower fails the service's liveness.
pub fn spawn_follower(
    kafka: &KafkaConfig,
    client_id: &str,
    topic: &str,
    metrics: ReferenceMetrics,
    heartbeat: Heartbeat,
    publishers: PrincipalKeys,
    shutdown: CancellationToken,
) -> Result<(Arc<ReferenceData>, Follower), RuntimeError> {
    let reader = TopicReader::new(kafka, client_id, topic, kafka.delivery_timeout)?;
    if publishers.is_empty() {
        tracing::warn!(topic, "REFERENCE_PUBLISHER_KEYS is not set: reference records are applied unsigned; anyone who can write the topic can change commission rules.");
    } else {
        tracing::info!(topic, publishers = ?publishers.principals(), "Only reference records signed by these publishers apply.");
    }
    let data = Arc::new(ReferenceData {
        publishers,
        ..ReferenceData::default()
    });
    let shared = Arc::clone(&data);
    let topic = topic.to_string();
    let handle = std::thread::Builder::new()
        .name("reference-follower".into())
        .spawn(move || {
            let result = follow_topic(&reader, &shared, &metrics, &heartbeat, &topic, &shutdown);
            if let Err(e) = &result {
                shared.failed.store(true, Ordering::Release);
                tracing::error!(error = %e, "Reference follower stopped.");
            }
            result
        })
        .map_err(|error| RuntimeError::Io {
            context: "spawning the reference follower".into(),
            error,
        })?;
    Ok((data, handle))
}

fn follow_topic(
    reader: &TopicReader,
    data: &ReferenceData,
    metrics: &ReferenceMetrics,
    heartbeat: &Heartbeat,
    topic: &str,
    shutdown: &CancellationToken,
) -> Result<(), RuntimeError> {
    let partitions: Vec<i32> = (0..reader.partition_count()?).collect();
    if partitions.is_empty() {
        return Err(RuntimeError::State {
            topic: topic.to_string(),
            detail: "the reference topic does not exist".into(),
        });
    }
    let ends = reader.start(&partitions)?;
    let read = reader.read_to(&ends, |record| data.apply(record, metrics, topic))?;
    data.observe(metrics);
    let counts = data.read().counts();
    tracing::info!(records = read, ?counts, "Reference topic loaded.");
    let mut announced = false;
    while !shutdown.is_cancelled() {
        heartbeat.beat();
        if !announced && data.read().counts().programs > 0 {
            data.loaded.store(true, Ordering::Release);
            announced = true;
        }
        if reader.follow(POLL, |record| data.apply(record, metrics, topic))? {
            data.observe(metrics);
        }
    }
    reader.stop()
}

/// [`follow_until_loaded`] for a started service: the reference topic of its configuration,
/// `<service>_reference_*` metrics, a `reference` liveness component.
pub async fn follow(
    service: &runtime::service::Service,
) -> Result<Option<Arc<ReferenceData>>, RuntimeError> {
    let name = service.name();
    let metrics = ReferenceMetrics::register(name, service.registry())?;
    follow_until_loaded(
        &service.common().kafka,
        name,
        &service.common().topics.reference_config,
        metrics,
        service
            .health()
            .register("reference", Duration::from_secs(30)),
        service.common().reference_publishers.clone(),
        service.shutdown(),
    )
    .await
}

/// Starts following `topic` and waits until it is loaded, for services that must not consume
/// before they have the reference data. `Ok(None)`: shutdown came first (or the follower
/// ended without error); an error: the follower failed.
pub async fn follow_until_loaded(
    kafka: &KafkaConfig,
    service: &str,
    topic: &str,
    metrics: ReferenceMetrics,
    heartbeat: Heartbeat,
    publishers: PrincipalKeys,
    shutdown: &CancellationToken,
) -> Result<Option<Arc<ReferenceData>>, RuntimeError> {
    let (reference, follower) = spawn_follower(
        kafka,
        &format!("{service}-reference"),
        topic,
        metrics,
        heartbeat,
        publishers,
        shutdown.clone(),
    )?;
    if !reference.wait_loaded(shutdown).await {
        return match follower.join() {
            Ok(Err(e)) => Err(e),
            _ => Ok(None),
        };
    }
    tracing::info!(counts = ?reference.read().counts(), "Reference data loaded.");
    Ok(Some(reference))
}
