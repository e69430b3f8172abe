//! Reference data records on the compacted reference topic: one entity per record.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::attribution::AttributionModel;
use crate::codec::avro_message;
use crate::touchpoint::PartnerStatus;

/// Which entity a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    /// A program (brand).
    Program,
    /// A partner.
    Partner,
    /// A referral link.
    Link,
    /// A voucher/referral code.
    Code,
    /// A commission rule.
    CommissionRule,
    /// A collector write key (v4).
    WriteKey,
    /// A webhook endpoint (v4).
    WebhookEndpoint,
}

/// Whether a code at conversion beats link touchpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodePrecedence {
    /// A valid code wins over links.
    CodeWins,
    /// Links win over codes.
    LinkWins,
}

/// A program's attribution settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributionSettings {
    /// Model.
    pub model: AttributionModel,
    /// Click-through window.
    pub click_window_seconds: i64,
    /// View-through window.
    pub view_window_seconds: i64,
    /// Code vs link precedence.
    pub code_precedence: CodePrecedence,
    /// Wait for late touchpoints.
    pub grace_seconds: i64,
    /// Time-decay half-life.
    pub time_decay_half_life_seconds: i64,
}

/// A program (brand/tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// Id.
    pub program_id: String,
    /// Brand name.
    pub brand: String,
    /// Promotable domains.
    pub domains: Vec<String>,
    /// ISO 4217 currency of commissions.
    pub currency: String,
    /// Attribution settings.
    pub attribution: AttributionSettings,
    /// Hold period before approval.
    pub hold_seconds: i64,
    /// Risk policy; `None` uses the risk service's defaults (v2).
    #[serde(default)]
    pub risk_policy: Option<RiskPolicy>,
    /// Marketplace trust settings; `None` uses the trust service's defaults (v6).
    #[serde(default)]
    pub trust: Option<TrustSettings>,
}

/// A program's marketplace trust settings (v6): whether reviews are taken, how they are
/// judged, and the ranking's weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustSettings {
    /// Reviews are taken and scored; when false they are refused and `weight_reviews` is 0.
    pub reviews_enabled: bool,
    /// More reviews of one specialist than this from one device or network within the
    /// window make all of them a burst.
    pub review_burst_max: i32,
    /// The burst window.
    pub review_burst_window_seconds: i64,
    /// The Bayesian prior's mean rating (1 to 5).
    pub review_prior_mean: Decimal,
    /// The prior's weight, in reviews.
    pub review_prior_weight: Decimal,
    /// The trend compares the last this-many days with the same span before.
    pub review_trend_days: i32,
    /// Ranking weight of verification.
    pub weight_verification: Decimal,
    /// Ranking weight of profile quality and tenure.
    pub weight_quality: Decimal,
    /// Ranking weight of reviews.
    pub weight_reviews: Decimal,
    /// Ranking weight of the risk level.
    pub weight_risk: Decimal,
    /// Ranking weight of referred customers' performance.
    pub weight_performance: Decimal,
}

impl Default for TrustSettings {
    /// The documented defaults: reviews on, three per device or network a day, a prior of
    /// 3.5 weighing as 5 reviews, a 90-day trend; weights 0.15 / 0.20 / 0.30 / 0.20 / 0.15.
    fn default() -> TrustSettings {
        TrustSettings {
            reviews_enabled: true,
            review_burst_max: 3,
            review_burst_window_seconds: 86_400,
            review_prior_mean: Decimal::new(35, 1),
            review_prior_weight: Decimal::from(5),
            review_trend_days: 90,
            weight_verification: Decimal::new(15, 2),
            weight_quality: Decimal::new(20, 2),
            weight_reviews: Decimal::new(30, 2),
            weight_risk: Decimal::new(20, 2),
            weight_performance: Decimal::new(15, 2),
        }
    }
}

impl TrustSettings {
    /// The documented defaults of a program without reviews: weights 0.20 / 0.30 / 0 /
    /// 0.30 / 0.20 (the reviews' share goes to quality and risk).
    pub fn without_reviews() -> TrustSettings {
        TrustSettings {
            reviews_enabled: false,
            weight_verification: Decimal::new(20, 2),
            weight_quality: Decimal::new(30, 2),
            weight_reviews: Decimal::ZERO,
            weight_risk: Decimal::new(30, 2),
            weight_performance: Decimal::new(20, 2),
            ..TrustSettings::default()
        }
    }

