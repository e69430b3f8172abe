//! `kill -9` of ingest mid-stream and a restart lose no valid input: every event reaches the
//! valid topic at least once (re-emitted duplicates are allowed and de-duplicated downstream).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use schemas::ValidTouchpoint;
use tests::{
    binary, consume, consume_until, payload, produce, require_broker, service_env,
    unique_namespace, ServiceProcess,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_minus_nine_mid_stream_and_restart_lose_no_valid_input() {
    require_broker();
    let ns = unique_namespace("crash");
    let env = service_env(
        &ns,
        &[
            ("BATCH_MESSAGES_MAX", "500"),
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
        ],
    );
    let topics = ingest_topics(&env).await;

    const EVENTS: usize = 30_000;
    let at = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let messages: Vec<(Option<Vec<u8>>, Vec<u8>)> = (0..EVENTS)
        .map(|i| {
            let event = serde_json::json!({"kind": "page_view", "event_id": format!("e-{i}"),
                "occurred_at": at, "visitor_id": format!("v-{}", i % 997), "url": "https://shop.example.com/p"});
            (None, serde_json::to_vec(&event).expect("json"))
        })
        .collect();
    produce(&topics.touchpoints_raw, &messages)
        .await
        .expect("produce");

    let ingest = binary("ingest");
    let mut first = ServiceProcess::start(&ingest, &[], &env).expect("start ingest");
    // Kill it once it has visibly made progress but cannot have finished.
    let started = Instant::now();
    loop {
        let seen = consume(&topics.touchpoints_valid, 1, Duration::from_secs(2))
            .expect("peek")
            .len();
        if seen >= 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "ingest produced nothing"
        );
    }
    first.kill_hard();
    let after_kill = consume(&topics.touchpoints_valid, EVENTS, Duration::from_secs(3))
        .expect("count")
        .len();
    eprintln!("valid messages when killed: {after_kill} of {EVENTS}");

    // tansu 0.6.0 evicts a dead member only when another member joins after the dead one's
    // session expired (heartbeats never trigger it), so restart the way an orchestrator with
    // back-off does: after the session timeout. Real Kafka evicts on its own.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mut second = ServiceProcess::start(&ingest, &[], &env).expect("restart ingest");
    // Count distinct events: the restart re-emits what was not committed before the kill.
    let mut ids: HashSet<String> = HashSet::new();
    let mut folded = 0;
    let out = consume_until(
        &topics.touchpoints_valid,
        Duration::from_secs(180),
        |read| {
            for m in &read[folded..] {
                ids.insert(
                    schemas::decode::<ValidTouchpoint>(payload(m))
                        .expect("decodes")
                        .event_id,
                );
            }
            folded = read.len();
            ids.len() >= EVENTS
        },
    )
    .expect("consume");
    eprintln!(
        "after restart: {} messages, {} distinct events, {} re-emitted",
        out.len(),
        ids.len(),
        out.len() - ids.len()
    );
    assert_eq!(ids.len(), EVENTS, "every valid event survived the crash");
    let status = second
        .terminate(Duration::from_secs(30))
        .expect("graceful stop");
    assert!(status.success(), "SIGTERM drains and exits 0, got {status}");
}

/// An orchestrator restarts a crashed service at once, well inside the group session timeout,
/// while the broker still counts the dead member. The new member must get the partitions
/// within about a session timeout (measured: 7 s), not wait for some other member to join:
/// on tansu the eviction happens at a later join or heartbeat of the group, and a join that
/// goes unanswered is retried by the consumer loop's join watchdog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_inside_the_session_timeout_gets_the_partitions_back() {
    require_broker();
    let ns = unique_namespace("rejoin");
    let env = service_env(
        &ns,
        &[
            ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
            ("LOG_LEVEL", "warn,runtime=info"),
        ],
    );
    let log = std::env::temp_dir().join(format!("attrib-{ns}.log"));
    let topics = ingest_topics(&env).await;
    let at = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let event = |i: usize| {
        let event = serde_json::json!({"kind": "page_view", "event_id": format!("e-{i}"),
            "occurred_at": at, "visitor_id": format!("v-{i}"), "url": "https://shop.example.com/p"});
        (None, serde_json::to_vec(&event).expect("json"))
    };
    produce(&topics.touchpoints_raw, &[event(0)])
        .await
        .expect("produce");

    let ingest = binary("ingest");
    let mut first = ServiceProcess::start_logged(&ingest, &env, &log).expect("start ingest");
    consume(&topics.touchpoints_valid, 1, Duration::from_secs(60))
        .expect("the first instance consumed");
    first.kill_hard();
    let mut second =
        ServiceProcess::start_logged(&ingest, &env, &log).expect("restart ingest at once");
    let restarted = Instant::now();
    produce(&topics.touchpoints_raw, &[event(1)])
        .await
        .expect("produce");
    // Session (6 s), the watchdog's margin and a rebalance fit well inside 40 s.
    let out = consume_until(&topics.touchpoints_valid, Duration::from_secs(40), |read| {
        read.iter().any(|m| {
            schemas::decode::<ValidTouchpoint>(payload(m)).is_ok_and(|t| t.event_id == "e-1")
        })
    })
    .expect("consume");
    let took = restarted.elapsed();
    assert!(
        out.iter()
            .any(|m| schemas::decode::<ValidTouchpoint>(payload(m))
                .is_ok_and(|t| t.event_id == "e-1")),
        "the restarted instance never consumed (waited {took:?}; its log: {})",
        log.display()
    );
    eprintln!("the restarted instance consumed after {took:?}");
    second
        .terminate(Duration::from_secs(30))
        .expect("graceful stop");
}

/// The topics ingest reads and writes under `env`'s namespace, created.
async fn ingest_topics(
    env: &std::collections::HashMap<String, String>,
) -> runtime::settings::Topics {
    let topics = tests::ingest_config(env).common.topics;
    tests::create_topics(&[
        &topics.touchpoints_raw,
        &topics.touchpoints_valid,
        &topics.touchpoints_dlq,
    ])
    .await
    .expect("topics");
    topics
}
