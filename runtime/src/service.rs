//! The start and the end every service shares, declared rather than copied: [`Service::start`]
//! (admin server, Kafka reachability, topics and co-partitioning, producer), consumer loops
//! with their metrics and liveness, the stateful harness over the changelog, running one or
//! two loops with drain; and `main`'s runtime, signal handling and exit status.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use prometheus::Registry;
use tokio_util::sync::CancellationToken;

use rdkafka::consumer::StreamConsumer;

use crate::config::{ConfigError, Env};
use crate::consumer_loop::{self, LoopParts, Processor};
use crate::dead_letter::DeadLetterWriter;
use crate::error::RuntimeError;
use crate::health::{Health, Heartbeat};
use crate::kafka::{self, Cleanup, Producer, ServiceContext};
use crate::metrics::LoopMetrics;
use crate::settings::{CommonConfig, KafkaConfig};
use crate::stateful::{PartitionState, StateMetrics, StateParts, Stateful, StatefulLogic};
use crate::topic_reader::{ChangelogReader, TopicReader};

/// Reads a service's configuration from the process environment; on any problem prints them
/// all and returns exit status 78 (EX_CONFIG), before anything connects.
pub fn read_config<C>(
    service: &str,
    read: impl FnOnce(&mut Env) -> Result<C, ConfigError>,
) -> Result<C, ExitCode> {
    let mut env = Env::from_process();
    read(&mut env)
        .and_then(|c| env.finish().map(|()| c))
        .map_err(|e| {
            eprintln!("{service}: {e}");
            ExitCode::from(78)
        })
}

/// How a service wants a topic at start. Created when `KAFKA_CREATE_TOPICS` allows;
/// co-partitioning is checked always.
#[derive(Debug, Clone, Copy)]
pub enum Topic<'a> {
    /// `KAFKA_TOPIC_PARTITIONS` partitions.
    Stream(&'a str, Cleanup),
    /// One compacted partition: reference data, read whole by every instance.
    Reference(&'a str),
    /// As many partitions as `input`, so partition N of each meets partition N of the other:
    /// a state changelog, or another input of the same state.
    Like {
        /// The topic.
        topic: &'a str,
        /// Its cleanup policy.
        cleanup: Cleanup,
        /// The topic it must be co-partitioned with (created before it).
        input: &'a str,
    },
}

/// Creates (when `KAFKA_CREATE_TOPICS` allows) or checks `topics`, in order.
pub async fn create_topics(kafka: &KafkaConfig, topics: &[Topic<'_>]) -> Result<(), RuntimeError> {
    for topic in topics {
        match *topic {
            Topic::Stream(name, cleanup) if kafka.create_topics => {
                kafka::ensure_topics(kafka, &[(name, cleanup)]).await?;
            }
            Topic::Reference(name) if kafka.create_topics => {
                kafka::ensure_topics_partitioned(kafka, &[(name, Cleanup::CompactDelete, 1)])
                    .await?;
            }
            Topic::Stream(..) | Topic::Reference(_) => {}
            Topic::Like {
                topic,
                cleanup,
                input,
            } => {
                crate::topic_reader::ensure_copartitioned(kafka, input, topic, cleanup).await?;
            }
        }
    }
    Ok(())
}

/// Partitions of `topic` (0 when it does not exist).
pub fn partition_count(kafka: &KafkaConfig, topic: &str) -> Result<i32, RuntimeError> {
    TopicReader::new(kafka, "metadata", topic, Duration::from_secs(10))?.partition_count()
}

/// One consumer loop of a service.
#[derive(Debug, Clone, Copy)]
pub struct LoopSpec<'a> {
    /// Names the loop's liveness components (`<name>_loop`, `<name>_kafka`).
    pub name: &'static str,
    /// Kafka client id.
    pub client_id: &'a str,
    /// Consumer group.
    pub group_id: &'a str,
    /// Subscribed topics.
    pub topics: &'a [&'a str],
    /// Prefix of the loop's metrics (`<prefix>_batches_total`, …).
    pub metrics_prefix: &'a str,
}

