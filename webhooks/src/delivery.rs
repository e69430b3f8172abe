//! Attempts over HTTP (the edge): a scheduler that holds every pending delivery until it is
//! due and attempts it, at most `WEBHOOKS_CONCURRENCY` at once and `WEBHOOKS_ENDPOINT_CONCURRENCY`
//! per endpoint — so a slow or dead endpoint only ever holds its own share — and reports each
//! attempt's result back to the dispatcher, which owns the state and decides what comes next.
//!
//! Addresses are checked where the connection is made: the resolver refuses names that
//! resolve to loopback, private or link-local addresses unless allowed, so a name cannot pass
//! a check and then connect elsewhere. Each attempt has one timeout for everything (connect,
//! TLS, answer) and reads at most `WEBHOOKS_RESPONSE_BYTES_MAX` of the answer.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use reference::ReferenceData;
use runtime::SecretBytes;
use schemas::webhook::{AttemptOutcome, PendingDelivery};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::DeliverySettings;
use crate::retry::RetryPolicy;
use crate::signing::EndpointSecret;
use crate::target;

/// Resolves like the system, refusing addresses deliveries may not go to.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    allow_private: bool,
}

/// Marks a refused target in the connect error chain.
#[derive(Debug)]
struct RefusedTarget(String);

impl std::fmt::Display for RefusedTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedTarget {}

type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>>;

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ips: Vec<_> = addresses.iter().map(SocketAddr::ip).collect();
            target::check(&host, &ips, allow_private)
                .map_err(|refused| std::io::Error::other(RefusedTarget(refused.0)))?;
            Ok(addresses.into_iter())
        })
    }
}

/// The HTTP(S) client deliveries use.
pub type HttpClient =
    Client<hyper_tls::HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// A client over the guarded resolver, HTTP and HTTPS (the system's trust store).
pub fn client(settings: &DeliverySettings) -> HttpClient {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver {
        allow_private: settings.allow_private,
    });
    http.enforce_http(false);
    http.set_connect_timeout(Some(settings.timeout));
    let https = hyper_tls::HttpsConnector::new_with_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .build(https)
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// HTTP status, 0 without an answer.
    pub status_code: i32,
    /// Time taken.
    pub latency_ms: i64,
    /// Why it failed.
    pub error: Option<String>,
}

fn refused_in_chain(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<RefusedTarget>() {
            return Some(refused.0.clone());
        }
        current = e.source();
    }
    None
}

/// POSTs `body` to `url` with `headers`; 2xx is delivered, anything else a failure.
pub async fn attempt(
    client: &HttpClient,
    settings: &DeliverySettings,
    url: &str,
    headers: &[(&'static str, String)],
    body: &str,
) -> AttemptResult {
    let started = Instant::now();
    let finish = |outcome, status_code: u16, error: Option<String>| AttemptResult {
        outcome,
        status_code: i32::from(status_code),
        latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        error,
    };
    let mut request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("user-agent", "attrib-webhooks/1");
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let request = match request.body(Full::new(Bytes::from(body.to_string()))) {
        Ok(r) => r,
        Err(e) => return finish(AttemptOutcome::Failed, 0, Some(format!("bad request: {e}"))),
    };
    let exchange = async {
        let response = client.request(request).await?;
        let status = response.status();
        // Read (a bounded part of) the answer so the connection can be reused.
        let body = Limited::new(response.into_body(), settings.response_bytes_max)
            .collect()
            .await
            .map(|b| b.to_bytes().len())
            .unwrap_or(0);
        Ok::<_, hyper_util::client::legacy::Error>((status, body))
    };
    match tokio::time::timeout(settings.timeout, exchange).await {
        Err(_) => finish(
            AttemptOutcome::TimedOut,
            0,
            Some(format!(
                "no answer within {} ms",
                settings.timeout.as_millis()
            )),
        ),
        Ok(Err(e)) => match refused_in_chain(&e) {
            Some(why) => finish(AttemptOutcome::RefusedTarget, 0, Some(why)),
            None => {
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    why = format!("{why}: {s}");
                    source = s.source();
                }
                finish(AttemptOutcome::Failed, 0, Some(why))
            }
        },
        Ok(Ok((status, _))) if status.is_success() => {
            finish(AttemptOutcome::Delivered, status.as_u16(), None)
        }
        Ok(Ok((status, _))) => finish(
            AttemptOutcome::Failed,
            status.as_u16(),
            Some(format!("answered {status}")),
        ),
    }
}

/// One attempt of `d` to its endpoint as the reference data has it now.
async fn send(
    client: &HttpClient,
    settings: &DeliverySettings,
    reference: &ReferenceData,
    key: &[u8],
    d: &PendingDelivery,
) -> (DateTime<Utc>, AttemptResult) {
    let endpoint = reference
        .read()
        .webhook_endpoints()
        .find(|e| e.endpoint_id == d.endpoint_id)
        .cloned();
    let attempted_at = Utc::now();
    let result = match endpoint {
        Some(e) if e.enabled => {
            let secret = EndpointSecret::derive(key, &e.endpoint_id, e.secret_version);
            let mut headers = secret
                .headers(&d.delivery_id, attempted_at.timestamp(), d.body.as_bytes())
                .to_vec();
            headers.push(("webhook-sequence", d.sequence.to_string()));
            attempt(client, settings, &e.url, &headers, &d.body).await
        }
        _ => AttemptResult {
            outcome: AttemptOutcome::Failed,
            status_code: 0,
            latency_ms: 0,
            error: Some("the endpoint is no longer configured or is disabled".into()),
        },
    };
    (attempted_at, result)
}

/// A delivery to attempt when due.
#[derive(Debug, Clone)]
pub struct Job {
    /// The outbox partition whose state holds it.
    pub partition: i32,
    /// The delivery, with its attempt count and due time.
    pub delivery: PendingDelivery,
    /// Cancelled when the partition is revoked (another instance owns it now).
    pub cancelled: CancellationToken,
}

/// An attempt's result, for the dispatcher.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Partition.
    pub partition: i32,
    /// Delivery.
    pub delivery_id: String,
    /// Which attempt (1 for the first).
    pub attempt: i32,
    /// When it was made.
    pub attempted_at: DateTime<Utc>,
    /// Its result.
    pub result: AttemptResult,
}

