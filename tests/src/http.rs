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
    let mut headers = Vec::new();
    let authorization = token.map(|t| format!("Bearer {t}"));
    if let Some(value) = &authorization {
        headers.push(("authorization", value.as_str()));
    }
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    let payload = body.unwrap_or_default().as_bytes().to_vec();
    request(method, url, &headers, payload).await
}

/// `POST url` with `headers` and raw `body` bytes.
pub async fn post_raw(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Result<Answer> {
    request(hyper::Method::POST, url, headers, body).await
}

async fn request(
    method: hyper::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Answer> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::builder().method(method.clone()).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let payload = Full::new(Bytes::from(body));
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
