//! Benchmark: ingest throughput and CPU per event against a pass-through baseline (consume and
//! produce the same bytes, no processing) on the same broker, same input, same invocation.
//!
//!     cargo run --release -p tests --bin bench_ingest -- [EVENTS] [ROUNDS]
//!
//! Needs the local stack (`deploy/local/stack.sh up`). Both runs use the shared runtime loop
//! and producer, so the difference is ingest's own work: parse, validate, normalise, hash,
//! dedup and Avro-encode. CPU is this process's user+system time (client threads included),
//! read from /proc; the broker's CPU is reported separately when its PID file is found.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use prometheus::Registry;
use runtime::consumer_loop::{self, LoopParts};
use runtime::kafka::{self, Cleanup};
use runtime::metrics::LoopMetrics;
use runtime::{Health, Input, Output, Processor, Producer, RuntimeError};
use schemas::touchpoint::IngestPath;
use tokio_util::sync::CancellationToken;

/// Copies every input unchanged to the output topic: the baseline.
struct PassThrough {
    topic: Arc<str>,
}

impl Processor for PassThrough {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        outputs.push(Output::keyed(
            self.topic.clone(),
            input.key.map(<[u8]>::to_vec),
            input.payload.unwrap_or_default().to_vec(),
        ));
        Ok(())
    }
}

/// Stops the loop once `target` inputs were processed and acknowledged.
struct StopAfter<P> {
    inner: P,
    done: usize,
    target: usize,
    stop: CancellationToken,
}

impl<P: Processor> Processor for StopAfter<P> {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        self.inner.process(input, outputs)
    }
    fn batch_done(&mut self, inputs: usize) {
        self.done += inputs;
        if self.done >= self.target {
            self.stop.cancel();
        }
    }
}

/// CPU seconds (user + system) of a process, from /proc/<pid>/stat.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn broker_pid() -> Option<String> {
    let dir = std::env::var("ATTRIB_STACK_DIR")
        .unwrap_or_else(|_| format!("{}/../.local/stack", env!("CARGO_MANIFEST_DIR")));
    std::fs::read_to_string(format!("{dir}/broker/tansu.pid"))
        .ok()
        .map(|s| s.trim().to_string())
}

struct Measurement {
    seconds: f64,
    cpu: f64,
    broker_cpu: Option<f64>,
    rss_mib: f64,
}

