//! Specialist marketplace trust (issue 22). The pure domain:
//!
//! - `verification` — the workflow of audited commands (applied → in review → verified or
//!   rejected; suspended, reinstated; due again when a credential expires);
//! - `profile` — profiles and their completeness, a documented weight per field;
//! - `reviews` — intake checks, verified reviews and the exclusion rules, the Bayesian average;
//! - `quality` — quality markers with their inputs, and a specialist's ranking inputs;
//! - `ranking` — who is listed (a rule) and how high (five weighted components, each shown with
//!   its inputs);
//! - `signals` — the pipeline's records (clicks, attributions, ledger entries, claims, risk
//!   levels) as signals about partners, for the router to re-key by specialist;
//! - `settings` — a program's review policy, weights and hold rule, checked as a whole;
//! - `specialist` — one specialist's state as the scorer keeps it, signals in, the program's
//!   trust record out;
//! - `records` — the trust record and the verification judgement as topic records.
//!
//! The service around it: `router` (inputs re-keyed by specialist), `state` (a partition's
//! specialists on the changelog), `scorer` (the apply step on the stateful harness), `app`
//! (wiring), `cli` (`trust verification …`), `config`, `metrics`.
#![deny(missing_docs)]

pub mod app;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod profile;
pub mod quality;
pub mod ranking;
pub mod records;
pub mod reviews;
pub mod router;
pub mod scorer;
pub mod settings;
pub mod signals;
pub mod specialist;
pub mod state;
pub mod verification;
