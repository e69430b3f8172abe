//! Benchmark: enricher throughput and CPU per event against a pass-through baseline (same
//! broker, same input, same invocation), with a large reference set, and the memory that
//! reference set takes.
//!
//!     cargo run --release -p tests --bin bench_enricher -- [EVENTS] [ROUNDS] [PARTNERS] [LINKS] [CODES]
//!
//!     cargo run --release -p tests --bin bench_enricher -- --in-process [EVENTS] [ROUNDS]
//!
//! Defaults: 200,000 events, 2 rounds, 10,000 partners, 100,000 links, 100,000 codes. Needs the
//! local stack (`deploy/local/stack.sh up`). The catalogue is built in-process record by record
//! (as the follower builds it from the topic); its memory is the RSS growth while building it.
//!
//! `--in-process` needs no broker: it runs the enricher on the stateful harness over an
//! in-memory changelog (`runtime::stateful::memory`), next to a pass-through through the same
//! simulated loop and to decoding and encoding alone, so its own CPU per event is seen
//! without the client's.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use enricher::app::Enricher;
use enricher::metrics::EnricherMetrics;
use prometheus::Registry;
use reference::{Catalog, ReferenceData};
use runtime::kafka::{self, Cleanup};
use runtime::metrics::LoopMetrics;
use schemas::attribution::AttributionModel;
use schemas::reference::{
    AttributionSettings, Code, CodePrecedence, EntityType, Link, Partner, PartnerKind, Program,
    ReferenceRecord,
};
use schemas::touchpoint::PartnerStatus;
use schemas::{EventKind, ValidTouchpoint};
use tests::bench::{
    measure, print_header, print_row, print_summary, rss_mib, Measurement, PassThrough,
};
use tests::workload::Rng;

const PROGRAMS: [(&str, &[&str]); 2] = [
    (
        "acme",
        &["acme-outdoor.com", "acme-outdoor.de", "bergsport-shop.de"],
    ),
    ("bolt", &["boltbikes.example", "bolt-bikes.co.uk"]),
];

fn record(entity_type: EntityType) -> ReferenceRecord {
    ReferenceRecord {
        entity_type,
        program: None,
        partner: None,
        link: None,
        code: None,
        commission_rule: None,
        published_at: Utc::now(),
        source_revision: "bench".into(),
        deleted: false,
        principal: None,
        signature: None,
        write_key: None,
        webhook_endpoint: None,
    }
}

fn apply(catalog: &mut Catalog, r: ReferenceRecord) {
    let key = r.key().expect("one entity");
    catalog.apply(&key, Some(r)).expect("applies");
}

/// Builds the catalogue one record at a time, never holding the whole set.
fn build_catalog(partners: usize, links: usize, codes: usize) -> Catalog {
    let mut catalog = Catalog::default();
    for (id, domains) in PROGRAMS {
        apply(
            &mut catalog,
            ReferenceRecord {
                program: Some(Program {
                    program_id: id.into(),
                    brand: id.into(),
                    domains: domains.iter().map(|d| d.to_string()).collect(),
                    currency: "EUR".into(),
                    attribution: AttributionSettings {
                        model: AttributionModel::LastTouch,
                        click_window_seconds: 30 * 86_400,
                        view_window_seconds: 86_400,
                        code_precedence: CodePrecedence::CodeWins,
                        grace_seconds: 300,
                        time_decay_half_life_seconds: 7 * 86_400,
                    },
                    hold_seconds: 30 * 86_400,
                    risk_policy: None,
                    trust: None,
                }),
                ..record(EntityType::Program)
            },
        );
    }
    for p in 0..partners {
        apply(
            &mut catalog,
            ReferenceRecord {
                partner: Some(Partner {
                    partner_id: format!("p-{p:05}"),
                    name: format!("Partner {p}"),
                    partner_kind: if p % 10 == 0 {
                        PartnerKind::Specialist
                    } else {
                        PartnerKind::Affiliate
                    },
                    status: if p % 50 == 0 {
                        PartnerStatus::Suspended
                    } else {
                        PartnerStatus::Verified
                    },
                    tier: Some(["bronze", "silver", "gold"][p % 3].into()),
                    self_referral_ids: vec![format!("cus-self-{p}")],
                    categories: vec![],
                }),
                ..record(EntityType::Partner)
            },
        );
    }
    for l in 0..links {
        apply(
            &mut catalog,
            ReferenceRecord {
                link: Some(Link {
                    link_id: format!("lnk-{l:06}"),
                    partner_id: format!("p-{:05}", l % partners),
                    program_id: PROGRAMS[l % 2].0.into(),
                    campaign: Some(format!("campaign-{}", l % 40)),
                    default_shared_id: (l % 3 == 0).then(|| format!("sub-{}", l % 7)),
                }),
                ..record(EntityType::Link)
            },
        );
    }
    for c in 0..codes {
        apply(
            &mut catalog,
            ReferenceRecord {
                code: Some(Code {
                    code: format!("CODE{c:06}"),
                    partner_id: format!("p-{:05}", c % partners),
                    program_id: PROGRAMS[c % 2].0.into(),
                    valid_from: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
                    valid_until: None,
                }),
                ..record(EntityType::Code)
            },
        );
    }
    catalog
}