/// A subscribed consumer and what its loop reports to.
#[allow(missing_debug_implementations)] // rdkafka's consumer has no Debug
pub struct ConsumerLoop {
    consumer: StreamConsumer<ServiceContext>,
    heartbeat: Heartbeat,
    metrics: LoopMetrics,
}

/// A running service's shared parts: admin server, health, registry, producer, shutdown.
/// Built by [`Service::start`], which does everything every service does before consuming.
#[allow(missing_debug_implementations)]
pub struct Service {
    name: &'static str,
    common: CommonConfig,
    registry: Registry,
    health: Health,
    shutdown: CancellationToken,
    producer: Producer,
}

/// Liveness deadline of a consumer loop: one batch, or a checkpoint, takes less.
const LOOP_DEADLINE: Duration = Duration::from_secs(90);

impl Service {
    /// Serves `/metrics`, `/_liveness` and `/_readiness`, checks that Kafka answers, creates
    /// or checks `topics` in order, and makes the producer.
    pub async fn start(
        name: &'static str,
        common: &CommonConfig,
        registry: Registry,
        shutdown: CancellationToken,
        topics: &[Topic<'_>],
    ) -> Result<Service, RuntimeError> {
        let health = Health::default();
        serve_admin_and_ping(common, &registry, &health, &shutdown).await?;
        retry_on_kafka_errors(&common.kafka, &shutdown, || {
            create_topics(&common.kafka, topics)
        })
        .await?;
        let producer = Producer::new(&common.kafka, name)?;
        Ok(Service {
            name,
            common: common.clone(),
            registry,
            health,
            shutdown,
            producer,
        })
    }

    /// The service's name (metrics prefix, client ids).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The shared configuration.
    pub fn common(&self) -> &CommonConfig {
        &self.common
    }

    /// The metrics registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Liveness and readiness.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Cancelled on SIGTERM/SIGINT, or when a loop fails.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// The producer every loop writes with.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Partitions of `topic` (0 when it does not exist).
    pub fn partitions(&self, topic: &str) -> Result<i32, RuntimeError> {
        partition_count(&self.common.kafka, topic)
    }

    /// The dead-letter writer of this service.
    pub fn dead_letters(&self) -> DeadLetterWriter {
        DeadLetterWriter::new(
            self.name,
            &self.common.topics.touchpoints_dlq,
            self.common.dead_letter_payload_bytes_max,
        )
    }

    /// A subscribed consumer for one loop, its metrics and liveness registered.
    pub fn consumer(&self, spec: LoopSpec<'_>) -> Result<ConsumerLoop, RuntimeError> {
        let metrics = LoopMetrics::register(spec.metrics_prefix, &self.registry)?;
        // Not ready before the first assignment is taken: until the group says which
        // partitions are this instance's, it cannot say their state is restored.
        let assignment = self.health.gate();
        assignment.close();
        let consumer = kafka::consumer(
            &self.common.kafka,
            spec.client_id,
            spec.group_id,
            spec.topics,
            (
                self.health.register(
                    format!("{}_kafka", spec.name),
                    kafka::STATISTICS_INTERVAL * 6,
                ),
                assignment,
            ),
            metrics.clone(),
        )?;
        tracing::info!(loop = spec.name, topics = ?spec.topics, group = spec.group_id, "Consumer subscribed.");
        Ok(ConsumerLoop {
            consumer,
            heartbeat: self
                .health
                .register(format!("{}_loop", spec.name), LOOP_DEADLINE),
            metrics,
        })
    }

    /// The consumer of a service with one loop: liveness `consumer_loop` / `consumer_kafka`,
    /// client id and metrics prefix the service's name.
    pub fn single_consumer(
        &self,
        group_id: &str,
        topics: &[&str],
    ) -> Result<ConsumerLoop, RuntimeError> {
        self.consumer(LoopSpec {
            name: "consumer",
            client_id: self.name,
            group_id,
            topics,
            metrics_prefix: self.name,
        })
    }

    /// The stateful harness over `logic`, restoring from `changelog` (co-partitioned with
    /// `state_topic`) and reporting `<metrics_prefix>_state_*` / `_restore_*`.
    pub fn stateful<L>(
        &self,
        logic: L,
        state_topic: &str,
        changelog: &str,
        metrics_prefix: &str,
        restore_timeout: Duration,
    ) -> Result<Stateful<L, ChangelogReader>, RuntimeError>
    where
        L: StatefulLogic,
    {
        let restore = ChangelogReader::new(
            &self.common.kafka,
            &format!("{}-restore", self.name),
            changelog,
            restore_timeout,
        )?;
        let metrics = StateMetrics::register(
            metrics_prefix,
            <L::State as PartitionState>::ENTRY_KINDS,
            &self.registry,
        )?;
        Ok(Stateful::new(
            logic,
            StateParts {
                state_topic: state_topic.to_string(),
                changelog_topic: changelog.to_string(),
                restore,
                dead_letters: self.dead_letters(),
                metrics,
                health: self.health.clone(),
                refresh_interval: self.common.state_refresh,
            },
        ))
    }

    /// Runs one loop until shutdown (then drains at most `SHUTDOWN_DRAIN_TIMEOUT_MS`), and
    /// stops everything else the service started.
    pub async fn run<P: Processor>(
        self,
        consumer: ConsumerLoop,
        processor: &mut P,
    ) -> Result<(), RuntimeError> {
        let result = self.run_loop(consumer, processor).await;
        self.shutdown.cancel();
        result
    }

    /// Runs two loops side by side; either failing stops both, so the process restarts whole.
    pub async fn run_two<P: Processor, Q: Processor>(
        self,
        (first, p): (ConsumerLoop, &mut P),
        (second, q): (ConsumerLoop, &mut Q),
    ) -> Result<(), RuntimeError> {
        let stop_both = |r: Result<(), RuntimeError>| {
            if r.is_err() {
                self.shutdown.cancel();
            }
            r
        };
        let (a, b) = tokio::join!(async { stop_both(self.run_loop(first, p).await) }, async {
            stop_both(self.run_loop(second, q).await)
        },);
        self.shutdown.cancel();
        a.and(b)
    }

    /// Reports ready, runs the loop until shutdown (then at most the drain timeout more),
    /// stops reporting ready and flushes the producer.
    async fn run_loop<P: Processor>(
        &self,
        consumer: ConsumerLoop,
        processor: &mut P,
    ) -> Result<(), RuntimeError> {
        let parts = LoopParts {
            consumer: &consumer.consumer,
            producer: &self.producer,
            batch: self.common.batch,
            heartbeat: consumer.heartbeat,
            metrics: consumer.metrics,
        };
        self.health.set_ready(true);
        let result = consumer_loop::with_drain_timeout(
            consumer_loop::run(parts, processor, &self.shutdown),
            &self.shutdown,
            self.common.shutdown_drain_timeout,
        )
        .await;
        self.health.begin_shutdown();
        let flushed = self.producer.flush(Duration::from_secs(5));
        result.and(flushed)
    }
}

/// Serves `/metrics`, `/_liveness` and `/_readiness`, then checks that Kafka answers.
async fn serve_admin_and_ping(
    common: &CommonConfig,
    registry: &Registry,
    health: &Health,
    shutdown: &CancellationToken,
) -> Result<(), RuntimeError> {
    let admin = crate::admin::spawn(
        common.admin_listen_addr,
        registry.clone(),
        health.clone(),
        shutdown.clone(),
    )
    .await
    .map_err(|error| RuntimeError::Io {
        context: format!(
            "cannot bind the admin server to {}",
            common.admin_listen_addr
        ),
        error,
    })?;
    tracing::info!(address = %admin, "Admin server listening.");
    let brokers = wait_for_kafka(common, registry, shutdown).await?;
    tracing::info!(brokers, servers = %common.kafka.bootstrap_servers, "Kafka reachable.");
    Ok(())
}

/// How long one metadata round-trip may take before the broker counts as not answering.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks Kafka for metadata until it answers, backing off between attempts (1 s doubling to
/// 30 s) for up to `KAFKA_STARTUP_WAIT_SECONDS`. A broker that is up but stalled, or down for
/// a restart, is then one warning per attempt and a gauge, not a restart storm of services
/// that each give up after ten seconds. Liveness stays green while waiting; readiness does not.
async fn wait_for_kafka(
    common: &CommonConfig,
    registry: &Registry,
    shutdown: &CancellationToken,
) -> Result<usize, RuntimeError> {
    let metric = |name: &str, help: &str| {
        prometheus::IntGauge::new(format!("{}_{name}", common.service.replace('-', "_")), help)
            .map_err(RuntimeError::Metrics)
            .and_then(|g| {
                registry
                    .register(Box::new(g.clone()))
                    .map_err(RuntimeError::Metrics)
                    .map(|()| g)
            })
    };
    let waiting = metric(
        "kafka_waiting",
        "1 while the service waits at start-up for Kafka to answer a metadata request.",
    )?;
    let unanswered = metric(
        "kafka_unanswered_pings",
        "Metadata requests Kafka did not answer while this service was starting.",
    )?;
    let started = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let kafka_config = common.kafka.clone();
        let result = tokio::task::spawn_blocking(move || kafka::ping(&kafka_config, PING_TIMEOUT))
            .await
            .expect("the ping task does not panic");
        let error = match result {
            Ok(brokers) => {
                waiting.set(0);
                return Ok(brokers);
            }
            Err(error @ RuntimeError::KafkaRefused { .. }) => {
                tracing::error!(error = %error, "Permanent configuration error: Kafka refuses these settings; not retrying.");
                return Err(error);
            }
            Err(error) => error,
        };
        waiting.set(1);
        unanswered.inc();
        let delay = ping_backoff(attempt);
        let waited = started.elapsed();
        if waited + delay > common.kafka.startup_wait || shutdown.is_cancelled() {
            return Err(error);
        }
        let servers = common.kafka.bootstrap_servers.clone();
        let why = tokio::task::spawn_blocking(move || unanswered_because(&servers))
            .await
            .expect("the connect check does not panic");
        tracing::warn!(
            servers = %common.kafka.bootstrap_servers,
            attempt,
            waited_seconds = waited.as_secs(),
            limit_seconds = common.kafka.startup_wait.as_secs(),
            retry_in_seconds = delay.as_secs(),
            "Kafka did not answer a metadata request within {}s: {why}; retrying.",
            PING_TIMEOUT.as_secs()
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return Err(error),
        }
    }
}

