//! What a partition keeps per attribution key, and the table that finds it by key.
//!
//! Laid out for the common case, a visitor with a click or two and nothing else: a slot of 32
//! bytes (the last input offset, the key text and its touchpoints packed in one allocation,
//! and one pointer, null until the key has pending conversions, orders or chains). The table
//! finds an entry by the key text inside it, so the key is not stored twice.

use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use schemas::attributor_state::{ChainBinding, OrderRecord, PendingConversion};

use crate::touches::Touches;

/// Everything kept for one attribution key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    /// Last input offset whose effect this holds.
    pub as_of: i64,
    pub(crate) touches: Touches,
    pub(crate) rest: Option<Box<Rest>>,
}

/// What a key holds once it has converted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rest {
    pub(crate) pending: Vec<PendingConversion>,
    pub(crate) orders: Vec<OrderRecord>,
    pub(crate) chains: Vec<ChainBinding>,
}

impl KeyState {
    /// `key`, holding nothing yet.
    pub fn new(key: &str) -> KeyState {
        KeyState {
            as_of: -1,
            touches: Touches::new(key),
            rest: None,
        }
    }

    /// The attribution key.
    pub fn key(&self) -> &str {
        self.touches.key()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.touches.is_empty() && self.rest.is_none()
    }

    /// Partner touchpoints in the windows, packed.
    pub fn touches(&self) -> &Touches {
        &self.touches
    }

    /// Conversions waiting for their grace.
    pub fn pending(&self) -> &[PendingConversion] {
        self.rest.as_ref().map_or(&[], |r| &r.pending)
    }

    /// Attributed orders.
    pub fn orders(&self) -> &[OrderRecord] {
        self.rest.as_ref().map_or(&[], |r| &r.orders)
    }

    /// Chain and customer bindings.
    pub fn chains(&self) -> &[ChainBinding] {
        self.rest.as_ref().map_or(&[], |r| &r.chains)
    }

    pub(crate) fn rest_mut(&mut self) -> &mut Rest {
        self.rest.get_or_insert_with(Box::default)
    }

    /// Drops the rare part once it holds nothing (so "no pointer" means "nothing there").
    pub(crate) fn tidy(&mut self) {
        if self
            .rest
            .as_ref()
            .is_some_and(|r| r.pending.is_empty() && r.orders.is_empty() && r.chains.is_empty())
        {
            self.rest = None;
        }
    }
}

/// A partition's keys. Hashing is std's keyed SipHash: keys come from untrusted input.
#[derive(Debug, Default)]
pub struct KeyTable {
    table: HashTable<KeyState>,
    hasher: std::hash::RandomState,
}

impl KeyTable {
    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Slots allocated (a table grows by doubling).
    pub fn slots(&self) -> usize {
        self.table.capacity() * 8 / 7
    }

    /// The state of `key`.
    pub fn get(&self, key: &str) -> Option<&KeyState> {
        self.table.find(self.hash(key), |k| k.key() == key)
    }

    /// The state of `key`, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut KeyState> {
        let hash = self.hash(key);
        self.table.find_mut(hash, |k| k.key() == key)
    }

    /// The state of `key`, made empty if it was not held.
    pub fn get_or_insert(&mut self, key: &str) -> &mut KeyState {
        let hash = self.hash(key);
        let hasher = &self.hasher;
        match self
            .table
            .entry(hash, |k| k.key() == key, |k| hasher.hash_one(k.key()))
        {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(KeyState::new(key)).into_mut(),
        }
    }

    /// Holds `state` under its key, in place of what was held.
    pub fn insert(&mut self, state: KeyState) {
        let hash = self.hash(state.key());
        let hasher = &self.hasher;
        match self.table.entry(
            hash,
            |k| k.key() == state.key(),
            |k| hasher.hash_one(k.key()),
        ) {
            Entry::Occupied(mut entry) => *entry.get_mut() = state,
            Entry::Vacant(entry) => {
                entry.insert(state);
            }
        }
    }

    /// Stops holding `key`; what was held.
    pub fn remove(&mut self, key: &str) -> Option<KeyState> {
        let hash = self.hash(key);
        self.table
            .find_entry(hash, |k| k.key() == key)
            .ok()
            .map(|entry| entry.remove().0)
    }

    /// Every key's state, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &KeyState> {
        self.table.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_their_own_text_and_removed() {
        let mut keys = KeyTable::default();
        for n in 0..1_000 {
            keys.get_or_insert(&format!("shop/v-{n}")).as_of = n;
        }
        assert_eq!(keys.len(), 1_000);
        assert_eq!(keys.get("shop/v-7").map(|k| k.as_of), Some(7));
        assert!(keys.get("shop/v-1000").is_none());
        keys.get_or_insert("shop/v-7").as_of = 70;
        assert_eq!(keys.len(), 1_000);
        let removed = keys.remove("shop/v-7").expect("held");
        assert_eq!((removed.key(), removed.as_of), ("shop/v-7", 70));
        assert!(keys.get("shop/v-7").is_none() && keys.remove("shop/v-7").is_none());
        let mut other = KeyState::new("deals/v-1");
        other.as_of = 3;
        keys.insert(other.clone());
        assert_eq!(keys.get_mut("deals/v-1").map(|k| k.as_of), Some(3));
        assert_eq!(keys.iter().count(), 1_000);
        assert_eq!(std::mem::size_of::<KeyState>(), 32);
    }
}
