//! Hourly grid carbon intensity per zone (gCO2e/kWh), parsed from an Electricity Maps style CSV
//! export or JSON response, and its time-weighted mean over a job's window. Pure: bytes in, data
//! out; the agent reads the file and, when no mean is available, falling back to the region's
//! annual factor is the caller's job. A value holds until the zone's next timestamp but never
//! longer than an hour: past that the grid mix is unknown, and stretching the last value across a
//! hole would report a made-up number as if it were measured.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::util::time::parse_date;

/// The longest a value is held when the next one is missing, in seconds.
pub(crate) const MAX_HOLD_S: i64 = 3600;

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct IntensityTable {
    /// zone -> Unix seconds -> gCO2e/kWh
    zones: BTreeMap<String, BTreeMap<i64, f64>>,
}

const TIME_COLUMNS: &[&str] = &["datetime", "Datetime (UTC)", "timestamp", "time"];
const ZONE_COLUMNS: &[&str] = &["zone", "Zone Id", "zone_id"];
// In order of preference: LCA before direct, as LCA is Electricity Maps' default basis.
const INTENSITY_COLUMNS: &[&str] = &[
    "Carbon Intensity gCO₂eq/kWh (LCA)",
    "carbon_intensity",
    "carbon_intensity_g_per_kwh",
    "carbonIntensity",
    "Carbon Intensity gCO₂eq/kWh (direct)",
];
const TIME_FIELDS: &[&str] = &["datetime", "timestamp", "time"];
const ZONE_FIELDS: &[&str] = &["zone", "zone_id"];
const INTENSITY_FIELDS: &[&str] = &["carbonIntensity", "carbon_intensity", "carbon_intensity_g_per_kwh"];

