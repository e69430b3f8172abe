//! One input partition's state, as the stateful harness keeps it: the customer → visitor
//! bindings (on the changelog, key = customer id), the bindings made since the last
//! checkpoint, and the source's watermark stamp (in memory: it restarts from the first record
//! read, which only holds the attributor's clock back, never moves it on). Pure.

use runtime::stateful::{Change, PartitionState};
use schemas::IdentityBinding;

use crate::identity::Bindings;
use crate::watermark::SourceStamp;

/// An input partition's state.
#[derive(Debug, Default)]
pub struct EnricherState {
    /// Bindings, restored and made.
    pub bindings: Bindings,
    /// Bindings made since the last checkpoint, oldest first.
    pub written: Vec<IdentityBinding>,
    /// The source's progress.
    pub stamp: SourceStamp,
    /// Customers erased since the last checkpoint: tombstones for the changelog.
    pub erased: Vec<String>,
}

impl EnricherState {
    /// A partition's state from its changelog records.
    pub fn restore(records: Vec<IdentityBinding>) -> EnricherState {
        EnricherState {
            bindings: Bindings::restore(records),
            ..EnricherState::default()
        }
    }
}

impl EnricherState {
    /// Erases the request's customer from this partition: the binding goes (a tombstone at the
    /// next checkpoint), including one made since the last checkpoint. Returns the bindings
    /// removed.
    pub fn erase(&mut self, request: &schemas::ErasureRequest) -> usize {
        let before = self.written.len();
        self.written
            .retain(|b| !request.is_customer(&b.program_id, &b.customer_id));
        let unwritten = before - self.written.len();
        if self.bindings.erase(request) || unwritten > 0 {
            self.erased.push(request.customer_id.clone());
            1
        } else {
            0
        }
    }
}

impl PartitionState for EnricherState {
    type Record = IdentityBinding;
    const PHASES: usize = 1;
    const ENTRY_KINDS: &'static [&'static str] = &["bindings"];

    fn take_changes(&mut self, _phase: usize) -> Vec<Change<IdentityBinding>> {
        let tombstones = std::mem::take(&mut self.erased)
            .into_iter()
            .map(|customer| (customer, None));
        std::mem::take(&mut self.written)
            .into_iter()
            .map(|b| (b.customer_id.clone(), Some(b)))
            .chain(tombstones)
            .collect()
    }

    fn refresh(&mut self) {
        // Bindings made since the last checkpoint are among them: written once, not twice.
        self.written = self.bindings.records();
    }

    fn entries(&self) -> Vec<usize> {
        vec![self.bindings.len()]
    }

    fn approx_bytes(&self) -> usize {
        self.bindings.approx_bytes()
    }
}
