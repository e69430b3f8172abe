//! The ingest service: raw JSON touchpoints in, validated Avro touchpoints and dead letters out.
//!
//! Layout: `process` (pure validation and normalisation), `raw_json` (the message's top-level
//! fields, read without a value tree), `reason` (rejection codes), `pii`
//! (IP policy), `dedup` (event-id suppression), `config`, `metrics`, `app` (Kafka wiring and
//! the run loop), `import` (offline backfill through the same path), `examples` (known good
//! and bad inputs shared by the tests).

pub mod app;
pub mod config;
pub mod dedup;
pub mod examples;
pub mod import;
pub mod metrics;
pub mod pii;
pub mod plain_url;
pub mod process;
pub mod raw_json;
pub mod reason;
