//! Quality markers of a specialist (pure), each shown with the inputs it came from: verified
//! credentials, tenure, and what the ledger, the claims and risk say about the customers they
//! referred. Rates are per 100, two decimals, half-even; a rate without its denominator is
//! absent, never 0. Risk is the level only — never reason codes.

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::profile::Profile;
use crate::ranking::Inputs;
use crate::reviews::Aggregate;
use crate::verification::Verification;

/// What the pipeline knows of a specialist's referred customers, per program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Their click touchpoints.
    pub clicks: u32,
    /// Credited conversions.
    pub conversions: u32,
    /// Of those, refunded in part or in full.
    pub refunded: u32,
    /// Commission lines reversed.
    pub reversed: u32,
    /// Missing-commission claims they filed.
    pub claims: u32,
    /// Their risk level name, if scored.
    pub risk_level: Option<String>,
}

/// One marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Marker {
    /// Its name.
    pub name: &'static str,
    /// Its value as shown (`null` when there is nothing to show).
    pub value: Option<String>,
    /// What it came from.
    pub inputs: String,
}

/// `n` per 100 `d`, exactly two decimals.
pub fn per_hundred(n: u32, d: u32) -> Option<Decimal> {
    (d > 0).then(|| {
        let mut r = (Decimal::from(n) * Decimal::from(100) / Decimal::from(d))
            .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
        r.rescale(2);
        r
    })
}

fn days_since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i64 {
    t.map_or(0, |t| (now - t).num_days().max(0))
}

fn current_credentials(profile: &Profile, now: DateTime<Utc>) -> u32 {
    profile
        .credentials
        .iter()
        .filter(|c| c.current_on(now.date_naive()))
        .count() as u32
}

/// The markers of a specialist as of `now`.
pub fn markers(
    profile: &Profile,
    verification: &Verification,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Vec<Marker> {
    let status = verification.status.map_or("not applied", |s| s.as_str());
    let current = current_credentials(profile, now);
    let verified = verification.listable();
    let rate = |name, n: u32, d: u32, what: &str, of: &str| Marker {
        name,
        value: per_hundred(n, d).map(|r| format!("{r} %")),
        inputs: format!("{n} {what} of {d} {of}"),
    };
    vec![
        Marker {
            name: "verified_credentials",
            value: Some(if verified { current } else { 0 }.to_string()),
            inputs: format!(
                "{current} current of {} credential(s); verification {status}",
                profile.credentials.len()
            ),
        },
        Marker {
            name: "tenure_days",
            value: verification
                .first_verified_at()
                .map(|_| days_since(verification.first_verified_at(), now).to_string()),
            inputs: verification.first_verified_at().map_or_else(
                || "never verified".to_string(),
                |t| format!("first verified {}", t.date_naive()),
            ),
        },
        rate(
            "conversion_rate",
            facts.conversions,
            facts.clicks,
            "conversions",
            "clicks",
        ),
        rate(
            "refund_rate",
            facts.refunded,
            facts.conversions,
            "refunded",
            "conversions",
        ),
        rate(
            "reversal_rate",
            facts.reversed,
            facts.conversions,
            "reversed",
            "conversions",
        ),
        rate(
            "claims_rate",
            facts.claims,
            facts.conversions,
            "claims",
            "conversions",
        ),
        Marker {
            name: "risk_level",
            value: facts.risk_level.clone(),
            inputs: "the partner's risk level (levels only, never reason codes)".into(),
        },
    ]
}

/// The ranking's inputs for a specialist as of `now`.
pub fn ranking_inputs(
    profile: &Profile,
    verification: &Verification,
    reviews: &Aggregate,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Inputs {
    Inputs {
        specialist_id: profile.specialist_id.clone(),
        listable: verification.listable(),
        status: verification
            .status
            .map_or("not_applied", |s| s.as_str())
            .to_string(),
        current_credentials: current_credentials(profile, now),
        completeness: crate::profile::completeness(profile, now.date_naive()).percent,
        days_verified: days_since(verification.first_verified_at(), now),
        bayesian: reviews.bayesian,
        reviews: reviews.count,
        risk_level: facts.risk_level.clone(),
        conversions: facts.conversions,
        refunded: facts.refunded,
        reversed: facts.reversed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Credential;
    use crate::verification::{Action, Checklist, Command};
    use chrono::TimeZone;

    fn verified_on(day: u32) -> Verification {
        let mut v = Verification::default();
        for (id, action) in [
            ("a", Action::Apply),
            ("b", Action::StartReview),
            ("c", Action::Verify),
        ] {
            v.apply(&Command {
                command_id: id.into(),
                action,
                actor: "reviewer".into(),
                reason: "ok".into(),
                checklist: Checklist::COMPLETE,
                at: Utc.with_ymd_and_hms(2026, 6, day, 12, 0, 0).unwrap(),
            });
        }
        v
    }

    #[test]
    fn markers_with_their_inputs() {
        let profile = Profile {
            specialist_id: "p-dr-lena".into(),
            credentials: vec![
                Credential {
                    kind: "license".into(),
                    issuer: "chamber".into(),
                    expires_on: None,
                    evidence_ref: "d1".into(),
                },
                Credential {
                    kind: "course".into(),
                    issuer: "academy".into(),
                    expires_on: chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
                    evidence_ref: "d2".into(),
                },
            ],
            ..Profile::default()
        };
        let facts = Facts {
            clicks: 300,
            conversions: 12,
            refunded: 1,
            reversed: 2,
            claims: 0,
            risk_level: Some("low".into()),
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap();
        let m = markers(&profile, &verified_on(1), &facts, now);
        let shown: Vec<(&str, Option<&str>)> =
            m.iter().map(|m| (m.name, m.value.as_deref())).collect();
        assert_eq!(
            shown,
            [
                ("verified_credentials", Some("1")),
                ("tenure_days", Some("179")),
                ("conversion_rate", Some("4.00 %")),
                ("refund_rate", Some("8.33 %")),
                ("reversal_rate", Some("16.67 %")),
                ("claims_rate", Some("0.00 %")),
                ("risk_level", Some("low")),
            ]
        );
        assert_eq!(
            m[0].inputs,
            "1 current of 2 credential(s); verification verified"
        );
        assert_eq!(m[3].inputs, "1 refunded of 12 conversions");
        let none = markers(&profile, &Verification::default(), &Facts::default(), now);
        assert_eq!(none[1].value, None, "never verified: no tenure");
        assert_eq!(none[2].value, None, "no clicks: no rate, not 0 %");
        assert_eq!(none[0].value.as_deref(), Some("0"));
    }
}
