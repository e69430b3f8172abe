//! Benchmark: the trust scorer's CPU per signal, in process, against a baseline that only
//! decodes each signal (the JSON the router writes) and encodes one trust record per signal
//! without scoring — same signals, same invocation. Also the state's size per specialist.
//!
//!     cargo run --release -p tests --bin bench_trust -- [SPECIALISTS] [ROUNDS]
//!
//! Each specialist gets a profile, three verification commands, 100 clicks, 20 credited
//! orders, 2 refunds, a risk level and 20 reviews (a quarter from one device), interleaved
//! across specialists as a busy partition would see them (default 200 specialists: 29,400
//! signals). The scorer publishes a record per changing signal, so this is the cost of keeping
//! the marketplace current with every signal.

use std::time::Instant;

use chrono::{Duration, Utc};
use runtime::stateful::PartitionState;
use trust::reviews::Policy;
use trust::router::Routed;
use trust::specialist::{Applied, Signal, SpecialistState};
use trust::state::TrustPartition;
use trust::verification::{Action, Checklist, Command};

#[derive(Debug, clap::Parser)]
#[command(name = "bench_trust", version)]
struct Cli {
    /// Specialists
    #[arg(default_value_t = 200)]
    specialists: usize,
    /// Rounds of each run, alternating
    #[arg(default_value_t = 3)]
    rounds: usize,
}

const PROGRAM: &str = "sandals-eu";

fn signals(specialists: usize) -> Vec<Vec<u8>> {
    let now = Utc::now();
    let mut per: Vec<Vec<Signal>> = Vec::new();
    for s in 0..specialists {
        let id = format!("p-{s}");
        let mut v = Vec::new();
        let profile = format!(
            r#"{{"specialist_id": "{id}", "display_name": "Specialist {s}", "bio": "{}",
                "categories": ["podiatry"], "regions": ["DE"], "languages": ["de"],
                "credentials": [{{"kind": "license", "issuer": "chamber", "evidence_ref": "d"}}]}}"#,
            "b".repeat(100)
        );
        v.push(Signal::Profile(
            trust::profile::parse(profile.as_bytes()).expect("a valid profile"),
        ));
        for (n, action) in [Action::Apply, Action::StartReview, Action::Verify]
            .into_iter()
            .enumerate()
        {
            v.push(Signal::Command(Command {
                command_id: format!("c-{s}-{n}"),
                action,
                actor: "reviewer".into(),
                reason: "checked".into(),
                checklist: Checklist::COMPLETE,
                at: now - Duration::days(40),
            }));
        }
        for n in 0..100 {
            v.push(Signal::Click {
                program_id: PROGRAM.into(),
                touchpoint_id: format!("t-{s}-{n}"),
            });
        }
        for n in 0..20 {
            v.push(Signal::Credited {
                program_id: PROGRAM.into(),
                order_id: format!("o-{s}-{n}"),
            });
            v.push(Signal::Review(trust::reviews::Review {
                review_id: format!("r-{s}-{n}"),
                program_id: PROGRAM.into(),
                specialist_id: id.clone(),
                order_id: format!("o-{s}-{n}"),
                rating: [5, 4, 3, 5, 2][n % 5],
                text: Some("Good advice".into()),
                customer_id: Some(format!("cus-{s}-{n}")),
                device_id: (n % 4 == 0).then(|| format!("dev-{s}")),
                network: None,
                at: now - Duration::hours(n as i64 * 7),
            }));
        }
        for n in 0..2 {
            v.push(Signal::Refunded {
                program_id: PROGRAM.into(),
                order_id: format!("o-{s}-{n}"),
            });
        }
        v.push(Signal::RiskLevel {
            program_id: PROGRAM.into(),
            level: "low".into(),
        });
        per.push(v);
    }
    // Interleave: one signal of each specialist in turn.
    let longest = per.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for i in 0..longest {
        for (s, v) in per.iter().enumerate() {
            if let Some(signal) = v.get(i) {
                let routed = Routed {
                    specialist_id: format!("p-{s}"),
                    signal: signal.clone(),
                };
                out.push(serde_json::to_vec(&routed).expect("JSON"));
            }
        }
    }
    out
}

