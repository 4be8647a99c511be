//! Currencies and fixed, dated exchange rates.
//!
//! Every rate is quoted as the ECB quotes it: units of the currency per 1 EUR. Conversions go
//! through EUR (`amount / rate_from * rate_to`), so A→B→A returns A (up to one rounding of a
//! double) and B→C agrees with B→A→C. Nothing is rounded here: money values stay full precision
//! until a person reads them, because per-job amounts are fractions of a cent.

use std::collections::BTreeMap;
use std::fmt;

/// An ISO 4217 code: three ASCII capital letters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const EUR: Currency = Currency(*b"EUR");

    /// Accepts exactly three capital letters (so `usd` is refused rather than guessed).
    pub fn parse(s: &str) -> Result<Currency, String> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(format!("{s:?} is not an ISO 4217 currency code (three capital letters)"))
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII capitals are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A table of rates against EUR, valid as of one day.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    per_eur: BTreeMap<Currency, f64>,
    /// The day the rates were published, as Unix seconds at 00:00 UTC.
    pub date_unix: i64,
    pub source: String,
}

impl Rates {
    /// `per_eur` holds units of each currency per 1 EUR; EUR itself is implied (1).
    pub fn new(mut per_eur: BTreeMap<Currency, f64>, date_unix: i64, source: String) -> Rates {
        per_eur.insert(Currency::EUR, 1.0);
        Rates { per_eur, date_unix, source }
    }

    pub fn knows(&self, c: Currency) -> bool {
        self.per_eur.contains_key(&c)
    }

    /// Units of `c` per 1 EUR.
    pub fn per_eur(&self, c: Currency) -> Option<f64> {
        self.per_eur.get(&c).copied()
    }

    /// Every (currency, units per EUR) pair, EUR included.
    pub fn iter(&self) -> impl Iterator<Item = (Currency, f64)> + '_ {
        self.per_eur.iter().map(|(c, r)| (*c, *r))
    }

    /// Converts `amount` from one currency to another through EUR; `None` if either is unknown.
    pub fn convert(&self, amount: f64, from: Currency, to: Currency) -> Option<f64> {
        if from == to {
            return Some(amount);
        }
        Some(amount / self.per_eur(from)? * self.per_eur(to)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> Rates {
        let sek = Currency::parse("SEK").unwrap();
        let usd = Currency::parse("USD").unwrap();
        Rates::new(BTreeMap::from([(sek, 11.459), (usd, 1.0389)]), 0, "test".into())
    }

    #[test]
    fn parse_codes() {
        assert_eq!(Currency::parse("SEK").unwrap().as_str(), "SEK");
        assert!(Currency::parse("sek").is_err());
        assert!(Currency::parse("SEKK").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn converts_through_eur() {
        let r = rates();
        let (sek, usd, eur) =
            (Currency::parse("SEK").unwrap(), Currency::parse("USD").unwrap(), Currency::EUR);
        // 11.459 SEK = 1 EUR = 1.0389 USD
        assert_eq!(r.convert(11.459, sek, eur), Some(1.0));
        assert!((r.convert(2.0, eur, usd).unwrap() - 2.0778).abs() < 1e-15);
        assert!((r.convert(11.459, sek, usd).unwrap() - 1.0389).abs() < 1e-15);
        assert_eq!(r.convert(1.0, Currency::parse("GBP").unwrap(), eur), None);
    }

    #[test]
    fn round_trips_return_the_amount() {
        let r = rates();
        let cs: Vec<Currency> = r.iter().map(|(c, _)| c).collect();
        for &a in &cs {
            for &b in &cs {
                for x in [1e-9, 0.000_645, 1.0, 12_345.678_9, 9.9e12] {
                    let back = r.convert(r.convert(x, a, b).unwrap(), b, a).unwrap();
                    assert!(((back - x) / x).abs() < 4e-16, "{a}->{b}->{a}: {x} became {back}");
                    // A->B->C agrees with A->C
                    for &c in &cs {
                        let via = r.convert(r.convert(x, a, b).unwrap(), b, c).unwrap();
                        let direct = r.convert(x, a, c).unwrap();
                        assert!(((via - direct) / direct).abs() < 4e-16);
                    }
                }
            }
        }
    }
}
