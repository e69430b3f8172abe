//! Load generator for the attribution pipeline: realistic raw traffic for a reference data set,
//! deterministic from a seed, with the expected outcome computed by an independent oracle.
//!
//! - [`journey`]: the facts of one generated customer journey.
//! - [`generate`]: journeys → raw JSON, plus background traffic, duplicates, late and
//!   out-of-order events, planted fraud and malformed messages.
//! - [`oracle`]: journey facts + reference data → expected orders and ledger lines, by the
//!   rules as DESIGN.md states them (no attributor or ledger code).
//! - [`expected`]: the expected outcome written next to a workload.
//! - [`file`]: the workload file (`workload.ndjson`) and `expected.json`.
//! - [`replay`]: sends a workload to the raw topic at a target rate, with progress.

pub mod expected;
pub mod file;
pub mod generate;
pub mod journey;
pub mod oracle;
pub mod replay;
pub mod rng;

pub use expected::Expected;
pub use generate::{generate, Message, Settings, Workload};
pub use rng::Rng;
