//! The reference file: TOML written by people (see `reference/example.toml` for every field,
//! with comments). `parse` reads and validates a whole file and reports every problem with its
//! line, so nothing half-valid is ever published.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use schemas::attribution::AttributionModel;
use schemas::money::Currency;
use schemas::reference::{
    AttributionSettings, CodePrecedence, CommissionRule, EntityType, Link, Partner, PartnerKind,
    Program, ReferenceRecord, RiskPolicy, TrustSettings, WebhookEndpoint, WriteKey,
    RISK_REASON_CODES, RISK_THRESHOLD_NAMES, WEBHOOK_EVENT_TYPES,
};
use schemas::touchpoint::PartnerStatus;
use serde::Deserialize;
use toml::{Spanned, Table};

use crate::fields::Fields;
use crate::host;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
/// Longest window or hold the file accepts: ten years.
const MAX_DAYS: i64 = 3_650;

/// One problem in a reference file, located by line (1-based) and entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// Line of the entity (or of the syntax error).
    pub line: usize,
    /// Which entity, e.g. `partners[3] "p-0042"`; empty for syntax errors.
    pub place: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.place.is_empty() {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(f, "line {}: {}: {}", self.line, self.place, self.message)
        }
    }
}

/// A validated reference file.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceSet {
    /// Programs.
    pub programs: Vec<Program>,
    /// Partners.
    pub partners: Vec<Partner>,
    /// Links.
    pub links: Vec<Link>,
    /// Codes (normalised: trimmed, upper-case).
    pub codes: Vec<schemas::reference::Code>,
    /// Commission rules.
    pub rules: Vec<CommissionRule>,
    /// Collector write keys.
    pub write_keys: Vec<WriteKey>,
    /// Webhook endpoints.
    pub webhooks: Vec<WebhookEndpoint>,
}

impl ReferenceSet {
    /// One record per entity, keyed as on the topic, in publishing order: programs and
    /// partners before the links, codes, rules, write keys and webhooks that name them.
    pub fn records(
        &self,
        published_at: DateTime<Utc>,
        revision: &str,
    ) -> Vec<(String, ReferenceRecord)> {
        let blank = |entity_type| ReferenceRecord {
            entity_type,
            program: None,
            partner: None,
            link: None,
            code: None,
            commission_rule: None,
            published_at,
            source_revision: revision.to_string(),
            deleted: false,
            principal: None,
            signature: None,
            write_key: None,
            webhook_endpoint: None,
        };
        let mut out = Vec::new();
        for p in &self.programs {
            out.push(ReferenceRecord {
                program: Some(p.clone()),
                ..blank(EntityType::Program)
            });
        }
        for p in &self.partners {
            out.push(ReferenceRecord {
                partner: Some(p.clone()),
                ..blank(EntityType::Partner)
            });
        }
        for l in &self.links {
            out.push(ReferenceRecord {
                link: Some(l.clone()),
                ..blank(EntityType::Link)
            });
        }
        for c in &self.codes {
            out.push(ReferenceRecord {
                code: Some(c.clone()),
                ..blank(EntityType::Code)
            });
        }
        for r in &self.rules {
            out.push(ReferenceRecord {
                commission_rule: Some(r.clone()),
                ..blank(EntityType::CommissionRule)
            });
        }
        for k in &self.write_keys {
            out.push(ReferenceRecord {
                write_key: Some(k.clone()),
                ..blank(EntityType::WriteKey)
            });
        }
        for e in &self.webhooks {
            out.push(ReferenceRecord {
                webhook_endpoint: Some(e.clone()),
                ..blank(EntityType::WebhookEndpoint)
            });
        }
        out.into_iter()
            .filter_map(|r| r.key().map(|k| (k, r)))
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    programs: Vec<Spanned<Table>>,
    #[serde(default)]
    partners: Vec<Spanned<Table>>,
    #[serde(default)]
    links: Vec<Spanned<Table>>,
    #[serde(default)]
    codes: Vec<Spanned<Table>>,
    #[serde(default)]
    rules: Vec<Spanned<Table>>,
    #[serde(default)]
    write_keys: Vec<Spanned<Table>>,
    #[serde(default)]
    webhooks: Vec<Spanned<Table>>,
}

/// Collects problems per entity.
struct Problems<'t> {
    text: &'t str,
    errors: Vec<FileError>,
}

