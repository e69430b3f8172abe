//! The stateful-service harness: one [`Processor`] that owns, once, the protocol every stateful
//! service follows (DESIGN.md §5), so a service supplies only its pure per-partition state and
//! one apply step.
//!
//! What the harness does:
//! - **restores exactly the assigned partitions** of the state topic, at assignment, through a
//!   [`Restore`] (the end-marker [`ChangelogReader`](crate::topic_reader::ChangelogReader) in
//!   services, [`memory::MemoryChangelog`] in tests); a partition whose input arrives first
//!   (another input topic co-partitioned with the state topic) is restored then;
//! - **forgets revoked partitions** at once, changes not yet checkpointed included;
//! - **decodes or dead-letters** every input, and dead-letters what the apply step rejects;
//! - **checkpoints in phases**: after a batch's outputs are acknowledged it writes every
//!   partition's phase-0 changelog records, waits for their acknowledgement, then phase 1, …,
//!   then the position records under [`POSITION_KEY`]. A crash between any two writes leaves a
//!   changelog whose restore, with the inputs re-read from the last commit, gives the same
//!   outputs: each phase only ever refers to records of earlier phases;
//! - **keeps the state gauges**: entries by kind, approximate bytes, restore seconds, records
//!   read by restores and partitions being restored. While a restore makes progress it beats
//!   every liveness component (it holds the loop and its client's callbacks); when it stops
//!   making progress nothing beats, and liveness fails at the deadlines.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, IntGaugeVec, Opts, Registry};

use crate::consumer_loop::{Input, Processor};
use crate::dead_letter::DeadLetterWriter;
use crate::error::RuntimeError;
use crate::health::Health;
use crate::kafka::Output;

pub mod memory;

/// Changelog key of a partition's position record, for every stateful service that has one
/// (the attributor's, risk's and the ledger's own keys never start with `~`; the enricher
/// writes no position).
pub const POSITION_KEY: &str = "~position";

/// One changelog write: the key and its record, or `None` for a tombstone.
pub type Change<R> = (String, Option<R>);

/// One changelog write as it goes out: the key and the encoded record, or `None` for a tombstone.
pub type EncodedChange = (String, Option<Vec<u8>>);

/// How often the approximate size of the state is recomputed (it walks every entry).
const BYTES_REFRESH: Duration = Duration::from_secs(10);

/// Liveness beats during a restore every this many records.
const RESTORE_BEAT_RECORDS: u64 = 1024;

/// Reads one state changelog partition back: the latest record of every key, tombstoned keys
/// left out, as the payloads written (each checked to be a `T` by its header). `progress` is
/// called for every record read. The harness decodes them one at a time while the state is
/// rebuilt, so a restore never holds every record of a partition decoded at once.
pub trait Restore<T> {
    /// The latest payload of every key of `partition`.
    fn read(
        &mut self,
        partition: i32,
        progress: &mut dyn FnMut(),
    ) -> Result<Vec<Vec<u8>>, RuntimeError>;
}

/// A service's pure state of one input partition, kept on a co-partitioned changelog.
pub trait PartitionState {
    /// The changelog record.
    type Record: schemas::AvroMessage;
    /// How many checkpoint phases [`PartitionState::take_changes`] has, written in order.
    const PHASES: usize;
    /// Labels of [`PartitionState::entries`], in the same order.
    const ENTRY_KINDS: &'static [&'static str];

    /// The records of `phase` changed since the last call.
    fn take_changes(&mut self, phase: usize) -> Vec<Change<Self::Record>>;

    /// The same changes as changelog payloads (`None`: a tombstone), which the harness writes.
    /// The default encodes [`PartitionState::take_changes`]; a state that can encode straight
    /// from what it holds, without first copying each changed entry into a record, overrides
    /// it (the records must be the same bytes).
    fn take_encoded_changes(&mut self, phase: usize) -> Result<Vec<EncodedChange>, RuntimeError> {
        self.take_changes(phase)
            .into_iter()
            .map(|(key, record)| {
                let payload = record
                    .map(|r| crate::error::encode("changelog record", &r))
                    .transpose()?;
                Ok((key, payload))
            })
            .collect()
    }

    /// The position record, when it moved since the last call; written after every phase,
    /// under [`POSITION_KEY`].
    fn take_position(&mut self) -> Option<Self::Record> {
        None
    }

    /// Marks every live entry (and the position) changed, so the next checkpoint rewrites the
    /// whole state. The harness calls it every `STATE_REFRESH_SECONDS`: a changelog with
    /// time retention then always holds the whole live state, and what was erased or expired
    /// ages out of the log even on a broker that never compacts. States whose changelog is
    /// kept forever (no personal data) need not rewrite anything.
    fn refresh(&mut self) {}

    /// Entries held, one count per [`PartitionState::ENTRY_KINDS`] label.
    fn entries(&self) -> Vec<usize>;

    /// Approximate bytes held.
    fn approx_bytes(&self) -> usize;
}

