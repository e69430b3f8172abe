//! Harness for tests, demo and benchmarks against the real local stack (`deploy/local`):
//! unique topic namespaces, raw producers, counting consumers, service configs, and the
//! service binaries as child processes. No mocks: everything talks to the real broker.

pub mod attribution;
pub mod bench;
pub mod broker_health;
pub mod browser;
pub mod chart;
pub mod http;
pub mod interop;
pub mod ledger;
pub mod marketplace;
pub mod openapi;
pub mod pipeline;
pub mod risk;
pub mod secure;
pub mod workload;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

/// The broker the local stack runs (`deploy/local/stack.sh env`).
pub fn bootstrap_servers() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

/// A Kafka client configuration with the connection settings the services read from the
/// process environment: `KAFKA_BOOTSTRAP_SERVERS` and every `KAFKA_PROP_*` (TLS, SASL), so the
/// tools and the demo reach a secure cluster the same way.
pub fn client_config() -> ClientConfig {
    let mut env = runtime::Env::from_process();
    let common = runtime::CommonConfig::from_env(&mut env, "tests", "127.0.0.1:0");
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &common.kafka.bootstrap_servers);
    for (name, value) in &common.kafka.client_properties {
        config.set(name, value.expose());
    }
    config
}

/// Fails with instructions when the stack is not running.
pub fn require_broker() {
    let servers = bootstrap_servers();
    let first = servers.split(',').next().unwrap_or_default().to_string();
    if std::net::TcpStream::connect_timeout(
        &first
            .parse()
            .expect("KAFKA_BOOTSTRAP_SERVERS holds host:port"),
        Duration::from_secs(2),
    )
    .is_err()
    {
        panic!(
            "no Kafka broker at {servers}: start the local stack with `deploy/local/stack.sh up`"
        );
    }
}

/// A topic namespace no other test or run uses.
pub fn unique_namespace(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!(
        "t{}-{}-{}-{}",
        nanos % 1_000_000_000_000,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        label
    )
}

/// The IP-hash key every test service uses: base64 of 32 fixed bytes (0xab, 0xac, …), not a
/// placeholder, so ingest accepts it.
pub const TEST_IP_HASH_KEY: &str = "q6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIyco=";

/// The test principal `ops`'s ledger command key: base64 of 32 fixed bytes (1, 2, …).
pub const TEST_COMMAND_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

/// The test reference publisher `platform`'s key: base64 of 32 fixed bytes (0x60, 0x61, …).
pub const TEST_PUBLISHER_KEY: &str = "YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=";

/// `ops` may issue every ledger command in tests.
pub const TEST_COMMAND_GRANTS: &str =
    "ops=payout_run,payout_complete,payout_fail,review_approve,review_reverse,manual_reverse";

/// Environment for a service under `namespace` on the local broker.
pub fn service_env(namespace: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers()),
        ("TOPIC_NAMESPACE", namespace.to_string()),
        ("KAFKA_TOPIC_PARTITIONS", "3".into()),
        ("ADMIN_LISTEN_ADDR", "127.0.0.1:0".into()),
        ("INGEST_IP_HASH_KEY", TEST_IP_HASH_KEY.into()),
        // Reference data is signed by `platform`, and the services accept only its records.
        (
            "REFERENCE_PUBLISHER_KEYS",
            format!("platform:{TEST_PUBLISHER_KEY}"),
        ),
        ("REFERENCE_PUBLISH_PRINCIPAL", "platform".into()),
        ("REFERENCE_PUBLISH_KEY", TEST_PUBLISHER_KEY.into()),
        // One principal granted every ledger command, which the command-line tool signs as.
        ("LEDGER_COMMAND_KEYS", format!("ops:{TEST_COMMAND_KEY}")),
        ("LEDGER_COMMAND_GRANTS", TEST_COMMAND_GRANTS.into()),
        ("LEDGER_COMMAND_PRINCIPAL", "ops".into()),
        ("LEDGER_COMMAND_KEY", TEST_COMMAND_KEY.into()),
        ("INGEST_GROUP_ID", format!("{namespace}-ingest")),
        ("ENRICHER_GROUP_ID", format!("{namespace}-enricher")),
        ("ATTRIBUTOR_GROUP_ID", format!("{namespace}-attributor")),
        ("RISK_GROUP_ID", format!("{namespace}-risk")),
        ("RISK_ROUTER_GROUP_ID", format!("{namespace}-risk-router")),
        ("LEDGER_GROUP_ID", format!("{namespace}-ledger")),
        (
            "LEDGER_ANALYTICS_GROUP_ID",
            format!("{namespace}-ledger-analytics"),
        ),
        ("CLICKHOUSE_URL", ledger::clickhouse_url()),
        ("CLICKHOUSE_DATABASE", ledger::database_for(namespace)),
        ("LOG_LEVEL", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // Client properties of this process reach the services it runs, so a benchmark can measure
    // a tuning change (`KAFKA_PROP_FETCH_MAX_BYTES=...`) and print it with its cost.
    for (k, v) in std::env::vars() {
        if k.starts_with("KAFKA_PROP_") || k == "KAFKA_CLIENT_PROPERTIES" {
            env.insert(k, v);
        }
    }
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// Ingest's config from a map, failing loudly on invalid settings.
pub fn ingest_config(env: &HashMap<String, String>) -> ingest::config::IngestConfig {
    let mut reader = runtime::Env::from_map(env.clone());
    let config = ingest::config::IngestConfig::from_env(&mut reader).expect("valid config");
    reader.finish().expect("valid config");
    config
}

/// Creates topics (3 partitions) before anything uses them.
pub async fn create_topics(names: &[&str]) -> Result<()> {
    let mut env = runtime::Env::from_map(service_env("unused", &[]));
    let common = runtime::CommonConfig::from_env(&mut env, "test", "127.0.0.1:0");
    let topics: Vec<(&str, runtime::kafka::Cleanup)> = names
        .iter()
        .map(|n| (*n, runtime::kafka::Cleanup::Delete))
        .collect();
    runtime::kafka::ensure_topics(&common.kafka, &topics).await?;
    Ok(())
}

/// A plain producer for raw test input.
pub fn producer() -> FutureProducer {
    client_config()
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer config is valid")
}

/// Produces `(key, payload)` messages to `topic` and waits for every acknowledgement.
pub async fn produce(topic: &str, messages: &[(Option<Vec<u8>>, Vec<u8>)]) -> Result<()> {
    let records = messages
        .iter()
        .map(|(key, payload)| (None, key.as_deref(), payload.as_slice()));
    produce_records(topic, records).await
}

/// Produces a tombstone (a key with no payload) to `topic` and waits for its acknowledgement.
pub async fn produce_tombstone(topic: &str, key: &str) -> Result<()> {
    let producer = producer();
    let record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).key(key);
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| anyhow::anyhow!("tombstone to {topic} failed: {e}"))?;
    Ok(())
}