    /// The ranking's weights by component name, in the ranking's order.
    pub fn weights(&self) -> [(&'static str, Decimal); 5] {
        [
            ("verification", self.weight_verification),
            ("quality", self.weight_quality),
            ("reviews", self.weight_reviews),
            ("risk", self.weight_risk),
            ("performance", self.weight_performance),
        ]
    }

    /// Every problem with these settings, each named (empty: usable).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.review_burst_max < 1 {
            out.push(format!(
                "review_burst_max must be at least 1, not {}",
                self.review_burst_max
            ));
        }
        if self.review_burst_window_seconds < 1 {
            out.push("the review burst window must be positive".to_string());
        }
        if self.review_prior_mean < Decimal::ONE || self.review_prior_mean > Decimal::from(5) {
            out.push(format!(
                "review_prior_mean must be a rating from 1 to 5, not {}",
                self.review_prior_mean
            ));
        }
        if self.review_prior_weight <= Decimal::ZERO {
            out.push(format!(
                "review_prior_weight must be positive, not {}",
                self.review_prior_weight
            ));
        }
        if self.review_trend_days < 1 {
            out.push(format!(
                "review_trend_days must be at least 1, not {}",
                self.review_trend_days
            ));
        }
        let weights = self.weights();
        for (name, weight) in weights {
            if weight < Decimal::ZERO {
                out.push(format!(
                    "weight `{name}` must not be negative, not {weight}"
                ));
            }
        }
        if !self.reviews_enabled && self.weight_reviews != Decimal::ZERO {
            out.push(format!(
                "reviews are not enabled, so weight `reviews` must be 0, not {}",
                self.weight_reviews
            ));
        }
        let sum: Decimal = weights.iter().map(|(_, w)| *w).sum();
        if sum != Decimal::ONE {
            out.push(format!(
                "the weights must add up to 1 (scores stay between 0 and 1), not {sum}"
            ));
        }
        out
    }
}

/// Risk reason codes a program's policy may name (DESIGN.md §3, Risk). Internal: never shown
/// to partners.
pub const RISK_REASON_CODES: [&str; 7] = [
    "click_to_conversion_too_fast",
    "click_flooding",
    "shared_fingerprint",
    "self_referral",
    "code_leakage",
    "bot_traffic",
    "velocity_spike",
];

/// Risk rule parameters a program's policy may override.
pub const RISK_THRESHOLD_NAMES: [&str; 9] = [
    "min_click_to_conversion_seconds",
    "click_flood_ratio",
    "click_flood_min_clicks",
    "fingerprint_customers_max",
    "code_leakage_ratio",
    "code_leakage_min_actions",
    "velocity_spike_ratio",
    "velocity_baseline_days",
    "velocity_min_actions",
];

/// How the risk service scores a program's actions and what it does with the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskPolicy {
    /// Rolling window of Risk %.
    pub window_days: i32,
    /// Scored actions below which the level is `insufficient_data`.
    pub min_sample: i32,
    /// Risk % from which the level is elevated.
    pub elevated_percent: Decimal,
    /// Risk % from which the level is high.
    pub high_percent: Decimal,
    /// Risk % from which the level is critical.
    pub critical_percent: Decimal,
    /// Rule parameter overrides, by name (see [`RISK_THRESHOLD_NAMES`]).
    pub thresholds: std::collections::BTreeMap<String, Decimal>,
    /// Reason codes that hold a commission for review.
    pub hold_reasons: Vec<String>,
    /// Reason codes that reverse a commission.
    pub reverse_reasons: Vec<String>,
    /// Extra hold for partners at high or critical (0: none).
    pub high_risk_hold_seconds: i64,
    /// Commissions of specialists not verified are held until verification (v5).
    #[serde(default)]
    pub hold_unverified_specialists: bool,
}

/// Affiliate or specialist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerKind {
    /// Affiliate, creator, publisher.
    Affiliate,
    /// Specialist referring customers.
    Specialist,
}

/// A partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    /// Id.
    pub partner_id: String,
    /// Display name.
    pub name: String,
    /// Kind.
    pub partner_kind: PartnerKind,
    /// Status.
    pub status: PartnerStatus,
    /// Tier or group.
    pub tier: Option<String>,
    /// Hashed emails / customer ids of the partner's own accounts.
    pub self_referral_ids: Vec<String>,
    /// Specialist categories the program operator assigned (v6): commission rules match on
    /// them. The profile's self-declared categories only describe.
    #[serde(default)]
    pub categories: Vec<String>,
}

/// A referral link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Link id or slug.
    pub link_id: String,
    /// Partner.
    pub partner_id: String,
    /// Program.
    pub program_id: String,
    /// Campaign.
    pub campaign: Option<String>,
    /// Default SharedId.
    pub default_shared_id: Option<String>,
}

/// A voucher/referral code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    /// Normalised code.
    pub code: String,
    /// Partner.
    pub partner_id: String,
    /// Program.
    pub program_id: String,
    /// Valid from.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub valid_from: Option<DateTime<Utc>>,
    /// Valid until.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub valid_until: Option<DateTime<Utc>>,
}

/// A commission rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionRule {
    /// Id.
    pub rule_id: String,
    /// Program.
    pub program_id: String,
    /// Lower wins.
    pub precedence: i32,
    /// Matches partners of this tier.
    pub partner_tier: Option<String>,
    /// Matches this partner.
    pub partner_id: Option<String>,
    /// Percentage rate.
    pub rate: Option<Decimal>,
    /// Flat amount in minor units.
    pub flat_minor: Option<i64>,
    /// Renewals that still earn.
    pub recurring_renewals: Option<i32>,
    /// Cap per period in minor units.
    pub cap_minor: Option<i64>,
    /// Cap period.
    pub cap_period_days: Option<i32>,
    /// When not empty, matches only specialists assigned one of these categories (v6).
    #[serde(default)]
    pub specialist_categories: Vec<String>,
}

