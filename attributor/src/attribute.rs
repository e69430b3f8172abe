//! Attributing one conversion, renewal or refund against what is kept for its key.
//!
//! Rules, in order (README "Attribution rules" explains them for people):
//! 1. Claims are the key's partner touchpoints, plus the conversion's own link or code.
//!    A click, lead or conversion claims through the click-through window, a page view
//!    through the view-through window, a code redemption (or a code at conversion) through
//!    the click-through window. Windows are inclusive: a touchpoint exactly one window before
//!    the conversion still counts. Touchpoints after the conversion claim nothing.
//! 2. Claims of unknown or suspended partners, and self-referrals (the customer is one of the
//!    partner's own ids), are excluded and reported as losing claims.
//! 3. Precedence: with `code_wins` the latest code beats every link; with `link_wins` links
//!    beat codes. A code is one claim: the latest code wins among codes.
//! 4. The program's model shares the credit among the winning link touchpoints; shadow
//!    credits show what every other model would have shared among the same touchpoints.
//! 5. Each credited partner's first matching rule prices its share; caps limit it.
//! 6. Renewals (`chain_seq` > 1, or a chain id without a number: the chain's next renewal,
//!    counted per binding) credit the partners bound to the chain (else the customer) by its
//!    first attributed action, while their rule still pays renewals.
//! 7. Refunds reverse the order's line items in proportion (see [`crate::commission`]).

use chrono::{DateTime, Utc};
use reference::Catalog;
use rust_decimal::Decimal;
use schemas::attribution::{
    Attribution, AttributionKind, AttributionModel, AttributionOutcome, AttributionWindow, Credit,
    Evidence, LosingClaim, ShadowCredit,
};
use schemas::attributor_state::{
    ChainBinding, ChainPartner, OrderCredit, OrderRecord, PendingConversion, StoredTouchpoint,
};
use schemas::reference::{CodePrecedence, Partner, Program};
use schemas::touchpoint::PartnerStatus;

use crate::commission::{cap_room, line_items, matching_rule, reversal, Share};
use crate::model::{shares, ALL_MODELS, SHARE_SCALE};
use crate::split::split;
use schemas::ids;

/// Why nobody was credited (the `unattributed_reason` values).
pub mod reason {
    /// The program is no longer in the reference data.
    pub const UNKNOWN_PROGRAM: &str = "unknown_program";
    /// The order is not in the program's currency (the attributor does no FX).
    pub const CURRENCY: &str = "currency_not_program_currency";
    /// No partner touchpoint or code at all.
    pub const NO_PARTNER_TOUCHPOINT: &str = "no_partner_touchpoint";
    /// Partner touchpoints exist, all outside their windows.
    pub const OUTSIDE_WINDOW: &str = "outside_window";
    /// Every claim in the windows was excluded (suspended, unknown, self-referral).
    pub const PARTNER_EXCLUDED: &str = "partner_excluded";
    /// A renewal whose chain and customer have no attributed first action.
    pub const NO_CHAIN_BINDING: &str = "no_chain_binding";
    /// A renewal none of whose bound partners is still paid for renewals.
    pub const RENEWAL_NOT_CREDITED: &str = "renewal_not_credited";
    /// A refund of an order the attributor never saw (or no longer keeps).
    pub const UNKNOWN_ORDER: &str = "unknown_order";
    /// A refund of an order nobody was credited for.
    pub const ORDER_NOT_ATTRIBUTED: &str = "order_not_attributed";
    /// A refund of an order already refunded in full.
    pub const NOTHING_LEFT: &str = "nothing_left_to_refund";
    /// Every reason, for metrics.
    pub const ALL: [&str; 10] = [
        UNKNOWN_PROGRAM,
        CURRENCY,
        NO_PARTNER_TOUCHPOINT,
        OUTSIDE_WINDOW,
        PARTNER_EXCLUDED,
        NO_CHAIN_BINDING,
        RENEWAL_NOT_CREDITED,
        UNKNOWN_ORDER,
        ORDER_NOT_ATTRIBUTED,
        NOTHING_LEFT,
    ];
}

