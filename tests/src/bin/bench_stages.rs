//! Benchmark: the pipeline's first three stages on one generated workload, each stage
//! consuming the topic the stage before it filled, each next to a pass-through over the same
//! topic in the same invocation; then the attributor's state restored in a fresh process.
//!
//!     cargo run --release -p tests --bin bench_stages -- [EVENTS] [DAYS]
//!
//! Defaults: 1,000,000 raw messages over 30 days of orders, from the load generator (journeys
//! over the sample reference data, background page views and clicks, duplicates, malformed
//! messages: the chaos test's mix). Needs the local stack (`deploy/local/stack.sh up`); the
//! figures in the README were measured with the broker on memory storage.
//!
//! Per stage it prints events/s, client CPU µs per event (this process, Kafka client threads
//! included), the broker's CPU and RSS at the end of the run; then the attributor's stored
//! touchpoints, memory per stored touchpoint and restore rate.

use attributor::app::Attributor;
use attributor::metrics::AttributorMetrics;
use enricher::app::Enricher;
use enricher::metrics::EnricherMetrics;
use prometheus::Registry;
use reference::{Catalog, ReferenceData};
use runtime::kafka::{self, Cleanup};
use runtime::metrics::LoopMetrics;
use schemas::touchpoint::IngestPath;
use tests::bench::{measure, print_header, print_row, print_summary, PassThrough};

/// Ingest, enricher and attributor on one generated workload, each next to a pass-through over
/// the same input (needs the local stack).
#[derive(Debug, clap::Parser)]
#[command(name = "bench_stages", version)]
struct Cli {
    /// Raw messages to generate
    #[arg(default_value_t = 1_000_000)]
    events: usize,
    /// Days of orders the workload spans
    #[arg(default_value_t = 30)]
    days: i64,
}

