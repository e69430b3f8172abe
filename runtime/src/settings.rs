//! Settings every service shares: Kafka connection, topic names, admin address, logging and
//! batching. Each service's `Config` embeds [`CommonConfig`] and adds its own variables.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{Env, EnvVar};
use crate::config_enum;
use crate::secret::Secret;

/// Kafka bootstrap servers.
pub const KAFKA_BOOTSTRAP_SERVERS: EnvVar = EnvVar {
    name: "KAFKA_BOOTSTRAP_SERVERS",
    default: Some("127.0.0.1:19092"),
    doc: "Comma-separated Kafka bootstrap servers (the default is the local stack's broker).",
};
/// Extra librdkafka properties.
pub const KAFKA_CLIENT_PROPERTIES: EnvVar = EnvVar {
    name: "KAFKA_CLIENT_PROPERTIES",
    default: Some(""),
    doc: "Extra librdkafka properties for every client, `key=value` separated by commas (e.g. `security.protocol=SASL_SSL,sasl.mechanisms=PLAIN`); a value with a comma needs `KAFKA_PROP_<NAME>`. They win over the services' own tunables (`linger.ms`, `fetch.wait.max.ms`, …); the settings delivery depends on (`enable.auto.offset.store`, `enable.idempotence`, `acks`, …) are refused.",
};
/// One librdkafka property per variable, value verbatim.
pub const KAFKA_PROP_DOC: EnvVar = EnvVar {
    name: "KAFKA_PROP_<NAME>",
    default: Some("(none)"),
    doc: "One librdkafka property per variable, the value taken verbatim (commas, spaces, `=`): `KAFKA_PROP_SASL_PASSWORD` sets `sasl.password`. The name is lower-cased, `_` becomes `.`, `__` `_` and `___` `-`. Wins over `KAFKA_CLIENT_PROPERTIES`; values are never printed.",
};
/// Whether to create missing topics at start.
pub const KAFKA_CREATE_TOPICS: EnvVar = EnvVar {
    name: "KAFKA_CREATE_TOPICS",
    default: Some("true"),
    doc: "Create the topics this service uses when missing (turn off where topics are provisioned separately).",
};
/// Partitions for created topics.
pub const KAFKA_TOPIC_PARTITIONS: EnvVar = EnvVar {
    name: "KAFKA_TOPIC_PARTITIONS",
    default: Some("6"),
    doc: "Partition count for topics this service creates; the upper bound on instances per consumer group.",
};
/// Replication for created topics.
pub const KAFKA_TOPIC_REPLICATION: EnvVar = EnvVar {
    name: "KAFKA_TOPIC_REPLICATION",
    default: Some("1"),
    doc: "Replication factor for topics this service creates.",
};
/// Producer delivery timeout.
pub const KAFKA_DELIVERY_TIMEOUT_MS: EnvVar = EnvVar {
    name: "KAFKA_DELIVERY_TIMEOUT_MS",
    default: Some("60000"),
    doc: "How long the producer retries a message before the service gives up and exits without committing.",
};
/// Consumer session timeout.
pub const KAFKA_SESSION_TIMEOUT_MS: EnvVar = EnvVar {
    name: "KAFKA_SESSION_TIMEOUT_MS",
    default: Some("10000"),
    doc: "Consumer group session timeout; a crashed instance's partitions move after this long.",
};
/// How long a starting service waits for the broker.
pub const KAFKA_STARTUP_WAIT_SECONDS: EnvVar = EnvVar {
    name: "KAFKA_STARTUP_WAIT_SECONDS",
    default: Some("300"),
    doc: "How long a starting service waits for Kafka to answer a metadata request, retrying with backoff (1 s doubling to 30 s), before it exits with an error.",
};
/// Topic namespace.
pub const TOPIC_NAMESPACE: EnvVar = EnvVar {
    name: "TOPIC_NAMESPACE",
    default: Some("attrib"),
    doc:
        "Prefix of every topic name: `<ns>.touchpoints.raw.v1`, ... (tests use a unique one each).",
};
/// Admin listen address.
pub const ADMIN_LISTEN_ADDR: EnvVar = EnvVar {
    name: "ADMIN_LISTEN_ADDR",
    default: None, // per service, see `CommonConfig::from_env`
    doc: "Address of the admin HTTP server (`/metrics`, `/_liveness`, `/_readiness`); port 0 picks a free one.",
};
/// Log format.
pub const LOG_FORMAT: EnvVar = EnvVar {
    name: "LOG_FORMAT",
    default: Some("text"),
    doc: "`text` for people, `json` for log pipelines.",
};
/// Log filter.
pub const LOG_LEVEL: EnvVar = EnvVar {
    name: "LOG_LEVEL",
    default: Some("info"),
    doc: "Log filter in `tracing` EnvFilter syntax, e.g. `info` or `info,rdkafka=warn`.",
};
/// Batch size.
pub const BATCH_MESSAGES_MAX: EnvVar = EnvVar {
    name: "BATCH_MESSAGES_MAX",
    default: Some("2000"),
    doc: "Most input messages per batch; offsets are stored once per batch, after its outputs are acknowledged.",
};
/// Batch linger.
pub const BATCH_LINGER_MS: EnvVar = EnvVar {
    name: "BATCH_LINGER_MS",
    default: Some("50"),
    doc: "Longest a partial batch waits for more input before it is flushed.",
};
/// Shutdown drain timeout.
pub const SHUTDOWN_DRAIN_TIMEOUT_MS: EnvVar = EnvVar {
    name: "SHUTDOWN_DRAIN_TIMEOUT_MS",
    default: Some("30000"),
    doc: "On SIGTERM/SIGINT, how long to finish the batch in flight and commit before exiting non-zero.",
};
/// Dead-letter payload cap.
pub const DEAD_LETTER_PAYLOAD_BYTES_MAX: EnvVar = EnvVar {
    name: "DEAD_LETTER_PAYLOAD_BYTES_MAX",
    default: Some("262144"),
    doc: "Dead letters keep at most this many bytes of the original message (and say when truncated).",
};
/// Retention of the finance topics.
pub const LEDGER_RETENTION_MS: EnvVar = EnvVar {
    name: "LEDGER_RETENTION_MS",
    default: Some("-1"),
    doc: "`retention.ms` of the ledger entries, ledger commands, payouts and claims topics (and the entries' JSON mirror) when this service creates them; -1 keeps them forever: a finance consumer down for a week must not lose entries.",
};
/// Retention of dead letters.
pub const DEAD_LETTER_RETENTION_MS: EnvVar = EnvVar {
    name: "DEAD_LETTER_RETENTION_MS",
    default: Some("2592000000"),
    doc: "`retention.ms` of the dead-letter topic (and its JSON mirror) when created: 30 days by default, bounded because dead letters keep rejected raw input.",
};
/// Retention of personal event streams.
pub const PERSONAL_RETENTION_MS: EnvVar = EnvVar {
    name: "PERSONAL_RETENTION_MS",
    default: Some("604800000"),
    doc: "`retention.ms` of the topics that carry personal data in transit (raw, valid and enriched touchpoints, attributions, risk signals and scores, erasure requests, specialist profiles, reviews and trust signals) when created: 7 days by default. Erased or expired personal data leaves these logs this long after it was written; keep it longer than any outage the pipeline must ride out.",
};
/// Retention of personal state changelogs.
pub const PERSONAL_STATE_RETENTION_MS: EnvVar = EnvVar {
    name: "PERSONAL_STATE_RETENTION_MS",
    default: Some("1209600000"),
    doc: "`retention.ms` of the state changelogs that hold personal data (identity bindings, attributor, risk and trust state; `cleanup.policy=compact,delete`): 14 days by default. Live state is rewritten every `STATE_REFRESH_SECONDS`, so only erased and expired entries age out; a service down longer than this loses its state.",
};
/// Rewrite of live state.
pub const STATE_REFRESH_SECONDS: EnvVar = EnvVar {
    name: "STATE_REFRESH_SECONDS",
    default: Some("86400"),
    doc: "Stateful services rewrite every live state entry to their changelog this often, so a changelog with retention (which a broker that never compacts still applies) always holds the whole state. At most half of `PERSONAL_STATE_RETENTION_MS`.",
};
/// Retention of the reference topic.
pub const REFERENCE_RETENTION_MS: EnvVar = EnvVar {
    name: "REFERENCE_RETENTION_MS",
    default: Some("2592000000"),
    doc: "`retention.ms` of the reference topic (`cleanup.policy=compact,delete`) when created: 30 days by default, so an erased partner's old profile leaves the log on a broker that never compacts. `reference refresh` (daily, a CronJob in deploy/) re-sends the live records, so the catalogue never ages out; -1 keeps every copy forever.",
};
/// Reference publishers.
pub const REFERENCE_PUBLISHER_KEYS: EnvVar = EnvVar {
    name: "REFERENCE_PUBLISHER_KEYS",
    default: Some(""),
    doc: "Secret: `principal:base64key,…` of who may publish reference data (each key 32+ random bytes). When set, only reference records signed by one of them apply (`reference publish` signs with `REFERENCE_PUBLISH_PRINCIPAL` + `REFERENCE_PUBLISH_KEY`); unsigned records, forged ones and tombstones are skipped and counted. Unset: every record applies, with a warning at start.",
};
/// JSON mirror of the finance topic.
pub const JSON_MIRROR_LEDGER_ENTRIES: EnvVar = EnvVar {
    name: "JSON_MIRROR_LEDGER_ENTRIES",
    default: Some("false"),
    doc: "`true` also writes every ledger entry as one JSON object (same key, money as a decimal string) to `<ns>.ledger.entries.json.v1` (`TOPIC_LEDGER_ENTRIES_JSON`), for consumers without Avro.",
};
/// JSON mirror of the dead letters.
pub const JSON_MIRROR_DEAD_LETTERS: EnvVar = EnvVar {
    name: "JSON_MIRROR_DEAD_LETTERS",
    default: Some("false"),
    doc: "`true` also writes every dead letter as one JSON object to `<ns>.touchpoints.dlq.json.v1` (`TOPIC_TOUCHPOINTS_DLQ_JSON`).",
};