/// The state of every partition a harness holds.
pub type Partitions<S> = BTreeMap<i32, S>;

/// What an apply step made of a decoded input.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied (its outputs, if any, are pushed).
    Done,
    /// Rejected: the input goes to the dead-letter topic with this reason.
    Rejected {
        /// Dead-letter reason code.
        reason: &'static str,
        /// For people.
        detail: String,
        /// The input's event id, when known.
        event_id: Option<String>,
    },
}

/// Why the domain refused an input: it goes to the dead-letter topic with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Dead-letter reason code.
    pub reason: &'static str,
    /// For people.
    pub detail: String,
}

impl Applied {
    /// `Done`, or the rejection as a dead letter of the input with `event_id`.
    pub fn of(result: Result<(), Rejection>, event_id: Option<String>) -> Applied {
        match result {
            Ok(()) => Applied::Done,
            Err(Rejection { reason, detail }) => Applied::Rejected {
                reason,
                detail,
                event_id,
            },
        }
    }
}

/// A stateful service's logic. Pure: no I/O except through `flush_sinks`.
pub trait StatefulLogic {
    /// Per-partition state.
    type State: PartitionState;
    /// A decoded input.
    type Event;

    /// Decodes an input; an error dead-letters it as `undecodable` with the message as detail.
    fn decode(&mut self, input: &Input<'_>) -> Result<Self::Event, String>;

    /// Rebuilds a partition from the latest changelog records, decoded one at a time as the
    /// iterator is advanced (a state that keeps records in another form should consume them as
    /// they come rather than collect them).
    fn restore(
        &self,
        partition: i32,
        records: &mut dyn Iterator<Item = <Self::State as PartitionState>::Record>,
    ) -> Self::State;

    /// Rebuilds a partition from the latest changelog payloads as written. The default
    /// decodes each into an owned record, one at a time, for [`StatefulLogic::restore`]; a
    /// logic whose records hold much text can decode them borrowed instead
    /// ([`schemas::decode_as`]) and skip copying it. An undecodable payload fails the restore.
    fn restore_encoded(
        &self,
        partition: i32,
        payloads: &mut dyn Iterator<Item = &[u8]>,
    ) -> Result<Self::State, schemas::CodecError> {
        let mut undecodable = None;
        let mut records = payloads.map_while(|payload| {
            schemas::decode::<<Self::State as PartitionState>::Record>(payload)
                .map_err(|error| undecodable = Some(error))
                .ok()
        });
        let state = self.restore(partition, &mut records);
        match undecodable {
            Some(error) => Err(error),
            None => Ok(state),
        }
    }

    /// Applies one input to its partition's state, pushing the outputs it produces.
    fn apply(
        &mut self,
        state: &mut Self::State,
        input: &Input<'_>,
        event: Self::Event,
        outputs: &mut Vec<Output>,
    ) -> Result<Applied, RuntimeError>;

    /// No input for a while (see [`Processor::idle`]).
    fn idle(
        &mut self,
        _partitions: &mut Partitions<Self::State>,
        _outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        Ok(())
    }

    /// Before the first phase of a checkpoint (housekeeping that changes state, e.g. expiry).
    fn before_checkpoint(&mut self, _partitions: &mut Partitions<Self::State>) {}

    /// Once per checkpoint, before its first phase, with every partition at hand: changes
    /// made outside the input stream (results reported by background work) are applied here,
    /// and the outputs that describe them are written and acknowledged before the state that
    /// reflects them — at every batch, however busy or quiet each partition is.
    fn emit_before_checkpoint(
        &mut self,
        _partitions: &mut Partitions<Self::State>,
        _outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        Ok(())
    }

    /// See [`Processor::flush_sinks`].
    fn flush_sinks(&mut self) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        async { Ok(()) }
    }

