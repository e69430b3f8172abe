//! The router (stateless): every input that says something about a specialist becomes a
//! [`Routed`] signal keyed by the specialist, so one specialist's profile, commands, reviews and
//! facts meet in one partition of the scorer. Records about partners that are not specialists
//! are dropped; profiles, reviews and commands about them are dead-lettered
//! (`not_a_specialist`), as is anything unreadable, each with its reason.

use std::sync::Arc;

use reference::ReferenceData;
use runtime::stateful::payload;
use runtime::{DeadLetterWriter, Input, Output, Processor, RuntimeError};
use schemas::reference::PartnerKind;
use schemas::touchpoint::SourceWatermark;
use schemas::{Attribution, ClaimNotice, EnrichedTouchpoint, LedgerEntry, RiskLevel};
use serde::{Deserialize, Serialize};

use crate::metrics::TrustMetrics;
use crate::profile;
use crate::reviews::{validate, Review};
use crate::signals;
use crate::specialist::Signal;
use crate::verification::Command;

/// A signal on the internal topic (JSON), keyed by `specialist_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routed {
    /// The specialist.
    pub specialist_id: String,
    /// What was learned.
    pub signal: Signal,
}

/// A verification command as `trust verification` writes it (JSON on the commands topic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// The specialist it is about.
    pub specialist_id: String,
    /// The command.
    #[serde(flatten)]
    pub command: Command,
}

/// The topics the router reads.
#[derive(Debug, Clone)]
pub struct RouterTopics {
    /// Profiles (JSON, compacted).
    pub profiles: String,
    /// Reviews (JSON).
    pub reviews: String,
    /// Verification commands (JSON).
    pub commands: String,
    /// Enriched touchpoints (clicks).
    pub touchpoints: String,
    /// Attributions (credited orders).
    pub attributions: String,
    /// Ledger entries (refunds, reversals, risk's holds).
    pub ledger_entries: String,
    /// Claims.
    pub claims: String,
    /// Risk levels.
    pub risk_levels: String,
    /// Commission decisions (lines held until verification).
    pub commissions: String,
}

