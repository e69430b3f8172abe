//! Deterministic raw-event workloads for the demo and the benchmarks: a realistic mix where
//! page views and clicks far outnumber conversions, with a small share of malformed messages.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::json;

/// The load generator's seeded generator: one algorithm for every workload in the project.
pub use loadgen::Rng;

/// `count` raw messages: ~60% page views, 25% clicks, 4% code redemptions, 4% leads,
/// 5% conversions, 1% refunds, ~1% malformed.
pub fn raw_events(count: usize, seed: u64, now: DateTime<Utc>) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let codes = ["SUMMER10", "PODCAST20", "WELCOME5", "VIP15"];
    let currencies = [
        ("EUR", "129.90"),
        ("USD", "49.00"),
        ("GBP", "15.75"),
        ("JPY", "4800"),
    ];
    (0..count)
        .map(|i| {
            let at = (now - Duration::seconds(rng.below(86_400) as i64)).to_rfc3339_opts(SecondsFormat::Millis, true);
            let visitor = format!("v-{}", rng.below(50_000));
            let roll = rng.below(1000);
            let event = match roll {
                0..=9 => return br#"{"kind":"conversion","event_id":"broken","amount":12.5}"#.to_vec(),
                10..=609 => json!({"kind": "page_view", "event_id": format!("e{seed}-{i}"), "occurred_at": at,
                    "visitor_id": visitor, "url": format!("https://shop.example.com/p/{}?utm_source=news&utm_medium=email", rng.below(500)),
                    "referrer": "https://www.google.com/", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "ip": format!("198.51.100.{}", rng.below(255))}),
                610..=859 => json!({"kind": "click", "event_id": format!("e{seed}-{i}"), "occurred_at": at,
                    "visitor_id": visitor, "link_id": format!("lnk-{}", rng.below(200)), "click_id": format!("c{i}"),
                    "url": "https://shop.example.com/landing?ref=partner&gclid=Cj0KCQ", "ip": format!("203.0.113.{}", rng.below(255)),
                    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"}),
                860..=899 => json!({"kind": "code_redemption", "event_id": format!("e{seed}-{i}"), "occurred_at": at,
                    "visitor_id": visitor, "code": codes[rng.below(4) as usize]}),
                900..=939 => json!({"kind": "lead", "event_id": format!("e{seed}-{i}"), "occurred_at": at,
                    "visitor_id": visitor, "customer_id": format!("cus-{}", rng.below(20_000))}),
                940..=989 => {
                    let (currency, amount) = currencies[rng.below(4) as usize];
                    json!({"kind": "conversion", "event_id": format!("e{seed}-{i}"), "occurred_at": at,
                        "visitor_id": visitor, "customer_id": format!("cus-{}", rng.below(20_000)),
                        "order_id": format!("ord-{seed}-{i}"), "amount": amount, "currency": currency})
                }
                _ => json!({"kind": "refund", "event_id": format!("e{seed}-{i}"), "occurred_at": at,
                    "customer_id": format!("cus-{}", rng.below(20_000)), "order_id": format!("ord-{seed}-{}", rng.below(i as u64 + 1)),
                    "amount": "10.00", "currency": "EUR"}),
            };
            serde_json::to_vec(&event).expect("json serialises")
        })
        .collect()
}
