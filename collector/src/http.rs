//! The HTTP edge: `POST /v1/events` (write key, one event, an array or NDJSON) and
//! `POST /v1/stripe/{program}` (Stripe's signature). A request is answered 2xx only after the
//! broker acknowledged every event it accepted; otherwise 503 and the sender retries it whole
//! (events already written are repeats ingest drops by `event_id`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use reference::ReferenceData;
use runtime::api_key::PresentedKey;
use runtime::{Output, Producer};
use serde_json::{json, Value};

use crate::batch::{self, BodyError, Framing, Limits, RawMessage, Refused};
use crate::config::StripeSecrets;
use crate::metrics::CollectorMetrics;
use crate::stripe::{self, Mapped, StripeError};

/// What every handler shares.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct AppState {
    /// Write keys (reference data).
    pub reference: Arc<ReferenceData>,
    /// Writes the raw topic; its delivery timeout is the acknowledgement wait.
    pub producer: Producer,
    /// The raw topic.
    pub raw_topic: Arc<str>,
    /// Size and validation limits.
    pub limits: Limits,
    /// Largest body.
    pub body_bytes_max: usize,
    /// Longest wait for the broker (a backstop over the producer's own timeout).
    pub ack_timeout: Duration,
    /// Stripe secrets per program.
    pub stripe: StripeSecrets,
    /// Metrics.
    pub metrics: CollectorMetrics,
}

/// An error answer: status, a stable code, and what is wrong.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    refused: Vec<Refused>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            refused: Vec::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": { "code": self.code, "message": self.message } });
        if !self.refused.is_empty() {
            body["accepted"] = json!(0);
            body["refused"] = json!(self.refused);
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/events", post(events))
        .route("/v1/stripe/{program}", post(stripe_events))
        .with_state(state)
}

fn finish(
    state: &AppState,
    route: &str,
    started: Instant,
    result: Result<Response, ApiError>,
) -> Response {
    let response = result.unwrap_or_else(IntoResponse::into_response);
    state
        .metrics
        .requests
        .with_label_values(&[route, response.status().as_str()])
        .inc();
    state
        .metrics
        .seconds
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn events(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let result = accept_events(&state, &headers, body).await;
    finish(&state, "events", started, result)
}

/// The write key's program.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let unauthenticated = |why: &str| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            format!(
                "{why}: send `Authorization: Bearer wk_<id>_<secret>`, a write key of the program"
            ),
        )
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthenticated("no write key"))?;
    let text = value
        .strip_prefix("Bearer ")
        .ok_or_else(|| unauthenticated("not a bearer key"))?;
    let presented = PresentedKey::parse("wk", text.trim())
        .ok_or_else(|| unauthenticated("the key is not of the form wk_<16 hex>_<64 hex>"))?;
    let catalog = state.reference.read();
    let key = catalog
        .write_key(&presented.id)
        .filter(|k| presented.matches(&k.secret_sha256))
        .ok_or_else(|| unauthenticated("unknown or revoked write key"))?;
    Ok(key.program_id.clone())
}

async fn read_body(state: &AppState, body: Body) -> Result<Bytes, ApiError> {
    to_bytes(body, state.body_bytes_max).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body is larger than {} bytes (COLLECTOR_BODY_BYTES_MAX): split the batch",
                state.body_bytes_max
            ),
        )
    })
}

async fn accept_events(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let program = authenticate(state, headers)?;
    let body = read_body(state, body).await?;
    let framing = Framing::of_content_type(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    let sorted = batch::sort(&body, framing, &program, &state.limits, Utc::now()).map_err(|e| {
        let status = match e {
            BodyError::TooManyEvents { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Empty | BodyError::NotEvents(_) => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, "bad_body", e.to_string())
    })?;
    for refused in &sorted.refused {
        state
            .metrics
            .refused
            .with_label_values(&[refused.reason])
            .inc();
    }
    if sorted.accepted.is_empty() {
        return Err(ApiError {
            refused: sorted.refused,
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "no_valid_events",
                "no event of the request is valid; each refusal names its reason",
            )
        });
    }
    let accepted = sorted.accepted.len();
    produce(state, sorted.accepted).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": accepted, "refused": sorted.refused })),
    )
        .into_response())
}

/// Writes `messages` and waits until the broker acknowledged every one.
async fn produce(state: &AppState, messages: Vec<RawMessage>) -> Result<(), ApiError> {
    let count = messages.len();
    let outputs: Vec<Output> = messages
        .into_iter()
        .map(|m| Output::keyed(state.raw_topic.clone(), m.key, m.payload))
        .collect();
    let send = state.producer.send_all(&outputs);
    // The producer gives up at its own timeout; this backstop covers a client that hangs.
    let result = tokio::time::timeout(state.ack_timeout + Duration::from_secs(5), send).await;
    match result {
        Ok(Ok(())) => {
            state.metrics.accepted.inc_by(count as u64);
            Ok(())
        }
        failed => {
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "no acknowledgement in time".to_string(),
            };
            tracing::warn!(error = %why, events = count, "The broker did not acknowledge a request's events; answered 503.");
            state.metrics.broker_failures.inc();
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "broker_unavailable",
                "the event stream did not acknowledge the events in time; nothing of this request counts as accepted: retry it whole (events already written are dropped as repeats by event_id)",
            ))
        }
    }
}

async fn stripe_events(
    State(state): State<AppState>,
    Path(program): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let result = accept_stripe(&state, &program, &headers, body).await;
    finish(&state, "stripe", started, result)
}

async fn accept_stripe(
    state: &AppState,
    program: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let secrets = state.stripe.of(program);
    if secrets.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_stripe_intake",
            format!("program {program:?} has no Stripe intake (COLLECTOR_STRIPE_SECRETS)"),
        ));
    }
    let body = read_body(state, body).await?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let outcome = |label: &str| state.metrics.stripe.with_label_values(&[label]).inc();
    if let Err(e) = stripe::verify(signature, &body, secrets, Utc::now()) {
        outcome("bad_signature");
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_signature",
            e.to_string(),
        ));
    }
    let event = match stripe::map(&body) {
        Ok(Mapped::Event(event)) => event,
        Ok(Mapped::Ignored(why)) => {
            outcome(why);
            return Ok((
                StatusCode::OK,
                Json(json!({ "accepted": 0, "ignored": why })),
            )
                .into_response());
        }
        Err(e @ StripeError::Unreadable(_)) => {
            outcome("unreadable");
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unreadable_event",
                e.to_string(),
            ));
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_signature",
                e.to_string(),
            ))
        }
    };
    let message = batch::check(event, program, &state.limits, Utc::now()).map_err(|refused| {
        outcome("refused");
        state
            .metrics
            .refused
            .with_label_values(&[refused.reason])
            .inc();
        ApiError {
            refused: vec![refused],
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_valid_events",
                "the Stripe event maps to an event ingest would refuse",
            )
        }
    })?;
    let event_id = serde_json::from_slice::<Value>(&message.payload)
        .ok()
        .and_then(|v| {
            v.get("event_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    if let Err(e) = produce(state, vec![message]).await {
        outcome("broker_failure");
        return Err(e);
    }
    outcome("forwarded");
    Ok((
        StatusCode::OK,
        Json(json!({ "accepted": 1, "event_id": event_id })),
    )
        .into_response())
}
