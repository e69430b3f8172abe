//! Shared pieces of the benchmark commands: the pass-through baseline, a loop run that stops
//! after N inputs, and CPU/RSS readings from /proc.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime::consumer_loop::{self, LoopParts};
use runtime::kafka;
use runtime::metrics::LoopMetrics;
use runtime::topic_reader::ChangelogReader;
use runtime::{Health, Input, Output, Processor, Producer, RuntimeError};
use tokio_util::sync::CancellationToken;

/// `logic` on the stateful harness, restoring from the real `changelog` (as the service runs
/// it, without its admin server).
pub fn stateful<L: runtime::stateful::StatefulLogic>(
    common: &runtime::CommonConfig,
    registry: &prometheus::Registry,
    prefix: &str,
    logic: L,
    state_topic: &str,
    changelog: &str,
) -> Result<runtime::stateful::Stateful<L, ChangelogReader>, RuntimeError> {
    let restore = ChangelogReader::new(
        &common.kafka,
        "bench-restore",
        changelog,
        Duration::from_secs(120),
    )?;
    Ok(runtime::stateful::Stateful::new(
        logic,
        runtime::stateful::StateParts {
            state_topic: state_topic.to_string(),
            changelog_topic: changelog.to_string(),
            restore,
            dead_letters: runtime::DeadLetterWriter::new(
                "bench",
                &common.topics.touchpoints_dlq,
                common.dead_letter_payload_bytes_max,
            ),
            metrics: runtime::stateful::StateMetrics::register(
                prefix,
                <L::State as runtime::stateful::PartitionState>::ENTRY_KINDS,
                registry,
            )?,
            health: Health::default(),
            refresh_interval: common.state_refresh,
        },
    ))
}

/// Copies every input unchanged to the output topic: the baseline.
#[derive(Debug)]
pub struct PassThrough {
    /// Output topic.
    pub topic: Arc<str>,
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
struct StopAfter<'a, P> {
    inner: &'a mut P,
    done: usize,
    target: usize,
    stop: CancellationToken,
}

impl<P: Processor> Processor for StopAfter<'_, P> {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        self.inner.process(input, outputs)
    }
    fn checkpoint(&mut self, outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        self.inner.checkpoint(outputs)
    }
    fn flush_sinks(
        &mut self,
    ) -> impl std::future::Future<Output = Result<(), RuntimeError>> + Send {
        self.inner.flush_sinks()
    }
    fn idle(&mut self, outputs: &mut Vec<Output>) -> Result<(), RuntimeError> {
        self.inner.idle(outputs)
    }
    fn partitions_revoked(&mut self, partitions: &[(String, i32)]) {
        self.inner.partitions_revoked(partitions);
    }
    fn partitions_assigned(&mut self, partitions: &[(String, i32)]) -> Result<(), RuntimeError> {
        self.inner.partitions_assigned(partitions)
    }
    fn batch_done(&mut self, inputs: usize) {
        self.inner.batch_done(inputs);
        self.done += inputs;
        if self.done >= self.target {
            self.stop.cancel();
        }
    }
}

/// CPU seconds (user + system) of a process, from /proc/<pid>/stat.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// Resident memory of this process.
pub fn rss_mib() -> f64 {
    rss_mib_of("self")
}

/// Resident memory of process `pid` ("self" for this one); 0 when unreadable.
pub fn rss_mib_of(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
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

/// The local stack's broker PID.
pub fn broker_pid() -> Option<String> {
    stack_pid("broker/tansu.pid")
}

/// The local stack's ClickHouse server PID.
pub fn clickhouse_pid() -> Option<String> {
    stack_pid("clickhouse/clickhouse.pid")
}

/// The local stack's state directory (`ATTRIB_STACK_DIR`, as deploy/local/common.sh).
pub fn stack_dir() -> String {
    std::env::var("ATTRIB_STACK_DIR")
        .unwrap_or_else(|_| format!("{}/../.local/stack", env!("CARGO_MANIFEST_DIR")))
}

fn stack_pid(file: &str) -> Option<String> {
    std::fs::read_to_string(format!("{}/{file}", stack_dir()))
        .ok()
        .map(|s| s.trim().to_string())
}

/// One run's figures.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    /// Wall seconds.
    pub seconds: f64,
    /// This process's CPU seconds.
    pub cpu: f64,
    /// The broker's CPU seconds, when its PID file is found.
    pub broker_cpu: Option<f64>,
    /// RSS at the end.
    pub rss_mib: f64,
}