fn touchpoints(
    events: usize,
    links: usize,
    codes: usize,
    seed: u64,
) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    let mut rng = Rng::new(seed);
    let at = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
    let referrers = [
        "https://www.google.com/",
        "https://m.facebook.com/",
        "https://outdoor-blog.example/review",
        "https://duckduckgo.com/",
        "",
    ];
    (0..events)
        .map(|i| {
            let roll = rng.below(100);
            let link = rng.below(links as u64) as usize;
            let program = PROGRAMS[link % 2];
            let domain = program.1[rng.below(program.1.len() as u64) as usize];
            let visitor = format!("v-{}", rng.below(200_000));
            let customer = format!("c-{}", rng.below(50_000));
            let kind = match roll {
                0..=49 => EventKind::Click,
                50..=74 => EventKind::PageView,
                75..=84 => EventKind::CodeRedemption,
                85..=91 => EventKind::Lead,
                _ => EventKind::Conversion,
            };
            let referrer = referrers[rng.below(referrers.len() as u64) as usize];
            let mut tp = ValidTouchpoint::new(format!("bench-{i}"), kind, at);
            tp.visitor_id = Some(visitor);
            tp.referrer = (!referrer.is_empty()).then(|| referrer.to_string());
            tp.ip_hash = Some("9f86d081884c7d65".into());
            tp.ip_prefix = Some("203.0.113.0/24".into());
            tp.user_agent = Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0".into());
            match kind {
                EventKind::Click => {
                    tp.url = Some(format!("https://www.{domain}/p/{}?ref=lnk-{link:06}&utm_source=partner&utm_medium=affiliate", i % 500));
                    tp.click_id = Some(format!("clk-{i}"));
                }
                EventKind::PageView => {
                    tp.url = Some(if roll.is_multiple_of(2) {
                        format!("https://{domain}/sale?utm_source=newsletter&utm_medium=email&utm_campaign=may")
                    } else {
                        format!("https://{domain}/tents?gclid=Cj0KCQ{i}")
                    });
                }
                EventKind::CodeRedemption => {
                    tp.url = Some(format!("https://{domain}/checkout"));
                    tp.code = Some(format!("CODE{:06}", rng.below(codes as u64)));
                }
                EventKind::Lead => {
                    tp.url = Some(format!("https://{domain}/signup"));
                    tp.customer_id = Some(customer);
                }
                _ => {
                    // Customer-only conversions from billing, half with a code.
                    tp.visitor_id = None;
                    tp.customer_id = Some(customer);
                    tp.order_id = Some(format!("o-{i}"));
                    tp.amount_minor = Some(4_990);
                    tp.currency = Some("EUR".into());
                    if roll.is_multiple_of(2) {
                        tp.code = Some(format!("CODE{:06}", rng.below(codes as u64)));
                    }
                }
            }
            let key = tp.customer_id.as_ref().or(tp.visitor_id.as_ref()).map(|k| k.as_bytes().to_vec());
            (key, schemas::encode(&tp).expect("encodes"))
        })
        .collect()
}

