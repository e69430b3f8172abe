//! The in-memory view of the reference topic: every live entity, indexed the way services look
//! things up (domain → program, link id, code, partner id, a program's rules by precedence).
//! Pure: fed record by record from the topic, in offset order.

use std::collections::HashMap;

use schemas::reference::{
    Code, CommissionRule, EntityType, Link, Partner, Program, ReferenceRecord, WebhookEndpoint,
    WriteKey,
};

use crate::host;

/// Live reference entities.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    programs: HashMap<String, Program>,
    domains: HashMap<String, String>,
    partners: HashMap<String, Partner>,
    links: HashMap<String, Link>,
    codes: HashMap<String, Code>,
    rules: HashMap<String, CommissionRule>,
    write_keys: HashMap<String, WriteKey>,
    webhook_endpoints: HashMap<String, WebhookEndpoint>,
    /// Bumped on every change, so caches of lookups know when to forget.
    revision: u64,
}

/// Entity counts, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Programs.
    pub programs: usize,
    /// Partners.
    pub partners: usize,
    /// Links.
    pub links: usize,
    /// Codes.
    pub codes: usize,
    /// Commission rules.
    pub rules: usize,
    /// Collector write keys.
    pub write_keys: usize,
    /// Webhook endpoints.
    pub webhook_endpoints: usize,
}

/// Why a topic record could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Key is not `<entity_type>/<id>`.
    #[error("key {0:?} is not <entity_type>/<id>")]
    BadKey(String),
    /// The record's own key differs from the message key.
    #[error("record for {record:?} arrived under key {key:?}")]
    KeyMismatch {
        /// Message key.
        key: String,
        /// Key derived from the record.
        record: String,
    },
}

impl Catalog {
    /// The catalogue of a validated file, as a service would build it from the published
    /// topic (offline tools, tests).
    pub fn from_set(set: &crate::file::ReferenceSet) -> Catalog {
        let mut catalog = Catalog::default();
        for (key, record) in set.records(chrono::Utc::now(), "local") {
            // Records of a validated set carry the key they are filed under, so this cannot
            // fail; a failure would be a bug in `ReferenceSet::records`.
            if let Err(e) = catalog.apply(&key, Some(record)) {
                unreachable!("a validated set's record does not apply: {e}");
            }
        }
        catalog
    }

    /// Applies one topic record: an upsert, or a delete for a tombstone (`record` = `None`).
    pub fn apply(&mut self, key: &str, record: Option<ReferenceRecord>) -> Result<(), ApplyError> {
        let (kind, id) = key
            .split_once('/')
            .ok_or_else(|| ApplyError::BadKey(key.to_string()))?;
        self.revision += 1;
        let Some(record) = record else {
            match kind {
                "program" => self.remove_program(id),
                "partner" => drop(self.partners.remove(id)),
                "link" => drop(self.links.remove(id)),
                "code" => drop(self.codes.remove(id)),
                "commission_rule" => drop(self.rules.remove(id)),
                "write_key" => drop(self.write_keys.remove(id)),
                "webhook_endpoint" => drop(self.webhook_endpoints.remove(id)),
                _ => return Err(ApplyError::BadKey(key.to_string())),
            }
            return Ok(());
        };
        match record.key() {
            Some(k) if k == key => {}
            other => {
                return Err(ApplyError::KeyMismatch {
                    key: key.to_string(),
                    record: other.unwrap_or_default(),
                })
            }
        }
        match record.entity_type {
            EntityType::Program => {
                if let Some(p) = record.program {
                    self.remove_program(&p.program_id);
                    for d in &p.domains {
                        // Domains are normalised by the file parser; normalise again so a
                        // hand-produced record still matches.
                        let d = host::normalise(d).unwrap_or_else(|_| d.clone());
                        self.domains.insert(d, p.program_id.clone());
                    }
                    self.programs.insert(p.program_id.clone(), p);
                }
            }
            EntityType::Partner => {
                if let Some(p) = record.partner {
                    self.partners.insert(p.partner_id.clone(), p);
                }
            }
            EntityType::Link => {
                if let Some(l) = record.link {
                    self.links.insert(l.link_id.clone(), l);
                }
            }
            EntityType::Code => {
                if let Some(c) = record.code {
                    self.codes.insert(c.code.clone(), c);
                }
            }
            EntityType::CommissionRule => {
                if let Some(r) = record.commission_rule {
                    self.rules.insert(r.rule_id.clone(), r);
                }
            }
            EntityType::WriteKey => {
                if let Some(k) = record.write_key {
                    self.write_keys.insert(k.key_id.clone(), k);
                }
            }
            EntityType::WebhookEndpoint => {
                if let Some(e) = record.webhook_endpoint {
                    self.webhook_endpoints.insert(e.endpoint_id.clone(), e);
                }
            }
        }
        Ok(())
    }