impl IntensityTable {
    /// JSON if the first non-whitespace byte (after an optional UTF-8 BOM) is '{' or '[', else CSV.
    pub(crate) fn parse(bytes: &[u8]) -> Result<IntensityTable, String> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
        match text.trim_start().as_bytes().first() {
            Some(b'{' | b'[') => Self::parse_json(text),
            _ => Self::parse_csv(text),
        }
    }

    pub(crate) fn parse_csv(text: &str) -> Result<IntensityTable, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut records = csv_records(text)?.into_iter();
        let Some((_, header)) = records.next() else {
            return Err("no header row".into());
        };
        let column = |what: &str, names: &[&str]| {
            names
                .iter()
                .find_map(|n| header.iter().position(|h| h.trim().eq_ignore_ascii_case(n)))
                .ok_or_else(|| format!("line 1: no {what} column (expected one of {names:?})"))
        };
        let tc = column("time", TIME_COLUMNS)?;
        let zc = column("zone", ZONE_COLUMNS)?;
        let vc = column("intensity", INTENSITY_COLUMNS)?;
        let mut b = Builder::default();
        for (line, row) in records {
            let at = |c: usize, msg: String| format!("line {line}, column {:?}: {msg}", header[c].trim());
            let cell = |c: usize| {
                row.get(c)
                    .map(|s| s.trim())
                    .ok_or_else(|| at(c, format!("missing (the row has {} fields)", row.len())))
            };
            let ts = parse_time(cell(tc)?).map_err(|e| at(tc, e))?;
            let zone = cell(zc)?;
            if zone.is_empty() {
                return Err(at(zc, "empty".into()));
            }
            let raw = cell(vc)?;
            if raw.is_empty() {
                continue; // unknown, like a JSON null
            }
            let v = raw.parse::<f64>().map_err(|_| at(vc, format!("{raw:?} is not a number")))?;
            let v = check_value(v, &format!("{raw:?}")).map_err(|e| at(vc, e))?;
            b.add(zone, ts, v, format!("line {line}"))?;
        }
        b.finish()
    }

    pub(crate) fn parse_json(text: &str) -> Result<IntensityTable, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let mut b = Builder::default();
        match &doc {
            Value::Object(o) => json_history(&mut b, o, "")?,
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let here = format!("[{i}]");
                    let o = item.as_object().ok_or_else(|| format!("entry {here}: not an object"))?;
                    if o.contains_key("history") {
                        json_history(&mut b, o, &here)?;
                    } else {
                        json_record(&mut b, o, None, &here)?;
                    }
                }
            }
            _ => return Err("expected a JSON object or array".into()),
        }
        b.finish()
    }

    #[cfg(test)]
    pub(crate) fn zones(&self) -> impl Iterator<Item = &str> {
        self.zones.keys().map(String::as_str)
    }

    /// Total number of values over all zones.
    pub(crate) fn points(&self) -> usize {
        self.zones.values().map(BTreeMap::len).sum()
    }

    /// Time-weighted mean intensity over [start_s, end_s) in `zone`. Each value holds from its timestamp until the
    /// next timestamp of that zone, but never longer than MAX_HOLD_S = 3600 (so a hole in the data is not bridged).
    /// None unless the whole window is covered. A zero-length window (start == end) gets the value in force at start.
    pub(crate) fn mean_over(&self, zone: &str, start_s: f64, end_s: f64) -> Option<f64> {
        if !start_s.is_finite() || !end_s.is_finite() || end_s < start_s {
            return None;
        }
        let series = self.zones.get(zone)?;
        // The value in force at start is the last one stamped at or before it.
        let (&first, _) = series.range(..=start_s.floor() as i64).next_back()?;
        let mut points = series.range(first..).peekable();
        let (mut cursor, mut weighted) = (start_s, 0.0);
        while let Some((&ts, &value)) = points.next() {
            let next = points.peek().map_or(i64::MAX, |(&t, _)| t);
            let until = next.min(ts.saturating_add(MAX_HOLD_S)) as f64;
            // Either this value starts after the previous one expired, or (first value) it
            // expired before the window began: a hole either way.
            if ts as f64 > cursor || until <= cursor {
                return None;
            }
            if start_s == end_s {
                return Some(value);
            }
            let hi = until.min(end_s);
            weighted += value * (hi - cursor);
            cursor = hi;
            if cursor >= end_s {
                return Some(weighted / (end_s - start_s));
            }
        }
        None
    }

    #[cfg(test)]
    /// The latest timestamp of `zone` (for staleness), if any.
    pub(crate) fn newest(&self, zone: &str) -> Option<i64> {
        self.zones.get(zone)?.keys().next_back().copied()
    }
}

/// Collects values, remembering where each came from so that a duplicate can name both places.
#[derive(Default)]
struct Builder {
    table: IntensityTable,
    origin: BTreeMap<(String, i64), String>,
}

impl Builder {
    fn add(&mut self, zone: &str, ts: i64, value: f64, here: String) -> Result<(), String> {
        let key = (zone.to_string(), ts);
        if let Some(first) = self.origin.get(&key) {
            return Err(format!("{here}: zone {zone:?} at Unix time {ts} was already given at {first}"));
        }
        self.origin.insert(key, here);
        self.table.zones.entry(zone.to_string()).or_default().insert(ts, value);
        Ok(())
    }

    fn finish(self) -> Result<IntensityTable, String> {
        match self.table.points() {
            0 => Err("no intensity values".into()),
            _ => Ok(self.table),
        }
    }
}

fn check_value(v: f64, shown: &str) -> Result<f64, String> {
    match v {
        _ if !v.is_finite() => Err(format!("{shown} is not finite")),
        _ if v < 0.0 => Err(format!("{shown} is negative")),
        _ => Ok(v),
    }
}

/// An Electricity Maps history object: `{"zone": .., "history": [..]}`.
fn json_history(b: &mut Builder, o: &Map<String, Value>, here: &str) -> Result<(), String> {
    let zone = o.get("zone").and_then(Value::as_str);
    let dot = if here.is_empty() { "" } else { "." };
    let entries = o
        .get("history")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("entry {here}{dot}history: missing or not an array"))?;
    for (j, e) in entries.iter().enumerate() {
        let at = format!("{here}{dot}history[{j}]");
        let e = e.as_object().ok_or_else(|| format!("entry {at}: not an object"))?;
        json_record(b, e, zone, &at)?;
    }
    Ok(())
}

