//! ECB euro reference rates: parses the ECB's XML and CSV files into a table by publication day
//! and answers "which rates were in force at time t", so each job's cost is converted at the rate
//! of the job's day rather than today's. The ECB publishes around 16:00 CET on TARGET working days
//! and gives only a date, so a day's rates count from 00:00 UTC of that day and are carried
//! forward over weekends and holidays. Pure: bytes in, data out; the agent fetches and stores.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::money::Currency;
#[cfg(test)]
use crate::domain::money::Rates;
use crate::util::time::parse_date;

const DAY_S: i64 = 86_400;
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// ECB reference rates by publication day.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RateTable {
    /// Unix seconds at 00:00 UTC of the publication day → units per 1 EUR.
    by_day: BTreeMap<i64, BTreeMap<Currency, f64>>,
}

impl RateTable {
    /// Detects the format: XML if the first non-whitespace byte (after an optional UTF-8 BOM) is '<', else CSV.
    pub(crate) fn parse(bytes: &[u8]) -> Result<RateTable, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
        if strip_bom(text).trim_start().starts_with('<') {
            RateTable::parse_xml(text)
        } else {
            RateTable::parse_csv(text)
        }
    }

    /// `eurofxref-daily.xml`, `eurofxref-hist-90d.xml`, `eurofxref-hist.xml`: nested `<Cube>`
    /// elements told apart by their attributes (`time`, or `currency` + `rate`).
    pub(crate) fn parse_xml(text: &str) -> Result<RateTable, String> {
        let text = strip_bom(text);
        let line = |pos: usize| text[..pos].matches('\n').count() + 1;
        let mut table = RateTable::default();
        let mut open: Vec<bool> = Vec::new(); // one entry per open <Cube>: is it a time Cube?
        let mut day: Option<i64> = None;
        let mut pos = 0;
        while let Some(off) = text[pos..].find('<') {
            let start = pos + off;
            let rest = &text[start..];
            // The prolog, comments, CDATA and declarations carry no rates: skip them whole.
            let skip = [("<?", "?>"), ("<!--", "-->"), ("<![CDATA[", "]]>"), ("<!", ">")];
            if let Some((o, c)) = skip.iter().find(|(o, _)| rest.starts_with(o)) {
                let end = rest[o.len()..]
                    .find(c)
                    .ok_or_else(|| format!("line {}: unterminated {o}", line(start)))?;
                pos = start + o.len() + end + c.len();
                continue;
            }
            let end = tag_end(rest).ok_or_else(|| format!("line {}: unterminated tag", line(start)))?;
            pos = start + end + 1;
            let (closing, body) = match rest[1..end].strip_prefix('/') {
                Some(b) => (true, b),
                None => (false, &rest[1..end]),
            };
            let name_len = body.find(|c: char| c.is_whitespace() || c == '/').unwrap_or(body.len());
            if body[..name_len].rsplit(':').next() != Some("Cube") {
                continue;
            }
            let ln = line(start);
            if closing {
                match open.pop() {
                    Some(true) => day = None,
                    Some(false) => {}
                    None => return Err(format!("line {ln}: </Cube> without a matching <Cube>")),
                }
                continue;
            }
            let self_closing = body.trim_end().ends_with('/');
            let attrs = attributes(body[name_len..].trim_end().trim_end_matches('/'))
                .map_err(|e| format!("line {ln}: {e}"))?;
            let get = |k: &str| attrs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.trim());
            let is_time = if let Some(t) = get("time") {
                if day.is_some() {
                    return Err(format!("line {ln}: a time Cube inside another time Cube"));
                }
                let d = parse_date(t).map_err(|e| format!("line {ln}, time: {e}"))?;
                if table.by_day.insert(d, BTreeMap::new()).is_some() {
                    return Err(format!("line {ln}: day {} appears twice", ymd(d)));
                }
                day = Some(d);
                true
            } else if let Some(c) = get("currency") {
                let Some(d) = day else {
                    return Err(format!("line {ln}, currency {c}: currency Cube outside a time Cube"));
                };
                let cur = Currency::parse(c).map_err(|e| format!("line {ln}, currency {c}: {e}"))?;
                let r = get("rate").ok_or_else(|| format!("line {ln}, currency {cur}: no rate"))?;
                let r = parse_rate(r).map_err(|e| format!("line {ln}, currency {cur}: {e}"))?;
                if table.by_day.entry(d).or_default().insert(cur, r).is_some() {
                    return Err(format!("line {ln}, currency {cur}: appears twice on {}", ymd(d)));
                }
                false
            } else if get("rate").is_some() {
                return Err(format!("line {ln}: a rate without a currency"));
            } else {
                false // the outer Cube that wraps the days
            };
            if !self_closing {
                open.push(is_time);
            } else if is_time {
                day = None;
            }
        }
        // A download cut short would otherwise lose days silently.
        if !open.is_empty() {
            return Err("a <Cube> is never closed (truncated file?)".into());
        }
        table.finish()
    }

    /// `eurofxref-hist.csv` (`Date,USD,...,`, ISO dates, `N/A` for days without a rate) and
    /// `eurofxref.csv` (`Date, USD, ...`, dates like `05 January 2024`); either date form is accepted.
    pub(crate) fn parse_csv(text: &str) -> Result<RateTable, String> {
        let mut lines = strip_bom(text)
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .filter(|(_, l)| !l.trim().is_empty());
        let (hl, header) = lines.next().ok_or("no rates found")?;
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        if !names[0].eq_ignore_ascii_case("date") {
            return Err(format!("line {hl}, column 1: the header must start with Date"));
        }
        // The ECB ends every line with a comma, so trailing empty columns are not currencies.
        let n = names.iter().rposition(|c| !c.is_empty()).unwrap_or(0);
        let mut currencies = Vec::with_capacity(n);
        for (i, name) in names[1..=n].iter().enumerate() {
            let c = Currency::parse(name).map_err(|e| format!("line {hl}, column {}: {e}", i + 2))?;
            if currencies.contains(&c) {
                return Err(format!("line {hl}, column {}: {c} appears twice", i + 2));
            }
            currencies.push(c);
        }
        let mut table = RateTable::default();
        for (ln, row) in lines {
            let fields: Vec<&str> = row.split(',').map(str::trim).collect();
            if fields.len() <= n || fields[n + 1..].iter().any(|f| !f.is_empty()) {
                return Err(format!("line {ln}: {} fields where the header has {}", fields.len(), n + 1));
            }
            let day = csv_date(fields[0]).map_err(|e| format!("line {ln}, column Date: {e}"))?;
            let mut rates = BTreeMap::new();
            for (c, f) in currencies.iter().zip(&fields[1..]) {
                if f.is_empty() || *f == "N/A" {
                    continue; // not published that day (or the currency no longer exists)
                }
                rates.insert(*c, parse_rate(f).map_err(|e| format!("line {ln}, column {c}: {e}"))?);
            }
            if table.by_day.insert(day, rates).is_some() {
                return Err(format!("line {ln}: day {} appears twice", ymd(day)));
            }
        }
        table.finish()
    }

    /// Days from `other` replace the same days here.
    pub(crate) fn merge(&mut self, other: RateTable) {
        self.by_day.extend(other.by_day);
    }

    pub(crate) fn days(&self) -> usize {
        self.by_day.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.by_day.is_empty()
    }

    /// Every day (00:00 UTC) with its rates, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i64, &BTreeMap<Currency, f64>)> {
        self.by_day.iter().map(|(d, m)| (*d, m))
    }

    #[cfg(test)]
    /// 00:00 UTC of the newest day.
    pub(crate) fn newest_day(&self) -> Option<i64> {
        self.by_day.keys().next_back().copied()
    }

    #[cfg(test)]
    /// The rates in force at `t_s` (Unix seconds): those of the latest publication day whose 00:00 UTC is <= t_s,
    /// carried forward over weekends and holidays. None before the first day.
    pub(crate) fn rates_at(&self, t_s: f64, source: &str) -> Option<Rates> {
        if t_s.is_nan() {
            return None;
        }
        // `as` saturates, so ±infinity picks the last day / nothing.
        let (day, rates) = self.by_day.range(..=t_s.floor() as i64).next_back()?;
        Some(Rates::new(rates.clone(), *day, source.to_string()))
    }

    /// Serialises to the ECB historical CSV layout (so a fetched table can be saved and read back by parse_csv).
    /// Columns are the currencies seen on any day, alphabetically; rows are newest first, as the ECB writes them.
    pub(crate) fn to_csv(&self) -> String {
        let cols: BTreeSet<Currency> = self.by_day.values().flat_map(|m| m.keys().copied()).collect();
        let mut out = String::from("Date,");
        for c in &cols {
            out.push_str(c.as_str());
            out.push(',');
        }
        out.push('\n');
        for (day, rates) in self.by_day.iter().rev() {
            out.push_str(&ymd(*day));
            out.push(',');
            for c in &cols {
                // `{}` prints the shortest text that reads back to the same f64.
                out.push_str(&rates.get(c).map_or_else(|| "N/A".to_string(), f64::to_string));
                out.push(',');
            }
            out.push('\n');
        }
        out
    }

    /// Drops days that ended up with no rates (they would hide the previous day's) and refuses an empty table.
    fn finish(mut self) -> Result<RateTable, String> {
        self.by_day.retain(|_, m| !m.is_empty());
        if self.by_day.is_empty() {
            return Err("no rates found".into());
        }
        Ok(self)
    }
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!("{s:?} is not a rate")),
    }
}

