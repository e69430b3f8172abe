//! The reference file format, the catalogue built from its records, and publish planning.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use reference::publish::plan;
use reference::{parse, Catalog};
use rust_decimal::Decimal;
use schemas::attribution::AttributionModel;
use schemas::reference::{CodePrecedence, PartnerKind};
use schemas::touchpoint::PartnerStatus;

const EXAMPLE: &str = include_str!("../example.toml");
const BAD: &str = include_str!("bad.toml");

fn catalog_of(text: &str) -> Catalog {
    Catalog::from_set(&parse(text).expect("valid file"))
}

#[test]
fn the_commented_example_parses_into_exact_values() {
    let set = parse(EXAMPLE).expect("example is valid");
    let program = &set.programs[0];
    assert_eq!(
        program.domains,
        ["acme-outdoor.com", "acme-outdoor.de", "bergsport-shop.de"]
    );
    assert_eq!(program.hold_seconds, 30 * 86_400);
    assert_eq!(program.attribution.model, AttributionModel::LastTouch);
    assert_eq!(
        program.attribution.code_precedence,
        CodePrecedence::CodeWins
    );
    assert_eq!(program.attribution.view_window_seconds, 86_400);
    let risk = program.risk_policy.as_ref().expect("risk section");
    assert_eq!(risk.critical_percent, Decimal::new(30, 0));
    assert_eq!(risk.thresholds["click_flood_ratio"], Decimal::new(5, 0));
    assert_eq!(risk.high_risk_hold_seconds, 14 * 86_400);
    assert_eq!(set.partners[1].partner_kind, PartnerKind::Specialist);
    assert_eq!(set.partners[0].status, PartnerStatus::Verified);
    assert_eq!(set.codes[0].code, "TRAILTALK20");
    assert_eq!(
        set.codes[0].valid_until,
        Some(Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap())
    );
    let flat = set
        .rules
        .iter()
        .find(|r| r.rule_id == "acme-eu-anna")
        .unwrap();
    assert_eq!(flat.flat_minor, Some(2_500), "25.00 EUR in cents");
    let gold = set
        .rules
        .iter()
        .find(|r| r.rule_id == "acme-eu-gold")
        .unwrap();
    assert_eq!(gold.rate, Some(Decimal::new(125, 1)));
    assert_eq!(gold.cap_minor, Some(200_000));
    assert_eq!(gold.recurring_renewals, Some(12));
    let guides = set
        .rules
        .iter()
        .find(|r| r.rule_id == "acme-eu-guides")
        .unwrap();
    assert_eq!(
        guides.specialist_categories,
        ["mountain-guide", "ski-instructor"]
    );
    assert_eq!(set.partners[1].categories, ["mountain-guide"]);
    let trust = program.trust.as_ref().expect("trust section");
    assert_eq!(trust, &schemas::reference::TrustSettings::default());
}

#[test]
fn trust_settings_and_categories_are_checked_and_a_program_without_reviews_gets_its_defaults() {
    let program = |trust: &str| {
        format!(
            "[[programs]]\nid = \"p\"\nbrand = \"B\"\ndomains = [\"b.example\"]\ncurrency = \"EUR\"\n{trust}"
        )
    };
    let set = parse(&program("[programs.trust]\nreviews = false\n")).expect("valid");
    let trust = set.programs[0].trust.as_ref().expect("section");
    assert_eq!(trust, &schemas::reference::TrustSettings::without_reviews());
    assert_eq!(trust.weight_quality, Decimal::new(30, 2));

    let errors = parse(&program(
        "[programs.trust]\nreviews = false\nreview_prior_mean = \"6\"\n[programs.trust.weights]\nreviews = \"0.1\"\nrisk = \"0.3\"\n",
    ))
    .expect_err("bad trust settings");
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let has = |text: &str| all.iter().any(|e| e.contains(text));
    assert!(
        has("review_prior_mean must be a rating from 1 to 5, not 6"),
        "{all:?}"
    );
    assert!(
        has("reviews are not enabled, so weight `reviews` must be 0, not 0.1"),
        "{all:?}"
    );
    assert!(has("the weights must add up to 1"), "{all:?}");
    assert!(parse(&program("[programs.trust]\ncolour = 1\n"))
        .expect_err("unknown key")
        .iter()
        .any(|e| e
            .to_string()
            .contains("trust.`colour` is not a known field")));

    let errors = parse(&format!(
        "[[partners]]\nid = \"p-blog\"\nname = \"Blog\"\nstatus = \"verified\"\ncategories = [\"dermatology\"]\n[[partners]]\nid = \"p-lena\"\nname = \"Lena\"\nkind = \"specialist\"\nstatus = \"verified\"\ncategories = [\" Dermatology \", \"{}\"]\n",
        "x".repeat(65)
    ))
    .expect_err("bad categories");
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        all.iter().any(|e| e.contains("are specialist categories")),
        "{all:?}"
    );
    assert!(
        all.iter().any(|e| e.contains("must be a category name")),
        "{all:?}"
    );
}

