//! Who may command the ledger: signed commands and per-principal grants (pure, no I/O).
//!
//! Kafka cannot tell a consumer who produced a message, and anyone able to write the commands
//! topic could otherwise create or complete payouts with a made-up `--actor`. So each command
//! names its principal and carries an HMAC-SHA256 signature under that principal's command key;
//! the ledger holds the keys and the grants (which command kinds each principal may issue) and
//! refuses, as a recorded outcome, any command that is unsigned, signed by an unknown principal,
//! wrongly signed, or of a kind its principal was not granted. Kafka ACLs on the topic
//! (deploy/README.md) are the outer fence; this is the inner one.

use std::collections::BTreeMap;

use runtime::secret::PrincipalKeys;
use runtime::{Secret, SecretBytes};
use schemas::ledger_command::{CommandKind, LedgerCommand};

/// Every command kind, for parsing grants.
const KINDS: [CommandKind; 6] = [
    CommandKind::PayoutRun,
    CommandKind::PayoutComplete,
    CommandKind::PayoutFail,
    CommandKind::ReviewApprove,
    CommandKind::ReviewReverse,
    CommandKind::ManualReverse,
];

/// One principal's key and the kinds it may issue.
#[derive(Debug, Clone)]
struct Grant {
    key: SecretBytes,
    kinds: Vec<CommandKind>,
}

/// The principals the ledger accepts commands from.
#[derive(Debug, Clone, Default)]
pub struct CommandAuthority {
    principals: BTreeMap<String, Grant>,
}

impl CommandAuthority {
    /// From `keys` (`principal:base64key,…`, a secret) and `grants`
    /// (`principal=kind,kind;principal=kind`). A principal with a key but no grant is a
    /// configuration error (it would be a silent refusal later); a grant without a key admits
    /// nobody.
    pub fn parse(keys: &Secret, grants: &str) -> Result<CommandAuthority, String> {
        let mut kinds_of: BTreeMap<String, Vec<CommandKind>> = BTreeMap::new();
        for part in grants.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (principal, list) = part
                .split_once('=')
                .ok_or_else(|| format!("grant `{part}` is not `principal=kind,kind`"))?;
            let mut kinds = Vec::new();
            for name in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                let kind = KINDS.iter().find(|k| k.as_str() == name).ok_or_else(|| {
                    format!(
                        "grant for `{}` names unknown command kind `{name}` (known: {})",
                        principal.trim(),
                        KINDS.map(CommandKind::as_str).join(", ")
                    )
                })?;
                kinds.push(*kind);
            }
            kinds_of.insert(principal.trim().to_string(), kinds);
        }
        let keys = PrincipalKeys::parse("LEDGER_COMMAND_KEYS", keys)?;
        let mut principals = BTreeMap::new();
        for principal in keys.principals() {
            let kinds = kinds_of
                .remove(principal)
                .ok_or_else(|| format!("principal `{principal}` has a key but no grant"))?;
            let key = keys.key(principal).unwrap_or_default().to_vec();
            principals.insert(
                principal.to_string(),
                Grant {
                    key: SecretBytes::new(key),
                    kinds,
                },
            );
        }
        // A grant without a key (the default grants before keys are configured) lets nobody in.
        Ok(CommandAuthority { principals })
    }

    /// The configured principals, for the start-up log (names only).
    pub fn principals(&self) -> Vec<&str> {
        self.principals.keys().map(String::as_str).collect()
    }

    /// `Ok(principal)` when `command` is signed by a known principal granted its kind; else
    /// the reason it is refused, for the command's recorded outcome.
    pub fn check<'c>(&self, command: &'c LedgerCommand) -> Result<&'c str, String> {
        let (Some(principal), Some(signature)) = (&command.principal, &command.signature) else {
            return Err(
                "refused: unsigned command (sign it with LEDGER_COMMAND_PRINCIPAL and LEDGER_COMMAND_KEY)"
                    .into(),
            );
        };
        let grant = self
            .principals
            .get(principal)
            .ok_or_else(|| format!("refused: unknown principal `{principal}`"))?;
        let expected = signature_of(command, grant.key.expose());
        // Compare in constant time: the signature is a MAC.
        if !runtime::secret::constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(format!(
                "refused: the signature does not match principal `{principal}`'s key"
            ));
        }
        if !grant.kinds.contains(&command.kind) {
            return Err(format!(
                "refused: principal `{principal}` may not issue {}",
                command.kind.as_str()
            ));
        }
        Ok(principal)
    }
}

/// The actor recorded on the entries a command causes: the authenticated principal, and the
/// person it names when that differs (`finance/ann`), so the free-text actor never stands alone.
pub fn acting_actor(principal: &str, actor: &str) -> String {
    if actor.is_empty() || actor == principal {
        principal.to_string()
    } else {
        format!("{principal}/{actor}")
    }
}