/// What the attributor keeps for one key that attribution reads and changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Partner touchpoints, ascending by (time, offset).
    pub touchpoints: Vec<StoredTouchpoint>,
    /// Attributed orders.
    pub orders: Vec<OrderRecord>,
    /// Chain and customer bindings.
    pub chains: Vec<ChainBinding>,
}

/// The window a touchpoint of `kind` claims through.
pub fn window_of(touchpoint: &StoredTouchpoint) -> AttributionWindow {
    crate::touches::window_of(&touchpoint.kind, &touchpoint.resolved_by)
}

/// Length of `window` for `program`, in seconds (codes use the click-through window).
pub fn window_seconds(program: &Program, window: AttributionWindow) -> i64 {
    match window {
        AttributionWindow::ViewThrough => program.attribution.view_window_seconds,
        AttributionWindow::ClickThrough | AttributionWindow::Code => {
            program.attribution.click_window_seconds
        }
    }
}

/// Attributes `conversion` (a conversion, renewal or refund whose grace has passed) and
/// records its effect in `history`: the order, chain bindings, or the refund's reversals.
pub fn attribute(
    conversion: &PendingConversion,
    attribution_key: &str,
    history: &mut History,
    catalog: &Catalog,
    attributed_at: DateTime<Utc>,
) -> Attribution {
    let mut out = blank(conversion, attribution_key, attributed_at);
    let Some(program) = catalog.program(&conversion.program_id) else {
        out.unattributed_reason = Some(reason::UNKNOWN_PROGRAM.into());
        remember_order(history, conversion, &out);
        return out;
    };
    out.model = program.attribution.model;
    out.click_window_seconds = program.attribution.click_window_seconds;
    out.view_window_seconds = program.attribution.view_window_seconds;
    out.code_precedence = Some(
        match program.attribution.code_precedence {
            CodePrecedence::CodeWins => "code_wins",
            CodePrecedence::LinkWins => "link_wins",
        }
        .into(),
    );
    if conversion.refund {
        refund(conversion, history, &mut out);
        return out;
    }
    if conversion.currency != program.currency {
        out.unattributed_reason = Some(reason::CURRENCY.into());
    } else if is_renewal(conversion) {
        renewal(conversion, history, catalog, program, &mut out);
    } else {
        first_action(conversion, history, catalog, program, &mut out);
    }
    remember_order(history, conversion, &out);
    if out.credits.is_empty() {
        out.outcome = AttributionOutcome::Unattributed;
    } else if !is_renewal(conversion) {
        bind_chain(conversion, history, &out);
    }
    out
}

/// A renewal: a chain action after the first, or a conversion naming its chain without a
/// number (the chain's next renewal).
fn is_renewal(c: &PendingConversion) -> bool {
    match c.chain_seq {
        Some(seq) => seq > 1,
        None => c.chain_id.is_some(),
    }
}

fn blank(c: &PendingConversion, key: &str, attributed_at: DateTime<Utc>) -> Attribution {
    let attribution_id = if c.refund {
        ids::refund_attribution_id(&c.program_id, &c.order_id, &c.event.event_id)
    } else {
        ids::attribution_id(&c.program_id, &c.order_id)
    };
    Attribution {
        attribution_id,
        kind: if c.refund {
            AttributionKind::Refund
        } else {
            AttributionKind::Conversion
        },
        program_id: c.program_id.clone(),
        order_id: c.order_id.clone(),
        event_id: c.event.event_id.clone(),
        attribution_key: key.to_string(),
        customer_id: c.customer_id.clone(),
        occurred_at: c.event.occurred_at,
        attributed_at,
        amount_minor: if c.refund {
            -c.amount_minor
        } else {
            c.amount_minor
        },
        currency: c.currency.clone(),
        chain_id: c.chain_id.clone(),
        chain_seq: c.chain_seq,
        model: AttributionModel::LastTouch,
        outcome: AttributionOutcome::Attributed,
        unattributed_reason: None,
        credits: Vec::new(),
        reverses_attribution_id: None,
        evidence: Vec::new(),
        losing_claims: Vec::new(),
        shadow_credits: Vec::new(),
        late_touchpoints: 0,
        commission_total_minor: 0,
        click_window_seconds: 0,
        view_window_seconds: 0,
        code_precedence: None,
        bound_attribution_id: None,
    }
}

