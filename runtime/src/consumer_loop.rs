//! The at-least-once consumer loop shared by every service.
//!
//! Invariant: an input offset is stored (and so committed) only after every output produced
//! from it — and from every earlier input of its partition — has been acknowledged by the
//! broker. The loop works in batches: read up to `BATCH_MESSAGES_MAX` inputs or until
//! `BATCH_LINGER_MS` passes, hand each to the [`Processor`], enqueue its outputs, await all
//! delivery reports, then store each partition's last offset. A crash anywhere before the
//! store re-reads the batch; downstream consumers de-duplicate on deterministic ids.
//! A failed delivery is fatal: the loop returns without storing, the service exits non-zero,
//! and its restart re-reads the batch. Nothing is lost; nothing is skipped.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::DeliveryFuture;
use tokio_util::sync::CancellationToken;

use crate::error::RuntimeError;
use crate::health::Heartbeat;
use crate::kafka::{await_delivery, Output, Producer, ServiceContext};
use crate::metrics::LoopMetrics;
use crate::settings::BatchConfig;

/// How often an idle loop wakes up to beat its heartbeat and look for shutdown.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// One input message, borrowed from the consumer (or built by an importer).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Source topic (or `file:<path>` for imports).
    pub topic: &'a str,
    /// Source partition (-1 for imports).
    pub partition: i32,
    /// Source offset (line number for imports).
    pub offset: i64,
    /// Message key.
    pub key: Option<&'a [u8]>,
    /// Message payload; `None` for a tombstone.
    pub payload: Option<&'a [u8]>,
    /// Broker timestamp in epoch milliseconds, when known.
    pub timestamp_ms: Option<i64>,
}

impl<'a> Input<'a> {
    fn from_message(message: &'a BorrowedMessage<'a>) -> Input<'a> {
        Input {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key(),
            payload: message.payload(),
            timestamp_ms: message.timestamp().to_millis(),
        }
    }
}

/// A service's per-message logic. Implementations do no I/O: bad input becomes a dead-letter
/// output, and only conditions that make going on unsafe are returned as errors.
pub trait Processor {
    /// Handles one input, appending the messages it produces to `outputs`.
    fn process(&mut self, input: &Input<'_>, outputs: &mut Vec<Output>)
        -> Result<(), RuntimeError>;

    /// Called after a batch's outputs were acknowledged and before its offsets are stored,
    /// repeatedly until it adds no output: what it adds is written and acknowledged before the
    /// next call. A changelog written here only ever describes outputs already acknowledged,
    /// and a record written in a later call only ever follows the earlier ones.
    fn checkpoint(&mut self, _outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        Ok(())
    }

    /// Called after a batch's outputs were acknowledged and before each checkpoint call:
    /// writes what the processor buffered for stores outside Kafka (ClickHouse). A failure
    /// stops the loop before any offset is stored, so the batch is read again.
    fn flush_sinks(&mut self) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        async { Ok(()) }
    }

    /// Called when no input arrived for a while; outputs it adds are written and checkpointed
    /// like a batch without inputs. For clocks that must advance on a quiet stream.
    fn idle(&mut self, _outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        Ok(())
    }

    /// Called after a batch's outputs were acknowledged and its offsets stored.
    fn batch_done(&mut self, _inputs: usize) {}

    /// Called with partitions taken away by a rebalance, before any later input is handed
    /// over: state kept per input partition must be dropped here and restored when the
    /// partition's next input arrives (its new owner may have changed it meanwhile).
    fn partitions_revoked(&mut self, _partitions: &[(String, i32)]) {}

    /// Called with partitions newly assigned, after any revoked ones and before their first
    /// input; errors stop the service (it cannot work a partition it cannot restore).
    fn partitions_assigned(&mut self, _partitions: &[(String, i32)]) -> Result<(), RuntimeError> {
        Ok(())
    }
}

/// What the loop needs besides the processor.
#[allow(missing_debug_implementations)] // rdkafka's consumer has no Debug
pub struct LoopParts<'a> {
    /// The subscribed consumer.
    pub consumer: &'a StreamConsumer<ServiceContext>,
    /// The producer for outputs.
    pub producer: &'a Producer,
    /// Batch limits.
    pub batch: BatchConfig,
    /// The loop's liveness heartbeat.
    pub heartbeat: Heartbeat,
    /// Plumbing metrics.
    pub metrics: LoopMetrics,
}

/// Per-batch bookkeeping: deliveries in flight and the last offset read per partition.
#[derive(Default)]
struct Batch {
    inputs: usize,
    deliveries: Vec<(Arc<str>, DeliveryFuture)>,
    frontier: Frontier,
    outputs: Vec<Output>,
}

