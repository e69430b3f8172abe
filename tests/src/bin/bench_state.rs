//! Benchmark: the attributor's own cost, in process (no broker), over the attributor benchmark's
//! click-heavy mix: CPU per event for decoding the wire bytes, applying them to the partition
//! state and writing the checkpoints' changelog records (encoded, every BATCH inputs); the
//! memory the state takes per stored touchpoint (RSS growth of this fresh process, and the
//! estimate from the structures' sizes); and how fast that state is rebuilt from its changelog
//! records once they are read (decode + restore), which bounds a restore from a local copy of
//! the changelog. The baseline, in the same invocation (each run in a fresh process), runs the
//! same input with checkpoints that copy each changed key into a record before encoding it, as
//! the harness did before. The broker
//! benchmark (`bench_attributor`) adds the Kafka client's and the broker's share on top.
//!
//!     cargo run --release -p tests --bin bench_state -- [VISITORS] [BATCH]
//!
//! Defaults: 1,000,000 visitors (one attribution key each; ~1.33 M events), checkpoints every
//! 5,000 inputs (the services' `BATCH_MESSAGES_MAX` in the broker benchmarks).
//!
//! The input is generated once, written to a temporary file, and each run reads it into one
//! buffer: generating it in the measuring process would leave a gigabyte of freed heap that the
//! state then fills without the process growing, and the memory figure would read zero.

use std::time::{Duration, Instant};

use attributor::state::{Effects, Limits, PartitionState};
use schemas::touchpoint::EnrichedRecord;
use schemas::AttributorState;
use tests::attribution::{bench_workload, catalog, limits, messages};
use tests::bench::{cpu_seconds, rss_mib};

/// One checkpoint as the harness writes it: the changed keys encoded from the state, then the
/// position (tombstones left out).
fn write(state: &mut PartitionState) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = state
        .take_encoded_changes()
        .expect("encodes")
        .into_iter()
        .filter_map(|(_, payload)| payload)
        .collect();
    out.extend(
        state
            .take_position()
            .map(|p| schemas::encode(&p).expect("encodes")),
    );
    out
}

/// One checkpoint as the harness wrote it before: each changed key copied into a record, then
/// encoded.
fn write_records(state: &mut PartitionState) -> Vec<Vec<u8>> {
    let mut records: Vec<AttributorState> = state
        .take_changes()
        .into_iter()
        .filter_map(|(_, record)| record)
        .collect();
    records.extend(state.take_position());
    records
        .iter()
        .map(|r| schemas::encode(r).expect("encodes"))
        .collect()
}

fn cpu() -> f64 {
    cpu_seconds("self").unwrap_or(0.0)
}

/// CPU time of `f`, with what it returns.
fn timed<T>(spent: &mut f64, f: impl FnOnce() -> T) -> T {
    let before = cpu();
    let out = f();
    *spent += cpu() - before;
    out
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let visitors: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let batch: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5_000);
    // Each run is this binary started again by itself, so both start from a fresh heap.
    if let (Some(mode), Some(input)) = (args.get(2), args.get(3)) {
        let mode = match mode.as_str() {
            "records" => Checkpoint::Records,
            _ => Checkpoint::Direct,
        };
        return measure(std::path::Path::new(input), batch, mode);
    }
    println!("attributor state benchmark (in process, one partition): {visitors} keys, a checkpoint every {batch} inputs; each run in a fresh process");
    let input = std::env::temp_dir().join(format!("bench_state-{}.bin", std::process::id()));
    write_input(&input, visitors)?;
    let runs = ["records", "direct"].into_iter().try_for_each(|mode| {
        let status = std::process::Command::new(std::env::current_exe()?)
            .args([&visitors.to_string(), &batch.to_string(), mode])
            .arg(&input)
            .status()?;
        anyhow::ensure!(status.success(), "the {mode} run failed: {status}");
        Ok(())
    });
    std::fs::remove_file(&input)?;
    runs
}

