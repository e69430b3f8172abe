//! The HTTP edge: routes, authentication, parameters, errors. Every partner route checks the
//! bearer token against the program and partner in its path before any read, and the reads
//! filter on the same ids.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use serde::Deserialize;
use serde_json::json;

use crate::store::{parse_cursor, Page, Store};
use crate::token::Scope;

/// Request metrics.
#[derive(Clone, Debug)]
pub struct ApiMetrics {
    requests: IntCounterVec,
    seconds: HistogramVec,
}

impl ApiMetrics {
    /// `partner_api_requests_total{route,status}`, `partner_api_request_seconds{route}`.
    pub fn register(registry: &Registry) -> prometheus::Result<ApiMetrics> {
        let requests = IntCounterVec::new(
            Opts::new(
                "partner_api_requests_total",
                "Requests by route and status code.",
            ),
            &["route", "status"],
        )?;
        let seconds = HistogramVec::new(
            HistogramOpts::new("partner_api_request_seconds", "Time to answer, by route.")
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5]),
            &["route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(seconds.clone()))?;
        Ok(ApiMetrics { requests, seconds })
    }
}

/// What every handler shares.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct AppState {
    /// Reads.
    pub store: Store,
    /// Where claims are recorded.
    pub claims: crate::claim_log::ClaimLog,
    /// Largest page.
    pub page_max: u32,
    /// Metrics.
    pub metrics: ApiMetrics,
}

/// An error answer: status, a stable code, and what is wrong.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.code, "message": self.message}}));
        if self.status == StatusCode::UNAUTHORIZED {
            return (
                self.status,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"partner-api\"")],
                body,
            )
                .into_response();
        }
        (self.status, body).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e.0, "ClickHouse read failed.");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the ledger database did not answer; try again",
        )
    }
}

/// The partner routes, as the OpenAPI document lists them.
pub const PARTNER_ROUTES: [&str; 7] = [
    "/v1/programs/{program}/partners/{partner}/statement",
    "/v1/programs/{program}/partners/{partner}/payouts",
    "/v1/programs/{program}/partners/{partner}/payouts/{payout}",
    "/v1/programs/{program}/partners/{partner}/risk",
    "/v1/programs/{program}/partners/{partner}/claims",
    "/v1/programs/{program}/partners/{partner}/performance",
    "/v1/programs/{program}/partners/{partner}/trust",
];

/// Routes any token of the program may read: the marketplace's discovery list.
pub const PROGRAM_ROUTES: [&str; 1] = ["/v1/programs/{program}/specialists"];

/// The operators' routes (an operator token of the program).
pub const OPERATOR_ROUTES: [&str; 2] = [
    "/v1/programs/{program}/partners",
    "/v1/programs/{program}/claims",
];

/// The API's description (OpenAPI 3.1), served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The partner portal: one page, no build step, served at `/portal`.
pub const PORTAL: &str = include_str!("../portal/index.html");

/// The router of the API.
pub fn router(state: AppState) -> Router {
    let [statement_route, payouts_route, payout_route, risk_route, claims_route, performance_route, trust_route] =
        PARTNER_ROUTES;
    Router::new()
        .route(statement_route, get(statement))
        .route(payouts_route, get(payouts))
        .route(payout_route, get(payout))
        .route(risk_route, get(risk))
        .route(claims_route, get(claims).post(claim))
        .route(performance_route, get(performance))
        .route(trust_route, get(trust))
        .route(PROGRAM_ROUTES[0], get(discovery))
        .route(OPERATOR_ROUTES[0], get(partners_by_risk))
        .route(OPERATOR_ROUTES[1], get(open_claims))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .route(
            "/v1/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route(
            "/portal",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                        // The page talks to this origin only; the token never leaves it.
                        (
                            header::CONTENT_SECURITY_POLICY,
                            "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
                        ),
                        (header::REFERRER_POLICY, "no-referrer"),
                    ],
                    PORTAL,
                )
            }),
        )
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint; the API is described at /v1/openapi.json")
        })
        .with_state(Arc::new(state))
}

/// The caller's scope, if the bearer token is valid.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Scope, ApiError> {
    let unauthenticated = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m);
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthenticated("send `Authorization: Bearer <token>`"))?
        .to_str()
        .map_err(|_| unauthenticated("the Authorization header is not text"))?;
    let token = value
        .strip_prefix("Bearer ")
        .ok_or_else(|| unauthenticated("the Authorization header must be `Bearer <token>`"))?;
    let presented = crate::token::parse(token.trim()).map_err(unauthenticated)?;
    state
        .store
        .scope_of(&presented)
        .await?
        .ok_or_else(|| unauthenticated("unknown or revoked token"))
}