/// The enricher against a pass-through baseline with a large reference set, same broker,
/// same input, same invocation, and the memory that reference set takes (needs the local
/// stack).
#[derive(Debug, clap::Parser)]
#[command(name = "bench_enricher", version)]
struct Cli {
    /// Time the enricher's own work in this process, without a broker
    #[arg(long)]
    in_process: bool,
    /// Valid touchpoints to produce
    #[arg(default_value_t = 200_000)]
    events: usize,
    /// Rounds of each run, alternating
    #[arg(default_value_t = 2)]
    rounds: usize,
    /// Partners in the reference set
    #[arg(default_value_t = 10_000)]
    partners: usize,
    /// Links in the reference set
    #[arg(default_value_t = 100_000)]
    links: usize,
    /// Codes in the reference set
    #[arg(default_value_t = 100_000)]
    codes: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let Cli {
        in_process,
        events,
        rounds,
        partners,
        links,
        codes,
    } = clap::Parser::parse();
    if in_process {
        return in_process_runs(events, rounds, partners, links, codes);
    }
    tests::require_broker();

    let rss_before = rss_mib();
    let started = Instant::now();
    let catalog = build_catalog(partners, links, codes);
    let build_seconds = started.elapsed().as_secs_f64();
    let catalog_mib = rss_mib() - rss_before;
    let reference = ReferenceData::preloaded(catalog);

    let ns = tests::unique_namespace("bench-enrich");
    let env = tests::service_env(
        &ns,
        &[("LOG_LEVEL", "error"), ("BATCH_MESSAGES_MAX", "5000")],
    );
    let config = tests::enricher_config(&env);
    let topics = &config.common.topics;
    let passthrough_topic = format!("{ns}.bench.passthrough.v1");
    kafka::ensure_topics(
        &config.common.kafka,
        &[
            (&topics.touchpoints_valid, Cleanup::Delete),
            (&topics.touchpoints_enriched, Cleanup::Delete),
            (&topics.touchpoints_dlq, Cleanup::Delete),
            (&topics.identity_bindings, Cleanup::Compact),
            (&passthrough_topic, Cleanup::Delete),
        ],
    )
    .await?;
    eprintln!(
        "producing {events} valid touchpoints to {} ...",
        topics.touchpoints_valid
    );
    let messages = touchpoints(events, links, codes, 7);
    let bytes: usize = messages.iter().map(|(_, p)| p.len()).sum();
    tests::produce(&topics.touchpoints_valid, &messages).await?;
    drop(messages);

    tests::bench::print_client_settings(&config.common.kafka);

    println!("enricher benchmark: {events} valid touchpoints ({:.0} bytes avg), 3 partitions, broker {}, {rounds} round(s) each, alternating",
        bytes as f64 / events as f64, tests::bootstrap_servers());
    println!("reference set: {partners} partners, {links} links, {codes} codes, 2 programs; built in {build_seconds:.2} s; catalogue memory {catalog_mib:.0} MiB ({:.0} bytes per entity)",
        catalog_mib * 1_048_576.0 / (partners + links + codes) as f64);
    print_header();
    let mut results: Vec<(&str, Measurement)> = Vec::new();
    for round in 1..=rounds {
        for run in ["pass-through", "enricher"] {
            let registry = Registry::new();
            let loop_metrics = LoopMetrics::register("bench", &registry)?;
            let group = format!("{ns}-{run}-{round}");
            let m = if run == "enricher" {
                let metrics = EnricherMetrics::register(&registry)?;
                let mut p = tests::bench::stateful(
                    &config.common,
                    &registry,
                    "enricher",
                    Enricher::new(&config, reference.clone(), metrics, 3, 3),
                    &topics.touchpoints_valid,
                    &topics.identity_bindings,
                )?;
                measure(
                    &config.common,
                    &topics.touchpoints_valid,
                    &group,
                    &mut p,
                    events,
                    loop_metrics,
                )
                .await?
            } else {
                let mut p = PassThrough {
                    topic: passthrough_topic.as_str().into(),
                };
                measure(
                    &config.common,
                    &topics.touchpoints_valid,
                    &group,
                    &mut p,
                    events,
                    loop_metrics,
                )
                .await?
            };
            print_row(run, round, events, &m);
            results.push((run, m));
        }
    }
    print_summary("enricher", &results, events);
    Ok(())
}

