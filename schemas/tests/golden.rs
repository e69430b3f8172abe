//! Golden-byte tests: the encoding of every example is pinned in `golden/<schema>.hex`, and
//! every golden file ever published (all versions) must still decode with today's types.
//!
//! To re-pin after an intended, compatible schema change, add a new `.vN.avsc`, then run
//! `UPDATE_GOLDEN=1 cargo test -p schemas --test golden` and commit the new `.hex` file;
//! older `.hex` files are never rewritten.

use std::path::{Path, PathBuf};

use schemas::codec::{generic, read_header, AvroMessage};
use schemas::{decode, encode, examples};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn to_hex(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // 64 hex digits per line keeps diffs readable.
    hex.as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("hex is ASCII"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn from_hex(text: &str) -> Vec<u8> {
    let digits: String = text.split_whitespace().collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("golden files hold hex"))
        .collect()
}

/// The pinned bytes of `golden/<name>.hex`.
fn golden(name: &str) -> Vec<u8> {
    let path = golden_dir().join(format!("{name}.hex"));
    from_hex(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn every_example_encodes_to_its_pinned_bytes() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for example in examples::all().expect("examples encode") {
        let path = golden_dir().join(format!("{}.hex", example.name));
        if update && !path.exists() {
            std::fs::write(&path, to_hex(&example.encoded)).expect("write golden file");
        }
        let pinned = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (new schema? see module docs)", path.display()));
        assert_eq!(
            to_hex(&example.encoded),
            pinned,
            "encoding of {} changed; schemas evolve by adding a version, not by editing one",
            example.name
        );
    }
}

fn assert_golden_decodes<T: AvroMessage + PartialEq + std::fmt::Debug>(stem: &str, expected: &T) {
    // Every published version of this type has a golden file; each must decode into today's
    // type. With only v1 published this is the round trip; v2 adds the compatibility check.
    for version in &T::family().versions {
        let name = version.file.trim_end_matches(".avsc");
        assert!(name.starts_with(stem), "{name} belongs to {stem}");
        let bytes = golden(name);
        assert_eq!(read_header(&bytes).expect("header"), version.fingerprint);
        let decoded: T = decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The fast codec reads older versions by field name with serde defaults; apache-avro
        // resolves them with the schema's defaults. Both must give the same value.
        let resolved: T = generic::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            decoded, resolved,
            "{name}: fast and generic decoders disagree"
        );
        if std::ptr::eq(version, T::family().current()) {
            assert_eq!(&decoded, expected, "{name} round trip");
            assert_eq!(
                encode(expected).expect("encodes"),
                generic::encode(expected).expect("encodes"),
                "{name}: fast and generic encoders disagree"
            );
        }
    }
}

#[test]
fn trailing_bytes_and_truncated_bodies_are_refused() {
    let mut bytes = encode(&examples::ledger_entry()).expect("encodes");
    bytes.push(0);
    let err = decode::<schemas::LedgerEntry>(&bytes).expect_err("trailing byte");
    assert!(err.to_string().contains("1 trailing bytes"), "{err}");
    bytes.truncate(bytes.len() - 6);
    assert!(decode::<schemas::LedgerEntry>(&bytes).is_err(), "truncated");
}

#[test]
fn every_published_version_still_decodes_with_the_current_types() {
    assert_golden_decodes("valid_touchpoint", &examples::valid_touchpoint());
    assert_golden_decodes("enriched_touchpoint", &examples::enriched_touchpoint());
    assert_golden_decodes("attribution", &examples::attribution());
    assert_golden_decodes("commission_decision", &examples::commission_decision());
    assert_golden_decodes("risk_level", &examples::risk_level());
    assert_golden_decodes("ledger_entry", &examples::ledger_entry());
    assert_golden_decodes("reference_record", &examples::reference_record());
    assert_golden_decodes("dead_letter", &examples::dead_letter());
    assert_golden_decodes("identity_binding", &examples::identity_binding());
    assert_golden_decodes("attributor_state", &examples::attributor_state());
    assert_golden_decodes("risk_signal", &examples::risk_signal());
    assert_golden_decodes("risk_state", &examples::risk_state());
    assert_golden_decodes("risk_score", &examples::risk_score());
    assert_golden_decodes("ledger_command", &examples::ledger_command());
    assert_golden_decodes("ledger_state", &examples::ledger_state());
    assert_golden_decodes("erasure_request", &examples::erasure_request());
    assert_golden_decodes("erasure_receipt", &examples::erasure_receipt());
    assert_golden_decodes("webhook_notification", &examples::webhook_notification());
    assert_golden_decodes("webhook_state", &examples::webhook_state());
    assert_golden_decodes("webhook_attempt", &examples::webhook_attempt());
    assert_golden_decodes("payout", &examples::payout());
    assert_golden_decodes("claim_notice", &examples::claim_notice());
    assert_golden_decodes("trust_state", &examples::trust_state());
    assert_golden_decodes("specialist_trust", &examples::specialist_trust());
    assert_golden_decodes("verification_event", &examples::verification_event());
    assert_golden_decodes("source_watermark", &examples::source_watermark());
}

#[test]
fn a_v1_attribution_reads_as_v2_with_empty_additions() {
    let bytes = golden("attribution.v1");
    let decoded: schemas::Attribution = decode(&bytes).expect("v1 decodes");
    let mut expected = examples::attribution();
    expected.commission_total_minor = 0;
    expected.click_window_seconds = 0;
    expected.view_window_seconds = 0;
    expected.code_precedence = None;
    for credit in &mut expected.credits {
        credit.revenue_minor = 0;
    }
    assert_eq!(decoded, expected);
}

#[test]
fn a_v1_program_reads_as_a_v2_program_without_risk_policy() {
    let bytes = golden("reference_record.v1");
    let decoded: schemas::ReferenceRecord = decode(&bytes).expect("v1 decodes");
    let mut expected = examples::reference_record();
    if let Some(program) = expected.program.as_mut() {
        program.risk_policy = None;
    }
    expected.principal = None;
    expected.signature = None;
    assert_eq!(decoded, expected);
}

#[test]
fn a_v2_reference_record_reads_as_v3_unsigned_and_not_deleted() {
    let decoded: schemas::ReferenceRecord =
        decode(&golden("reference_record.v2")).expect("v2 decodes");
    let mut expected = examples::reference_record();
    expected.principal = None;
    expected.signature = None;
    assert_eq!(decoded, expected);
}

#[test]
fn a_v3_reference_record_reads_as_v4_without_write_key_or_webhook() {
    let decoded: schemas::ReferenceRecord =
        decode(&golden("reference_record.v3")).expect("v3 decodes");
    assert_eq!(decoded, examples::reference_record());
    assert!(decoded.write_key.is_none() && decoded.webhook_endpoint.is_none());
}

#[test]
fn a_v5_reference_record_reads_as_v6_without_trust_settings_or_categories() {
    let decoded: schemas::ReferenceRecord =
        decode(&golden("reference_record.v5")).expect("v5 decodes");
    assert_eq!(decoded, examples::reference_record());
    assert!(decoded.program.is_some_and(|p| p.trust.is_none()));
}

#[test]
fn a_v2_attributor_state_reads_as_v3_with_no_renewals_counted() {
    let decoded: schemas::AttributorState =
        decode(&golden("attributor_state.v2")).expect("v2 decodes");
    let mut expected = examples::attributor_state();
    expected.chains.iter_mut().for_each(|c| c.renewals = 0);
    assert_eq!(decoded, expected);
}

#[test]
fn a_v1_ledger_entry_reads_as_v2_with_sequence_and_amount_unknown() {
    let decoded: schemas::LedgerEntry = decode(&golden("ledger_entry.v1")).expect("v1 decodes");
    let mut expected = examples::ledger_entry();
    expected.sequence = 0;
    expected.amount = String::new();
    expected.currency_exponent = -1;
    assert_eq!(decoded, expected);
}

#[test]
fn a_v1_ledger_command_reads_as_v2_unsigned() {
    let decoded: schemas::LedgerCommand = decode(&golden("ledger_command.v1")).expect("v1 decodes");
    let mut expected = examples::ledger_command();
    expected.principal = None;
    expected.signature = None;
    assert_eq!(decoded, expected);
}

#[test]
fn a_v1_ledger_line_reads_as_v2_with_its_entries_unknown() {
    let decoded: schemas::LedgerState = decode(&golden("ledger_state.v1")).expect("v1 decodes");
    let line = decoded.line.expect("the example sets a line");
    assert_eq!(line.entries, 0);
    assert_eq!(line.version, examples::ledger_line().version);
}

#[test]
fn a_message_of_one_type_is_refused_by_another() {
    let bytes = schemas::encode(&examples::risk_level()).expect("encode");
    let err = decode::<schemas::LedgerEntry>(&bytes).expect_err("wrong type");
    assert!(err
        .to_string()
        .contains("not a published version of attrib.LedgerEntry"));
}

#[test]
fn the_embedded_valid_touchpoint_matches_its_own_schema_file() {
    // enriched_touchpoint.vN.avsc embeds ValidTouchpoint so it stands alone; keep each
    // version equal to the valid touchpoint version of the same number.
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("avro").join(f))
                .expect("schema file"),
        )
        .expect("schema JSON")
    };
    for version in ["v1", "v2"] {
        let enriched = read(&format!("enriched_touchpoint.{version}.avsc"));
        assert_eq!(
            enriched["fields"][0]["type"],
            read(&format!("valid_touchpoint.{version}.avsc")),
            "{version}"
        );
    }
}