/// Authenticates and checks that the token may read `partner` of `program`.
async fn partner_access(
    state: &AppState,
    headers: &HeaderMap,
    program: &str,
    partner: &str,
) -> Result<(), ApiError> {
    let scope = authenticate(state, headers).await?;
    if scope.may_read_partner(program, partner) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        match &scope {
            Scope::Partner { .. } => "this token reads its own partner's data only",
            Scope::Operator { .. } => "this token reads its own program's partners only",
        },
    ))
}

/// Runs a handler's body and records its status and time under `route`.
async fn timed(
    state: &AppState,
    route: &str,
    body: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let result = body.await;
    observe(state, route, started, &result);
    result
}

fn observe(state: &AppState, route: &str, started: Instant, result: &Result<Response, ApiError>) {
    let status = match result {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.status.as_u16(),
    };
    state
        .metrics
        .requests
        .with_label_values(&[route, &status.to_string()])
        .inc();
    state
        .metrics
        .seconds
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
}

/// Query parameters of the statement.
#[derive(Debug, Deserialize)]
struct StatementQuery {
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn instant(
    name: &str,
    value: Option<&String>,
    default: DateTime<Utc>,
) -> Result<DateTime<Utc>, ApiError> {
    match value {
        None => Ok(default),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.to_utc())
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_parameter",
                    format!(
                        "`{name}` must be an RFC 3339 instant such as 2026-06-01T00:00:00Z ({e})"
                    ),
                )
            }),
    }
}

fn limit(state: &AppState, value: Option<&String>) -> Result<u32, ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            format!(
                "`limit` must be a whole number from 1 to {}",
                state.page_max
            ),
        )
    };
    match value {
        None => Ok(100.min(state.page_max)),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=state.page_max).contains(n))
            .ok_or_else(bad),
    }
}

async fn statement(
    State(state): State<Arc<AppState>>,
    Path((program, partner)): Path<(String, String)>,
    Query(q): Query<StatementQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    timed(&state, "statement", async {
        partner_access(&state, &headers, &program, &partner).await?;
        let from = instant("from", q.from.as_ref(), DateTime::<Utc>::UNIX_EPOCH)?;
        let to = instant("to", q.to.as_ref(), Utc::now() + chrono::Duration::days(1))?;
        if from >= to {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                "`from` must be before `to`",
            ));
        }
        let after = match &q.cursor {
            None => None,
            Some(c) => Some(parse_cursor(c).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_parameter",
                    "`cursor` is not one this API gave out",
                )
            })?),
        };
        let page = Page {
            from,
            to,
            after,
            limit: limit(&state, q.limit.as_ref())?,
        };
        Ok(Json(state.store.statement(&program, &partner, &page).await?).into_response())
    })
    .await
}

/// Query parameters of the performance view.
#[derive(Debug, Deserialize)]
struct WindowQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn performance(
    State(state): State<Arc<AppState>>,
    Path((program, partner)): Path<(String, String)>,
    Query(q): Query<WindowQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    timed(&state, "performance", async {
        partner_access(&state, &headers, &program, &partner).await?;
        // Default: the last 12 months.
        let to = instant("to", q.to.as_ref(), Utc::now() + chrono::Duration::days(1))?;
        let from = instant("from", q.from.as_ref(), to - chrono::Duration::days(366))?;
        if from >= to {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                "`from` must be before `to`",
            ));
        }
        Ok(Json(
            state
                .store
                .performance(&program, &partner, from, to)
                .await?,
        )
        .into_response())
    })
    .await
}

/// Query parameters of the payout list.
#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<String>,
}

async fn payouts(
    State(state): State<Arc<AppState>>,
    Path((program, partner)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    timed(&state, "payouts", async {
        partner_access(&state, &headers, &program, &partner).await?;
        let limit = limit(&state, q.limit.as_ref())?;
        Ok(Json(state.store.payouts(&program, &partner, limit).await?).into_response())
    })
    .await
}

async fn payout(
    State(state): State<Arc<AppState>>,
    Path((program, partner, payout_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    timed(&state, "payout", async {
        partner_access(&state, &headers, &program, &partner).await?;
        match state.store.payout(&program, &partner, &payout_id).await? {
            Some(doc) => Ok(Json(doc).into_response()),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("partner {partner} has no payout {payout_id} in program {program}"),
            )),
        }
    })
    .await
}

async fn risk(
    State(state): State<Arc<AppState>>,
    Path((program, partner)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    timed(&state, "risk", async {
        partner_access(&state, &headers, &program, &partner).await?;
        Ok(Json(state.store.risk(&program, &partner).await?).into_response())
    })
    .await
}

async fn claim(
    State(state): State<Arc<AppState>>,
    Path((program, partner)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<crate::claims::ClaimBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    timed(&state, "claim", async {
        partner_access(&state, &headers, &program, &partner).await?;
        let Json(body) = body.map_err(|e| {
            // 413 too large, 415 not sent as JSON; anything else about the body is a 400,
            // like every other bad parameter of this API.
            let status = match e.status() {
                s @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => s,
                _ => StatusCode::BAD_REQUEST,
            };
            ApiError::new(
                status,
                "bad_request",
                format!(
                    "the claim must be a JSON object of at most 16 KiB: {}",
                    e.body_text()
                ),
            )
        })?;
        let order = crate::claims::parse(&body)
            .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "bad_parameter", m))?;
        let row = state.store.claim(&program, &partner, &order).await?;
        state.claims.record(&state.store, &row).await.map_err(|e| {
            tracing::error!(error = %e.0, "A claim could not be published.");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the claim could not be recorded (the event broker did not acknowledge it); send it again",
            )
        })?;
        let status = if row.status == "open" {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        Ok((status, Json(crate::views::claim(&row))).into_response())
    })
    .await
}

async fn claims(
    State(state): State<Arc<AppState>>,
    Path((program, partner)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    timed(&state, "claims", async {
        partner_access(&state, &headers, &program, &partner).await?;
        let limit = limit(&state, q.limit.as_ref())?;
        Ok(Json(state.store.claims(&program, &partner, limit).await?).into_response())
    })
    .await
}

/// Authenticates and checks that the token is an operator's of `program`.
async fn operator_access(
    state: &AppState,
    headers: &HeaderMap,
    program: &str,
) -> Result<(), ApiError> {
    if authenticate(state, headers).await?.may_operate(program) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "this needs an operator token of this program",
    ))
}

