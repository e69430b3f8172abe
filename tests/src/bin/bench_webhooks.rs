//! `bench_webhooks [ENTRIES] [ENDPOINTS] [RATE]`: the webhooks service's latency and cost on
//! the local stack (defaults: 5,000 ledger entries over 20 partners, 4 program endpoints, 500
//! entries/s).
//!
//! In one run, on fresh topics: the **baseline** is a plain consumer of the ledger entries
//! topic (producer to consumer: the floor of anything that reads the ledger); then the
//! `webhooks` binary of this profile with an in-process HTTP receiver that answers 200 at once
//! and verifies nothing. Each entry is stamped with the time it was produced; the receiver
//! records when each delivery arrived. Prints deliveries/s, ledger entry → delivery p50/p99,
//! and the service's CPU per delivery and RSS.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use schemas::ledger::{EntryKind, LedgerStatus};
use tests::{
    binary, free_port, http_get, publish_reference, service_env, unique_namespace, ServiceProcess,
};

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn report(name: &str, count: usize, wall: f64, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{name:<46} {:>8} {:>10.0} {:>9.1} {:>9.1} {:>9.1}",
        count,
        count as f64 / wall,
        pct(&ms, 0.50),
        pct(&ms, 0.99),
        pct(&ms, 1.0)
    );
}

