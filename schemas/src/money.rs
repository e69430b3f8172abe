//! ISO 4217 currencies and exact money conversion.
//!
//! Invariant: an amount is stored as an integer count of the currency's minor unit (cents for
//! USD, yen for JPY, fils for KWD), and converting a decimal string into it never rounds: an
//! amount finer than the minor unit is an error, not a silent change of the money.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

/// Active ISO 4217 codes (list as amended through 2025) grouped by minor-unit exponent.
/// Funds and precious-metal codes without a minor unit (XAU, XDR, XXX, ...) are not money here.
const ZERO_DECIMALS: &str = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF";
const THREE_DECIMALS: &str = "BHD IQD JOD KWD LYD OMR TND";
const FOUR_DECIMALS: &str = "CLF UYW";
const TWO_DECIMALS: &str = "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV \
BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB \
EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD \
KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO \
NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP \
STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR \
ZMW ZWG";

/// Largest amount accepted, in major units: far above any real order, far below `i64` minor units.
pub const AMOUNT_MAJOR_MAX: i64 = 1_000_000_000_000;

/// An ISO 4217 currency with its minor-unit exponent.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    minor_units: u8,
}

impl Currency {
    /// Looks up an upper-case three-letter code; `None` when it is not an active ISO 4217 money code.
    pub fn from_code(code: &str) -> Option<Currency> {
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        if !bytes.iter().all(u8::is_ascii_uppercase) {
            return None;
        }
        // Every amount is read and written through here (ingest, ledger rows): a binary
        // search of a table sorted once, not a scan of ~180 codes per call.
        static TABLE: std::sync::OnceLock<Vec<([u8; 3], u8)>> = std::sync::OnceLock::new();
        let table = TABLE.get_or_init(|| {
            let mut table: Vec<([u8; 3], u8)> = [
                (ZERO_DECIMALS, 0),
                (TWO_DECIMALS, 2),
                (THREE_DECIMALS, 3),
                (FOUR_DECIMALS, 4),
            ]
            .into_iter()
            .flat_map(|(list, minor_units)| {
                list.split_ascii_whitespace()
                    .filter_map(move |c| Some((c.as_bytes().try_into().ok()?, minor_units)))
            })
            .collect();
            table.sort_unstable();
            table
        });
        let i = table.binary_search_by_key(&bytes, |(c, _)| *c).ok()?;
        Some(Currency {
            code: bytes,
            minor_units: table[i].1,
        })
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).expect("codes are ASCII by construction")
    }

    /// Decimal places of the minor unit (2 for USD, 0 for JPY, 3 for KWD).
    pub fn minor_units(&self) -> u32 {
        u32::from(self.minor_units)
    }

    /// Converts an exact amount into minor units, refusing to round.
    pub fn to_minor(&self, amount: Decimal) -> Result<i64, MoneyError> {
        let scaled = amount * Decimal::from(10i64.pow(self.minor_units()));
        if scaled.fract() != Decimal::ZERO {
            return Err(MoneyError::TooPrecise {
                currency: *self,
                amount,
            });
        }
        if amount.abs() > Decimal::from(AMOUNT_MAJOR_MAX) {
            return Err(MoneyError::TooLarge(amount));
        }
        i64::try_from(scaled.trunc()).map_err(|_| MoneyError::TooLarge(amount))
    }

    /// The exact decimal amount of `minor` units, at the currency's scale.
    pub fn from_minor(&self, minor: i64) -> Decimal {
        Decimal::new(minor, self.minor_units())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why an amount is not acceptable money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a plain decimal number (`-?digits[.digits]`).
    #[error("{0:?} is not a decimal number (expected digits with an optional '.' and fraction)")]
    NotADecimal(String),
    /// More decimal places than the currency's minor unit.
    #[error("{amount} has more decimal places than {currency} allows (at most {})", currency.minor_units())]
    TooPrecise {
        /// The currency.
        currency: Currency,
        /// The amount given.
        amount: Decimal,
    },
    /// Beyond [`AMOUNT_MAJOR_MAX`].
    #[error("{0} is larger than the accepted maximum")]
    TooLarge(Decimal),
}

/// Parses a strict decimal string: optional `-`, digits, optional `.` and digits. No exponent,
/// no separators, no leading `+` or spaces: money crosses systems as exactly what it says.
pub fn parse_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let not_decimal = || MoneyError::NotADecimal(text.to_string());
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int)
        || !frac.is_none_or(digits)
        || int.len() > 20
        || frac.is_some_and(|f| f.len() > 20)
    {
        return Err(not_decimal());
    }
    Decimal::from_str(text).map_err(|_| not_decimal())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::from_code("USD").expect("USD is ISO 4217")
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        let units = |c: &str| Currency::from_code(c).map(|c| c.minor_units());
        assert_eq!(units("USD"), Some(2));
        assert_eq!(units("JPY"), Some(0));
        assert_eq!(units("KWD"), Some(3));
        assert_eq!(units("CLF"), Some(4));
        assert_eq!(
            units("usd"),
            None,
            "codes are upper-case; callers normalise first"
        );
        assert_eq!(units("XXX"), None);
        assert_eq!(units("US"), None);
    }

    #[test]
    fn no_code_is_listed_twice() {
        let all: Vec<&str> = [ZERO_DECIMALS, TWO_DECIMALS, THREE_DECIMALS, FOUR_DECIMALS]
            .iter()
            .flat_map(|l| l.split_ascii_whitespace())
            .collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
        assert!(all.iter().all(|c| c.len() == 3));
    }

    #[test]
    fn every_listed_code_is_found_with_its_lists_minor_unit() {
        for (list, units) in [
            (ZERO_DECIMALS, 0),
            (TWO_DECIMALS, 2),
            (THREE_DECIMALS, 3),
            (FOUR_DECIMALS, 4),
        ] {
            for code in list.split_ascii_whitespace() {
                let found =
                    Currency::from_code(code).map(|c| (c.code().to_string(), c.minor_units()));
                assert_eq!(found, Some((code.to_string(), units)), "{code}");
            }
        }
        assert_eq!(Currency::from_code("usd"), None);
        assert_eq!(Currency::from_code("AAA"), None);
        assert_eq!(Currency::from_code("ZZZ"), None);
    }

    #[test]
    fn conversion_to_minor_units_is_exact_or_refused() {
        let amount = |s: &str| parse_decimal(s).expect("valid decimal");
        assert_eq!(usd().to_minor(amount("19.99")), Ok(1999));
        assert_eq!(
            usd().to_minor(amount("19.990")),
            Ok(1999),
            "trailing zeros are fine"
        );
        assert_eq!(usd().to_minor(amount("7")), Ok(700));
        assert!(matches!(
            usd().to_minor(amount("19.995")),
            Err(MoneyError::TooPrecise { .. })
        ));
        let jpy = Currency::from_code("JPY").expect("JPY");
        assert_eq!(jpy.to_minor(amount("1500")), Ok(1500));
        assert!(jpy.to_minor(amount("1500.5")).is_err());
        assert!(matches!(
            usd().to_minor(amount("10000000000000")),
            Err(MoneyError::TooLarge(_))
        ));
        assert_eq!(usd().from_minor(1999).to_string(), "19.99");
    }

    #[test]
    fn decimal_strings_are_parsed_strictly() {
        for bad in [
            "", "-", "1.", ".5", "1e3", "1_000", "+1", " 1", "1,5", "0x10", "NaN", "1.2.3",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(parse_decimal("-0.50").expect("ok").to_string(), "-0.50");
    }
}