impl Problems<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text
            .as_bytes()
            .iter()
            .take(offset)
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn add(&mut self, at: usize, place: &str, messages: Vec<String>) {
        let line = self.line_of(at);
        self.errors
            .extend(messages.into_iter().map(|message| FileError {
                line,
                place: place.to_string(),
                message,
            }));
    }
}

fn place(section: &str, index: usize, id: &str) -> String {
    if id.is_empty() {
        format!("{section}[{index}]")
    } else {
        format!("{section}[{index}] {id:?}")
    }
}

fn check_id(fields: &mut Fields<'_>, what: &str, id: &str) {
    if !id.is_empty() && (id.len() > 128 || id.chars().any(|c| c.is_whitespace() || c == '/')) {
        fields.problems.push(format!(
            "{what} {id:?} must be at most 128 characters without spaces or '/'"
        ));
    }
}

fn enum_field<T: Copy>(
    fields: &mut Fields<'_>,
    key: &'static str,
    default: Option<T>,
    choices: &[(&str, T)],
) -> Option<T> {
    match fields.optional_string(key) {
        None if default.is_some() => default,
        None => {
            fields.problems.push(format!("`{key}` is missing"));
            None
        }
        Some(text) => match choices.iter().find(|(name, _)| *name == text) {
            Some((_, value)) => Some(*value),
            None => {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                fields.problems.push(format!(
                    "`{key}` = {text:?} is not one of {}",
                    names.join(", ")
                ));
                None
            }
        },
    }
}

const MODELS: [(&str, AttributionModel); 5] = [
    ("last_touch", AttributionModel::LastTouch),
    ("first_touch", AttributionModel::FirstTouch),
    ("linear", AttributionModel::Linear),
    ("time_decay", AttributionModel::TimeDecay),
    ("position_based", AttributionModel::PositionBased),
];
const PRECEDENCES: [(&str, CodePrecedence); 2] = [
    ("code_wins", CodePrecedence::CodeWins),
    ("link_wins", CodePrecedence::LinkWins),
];
const KINDS: [(&str, PartnerKind); 2] = [
    ("affiliate", PartnerKind::Affiliate),
    ("specialist", PartnerKind::Specialist),
];
const STATUSES: [(&str, PartnerStatus); 3] = [
    ("pending", PartnerStatus::Pending),
    ("verified", PartnerStatus::Verified),
    ("suspended", PartnerStatus::Suspended),
];

fn attribution(fields: &mut Fields<'_>) -> AttributionSettings {
    let model = enum_field(fields, "model", Some(AttributionModel::LastTouch), &MODELS);
    let precedence = enum_field(
        fields,
        "code_precedence",
        Some(CodePrecedence::CodeWins),
        &PRECEDENCES,
    );
    AttributionSettings {
        model: model.unwrap_or(AttributionModel::LastTouch),
        click_window_seconds: fields.int_or("click_window_days", 30, 1, MAX_DAYS) * DAY,
        view_window_seconds: fields.int_or("view_window_hours", 24, 0, MAX_DAYS * 24) * HOUR,
        code_precedence: precedence.unwrap_or(CodePrecedence::CodeWins),
        grace_seconds: fields.int_or("grace_seconds", 300, 0, DAY),
        time_decay_half_life_seconds: fields.int_or("half_life_days", 7, 1, MAX_DAYS) * DAY,
    }
}

fn percent(fields: &mut Fields<'_>, key: &'static str, default: i64) -> Decimal {
    let value = fields
        .optional_decimal(key)
        .unwrap_or(Decimal::from(default));
    if value <= Decimal::ZERO || value > Decimal::ONE_HUNDRED {
        fields
            .problems
            .push(format!("`{key}` = {value} must be above 0 and at most 100"));
    }
    value
}