/// Receives deliveries: entry id → arrival time (ms since the epoch).
async fn serve(port: u16, seen: Arc<Mutex<HashMap<(String, String), i64>>>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let seen = Arc::clone(&seen);
                async move {
                    let endpoint = request
                        .uri()
                        .path()
                        .rsplit('/')
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let body = request
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let arrived = Utc::now().timestamp_millis();
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                        if let Some(entry) = v["data"]["entry_id"].as_str() {
                            seen.lock()
                                .expect("lock")
                                .entry((endpoint, entry.to_string()))
                                .or_insert(arrived);
                        }
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                }
            });
            let _served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn main() -> Result<()> {
    let (entries, endpoints, rate) = (arg(1, 5_000), arg(2, 4).max(1), arg(3, 500).max(1));
    tests::require_broker();
    let namespace = unique_namespace("bench-webhooks");
    let (receiver, admin) = (free_port(), free_port());
    let admin_addr = format!("127.0.0.1:{admin}");
    let env = service_env(
        &namespace,
        &[
            (
                "WEBHOOKS_SIGNING_KEY",
                "CQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJyg=",
            ),
            ("WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true"),
            ("ADMIN_LISTEN_ADDR", &admin_addr),
            ("KAFKA_TOPIC_PARTITIONS", "4"),
            ("LOG_LEVEL", "error"),
        ],
    );
    let mut reference = String::from("[[programs]]\nid = \"bench-eu\"\nbrand = \"Bench\"\ndomains = [\"bench.example\"]\ncurrency = \"EUR\"\n");
    for e in 0..endpoints {
        reference.push_str(&format!(
            "\n[[webhooks]]\nid = \"e-{e}\"\nprogram = \"bench-eu\"\nurl = \"http://127.0.0.1:{receiver}/hooks/e-{e}\"\n"
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(publish_reference(&env, &reference))?;
    let seen: Arc<Mutex<HashMap<(String, String), i64>>> = Arc::default();
    runtime.spawn(serve(receiver, Arc::clone(&seen)));
    let topic = format!("{namespace}.ledger.entries.v1");
    runtime.block_on(tests::create_topics(&[&topic]))?;

    let webhooks = ServiceProcess::start(&binary("webhooks"), &[], &env)?;
    let pid = webhooks.id().to_string();
    let started = Instant::now();
    while http_get(admin, "/_readiness").trim() != "ready" {
        if started.elapsed() > Duration::from_secs(120) {
            bail!("webhooks did not get ready");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The baseline reads the same topic with a plain consumer, from the end.
    // A StreamConsumer is made inside the runtime (it spawns onto it).
    let _inside = runtime.enter();
    let consumer: rdkafka::consumer::StreamConsumer = tests::client_config()
        .set("group.id", format!("{namespace}-baseline"))
        .set("auto.offset.reset", "latest")
        .create()?;
    consumer.subscribe(&[&topic])?;
    let joined = Instant::now();
    runtime.block_on(async {
        // Assigned before the first entry is sent, so the baseline sees every one.
        while consumer.assignment().map(|a| a.count()).unwrap_or(0) == 0
            && joined.elapsed() < Duration::from_secs(30)
        {
            let _polled = tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await;
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    println!(
        "{entries} ledger entries at {rate}/s over 20 partners, {endpoints} program endpoints (each gets every entry); tansu (sqlite), 4 partitions, receiver answers 200 at once\n"
    );
    println!(
        "{:<46} {:>8} {:>10} {:>9} {:>9} {:>9}",
        "run", "count", "per s", "p50 ms", "p99 ms", "max ms"
    );
    let cpu_before = tests::bench::cpu_seconds(&pid).unwrap_or(0.0);
    let produced_at: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let began = Instant::now();
    let (baseline, wall_base) = runtime.block_on(async {
        let producer = tests::producer();
        let stamps = Arc::clone(&produced_at);
        let topic2 = topic.clone();
        let sending = tokio::spawn(async move {
            let tick = Duration::from_secs_f64(1.0 / rate as f64);
            let paced = Instant::now();
            let mut pending = Vec::with_capacity(entries);
            for i in 0..entries {
                let mut e = schemas::examples::ledger_entry();
                e.entry_id = format!("ent-{i}");
                e.commission_id = format!("com-{i}");
                e.partner_id = format!("p-{}", i % 20);
                e.program_id = "bench-eu".into();
                e.from_status = Some(LedgerStatus::Pending);
                e.to_status = LedgerStatus::Approved;
                e.entry_kind = EntryKind::StatusChange;
                let now = Utc::now();
                e.recorded_at = now;
                stamps
                    .lock()
                    .expect("lock")
                    .insert(e.entry_id.clone(), now.timestamp_millis());
                let payload = schemas::encode(&e)?;
                // Not awaited here: the entries go out at the rate, acknowledged meanwhile.
                let delivery = producer
                    .send_result(
                        rdkafka::producer::FutureRecord::to(&topic2)
                            .key(e.partner_id.as_bytes())
                            .payload(&payload),
                    )
                    .map_err(|(e, _)| anyhow::anyhow!("{e}"))?;
                pending.push(delivery);
                let due = paced + tick * (i as u32 + 1);
                tokio::time::sleep_until(due.into()).await;
            }
            for delivery in pending {
                let _acknowledged = delivery.await;
            }
            Ok::<_, anyhow::Error>(())
        });
        let mut latencies = Vec::new();
        while latencies.len() < entries {
            let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await
            else {
                break;
            };
            let arrived = Utc::now().timestamp_millis();
            if let Ok(e) = schemas::decode::<schemas::LedgerEntry>(m.payload().unwrap_or_default())
            {
                latencies.push((arrived - e.recorded_at.timestamp_millis()) as f64);
            }
        }
        sending.await??;
        Ok::<_, anyhow::Error>((latencies, began.elapsed().as_secs_f64()))
    })?;
    report(
        "baseline: plain consumer, produce → consume",
        baseline.len(),
        wall_base,
        baseline,
    );

    let want = entries * endpoints;
    while seen.lock().expect("lock").len() < want && began.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let wall = began.elapsed().as_secs_f64();
    let cpu = tests::bench::cpu_seconds(&pid).unwrap_or(0.0) - cpu_before;
    let stamps = produced_at.lock().expect("lock").clone();
    let delivered: Vec<f64> = seen
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|((_, entry), arrived)| stamps.get(entry).map(|p| (arrived - p) as f64))
        .collect();
    let count = delivered.len();
    report(
        "webhooks: ledger entry → delivery received",
        count,
        wall,
        delivered,
    );
    println!(
        "\nwebhooks CPU: {:.0} µs per delivery (router, dispatcher, signing, HTTP); RSS {:.0} MiB; {} of {want} deliveries arrived",
        cpu * 1e6 / count.max(1) as f64,
        tests::bench::rss_mib_of(&pid),
        count
    );
    drop(webhooks);
    Ok(())
}