/// `op` (topic creation at start-up), retried with the metadata wait's backoff within
/// `KAFKA_STARTUP_WAIT_SECONDS` while it fails on a Kafka error (a broker restarting right
/// after it answered the ping); a refusal (`TopicCreation`, a partition mismatch) is a
/// configuration error and fails at once.
async fn retry_on_kafka_errors<F, Fut>(
    kafka_config: &KafkaConfig,
    shutdown: &CancellationToken,
    mut op: F,
) -> Result<(), RuntimeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), RuntimeError>>,
{
    let started = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        let error = match op().await {
            Err(RuntimeError::Kafka(error)) => error,
            done => return done,
        };
        attempt += 1;
        let delay = ping_backoff(attempt);
        if started.elapsed() + delay > kafka_config.startup_wait || shutdown.is_cancelled() {
            return Err(RuntimeError::Kafka(error));
        }
        tracing::warn!(%error, attempt, retry_in_seconds = delay.as_secs(), "Creating or checking topics failed on a Kafka error; retrying.");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return Err(RuntimeError::Kafka(error)),
        }
    }
}

/// Pause after the `attempt`-th unanswered metadata request: 1, 2, 4, … 30 s.
fn ping_backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(5)).min(Duration::from_secs(30))
}

/// Tells a stalled broker from an absent one: whether anything accepts a TCP connection at
/// the first bootstrap server.
fn unanswered_because(servers: &str) -> String {
    use std::net::ToSocketAddrs;
    let first = servers.split(',').next().unwrap_or_default().trim();
    let address = first
        .rsplit_once("://")
        .map_or(first, |(_, address)| address);
    match address.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(socket)) => {
            match std::net::TcpStream::connect_timeout(&socket, Duration::from_secs(2)) {
                Ok(_) => format!("{address} accepts connections but does not answer (the broker is up and stalled or overloaded)"),
                Err(e) => format!("nothing accepts connections at {address} ({e})"),
            }
        }
        Ok(None) | Err(_) => format!("{address} does not resolve"),
    }
}