#[test]
fn a_v2_enriched_touchpoint_reads_as_v3_without_a_source() {
    let bytes = golden("enriched_touchpoint.v2");
    let decoded: schemas::EnrichedTouchpoint = decode(&bytes).expect("v2 decodes");
    let mut expected = examples::enriched_touchpoint();
    expected.source = None;
    assert_eq!(decoded, expected);
}

#[test]
fn a_v1_attributor_state_reads_as_v2_without_sources() {
    let bytes = golden("attributor_state.v1");
    let decoded: schemas::AttributorState = decode(&bytes).expect("v1 decodes");
    let mut expected = examples::attributor_state();
    expected.chains.iter_mut().for_each(|c| c.renewals = 0);
    assert_eq!(decoded, expected);
}

#[test]
fn every_attributor_state_version_decodes_borrowed_as_it_decodes_owned() {
    for version in ["v1", "v2", "v3"] {
        let bytes = golden(&format!("attributor_state.{version}"));
        let owned: schemas::AttributorState = decode(&bytes).expect("decodes");
        let borrowed: schemas::attributor_state::AttributorStateRef<'_> =
            schemas::decode_as::<schemas::AttributorState, _>(&bytes).expect("decodes borrowed");
        assert_eq!(borrowed, owned.borrowed(), "{version}");
        assert!(
            !borrowed.touchpoints.is_empty(),
            "{version}: the example has touchpoints"
        );
    }
}
