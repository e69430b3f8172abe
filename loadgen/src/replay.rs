//! Sends a workload to the raw topic in order, at a target rate or as fast as the broker takes
//! it, with a progress line; returns when the broker acknowledged every message.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use runtime::kafka::{await_delivery, Output, Producer};

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

/// Sends `messages` to `topic` through `producer`.
pub async fn replay(
    producer: &Producer,
    topic: &str,
    messages: &[Message],
    pace: Pace,
) -> Result<Replayed> {
    let topic: Arc<str> = Arc::from(topic);
    let started = Instant::now();
    let mut sent_at = Vec::with_capacity(messages.len());
    let mut pending = Vec::with_capacity(4096);
    let mut last_report = Instant::now();
    for (i, message) in messages.iter().enumerate() {
        if let Some(rate) = pace.rate.filter(|r| *r > 0.0) {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if due > now + Duration::from_millis(1) {
                tokio::time::sleep(due - now).await;
            }
        }
        let output = Output::keyed(
            Arc::clone(&topic),
            message.key.as_ref().map(|k| k.as_bytes().to_vec()),
            message.payload.as_bytes().to_vec(),
        );
        sent_at.push(SystemTime::now());
        pending.push(producer.enqueue(&output).await?);
        if pending.len() >= 4096 {
            for delivery in pending.drain(..) {
                await_delivery(&topic, delivery).await?;
            }
        }
        if pace.progress && last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            report(i + 1, messages.len(), started.elapsed());
        }
    }
    for delivery in pending.drain(..) {
        await_delivery(&topic, delivery).await?;
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
