//! Data contracts of the attribution pipeline and nothing else: the Avro schemas of every
//! internal topic (`avro/*.avsc`) with their Rust types, the single-object codec, the raw-event
//! JSON contract (`json/`), and ISO 4217 money. No runtime plumbing lives here.
#![deny(missing_docs)]

pub mod attribution;
pub mod attribution_codec;
pub mod attributor_state;
pub mod binary;
pub mod claim;
pub mod codec;
pub mod commission;
pub mod dead_letter;
pub mod examples;
pub mod identity;
pub mod ids;
pub mod json_view;
pub mod ledger;
pub mod ledger_command;
pub mod ledger_state;
pub mod money;
pub mod privacy;
pub mod reference;
pub mod risk;
pub mod risk_signal;
pub mod risk_state;
pub mod touchpoint;
pub mod touchpoint_codec;
pub mod trust;
pub mod webhook;

pub use attribution::Attribution;
pub use attributor_state::AttributorState;
pub use claim::ClaimNotice;
pub use codec::{decode, decode_as, encode, AvroMessage, CodecError};
pub use commission::CommissionDecision;
pub use dead_letter::DeadLetter;
pub use identity::IdentityBinding;
pub use ledger::LedgerEntry;
pub use ledger_command::LedgerCommand;
pub use ledger_state::LedgerState;
pub use privacy::{ErasureReceipt, ErasureRequest};
pub use reference::ReferenceRecord;
pub use risk::{RiskLevel, RiskScore};
pub use risk_signal::RiskSignal;
pub use risk_state::RiskState;
pub use touchpoint::{EnrichedTouchpoint, EventKind, ValidTouchpoint};
pub use trust::{SpecialistTrust, TrustState, VerificationEvent};
pub use webhook::{WebhookAttempt, WebhookNotification, WebhookState};
