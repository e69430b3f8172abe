//! One specialist's state as the scorer keeps it (pure): the profile, the verification
//! workflow, and per program the reviews and what the pipeline reported — credited orders
//! (which make reviews verified), risk-flagged orders, clicks, conversions, refunds, reversals,
//! claims and the risk level. [`SpecialistState::trust`] turns it into the record a program's
//! marketplace shows: listed or not and why, score and components, markers, completeness and
//! the review aggregate.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::profile::{completeness, Completeness, Profile};
use crate::quality::{markers, ranking_inputs, Facts, Marker};
use crate::ranking::{components, not_listed_because, score, Component, Weights};
use crate::reviews::{aggregate, assess, validate, Aggregate, OrderFacts, Policy, Review};
use crate::verification::{Command, Outcome, Verification};

/// Something the scorer learned about a specialist (JSON on the internal signals topic,
/// tagged by `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    /// The profile, as last published.
    Profile(Profile),
    /// The profile was withdrawn or erased (a tombstone on the profiles topic).
    ProfileRemoved,
    /// The specialist's own accounts (self-referral ids, from the reference data).
    OwnAccounts {
        /// Their ids.
        ids: Vec<String>,
    },
    /// A verification command.
    Command(Command),
    /// A review.
    Review(Review),
    /// An order credited to the specialist (from an attribution), counted once per order.
    Credited {
        /// Program.
        program_id: String,
        /// The order.
        order_id: String,
    },
    /// An order whose commission risk held or reversed.
    Flagged {
        /// Program.
        program_id: String,
        /// The order.
        order_id: String,
    },
    /// A click of theirs (touchpoint id, counted once).
    Click {
        /// Program.
        program_id: String,
        /// The touchpoint.
        touchpoint_id: String,
    },
    /// A credited order refunded (in part or full), counted once per order.
    Refunded {
        /// Program.
        program_id: String,
        /// The order.
        order_id: String,
    },
    /// A commission line reversed, counted once per line.
    Reversed {
        /// Program.
        program_id: String,
        /// The line.
        commission_id: String,
    },
    /// A claim filed (counted once per claim).
    Claim {
        /// Program.
        program_id: String,
        /// The claim.
        claim_id: String,
    },
    /// A commission of theirs risk held until they are verified (reason
    /// `unverified_specialist`).
    AwaitingVerification {
        /// Program.
        program_id: String,
        /// The line.
        commission_id: String,
    },
    /// Their risk level in a program.
    RiskLevel {
        /// Program.
        program_id: String,
        /// The level name.
        level: String,
    },
}

/// What became of a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The state changed for these programs (empty: for every program, e.g. a new profile).
    Changed(Vec<String>),
    /// Known already, or nothing to change.
    Unchanged,
    /// A command refused, or a review refused at intake: the reason code and why.
    Refused(&'static str, String),
}

/// One program's part of a specialist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramPart {
    /// Reviews accepted at intake, in arrival order.
    pub reviews: Vec<Review>,
    /// Credited orders and whether risk flagged them.
    pub orders: HashMap<String, OrderFacts>,
    /// Clicks seen.
    pub clicks: BTreeSet<String>,
    /// Refunded orders.
    pub refunded: BTreeSet<String>,
    /// Reversed lines.
    pub reversed: BTreeSet<String>,
    /// Claims filed.
    pub claims: BTreeSet<String>,
    /// Risk level.
    pub risk_level: Option<String>,
    /// Commissions held until verification, not yet approved or reversed.
    #[serde(default)]
    pub awaiting_verification: BTreeSet<String>,
}

/// A specialist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialistState {
    /// The partner id.
    pub specialist_id: String,
    /// The profile, once published.
    pub profile: Option<Profile>,
    /// Own accounts (self-review exclusion).
    pub own_accounts: Vec<String>,
    /// The workflow and its history.
    pub verification: Verification,
    /// Per program.
    pub programs: BTreeMap<String, ProgramPart>,
}

/// What a program's marketplace shows of a specialist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustRecord {
    /// Program.
    pub program_id: String,
    /// The partner id.
    pub specialist_id: String,
    /// Verification status (`not_applied` before an application).
    pub verification: String,
    /// Listed at all (verified).
    pub listed: bool,
    /// Why not.
    pub not_listed_because: Option<String>,
    /// Σ contributions (0 when not listed).
    pub score: Decimal,
    /// The components with weights and inputs.
    pub components: Vec<Component>,
    /// Quality markers with inputs.
    pub markers: Vec<Marker>,
    /// Profile completeness.
    pub completeness: Completeness,
    /// Reviews.
    pub reviews: Aggregate,
}