type Rejected = (&'static str, String);

/// Re-keys inputs by specialist.
#[allow(missing_debug_implementations)]
pub struct Router {
    /// Which partners are specialists.
    pub reference: Arc<ReferenceData>,
    /// What it reads.
    pub topics: RouterTopics,
    /// The signals topic.
    pub signals: Arc<str>,
    /// Dead letters.
    pub dead_letters: DeadLetterWriter,
    /// Metrics.
    pub metrics: TrustMetrics,
}

fn undecodable(what: &str, e: impl std::fmt::Display) -> Rejected {
    ("undecodable", format!("not {what}: {e}"))
}

impl Router {
    fn is_specialist(&self, partner_id: &str) -> bool {
        self.reference
            .read()
            .partner(partner_id)
            .is_some_and(|p| p.partner_kind == PartnerKind::Specialist)
    }

    /// A record the platform wrote about a specialist: it must name one.
    fn specialist(&self, id: String, signal: Signal) -> Result<Vec<(String, Signal)>, Rejected> {
        if !self.is_specialist(&id) {
            return Err((
                "not_a_specialist",
                format!("partner {id:?} is not a specialist in the reference data"),
            ));
        }
        Ok(vec![(id, signal)])
    }

    /// Reviews are taken for a program the reference data knows, unless it turned them off.
    fn takes_reviews(&self, program_id: &str) -> Result<(), Rejected> {
        let reference = self.reference.read();
        let Some(program) = reference.program(program_id) else {
            return Err((
                "unknown_program",
                format!("program {program_id:?} is not in the reference data"),
            ));
        };
        if program.trust.as_ref().is_some_and(|t| !t.reviews_enabled) {
            return Err((
                "reviews_not_enabled",
                format!("program {program_id:?} does not take reviews (trust.reviews = false)"),
            ));
        }
        Ok(())
    }

    fn signals(&self, input: &Input<'_>) -> Result<Vec<(String, Signal)>, Rejected> {
        let t = &self.topics;
        if input.topic == t.profiles {
            let key = input.key.map(|k| String::from_utf8_lossy(k).into_owned());
            let Some(bytes) = input.payload else {
                // A withdrawn or erased profile.
                let id = key.ok_or(("missing_key", "a profile tombstone needs its key".into()))?;
                return Ok(vec![(id, Signal::ProfileRemoved)]);
            };
            let p = profile::parse(bytes)?;
            if key.as_deref().is_some_and(|k| k != p.specialist_id) {
                return Err((
                    "key_mismatch",
                    format!(
                        "profile of {:?} under key {:?}: compaction would keep the wrong one",
                        p.specialist_id,
                        key.unwrap_or_default()
                    ),
                ));
            }
            return self.specialist(p.specialist_id.clone(), Signal::Profile(p));
        }
        let bytes = payload(input).map_err(|e| ("undecodable", e))?;
        if input.topic == t.reviews {
            let r: Review = serde_json::from_slice(bytes)
                .map_err(|e| ("invalid_review", format!("not a review: {e}")))?;
            validate(&r, false)?;
            self.takes_reviews(&r.program_id)?;
            return self.specialist(r.specialist_id.clone(), Signal::Review(r));
        }
        if input.topic == t.commands {
            let c: CommandRecord = serde_json::from_slice(bytes).map_err(|e| {
                (
                    "invalid_command",
                    format!("not a verification command: {e}"),
                )
            })?;
            return self.specialist(c.specialist_id, Signal::Command(c.command));
        }
        let found: Vec<(String, Signal)> = if input.topic == t.touchpoints {
            if schemas::codec::is::<SourceWatermark>(bytes) {
                // The enricher's progress broadcast: no specialist's signal.
                return Ok(Vec::new());
            }
            let e: EnrichedTouchpoint =
                schemas::decode(bytes).map_err(|e| undecodable("an enriched touchpoint", e))?;
            signals::from_touchpoint(&e).into_iter().collect()
        } else if input.topic == t.attributions {
            let a: Attribution =
                schemas::decode(bytes).map_err(|e| undecodable("an attribution", e))?;
            signals::from_attribution(&a)
        } else if input.topic == t.ledger_entries {
            let e: LedgerEntry =
                schemas::decode(bytes).map_err(|e| undecodable("a ledger entry", e))?;
            signals::from_ledger_entry(&e).into_iter().collect()
        } else if input.topic == t.commissions {
            let d: schemas::CommissionDecision =
                schemas::decode(bytes).map_err(|e| undecodable("a commission decision", e))?;
            signals::from_decision(&d).into_iter().collect()
        } else if input.topic == t.claims {
            let c: ClaimNotice =
                schemas::decode(bytes).map_err(|e| undecodable("a claim notice", e))?;
            vec![signals::from_claim(&c)]
        } else {
            let l: RiskLevel =
                schemas::decode(bytes).map_err(|e| undecodable("a risk level", e))?;
            signals::from_risk_level(&l).into_iter().collect()
        };
        // The pipeline's records are about every partner: keep the specialists'.
        Ok(found
            .into_iter()
            .filter(|(p, _)| self.is_specialist(p))
            .collect())
    }
}

impl Processor for Router {
    fn process(
        &mut self,
        input: &Input<'_>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        if input.payload.is_none() && input.topic == self.topics.risk_levels {
            return Ok(()); // a compacted-away risk level
        }
        match self.signals(input) {
            Ok(found) => {
                for (specialist_id, signal) in found {
                    self.metrics
                        .routed
                        .with_label_values(&[kind(&signal)])
                        .inc();
                    let routed = Routed {
                        specialist_id,
                        signal,
                    };
                    let bytes = serde_json::to_vec(&routed).map_err(|e| RuntimeError::Sink {
                        store: "trust signals",
                        detail: e.to_string(),
                    })?;
                    outputs.push(Output::keyed(
                        Arc::clone(&self.signals),
                        Some(routed.specialist_id.into_bytes()),
                        bytes,
                    ));
                }
            }
            Err((reason, detail)) => {
                self.metrics
                    .dead_lettered
                    .with_label_values(&[reason])
                    .inc();
                outputs.push(self.dead_letters.reject(input, reason, detail, None)?);
            }
        }
        Ok(())
    }
}

/// A signal's kind, for metrics.
pub fn kind(signal: &Signal) -> &'static str {
    match signal {
        Signal::Profile(_) => "profile",
        Signal::ProfileRemoved => "profile_removed",
        Signal::OwnAccounts { .. } => "own_accounts",
        Signal::Command(_) => "command",
        Signal::Review(_) => "review",
        Signal::Credited { .. } => "credited",
        Signal::Flagged { .. } => "flagged",
        Signal::Click { .. } => "click",
        Signal::Refunded { .. } => "refunded",
        Signal::Reversed { .. } => "reversed",
        Signal::Claim { .. } => "claim",
        Signal::RiskLevel { .. } => "risk_level",
        Signal::AwaitingVerification { .. } => "awaiting_verification",
    }
}
