//! The verification workflow of a specialist (pure): a state machine driven by audited
//! commands. Each command names its actor, a reason and the evidence checked (identity,
//! credential, agreement); an illegal one is refused with a reason and changes nothing; every
//! accepted one is kept in the history, which is the audit trail.
//!
//! ```text
//!   apply ──► applied ──start_review──► in_review ──verify──► verified ──suspend──► suspended
//!                ▲                         │  ▲                  │   ▲                  │
//!                └────apply── rejected ◄─reject │        credential│   └────reinstate─────┘
//!                                              │           expired▼
//!                                              └──start_review── due ──suspend──► suspended
//! ```
//!
//! `verify` needs all three checks; `reinstate` needs the agreement re-confirmed; `due` is what
//! an expired credential makes of a verified specialist (verification is due again: listed no
//! more until a review verifies them again).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a specialist stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Applied, waiting for a reviewer.
    Applied,
    /// A reviewer is checking the evidence.
    InReview,
    /// Verified: may be listed.
    Verified,
    /// Rejected; may apply again.
    Rejected,
    /// Suspended (from verified or due); may be reinstated.
    Suspended,
    /// A credential expired: verification is due again.
    Due,
}

impl Status {
    /// The name in records and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::InReview => "in_review",
            Status::Verified => "verified",
            Status::Rejected => "rejected",
            Status::Suspended => "suspended",
            Status::Due => "due",
        }
    }

    /// Every status, for exhaustive tests and documentation.
    pub const ALL: [Status; 6] = [
        Status::Applied,
        Status::InReview,
        Status::Verified,
        Status::Rejected,
        Status::Suspended,
        Status::Due,
    ];
}

/// What a command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Apply (first time, or again after a rejection).
    Apply,
    /// A reviewer takes it up (an application, or a verification that fell due).
    StartReview,
    /// Verified: identity, credential and agreement checked.
    Verify,
    /// Rejected.
    Reject,
    /// Suspended.
    Suspend,
    /// Back to verified after a suspension.
    Reinstate,
    /// A credential of a verified specialist expired (issued by the service, actor `system`).
    CredentialExpired,
}

impl Action {
    /// The name in records and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Apply => "apply",
            Action::StartReview => "start_review",
            Action::Verify => "verify",
            Action::Reject => "reject",
            Action::Suspend => "suspend",
            Action::Reinstate => "reinstate",
            Action::CredentialExpired => "credential_expired",
        }
    }

    /// Every action.
    pub const ALL: [Action; 7] = [
        Action::Apply,
        Action::StartReview,
        Action::Verify,
        Action::Reject,
        Action::Suspend,
        Action::Reinstate,
        Action::CredentialExpired,
    ];
}

/// The evidence a reviewer checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checklist {
    /// The person is who they say (an identity document was seen).
    pub identity: bool,
    /// A professional credential was checked with its issuer.
    pub credential: bool,
    /// The specialist agreement is signed.
    pub agreement: bool,
}

impl Checklist {
    /// All three checked.
    pub const COMPLETE: Checklist = Checklist {
        identity: true,
        credential: true,
        agreement: true,
    };

    fn missing(self) -> Vec<&'static str> {
        [
            ("identity", self.identity),
            ("credential", self.credential),
            ("agreement", self.agreement),
        ]
        .into_iter()
        .filter(|(_, checked)| !checked)
        .map(|(name, _)| name)
        .collect()
    }
}

/// One command of the workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Idempotency: a command seen before is not applied again.
    pub command_id: String,
    /// What it asks.
    pub action: Action,
    /// Who (a reviewer's id, or `system` for an expiry).
    pub actor: String,
    /// Why, in words kept in the history.
    pub reason: String,
    /// The evidence checked.
    pub checklist: Checklist,
    /// When it was issued.
    pub at: DateTime<Utc>,
}

/// One accepted transition: the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The command.
    pub command_id: String,
    /// Its action.
    pub action: Action,
    /// Before (`None` for the first application).
    pub from: Option<Status>,
    /// After.
    pub to: Status,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// The evidence checked.
    pub checklist: Checklist,
    /// When.
    pub at: DateTime<Utc>,
}

/// A specialist's verification: the current status and how it got there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// `None` before the first application.
    pub status: Option<Status>,
    /// Every accepted command, oldest first.
    pub history: Vec<Transition>,
}