/// A claim that survived windows and exclusions.
struct Claim<'a> {
    touchpoint: &'a StoredTouchpoint,
    window: AttributionWindow,
}

/// Why `partner_id` earns nothing on this conversion, if it does not.
fn exclusion(catalog: &Catalog, partner_id: &str, customer: Option<&str>) -> Option<&'static str> {
    let Some(partner) = catalog.partner(partner_id) else {
        return Some("unknown_partner");
    };
    if partner.status == PartnerStatus::Suspended {
        return Some("suspended_partner");
    }
    if customer.is_some_and(|c| partner.self_referral_ids.iter().any(|id| id == c)) {
        return Some("self_referral");
    }
    None
}

fn lose(out: &mut Attribution, partner_id: &str, touchpoint: Option<&str>, why: &str) {
    out.losing_claims.push(LosingClaim {
        partner_id: partner_id.to_string(),
        touchpoint_id: touchpoint.map(str::to_string),
        reason: why.to_string(),
    });
}

fn first_action(
    c: &PendingConversion,
    history: &History,
    catalog: &Catalog,
    program: &Program,
    out: &mut Attribution,
) {
    let at = c.event.occurred_at;
    let mut links: Vec<Claim<'_>> = Vec::new();
    let mut codes: Vec<Claim<'_>> = Vec::new();
    let (mut any_claim, mut any_excluded) = (false, false);
    let own = c.event.partner_id.is_some().then_some(&c.event);
    for tp in history.touchpoints.iter().chain(own) {
        let Some(partner_id) = tp.partner_id.as_deref() else {
            continue;
        };
        if tp.occurred_at > at {
            continue;
        }
        any_claim = true;
        let window = window_of(tp);
        let reach = chrono::Duration::seconds(window_seconds(program, window));
        if at - tp.occurred_at > reach {
            lose(out, partner_id, Some(&tp.event_id), "outside_window");
            continue;
        }
        if let Some(why) = exclusion(catalog, partner_id, c.customer_id.as_deref()) {
            any_excluded = true;
            lose(out, partner_id, Some(&tp.event_id), why);
            continue;
        }
        let claim = Claim {
            touchpoint: tp,
            window,
        };
        if window == AttributionWindow::Code {
            codes.push(claim);
        } else {
            links.push(claim);
        }
    }
    let order = |a: &Claim<'_>, b: &Claim<'_>| {
        (a.touchpoint.occurred_at, a.touchpoint.offset)
            .cmp(&(b.touchpoint.occurred_at, b.touchpoint.offset))
    };
    links.sort_by(order);
    codes.sort_by(order);
    // A code is one claim: the latest (the conversion's own code is the latest of all).
    let latest_code = codes.pop();
    for lost in &codes {
        lose(
            out,
            lost.touchpoint.partner_id.as_deref().unwrap_or_default(),
            Some(&lost.touchpoint.event_id),
            "not_latest_code",
        );
    }
    let winners: Vec<Claim<'_>> = match (latest_code, links.is_empty()) {
        (None, _) => links,
        (Some(code), true) => vec![code],
        (Some(code), false) => match program.attribution.code_precedence {
            CodePrecedence::CodeWins => {
                for lost in &links {
                    lose_claim(out, lost, "code_precedence");
                }
                vec![code]
            }
            CodePrecedence::LinkWins => {
                lose_claim(out, &code, "link_precedence");
                links
            }
        },
    };
    if winners.is_empty() {
        out.unattributed_reason = Some(
            if !any_claim {
                reason::NO_PARTNER_TOUCHPOINT
            } else if any_excluded {
                reason::PARTNER_EXCLUDED
            } else {
                reason::OUTSIDE_WINDOW
            }
            .into(),
        );
        return;
    }
    let times: Vec<DateTime<Utc>> = winners.iter().map(|w| w.touchpoint.occurred_at).collect();
    let half_life = program.attribution.time_decay_half_life_seconds;
    let model = program.attribution.model;
    let per_touch = shares(model, &times, at, half_life);
    let credited = by_partner(&winners, &per_touch);
    // Evidence is what earned credit; a touchpoint the model gave nothing is a losing claim,
    // even when its partner earned through another touchpoint.
    for (claim, share) in winners.iter().zip(&per_touch) {
        if !share.is_zero() {
            out.evidence.push(evidence(claim));
            if claim.touchpoint.offset > c.event.offset {
                out.late_touchpoints += 1;
            }
        } else {
            let why = match model {
                AttributionModel::FirstTouch => "not_first_touch",
                _ => "not_last_touch",
            };
            lose_claim(out, claim, why);
        }
    }
    for other in ALL_MODELS.into_iter().filter(|m| *m != model) {
        for p in by_partner(&winners, &shares(other, &times, at, half_life)) {
            out.shadow_credits.push(ShadowCredit {
                model: other,
                partner_id: p.partner_id,
                share: p.share,
            });
        }
    }
    credit(c, history, catalog, program, credited, out);
}

