//! The start and the end every service shares: the admin server and a Kafka reachability check
//! before anything else, and `main`'s runtime, signal handling and exit status.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use prometheus::Registry;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, Env};
use crate::consumer_loop::{self, LoopParts, Processor};
use crate::error::RuntimeError;
use crate::health::Health;
use crate::kafka;
use crate::settings::CommonConfig;

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

/// Reports ready, runs the consumer loop until `shutdown` (then at most `drain` more), stops
/// reporting ready and flushes the producer.
pub async fn run_loop<P: Processor>(
    parts: LoopParts<'_>,
    processor: &mut P,
    health: &Health,
    shutdown: &CancellationToken,
    drain: Duration,
) -> Result<(), RuntimeError> {
    let producer = parts.producer;
    health.set_ready(true);
    let result = consumer_loop::with_drain_timeout(
        consumer_loop::run(parts, processor, shutdown),
        shutdown,
        drain,
    )
    .await;
    health.begin_shutdown();
    let flushed = producer.flush(Duration::from_secs(5));
    result.and(flushed)
}

/// Serves `/metrics`, `/_liveness` and `/_readiness`, then checks that Kafka answers.
pub async fn start(
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
    let kafka_config = common.kafka.clone();
    let brokers =
        tokio::task::spawn_blocking(move || kafka::ping(&kafka_config, Duration::from_secs(10)))
            .await
            .expect("the ping task does not panic")?;
    tracing::info!(brokers, servers = %common.kafka.bootstrap_servers, "Kafka reachable.");
    Ok(())
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

/// A service binary's `main`: `run` (default) reads the configuration (exit 78 on problems),
/// starts logging and runs `service` until SIGTERM/SIGINT; `env` prints the variable table;
/// `help` prints `usage`; anything else is a usage error (exit 2).
#[allow(missing_debug_implementations)]
pub struct ServiceMain<C> {
    /// Binary name, e.g. `risk`.
    pub name: &'static str,
    /// Name in log lines, e.g. `Risk`.
    pub title: &'static str,
    /// The usage text.
    pub usage: &'static str,
    /// Every variable the service reads.
    pub vars: fn() -> Vec<crate::config::EnvVar>,
    /// Reads the configuration.
    pub read: fn(&mut Env) -> Result<C, ConfigError>,
    /// The shared part of the configuration.
    pub common: fn(&C) -> &crate::settings::CommonConfig,
}

impl<C> ServiceMain<C> {
    /// Runs the command line; `service` is the service's `app::run`.
    pub fn run<F, Fut>(self, service: F) -> ExitCode
    where
        F: FnOnce(C, Registry, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), RuntimeError>>,
    {
        match std::env::args().nth(1).as_deref() {
            None | Some("run") => {}
            Some("env") => {
                print!("{}", crate::config::markdown_table(&(self.vars)()));
                return ExitCode::SUCCESS;
            }
            Some("-h" | "--help" | "help") => {
                println!("{}", self.usage);
                return ExitCode::SUCCESS;
            }
            Some(other) => {
                eprintln!("unknown command {other:?}\n\n{}", self.usage);
                return ExitCode::from(2);
            }
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