/// The last offset a batch read per partition: what it stores once its outputs are
/// acknowledged. Shared with the in-memory simulation of the loop (`stateful::memory`).
#[derive(Debug, Default)]
pub(crate) struct Frontier(pub(crate) Vec<(String, i32, i64)>);

impl Frontier {
    pub(crate) fn advance(&mut self, topic: &str, partition: i32, offset: i64) {
        // Linear search: a batch touches at most a handful of partitions.
        match self
            .0
            .iter_mut()
            .find(|(t, p, _)| *p == partition && t == topic)
        {
            Some(entry) => entry.2 = entry.2.max(offset),
            None => self.0.push((topic.to_string(), partition, offset)),
        }
    }

    /// Drops what this batch read from partitions just revoked. Their state was discarded
    /// with the assignment (changes not checkpointed included), so those inputs must be read
    /// again from the last commit, even when the partition comes straight back to this
    /// consumer (a lost assignment after a broker outage): storing their offsets would
    /// commit inputs whose effects no longer exist anywhere.
    pub(crate) fn forget(&mut self, revoked: &[(String, i32)]) {
        self.0
            .retain(|(t, p, _)| !revoked.iter().any(|(rt, rp)| rp == p && rt == t));
    }
}

/// Runs the loop until `shutdown` is cancelled, then finishes the batch in flight and commits.
pub async fn run<P: Processor>(
    parts: LoopParts<'_>,
    processor: &mut P,
    shutdown: &CancellationToken,
) -> Result<(), RuntimeError> {
    let LoopParts {
        consumer,
        producer,
        batch: limits,
        heartbeat,
        metrics,
    } = parts;
    let mut batch = Batch::default();
    let mut rejoin_at: Option<Instant> = None;
    // The service subscribed just before the loop started.
    let mut join_watch = Some(JoinWatch::armed(consumer, false));
    // Whether this loop has held partitions (as the watchdog last saw): a spare replica never
    // has, and is left idle rather than stopped when the group gives it none.
    let mut held = false;
    loop {
        heartbeat.beat();
        if rejoin_at.is_some_and(|at| Instant::now() >= at) {
            rejoin_at = None;
            rejoin(consumer, &metrics)?;
            join_watch = Some(JoinWatch::armed(consumer, held));
        }
        if let Some(watch) = join_watch.take() {
            let (watch, holds) = watch.check(consumer, &metrics)?;
            held |= holds;
            join_watch = watch;
        }
        // Wait for the first message of a batch; wake up regularly to stay live when idle.
        let first = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            received = tokio::time::timeout(IDLE_WAKE, consumer.recv()) => received,
        };
        let message = match first {
            Err(_idle) => {
                // Between batches: nothing read is pending, so a revocation needs no forgetting.
                report_rebalance(consumer, processor)?;
                processor.idle(&mut batch.outputs)?;
                if !batch.outputs.is_empty() {
                    for output in std::mem::take(&mut batch.outputs) {
                        producer
                            .enqueue_mirrored(output, &mut batch.deliveries)
                            .await?;
                    }
                    finish_batch(consumer, processor, producer, &mut batch, &metrics).await?;
                }
                continue;
            }
            Ok(Err(e)) => {
                consumer_error(consumer, &metrics, &e, &mut rejoin_at);
                continue;
            }
            Ok(Ok(message)) => message,
        };
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + limits.linger);
        handle(consumer, &message, processor, producer, &mut batch).await?;
        drop(message);
        let mut stopping = false;
        while batch.inputs < limits.messages_max {
            let next = tokio::select! {
                biased;
                _ = shutdown.cancelled() => { stopping = true; break }
                received = tokio::time::timeout_at(deadline, consumer.recv()) => received,
            };
            match next {
                Err(_linger_over) => break,
                Ok(Err(e)) => {
                    consumer_error(consumer, &metrics, &e, &mut rejoin_at);
                    break;
                }
                Ok(Ok(message)) => {
                    handle(consumer, &message, processor, producer, &mut batch).await?
                }
            }
        }
        finish_batch(consumer, processor, producer, &mut batch, &metrics).await?;
        processor.batch_done(std::mem::take(&mut batch.inputs));
        metrics.batches.inc();
        metrics
            .batch_duration
            .observe(started.elapsed().as_secs_f64());
        if stopping {
            break;
        }
    }
    // Every batch is finished before shutdown is looked at again, so all stored offsets are
    // backed by acknowledged outputs: commit them now rather than waiting for the auto-commit.
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        Err(e) => Err(RuntimeError::Kafka(e)),
    }
}

