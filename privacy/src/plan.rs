//! What erasing a customer means for each store, and what exporting them reads (pure: SQL
//! text, keys and hashes; no I/O).
//!
//! Personal data is deleted; rows that carry money or aggregates stay with the subject's ids
//! replaced by [`ERASED`], so revenue, commissions, payouts and reconciliation are unchanged.
//! The ledger tables and the partner-safe database hold no personal data and are not touched.

use chrono::{DateTime, Utc};
pub use runtime::privacy::ERASED;
use schemas::reference::{Partner, WebhookEndpoint};
use schemas::ReferenceRecord;

/// The person an erasure or export is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Program (tenant).
    pub program_id: String,
    /// The customer id the program knows them by.
    pub customer_id: String,
}

impl Subject {
    /// The keyed hash the audit trail records instead of the id: HMAC-SHA256 (hex) of program
    /// and customer id. Without the key it cannot be reversed or recomputed from a guess.
    pub fn hash(&self, key: &[u8]) -> String {
        let mut message = self.program_id.as_bytes().to_vec();
        message.push(0x1f);
        message.extend_from_slice(self.customer_id.as_bytes());
        runtime::secret::hmac_hex(key, &message)
    }

    /// The attribution keys of the customer and of `visitors` (`program/visitor`,
    /// `program/customer:id`), as the enricher makes them.
    pub fn attribution_keys(&self, visitors: &[String]) -> Vec<String> {
        let mut keys: Vec<String> = visitors
            .iter()
            .map(|v| format!("{}/{v}", self.program_id))
            .collect();
        keys.push(format!("{}/customer:{}", self.program_id, self.customer_id));
        keys.sort();
        keys.dedup();
        keys
    }
}

pub use runtime::clickhouse::{list, literal};

/// Everything found about the subject in the analytics tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Visitor ids seen with the customer id.
    pub visitors: Vec<String>,
    /// Attribution keys of the customer and those visitors.
    pub keys: Vec<String>,
    /// Attributions of the customer's conversions and refunds.
    pub attributions: Vec<String>,
}

/// One ClickHouse change of an erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// Table.
    pub table: &'static str,
    /// `deleted` or `redacted`.
    pub action: &'static str,
    /// Counts the rows it will change.
    pub count: String,
    /// The `ALTER TABLE … DELETE|UPDATE` statement.
    pub statement: String,
}

/// Deletes a specialist's trust records (partner database `partner_db`): they describe the
/// profile being erased; the trust service writes them again without it.
pub fn erase_trust_rows(partner_db: &str, partner_id: &str) -> Mutation {
    let filter = format!("specialist_id = {}", literal(partner_id));
    Mutation {
        table: "trust_specialists",
        action: "deleted",
        count: format!("SELECT count() FROM `{partner_db}`.trust_specialists WHERE {filter}"),
        statement: format!("ALTER TABLE `{partner_db}`.trust_specialists DELETE WHERE {filter}"),
    }
}

/// The ClickHouse changes that erase `subject` (found as `found`).
pub fn mutations(subject: &Subject, found: &Found) -> Vec<Mutation> {
    let program = literal(&subject.program_id);
    let customer = literal(&subject.customer_id);
    let visitors = list(&found.visitors);
    let keys = list(&found.keys);
    let attributions = list(&found.attributions);
    let erased = literal(ERASED);
    let touchpoints = format!(
        "program_id = {program} AND (customer_id = {customer} OR visitor_id IN {visitors} OR attribution_key IN {keys})"
    );
    let conversions = format!(
        "program_id = {program} AND (customer_id = {customer} OR visitor_id IN {visitors})"
    );
    let of_attributions = format!("attribution_id IN {attributions}");
    let mutation = |table, action, filter: &str, change: String| Mutation {
        table,
        action,
        count: format!("SELECT count() FROM {table} WHERE {filter}"),
        statement: format!("ALTER TABLE {table} {change} WHERE {filter}"),
    };
    vec![
        // Touchpoints are personal through and through: clicks, page views, referrers.
        mutation("touchpoints", "deleted", &touchpoints, "DELETE".into()),
        // Conversions carry revenue: the row stays, the person goes.
        mutation(
            "conversions",
            "redacted",
            &conversions,
            format!("UPDATE customer_id = {erased}, visitor_id = {erased}"),
        ),
        mutation(
            "attributions",
            "redacted",
            &of_attributions,
            format!("UPDATE customer_id = {erased}, attribution_key = {erased}"),
        ),
        // The evidence stays (why a partner was credited); the ad network's click id goes.
        mutation(
            "attribution_evidence",
            "redacted",
            &format!("{of_attributions} AND click_id IS NOT NULL"),
            "UPDATE click_id = NULL".into(),
        ),
        // Reason codes stay (Risk % is computed from them); what was measured (a network
        // prefix, a device count) and the detail text go.
        mutation(
            "risk_scores",
            "redacted",
            &format!("{of_attributions} AND length(reason_codes) > 0"),
            format!(
                "UPDATE reason_measured = arrayMap(x -> {erased}, reason_codes), reason_details = arrayMap(x -> {erased}, reason_codes)"
            ),
        ),
    ]
}

