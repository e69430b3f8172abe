//! The running API: admin server, ClickHouse, then the HTTP listener until shutdown.

use std::time::Duration;

use prometheus::Registry;
use runtime::health::Health;
use runtime::RuntimeError;
use tokio_util::sync::CancellationToken;

use crate::claim_log::ClaimLog;
use crate::config::ApiConfig;
use crate::http::{router, ApiMetrics, AppState};
use crate::store::Store;

fn io(context: String) -> impl FnOnce(std::io::Error) -> RuntimeError {
    move |error| RuntimeError::Io { context, error }
}

/// Serves the API until `shutdown`; ready once the partner database answers.
pub async fn run(
    config: ApiConfig,
    registry: Registry,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let health = Health::default();
    let admin = runtime::admin::spawn(
        config.common.admin_listen_addr,
        registry.clone(),
        health.clone(),
        shutdown.clone(),
    )
    .await
    .map_err(io(format!(
        "cannot bind the admin server to {}",
        config.common.admin_listen_addr
    )))?;
    tracing::info!(address = %admin, "Admin server listening.");
    let database = &config.clickhouse.database;
    let partner_database = ledger_writer::store::migrations::partner_database(database);
    let client =
        ledger_writer::store::connect(&config.clickhouse)?.with_database(&partner_database);
    let store = Store::new(client, database, config.token_cache);
    let metrics = ApiMetrics::register(&registry).map_err(|e| RuntimeError::Sink {
        store: "metrics",
        detail: e.to_string(),
    })?;
    // The schema is the ledger-writer's (or `partner-api token issue`'s) to create, the
    // claims topic anyone's who writes to it first; wait for both.
    let mut waited = 0u64;
    loop {
        let ready = match store.ready().await {
            Ok(()) => ClaimLog::ensure_topic(&config).await.map_err(|e| {
                format!("the claims topic {} cannot be created: {e}", config.common.topics.claims)
            }),
            Err(e) => Err(format!(
                "the partner database {partner_database} does not answer yet (migrations not applied, or ClickHouse down): {}",
                e.0
            )),
        };
        match ready {
            Ok(()) => break,
            Err(e) if waited.is_multiple_of(30) => {
                tracing::warn!(error = %e, "Not ready; waiting.")
            }
            Err(_) => {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(1)) => waited += 1,
        }
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(io(format!("cannot bind the API to {}", config.listen)))?;
    let bound = listener
        .local_addr()
        .map_err(io("the API's address".into()))?;
    health.set_ready(true);
    tracing::info!(address = %bound, database = %partner_database, "Partner API listening.");
    let app = router(AppState {
        claims: ClaimLog::new(&config)?,
        store,
        page_max: config.page_max,
        metrics,
    });
    let stopping = shutdown.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stopping.cancelled().await;
            health.begin_shutdown();
        })
        .await
        .map_err(io("serving the API".into()))
}