async fn trust(
    State(state): State<Arc<AppState>>,
    Path((program, partner)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    timed(&state, "trust", async {
        partner_access(&state, &headers, &program, &partner).await?;
        Ok(Json(state.store.trust(&program, &partner).await?).into_response())
    })
    .await
}

/// Discovery: any token of the program (a marketplace shows every listed specialist's
/// score and why to everyone in it).
async fn discovery(
    State(state): State<Arc<AppState>>,
    Path(program): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    timed(&state, "discovery", async {
        let scope = authenticate(&state, &headers).await?;
        if scope.program_id() != program {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this token is not for program {program}"),
            ));
        }
        let limit = limit(&state, q.limit.as_ref())?;
        Ok(Json(state.store.discovery(&program, limit).await?).into_response())
    })
    .await
}

async fn partners_by_risk(
    State(state): State<Arc<AppState>>,
    Path(program): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    timed(&state, "partners_by_risk", async {
        operator_access(&state, &headers, &program).await?;
        let limit = limit(&state, q.limit.as_ref())?;
        Ok(Json(state.store.partners_by_risk(&program, limit).await?).into_response())
    })
    .await
}

/// Query parameters of the operators' claim list.
#[derive(Debug, Deserialize)]
struct ClaimsQuery {
    status: Option<String>,
}

async fn open_claims(
    State(state): State<Arc<AppState>>,
    Path(program): Path<String>,
    Query(q): Query<ClaimsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    timed(&state, "open_claims", async {
        operator_access(&state, &headers, &program).await?;
        let status = q.status.as_deref().unwrap_or("open");
        if !["open", "answered", "resolved"].contains(&status) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                "`status` must be open, answered or resolved",
            ));
        }
        let rows = state.store.claims_with_status(&program, status).await?;
        Ok(Json(json!({
            "program_id": program,
            "claims": rows.iter().map(|r| {
                let mut c = crate::views::claim(r);
                c["partner_id"] = json!(r.partner_id);
                c
            }).collect::<Vec<_>>(),
        }))
        .into_response())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_describes_exactly_the_routes_served() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        let documented: Vec<&str> = doc["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(String::as_str)
            .collect();
        let mut served = PARTNER_ROUTES.to_vec();
        served.extend(OPERATOR_ROUTES);
        served.extend(PROGRAM_ROUTES);
        served.sort_unstable();
        let mut documented_sorted = documented.clone();
        documented_sorted.sort_unstable();
        assert_eq!(documented_sorted, served);
        for path in documented {
            let op = &doc["paths"][path]["get"];
            assert!(op.is_object(), "{path}: GET documented");
            if path.ends_with("/partners/{partner}/claims") {
                assert!(
                    doc["paths"][path]["post"].is_object(),
                    "{path}: POST documented"
                );
            }
            // Every `{name}` in the path is a documented path parameter.
            let params: Vec<String> = op["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .map(|p| match p["$ref"].as_str() {
                    Some(r) => {
                        doc["components"]["parameters"][r.rsplit('/').next().expect("name")].clone()
                    }
                    None => p.clone(),
                })
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().expect("name").to_string())
                .collect();
            for name in path
                .split('{')
                .skip(1)
                .map(|s| s.split('}').next().expect("closed"))
            {
                assert!(
                    params.iter().any(|p| p == name),
                    "{path}: {{{name}}} undocumented"
                );
            }
            for status in ["401", "403"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{path}: {status} documented"
                );
            }
        }
    }
}