fn lose_claim(out: &mut Attribution, claim: &Claim<'_>, why: &str) {
    let tp = claim.touchpoint;
    lose(
        out,
        tp.partner_id.as_deref().unwrap_or_default(),
        Some(&tp.event_id),
        why,
    );
}

fn evidence(claim: &Claim<'_>) -> Evidence {
    let tp = claim.touchpoint;
    Evidence {
        touchpoint_id: tp.event_id.clone(),
        kind: tp.kind.clone(),
        occurred_at: tp.occurred_at,
        partner_id: tp.partner_id.clone(),
        click_id: tp.click_id.clone(),
        link_id: tp.link_id.clone(),
        code: tp.code.clone(),
        landing_domain: tp.landing_domain.clone(),
        channel: Some(tp.channel.clone()),
        utm_source: tp.utm_source.clone(),
        utm_medium: tp.utm_medium.clone(),
        utm_campaign: tp.utm_campaign.clone(),
        window: claim.window,
    }
}

/// One partner's aggregated share.
struct PartnerShare {
    partner_id: String,
    shared_id: Option<String>,
    share: Decimal,
    touchpoint_ids: Vec<String>,
}

/// Sums touchpoint shares per partner over the touchpoints with a share, sorted by partner id
/// so the output does not depend on hash order. The SharedId is the partner's latest
/// credited touchpoint's.
fn by_partner(winners: &[Claim<'_>], per_touch: &[Decimal]) -> Vec<PartnerShare> {
    let mut out: Vec<PartnerShare> = Vec::new();
    for (claim, share) in winners.iter().zip(per_touch) {
        if share.is_zero() {
            continue;
        }
        let tp = claim.touchpoint;
        let partner_id = tp.partner_id.clone().unwrap_or_default();
        match out.iter_mut().find(|p| p.partner_id == partner_id) {
            Some(p) => {
                p.share += share;
                p.touchpoint_ids.push(tp.event_id.clone());
                if tp.shared_id.is_some() {
                    p.shared_id.clone_from(&tp.shared_id);
                }
            }
            None => out.push(PartnerShare {
                partner_id,
                shared_id: tp.shared_id.clone(),
                share: *share,
                touchpoint_ids: vec![tp.event_id.clone()],
            }),
        }
    }
    out.sort_by(|a, b| a.partner_id.cmp(&b.partner_id));
    out
}

/// Prices the credited partners' shares and writes the credits.
fn credit(
    c: &PendingConversion,
    history: &History,
    catalog: &Catalog,
    program: &Program,
    credited: Vec<PartnerShare>,
    out: &mut Attribution,
) {
    let rules = catalog.rules_for(&program.program_id);
    let partners: Vec<Option<&Partner>> = credited
        .iter()
        .map(|p| catalog.partner(&p.partner_id))
        .collect();
    let matched: Vec<_> = partners
        .iter()
        .map(|p| p.and_then(|p| matching_rule(&rules, p)))
        .collect();
    let inputs: Vec<Share<'_>> = credited
        .iter()
        .zip(&matched)
        .map(|(p, rule)| Share {
            share: p.share,
            rule: *rule,
            cap_room_minor: rule
                .and_then(|r| cap_room(r, &p.partner_id, &history.orders, c.event.occurred_at)),
        })
        .collect();
    let items = line_items(c.amount_minor, &inputs);
    for ((p, rule), item) in credited.into_iter().zip(matched).zip(items) {
        out.commission_total_minor += item.commission_minor;
        out.credits.push(Credit {
            commission_id: ids::commission_id(&out.attribution_id, &p.partner_id),
            partner_id: p.partner_id,
            shared_id: p.shared_id,
            share: p.share,
            commission_minor: item.commission_minor,
            rule_id: rule.map(|r| r.rule_id.clone()),
            touchpoint_ids: p.touchpoint_ids,
            revenue_minor: item.revenue_minor,
            cap_reduction_minor: item.cap_reduction_minor,
            reverses_commission_id: None,
        });
    }
}

fn renewal(
    c: &PendingConversion,
    history: &mut History,
    catalog: &Catalog,
    program: &Program,
    out: &mut Attribution,
) {
    let by_chain = c.chain_id.as_ref().map(|id| format!("chain:{id}"));
    let by_customer = c.customer_id.as_ref().map(|id| format!("customer:{id}"));
    let found = [by_chain, by_customer]
        .into_iter()
        .flatten()
        .find_map(|b| history.chains.iter().position(|x| x.binding == b));
    let Some(index) = found else {
        out.unattributed_reason = Some(reason::NO_CHAIN_BINDING.into());
        return;
    };
    // A renewal without a number is the binding's next one; a numbered one moves the count
    // along, so the two can mix. Duplicates never get here, so each order counts once.
    let counted = &mut history.chains[index].renewals;
    let seq = c.chain_seq.unwrap_or_else(|| counted.saturating_add(2));
    *counted = (*counted).max(seq - 1);
    out.chain_seq = Some(seq);
    let history: &History = history;
    let binding = &history.chains[index];
    out.bound_attribution_id = Some(binding.attribution_id.clone());
    let rules = catalog.rules_for(&program.program_id);
    let mut credited = Vec::new();
    for bound in &binding.partners {
        let id = bound.partner_id.as_str();
        if let Some(why) = exclusion(catalog, id, c.customer_id.as_deref()) {
            lose(out, id, None, why);
            continue;
        }
        let rule = catalog.partner(id).and_then(|p| matching_rule(&rules, p));
        let why = match rule.map(|r| r.recurring_renewals) {
            None => Some("no_rule"),
            Some(None) => Some("not_recurring"),
            Some(Some(n)) if seq - 1 > n => Some("recurring_limit_reached"),
            Some(Some(_)) => None,
        };
        if let Some(why) = why {
            lose(out, id, None, why);
            continue;
        }
        credited.push(PartnerShare {
            partner_id: bound.partner_id.clone(),
            shared_id: bound.shared_id.clone(),
            share: bound.share,
            touchpoint_ids: Vec::new(),
        });
    }
    if credited.is_empty() {
        out.unattributed_reason = Some(reason::RENEWAL_NOT_CREDITED.into());
        return;
    }
    credit(c, history, catalog, program, credited, out);
}

fn refund(c: &PendingConversion, history: &mut History, out: &mut Attribution) {
    let same = |o: &OrderRecord| o.program_id == c.program_id && o.order_id == c.order_id;
    let Some(order) = history
        .orders
        .iter_mut()
        .find(|o| same(o) && !is_placeholder(o))
    else {
        out.outcome = AttributionOutcome::Unattributed;
        out.unattributed_reason = Some(reason::UNKNOWN_ORDER.into());
        // Remembered, so a copy of this refund arriving after its order stays a duplicate.
        match history.orders.iter_mut().find(|o| same(o)) {
            Some(placeholder) => placeholder.refund_event_ids.push(c.event.event_id.clone()),
            None => history.orders.push(OrderRecord {
                program_id: c.program_id.clone(),
                order_id: c.order_id.clone(),
                attribution_id: String::new(),
                occurred_at: c.event.occurred_at,
                amount_minor: 0,
                currency: c.currency.clone(),
                refunded_minor: 0,
                refund_event_ids: vec![c.event.event_id.clone()],
                credits: Vec::new(),
            }),
        }
        return;
    };
    out.reverses_attribution_id = Some(order.attribution_id.clone());
    let effect = reversal(order, c.amount_minor);
    order.refunded_minor += effect.applied_minor;
    order.refund_event_ids.push(c.event.event_id.clone());
    out.amount_minor = -effect.applied_minor;
    let why = if order.credits.is_empty() {
        Some(reason::ORDER_NOT_ATTRIBUTED)
    } else if effect.applied_minor == 0 {
        Some(reason::NOTHING_LEFT)
    } else {
        None
    };
    if let Some(why) = why {
        out.outcome = AttributionOutcome::Unattributed;
        out.unattributed_reason = Some(why.into());
        return;
    }
    let weights: Vec<Decimal> = effect
        .revenue_minor
        .iter()
        .map(|r| Decimal::from(*r))
        .collect();
    let share_units = split(10i64.pow(SHARE_SCALE), &weights);
    for (((credit, commission), revenue), units) in order
        .credits
        .iter_mut()
        .zip(effect.commission_minor)
        .zip(effect.revenue_minor)
        .zip(share_units)
    {
        credit.reversed_minor += commission;
        out.commission_total_minor -= commission;
        out.credits.push(Credit {
            partner_id: credit.partner_id.clone(),
            shared_id: credit.shared_id.clone(),
            share: Decimal::new(units, SHARE_SCALE),
            commission_id: ids::commission_id(&out.attribution_id, &credit.partner_id),
            commission_minor: -commission,
            rule_id: None,
            touchpoint_ids: Vec::new(),
            revenue_minor: -revenue,
            cap_reduction_minor: 0,
            reverses_commission_id: Some(credit.commission_id.clone()),
        });
    }
}

/// An order not seen yet, holding the ids of refunds that arrived before it.
pub fn is_placeholder(order: &OrderRecord) -> bool {
    order.attribution_id.is_empty()
}

/// Keeps the order (attributed or not) for duplicate detection, refunds and caps.
fn remember_order(history: &mut History, c: &PendingConversion, out: &Attribution) {
    let early_refunds = match history
        .orders
        .iter()
        .position(|o| o.program_id == c.program_id && o.order_id == c.order_id)
    {
        Some(i) => history.orders.remove(i).refund_event_ids,
        None => Vec::new(),
    };
    history.orders.push(OrderRecord {
        program_id: c.program_id.clone(),
        order_id: c.order_id.clone(),
        attribution_id: out.attribution_id.clone(),
        occurred_at: c.event.occurred_at,
        amount_minor: c.amount_minor,
        currency: c.currency.clone(),
        refunded_minor: 0,
        refund_event_ids: early_refunds,
        credits: out
            .credits
            .iter()
            .map(|credit| OrderCredit {
                partner_id: credit.partner_id.clone(),
                shared_id: credit.shared_id.clone(),
                commission_id: credit.commission_id.clone(),
                commission_minor: credit.commission_minor,
                revenue_minor: credit.revenue_minor,
                reversed_minor: 0,
            })
            .collect(),
    });
}

/// The first attributed action of a chain binds the chain, and the customer if not yet bound.
fn bind_chain(c: &PendingConversion, history: &mut History, out: &Attribution) {
    let partners: Vec<ChainPartner> = out
        .credits
        .iter()
        .map(|credit| ChainPartner {
            partner_id: credit.partner_id.clone(),
            shared_id: credit.shared_id.clone(),
            share: credit.share,
        })
        .collect();
    let bindings = [
        c.chain_id.as_ref().map(|id| format!("chain:{id}")),
        c.customer_id.as_ref().map(|id| format!("customer:{id}")),
    ];
    for binding in bindings.into_iter().flatten() {
        if history.chains.iter().all(|b| b.binding != binding) {
            history.chains.push(ChainBinding {
                binding,
                program_id: c.program_id.clone(),
                attribution_id: out.attribution_id.clone(),
                bound_at: c.event.occurred_at,
                partners: partners.clone(),
                renewals: 0,
            });
        }
    }
}
