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

impl PartitionState for EnricherState {
    type Record = IdentityBinding;
    const PHASES: usize = 1;
    const ENTRY_KINDS: &'static [&'static str] = &["bindings"];

    fn take_changes(&mut self, _phase: usize) -> Vec<Change<IdentityBinding>> {
        std::mem::take(&mut self.written)
            .into_iter()
            .map(|b| (b.customer_id.clone(), Some(b)))
            .collect()
    }

    fn entries(&self) -> Vec<usize> {
        vec![self.bindings.len()]
    }

    fn approx_bytes(&self) -> usize {
        self.bindings.approx_bytes()
    }
}
