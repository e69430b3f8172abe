//! The scorer: its apply step on the stateful harness. Each routed signal changes one
//! specialist; every program whose view changed gets a new trust record on the compacted
//! trust topic, and each verification command its judgement on the verification topic. Every
//! `TRUST_RESCORE_SECONDS` the scorer scores everyone again (tenure, trends and credential
//! expiry move with time) and makes a verified specialist whose credentials all lapsed `due`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reference::ReferenceData;
use runtime::stateful::{payload, Applied, Partitions, StatefulLogic};
use runtime::{encode, Input, Output, RuntimeError};
use schemas::ids::deterministic_id;
use schemas::ledger_command::CommandKind;
use schemas::{LedgerCommand, TrustState};

use crate::metrics::TrustMetrics;
use crate::records::{specialist_trust, verification_event};
use crate::router::Routed;
use crate::settings::Settings;
use crate::specialist::{Applied as Change, Signal, SpecialistState};
use crate::state::TrustPartition;
use crate::verification::{Outcome, Status};

/// The scorer's apply step.
#[allow(missing_debug_implementations)]
pub struct Scorer {
    /// Own accounts and the programs a specialist refers to.
    pub reference: Arc<ReferenceData>,
    /// The compacted trust topic.
    pub specialists_topic: Arc<str>,
    /// The verification history topic.
    pub verification_topic: Arc<str>,
    /// Scoring again without signals.
    pub rescore: Duration,
    /// Last time everyone was scored again.
    pub last_rescore: Instant,
    /// The ledger's commands topic (releases and reversals of lines held for verification).
    pub ledger_commands_topic: Arc<str>,
    /// Who those commands are signed as.
    pub command_signer: Option<(String, runtime::SecretBytes)>,
    /// Metrics.
    pub metrics: TrustMetrics,
}

impl Scorer {
    /// A program's settings: its reference data's trust section, else the defaults.
    fn settings(&self, program: &str) -> Settings {
        let reference = self.reference.read();
        let trust = reference.program(program).and_then(|p| p.trust.as_ref());
        Settings::of_program(trust).unwrap_or_else(|problems| {
            self.metrics.settings_refused.inc();
            tracing::warn!(
                program,
                ?problems,
                "trust settings unusable: ranking with the defaults"
            );
            Settings::default()
        })
    }

    /// The programs a specialist is shown in: where they have activity, and where a link or
    /// code of theirs sends customers.
    fn programs(&self, s: &SpecialistState) -> Vec<String> {
        let mut out: Vec<String> = s.program_ids().cloned().collect();
        out.extend(self.reference.read().programs_of(&s.specialist_id));
        out.sort();
        out.dedup();
        out
    }

    fn publish(
        &self,
        s: &SpecialistState,
        programs: &[String],
        now: DateTime<Utc>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        for program in programs {
            let settings = self.settings(program);
            let t = s.trust(program, &settings.policy, &settings.weights, now);
            let record = specialist_trust(&t, s.profile.as_ref(), now);
            outputs.push(Output::keyed(
                Arc::clone(&self.specialists_topic),
                Some(record.key().into_bytes()),
                encode("specialist trust", &record)?,
            ));
            self.metrics.published.inc();
        }
        Ok(())
    }

    /// Applies a verification command and records its judgement; `None` for a replayed one.
    fn command(
        &self,
        s: &mut SpecialistState,
        c: crate::verification::Command,
        outputs: &mut Vec<Output>,
    ) -> Result<bool, RuntimeError> {
        let from = s.verification.status;
        let outcome = s.verification.apply(&c);
        let refusal = match &outcome {
            Outcome::Duplicate => return Ok(false),
            Outcome::Applied(_) => None,
            Outcome::Refused(why) => Some(why.clone()),
        };
        let label = if refusal.is_some() {
            "refused"
        } else {
            "accepted"
        };
        self.metrics
            .commands
            .with_label_values(&[c.action.as_str(), label])
            .inc();
        let event = verification_event(
            &s.specialist_id,
            &c,
            from,
            s.verification.status,
            refusal.clone(),
        );
        outputs.push(Output::keyed(
            Arc::clone(&self.verification_topic),
            Some(s.specialist_id.clone().into_bytes()),
            encode("verification event", &event)?,
        ));
        Ok(refusal.is_none())
    }

    /// Lines held until verification that the workflow settled: a signed `review_approve`
    /// (verified) or `review_reverse` (rejected) each, keyed by the specialist like every
    /// partner command. Without a signer they stay awaiting (and held), logged.
    fn settle(
        &self,
        s: &mut SpecialistState,
        now: DateTime<Utc>,
        outputs: &mut Vec<Output>,
    ) -> Result<bool, RuntimeError> {
        let Some((principal, key)) = &self.command_signer else {
            let waiting: usize = s
                .programs
                .values()
                .map(|p| p.awaiting_verification.len())
                .sum();
            if waiting > 0
                && s.verification
                    .status
                    .is_some_and(|st| matches!(st, Status::Verified | Status::Rejected))
            {
                tracing::error!(specialist = %s.specialist_id, waiting, "Lines held until verification cannot be released: set LEDGER_COMMAND_PRINCIPAL and LEDGER_COMMAND_KEY.");
            }
            return Ok(false);
        };
        let last = s
            .verification
            .history
            .last()
            .map(|t| (t.command_id.clone(), t.reason.clone()))
            .unwrap_or_default();
        let settled = s.take_settled();
        for (program, commission, approve) in &settled {
            let kind = if *approve {
                CommandKind::ReviewApprove
            } else {
                CommandKind::ReviewReverse
            };
            let note = if *approve {
                format!("specialist verified (verification command {})", last.0)
            } else {
                format!(
                    "specialist rejected (verification command {}): {}",
                    last.0, last.1
                )
            };
            let mut command = LedgerCommand {
                command_id: deterministic_id("cmd", &["trust", commission, kind.as_str(), &last.0]),
                kind,
                actor: "trust".into(),
                issued_at: now,
                program_id: Some(program.clone()),
                period_end: None,
                minimum_payout: None,
                payout_id: None,
                commission_id: Some(commission.clone()),
                partner_id: Some(s.specialist_id.clone()),
                note: Some(note),
                principal: None,
                signature: None,
            };
            ledger_writer::authority::sign(&mut command, principal, key.expose());
            outputs.push(Output::keyed(
                Arc::clone(&self.ledger_commands_topic),
                Some(s.specialist_id.clone().into_bytes()),
                encode("ledger command", &command)?,
            ));
            self.metrics
                .released
                .with_label_values(&[if *approve { "approved" } else { "reversed" }])
                .inc();
        }
        Ok(!settled.is_empty())
    }