fn reason_codes(fields: &mut Fields<'_>, key: &'static str) -> Vec<String> {
    let codes = fields.strings(key);
    for code in &codes {
        if !RISK_REASON_CODES.contains(&code.as_str()) {
            fields.problems.push(format!(
                "`{key}`: {code:?} is not a risk reason code ({})",
                RISK_REASON_CODES.join(", ")
            ));
        }
    }
    codes
}

fn risk_policy(fields: &mut Fields<'_>) -> RiskPolicy {
    let thresholds = fields
        .table("thresholds", Fields::decimal_map)
        .unwrap_or_default();
    for (name, _) in &thresholds {
        if !RISK_THRESHOLD_NAMES.contains(&name.as_str()) {
            fields.problems.push(format!(
                "thresholds.`{name}` is not a risk rule parameter ({})",
                RISK_THRESHOLD_NAMES.join(", ")
            ));
        }
    }
    let policy = RiskPolicy {
        window_days: i32::try_from(fields.int_or("window_days", 30, 1, 365)).unwrap_or(30),
        min_sample: i32::try_from(fields.int_or("min_sample", 20, 1, 1_000_000)).unwrap_or(20),
        elevated_percent: percent(fields, "elevated_percent", 5),
        high_percent: percent(fields, "high_percent", 15),
        critical_percent: percent(fields, "critical_percent", 30),
        thresholds: thresholds.into_iter().collect(),
        hold_reasons: reason_codes(fields, "hold_on"),
        reverse_reasons: reason_codes(fields, "reverse_on"),
        high_risk_hold_seconds: fields.int_or("high_risk_hold_days", 0, 0, MAX_DAYS) * DAY,
        hold_unverified_specialists: fields.bool_or("hold_unverified_specialists", false),
    };
    if !(policy.elevated_percent < policy.high_percent
        && policy.high_percent < policy.critical_percent)
    {
        fields
            .problems
            .push("levels must rise: elevated_percent < high_percent < critical_percent".into());
    }
    if let Some(both) = policy
        .hold_reasons
        .iter()
        .find(|r| policy.reverse_reasons.contains(r))
    {
        fields
            .problems
            .push(format!("{both:?} is in both hold_on and reverse_on"));
    }
    policy
}

/// `[programs.trust]`: every key optional; without `reviews = false` the defaults are
/// [`TrustSettings::default`], with it [`TrustSettings::without_reviews`].
fn trust_settings(fields: &mut Fields<'_>) -> TrustSettings {
    let reviews_enabled = fields.bool_or("reviews", true);
    let base = if reviews_enabled {
        TrustSettings::default()
    } else {
        TrustSettings::without_reviews()
    };
    let decimal = |fields: &mut Fields<'_>, key: &'static str, default: Decimal| {
        fields.optional_decimal(key).unwrap_or(default)
    };
    let int = |fields: &mut Fields<'_>, key: &'static str, default: i32, max: i64| {
        i32::try_from(fields.int_or(key, i64::from(default), 1, max)).unwrap_or(default)
    };
    let weights = fields.table("weights", |w| {
        [
            decimal(w, "verification", base.weight_verification),
            decimal(w, "quality", base.weight_quality),
            decimal(w, "reviews", base.weight_reviews),
            decimal(w, "risk", base.weight_risk),
            decimal(w, "performance", base.weight_performance),
        ]
    });
    let [verification, quality, reviews, risk, performance] = weights.unwrap_or([
        base.weight_verification,
        base.weight_quality,
        base.weight_reviews,
        base.weight_risk,
        base.weight_performance,
    ]);
    let settings = TrustSettings {
        reviews_enabled,
        review_burst_max: int(fields, "review_burst_max", base.review_burst_max, 10_000),
        review_burst_window_seconds: fields.int_or(
            "review_burst_window_hours",
            24,
            1,
            MAX_DAYS * 24,
        ) * HOUR,
        review_prior_mean: decimal(fields, "review_prior_mean", base.review_prior_mean),
        review_prior_weight: decimal(fields, "review_prior_weight", base.review_prior_weight),
        review_trend_days: int(
            fields,
            "review_trend_days",
            base.review_trend_days,
            MAX_DAYS,
        ),
        weight_verification: verification,
        weight_quality: quality,
        weight_reviews: reviews,
        weight_risk: risk,
        weight_performance: performance,
    };
    fields.problems.extend(settings.problems());
    settings
}

