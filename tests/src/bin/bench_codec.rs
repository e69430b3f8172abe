//! Micro-benchmark: the Avro codec candidates on the pipeline's own message types, same
//! messages, same invocation, alternating rounds.
//!
//!     cargo run --release -p tests --bin bench_codec -- [ITERATIONS] [ROUNDS]
//!
//! Candidates, each checked to give the same bytes (or value) as the reference before it is
//! timed:
//! - `generic`: apache-avro's value tree — serde → `Value` → resolve against the schema →
//!   bytes, and bytes → `Value` (resolved to the current schema) → serde. What the pipeline used.
//! - `schema-aware`: apache-avro's schema-aware serde serializer (`write_avro_datum_ref`),
//!   straight to the buffer; encode only (apache-avro has no counterpart for decoding).
//! - `compiled`: `serde_avro_fast`, schemas compiled once, straight between the Rust type and
//!   the bytes both ways.
//! - `codec`: what `schemas::encode`/`decode` use now: the compiled schema, or for the types
//!   every event crosses (marked `hand`) a body written and read by hand
//!   (`schemas::touchpoint_codec`).

use std::hint::black_box;
use std::time::Instant;

use schemas::codec::{generic, AvroMessage, HEADER_LEN};
use schemas::examples;

#[derive(Debug, clap::Parser)]
#[command(name = "bench_codec", version)]
struct Cli {
    /// Encodes and decodes of each message per round
    #[arg(default_value_t = 20_000)]
    iterations: u32,
    /// Rounds, alternating the candidates; the best round of each is reported
    #[arg(default_value_t = 3)]
    rounds: u32,
}

/// Nanoseconds per call of `f`, best of `rounds` rounds of `iterations` calls.
fn ns_per_call(iterations: u32, rounds: u32, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..iterations {
                f();
            }
            started.elapsed().as_nanos() as f64 / f64::from(iterations)
        })
        .fold(f64::INFINITY, f64::min)
}

fn schema_aware<T: AvroMessage>(message: &T) -> Result<Vec<u8>, String> {
    let current = T::family().current();
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&schemas::codec::MARKER);
    out.extend_from_slice(&current.fingerprint.to_le_bytes());
    apache_avro::write_avro_datum_ref(&current.schema, message, &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn row<T: AvroMessage + PartialEq + std::fmt::Debug>(name: &str, message: &T, cli: &Cli) {
    let (n, r) = (cli.iterations, cli.rounds);
    let reference = generic::encode(message).expect("generic encodes");
    for (candidate, bytes) in [
        ("compiled", schemas::codec::encode_as::<T, T>(message)),
        ("codec", schemas::encode(message)),
    ] {
        assert_eq!(
            bytes.expect("encodes"),
            reference,
            "{name}: {candidate} bytes differ from the reference"
        );
    }
    let decoded: T = schemas::decode(&reference).expect("codec decodes");
    assert_eq!(&decoded, message, "{name}: codec decode differs");
    let decoded: T = schemas::decode_as::<T, T>(&reference).expect("compiled decodes");
    assert_eq!(&decoded, message, "{name}: compiled decode differs");

    let generic_enc = ns_per_call(n, r, || {
        black_box(generic::encode(black_box(message)).ok());
    });
    let aware_enc = match schema_aware(message) {
        Ok(bytes) if bytes == reference => format!(
            "{:>9.0}",
            ns_per_call(n, r, || {
                black_box(schema_aware(black_box(message)).ok());
            })
        ),
        Ok(_) => format!("{:>9}", "differs"),
        Err(e) => format!("{:>9}", if e.len() > 9 { "fails" } else { &e }),
    };
    let compiled_enc = ns_per_call(n, r, || {
        black_box(schemas::codec::encode_as::<T, T>(black_box(message)).ok());
    });
    let fast_enc = ns_per_call(n, r, || {
        black_box(schemas::encode(black_box(message)).ok());
    });
    let generic_dec = ns_per_call(n, r, || {
        black_box(generic::decode::<T>(black_box(&reference)).ok());
    });
    let compiled_dec = ns_per_call(n, r, || {
        black_box(schemas::decode_as::<T, T>(black_box(&reference)).ok());
    });
    let fast_dec = ns_per_call(n, r, || {
        black_box(schemas::decode::<T>(black_box(&reference)).ok());
    });
    let name = if T::hand_codec().is_some() {
        format!("{name} (hand)")
    } else {
        name.to_string()
    };
    println!(
        "| {name:<27} | {:>5} | {generic_enc:>9.0} | {aware_enc} | {compiled_enc:>8.0} | {fast_enc:>7.0} | {:>5.1}× | {generic_dec:>9.0} | {compiled_dec:>8.0} | {fast_dec:>7.0} | {:>5.1}× |",
        reference.len() - HEADER_LEN,
        generic_enc / fast_enc,
        generic_dec / fast_dec,
    );
}

fn main() {
    let cli: Cli = clap::Parser::parse();
    println!(
        "bench_codec: {} calls per round, best of {} rounds; ns per message (body bytes without the 10-byte header)",
        cli.iterations, cli.rounds
    );
    println!();
    println!("| message | bytes | generic enc | aware enc | compiled enc | codec enc | enc gain | generic dec | compiled dec | codec dec | dec gain |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    row("valid_touchpoint", &examples::valid_touchpoint(), &cli);
    row(
        "enriched_touchpoint",
        &examples::enriched_touchpoint(),
        &cli,
    );
    row("attribution", &examples::attribution(), &cli);
    row("attributor_state", &examples::attributor_state(), &cli);
    row("risk_signal", &examples::risk_signal(), &cli);
    row("risk_state", &examples::risk_state(), &cli);
    row(
        "commission_decision",
        &examples::commission_decision(),
        &cli,
    );
    row("ledger_entry", &examples::ledger_entry(), &cli);
    row("ledger_state", &examples::ledger_state(), &cli);
    row("reference_record", &examples::reference_record(), &cli);
}
