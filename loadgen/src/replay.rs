//! Sends a workload to the raw topic in order, at a target rate or as fast as the broker takes
//! it, with a progress line; returns when the broker acknowledged every message.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use runtime::kafka::{await_delivery, Output, Producer};
use runtime::settings::KafkaConfig;

use crate::generate::Message;

/// How to replay.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Messages per second; `None` sends as fast as possible.
    pub rate: Option<f64>,
    /// Print a progress line to stderr about once a second.
    pub progress: bool,
}

/// What a replay did.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// When each message was handed to the client (index = message index).
    pub sent_at: Vec<SystemTime>,
    /// Wall time of the whole replay, acknowledgements included.
    pub elapsed: Duration,
}

/// How many times a replay rewinds after failed deliveries before it gives up.
const REWINDS: u32 = 5;

/// Sends `messages` to `topic` with an idempotent producer named `client_id`. When deliveries
/// fail (the broker was down longer than the delivery timeout), it rewinds to the first
/// undelivered message and sends again from there in order, with a new producer (a restarted
/// broker may refuse the old one's sequence numbers), as a producer with at-least-once delivery
/// does: per-key order holds, and what reaches the broker twice is absorbed by the pipeline's
/// de-duplication.
pub async fn replay(
    kafka: &KafkaConfig,
    client_id: &str,
    topic: &str,
    messages: &[Message],
    pace: Pace,
) -> Result<Replayed> {
    let topic: Arc<str> = Arc::from(topic);
    let mut producer = Producer::new(kafka, client_id)?;
    let started = Instant::now();
    let mut sent_at = Vec::with_capacity(messages.len());
    let mut pending = Vec::with_capacity(4096);
    let mut last_report = Instant::now();
    let mut rewinds = 0;
    let mut i = 0;
    while i < messages.len() {
        if let Some(rate) = pace.rate.filter(|r| *r > 0.0) {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if due > now + Duration::from_millis(1) {
                tokio::time::sleep(due - now).await;
            }
        }
        let message = &messages[i];
        let output = Output::keyed(
            Arc::clone(&topic),
            message.key.as_ref().map(|k| k.as_bytes().to_vec()),
            message.payload.as_bytes().to_vec(),
        );
        if i == sent_at.len() {
            sent_at.push(SystemTime::now());
        }
        pending.push((i, producer.enqueue(&output).await?));
        i += 1;
        if pending.len() >= 4096 || i == messages.len() {
            if let Some(first) = settle(&topic, &mut pending, &mut rewinds).await? {
                i = first;
                producer = Producer::new(kafka, client_id)?;
            }
        }
        if pace.progress && last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            report(i, messages.len(), started.elapsed());
        }
    }
    if pace.progress {
        report(messages.len(), messages.len(), started.elapsed());
        eprintln!();
    }
    Ok(Replayed {
        sent_at,
        elapsed: started.elapsed(),
    })
}

/// Waits for every pending delivery; returns the first undelivered index to rewind to, if any.
async fn settle(
    topic: &str,
    pending: &mut Vec<(usize, rdkafka::producer::DeliveryFuture)>,
    rewinds: &mut u32,
) -> Result<Option<usize>> {
    let mut first_failed: Option<(usize, runtime::RuntimeError)> = None;
    for (index, delivery) in pending.drain(..) {
        if let Err(error) = await_delivery(topic, delivery).await {
            if first_failed.as_ref().is_none_or(|(i, _)| index < *i) {
                first_failed = Some((index, error));
            }
        }
    }
    let Some((index, error)) = first_failed else {
        return Ok(None);
    };
    *rewinds += 1;
    if *rewinds > REWINDS {
        return Err(anyhow::Error::new(error).context(format!(
            "message {index} still undelivered after {REWINDS} rewinds"
        )));
    }
    eprintln!("\nreplay: delivery failed ({error}); sending again from message {index}");
    Ok(Some(index))
}

fn report(done: usize, total: usize, elapsed: Duration) {
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    let percent = done * 100 / total.max(1);
    let width = 30;
    let filled = width * done / total.max(1);
    eprint!(
        "\r  [{}{}] {done:>9} / {total} messages ({percent:>3}%)  {rate:>8.0} msg/s  ",
        "#".repeat(filled),
        ".".repeat(width - filled)
    );
    // Progress is best effort: a closed stderr must not stop the replay.
    std::io::stderr().flush().ok();
}