/// What became of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied: the new status.
    Applied(Status),
    /// Seen before: nothing changed.
    Duplicate,
    /// Refused: why (nothing changed).
    Refused(String),
}

/// The status `action` leads to from `from`, or why it may not.
pub fn next(from: Option<Status>, action: Action) -> Result<Status, String> {
    use Action as A;
    use Status as S;
    let to = match (from, action) {
        (None | Some(S::Rejected), A::Apply) => S::Applied,
        (Some(S::Applied | S::Due), A::StartReview) => S::InReview,
        (Some(S::InReview), A::Verify) => S::Verified,
        (Some(S::InReview), A::Reject) => S::Rejected,
        (Some(S::Verified | S::Due), A::Suspend) => S::Suspended,
        (Some(S::Suspended), A::Reinstate) => S::Verified,
        (Some(S::Verified), A::CredentialExpired) => S::Due,
        (None, _) => {
            return Err(format!(
                "`{}` needs an application first: the specialist has not applied",
                action.as_str()
            ))
        }
        (Some(status), _) => {
            return Err(format!(
                "`{}` is not possible from `{}` (possible: {})",
                action.as_str(),
                status.as_str(),
                possible(Some(status)).join(", ")
            ))
        }
    };
    Ok(to)
}

/// The actions possible from `from`.
pub fn possible(from: Option<Status>) -> Vec<&'static str> {
    Action::ALL
        .into_iter()
        .filter(|a| {
            // The table alone, without recursion into the error text.
            matches!(
                (from, a),
                (None | Some(Status::Rejected), Action::Apply)
                    | (Some(Status::Applied | Status::Due), Action::StartReview)
                    | (Some(Status::InReview), Action::Verify | Action::Reject)
                    | (Some(Status::Verified | Status::Due), Action::Suspend)
                    | (Some(Status::Suspended), Action::Reinstate)
                    | (Some(Status::Verified), Action::CredentialExpired)
            )
        })
        .map(|a| a.as_str())
        .collect()
}

/// What the command itself must carry, whatever the status.
fn check(command: &Command) -> Result<(), String> {
    if command.actor.trim().is_empty() {
        return Err("a command needs an actor".into());
    }
    let needs_reason = matches!(
        command.action,
        Action::Reject | Action::Suspend | Action::Reinstate
    );
    if needs_reason && command.reason.trim().is_empty() {
        return Err(format!(
            "`{}` needs a reason: it is shown in the history",
            command.action.as_str()
        ));
    }
    match command.action {
        Action::Verify => {
            let missing = command.checklist.missing();
            if !missing.is_empty() {
                return Err(format!(
                    "`verify` needs identity, credential and agreement checked; not checked: {}",
                    missing.join(", ")
                ));
            }
        }
        Action::Reinstate if !command.checklist.agreement => {
            return Err("`reinstate` needs the agreement re-confirmed".into());
        }
        _ => {}
    }
    Ok(())
}

impl Verification {
    /// Applies `command`: a transition kept in the history, a duplicate, or a refusal.
    pub fn apply(&mut self, command: &Command) -> Outcome {
        if self
            .history
            .iter()
            .any(|t| t.command_id == command.command_id)
        {
            return Outcome::Duplicate;
        }
        let to = match check(command).and_then(|()| next(self.status, command.action)) {
            Ok(to) => to,
            Err(why) => return Outcome::Refused(why),
        };
        self.history.push(Transition {
            command_id: command.command_id.clone(),
            action: command.action,
            from: self.status,
            to,
            actor: command.actor.clone(),
            reason: command.reason.clone(),
            checklist: command.checklist,
            at: command.at,
        });
        self.status = Some(to);
        Outcome::Applied(to)
    }

    /// Verified and not suspended: the rule for being listed at all.
    pub fn listable(&self) -> bool {
        self.status == Some(Status::Verified)
    }