fn changed_if(new: bool, program: &str) -> Applied {
    if new {
        Applied::Changed(vec![program.to_string()])
    } else {
        Applied::Unchanged
    }
}

impl SpecialistState {
    /// A specialist nothing is known of yet.
    pub fn new(specialist_id: &str) -> SpecialistState {
        SpecialistState {
            specialist_id: specialist_id.to_string(),
            profile: None,
            own_accounts: Vec::new(),
            verification: Verification::default(),
            programs: BTreeMap::new(),
        }
    }

    fn part(&mut self, program: &str) -> &mut ProgramPart {
        self.programs.entry(program.to_string()).or_default()
    }

    /// Applies one signal.
    pub fn apply(&mut self, signal: Signal) -> Applied {
        match signal {
            Signal::Profile(p) => {
                if self.profile.as_ref() == Some(&p) {
                    return Applied::Unchanged;
                }
                self.profile = Some(p);
                Applied::Changed(Vec::new())
            }
            Signal::ProfileRemoved => {
                if self.profile.is_none() {
                    return Applied::Unchanged;
                }
                self.profile = None;
                Applied::Changed(Vec::new())
            }
            Signal::OwnAccounts { ids } => {
                if self.own_accounts == ids {
                    return Applied::Unchanged;
                }
                self.own_accounts = ids;
                Applied::Changed(Vec::new())
            }
            Signal::Command(c) => match self.verification.apply(&c) {
                Outcome::Applied(_) => Applied::Changed(Vec::new()),
                Outcome::Duplicate => Applied::Unchanged,
                Outcome::Refused(why) => Applied::Refused("command_refused", why),
            },
            Signal::Review(r) => {
                let program = r.program_id.clone();
                let part = self.part(&program);
                if part.reviews.iter().any(|k| k.review_id == r.review_id) {
                    return Applied::Unchanged;
                }
                let reviewed = part.reviews.iter().any(|k| k.order_id == r.order_id);
                if let Err((code, why)) = validate(&r, reviewed) {
                    return Applied::Refused(code, why);
                }
                part.reviews.push(r);
                Applied::Changed(vec![program])
            }
            Signal::Credited {
                program_id,
                order_id,
            } => {
                let id = self.specialist_id.clone();
                let facts = self.part(&program_id).orders.entry(order_id).or_default();
                let new = !facts.credited.contains(&id);
                if new {
                    facts.credited.push(id);
                }
                changed_if(new, &program_id)
            }
            Signal::Flagged {
                program_id,
                order_id,
            } => {
                let facts = self.part(&program_id).orders.entry(order_id).or_default();
                let new = !facts.risk_flagged;
                facts.risk_flagged = true;
                changed_if(new, &program_id)
            }
            Signal::Click {
                program_id,
                touchpoint_id,
            } => {
                let new = self.part(&program_id).clicks.insert(touchpoint_id);
                changed_if(new, &program_id)
            }
            Signal::Refunded {
                program_id,
                order_id,
            } => {
                let new = self.part(&program_id).refunded.insert(order_id);
                changed_if(new, &program_id)
            }
            Signal::Reversed {
                program_id,
                commission_id,
            } => {
                let new = self.part(&program_id).reversed.insert(commission_id);
                changed_if(new, &program_id)
            }
            Signal::Claim {
                program_id,
                claim_id,
            } => {
                let new = self.part(&program_id).claims.insert(claim_id);
                changed_if(new, &program_id)
            }
            Signal::AwaitingVerification {
                program_id,
                commission_id,
            } => {
                let new = self
                    .part(&program_id)
                    .awaiting_verification
                    .insert(commission_id);
                // Not shown in the record: only what to release changes.
                if new {
                    Applied::Changed(Vec::new())
                } else {
                    Applied::Unchanged
                }
            }
            Signal::RiskLevel { program_id, level } => {
                let part = self.part(&program_id);
                let new = part.risk_level.as_deref() != Some(level.as_str());
                part.risk_level = Some(level);
                changed_if(new, &program_id)
            }
        }
    }

    /// When a verified specialist's credentials have all lapsed on `today`: the command that
    /// makes their verification due again (issued by the scorer itself, once per day at most).
    pub fn lapse(&self, today: chrono::NaiveDate) -> Option<Command> {
        use crate::verification::{Action, Checklist, Status};
        let profile = self.profile.as_ref()?;
        let lapsed = !profile.credentials.is_empty()
            && profile.credentials.iter().all(|c| !c.current_on(today));
        if !lapsed || self.verification.status != Some(Status::Verified) {
            return None;
        }
        let last = profile
            .credentials
            .iter()
            .filter_map(|c| c.expires_on)
            .max()?;
        Some(Command {
            command_id: format!("lapse-{}-{today}", self.specialist_id),
            action: Action::CredentialExpired,
            actor: "trust".into(),
            reason: format!("every credential expired (the last on {last})"),
            checklist: Checklist::default(),
            at: today
                .and_hms_opt(0, 0, 0)
                .map_or_else(Utc::now, |t| t.and_utc()),
        })
    }