/// Runs the shared loop with `processor` over `events` inputs of `input_topic` (the
/// processor is kept, so its state can be read afterwards).
pub async fn measure<P: Processor>(
    common: &runtime::CommonConfig,
    input_topic: &str,
    group: &str,
    processor: &mut P,
    events: usize,
    metrics: LoopMetrics,
) -> anyhow::Result<Measurement> {
    let stop = CancellationToken::new();
    let producer = Producer::new(&common.kafka, "bench")?;
    let health = Health::default();
    let consumer = kafka::consumer(
        &common.kafka,
        "bench",
        group,
        &[input_topic],
        (
            health.register("kafka", Duration::from_secs(60)),
            health.gate(),
        ),
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
        batch: common.batch,
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

/// Prints the column headers of [`print_row`].
pub fn print_header() {
    println!(
        "{:<13} {:>5} {:>10} {:>12} {:>14} {:>16} {:>9}",
        "run", "round", "seconds", "events/s", "CPU µs/event", "broker CPU µs/ev", "RSS MiB"
    );
}

/// Prints one run's figures.
pub fn print_row(run: &str, round: usize, events: usize, m: &Measurement) {
    let n = events as f64;
    println!(
        "{:<13} {:>5} {:>10.2} {:>12.0} {:>14.2} {:>16} {:>9.0}",
        run,
        round,
        m.seconds,
        n / m.seconds,
        m.cpu * 1e6 / n,
        m.broker_cpu
            .map_or("n/a".into(), |c| format!("{:.2}", c * 1e6 / n)),
        m.rss_mib
    );
}

/// Prints the best of rounds of `service` next to the pass-through baseline: the throughput
/// ratio and the service's own CPU per event (its CPU minus the baseline's).
pub fn print_summary(service: &str, results: &[(&str, Measurement)], events: usize) {
    let n = events as f64;
    let best = |name: &str, f: &dyn Fn(&Measurement) -> f64| {
        results
            .iter()
            .filter(|(r, _)| *r == name)
            .map(|(_, m)| f(m))
            .fold(f64::INFINITY, f64::min)
    };
    let (pt_s, sv_s) = (
        best("pass-through", &|m| m.seconds),
        best(service, &|m| m.seconds),
    );
    let (pt_c, sv_c) = (best("pass-through", &|m| m.cpu), best(service, &|m| m.cpu));
    println!();
    println!(
        "best of rounds: pass-through {:.0} events/s, {service} {:.0} events/s ({service}/baseline throughput {:.2})",
        n / pt_s,
        n / sv_s,
        pt_s / sv_s
    );
    println!(
        "client CPU per event: pass-through {:.2} µs, {service} {:.2} µs; {service}'s own work ≈ {:.2} µs/event",
        pt_c * 1e6 / n,
        sv_c * 1e6 / n,
        (sv_c - pt_c) * 1e6 / n
    );
}

/// Prints the Kafka client settings the services run with (and this benchmark measured), so
/// a change of batching or fetch waits shows next to its cost.
pub fn print_client_settings(kafka: &runtime::settings::KafkaConfig) {
    let (consumer, producer) = runtime::kafka::client_settings(kafka);
    println!("consumer settings: {}", consumer.join(" "));
    println!("producer settings: {}", producer.join(" "));
}

/// Restores every partition of the attributor's `changelog_topic` as a new owner of all three
/// would (each record decoded borrowed into the state, as the service does) and prints the
/// time, the rate and the memory per stored touchpoint. Run it in a fresh process, so the
/// heap holds nothing else.
pub fn restore_attributor(
    ns: &str,
    changelog_topic: &str,
    catalog: &reference::Catalog,
) -> anyhow::Result<()> {
    use attributor::state::PartitionState;
    let mut env = crate::service_env(ns, &[("LOG_LEVEL", "error")]);
    env.insert("TOPIC_ATTRIBUTOR_STATE".into(), changelog_topic.to_string());
    let config = crate::attribution::attributor_config(&env);
    let mut restore = ChangelogReader::new(
        &config.common.kafka,
        "bench-restore",
        changelog_topic,
        config.restore_timeout,
    )?;
    let rss_before = rss_mib();
    let started = Instant::now();
    let mut states: std::collections::HashMap<i32, PartitionState> =
        std::collections::HashMap::new();
    let mut records = 0;
    for partition in 0..3 {
        // As the service restores: the latest payloads, each decoded borrowed into the state.
        let payloads = restore.read_payloads::<schemas::AttributorState>(partition, &mut || ())?;
        records += payloads.len();
        let state = PartitionState::restore_encoded(payloads.iter().map(Vec::as_slice), catalog)?;
        states.insert(partition, state);
    }
    let seconds = started.elapsed().as_secs_f64();
    let rss_growth = rss_mib() - rss_before;
    let keys: usize = states.values().map(PartitionState::keys).sum();
    let touchpoints: usize = states.values().map(PartitionState::touchpoints).sum();
    let approx: usize = states.values().map(PartitionState::approx_bytes).sum();
    println!(
        "state: {keys} keys, {touchpoints} touchpoints, {records} changelog records; restore of all 3 partitions {seconds:.1} s ({:.0} records/s)",
        records as f64 / seconds
    );
    println!(
        "state memory (fresh process): RSS grew {rss_growth:.0} MiB = {:.0} bytes per stored touchpoint with its key (estimate from sizes: {:.0})",
        rss_growth * 1_048_576.0 / touchpoints.max(1) as f64,
        approx as f64 / touchpoints.max(1) as f64
    );
    Ok(())
}