/// Categories are matched exactly: trimmed, lower-case, no empties.
fn categories(fields: &mut Fields<'_>, key: &'static str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in fields.strings(key) {
        let category = raw.trim().to_lowercase();
        if category.is_empty() || category.len() > 64 {
            fields.problems.push(format!(
                "`{key}`: {raw:?} must be a category name of 1 to 64 characters"
            ));
        } else if !out.contains(&category) {
            out.push(category);
        }
    }
    out
}

fn program(fields: &mut Fields<'_>) -> (Program, Vec<String>) {
    let program_id = fields.string("id");
    check_id(fields, "id", &program_id);
    let brand = fields.string("brand");
    let raw_domains = fields.strings("domains");
    if raw_domains.is_empty() {
        fields
            .problems
            .push("`domains` must list at least one promotable domain".into());
    }
    let mut domains = Vec::new();
    for d in &raw_domains {
        match host::normalise(d) {
            Ok(n) if domains.contains(&n) => fields
                .problems
                .push(format!("domain {d:?} is listed twice (as {n})")),
            Ok(n) => domains.push(n),
            Err(e) => fields.problems.push(format!("`domains`: {e}")),
        }
    }
    let currency = fields.string("currency");
    if !currency.is_empty() && Currency::from_code(&currency).is_none() {
        fields
            .problems
            .push(format!("`currency` = {currency:?} is not an ISO 4217 code"));
    }
    let hold_seconds = fields.int_or("hold_days", 30, 0, MAX_DAYS) * DAY;
    let attribution = fields
        .table("attribution", attribution)
        .unwrap_or_else(|| attribution(&mut Fields::new(&Table::new())));
    let risk_policy = fields.table("risk", risk_policy);
    let trust = fields.table("trust", trust_settings);
    let program = Program {
        program_id,
        brand,
        domains,
        currency,
        attribution,
        hold_seconds,
        risk_policy,
        trust,
    };
    (program, raw_domains)
}

fn partner(fields: &mut Fields<'_>) -> Partner {
    let partner_id = fields.string("id");
    check_id(fields, "id", &partner_id);
    // The partner id stays on ledger lines and payouts for years, after the profile is erased.
    if partner_id.contains('@') {
        fields.problems.push(format!(
            "id {partner_id:?} looks like an email address: partner ids are kept with the money for years, after the profile is erased; use an opaque id"
        ));
    }
    let partner_kind = enum_field(fields, "kind", Some(PartnerKind::Affiliate), &KINDS)
        .unwrap_or(PartnerKind::Affiliate);
    let categories = categories(fields, "categories");
    if !categories.is_empty() && partner_kind != PartnerKind::Specialist {
        fields.problems.push(
            "`categories` are specialist categories: set kind = \"specialist\" or leave them out"
                .into(),
        );
    }
    Partner {
        name: fields.string("name"),
        partner_kind,
        status: enum_field(fields, "status", None, &STATUSES).unwrap_or(PartnerStatus::Pending),
        tier: fields.optional_string("tier"),
        self_referral_ids: fields.strings("self_referral_ids"),
        categories,
        partner_id,
    }
}

fn link(fields: &mut Fields<'_>) -> Link {
    let link_id = fields.string("id");
    check_id(fields, "id", &link_id);
    Link {
        link_id,
        partner_id: fields.string("partner"),
        program_id: fields.string("program"),
        campaign: fields.optional_string("campaign"),
        default_shared_id: fields.optional_string("shared_id"),
    }
}

/// Codes compare case-insensitively: stored trimmed and upper-case, as ingest stores them.
pub fn normalise_code(code: &str) -> String {
    code.trim().to_uppercase()
}

