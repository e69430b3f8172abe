//! The scorer's outputs as records (pure): what a program's marketplace shows of a specialist
//! and one verification command as judged.

use chrono::{DateTime, Utc};
use schemas::{SpecialistTrust, VerificationEvent};
use serde_json::json;

use crate::profile::Profile;
use crate::specialist::TrustRecord;
use crate::verification::{Command, Status};

/// The compacted trust topic's record: the figures as columns, the explanation as JSON
/// (the profile's professional facts — never the name, bio or photo, which are personal and
/// stay with the platform's own profile — components with weights and inputs, markers with inputs,
/// completeness per field, the review aggregate).
pub fn specialist_trust(
    t: &TrustRecord,
    profile: Option<&Profile>,
    now: DateTime<Utc>,
) -> SpecialistTrust {
    let shown = profile.map(|p| {
        json!({
            "categories": p.categories,
            "regions": p.regions,
            "languages": p.languages,
        })
    });
    let explanation = json!({
        "profile": shown,
        "components": t.components,
        "markers": t.markers,
        "completeness": t.completeness,
        "reviews": t.reviews,
    });
    SpecialistTrust {
        program_id: t.program_id.clone(),
        specialist_id: t.specialist_id.clone(),
        verification: t.verification.clone(),
        listed: t.listed,
        not_listed_because: t.not_listed_because.clone(),
        score: format!("{:.4}", t.score),
        completeness_percent: i32::try_from(t.completeness.percent).unwrap_or(i32::MAX),
        review_count: i32::try_from(t.reviews.count).unwrap_or(i32::MAX),
        review_average: t.reviews.bayesian.to_string(),
        explanation: explanation.to_string(),
        updated_at: now,
        version: now.timestamp_micros(),
    }
}

fn status_name(s: Option<Status>) -> String {
    s.map_or("not_applied", Status::as_str).to_string()
}

/// A command as judged: `refusal` is `None` when it was accepted.
pub fn verification_event(
    specialist_id: &str,
    c: &Command,
    from: Option<Status>,
    to: Option<Status>,
    refusal: Option<String>,
) -> VerificationEvent {
    VerificationEvent {
        command_id: c.command_id.clone(),
        specialist_id: specialist_id.to_string(),
        action: c.action.as_str().to_string(),
        accepted: refusal.is_none(),
        from_status: status_name(from),
        to_status: status_name(to),
        refusal,
        actor: c.actor.clone(),
        reason: c.reason.clone(),
        identity_checked: c.checklist.identity,
        credential_checked: c.checklist.credential,
        agreement_checked: c.checklist.agreement,
        at: c.at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranking::Weights;
    use crate::reviews::Policy;
    use crate::specialist::SpecialistState;
    use crate::verification::{Action, Checklist};

    #[test]
    fn a_record_carries_its_explanation_and_a_refusal_its_reason() {
        let s = SpecialistState::new("p-lena");
        let now = Utc::now();
        let t = s.trust("sandals-eu", &Policy::default(), &Weights::default(), now);
        let r = specialist_trust(&t, None, now);
        assert_eq!(r.key(), "sandals-eu/p-lena");
        assert_eq!(r.score, "0.0000");
        assert_eq!(r.verification, "not_applied");
        let e: serde_json::Value = serde_json::from_str(&r.explanation).expect("JSON");
        assert_eq!(e["components"].as_array().map(Vec::len), Some(5));
        assert!(e["profile"].is_null());
        let c = Command {
            command_id: "c1".into(),
            action: Action::Verify,
            actor: "ops".into(),
            reason: String::new(),
            checklist: Checklist::default(),
            at: now,
        };
        let v = verification_event("p-lena", &c, None, None, Some("apply first".into()));
        assert!(!v.accepted);
        assert_eq!(
            (v.from_status.as_str(), v.to_status.as_str()),
            ("not_applied", "not_applied")
        );
    }
}