#[test]
fn every_problem_of_a_bad_file_is_reported_with_its_line() {
    let errors = parse(BAD).expect_err("bad file");
    let has = |line: usize, text: &str| {
        errors
            .iter()
            .any(|e| e.line == line && e.to_string().contains(text))
    };
    assert!(has(1, "must be at most 128 characters without spaces"));
    assert!(has(1, "`brand` is empty"));
    assert!(has(1, "\"localhost\" is not a public host name"));
    assert!(has(1, "\"EURO\" is not an ISO 4217 code"));
    assert!(has(1, "`hold_days` must be an integer, not a float"));
    assert!(has(1, "attribution.`model` = \"fancy\""));
    assert!(has(1, "attribution.`colour` is not a known field"));
    assert!(has(
        10,
        "`status` = \"gold\" is not one of pending, verified, suspended"
    ));
    assert!(has(14, "partner \"p2\" is not defined"));
    assert!(has(18, "not an RFC 3339 date-time with an offset"));
    assert!(has(23, "code \"A\" is used twice"));
    assert!(has(27, "is a float; write exact decimals as strings"));
    assert!(has(31, "looks like an email address"));
    assert!(errors.len() >= 14, "{errors:#?}");
}

#[test]
fn write_keys_and_webhooks_parse_and_bad_ones_are_named() {
    let set = parse(EXAMPLE).expect("example is valid");
    assert_eq!(set.write_keys[0].key_id, "3f2a9c0d1e4b5a68");
    assert_eq!(set.write_keys[0].program_id, "acme-eu");
    let finance = &set.webhooks[0];
    assert_eq!(finance.event_types.len(), 4);
    assert_eq!((finance.secret_version, finance.enabled), (1, true));
    assert_eq!(set.webhooks[1].partner_id.as_deref(), Some("p-anna-guide"));
    assert!(
        set.webhooks[1].event_types.is_empty(),
        "default: every event type"
    );
    let catalog = Catalog::from_set(&set);
    assert_eq!(
        catalog
            .write_key("3f2a9c0d1e4b5a68")
            .map(|k| k.program_id.as_str()),
        Some("acme-eu")
    );
    assert_eq!(catalog.webhook_endpoints().count(), 2);

    let bad = r#"
[[programs]]
id = "a"
brand = "A"
domains = ["a.example"]
currency = "EUR"
[[write_keys]]
id = "XYZ"
program = "b"
secret_sha256 = "abc"
[[webhooks]]
id = "h"
program = "a"
partner = "nobody"
url = "ftp://a.example/"
events = ["commission.exploded"]
enabled = "yes"
"#;
    let all: Vec<String> = parse(bad)
        .expect_err("bad")
        .iter()
        .map(ToString::to_string)
        .collect();
    for expected in [
        "write_keys[0] \"XYZ\": id \"XYZ\" must be 16 lowercase hex digits",
        "`secret_sha256` must be 64 lowercase hex digits",
        "program \"b\" is not defined",
        "webhooks[0] \"h\": `url` = \"ftp://a.example/\" is not an http(s) URL",
        "\"commission.exploded\" is not an event type",
        "partner \"nobody\" is not defined",
        "`enabled` must be true or false",
    ] {
        assert!(
            all.iter().any(|e| e.contains(expected)),
            "{expected}: {all:#?}"
        );
    }
}