async fn measure<P: Processor>(
    config: &ingest::config::IngestConfig,
    group: &str,
    processor: P,
    events: usize,
    metrics: LoopMetrics,
) -> anyhow::Result<Measurement> {
    let stop = CancellationToken::new();
    let producer = Producer::new(&config.common.kafka, "bench")?;
    let health = Health::default();
    let consumer = kafka::consumer(
        &config.common.kafka,
        "bench",
        group,
        &[&config.common.topics.touchpoints_raw],
        health.register("kafka", Duration::from_secs(60)),
        metrics.clone(),
    )?;
    let mut processor = StopAfter {
        inner: processor,
        done: 0,
        target: events,
        stop: stop.clone(),
    };
    let broker = broker_pid();
    let (cpu0, broker0, t0) = (
        cpu_seconds("self"),
        broker.as_deref().and_then(cpu_seconds),
        Instant::now(),
    );
    let parts = LoopParts {
        consumer: &consumer,
        producer: &producer,
        batch: config.common.batch,
        heartbeat: health.register("loop", Duration::from_secs(60)),
        metrics,
    };
    consumer_loop::run(parts, &mut processor, &stop).await?;
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self").zip(cpu0).map_or(0.0, |(b, a)| b - a);
    let broker_cpu = broker
        .as_deref()
        .and_then(cpu_seconds)
        .zip(broker0)
        .map(|(b, a)| b - a);
    Ok(Measurement {
        seconds,
        cpu,
        broker_cpu,
        rss_mib: rss_mib(),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let events: usize = args.first().map_or(Ok(200_000), |a| a.parse())?;
    let rounds: usize = args.get(1).map_or(Ok(2), |a| a.parse())?;
    tests::require_broker();
    let ns = tests::unique_namespace("bench");
    let env = tests::service_env(
        &ns,
        &[("LOG_LEVEL", "error"), ("BATCH_MESSAGES_MAX", "5000")],
    );
    let config = tests::ingest_config(&env);
    let topics = &config.common.topics;
    let passthrough_topic = format!("{ns}.bench.passthrough.v1");
    kafka::ensure_topics(
        &config.common.kafka,
        &[
            (&topics.touchpoints_raw, Cleanup::Delete),
            (&topics.touchpoints_valid, Cleanup::Delete),
            (&topics.touchpoints_dlq, Cleanup::Delete),
            (&passthrough_topic, Cleanup::Delete),
        ],
    )
    .await?;

    eprintln!(
        "producing {events} raw events to {} ...",
        topics.touchpoints_raw
    );
    let raw = tests::workload::raw_events(events, 42, Utc::now());
    let bytes: usize = raw.iter().map(Vec::len).sum();
    let messages: Vec<(Option<Vec<u8>>, Vec<u8>)> = raw.into_iter().map(|p| (None, p)).collect();
    tests::produce(&topics.touchpoints_raw, &messages).await?;
    drop(messages);

    println!("ingest benchmark: {events} raw events ({:.0} bytes avg), 3 partitions, broker {}, {rounds} round(s) each, alternating",
        bytes as f64 / events as f64, tests::bootstrap_servers());
    println!(
        "{:<13} {:>5} {:>10} {:>12} {:>14} {:>16} {:>9}",
        "run", "round", "seconds", "events/s", "CPU µs/event", "broker CPU µs/ev", "RSS MiB"
    );
    let mut results: Vec<(&str, Measurement)> = Vec::new();
    for round in 1..=rounds {
        for run in ["pass-through", "ingest"] {
            let registry = Registry::new();
            let loop_metrics = LoopMetrics::register("bench", &registry)?;
            let group = format!("{ns}-{run}-{round}");
            let m = if run == "ingest" {
                let metrics = ingest::metrics::IngestMetrics::register(&registry)?;
                let p = ingest::app::IngestProcessor::new(&config, metrics, IngestPath::Stream);
                measure(&config, &group, p, events, loop_metrics).await?
            } else {
                let p = PassThrough {
                    topic: passthrough_topic.as_str().into(),
                };
                measure(&config, &group, p, events, loop_metrics).await?
            };
            println!(
                "{:<13} {:>5} {:>10.2} {:>12.0} {:>14.2} {:>16} {:>9.0}",
                run,
                round,
                m.seconds,
                events as f64 / m.seconds,
                m.cpu * 1e6 / events as f64,
                m.broker_cpu
                    .map_or("n/a".into(), |c| format!("{:.2}", c * 1e6 / events as f64)),
                m.rss_mib
            );
            results.push((run, m));
        }
    }
    let best = |name: &str, f: &dyn Fn(&Measurement) -> f64| {
        results
            .iter()
            .filter(|(r, _)| *r == name)
            .map(|(_, m)| f(m))
            .fold(f64::INFINITY, f64::min)
    };
    let (pt_s, in_s) = (
        best("pass-through", &|m| m.seconds),
        best("ingest", &|m| m.seconds),
    );
    let (pt_c, in_c) = (best("pass-through", &|m| m.cpu), best("ingest", &|m| m.cpu));
    println!();
    println!("best of rounds: pass-through {:.0} events/s, ingest {:.0} events/s (ingest/baseline throughput {:.2})",
        events as f64 / pt_s, events as f64 / in_s, pt_s / in_s);
    println!("client CPU per event: pass-through {:.2} µs, ingest {:.2} µs; ingest's own work ≈ {:.2} µs/event",
        pt_c * 1e6 / events as f64, in_c * 1e6 / events as f64, (in_c - pt_c) * 1e6 / events as f64);
    Ok(())
}