fn cpu() -> f64 {
    tests::bench::cpu_seconds("self").unwrap_or(0.0)
}

/// Decode each signal and encode a record, no state: what any consumer of the topic pays.
fn baseline(input: &[Vec<u8>]) -> usize {
    let empty = SpecialistState::new("p-0");
    let now = Utc::now();
    let t = empty.trust(PROGRAM, &Policy::default(), &Default::default(), now);
    let mut bytes = 0;
    for raw in input {
        let routed: Routed = serde_json::from_slice(raw).expect("a signal");
        let mut record = trust::records::specialist_trust(&t, None, now);
        record.specialist_id = routed.specialist_id;
        bytes += schemas::encode(&record).expect("encodes").len();
    }
    bytes
}

/// The scorer's work per signal: decode, apply, and on a change score the program and encode
/// its record (as `trust::scorer` does, without Kafka).
fn scorer(input: &[Vec<u8>]) -> (usize, TrustPartition) {
    let mut state = TrustPartition::new();
    let mut bytes = 0;
    for (offset, raw) in input.iter().enumerate() {
        let routed: Routed = serde_json::from_slice(raw).expect("a signal");
        state.advance(offset as i64);
        let s = state.specialist(&routed.specialist_id);
        if let Applied::Changed(_) = s.apply(routed.signal) {
            let now = Utc::now();
            let t = s.trust(PROGRAM, &Policy::default(), &Default::default(), now);
            let record = trust::records::specialist_trust(&t, s.profile.as_ref(), now);
            bytes += schemas::encode(&record).expect("encodes").len();
            state.touch(&routed.specialist_id);
        }
    }
    (bytes, state)
}

fn main() {
    let cli: Cli = clap::Parser::parse();
    let input = signals(cli.specialists);
    let n = input.len() as f64;
    println!(
        "bench_trust: {} specialists, {} signals, {} rounds (in process; CPU of this process)",
        cli.specialists,
        input.len(),
        cli.rounds
    );
    let (mut base, mut scored) = (Vec::new(), Vec::new());
    let mut last = None;
    for round in 1..=cli.rounds {
        let (c0, t0) = (cpu(), Instant::now());
        let b = baseline(&input);
        let (c1, t1) = (cpu(), Instant::now());
        let (s, state) = scorer(&input);
        let (c2, t2) = (cpu(), Instant::now());
        let (bu, su) = ((c1 - c0) / n * 1e6, (c2 - c1) / n * 1e6);
        println!(
            "round {round}: baseline {bu:>6.1} µs/signal ({:>7.0} signals/s, {b} record bytes) | scorer {su:>6.1} µs/signal ({:>7.0} signals/s, {s} record bytes)",
            n / (t1 - t0).as_secs_f64(),
            n / (t2 - t1).as_secs_f64()
        );
        base.push(bu);
        scored.push(su);
        last = Some(state);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (b, s) = (median(&mut base), median(&mut scored));
    println!(
        "median: baseline {b:.1} µs/signal, scorer {s:.1} µs/signal ({:.1}× the baseline)",
        s / b.max(f64::EPSILON)
    );
    if let Some(mut state) = last {
        let changes = state.take_changes(0);
        let doc_bytes: usize = changes
            .iter()
            .filter_map(|(_, r)| r.as_ref().map(|r| r.document.len()))
            .sum();
        println!(
            "state: {} specialists, changelog documents {:.1} KiB per specialist (approx_bytes {:.1} KiB), RSS {:.0} MiB",
            state.specialists.len(),
            doc_bytes as f64 / 1024.0 / state.specialists.len().max(1) as f64,
            state.approx_bytes() as f64 / 1024.0 / state.specialists.len().max(1) as f64,
            tests::bench::rss_mib()
        );
    }
}