/// Every shared variable, for documentation.
pub const COMMON_VARS: [EnvVar; 27] = [
    KAFKA_BOOTSTRAP_SERVERS,
    KAFKA_CLIENT_PROPERTIES,
    KAFKA_PROP_DOC,
    KAFKA_CREATE_TOPICS,
    KAFKA_TOPIC_PARTITIONS,
    KAFKA_TOPIC_REPLICATION,
    KAFKA_DELIVERY_TIMEOUT_MS,
    KAFKA_SESSION_TIMEOUT_MS,
    KAFKA_STARTUP_WAIT_SECONDS,
    TOPIC_NAMESPACE,
    ADMIN_LISTEN_ADDR,
    LOG_FORMAT,
    LOG_LEVEL,
    BATCH_MESSAGES_MAX,
    BATCH_LINGER_MS,
    SHUTDOWN_DRAIN_TIMEOUT_MS,
    DEAD_LETTER_PAYLOAD_BYTES_MAX,
    DEAD_LETTER_RETENTION_MS,
    LEDGER_RETENTION_MS,
    PERSONAL_RETENTION_MS,
    PERSONAL_STATE_RETENTION_MS,
    STATE_REFRESH_SECONDS,
    REFERENCE_RETENTION_MS,
    REFERENCE_PUBLISHER_KEYS,
    JSON_MIRROR_LEDGER_ENTRIES,
    JSON_MIRROR_DEAD_LETTERS,
    TOPIC_OVERRIDES_DOC,
];