/// Produces `(partition, key, payload)` messages to `topic` and waits for every
/// acknowledgement (for changelogs, whose partition is not the key's hash).
pub async fn produce_to_partitions(
    topic: &str,
    messages: &[(i32, Vec<u8>, Vec<u8>)],
) -> Result<()> {
    let records = messages.iter().map(|(partition, key, payload)| {
        (Some(*partition), Some(key.as_slice()), payload.as_slice())
    });
    produce_records(topic, records).await
}

async fn produce_records<'a>(
    topic: &str,
    records: impl Iterator<Item = (Option<i32>, Option<&'a [u8]>, &'a [u8])>,
) -> Result<()> {
    let producer = producer();
    let mut pending = Vec::new();
    for (partition, key, payload) in records {
        loop {
            let mut record = FutureRecord::to(topic).payload(payload);
            if let Some(k) = key {
                record = record.key(k);
            }
            if let Some(p) = partition {
                record = record.partition(p);
            }
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((e, _))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((e, _)) => bail!("produce to {topic} failed: {e}"),
            }
        }
    }
    for delivery in pending {
        delivery
            .await
            .context("producer dropped")?
            .map_err(|(e, _)| anyhow::anyhow!("delivery to {topic} failed: {e}"))?;
    }
    producer.flush(Timeout::After(Duration::from_secs(10)))?;
    Ok(())
}

/// A consumer of `topic` from the beginning, in a group of its own, committing nothing.
fn reader(topic: &str) -> Result<BaseConsumer> {
    let consumer: BaseConsumer = client_config()
        .set("group.id", unique_namespace("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// Reads `topic` from the beginning with a fresh group until `done` says so (it sees every
/// message read so far) or `deadline` passes.
pub fn consume_until(
    topic: &str,
    deadline: Duration,
    mut done: impl FnMut(&[OwnedMessage]) -> bool,
) -> Result<Vec<OwnedMessage>> {
    let consumer = reader(topic)?;
    let started = Instant::now();
    let mut out = Vec::new();
    while started.elapsed() < deadline && !done(&out) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(m.detach()),
            Some(Err(e)) => eprintln!("consumer error on {topic}: {e}"),
            None => {}
        }
    }
    Ok(out)
}

/// Reads `topic` from the beginning with a fresh group until `expected` messages arrived,
/// `idle` passes with nothing new after that, or `deadline` passes. Counting what arrived is
/// the only reliable "done" on tansu, whose high watermarks can be wrong (LOCAL-STACK.md).
pub fn consume(topic: &str, expected: usize, deadline: Duration) -> Result<Vec<OwnedMessage>> {
    let consumer = reader(topic)?;
    let started = Instant::now();
    let mut out = Vec::new();
    while started.elapsed() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(m.detach()),
            Some(Err(e)) => eprintln!("consumer error on {topic}: {e}"),
            None if out.len() >= expected => break,
            None => {}
        }
    }
    Ok(out)
}

/// `kill -9`s the local stack's broker and starts it again (`deploy/local/stack.sh
/// restart-broker`, which returns once the port is open).
pub fn restart_broker() -> Result<()> {
    stack("restart-broker")
}

