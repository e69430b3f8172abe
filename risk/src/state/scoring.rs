//! Scoring one attribution's actions: the rules' facts, the window counts it adds, the
//! decision the program's policy makes, and the level records that change.

use super::*;

impl ScorerState {
    /// Scores every unscored action of a conversion attribution.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn score_attribution(
        &mut self,
        offset: i64,
        attribution: &Attribution,
        context: Option<&ConversionContext>,
        rules: &ProgramRules,
        settings: &ScorerSettings,
        effects: &mut Effects,
    ) {
        let program_id = attribution.program_id.as_str();
        let day = day_of(attribution.occurred_at);
        let fp = context.and_then(fingerprint);
        let customer = attribution
            .customer_id
            .clone()
            .or_else(|| context.and_then(|c| c.customer_id.clone()))
            .unwrap_or_else(|| attribution.attribution_key.clone());
        for action in Self::actions_of(attribution) {
            if self.actions.contains_key(&action.id) {
                continue;
            }
            let (link, code_only, seconds) = match action.credit {
                Some(credit) => touch_facts(attribution, credit),
                None => (false, false, None),
            };
            let shared_id = action.credit.and_then(|c| c.shared_id.clone());
            let mut recorded = ScoredAction {
                action_id: action.id.clone(),
                program_id: program_id.into(),
                partner_id: action.partner_id.into(),
                shared_id: shared_id.clone(),
                day,
                flagged: false,
                code_only,
                link,
                fingerprint: fp.clone(),
                customer: customer.clone(),
                self_referral_claim: action.credit.is_none(),
            };
            // Counts include the action being scored; its flag is added once known.
            self.record_counts(offset, &recorded, false);
            let facts = self.facts(program_id, &action, day, fp.as_deref(), context, rules);
            let facts = ActionFacts {
                click_to_conversion_seconds: seconds,
                code_only,
                ..facts
            };
            let reasons = rules::evaluate(&facts, &rules.thresholds, &settings.lists);
            recorded.flagged = !reasons.is_empty();
            if recorded.flagged {
                self.add_flag(offset, &recorded);
            }
            let at = self.stream_time(program_id);
            let partner_id = action.partner_id;
            let partner_level = self.publish_levels(
                program_id,
                partner_id,
                shared_id.as_deref(),
                at,
                rules,
                effects,
            );
            let fired: Vec<String> = reasons.iter().map(|r| r.code.clone()).collect();
            effects.scores.push(RiskScore {
                action_id: action.id.clone(),
                attribution_id: attribution.attribution_id.clone(),
                program_id: program_id.into(),
                partner_id: action.partner_id.into(),
                shared_id: shared_id.clone(),
                order_id: attribution.order_id.clone(),
                action: if action.credit.is_some() {
                    ScoredActionKind::Credit
                } else {
                    ScoredActionKind::SelfReferralClaim
                },
                occurred_at: attribution.occurred_at,
                flagged: recorded.flagged,
                reasons,
                scored_at: at,
            });
            if let Some(credit) = action.credit.filter(|c| c.commission_minor != 0) {
                let outcome = decide(
                    &rules.policy,
                    &fired,
                    partner_level,
                    attribution.occurred_at,
                    rules.hold_seconds,
                );
                effects.decisions.push(decision(
                    attribution,
                    credit,
                    CommissionKind::Commission,
                    outcome.decision,
                    outcome.reasons,
                    Some(partner_level),
                    outcome.hold_until,
                    at,
                ));
            }
            self.dirty_actions.insert(action.id.clone());
            self.actions.insert(
                action.id.clone(),
                Entry {
                    as_of: offset,
                    generation: self.generation,
                    value: recorded,
                },
            );
        }
        self.remove_join(offset, program_id, &attribution.event_id);
    }

    /// What the rules look at for one action, from the windows as they are now (its own
    /// counts included); the touch facts are the caller's.
    fn facts<'a>(
        &self,
        program_id: &str,
        action: &ActionRef<'_>,
        day: i32,
        fp: Option<&str>,
        context: Option<&'a ConversionContext>,
        rules: &ProgramRules,
    ) -> ActionFacts<'a> {
        let partner_key = subject_key(program_id, action.partner_id, None);
        let partner_state = self.subjects.get(&partner_key);
        let self_referral = if action.credit.is_none() {
            SelfReferral::Claim
        } else if fp.is_some_and(|f| {
            partner_state.is_some_and(|s| s.value.self_fingerprints.iter().any(|d| d == f))
        }) {
            SelfReferral::SameDevice
        } else {
            SelfReferral::No
        };
        let window_first = day - rules.policy.window_days + 1;
        let partner = partner_state
            .map(|s| s.value.days.as_slice())
            .unwrap_or_default();
        let partner_window = sum(partner, window_first, day);
        let program_window = self
            .programs
            .get(&key(Kind::Program, &[program_id]))
            .map(|p| sum(&p.value.days, window_first, day))
            .unwrap_or_default();
        let fingerprint_customers = fp
            .and_then(|f| {
                self.fingerprints
                    .get(&key(Kind::Fingerprint, &[program_id, f]))
            })
            .map_or(0, |e| {
                e.value
                    .customers
                    .iter()
                    .filter(|c| c.day >= window_first)
                    .count()
            });
        ActionFacts {
            click_to_conversion_seconds: None,
            code_only: false,
            referrer: context.and_then(|c| c.referrer.as_deref()),
            user_agent: context.and_then(|c| c.user_agent.as_deref()),
            ip_prefix: context.and_then(|c| c.ip_prefix.as_deref()),
            fingerprint_customers: i64::try_from(fingerprint_customers).unwrap_or(i64::MAX),
            self_referral,
            partner: counts(&partner_window),
            others: WindowCounts {
                clicks: program_window.clicks - partner_window.clicks,
                actions: program_window.actions - partner_window.actions,
                code_only: program_window.code_only - partner_window.code_only,
                link: program_window.link - partner_window.link,
            },
            day_actions: sum(partner, day, day).actions,
            baseline_actions: sum(partner, day - rules.thresholds.baseline_days(), day - 1).actions,
        }
    }

    /// Publishes the level of the partner (and of partner + SharedId) if it changed at stream
    /// time `at`; returns the partner's level.
    fn publish_levels(
        &mut self,
        program_id: &str,
        partner_id: &str,
        shared_id: Option<&str>,
        at: DateTime<Utc>,
        rules: &ProgramRules,
        effects: &mut Effects,
    ) -> RiskLevelName {
        let stream_day = day_of(at);
        let mut partner_level = RiskLevelName::InsufficientData;
        let mut subjects = vec![None];
        if shared_id.is_some() {
            subjects.push(shared_id);
        }
        for shared in subjects {
            let k = subject_key(program_id, partner_id, shared);
            if let Some(e) = self.subjects.get_mut(&k) {
                if shared.is_none() {
                    let (scored, flagged) = window_totals(&e.value, stream_day, &rules.policy);
                    partner_level = level(scored, flagged, &rules.policy);
                }
                if let Some(l) = publish_if_changed(&mut e.value, stream_day, at, &rules.policy) {
                    effects.levels.push(l);
                }
            }
        }
        partner_level
    }

    /// Adds an action's counts (and, when `with_flag`, its flag) to the keys that have not
    /// seen `offset`: program, partner, partner + SharedId, fingerprint, self devices.
    pub(super) fn record_counts(&mut self, offset: i64, a: &ScoredAction, with_flag: bool) {
        let program_id = a.program_id.as_str();
        let credit = !a.self_referral_claim;
        if credit {
            if let Some(p) = self.program_mut(offset, program_id) {
                let d = bucket(&mut p.days, a.day);
                d.actions += 1;
                d.code_only += i64::from(a.code_only);
                d.link += i64::from(a.link);
                d.flagged += i64::from(with_flag && a.flagged);
            }
        }
        let mut subjects = vec![(subject_key(program_id, &a.partner_id, None), None)];
        if let Some(s) = a.shared_id.as_deref().filter(|_| credit) {
            subjects.push((subject_key(program_id, &a.partner_id, Some(s)), Some(s)));
        }
        for (k, shared) in subjects {
            if let Some(s) = self.subject_mut(offset, &k, program_id, &a.partner_id, shared) {
                let d = bucket(&mut s.days, a.day);
                d.actions += 1;
                d.code_only += i64::from(a.code_only);
                d.link += i64::from(a.link);
                d.flagged += i64::from(with_flag && a.flagged);
                if a.self_referral_claim && shared.is_none() {
                    if let Some(fp) = &a.fingerprint {
                        if !s.self_fingerprints.contains(fp) {
                            s.self_fingerprints.push(fp.clone());
                            if s.self_fingerprints.len() > SELF_FINGERPRINTS_KEPT {
                                s.self_fingerprints.remove(0);
                            }
                        }
                    }
                }
            }
        }
        if let Some(fp) = &a.fingerprint {
            let k = key(Kind::Fingerprint, &[program_id, fp]);
            let current = self.generation;
            let e = self.fingerprints.entry(k.clone()).or_insert_with(|| {
                Entry::new(FingerprintState {
                    program_id: program_id.into(),
                    fingerprint: fp.clone(),
                    customers: Vec::new(),
                })
            });
            if Self::fresh_as_of(e.as_of, e.generation, offset, current) {
                e.as_of = offset;
                e.generation = current;
                let customers = &mut e.value.customers;
                customers.retain(|c| c.customer != a.customer);
                customers.push(FingerprintCustomer {
                    customer: a.customer.clone(),
                    day: a.day,
                });
                if customers.len() > FINGERPRINT_CUSTOMERS_KEPT {
                    customers.remove(0);
                }
                self.dirty.insert((Kind::Fingerprint, k));
            }
        }
    }

    /// Adds a just-scored action's flag to the keys its counts went to.
    pub(super) fn add_flag(&mut self, offset: i64, a: &ScoredAction) {
        let program_id = a.program_id.as_str();
        if !a.self_referral_claim {
            if let Some(p) = self.program_mut(offset, program_id) {
                bucket(&mut p.days, a.day).flagged += 1;
            }
        }
        let mut subjects = vec![None];
        if let Some(s) = a.shared_id.as_deref().filter(|_| !a.self_referral_claim) {
            subjects.push(Some(s));
        }
        for shared in subjects {
            let k = subject_key(program_id, &a.partner_id, shared);
            if let Some(s) = self.subject_mut(offset, &k, program_id, &a.partner_id, shared) {
                bucket(&mut s.days, a.day).flagged += 1;
            }
        }
    }
}

