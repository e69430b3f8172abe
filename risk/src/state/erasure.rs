//! Erasing a customer from a signals partition's state (pure).
//!
//! Removed: conversion contexts and waiting attributions of the customer (they hold the
//! customer id, hashed IP, user agent and referrer). Redacted, because they hold aggregates
//! the partner's Risk % is computed from: the customer's entries in device fingerprints (a
//! fingerprint left with no customer goes), and scored actions, whose customer becomes
//! [`ERASED`] and whose fingerprint is dropped. Partner and program counts hold no personal
//! data and stay, so published levels do not move.

use schemas::attribution::Attribution;
use schemas::ErasureRequest;

use super::*;

pub use runtime::privacy::ERASED;

impl ScorerState {
    /// Applies `request`; returns (entries removed, entries redacted).
    pub fn erase(&mut self, request: &ErasureRequest) -> (usize, usize) {
        let is_subject = |customer: &str| {
            customer == request.customer_id || request.is_attribution_key(customer)
        };
        let mut removed = 0;
        let mut redacted = 0;

        let contexts: Vec<String> = self
            .contexts
            .iter()
            .filter(|(_, e)| {
                let c = &e.value.0;
                request.is_attribution_key(&c.attribution_key)
                    || c.customer_id.as_deref().is_some_and(|id| {
                        request.is_customer(program_of_key(&c.attribution_key), id)
                    })
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in contexts {
            self.contexts.remove(&k);
            self.dirty.insert((Kind::Context, k));
            removed += 1;
        }

        let waiting: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, e)| {
                schemas::decode::<Attribution>(&e.value.0).is_ok_and(|a| {
                    request.is_attribution_key(&a.attribution_key)
                        || a.customer_id
                            .as_deref()
                            .is_some_and(|id| request.is_customer(&a.program_id, id))
                })
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in waiting {
            self.waiting.remove(&k);
            self.dirty.insert((Kind::Waiting, k));
            removed += 1;
        }

        let mut emptied = Vec::new();
        for (k, e) in self.fingerprints.iter_mut() {
            if e.value.program_id != request.program_id {
                continue;
            }
            let before = e.value.customers.len();
            e.value.customers.retain(|c| !is_subject(&c.customer));
            if e.value.customers.len() != before {
                self.dirty.insert((Kind::Fingerprint, k.clone()));
                if e.value.customers.is_empty() {
                    emptied.push(k.clone());
                } else {
                    redacted += 1;
                }
            }
        }
        for k in emptied {
            self.fingerprints.remove(&k);
            removed += 1;
        }

        for (k, e) in self.actions.iter_mut() {
            let a = &mut e.value;
            if a.program_id == request.program_id && is_subject(&a.customer) {
                a.customer = ERASED.to_string();
                a.fingerprint = None;
                self.dirty_actions.insert(k.clone());
                redacted += 1;
            }
        }
        (removed, redacted)
    }
}

fn program_of_key(attribution_key: &str) -> &str {
    attribution_key
        .split_once('/')
        .map_or(attribution_key, |(p, _)| p)
}
