//! The harness without a broker: an in-memory changelog to restore from, and an in-memory run
//! of the consumer loop's protocol (batches, acknowledged outputs, checkpoint rounds, stored
//! offsets, rebalances) that can stop as if killed at any write. Services' unit tests use it to
//! show that a crash anywhere, then a restore and a re-read, gives the clean run's outputs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::consumer_loop::{Frontier, Input, Processor};
use crate::error::RuntimeError;
use crate::kafka::Output;
use crate::stateful::Restore;

#[derive(Debug, Clone)]
struct Logged {
    partition: i32,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
}

/// An append-only changelog topic in memory; clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemoryChangelog {
    log: Arc<Mutex<Vec<Logged>>>,
}

impl MemoryChangelog {
    /// Appends a changelog output (its partition must be set, as the harness sets it).
    pub fn append(&self, output: &Output) {
        self.lock().push(Logged {
            partition: output.partition.unwrap_or(-1),
            key: output.key.clone(),
            payload: output.payload.clone(),
        });
    }

    /// Records appended so far, over all partitions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Logged>> {
        match self.log.lock() {
            Ok(log) => log,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl<T: schemas::AvroMessage> Restore<T> for MemoryChangelog {
    /// The latest record of every key, in key order; an unkeyed or undecodable record is an
    /// error, as it is for the Kafka reader.
    fn read(
        &mut self,
        partition: i32,
        progress: &mut dyn FnMut(),
    ) -> Result<Vec<Vec<u8>>, RuntimeError> {
        let mut latest: BTreeMap<Vec<u8>, Option<&[u8]>> = BTreeMap::new();
        let log = self.lock();
        for record in log.iter().filter(|r| r.partition == partition) {
            progress();
            let key = record.key.clone().ok_or_else(|| RuntimeError::State {
                topic: "memory changelog".into(),
                detail: format!("an unkeyed record in partition {partition}"),
            })?;
            latest.insert(key, record.payload.as_deref());
        }
        latest
            .into_values()
            .flatten()
            .map(|payload| {
                if schemas::codec::is::<T>(payload) {
                    Ok(payload.to_vec())
                } else {
                    Err(RuntimeError::State {
                        topic: "memory changelog".into(),
                        detail: format!(
                            "a record of partition {partition} is not {}",
                            T::family().name
                        ),
                    })
                }
            })
            .collect()
    }
}

/// One input message, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset: a partition's messages must be numbered 0, 1, 2, … in the order given.
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Payload.
    pub payload: Option<Vec<u8>>,
}

impl Message {
    fn input(&self) -> Input<'_> {
        Input {
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
            key: self.key.as_deref(),
            payload: self.payload.as_deref(),
            timestamp_ms: None,
        }
    }
}

/// Where a run stops as if killed with `kill -9`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crash {
    /// The batch (counted from 0 in this run) it happens in, after its outputs were
    /// acknowledged.
    pub batch: usize,
    /// How many of that batch's checkpoint writes were acknowledged before it; more than
    /// there are means after the last one, before the offsets were stored.
    pub writes: usize,
}

/// How a run goes.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Inputs per batch (at least 1).
    pub batch: usize,
    /// Stop as if killed here.
    pub crash: Option<Crash>,
    /// After this many inputs of the run, these partitions are revoked and straight away
    /// assigned again (a broker outage), before the next input of the same batch.
    pub rebalance: Option<(usize, Vec<(String, i32)>)>,
}

/// Runs processors over inputs as the consumer loop does, with a broker in memory: every
/// output is acknowledged at once; changelog outputs go to [`Simulation::changelog`], the rest
/// to [`Simulation::delivered`] (in order, duplicates included, as a downstream consumer sees
/// them). Sinks outside Kafka are not flushed.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The state changelog.
    pub changelog: MemoryChangelog,
    changelog_topic: String,
    /// Every other acknowledged output.
    pub delivered: Vec<Output>,
    /// Next offset to read per (topic, partition), as committed.
    committed: BTreeMap<(String, i32), i64>,
}

impl Simulation {
    /// A fresh broker whose changelog topic is `changelog_topic`.
    pub fn new(changelog_topic: &str) -> Simulation {
        Simulation {
            changelog: MemoryChangelog::default(),
            changelog_topic: changelog_topic.to_string(),
            delivered: Vec::new(),
            committed: BTreeMap::new(),
        }
    }