/// One `{"datetime", "carbonIntensity", ["zone"]}` record; `zone` is the enclosing object's, if any.
fn json_record(b: &mut Builder, o: &Map<String, Value>, zone: Option<&str>, at: &str) -> Result<(), String> {
    let err = |field: &str, msg: String| format!("entry {at}, field {field:?}: {msg}");
    let find = |names: &[&'static str]| names.iter().find_map(|&n| o.get(n).map(|v| (n, v)));
    let zone = match (zone, find(ZONE_FIELDS)) {
        (Some(z), _) => z,
        (None, Some((_, Value::String(z)))) if !z.trim().is_empty() => z.trim(),
        (None, Some((f, v))) => return Err(err(f, format!("{v} is not a zone name"))),
        (None, None) => return Err(err("zone", "missing".into())),
    };
    let ts = match find(TIME_FIELDS) {
        Some((f, Value::String(s))) => parse_time(s.trim()).map_err(|e| err(f, e))?,
        Some((f, Value::Number(n))) => {
            n.as_i64().ok_or_else(|| err(f, format!("{n} is not whole Unix seconds")))?
        }
        Some((f, v)) => return Err(err(f, format!("{v} is not a timestamp"))),
        None => return Err(err("datetime", "missing".into())),
    };
    let v = match find(INTENSITY_FIELDS) {
        Some((_, Value::Null)) => return Ok(()), // Electricity Maps' "unknown"
        Some((f, Value::Number(n))) => {
            let v = n.as_f64().ok_or_else(|| err(f, format!("{n} is not a number")))?;
            check_value(v, &n.to_string()).map_err(|e| err(f, e))?
        }
        Some((f, v)) => return Err(err(f, format!("{v} is not a number"))),
        None => return Err(err("carbonIntensity", "missing".into())),
    };
    b.add(zone, ts, v, format!("entry {at}"))
}

/// Splits CSV text into records of fields (RFC 4180 quoting, "" escapes, CRLF or LF), each with
/// the 1-based line it starts on. Blank lines are dropped.
fn csv_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    fn end_record(out: &mut Vec<(usize, Vec<String>)>, start: usize, row: Vec<String>) {
        if !(row.len() == 1 && row[0].trim().is_empty()) {
            out.push((start, row));
        }
    }
    let (mut out, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut line, mut start) = (1, 1);
    // `closed`: the current field was quoted and its closing quote has been seen.
    let (mut in_quotes, mut closed) = (false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => (in_quotes, closed) = (false, true),
                _ => {
                    line += usize::from(c == '\n');
                    field.push(c);
                }
            }
            continue;
        }
        match c {
            ',' => {
                row.push(std::mem::take(&mut field));
                closed = false;
            }
            '\n' => {
                row.push(std::mem::take(&mut field));
                end_record(&mut out, start, std::mem::take(&mut row));
                closed = false;
                line += 1;
                start = line;
            }
            '\r' => {}
            '"' if !closed && field.trim().is_empty() => {
                in_quotes = true;
                field.clear();
            }
            _ if closed && !c.is_whitespace() => {
                return Err(format!("line {line}: text after a closing quote"))
            }
            '"' => return Err(format!("line {line}: a quote inside an unquoted field")),
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!("line {start}: a quoted field is never closed"));
    }
    row.push(field);
    end_record(&mut out, start, row);
    Ok(out)
}