/// The tables an export reads and how each finds the subject's rows.
pub fn export_queries(subject: &Subject, found: &Found) -> Vec<(&'static str, String)> {
    let program = literal(&subject.program_id);
    let customer = literal(&subject.customer_id);
    let visitors = list(&found.visitors);
    let keys = list(&found.keys);
    let attributions = list(&found.attributions);
    vec![
        (
            "touchpoints",
            format!("SELECT * FROM touchpoints FINAL WHERE program_id = {program} AND (customer_id = {customer} OR visitor_id IN {visitors} OR attribution_key IN {keys}) ORDER BY occurred_at_ms, event_id"),
        ),
        (
            "conversions",
            format!("SELECT * FROM conversions FINAL WHERE program_id = {program} AND (customer_id = {customer} OR visitor_id IN {visitors}) ORDER BY occurred_at_ms, event_id"),
        ),
        (
            "attributions",
            format!("SELECT * FROM attributions FINAL WHERE attribution_id IN {attributions} ORDER BY occurred_at, attribution_id"),
        ),
        (
            "attribution_credits",
            format!("SELECT * FROM attribution_credits FINAL WHERE attribution_id IN {attributions} ORDER BY attribution_id, commission_id"),
        ),
        (
            "attribution_evidence",
            format!("SELECT * FROM attribution_evidence FINAL WHERE attribution_id IN {attributions} ORDER BY attribution_id, touchpoint_id"),
        ),
    ]
}

/// A partner whose personal profile is erased or exported. Partner ids are the program's
/// pseudonymous account ids: finance keeps them on ledger lines and payouts (legal retention),
/// so the profile goes and the id stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerSubject {
    /// The partner id.
    pub partner_id: String,
}

impl PartnerSubject {
    /// The keyed hash the audit trail records: HMAC-SHA256 (hex) of `partner`, a separator no
    /// customer subject uses, and the id.
    pub fn hash(&self, key: &[u8]) -> String {
        let mut message = b"partner\x1e".to_vec();
        message.extend_from_slice(self.partner_id.as_bytes());
        runtime::secret::hmac_hex(key, &message)
    }

    /// The reference key of the partner's record.
    pub fn reference_key(&self) -> String {
        format!("partner/{}", self.partner_id)
    }
}

/// The partner's record with its personal profile removed — name replaced by [`ERASED`],
/// self-referral ids (the partner's own accounts) emptied; kind, status and tier, which
/// decide commissions, stay — and the names of the fields that changed. `None` when there is
/// nothing left to remove (a second erasure).
pub fn redact_partner(
    record: &ReferenceRecord,
    request_id: &str,
    now: DateTime<Utc>,
) -> Option<(ReferenceRecord, Vec<&'static str>)> {
    let partner = record.partner.as_ref()?;
    let mut changed = Vec::new();
    if partner.name != ERASED {
        changed.push("name");
    }
    if !partner.self_referral_ids.is_empty() {
        changed.push("self_referral_ids");
    }
    if changed.is_empty() {
        return None;
    }
    let redacted = ReferenceRecord {
        partner: Some(Partner {
            name: ERASED.to_string(),
            self_referral_ids: Vec::new(),
            ..partner.clone()
        }),
        published_at: now,
        source_revision: format!("erasure:{request_id}"),
        principal: None,
        signature: None,
        ..record.clone()
    };
    Some((redacted, changed))
}

/// A webhook endpoint of the erased partner, switched off with its URL (the partner's own
/// address) replaced by [`ERASED`]; `None` for another partner's or a program's endpoint, or
/// one erased already. The id stays: the delivery log names it.
pub fn redact_endpoint(
    record: &ReferenceRecord,
    subject: &PartnerSubject,
    request_id: &str,
    now: DateTime<Utc>,
) -> Option<ReferenceRecord> {
    let endpoint = record.webhook_endpoint.as_ref()?;
    if endpoint.partner_id.as_deref() != Some(subject.partner_id.as_str())
        || (endpoint.url == ERASED && !endpoint.enabled)
    {
        return None;
    }
    Some(ReferenceRecord {
        webhook_endpoint: Some(WebhookEndpoint {
            url: ERASED.to_string(),
            enabled: false,
            ..endpoint.clone()
        }),
        published_at: now,
        source_revision: format!("erasure:{request_id}"),
        principal: None,
        signature: None,
        ..record.clone()
    })
}