#[test]
fn a_syntax_error_names_its_line() {
    let errors = parse("[[programs]]\nid = \"a\"\nbrand = \n").expect_err("syntax");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 3, "{}", errors[0]);
}

#[test]
fn money_finer_than_the_currency_and_clashing_domains_are_refused() {
    let text = r#"
[[programs]]
id = "jp"
brand = "J"
domains = ["shop.example.jp"]
currency = "JPY"
[[programs]]
id = "jp2"
brand = "J2"
domains = ["WWW.shop.example.jp"]
currency = "JPY"
[[rules]]
id = "r"
program = "jp"
flat = "10.5"
"#;
    let errors = parse(text).expect_err("bad");
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        all.iter()
            .any(|e| e.contains("domain shop.example.jp already belongs to program \"jp\"")),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|e| e.contains("rules[0] \"r\": `flat` in JPY")),
        "{all:#?}"
    );
}

#[test]
fn the_catalogue_finds_programs_by_domain_suffix_and_codes_case_insensitively() {
    let catalog = catalog_of(EXAMPLE);
    for host in [
        "acme-outdoor.com",
        "shop.acme-outdoor.com",
        "a.b.bergsport-shop.de",
    ] {
        assert_eq!(
            catalog
                .program_for_host(host)
                .map(|p| p.program_id.as_str()),
            Some("acme-eu"),
            "{host}"
        );
    }
    assert!(catalog.program_for_host("acme-outdoor.co").is_none());
    assert!(catalog.program_for_host("notacme-outdoor.com").is_none());
    assert_eq!(
        catalog.code("trailtalk20").map(|c| c.partner_id.as_str()),
        Some("p-trailtalk")
    );
    let rules: Vec<&str> = catalog
        .rules_for("acme-eu")
        .iter()
        .map(|r| r.rule_id.as_str())
        .collect();
    assert_eq!(
        rules,
        [
            "acme-eu-anna",
            "acme-eu-guides",
            "acme-eu-gold",
            "acme-eu-default"
        ]
    );
}

#[test]
fn tombstones_remove_entities_and_a_program_takes_its_domains_with_it() {
    let mut catalog = catalog_of(EXAMPLE);
    catalog.apply("code/TRAILTALK20", None).unwrap();
    assert!(catalog.code("TRAILTALK20").is_none());
    catalog.apply("program/acme-eu", None).unwrap();
    assert!(catalog.program_for_host("acme-outdoor.com").is_none());
    assert!(catalog.apply("nonsense", None).is_err());
}

#[test]
fn publishing_the_same_file_twice_sends_nothing_and_removals_become_tombstones() {
    let set = parse(EXAMPLE).unwrap();
    let first = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let (messages, summary) = plan(&BTreeMap::new(), &set, first, "r1");
    assert_eq!(summary.added, 12);
    let current: BTreeMap<_, _> = messages
        .into_iter()
        .map(|(k, r)| (k, r.expect("upsert")))
        .collect();
    // Same content, later publish and another revision: nothing to send.
    let (again, summary) = plan(&current, &set, first + chrono::Duration::days(1), "r2");
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(summary.unchanged, 12);
    // Rename a code (a new one and a tombstone) and suspend a partner (a change).
    let edited = EXAMPLE
        .replace(
            "[[codes]]\ncode = \"TRAILTALK20\"",
            "[[codes]]\ncode = \"TRAILTALK25\"",
        )
        .replace(
            "status = \"verified\"                # pending",
            "status = \"suspended\"               # pending",
        );
    let set = parse(&edited).unwrap();
    let (messages, summary) = plan(&current, &set, first, "r3");
    assert_eq!(
        (summary.added, summary.changed, summary.removed),
        (1, 1, 1),
        "{messages:?}"
    );
    let keys: Vec<(&str, bool)> = messages
        .iter()
        .map(|(k, r)| (k.as_str(), r.is_some()))
        .collect();
    assert_eq!(
        keys,
        [
            ("partner/p-trailtalk", true),
            ("code/TRAILTALK25", true),
            ("code/TRAILTALK20", false)
        ]
    );
}