/// Link or code, and seconds from the partner's last click or lead to the conversion.
pub(super) fn touch_facts(attribution: &Attribution, credit: &Credit) -> (bool, bool, Option<i64>) {
    let mine = attribution
        .evidence
        .iter()
        .filter(|e| credit.touchpoint_ids.contains(&e.touchpoint_id));
    let mut link = false;
    let mut code = false;
    let mut last_click: Option<DateTime<Utc>> = None;
    for e in mine {
        let clicky = matches!(e.kind.as_str(), "click" | "lead");
        if clicky || e.link_id.is_some() {
            link = true;
        }
        if e.code.is_some() {
            code = true;
        }
        if clicky && e.occurred_at <= attribution.occurred_at {
            last_click = last_click.max(Some(e.occurred_at));
        }
    }
    let seconds = last_click.map(|t| (attribution.occurred_at - t).num_seconds());
    (link, code && !link, seconds)
}

/// Scored and flagged actions of the window ending on `day`.
pub(super) fn window_totals(s: &SubjectState, day: i32, policy: &RiskPolicy) -> (i64, i64) {
    let t = sum(&s.days, day - policy.window_days + 1, day);
    (t.actions, t.flagged)
}

/// The subject's level as of `day`, if it (or its counts) changed since last published.
pub(super) fn publish_if_changed(
    s: &mut SubjectState,
    day: i32,
    at: DateTime<Utc>,
    policy: &RiskPolicy,
) -> Option<RiskLevel> {
    s.evaluated_day = day;
    let (scored, flagged) = window_totals(s, day, policy);
    let now = level(scored, flagged, policy);
    let name = level_name(now);
    if s.published_level.as_deref() == Some(name)
        && s.published_scored == scored
        && s.published_flagged == flagged
    {
        return None;
    }
    s.published_level = Some(name.into());
    s.published_scored = scored;
    s.published_flagged = flagged;
    Some(risk_level_record(s, now, scored, flagged, policy, at))
}

