//! Production connectivity on the real stack: the five services as processes against the
//! secure broker — TLS verified with the stack's own CA (stunnel terminating it in front of
//! tansu, whose 0.6.0 command line cannot serve TLS itself) and SASL SCRAM-SHA-512 checked by
//! tansu — and ClickHouse over HTTPS with a user and password. The variables are the ones
//! `deploy/README.md` lists for managed services, from `deploy/local/stack.sh env-secure`.
//! A generated workload must come out equal to the load generator's oracle; a wrong password,
//! a plaintext client and a wrong ClickHouse password must each stop at once with an error
//! that names what to change.

use std::collections::{BTreeMap, HashMap};
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
            // What a finance team without Avro, and an operator's tooling, read.
            ("JSON_MIRROR_LEDGER_ENTRIES", "true"),
            ("JSON_MIRROR_DEAD_LETTERS", "true"),
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

    // Finance reads the topic with confluent-kafka over the same TLS + SCRAM settings:
    // once the Avro with only the .avsc files and the headers, once the JSON mirror.
    let want = ClickHouseLedger::read(&db).await;
    let topics = &common.topics;
    for (format, topic) in [
        ("avro", topics.ledger_entries.as_str()),
        ("json", topics.ledger_entries_json.as_str()),
    ] {
        let report = read_ledger(format, topic, want.entries, &env);
        assert_eq!(
            report["entries"].as_u64(),
            Some(want.entries),
            "{format}: distinct entries"
        );
        assert_eq!(
            report["lines_with_sequence_gaps"],
            serde_json::json!([]),
            "{format}"
        );
        let lines: BTreeMap<String, (String, i64)> = report["lines"]
            .as_object()
            .expect("lines")
            .iter()
            .map(|(id, l)| {
                (
                    id.clone(),
                    (
                        l[0].as_str().expect("status").to_string(),
                        l[1].as_i64().expect("minor"),
                    ),
                )
            })
            .collect();
        assert_eq!(
            lines, want.lines,
            "{format}: current status (highest sequence) and amount of every line = ClickHouse"
        );
        let totals: BTreeMap<String, String> =
            serde_json::from_value(report["totals"].clone()).expect("totals");
        assert_eq!(totals, want.totals, "{format}: totals = ClickHouse");
        if format == "avro" {
            assert_eq!(
                report["schema_files"],
                serde_json::json!(["ledger_entry.v2.avsc"])
            );
        }
    }
    // The same in ClickHouse: each line's entry with the highest sequence has its status.
    let disagree = tests::ledger::count(
        &db,
        "SELECT count() FROM (SELECT commission_id, argMax(to_status, sequence) AS last FROM ledger_entries FINAL GROUP BY commission_id) ANY INNER JOIN (SELECT commission_id, status FROM commissions FINAL) USING commission_id WHERE last != status",
    )
    .await
    .expect("ledger_entries.sequence");
    assert_eq!(
        disagree, 0,
        "lines whose last entry by sequence is not their status"
    );
    let letters = read_ledger(
        "dead-letters",
        &topics.touchpoints_dlq_json,
        expected.dead_letters.len() as u64,
        &env,
    );
    let mut planted: BTreeMap<String, u64> = BTreeMap::new();
    for letter in &expected.dead_letters {
        *planted
            .entry(format!("{}/{}", letter.service, letter.reason))
            .or_insert(0) += 1;
    }
    let by_reason: BTreeMap<String, u64> =
        serde_json::from_value(letters["by_reason"].clone()).expect("by reason");
    assert_eq!(
        by_reason, planted,
        "the JSON dead letters are the planted bad inputs"
    );

    // Created with the retention finance and privacy need.
    for (topic, want) in [
        (&topics.ledger_entries, "-1"),
        (&topics.ledger_entries_json, "-1"),
        (&topics.ledger_commands, "-1"),
        (&topics.touchpoints_dlq, "2592000000"),
        (&topics.touchpoints_dlq_json, "2592000000"),
    ] {
        assert_eq!(
            retention_ms(&common.kafka, topic).await.as_deref(),
            Some(want),
            "retention.ms of {topic}"
        );
    }
}

/// What ClickHouse says the ledger holds.
struct ClickHouseLedger {
    entries: u64,
    /// commission id → (status, amount_minor).
    lines: BTreeMap<String, (String, i64)>,
    /// "status/currency" → total as a decimal string.
    totals: BTreeMap<String, String>,
}

impl ClickHouseLedger {
    async fn read(db: &clickhouse::Client) -> ClickHouseLedger {
        let entries = tests::ledger::count(db, "SELECT count() FROM ledger_entries FINAL")
            .await
            .expect("entries");
        let rows: Vec<(String, String, i64, String)> = db
            .query("SELECT commission_id, status, amount_minor, currency FROM commissions FINAL")
            .fetch_all()
            .await
            .expect("commissions");
        let mut totals: BTreeMap<String, i64> = BTreeMap::new();
        let mut lines = BTreeMap::new();
        for (id, status, minor, currency) in rows {
            *totals.entry(format!("{status}/{currency}")).or_insert(0) += minor;
            lines.insert(id, (status, minor));
        }
        let totals = totals
            .into_iter()
            .map(|(key, minor)| {
                let currency = key.rsplit('/').next().unwrap_or_default();
                let exact = schemas::money::Currency::from_code(currency)
                    .expect("ISO 4217")
                    .from_minor(minor);
                (key, exact.to_string())
            })
            .collect();
        ClickHouseLedger {
            entries,
            lines,
            totals,
        }
    }
}

/// Runs the finance decoder (`ledger-writer/finance/read_ledger.py`) with the services'
/// own connection variables.
fn read_ledger(
    format: &str,
    topic: &str,
    want: u64,
    env: &HashMap<String, String>,
) -> serde_json::Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new("python3")
        .arg(root.join("ledger-writer/finance/read_ledger.py"))
        .args([format, "--topic", topic, "--want", &want.to_string()])
        .arg("--schemas")
        .arg(root.join("schemas/avro"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .envs(env.iter().filter(|(k, _)| k.starts_with("KAFKA_")))
        .output()
        .expect("python3 runs (deploy/local/install.sh installs confluent-kafka)");
    assert!(
        output.status.success(),
        "read_ledger.py {format} {topic}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON report")
}

/// `retention.ms` of a topic as the broker describes it.
async fn retention_ms(kafka: &runtime::settings::KafkaConfig, topic: &str) -> Option<String> {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    let mut config = rdkafka::ClientConfig::new();
    config.set("bootstrap.servers", &kafka.bootstrap_servers);
    for (k, v) in &kafka.client_properties {
        config.set(k, v.expose());
    }
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        config.create().expect("admin client");
    let results = admin
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .expect("describe configs");
    results
        .into_iter()
        .flatten()
        .flat_map(|resource| resource.entries)
        .find(|entry| entry.name == "retention.ms")
        .and_then(|entry| entry.value)
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