/// Index of the `>` closing the tag that starts at `s[0]`, ignoring any `>` inside quoted values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, b) in s.bytes().enumerate() {
        match (quote, b) {
            (None, b'>') => return Some(i),
            (None, b'\'' | b'"') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            _ => {}
        }
    }
    None
}

/// `name='value'` / `name="value"` pairs, with any whitespace around `=` and between pairs.
fn attributes(mut s: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(out);
        }
        let bad = || format!("malformed attributes near {s:?}");
        let eq = s.find('=').ok_or_else(bad)?;
        let name = s[..eq].trim_end();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(bad());
        }
        let v = s[eq + 1..].trim_start();
        let q = v.chars().next().filter(|c| *c == '\'' || *c == '"').ok_or_else(bad)?;
        let close = v[1..].find(q).ok_or_else(bad)?;
        out.push((name, &v[1..1 + close]));
        s = &v[close + 2..];
    }
}

/// `2024-01-05` or `05 January 2024` (`5 Jan 2024` too) → Unix seconds at 00:00 UTC.
fn csv_date(s: &str) -> Result<i64, String> {
    if s.contains('-') {
        return parse_date(s);
    }
    let bad = || format!("{s:?} is not a date (YYYY-MM-DD or DD Month YYYY)");
    let [d, m, y] = s.split_whitespace().collect::<Vec<_>>()[..] else { return Err(bad()) };
    let m = MONTHS
        .iter()
        .position(|n| n.eq_ignore_ascii_case(m) || (m.len() == 3 && n[..3].eq_ignore_ascii_case(m)))
        .ok_or_else(bad)?
        + 1;
    let (d, y): (u32, u32) = (d.parse().map_err(|_| bad())?, y.parse().map_err(|_| bad())?);
    // parse_date checks the calendar (30 February, 2023-02-29 ...).
    parse_date(&format!("{y:04}-{m:02}-{d:02}")).map_err(|_| bad())
}