/// Unix seconds from `2024-01-05T13:00:00Z` (optionally `.000`, `+01:00`/`-05:00` or no zone,
/// which means UTC; a space may replace the `T`) or from a plain integer of Unix seconds.
fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a timestamp (expected e.g. 2024-01-05T13:00:00Z or Unix seconds)");
    // `d` is a digit, `T` is 'T' or ' ', anything else itself.
    let shape = |t: &str, pat: &str| {
        t.len() == pat.len()
            && t.bytes().zip(pat.bytes()).all(|(c, p)| match p {
                b'd' => c.is_ascii_digit(),
                b'T' => c == b'T' || c == b' ',
                _ => c == p,
            })
    };
    // Only called on checked digits, so it cannot fail.
    let num = |t: &str| t.bytes().fold(0, |n, c| n * 10 + i64::from(c - b'0'));
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    if !unsigned.is_empty() && unsigned.bytes().all(|c| c.is_ascii_digit()) {
        return s.parse().map_err(|_| bad());
    }
    let (Some(head), Some(mut rest)) = (s.get(..19), s.get(19..)) else { return Err(bad()) };
    if !shape(head, "dddd-dd-ddTdd:dd:dd") {
        return Err(bad());
    }
    let day = parse_date(&head[..10]).map_err(|_| bad())?;
    let (h, m, sec) = (num(&head[11..13]), num(&head[14..16]), num(&head[17..19]));
    if h > 23 || m > 59 || sec > 59 {
        return Err(bad());
    }
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad());
        }
        rest = &frac[n..]; // sub-second precision is meaningless for hourly data
    }
    let offset = match rest.split_at_checked(1) {
        _ if matches!(rest, "" | "Z" | "z") => 0,
        Some((sign @ ("+" | "-"), hm)) if shape(hm, "dd:dd") && num(&hm[..2]) < 24 && num(&hm[3..]) < 60 => {
            let o = num(&hm[..2]) * 3600 + num(&hm[3..]) * 60;
            if sign == "+" {
                o
            } else {
                -o
            }
        }
        _ => return Err(bad()),
    };
    Ok(day + h * 3600 + m * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: &str = "2024-01-05";

    /// Unix seconds of DAY at hh:mm UTC.
    fn at(hh: i64, mm: i64) -> f64 {
        (parse_date(DAY).unwrap() + hh * 3600 + mm * 60) as f64
    }

    /// A one-zone table from ("HH:MM", value) points, via the CSV parser.
    fn table(zone: &str, points: &[(&str, f64)]) -> IntensityTable {
        let mut csv = String::from("datetime,zone,carbon_intensity\n");
        for (hm, v) in points {
            csv += &format!("{DAY} {hm}:00,{zone},{v}\n");
        }
        IntensityTable::parse_csv(&csv).unwrap()
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn spans_two_hours_weighted_by_time() {
        let t = table("DE", &[("13:00", 100.0), ("14:00", 400.0)]);
        // (20 min x 100 + 10 min x 400) / 30 min
        assert!(close(t.mean_over("DE", at(13, 40), at(14, 10)), 200.0));
        assert!(close(t.mean_over("DE", at(13, 10), at(13, 50)), 100.0));
        assert!(close(t.mean_over("DE", at(14, 0), at(15, 0)), 400.0));
        assert_eq!(t.mean_over("DE", at(14, 10), at(13, 40)), None);
    }

    #[test]
    fn holes_edges_and_zero_length_windows() {
        let t = table("DE", &[("13:00", 100.0), ("14:00", 400.0), ("16:00", 50.0)]);
        assert_eq!(t.mean_over("DE", at(14, 30), at(16, 30)), None, "15:00-16:00 is missing");
        assert_eq!(t.mean_over("DE", at(15, 0), at(15, 10)), None);
        assert!(close(t.mean_over("DE", at(16, 0), at(17, 0)), 50.0), "the last value holds an hour");
        assert_eq!(t.mean_over("DE", at(16, 30), at(17, 0) + 1.0), None);
        assert_eq!(t.mean_over("DE", at(13, 0) - 1.0, at(13, 30)), None, "starts before the first value");
        assert_eq!(t.mean_over("DE", at(17, 30), at(18, 0)), None);
        // Zero-length: the value in force at that instant.
        assert_eq!(t.mean_over("DE", at(13, 40), at(13, 40)), Some(100.0));
        assert_eq!(t.mean_over("DE", at(14, 0), at(14, 0)), Some(400.0));
        assert_eq!(t.mean_over("DE", at(15, 0), at(15, 0)), None);
        assert_eq!(t.mean_over("DE", at(12, 0), at(12, 0)), None);
        assert_eq!(t.newest("DE"), Some(at(16, 0) as i64));
        assert_eq!(t.newest("FR"), None);
    }

    #[test]
    fn quarter_hour_values_hold_until_the_next() {
        let t = table("GB", &[("13:00", 100.0), ("13:15", 200.0), ("13:30", 300.0), ("13:45", 400.0)]);
        // (5 x 100 + 15 x 200 + 15 x 300 + 5 x 400) / 40
        assert!(close(t.mean_over("GB", at(13, 10), at(13, 50)), 250.0));
        // Not followed by anything, the last value holds its full hour.
        assert!(close(t.mean_over("GB", at(13, 50), at(14, 10)), 400.0));
    }

    #[test]
    fn zones_kept_apart() {
        let csv = "time,zone_id,carbon_intensity_g_per_kwh\n\
                   2024-01-05T13:00:00Z,DE,300\n2024-01-05T13:00:00Z,FR,50\n2024-01-05T14:00:00Z,FR,70\n";
        let t = IntensityTable::parse_csv(csv).unwrap();
        assert_eq!(t.zones().collect::<Vec<_>>(), ["DE", "FR"]);
        assert_eq!(t.points(), 3);
        assert!(close(t.mean_over("DE", at(13, 0), at(13, 30)), 300.0));
        assert!(close(t.mean_over("FR", at(13, 30), at(14, 30)), 60.0));
        assert_eq!(t.mean_over("DE", at(13, 30), at(14, 30)), None);
        assert_eq!(t.mean_over("PL", at(13, 0), at(13, 30)), None);
    }

    const EM_HEADER: &str = "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),\
        Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,Data Estimated,\
        Data Estimation Method";

    #[test]
    fn electricity_maps_csv_prefers_lca_and_handles_quotes() {
        let text = format!(
            "\u{feff}{EM_HEADER}\r\n\
             2024-01-05 13:00:00,Sweden,SE3,SE-SE3,12.5,35.4,98.1,70.2,svk.se,false,\r\n\
             2024-01-05 14:00:00,\"Sweden, \"\"south\"\"\",SE3,SE-SE3,10,30,98.1,70.2,\"a,b\",true,\"x\"\r\n\r\n"
        );
        let t = IntensityTable::parse(text.as_bytes()).unwrap();
        assert_eq!(t.points(), 2);
        assert_eq!(t.mean_over("SE-SE3", at(13, 0), at(13, 0)), Some(35.4));
        assert_eq!(t.mean_over("SE-SE3", at(14, 0), at(14, 0)), Some(30.0));
        // Only the direct basis present: it is used.
        let direct =
            "Datetime (UTC),Zone Id,Carbon Intensity gCO₂eq/kWh (direct)\n2024-01-05 13:00:00,SE,12.5";
        let direct = IntensityTable::parse_csv(direct).unwrap();
        assert_eq!(direct.mean_over("SE", at(13, 0), at(13, 0)), Some(12.5));
        let recs = csv_records("a,\"multi\nline\",c\nd").unwrap();
        assert_eq!(
            recs,
            [(1, vec!["a".into(), "multi\nline".into(), "c".into()]), (3, vec!["d".to_string()])]
        );
    }

    #[test]
    fn json_shapes_give_the_same_table() {
        let entry = |hh: u32, v: &str| {
            format!(
                r#"{{"datetime": "2024-01-05T{hh}:00:00.000Z", "carbonIntensity": {v}, "isEstimated": false}}"#
            )
        };
        let history =
            |entries: &[String]| format!(r#"{{"zone": "SE-SE3", "history": [{}]}}"#, entries.join(","));
        let a = history(&[entry(13, "35"), entry(14, "40")]);
        let b = format!("[{}, {}]", history(&[entry(13, "35")]), history(&[entry(14, "40.0")]));
        let c = r#"  [{"datetime": 1704459600, "zone": "SE-SE3", "carbon_intensity": 35},
            {"datetime": "2024-01-05T15:00:00+01:00", "zone": "SE-SE3", "carbonIntensity": 40.0}]"#;
        let t = IntensityTable::parse(a.as_bytes()).unwrap();
        assert_eq!(t.points(), 2);
        assert_eq!(IntensityTable::parse(b.as_bytes()).as_ref(), Ok(&t));
        assert_eq!(IntensityTable::parse(c.as_bytes()).as_ref(), Ok(&t));
        assert!(close(t.mean_over("SE-SE3", at(13, 30), at(14, 30)), 37.5));
    }

    #[test]
    fn null_intensity_is_skipped() {
        let j = r#"{"zone": "DE", "history": [{"datetime": "2024-01-05T13:00:00Z", "carbonIntensity": null},
            {"datetime": "2024-01-05T14:00:00Z", "carbonIntensity": 200}]}"#;
        let t = IntensityTable::parse_json(j).unwrap();
        assert_eq!(t.points(), 1);
        assert_eq!(t.mean_over("DE", at(13, 30), at(14, 30)), None);
        assert_eq!(t.mean_over("DE", at(14, 0), at(14, 30)), Some(200.0));
        let csv = "datetime,zone,carbon_intensity\n2024-01-05T13:00:00Z,DE,\n2024-01-05T14:00:00Z,DE,200\n";
        assert_eq!(IntensityTable::parse_csv(csv).unwrap(), t, "an empty CSV cell is the same");
    }

    #[test]
    fn timestamps() {
        let good = "2024-01-05T13:00:00Z|2024-01-05T13:00:00.000Z|2024-01-05T13:00:00.5+00:00|\
                    2024-01-05T14:00:00+01:00|2024-01-05T08:00:00-05:00|2024-01-05 13:00:00|1704459600";
        for s in good.split('|') {
            assert_eq!(parse_time(s), Ok(at(13, 0) as i64), "{s}");
        }
        let new_year = parse_time("2024-01-01T00:30:00+01:00");
        assert_eq!(new_year, Ok(parse_date("2023-12-31").unwrap() + 23 * 3600 + 1800));
        let bad = "|2024-13-05T13:00:00Z|2024-02-30T13:00:00Z|2024-01-05T24:00:00Z|2024-01-05T13:60:00Z|\
                   2024-01-05T13:00Z|2024-01-05X13:00:00Z|2024-01-05T13:00:00+1|2024-01-05T13:00:00+0100|\
                   2024-01-05T13:00:00.Z|2024-01-05T13:00:00 UTC|+024-01-05T13:00:00Z|12.5|2024-01-05T13:00:00Ż";
        for s in bad.split('|') {
            let e = parse_time(s).unwrap_err();
            assert!(e.starts_with(&format!("{s:?} is not a timestamp")), "{e}");
        }
    }

    #[test]
    fn csv_errors_name_line_and_column() {
        let csv = |rows: &str| IntensityTable::parse_csv(&format!("{EM_HEADER}\n{rows}")).unwrap_err();
        let ok = "2024-01-05 13:00:00,Sweden,SE3,SE-SE3,12.5,35.4,98.1,70.2,svk.se,false,\n";
        let lca = INTENSITY_COLUMNS[0];
        for (from, to, column, msg) in [
            ("35.4", "x", lca, r#""x" is not a number"#),
            ("35.4", "-1", lca, r#""-1" is negative"#),
            ("35.4", "NaN", lca, r#""NaN" is not finite"#),
            ("13:00:00", "13h", "Datetime (UTC)", r#""2024-01-05 13h" is not a timestamp"#),
            ("SE-SE3", " ", "Zone Id", "empty"),
            (",SE-SE3,12.5,35.4,98.1,70.2,svk.se,false,", "", "Zone Id", "missing (the row has 3 fields)"),
        ] {
            let e = csv(&ok.replace(from, to));
            assert!(e.starts_with(&format!("line 2, column {column:?}: {msg}")), "{e}");
        }
        let dup = csv(&format!("{ok}\n{}", ok.replace("13:00:00", "14:00:00+01:00")));
        assert_eq!(dup, r#"line 4: zone "SE-SE3" at Unix time 1704459600 was already given at line 2"#);
        assert_eq!(csv(""), "no intensity values");
        assert_eq!(csv("\"a\"b\n"), "line 2: text after a closing quote");
        assert_eq!(csv("a\"b\n"), "line 2: a quote inside an unquoted field");
        assert_eq!(csv("\"a,\nb\n"), "line 2: a quoted field is never closed");
        assert_eq!(IntensityTable::parse_csv(""), Err("no header row".into()));
        for (header, which) in
            [("zone,carbonIntensity", "time"), ("time,carbonIntensity", "zone"), ("time,zone", "intensity")]
        {
            let e = IntensityTable::parse_csv(header).unwrap_err();
            assert!(e.starts_with(&format!("line 1: no {which} column (expected one of [")), "{e}");
        }
    }

    #[test]
    fn json_errors_name_entry_and_field() {
        let err = |j: &str| IntensityTable::parse_json(j).unwrap_err();
        // Entry [1] with the given fields (raw JSON; "" leaves the field out), after a good entry [0].
        let rec = |t: &str, z: &str, v: &str| {
            let fields = [("datetime", t), ("zone", z), ("carbonIntensity", v)];
            let body: Vec<_> =
                fields.iter().filter(|f| !f.1.is_empty()).map(|(k, v)| format!("{k:?}: {v}")).collect();
            err(&format!(
                r#"[{{"datetime": 1704459600, "zone": "DE", "carbonIntensity": 1}}, {{{}}}]"#,
                body.join(",")
            ))
        };
        for (t, z, v, want) in [
            ("1", r#""DE""#, r#""x""#, r#""carbonIntensity": "x" is not a number"#),
            ("1", r#""DE""#, "-2", r#""carbonIntensity": -2 is negative"#),
            ("1", r#""DE""#, "", r#""carbonIntensity": missing"#),
            ("1", "", "2", r#""zone": missing"#),
            ("1", "5", "2", r#""zone": 5 is not a zone name"#),
            ("", r#""DE""#, "2", r#""datetime": missing"#),
            ("1.5", r#""DE""#, "2", r#""datetime": 1.5 is not whole Unix seconds"#),
            (r#""yesterday""#, r#""DE""#, "2", r#""datetime": "yesterday" is not a timestamp"#),
        ] {
            let e = rec(t, z, v);
            assert!(e.starts_with(&format!("entry [1], field {want}")), "{e}");
        }
        assert_eq!(
            rec(r#""2024-01-05T14:00:00+01:00""#, r#""DE""#, "2"),
            r#"entry [1]: zone "DE" at Unix time 1704459600 was already given at entry [0]"#
        );
        let hist =
            r#"{"zone": "DE", "history": [{"datetime": 1, "carbonIntensity": 1}, {"datetime": true}]}"#;
        assert_eq!(err(hist), r#"entry history[1], field "datetime": true is not a timestamp"#);
        assert_eq!(
            err(&format!("[{hist}]")),
            r#"entry [0].history[1], field "datetime": true is not a timestamp"#
        );
        assert_eq!(err(r#"{"zone": "DE"}"#), "entry history: missing or not an array");
        assert_eq!(err("[1]"), "entry [0]: not an object");
        assert_eq!(err(r#"{"zone": "DE", "history": []}"#), "no intensity values");
        assert_eq!(err("3"), "expected a JSON object or array");
        assert!(err("[").starts_with("not valid JSON"));
        assert!(IntensityTable::parse(b"\xff").unwrap_err().starts_with("not UTF-8"));
    }
}
