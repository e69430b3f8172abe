//! The oracle: what the pipeline must produce for a journey, computed from the journey's facts
//! and the reference data by the rules as DESIGN.md states them — windows, code precedence,
//! exclusions, the first matching commission rule, half-to-even rounding at the minor unit,
//! proportional refunds, recurring renewals. It shares no code with the attributor or the
//! ledger; only the contract's id function (`schemas::ids`), so ids can be compared.
//!
//! It covers the journeys the generator makes, and refuses the rest: multi-partner journeys only
//! under last- and first-touch (the other models split credit; their maths is the attributor's
//! unit tests' job), and no commission caps (the generator keeps every partner under half its
//! cap over the whole workload).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use reference::ReferenceSet;
use rust_decimal::{Decimal, RoundingStrategy};
use schemas::attribution::AttributionModel;
use schemas::ids::deterministic_id;
use schemas::reference::{
    Code, CodePrecedence, CommissionRule, Link, Partner, PartnerKind, Program,
};
use schemas::touchpoint::PartnerStatus;

use crate::expected::{ExpectedLine, ExpectedOrder};
use crate::journey::{Fraud, Journey, Via};

/// The reference data, indexed for the oracle.
#[derive(Debug)]
pub struct Oracle<'r> {
    programs: BTreeMap<&'r str, &'r Program>,
    partners: BTreeMap<&'r str, &'r Partner>,
    links: BTreeMap<&'r str, &'r Link>,
    codes: BTreeMap<&'r str, &'r Code>,
    rules: BTreeMap<&'r str, Vec<&'r CommissionRule>>,
}

/// A journey's expected orders and ledger lines.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The first order, then its renewals.
    pub orders: Vec<ExpectedOrder>,
    /// Commission lines (and the refund's line).
    pub lines: Vec<ExpectedLine>,
}

/// `amount` rounded half-to-even to a whole number of minor units.
pub fn round_minor(amount: Decimal) -> i64 {
    let rounded = amount.round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
    i64::try_from(rounded.mantissa() / 10i128.pow(rounded.scale())).unwrap_or(i64::MAX)
}

fn attribution_id(program: &str, order: &str) -> String {
    deterministic_id("att", &[program, order])
}

fn commission_id(attribution: &str, partner: &str) -> String {
    deterministic_id("com", &[attribution, partner])
}

impl<'r> Oracle<'r> {
    /// Indexes `set`.
    pub fn new(set: &'r ReferenceSet) -> Oracle<'r> {
        let mut rules: BTreeMap<&str, Vec<&CommissionRule>> = BTreeMap::new();
        for rule in &set.rules {
            rules
                .entry(rule.program_id.as_str())
                .or_default()
                .push(rule);
        }
        for list in rules.values_mut() {
            list.sort_by_key(|r| r.precedence);
        }
        Oracle {
            programs: set
                .programs
                .iter()
                .map(|p| (p.program_id.as_str(), p))
                .collect(),
            partners: set
                .partners
                .iter()
                .map(|p| (p.partner_id.as_str(), p))
                .collect(),
            links: set.links.iter().map(|l| (l.link_id.as_str(), l)).collect(),
            codes: set.codes.iter().map(|c| (c.code.as_str(), c)).collect(),
            rules,
        }
    }

    /// The program `id`.
    pub fn program(&self, id: &str) -> Option<&'r Program> {
        self.programs.get(id).copied()
    }