/// Writes the workload's wire messages to `path`, each after its length (4 bytes, LE).
fn write_input(path: &std::path::Path, visitors: usize) -> anyhow::Result<()> {
    let mut out = Vec::new();
    for (_, payload) in messages(&bench_workload(visitors, 5)) {
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    std::fs::write(path, out)?;
    Ok(())
}

/// The messages of [`write_input`]'s file, as slices of `buffer`.
fn read_input(buffer: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= buffer.len() {
        let mut len = [0u8; 4];
        len.copy_from_slice(&buffer[at..at + 4]);
        let end = at + 4 + u32::from_le_bytes(len) as usize;
        out.push(&buffer[at + 4..end]);
        at = end;
    }
    out
}

/// One run in this process: CPU by phase, memory of the state it built, then its restore.
fn measure(path: &std::path::Path, batch: usize, mode: Checkpoint) -> anyhow::Result<()> {
    let catalog = catalog();
    let limits = limits();
    let buffer = std::fs::read(path)?;
    let input = read_input(&buffer);
    let count = input.len();
    let rss_before = rss_mib();
    let done = run(&input, batch, mode, &catalog, &limits);
    let what = match mode {
        Checkpoint::Direct => "checkpoints encoded from the state (the harness now)",
        Checkpoint::Records => "checkpoints copying each changed key into a record first (before)",
    };
    done.print(what, count);
    let rss_state = rss_mib() - rss_before;
    let mut state = done.state;
    let touchpoints = state.touchpoints();
    println!(
        "  memory: {} keys, {touchpoints} stored touchpoints; estimate from sizes {:.0} bytes per stored touchpoint with its key; RSS grew {rss_state:.0} MiB while building it ({:.0} bytes per stored touchpoint)",
        state.keys(),
        state.approx_bytes() as f64 / touchpoints.max(1) as f64,
        rss_state * 1_048_576.0 / touchpoints.max(1) as f64,
    );
    // The live records a compacted changelog holds: the whole state rewritten once.
    runtime::stateful::PartitionState::refresh(&mut state);
    let records = write(&mut state);
    drop(state);
    drop(input);
    drop(buffer);
    let started = Instant::now();
    let (mut decoding, mut rebuilding) = (0.0, 0.0);
    let decoded: Vec<AttributorState> = timed(&mut decoding, || {
        records
            .iter()
            .map(|bytes| schemas::decode(bytes).expect("decodes"))
            .collect()
    });
    let restored = timed(&mut rebuilding, || {
        PartitionState::restore(decoded, &catalog)
    });
    let took = started.elapsed().max(Duration::from_micros(1));
    let each = |s: f64| s * 1e6 / records.len().max(1) as f64;
    println!(
        "  restore from the records, once read, decoded owned: {} records in {:.2} s ({:.0} records/s; µs CPU each: decode {:.2}, rebuild {:.2}); {} keys back",
        records.len(),
        took.as_secs_f64(),
        records.len() as f64 / took.as_secs_f64(),
        each(decoding),
        each(rebuilding),
        restored.keys()
    );
    drop(restored);
    // What the service does: each record decoded borrowed, straight into the state.
    let started = Instant::now();
    let mut spent = 0.0;
    let restored = timed(&mut spent, || {
        PartitionState::restore_encoded(records.iter().map(Vec::as_slice), &catalog)
            .expect("decodes")
    });
    let took = started.elapsed().max(Duration::from_micros(1));
    println!(
        "  restore from the records, once read, decoded borrowed (the service's path): {} records in {:.2} s ({:.0} records/s; µs CPU each: {:.2}); {} keys back",
        records.len(),
        took.as_secs_f64(),
        records.len() as f64 / took.as_secs_f64(),
        each(spent),
        restored.keys()
    );
    Ok(())
}

/// How a checkpoint makes its changelog records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkpoint {
    /// Encoded straight from the keys' state (`take_encoded_changes`, what the harness does).
    Direct,
    /// Each changed key's state cloned into a record, then encoded (the harness before).
    Records,
}

/// One run over the input, with the CPU it took by phase.
struct Run {
    state: PartitionState,
    decode: f64,
    apply: f64,
    checkpoint: f64,
    records: usize,
    bytes: usize,
    wall: Duration,
}

impl Run {
    fn print(&self, what: &str, count: usize) {
        let per_event = |s: f64| s * 1e6 / count as f64;
        println!(
            "{what}: {:.0} events/s; CPU µs/event: decode {:.2}, apply {:.2}, checkpoint {:.2}, total {:.2}; {} changelog records ({:.2} per input, {:.0} MB)",
            count as f64 / self.wall.as_secs_f64(),
            per_event(self.decode),
            per_event(self.apply),
            per_event(self.checkpoint),
            per_event(self.decode + self.apply + self.checkpoint),
            self.records,
            self.records as f64 / count as f64,
            self.bytes as f64 / 1e6,
        );
    }
}

/// Decodes and applies `input` to a fresh partition, with a checkpoint every `batch` inputs.
fn run(
    input: &[&[u8]],
    batch: usize,
    mode: Checkpoint,
    catalog: &reference::Catalog,
    limits: &Limits,
) -> Run {
    let mut state = PartitionState::new();
    let (mut decode, mut apply, mut checkpoint) = (0.0, 0.0, 0.0);
    let (mut records, mut bytes) = (0, 0);
    let wall = Instant::now();
    for (n, chunk) in input.chunks(batch).enumerate() {
        let mut effects = Effects::default();
        let decoded: Vec<_> = timed(&mut decode, || {
            chunk
                .iter()
                .map(|bytes| EnrichedRecord::decode(bytes).expect("decodes"))
                .collect()
        });
        timed(&mut apply, || {
            for (i, record) in decoded.into_iter().enumerate() {
                let EnrichedRecord::Touchpoint(tp) = record else {
                    continue;
                };
                let offset = (n * batch + i) as i64;
                state
                    .apply(offset, &tp, catalog, limits, &mut effects)
                    .expect("valid");
            }
        });
        let written = timed(&mut checkpoint, || match mode {
            Checkpoint::Direct => write(&mut state),
            Checkpoint::Records => write_records(&mut state),
        });
        records += written.len();
        bytes += written.iter().map(Vec::len).sum::<usize>();
    }
    Run {
        state,
        decode,
        apply,
        checkpoint,
        records,
        bytes,
        wall: wall.elapsed(),
    }
}
