//! A specialist's profile and its completeness (pure). Completeness is a documented weight per
//! field, earned when the field is filled as described; each field shows what it earned and
//! why, so a specialist sees exactly what to add.
//!
//! | field | weight | earned when |
//! |---|---|---|
//! | `display_name` | 10 | not blank |
//! | `bio` | 15 | at least 80 characters |
//! | `photo` | 10 | a photo reference is set |
//! | `categories` | 15 | at least one |
//! | `regions` | 10 | at least one |
//! | `languages` | 10 | at least one |
//! | `credentials` | 30 | at least one credential that has not expired |

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Limits of a profile record (characters, items).
pub mod limits {
    /// Ids (specialist, evidence references).
    pub const ID: usize = 128;
    /// The display name.
    pub const NAME: usize = 100;
    /// The bio.
    pub const BIO: usize = 2_000;
    /// Each category, region or language, and each credential's kind and issuer.
    pub const LABEL: usize = 100;
    /// Categories, regions or languages.
    pub const LIST: usize = 20;
    /// Credentials.
    pub const CREDENTIALS: usize = 10;
}

/// Characters a bio needs to count as written.
pub const BIO_MIN_CHARS: usize = 80;

/// A professional credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// What it is (`license`, `certification`, …).
    pub kind: String,
    /// Who issued it.
    pub issuer: String,
    /// When it expires (none: does not).
    pub expires_on: Option<NaiveDate>,
    /// Where the evidence is kept (a document store reference, never the document).
    pub evidence_ref: String,
}

impl Credential {
    /// Valid on `day`.
    pub fn current_on(&self, day: NaiveDate) -> bool {
        self.expires_on.is_none_or(|e| e >= day)
    }
}

/// A specialist's profile as the platform publishes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The partner id of the specialist.
    pub specialist_id: String,
    /// Shown name (personal: erased with the partner).
    pub display_name: String,
    /// Categories of expertise.
    pub categories: Vec<String>,
    /// Regions served.
    pub regions: Vec<String>,
    /// Languages spoken.
    pub languages: Vec<String>,
    /// Credentials.
    pub credentials: Vec<Credential>,
    /// About them (personal: erased with the partner).
    pub bio: String,
    /// A photo reference (personal: erased with the partner).
    pub photo_ref: Option<String>,
}

/// A profile record as the platform writes it (JSON on the profiles topic).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileJson {
    specialist_id: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    regions: Vec<String>,
    #[serde(default)]
    languages: Vec<String>,
    #[serde(default)]
    credentials: Vec<CredentialJson>,
    #[serde(default)]
    bio: String,
    #[serde(default)]
    photo_ref: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialJson {
    kind: String,
    issuer: String,
    #[serde(default)]
    expires_on: Option<String>,
    evidence_ref: String,
}