    /// A verified specialist whose credentials all lapsed becomes `due` (once per day).
    fn lapse(
        &self,
        s: &mut SpecialistState,
        now: DateTime<Utc>,
        outputs: &mut Vec<Output>,
    ) -> Result<bool, RuntimeError> {
        match s.lapse(now.date_naive()) {
            Some(c) => self.command(s, c, outputs),
            None => Ok(false),
        }
    }
}

impl StatefulLogic for Scorer {
    type State = TrustPartition;
    type Event = Routed;

    fn decode(&mut self, input: &Input<'_>) -> Result<Routed, String> {
        serde_json::from_slice(payload(input)?).map_err(|e| format!("not a trust signal: {e}"))
    }

    fn restore(
        &self,
        _partition: i32,
        records: &mut dyn Iterator<Item = TrustState>,
    ) -> TrustPartition {
        TrustPartition::restore(records)
    }

    fn apply(
        &mut self,
        state: &mut TrustPartition,
        input: &Input<'_>,
        routed: Routed,
        outputs: &mut Vec<Output>,
    ) -> Result<Applied, RuntimeError> {
        if state.applied(input.offset) {
            return Ok(Applied::Done);
        }
        state.advance(input.offset);
        let now = Utc::now();
        let id = routed.specialist_id;
        let own = self
            .reference
            .read()
            .partner(&id)
            .map(|p| p.self_referral_ids.clone())
            .unwrap_or_default();
        let s = state.specialist(&id);
        let mut changed = matches!(
            s.apply(Signal::OwnAccounts { ids: own }),
            Change::Changed(_)
        );
        let programs = match routed.signal {
            Signal::Command(c) => {
                changed |= self.command(s, c, outputs)?;
                Vec::new()
            }
            signal => match s.apply(signal) {
                Change::Changed(programs) => {
                    changed = true;
                    programs
                }
                Change::Unchanged => Vec::new(),
                Change::Refused(reason, detail) => {
                    if changed {
                        state.touch(&id);
                    }
                    // The harness dead-letters it (and counts it through `dead_lettered`).
                    return Ok(Applied::Rejected {
                        reason,
                        detail,
                        event_id: None,
                    });
                }
            },
        };
        changed |= self.lapse(s, now, outputs)?;
        changed |= self.settle(s, now, outputs)?;
        if changed {
            // A change of the specialist (profile, workflow, own accounts) shows in every
            // program; a program's own facts only in it.
            let shown = if programs.is_empty() {
                self.programs(s)
            } else {
                programs
            };
            let s = &*s;
            self.publish(s, &shown, now, outputs)?;
            state.touch(&id);
        }
        Ok(Applied::Done)
    }

    fn idle(
        &mut self,
        partitions: &mut Partitions<TrustPartition>,
        outputs: &mut Vec<Output>,
    ) -> Result<(), RuntimeError> {
        if self.last_rescore.elapsed() < self.rescore {
            return Ok(());
        }
        self.last_rescore = Instant::now();
        let now = Utc::now();
        for state in partitions.values_mut() {
            let ids: Vec<String> = state.specialists.keys().cloned().collect();
            for id in ids {
                let s = state.specialist(&id);
                if self.lapse(s, now, outputs)? {
                    state.touch(&id);
                }
                let s = state.specialist(&id);
                let programs = self.programs(s);
                self.publish(s, &programs, now, outputs)?;
            }
        }
        Ok(())
    }

    fn dead_lettered(&self, reason: &str) {
        self.metrics
            .dead_lettered
            .with_label_values(&[reason])
            .inc();
    }

    fn update_gauges(&self, partitions: &Partitions<TrustPartition>) {
        let mut by_status = std::collections::BTreeMap::<&str, i64>::new();
        let mut listed = 0i64;
        for s in partitions.values().flat_map(|p| p.specialists.values()) {
            let status = s.verification.status.map_or("not_applied", Status::as_str);
            *by_status.entry(status).or_default() += 1;
            if s.verification.status == Some(Status::Verified) {
                listed += i64::try_from(self.programs(s).len()).unwrap_or(i64::MAX);
            }
        }
        for status in ["not_applied"]
            .into_iter()
            .chain(Status::ALL.map(Status::as_str))
        {
            self.metrics
                .specialists
                .with_label_values(&[status])
                .set(by_status.get(status).copied().unwrap_or(0));
        }
        self.metrics.listed.set(listed);
    }
}
