//! Specialist trust on the real broker and ClickHouse: profiles, verification commands issued
//! with `trust verification`, the pipeline's records about three specialists (clicks, credited
//! orders, a refund, a risk hold, risk levels) and reviews — a flood from one device, a
//! self-review, a review of an order not theirs and one of a risk-held order — give the ranking
//! and components computed by hand below; refused commands, bad profiles and reviews are
//! recorded with their reasons; records about an affiliate change nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use schemas::attribution::{AttributionKind, AttributionOutcome};
use schemas::ledger::{EntryKind, LedgerStatus};
use schemas::risk::RiskLevelName;
use schemas::touchpoint::EventKind;
use serde_json::{json, Value};
use tests::{
    binary, produce, publish_reference, require_broker, service_env, unique_namespace,
    ServiceProcess,
};

const PROGRAM: &str = "sandals-eu";
/// A program with `[programs.trust] reviews = false`.
const NO_REVIEWS: &str = "clinic-eu";

/// Keyed messages for one topic.
type Messages = Vec<(Option<Vec<u8>>, Vec<u8>)>;

fn reference() -> String {
    format!(
        r#"[[programs]]
id = "{PROGRAM}"
brand = "Sandals"
domains = ["shop.sandals.example"]
currency = "EUR"

[[partners]]
id = "p-lena"
name = "Lena"
kind = "specialist"
status = "verified"
self_referral_ids = ["cus-lena"]

[[partners]]
id = "p-mo"
name = "Mo"
kind = "specialist"
status = "verified"

[[partners]]
id = "p-kai"
name = "Kai"
kind = "specialist"
status = "pending"

[[partners]]
id = "p-aff"
name = "Deals blog"
status = "verified"

[[links]]
id = "l-kai"
partner = "p-kai"
program = "{PROGRAM}"

# A program that takes no reviews: its ranking weighs the other four components.
[[programs]]
id = "{NO_REVIEWS}"
brand = "Clinic"
domains = ["clinic.example"]
currency = "EUR"

[programs.trust]
reviews = false

[[links]]
id = "l-lena-clinic"
partner = "p-lena"
program = "{NO_REVIEWS}"
"#
    )
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON")
}

fn profiles() -> Messages {
    let keyed = |id: &str, v: Value| (Some(id.as_bytes().to_vec()), json_bytes(&v));
    vec![
        // Complete: 100 %.
        keyed(
            "p-lena",
            json!({"specialist_id": "p-lena", "display_name": "Lena Berg",
                   "bio": "b".repeat(120), "photo_ref": "img/lena.jpg",
                   "categories": ["podiatry"], "regions": ["DE"], "languages": ["de", "en"],
                   "credentials": [{"kind": "license", "issuer": "Chamber of Podiatrists",
                                    "evidence_ref": "docs/lena-license.pdf"}]}),
        ),
        // Name 10 + categories 15 + a current credential 30 = 55 %.
        keyed(
            "p-mo",
            json!({"specialist_id": "p-mo", "display_name": "Mo Yilmaz",
                   "categories": ["orthotics"],
                   "credentials": [{"kind": "certification", "issuer": "Orthotics Board",
                                    "expires_on": "2099-12-31", "evidence_ref": "docs/mo.pdf"}]}),
        ),
        keyed(
            "p-kai",
            json!({"specialist_id": "p-kai", "display_name": "Kai"}),
        ),
        // Dead letters: not JSON; an affiliate's profile.
        (Some(b"p-mo".to_vec()), b"{not json".to_vec()),
        keyed(
            "p-aff",
            json!({"specialist_id": "p-aff", "display_name": "Deals"}),
        ),
    ]
}

fn review(
    id: &str,
    specialist: &str,
    order: &str,
    rating: u8,
    customer: &str,
    device: Option<&str>,
    at: DateTime<Utc>,
) -> (Option<Vec<u8>>, Vec<u8>) {
    (
        Some(specialist.as_bytes().to_vec()),
        json_bytes(&json!({
            "review_id": id, "program_id": PROGRAM, "specialist_id": specialist,
            "order_id": order, "rating": rating, "text": "Thank you",
            "customer_id": customer, "device_id": device, "network": null,
            "at": at.to_rfc3339(),
        })),
    )
}

