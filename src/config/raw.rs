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
    pub host: Option<RawHost>,
    pub results: Option<RawResults>,
    pub schedule: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub target_retention_days: Option<f64>,
    pub shutdown_grace_seconds: Option<f64>,
    pub remote_write: Option<RawRemoteWrite>,
    pub currencies: Option<RawCurrencies>,
    /// Whether the compiled-in regions are kept beside the file's own (default true).
    pub use_default_regions: Option<bool>,
    pub forecast: Option<RawForecast>,
    pub predictions: Option<RawPredictions>,
    pub regions: Option<BTreeMap<String, RawRegion>>,
    pub energy: Option<RawEnergy>,
    pub carbon: Option<RawCarbon>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnergy {
    pub sources: Option<Vec<String>>,
    pub wait_seconds: Option<f64>,
    pub query: Option<RawQuery>,
    pub rapl: Option<RawRapl>,
    pub idle_baseline: Option<RawBaseline>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuery {
    pub url: String,
    pub expr: String,
    pub step_seconds: Option<f64>,
    pub timeout_seconds: Option<f64>,
    pub settle_seconds: Option<f64>,
    pub bearer_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRapl {
    pub root: Option<PathBuf>,
    pub interval_seconds: Option<f64>,
    pub max_gap_seconds: Option<f64>,
    pub ring_readings: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBaseline {
    pub from_scenarios: Option<bool>,
    pub watts: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEcb {
    pub file: Option<PathBuf>,
    pub url: Option<String>,
    pub fetch_every_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCarbon {
    pub intensity_file: Option<PathBuf>,
    pub embodied: Option<RawEmbodied>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmbodied {
    pub kg_co2e: f64,
    pub lifespan_years: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForecast {
    pub enabled: Option<bool>,
    pub bucket_seconds: Option<u64>,
    pub period: Option<usize>,
    pub history_days: Option<f64>,
    pub fit_days: Option<f64>,
    pub sigma2: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPredictions {
    pub enabled: Option<bool>,
    pub min_jobs: Option<usize>,
    pub max_jobs: Option<usize>,
    pub whatif_encodes: Option<Vec<RawEncode>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEncode {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub bitrate_kbps: f64,
    pub streams: Option<u32>,
    pub encoder: Option<String>,
    pub preset: Option<String>,
    pub duration_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub name: Option<String>,
    pub region: Option<String>,
    pub cores_without_cpu_samples: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResults {
    pub dirs: Option<Vec<PathBuf>>,
    pub pattern: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemoteWrite {
    pub url: Option<String>,
    pub timeout_seconds: Option<f64>,
    pub max_samples_per_request: Option<usize>,
    pub max_attempts: Option<u32>,
    pub min_backoff_seconds: Option<f64>,
    pub max_backoff_seconds: Option<f64>,
    pub queue_max_bytes: Option<u64>,
    pub extra_labels: Option<BTreeMap<String, String>>,
    pub auth: Option<RawAuth>,
    pub tls: Option<RawTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub bearer_token_file: Option<PathBuf>,
    pub basic: Option<RawBasic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasic {
    pub username: String,
    pub password_file: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCurrencies {
    pub reporting: Option<Vec<String>>,
    pub rates: Option<RawRates>,
    pub ecb: Option<RawEcb>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRates {
    pub date: String,
    pub source: String,
    pub per_eur: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    pub location: Option<String>,
    pub currency: String,
    pub electricity_price_per_kwh: f64,
    pub electricity_price_source: Option<String>,
    pub compute_price_per_core_hour: f64,
    pub compute_price_source: Option<String>,
    pub grid_intensity_g_per_kwh: f64,
    pub grid_intensity_source: String,
    pub grid_intensity_year: u32,
    pub intensity_zone: Option<String>,
}

/// The top-level sections, in the order the example file gives them; each is a field of
/// [`RawConfig`] and an arm of [`parse_sections`] (a test holds the three together).
pub(super) const SECTIONS: [&str; 14] = [
    "host",
    "results",
    "schedule",
    "state_dir",
    "target_retention_days",
    "shutdown_grace_seconds",
    "remote_write",
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
    let (raw, problems, _) = parse_sections(text);
    if problems.is_empty() {
        Ok(raw)
    } else {
        Err(ConfigErrors { problems })
    }
}

/// Reads each top-level section (and each region) on its own, so one bad section does not hide
/// the problems of the others. Returns the config, the problems, and the sections that failed.
pub(super) fn parse_sections(text: &str) -> (RawConfig, Vec<String>, Vec<String>) {
    use serde_yaml::Value;
    let mut raw = RawConfig::default();
    let mut problems = Vec::new();
    let mut failed = Vec::new();
    let root: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => return (raw, vec![format!("not valid YAML: {e}")], vec![String::new()]),
    };
    let map = match root {
        Value::Null => return (raw, problems, failed),
        Value::Mapping(m) => m,
        _ => return (raw, vec!["top level: expected a mapping of sections".into()], vec![String::new()]),
    };
    fn section<T: serde::de::DeserializeOwned>(
        name: &str,
        v: Value,
        problems: &mut Vec<String>,
        failed: &mut Vec<String>,
    ) -> Option<T> {
        match serde_yaml::from_value(v) {
            Ok(t) => Some(t),
            Err(e) => {
                problems.push(format!("{name}: {e}"));
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
            "remote_write" => raw.remote_write = section(&key, v, p, f),
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
    (raw, problems, failed)
}

pub(super) fn defaults() -> RawConfig {
    parse(EXAMPLE_CONFIG).expect("the embedded example configuration parses (tested)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_is_read_and_no_other() {
        // Each listed section is read into its field: a value of the wrong type is reported as
        // that section's problem, never as an unknown field.
        for name in SECTIONS {
            let (_, problems, failed) = parse_sections(&format!("{name}: [1, 2]\n"));
            assert!(!problems.iter().any(|p| p.contains("unknown field")), "{name}: {problems:?}");
            assert_eq!(failed, vec![name.to_string()], "{name}");
        }
        // The struct has one field per section: serde names them all in its error.
        let fields = serde_yaml::from_str::<RawConfig>("nope: 1").unwrap_err().to_string();
        for name in SECTIONS {
            assert!(fields.contains(&format!("`{name}`")), "{name} is not a field of RawConfig: {fields}");
        }
        let (_, problems, _) = parse_sections("nope: 1\n");
        assert_eq!(problems, vec![format!("nope: unknown field, expected one of {}", SECTIONS.join(", "))]);
    }
}