async fn handle<P: Processor>(
    consumer: &StreamConsumer<ServiceContext>,
    message: &BorrowedMessage<'_>,
    processor: &mut P,
    producer: &Producer,
    batch: &mut Batch,
) -> Result<(), RuntimeError> {
    let revoked = report_rebalance(consumer, processor)?;
    batch.frontier.forget(&revoked);
    let input = Input::from_message(message);
    processor.process(&input, &mut batch.outputs)?;
    for output in std::mem::take(&mut batch.outputs) {
        producer
            .enqueue_mirrored(output, &mut batch.deliveries)
            .await?;
    }
    batch
        .frontier
        .advance(input.topic, input.partition, input.offset);
    batch.inputs += 1;
    Ok(())
}

async fn finish_batch<P: Processor>(
    consumer: &StreamConsumer<ServiceContext>,
    processor: &mut P,
    producer: &Producer,
    batch: &mut Batch,
    metrics: &LoopMetrics,
) -> Result<(), RuntimeError> {
    await_all(batch, metrics).await?;
    // Partitions revoked during the batch are dropped before the checkpoint, so nothing is
    // written for a partition its next owner may already be restoring, and their offsets
    // are not stored.
    let revoked = report_rebalance(consumer, processor)?;
    batch.frontier.forget(&revoked);
    loop {
        processor.flush_sinks().await?;
        processor.checkpoint(&mut batch.outputs)?;
        if batch.outputs.is_empty() {
            break;
        }
        for output in std::mem::take(&mut batch.outputs) {
            producer
                .enqueue_mirrored(output, &mut batch.deliveries)
                .await?;
        }
        await_all(batch, metrics).await?;
    }
    metrics.input_messages.inc_by(batch.inputs as u64);
    for (topic, partition, offset) in batch.frontier.0.drain(..) {
        // `store_offset` records offset + 1, the next message to read.
        if let Err(e) = consumer.store_offset(&topic, partition, offset) {
            // The partition was revoked mid-batch: its new owner re-reads from the last
            // commit. Duplicates, not loss; downstream de-duplicates.
            tracing::debug!(topic, partition, offset, error = %e, "Offset not stored: partition no longer assigned.");
        }
    }
    Ok(())
}

async fn await_all(batch: &mut Batch, metrics: &LoopMetrics) -> Result<(), RuntimeError> {
    // Counted per run of one topic: a label lookup per message cost more than the counting.
    let mut run: Option<(Arc<str>, u64)> = None;
    let count = |run: Option<(Arc<str>, u64)>| {
        if let Some((topic, n)) = run {
            metrics
                .output_messages
                .with_label_values(&[&*topic])
                .inc_by(n);
        }
    };
    for (topic, delivery) in batch.deliveries.drain(..) {
        if let Err(e) = await_delivery(&topic, delivery).await {
            count(run);
            return Err(e);
        }
        match &mut run {
            Some((current, n)) if *current == topic => *n += 1,
            _ => count(run.replace((topic, 1))),
        }
    }
    count(run);
    Ok(())
}

/// Tells the processor about revocations and assignments since the last call; returns the
/// revoked partitions.
fn report_rebalance<P: Processor>(
    consumer: &StreamConsumer<ServiceContext>,
    processor: &mut P,
) -> Result<Vec<(String, i32)>, RuntimeError> {
    let revoked = consumer.context().take_revoked();
    if !revoked.is_empty() {
        processor.partitions_revoked(&revoked);
    }
    let assigned = consumer.context().take_assigned();
    if !assigned.is_empty() {
        processor.partitions_assigned(&assigned)?;
    }
    consumer.context().assignment_taken();
    Ok(revoked)
}

/// Extra wait after a broker outage's last error, beyond the session timeout.
const REJOIN_MARGIN: Duration = Duration::from_secs(2);

/// True for errors that mean the broker is unreachable (restarting, network down).
fn is_broker_outage(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)
    )
}

/// How many times in a row the join watchdog rejoins before it gives up and only warns: on
/// Kafka a join can legitimately wait for a member busy elsewhere (a long restore), and
/// rejoining for ever would churn the group.
const JOIN_RETRIES: u32 = 3;

