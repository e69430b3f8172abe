//! The collector: raw events over HTTP onto the raw topic, and Stripe intake.
//!
//! Layout: `batch` (pure: framing, program scope, ingest's validation per event), `stripe`
//! (pure: signature and event mapping), `http` (routes, write keys, answers), `config`,
//! `metrics`, `app` (wiring and the run loop).

pub mod app;
pub mod batch;
pub mod config;
pub mod http;
pub mod metrics;
pub mod stripe;