    fn remove_program(&mut self, id: &str) {
        if self.programs.remove(id).is_some() {
            self.domains.retain(|_, owner| owner != id);
        }
    }

    /// The program owning `host` (already normalised) or one of its parent domains.
    pub fn program_for_host(&self, host: &str) -> Option<&Program> {
        host::candidates(host)
            .find_map(|candidate| self.domains.get(candidate))
            .and_then(|id| self.programs.get(id))
    }

    /// A program by id.
    pub fn program(&self, id: &str) -> Option<&Program> {
        self.programs.get(id)
    }

    /// A partner by id.
    pub fn partner(&self, id: &str) -> Option<&Partner> {
        self.partners.get(id)
    }

    /// The programs a partner refers customers to (through a link or a code), sorted.
    pub fn programs_of(&self, partner_id: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .links
            .values()
            .filter(|l| l.partner_id == partner_id)
            .map(|l| l.program_id.clone())
            .chain(
                self.codes
                    .values()
                    .filter(|c| c.partner_id == partner_id)
                    .map(|c| c.program_id.clone()),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// A link by id.
    pub fn link(&self, id: &str) -> Option<&Link> {
        self.links.get(id)
    }

    /// A code, compared case-insensitively.
    pub fn code(&self, code: &str) -> Option<&Code> {
        match self.codes.get(code) {
            Some(c) => Some(c),
            None => self.codes.get(&crate::file::normalise_code(code)),
        }
    }

    /// A program's commission rules, first match first (precedence, then id).
    pub fn rules_for(&self, program_id: &str) -> Vec<&CommissionRule> {
        let mut rules: Vec<&CommissionRule> = self
            .rules
            .values()
            .filter(|r| r.program_id == program_id)
            .collect();
        rules.sort_by(|a, b| (a.precedence, &a.rule_id).cmp(&(b.precedence, &b.rule_id)));
        rules
    }

    /// A collector write key by id.
    pub fn write_key(&self, key_id: &str) -> Option<&WriteKey> {
        self.write_keys.get(key_id)
    }

    /// Every webhook endpoint, by id.
    pub fn webhook_endpoints(&self) -> impl Iterator<Item = &WebhookEndpoint> {
        self.webhook_endpoints.values()
    }

    /// Every live key, as on the topic.
    pub fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        keys.extend(self.programs.keys().map(|k| format!("program/{k}")));
        keys.extend(self.partners.keys().map(|k| format!("partner/{k}")));
        keys.extend(self.links.keys().map(|k| format!("link/{k}")));
        keys.extend(self.codes.keys().map(|k| format!("code/{k}")));
        keys.extend(self.rules.keys().map(|k| format!("commission_rule/{k}")));
        keys.extend(self.write_keys.keys().map(|k| format!("write_key/{k}")));
        keys.extend(
            self.webhook_endpoints
                .keys()
                .map(|k| format!("webhook_endpoint/{k}")),
        );
        keys.sort();
        keys
    }

    /// Entity counts.
    pub fn counts(&self) -> Counts {
        Counts {
            programs: self.programs.len(),
            partners: self.partners.len(),
            links: self.links.len(),
            codes: self.codes.len(),
            rules: self.rules.len(),
            write_keys: self.write_keys.len(),
            webhook_endpoints: self.webhook_endpoints.len(),
        }
    }

    /// Changes applied so far.
    pub fn revision(&self) -> u64 {
        self.revision
    }
}
