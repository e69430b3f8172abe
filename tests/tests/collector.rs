//! The collector on the real stack, used as senders use it: a real HTTP client posts single
//! events, JSON batches and NDJSON with a write key, and Stripe's documented payloads signed the
//! way Stripe signs them (by Python's `hmac`, an implementation independent of ours), into the
//! five running services. Checked: the answers (per-event reasons, 401, 413, 400, 404), that
//! the raw topic holds exactly what was accepted and ingest dead-letters none of it, that the
//! Stripe events become the attributions a person would work out by hand (a subscription's
//! renewal numbered by the attributor, a partial refund reversing its share), and that during a
//! broker outage requests fail with 503 and nothing of them is written.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use schemas::attribution::{Attribution, AttributionKind};
use serde_json::{json, Value};
use tests::http::{post_raw, Answer};
use tests::pipeline::Pipeline;
use tests::{
    binary, consume, consume_until, free_port, http_get, payload, publish_reference,
    require_broker, service_env, start_broker, stop_broker, unique_namespace, ServiceProcess,
};

const STRIPE_SECRET: &str = "whsec_test_collector_9f3c2a7e51b84d06";

fn reference(
    acme_key: &runtime::api_key::IssuedKey,
    rival_key: &runtime::api_key::IssuedKey,
) -> String {
    format!(
        r#"
[[programs]]
id = "acme-us"
brand = "Acme"
domains = ["shop.acme.example"]
currency = "USD"
hold_days = 30
[programs.attribution]
model = "last_touch"
grace_seconds = 0

[[programs]]
id = "rival"
brand = "Rival"
domains = ["rival.example"]
currency = "USD"

[[partners]]
id = "p-anna"
name = "Anna"
status = "verified"

[[partners]]
id = "p-codes"
name = "Coupon site"
status = "verified"

[[links]]
id = "l-acme-anna"
partner = "p-anna"
program = "acme-us"

[[codes]]
code = "TRAVEL10"
partner = "p-codes"
program = "acme-us"

[[rules]]
id = "acme-ten"
program = "acme-us"
percent = "10"
recurring_renewals = 12

[[write_keys]]
id = "{}"
program = "acme-us"
secret_sha256 = "{}"
label = "the collector test"

[[write_keys]]
id = "{}"
program = "rival"
secret_sha256 = "{}"
"#,
        acme_key.id, acme_key.secret_sha256, rival_key.id, rival_key.secret_sha256
    )
}

fn key() -> runtime::api_key::IssuedKey {
    runtime::api_key::issue(
        "wk",
        &runtime::api_key::random_bytes::<40>().expect("random"),
    )
}

async fn events(
    port: u16,
    key: Option<&str>,
    content_type: &str,
    body: impl Into<Vec<u8>>,
) -> Answer {
    let authorization = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![("content-type", content_type)];
    if let Some(a) = &authorization {
        headers.push(("authorization", a.as_str()));
    }
    post_raw(
        &format!("http://127.0.0.1:{port}/v1/events"),
        &headers,
        body.into(),
    )
    .await
    .expect("the collector answers")
}