/// Every variable of a service: the shared ones, with the service's own admin address as the
/// default of `ADMIN_LISTEN_ADDR`, then `own` (for `<service> env` and the READMEs).
pub fn service_vars(admin_default: &'static str, own: &[EnvVar]) -> Vec<EnvVar> {
    let mut vars: Vec<EnvVar> = COMMON_VARS.to_vec();
    for v in &mut vars {
        if v.name == ADMIN_LISTEN_ADDR.name {
            v.default = Some(admin_default);
        }
    }
    vars.extend_from_slice(own);
    vars
}

/// Documentation row for the per-topic override variables.
pub const TOPIC_OVERRIDES_DOC: EnvVar = EnvVar {
    name: "TOPIC_<NAME>",
    default: Some("<ns>.<name>.v1"),
    doc: "Override one topic's full name: `TOPIC_TOUCHPOINTS_RAW`, `TOPIC_TOUCHPOINTS_VALID`, `TOPIC_TOUCHPOINTS_DLQ`, `TOPIC_TOUCHPOINTS_ENRICHED`, `TOPIC_REFERENCE_CONFIG`, `TOPIC_ATTRIBUTIONS`, `TOPIC_COMMISSIONS`, `TOPIC_RISK_LEVELS`, `TOPIC_LEDGER_ENTRIES`, `TOPIC_IDENTITY_BINDINGS`, `TOPIC_ATTRIBUTOR_STATE`, `TOPIC_RISK_SIGNALS`, `TOPIC_RISK_STATE`, `TOPIC_RISK_SCORES`, `TOPIC_LEDGER_COMMANDS`, `TOPIC_LEDGER_STATE`, `TOPIC_LEDGER_ENTRIES_JSON`, `TOPIC_TOUCHPOINTS_DLQ_JSON`, `TOPIC_PRIVACY_REQUESTS`, `TOPIC_PRIVACY_RECEIPTS`, `TOPIC_WEBHOOKS_OUTBOX`, `TOPIC_WEBHOOKS_STATE`, `TOPIC_WEBHOOKS_ATTEMPTS`, `TOPIC_PAYOUTS`, `TOPIC_CLAIMS`, `TOPIC_TRUST_PROFILES`, `TOPIC_TRUST_REVIEWS`, `TOPIC_TRUST_COMMANDS`, `TOPIC_TRUST_SIGNALS`, `TOPIC_TRUST_STATE`, `TOPIC_TRUST_SPECIALISTS`, `TOPIC_TRUST_VERIFICATION`.",
};

