//! Metrics every service's plumbing exports, named `<service>_<name>` with the unit last.
//! Service-specific metrics live in each service's own `metrics.rs`.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Batches completed (outputs acknowledged, offsets stored).
pub const BATCHES_TOTAL: &str = "batches_total";
/// Seconds from a batch's first message to its outputs being acknowledged.
pub const BATCH_DURATION_SECONDS: &str = "batch_duration_seconds";
/// Input messages read by the consumer loop.
pub const INPUT_MESSAGES_TOTAL: &str = "input_messages_total";
/// Output messages acknowledged by the broker, by topic.
pub const OUTPUT_MESSAGES_TOTAL: &str = "output_messages_total";
/// Errors returned by the consumer (broker unreachable, ...), retried.
pub const CONSUMER_ERRORS_TOTAL: &str = "consumer_errors_total";
/// Consumer lag per assigned partition, from librdkafka statistics.
pub const CONSUMER_LAG_MESSAGES: &str = "consumer_lag_messages";
/// Rebalance events by kind (assign, revoke, error).
pub const REBALANCES_TOTAL: &str = "rebalances_total";

/// Plumbing metrics of one service.
#[derive(Debug, Clone)]
pub struct LoopMetrics {
    /// See [`BATCHES_TOTAL`].
    pub batches: IntCounter,
    /// See [`BATCH_DURATION_SECONDS`].
    pub batch_duration: Histogram,
    /// See [`INPUT_MESSAGES_TOTAL`].
    pub input_messages: IntCounter,
    /// See [`OUTPUT_MESSAGES_TOTAL`].
    pub output_messages: IntCounterVec,
    /// See [`CONSUMER_ERRORS_TOTAL`].
    pub consumer_errors: IntCounter,
    /// See [`CONSUMER_LAG_MESSAGES`].
    pub consumer_lag: IntGaugeVec,
    /// See [`REBALANCES_TOTAL`].
    pub rebalances: IntCounterVec,
}

impl LoopMetrics {
    /// Creates and registers the metrics under `<service>_`.
    pub fn register(service: &str, registry: &Registry) -> prometheus::Result<LoopMetrics> {
        let name = |suffix: &str| format!("{}_{suffix}", service.replace('-', "_"));
        let metrics = LoopMetrics {
            batches: IntCounter::new(name(BATCHES_TOTAL), "Batches completed: outputs acknowledged, then offsets stored.")?,
            batch_duration: Histogram::with_opts(
                HistogramOpts::new(name(BATCH_DURATION_SECONDS), "Seconds from a batch's first message to its outputs being acknowledged.")
                    .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            )?,
            input_messages: IntCounter::new(name(INPUT_MESSAGES_TOTAL), "Input messages read by the consumer loop.")?,
            output_messages: IntCounterVec::new(
                Opts::new(name(OUTPUT_MESSAGES_TOTAL), "Output messages acknowledged by the broker."),
                &["topic"],
            )?,
            consumer_errors: IntCounter::new(name(CONSUMER_ERRORS_TOTAL), "Consumer errors (retried).")?,
            consumer_lag: IntGaugeVec::new(
                Opts::new(name(CONSUMER_LAG_MESSAGES), "Consumer lag per assigned partition from librdkafka statistics (wrong on brokers that misreport high watermarks, e.g. tansu with memory storage)."),
                &["topic", "partition"],
            )?,
            rebalances: IntCounterVec::new(
                Opts::new(
                    name(REBALANCES_TOTAL),
                    "Consumer group rebalance events: assign, revoke, error, and rejoin (one the service forced: after a broker outage or an unanswered join).",
                ),
                &["kind"],
            )?,
        };
        registry.register(Box::new(metrics.batches.clone()))?;
        registry.register(Box::new(metrics.batch_duration.clone()))?;
        registry.register(Box::new(metrics.input_messages.clone()))?;
        registry.register(Box::new(metrics.output_messages.clone()))?;
        registry.register(Box::new(metrics.consumer_errors.clone()))?;
        registry.register(Box::new(metrics.consumer_lag.clone()))?;
        registry.register(Box::new(metrics.rebalances.clone()))?;
        Ok(metrics)
    }
}