    /// The committed offset (next to read) of a partition.
    pub fn committed(&self, topic: &str, partition: i32) -> i64 {
        self.committed
            .get(&(topic.to_string(), partition))
            .copied()
            .unwrap_or(0)
    }

    fn deliver(&mut self, output: Output) {
        if *output.topic == *self.changelog_topic {
            self.changelog.append(&output);
        } else {
            self.delivered.push(output);
        }
    }

    /// Runs `plan` with a processor from `make`; if the plan kills it, a new one from `make`
    /// (a restarted process: it restores from the changelog) reads on from the last commit to
    /// the end, in batches of the same size. Returns whether the first was killed.
    pub fn run_and_restart<P: Processor>(
        &mut self,
        make: impl Fn(&Simulation) -> P,
        inputs: &[Message],
        plan: &Plan,
    ) -> Result<bool, RuntimeError> {
        if self.run(&mut make(self), inputs, plan)? {
            return Ok(false);
        }
        let rest = Plan {
            batch: plan.batch,
            ..Plan::default()
        };
        let finished = self.run(&mut make(self), inputs, &rest)?;
        assert!(finished, "a run without a crash reads to the end");
        Ok(true)
    }

    /// Runs `processor`, the owner of every partition `inputs` has, from the committed
    /// offsets to the end of `inputs` (`Ok(true)`) or to the plan's crash (`Ok(false)`; the
    /// processor must then be dropped, as its process would be).
    pub fn run<P: Processor>(
        &mut self,
        processor: &mut P,
        inputs: &[Message],
        plan: &Plan,
    ) -> Result<bool, RuntimeError> {
        let mut owned: Vec<(String, i32)> = inputs
            .iter()
            .map(|m| (m.topic.clone(), m.partition))
            .collect();
        owned.sort();
        owned.dedup();
        processor.partitions_assigned(&owned)?;
        let mut position: BTreeMap<(String, i32), i64> = owned
            .iter()
            .map(|(t, p)| ((t.clone(), *p), self.committed(t, *p)))
            .collect();
        let mut rebalance = plan.rebalance.clone();
        // Inputs before the cursor are all read (until a rebalance rewinds a partition).
        let mut cursor = 0usize;
        let mut read = 0usize;
        let mut outputs = Vec::new();
        for batch in 0.. {
            let mut frontier = Frontier::default();
            let mut inputs_in_batch = 0;
            while inputs_in_batch < plan.batch.max(1) {
                if let Some((_, partitions)) = rebalance.take_if(|(at, _)| *at == read) {
                    processor.partitions_revoked(&partitions);
                    frontier.forget(&partitions);
                    processor.partitions_assigned(&partitions)?;
                    // A new assignment fetches from the committed offset.
                    for (t, p) in &partitions {
                        position.insert((t.clone(), *p), self.committed(t, *p));
                    }
                    cursor = 0;
                }
                let at = |m: &Message| position.get(&(m.topic.clone(), m.partition)).copied();
                while inputs.get(cursor).is_some_and(|m| at(m) > Some(m.offset)) {
                    cursor += 1;
                }
                let Some(message) = inputs.get(cursor) else {
                    break;
                };
                assert_eq!(
                    at(message),
                    Some(message.offset),
                    "a partition's messages are numbered 0, 1, 2, … in the order given"
                );
                cursor += 1;
                processor.process(&message.input(), &mut outputs)?;
                for output in outputs.drain(..) {
                    self.deliver(output);
                }
                frontier.advance(&message.topic, message.partition, message.offset);
                position.insert(
                    (message.topic.clone(), message.partition),
                    message.offset + 1,
                );
                read += 1;
                inputs_in_batch += 1;
            }
            if inputs_in_batch == 0 {
                return Ok(true);
            }
            let crash_writes = plan.crash.filter(|c| c.batch == batch).map(|c| c.writes);
            let mut writes = 0;
            loop {
                processor.checkpoint(&mut outputs)?;
                if outputs.is_empty() {
                    break;
                }
                for output in outputs.drain(..) {
                    if crash_writes == Some(writes) {
                        return Ok(false);
                    }
                    self.deliver(output);
                    writes += 1;
                }
            }
            if crash_writes.is_some() {
                return Ok(false);
            }
            for (topic, partition, offset) in frontier.0.drain(..) {
                self.committed.insert((topic, partition), offset + 1);
            }
            processor.batch_done(inputs_in_batch);
        }
        Ok(true)
    }
}