/// `YYYY-MM-DD` of a Unix time: the inverse of `config::days_from_civil` (same 400-year eras).
fn ymd(t: i64) -> String {
    let z = t.div_euclid(DAY_S) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::time::days_from_civil;

    // Easter 2024: no fixing on Good Friday 29 March or Easter Monday 1 April. No JPY on the
    // 27th (a made-up gap, to test N/A and empty cells); CYP has not existed since 2008.
    const HIST_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<gesmes:Envelope xmlns:gesmes=\"http://www.gesmes.org/xml/2002-08-01\" xmlns=\"http://www.ecb.int/vocabulary/2002-08-01/eurofxref\">
\t<gesmes:subject>Reference rates</gesmes:subject>
\t<gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
\t<Cube>
\t\t<Cube time='2024-04-03'>
\t\t\t<Cube currency='USD' rate='1.0792'/><Cube currency='JPY' rate='163.59'/><Cube currency='SEK' rate='11.628'/>
\t\t</Cube>
\t\t<Cube time='2024-04-02'>
\t\t\t<Cube currency='USD' rate='1.0765'/><Cube currency='JPY' rate='163.23'/><Cube currency='SEK' rate='11.5915'/>
\t\t</Cube>
\t\t<Cube time='2024-03-28'>
\t\t\t<Cube currency='USD' rate='1.0811'/><Cube currency='JPY' rate='163.45'/><Cube currency='SEK' rate='11.525'/>
\t\t</Cube>
\t\t<Cube time='2024-03-27'>
\t\t\t<Cube currency='USD' rate='1.0827'/><Cube currency='SEK' rate='11.5105'/>
\t\t</Cube>
\t</Cube>
</gesmes:Envelope>
";
    const HIST_CSV: &str = "Date,USD,JPY,CYP,SEK,\n\
        2024-04-03,1.0792,163.59,N/A,11.6280,\n\
        2024-04-02,1.0765,163.23,N/A,11.5915,\n\
        \n\
        2024-03-28,1.0811,163.45,N/A,11.5250,\n\
        2024-03-27,1.0827,,N/A,11.5105,\n";
    // Double quotes, reversed attribute order, a newline inside a tag, a comment, CRLF.
    const DAILY_XML: &str = "<?xml version=\"1.0\"?>\r\n<!-- <Cube time='1999-01-04'> -->\r\n\
        <Envelope><Cube><Cube  time = \"2024-04-03\" >\r\n\
        <Cube rate=\"1.0792\" currency=\"USD\" /><Cube\r\n currency=\"JPY\"\trate=\"163.59\"/>\
        <Cube currency=\"SEK\" rate=\"11.6280\"></Cube></Cube></Cube></Envelope>";
    const DAILY_CSV: &str = "Date, USD, JPY, SEK, \n03 April 2024, 1.0792, 163.59, 11.6280, \n";

    fn day(s: &str) -> i64 {
        parse_date(s).unwrap()
    }
    fn cur(s: &str) -> Currency {
        Currency::parse(s).unwrap()
    }
    fn err(text: &str) -> String {
        RateTable::parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn all_formats_give_the_same_values() {
        let hist = RateTable::parse(HIST_XML.as_bytes()).unwrap();
        assert_eq!(RateTable::parse(HIST_CSV.as_bytes()).unwrap(), hist);
        let daily = RateTable::parse(DAILY_XML.as_bytes()).unwrap();
        assert_eq!(RateTable::parse(DAILY_CSV.as_bytes()).unwrap(), daily);
        assert_eq!((hist.days(), daily.days()), (4, 1));
        assert_eq!(hist.newest_day(), Some(day("2024-04-03")));
        assert_eq!(daily.newest_day(), Some(1_712_102_400)); // 2024-04-03T00:00:00Z
        let (h, d) =
            (hist.rates_at(1_712_102_400.0, "ecb").unwrap(), daily.rates_at(1_712_102_400.0, "ecb").unwrap());
        assert_eq!(h, d);
        assert_eq!(h.per_eur(cur("SEK")), Some(11.628));
        assert_eq!(h.per_eur(Currency::EUR), Some(1.0));
        assert_eq!(h.source, "ecb");
        // N/A and empty cells: the currency is simply absent that day.
        let wed = hist.rates_at(day("2024-03-27") as f64, "ecb").unwrap();
        assert_eq!((wed.per_eur(cur("USD")), wed.knows(cur("JPY"))), (Some(1.0827), false));
        assert!(!h.knows(cur("CYP")));
    }

    #[test]
    fn weekends_and_holidays_carry_the_last_fixing_forward() {
        let t = RateTable::parse_csv(HIST_CSV).unwrap();
        let thu = 1_711_584_000; // Thursday 2024-03-28 00:00 UTC
        assert_eq!(day("2024-03-28"), thu);
        // Good Friday, Saturday, Sunday, Easter Monday (noon), and the last second before Tuesday.
        for t_s in
            [thu + DAY_S, thu + 2 * DAY_S, thu + 3 * DAY_S, thu + 4 * DAY_S + 43_200, thu + 5 * DAY_S - 1]
        {
            let r = t.rates_at(t_s as f64, "ecb").unwrap();
            assert_eq!((r.date_unix, r.per_eur(cur("USD"))), (thu, Some(1.0811)), "at {t_s}");
        }
        let tue = t.rates_at((thu + 5 * DAY_S) as f64, "ecb").unwrap();
        assert_eq!((ymd(tue.date_unix), tue.per_eur(cur("USD"))), ("2024-04-02".into(), Some(1.0765)));
        // 23:59 on Thursday is still Thursday (the publication hour is not modelled).
        assert_eq!(t.rates_at((thu + 86_340) as f64, "ecb").unwrap().date_unix, thu);
        let first = day("2024-03-27");
        assert!(t.rates_at(first as f64 - 0.5, "ecb").is_none());
        assert_eq!(t.rates_at(first as f64, "ecb").unwrap().date_unix, first);
        assert!(t.rates_at(f64::NAN, "ecb").is_none());
        assert_eq!(t.rates_at(f64::INFINITY, "ecb").unwrap().date_unix, day("2024-04-03"));
        assert!(RateTable::default().rates_at(1e9, "ecb").is_none());
    }

    #[test]
    fn converts_sek_to_usd_through_eur() {
        let r = RateTable::parse_xml(HIST_XML).unwrap().rates_at(1_711_641_600.0, "ecb").unwrap(); // Fri 29 Mar
        let got = r.convert(100.0, cur("SEK"), cur("USD")).unwrap();
        assert!((got - 100.0 * 1.0811 / 11.525).abs() < 1e-12);
        assert!((got - 9.380_477_22).abs() < 1e-8, "{got}"); // by hand: 108.11 / 11.525
    }

    #[test]
    fn merge_replaces_whole_days() {
        let mut t = RateTable::parse_xml(HIST_XML).unwrap();
        // A corrected 3 April (no JPY) and a new 4 April.
        let newer = "Date,USD,SEK,\n2024-04-04,1.0841,11.573,\n2024-04-03,1.0793,11.628,\n";
        t.merge(RateTable::parse_csv(newer).unwrap());
        assert_eq!((t.days(), t.newest_day()), (5, Some(day("2024-04-04"))));
        let wed = t.rates_at(day("2024-04-03") as f64, "ecb").unwrap();
        assert_eq!((wed.per_eur(cur("USD")), wed.knows(cur("JPY"))), (Some(1.0793), false));
        assert_eq!(t.rates_at(day("2024-04-02") as f64, "ecb").unwrap().per_eur(cur("JPY")), Some(163.23));
        let mut e = RateTable::default();
        assert!(e.is_empty());
        e.merge(t.clone());
        assert_eq!(e, t);
    }

    #[test]
    fn to_csv_round_trips() {
        let t = RateTable::parse_xml(HIST_XML).unwrap();
        let csv = t.to_csv();
        assert!(csv.starts_with("Date,JPY,SEK,USD,\n2024-04-03,163.59,11.628,1.0792,\n"), "{csv}");
        assert!(csv.ends_with("2024-03-27,N/A,11.5105,1.0827,\n"), "{csv}");
        assert_eq!(RateTable::parse_csv(&csv).unwrap(), t);
        assert_eq!(RateTable::parse(csv.as_bytes()).unwrap(), t);
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(
            err("Date,USD,SEK,\n2024-01-05,1.0921,11.2535,\n2024-01-04,1.0953,abc,\n"),
            "line 3, column SEK: \"abc\" is not a rate"
        );
        for bad in ["0", "-1.2", "inf", "NaN", "1,2"] {
            let e = err(&format!("Date,USD,SEK,\n2024-01-05,1.0921,{bad}\n"));
            assert!(e.starts_with("line 2"), "{bad}: {e}");
        }
        assert!(err("Date,USD,usd,\n2024-01-05,1,1,\n").starts_with("line 1, column 3: \"usd\""));
        assert!(err("Date,USD,,SEK\n").starts_with("line 1, column 3:"));
        assert!(err("Date,USD,\n2023-02-29,1.07,\n").starts_with("line 2, column Date: \"2023-02-29\""));
        assert!(err("Date, USD\n31 June 2024, 1.07\n").starts_with("line 2, column Date: \"31 June 2024\""));
        assert_eq!(
            err("Date,USD,\n2024-01-05,1.09,\n\n2024-01-05,1.09,\n"),
            "line 4: day 2024-01-05 appears twice"
        );
        assert_eq!(err("Date,USD,\n"), "no rates found");
        assert_eq!(err("Date,USD,\n2024-01-05,N/A,\n"), "no rates found");
        assert_eq!(err("<Envelope><Cube></Cube></Envelope>"), "no rates found");
        assert_eq!(err(""), "no rates found");
        assert!(err("Date,USD,SEK,\n2024-01-05,1.09\n").starts_with("line 2: 2 fields"));
        let xml_bad = HIST_XML.replace("'11.5915'", "'11,5915'");
        assert_eq!(err(&xml_bad), "line 10, currency SEK: \"11,5915\" is not a rate");
        assert!(
            err("<Cube>\n<Cube currency='USD' rate='1.09'/>\n</Cube>").starts_with("line 2, currency USD:")
        );
        assert!(err("<Cube time='2024-01-05'><Cube currency='Usd' rate='1'/></Cube>")
            .starts_with("line 1, currency Usd"));
        assert!(err("<Cube time='2024-01-05'>\n<Cube currency='USD'/></Cube>")
            .starts_with("line 2, currency USD: no rate"));
        let twice = "<Cube>\n<Cube time='2024-01-05'><Cube currency='USD' rate='1'/></Cube>\n<Cube time='2024-01-05'>";
        assert_eq!(err(twice), "line 3: day 2024-01-05 appears twice");
        assert!(err("<Cube><Cube time='2024-01-05'><Cube currency='USD' rate='1'/>").contains("truncated"));
        assert!(err("<Cube time='2024-01-05'><Cube currency='USD rate='1'/>").contains("unterminated"));
    }

    #[test]
    fn bom_crlf_and_date_forms() {
        let with_bom = |s: &str| [&b"\xEF\xBB\xBF"[..], s.as_bytes()].concat();
        let csv = RateTable::parse(&with_bom(&HIST_CSV.replace('\n', "\r\n"))).unwrap();
        assert_eq!(csv, RateTable::parse_csv(HIST_CSV).unwrap());
        assert_eq!(RateTable::parse(&with_bom(HIST_XML)).unwrap(), csv);
        assert_eq!(RateTable::parse(&with_bom(&format!("\n  {DAILY_XML}"))).unwrap().days(), 1);
        assert_eq!(csv_date("5 Jan 2024"), Ok(day("2024-01-05")));
        assert_eq!(csv_date("29 february 2024"), Ok(day("2024-02-29")));
        assert!(csv_date("29 February 2023").is_err() && csv_date("05 Janvier 2024").is_err());
        assert!(RateTable::parse(b"\xFF\xFE<").unwrap_err().starts_with("not UTF-8"));
    }

    #[test]
    fn ymd_inverts_days_from_civil() {
        for (y, m, d) in
            [(1970, 1, 1), (1999, 1, 4), (2000, 2, 29), (2024, 12, 31), (2100, 3, 1), (1969, 12, 31)]
        {
            assert_eq!(ymd(days_from_civil(y, m, d) * DAY_S), format!("{y:04}-{m:02}-{d:02}"));
        }
        for n in (-1000..60_000).step_by(7) {
            assert_eq!(day(&ymd(n * DAY_S)), n * DAY_S);
        }
    }
}
