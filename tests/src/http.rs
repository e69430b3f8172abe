//! A real HTTP client for tests of the HTTP edges (hyper's, over TCP).

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// An answer: status, the body as JSON (`Null` when it is not JSON), the body as text.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body as JSON.
    pub json: serde_json::Value,
    /// Body as text.
    pub text: String,
}

/// `GET url`, with `Authorization: Bearer <token>` when a token is given.
pub async fn get(url: &str, token: Option<&str>) -> Result<Answer> {
    send(hyper::Method::GET, url, token, None).await
}

/// `POST url` with a JSON body.
pub async fn post(url: &str, token: Option<&str>, body: &str) -> Result<Answer> {
    send(hyper::Method::POST, url, token, Some(body)).await
}

async fn send(
    method: hyper::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<Answer> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::builder().method(method.clone()).uri(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let payload = Full::new(Bytes::from(body.unwrap_or_default().to_string()));
    let response = client
        .request(request.body(payload)?)
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    Ok(Answer {
        status,
        json: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        text,
    })
}
