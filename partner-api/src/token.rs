//! API tokens (pure): their text form, what is stored of them, and what each may read.
//!
//! A token reads `atk_<id>_<secret>` ([`runtime::api_key`]): the id finds the stored row, the
//! secret is checked against its SHA-256. Only the hash is stored. A partner token reads one
//! partner of one program; an operator token reads every partner of one program.

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
pub type Presented = runtime::api_key::PresentedKey;

/// Why a presented token is not even worth a lookup.
pub const MALFORMED: &str = "the token is not of the form atk_<16 hex>_<64 hex>";

/// Parses `atk_<id>_<secret>`.
pub fn parse(text: &str) -> Result<Presented, &'static str> {
    Presented::parse("atk", text).ok_or(MALFORMED)
}

/// A new token from 40 random bytes (8 for the id, 32 for the secret): the text to hand out
/// once, the id and the hash to store.
pub fn issue(random: &[u8; 40]) -> (String, String, String) {
    let key = runtime::api_key::issue("atk", random);
    (key.text, key.id, key.secret_sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_atk_keys() {
        let (text, id, hash) = issue(&[7u8; 40]);
        let presented = parse(&text).expect("parses");
        assert_eq!(presented.id, id);
        assert!(presented.matches(&hash));
        assert_eq!(parse(&text.replacen("atk", "wk", 1)), Err(MALFORMED));
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