    /// Lines held until verification that the workflow now settles: `(program, commission,
    /// approve)` — approve once verified, reverse once rejected; none while the specialist
    /// has applied, is in review, suspended or due. Taken: each is released once.
    pub fn take_settled(&mut self) -> Vec<(String, String, bool)> {
        use crate::verification::Status;
        let approve = match self.verification.status {
            Some(Status::Verified) => true,
            Some(Status::Rejected) => false,
            _ => return Vec::new(),
        };
        let mut out = Vec::new();
        for (program, part) in &mut self.programs {
            for commission in std::mem::take(&mut part.awaiting_verification) {
                out.push((program.clone(), commission, approve));
            }
        }
        out
    }

    /// The programs the specialist is known in.
    pub fn program_ids(&self) -> impl Iterator<Item = &String> {
        self.programs.keys()
    }

    /// What `program`'s marketplace shows of the specialist as of `now`.
    pub fn trust(
        &self,
        program: &str,
        policy: &Policy,
        weights: &Weights,
        now: DateTime<Utc>,
    ) -> TrustRecord {
        let empty = ProgramPart::default();
        let part = self.programs.get(program).unwrap_or(&empty);
        let profile = self.profile.clone().unwrap_or_else(|| Profile {
            specialist_id: self.specialist_id.clone(),
            ..Profile::default()
        });
        let assessed = assess(&part.reviews, &part.orders, &self.own_accounts, policy);
        let reviews = aggregate(&assessed, policy, now);
        let credited = part
            .orders
            .values()
            .filter(|o| !o.credited.is_empty())
            .count() as u32;
        let facts = Facts {
            clicks: part.clicks.len() as u32,
            conversions: credited,
            refunded: part.refunded.len() as u32,
            reversed: part.reversed.len() as u32,
            claims: part.claims.len() as u32,
            risk_level: part.risk_level.clone(),
        };
        let inputs = ranking_inputs(&profile, &self.verification, &reviews, &facts, now);
        let components = components(&inputs, weights);
        let listed = inputs.listable;
        TrustRecord {
            program_id: program.to_string(),
            specialist_id: self.specialist_id.clone(),
            verification: inputs.status.clone(),
            listed,
            not_listed_because: (!listed).then(|| not_listed_because(&inputs.status)),
            score: score(&components, listed),
            components,
            markers: markers(&profile, &self.verification, &facts, now),
            completeness: completeness(&profile, now.date_naive()),
            reviews,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verification::{Action, Checklist};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
    }

    fn command(id: &str, action: Action) -> Signal {
        Signal::Command(Command {
            command_id: id.into(),
            action,
            actor: "reviewer@brand".into(),
            reason: "documents checked".into(),
            checklist: Checklist::COMPLETE,
            at: now() - chrono::Duration::days(73),
        })
    }

    fn review(id: &str, order: &str, rating: u8, customer: &str) -> Signal {
        Signal::Review(Review {
            review_id: id.into(),
            program_id: "sandals-eu".into(),
            specialist_id: "p-lena".into(),
            order_id: order.into(),
            rating,
            text: None,
            customer_id: Some(customer.into()),
            device_id: None,
            network: None,
            at: now() - chrono::Duration::days(3),
        })
    }

    fn credited(order: &str) -> Signal {
        Signal::Credited {
            program_id: "sandals-eu".into(),
            order_id: order.into(),
        }
    }

    #[test]
    fn lines_held_for_verification_settle_once_when_verified_or_rejected() {
        let awaiting = |id: &str| Signal::AwaitingVerification {
            program_id: "sandals-eu".into(),
            commission_id: id.into(),
        };
        let mut s = SpecialistState::new("p-lena");
        s.apply(command("c1", Action::Apply));
        s.apply(awaiting("com-1"));
        assert_eq!(s.apply(awaiting("com-1")), Applied::Unchanged);
        s.apply(command("c2", Action::StartReview));
        assert!(s.take_settled().is_empty(), "in review: still held");
        s.apply(command("c3", Action::Verify));
        assert_eq!(
            s.take_settled(),
            [("sandals-eu".to_string(), "com-1".to_string(), true)]
        );
        assert!(s.take_settled().is_empty(), "released once");
        // Held after verification (risk had not seen it yet): released at once.
        s.apply(awaiting("com-2"));
        assert_eq!(s.take_settled().len(), 1);
        let mut r = SpecialistState::new("p-ben");
        for (id, action) in [("a", Action::Apply), ("b", Action::StartReview)] {
            r.apply(command(id, action));
        }
        r.apply(awaiting("com-9"));
        r.apply(command("c", Action::Reject));
        assert_eq!(
            r.take_settled(),
            [("sandals-eu".to_string(), "com-9".to_string(), false)]
        );
    }

    /// A specialist from application to a listed record, by hand: one current credential
    /// (0.5), a full profile verified 73 days ago (0.8 + 0.2 × 73/365 = 0.84), reviews 5 and 4
    /// counted, the self-review and the one of an order not theirs not — (17.5 + 9) / 7 =
    /// 3.7857 → 3.79, (3.79 − 1) / 4 = 0.6975 — risk low (1), 3 credited orders (the
    /// self-reviewed one too), one refunded: 0.3 × 2/3 = 0.2. Score 0.15 × 0.5 + 0.2 × 0.84 +
    /// 0.3 × 0.6975 + 0.2 × 1 + 0.15 × 0.2 = 0.075 + 0.168 + 0.20925 (0.2092 at four places,
    /// half-even) + 0.2 + 0.03 = 0.6822.
    #[test]
    fn from_application_to_a_listed_record() {
        let mut s = SpecialistState::new("p-lena");
        let profile = crate::profile::parse(
            format!(
                r#"{{"specialist_id": "p-lena", "display_name": "Lena", "bio": "{}",
                    "photo_ref": "img-1", "categories": ["skin"], "regions": ["DE"],
                    "languages": ["de"], "credentials": [{{"kind": "license",
                    "issuer": "chamber", "evidence_ref": "doc-1"}}]}}"#,
                "b".repeat(80)
            )
            .as_bytes(),
        )
        .expect("valid");
        assert_eq!(
            s.apply(Signal::Profile(profile.clone())),
            Applied::Changed(vec![])
        );
        assert_eq!(s.apply(Signal::Profile(profile)), Applied::Unchanged);
        s.apply(Signal::OwnAccounts {
            ids: vec!["cus-own".into()],
        });
        let pending = s.trust("sandals-eu", &Policy::default(), &Weights::default(), now());
        assert!(!pending.listed);
        assert_eq!(pending.verification, "not_applied");
        assert!(matches!(
            s.apply(command("c0", Action::Verify)),
            Applied::Refused("command_refused", _)
        ));
        for (id, action) in [
            ("c1", Action::Apply),
            ("c2", Action::StartReview),
            ("c3", Action::Verify),
        ] {
            assert_eq!(s.apply(command(id, action)), Applied::Changed(vec![]));
        }
        assert_eq!(s.apply(command("c3", Action::Verify)), Applied::Unchanged);
        for order in ["o1", "o2", "o3"] {
            s.apply(credited(order));
        }
        assert_eq!(s.apply(credited("o1")), Applied::Unchanged);
        s.apply(review("r1", "o1", 5, "cus-1"));
        s.apply(review("r2", "o2", 4, "cus-2"));
        s.apply(review("r3", "o3", 1, "cus-own"));
        s.apply(review("r4", "o-not-theirs", 1, "cus-4"));
        assert!(matches!(
            s.apply(review("r5", "o1", 5, "cus-5")),
            Applied::Refused("duplicate_order", _)
        ));
        s.apply(Signal::Refunded {
            program_id: "sandals-eu".into(),
            order_id: "o2".into(),
        });
        s.apply(Signal::RiskLevel {
            program_id: "sandals-eu".into(),
            level: "low".into(),
        });
        let t = s.trust("sandals-eu", &Policy::default(), &Weights::default(), now());
        assert!(t.listed);
        assert_eq!(t.completeness.percent, 100);
        assert_eq!(t.reviews.count, 2);
        assert_eq!(t.reviews.bayesian, Decimal::new(379, 2));
        assert_eq!(
            t.reviews.excluded,
            BTreeMap::from([("not_attributed", 1), ("self_review", 1)])
        );
        let values: Vec<Decimal> = t.components.iter().map(|c| c.value).collect();
        assert_eq!(
            values,
            [
                Decimal::new(5, 1),
                Decimal::new(84, 2),
                Decimal::new(6975, 4),
                Decimal::ONE,
                Decimal::new(2, 1)
            ]
        );
        assert_eq!(t.markers[3].inputs, "1 refunded of 3 conversions");
        assert_eq!(t.score, Decimal::new(6822, 4));
    }
}