    /// A partition was restored (or started empty) and is now held.
    fn partition_restored(&mut self, _partition: i32) {}

    /// A partition was revoked and its state dropped.
    fn partition_dropped(&mut self, _partition: i32) {}

    /// An input was dead-lettered with `reason` (for the service's own counter).
    fn dead_lettered(&self, _reason: &str) {}

    /// Gauges of the service's own, refreshed with the harness's state gauges.
    fn update_gauges(&self, _partitions: &Partitions<Self::State>) {}
}

/// The harness's metrics, prefixed by the service: `<prefix>_state_entries{kind}`,
/// `<prefix>_state_bytes`, `<prefix>_restore_seconds`, `<prefix>_restore_records_total`,
/// `<prefix>_restoring_partitions`.
#[derive(Debug, Clone)]
pub struct StateMetrics {
    entries: IntGaugeVec,
    bytes: IntGauge,
    restore_seconds: Histogram,
    restore_records: IntCounter,
    restoring: IntGauge,
    refreshes: IntCounter,
}

impl StateMetrics {
    /// Creates and registers the metrics, every `kinds` label present from the start.
    pub fn register(
        prefix: &str,
        kinds: &[&str],
        registry: &Registry,
    ) -> prometheus::Result<StateMetrics> {
        let m = StateMetrics {
            entries: IntGaugeVec::new(
                Opts::new(
                    format!("{prefix}_state_entries"),
                    "State entries held for the assigned partitions, by kind.",
                ),
                &["kind"],
            )?,
            bytes: IntGauge::new(
                format!("{prefix}_state_bytes"),
                "Approximate bytes of state held (refreshed every 10 s at most).",
            )?,
            restore_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    format!("{prefix}_restore_seconds"),
                    "Seconds to restore one partition's state from its changelog.",
                )
                .buckets(vec![0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0]),
            )?,
            restore_records: IntCounter::new(
                format!("{prefix}_restore_records_total"),
                "Changelog records read by restores: climbs while a restore makes progress.",
            )?,
            restoring: IntGauge::new(
                format!("{prefix}_restoring_partitions"),
                "Partitions being restored now (readiness waits for them).",
            )?,
            refreshes: IntCounter::new(
                format!("{prefix}_state_refreshes_total"),
                "Times the whole state was rewritten to the changelog (STATE_REFRESH_SECONDS).",
            )?,
        };
        for kind in kinds {
            m.entries.with_label_values(&[kind]).set(0);
        }
        registry.register(Box::new(m.entries.clone()))?;
        registry.register(Box::new(m.bytes.clone()))?;
        registry.register(Box::new(m.restore_seconds.clone()))?;
        registry.register(Box::new(m.restore_records.clone()))?;
        registry.register(Box::new(m.restoring.clone()))?;
        registry.register(Box::new(m.refreshes.clone()))?;
        Ok(m)
    }

    /// Metrics registered nowhere (tests, benchmarks).
    pub fn unregistered(prefix: &str) -> StateMetrics {
        StateMetrics::register(prefix, &[], &Registry::new())
            .expect("fresh metrics register in an empty registry")
    }
}

/// Where a harness's state lives and what it reports to.
#[allow(missing_debug_implementations)]
pub struct StateParts<R> {
    /// The input topic whose partitions the state follows (its changelog is co-partitioned).
    pub state_topic: String,
    /// The changelog topic.
    pub changelog_topic: String,
    /// Reads changelog partitions back.
    pub restore: R,
    /// Writes dead letters.
    pub dead_letters: DeadLetterWriter,
    /// Gauges.
    pub metrics: StateMetrics,
    /// Beaten while a restore makes progress.
    pub health: Health,
    /// How often every partition's whole state is rewritten ([`PartitionState::refresh`]).
    pub refresh_interval: Duration,
}