/// The enricher's own work on `events` touchpoints over 3 partitions, in this process: the
/// simulated loop with a pass-through, decoding alone, decode and re-encode, then the enricher
/// on the stateful harness (a fresh instance each round, as a new service starts).
fn in_process_runs(
    events: usize,
    rounds: usize,
    partners: usize,
    links: usize,
    codes: usize,
) -> anyhow::Result<()> {
    use runtime::stateful::memory::{Message, Plan, Simulation};
    let env = tests::service_env("bench", &[("LOG_LEVEL", "error")]);
    let config = tests::enricher_config(&env);
    let topics = &config.common.topics;
    let reference = ReferenceData::preloaded(build_catalog(partners, links, codes));
    let mut next = [0i64; 3];
    let inputs: Vec<Message> = touchpoints(events, links, codes, 7)
        .into_iter()
        .map(|(key, payload)| {
            let partition = key.as_deref().map_or(0, |k| {
                k.iter()
                    .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(*b)))
                    % 3
            }) as usize;
            next[partition] += 1;
            Message {
                topic: topics.touchpoints_valid.clone(),
                partition: partition as i32,
                offset: next[partition] - 1,
                key,
                payload: Some(payload),
            }
        })
        .collect();
    let bytes: usize = inputs
        .iter()
        .filter_map(|m| m.payload.as_ref())
        .map(Vec::len)
        .sum();
    println!(
        "enricher in process: {events} valid touchpoints ({:.0} bytes avg), 3 partitions, {partners} partners, {links} links, {codes} codes; batches of 5,000; {rounds} round(s) each, alternating",
        bytes as f64 / events as f64
    );
    println!("| run | round | events/s | CPU µs/event | outputs |");
    println!("|---|---|---|---|---|");
    let plan = Plan {
        batch: 5_000,
        ..Plan::default()
    };
    let cpu = || tests::bench::cpu_seconds("self").unwrap_or(0.0);
    let row = |run: &str, round: usize, started: Instant, spent: f64, outputs: usize| {
        println!(
            "| {run} | {round} | {:.0} | {:.2} | {outputs} |",
            events as f64 / started.elapsed().as_secs_f64(),
            spent * 1e6 / events as f64
        );
    };
    for round in 1..=rounds {
        let mut sim = Simulation::new(&topics.identity_bindings);
        let mut pass = PassThrough {
            topic: topics.touchpoints_enriched.as_str().into(),
        };
        let (started, before) = (Instant::now(), cpu());
        sim.run(&mut pass, &inputs, &plan)?;
        row(
            "loop: pass-through",
            round,
            started,
            cpu() - before,
            sim.delivered.len(),
        );

        let (started, before) = (Instant::now(), cpu());
        let decoded = inputs
            .iter()
            .filter_map(|m| m.payload.as_deref())
            .filter(|p| schemas::decode::<ValidTouchpoint>(p).is_ok())
            .count();
        row("decode", round, started, cpu() - before, decoded);

        let (started, before) = (Instant::now(), cpu());
        let mut encoded = 0;
        for payload in inputs.iter().filter_map(|m| m.payload.as_deref()) {
            let touchpoint: ValidTouchpoint = schemas::decode(payload)?;
            encoded += schemas::encode(&touchpoint)?.len();
        }
        row(
            "decode + encode",
            round,
            started,
            cpu() - before,
            usize::from(encoded > 0) * decoded,
        );

        let mut sim = Simulation::new(&topics.identity_bindings);
        let registry = Registry::new();
        let enricher = Enricher::new(
            &config,
            reference.clone(),
            EnricherMetrics::register(&registry)?,
            3,
            3,
        );
        let mut harness = runtime::stateful::Stateful::new(
            enricher,
            runtime::stateful::StateParts {
                state_topic: topics.touchpoints_valid.clone(),
                changelog_topic: topics.identity_bindings.clone(),
                restore: sim.changelog.clone(),
                dead_letters: runtime::DeadLetterWriter::new(
                    "bench",
                    &topics.touchpoints_dlq,
                    config.common.dead_letter_payload_bytes_max,
                ),
                metrics: runtime::stateful::StateMetrics::unregistered("bench"),
                health: runtime::Health::default(),
                refresh_interval: std::time::Duration::from_secs(3600),
            },
        );
        let (started, before) = (Instant::now(), cpu());
        sim.run(&mut harness, &inputs, &plan)?;
        row(
            "enricher",
            round,
            started,
            cpu() - before,
            sim.delivered.len(),
        );
    }
    Ok(())
}
