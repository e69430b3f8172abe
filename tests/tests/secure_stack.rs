//! Production connectivity on the real stack: the five services as processes against the
//! secure broker — TLS verified with the stack's own CA (stunnel terminating it in front of
//! tansu, whose 0.6.0 command line cannot serve TLS itself) and SASL SCRAM-SHA-512 checked by
//! tansu — and ClickHouse over HTTPS with a user and password. The variables are the ones
//! `deploy/README.md` lists for managed services, from `deploy/local/stack.sh env-secure`.
//! A generated workload must come out equal to the load generator's oracle; a wrong password,
//! a plaintext client and a wrong ClickHouse password must each stop at once with an error
//! that names what to change.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loadgen::replay::{replay, Pace};
use loadgen::{generate, Settings};
use tests::ledger::{database_for, wait_for_schema};
use tests::pipeline::{compare, ledger_lines, wait_for_lines, Pipeline, REFERENCE};
use tests::secure::secure_env;
use tests::{binary, publish_reference, require_broker, service_env, unique_namespace};

fn secure_service_env(ns: &str) -> HashMap<String, String> {
    let mut env = service_env(
        ns,
        &[
            ("LOG_LEVEL", "warn,runtime=info"),
            // The replay's end is the end of the stream: advance the watermark on idle soon,
            // as the chaos test does, so the last journeys are decided.
            ("ATTRIBUTOR_IDLE_ADVANCE_SECONDS", "2"),
        ],
    );
    env.extend(secure_env().expect("the secure stack's settings (deploy/local/stack.sh up)"));
    env
}

fn clickhouse_of(env: &HashMap<String, String>) -> clickhouse::Client {
    let mut reader = runtime::Env::from_map(env.clone());
    let config = runtime::clickhouse::ClickHouseConfig::from_env(&mut reader);
    reader.finish().expect("valid ClickHouse settings");
    config.database().expect("a ClickHouse client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_runs_end_to_end_over_tls_with_scram_and_https() {
    require_broker();
    let ns = unique_namespace("secure");
    let env = secure_service_env(&ns);
    assert!(env["KAFKA_PROP_SECURITY_PROTOCOL"] == "SASL_SSL");
    assert!(env["CLICKHOUSE_URL"].starts_with("https://"));

    let set = reference::parse(REFERENCE).expect("the sample reference data is valid");
    let workload = generate(
        &set,
        &Settings {
            seed: 18,
            events: 4_000,
            start: chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
                .expect("date")
                .to_utc(),
            days: 60,
        },
    )
    .expect("generated");
    let expected = workload.expected.clone();

    let mut reader = runtime::Env::from_map(env.clone());
    let common = runtime::CommonConfig::from_env(&mut reader, "secure-test", "127.0.0.1:0");
    reader.finish().expect("valid settings");
    runtime::kafka::ensure_topics(
        &common.kafka,
        &[(
            common.topics.touchpoints_raw.as_str(),
            runtime::kafka::Cleanup::Delete,
        )],
    )
    .await
    .expect("the raw topic on the secure broker");
    publish_reference(&env, REFERENCE)
        .await
        .expect("reference published over TLS");
    let db = clickhouse_of(&env);
    let logs = std::env::temp_dir().join(format!("attrib-{ns}"));
    let mut pipeline = Pipeline::start(&env, &logs).expect("services start");
    wait_for_schema(&db, Duration::from_secs(120))
        .await
        .expect("ledger-writer migrated ClickHouse over HTTPS");
    pipeline
        .wait_ready(Duration::from_secs(120))
        .expect("every service ready on the secure broker");

    replay(
        &common.kafka,
        "secure-replay",
        &common.topics.touchpoints_raw,
        &workload.messages,
        Pace {
            rate: None,
            progress: false,
        },
    )
    .await
    .expect("the replay is acknowledged over TLS");
    let want = expected.lines.len() as u64;
    let held = wait_for_lines(&db, want, Duration::from_secs(600), || {})
        .await
        .expect("ClickHouse over HTTPS");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lines = ledger_lines(&db).await.expect("lines");
    let problems = compare(&expected, &lines);
    assert!(
        problems.is_empty(),
        "{held} of {want} lines; over TLS + SCRAM the ledger differs from the oracle in {} ways, first 10 (logs in {}):\n{}",
        problems.len(),
        logs.display(),
        problems.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    pipeline.stop().expect("every service drains and stops");
    eprintln!(
        "secure: {} lines over TLS + SASL SCRAM-SHA-512 and HTTPS equal the oracle",
        lines.len()
    );
}

/// Runs `ingest run` (or `ledger-writer migrate`) with `env` and returns (exit success,
/// seconds taken, everything it printed).
fn run_until_exit(name: &str, args: &[&str], env: &HashMap<String, String>) -> (bool, f64, String) {
    let started = Instant::now();
    let output = Command::new(binary(name))
        .args(args)
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (
        output.status.success(),
        started.elapsed().as_secs_f64(),
        text,
    )
}

#[test]
fn a_wrong_password_or_a_plaintext_client_is_a_configuration_error_at_once() {
    require_broker();
    let ns = unique_namespace("refused");
    let mut env = secure_service_env(&ns);
    // Were these retried, the service would wait this long before giving up.
    env.insert("KAFKA_STARTUP_WAIT_SECONDS".into(), "300".into());
    env.insert("LOG_FORMAT".into(), "json".into());

    let mut wrong = env.clone();
    wrong.insert("KAFKA_PROP_SASL_PASSWORD".into(), "not-the-password".into());
    let (ok, seconds, text) = run_until_exit("ingest", &["run"], &wrong);
    assert!(!ok, "a wrong password must stop ingest:\n{text}");
    assert!(seconds < 60.0, "refused after {seconds:.0}s:\n{text}");
    assert!(
        text.contains("refused the credentials")
            && text.contains("KAFKA_PROP_SASL_PASSWORD")
            && text.contains("Permanent configuration error")
            && text.matches("retrying").count() == text.matches("not retrying").count(),
        "the error must say the credentials were refused, once:\n{text}"
    );
    assert!(
        !text.contains("not-the-password"),
        "the password was printed:\n{text}"
    );

    let mut plaintext = env.clone();
    plaintext.retain(|k, _| !k.starts_with("KAFKA_PROP_"));
    let (ok, seconds, text) = run_until_exit("ingest", &["run"], &plaintext);
    assert!(!ok, "a plaintext client must stop:\n{text}");
    assert!(seconds < 60.0, "refused after {seconds:.0}s:\n{text}");
    assert!(
        text.contains("the listener speaks TLS") && text.contains("KAFKA_PROP_SECURITY_PROTOCOL"),
        "the error must say the listener expects TLS:\n{text}"
    );

    let mut unknown_ca = env.clone();
    unknown_ca.remove("KAFKA_PROP_SSL_CA_LOCATION");
    let (ok, _, text) = run_until_exit("ingest", &["run"], &unknown_ca);
    assert!(!ok);
    assert!(
        text.contains("TLS handshake failed") && text.contains("certificate verify failed"),
        "the error must say the certificate did not verify:\n{text}"
    );

    let mut clickhouse = env.clone();
    clickhouse.insert("CLICKHOUSE_PASSWORD".into(), "not-the-password".into());
    clickhouse.insert("CLICKHOUSE_DATABASE".into(), database_for(&ns));
    let (ok, _, text) = run_until_exit("ledger-writer", &["migrate"], &clickhouse);
    assert!(!ok);
    assert!(
        text.contains("Wrong password") && !text.contains("not-the-password"),
        "ClickHouse's refusal must reach the user, the password must not:\n{text}"
    );
}