/// The partner-safe tables (`{partner_database}`) a partner export reads: the partner's money,
/// evidence and risk levels without anyone else's personal data.
pub fn partner_export_queries(
    subject: &PartnerSubject,
    partner_database: &str,
) -> Vec<(&'static str, String)> {
    let partner = literal(&subject.partner_id);
    let db = format!("`{partner_database}`");
    let mut queries: Vec<(&'static str, String)> = [
        ("commissions", "program_id, occurred_at, commission_id"),
        (
            "ledger_entries",
            "program_id, effective_at_ms, sequence, entry_id",
        ),
        ("payouts", "program_id, created_at, payout_id"),
        (
            "attribution_credits",
            "program_id, attribution_id, commission_id",
        ),
        ("attribution_evidence", "attribution_id, touchpoint_id"),
        ("attribution_losing_claims", "attribution_id, touchpoint_id"),
        ("risk_levels", "program_id, subject_id"),
    ]
    .into_iter()
    .map(|(table, order)| {
        (
            table,
            format!(
                "SELECT * FROM {db}.{table} FINAL WHERE partner_id = {partner} ORDER BY {order}"
            ),
        )
    })
    .collect();
    queries.insert(
        3,
        (
            "payout_items",
            format!("SELECT * FROM {db}.payout_items FINAL WHERE payout_id IN (SELECT payout_id FROM {db}.payouts WHERE partner_id = {partner}) ORDER BY payout_id, commission_id"),
        ),
    );
    queries
}