/// A multi-threaded tokio runtime for a service's `main`.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
}

/// Runs `service` until SIGTERM/SIGINT and turns the outcome into the exit status: 0 after a
/// clean drain, 1 on an error (logged with what happens to uncommitted input).
pub fn run_until_signalled<F, Fut>(name: &str, service: F) -> ExitCode
where
    F: FnOnce(Registry, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), RuntimeError>>,
{
    let result: Result<(), RuntimeError> = tokio_runtime().block_on(async {
        let shutdown = crate::shutdown::on_signals().map_err(|error| RuntimeError::Io {
            context: "cannot install signal handlers".into(),
            error,
        })?;
        service(Registry::new(), shutdown).await
    });
    match result {
        Ok(()) => {
            tracing::info!("{name} stopped cleanly.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, disposition = ?e.disposition(), "{name} stopped on an error; uncommitted input will be re-read on restart.");
            ExitCode::FAILURE
        }
    }
}

/// The commands every service binary has (flatten them into a binary's own command enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum ServiceCommand {
    /// Run the service until SIGTERM/SIGINT (what the binary does without a command)
    Run,
    /// Print the environment variables it reads, as a Markdown table
    Env,
}

/// The first line of a reference-following service's help footer.
pub const REFERENCE_FIRST: &str =
    "Reference data must be on the reference topic first: `reference publish FILE.toml`.\n\n";

