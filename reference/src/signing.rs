//! Who published a reference record: signatures over records, checked by every follower that
//! is given the publishers' keys (pure).
//!
//! Commission rules, partners and links decide who is paid what, and anyone able to write the
//! reference topic could change them. `reference publish` signs each record as
//! `REFERENCE_PUBLISH_PRINCIPAL` with its key (HMAC-SHA256 over the record's canonical JSON with
//! the signature left out); services given `REFERENCE_PUBLISHER_KEYS` apply only records signed by
//! one of those principals. A tombstone carries no signature, so a signing publisher removes
//! an entity with a signed `deleted` record instead, and a checking follower ignores
//! tombstones.

use runtime::secret::{constant_time_eq, hmac_hex, PrincipalKeys};
use schemas::ReferenceRecord;

/// Signs `record` as `principal` with `key`.
pub fn sign(record: &mut ReferenceRecord, principal: &str, key: &[u8]) {
    record.principal = Some(principal.to_string());
    record.signature = None;
    record.signature = Some(signature_of(record, key));
}

/// `Ok(principal)` when `record` is signed by one of `publishers`; else why it is refused.
pub fn verify<'r>(
    record: &'r ReferenceRecord,
    publishers: &PrincipalKeys,
) -> Result<&'r str, String> {
    let (Some(principal), Some(signature)) = (&record.principal, &record.signature) else {
        return Err(
            "unsigned record (REFERENCE_PUBLISHER_KEYS is set: only signed records apply)".into(),
        );
    };
    let key = publishers.key(principal).ok_or_else(|| {
        format!("signed by `{principal}`, who is not in REFERENCE_PUBLISHER_KEYS")
    })?;
    if !constant_time_eq(signature_of(record, key).as_bytes(), signature.as_bytes()) {
        return Err(format!("the signature does not match `{principal}`'s key"));
    }
    Ok(principal)
}

/// The JSON the v4 fields add when they are unset: the struct's last fields, so they end the
/// canonical JSON and are cut from it, and a record signed before they existed still verifies.
const UNSET_V4_FIELDS: &str = r#","write_key":null,"webhook_endpoint":null}"#;

/// Fields added since v5, at their defaults: left out of the signed form, so records signed
/// before they existed (and later records that leave them unset) keep their signatures. A
/// JSON string escapes its quotes, so these fragments never match inside a value.
const UNSET_LATER_FIELDS: [&str; 4] = [
    r#","hold_unverified_specialists":false"#, // v5 risk policy
    r#","trust":null"#,                        // v6 program
    r#","categories":[]"#,                     // v6 partner
    r#","specialist_categories":[]"#,          // v6 commission rule
];

