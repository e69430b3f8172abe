//! Wiring: Kafka in and out, the binding changelog, the reference follower, metrics, health.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prometheus::Registry;
use reference::{ReferenceData, ReferenceMetrics};
use runtime::consumer_loop::LoopParts;
use runtime::kafka::{self, Cleanup};
use runtime::metrics::LoopMetrics;
use runtime::topic_reader::TopicReader;
use runtime::{DeadLetterWriter, Health, Input, Output, Processor, Producer, RuntimeError};
use schemas::touchpoint::{ResolvedBy, SourceProgress};
use schemas::{IdentityBinding, ValidTouchpoint};
use tokio_util::sync::CancellationToken;

use crate::config::EnricherConfig;
use crate::enrich::{enrich, Position};
use crate::identity::{Bindings, KeySource};
use crate::metrics::EnricherMetrics;

/// Reads one binding changelog partition back into memory.
pub trait Restore {
    /// Every binding record of `partition`, oldest first (tombstones already applied).
    fn read(&mut self, partition: i32) -> Result<Vec<IdentityBinding>, RuntimeError>;
}

/// Restores from the changelog topic.
#[allow(missing_debug_implementations)]
pub struct ChangelogRestore {
    reader: TopicReader,
    topic: String,
}

impl ChangelogRestore {
    /// A restorer reading `topic`.
    pub fn new(config: &EnricherConfig) -> Result<ChangelogRestore, RuntimeError> {
        let topic = config.common.topics.identity_bindings.clone();
        Ok(ChangelogRestore {
            reader: TopicReader::new(
                &config.common.kafka,
                "enricher-restore",
                &topic,
                config.restore_timeout,
            )?,
            topic,
        })
    }
}

impl Restore for ChangelogRestore {
    fn read(&mut self, partition: i32) -> Result<Vec<IdentityBinding>, RuntimeError> {
        let ends = self.reader.start(&[partition])?;
        let mut latest: std::collections::HashMap<String, IdentityBinding> = Default::default();
        let mut bad = 0usize;
        self.reader.read_to(&ends, |record| {
            let key = record.key.map(|k| String::from_utf8_lossy(k).into_owned());
            match (key, record.payload.map(schemas::decode::<IdentityBinding>)) {
                (Some(key), None) => drop(latest.remove(&key)),
                (_, Some(Ok(b))) => drop(latest.insert(b.customer_id.clone(), b)),
                _ => bad += 1,
            }
        })?;
        self.reader.stop()?;
        if bad > 0 {
            // Only the enricher writes this topic; a record it cannot read means the topic is
            // shared with something else, and resolving without it would differ silently.
            return Err(RuntimeError::State {
                topic: self.topic.clone(),
                detail: format!("{bad} records of partition {partition} are not identity bindings"),
            });
        }
        let mut records: Vec<IdentityBinding> = latest.into_values().collect();
        records.sort_by_key(|b| b.source_offset);
        Ok(records)
    }
}

/// The enricher's per-message logic.
#[allow(missing_debug_implementations)]
pub struct EnricherProcessor<R: Restore> {
    reference: Arc<ReferenceData>,
    bindings: Bindings,
    restore: R,
    input_topic: String,
    output_topic: Arc<str>,
    changelog_topic: Arc<str>,
    dead_letters: DeadLetterWriter,
    referral_parameters: Vec<String>,
    metrics: EnricherMetrics,
    /// Largest `occurred_at` read per input partition, stamped on every output so the
    /// attributor can hold its watermark for the slowest source.
    progress: HashMap<i32, DateTime<Utc>>,
    source_partitions: i32,
}

impl<R: Restore> EnricherProcessor<R> {
    /// A processor over `reference`, restoring bindings with `restore`.
    pub fn new(
        config: &EnricherConfig,
        reference: Arc<ReferenceData>,
        restore: R,
        metrics: EnricherMetrics,
    ) -> EnricherProcessor<R> {
        let topics = &config.common.topics;
        EnricherProcessor {
            reference,
            bindings: Bindings::default(),
            restore,
            input_topic: topics.touchpoints_valid.clone(),
            output_topic: Arc::from(topics.touchpoints_enriched.as_str()),
            changelog_topic: Arc::from(topics.identity_bindings.as_str()),
            dead_letters: DeadLetterWriter::new(
                "enricher",
                &topics.touchpoints_dlq,
                config.common.dead_letter_payload_bytes_max,
            ),
            referral_parameters: config.referral_parameters.clone(),
            metrics,
            progress: HashMap::new(),
            source_partitions: 0,
        }
    }