#[test]
fn the_demo_reference_data_is_valid_and_realistic() {
    let set = parse(include_str!("../../deploy/local/sample/reference.toml")).expect("valid");
    assert!(set.programs.len() >= 2);
    assert!(
        set.programs.iter().all(|p| p.domains.len() >= 3),
        "several domains per brand"
    );
    assert!(set.partners.len() >= 50);
    assert!(set
        .partners
        .iter()
        .any(|p| p.partner_kind == PartnerKind::Specialist));
    assert!(set
        .partners
        .iter()
        .any(|p| p.status == PartnerStatus::Suspended));
    assert!(set.links.len() >= 50 && set.codes.len() >= 10);
    let percent = set.rules.iter().filter(|r| r.rate.is_some()).count();
    let flat = set.rules.iter().filter(|r| r.flat_minor.is_some()).count();
    assert!(percent >= 2 && flat >= 2, "percentage and flat rules");
    assert!(set.rules.iter().any(|r| r.recurring_renewals.is_some()));
    assert!(set.rules.iter().any(|r| r.cap_minor.is_some()));
}

#[test]
fn a_file_that_would_restore_an_erased_profile_is_named() {
    let set = parse(EXAMPLE).expect("valid");
    let now = Utc::now();
    let mut current: BTreeMap<_, _> = set.records(now, "r1").into_iter().collect();
    let partner = set.partners[0].partner_id.clone();
    let key = format!("partner/{partner}");
    assert!(
        reference::publish::erased_profiles_in(&current, &set).is_empty(),
        "nothing erased yet"
    );
    // `privacy erase-partner` left the record with the marker and no own accounts.
    let record = current.get_mut(&key).expect("the partner is on the topic");
    let held = record.partner.as_mut().expect("a partner record");
    held.name = "erased".into();
    held.self_referral_ids.clear();
    assert_eq!(
        reference::publish::erased_profiles_in(&current, &set),
        vec![partner.clone()],
        "the file still has the name"
    );
    // The operator edits the file the same way: publishing is allowed, and sends nothing new
    // for that partner.
    let mut edited = set.clone();
    edited.partners[0].name = "erased".into();
    edited.partners[0].self_referral_ids.clear();
    assert!(reference::publish::erased_profiles_in(&current, &edited).is_empty());
    let (messages, _) = plan(&current, &edited, now, "r2");
    assert!(!messages.iter().any(|(k, _)| *k == key), "{messages:?}");
}

#[test]
fn a_file_that_keeps_an_erased_partners_webhook_endpoint_is_named() {
    let set = parse(EXAMPLE).expect("valid");
    let mut current: BTreeMap<_, _> = set.records(Utc::now(), "r1").into_iter().collect();
    let owner = set
        .webhooks
        .iter()
        .find_map(|e| e.partner_id.clone())
        .expect("the example has a partner's own endpoint");
    let held = current
        .get_mut(&format!("partner/{owner}"))
        .and_then(|r| r.partner.as_mut())
        .expect("the owner is on the topic");
    held.name = "erased".into();
    held.self_referral_ids.clear();
    // The profile is edited in the file, the endpoint (the partner's own URL) is not.
    let mut edited = set.clone();
    for p in edited.partners.iter_mut().filter(|p| p.partner_id == owner) {
        p.name = "erased".into();
        p.self_referral_ids.clear();
    }
    assert_eq!(
        reference::publish::erased_profiles_in(&current, &edited),
        vec![owner.clone()]
    );
    edited
        .webhooks
        .retain(|e| e.partner_id.as_deref() != Some(owner.as_str()));
    assert!(reference::publish::erased_profiles_in(&current, &edited).is_empty());
}