/// The partner-facing aggregate: counts, Risk % and level, nothing event-level.
pub fn risk_level_record(
    s: &SubjectState,
    level: RiskLevelName,
    scored: i64,
    flagged: i64,
    policy: &RiskPolicy,
    at: DateTime<Utc>,
) -> RiskLevel {
    let mut subject_id = format!("{}/{}", s.program_id, s.partner_id);
    if let Some(shared) = &s.shared_id {
        subject_id.push('/');
        subject_id.push_str(shared);
    }
    RiskLevel {
        subject_id,
        program_id: s.program_id.clone(),
        partner_id: s.partner_id.clone(),
        shared_id: s.shared_id.clone(),
        level,
        risk_percent: risk_percent(scored, flagged),
        scored_actions: scored,
        flagged_actions: flagged,
        window_days: policy.window_days,
        updated_at: at,
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn decision(
    a: &Attribution,
    credit: &Credit,
    kind: CommissionKind,
    decision: Decision,
    reasons: Vec<String>,
    risk_level: Option<RiskLevelName>,
    hold_until: DateTime<Utc>,
    decided_at: DateTime<Utc>,
) -> CommissionDecision {
    CommissionDecision {
        commission_id: credit.commission_id.clone(),
        attribution_id: a.attribution_id.clone(),
        kind,
        reverses_commission_id: credit.reverses_commission_id.clone(),
        program_id: a.program_id.clone(),
        partner_id: credit.partner_id.clone(),
        shared_id: credit.shared_id.clone(),
        order_id: a.order_id.clone(),
        amount_minor: credit.commission_minor,
        currency: a.currency.clone(),
        rule_id: credit.rule_id.clone(),
        chain_id: a.chain_id.clone(),
        chain_seq: a.chain_seq,
        decision,
        decision_reasons: reasons,
        risk_level,
        hold_until,
        occurred_at: a.occurred_at,
        decided_at,
    }
}

/// Renewals and refunds: not scored, payable after the program's hold, no risk context (so
/// a duplicate is byte-identical).
pub(super) fn pass_through(
    a: &Attribution,
    rules: &ProgramRules,
    kind: CommissionKind,
    effects: &mut Effects,
) {
    for credit in a.credits.iter().filter(|c| c.commission_minor != 0) {
        effects.decisions.push(decision(
            a,
            credit,
            kind,
            Decision::Payable,
            Vec::new(),
            None,
            a.occurred_at + chrono::Duration::seconds(rules.hold_seconds),
            a.attributed_at,
        ));
    }
}