/// The same review, sent for another program.
fn in_program(
    program: &str,
    (key, bytes): (Option<Vec<u8>>, Vec<u8>),
) -> (Option<Vec<u8>>, Vec<u8>) {
    let mut review: Value = serde_json::from_slice(&bytes).expect("a review is JSON");
    review["program_id"] = json!(program);
    (key, json_bytes(&review))
}

fn reviews(now: DateTime<Utc>) -> Messages {
    let days = |d: i64| now - chrono::Duration::days(d);
    let hours = |h: i64| now - chrono::Duration::hours(h);
    vec![
        review("r1", "p-lena", "o1", 5, "cus-1", None, days(20)),
        review("r2", "p-lena", "o2", 4, "cus-2", None, days(10)),
        // Her own account: self_review.
        review("r3", "p-lena", "o3", 1, "cus-lena", None, days(9)),
        // Four from one device within a day: the two of her orders device_burst, the two
        // of orders she was not credited for not_attributed.
        review("r4", "p-lena", "o4", 1, "cus-4", Some("dev-x"), hours(5)),
        review("r5", "p-lena", "o5", 1, "cus-5", Some("dev-x"), hours(4)),
        review("r7", "p-lena", "o-x1", 1, "cus-7", Some("dev-x"), hours(3)),
        review("r8", "p-lena", "o-x2", 1, "cus-8", Some("dev-x"), hours(2)),
        // An order risk held: risk_flagged.
        review("r6", "p-lena", "o6", 2, "cus-6", None, days(3)),
        review("r10", "p-mo", "o10", 3, "cus-10", None, days(2)),
        // Dead letters: a second review of o1 (duplicate_order), a rating of 7.
        review("r9", "p-lena", "o1", 5, "cus-9", None, days(1)),
        review("r11", "p-mo", "o11", 7, "cus-11", None, days(1)),
        // An affiliate: not_a_specialist.
        review("r12", "p-aff", "o20", 5, "cus-12", None, days(1)),
        // A program without reviews (reviews_not_enabled) and one nobody knows.
        in_program(
            NO_REVIEWS,
            review("r13", "p-lena", "o30", 5, "cus-13", None, days(1)),
        ),
        in_program(
            "nope-eu",
            review("r14", "p-lena", "o31", 5, "cus-14", None, days(1)),
        ),
    ]
}

/// Clicks, credited orders (an affiliate's too), a refund, a risk hold and risk levels.
fn pipeline_records(topics: &runtime::settings::Topics) -> Vec<(String, Messages)> {
    let key = |k: &str| Some(k.as_bytes().to_vec());
    let mut clicks = Vec::new();
    for (partner, n) in [("p-lena", 12), ("p-mo", 4), ("p-aff", 3)] {
        for i in 0..n {
            let mut t = schemas::examples::enriched_touchpoint();
            t.program_id = PROGRAM.into();
            t.touchpoint.kind = EventKind::Click;
            t.touchpoint.event_id = format!("click-{partner}-{i}");
            t.partner.partner_id = Some(partner.into());
            clicks.push((key(partner), schemas::encode(&t).expect("encodes")));
        }
    }
    let mut attributions = Vec::new();
    for (partner, orders) in [
        ("p-lena", vec!["o1", "o2", "o3", "o4", "o5", "o6"]),
        ("p-mo", vec!["o10", "o11"]),
        ("p-aff", vec!["o20"]),
    ] {
        for order in orders {
            let mut a = schemas::examples::attribution();
            a.program_id = PROGRAM.into();
            a.order_id = order.into();
            a.kind = AttributionKind::Conversion;
            a.outcome = AttributionOutcome::Attributed;
            a.credits.truncate(1);
            a.credits[0].partner_id = partner.into();
            attributions.push((key(order), schemas::encode(&a).expect("encodes")));
        }
    }
    let entry = |partner: &str, order: &str, cause: &str, to: LedgerStatus| {
        let mut e = schemas::examples::ledger_entry();
        e.entry_id = format!("ent-{order}-{cause}");
        e.program_id = PROGRAM.into();
        e.partner_id = partner.into();
        e.order_id = order.into();
        e.commission_id = format!("com-{order}");
        e.cause = cause.into();
        e.from_status = None;
        e.to_status = to;
        e.entry_kind = EntryKind::StatusChange;
        (key(partner), schemas::encode(&e).expect("encodes"))
    };
    let entries = vec![
        entry("p-lena", "o2", "refund", LedgerStatus::Reversed),
        entry("p-lena", "o6", "risk_policy", LedgerStatus::Held),
        entry("p-aff", "o20", "refund", LedgerStatus::Reversed),
    ];
    let level = |partner: &str, l: RiskLevelName| {
        let mut r = schemas::examples::risk_level();
        r.program_id = PROGRAM.into();
        r.partner_id = partner.into();
        r.shared_id = None;
        r.level = l;
        (key(partner), schemas::encode(&r).expect("encodes"))
    };
    let levels = vec![
        level("p-lena", RiskLevelName::Low),
        level("p-mo", RiskLevelName::Elevated),
    ];
    vec![
        (topics.touchpoints_enriched.clone(), clicks),
        (topics.attributions.clone(), attributions),
        (topics.ledger_entries.clone(), entries),
        (topics.risk_levels.clone(), levels),
    ]
}

