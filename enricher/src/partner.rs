//! Which partner a touchpoint points at. Pure.
//!
//! Claims, each checked against the program the touchpoint belongs to:
//! - **link**: the event's `link_id`;
//! - **query parameter**: a referral parameter of the landing URL (`ref`, `via`, ... in the
//!   configured order), whose value is a link id, else a partner id;
//! - **code**: the event's code (case-insensitive), valid at `occurred_at`
//!   (`valid_from` inclusive, `valid_until` exclusive).
//!
//! When a link-like claim and a code both resolve, the program's `code_precedence` picks.
//! A claim that names something unknown, expired or of another program keeps the event with
//! an explicit `unresolved_reason`; nothing is dropped. Suspended partners are resolved with
//! their status: the attributor, not the enricher, decides they earn nothing.

use chrono::{DateTime, Utc};
use reference::Catalog;
use schemas::reference::{CodePrecedence, Program};
use schemas::touchpoint::{PartnerResolution, ResolvedBy};

/// Why a named link, code or partner did not resolve (the `unresolved_reason` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unresolved {
    /// `link_id` is not in the reference data.
    UnknownLink,
    /// The link belongs to another program.
    LinkOfOtherProgram,
    /// A referral parameter's value is neither a link nor a partner.
    UnknownReferral,
    /// The code is not in the reference data.
    UnknownCode,
    /// The code's `valid_from` is after the event.
    CodeNotYetValid,
    /// The code's `valid_until` is at or before the event.
    CodeExpired,
    /// The code belongs to another program.
    CodeOfOtherProgram,
    /// The link or code names a partner the reference data does not have.
    UnknownPartner,
}

impl Unresolved {
    /// Every reason, in declaration order (metrics index by it).
    pub const ALL: [Unresolved; 8] = [
        Unresolved::UnknownLink,
        Unresolved::LinkOfOtherProgram,
        Unresolved::UnknownReferral,
        Unresolved::UnknownCode,
        Unresolved::CodeNotYetValid,
        Unresolved::CodeExpired,
        Unresolved::CodeOfOtherProgram,
        Unresolved::UnknownPartner,
    ];

    /// The reason code written to `unresolved_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unresolved::UnknownLink => "unknown_link",
            Unresolved::LinkOfOtherProgram => "link_of_other_program",
            Unresolved::UnknownReferral => "unknown_referral",
            Unresolved::UnknownCode => "unknown_code",
            Unresolved::CodeNotYetValid => "code_not_yet_valid",
            Unresolved::CodeExpired => "code_expired",
            Unresolved::CodeOfOtherProgram => "code_of_other_program",
            Unresolved::UnknownPartner => "unknown_partner",
        }
    }
}

/// What the touchpoint names.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    /// The event's `link_id`.
    pub link_id: Option<&'a str>,
    /// A referral parameter's value from the landing URL.
    pub referral: Option<&'a str>,
    /// The event's code.
    pub code: Option<&'a str>,
    /// The event's SharedId.
    pub shared_id: Option<&'a str>,
    /// When the event happened.
    pub occurred_at: DateTime<Utc>,
}

struct Found {
    partner_id: String,
    by: ResolvedBy,
    link_id: Option<String>,
    code: Option<String>,
    default_shared_id: Option<String>,
}

fn link_claim(
    catalog: &Catalog,
    program: &Program,
    claims: &Claims<'_>,
) -> Option<Result<Found, Unresolved>> {
    let by_link = |id: &str, by: ResolvedBy| -> Option<Result<Found, Unresolved>> {
        let link = catalog.link(id)?;
        Some(if link.program_id != program.program_id {
            Err(Unresolved::LinkOfOtherProgram)
        } else {
            Ok(Found {
                partner_id: link.partner_id.clone(),
                by,
                link_id: Some(link.link_id.clone()),
                code: None,
                default_shared_id: link.default_shared_id.clone(),
            })
        })
    };
    if let Some(id) = claims.link_id {
        return Some(by_link(id, ResolvedBy::Link).unwrap_or(Err(Unresolved::UnknownLink)));
    }
    let value = claims.referral?;
    Some(
        by_link(value, ResolvedBy::QueryParameter).unwrap_or_else(|| {
            if catalog.partner(value).is_some() {
                Ok(Found {
                    partner_id: value.to_string(),
                    by: ResolvedBy::QueryParameter,
                    link_id: None,
                    code: None,
                    default_shared_id: None,
                })
            } else {
                Err(Unresolved::UnknownReferral)
            }
        }),
    )
}

