//! The demo's specialist marketplace (`demo` step 8): profiles, verification commands and
//! reviews for the reference data's specialists, written the way a platform writes them, so
//! the trust service (running beside the pipeline) ranks them from what the pipeline recorded.
//! Deterministic: the same ledger gives the same marketplace.

use std::sync::Arc;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use runtime::{Output, Producer};
use serde_json::{json, Value};

/// A specialist of the reference data.
#[derive(Debug, Clone)]
pub struct Specialist {
    /// Partner id.
    pub id: String,
    /// Name (profile display name).
    pub name: String,
    /// Their own accounts.
    pub own: Vec<String>,
}

/// What the demo does to each specialist, by position: most are verified; one is refused
/// once (no identity check) then verified; one stays in review; one is rejected.
fn commands(i: usize, id: &str, at: DateTime<Utc>) -> Vec<Value> {
    let cmd = |n: usize, action: &str, reason: &str, identity: bool| {
        json!({"specialist_id": id, "command_id": format!("demo-{id}-{n}"), "action": action,
               "actor": "reviewer@demo", "reason": reason,
               "checklist": {"identity": identity, "credential": true, "agreement": true},
               "at": (at + Duration::seconds(n as i64)).to_rfc3339()})
    };
    let mut out = vec![
        cmd(0, "apply", "", false),
        cmd(1, "start_review", "", false),
    ];
    match i % 6 {
        4 => {}
        5 => out.push(cmd(
            2,
            "reject",
            "licence could not be confirmed with the issuer",
            true,
        )),
        1 => {
            out.push(cmd(2, "verify", "", false));
            out.push(cmd(3, "verify", "identity and licence checked", true));
        }
        _ => out.push(cmd(2, "verify", "identity and licence checked", true)),
    }
    out
}

fn profile(i: usize, s: &Specialist) -> Value {
    let trade = s
        .name
        .split('(')
        .nth(1)
        .map(|t| t.trim_end_matches(')').to_string())
        .unwrap_or_else(|| "specialist".into());
    let mut p = json!({"specialist_id": s.id, "display_name": s.name, "categories": [trade],
                       "credentials": [{"kind": "license", "issuer": "Professional chamber",
                                        "evidence_ref": format!("docs/{}.pdf", s.id)}]});
    // Completeness varies: every other profile has a bio and a photo, every third regions
    // and languages.
    if i.is_multiple_of(2) {
        p["bio"] = json!(format!("{} has helped customers choose the right gear for over ten years, with fittings in person and online.", s.name));
        p["photo_ref"] = json!(format!("img/{}.jpg", s.id));
    }
    if i.is_multiple_of(3) {
        p["regions"] = json!(["DE", "AT"]);
        p["languages"] = json!(["de", "en"]);
    }
    p
}

/// Ratings by a fixed pattern: mostly 4s and 5s, some 2s and 3s.
fn rating(i: usize, n: usize) -> u8 {
    [5, 4, 5, 3, 4, 5, 2, 4][(i * 3 + n) % 8]
}

/// Writes everything; `orders` are each specialist's credited orders (program, order).
pub async fn publish(
    kafka: &runtime::settings::KafkaConfig,
    topics: &runtime::settings::Topics,
    specialists: &[Specialist],
    orders: &[(String, String, String)],
    now: DateTime<Utc>,
) -> Result<usize> {
    let keyed = |topic: &str, key: &str, v: &Value| Output {
        topic: Arc::from(topic),
        key: Some(key.as_bytes().to_vec()),
        partition: None,
        payload: Some(serde_json::to_vec(v).unwrap_or_default()),
    };
    let mut out = Vec::new();
    for (i, s) in specialists.iter().enumerate() {
        out.push(keyed(&topics.trust_profiles, &s.id, &profile(i, s)));
        for c in commands(i, &s.id, now - Duration::days(30)) {
            out.push(keyed(&topics.trust_commands, &s.id, &c));
        }
        let theirs: Vec<&(String, String, String)> = orders
            .iter()
            .filter(|(_, p, _)| *p == s.id)
            .take(12)
            .collect();
        for (n, (program, _, order)) in theirs.iter().enumerate() {
            // The first specialist's customers include a burst from one device (excluded);
            // the second's a review from their own account (excluded).
            let device = (i == 0 && n >= 6).then(|| "device-burst".to_string());
            let customer = if i == 1 && n == 0 {
                s.own
                    .first()
                    .cloned()
                    .unwrap_or_else(|| format!("cus-{order}"))
            } else {
                format!("cus-{order}")
            };
            let review = json!({"review_id": format!("rev-{order}"), "program_id": program,
                                "specialist_id": s.id, "order_id": order, "rating": rating(i, n),
                                "text": "Helpful and knew the product well.", "customer_id": customer,
                                "device_id": device, "network": null,
                                "at": (now - Duration::hours(n as i64)).to_rfc3339()});
            out.push(keyed(&topics.trust_reviews, &s.id, &review));
        }
    }
    let producer = Producer::new(kafka, "attrib-demo-marketplace")?;
    producer.send_all(&out).await?;
    Ok(out.len())
}