/// Starts the scheduler; jobs go in, outcomes come out. A job is attempted when due and, while
/// it fails within `retry`'s horizon, again on the retry schedule — here, so retries keep time
/// whatever the dispatcher is busy with; the dispatcher records each outcome in the state
/// (what a restore resumes from) and dead-letters a delivery whose last attempt failed.
pub fn spawn_scheduler(
    settings: DeliverySettings,
    retry: RetryPolicy,
    reference: Arc<ReferenceData>,
    signing_key: SecretBytes,
    outcomes: mpsc::UnboundedSender<Outcome>,
    shutdown: CancellationToken,
) -> mpsc::UnboundedSender<Job> {
    let (jobs_tx, mut jobs) = mpsc::unbounded_channel::<Job>();
    let client = client(&settings);
    let all = Arc::new(Semaphore::new(settings.concurrency));
    let per_endpoint: Arc<Mutex<HashMap<String, Arc<Semaphore>>>> = Arc::default();
    let settings = Arc::new(settings);
    let signing_key = Arc::new(signing_key);
    tokio::spawn(async move {
        loop {
            let job = tokio::select! {
                () = shutdown.cancelled() => break,
                job = jobs.recv() => match job { Some(job) => job, None => break },
            };
            let endpoint_slots = {
                let mut map = per_endpoint
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                Arc::clone(
                    map.entry(job.delivery.endpoint_id.clone())
                        .or_insert_with(|| Arc::new(Semaphore::new(settings.endpoint_concurrency))),
                )
            };
            let (client, settings, reference, key, all, outcomes, shutdown) = (
                client.clone(),
                Arc::clone(&settings),
                Arc::clone(&reference),
                Arc::clone(&signing_key),
                Arc::clone(&all),
                outcomes.clone(),
                shutdown.clone(),
            );
            tokio::spawn(async move {
                let mut d = job.delivery;
                loop {
                    let wait = (d.next_attempt_at - Utc::now())
                        .to_std()
                        .unwrap_or_default();
                    tokio::select! {
                        () = job.cancelled.cancelled() => return,
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                    let result = {
                        let Ok(_endpoint_slot) = Arc::clone(&endpoint_slots).acquire_owned().await
                        else {
                            return;
                        };
                        let Ok(_slot) = Arc::clone(&all).acquire_owned().await else {
                            return;
                        };
                        if job.cancelled.is_cancelled() {
                            return;
                        }
                        send(&client, &settings, &reference, key.expose(), &d).await
                    };
                    let (attempted_at, result) = result;
                    let delivered = result.outcome == AttemptOutcome::Delivered;
                    let sent = outcomes.send(Outcome {
                        partition: job.partition,
                        delivery_id: d.delivery_id.clone(),
                        attempt: d.attempts + 1,
                        attempted_at,
                        result,
                    });
                    if delivered || sent.is_err() {
                        return;
                    }
                    d.attempts += 1;
                    let attempts = u32::try_from(d.attempts).unwrap_or(u32::MAX);
                    match retry.next_attempt(&d.delivery_id, d.created_at, attempts, attempted_at) {
                        Some(next) => d.next_attempt_at = next,
                        None => return, // past the horizon: the dispatcher dead-letters it
                    }
                }
            });
        }
    });
    jobs_tx
}