/// The harness: a [`Processor`] over a service's [`StatefulLogic`].
#[allow(missing_debug_implementations)]
pub struct Stateful<L: StatefulLogic, R> {
    logic: L,
    partitions: Partitions<L::State>,
    parts: StateParts<R>,
    changelog_topic: Arc<str>,
    /// Next checkpoint step: a phase, then `PHASES` for positions, then done.
    step: usize,
    /// This checkpoint's `emit_before_checkpoint` ran.
    emitted: bool,
    bytes_refreshed: Option<Instant>,
    last_refresh: Instant,
}

impl<L, R> Stateful<L, R>
where
    L: StatefulLogic,
    R: Restore<<L::State as PartitionState>::Record>,
{
    /// A harness running `logic`.
    pub fn new(logic: L, parts: StateParts<R>) -> Stateful<L, R> {
        Stateful {
            logic,
            partitions: Partitions::new(),
            changelog_topic: Arc::from(parts.changelog_topic.as_str()),
            parts,
            step: 0,
            emitted: false,
            bytes_refreshed: None,
            last_refresh: Instant::now(),
        }
    }

    /// The service logic.
    pub fn logic(&self) -> &L {
        &self.logic
    }

    /// State of `partition`, if held.
    pub fn partition(&self, partition: i32) -> Option<&L::State> {
        self.partitions.get(&partition)
    }

    /// Every partition held.
    pub fn partitions(&self) -> &Partitions<L::State> {
        &self.partitions
    }

    fn ensure_restored(&mut self, partition: i32) -> Result<(), RuntimeError> {
        if self.partitions.contains_key(&partition) {
            return Ok(());
        }
        let started = Instant::now();
        let metrics = &self.parts.metrics;
        metrics.restoring.inc();
        let health = &self.parts.health;
        let mut read = 0u64;
        let records = self.parts.restore.read(partition, &mut || {
            read += 1;
            if read.is_multiple_of(RESTORE_BEAT_RECORDS) {
                metrics.restore_records.inc_by(RESTORE_BEAT_RECORDS);
                health.beat_all();
            }
        });
        metrics.restore_records.inc_by(read % RESTORE_BEAT_RECORDS);
        metrics.restoring.dec();
        let payloads = records?;
        let count = payloads.len();
        let restored = self
            .logic
            .restore_encoded(partition, &mut payloads.iter().map(Vec::as_slice));
        drop(payloads);
        let state = restored.map_err(|error| RuntimeError::State {
            topic: self.parts.changelog_topic.clone(),
            detail: format!("a record of partition {partition} does not decode: {error}"),
        })?;
        health.beat_all();
        let seconds = started.elapsed().as_secs_f64();
        metrics.restore_seconds.observe(seconds);
        let entries: Vec<(&str, usize)> = <L::State as PartitionState>::ENTRY_KINDS
            .iter()
            .copied()
            .zip(state.entries())
            .collect();
        tracing::info!(partition, read, records = count, ?entries, seconds, topic = %self.parts.changelog_topic, "Partition state restored.");
        self.partitions.insert(partition, state);
        self.logic.partition_restored(partition);
        self.bytes_refreshed = None;
        self.update_gauges();
        Ok(())
    }

    /// Marks every partition's whole state changed when `refresh_interval` has passed since
    /// the last time; true if it did.
    fn refresh_if_due(&mut self) -> bool {
        if self.last_refresh.elapsed() < self.parts.refresh_interval {
            return false;
        }
        self.last_refresh = Instant::now();
        self.partitions
            .values_mut()
            .for_each(PartitionState::refresh);
        self.parts.metrics.refreshes.inc();
        tracing::info!(partitions = self.partitions.len(), topic = %self.parts.changelog_topic, "Rewriting the whole state to the changelog (STATE_REFRESH_SECONDS).");
        true
    }

    fn update_gauges(&mut self) {
        let kinds = <L::State as PartitionState>::ENTRY_KINDS;
        let mut totals = vec![0usize; kinds.len()];
        for state in self.partitions.values() {
            for (total, n) in totals.iter_mut().zip(state.entries()) {
                *total += n;
            }
        }
        for (kind, total) in kinds.iter().zip(totals) {
            self.parts
                .metrics
                .entries
                .with_label_values(&[kind])
                .set(gauge(total));
        }
        if self
            .bytes_refreshed
            .is_none_or(|at| at.elapsed() >= BYTES_REFRESH)
        {
            self.bytes_refreshed = Some(Instant::now());
            let bytes = self.partitions.values().map(PartitionState::approx_bytes);
            self.parts.metrics.bytes.set(gauge(bytes.sum()));
        }
        self.logic.update_gauges(&self.partitions);
    }

    fn dead_letter(
        &self,
        input: &Input<'_>,
        reason: &'static str,
        detail: String,
        event_id: Option<String>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        self.logic.dead_lettered(reason);
        let dead_letter = self
            .parts
            .dead_letters
            .reject(input, reason, detail, event_id)?;
        outputs.push(dead_letter);
        Ok(())
    }

    /// Pushes one checkpoint step's records: a phase's changes, or the positions.
    fn write_step(&mut self, step: usize, outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        for (partition, state) in &mut self.partitions {
            let changes = if step < <L::State as PartitionState>::PHASES {
                state.take_encoded_changes(step)?
            } else if let Some(position) = state.take_position() {
                let payload = crate::error::encode("changelog record", &position)?;
                vec![(POSITION_KEY.to_string(), Some(payload))]
            } else {
                continue;
            };
            outputs.extend(changes.into_iter().map(|(key, payload)| Output {
                topic: Arc::clone(&self.changelog_topic),
                key: Some(key.into_bytes()),
                partition: Some(*partition),
                payload,
            }));
        }
        Ok(())
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// How many entries to evict when `held` is over `cap`: down to 90 % of it, so the eviction
/// (a scan of the state) does not run again at the next input. 0 when within the cap.
pub fn over_cap(held: usize, cap: usize) -> usize {
    if held <= cap {
        0
    } else {
        held - (cap - cap / 10)
    }
}

/// The keys of the `n` smallest `candidates` by their order value (the oldest, when it is a
/// time): the eviction rule of every state cap.
pub fn oldest_keys<O: Ord, K: AsRef<str> + Ord + ?Sized>(
    mut candidates: Vec<(O, &K)>,
    n: usize,
) -> Vec<String> {
    let n = n.min(candidates.len());
    if n == 0 {
        return Vec::new();
    }
    if n < candidates.len() {
        candidates.select_nth_unstable(n - 1);
    }
    candidates[..n]
        .iter()
        .map(|(_, k)| k.as_ref().to_string())
        .collect()
}

/// An input's payload, or the detail of why there is none.
pub fn payload<'a>(input: &Input<'a>) -> Result<&'a [u8], String> {
    input.payload.ok_or_else(|| "empty message".to_string())
}