    /// The first rule of `program` (by precedence) whose partner, tier and specialist-category
    /// conditions match.
    pub fn rule_for(&self, program: &str, partner: &str) -> Option<&'r CommissionRule> {
        let partner = self.partners.get(partner)?;
        self.rules.get(program)?.iter().copied().find(|r| {
            r.partner_id
                .as_deref()
                .is_none_or(|p| p == partner.partner_id)
                && r.partner_tier
                    .as_deref()
                    .is_none_or(|t| partner.tier.as_deref() == Some(t))
                && (r.specialist_categories.is_empty()
                    || partner.partner_kind == PartnerKind::Specialist
                        && r.specialist_categories
                            .iter()
                            .any(|c| partner.categories.contains(c)))
        })
    }

    /// What the partner's rule pays on an order of `amount_minor`.
    pub fn commission(&self, program: &str, partner: &str, amount_minor: i64) -> i64 {
        match self.rule_for(program, partner) {
            Some(CommissionRule {
                rate: Some(rate), ..
            }) => round_minor(Decimal::from(amount_minor) * rate / Decimal::ONE_HUNDRED),
            Some(CommissionRule {
                flat_minor: Some(flat),
                ..
            }) => *flat,
            _ => 0,
        }
    }

    /// The partner a touch claims for, if it resolves in the program at that time.
    fn claimant(&self, program: &str, via: &Via, at: DateTime<Utc>) -> Option<&'r str> {
        match via {
            Via::Link(id) => self
                .links
                .get(id.as_str())
                .filter(|l| l.program_id == program)
                .map(|l| l.partner_id.as_str()),
            Via::Code(code) => self
                .codes
                .get(code.as_str())
                .filter(|c| c.program_id == program)
                .filter(|c| c.valid_from.is_none_or(|f| f <= at))
                .filter(|c| c.valid_until.is_none_or(|u| at < u))
                .map(|c| c.partner_id.as_str()),
        }
    }

    /// Why `partner` earns nothing from `customer`, if it does not.
    fn excluded(&self, partner: &str, customer: Option<&str>) -> Option<&'static str> {
        let p = self.partners.get(partner)?;
        if p.status == PartnerStatus::Suspended {
            return Some("suspended_partner");
        }
        if customer.is_some_and(|c| p.self_referral_ids.iter().any(|id| id == c)) {
            return Some("self_referral");
        }
        None
    }

    /// Who earns the first order, and why; `Err` for a journey the oracle does not cover.
    fn winner(&self, program: &Program, j: &Journey) -> Result<(Option<&'r str>, String), String> {
        if j.currency != program.currency {
            return Ok((None, "currency_not_program_currency".into()));
        }
        let window = Duration::seconds(program.attribution.click_window_seconds);
        let (mut links, mut codes) = (Vec::new(), Vec::new());
        let (mut any_claim, mut any_excluded) = (false, false);
        for touch in j.touches.iter().filter(|t| t.at <= j.at) {
            let Some(partner) = self.claimant(&program.program_id, &touch.via, touch.at) else {
                continue;
            };
            any_claim = true;
            if j.at - touch.at > window {
                continue;
            }
            if self.excluded(partner, j.customer_id.as_deref()).is_some() {
                any_excluded = true;
                continue;
            }
            match &touch.via {
                Via::Link(id) => links.push((touch.at, partner, format!("click {id}"))),
                Via::Code(code) => codes.push((touch.at, partner, format!("code {code}"))),
            }
        }
        links.sort_by_key(|c| c.0);
        codes.sort_by_key(|c| c.0);
        let code = codes.pop();
        let winners = match (code, links.is_empty(), program.attribution.code_precedence) {
            (None, _, _) => links,
            (Some(code), true, _) | (Some(code), false, CodePrecedence::CodeWins) => vec![code],
            (Some(_), false, CodePrecedence::LinkWins) => links,
        };
        let (Some(first), Some(last)) = (winners.first(), winners.last()) else {
            let why = if !any_claim {
                "no_partner_touchpoint"
            } else if any_excluded {
                "partner_excluded"
            } else {
                "outside_window"
            };
            return Ok((None, why.into()));
        };
        let chosen = match program.attribution.model {
            AttributionModel::LastTouch => last,
            AttributionModel::FirstTouch => first,
            _ if winners.iter().all(|w| w.1 == first.1) => last,
            model => return Err(format!("{model:?} with several partners is not covered")),
        };
        let how = match program.attribution.model {
            AttributionModel::LastTouch => "last",
            AttributionModel::FirstTouch => "first",
            _ => "only partner's",
        };
        Ok((Some(chosen.1), format!("{how} {}", chosen.2)))
    }

    /// The journey's expected orders and lines.
    pub fn journey(&self, j: &Journey) -> Result<Outcome, String> {
        let program = self
            .program(&j.program_id)
            .ok_or_else(|| format!("unknown program {}", j.program_id))?;
        let (winner, why) = self.winner(program, j)?;
        let pid = program.program_id.as_str();
        let mut out = Outcome::default();
        let commission = winner.map_or(0, |p| self.commission(pid, p, j.amount_minor));
        out.orders.push(ExpectedOrder {
            program_id: pid.into(),
            order_id: j.order_id.clone(),
            partner_id: winner.map(str::to_string),
            commission_minor: commission,
            currency: j.currency.clone(),
            why,
        });
        let Some(partner) = winner else {
            for renewal in &j.renewals {
                out.orders.push(ExpectedOrder {
                    program_id: pid.into(),
                    order_id: renewal.order_id.clone(),
                    partner_id: None,
                    commission_minor: 0,
                    currency: j.currency.clone(),
                    why: "no_chain_binding".into(),
                });
            }
            return Ok(out);
        };
        let attribution = attribution_id(pid, &j.order_id);
        let full_refund = j
            .refund
            .as_ref()
            .is_some_and(|r| r.amount_minor >= j.amount_minor);
        let reverses_bots = program
            .risk_policy
            .as_ref()
            .is_some_and(|p| p.reverse_reasons.iter().any(|r| r == "bot_traffic"));
        out.lines.push(ExpectedLine {
            commission_id: commission_id(&attribution, partner),
            line_kind: "commission".into(),
            program_id: pid.into(),
            partner_id: partner.into(),
            order_id: j.order_id.clone(),
            amount_minor: commission,
            currency: j.currency.clone(),
            occurred_at: j.at,
            must_end_reversed: full_refund || (j.fraud == Some(Fraud::Bot) && reverses_bots),
        });
        if let Some(refund) = &j.refund {
            let reversed = if full_refund {
                commission
            } else {
                round_minor(
                    Decimal::from(commission) * Decimal::from(refund.amount_minor)
                        / Decimal::from(j.amount_minor),
                )
            };
            out.lines.push(ExpectedLine {
                commission_id: commission_id(
                    &deterministic_id("att", &[pid, &j.order_id, &refund.event_id]),
                    partner,
                ),
                line_kind: "refund".into(),
                program_id: pid.into(),
                partner_id: partner.into(),
                order_id: j.order_id.clone(),
                amount_minor: -reversed,
                currency: j.currency.clone(),
                occurred_at: refund.at,
                must_end_reversed: false,
            });
        }
        let recurring = self
            .rule_for(pid, partner)
            .and_then(|r| r.recurring_renewals);
        for renewal in &j.renewals {
            let credited = recurring.is_some_and(|n| renewal.seq - 1 <= n);
            let commission = if credited {
                self.commission(pid, partner, renewal.amount_minor)
            } else {
                0
            };
            out.orders.push(ExpectedOrder {
                program_id: pid.into(),
                order_id: renewal.order_id.clone(),
                partner_id: credited.then(|| partner.to_string()),
                commission_minor: commission,
                currency: j.currency.clone(),
                why: match recurring {
                    None => "renewal_not_credited (rule not recurring)".into(),
                    Some(n) if !credited => format!("renewal_not_credited (limit {n})"),
                    Some(n) => format!("renewal {} of {n} for {partner}", renewal.seq - 1),
                },
            });
            if credited {
                out.lines.push(ExpectedLine {
                    commission_id: commission_id(&attribution_id(pid, &renewal.order_id), partner),
                    line_kind: "commission".into(),
                    program_id: pid.into(),
                    partner_id: partner.into(),
                    order_id: renewal.order_id.clone(),
                    amount_minor: commission,
                    currency: j.currency.clone(),
                    occurred_at: renewal.at,
                    must_end_reversed: false,
                });
            }
        }
        Ok(out)
    }
}