fn verification(env: &HashMap<String, String>, args: &[&str]) {
    let out = Command::new(binary("trust"))
        .arg("verification")
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .expect("trust verification runs");
    assert!(
        out.status.success(),
        "trust verification {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Shown {
    specialist_id: String,
    verification: String,
    listed: u8,
    score: String,
    completeness_percent: i32,
    review_count: i32,
    review_average: String,
    explanation: String,
}

async fn shown(db: &clickhouse::Client) -> Vec<Shown> {
    shown_in(db, PROGRAM).await
}

async fn shown_in(db: &clickhouse::Client, program: &str) -> Vec<Shown> {
    db.query(&format!(
        "SELECT specialist_id, verification, listed, toString(score) AS score, \
         completeness_percent, review_count, toString(review_average) AS review_average, \
         explanation FROM trust_specialists FINAL WHERE program_id = '{program}' \
         ORDER BY listed DESC, score DESC, specialist_id"
    ))
    .fetch_all()
    .await
    .unwrap_or_default()
}

/// A decimal's text without trailing zeros ("0.5000" and "0.50" are "0.5").
fn norm(d: &str) -> String {
    if d.contains('.') {
        d.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        d.to_string()
    }
}

fn components(explanation: &str) -> BTreeMap<String, (String, String)> {
    let v: Value = serde_json::from_str(explanation).expect("the explanation is JSON");
    v["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                (
                    norm(c["value"].as_str().unwrap_or_default()),
                    norm(c["contribution"].as_str().unwrap_or_default()),
                ),
            )
        })
        .collect()
}

