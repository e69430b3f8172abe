//! `bench_collector [EVENTS] [BATCH] [CONCURRENCY]`: the collector's throughput and latency on
//! the local stack (defaults: 200,000 click events in batches of 100, 8 concurrent clients).
//!
//! In one run, on fresh topics: the **baseline** writes the same events in the same batches
//! straight to the broker with the collector's producer settings, each batch waiting for its
//! acknowledgements (what the collector must do at the least); then the `collector` binary of
//! this profile takes them as `POST /v1/events` JSON batches from CONCURRENCY clients on kept-
//! alive connections; then single-event requests (the real-time case). Prints events/s and
//! request p50/p99 for each, and the collector's CPU per event and RSS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use runtime::kafka::{await_delivery, Output, Producer};
use tests::{
    binary, free_port, http_get, publish_reference, service_env, unique_namespace, ServiceProcess,
};

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn click(i: usize) -> String {
    let at = (chrono::Utc::now() - chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!(
        r#"{{"kind":"click","event_id":"b-{i}","occurred_at":"{at}","visitor_id":"v-{}","url":"https://shop.bench.example/product/{}?utm_source=newsletter&utm_medium=email&ref=p-{}","link_id":"l-{}","ip":"203.0.113.{}","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"}}"#,
        i % 50_000,
        i % 997,
        i % 100,
        i % 100,
        i % 250
    )
}

fn pct(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, events: usize, wall: f64, mut took: Vec<Duration>) {
    took.sort();
    println!(
        "{name:<44} {:>10.0} {:>9.1} {:>9.1} {:>9.1}",
        events as f64 / wall,
        pct(&took, 0.50),
        pct(&took, 0.99),
        pct(&took, 1.0)
    );
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// `concurrency` clients, each on its own kept-alive connection, posting their share of
/// `bodies` one after another; the wall time and every request's latency.
async fn clients<F, Fut>(
    concurrency: usize,
    bodies: Arc<Vec<String>>,
    post: F,
) -> Result<(f64, Vec<Duration>)>
where
    F: Fn(HttpClient, String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let began = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (bodies, post) = (Arc::clone(&bodies), post.clone());
        tasks.push(tokio::spawn(async move {
            let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
            let mut took = Vec::new();
            for body in bodies.iter().skip(c).step_by(concurrency) {
                let t = Instant::now();
                post(client.clone(), body.clone()).await?;
                took.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(took)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((began.elapsed().as_secs_f64(), all))
}

fn main() -> Result<()> {
    let (events, batch, concurrency) = (arg(1, 200_000), arg(2, 100).max(1), arg(3, 8).max(1));
    tests::require_broker();
    let namespace = unique_namespace("bench-collector");
    let key = runtime::api_key::issue("wk", &runtime::api_key::random_bytes::<40>()?);
    let (port, admin) = (free_port(), free_port());
    let mut env = service_env(&namespace, &[]);
    env.insert("COLLECTOR_LISTEN_ADDR".into(), format!("127.0.0.1:{port}"));
    env.insert("ADMIN_LISTEN_ADDR".into(), format!("127.0.0.1:{admin}"));
    env.insert(
        "COLLECTOR_BATCH_EVENTS_MAX".into(),
        batch.max(1000).to_string(),
    );
    env.insert("KAFKA_TOPIC_PARTITIONS".into(), "4".into());
    let reference = format!(
        "[[programs]]\nid = \"bench-us\"\nbrand = \"Bench\"\ndomains = [\"shop.bench.example\"]\ncurrency = \"USD\"\n\n\
         [[write_keys]]\nid = \"{}\"\nprogram = \"bench-us\"\nsecret_sha256 = \"{}\"\n",
        key.id, key.secret_sha256
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(publish_reference(&env, &reference))?;
    let bodies: Arc<Vec<String>> = Arc::new(
        (0..events.div_ceil(batch))
            .map(|b| {
                let items: Vec<String> = (b * batch..((b + 1) * batch).min(events))
                    .map(click)
                    .collect();
                format!("[{}]", items.join(","))
            })
            .collect(),
    );
    println!(
        "{events} click events (~{} bytes each), batches of {batch}, {concurrency} concurrent clients; tansu (sqlite) on this machine, 4 partitions",
        click(0).len()
    );
    println!(
        "producer: acks=all, linger.ms=5, no idempotence (the collector's); each request/batch waits for its acknowledgements\n"
    );
    println!(
        "{:<44} {:>10} {:>9} {:>9} {:>9}",
        "run", "events/s", "p50 ms", "p99 ms", "max ms"
    );

    // Baseline: the same batches straight to the broker.
    let mut reader = runtime::Env::from_map(env.clone());
    let common = runtime::CommonConfig::from_env(&mut reader, "bench", "127.0.0.1:0");
    let topic: Arc<str> = Arc::from(format!("{namespace}.baseline.raw.v1").as_str());
    runtime.block_on(tests::create_topics(&[&topic]))?;
    let producer = Producer::at_least_once(&common.kafka, "bench-baseline")?;
    let (wall, took) = runtime.block_on(async {
        let began = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..concurrency {
            let (bodies, producer, topic) =
                (Arc::clone(&bodies), producer.clone(), Arc::clone(&topic));
            tasks.push(tokio::spawn(async move {
                let mut took = Vec::new();
                for body in bodies.iter().skip(c).step_by(concurrency) {
                    let values: Vec<serde_json::Value> = serde_json::from_str(body)?;
                    let t = Instant::now();
                    let mut pending = Vec::new();
                    for v in values {
                        let key = v["visitor_id"].as_str().map(|k| k.as_bytes().to_vec());
                        let output =
                            Output::keyed(Arc::clone(&topic), key, serde_json::to_vec(&v)?);
                        pending.push(producer.enqueue(&output).await?);
                    }
                    for delivery in pending {
                        await_delivery(&topic, delivery).await?;
                    }
                    took.push(t.elapsed());
                }
                Ok::<_, anyhow::Error>(took)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        Ok::<_, anyhow::Error>((began.elapsed().as_secs_f64(), all))
    })?;
    report("baseline: produce directly, per batch", events, wall, took);

    let collector = ServiceProcess::start(&binary("collector"), &[], &env)?;
    let pid = collector.id().to_string();
    let started = Instant::now();
    while http_get(admin, "/_readiness").trim() != "ready" {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the collector did not get ready");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let url = format!("http://127.0.0.1:{port}/v1/events");
    let authorization = format!("Bearer {}", key.text);
    let post = move |client: HttpClient, body: String| {
        let (url, authorization) = (url.clone(), authorization.clone());
        async move {
            let request = hyper::Request::post(&url)
                .header("content-type", "application/json")
                .header("authorization", authorization)
                .body(Full::new(Bytes::from(body)))?;
            let response = client.request(request).await.context("POST /v1/events")?;
            let status = response.status().as_u16();
            let text = response.into_body().collect().await?.to_bytes();
            if status != 202 {
                bail!("{status}: {}", String::from_utf8_lossy(&text));
            }
            Ok::<_, anyhow::Error>(())
        }
    };
    let cpu_before = tests::bench::cpu_seconds(&pid).unwrap_or(0.0);
    let (wall, took) = runtime.block_on(clients(concurrency, Arc::clone(&bodies), post.clone()))?;
    let cpu = tests::bench::cpu_seconds(&pid).unwrap_or(0.0) - cpu_before;
    report(
        &format!("collector: POST batches of {batch}"),
        events,
        wall,
        took,
    );

    let singles = (events / 20).clamp(200, 5_000);
    let cpu_before_singles = tests::bench::cpu_seconds(&pid).unwrap_or(0.0);
    let single_bodies = Arc::new((0..singles).map(|i| click(10_000_000 + i)).collect());
    let (wall, took) = runtime.block_on(clients(concurrency, single_bodies, post))?;
    let cpu_singles = tests::bench::cpu_seconds(&pid).unwrap_or(0.0) - cpu_before_singles;
    report("collector: POST one event per request", singles, wall, took);
    println!(
        "\ncollector CPU: {:.1} µs per event in batches, {:.1} µs per single-event request; RSS {:.0} MiB",
        cpu * 1e6 / events as f64,
        cpu_singles * 1e6 / singles as f64,
        tests::bench::rss_mib_of(&pid)
    );
    drop(collector);
    Ok(())
}
