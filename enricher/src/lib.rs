//! Enricher service: every valid touchpoint gets its program, attribution key, channel, UTM,
//! ad click ids and partner (DESIGN.md §2–3).
//!
//! Pure rules: `url_parts` (URL reading), `channel`, `partner` (link / referral parameter /
//! code resolution), `identity` (customer → visitor bindings, attribution key), `enrich`
//! (all of them for one event), `watermark` (the source stamp the attributor's clock is made
//! of), `state` (one partition's state as the stateful harness keeps it). Plumbing: `app`
//! (the apply step on `runtime::stateful`, Kafka, reference follower), `config`, `metrics`.
#![deny(missing_docs)]

pub mod app;
pub mod channel;
pub mod config;
pub mod enrich;
pub mod identity;
pub mod metrics;
pub mod partner;
pub mod state;
pub mod url_parts;
pub mod watermark;
