//! Webhooks out: what the pipeline decides, told to the programs and partners who asked.
//!
//! Layout: pure — `events` (ledger entries and risk levels as events, addressed to
//! endpoints), `dispatch` (one outbox partition's deliveries, sequences and retries as harness
//! state), `retry` (backoff with jitter over a horizon), `signing` (Standard Webhooks
//! signatures, derived endpoint secrets), `target` (which addresses deliveries may go to);
//! edges — `delivery` (the HTTP scheduler), `app` (router and dispatcher wiring), `resend`
//! (the operator's command), `config`, `metrics`.

pub mod app;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod events;
pub mod metrics;
pub mod resend;
pub mod retry;
pub mod signing;
pub mod target;