/// Reads and checks one profile record; the error is a reason code and what is wrong.
pub fn parse(bytes: &[u8]) -> Result<Profile, (&'static str, String)> {
    let raw: ProfileJson = serde_json::from_slice(bytes).map_err(|e| {
        let code = if e.is_data() {
            "invalid_field"
        } else {
            "not_json"
        };
        (code, format!("not a profile record: {e}"))
    })?;
    let chars = |s: &str| s.chars().count();
    let text = |field: &str, value: &str, max: usize, required: bool| {
        if required && value.trim().is_empty() {
            return Err(("missing_field", format!("`{field}` is required")));
        }
        if chars(value) > max {
            return Err((
                "too_long",
                format!("`{field}` has {} characters; at most {max}", chars(value)),
            ));
        }
        Ok(())
    };
    text("specialist_id", &raw.specialist_id, limits::ID, true)?;
    text("display_name", &raw.display_name, limits::NAME, false)?;
    text("bio", &raw.bio, limits::BIO, false)?;
    if let Some(photo) = &raw.photo_ref {
        text("photo_ref", photo, limits::ID, false)?;
    }
    for (field, list) in [
        ("categories", &raw.categories),
        ("regions", &raw.regions),
        ("languages", &raw.languages),
    ] {
        if list.len() > limits::LIST {
            return Err((
                "too_many",
                format!(
                    "`{field}` has {} items; at most {}",
                    list.len(),
                    limits::LIST
                ),
            ));
        }
        for item in list {
            text(field, item, limits::LABEL, true)?;
        }
    }
    if raw.credentials.len() > limits::CREDENTIALS {
        return Err((
            "too_many",
            format!(
                "`credentials` has {} items; at most {}",
                raw.credentials.len(),
                limits::CREDENTIALS
            ),
        ));
    }
    let mut credentials = Vec::with_capacity(raw.credentials.len());
    for c in raw.credentials {
        text("credentials.kind", &c.kind, limits::LABEL, true)?;
        text("credentials.issuer", &c.issuer, limits::LABEL, true)?;
        text(
            "credentials.evidence_ref",
            &c.evidence_ref,
            limits::ID,
            true,
        )?;
        let expires_on = match c.expires_on.as_deref() {
            None => None,
            Some(d) => Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                (
                    "bad_date",
                    format!("`credentials.expires_on` must be YYYY-MM-DD, not {d:?}"),
                )
            })?),
        };
        credentials.push(Credential {
            kind: c.kind,
            issuer: c.issuer,
            expires_on,
            evidence_ref: c.evidence_ref,
        });
    }
    Ok(Profile {
        specialist_id: raw.specialist_id.trim().to_string(),
        display_name: raw.display_name,
        categories: raw.categories,
        regions: raw.regions,
        languages: raw.languages,
        credentials,
        bio: raw.bio,
        photo_ref: raw.photo_ref.filter(|p| !p.trim().is_empty()),
    })
}

/// One field's part of the completeness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldScore {
    /// The field.
    pub field: &'static str,
    /// Its weight (the weights add up to 100).
    pub weight: u32,
    /// What it earned: the weight or 0.
    pub earned: u32,
    /// Why, in words.
    pub note: String,
}

/// Completeness: the percentage and each field's part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Completeness {
    /// 0–100.
    pub percent: u32,
    /// Each field, in the documented order.
    pub fields: Vec<FieldScore>,
}

/// How complete `profile` is on `today` (credentials that expired no longer count).
pub fn completeness(profile: &Profile, today: NaiveDate) -> Completeness {
    let bio_chars = profile.bio.trim().chars().count();
    let current = profile
        .credentials
        .iter()
        .filter(|c| c.current_on(today))
        .count();
    let fields = vec![
        field(
            "display_name",
            10,
            !profile.display_name.trim().is_empty(),
            "a name is shown".into(),
            "no name".into(),
        ),
        field(
            "bio",
            15,
            bio_chars >= BIO_MIN_CHARS,
            format!("{bio_chars} characters"),
            format!("{bio_chars} of the {BIO_MIN_CHARS} characters a bio needs"),
        ),
        field(
            "photo",
            10,
            profile
                .photo_ref
                .as_deref()
                .is_some_and(|p| !p.trim().is_empty()),
            "a photo is set".into(),
            "no photo".into(),
        ),
        listed("categories", 15, &profile.categories),
        listed("regions", 10, &profile.regions),
        listed("languages", 10, &profile.languages),
        field(
            "credentials",
            30,
            current > 0,
            format!("{current} current credential(s)"),
            format!(
                "no current credential ({} expired)",
                profile.credentials.len() - current
            ),
        ),
    ];
    Completeness {
        percent: fields.iter().map(|f| f.earned).sum(),
        fields,
    }
}

fn field(name: &'static str, weight: u32, filled: bool, yes: String, no: String) -> FieldScore {
    FieldScore {
        field: name,
        weight,
        earned: if filled { weight } else { 0 },
        note: if filled { yes } else { no },
    }
}

