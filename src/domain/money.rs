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
pub(crate) struct Currency([u8; 3]);

impl Currency {
    pub(crate) const EUR: Currency = Currency(*b"EUR");

    /// Accepts exactly three capital letters (so `usd` is refused rather than guessed).
    pub(crate) fn parse(s: &str) -> Result<Currency, String> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(format!("{s:?} is not an ISO 4217 currency code (three capital letters)"))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
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
pub(crate) struct Rates {
    per_eur: BTreeMap<Currency, f64>,
    /// The day the rates were published, as Unix seconds at 00:00 UTC.
    pub(crate) date_unix: i64,
    pub(crate) source: String,
}

impl Rates {
    /// `per_eur` holds units of each currency per 1 EUR; EUR itself is implied (1).
    pub(crate) fn new(mut per_eur: BTreeMap<Currency, f64>, date_unix: i64, source: String) -> Rates {
        per_eur.insert(Currency::EUR, 1.0);
        Rates { per_eur, date_unix, source }
    }

    pub(crate) fn knows(&self, c: Currency) -> bool {
        self.per_eur.contains_key(&c)
    }

    /// Units of `c` per 1 EUR.
    pub(crate) fn per_eur(&self, c: Currency) -> Option<f64> {
        self.per_eur.get(&c).copied()
    }

    /// Every (currency, units per EUR) pair, EUR included.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Currency, f64)> + '_ {
        self.per_eur.iter().map(|(c, r)| (*c, *r))
    }

    /// Converts `amount` from one currency to another through EUR; `None` if either is unknown.
    pub(crate) fn convert(&self, amount: f64, from: Currency, to: Currency) -> Option<f64> {
        if from == to {
            return Some(amount);
        }
        Some(amount / self.per_eur(from)? * self.per_eur(to)?)
    }
}

/// Exchange rates by publication day, so that each job converts at the rates of its own day.
/// Days carry forward (weekends, holidays); before the first day, and for a currency a day does
/// not quote, the configured fixed rates apply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RateBook {
    pub(crate) fallback: Rates,
    days: BTreeMap<i64, Rates>,
}

impl RateBook {
    /// The configured fixed rates alone.
    pub(crate) fn fixed(fallback: Rates) -> RateBook {
        RateBook { fallback, days: BTreeMap::new() }
    }

    /// Adds one day's rates, keeping only `wanted` currencies (the rest would only cost memory);
    /// those the day does not quote come from the fallback.
    pub(crate) fn insert_day(
        &mut self,
        date_unix: i64,
        per_eur: &BTreeMap<Currency, f64>,
        wanted: &[Currency],
        source: &str,
    ) {
        let mut m = BTreeMap::new();
        for c in wanted {
            if let Some(r) = per_eur.get(c).copied().or_else(|| self.fallback.per_eur(*c)) {
                m.insert(*c, r);
            }
        }
        self.days.insert(date_unix, Rates::new(m, date_unix, source.to_string()));
    }

    /// Days held (0: fixed rates only).
    pub(crate) fn days(&self) -> usize {
        self.days.len()
    }

    /// The rates in force at `t_s`, and whether they are a dated day's (`false`: the fallback).
    pub(crate) fn at(&self, t_s: f64) -> (&Rates, bool) {
        let day = (t_s / 86_400.0).floor() as i64 * 86_400;
        match self.days.range(..=day).next_back() {
            Some((_, r)) => (r, true),
            None => (&self.fallback, false),
        }
    }

    /// The newest rates: the latest day's, else the fallback.
    pub(crate) fn newest(&self) -> &Rates {
        self.days.values().next_back().unwrap_or(&self.fallback)
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
    fn a_rate_book_carries_days_forward_and_falls_back_before_them() {
        let (sek, usd) = (Currency::parse("SEK").unwrap(), Currency::parse("USD").unwrap());
        let mut book = RateBook::fixed(rates());
        assert_eq!(book.at(1e9).0, &rates());
        let thu = 1_711_584_000; // 2024-03-28
        let tue = thu + 5 * 86_400; // 2024-04-02, after Good Friday, a weekend and Easter Monday
        book.insert_day(thu, &BTreeMap::from([(sek, 11.5), (usd, 1.08)]), &[sek, usd], "ecb");
        book.insert_day(tue, &BTreeMap::from([(usd, 1.07)]), &[sek, usd], "ecb");
        assert_eq!(book.at(thu as f64 - 1.0), (&rates(), false), "before the first day");
        for t in [thu, thu + 86_400, thu + 4 * 86_400 + 86_399] {
            let (r, dated) = book.at(t as f64);
            assert!(dated);
            assert_eq!((r.date_unix, r.per_eur(sek), r.per_eur(usd)), (thu, Some(11.5), Some(1.08)));
        }
        let (r, _) = book.at(tue as f64 + 3600.0);
        // Tuesday quotes no SEK here: the fixed rate fills in.
        assert_eq!((r.date_unix, r.per_eur(sek), r.per_eur(usd)), (tue, Some(11.459), Some(1.07)));
        assert_eq!(book.newest().date_unix, tue);
        assert_eq!(book.days(), 2);
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