config_enum!(
    /// Log output format.
    LogFormat {
        /// Human-readable lines.
        Text => "text",
        /// One JSON object per line.
        Json => "json",
    }
);

/// Kafka connection settings.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers.
    pub bootstrap_servers: String,
    /// Extra librdkafka properties; every value is a [`Secret`], so `Debug` never shows one.
    pub client_properties: Vec<(String, Secret)>,
    /// Create missing topics at start.
    pub create_topics: bool,
    /// Partitions for created topics.
    pub topic_partitions: i32,
    /// Replication for created topics.
    pub topic_replication: i32,
    /// Producer delivery timeout.
    pub delivery_timeout: Duration,
    /// Consumer session timeout.
    pub session_timeout: Duration,
    /// How long start-up waits for the broker to answer.
    pub startup_wait: Duration,
    /// Retention and JSON mirrors of particular topics.
    pub topic_policy: TopicPolicy,
}

/// What some topics get beyond the defaults: a `retention.ms` when created, and a JSON mirror
/// every producer writes alongside.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicPolicy {
    /// (topic, `retention.ms`).
    pub retention_ms: Vec<(String, i64)>,
    /// (Avro topic, its JSON mirror).
    pub json_mirrors: Vec<(String, String)>,
}

impl TopicPolicy {
    /// The `retention.ms` to create `topic` with, if set.
    pub fn retention_of(&self, topic: &str) -> Option<i64> {
        self.retention_ms
            .iter()
            .find(|(t, _)| t == topic)
            .map(|(_, ms)| *ms)
    }

    /// The JSON mirror of `topic`, if it has one.
    pub fn mirror_of(&self, topic: &str) -> Option<&str> {
        self.json_mirrors
            .iter()
            .find(|(t, _)| t == topic)
            .map(|(_, m)| m.as_str())
    }
}

/// Names of every topic in the pipeline (DESIGN.md §2), versioned once in the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Raw JSON from marketing platforms.
    pub touchpoints_raw: String,
    /// Validated touchpoints (Avro).
    pub touchpoints_valid: String,
    /// Ingest's dead letters.
    pub touchpoints_dlq: String,
    /// Enriched touchpoints.
    pub touchpoints_enriched: String,
    /// Reference data (compacted).
    pub reference_config: String,
    /// Attributions.
    pub attributions: String,
    /// Commission decisions.
    pub commissions: String,
    /// Risk levels (compacted).
    pub risk_levels: String,
    /// Ledger entries for finance.
    pub ledger_entries: String,
    /// The ledger entries' JSON mirror (written when `JSON_MIRROR_LEDGER_ENTRIES`).
    pub ledger_entries_json: String,
    /// The dead letters' JSON mirror (written when `JSON_MIRROR_DEAD_LETTERS`).
    pub touchpoints_dlq_json: String,
    /// Customer → visitor bindings, the enricher's changelog (compacted, co-partitioned with
    /// the valid touchpoints).
    pub identity_bindings: String,
    /// The attributor's state changelog (compacted, co-partitioned with the enriched topic).
    pub attributor_state: String,
    /// Risk's internal repartition topic: signals keyed by program.
    pub risk_signals: String,
    /// The risk scorer's state changelog (compacted, co-partitioned with the signals topic).
    pub risk_state: String,
    /// Scored actions with their reason codes (internal, never partner-facing).
    pub risk_scores: String,
    /// Payout runs, settlements and reviews for the ledger (co-partitioned with commissions).
    pub ledger_commands: String,
    /// The ledger-writer's state changelog (compacted, co-partitioned with commissions).
    pub ledger_state: String,
    /// Erasure requests, written to every partition (co-partitioned with the stateful inputs).
    pub privacy_requests: String,
    /// What each service did with each erasure request.
    pub privacy_receipts: String,
    /// Webhook notifications, keyed by endpoint (the webhooks router to its dispatcher).
    pub webhooks_outbox: String,
    /// The webhook dispatcher's state changelog (compacted, co-partitioned with the outbox).
    pub webhooks_state: String,
    /// Every webhook delivery attempt (the delivery log).
    pub webhooks_attempts: String,
    /// Each change of a payout (created, completed, failed), keyed by partner.
    pub payouts: String,
    /// Missing-commission claims as answered (partner API), keyed by partner.
    pub claims: String,
    /// Specialist profiles as the platform publishes them (JSON, compacted, keyed by specialist).
    pub trust_profiles: String,
    /// Reviews of specialists (JSON, where a program enables them).
    pub trust_reviews: String,
    /// Verification commands (JSON, `trust verification …`), keyed by specialist.
    pub trust_commands: String,
    /// The trust router's signals keyed by specialist (internal, JSON).
    pub trust_signals: String,
    /// The trust scorer's state changelog (compacted, co-partitioned with the signals topic).
    pub trust_state: String,
    /// What each program's marketplace shows of each specialist (compacted).
    pub trust_specialists: String,
    /// The verification history: every command accepted or refused.
    pub trust_verification: String,
}