/// Watches a (re)join until the group hands this consumer some partitions. tansu 0.6.0 keeps
/// a member that stopped heartbeating (a `kill -9`'d predecessor, or this client's own member
/// id of a moment before, replaced by a rejoin after a broker restart) until some member
/// joins after its session expired: a join made before that either goes unanswered for
/// librdkafka's `max.poll.interval.ms` (5 minutes) or is answered with no partitions while the
/// dead member holds them all. Seen in chaos seed 960601 (the risk scorer never got its
/// partitions back, so no commission was written) and in a restart inside the session
/// timeout. When this consumer still holds no partition a session timeout and a margin after
/// the join, the loop rejoins; that join evicts the dead member. A consumer that legitimately
/// gets none (more members than partitions) rejoins `JOIN_RETRIES` times and then stays idle.
/// One that held partitions before the join (a rejoin after a broker outage) and still gets
/// none after every retry stops with [`RuntimeError::NoAssignment`], so the orchestrator
/// starts a fresh client: chaos seed 980510 saw ingest's rejoins after a broker restart go
/// unanswered for minutes, while a restarted process joins within seconds.
#[derive(Debug, Clone, PartialEq)]
struct JoinWatch {
    deadline: Instant,
    patience: Duration,
    retries: u32,
    /// The loop held partitions before this join.
    held_before: bool,
}

/// What the join watchdog decides at one look.
#[derive(Debug, PartialEq)]
enum JoinVerdict {
    /// This consumer holds partitions: stop watching.
    Joined,
    /// Not yet due: keep watching.
    Waiting(JoinWatch),
    /// Unanswered past its deadline: rejoin, then keep watching.
    Rejoin(JoinWatch),
    /// Unanswered after every retry: stop rejoining (and, if the loop held partitions before,
    /// stop the loop).
    GiveUp {
        /// The loop held partitions before the join.
        held_before: bool,
    },
}

impl JoinWatch {
    fn armed(consumer: &StreamConsumer<ServiceContext>, held_before: bool) -> JoinWatch {
        JoinWatch::new(
            Instant::now(),
            consumer.context().session_timeout() + REJOIN_MARGIN,
            held_before,
        )
    }

    /// Watching a join made at `now`; it may stay without partitions for `patience` (long
    /// enough for any member that stopped heartbeating to have lost its session).
    fn new(now: Instant, patience: Duration, held_before: bool) -> JoinWatch {
        JoinWatch {
            deadline: now + patience,
            patience,
            retries: 0,
            held_before,
        }
    }

    fn look(mut self, now: Instant, holds_partitions: bool) -> JoinVerdict {
        if holds_partitions {
            JoinVerdict::Joined
        } else if now < self.deadline {
            JoinVerdict::Waiting(self)
        } else if self.retries >= JOIN_RETRIES {
            JoinVerdict::GiveUp {
                held_before: self.held_before,
            }
        } else {
            self.retries += 1;
            self.deadline = now + self.patience;
            JoinVerdict::Rejoin(self)
        }
    }

    /// Rejoins when that is due. Returns the watch to keep (if any) and whether the consumer
    /// now holds partitions.
    fn check(
        self,
        consumer: &StreamConsumer<ServiceContext>,
        metrics: &LoopMetrics,
    ) -> Result<(Option<JoinWatch>, bool), RuntimeError> {
        let patience = self.patience;
        // The assignment as librdkafka holds it now (callbacks ran in the last poll).
        let holds = consumer.assignment().is_ok_and(|list| list.count() > 0);
        match self.look(Instant::now(), holds) {
            JoinVerdict::Joined => Ok((None, true)),
            JoinVerdict::Waiting(watch) => Ok((Some(watch), false)),
            JoinVerdict::Rejoin(watch) => {
                tracing::warn!(waited = ?patience, "No partitions from the consumer group since joining; rejoining.");
                rejoin(consumer, metrics)?;
                Ok((Some(watch), false))
            }
            JoinVerdict::GiveUp { held_before: true } => Err(RuntimeError::NoAssignment {
                rejoins: JOIN_RETRIES,
            }),
            JoinVerdict::GiveUp { held_before: false } => {
                tracing::warn!(
                    rejoins = JOIN_RETRIES,
                    "Still no partitions from the consumer group after rejoining: more members than partitions, or another member holds them all."
                );
                Ok((None, false))
            }
        }
    }
}

