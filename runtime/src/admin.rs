//! The admin HTTP server: `/metrics` (Prometheus text), `/_liveness`, `/_readiness`.
//! It runs on its own port so probes and scrapes never queue behind data traffic.

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::health::Health;

/// Binds the admin address and serves until `shutdown` is cancelled. Returns the bound
/// address (useful when the configured port is 0).
pub async fn spawn(
    addr: SocketAddr,
    registry: Registry,
    health: Health,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "Admin server accept failed.");
                        continue;
                    }
                },
            };
            let registry = registry.clone();
            let health = health.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let response = route(&req, &registry, &health);
                    async move { Ok::<_, Infallible>(response) }
                });
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, "Admin connection ended with an error.");
                }
            });
        }
    });
    Ok(bound)
}

fn route<B>(req: &Request<B>, registry: &Registry, health: &Health) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match req.uri().path() {
        "/metrics" => {
            let mut body = Vec::new();
            let encoder = TextEncoder::new();
            match encoder.encode(&registry.gather(), &mut body) {
                Ok(()) => Response::builder()
                    .header("content-type", encoder.format_type())
                    .body(Full::new(Bytes::from(body)))
                    .expect("static response parts are valid"),
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
            }
        }
        "/_liveness" => {
            let live = health.liveness();
            let status = if live.alive {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            text(status, live.report)
        }
        "/_readiness" => {
            if health.is_ready() {
                text(StatusCode::OK, "ready\n".into())
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n".into())
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "try /metrics, /_liveness or /_readiness\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}