impl Topics {
    /// The event streams that carry personal data in transit (retention `PERSONAL_RETENTION_MS`).
    pub fn personal_streams(&self) -> [&String; 10] {
        [
            &self.trust_profiles,
            &self.trust_reviews,
            &self.trust_signals,
            &self.touchpoints_raw,
            &self.touchpoints_valid,
            &self.touchpoints_enriched,
            &self.attributions,
            &self.risk_signals,
            &self.risk_scores,
            &self.privacy_requests,
        ]
    }

    /// The state changelogs that hold personal data (compact + delete,
    /// `PERSONAL_STATE_RETENTION_MS`, rewritten every `STATE_REFRESH_SECONDS`).
    pub fn personal_state(&self) -> [&String; 4] {
        [
            &self.trust_state,
            &self.identity_bindings,
            &self.attributor_state,
            &self.risk_state,
        ]
    }

    /// Topic names under `namespace`, each overridable by its `TOPIC_<NAME>` variable.
    pub fn from_env(env: &mut Env, namespace: &str) -> Topics {
        let mut topic = |var: &'static str, suffix: &str| {
            let default = format!("{namespace}.{suffix}.v1");
            let name = env
                .optional(&EnvVar {
                    name: var,
                    default: None,
                    doc: "",
                })
                .unwrap_or(default);
            let valid = !name.is_empty()
                && name.len() <= 249
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            env.check(
                valid,
                format!("{var}: {name:?} is not a valid Kafka topic name (letters, digits, '.', '_', '-'; at most 249)"),
            );
            name
        };
        Topics {
            touchpoints_raw: topic("TOPIC_TOUCHPOINTS_RAW", "touchpoints.raw"),
            touchpoints_valid: topic("TOPIC_TOUCHPOINTS_VALID", "touchpoints.valid"),
            touchpoints_dlq: topic("TOPIC_TOUCHPOINTS_DLQ", "touchpoints.dlq"),
            touchpoints_enriched: topic("TOPIC_TOUCHPOINTS_ENRICHED", "touchpoints.enriched"),
            reference_config: topic("TOPIC_REFERENCE_CONFIG", "reference.config"),
            attributions: topic("TOPIC_ATTRIBUTIONS", "attributions"),
            commissions: topic("TOPIC_COMMISSIONS", "commissions"),
            risk_levels: topic("TOPIC_RISK_LEVELS", "risk.levels"),
            ledger_entries: topic("TOPIC_LEDGER_ENTRIES", "ledger.entries"),
            ledger_entries_json: topic("TOPIC_LEDGER_ENTRIES_JSON", "ledger.entries.json"),
            touchpoints_dlq_json: topic("TOPIC_TOUCHPOINTS_DLQ_JSON", "touchpoints.dlq.json"),
            identity_bindings: topic("TOPIC_IDENTITY_BINDINGS", "identity.bindings"),
            attributor_state: topic("TOPIC_ATTRIBUTOR_STATE", "attributor.state"),
            risk_signals: topic("TOPIC_RISK_SIGNALS", "risk.signals"),
            risk_state: topic("TOPIC_RISK_STATE", "risk.state"),
            risk_scores: topic("TOPIC_RISK_SCORES", "risk.scores"),
            ledger_commands: topic("TOPIC_LEDGER_COMMANDS", "ledger.commands"),
            ledger_state: topic("TOPIC_LEDGER_STATE", "ledger.state"),
            privacy_requests: topic("TOPIC_PRIVACY_REQUESTS", "privacy.requests"),
            privacy_receipts: topic("TOPIC_PRIVACY_RECEIPTS", "privacy.receipts"),
            webhooks_outbox: topic("TOPIC_WEBHOOKS_OUTBOX", "webhooks.outbox"),
            webhooks_state: topic("TOPIC_WEBHOOKS_STATE", "webhooks.state"),
            webhooks_attempts: topic("TOPIC_WEBHOOKS_ATTEMPTS", "webhooks.attempts"),
            payouts: topic("TOPIC_PAYOUTS", "ledger.payouts"),
            claims: topic("TOPIC_CLAIMS", "partner.claims"),
            trust_profiles: topic("TOPIC_TRUST_PROFILES", "trust.profiles"),
            trust_reviews: topic("TOPIC_TRUST_REVIEWS", "trust.reviews"),
            trust_commands: topic("TOPIC_TRUST_COMMANDS", "trust.commands"),
            trust_signals: topic("TOPIC_TRUST_SIGNALS", "trust.signals"),
            trust_state: topic("TOPIC_TRUST_STATE", "trust.state"),
            trust_specialists: topic("TOPIC_TRUST_SPECIALISTS", "trust.specialists"),
            trust_verification: topic("TOPIC_TRUST_VERIFICATION", "trust.verification"),
        }
    }
}