/// What follows every service's `--help`: `first`, then configuration and exit statuses.
pub fn help_footer(first: &str) -> String {
    format!(
        "{first}Configuration comes from environment variables only; `env` lists them with their \
         defaults.\nExit status: 0 after a clean drain on SIGTERM/SIGINT, 1 on a runtime error \
         (uncommitted input is re-read on restart), 2 on a command-line error, 78 on invalid \
         configuration."
    )
}

/// A service binary's `main` for [`ServiceCommand`]s: `run` reads the configuration (exit 78
/// on problems), starts logging and runs the service until SIGTERM/SIGINT; `env` prints the
/// variable table.
#[allow(missing_debug_implementations)]
pub struct ServiceMain<C> {
    /// Binary name, e.g. `risk`.
    pub name: &'static str,
    /// What it does, for `--help`.
    pub about: &'static str,
    /// Name in log lines, e.g. `Risk`.
    pub title: &'static str,
    /// Every variable the service reads.
    pub vars: fn() -> Vec<crate::config::EnvVar>,
    /// Reads the configuration.
    pub read: fn(&mut Env) -> Result<C, ConfigError>,
    /// The shared part of the configuration.
    pub common: fn(&C) -> &crate::settings::CommonConfig,
}

impl<C> ServiceMain<C> {
    /// The whole `main` of a binary whose commands are only [`ServiceCommand`]s: parses the
    /// command line (`--help`, `--version`, `<command> --help`; exit 2 on errors) and runs it.
    pub fn main<F, Fut>(self, version: &'static str, service: F) -> ExitCode
    where
        F: FnOnce(C, Registry, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), RuntimeError>>,
    {
        use clap::{FromArgMatches, Subcommand};
        let command = clap::Command::new(self.name)
            .version(version)
            .about(self.about)
            .after_help(help_footer(REFERENCE_FIRST));
        let matches = ServiceCommand::augment_subcommands(command).get_matches();
        let command = ServiceCommand::from_arg_matches(&matches).ok();
        self.run(command, service)
    }

    /// Runs `command` (`None` is `run`); `service` is the service's `app::run`.
    pub fn run<F, Fut>(self, command: Option<ServiceCommand>, service: F) -> ExitCode
    where
        F: FnOnce(C, Registry, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), RuntimeError>>,
    {
        if command == Some(ServiceCommand::Env) {
            print!("{}", crate::config::markdown_table(&(self.vars)()));
            return ExitCode::SUCCESS;
        }
        let config = match read_config(self.name, self.read) {
            Ok(config) => config,
            Err(status) => return status,
        };
        let common = (self.common)(&config);
        crate::telemetry::init(common.log_format, &common.log_level);
        run_until_signalled(self.title, |registry, shutdown| {
            service(config, registry, shutdown)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_one_second_to_thirty() {
        let delays: Vec<u64> = (1..=8).map(|a| ping_backoff(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn a_silent_broker_is_told_from_an_absent_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let silent = unanswered_because(&format!("127.0.0.1:{port},other:9092"));
        assert!(
            silent.contains("accepts connections but does not answer"),
            "{silent}"
        );
        drop(listener);
        let absent = unanswered_because(&format!("127.0.0.1:{port}"));
        assert!(absent.contains("nothing accepts connections"), "{absent}");
    }

    fn kafka_error() -> RuntimeError {
        RuntimeError::Kafka(rdkafka::error::KafkaError::AdminOp(
            rdkafka::types::RDKafkaErrorCode::BrokerTransportFailure,
        ))
    }

    /// Topic creation failing on a Kafka error (a broker restarting right after the ping) is
    /// retried with the start-up backoff; a refusal is not.
    #[tokio::test]
    async fn topic_creation_is_retried_on_kafka_errors_only() {
        let mut env = crate::config::Env::from_map(std::collections::HashMap::new());
        let common = CommonConfig::from_env(&mut env, "svc", "127.0.0.1:0");
        let mut calls = 0;
        let result = retry_on_kafka_errors(&common.kafka, &CancellationToken::new(), || {
            calls += 1;
            let outcome = if calls < 3 {
                Err(kafka_error())
            } else {
                Ok(())
            };
            async move { outcome }
        })
        .await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(calls, 3, "two failures, then success");

        let mut calls = 0;
        let result = retry_on_kafka_errors(&common.kafka, &CancellationToken::new(), || {
            calls += 1;
            async {
                Err(RuntimeError::TopicCreation {
                    topic: "t".into(),
                    code: rdkafka::types::RDKafkaErrorCode::InvalidConfig,
                })
            }
        })
        .await;
        assert!(matches!(result, Err(RuntimeError::TopicCreation { .. })));
        assert_eq!(calls, 1, "a refusal is not retried");
    }

    #[tokio::test]
    async fn topic_creation_gives_up_when_the_wait_is_over() {
        let mut env = crate::config::Env::from_map(
            [("KAFKA_STARTUP_WAIT_SECONDS".to_string(), "2".to_string())]
                .into_iter()
                .collect(),
        );
        let common = CommonConfig::from_env(&mut env, "svc", "127.0.0.1:0");
        let mut calls = 0;
        let result = retry_on_kafka_errors(&common.kafka, &CancellationToken::new(), || {
            calls += 1;
            async { Err(kafka_error()) }
        })
        .await;
        assert!(matches!(result, Err(RuntimeError::Kafka(_))));
        // At 0 s and after 1 s; the next pause (2 s) would pass the 2 s wait.
        assert_eq!(calls, 2);
    }

    /// A broker that accepts connections and never answers: the service retries (one
    /// unanswered ping per attempt, the waiting gauge up) and gives up only after the wait.
    #[tokio::test]
    async fn start_up_waits_for_a_stalled_broker_then_gives_up() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut env = crate::config::Env::from_map(
            [
                (
                    "KAFKA_BOOTSTRAP_SERVERS".to_string(),
                    listener.local_addr().expect("address").to_string(),
                ),
                ("KAFKA_STARTUP_WAIT_SECONDS".to_string(), "12".to_string()),
            ]
            .into_iter()
            .collect(),
        );
        let common = CommonConfig::from_env(&mut env, "my-svc", "127.0.0.1:0");
        let registry = Registry::new();
        let started = std::time::Instant::now();
        let result = wait_for_kafka(&common, &registry, &CancellationToken::new()).await;
        assert!(
            matches!(result, Err(RuntimeError::Unreachable { .. })),
            "{result:?}"
        );
        let gauge = |name: &str| {
            registry
                .gather()
                .iter()
                .find(|f| f.name() == name)
                .map_or(-1.0, |f| f.get_metric()[0].get_gauge().get_value())
        };
        assert_eq!(gauge("my_svc_kafka_unanswered_pings"), 2.0);
        assert_eq!(gauge("my_svc_kafka_waiting"), 1.0);
        assert!(
            started.elapsed() >= Duration::from_secs(20),
            "two full pings"
        );
        drop(listener);
    }
}
