//! What erasing a customer means for each store, and what exporting them reads (pure: SQL
//! text, keys and hashes; no I/O).
//!
//! Personal data is deleted; rows that carry money or aggregates stay with the subject's ids
//! replaced by [`ERASED`], so revenue, commissions, payouts and reconciliation are unchanged.
//! The ledger tables and the partner-safe database hold no personal data and are not touched.

/// What an erased id becomes where a row must stay (the same marker risk uses in its state).
pub const ERASED: &str = "erased";

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

/// A ClickHouse string literal: backslash and quote escaped. The server of the CI (18.16)
/// has no query parameters, so mutations carry literals.
pub fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `(a, b, c)` of literals; never empty (an empty `IN ()` is a syntax error on 18.16).
pub fn list(values: &[String]) -> String {
    if values.is_empty() {
        return "('')".into();
    }
    let items: Vec<String> = values.iter().map(|v| literal(v)).collect();
    format!("({})", items.join(", "))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject {
            program_id: "acme".into(),
            customer_id: "c-1".into(),
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