/// Batching of the consumer loop.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// Most messages per batch.
    pub messages_max: usize,
    /// Longest wait for a partial batch.
    pub linger: Duration,
}

/// Settings shared by every service.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// Service name (metric prefix, dead-letter `service` field, client id).
    pub service: &'static str,
    /// Kafka.
    pub kafka: KafkaConfig,
    /// Topics.
    pub topics: Topics,
    /// Admin server address.
    pub admin_listen_addr: SocketAddr,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// Batching.
    pub batch: BatchConfig,
    /// Shutdown drain timeout.
    pub shutdown_drain_timeout: Duration,
    /// Dead-letter payload cap.
    pub dead_letter_payload_bytes_max: usize,
    /// How often stateful services rewrite their whole state to the changelog.
    pub state_refresh: Duration,
    /// Who may publish reference data (empty: unchecked).
    pub reference_publishers: crate::secret::PrincipalKeys,
}

/// Retention and mirrors from their variables.
fn topic_policy(env: &mut Env, topics: &Topics) -> TopicPolicy {
    let ledger: i64 = env.parse(&LEDGER_RETENTION_MS);
    let dead_letters: i64 = env.parse(&DEAD_LETTER_RETENTION_MS);
    env.check(
        ledger == -1 || ledger >= 3_600_000,
        "LEDGER_RETENTION_MS must be -1 (forever) or at least an hour",
    );
    env.check(
        dead_letters == -1 || dead_letters >= 60_000,
        "DEAD_LETTER_RETENTION_MS must be -1 (forever) or at least a minute (60000)",
    );
    let reference: i64 = env.parse(&REFERENCE_RETENTION_MS);
    env.check(
        reference == -1 || reference >= 60_000,
        "REFERENCE_RETENTION_MS must be -1 (forever) or at least a minute (60000)",
    );
    let personal: i64 = env.parse(&PERSONAL_RETENTION_MS);
    let personal_state: i64 = env.parse(&PERSONAL_STATE_RETENTION_MS);
    let refresh_ms = env
        .parse::<i64>(&STATE_REFRESH_SECONDS)
        .saturating_mul(1000);
    env.check(
        personal >= 60_000,
        "PERSONAL_RETENTION_MS must be at least a minute (60000)",
    );
    env.check(
        refresh_ms >= 1000 && personal_state >= refresh_ms.saturating_mul(2),
        "STATE_REFRESH_SECONDS must be at least 1 and at most half of PERSONAL_STATE_RETENTION_MS",
    );
    let mut retention_ms = vec![
        (topics.ledger_entries.clone(), ledger),
        (topics.ledger_entries_json.clone(), ledger),
        (topics.ledger_commands.clone(), ledger),
        (topics.payouts.clone(), ledger),
        (topics.claims.clone(), ledger),
        (topics.trust_commands.clone(), ledger),
        (topics.trust_verification.clone(), ledger),
        (topics.touchpoints_dlq.clone(), dead_letters),
        (topics.touchpoints_dlq_json.clone(), dead_letters),
        (topics.reference_config.clone(), reference),
    ];
    for topic in topics.personal_streams() {
        retention_ms.push((topic.clone(), personal));
    }
    for topic in topics.personal_state() {
        retention_ms.push((topic.clone(), personal_state));
    }
    let mut policy = TopicPolicy {
        retention_ms,
        json_mirrors: Vec::new(),
    };
    if env.parse::<bool>(&JSON_MIRROR_LEDGER_ENTRIES) {
        policy.json_mirrors.push((
            topics.ledger_entries.clone(),
            topics.ledger_entries_json.clone(),
        ));
    }
    if env.parse::<bool>(&JSON_MIRROR_DEAD_LETTERS) {
        policy.json_mirrors.push((
            topics.touchpoints_dlq.clone(),
            topics.touchpoints_dlq_json.clone(),
        ));
    }
    policy
}