impl<L, R> Processor for Stateful<L, R>
where
    L: StatefulLogic,
    R: Restore<<L::State as PartitionState>::Record>,
{
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        self.ensure_restored(input.partition)?;
        let event = match self.logic.decode(input) {
            Ok(event) => event,
            Err(detail) => return self.dead_letter(input, "undecodable", detail, None, outputs),
        };
        let state =
            self.partitions
                .get_mut(&input.partition)
                .ok_or_else(|| RuntimeError::State {
                    topic: input.topic.to_string(),
                    detail: format!("partition {} not restored", input.partition),
                })?;
        match self.logic.apply(state, input, event, outputs)? {
            Applied::Done => Ok(()),
            Applied::Rejected {
                reason,
                detail,
                event_id,
            } => self.dead_letter(input, reason, detail, event_id, outputs),
        }
    }

    fn checkpoint(&mut self, outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        let phases = <L::State as PartitionState>::PHASES;
        loop {
            let step = self.step;
            if step == 0 && !self.emitted {
                self.emitted = true;
                self.logic
                    .emit_before_checkpoint(&mut self.partitions, outputs)?;
                self.logic.before_checkpoint(&mut self.partitions);
                self.refresh_if_due();
                if !outputs.is_empty() {
                    return Ok(());
                }
            }
            if step > phases {
                self.step = 0;
                self.emitted = false;
                self.update_gauges();
                return Ok(());
            }
            self.step += 1;
            self.write_step(step, outputs)?;
            if !outputs.is_empty() {
                return Ok(());
            }
        }
    }

    fn flush_sinks(&mut self) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        self.logic.flush_sinks()
    }

    fn idle(&mut self, outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        self.logic.idle(&mut self.partitions, outputs)?;
        // A quiet service must still rewrite its state before the changelog's retention
        // drops it: start the checkpoint that writes it (the loop finishes it).
        if outputs.is_empty() && self.step == 0 && self.refresh_if_due() {
            self.checkpoint(outputs)?;
        }
        Ok(())
    }

    fn partitions_revoked(&mut self, partitions: &[(String, i32)]) {
        for (topic, partition) in partitions {
            if *topic == self.parts.state_topic && self.partitions.remove(partition).is_some() {
                self.logic.partition_dropped(*partition);
            }
        }
        self.bytes_refreshed = None;
        self.update_gauges();
    }

    fn partitions_assigned(&mut self, partitions: &[(String, i32)]) -> Result<(), RuntimeError> {
        // Restored at once, not at the first input: state that must act on a quiet partition
        // (pending conversions, clocks) needs it, and readiness waits for it.
        for (topic, partition) in partitions {
            if *topic == self.parts.state_topic {
                self.ensure_restored(*partition)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The harness over a toy service: running totals per key, one key record per changed
    //! key (phase 0), then a position saying every input up to it is on the changelog. The
    //! toy skips inputs the position covers, so it computes wrong totals after a crash if the
    //! harness ever wrote a position before the key records it covers.

    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::memory::{Crash, Message, Plan, Simulation};
    use super::*;

    #[derive(Debug, Clone, Serialize, Deserialize)]
    struct ToyRecord {
        key: String,
        total: i64,
        as_of: i64,
    }

    impl schemas::AvroMessage for ToyRecord {
        fn family() -> &'static schemas::codec::SchemaFamily {
            static FAMILY: std::sync::OnceLock<schemas::codec::SchemaFamily> =
                std::sync::OnceLock::new();
            FAMILY.get_or_init(|| {
                schemas::codec::SchemaFamily::parse(
                    "toy_state",
                    &[(
                        "toy_state.v1.avsc",
                        r#"{"type":"record","name":"ToyState","namespace":"test","fields":[
                            {"name":"key","type":"string"},{"name":"total","type":"long"},
                            {"name":"as_of","type":"long"}]}"#,
                    )],
                )
            })
        }
    }

    #[derive(Debug, Default)]
    struct Totals {
        keys: BTreeMap<String, (i64, i64)>,
        dirty: BTreeSet<String>,
        applied_through: i64,
        position_dirty: bool,
    }

    impl PartitionState for Totals {
        type Record = ToyRecord;
        const PHASES: usize = 1;
        const ENTRY_KINDS: &'static [&'static str] = &["keys"];

        fn take_changes(&mut self, phase: usize) -> Vec<Change<ToyRecord>> {
            assert_eq!(phase, 0);
            std::mem::take(&mut self.dirty)
                .into_iter()
                .map(|key| {
                    let (total, as_of) = self.keys[&key];
                    let record = ToyRecord {
                        key: key.clone(),
                        total,
                        as_of,
                    };
                    (key, Some(record))
                })
                .collect()
        }

        fn take_position(&mut self) -> Option<ToyRecord> {
            std::mem::take(&mut self.position_dirty).then(|| ToyRecord {
                key: String::new(),
                total: 0,
                as_of: self.applied_through,
            })
        }

        fn entries(&self) -> Vec<usize> {
            vec![self.keys.len()]
        }

        fn approx_bytes(&self) -> usize {
            self.keys.len() * 64
        }
    }

    struct Toy;

    impl StatefulLogic for Toy {
        type State = Totals;
        type Event = (String, i64);

        fn decode(&mut self, input: &Input<'_>) -> Result<(String, i64), String> {
            let text = std::str::from_utf8(payload(input)?).map_err(|e| e.to_string())?;
            let (key, amount) = text.split_once('=').ok_or("no '='")?;
            let amount = amount.parse().map_err(|e| format!("{e}"))?;
            Ok((key.to_string(), amount))
        }

        fn restore(&self, _partition: i32, records: &mut dyn Iterator<Item = ToyRecord>) -> Totals {
            let mut state = Totals {
                applied_through: -1,
                ..Totals::default()
            };
            for r in records {
                if r.key.is_empty() {
                    state.applied_through = r.as_of;
                } else {
                    state.keys.insert(r.key, (r.total, r.as_of));
                }
            }
            state
        }

        fn apply(
            &mut self,
            state: &mut Totals,
            input: &Input<'_>,
            (key, amount): (String, i64),
            outputs: &mut Vec<Output>,
        ) -> Result<Applied, RuntimeError> {
            if amount < 0 {
                return Ok(Applied::Rejected {
                    reason: "negative",
                    detail: format!("{amount} < 0"),
                    event_id: None,
                });
            }
            if input.offset <= state.applied_through {
                return Ok(Applied::Done);
            }
            let entry = state.keys.entry(key.clone()).or_insert((0, -1));
            if input.offset <= entry.1 {
                return Ok(Applied::Done);
            }
            entry.0 += amount;
            entry.1 = input.offset;
            let total = entry.0;
            state.dirty.insert(key.clone());
            state.applied_through = input.offset;
            state.position_dirty = true;
            outputs.push(Output::keyed(
                Arc::from("totals"),
                Some(key.clone().into_bytes()),
                format!("{key}@{}/{}={total}", input.partition, input.offset).into_bytes(),
            ));
            Ok(Applied::Done)
        }
    }

    fn harness(sim: &Simulation) -> Stateful<Toy, memory::MemoryChangelog> {
        Stateful::new(
            Toy,
            StateParts {
                state_topic: "in".into(),
                changelog_topic: "state".into(),
                restore: sim.changelog.clone(),
                dead_letters: DeadLetterWriter::new("toy", "dlq", 1024),
                metrics: StateMetrics::unregistered("toy"),
                health: Health::default(),
                refresh_interval: Duration::from_secs(3600),
            },
        )
    }

    /// `(partition, key, amount)` → numbered messages.
    fn messages(events: &[(i32, u8, i64)]) -> Vec<Message> {
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        events
            .iter()
            .map(|&(partition, key, amount)| {
                let offset = next.entry(partition).or_insert(0);
                *offset += 1;
                Message {
                    topic: "in".into(),
                    partition,
                    offset: *offset - 1,
                    key: None,
                    payload: Some(format!("k{key}={amount}").into_bytes()),
                }
            })
            .collect()
    }

    /// An output as compared: topic, key, payload.
    type Seen = (String, Option<Vec<u8>>, Option<Vec<u8>>);

    /// Distinct outputs: totals whole; dead letters by key (they carry the time they failed).
    fn distinct(outputs: &[Output]) -> BTreeSet<Seen> {
        outputs
            .iter()
            .map(|o| {
                let payload = (&*o.topic == "totals").then(|| o.payload.clone()).flatten();
                (o.topic.to_string(), o.key.clone(), payload)
            })
            .collect()
    }

    fn clean_run(inputs: &[Message], batch: usize) -> Simulation {
        let mut sim = Simulation::new("state");
        let mut processor = harness(&sim);
        let plan = Plan {
            batch,
            ..Plan::default()
        };
        assert!(sim.run(&mut processor, inputs, &plan).expect("clean run"));
        sim
    }

    fn events() -> impl Strategy<Value = Vec<(i32, u8, i64)>> {
        prop::collection::vec((0..3i32, 0..4u8, -1..20i64), 1..60)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn a_crash_between_any_two_checkpoint_writes_then_restore_gives_the_clean_outputs(
            events in events(),
            batch in 1..8usize,
            crash_batch in 0..10usize,
            crash_writes in 0..12usize,
        ) {
            let inputs = messages(&events);
            let clean = clean_run(&inputs, batch);

            let mut sim = Simulation::new("state");
            let plan = Plan {
                batch,
                crash: Some(Crash { batch: crash_batch, writes: crash_writes }),
                rebalance: None,
            };
            sim.run_and_restart(harness, &inputs, &plan).expect("runs");
            prop_assert_eq!(distinct(&sim.delivered), distinct(&clean.delivered));
        }

        #[test]
        fn revoke_then_reassign_in_one_batch_never_stores_offsets_of_dropped_state(
            events in events(),
            batch in 2..8usize,
            at in 1..8usize,
            crash_batch in 0..10usize,
            crash_writes in 0..12usize,
        ) {
            let inputs = messages(&events);
            let clean = clean_run(&inputs, batch);
            let partitions: Vec<(String, i32)> = (0..3).map(|p| ("in".to_string(), p)).collect();
            let mut sim = Simulation::new("state");
            let plan = Plan {
                batch,
                crash: Some(Crash { batch: crash_batch, writes: crash_writes }),
                rebalance: Some((at % batch, partitions)),
            };
            sim.run_and_restart(harness, &inputs, &plan).expect("runs");
            prop_assert_eq!(distinct(&sim.delivered), distinct(&clean.delivered));
        }
    }

    #[test]
    fn checkpoint_writes_every_phase_then_the_positions_then_nothing() {
        let inputs = messages(&[(0, 1, 5), (0, 2, 7), (1, 1, 1)]);
        let mut sim = Simulation::new("state");
        let mut processor = harness(&sim);
        let plan = Plan {
            batch: 10,
            crash: Some(Crash {
                batch: 0,
                writes: usize::MAX,
            }),
            rebalance: None,
        };
        assert!(!sim.run(&mut processor, &inputs, &plan).expect("run"));
        let mut outputs = Vec::new();
        // Everything was taken by the simulated checkpoint: nothing is left to write.
        processor.checkpoint(&mut outputs).expect("checkpoint");
        assert!(outputs.is_empty());
        let keys: Vec<String> = sim
            .delivered
            .iter()
            .map(|o| String::from_utf8_lossy(o.key.as_deref().unwrap_or_default()).into_owned())
            .collect();
        assert_eq!(keys, ["k1", "k2", "k1"]);
        assert_eq!(sim.changelog.len(), 5, "3 key records, then 2 positions");
        let restored: Vec<ToyRecord> =
            Restore::<ToyRecord>::read(&mut sim.changelog.clone(), 0, &mut || ())
                .expect("read")
                .iter()
                .map(|payload| schemas::decode(payload).expect("decodes"))
                .collect();
        let position = restored
            .iter()
            .find(|r| r.key.is_empty())
            .expect("position");
        assert_eq!(position.as_of, 1);
        assert_eq!(processor.partition(1).map(|s| s.keys.len()), Some(1));
    }

    #[test]
    fn a_restore_beats_liveness_while_it_reads_and_counts_its_records() {
        struct Slow(memory::MemoryChangelog);
        impl Restore<ToyRecord> for Slow {
            fn read(
                &mut self,
                partition: i32,
                progress: &mut dyn FnMut(),
            ) -> Result<Vec<Vec<u8>>, RuntimeError> {
                for _ in 0..3000 {
                    progress();
                }
                Restore::<ToyRecord>::read(&mut self.0, partition, &mut || ())
            }
        }
        let health = Health::default();
        let _loop = health.register("loop", Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!health.liveness().alive);
        let registry = Registry::new();
        let metrics = StateMetrics::register("toy", Totals::ENTRY_KINDS, &registry).expect("m");
        let mut processor = Stateful::new(
            Toy,
            StateParts {
                state_topic: "in".into(),
                changelog_topic: "state".into(),
                restore: Slow(memory::MemoryChangelog::default()),
                dead_letters: DeadLetterWriter::new("toy", "dlq", 1024),
                metrics: metrics.clone(),
                health: health.clone(),
                refresh_interval: Duration::from_secs(3600),
            },
        );
        processor
            .partitions_assigned(&[("in".into(), 0), ("other".into(), 1)])
            .expect("restore");
        assert!(health.liveness().alive, "the restore beat");
        assert_eq!(metrics.restore_records.get(), 3000);
        assert_eq!(metrics.restoring.get(), 0);
        assert_eq!(
            metrics.restore_seconds.get_sample_count(),
            1,
            "only the state topic"
        );
    }
}