fn start(binary_name: &str, env: &HashMap<String, String>, dir: &Path) -> ServiceProcess {
    ServiceProcess::start_logged(
        &binary(binary_name),
        env,
        &dir.join(format!("{binary_name}.log")),
    )
    .unwrap_or_else(|e| panic!("{binary_name} starts: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_commands_records_and_reviews_give_the_hand_computed_ranking() {
    require_broker();
    let namespace = unique_namespace("trust");
    let env = service_env(
        &namespace,
        &[
            ("TRUST_GROUP_ID", &format!("{namespace}-trust")),
            (
                "TRUST_ROUTER_GROUP_ID",
                &format!("{namespace}-trust-router"),
            ),
        ],
    );
    let dir = std::env::temp_dir().join(format!("attrib-{namespace}"));
    std::fs::create_dir_all(&dir).expect("log dir");
    publish_reference(&env, &reference())
        .await
        .expect("reference published");
    let trust = start("trust", &env, &dir);
    let ledger_writer = start("ledger-writer", &env, &dir);
    let topics = {
        let mut e = runtime::Env::from_map(env.clone());
        runtime::CommonConfig::from_env(&mut e, "test", "127.0.0.1:0").topics
    };
    let now = Utc::now();
    // Commands, as operators issue them: Lena verified; Mo's first verify lacks the identity
    // check and is refused, the second is accepted; Kai applied only; reinstating Lena, who
    // is not suspended, is refused.
    for args in [
        &["apply", "p-lena", "--actor", "ops@sandals"][..],
        &["start_review", "p-lena", "--actor", "reviewer@sandals"],
        &[
            "verify",
            "p-lena",
            "--actor",
            "reviewer@sandals",
            "--reason",
            "licence and ID checked",
            "--identity",
            "--credential",
            "--agreement",
        ],
        &["apply", "p-mo", "--actor", "ops@sandals"],
        &["start_review", "p-mo", "--actor", "reviewer@sandals"],
        &[
            "verify",
            "p-mo",
            "--actor",
            "reviewer@sandals",
            "--credential",
            "--agreement",
        ],
        &[
            "verify",
            "p-mo",
            "--actor",
            "reviewer@sandals",
            "--identity",
            "--credential",
            "--agreement",
        ],
        &["apply", "p-kai", "--actor", "ops@sandals"],
        &[
            "reinstate",
            "p-lena",
            "--actor",
            "ops@sandals",
            "--reason",
            "by mistake",
            "--agreement",
        ],
    ] {
        verification(&env, args);
    }
    produce(&topics.trust_profiles, &profiles())
        .await
        .expect("profiles");
    for (topic, messages) in pipeline_records(&topics) {
        produce(&topic, &messages).await.expect("pipeline records");
    }
    produce(&topics.trust_reviews, &reviews(now))
        .await
        .expect("reviews");

    let db = tests::ledger::clickhouse(&tests::ledger::database_for(&namespace));
    tests::ledger::wait_for_schema(&db, Duration::from_secs(120))
        .await
        .expect("schema");
    let partner_db = tests::ledger::clickhouse(&format!(
        "{}_partner",
        tests::ledger::database_for(&namespace)
    ));
    // By hand (weights 0.15 verification, 0.20 quality, 0.30 reviews, 0.20 risk, 0.15
    // performance; each contribution rounded to four places, half-even):
    // Lena — 1 current credential: 0.5 → 0.075; 100 % complete, verified today: 0.8 → 0.16;
    //   reviews 5 and 4 counted, (5 × 3.5 + 9) / 7 = 3.79, (3.79 − 1) / 4 = 0.6975 → 0.20925
    //   → 0.2092; risk low 1 → 0.2; 6 conversions, 1 refunded: 0.6 × 5/6 = 0.5 → 0.075.
    //   Score 0.7192.
    // Mo — 0.5 → 0.075; 55 %: 0.44 → 0.088; one review of 3: (17.5 + 3) / 6 = 3.42, 0.605 →
    //   0.1815; elevated 0.5 → 0.1; 2 conversions: 0.2 → 0.03. Score 0.4745.
    // Kai — applied: not listed, 0.
    let expected = [
        ("p-lena", "verified", 1, "0.7192", 100, 2, "3.79"),
        ("p-mo", "verified", 1, "0.4745", 55, 1, "3.42"),
        ("p-kai", "applied", 0, "0", 10, 0, "3.5"),
    ];
    let started = Instant::now();
    let rows = loop {
        let rows = shown(&partner_db).await;
        let got: Vec<(String, String, u8, String, i32, i32, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.specialist_id.clone(),
                    r.verification.clone(),
                    r.listed,
                    norm(&r.score),
                    r.completeness_percent,
                    r.review_count,
                    norm(&r.review_average),
                )
            })
            .collect();
        let want: Vec<(String, String, u8, String, i32, i32, String)> = expected
            .iter()
            .map(|(id, v, l, s, c, n, a)| {
                (
                    id.to_string(),
                    v.to_string(),
                    *l,
                    s.to_string(),
                    *c,
                    *n,
                    a.to_string(),
                )
            })
            .collect();
        if got == want {
            break rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the marketplace in ClickHouse is {got:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    println!(
        "trust: ranking as computed by hand after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let lena = components(&rows[0].explanation);
    let want = |pairs: [(&str, &str, &str); 5]| -> BTreeMap<String, (String, String)> {
        pairs
            .into_iter()
            .map(|(n, v, c)| (n.to_string(), (v.to_string(), c.to_string())))
            .collect()
    };
    assert_eq!(
        lena,
        want([
            ("verification", "0.5", "0.075"),
            ("quality", "0.8", "0.16"),
            ("reviews", "0.6975", "0.2092"),
            ("risk", "1", "0.2"),
            ("performance", "0.5", "0.075"),
        ]),
        "Lena's components"
    );
    let explanation: Value = serde_json::from_str(&rows[0].explanation).expect("JSON");
    assert_eq!(
        explanation["reviews"]["excluded"],
        json!({"device_burst": 2, "not_attributed": 2, "risk_flagged": 1, "self_review": 1}),
        "each excluded review with its reason"
    );
    assert_eq!(
        explanation["reviews"]["distribution"],
        json!([0, 0, 0, 1, 1])
    );
    assert_eq!(explanation["profile"]["categories"], json!(["podiatry"]));
    assert!(
        !rows[0].explanation.contains("Lena Berg"),
        "names stay out of the trust record"
    );
    let markers: Vec<String> = explanation["markers"]
        .as_array()
        .expect("markers")
        .iter()
        .map(|m| {
            format!(
                "{}: {}",
                m["name"].as_str().unwrap_or(""),
                m["inputs"].as_str().unwrap_or("")
            )
        })
        .collect();
    println!("trust: Lena's markers: {markers:?}");
    assert!(
        markers
            .iter()
            .any(|m| m.contains("6 conversions") || m.contains("12 clicks")),
        "the conversion marker shows its inputs: {markers:?}"
    );
    // Nothing about the affiliate.
    assert_eq!(
        tests::ledger::count(
            &partner_db,
            "SELECT count() FROM trust_specialists FINAL WHERE specialist_id = 'p-aff'"
        )
        .await
        .expect("count"),
        0
    );
    // The verification history: every command, the refused with why.
    let history = tests::ledger::wait_count(
        &db,
        "SELECT count() FROM trust_verification FINAL",
        9,
        Duration::from_secs(60),
    )
    .await
    .expect("history");
    assert_eq!(history, 9);
    let refused: Vec<(String, String, String)> = db
        .query(
            "SELECT specialist_id, action, assumeNotNull(refusal) FROM trust_verification FINAL \
             WHERE accepted = 0 ORDER BY specialist_id",
        )
        .fetch_all()
        .await
        .expect("refused commands");
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(
        (refused[0].0.as_str(), refused[0].1.as_str()),
        ("p-lena", "reinstate")
    );
    assert!(refused[0].2.contains("verified"), "{}", refused[0].2);
    assert_eq!(
        (refused[1].0.as_str(), refused[1].1.as_str()),
        ("p-mo", "verify")
    );
    assert!(refused[1].2.contains("identity"), "{}", refused[1].2);
    // Dead letters, each with its reason.
    let started = Instant::now();
    let reasons = loop {
        let reasons: Vec<(String, u64)> = db
            .query(
                "SELECT reason, count() FROM dead_letters WHERE service = 'trust' \
                 GROUP BY reason ORDER BY reason",
            )
            .fetch_all()
            .await
            .unwrap_or_default();
        if reasons.iter().map(|(_, n)| n).sum::<u64>() >= 7
            || started.elapsed() > Duration::from_secs(60)
        {
            break reasons;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(
        reasons,
        [
            ("duplicate_order".to_string(), 1),
            ("not_a_specialist".to_string(), 2),
            ("not_json".to_string(), 1),
            ("rating_out_of_range".to_string(), 1),
            ("reviews_not_enabled".to_string(), 1),
            ("unknown_program".to_string(), 1),
        ],
        "dead letters by reason"
    );
    // The program without reviews ranks Lena with its own weights: reviews weigh nothing,
    // the rest as documented for such programs, and her score is their sum.
    let started = Instant::now();
    let clinic = loop {
        let rows = shown_in(&partner_db, NO_REVIEWS).await;
        if let Some(lena) = rows.into_iter().find(|r| r.specialist_id == "p-lena") {
            break lena;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Lena is not shown in {NO_REVIEWS}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let explanation: Value = serde_json::from_str(&clinic.explanation).expect("JSON");
    let weights: BTreeMap<String, String> = explanation["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                norm(c["weight"].as_str().unwrap_or_default()),
            )
        })
        .collect();
    assert_eq!(
        weights,
        [
            ("performance", "0.2"),
            ("quality", "0.3"),
            ("reviews", "0"),
            ("risk", "0.3"),
            ("verification", "0.2"),
        ]
        .map(|(n, w)| (n.to_string(), w.to_string()))
        .into(),
        "{NO_REVIEWS}'s weights"
    );
    let sum: rust_decimal::Decimal = components(&clinic.explanation)
        .values()
        .map(|(_, c)| c.parse::<rust_decimal::Decimal>().expect("decimal"))
        .sum();
    assert_eq!(norm(&sum.to_string()), norm(&clinic.score));
    println!(
        "trust: {NO_REVIEWS} (no reviews) ranks Lena {} with its own weights",
        clinic.score
    );
    // The partner API, with a real HTTP client: discovery for any token of the program, each
    // specialist's own record for them (and operators) only.
    let issue = |args: &[&str]| -> String {
        let out = Command::new(binary("partner-api"))
            .args(["token", "issue", "--actor", "ops@test"])
            .args(args)
            .env_clear()
            .envs(&env)
            .output()
            .expect("partner-api runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("a token")
            .trim()
            .to_string()
    };
    let lena_token = issue(&["--program", PROGRAM, "--partner", "p-lena"]);
    let foreign = issue(&["--program", "other-eu", "--operator"]);
    let port = tests::free_port();
    let mut api_env = env.clone();
    api_env.insert(
        "PARTNER_API_LISTEN_ADDR".into(),
        format!("127.0.0.1:{port}"),
    );
    let _api = start("partner-api", &api_env, &dir);
    let root = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while tests::http::get(&format!("{root}/"), None).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the API did not come up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let doc = tests::http::get(&format!("{root}/v1/openapi.json"), None)
        .await
        .expect("the OpenAPI document")
        .json;
    let discovery_url = format!("{root}/v1/programs/{PROGRAM}/specialists");
    let listed = tests::http::get(&discovery_url, Some(&lena_token))
        .await
        .expect("discovery answers");
    assert_eq!(listed.status, 200, "{:?}", listed.json);
    let ranked: Vec<(u64, String, String)> = listed.json["specialists"]
        .as_array()
        .expect("specialists")
        .iter()
        .map(|s| {
            (
                s["rank"].as_u64().unwrap_or(0),
                s["specialist_id"].as_str().unwrap_or("").to_string(),
                norm(s["score"].as_str().unwrap_or("")),
            )
        })
        .collect();
    assert_eq!(
        ranked,
        [
            (1, "p-lena".to_string(), "0.7192".to_string()),
            (2, "p-mo".to_string(), "0.4745".to_string())
        ],
        "only the verified are listed, highest score first"
    );
    let own = tests::http::get(
        &format!("{root}/v1/programs/{PROGRAM}/partners/p-lena/trust"),
        Some(&lena_token),
    )
    .await
    .expect("own record");
    assert_eq!(own.status, 200);
    assert_eq!(
        own.json["trust"]["components"][2]["inputs"],
        "Bayesian average 3.79 over 2 review(s)"
    );
    for (path, answer) in [
        ("/v1/programs/{program}/specialists", &listed),
        ("/v1/programs/{program}/partners/{partner}/trust", &own),
    ] {
        let schema = tests::openapi::response_schema(&doc, "get", path, 200).expect("documented");
        let problems = tests::openapi::check(&doc, schema, &answer.json, "$");
        assert!(
            problems.is_empty(),
            "{path} departs from the document: {problems:?}"
        );
    }
    let not_hers = tests::http::get(
        &format!("{root}/v1/programs/{PROGRAM}/partners/p-mo/trust"),
        Some(&lena_token),
    )
    .await
    .expect("answers");
    assert_eq!(not_hers.status, 403, "another specialist's own record");
    let other_program = tests::http::get(&discovery_url, Some(&foreign))
        .await
        .expect("answers");
    assert_eq!(other_program.status, 403, "another program's token");
    println!("trust: discovery {ranked:?}");
    drop(trust);
    drop(ledger_writer);
}

fn economics_reference() -> String {
    let mut text = String::from(
        r#"[[programs]]
id = "clinic-eu"
brand = "Clinic Supplies"
domains = ["shop.clinic.example"]
currency = "EUR"
hold_days = 30

[programs.attribution]
model = "last_touch"
click_window_days = 30
grace_seconds = 0

[programs.risk]
hold_unverified_specialists = true

[[rules]]
id = "clinic-default"
program = "clinic-eu"
percent = "10"
"#,
    );
    for (id, kind) in [
        ("p-ana", "specialist"),
        ("p-ben", "specialist"),
        ("p-cat", "affiliate"),
    ] {
        text.push_str(&format!(
            "\n[[partners]]\nid = \"{id}\"\nname = \"{id}\"\nkind = \"{kind}\"\nstatus = \"verified\"\n\
             \n[[links]]\nid = \"l-{id}\"\npartner = \"{id}\"\nprogram = \"clinic-eu\"\n"
        ));
    }
    text
}

/// A click on the partner's link and, an hour later, an order of 100.00 EUR.
fn referral(partner: &str, n: usize, at: DateTime<Utc>) -> Messages {
    let visitor = format!("v-{partner}-{n}");
    let click = json!({"kind": "click", "event_id": format!("clk-{partner}-{n}"),
        "occurred_at": (at - chrono::Duration::hours(1)).to_rfc3339(), "visitor_id": visitor,
        "link_id": format!("l-{partner}"), "url": "https://shop.clinic.example/insoles",
        "ip": format!("198.51.100.{}", 10 + n), "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"});
    let order = json!({"kind": "conversion", "event_id": format!("conv-{partner}-{n}"),
        "occurred_at": at.to_rfc3339(), "visitor_id": visitor,
        "order_id": format!("o-{partner}-{n}"), "amount": "100.00", "currency": "EUR",
        "url": "https://shop.clinic.example/checkout/thank-you",
        "ip": format!("198.51.100.{}", 10 + n), "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"});
    [click, order]
        .iter()
        .map(|e| (Some(visitor.as_bytes().to_vec()), json_bytes(e)))
        .collect()
}

/// Commission lines by partner and status, from ClickHouse.
async fn statuses(db: &clickhouse::Client) -> BTreeMap<(String, String), u64> {
    let rows: Vec<(String, String, u64)> = db
        .query(
            "SELECT partner_id, status, count() FROM commissions FINAL \
             WHERE line_kind = 'commission' GROUP BY partner_id, status",
        )
        .fetch_all()
        .await
        .unwrap_or_default();
    rows.into_iter().map(|(p, s, n)| ((p, s), n)).collect()
}

async fn wait_statuses(db: &clickhouse::Client, want: &[(&str, &str, u64)], what: &str) {
    let want: BTreeMap<(String, String), u64> = want
        .iter()
        .map(|(p, s, n)| ((p.to_string(), s.to_string()), *n))
        .collect();
    let started = Instant::now();
    loop {
        let got = statuses(db).await;
        if got == want {
            println!(
                "trust: {what} after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "{what}: commission lines by partner and status are {got:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_specialists_commissions_are_held_then_released_on_verification_or_reversed_on_rejection(
) {
    require_broker();
    let namespace = unique_namespace("trust-money");
    let env = service_env(
        &namespace,
        &[
            ("TRUST_GROUP_ID", &format!("{namespace}-trust")),
            (
                "TRUST_ROUTER_GROUP_ID",
                &format!("{namespace}-trust-router"),
            ),
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "2"),
        ],
    );
    let dir = std::env::temp_dir().join(format!("attrib-{namespace}"));
    publish_reference(&env, &economics_reference())
        .await
        .expect("reference published");
    let mut pipeline = tests::pipeline::Pipeline::start(&env, &dir).expect("the pipeline starts");
    let trust = start("trust", &env, &dir);
    pipeline
        .wait_ready(Duration::from_secs(180))
        .expect("the pipeline is ready");
    let topics = {
        let mut e = runtime::Env::from_map(env.clone());
        runtime::CommonConfig::from_env(&mut e, "test", "127.0.0.1:0").topics
    };
    // Both specialists applied and are in review: not verified.
    for id in ["p-ana", "p-ben"] {
        verification(&env, &["apply", id, "--actor", "ops@clinic"]);
        verification(&env, &["start_review", id, "--actor", "reviewer@clinic"]);
    }
    let now = Utc::now() - chrono::Duration::hours(2);
    let mut raw: Messages = Vec::new();
    for partner in ["p-ana", "p-ben", "p-cat"] {
        for n in 0..3 {
            raw.extend(referral(
                partner,
                n,
                now + chrono::Duration::minutes(n as i64),
            ));
        }
    }
    produce(&topics.touchpoints_raw, &raw)
        .await
        .expect("raw events");
    let db = tests::ledger::clickhouse(&tests::ledger::database_for(&namespace));
    tests::ledger::wait_for_schema(&db, Duration::from_secs(120))
        .await
        .expect("schema");
    // The specialists' lines are held (unverified_specialist); the affiliate's pending.
    wait_statuses(
        &db,
        &[
            ("p-ana", "held", 3),
            ("p-ben", "held", 3),
            ("p-cat", "pending", 3),
        ],
        "unverified specialists' lines held",
    )
    .await;
    let reasons: Vec<String> = db
        .query(
            "SELECT DISTINCT arrayJoin(decision_reasons) FROM commissions FINAL \
             WHERE partner_id IN ('p-ana', 'p-ben')",
        )
        .fetch_all()
        .await
        .unwrap_or_default();
    assert_eq!(
        reasons,
        ["unverified_specialist"],
        "held for verification, nothing else"
    );
    // Ana is verified, Ben rejected: the trust service's signed review commands settle them.
    verification(
        &env,
        &[
            "verify",
            "p-ana",
            "--actor",
            "reviewer@clinic",
            "--identity",
            "--credential",
            "--agreement",
        ],
    );
    verification(
        &env,
        &[
            "reject",
            "p-ben",
            "--actor",
            "reviewer@clinic",
            "--reason",
            "licence not confirmed by the issuer",
        ],
    );
    wait_statuses(
        &db,
        &[
            ("p-ana", "approved", 3),
            ("p-ben", "reversed", 3),
            ("p-cat", "pending", 3),
        ],
        "verification approved Ana's lines, rejection reversed Ben's",
    )
    .await;
    // The audit trail: each line's entries, the release by the trust service's command.
    let trail: Vec<(String, String, String, String)> = db
        .query(
            "SELECT partner_id, ifNull(from_status, ''), to_status, actor FROM ledger_entries \
             WHERE partner_id IN ('p-ana', 'p-ben') ORDER BY partner_id, sequence, commission_id",
        )
        .fetch_all()
        .await
        .expect("entries");
    for partner in ["p-ana", "p-ben"] {
        let theirs: Vec<&(String, String, String, String)> =
            trail.iter().filter(|t| t.0 == partner).collect();
        assert_eq!(
            theirs.len(),
            6,
            "{partner}: decided held, then settled: {theirs:?}"
        );
    }
    let to = |p: &str| if p == "p-ana" { "approved" } else { "reversed" };
    for t in trail.iter().filter(|t| t.1 == "held") {
        assert_eq!(t.2, to(&t.0), "{t:?}");
        // The ledger records the signing principal and the actor.
        assert_eq!(
            t.3, "ops/trust",
            "the release names who signed and who acted: {t:?}"
        );
    }
    // Finance reads the same on the ledger topic: an independent consumer.
    let entries: Vec<schemas::LedgerEntry> =
        tests::consume(&topics.ledger_entries, 18, Duration::from_secs(60))
            .expect("ledger entries")
            .iter()
            .filter_map(|m| schemas::decode(tests::payload(m)).ok())
            .collect();
    let released = entries
        .iter()
        .filter(|e| e.from_status == Some(LedgerStatus::Held) && e.actor == "ops/trust")
        .map(|e| (e.partner_id.clone(), e.to_status))
        .fold(BTreeMap::<(String, String), u32>::new(), |mut m, (p, s)| {
            *m.entry((p, format!("{s:?}"))).or_default() += 1;
            m
        });
    assert_eq!(
        released,
        BTreeMap::from([
            (("p-ana".to_string(), "Approved".to_string()), 3),
            (("p-ben".to_string(), "Reversed".to_string()), 3)
        ]),
        "on the finance topic"
    );
    // Verified now, Ana's next order earns like anyone's.
    produce(
        &topics.touchpoints_raw,
        &referral("p-ana", 9, Utc::now() - chrono::Duration::minutes(30)),
    )
    .await
    .expect("raw events");
    wait_statuses(
        &db,
        &[
            ("p-ana", "approved", 3),
            ("p-ana", "pending", 1),
            ("p-ben", "reversed", 3),
            ("p-cat", "pending", 3),
        ],
        "a verified specialist's new line is pending",
    )
    .await;
    drop(trust);
    pipeline.stop().expect("the pipeline stops cleanly");
}