impl CommonConfig {
    /// Reads the shared variables; `admin_default` is the service's own admin address default.
    pub fn from_env(env: &mut Env, service: &'static str, admin_default: &'static str) -> Self {
        let properties = env.string(&KAFKA_CLIENT_PROPERTIES);
        let client_properties = properties
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .filter_map(|p| match p.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    Some((k.trim().to_string(), v.trim().to_string()))
                }
                _ => {
                    env.check(
                        false,
                        format!("KAFKA_CLIENT_PROPERTIES: {p:?} is not key=value"),
                    );
                    None
                }
            })
            .collect();
        let client_properties = merge_properties(client_properties, env.with_prefix("KAFKA_PROP_"));
        for (k, _) in &client_properties {
            env.check(
                !crate::kafka::GUARANTEED_SETTINGS.contains(&k.as_str()),
                format!("Kafka property `{k}` is the pipeline's to set: its delivery guarantees depend on it"),
            );
        }
        let kafka = KafkaConfig {
            bootstrap_servers: env.string(&KAFKA_BOOTSTRAP_SERVERS),
            client_properties,
            create_topics: env.parse(&KAFKA_CREATE_TOPICS),
            topic_partitions: env.parse(&KAFKA_TOPIC_PARTITIONS),
            topic_replication: env.parse(&KAFKA_TOPIC_REPLICATION),
            delivery_timeout: Duration::from_millis(env.parse(&KAFKA_DELIVERY_TIMEOUT_MS)),
            session_timeout: Duration::from_millis(env.parse(&KAFKA_SESSION_TIMEOUT_MS)),
            startup_wait: Duration::from_secs(env.parse(&KAFKA_STARTUP_WAIT_SECONDS)),
            topic_policy: TopicPolicy::default(),
        };
        let namespace = env.string(&TOPIC_NAMESPACE);
        let topics = Topics::from_env(env, &namespace);
        let mut kafka = kafka;
        kafka.topic_policy = topic_policy(env, &topics);
        let admin = EnvVar {
            default: Some(admin_default),
            ..ADMIN_LISTEN_ADDR
        };
        let config = CommonConfig {
            service,
            kafka,
            topics,
            admin_listen_addr: env
                .parse::<ListenAddr>(&admin)
                .0
                .unwrap_or_else(|| ([127, 0, 0, 1], 0).into()),
            log_format: env.parse(&LOG_FORMAT),
            log_level: env.string(&LOG_LEVEL),
            batch: BatchConfig {
                messages_max: env.parse(&BATCH_MESSAGES_MAX),
                linger: Duration::from_millis(env.parse(&BATCH_LINGER_MS)),
            },
            shutdown_drain_timeout: Duration::from_millis(env.parse(&SHUTDOWN_DRAIN_TIMEOUT_MS)),
            dead_letter_payload_bytes_max: env.parse(&DEAD_LETTER_PAYLOAD_BYTES_MAX),
            state_refresh: Duration::from_secs(env.parse::<u64>(&STATE_REFRESH_SECONDS).max(1)),
            reference_publishers: {
                let keys = crate::Secret::new(env.string(&REFERENCE_PUBLISHER_KEYS));
                crate::secret::PrincipalKeys::parse(REFERENCE_PUBLISHER_KEYS.name, &keys)
                    .unwrap_or_else(|problem| {
                        env.check(false, problem);
                        crate::secret::PrincipalKeys::default()
                    })
            },
        };
        env.check(
            config.kafka.topic_partitions >= 1 && config.kafka.topic_replication >= 1,
            "KAFKA_TOPIC_PARTITIONS and KAFKA_TOPIC_REPLICATION must be at least 1",
        );
        env.check(
            config.batch.messages_max >= 1,
            "BATCH_MESSAGES_MAX must be at least 1",
        );
        // A batch must finish well inside the session, or the group evicts us mid-batch.
        env.check(
            config.batch.linger < config.kafka.session_timeout / 2,
            "BATCH_LINGER_MS must be less than half of KAFKA_SESSION_TIMEOUT_MS",
        );
        env.check(
            config.kafka.delivery_timeout >= Duration::from_secs(1),
            "KAFKA_DELIVERY_TIMEOUT_MS must be at least 1000",
        );
        env.check(
            config.dead_letter_payload_bytes_max >= 1024,
            "DEAD_LETTER_PAYLOAD_BYTES_MAX must be at least 1024",
        );
        config
    }
}

/// The librdkafka property a `KAFKA_PROP_<NAME>` variable sets: lower case, `___` → `-`,
/// `__` → `_`, `_` → `.` (the convention of Confluent's images).
fn property_name(suffix: &str) -> String {
    suffix
        .to_ascii_lowercase()
        .replace("___", "\u{0}")
        .replace("__", "\u{1}")
        .replace('_', ".")
        .replace('\u{0}', "-")
        .replace('\u{1}', "_")
}

/// `KAFKA_CLIENT_PROPERTIES` pairs, then the `KAFKA_PROP_*` ones (which win), as secrets.
fn merge_properties(
    listed: Vec<(String, String)>,
    one_each: Vec<(String, String)>,
) -> Vec<(String, Secret)> {
    let mut merged: Vec<(String, Secret)> = Vec::new();
    let one_each = one_each
        .into_iter()
        .map(|(suffix, value)| (property_name(&suffix), value));
    for (name, value) in listed.into_iter().chain(one_each) {
        merged.retain(|(n, _)| *n != name);
        merged.push((name, Secret::new(value)));
    }
    merged
}

