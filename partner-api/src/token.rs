//! API tokens (pure): their text form, what is stored of them, and what each may read.
//!
//! A token reads `atk_<id>_<secret>`: the id (16 hex digits) finds the stored row, the secret
//! (32 random bytes, 64 hex digits) is checked against its SHA-256, compared in constant time.
//! Only the hash is stored, so a leaked table grants nothing. A partner token reads one
//! partner of one program; an operator token reads every partner of one program.

use sha2::{Digest, Sha256};

/// What a token may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One partner's own data in one program.
    Partner {
        /// Program.
        program_id: String,
        /// Partner.
        partner_id: String,
    },
    /// Every partner of one program, and the program's operator views.
    Operator {
        /// Program.
        program_id: String,
    },
}

impl Scope {
    /// The stored `scope` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Partner { .. } => "partner",
            Scope::Operator { .. } => "operator",
        }
    }

    /// The program the token belongs to.
    pub fn program_id(&self) -> &str {
        match self {
            Scope::Partner { program_id, .. } | Scope::Operator { program_id } => program_id,
        }
    }

    /// The stored `partner_id` column ('' for operators).
    pub fn partner_id(&self) -> &str {
        match self {
            Scope::Partner { partner_id, .. } => partner_id,
            Scope::Operator { .. } => "",
        }
    }

    /// From the stored columns.
    pub fn from_columns(kind: &str, program_id: &str, partner_id: &str) -> Option<Scope> {
        match kind {
            "partner" if !partner_id.is_empty() => Some(Scope::Partner {
                program_id: program_id.to_string(),
                partner_id: partner_id.to_string(),
            }),
            "operator" => Some(Scope::Operator {
                program_id: program_id.to_string(),
            }),
            _ => None,
        }
    }

    /// May this token read `partner` of `program`? The answer for every partner endpoint.
    pub fn may_read_partner(&self, program: &str, partner: &str) -> bool {
        match self {
            Scope::Partner {
                program_id,
                partner_id,
            } => program_id == program && partner_id == partner,
            Scope::Operator { program_id } => program_id == program,
        }
    }

    /// May this token read `program`'s operator views?
    pub fn may_operate(&self, program: &str) -> bool {
        matches!(self, Scope::Operator { program_id } if program_id == program)
    }
}

/// A token as presented: id and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// The id (16 hex digits).
    pub token_id: String,
    secret: String,
}

/// Why a presented token is not even worth a lookup.
pub const MALFORMED: &str = "the token is not of the form atk_<16 hex>_<64 hex>";

impl Presented {
    /// Parses `atk_<id>_<secret>`.
    pub fn parse(text: &str) -> Result<Presented, &'static str> {
        let rest = text.strip_prefix("atk_").ok_or(MALFORMED)?;
        let (id, secret) = rest.split_once('_').ok_or(MALFORMED)?;
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(id, 16) || !hex(secret, 64) {
            return Err(MALFORMED);
        }
        Ok(Presented {
            token_id: id.to_ascii_lowercase(),
            secret: secret.to_ascii_lowercase(),
        })
    }

    /// True when the secret's SHA-256 is `stored_sha256` (hex), compared in constant time.
    pub fn matches(&self, stored_sha256: &str) -> bool {
        runtime::secret::constant_time_eq(
            secret_sha256(&self.secret).as_bytes(),
            stored_sha256.as_bytes(),
        )
    }
}

/// SHA-256 (hex) of a secret, as stored.
pub fn secret_sha256(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new token from 40 random bytes (8 for the id, 32 for the secret): the text to hand out
/// once, the id and the hash to store.
pub fn issue(random: &[u8; 40]) -> (String, String, String) {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let (id, secret) = (hex(&random[..8]), hex(&random[8..]));
    let hash = secret_sha256(&secret);
    (format!("atk_{id}_{secret}"), id, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_parses_and_matches_only_its_own_hash() {
        let mut random = [7u8; 40];
        random[39] = 9;
        let (text, id, hash) = issue(&random);
        assert_eq!(text.len(), 4 + 16 + 1 + 64);
        let presented = Presented::parse(&text).expect("parses");
        assert_eq!(presented.token_id, id);
        assert!(presented.matches(&hash));
        random[39] = 10;
        let (_, _, other) = issue(&random);
        assert!(!presented.matches(&other));
        assert!(!hash.contains(&text[21..]), "the secret is not stored");
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_lookup() {
        for bad in [
            "",
            "atk_",
            "Bearer x",
            "atk_0123456789abcdef",
            "atk_0123456789abcdeg_".to_string().as_str(),
            &format!("atk_0123456789abcdef_{}", "a".repeat(63)),
            &format!("xtk_0123456789abcdef_{}", "a".repeat(64)),
        ] {
            assert_eq!(Presented::parse(bad), Err(MALFORMED), "{bad}");
        }
    }

    #[test]
    fn a_partner_reads_only_itself_and_an_operator_only_its_program() {
        let partner = Scope::Partner {
            program_id: "acme".into(),
            partner_id: "p-1".into(),
        };
        assert!(partner.may_read_partner("acme", "p-1"));
        assert!(!partner.may_read_partner("acme", "p-2"));
        assert!(!partner.may_read_partner("other", "p-1"));
        assert!(!partner.may_operate("acme"));
        let operator = Scope::Operator {
            program_id: "acme".into(),
        };
        assert!(operator.may_read_partner("acme", "p-2"));
        assert!(!operator.may_read_partner("other", "p-2"));
        assert!(operator.may_operate("acme") && !operator.may_operate("other"));
        assert_eq!(
            Scope::from_columns(partner.kind(), "acme", partner.partner_id()),
            Some(partner)
        );
        assert_eq!(Scope::from_columns("partner", "acme", ""), None);
        assert_eq!(Scope::from_columns("root", "acme", ""), None);
    }
}