/// Leaves and rejoins the group (between batches: every stored offset is backed by
/// acknowledged outputs, so it commits first). After a broker restart a client may come back
/// under a new member id while the broker still counts its old one: tansu 0.6.0 hands that
/// ghost a share of the partitions and evicts it only when a member joins after the ghost's
/// session expired. Rejoining once that has passed gets every partition consumed again; on
/// Kafka it costs one extra rebalance after an outage.
fn rejoin(
    consumer: &StreamConsumer<ServiceContext>,
    metrics: &LoopMetrics,
) -> Result<(), RuntimeError> {
    let subscription = consumer.subscription().map_err(RuntimeError::Kafka)?;
    let mut topics: Vec<String> = subscription
        .elements()
        .iter()
        .map(|e| e.topic().to_string())
        .collect();
    drop(subscription);
    topics.dedup();
    if topics.is_empty() {
        return Ok(());
    }
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => {
            tracing::warn!(error = %e, "Commit before rejoining failed; the next owner may re-read some messages.")
        }
    }
    consumer.unsubscribe();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).map_err(RuntimeError::Kafka)?;
    metrics.rebalances.with_label_values(&["rejoin"]).inc();
    tracing::info!(topics = ?names, "Rejoined the consumer group.");
    Ok(())
}

fn consumer_error(
    consumer: &StreamConsumer<ServiceContext>,
    metrics: &LoopMetrics,
    error: &KafkaError,
    rejoin_at: &mut Option<Instant>,
) {
    metrics.consumer_errors.inc();
    tracing::warn!(error = %error, "Consumer error; the client retries.");
    if is_broker_outage(error) {
        // Counted from the outage's last error, so the ghost's session has surely expired.
        *rejoin_at = Some(Instant::now() + consumer.context().session_timeout() + REJOIN_MARGIN);
    }
}

/// Runs `work` to completion, but once `shutdown` is cancelled gives it at most `drain` more.
pub async fn with_drain_timeout<F>(
    work: F,
    shutdown: &CancellationToken,
    drain: Duration,
) -> Result<(), RuntimeError>
where
    F: Future<Output = Result<(), RuntimeError>>,
{
    tokio::pin!(work);
    tokio::select! {
        result = &mut work => result,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(drain).await } => {
            Err(RuntimeError::DrainTimeout(drain))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Frontier, JoinVerdict, JoinWatch, JOIN_RETRIES};

    #[test]
    fn the_join_watchdog_rejoins_only_while_the_consumer_holds_no_partition_then_gives_up() {
        let t0 = Instant::now();
        let patience = Duration::from_secs(8);
        let watch = JoinWatch::new(t0, patience, false);
        // Inside its patience nothing happens.
        let JoinVerdict::Waiting(watch) = watch.look(t0 + Duration::from_secs(7), false) else {
            panic!("a join is given its patience");
        };
        // Holding partitions ends the watch at any time.
        assert_eq!(
            watch.clone().look(t0 + Duration::from_secs(60), true),
            JoinVerdict::Joined
        );
        // Unanswered: rejoin, each time with a fresh patience, JOIN_RETRIES times.
        let mut now = t0 + patience;
        let mut watch = watch;
        for retry in 1..=JOIN_RETRIES {
            let JoinVerdict::Rejoin(next) = watch.look(now, false) else {
                panic!("rejoin {retry} is due");
            };
            assert_eq!(next.retries, retry);
            assert_eq!(next.deadline, now + patience);
            let JoinVerdict::Waiting(next) = next.look(now + Duration::from_secs(1), false) else {
                panic!("a rejoin is given its patience too");
            };
            watch = next;
            now += patience;
        }
        assert_eq!(
            watch.look(now, false),
            JoinVerdict::GiveUp { held_before: false }
        );
        // After partitions were held, giving up is said so (the loop then stops).
        let mut watch = JoinWatch::new(t0, patience, true);
        for _ in 0..JOIN_RETRIES {
            let due = watch.deadline;
            let JoinVerdict::Rejoin(next) = watch.look(due, false) else {
                panic!("a rejoin is due");
            };
            watch = next;
        }
        let due = watch.deadline;
        assert_eq!(
            watch.look(due, false),
            JoinVerdict::GiveUp { held_before: true }
        );
    }

    #[test]
    fn a_revoked_partition_keeps_no_offset_to_store_even_if_it_comes_back() {
        let mut batch = Frontier::default();
        batch.advance("in", 0, 100);
        batch.advance("in", 1, 7);
        batch.advance("in", 0, 150);
        batch.advance("other", 0, 3);
        // Partition 0 of "in" was lost and assigned again: what was read before is forgotten.
        batch.forget(&[("in".to_string(), 0)]);
        assert_eq!(
            batch.0,
            vec![("in".to_string(), 1, 7), ("other".to_string(), 0, 3)]
        );
        // Re-read from the last commit after the new assignment, it is stored from there.
        batch.advance("in", 0, 120);
        assert!(batch.0.contains(&("in".to_string(), 0, 120)));
    }
}
