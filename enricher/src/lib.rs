//! Enricher service: every valid touchpoint gets its program, attribution key, channel, UTM,
//! ad click ids and partner (DESIGN.md §2–3).
//!
//! Pure rules: `url_parts` (URL reading), `channel`, `partner` (link / referral parameter /
//! code resolution), `identity` (customer → visitor bindings, attribution key), `enrich`
//! (all of them for one event). Plumbing: `app` (Kafka, changelog restore, reference
//! follower), `config`, `metrics`.
#![deny(missing_docs)]

pub mod app;
pub mod channel;
pub mod config;
pub mod enrich;
pub mod identity;
pub mod metrics;
pub mod partner;
pub mod url_parts;
