//! Interoperability: Python's fastavro, an independent Avro implementation, decodes every
//! message type from the published `.avsc` files alone and gets the values Rust meant; and
//! the raw-event JSON Schema accepts the documented examples that ingest accepts.

use chrono::Utc;

#[test]
fn fastavro_decodes_every_message_type_to_the_same_values() {
    let dir = std::env::temp_dir().join(tests::unique_namespace("interop"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let examples = schemas::examples::all().expect("examples encode");
    let count = examples.len();
    for example in examples {
        std::fs::write(dir.join(format!("{}.bin", example.name)), &example.encoded).expect("write");
        std::fs::write(
            dir.join(format!("{}.json", example.name)),
            example.json.to_string(),
        )
        .expect("write");
    }
    let report = tests::interop::fastavro_decode(&dir).expect("fastavro agrees");
    assert!(
        report.contains(&format!("{count} passed, 0 failed")),
        "{report}"
    );
}

#[test]
fn the_json_schema_and_ingest_agree_on_the_documented_examples() {
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/json/examples");
    let rules = ingest::process::Rules {
        message_bytes_max: 65536,
        future_skew: chrono::Duration::minutes(5),
        ip_policy: ingest::pii::IpPolicy::new(ingest::pii::IpMode::Hash, b"0123456789abcdef"),
    };
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).expect("examples dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        let verdict = ingest::process::validate(
            &bytes,
            &rules,
            Utc::now(),
            schemas::touchpoint::IngestPath::Stream,
        );
        assert!(verdict.is_ok(), "{}: {:?}", path.display(), verdict.err());
        checked += 1;
    }
    assert!(checked >= 6, "an example per kind");
    let report =
        tests::interop::json_schema_validate(&examples).expect("JSON Schema accepts the examples");
    assert!(
        report.contains(&format!("{checked} passed, 0 failed")),
        "{report}"
    );
}