impl CommissionRule {
    /// Whether this rule's conditions (partner, tier, specialist categories) match `partner`.
    pub fn matches(&self, partner: &Partner) -> bool {
        self.partner_id
            .as_ref()
            .is_none_or(|p| *p == partner.partner_id)
            && self
                .partner_tier
                .as_ref()
                .is_none_or(|t| partner.tier.as_ref() == Some(t))
            && (self.specialist_categories.is_empty()
                || (partner.partner_kind == PartnerKind::Specialist
                    && partner
                        .categories
                        .iter()
                        .any(|c| self.specialist_categories.contains(c))))
    }
}

/// What the webhooks service notifies, by event type (`<object>.<what happened>`). A risk
/// notification carries the level only, never reason codes.
pub const WEBHOOK_EVENT_TYPES: [&str; 10] = [
    "commission.created",
    "commission.approved",
    "commission.held",
    "commission.reversed",
    "commission.paid",
    "payout.created",
    "payout.completed",
    "payout.failed",
    "risk_level.changed",
    "claim.answered",
];

/// A key the collector accepts one program's events with (v4). The key reads
/// `wk_<key_id>_<secret>`; only the secret's SHA-256 is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteKey {
    /// 16 lowercase hex digits.
    pub key_id: String,
    /// The only program the key may send events for.
    pub program_id: String,
    /// SHA-256 (lowercase hex) of the secret.
    pub secret_sha256: String,
    /// Who holds it.
    pub label: Option<String>,
}

/// Where the webhooks service delivers notifications (v4). The signing secret is never
/// published: the service derives it from its own key, the id and `secret_version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// Id.
    pub endpoint_id: String,
    /// Program.
    pub program_id: String,
    /// A partner's own endpoint (its events only); `None`: the program's (every partner's).
    pub partner_id: Option<String>,
    /// http(s) URL.
    pub url: String,
    /// Event types delivered; empty: all.
    pub event_types: Vec<String>,
    /// Bumped to rotate the signing secret.
    pub secret_version: i32,
    /// Off: nothing is delivered (events are not kept for it).
    pub enabled: bool,
}

/// One reference entity. Exactly the field named by `entity_type` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceRecord {
    /// Which entity is set.
    pub entity_type: EntityType,
    /// Program entity.
    pub program: Option<Program>,
    /// Partner entity.
    pub partner: Option<Partner>,
    /// Link entity.
    pub link: Option<Link>,
    /// Code entity.
    pub code: Option<Code>,
    /// Commission rule entity.
    pub commission_rule: Option<CommissionRule>,
    /// When published.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub published_at: DateTime<Utc>,
    /// Digest of the source file.
    pub source_revision: String,
    /// v3: a signed removal of the entity.
    #[serde(default)]
    pub deleted: bool,
    /// v3: who published it.
    #[serde(default)]
    pub principal: Option<String>,
    /// v3: HMAC-SHA256 hex under the principal's key, over the record with `signature: None`.
    #[serde(default)]
    pub signature: Option<String>,
    /// v4: collector write key entity.
    #[serde(default)]
    pub write_key: Option<WriteKey>,
    /// v4: webhook endpoint entity.
    #[serde(default)]
    pub webhook_endpoint: Option<WebhookEndpoint>,
}

avro_message!(
    ReferenceRecord,
    "attrib.ReferenceRecord",
    [
        "reference_record.v1.avsc",
        "reference_record.v2.avsc",
        "reference_record.v3.avsc",
        "reference_record.v4.avsc",
        "reference_record.v5.avsc",
        "reference_record.v6.avsc"
    ]
);

impl ReferenceRecord {
    /// The compacted-topic key, `<entity_type>/<id>`, or `None` when the set field does not
    /// match `entity_type` (exactly one must be set).
    pub fn key(&self) -> Option<String> {
        let set = [
            self.program.is_some(),
            self.partner.is_some(),
            self.link.is_some(),
            self.code.is_some(),
            self.commission_rule.is_some(),
            self.write_key.is_some(),
            self.webhook_endpoint.is_some(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            return None;
        }
        let id = match self.entity_type {
            EntityType::Program => self.program.as_ref().map(|p| ("program", &p.program_id)),
            EntityType::Partner => self.partner.as_ref().map(|p| ("partner", &p.partner_id)),
            EntityType::Link => self.link.as_ref().map(|l| ("link", &l.link_id)),
            EntityType::Code => self.code.as_ref().map(|c| ("code", &c.code)),
            EntityType::CommissionRule => self
                .commission_rule
                .as_ref()
                .map(|r| ("commission_rule", &r.rule_id)),
            EntityType::WriteKey => self.write_key.as_ref().map(|k| ("write_key", &k.key_id)),
            EntityType::WebhookEndpoint => self
                .webhook_endpoint
                .as_ref()
                .map(|e| ("webhook_endpoint", &e.endpoint_id)),
        }?;
        Some(format!("{}/{}", id.0, id.1))
    }
}
