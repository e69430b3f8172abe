//! The attributor service: enriched touchpoints in, attributions with commission line items
//! out (DESIGN.md §3, §5).
//!
//! Pure domain logic, no I/O: [`model`] (how credit is shared), [`split`] (exact money
//! splits), [`commission`] (rules, caps, reversals), [`attribute`] (candidates, precedence,
//! exclusions, evidence), [`state`] (windows, grace, de-duplication, changelog records),
//! [`keys`] and [`touches`] (the compact form state keeps keys and touchpoints in).
//! Plumbing: [`config`], [`metrics`], [`app`].
#![deny(missing_docs)]

pub mod app;
pub mod attribute;
pub mod commission;
pub mod config;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod split;
pub mod state;
pub mod touches;