fn listed(name: &'static str, weight: u32, values: &[String]) -> FieldScore {
    let n = values.iter().filter(|v| !v.trim().is_empty()).count();
    field(
        name,
        weight,
        n > 0,
        format!("{n} given"),
        "none given".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_profile_record_is_read_or_refused_with_a_reason() {
        let good = br#"{"specialist_id": "p-dr-lena", "display_name": "Dr. Lena Park",
            "categories": ["dermatology"], "languages": ["de", "en"],
            "credentials": [{"kind": "license", "issuer": "Aerztekammer Berlin",
                             "expires_on": "2027-03-31", "evidence_ref": "doc-771"}]}"#;
        let p = parse(good).expect("valid");
        assert_eq!(p.credentials[0].expires_on, Some(day(2027, 3, 31)));
        assert_eq!(p.photo_ref, None);
        let refused = |json: &str| parse(json.as_bytes()).unwrap_err().0;
        assert_eq!(refused("{"), "not_json");
        assert_eq!(
            refused(r#"{"specialist_id": "p", "email": "x@y"}"#),
            "invalid_field"
        );
        assert_eq!(refused(r#"{"display_name": "x"}"#), "invalid_field");
        assert_eq!(refused(r#"{"specialist_id": " "}"#), "missing_field");
        assert_eq!(
            refused(&format!(
                r#"{{"specialist_id": "p", "bio": "{}"}}"#,
                "b".repeat(2_001)
            )),
            "too_long"
        );
        assert_eq!(
            refused(
                r#"{"specialist_id": "p", "credentials": [{"kind": "l", "issuer": "i", "expires_on": "31.03.2027", "evidence_ref": "d"}]}"#
            ),
            "bad_date"
        );
        let many: Vec<String> = (0..21).map(|i| format!("\"c{i}\"")).collect();
        assert_eq!(
            refused(&format!(
                r#"{{"specialist_id": "p", "categories": [{}]}}"#,
                many.join(",")
            )),
            "too_many"
        );
    }

    #[test]
    fn the_weights_add_up_to_one_hundred() {
        let total: u32 = completeness(&Profile::default(), day(2026, 11, 1))
            .fields
            .iter()
            .map(|f| f.weight)
            .sum();
        assert_eq!(total, 100);
    }

    /// A worked example: name, a 60-character bio, two categories, no regions, one language,
    /// a photo, and a license that expired on 31 October.
    #[test]
    fn a_worked_example_and_an_expiring_credential() {
        let mut profile = Profile {
            specialist_id: "p-dr-lena".into(),
            display_name: "Dr. Lena Park".into(),
            categories: vec!["dermatology".into(), "skincare".into()],
            regions: vec![],
            languages: vec!["de".into()],
            credentials: vec![Credential {
                kind: "license".into(),
                issuer: "Ärztekammer Berlin".into(),
                expires_on: Some(day(2026, 10, 31)),
                evidence_ref: "doc-771".into(),
            }],
            bio: "x".repeat(60),
            photo_ref: Some("img-1".into()),
        };
        // 10 name + 10 photo + 15 categories + 10 languages + 30 credential = 75.
        assert_eq!(
            completeness(&profile, day(2026, 10, 31)).percent,
            75,
            "valid on its last day"
        );
        let after = completeness(&profile, day(2026, 11, 1));
        assert_eq!(after.percent, 45);
        let credentials = &after.fields[6];
        assert_eq!(
            (credentials.earned, credentials.note.as_str()),
            (0, "no current credential (1 expired)")
        );
        assert_eq!(after.fields[1].note, "60 of the 80 characters a bio needs");
        profile.bio = "y".repeat(80);
        profile.regions = vec!["DE-BE".into()];
        profile.credentials[0].expires_on = None;
        assert_eq!(completeness(&profile, day(2026, 11, 1)).percent, 100);
    }
}
