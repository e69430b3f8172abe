//! The start and the end every service shares: the admin server and a Kafka reachability check
//! before anything else, and `main`'s runtime, signal handling and exit status.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use prometheus::Registry;
use tokio_util::sync::CancellationToken;

use crate::error::RuntimeError;
use crate::health::Health;
use crate::kafka;
use crate::settings::CommonConfig;

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
