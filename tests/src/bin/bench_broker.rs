//! Benchmark: what the pipeline needs from the local broker's storage, measured on the running
//! stack. Produces a stream (delete policy, random keys) and a changelog (compacted, a key
//! repeated ten times on average, like a service's state topic), reads both back from the
//! start, optionally holds the data while the broker's storage maintenance runs, and optionally
//! `kill -9`s the broker to time its restart and count what survived. All the while a separate
//! client times a metadata round-trip every half second: a broker that stalls shows up there.
//!
//!     cargo run --release -p tests --bin bench_broker -- [EVENTS] [--partitions 4] [--hold 90] [--restart]
//!
//! Needs the local stack (`deploy/local/stack.sh up`); start it with `BROKER_STORAGE` set to
//! compare storage settings (deploy/BROKER.md has the figures).

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use runtime::kafka::{self, Cleanup};
use tests::bench::{broker_pid, cpu_seconds, rss_mib_of, stack_dir};
use tests::broker_health::BrokerProbe;

/// Broker storage throughput, growth, maintenance stalls, restart time and durability.
#[derive(Debug, clap::Parser)]
#[command(name = "bench_broker", version)]
struct Cli {
    /// Messages per topic (a stream and a changelog)
    #[arg(default_value_t = 1_000_000)]
    events: usize,
    /// Partitions per topic
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Seconds to keep probing after the reads (to span the broker's storage maintenance)
    #[arg(long, default_value_t = 0)]
    hold: u64,
    /// kill -9 the broker at the end, time its restart and count what survived
    #[arg(long)]
    restart: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli: Cli = clap::Parser::parse();
    tests::require_broker();
    let servers = tests::bootstrap_servers();
    let ns = tests::unique_namespace("bench-broker");
    let mut env = runtime::Env::from_map(tests::service_env(
        &ns,
        &[("KAFKA_TOPIC_PARTITIONS", &cli.partitions.to_string())],
    ));
    let common = runtime::CommonConfig::from_env(&mut env, "bench", "127.0.0.1:0");
    let stream = format!("{ns}.bench.stream.v1");
    let changelog = format!("{ns}.bench.changelog.v1");
    kafka::ensure_topics(
        &common.kafka,
        &[(&stream, Cleanup::Delete), (&changelog, Cleanup::Compact)],
    )
    .await?;

    let probe = BrokerProbe::start(&servers);
    let n = cli.events;
    let keys = (n / 10).max(1);
    // ~250-byte values: the size of an enriched touchpoint or a state record.
    let value = |i: usize| format!("{i:0>12}{}", "x".repeat(238)).into_bytes();
    let stream_messages: Vec<(Option<Vec<u8>>, Vec<u8>)> = (0..n)
        .map(|i| {
            (
                Some(format!("visitor-{}", i * 7919 % 200_000).into_bytes()),
                value(i),
            )
        })
        .collect();
    let changelog_messages: Vec<(Option<Vec<u8>>, Vec<u8>)> = (0..n)
        .map(|i| (Some(format!("state-{}", i % keys).into_bytes()), value(i)))
        .collect();

    println!(
        "{:<26} {:>9} {:>11} {:>14} {:>10} {:>10} {:>10} {:>11}",
        "phase",
        "seconds",
        "msg/s",
        "broker CPU µs",
        "meta p50",
        "meta p99",
        "meta max",
        "unanswered"
    );
    let phase = |name: &str, messages: usize, run: &dyn Fn() -> anyhow::Result<()>| {
        let mark = probe.mark();
        let broker0 = broker_pid().as_deref().and_then(cpu_seconds);
        let t = Instant::now();
        run()?;
        let seconds = t.elapsed().as_secs_f64();
        let broker_cpu = broker_pid()
            .as_deref()
            .and_then(cpu_seconds)
            .zip(broker0)
            .map_or("n/a".to_string(), |(b, a)| {
                format!("{:.1}", (b - a) * 1e6 / messages.max(1) as f64)
            });
        let health = probe.since(mark);
        println!(
            "{:<26} {:>9.1} {:>11.0} {:>14} {:>8.1}ms {:>8.1}ms {:>8.1}ms {:>11}",
            name,
            seconds,
            messages as f64 / seconds,
            broker_cpu,
            health.p50_ms,
            health.p99_ms,
            health.max_ms,
            health.unanswered
        );
        anyhow::Ok(())
    };
    let runtime = tokio::runtime::Handle::current();
    let produce = |topic: &str, messages: &[(Option<Vec<u8>>, Vec<u8>)]| {
        tokio::task::block_in_place(|| runtime.block_on(tests::produce(topic, messages)))
    };
    phase("produce stream", n, &|| produce(&stream, &stream_messages))?;
    phase("produce changelog", n, &|| {
        produce(&changelog, &changelog_messages)
    })?;
    drop((stream_messages, changelog_messages));
    phase("read stream from start", n, &|| {
        read_all(&servers, &stream, n, n)
    })?;
    // Maintenance may compact the changelog any time after it was written: at least one
    // record per key is left, at most all of them.
    phase("read changelog from start", n, &|| {
        read_all(&servers, &changelog, keys, n)
    })?;
    if cli.hold > 0 {
        phase(&format!("hold {} s", cli.hold), 1, &|| {
            std::thread::sleep(Duration::from_secs(cli.hold));
            Ok(())
        })?;
    }
    report_storage();
    if cli.restart {
        let t = Instant::now();
        tests::restart_broker()?;
        let port_open = t.elapsed();
        wait_for_metadata(&servers, Duration::from_secs(600))?;
        println!(
            "kill -9 and restart: port open after {:.1} s, metadata answered after {:.1} s",
            port_open.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        let survived = count_all(&servers, &stream, n, n, Duration::from_secs(900))?;
        println!(
            "after the restart: {survived} of {n} acknowledged stream messages read back in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        anyhow::ensure!(survived == n, "acknowledged messages were lost");
    }
    println!("broker health over the run: {}", probe.summary());
    Ok(())
}

/// Reads `topic` from the start with a fresh group: at least `least` messages, then on until
/// `most` arrived or nothing came for five seconds.
fn read_all(servers: &str, topic: &str, least: usize, most: usize) -> anyhow::Result<()> {
    let got = count_all(servers, topic, least, most, Duration::from_secs(1800))?;
    anyhow::ensure!(got >= least, "read {got} of at least {least} from {topic}");
    if got < most {
        println!("  ({topic}: {got} records left after compaction)");
    }
    Ok(())
}

fn count_all(
    servers: &str,
    topic: &str,
    least: usize,
    most: usize,
    deadline: Duration,
) -> anyhow::Result<usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", tests::unique_namespace("bench-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[topic])?;
    let started = Instant::now();
    let (mut got, mut last) = (0, Instant::now());
    while got < most && started.elapsed() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(_)) => (got, last) = (got + 1, Instant::now()),
            Some(Err(e)) => eprintln!("read error on {topic}: {e}"),
            None if got >= least && last.elapsed() > Duration::from_secs(5) => break,
            None => {}
        }
    }
    Ok(got)
}

/// The broker's storage file sizes and resident memory.
fn report_storage() {
    let size = |name: &str| {
        std::fs::metadata(format!("{}/broker/{name}", stack_dir()))
            .map_or(0.0, |m| m.len() as f64 / 1048576.0)
    };
    let rss = broker_pid().as_deref().map_or(0.0, rss_mib_of);
    println!(
        "storage: tansu.db {:.0} MiB, tansu.db-wal {:.0} MiB; broker RSS {:.0} MiB",
        size("tansu.db"),
        size("tansu.db-wal"),
        rss
    );
}

/// Waits until a fresh client gets metadata.
fn wait_for_metadata(servers: &str, deadline: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()?;
    while started.elapsed() < deadline {
        if client
            .fetch_metadata(None, rdkafka::util::Timeout::After(Duration::from_secs(5)))
            .is_ok()
        {
            return Ok(());
        }
    }
    anyhow::bail!("the broker did not answer metadata within {deadline:?}")
}