/// HMAC over the record's canonical JSON (fields in order, maps sorted by key, times in
/// epoch milliseconds) with the signature left out. Not over its Avro bytes: the Avro
/// encoder writes a map (risk thresholds) in hash order, so a record decoded from the topic
/// and encoded again need not give the same bytes.
fn signature_of(record: &ReferenceRecord, key: &[u8]) -> String {
    let mut unsigned = record.clone();
    unsigned.signature = None;
    let mut json = serde_json::to_string(&unsigned).unwrap_or_default();
    for unset in UNSET_LATER_FIELDS {
        json = json.replace(unset, "");
    }
    let canonical = match json.strip_suffix(UNSET_V4_FIELDS) {
        Some(v3) => format!("{v3}}}"),
        None => json,
    };
    hmac_hex(key, canonical.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::Secret;

    const KEY: &str = "q6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIyco=";
    const OTHER: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

    fn publishers() -> PrincipalKeys {
        PrincipalKeys::parse(
            "REFERENCE_PUBLISHER_KEYS",
            &Secret::new(format!("platform:{KEY}")),
        )
        .expect("valid")
    }

    fn key(b64: &str) -> Vec<u8> {
        runtime::secret::decode_base64(b64).unwrap()
    }

    #[test]
    fn a_record_signed_by_a_publisher_verifies_and_anything_else_is_refused() {
        let mut record = schemas::examples::reference_record();
        sign(&mut record, "platform", &key(KEY));
        assert_eq!(verify(&record, &publishers()), Ok("platform"));

        let mut raised = record.clone();
        if let Some(p) = raised.program.as_mut() {
            p.hold_seconds = 0; // paid at once: what a forger would want
        }
        assert!(verify(&raised, &publishers())
            .unwrap_err()
            .contains("does not match"));

        // Holding unverified specialists' commissions is signed too (v5).
        let mut holding = schemas::examples::reference_record();
        if let Some(policy) = holding
            .program
            .as_mut()
            .and_then(|p| p.risk_policy.as_mut())
        {
            policy.hold_unverified_specialists = true;
        }
        sign(&mut holding, "platform", &key(KEY));
        assert_eq!(verify(&holding, &publishers()), Ok("platform"));
        if let Some(policy) = holding
            .program
            .as_mut()
            .and_then(|p| p.risk_policy.as_mut())
        {
            policy.hold_unverified_specialists = false;
        }
        assert!(
            verify(&holding, &publishers()).is_err(),
            "switched off: refused"
        );

        let mut forged = schemas::examples::reference_record();
        sign(&mut forged, "platform", &key(OTHER));
        assert!(verify(&forged, &publishers())
            .unwrap_err()
            .contains("does not match"));

        let mut stranger = schemas::examples::reference_record();
        sign(&mut stranger, "mallory", &key(OTHER));
        assert!(verify(&stranger, &publishers())
            .unwrap_err()
            .contains("not in REFERENCE_PUBLISHER_KEYS"));

        let mut unsigned = schemas::examples::reference_record();
        unsigned.principal = None;
        unsigned.signature = None;
        assert!(verify(&unsigned, &publishers())
            .unwrap_err()
            .contains("unsigned"));
    }

    /// The signature v3 code gave the example record: adding the v4 entity fields must not
    /// invalidate what publishers signed before them.
    #[test]
    fn a_record_signed_before_v4_still_verifies() {
        let mut record = schemas::examples::reference_record();
        sign(&mut record, "platform", &key(KEY));
        assert_eq!(
            record.signature.as_deref(),
            Some("ba698e52ede0b2cd157fd29095e21a9d82abfe398b948cffb08097ae35ddd659")
        );
        let mut endpoint = record.clone();
        endpoint.webhook_endpoint = Some(schemas::reference::WebhookEndpoint {
            endpoint_id: "e".into(),
            program_id: "acme-eu".into(),
            partner_id: None,
            url: "https://hooks.example.com/".into(),
            event_types: vec![],
            secret_version: 1,
            enabled: true,
        });
        assert!(
            verify(&endpoint, &publishers()).is_err(),
            "a v4 field is signed"
        );
    }

    /// Trust settings, partner categories and rule categories (v6) are signed when set; the
    /// example (none set) keeps the signature earlier versions gave it.
    #[test]
    fn the_v6_fields_are_signed_when_set() {
        let mut record = schemas::examples::reference_record();
        if let Some(p) = record.program.as_mut() {
            p.trust = Some(schemas::reference::TrustSettings::default());
        }
        sign(&mut record, "platform", &key(KEY));
        assert_ne!(
            record.signature.as_deref(),
            Some("ba698e52ede0b2cd157fd29095e21a9d82abfe398b948cffb08097ae35ddd659")
        );
        assert_eq!(verify(&record, &publishers()), Ok("platform"));
        if let Some(t) = record.program.as_mut().and_then(|p| p.trust.as_mut()) {
            t.weight_reviews = rust_decimal::Decimal::ONE; // all weight on reviews
        }
        assert!(verify(&record, &publishers()).is_err());

        let mut partner = schemas::examples::reference_record();
        partner.entity_type = schemas::reference::EntityType::Partner;
        partner.program = None;
        partner.partner = Some(schemas::reference::Partner {
            partner_id: "p-1".into(),
            name: "Lena".into(),
            partner_kind: schemas::reference::PartnerKind::Specialist,
            status: schemas::touchpoint::PartnerStatus::Verified,
            tier: None,
            self_referral_ids: vec![],
            categories: vec!["dermatology".into()],
        });
        sign(&mut partner, "platform", &key(KEY));
        assert_eq!(verify(&partner, &publishers()), Ok("platform"));
        if let Some(p) = partner.partner.as_mut() {
            p.categories = vec!["surgery".into()]; // a better-paid category
        }
        assert!(verify(&partner, &publishers()).is_err());
    }
}

#[cfg(test)]
mod round_trip {
    use super::*;
    use runtime::Secret;

    /// What a follower verifies is the record decoded from the topic: every record of the
    /// sample reference data must verify after an encode/decode round trip.
    #[test]
    fn every_sample_record_verifies_after_the_topic_round_trip() {
        let text = include_str!("../../deploy/local/sample/reference.toml");
        let set = crate::parse(text).expect("valid sample");
        let key = runtime::secret::decode_base64("YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=")
            .expect("base64");
        let publishers = PrincipalKeys::parse(
            "K",
            &Secret::new("platform:YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8="),
        )
        .expect("valid");
        for (name, mut record) in set.records(chrono::Utc::now(), "rev") {
            sign(&mut record, "platform", &key);
            let bytes = schemas::encode(&record).expect("encode");
            let read: ReferenceRecord = schemas::decode(&bytes).expect("decode");
            assert_eq!(
                verify(&read, &publishers),
                Ok("platform"),
                "{name}: {read:?}"
            );
        }
    }
}