/// `SocketAddr` wrapper with a `Default`, so [`Env::parse`] can report a bad address.
#[derive(Debug, Default)]
pub struct ListenAddr(pub Option<SocketAddr>);

impl std::str::FromStr for ListenAddr {
    type Err = std::net::AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(|a| ListenAddr(Some(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<CommonConfig, String> {
        let mut env = Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        );
        let config = CommonConfig::from_env(&mut env, "test", "127.0.0.1:9100");
        env.finish().map(|_| config).map_err(|e| e.to_string())
    }

    fn properties(config: &CommonConfig) -> Vec<(&str, &str)> {
        config
            .kafka
            .client_properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect()
    }

    #[test]
    fn the_settings_delivery_depends_on_cannot_be_overridden() {
        let err = read(&[("KAFKA_PROP_ENABLE_AUTO_OFFSET_STORE", "true")]).unwrap_err();
        assert!(
            err.contains("`enable.auto.offset.store` is the pipeline's to set"),
            "{err}"
        );
        assert!(read(&[("KAFKA_CLIENT_PROPERTIES", "acks=1")]).is_err());
        // Tunables may be changed.
        assert!(read(&[("KAFKA_PROP_LINGER_MS", "20")]).is_ok());
    }

    #[test]
    fn one_property_per_variable_is_taken_verbatim_and_wins() {
        let config = read(&[
            (
                "KAFKA_CLIENT_PROPERTIES",
                "security.protocol=SASL_PLAINTEXT,sasl.mechanisms=PLAIN",
            ),
            ("KAFKA_PROP_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_PROP_SASL_PASSWORD", " p,a=ss word "),
            (
                "KAFKA_PROP_SASL_OAUTHBEARER_EXTENSIONS",
                "logicalCluster=lkc-1,identityPoolId=pool-2",
            ),
            ("KAFKA_PROP_SOME__ODD___NAME", "x"),
        ])
        .expect("valid");
        assert_eq!(
            properties(&config),
            [
                ("sasl.mechanisms", "PLAIN"),
                (
                    "sasl.oauthbearer.extensions",
                    "logicalCluster=lkc-1,identityPoolId=pool-2"
                ),
                ("sasl.password", " p,a=ss word "),
                ("security.protocol", "SASL_SSL"),
                ("some_odd-name", "x"),
            ]
        );
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let config = read(&[
            (
                "KAFKA_CLIENT_PROPERTIES",
                "sasl.username=svc,sasl.password=listed-secret",
            ),
            ("KAFKA_PROP_SASL_OAUTHBEARER_CLIENT_SECRET", "oauth-secret"),
        ])
        .expect("valid");
        let printed = format!("{config:?} {:#?}", config.kafka);
        for secret in ["listed-secret", "oauth-secret"] {
            assert!(!printed.contains(secret), "{secret} printed in {printed}");
        }
        assert!(
            printed.contains("sasl.password"),
            "names stay visible: {printed}"
        );
    }

    #[test]
    fn defaults_give_a_working_local_configuration() {
        let c = read(&[]).expect("defaults are valid");
        assert_eq!(c.topics.touchpoints_raw, "attrib.touchpoints.raw.v1");
        assert_eq!(c.topics.ledger_entries, "attrib.ledger.entries.v1");
        assert_eq!(c.admin_listen_addr.port(), 9100);
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn namespace_and_overrides_name_the_topics() {
        let c = read(&[
            ("TOPIC_NAMESPACE", "t42"),
            ("TOPIC_TOUCHPOINTS_DLQ", "shared-dlq"),
        ])
        .expect("valid");
        assert_eq!(c.topics.touchpoints_valid, "t42.touchpoints.valid.v1");
        assert_eq!(c.topics.touchpoints_dlq, "shared-dlq");
    }

    #[test]
    fn invalid_values_fail_with_the_variable_named() {
        let err = read(&[
            ("BATCH_LINGER_MS", "9000"),
            ("LOG_FORMAT", "yaml"),
            ("ADMIN_LISTEN_ADDR", "nowhere"),
            ("TOPIC_NAMESPACE", "bad name"),
            ("KAFKA_CLIENT_PROPERTIES", "acks=all,oops"),
        ])
        .expect_err("invalid");
        for needle in [
            "BATCH_LINGER_MS must be less than half",
            "LOG_FORMAT=\"yaml\" is invalid",
            "ADMIN_LISTEN_ADDR=\"nowhere\"",
            "not a valid Kafka topic name",
            "\"oops\" is not key=value",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
    }
}