fn sample_catalog() -> anyhow::Result<Catalog> {
    Ok(Catalog::from_set(&tests::pipeline::sample_reference()?))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // The restore run is this binary started again by itself (not for people).
    if std::env::args().nth(1).as_deref() == Some("restore") {
        let args: Vec<String> = std::env::args().skip(2).collect();
        return tests::bench::restore_attributor(&args[0], &args[1], &sample_catalog()?);
    }
    let Cli { events, days } = clap::Parser::parse();
    tests::require_broker();

    let (set, workload) = tests::pipeline::sample_workload(23, events, days)?;
    let raw: Vec<(Option<Vec<u8>>, Vec<u8>)> = workload
        .messages
        .iter()
        .map(|m| {
            (
                m.key.clone().map(String::into_bytes),
                m.payload.clone().into_bytes(),
            )
        })
        .collect();
    let orders = workload.expected.orders.len();
    drop(workload);
    let reference = ReferenceData::preloaded(Catalog::from_set(&set));

    let ns = tests::unique_namespace("bench-stages");
    let env = tests::service_env(
        &ns,
        &[
            ("LOG_LEVEL", "error"),
            ("BATCH_MESSAGES_MAX", "5000"),
            // The benchmark measures processing, not the quiet-partition clock.
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "0"),
        ],
    );
    let ingest_config = tests::ingest_config(&env);
    let enricher_config = tests::enricher_config(&env);
    let attributor_config = tests::attribution::attributor_config(&env);
    let common = &ingest_config.common;
    let topics = &common.topics;
    let passthrough = format!("{ns}.bench.passthrough.v1");
    kafka::ensure_topics(
        &common.kafka,
        &[
            (&topics.touchpoints_raw, Cleanup::Delete),
            (&topics.touchpoints_valid, Cleanup::Delete),
            (&topics.touchpoints_enriched, Cleanup::Delete),
            (&topics.touchpoints_dlq, Cleanup::Delete),
            (&topics.identity_bindings, Cleanup::Compact),
            (&topics.attributions, Cleanup::Delete),
            (&passthrough, Cleanup::Delete),
        ],
    )
    .await?;
    kafka::ensure_topics_partitioned(
        &common.kafka,
        &[(&topics.attributor_state, Cleanup::Compact, 3)],
    )
    .await?;

    let bytes: usize = raw.iter().map(|(_, p)| p.len()).sum();
    eprintln!(
        "producing {} raw messages to {} ...",
        raw.len(),
        topics.touchpoints_raw
    );
    tests::produce(&topics.touchpoints_raw, &raw).await?;
    let raw_count = raw.len();
    drop(raw);

    tests::bench::print_client_settings(&common.kafka);
    println!(
        "stages benchmark: {raw_count} raw messages ({:.0} bytes avg; {orders} orders over {days} days, the load generator's mix, seed 23), 3 partitions, broker {}; each stage reads the topic the one before it wrote, next to a pass-through over the same topic",
        bytes as f64 / raw_count as f64,
        tests::bootstrap_servers()
    );

    let outputs = |metrics: &LoopMetrics, topic: &str| {
        metrics.output_messages.with_label_values(&[topic]).get() as usize
    };

    // Ingest: raw → valid.
    let stage = Stage {
        common,
        passthrough: &passthrough,
        group: &ns,
    };
    let registry = Registry::new();
    let loop_metrics = LoopMetrics::register("bench", &registry)?;
    let mut ingest = ingest::app::IngestProcessor::new(
        &ingest_config,
        ingest::metrics::IngestMetrics::register(&registry)?,
        IngestPath::Stream,
    );
    stage
        .run(
            "ingest",
            &topics.touchpoints_raw,
            raw_count,
            &mut ingest,
            &loop_metrics,
        )
        .await?;
    let valid = outputs(&loop_metrics, &topics.touchpoints_valid);
    println!(
        "ingest wrote {valid} valid touchpoints and {} dead letters",
        outputs(&loop_metrics, &topics.touchpoints_dlq)
    );

    // Enricher: valid → enriched (touchpoints and the watermark records it broadcasts).
    let registry = Registry::new();
    let loop_metrics = LoopMetrics::register("bench", &registry)?;
    let mut enricher = tests::bench::stateful(
        &enricher_config.common,
        &registry,
        "enricher",
        Enricher::new(
            &enricher_config,
            reference.clone(),
            EnricherMetrics::register(&registry)?,
            3,
            3,
        ),
        &topics.touchpoints_valid,
        &topics.identity_bindings,
    )?;
    stage
        .run(
            "enricher",
            &topics.touchpoints_valid,
            valid,
            &mut enricher,
            &loop_metrics,
        )
        .await?;
    drop(enricher);
    let enriched = outputs(&loop_metrics, &topics.touchpoints_enriched);
    println!("the enricher wrote {enriched} enriched records (touchpoints and watermarks)");

    // Attributor: enriched → attributions, with its changelog.
    let registry = Registry::new();
    let loop_metrics = LoopMetrics::register("bench", &registry)?;
    let mut attributor = tests::bench::stateful(
        &attributor_config.common,
        &registry,
        "attributor",
        Attributor::new(
            &attributor_config,
            reference.clone(),
            AttributorMetrics::register(&registry)?,
        ),
        &topics.touchpoints_enriched,
        &topics.attributor_state,
    )?;
    stage
        .run(
            "attributor",
            &topics.touchpoints_enriched,
            enriched,
            &mut attributor,
            &loop_metrics,
        )
        .await?;
    drop(attributor);
    println!(
        "the attributor wrote {} attributions and {} changelog records",
        outputs(&loop_metrics, &topics.attributions),
        outputs(&loop_metrics, &topics.attributor_state)
    );

    // The state it built, restored by a fresh process as a new owner of every partition.
    println!();
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(["restore", &ns, &topics.attributor_state])
        .status()?;
    anyhow::ensure!(status.success(), "restore run failed: {status}");
    Ok(())
}

/// One stage's runs over its input topic: the pass-through, then the stage's processor, each
/// reading with a consumer group of its own from the start.
struct Stage<'a> {
    common: &'a runtime::CommonConfig,
    passthrough: &'a str,
    group: &'a str,
}

impl Stage<'_> {
    async fn run<P: runtime::Processor>(
        &self,
        name: &str,
        input: &str,
        events: usize,
        processor: &mut P,
        metrics: &LoopMetrics,
    ) -> anyhow::Result<()> {
        println!();
        print_header();
        let registry = Registry::new();
        let mut copy = PassThrough {
            topic: self.passthrough.into(),
        };
        let group = format!("{}-{name}-pt", self.group);
        let baseline = LoopMetrics::register("bench", &registry)?;
        let pt = measure(self.common, input, &group, &mut copy, events, baseline).await?;
        print_row("pass-through", 1, events, &pt);
        let group = format!("{}-{name}", self.group);
        let m = measure(
            self.common,
            input,
            &group,
            processor,
            events,
            metrics.clone(),
        )
        .await?;
        print_row(name, 1, events, &m);
        print_summary(name, &[("pass-through", pt), (name, m)], events);
        Ok(())
    }
}