fn code(fields: &mut Fields<'_>) -> schemas::reference::Code {
    let code = normalise_code(&fields.string("code"));
    check_id(fields, "code", &code);
    let valid_from = fields.optional_instant("valid_from");
    let valid_until = fields.optional_instant("valid_until");
    if let (Some(from), Some(until)) = (valid_from, valid_until) {
        if from >= until {
            fields.problems.push(format!(
                "valid_from {from} is not before valid_until {until}"
            ));
        }
    }
    schemas::reference::Code {
        code,
        partner_id: fields.string("partner"),
        program_id: fields.string("program"),
        valid_from,
        valid_until,
    }
}

/// A rule before money is converted with its program's currency.
struct RawRule {
    rule: CommissionRule,
    flat: Option<Decimal>,
    cap: Option<Decimal>,
}

fn rule(fields: &mut Fields<'_>) -> RawRule {
    let rule_id = fields.string("id");
    check_id(fields, "id", &rule_id);
    let rate = fields.optional_decimal("percent");
    let flat = fields.optional_decimal("flat");
    match (rate, flat) {
        (Some(_), Some(_)) => fields
            .problems
            .push("set `percent` or `flat`, not both".into()),
        (None, None) => fields
            .problems
            .push("`percent` or `flat` is required".into()),
        _ => {}
    }
    if let Some(r) = rate {
        if r <= Decimal::ZERO || r > Decimal::ONE_HUNDRED {
            fields
                .problems
                .push(format!("`percent` = {r} must be above 0 and at most 100"));
        }
    }
    if flat.is_some_and(|f| f <= Decimal::ZERO) {
        fields.problems.push("`flat` must be positive".into());
    }
    let cap = fields.optional_decimal("cap");
    let cap_period_days = fields.optional_int("cap_period_days", 1, 366);
    if cap.is_some() != cap_period_days.is_some() {
        fields
            .problems
            .push("`cap` and `cap_period_days` go together".into());
    }
    let rule = CommissionRule {
        rule_id,
        program_id: fields.string("program"),
        precedence: i32::try_from(fields.int_or("precedence", 100, 0, 1_000_000)).unwrap_or(100),
        partner_tier: fields.optional_string("tier"),
        partner_id: fields.optional_string("partner"),
        rate,
        flat_minor: None,
        recurring_renewals: fields
            .optional_int("recurring_renewals", 0, 1_000)
            .and_then(|n| i32::try_from(n).ok()),
        cap_minor: None,
        cap_period_days: cap_period_days.and_then(|n| i32::try_from(n).ok()),
        specialist_categories: categories(fields, "specialist_categories"),
    };
    RawRule { rule, flat, cap }
}

fn write_key(fields: &mut Fields<'_>) -> WriteKey {
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let key_id = fields.string("id");
    if !key_id.is_empty() && !hex(&key_id, 16) {
        fields.problems.push(format!(
            "id {key_id:?} must be 16 lowercase hex digits (the middle of wk_<id>_<secret>; `collector key new` makes one)"
        ));
    }
    let secret_sha256 = fields.string("secret_sha256");
    if !secret_sha256.is_empty() && !hex(&secret_sha256, 64) {
        fields
            .problems
            .push("`secret_sha256` must be 64 lowercase hex digits (SHA-256 of the secret)".into());
    }
    WriteKey {
        key_id,
        program_id: fields.string("program"),
        secret_sha256,
        label: fields.optional_string("label"),
    }
}

fn webhook(fields: &mut Fields<'_>) -> WebhookEndpoint {
    let endpoint_id = fields.string("id");
    check_id(fields, "id", &endpoint_id);
    let url = fields.string("url");
    if !url.is_empty() {
        match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => fields
                .problems
                .push(format!("`url` = {url:?} is not an http(s) URL with a host")),
        }
    }
    let event_types = fields.strings("events");
    for t in &event_types {
        if !WEBHOOK_EVENT_TYPES.contains(&t.as_str()) {
            fields.problems.push(format!(
                "`events`: {t:?} is not an event type ({})",
                WEBHOOK_EVENT_TYPES.join(", ")
            ));
        }
    }
    WebhookEndpoint {
        endpoint_id,
        program_id: fields.string("program"),
        partner_id: fields.optional_string("partner"),
        url,
        event_types,
        secret_version: i32::try_from(fields.int_or("secret_version", 1, 1, 1_000_000))
            .unwrap_or(1),
        enabled: fields.bool_or("enabled", true),
    }
}