    /// When the specialist was first verified (tenure as a verified specialist starts there).
    pub fn first_verified_at(&self) -> Option<DateTime<Utc>> {
        self.history
            .iter()
            .find(|t| t.to == Status::Verified)
            .map(|t| t.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn command(id: &str, action: Action, checklist: Checklist) -> Command {
        Command {
            command_id: id.into(),
            action,
            actor: "reviewer@brand".into(),
            reason: "checked".into(),
            checklist,
            at: Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
        }
    }

    /// The whole table: every status (and none) × every action, legal or refused.
    #[test]
    fn every_legal_and_illegal_transition() {
        use Action as A;
        use Status as S;
        let legal = [
            (None, A::Apply, S::Applied),
            (Some(S::Rejected), A::Apply, S::Applied),
            (Some(S::Applied), A::StartReview, S::InReview),
            (Some(S::Due), A::StartReview, S::InReview),
            (Some(S::InReview), A::Verify, S::Verified),
            (Some(S::InReview), A::Reject, S::Rejected),
            (Some(S::Verified), A::Suspend, S::Suspended),
            (Some(S::Due), A::Suspend, S::Suspended),
            (Some(S::Suspended), A::Reinstate, S::Verified),
            (Some(S::Verified), A::CredentialExpired, S::Due),
        ];
        let mut froms: Vec<Option<Status>> = vec![None];
        froms.extend(S::ALL.map(Some));
        let mut refused = 0;
        for from in froms {
            for action in A::ALL {
                let expected = legal
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                match (next(from, action), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{from:?} {action:?}"),
                    (Err(why), None) => {
                        refused += 1;
                        assert!(why.contains(action.as_str()), "{why}");
                    }
                    (got, want) => panic!("{from:?} {action:?}: {got:?}, expected {want:?}"),
                }
            }
        }
        assert_eq!(refused, 7 * 7 - legal.len());
        assert_eq!(
            next(Some(S::Applied), A::Verify),
            Err("`verify` is not possible from `applied` (possible: start_review)".into())
        );
    }

    #[test]
    fn verify_needs_every_check_and_reinstate_the_agreement() {
        let mut v = Verification::default();
        assert_eq!(
            v.apply(&command("c1", Action::Apply, Checklist::default())),
            Outcome::Applied(Status::Applied)
        );
        v.apply(&command("c2", Action::StartReview, Checklist::default()));
        let partial = Checklist {
            identity: true,
            ..Checklist::default()
        };
        assert_eq!(
            v.apply(&command("c3", Action::Verify, partial)),
            Outcome::Refused(
                "`verify` needs identity, credential and agreement checked; not checked: credential, agreement"
                    .into()
            )
        );
        assert_eq!(
            v.status,
            Some(Status::InReview),
            "a refusal changes nothing"
        );
        assert_eq!(
            v.apply(&command("c4", Action::Verify, Checklist::COMPLETE)),
            Outcome::Applied(Status::Verified)
        );
        let mut no_reason = command("c5", Action::Suspend, Checklist::default());
        no_reason.reason = " ".into();
        assert!(matches!(v.apply(&no_reason), Outcome::Refused(w) if w.contains("reason")));
        v.apply(&command("c6", Action::Suspend, Checklist::default()));
        assert!(!v.listable());
        assert!(matches!(
            v.apply(&command("c7", Action::Reinstate, Checklist::default())),
            Outcome::Refused(w) if w.contains("agreement")
        ));
        let agreed = Checklist {
            agreement: true,
            ..Checklist::default()
        };
        assert_eq!(
            v.apply(&command("c8", Action::Reinstate, agreed)),
            Outcome::Applied(Status::Verified)
        );
        assert!(v.listable());
        assert_eq!(
            v.apply(&command("c8", Action::Reinstate, agreed)),
            Outcome::Duplicate
        );
        let trail: Vec<(Option<Status>, Status)> =
            v.history.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            trail,
            [
                (None, Status::Applied),
                (Some(Status::Applied), Status::InReview),
                (Some(Status::InReview), Status::Verified),
                (Some(Status::Verified), Status::Suspended),
                (Some(Status::Suspended), Status::Verified),
            ],
            "only accepted commands are in the history"
        );
        assert_eq!(v.first_verified_at(), Some(v.history[2].at));
    }

    #[test]
    fn an_expired_credential_makes_verification_due_and_a_review_restores_it() {
        let mut v = Verification::default();
        for (id, action) in [
            ("a", Action::Apply),
            ("b", Action::StartReview),
            ("c", Action::Verify),
            ("d", Action::CredentialExpired),
        ] {
            v.apply(&command(id, action, Checklist::COMPLETE));
        }
        assert_eq!(v.status, Some(Status::Due));
        assert!(!v.listable(), "a due specialist is not listed");
        v.apply(&command("e", Action::StartReview, Checklist::default()));
        v.apply(&command("f", Action::Verify, Checklist::COMPLETE));
        assert!(v.listable());
    }
}
