//! The running collector: admin server and Kafka (the shared service start), the reference
//! data (write keys), then the HTTP listener until shutdown.

use std::sync::Arc;

use ingest::pii::{IpMode, IpPolicy};
use ingest::process::Rules;
use prometheus::Registry;
use runtime::kafka::Cleanup;
use runtime::service::{Service, Topic};
use runtime::RuntimeError;
use tokio_util::sync::CancellationToken;

use crate::batch::Limits;
use crate::config::CollectorConfig;
use crate::http::{router, AppState};
use crate::metrics::CollectorMetrics;

fn io(context: String) -> impl FnOnce(std::io::Error) -> RuntimeError {
    move |error| RuntimeError::Io { context, error }
}

/// Serves the collector until `shutdown`; ready once the reference data (the write keys) is
/// loaded and the listener is bound. In-flight requests finish before it returns.
pub async fn run(
    config: CollectorConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let t = &config.common.topics;
    let service = Service::start(
        "collector",
        &config.common,
        registry,
        shutdown,
        &[
            Topic::Stream(&t.touchpoints_raw, Cleanup::Delete),
            Topic::Reference(&t.reference_config),
        ],
    )
    .await?;
    let metrics =
        CollectorMetrics::register(service.registry()).map_err(|e| RuntimeError::Sink {
            store: "metrics",
            detail: e.to_string(),
        })?;
    let Some(reference) = reference::follow::follow(&service).await? else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(io(format!(
            "cannot bind the collector to {}",
            config.listen
        )))?;
    let bound = listener
        .local_addr()
        .map_err(io("the collector's address".into()))?;
    let state = AppState {
        reference: Arc::clone(&reference),
        // Raw events are de-duplicated by event_id in ingest, so the collector, which must
        // outlive broker restarts, produces without idempotence (Producer::at_least_once).
        producer: runtime::Producer::at_least_once(&config.common.kafka, "collector-raw")?,
        raw_topic: Arc::from(t.touchpoints_raw.as_str()),
        limits: Limits {
            events_max: config.events_max,
            rules: Rules {
                message_bytes_max: config.event_bytes_max,
                future_skew: chrono::Duration::from_std(config.future_skew).unwrap_or_default(),
                // Validation only: the IP is parsed to be checked; what is kept of it is
                // ingest's decision, from the event as forwarded.
                ip_policy: IpPolicy::new(IpMode::Drop, &[]),
            },
        },
        body_bytes_max: config.body_bytes_max,
        ack_timeout: config.common.kafka.delivery_timeout,
        stripe: config.stripe.clone(),
        metrics,
    };
    service.health().set_ready(true);
    tracing::info!(address = %bound, topic = %t.touchpoints_raw, "Collector listening.");
    let stopping = service.shutdown().clone();
    let health = service.health().clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            stopping.cancelled().await;
            health.begin_shutdown();
        })
        .await
        .map_err(io("serving the collector".into()))?;
    // Every answered request was acknowledged already; nothing is left to flush.
    Ok(())
}