    /// Tells consumers the input topic has `partitions` partitions (stamped on every output),
    /// so a merge waits for sources it has not heard from yet.
    pub fn with_source_partitions(mut self, partitions: i32) -> EnricherProcessor<R> {
        self.source_partitions = partitions;
        self
    }

    /// Bindings held.
    pub fn bindings(&self) -> &Bindings {
        &self.bindings
    }

    fn ensure_restored(&mut self, partition: i32) -> Result<(), RuntimeError> {
        if self.bindings.has_partition(partition) {
            return Ok(());
        }
        let started = Instant::now();
        let records = self.restore.read(partition)?;
        let count = records.len();
        self.bindings.restore(partition, records);
        self.metrics
            .restore
            .observe(started.elapsed().as_secs_f64());
        self.metrics.bindings.set(gauge(self.bindings.len()));
        tracing::info!(
            partition,
            bindings = count,
            seconds = started.elapsed().as_secs_f64(),
            "Bindings restored."
        );
        Ok(())
    }

    fn dead_letter(
        &self,
        input: &Input<'_>,
        reason: &'static str,
        detail: String,
        event_id: Option<String>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        self.metrics
            .dead_lettered
            .with_label_values(&[reason])
            .inc();
        tracing::debug!(
            partition = input.partition,
            offset = input.offset,
            reason,
            detail,
            "Dead-lettered."
        );
        outputs.push(
            self.dead_letters
                .output(input, reason, detail, event_id, Utc::now())?,
        );
        Ok(())
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl<R: Restore> Processor for EnricherProcessor<R> {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        self.metrics.consumed.inc();
        self.ensure_restored(input.partition)?;
        let touchpoint = match input.payload.map(schemas::decode::<ValidTouchpoint>) {
            Some(Ok(tp)) => tp,
            Some(Err(e)) => {
                return self.dead_letter(
                    input,
                    "undecodable",
                    format!("not a valid touchpoint: {e}"),
                    None,
                    outputs,
                )
            }
            None => {
                return self.dead_letter(
                    input,
                    "undecodable",
                    "empty message".into(),
                    None,
                    outputs,
                )
            }
        };
        let event_id = touchpoint.event_id.clone();
        let at = Position {
            partition: input.partition,
            offset: input.offset,
        };
        let result = {
            let catalog = self.reference.read();
            enrich(
                touchpoint,
                at,
                &catalog,
                &mut self.bindings,
                &self.referral_parameters,
                Utc::now(),
            )
        };
        let mut enriched = match result {
            Ok(enriched) => enriched,
            Err(rejection) => {
                return self.dead_letter(
                    input,
                    rejection.reason(),
                    rejection.detail(),
                    Some(event_id),
                    outputs,
                )
            }
        };
        if let Some(binding) = &enriched.new_binding {
            let payload = schemas::encode(binding).map_err(|error| RuntimeError::Encode {
                what: "identity binding",
                error,
            })?;
            outputs.push(Output {
                topic: Arc::clone(&self.changelog_topic),
                key: Some(binding.customer_id.as_bytes().to_vec()),
                partition: Some(input.partition),
                payload: Some(payload),
            });
            self.metrics.bindings_created.inc();
            self.metrics.bindings.set(gauge(self.bindings.len()));
        }
        let progress = self
            .progress
            .entry(input.partition)
            .or_insert(enriched.record.touchpoint.occurred_at);
        *progress = (*progress).max(enriched.record.touchpoint.occurred_at);
        enriched.record.source = Some(SourceProgress {
            partition: input.partition,
            partitions: self.source_partitions,
            progress: *progress,
        });
        let record = &enriched.record;
        let payload = schemas::encode(record).map_err(|error| RuntimeError::Encode {
            what: "enriched touchpoint",
            error,
        })?;
        outputs.push(Output::keyed(
            Arc::clone(&self.output_topic),
            Some(record.attribution_key.as_bytes().to_vec()),
            payload,
        ));
        let partner = &record.partner;
        let outcome = match (partner.partner_id.is_some(), partner.resolved_by) {
            (true, ResolvedBy::Link) => "link",
            (true, ResolvedBy::QueryParameter) => "query_parameter",
            (true, ResolvedBy::Code) => "code",
            _ if partner.unresolved_reason.is_some() => "unresolved",
            _ if record.utm.source.is_some() || record.utm.campaign.is_some() => "utm_only",
            _ => "none",
        };
        self.metrics.enriched.with_label_values(&[outcome]).inc();
        if let Some(reason) = &partner.unresolved_reason {
            self.metrics.unresolved.with_label_values(&[reason]).inc();
        }
        let source = match enriched.key_source {
            KeySource::Visitor => "visitor",
            KeySource::Binding => "binding",
            KeySource::CustomerOnly => "customer_only",
        };
        self.metrics.identity.with_label_values(&[source]).inc();
        Ok(())
    }

    fn partitions_revoked(&mut self, partitions: &[(String, i32)]) {
        for (topic, partition) in partitions {
            if *topic == self.input_topic {
                self.bindings.drop_partition(*partition);
                self.progress.remove(partition);
            }
        }
        self.metrics.bindings.set(gauge(self.bindings.len()));
    }
}

/// Creates the enricher's topics: the changelog gets as many partitions as the input, since
/// binding partition N holds the bindings of input partition N. Returns the input's count.
async fn ensure_topics(config: &EnricherConfig) -> Result<i32, RuntimeError> {
    let kafka = &config.common.kafka;
    let topics = &config.common.topics;
    if kafka.create_topics {
        kafka::ensure_topics(
            kafka,
            &[
                (&topics.touchpoints_valid, Cleanup::Delete),
                (&topics.touchpoints_enriched, Cleanup::Delete),
                (&topics.touchpoints_dlq, Cleanup::Delete),
            ],
        )
        .await?;
    }
    runtime::topic_reader::ensure_copartitioned_changelog(
        kafka,
        &topics.touchpoints_valid,
        &topics.identity_bindings,
    )
    .await
}

/// Runs the enricher until `shutdown`, then drains and commits.
pub async fn run(
    config: EnricherConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let health = Health::default();
    let loop_metrics = LoopMetrics::register("enricher", &registry)?;
    let metrics = EnricherMetrics::register(&registry)?;
    let reference_metrics = ReferenceMetrics::register("enricher", &registry)?;
    runtime::service::start(&config.common, &registry, &health, &shutdown).await?;
    let source_partitions = ensure_topics(&config).await?;
    if config.common.kafka.create_topics {
        kafka::ensure_topics_partitioned(
            &config.common.kafka,
            &[(&config.common.topics.reference_config, Cleanup::Compact, 1)],
        )
        .await?;
    }

    // Readiness waits for the reference data: enriching against an empty catalogue would
    // dead-letter every event.
    let Some(reference) = reference::follow_until_loaded(
        &config.common.kafka,
        "enricher",
        &config.common.topics.reference_config,
        reference_metrics,
        health.register("reference", Duration::from_secs(30)),
        &shutdown,
    )
    .await?
    else {
        return Ok(());
    };

    let producer = Producer::new(&config.common.kafka, "enricher")?;
    let consumer = kafka::consumer(
        &config.common.kafka,
        "enricher",
        &config.group_id,
        &[&config.common.topics.touchpoints_valid],
        health.register("kafka", kafka::STATISTICS_INTERVAL * 6),
        loop_metrics.clone(),
    )?;
    let restore = ChangelogRestore::new(&config)?;
    let mut processor = EnricherProcessor::new(&config, reference, restore, metrics)
        .with_source_partitions(source_partitions);
    let parts = LoopParts {
        consumer: &consumer,
        producer: &producer,
        batch: config.common.batch,
        heartbeat: health.register("consumer_loop", Duration::from_secs(90)),
        metrics: loop_metrics,
    };
    tracing::info!(
        input = %config.common.topics.touchpoints_valid,
        output = %config.common.topics.touchpoints_enriched,
        changelog = %config.common.topics.identity_bindings,
        group = %config.group_id,
        "Enricher running."
    );
    let result = runtime::service::run_loop(
        parts,
        &mut processor,
        &health,
        &shutdown,
        config.common.shutdown_drain_timeout,
    )
    .await;
    // Stops the reference follower too when the loop ended on an error.
    shutdown.cancel();
    result
}
