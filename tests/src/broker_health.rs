//! The broker's own health, measured from outside: a metadata round-trip every half second on
//! a client of its own. The chaos test and the broker benchmark report it next to the
//! services, so a broker that stopped answering is told apart from a pipeline fault.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;

/// How long one probe waits for the broker's answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// One probe: when it started (since the probe began) and its round-trip, `None` when the
/// broker did not answer within [`PROBE_TIMEOUT`].
type Sample = (Duration, Option<Duration>);

/// A background thread probing the broker until dropped.
#[derive(Debug)]
pub struct BrokerProbe {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the probes saw over a stretch of time.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrokerHealth {
    pub probes: usize,
    pub unanswered: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The longest run of consecutive unanswered probes, in seconds, and when it began.
    pub longest_outage_s: f64,
    pub outage_began_s: f64,
}

impl BrokerProbe {
    pub fn start(bootstrap_servers: &str) -> Self {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap_servers)
            .set("group.id", "attrib-broker-probe")
            .set("log_level", "0")
            .create()
            .expect("probe client config is valid");
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, stop) = (samples.clone(), stop.clone());
            std::thread::spawn(move || {
                let began = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let at = began.elapsed();
                    let t = Instant::now();
                    let rtt = client
                        .fetch_metadata(None, Timeout::After(PROBE_TIMEOUT))
                        .ok()
                        .map(|_| t.elapsed());
                    samples.lock().expect("not poisoned").push((at, rtt));
                    std::thread::sleep(PROBE_EVERY.saturating_sub(t.elapsed()));
                }
            })
        };
        Self {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    /// Seconds since the probe began: a mark for [`BrokerProbe::since`].
    pub fn mark(&self) -> Duration {
        self.samples
            .lock()
            .expect("not poisoned")
            .last()
            .map_or(Duration::ZERO, |(at, _)| *at)
    }

    /// Health over every probe so far.
    pub fn summary(&self) -> BrokerHealth {
        self.since(Duration::ZERO)
    }

    /// Health over the probes started at or after `mark`.
    pub fn since(&self, mark: Duration) -> BrokerHealth {
        let samples = self.samples.lock().expect("not poisoned");
        summarise(samples.iter().filter(|(at, _)| *at >= mark).copied())
    }
}

impl Drop for BrokerProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panicked probe thread only loses samples.
            drop(thread.join());
        }
    }
}

fn summarise(samples: impl Iterator<Item = Sample>) -> BrokerHealth {
    let mut health = BrokerHealth::default();
    let mut answered = Vec::new();
    let mut outage: Option<Duration> = None;
    for (at, rtt) in samples {
        health.probes += 1;
        match rtt {
            Some(rtt) => {
                answered.push(rtt.as_secs_f64() * 1e3);
                outage = None;
            }
            None => {
                health.unanswered += 1;
                let began = *outage.get_or_insert(at);
                // An unanswered probe covers its own timeout too.
                let length = (at + PROBE_TIMEOUT - began).as_secs_f64();
                if length > health.longest_outage_s {
                    health.longest_outage_s = length;
                    health.outage_began_s = began.as_secs_f64();
                }
            }
        }
    }
    answered.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        answered
            .get(((answered.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    health.p50_ms = quantile(0.5);
    health.p99_ms = quantile(0.99);
    health.max_ms = answered.last().copied().unwrap_or(0.0);
    health
}

impl BrokerHealth {
    /// True when the broker stopped answering for longer than a service tolerates at start-up
    /// (its metadata timeout is 10 s).
    pub fn had_outage(&self) -> bool {
        self.longest_outage_s >= 10.0
    }
}

impl std::fmt::Display for BrokerHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} metadata probes, {} unanswered; round-trip p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.probes, self.unanswered, self.p50_ms, self.p99_ms, self.max_ms
        )?;
        if self.unanswered > 0 {
            write!(
                f,
                "; longest silence {:.0} s from {:.0} s",
                self.longest_outage_s, self.outage_began_s
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at: u64, rtt: Option<u64>) -> Sample {
        (Duration::from_millis(at), rtt.map(Duration::from_millis))
    }

    #[test]
    fn the_longest_silence_is_the_longest_run_of_unanswered_probes() {
        let health = summarise(
            [
                s(0, Some(2)),
                s(500, None),
                s(6_000, Some(3)),
                s(7_000, None),
                s(12_000, None),
                s(17_000, None),
                s(22_000, Some(40)),
            ]
            .into_iter(),
        );
        assert_eq!(health.probes, 7);
        assert_eq!(health.unanswered, 4);
        assert_eq!(health.longest_outage_s, 15.0);
        assert_eq!(health.outage_began_s, 7.0);
        assert!(health.had_outage());
        assert_eq!(health.max_ms, 40.0);
    }

    #[test]
    fn a_broker_that_always_answers_had_no_outage() {
        let health = summarise((0..100).map(|i| s(i * 500, Some(1 + i % 3))));
        assert_eq!(health.unanswered, 0);
        assert!(!health.had_outage());
        assert_eq!(health.p50_ms, 2.0);
        assert_eq!(health.max_ms, 3.0);
    }
}