/// Stripe's `Stripe-Signature` for `body` at time `t`, computed by Python's `hmac`.
fn python_signature(body: &[u8], t: i64) -> String {
    let script = "import hmac, hashlib, sys\nsecret, t = sys.argv[1], sys.argv[2]\nbody = sys.stdin.buffer.read()\nprint('t=%s,v1=%s' % (t, hmac.new(secret.encode(), t.encode() + b'.' + body, hashlib.sha256).hexdigest()))";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, STRIPE_SECRET, &t.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("write body");
    let out = child.wait_with_output().expect("python3 finishes");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

async fn stripe(port: u16, program: &str, body: &[u8], signature: &str) -> Answer {
    post_raw(
        &format!("http://127.0.0.1:{port}/v1/stripe/{program}"),
        &[
            ("content-type", "application/json"),
            ("stripe-signature", signature),
        ],
        body.to_vec(),
    )
    .await
    .expect("the collector answers")
}

/// A Stripe fixture with its event time moved so the first fixture happened 400 s ago: the
/// pipeline's clock is today's, and touchpoints a year older than it are long out of window.
fn fixture(name: &str) -> Vec<u8> {
    const FIRST_CREATED: i64 = 1_764_331_000;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/stripe")
        .join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut event: Value = serde_json::from_slice(&text).expect("fixture JSON");
    let created = event["created"].as_i64().expect("created");
    event["created"] = json!(created - FIRST_CREATED + chrono::Utc::now().timestamp() - 400);
    serde_json::to_vec(&event).expect("JSON")
}

fn now_rfc3339(offset_seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn click(id: &str, visitor: &str) -> Value {
    json!({"kind": "click", "event_id": id, "occurred_at": now_rfc3339(-60), "visitor_id": visitor,
           "url": "https://shop.acme.example/?utm_source=blog", "link_id": "l-acme-anna"})
}

fn wait_ready(admin: u16) {
    let started = Instant::now();
    while http_get(admin, "/_readiness").trim() != "ready" {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the collector is not ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn event_ids(topic: &str, expected: usize) -> Vec<String> {
    let mut ids: Vec<String> = consume(topic, expected, Duration::from_secs(60))
        .expect("read")
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_slice(payload(m)).expect("raw JSON");
            v["event_id"].as_str().expect("event_id").to_string()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_get_reasons_stripe_becomes_attributions_and_an_outage_accepts_nothing() {
    require_broker();
    let namespace = unique_namespace("collector");
    let (acme, rival) = (key(), key());
    let (port, admin) = (free_port(), free_port());
    let listen = format!("127.0.0.1:{port}");
    let admin_addr = format!("127.0.0.1:{admin}");
    let secrets = format!("acme-us:{STRIPE_SECRET}");
    let env: HashMap<String, String> = service_env(&namespace, &[]);
    publish_reference(&env, &reference(&acme, &rival))
        .await
        .expect("reference published");
    let logs = std::env::temp_dir().join(format!("{namespace}-logs"));
    let mut pipeline = Pipeline::start(&env, &logs).expect("pipeline starts");
    let mut collector_env = env.clone();
    for (k, v) in [
        ("COLLECTOR_LISTEN_ADDR", listen.as_str()),
        ("ADMIN_LISTEN_ADDR", admin_addr.as_str()),
        ("COLLECTOR_ACK_TIMEOUT_MS", "3000"),
        ("COLLECTOR_BATCH_EVENTS_MAX", "20"),
        ("COLLECTOR_BODY_BYTES_MAX", "16384"),
        ("COLLECTOR_STRIPE_SECRETS", secrets.as_str()),
    ] {
        collector_env.insert(k.into(), v.into());
    }
    let mut collector =
        ServiceProcess::start(&binary("collector"), &[], &collector_env).expect("collector starts");
    wait_ready(admin);
    pipeline
        .wait_ready(Duration::from_secs(180))
        .expect("pipeline ready");
    let k = Some(acme.text.as_str());
    let json_type = "application/json";
    let mut accepted: Vec<String> = Vec::new();

    // One event.
    let single = events(port, k, json_type, click("web-1", "v-web-1").to_string()).await;
    assert_eq!(
        (single.status, &single.json["accepted"]),
        (202, &json!(1)),
        "{}",
        single.text
    );
    accepted.push("web-1".into());

    // A JSON batch.
    let batch = json!([click("web-2", "v-web-2"), click("web-3", "v-web-3"),
        {"kind": "lead", "event_id": "web-4", "occurred_at": now_rfc3339(-30), "visitor_id": "v-web-3", "customer_id": "c-web-3"}]);
    let answer = events(port, k, json_type, batch.to_string()).await;
    assert_eq!(
        (answer.status, &answer.json["accepted"]),
        (202, &json!(3)),
        "{}",
        answer.text
    );
    accepted.extend(["web-2", "web-3", "web-4"].map(String::from));

    // NDJSON with bad lines: each refused with ingest's reason, the rest accepted.
    let mut rival_click = click("web-7", "v-web-7");
    rival_click["program_id"] = json!("rival");
    let mut float_amount = json!({"kind": "conversion", "event_id": "web-8", "occurred_at": now_rfc3339(-5),
        "visitor_id": "v-web-2", "order_id": "o-web-8", "currency": "USD"});
    float_amount["amount"] = json!(19.99);
    let future = json!({"kind": "page_view", "event_id": "web-9", "occurred_at": now_rfc3339(3600),
        "visitor_id": "v-web-1", "url": "https://shop.acme.example/"});
    let ndjson = [
        click("web-5", "v-web-5").to_string(),
        "{\"kind\": \"click\", \"event_id\": ".to_string(),
        rival_click.to_string(),
        float_amount.to_string(),
        future.to_string(),
        click("web-6", "v-web-6").to_string(),
    ]
    .join("\n");
    let answer = events(port, k, "application/x-ndjson", ndjson).await;
    assert_eq!(
        (answer.status, &answer.json["accepted"]),
        (202, &json!(2)),
        "{}",
        answer.text
    );
    let refused: Vec<(u64, &str)> = answer.json["refused"]
        .as_array()
        .expect("refusals")
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap_or(99),
                r["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        refused,
        [
            (1, "invalid_json"),
            (2, "program_mismatch"),
            (3, "wrong_type"),
            (4, "timestamp_in_future")
        ]
    );
    accepted.extend(["web-5", "web-6"].map(String::from));

    // Whole requests refused, nothing of them accepted.
    let unknown = key();
    for (key, why) in [
        (None, "no write key"),
        (Some(unknown.text.as_str()), "unknown or revoked"),
        (Some("wk_nonsense"), "not of the form"),
    ] {
        let answer = events(port, key, json_type, click("web-x", "v-x").to_string()).await;
        assert_eq!(answer.status, 401, "{}", answer.text);
        assert!(
            answer.json["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains(why),
            "{}",
            answer.text
        );
    }
    let too_many: Vec<Value> = (0..21)
        .map(|i| click(&format!("many-{i}"), "v-many"))
        .collect();
    let answer = events(port, k, json_type, json!(too_many).to_string()).await;
    assert_eq!(answer.status, 413, "{}", answer.text);
    let answer = events(port, k, json_type, vec![b' '; 20_000]).await;
    assert_eq!(answer.status, 413, "{}", answer.text);
    let answer = events(port, k, json_type, "[{\"kind\": \"click\"}]").await;
    assert_eq!(
        (answer.status, answer.json["refused"][0]["reason"].as_str()),
        (400, Some("missing_field")),
        "{}",
        answer.text
    );
    let answer = events(port, k, json_type, "not json").await;
    assert_eq!(
        (answer.status, answer.json["error"]["code"].as_str()),
        (400, Some("bad_body")),
        "{}",
        answer.text
    );
    // The rival's key sends rival events only: the program comes from the key.
    let answer = events(
        port,
        Some(&rival.text),
        json_type,
        click("rival-1", "v-r").to_string(),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    accepted.push("rival-1".into());

    // Stripe: every fixture signed by Python at the current time.
    let t = chrono::Utc::now().timestamp();
    let mut stripe_ids = Vec::new();
    for (name, status, forwarded) in [
        ("checkout_session_completed_payment.json", 200, true),
        ("checkout_session_completed_subscription.json", 200, true),
        ("invoice_paid_subscription_create.json", 200, true),
        ("invoice_paid_subscription_cycle.json", 200, true),
        ("charge_refunded.json", 200, true),
        ("customer_created.json", 200, false),
    ] {
        let body = fixture(name);
        let answer = stripe(port, "acme-us", &body, &python_signature(&body, t)).await;
        assert_eq!(answer.status, status, "{name}: {}", answer.text);
        if forwarded {
            let id = answer.json["event_id"]
                .as_str()
                .expect("event id")
                .to_string();
            stripe_ids.push(id);
        } else {
            assert_eq!(answer.json["ignored"], "unhandled_type", "{name}");
        }
    }
    // A replayed delivery (Stripe retries) is a repeat by its event id, not a second order.
    let body = fixture("checkout_session_completed_payment.json");
    let again = stripe(port, "acme-us", &body, &python_signature(&body, t)).await;
    assert_eq!(again.status, 200);
    // Tampered, stale, unsigned, another program.
    let mut tampered = body.clone();
    let at = String::from_utf8_lossy(&tampered)
        .find("8900")
        .expect("amount");
    tampered[at] = b'9';
    let answer = stripe(port, "acme-us", &tampered, &python_signature(&body, t)).await;
    assert_eq!(
        (answer.status, answer.json["error"]["code"].as_str()),
        (400, Some("bad_signature")),
        "{}",
        answer.text
    );
    let answer = stripe(port, "acme-us", &body, &python_signature(&body, t - 600)).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    let answer = stripe(port, "acme-us", &body, "").await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    let answer = stripe(port, "rival", &body, &python_signature(&body, t)).await;
    assert_eq!(answer.status, 404, "{}", answer.text);

    // The raw topic holds exactly what was accepted (the replayed Stripe event twice: ingest
    // drops the copy), and ingest dead-letters none of it.
    let t_raw = format!("{namespace}.touchpoints.raw.v1");
    let mut expected: Vec<String> = accepted.clone();
    expected.extend(stripe_ids.iter().cloned());
    expected.push("stripe:evt_1QaPay0001CheckoutPaid".into());
    expected.sort();
    assert_eq!(event_ids(&t_raw, expected.len()), expected);
    let valid = consume(
        &format!("{namespace}.touchpoints.valid.v1"),
        expected.len() - 1,
        Duration::from_secs(60),
    )
    .expect("valid");
    assert_eq!(
        valid.len(),
        expected.len() - 1,
        "every accepted event is valid once"
    );
    let dlq = consume(
        &format!("{namespace}.touchpoints.dlq.v1"),
        1,
        Duration::from_secs(5),
    )
    .expect("dlq");
    assert!(
        dlq.is_empty(),
        "ingest dead-lettered {} accepted events",
        dlq.len()
    );

    // The Stripe events, attributed: the guest's code, the subscription's link (through the
    // lead that bound the Stripe customer), its renewal numbered 2, the partial refund.
    let t_attr = format!("{namespace}.attributions.v1");
    let stripe_orders = [
        "pi_3QaPayGuest0001",
        "in_1QaSubFirst0001",
        "in_1QaSubCycle0002",
    ];
    let messages = consume_until(&t_attr, Duration::from_secs(240), |seen| {
        let decoded: Vec<Attribution> = seen
            .iter()
            .filter_map(|m| schemas::decode(payload(m)).ok())
            .collect();
        stripe_orders.iter().all(|o| {
            decoded
                .iter()
                .any(|a| a.order_id == *o && a.kind == AttributionKind::Conversion)
        }) && decoded.iter().any(|a| a.kind == AttributionKind::Refund)
    })
    .expect("attributions");
    let attributions: Vec<Attribution> = messages
        .iter()
        .filter_map(|m| schemas::decode::<Attribution>(payload(m)).ok())
        .filter(|a| a.program_id == "acme-us" && (stripe_orders.contains(&a.order_id.as_str())))
        .collect();
    let row = |order: &str, kind: AttributionKind| {
        let a = attributions
            .iter()
            .find(|a| a.order_id == order && a.kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?} for {order}: {attributions:#?}"));
        if a.credits.is_empty() {
            eprintln!(
                "{order} {kind:?}: unattributed ({:?}), losing claims {:?}, evidence {:?}",
                a.unattributed_reason, a.losing_claims, a.evidence
            );
        }
        let credits: Vec<(String, i64)> = a
            .credits
            .iter()
            .map(|c| (c.partner_id.clone(), c.commission_minor))
            .collect();
        (a.amount_minor, a.chain_seq, credits)
    };
    assert_eq!(
        row("pi_3QaPayGuest0001", AttributionKind::Conversion),
        (8_900, None, vec![("p-codes".into(), 890)])
    );
    assert_eq!(
        row("in_1QaSubFirst0001", AttributionKind::Conversion),
        (2_000, Some(1), vec![("p-anna".into(), 200)])
    );
    assert_eq!(
        row("in_1QaSubCycle0002", AttributionKind::Conversion),
        (2_000, Some(2), vec![("p-anna".into(), 200)]),
        "the renewal, numbered by the attributor"
    );
    assert_eq!(
        row("pi_3QaPayGuest0001", AttributionKind::Refund),
        (-2_500, None, vec![("p-codes".into(), -250)]),
        "25.00 of 89.00 refunded: 2.50 of 8.90 reversed"
    );
    pipeline.stop().expect("pipeline stops");

    // Broker outage: 503 within the acknowledgement wait, nothing written; back up, accepted.
    stop_broker().expect("broker stopped");
    let outage = json!([click("outage-1", "v-o"), click("outage-2", "v-o")]).to_string();
    let started = Instant::now();
    let answer = events(port, k, json_type, outage.clone()).await;
    let waited = started.elapsed();
    start_broker().expect("broker started");
    assert_eq!(
        (answer.status, answer.json["error"]["code"].as_str()),
        (503, Some("broker_unavailable")),
        "{}",
        answer.text
    );
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
    let after = json!([click("after-1", "v-a"), click("after-2", "v-a")]).to_string();
    let started = Instant::now();
    let answer = loop {
        let answer = events(port, k, json_type, after.clone()).await;
        if answer.status != 503 || started.elapsed() > Duration::from_secs(90) {
            break answer;
        }
    };
    assert_eq!(
        answer.status, 202,
        "accepted again once the broker is back: {}",
        answer.text
    );
    expected.extend(["after-1", "after-2"].map(String::from));
    expected.sort();
    let ids = event_ids(&t_raw, expected.len() + 2);
    let after_ids: Vec<&String> = ids.iter().filter(|i| i.starts_with("after-")).collect();
    assert!(after_ids.len() >= 2, "{ids:?}");
    assert!(
        !ids.iter().any(|i| i.starts_with("outage-")),
        "a request answered 503 wrote nothing: {ids:?}"
    );
    let metrics = http_get(admin, "/metrics");
    assert!(tests::scrape(&metrics, "collector_broker_failures_total") >= 1.0);
    assert!(!collector.exited(), "the collector rode out the outage");
    let status = collector.terminate(Duration::from_secs(30)).expect("stops");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    std::fs::remove_dir_all(&logs).ok();
}
