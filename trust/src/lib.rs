//! Specialist marketplace trust (issue 22), the pure domain first:
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
//!   trust record out.
#![deny(missing_docs)]

pub mod profile;
pub mod quality;
pub mod ranking;
pub mod reviews;
pub mod settings;
pub mod signals;
pub mod specialist;
pub mod verification;