/// `kill -9`s the local stack's broker and leaves it down (`stack.sh stop-broker`); bring it
/// back with [`start_broker`].
pub fn stop_broker() -> Result<()> {
    stack("stop-broker")
}

/// Starts the local stack's broker again (`stack.sh start-broker`, which returns once the port
/// is open); its data is kept.
pub fn start_broker() -> Result<()> {
    stack("start-broker")
}

fn stack(command: &str) -> Result<()> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/stack.sh");
    let status = std::process::Command::new("bash")
        .arg(script)
        .arg(command)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "stack.sh {command} failed");
    Ok(())
}

/// Path of a workspace binary built by `cargo build` (the test command builds them first).
pub fn binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<test-binary> (tests) or target/<profile>/<bin> (benchmarks,
    // the demo driver) -> target/<profile>/<name>
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().expect("binaries live in a directory");
    let profile_dir = if dir.ends_with("deps") {
        dir.parent().expect("target/<profile>/deps has a parent")
    } else {
        dir
    };
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the service binaries first (`cargo build --bins`)",
        path.display()
    );
    path
}

/// A service started as a child process, killed when dropped.
#[derive(Debug)]
pub struct ServiceProcess {
    child: Child,
}

impl ServiceProcess {
    /// Starts `binary` with `env` (plus the process environment's PATH).
    pub fn start(
        binary: &std::path::Path,
        args: &[&str],
        env: &HashMap<String, String>,
    ) -> Result<Self> {
        Self::spawn(binary, args, env, Stdio::inherit())
    }

    /// Starts `binary` with its log appended to `log` (a chaos run's many restarts and broker
    /// outages would drown the test output).
    pub fn start_logged(
        binary: &std::path::Path,
        env: &HashMap<String, String>,
        log: &std::path::Path,
    ) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        Self::spawn(binary, &[], env, Stdio::from(file))
    }

    fn spawn(
        binary: &std::path::Path,
        args: &[&str],
        env: &HashMap<String, String>,
        stderr: Stdio,
    ) -> Result<Self> {
        let child = Command::new(binary)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        Ok(ServiceProcess { child })
    }

    /// True once the process has exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no drain, no commit.
    pub fn kill_hard(&mut self) {
        let _killed = self.child.kill();
        let _status = self.child.wait();
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if started.elapsed() > timeout {
                self.kill_hard();
                bail!("service did not stop within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill_hard();
        }
    }
}

/// Reads a counter or gauge from a registry by name and optional label.
pub fn metric(registry: &prometheus::Registry, name: &str, label: Option<(&str, &str)>) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric().iter())
        .filter(|m| {
            label.is_none_or(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == k && l.value() == v)
            })
        })
        // Counters and gauges are the only kinds asked for; the other reads as 0.
        .map(|m| m.get_counter().get_value() + m.get_gauge().get_value())
        .sum()
}

/// Payload bytes of a consumed message.
pub fn payload(message: &OwnedMessage) -> &[u8] {
    message.payload().unwrap_or_default()
}

/// A loopback port that was free a moment ago (for a child's admin server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `GET path` on a service's admin port: the HTTP status code, 0 while it is not up.
pub fn http_status(port: u16, path: &str) -> u16 {
    admin_get(port, path)
        .and_then(|response| response.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// `GET path` on a service's admin port; the body, or an empty string while it is not up.
pub fn http_get(port: u16, path: &str) -> String {
    admin_get(port, path)
        .and_then(|response| Some(response.split_once("\r\n\r\n")?.1.to_string()))
        .unwrap_or_default()
}

/// The whole HTTP/1.0 response, or `None` while the admin server is not up.
fn admin_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    // A wedged service must not wedge the test that asks it.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// Sum of every sample of `name` (any labels) in a Prometheus text exposition.
pub fn scrape(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Validates and publishes a reference file to the namespace's reference topic.
pub async fn publish_reference(
    env: &HashMap<String, String>,
    text: &str,
) -> Result<reference::publish::PublishSummary> {
    let set = reference::parse(text).map_err(|errors| {
        anyhow::anyhow!(
            "invalid reference file: {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let mut reader = runtime::Env::from_map(env.clone());
    let common = runtime::CommonConfig::from_env(&mut reader, "test", "127.0.0.1:0");
    let signer = reference::publisher_signer(&mut reader);
    Ok(reference::publish::publish(
        &common.kafka,
        &common.topics.reference_config,
        &set,
        &reference::revision_of(text),
        chrono::Utc::now(),
        signer.as_ref().map(|(p, k)| (p.as_str(), k.expose())),
    )
    .await?)
}

/// The enricher's config from a map, failing loudly on invalid settings.
pub fn enricher_config(env: &HashMap<String, String>) -> enricher::config::EnricherConfig {
    let mut reader = runtime::Env::from_map(env.clone());
    let config = enricher::config::EnricherConfig::from_env(&mut reader).expect("valid config");
    reader.finish().expect("valid config");
    config
}
