//! The YAML file as written: serde types with `deny_unknown_fields`, read section by section so
//! that one bad section does not hide the problems of the others.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigErrors, EXAMPLE_CONFIG};

/// The YAML file as written. Every field is optional in the file; defaults are applied in
/// [`RawConfig::validate`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub(crate) host: Option<RawHost>,
    pub(crate) results: Option<RawResults>,
    pub(crate) schedule: Option<String>,
    pub(crate) state_dir: Option<PathBuf>,
    pub(crate) target_retention_days: Option<f64>,
    pub(crate) shutdown_grace_seconds: Option<f64>,
    pub(crate) remote_write: Option<RawDestinations>,
    pub(crate) extra_labels: Option<BTreeMap<String, String>>,
    pub(crate) currencies: Option<RawCurrencies>,
    /// Whether the compiled-in regions are kept beside the file's own (default true).
    pub(crate) use_default_regions: Option<bool>,
    pub(crate) forecast: Option<RawForecast>,
    pub(crate) predictions: Option<RawPredictions>,
    pub(crate) regions: Option<BTreeMap<String, RawRegion>>,
    pub(crate) energy: Option<RawEnergy>,
    pub(crate) carbon: Option<RawCarbon>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnergy {
    pub(crate) sources: Option<Vec<String>>,
    pub(crate) wait_seconds: Option<f64>,
    pub(crate) query: Option<RawQuery>,
    pub(crate) rapl: Option<RawRapl>,
    pub(crate) idle_baseline: Option<RawBaseline>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuery {
    pub(crate) url: String,
    pub(crate) expr: String,
    pub(crate) step_seconds: Option<f64>,
    pub(crate) timeout_seconds: Option<f64>,
    pub(crate) settle_seconds: Option<f64>,
    pub(crate) bearer_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRapl {
    pub(crate) root: Option<PathBuf>,
    pub(crate) interval_seconds: Option<f64>,
    pub(crate) max_gap_seconds: Option<f64>,
    pub(crate) ring_readings: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBaseline {
    pub(crate) from_scenarios: Option<bool>,
    pub(crate) watts: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEcb {
    pub(crate) file: Option<PathBuf>,
    pub(crate) url: Option<String>,
    pub(crate) fetch_every_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCarbon {
    pub(crate) intensity_file: Option<PathBuf>,
    pub(crate) embodied: Option<RawEmbodied>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmbodied {
    pub(crate) kg_co2e: f64,
    pub(crate) lifespan_years: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawForecast {
    pub(crate) enabled: Option<bool>,
    pub(crate) bucket_seconds: Option<u64>,
    pub(crate) period: Option<usize>,
    pub(crate) long_period: Option<usize>,
    pub(crate) history_days: Option<f64>,
    pub(crate) fit_days: Option<f64>,
    pub(crate) sigma2: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPredictions {
    pub(crate) enabled: Option<bool>,
    pub(crate) min_jobs: Option<usize>,
    pub(crate) max_jobs: Option<usize>,
    pub(crate) estimate_energy: Option<bool>,
    pub(crate) whatif_encodes: Option<Vec<RawEncode>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEncode {
    pub(crate) name: String,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps: f64,
    pub(crate) bitrate_kbps: f64,
    pub(crate) streams: Option<u32>,
    pub(crate) encoder: Option<String>,
    pub(crate) preset: Option<String>,
    pub(crate) duration_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHost {
    pub(crate) name: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) cores_without_cpu_samples: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResults {
    pub(crate) dirs: Option<Vec<PathBuf>>,
    pub(crate) pattern: Option<String>,
    pub(crate) max_file_bytes: Option<u64>,
    pub(crate) max_label_values: Option<u64>,
}

/// `remote_write`: one destination (a mapping) or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawDestinations {
    One(Box<RawRemoteWrite>),
    List(Vec<RawRemoteWrite>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRemoteWrite {
    pub(crate) name: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) headers: Option<BTreeMap<String, String>>,
    pub(crate) timeout_seconds: Option<f64>,
    pub(crate) max_samples_per_request: Option<usize>,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) min_backoff_seconds: Option<f64>,
    pub(crate) max_backoff_seconds: Option<f64>,
    pub(crate) queue_max_bytes: Option<u64>,
    pub(crate) send_metadata: Option<bool>,
    pub(crate) extra_labels: Option<BTreeMap<String, String>>,
    pub(crate) auth: Option<RawAuth>,
    pub(crate) tls: Option<RawTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    pub(crate) bearer_token_file: Option<PathBuf>,
    pub(crate) basic: Option<RawBasic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasic {
    pub(crate) username: String,
    pub(crate) password_file: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) cert_file: Option<PathBuf>,
    pub(crate) key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCurrencies {
    pub(crate) reporting: Option<Vec<String>>,
    pub(crate) rates: Option<RawRates>,
    pub(crate) ecb: Option<RawEcb>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRates {
    pub(crate) date: String,
    pub(crate) source: String,
    pub(crate) per_eur: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegion {
    pub(crate) location: Option<String>,
    pub(crate) currency: String,
    pub(crate) electricity_price_per_kwh: f64,
    // The two price sources are documentation in the file: accepted, not pushed.
    #[allow(dead_code)]
    pub(crate) electricity_price_source: Option<String>,
    pub(crate) compute_price_per_core_hour: f64,
    #[allow(dead_code)]
    pub(crate) compute_price_source: Option<String>,
    pub(crate) grid_intensity_g_per_kwh: f64,
    pub(crate) grid_intensity_source: String,
    pub(crate) grid_intensity_year: u32,
    pub(crate) intensity_zone: Option<String>,
}

/// The top-level sections, in the order the example file gives them; each is a field of
/// [`RawConfig`] and an arm of [`parse_sections`] (a test holds the three together).
pub(super) const SECTIONS: [&str; 15] = [
    "host",
    "results",
    "schedule",
    "state_dir",
    "target_retention_days",
    "shutdown_grace_seconds",
    "remote_write",
    "extra_labels",
    "currencies",
    "use_default_regions",
    "regions",
    "forecast",
    "predictions",
    "energy",
    "carbon",
];

/// Parses YAML into a [`RawConfig`], failing on the first problem (for tests and defaults).
pub fn parse(text: &str) -> Result<RawConfig, ConfigErrors> {
    let (raw, problems, _) = parse_sections(text).map_err(|p| ConfigErrors { problems: vec![p] })?;
    if problems.is_empty() {
        Ok(raw)
    } else {
        Err(ConfigErrors { problems })
    }
}

/// Most problems reported for one section: each is found by reading the section again without
/// the fields already found wrong.
const MAX_SECTION_PROBLEMS: usize = 20;

/// Deserialises `v`, or lists every field that is wrong in it (its path, and why), not only the
/// first: each wrong field is taken out and the rest read again. What only follows from taking a
/// field out (it is then missing) is not reported.
fn field_problems<T: serde::de::DeserializeOwned>(
    mut v: serde_yaml::Value,
) -> Result<T, Vec<(String, String)>> {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    for _ in 0..MAX_SECTION_PROBLEMS {
        let e = match serde_path_to_error::deserialize::<_, T>(v.clone()) {
            Ok(t) if found.is_empty() => return Ok(t),
            Ok(_) => return Err(found),
            Err(e) => e,
        };
        let mut path: Vec<String> = e.path().iter().map(segment).collect::<Option<_>>().unwrap_or_default();
        let why = e.into_inner().to_string();
        // An unknown field is reported at its parent; the field itself is what goes.
        let unknown =
            why.strip_prefix("unknown field `").and_then(|r| r.split('`').next()).map(str::to_string);
        if let Some(u) = &unknown {
            if path.last() != Some(u) {
                path.push(u.clone());
            }
        }
        let missing = why.strip_prefix("missing field `").and_then(|r| r.split('`').next());
        if let Some(m) = missing {
            let mut full = path.clone();
            full.push(m.to_string());
            if removed.contains(&join_path(&full)) {
                return Err(found);
            }
        }
        let shown = if unknown.is_some() { &path[..path.len() - 1] } else { &path[..] };
        found.push((join_path(shown), why));
        // Only a field is taken out: taking an item out of a list would shift the indices of
        // the ones after it.
        let is_item = path.last().is_some_and(|l| l.starts_with('['));
        if path.is_empty() || is_item || !remove_at(&mut v, &path) {
            return Err(found);
        }
        removed.push(join_path(&path));
    }
    Err(found)
}

/// `dirs`, `[1]` → `dirs[1]`; `auth`, `bearer_token` → `auth.bearer_token`.
fn join_path(path: &[String]) -> String {
    let mut out = String::new();
    for p in path {
        if !out.is_empty() && !p.starts_with('[') {
            out.push('.');
        }
        out.push_str(p);
    }
    out
}

/// One step of a path, as the problems name it: a field, or an index in brackets.
fn segment(s: &serde_path_to_error::Segment) -> Option<String> {
    use serde_path_to_error::Segment;
    match s {
        Segment::Map { key } => Some(key.clone()),
        Segment::Seq { index } => Some(format!("[{index}]")),
        Segment::Enum { variant } => Some(variant.clone()),
        Segment::Unknown => None,
    }
}

/// Takes the value at `path` out of `v`; false if there is none.
fn remove_at(v: &mut serde_yaml::Value, path: &[String]) -> bool {
    use serde_yaml::Value;
    let Some((last, parents)) = path.split_last() else { return false };
    // A tag (`!name value`) is looked through.
    fn untagged(v: &mut Value) -> &mut Value {
        match v {
            Value::Tagged(t) => untagged(&mut t.value),
            v => v,
        }
    }
    let mut at = untagged(v);
    for p in parents {
        let next = match (at, p.strip_prefix('[').and_then(|i| i.strip_suffix(']'))) {
            (Value::Sequence(s), Some(i)) => i.parse::<usize>().ok().and_then(|i| s.get_mut(i)),
            (Value::Mapping(m), _) => m.get_mut(p.as_str()),
            _ => None,
        };
        match next {
            Some(n) => at = untagged(n),
            None => return false,
        }
    }
    match (at, last.strip_prefix('[').and_then(|i| i.strip_suffix(']'))) {
        (Value::Sequence(s), Some(i)) => match i.parse::<usize>() {
            Ok(i) if i < s.len() => {
                s.remove(i);
                true
            }
            _ => false,
        },
        (Value::Mapping(m), _) => m.remove(last.as_str()).is_some(),
        _ => false,
    }
}

/// Reads each top-level section (and each region) on its own, so one bad section does not hide
/// the problems of the others. Returns the config, the problems, and the sections that failed.
pub(super) fn parse_sections(text: &str) -> Result<(RawConfig, Vec<String>, Vec<String>), String> {
    use serde_yaml::Value;
    let mut raw = RawConfig::default();
    let mut problems = Vec::new();
    let mut failed = Vec::new();
    if let Some(line) = nested_deeper_than(text, MAX_FLOW_DEPTH) {
        return Err(format!("not read: brackets nest deeper than {MAX_FLOW_DEPTH} levels (line {line})"));
    }
    let root: Value = serde_yaml::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    let map = match root {
        Value::Null => return Ok((raw, problems, failed)),
        Value::Mapping(m) => m,
        _ => return Err("top level: expected a mapping of sections".into()),
    };
    fn section<T: serde::de::DeserializeOwned>(
        name: &str,
        v: Value,
        problems: &mut Vec<String>,
        failed: &mut Vec<String>,
    ) -> Option<T> {
        let found = field_problems::<T>(v);
        match found {
            Ok(t) => Some(t),
            Err(found) => {
                for (path, why) in found {
                    let at = if path.is_empty() { name.to_string() } else { format!("{name}.{path}") };
                    problems.push(format!("{at}: {why}"));
                }
                failed.push(name.to_string());
                None
            }
        }
    }
    for (k, v) in map {
        let Some(key) = k.as_str().map(str::to_string) else {
            problems.push(format!("top level: section names are strings, got {k:?}"));
            continue;
        };
        let (p, f) = (&mut problems, &mut failed);
        match key.as_str() {
            "host" => raw.host = section(&key, v, p, f),
            "results" => raw.results = section(&key, v, p, f),
            "schedule" => raw.schedule = section(&key, v, p, f),
            "state_dir" => raw.state_dir = section(&key, v, p, f),
            "target_retention_days" => raw.target_retention_days = section(&key, v, p, f),
            "shutdown_grace_seconds" => raw.shutdown_grace_seconds = section(&key, v, p, f),
            // A list is read entry by entry, so each entry's problem names its index.
            "remote_write" => match v {
                Value::Sequence(entries) => {
                    let mut list = Vec::with_capacity(entries.len());
                    for (i, e) in entries.into_iter().enumerate() {
                        list.push(section(&format!("remote_write[{i}]"), e, p, f).unwrap_or_default());
                    }
                    raw.remote_write = Some(RawDestinations::List(list));
                }
                v => raw.remote_write = section(&key, v, p, f).map(|e| RawDestinations::One(Box::new(e))),
            },
            "extra_labels" => raw.extra_labels = section(&key, v, p, f),
            "currencies" => raw.currencies = section(&key, v, p, f),
            "use_default_regions" => raw.use_default_regions = section(&key, v, p, f),
            "forecast" => raw.forecast = section(&key, v, p, f),
            "predictions" => raw.predictions = section(&key, v, p, f),
            "energy" => raw.energy = section(&key, v, p, f),
            "carbon" => raw.carbon = section(&key, v, p, f),
            "regions" => {
                let Some(regions) = section::<BTreeMap<String, Value>>(&key, v, p, f) else { continue };
                let mut out = BTreeMap::new();
                for (name, rv) in regions {
                    if let Some(r) = section(&format!("regions.{name}"), rv, p, f) {
                        out.insert(name, r);
                    }
                }
                raw.regions = Some(out);
            }
            other => {
                problems.push(format!("{other}: unknown field, expected one of {}", SECTIONS.join(", ")))
            }
        }
    }
    Ok((raw, problems, failed))
}

pub(super) fn defaults() -> RawConfig {
    parse(EXAMPLE_CONFIG).expect("the embedded example configuration parses (tested)")
}

/// Deepest `[`/`{` nesting a configuration may have; a real one needs 4. The YAML parser takes
/// time quadratic in the depth of what it refuses (38 s for 100,000 `[`), so deeper text is
/// refused before it is parsed.
const MAX_FLOW_DEPTH: usize = 64;

/// The line where `text`'s brackets first nest deeper than `max`. Every bracket counts, in
/// quotes and comments too: telling those apart as YAML does is the parser's work, and a
/// configuration has no reason to open 64 brackets anywhere.
fn nested_deeper_than(text: &str, max: usize) -> Option<usize> {
    let (mut depth, mut line) = (0usize, 1);
    for c in text.bytes() {
        match c {
            b'\n' => line += 1,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_is_read_and_no_other() {
        // Each listed section is read into its field: a value of the wrong type is reported as
        // that section's problem, never as an unknown field.
        for name in SECTIONS {
            let (_, problems, failed) = parse_sections(&format!("{name}: [1, 2]\n")).unwrap();
            assert!(!problems.iter().any(|p| p.contains("unknown field")), "{name}: {problems:?}");
            if name == "remote_write" {
                // A list of destinations, each entry read on its own.
                assert_eq!(failed, ["remote_write[0]", "remote_write[1]"]);
            } else {
                assert_eq!(failed, vec![name.to_string()], "{name}");
            }
        }
        // The struct has one field per section: serde names them all in its error.
        let fields = serde_yaml::from_str::<RawConfig>("nope: 1").unwrap_err().to_string();
        for name in SECTIONS {
            assert!(fields.contains(&format!("`{name}`")), "{name} is not a field of RawConfig: {fields}");
        }
        let (_, problems, _) = parse_sections("nope: 1\n").unwrap();
        assert_eq!(problems, vec![format!("nope: unknown field, expected one of {}", SECTIONS.join(", "))]);
    }

    #[test]
    fn deep_brackets_are_refused_before_parsing_wherever_they_are() {
        let deep = format!("host: {}", "[".repeat(100_000));
        let t = std::time::Instant::now();
        let e = parse_sections(&deep).err().unwrap();
        assert_eq!(e, "not read: brackets nest deeper than 64 levels (line 1)");
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        // A quote that YAML reads as plain text hides nothing.
        assert_eq!(nested_deeper_than(&format!("host: [x ', {}", "[".repeat(100)), 64), Some(1));
        let fine = format!("a: \"{}\" # {}\nc: [[[1]]]\n", "[]".repeat(50), "{".repeat(20));
        assert_eq!(nested_deeper_than(&fine, 64), None);
        assert_eq!(nested_deeper_than(&format!("x:\n  y: {}", "{a: ".repeat(65)), 64), Some(2));
    }
}