/// Signs `command` as `principal` with `key` (the command-line tool's side).
pub fn sign(command: &mut LedgerCommand, principal: &str, key: &[u8]) {
    command.principal = Some(principal.to_string());
    command.signature = None;
    command.signature = Some(signature_of(command, key));
}

/// HMAC-SHA256 (lowercase hex) over the command's encoding with its signature left out.
fn signature_of(command: &LedgerCommand, key: &[u8]) -> String {
    let mut unsigned = command.clone();
    unsigned.signature = None;
    // Encoding a valid command cannot fail; an empty body would still never verify.
    let body = schemas::encode(&unsigned).unwrap_or_default();
    runtime::secret::hmac_hex(key, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    const FINANCE_KEY: &str = "q6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIyco=";
    const REVIEWER_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

    fn authority() -> CommandAuthority {
        CommandAuthority::parse(
            &Secret::new(format!("finance:{FINANCE_KEY}, reviewer:{REVIEWER_KEY}")),
            "finance=payout_run,payout_complete,payout_fail; reviewer=review_approve,review_reverse,manual_reverse",
        )
        .expect("valid")
    }

    fn command(kind: CommandKind) -> LedgerCommand {
        LedgerCommand {
            command_id: "c1".into(),
            kind,
            actor: "ann".into(),
            issued_at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
            program_id: Some("acme".into()),
            period_end: None,
            minimum_payout: None,
            payout_id: Some("p1".into()),
            commission_id: None,
            partner_id: Some("pa".into()),
            note: None,
            principal: None,
            signature: None,
        }
    }

    fn key(b64: &str) -> Vec<u8> {
        runtime::secret::decode_base64(b64).unwrap()
    }

    #[test]
    fn a_granted_principal_with_its_own_key_is_accepted() {
        let mut c = command(CommandKind::PayoutComplete);
        sign(&mut c, "finance", &key(FINANCE_KEY));
        assert_eq!(authority().check(&c), Ok("finance"));
        assert_eq!(authority().principals(), vec!["finance", "reviewer"]);
        assert_eq!(acting_actor("finance", "ann"), "finance/ann");
        assert_eq!(acting_actor("finance", "finance"), "finance");
    }

    #[test]
    fn unsigned_unknown_forged_tampered_and_ungranted_commands_are_refused() {
        let a = authority();
        let refusal = |c: &LedgerCommand| a.check(c).expect_err("refused");

        assert!(refusal(&command(CommandKind::PayoutRun)).contains("unsigned"));

        let mut unknown = command(CommandKind::PayoutRun);
        sign(&mut unknown, "mallory", &key(FINANCE_KEY));
        assert!(refusal(&unknown).contains("unknown principal `mallory`"));

        // The reviewer's key cannot pass for finance.
        let mut forged = command(CommandKind::PayoutComplete);
        sign(&mut forged, "finance", &key(REVIEWER_KEY));
        assert!(refusal(&forged).contains("signature does not match"));

        // A signed command whose payout was changed afterwards.
        let mut tampered = command(CommandKind::PayoutComplete);
        sign(&mut tampered, "finance", &key(FINANCE_KEY));
        tampered.payout_id = Some("p2".into());
        assert!(refusal(&tampered).contains("signature does not match"));

        // A reviewer may reverse, but not complete a payout.
        let mut ungranted = command(CommandKind::PayoutComplete);
        sign(&mut ungranted, "reviewer", &key(REVIEWER_KEY));
        assert!(refusal(&ungranted).contains("may not issue payout_complete"));
        let mut granted = command(CommandKind::ManualReverse);
        sign(&mut granted, "reviewer", &key(REVIEWER_KEY));
        assert_eq!(a.check(&granted), Ok("reviewer"));
    }

    #[test]
    fn configuration_mistakes_are_reported_at_start() {
        let parse = |keys: &str, grants: &str| {
            CommandAuthority::parse(&Secret::new(keys), grants).expect_err("invalid")
        };
        let k = format!("finance:{FINANCE_KEY}");
        assert!(parse(&k, "").contains("has a key but no grant"));
        assert!(parse(&k, "finance=pay_everyone").contains("unknown command kind `pay_everyone`"));
        assert!(parse("finance:replace-me", "finance=payout_run").contains("placeholder"));
        assert!(parse("finance:c2hvcnQ=", "finance=payout_run").contains("at least 32"));
        // No principals at all is valid: every command is then refused, and said so.
        let none =
            CommandAuthority::parse(&Secret::default(), "finance=payout_run").expect("valid");
        let mut c = command(CommandKind::PayoutRun);
        sign(&mut c, "finance", &key(FINANCE_KEY));
        assert!(none
            .check(&c)
            .expect_err("refused")
            .contains("unknown principal"));
    }
}