/// Reads and validates a whole reference file.
pub fn parse(text: &str) -> Result<ReferenceSet, Vec<FileError>> {
    let mut problems = Problems {
        text,
        errors: Vec::new(),
    };
    let raw: RawFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let line = e.span().map_or(1, |s| problems.line_of(s.start));
            return Err(vec![FileError {
                line,
                place: String::new(),
                message: e.message().to_string(),
            }]);
        }
    };

    // Each entity on its own.
    let mut programs = Vec::new();
    for (i, spanned) in raw.programs.iter().enumerate() {
        let mut fields = Fields::new(spanned.get_ref());
        let (p, _) = program(&mut fields);
        let at = spanned.span().start;
        problems.add(at, &place("programs", i, &p.program_id), fields.finish());
        programs.push((at, p));
    }
    let mut partners = Vec::new();
    for (i, spanned) in raw.partners.iter().enumerate() {
        let mut fields = Fields::new(spanned.get_ref());
        let p = partner(&mut fields);
        let at = spanned.span().start;
        problems.add(at, &place("partners", i, &p.partner_id), fields.finish());
        partners.push((at, p));
    }
    let mut links = Vec::new();
    for (i, spanned) in raw.links.iter().enumerate() {
        let mut fields = Fields::new(spanned.get_ref());
        let l = link(&mut fields);
        let at = spanned.span().start;
        problems.add(at, &place("links", i, &l.link_id), fields.finish());
        links.push((at, l));
    }
    let mut codes = Vec::new();
    for (i, spanned) in raw.codes.iter().enumerate() {
        let mut fields = Fields::new(spanned.get_ref());
        let c = code(&mut fields);
        let at = spanned.span().start;
        problems.add(at, &place("codes", i, &c.code), fields.finish());
        codes.push((at, c));
    }
    let mut write_keys = Vec::new();
    for (i, spanned) in raw.write_keys.iter().enumerate() {
        let mut fields = Fields::new(spanned.get_ref());
        let k = write_key(&mut fields);
        let at = spanned.span().start;
        problems.add(at, &place("write_keys", i, &k.key_id), fields.finish());
        write_keys.push((at, k));
    }
    let mut webhooks = Vec::new();
    for (i, spanned) in raw.webhooks.iter().enumerate() {
        let mut fields = Fields::new(spanned.get_ref());
        let e = webhook(&mut fields);
        let at = spanned.span().start;
        problems.add(at, &place("webhooks", i, &e.endpoint_id), fields.finish());
        webhooks.push((at, e));
    }
    let mut rules = Vec::new();
    for (i, spanned) in raw.rules.iter().enumerate() {
        let mut fields = Fields::new(spanned.get_ref());
        let r = rule(&mut fields);
        let at = spanned.span().start;
        problems.add(at, &place("rules", i, &r.rule.rule_id), fields.finish());
        rules.push((at, r));
    }

    // Across entities: unique ids, references that resolve, domains owned once.
    let mut seen = HashSet::new();
    let mut program_currency = HashMap::new();
    let mut domain_owner: HashMap<String, String> = HashMap::new();
    for (i, (at, p)) in programs.iter().enumerate() {
        let mut messages = Vec::new();
        if !seen.insert(("program", p.program_id.clone())) {
            messages.push(format!("program id {:?} is used twice", p.program_id));
        }
        for d in &p.domains {
            if let Some(owner) = domain_owner.insert(d.clone(), p.program_id.clone()) {
                if owner != p.program_id {
                    messages.push(format!("domain {d} already belongs to program {owner:?}"));
                }
            }
        }
        program_currency.insert(p.program_id.clone(), Currency::from_code(&p.currency));
        problems.add(*at, &place("programs", i, &p.program_id), messages);
    }
    let mut partner_ids = HashSet::new();
    for (i, (at, p)) in partners.iter().enumerate() {
        let mut messages = Vec::new();
        if !partner_ids.insert(p.partner_id.clone()) {
            messages.push(format!("partner id {:?} is used twice", p.partner_id));
        }
        problems.add(*at, &place("partners", i, &p.partner_id), messages);
    }
    let references = |partner: &str, program: &str, messages: &mut Vec<String>| {
        if !partner.is_empty() && !partner_ids.contains(partner) {
            messages.push(format!(
                "partner {partner:?} is not defined in [[partners]]"
            ));
        }
        if !program.is_empty() && !program_currency.contains_key(program) {
            messages.push(format!(
                "program {program:?} is not defined in [[programs]]"
            ));
        }
    };
    for (i, (at, l)) in links.iter().enumerate() {
        let mut messages = Vec::new();
        if !seen.insert(("link", l.link_id.clone())) {
            messages.push(format!("link id {:?} is used twice", l.link_id));
        }
        references(&l.partner_id, &l.program_id, &mut messages);
        problems.add(*at, &place("links", i, &l.link_id), messages);
    }
    for (i, (at, c)) in codes.iter().enumerate() {
        let mut messages = Vec::new();
        if !seen.insert(("code", c.code.clone())) {
            messages.push(format!(
                "code {:?} is used twice (codes are unique across programs, compared case-insensitively)",
                c.code
            ));
        }
        references(&c.partner_id, &c.program_id, &mut messages);
        problems.add(*at, &place("codes", i, &c.code), messages);
    }
    for (i, (at, k)) in write_keys.iter().enumerate() {
        let mut messages = Vec::new();
        if !seen.insert(("write_key", k.key_id.clone())) {
            messages.push(format!("write key id {:?} is used twice", k.key_id));
        }
        references("", &k.program_id, &mut messages);
        problems.add(*at, &place("write_keys", i, &k.key_id), messages);
    }
    for (i, (at, e)) in webhooks.iter().enumerate() {
        let mut messages = Vec::new();
        if !seen.insert(("webhook", e.endpoint_id.clone())) {
            messages.push(format!("webhook id {:?} is used twice", e.endpoint_id));
        }
        references(
            e.partner_id.as_deref().unwrap_or(""),
            &e.program_id,
            &mut messages,
        );
        problems.add(*at, &place("webhooks", i, &e.endpoint_id), messages);
    }
    let mut final_rules = Vec::new();
    for (i, (at, raw)) in rules.into_iter().enumerate() {
        let mut messages = Vec::new();
        let mut r = raw.rule;
        if !seen.insert(("rule", r.rule_id.clone())) {
            messages.push(format!("rule id {:?} is used twice", r.rule_id));
        }
        references(
            r.partner_id.as_deref().unwrap_or(""),
            &r.program_id,
            &mut messages,
        );
        if let Some(Some(currency)) = program_currency.get(&r.program_id) {
            let mut minor = |what: &str, amount: Option<Decimal>| {
                amount.and_then(|a| match currency.to_minor(a) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        messages.push(format!("`{what}` in {}: {e}", currency.code()));
                        None
                    }
                })
            };
            r.flat_minor = minor("flat", raw.flat);
            r.cap_minor = minor("cap", raw.cap);
        }
        problems.add(at, &place("rules", i, &r.rule_id), messages);
        final_rules.push(r);
    }

    if !problems.errors.is_empty() {
        problems.errors.sort_by_key(|e| e.line);
        return Err(problems.errors);
    }
    Ok(ReferenceSet {
        programs: programs.into_iter().map(|(_, p)| p).collect(),
        partners: partners.into_iter().map(|(_, p)| p).collect(),
        links: links.into_iter().map(|(_, l)| l).collect(),
        codes: codes.into_iter().map(|(_, c)| c).collect(),
        rules: final_rules,
        write_keys: write_keys.into_iter().map(|(_, k)| k).collect(),
        webhooks: webhooks.into_iter().map(|(_, e)| e).collect(),
    })
}