fn code_claim(
    catalog: &Catalog,
    program: &Program,
    claims: &Claims<'_>,
) -> Option<Result<Found, Unresolved>> {
    let text = claims.code?;
    let Some(code) = catalog.code(text) else {
        return Some(Err(Unresolved::UnknownCode));
    };
    Some(if code.program_id != program.program_id {
        Err(Unresolved::CodeOfOtherProgram)
    } else if code
        .valid_from
        .is_some_and(|from| claims.occurred_at < from)
    {
        Err(Unresolved::CodeNotYetValid)
    } else if code
        .valid_until
        .is_some_and(|until| claims.occurred_at >= until)
    {
        Err(Unresolved::CodeExpired)
    } else {
        Ok(Found {
            partner_id: code.partner_id.clone(),
            by: ResolvedBy::Code,
            link_id: None,
            code: Some(code.code.clone()),
            default_shared_id: None,
        })
    })
}

/// Resolves the partner of a touchpoint of `program`.
pub fn resolve(catalog: &Catalog, program: &Program, claims: &Claims<'_>) -> PartnerResolution {
    let link = link_claim(catalog, program, claims);
    let code = code_claim(catalog, program, claims);
    let code_first = program.attribution.code_precedence == CodePrecedence::CodeWins;
    let chosen = match (link, code) {
        (Some(Ok(l)), Some(Ok(c))) => Ok(if code_first { c } else { l }),
        (Some(Ok(found)), _) | (_, Some(Ok(found))) => Ok(found),
        (Some(Err(reason)), _) | (None, Some(Err(reason))) => Err(Some(reason)),
        (None, None) => Err(None),
    };
    let chosen = chosen.and_then(|found| {
        if catalog.partner(&found.partner_id).is_some() {
            Ok(found)
        } else {
            Err(Some(Unresolved::UnknownPartner))
        }
    });
    match chosen {
        Ok(found) => PartnerResolution {
            partner_status: catalog.partner(&found.partner_id).map(|p| p.status),
            partner_id: Some(found.partner_id),
            resolved_by: found.by,
            link_id: found.link_id.or_else(|| claims.link_id.map(str::to_string)),
            code: found.code.or_else(|| claims.code.map(str::to_string)),
            shared_id: claims
                .shared_id
                .map(str::to_string)
                .or(found.default_shared_id),
            unresolved_reason: None,
        },
        Err(reason) => PartnerResolution {
            partner_id: None,
            partner_status: None,
            resolved_by: ResolvedBy::None,
            link_id: claims.link_id.map(str::to_string),
            code: claims.code.map(str::to_string),
            shared_id: claims.shared_id.map(str::to_string),
            unresolved_reason: reason.map(|r| r.as_str().to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use schemas::touchpoint::PartnerStatus;

    use super::*;

    const FILE: &str = r#"
[[programs]]
id = "acme"
brand = "Acme"
domains = ["acme.example"]
currency = "EUR"
[[programs]]
id = "bolt"
brand = "Bolt"
domains = ["bolt.example"]
currency = "USD"
[programs.attribution]
code_precedence = "link_wins"
[[partners]]
id = "p-trail"
name = "Trail"
status = "verified"
[[partners]]
id = "p-susp"
name = "Suspended"
status = "suspended"
[[links]]
id = "trail-1"
partner = "p-trail"
program = "acme"
shared_id = "ep-41"
[[links]]
id = "bolt-1"
partner = "p-susp"
program = "bolt"
[[codes]]
code = "TRAIL20"
partner = "p-trail"
program = "acme"
valid_from = 2026-01-01T00:00:00Z
valid_until = 2026-07-01T00:00:00Z
[[codes]]
code = "SUSP10"
partner = "p-susp"
program = "acme"
[[codes]]
code = "BOLT5"
partner = "p-trail"
program = "bolt"
"#;

    fn catalog() -> Catalog {
        Catalog::from_set(&reference::parse(FILE).expect("valid"))
    }

    fn claims<'a>(
        link: Option<&'a str>,
        referral: Option<&'a str>,
        code: Option<&'a str>,
    ) -> Claims<'a> {
        Claims {
            link_id: link,
            referral,
            code,
            shared_id: None,
            occurred_at: Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap(),
        }
    }

    #[test]
    fn each_claim_resolves_or_says_why_not() {
        let catalog = catalog();
        let acme = catalog.program("acme").unwrap().clone();
        let bolt = catalog.program("bolt").unwrap().clone();
        // (name, program, claims, partner, resolved_by, unresolved_reason)
        let cases = [
            (
                "link",
                &acme,
                claims(Some("trail-1"), None, None),
                Some("p-trail"),
                ResolvedBy::Link,
                None,
            ),
            (
                "?ref= with a link id",
                &acme,
                claims(None, Some("trail-1"), None),
                Some("p-trail"),
                ResolvedBy::QueryParameter,
                None,
            ),
            (
                "?via= with a partner id",
                &acme,
                claims(None, Some("p-trail"), None),
                Some("p-trail"),
                ResolvedBy::QueryParameter,
                None,
            ),
            (
                "code, lower-case",
                &acme,
                claims(None, None, Some("trail20")),
                Some("p-trail"),
                ResolvedBy::Code,
                None,
            ),
            (
                "unknown link",
                &acme,
                claims(Some("nope"), None, None),
                None,
                ResolvedBy::None,
                Some("unknown_link"),
            ),
            (
                "link of another program",
                &acme,
                claims(Some("bolt-1"), None, None),
                None,
                ResolvedBy::None,
                Some("link_of_other_program"),
            ),
            (
                "unknown referral value",
                &acme,
                claims(None, Some("stranger"), None),
                None,
                ResolvedBy::None,
                Some("unknown_referral"),
            ),
            (
                "unknown code",
                &acme,
                claims(None, None, Some("FREE")),
                None,
                ResolvedBy::None,
                Some("unknown_code"),
            ),
            (
                "code of another program",
                &acme,
                claims(None, None, Some("BOLT5")),
                None,
                ResolvedBy::None,
                Some("code_of_other_program"),
            ),
            (
                "nothing named",
                &acme,
                claims(None, None, None),
                None,
                ResolvedBy::None,
                None,
            ),
            (
                "code_wins: code beats link",
                &acme,
                claims(Some("trail-1"), None, Some("SUSP10")),
                Some("p-susp"),
                ResolvedBy::Code,
                None,
            ),
            (
                "link_wins: link beats code",
                &bolt,
                claims(Some("bolt-1"), None, Some("BOLT5")),
                Some("p-susp"),
                ResolvedBy::Link,
                None,
            ),
            (
                "a bad code does not spoil a good link",
                &acme,
                claims(Some("trail-1"), None, Some("FREE")),
                Some("p-trail"),
                ResolvedBy::Link,
                None,
            ),
        ];
        for (name, program, claims, partner, by, reason) in cases {
            let r = resolve(&catalog, program, &claims);
            assert_eq!(r.partner_id.as_deref(), partner, "{name}");
            assert_eq!(r.resolved_by, by, "{name}");
            assert_eq!(r.unresolved_reason.as_deref(), reason, "{name}");
        }
    }

    #[test]
    fn code_validity_is_inclusive_from_and_exclusive_until() {
        let catalog = catalog();
        let acme = catalog.program("acme").unwrap().clone();
        let at = |y, m, d, h, min, s| Claims {
            occurred_at: Utc.with_ymd_and_hms(y, m, d, h, min, s).unwrap(),
            ..claims(None, None, Some("TRAIL20"))
        };
        let reason = |c: Claims<'_>| resolve(&catalog, &acme, &c).unresolved_reason;
        assert_eq!(
            reason(at(2025, 12, 31, 23, 59, 59)).as_deref(),
            Some("code_not_yet_valid")
        );
        assert_eq!(reason(at(2026, 1, 1, 0, 0, 0)), None);
        assert_eq!(reason(at(2026, 6, 30, 23, 59, 59)), None);
        assert_eq!(
            reason(at(2026, 7, 1, 0, 0, 0)).as_deref(),
            Some("code_expired")
        );
    }

    #[test]
    fn status_and_shared_id_come_with_the_partner() {
        let catalog = catalog();
        let acme = catalog.program("acme").unwrap().clone();
        let r = resolve(&catalog, &acme, &claims(Some("trail-1"), None, None));
        assert_eq!(
            r.shared_id.as_deref(),
            Some("ep-41"),
            "link's default SharedId"
        );
        assert_eq!(r.partner_status, Some(PartnerStatus::Verified));
        let own = Claims {
            shared_id: Some("ep-42"),
            ..claims(Some("trail-1"), None, None)
        };
        assert_eq!(
            resolve(&catalog, &acme, &own).shared_id.as_deref(),
            Some("ep-42"),
            "event's SharedId wins"
        );
        let r = resolve(&catalog, &acme, &claims(None, None, Some("SUSP10")));
        assert_eq!(
            r.partner_status,
            Some(PartnerStatus::Suspended),
            "suspended partners resolve, with their status"
        );
    }
}