/// Counts, per program, the analytics rows in which the partner's own accounts (their
/// self-referral ids) appear as customers: those are erased as customers, with `privacy erase`.
pub fn as_customer_query(self_referral_ids: &[String]) -> String {
    format!(
        "SELECT program_id, assumeNotNull(customer_id) AS customer, count() AS rows FROM conversions WHERE customer_id IN {} AND customer_id != {} GROUP BY program_id, customer ORDER BY program_id, customer",
        list(self_referral_ids),
        literal(ERASED)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject {
            program_id: "acme".into(),
            customer_id: "c-1".into(),
        }
    }

    fn partner_record() -> ReferenceRecord {
        let set = reference_sample();
        set.into_iter()
            .find(|r| {
                r.partner
                    .as_ref()
                    .is_some_and(|p| p.partner_id == "p-dealshub")
            })
            .expect("the sample has p-dealshub")
    }

    fn reference_sample() -> Vec<ReferenceRecord> {
        let text = include_str!("../../deploy/local/sample/reference.toml");
        reference::parse(text)
            .expect("the sample parses")
            .records(Utc::now(), "test")
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    #[test]
    fn a_partner_loses_name_and_own_accounts_and_keeps_what_decides_money() {
        let record = partner_record();
        let now = Utc::now();
        let (redacted, changed) =
            redact_partner(&record, "era-9", now).expect("something to erase");
        assert_eq!(changed, vec!["name", "self_referral_ids"]);
        let (before, after) = (record.partner.unwrap(), redacted.partner.clone().unwrap());
        assert_eq!(after.name, ERASED);
        assert!(after.self_referral_ids.is_empty());
        assert_eq!(
            (
                after.partner_id,
                after.partner_kind,
                after.status,
                after.tier
            ),
            (
                before.partner_id,
                before.partner_kind,
                before.status,
                before.tier
            )
        );
        assert_eq!(redacted.source_revision, "erasure:era-9");
        assert_eq!(redacted.published_at, now);
        assert!(
            redacted.signature.is_none(),
            "signed by the store, not here"
        );
        assert!(
            redact_partner(&redacted, "era-10", now).is_none(),
            "a second erasure is a no-op"
        );
    }

    #[test]
    fn the_partners_own_endpoints_are_switched_off_and_their_url_erased() {
        let text = format!(
            "{}\n[[webhooks]]\nid = \"deals-own\"\nprogram = \"{}\"\npartner = \"p-dealshub\"\nurl = \"https://dealshub.example/hooks\"\n\n[[webhooks]]\nid = \"program-wide\"\nprogram = \"{}\"\nurl = \"https://brand.example/hooks\"\n",
            include_str!("../../deploy/local/sample/reference.toml"),
            "sandals-eu",
            "sandals-eu"
        );
        let records: Vec<ReferenceRecord> = reference::parse(&text)
            .expect("parses")
            .records(Utc::now(), "test")
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        let endpoint = |id: &str| {
            records
                .iter()
                .find(|r| {
                    r.webhook_endpoint
                        .as_ref()
                        .is_some_and(|e| e.endpoint_id == id)
                })
                .expect("listed")
                .clone()
        };
        let subject = PartnerSubject {
            partner_id: "p-dealshub".into(),
        };
        let now = Utc::now();
        let redacted =
            redact_endpoint(&endpoint("deals-own"), &subject, "era-9", now).expect("erased");
        let e = redacted.webhook_endpoint.clone().expect("endpoint");
        assert_eq!((e.url.as_str(), e.enabled), (ERASED, false));
        assert_eq!(
            e.endpoint_id, "deals-own",
            "the id stays for the delivery log"
        );
        assert_eq!(redacted.source_revision, "erasure:era-9");
        assert!(redact_endpoint(&redacted, &subject, "era-10", now).is_none());
        assert!(
            redact_endpoint(&endpoint("program-wide"), &subject, "era-9", now).is_none(),
            "the program's endpoint is not the partner's"
        );
    }

    #[test]
    fn the_partner_hash_is_keyed_and_apart_from_customer_hashes() {
        let p = PartnerSubject {
            partner_id: "p-1".into(),
        };
        assert_eq!(p.hash(b"k").len(), 64);
        assert_ne!(p.hash(b"k"), p.hash(b"other"));
        let customer = Subject {
            program_id: "partner".into(),
            customer_id: "p-1".into(),
        };
        assert_ne!(p.hash(b"k"), customer.hash(b"k"));
        assert_eq!(p.reference_key(), "partner/p-1");
    }

    #[test]
    fn a_partner_export_reads_only_partner_safe_tables_of_that_partner() {
        let q = partner_export_queries(
            &PartnerSubject {
                partner_id: "p'1".into(),
            },
            "db_partner",
        );
        assert_eq!(q.len(), 8);
        for (table, sql) in &q {
            assert!(
                sql.starts_with(&format!("SELECT * FROM `db_partner`.{table} FINAL WHERE ")),
                "{sql}"
            );
            assert!(sql.contains(r"partner_id = 'p\'1'"), "{sql}");
        }
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(literal("o'brien\\x"), r"'o\'brien\\x'");
        assert_eq!(list(&[]), "('')");
        assert_eq!(list(&["a".into(), "b'".into()]), r"('a', 'b\'')");
    }

    #[test]
    fn the_subject_hash_is_keyed_and_names_program_and_customer() {
        let s = subject();
        let h = s.hash(b"key-one");
        assert_eq!(h.len(), 64);
        assert!(!h.contains("c-1"));
        assert_ne!(h, s.hash(b"key-two"), "keyed");
        let other = Subject {
            program_id: "acme".into(),
            customer_id: "c-2".into(),
        };
        assert_ne!(h, other.hash(b"key-one"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        let a = Subject {
            program_id: "ab".into(),
            customer_id: "c".into(),
        };
        let b = Subject {
            program_id: "a".into(),
            customer_id: "bc".into(),
        };
        assert_ne!(a.hash(b"k"), b.hash(b"k"));
    }

    #[test]
    fn keys_cover_every_visitor_and_the_customer_only_key() {
        let keys = subject().attribution_keys(&["v-2".into(), "v-1".into(), "v-1".into()]);
        assert_eq!(keys, vec!["acme/customer:c-1", "acme/v-1", "acme/v-2"]);
    }

    #[test]
    fn personal_rows_are_deleted_and_money_rows_redacted() {
        let found = Found {
            visitors: vec!["v-1".into()],
            keys: subject().attribution_keys(&["v-1".into()]),
            attributions: vec!["att-1".into()],
        };
        let m = mutations(&subject(), &found);
        let by_table: Vec<(&str, &str)> = m.iter().map(|m| (m.table, m.action)).collect();
        assert_eq!(
            by_table,
            vec![
                ("touchpoints", "deleted"),
                ("conversions", "redacted"),
                ("attributions", "redacted"),
                ("attribution_evidence", "redacted"),
                ("risk_scores", "redacted"),
            ]
        );
        assert!(m[0]
            .statement
            .starts_with("ALTER TABLE touchpoints DELETE WHERE program_id = 'acme'"));
        assert!(m[1].statement.contains("UPDATE customer_id = 'erased'"));
        assert!(
            !m.iter().any(|m| m.statement.contains("amount")),
            "money is never touched"
        );
        assert!(m.iter().all(|m| m.count.starts_with("SELECT count()")));
    }
}
