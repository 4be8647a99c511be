//! Configuration: the YAML file as written (`RawConfig`) and the checked form the agent runs on
//! (`Config`).
//!
//! Loading is two-stage, as in ripgrep's low-level/high-level args: serde reads the YAML with
//! `deny_unknown_fields`, then [`RawConfig::validate`] checks every field and collects *every*
//! problem (each naming its field path) instead of stopping at the first. Nothing outside this
//! module sees a raw string where a parsed value belongs.
//!
//! The region pricing table and the exchange rates default to the ones in
//! `config/costpush.example.yml`, which is compiled into the binary so the shipped defaults and the
//! documented example can never drift apart. Regions given in a user's file are added to (or
//! replace same-named) defaults.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::{Currency, Embodied, EnergyMethod, Rates, RegionPricing};

/// The example configuration, embedded: its `regions` and `currencies` are the defaults.
pub const EXAMPLE_CONFIG: &str = include_str!("../../config/costpush.example.yml");

/// Default cron schedule: every 30 seconds (six fields, the first is seconds).
pub const DEFAULT_SCHEDULE: &str = "*/30 * * * * *";
/// Default results-file pattern.
pub const DEFAULT_PATTERN: &str = "test_results_*.json";

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

/// A secret read from a file. Its `Debug` never shows the value, so configs can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// PEM bytes of an extra trusted CA.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM bytes of the client certificate chain followed by its private key.
    pub identity_pem: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct RemoteWrite {
    pub url: String,
    pub timeout: std::time::Duration,
    pub max_samples_per_request: usize,
    /// Attempts per batch in `once` (the daemon retries until delivered).
    pub max_attempts: u32,
    pub min_backoff: std::time::Duration,
    pub max_backoff: std::time::Duration,
    /// Cap on the queue's files; past it the oldest batches are dropped.
    pub queue_max_bytes: u64,
    pub extra_labels: BTreeMap<String, String>,
    pub auth: Auth,
    pub tls: Tls,
}

/// The checked configuration the agent runs on.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub region: String,
    pub cores_without_cpu_samples: f64,
    pub results_dirs: Vec<PathBuf>,
    pub pattern: glob::Pattern,
    pub schedule: String,
    pub state_dir: PathBuf,
    pub target_retention: std::time::Duration,
    /// How long shutdown may take: a running cycle and a request on the wire get this long.
    pub shutdown_grace: std::time::Duration,
    pub remote_write: RemoteWrite,
    pub reporting: Vec<Currency>,
    pub rates: Rates,
    pub regions: BTreeMap<String, RegionPricing>,
    pub forecast: ForecastConfig,
    pub predictions: PredictionConfig,
    pub energy: EnergyConfig,
    pub ecb: Option<EcbConfig>,
    pub carbon: CarbonConfig,
}

#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// Base URL of the API; `/api/v1/query_range` is appended.
    pub url: String,
    /// A PromQL expression giving watts.
    pub expr: String,
    pub step_seconds: f64,
    pub timeout: std::time::Duration,
    /// How long after a job's end its window is first queried (scrape and ingestion lag).
    pub settle: std::time::Duration,
    pub bearer: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct RaplConfig {
    pub root: PathBuf,
    pub interval: std::time::Duration,
    /// Readings further apart than this do not cover the time between them.
    pub max_gap: std::time::Duration,
    pub ring_readings: usize,
}

/// Idle power to subtract for net energy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BaselineConfig {
    /// Measure it from jobs whose scenario name contains "baseline" (any case).
    pub from_scenarios: bool,
    /// Configured watts, used until (or instead of) a measured baseline.
    pub watts: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct EnergyConfig {
    /// Tried in this order; the first that covers a job wins.
    pub sources: Vec<EnergyMethod>,
    /// How long a job may wait for a source that may still cover it.
    pub wait: std::time::Duration,
    pub query: Option<QueryConfig>,
    pub rapl: Option<RaplConfig>,
    pub baseline: BaselineConfig,
}

/// ECB reference rates, from a file and/or fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct EcbConfig {
    pub file: Option<PathBuf>,
    pub url: Option<String>,
    pub fetch_every: std::time::Duration,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CarbonConfig {
    /// Hourly intensity per zone (CSV or JSON); regions name their zone.
    pub intensity_file: Option<PathBuf>,
    pub embodied: Option<Embodied>,
}

/// Holt-Winters projections of the host's cost, energy and CO2 per time bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastConfig {
    pub enabled: bool,
    pub bucket_seconds: u64,
    /// Seasonal period in buckets (24 for hourly buckets and a daily cycle).
    pub period: usize,
    /// Buckets kept in the state.
    pub history_buckets: usize,
    /// The most recent buckets used to fit.
    pub fit_buckets: usize,
    pub sigma2: crate::stats::forecast::Sigma2,
}

/// One hypothetical encode whose power, energy, cost and CO2 are predicted.
#[derive(Debug, Clone, PartialEq)]
pub struct Encode {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub bitrate_kbps: f64,
    pub streams: u32,
    /// `None`: the encoder seen most often in the training jobs.
    pub encoder: Option<String>,
    pub preset: Option<String>,
    pub duration_seconds: f64,
}

/// The regression of job power on job features.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionConfig {
    pub enabled: bool,
    /// Jobs with power needed before a model is fitted.
    pub min_jobs: usize,
    /// Most recent jobs kept for training.
    pub max_jobs: usize,
    pub whatif: Vec<Encode>,
}

/// The default what-if encodes: 720p30 at 2 Mbps, 1080p30 at 4 Mbps, 1080p60 at 6 Mbps, 2160p30 at 15 Mbps.
pub fn default_encodes() -> Vec<Encode> {
    [
        ("720p30_2mbps", 1280, 720, 30.0, 2000.0),
        ("1080p30_4mbps", 1920, 1080, 30.0, 4000.0),
        ("1080p60_6mbps", 1920, 1080, 60.0, 6000.0),
        ("2160p30_15mbps", 3840, 2160, 30.0, 15000.0),
    ]
    .into_iter()
    .map(|(name, width, height, fps, bitrate_kbps)| Encode {
        name: name.to_string(),
        width,
        height,
        fps,
        bitrate_kbps,
        streams: 1,
        encoder: None,
        preset: None,
        duration_seconds: 3600.0,
    })
    .collect()
}

/// Command-line values that replace what the file says, for every subcommand.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub results_dirs: Vec<PathBuf>,
    pub remote_write_url: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub schedule: Option<String>,
}

/// Every problem found in a configuration, each naming its field.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigErrors {
    pub problems: Vec<String>,
}

/// Labels that costpush sets itself; `extra_labels` may not reuse them.
pub const RESERVED_LABELS: &[&str] = &[
    "host",
    "region",
    "scenario",
    "encoder",
    "preset",
    "bitrate",
    "resolution",
    "streams",
    "currency",
    "compute_basis",
    "target_region",
    "actual",
    "reason",
    "version",
    "base",
    "quote",
    "intensity_year",
    "bound",
    "quantity",
    "horizon",
    "model",
    "parameter",
    "level",
    "encode",
    "status",
    "fallback",
    "rank_deficient",
    "ill_conditioned",
    "sigma2",
    "method",
    "baseline",
    "intensity_source",
    "source",
];

/// Reads, parses and validates a configuration file.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors { problems: vec![format!("{}: cannot read: {e}", path.display())] })?;
    let base = path.parent().unwrap_or(Path::new("."));
    from_str(&text, base, overrides).map_err(|mut e| {
        for p in &mut e.problems {
            *p = format!("{}: {p}", path.display());
        }
        e
    })
}

/// Parses and validates a configuration, reporting every problem: a section that does not
/// deserialise is reported (with serde's reason) and the others are still checked.
pub fn from_str(text: &str, base: &Path, overrides: &Overrides) -> Result<Config, ConfigErrors> {
    let (raw, mut problems, failed) = parse_sections(text);
    match raw.validate(base, overrides) {
        Ok(cfg) if problems.is_empty() => Ok(cfg),
        Ok(_) => Err(ConfigErrors { problems }),
        Err(e) => {
            // Leave out what only follows from a section that could not be read.
            let derived = |p: &String| {
                failed.iter().any(|f| p.starts_with(&format!("{f}.")) || p.starts_with(&format!("{f}:")))
            };
            problems.extend(e.problems.into_iter().filter(|p| !derived(p)));
            Err(ConfigErrors { problems })
        }
    }
}

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
fn parse_sections(text: &str) -> (RawConfig, Vec<String>, Vec<String>) {
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
            other => problems.push(format!(
                "{other}: unknown field, expected one of host, results, schedule, state_dir, \
                 target_retention_days, shutdown_grace_seconds, remote_write, currencies, use_default_regions, \
                 regions, forecast, predictions, energy, carbon"
            )),
        }
    }
    (raw, problems, failed)
}

fn defaults() -> RawConfig {
    parse(EXAMPLE_CONFIG).expect("the embedded example configuration parses (tested)")
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Resolves a path from the config file relative to the file's own directory.
fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// This machine's host name, for when the config names none.
pub fn system_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Accepts the usual five-field crontab form too: it gets a leading `0` seconds field.
pub fn normalize_schedule(expr: &str) -> String {
    let expr = expr.trim();
    if expr.split_whitespace().count() == 5 {
        format!("0 {expr}")
    } else {
        expr.to_string()
    }
}

/// Checks a cron expression the way the scheduler will read it.
pub fn check_schedule(expr: &str) -> Result<(), String> {
    tokio_cron_scheduler::Job::new_async(expr, |_, _| Box::pin(async {}))
        .map(|_| ())
        .map_err(|e| format!("not a valid cron expression ({e})"))
}

impl RawConfig {
    /// Applies defaults and overrides and checks every field. Relative paths are resolved against
    /// `base` (the config file's directory).
    pub fn validate(self, base: &Path, ov: &Overrides) -> Result<Config, ConfigErrors> {
        let mut p: Vec<String> = Vec::new();
        let defaults = defaults();

        // host
        let host_raw = self.host.unwrap_or_default();
        let host = match host_raw.name {
            Some(n) if n.trim().is_empty() => {
                p.push("host.name: must not be empty".into());
                String::new()
            }
            Some(n) => n,
            None => system_hostname().unwrap_or_else(|| {
                p.push("host.name: not set and this machine's hostname is unknown".into());
                String::new()
            }),
        };
        let cores = host_raw.cores_without_cpu_samples.unwrap_or(1.0);
        if !(cores.is_finite() && cores > 0.0) {
            p.push(format!("host.cores_without_cpu_samples: must be a positive number, got {cores}"));
        }

        // currencies
        let cur_raw = self.currencies.unwrap_or_default();
        let def_cur = defaults.currencies.expect("example has currencies");
        let rates_raw = cur_raw.rates.or(def_cur.rates).expect("example has rates");
        let mut per_eur = BTreeMap::new();
        for (code, rate) in &rates_raw.per_eur {
            match Currency::parse(code) {
                Ok(c) if c == Currency::EUR => {
                    if *rate != 1.0 {
                        p.push(format!("currencies.rates.per_eur.{code}: EUR is the base; its rate is 1"));
                    }
                }
                Ok(c) => {
                    if !(rate.is_finite() && *rate > 0.0) {
                        p.push(format!(
                            "currencies.rates.per_eur.{code}: must be a positive number, got {rate}"
                        ));
                    }
                    per_eur.insert(c, *rate);
                }
                Err(e) => p.push(format!("currencies.rates.per_eur.{code}: {e}")),
            }
        }
        let rate_date = match crate::util::time::parse_date(&rates_raw.date) {
            Ok(d) => d,
            Err(e) => {
                p.push(format!("currencies.rates.date: {e}"));
                0
            }
        };
        let rates = Rates::new(per_eur, rate_date, rates_raw.source.clone());
        let reporting_raw = cur_raw.reporting.or(def_cur.reporting).unwrap_or_default();
        let mut reporting = Vec::new();
        for (i, code) in reporting_raw.iter().enumerate() {
            match Currency::parse(code) {
                Ok(c) if !rates.knows(c) => p.push(format!(
                    "currencies.reporting[{i}]: no exchange rate for {code} in currencies.rates.per_eur"
                )),
                Ok(c) if reporting.contains(&c) => {
                    p.push(format!("currencies.reporting[{i}]: {code} is listed twice"))
                }
                Ok(c) => reporting.push(c),
                Err(e) => p.push(format!("currencies.reporting[{i}]: {e}")),
            }
        }
        if reporting_raw.is_empty() {
            p.push("currencies.reporting: must list at least one currency".into());
        }

        // regions: defaults, then the file's entries on top
        let mut regions_raw = if self.use_default_regions.unwrap_or(true) {
            defaults.regions.expect("example has regions")
        } else {
            BTreeMap::new()
        };
        if let Some(user) = self.regions {
            regions_raw.extend(user);
        }
        let mut regions = BTreeMap::new();
        for (name, r) in regions_raw {
            let f = |field: &str| format!("regions.{name}.{field}");
            if !is_region_name(&name) {
                p.push(format!("regions.{name}: a region name uses letters, digits, '-' and '_'"));
            }
            let currency = match Currency::parse(&r.currency) {
                Ok(c) if !rates.knows(c) => {
                    p.push(format!(
                        "{}: no exchange rate for {} in currencies.rates.per_eur",
                        f("currency"),
                        r.currency
                    ));
                    c
                }
                Ok(c) => c,
                Err(e) => {
                    p.push(format!("{}: {e}", f("currency")));
                    Currency::EUR
                }
            };
            for (field, v) in [
                ("electricity_price_per_kwh", r.electricity_price_per_kwh),
                ("compute_price_per_core_hour", r.compute_price_per_core_hour),
                ("grid_intensity_g_per_kwh", r.grid_intensity_g_per_kwh),
            ] {
                if !v.is_finite() || v < 0.0 {
                    p.push(format!("{}: must be a number >= 0, got {v}", f(field)));
                }
            }
            if r.grid_intensity_source.trim().is_empty() {
                p.push(format!("{}: must say where the figure comes from", f("grid_intensity_source")));
            }
            regions.insert(
                name.clone(),
                RegionPricing {
                    name: name.clone(),
                    location: r.location.unwrap_or_default(),
                    currency,
                    electricity_per_kwh: r.electricity_price_per_kwh,
                    compute_per_core_hour: r.compute_price_per_core_hour,
                    intensity_g_per_kwh: r.grid_intensity_g_per_kwh,
                    intensity_source: r.grid_intensity_source,
                    intensity_year: r.grid_intensity_year,
                    intensity_zone: r.intensity_zone.filter(|z| !z.trim().is_empty()),
                },
            );
        }
        let region = match host_raw.region {
            None => {
                p.push("host.region: required (one of the names under regions)".into());
                String::new()
            }
            Some(r) if !regions.contains_key(&r) => {
                let known: Vec<&str> = regions.keys().map(String::as_str).collect();
                p.push(format!("host.region: unknown region {r:?} (known: {})", known.join(", ")));
                r
            }
            Some(r) => r,
        };

        // results
        let results = self.results.unwrap_or_default();
        let mut results_dirs: Vec<PathBuf> = if ov.results_dirs.is_empty() {
            results.dirs.unwrap_or_default().iter().map(|d| resolve(base, d)).collect()
        } else {
            ov.results_dirs.clone()
        };
        results_dirs.dedup();
        if results_dirs.is_empty() {
            p.push("results.dirs: list at least one directory (or pass --results-dir)".into());
        }
        let pattern_s = results.pattern.unwrap_or_else(|| DEFAULT_PATTERN.to_string());
        let pattern = match glob::Pattern::new(&pattern_s) {
            Ok(pat) if pattern_s.contains('/') => {
                p.push("results.pattern: matches file names only; it may not contain '/'".into());
                pat
            }
            Ok(pat) => pat,
            Err(e) => {
                p.push(format!("results.pattern: {e}"));
                glob::Pattern::new(DEFAULT_PATTERN).expect("default pattern")
            }
        };

        // schedule
        let schedule = normalize_schedule(
            &ov.schedule.clone().or(self.schedule).unwrap_or_else(|| DEFAULT_SCHEDULE.to_string()),
        );
        if let Err(e) = check_schedule(&schedule) {
            p.push(format!("schedule: {schedule:?} is {e}"));
        }

        // state
        let state_dir = match ov.state_dir.clone().or(self.state_dir.map(|d| resolve(base, &d))) {
            Some(d) => d,
            None => {
                p.push("state_dir: required (or pass --state-dir)".into());
                PathBuf::new()
            }
        };
        let retention_days = self.target_retention_days.unwrap_or(31.0);
        if !(retention_days.is_finite() && retention_days > 0.0 && retention_days <= 36_500.0) {
            p.push(format!("target_retention_days: must be in (0, 36500], got {retention_days}"));
        }
        let target_retention = std::time::Duration::from_secs_f64(
            if retention_days.is_finite() && retention_days > 0.0 {
                retention_days.min(36_500.0)
            } else {
                31.0
            } * 86_400.0,
        );

        let grace_s = self.shutdown_grace_seconds.unwrap_or(10.0);
        if !(grace_s.is_finite() && grace_s > 0.0 && grace_s <= 600.0) {
            p.push(format!("shutdown_grace_seconds: must be in (0, 600], got {grace_s}"));
        }
        let shutdown_grace = std::time::Duration::from_secs_f64(grace_s.clamp(0.001, 600.0));

        let remote_write = validate_remote_write(self.remote_write.unwrap_or_default(), base, ov, &mut p);
        let forecast = validate_forecast(self.forecast.unwrap_or_default(), &mut p);
        let predictions = validate_predictions(self.predictions.unwrap_or_default(), &mut p);
        let energy = validate_energy(self.energy.unwrap_or_default(), base, &mut p);
        let ecb = cur_raw.ecb.map(|e| validate_ecb(e, base, &mut p));
        let carbon = validate_carbon(self.carbon.unwrap_or_default(), base, &mut p);

        if p.is_empty() {
            Ok(Config {
                host,
                region,
                cores_without_cpu_samples: cores,
                results_dirs,
                pattern,
                schedule,
                state_dir,
                target_retention,
                shutdown_grace,
                remote_write,
                reporting,
                rates,
                regions,
                forecast,
                predictions,
                energy,
                ecb,
                carbon,
            })
        } else {
            Err(ConfigErrors { problems: p })
        }
    }
}

fn validate_forecast(raw: RawForecast, p: &mut Vec<String>) -> ForecastConfig {
    let bucket_seconds = raw.bucket_seconds.unwrap_or(3600);
    if !(60..=86_400).contains(&bucket_seconds) {
        p.push(format!("forecast.bucket_seconds: must be between 60 and 86400, got {bucket_seconds}"));
    }
    let bucket_seconds = bucket_seconds.clamp(60, 86_400);
    let period = raw.period.unwrap_or(24);
    if period == 0 || period > 1000 {
        p.push(format!("forecast.period: must be between 1 (no season) and 1000 buckets, got {period}"));
    }
    let days = |field: &str, v: f64, p: &mut Vec<String>| -> usize {
        if !(v.is_finite() && v > 0.0 && v <= 3660.0) {
            p.push(format!("forecast.{field}: must be in (0, 3660], got {v}"));
            return 1;
        }
        ((v * 86_400.0) / bucket_seconds as f64).ceil() as usize
    };
    let history_buckets = days("history_days", raw.history_days.unwrap_or(90.0), p);
    let fit_buckets = days("fit_days", raw.fit_days.unwrap_or(28.0), p);
    if fit_buckets > history_buckets {
        p.push("forecast.fit_days: must not exceed history_days".into());
    }
    let sigma2 = match raw.sigma2.as_deref().unwrap_or("unbiased") {
        "unbiased" => crate::stats::forecast::Sigma2::Unbiased,
        "mle" => crate::stats::forecast::Sigma2::Mle,
        other => {
            p.push(format!("forecast.sigma2: {other:?} is not unbiased or mle"));
            crate::stats::forecast::Sigma2::Unbiased
        }
    };
    ForecastConfig {
        enabled: raw.enabled.unwrap_or(true),
        bucket_seconds,
        period: period.clamp(1, 1000),
        history_buckets,
        fit_buckets: fit_buckets.min(history_buckets),
        sigma2,
    }
}

fn validate_predictions(raw: RawPredictions, p: &mut Vec<String>) -> PredictionConfig {
    let min_jobs = raw.min_jobs.unwrap_or(20);
    if min_jobs < 3 {
        p.push(format!("predictions.min_jobs: must be at least 3, got {min_jobs}"));
    }
    let max_jobs = raw.max_jobs.unwrap_or(5000);
    if max_jobs < min_jobs {
        p.push("predictions.max_jobs: must be at least min_jobs".into());
    }
    let whatif = match raw.whatif_encodes {
        None => default_encodes(),
        Some(list) => list
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let f = |field: &str| format!("predictions.whatif_encodes[{i}].{field}");
                if e.name.is_empty()
                    || !e.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    p.push(format!("{}: letters, digits, '_' and '-' only", f("name")));
                }
                if e.width == 0 || e.height == 0 {
                    p.push(format!("{}: width and height must be positive", f("width")));
                }
                for (field, v) in [("fps", e.fps), ("bitrate_kbps", e.bitrate_kbps)] {
                    if !(v.is_finite() && v > 0.0) {
                        p.push(format!("{}: must be a positive number, got {v}", f(field)));
                    }
                }
                let duration_seconds = e.duration_seconds.unwrap_or(3600.0);
                if !(duration_seconds.is_finite() && duration_seconds > 0.0) {
                    p.push(format!("{}: must be a positive number", f("duration_seconds")));
                }
                Encode {
                    name: e.name,
                    width: e.width,
                    height: e.height,
                    fps: e.fps,
                    bitrate_kbps: e.bitrate_kbps,
                    streams: e.streams.unwrap_or(1).max(1),
                    encoder: e.encoder,
                    preset: e.preset,
                    duration_seconds,
                }
            })
            .collect(),
    };
    PredictionConfig {
        enabled: raw.enabled.unwrap_or(true),
        min_jobs: min_jobs.max(3),
        max_jobs: max_jobs.max(3),
        whatif,
    }
}

fn is_region_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn validate_remote_write(
    raw: RawRemoteWrite,
    base: &Path,
    ov: &Overrides,
    p: &mut Vec<String>,
) -> RemoteWrite {
    let url = ov.remote_write_url.clone().or(raw.url).unwrap_or_default();
    if url.is_empty() {
        p.push("remote_write.url: required (or pass --remote-write-url)".into());
    } else {
        match reqwest::Url::parse(&url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
                if !u.username().is_empty() || u.password().is_some() {
                    p.push("remote_write.url: put credentials in remote_write.auth, not in the URL".into());
                }
            }
            Ok(u) => p.push(format!("remote_write.url: scheme must be http or https, got {}", u.scheme())),
            Err(e) => p.push(format!("remote_write.url: {url:?} is not a URL ({e})")),
        }
    }
    let timeout_s = raw.timeout_seconds.unwrap_or(10.0);
    if !(timeout_s.is_finite() && timeout_s > 0.0 && timeout_s <= 3600.0) {
        p.push(format!("remote_write.timeout_seconds: must be in (0, 3600], got {timeout_s}"));
    }
    let max_samples = raw.max_samples_per_request.unwrap_or(10_000);
    if max_samples == 0 {
        p.push("remote_write.max_samples_per_request: must be at least 1".into());
    }
    let max_attempts = raw.max_attempts.unwrap_or(4);
    if max_attempts == 0 {
        p.push("remote_write.max_attempts: must be at least 1".into());
    }
    let min_backoff_s = raw.min_backoff_seconds.unwrap_or(0.5);
    let max_backoff_s = raw.max_backoff_seconds.unwrap_or(60.0);
    if !(min_backoff_s.is_finite() && min_backoff_s > 0.0) {
        p.push(format!("remote_write.min_backoff_seconds: must be a positive number, got {min_backoff_s}"));
    }
    if !(max_backoff_s.is_finite() && max_backoff_s >= min_backoff_s && max_backoff_s <= 3600.0) {
        p.push(format!(
            "remote_write.max_backoff_seconds: must be between min_backoff_seconds and 3600, got {max_backoff_s}"
        ));
    }
    let queue_max_bytes = raw.queue_max_bytes.unwrap_or(256 << 20);
    if queue_max_bytes < 4096 {
        p.push(format!("remote_write.queue_max_bytes: must be at least 4096, got {queue_max_bytes}"));
    }
    let extra_labels = raw.extra_labels.unwrap_or_default();
    for (k, v) in &extra_labels {
        if !is_label_name(k) || k.starts_with("__") {
            p.push(format!("remote_write.extra_labels.{k}: not a valid label name"));
        } else if RESERVED_LABELS.contains(&k.as_str()) {
            p.push(format!("remote_write.extra_labels.{k}: costpush sets this label itself"));
        }
        if v.is_empty() {
            p.push(format!("remote_write.extra_labels.{k}: value must not be empty"));
        }
    }
    let auth = match raw.auth {
        None => Auth::None,
        Some(RawAuth { bearer_token_file: Some(_), basic: Some(_) }) => {
            p.push("remote_write.auth: give bearer_token_file or basic, not both".into());
            Auth::None
        }
        Some(RawAuth { bearer_token_file: Some(f), basic: None }) => {
            Auth::Bearer(read_secret(base, "remote_write.auth.bearer_token_file", &f, p))
        }
        Some(RawAuth { bearer_token_file: None, basic: Some(b) }) => {
            if b.username.is_empty() || b.username.contains(':') {
                p.push("remote_write.auth.basic.username: must be non-empty and contain no ':'".into());
            }
            Auth::Basic {
                username: b.username,
                password: read_secret(base, "remote_write.auth.basic.password_file", &b.password_file, p),
            }
        }
        Some(RawAuth { bearer_token_file: None, basic: None }) => Auth::None,
    };
    let mut tls = Tls::default();
    if let Some(t) = raw.tls {
        let read = |field: &str, path: &Path, p: &mut Vec<String>| -> Option<Vec<u8>> {
            let path = resolve(base, path);
            match std::fs::read(&path) {
                Ok(b) => Some(b),
                Err(e) => {
                    p.push(format!("{field}: cannot read {}: {e}", path.display()));
                    None
                }
            }
        };
        if let Some(ca) = &t.ca_file {
            tls.ca_pem = read("remote_write.tls.ca_file", ca, p);
            if let Some(pem) = &tls.ca_pem {
                if let Err(e) = reqwest::Certificate::from_pem(pem) {
                    p.push(format!("remote_write.tls.ca_file: not a PEM certificate ({e})"));
                }
            }
        }
        match (&t.cert_file, &t.key_file) {
            (Some(c), Some(k)) => {
                if let (Some(mut cert), Some(key)) =
                    (read("remote_write.tls.cert_file", c, p), read("remote_write.tls.key_file", k, p))
                {
                    cert.push(b'\n');
                    cert.extend_from_slice(&key);
                    // Parsing alone accepts some bad keys; building a client checks them.
                    let checked = reqwest::Identity::from_pem(&cert)
                        .and_then(|id| reqwest::Client::builder().identity(id).build());
                    if let Err(e) = checked {
                        p.push(format!(
                            "remote_write.tls.cert_file: certificate and key_file do not form a usable identity ({})",
                            crate::util::error_chain(&e)
                        ));
                    }
                    tls.identity_pem = Some(cert);
                }
            }
            (Some(_), None) => p.push("remote_write.tls.key_file: required with cert_file".into()),
            (None, Some(_)) => p.push("remote_write.tls.cert_file: required with key_file".into()),
            (None, None) => {}
        }
    }
    RemoteWrite {
        url,
        timeout: std::time::Duration::from_secs_f64(if timeout_s.is_finite() && timeout_s > 0.0 {
            timeout_s.min(3600.0)
        } else {
            10.0
        }),
        max_samples_per_request: max_samples.max(1),
        max_attempts: max_attempts.max(1),
        min_backoff: std::time::Duration::from_secs_f64(min_backoff_s.clamp(0.001, 3600.0)),
        max_backoff: std::time::Duration::from_secs_f64(max_backoff_s.clamp(0.001, 3600.0)),
        queue_max_bytes,
        extra_labels,
        auth,
        tls,
    }
}

/// Reads a secret (a token or password) from a file, for an HTTP header.
fn read_secret(base: &Path, field: &str, path: &Path, p: &mut Vec<String>) -> Secret {
    let path = resolve(base, path);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().is_empty() => {
            p.push(format!("{field}: {} is empty", path.display()));
            Secret(String::new())
        }
        // It goes into a header: only visible ASCII and spaces can.
        Ok(s) if !s.trim().bytes().all(|b| b == b' ' || b.is_ascii_graphic()) => {
            p.push(format!(
                "{field}: {} holds characters an HTTP header cannot carry (only printable ASCII)",
                path.display()
            ));
            Secret(String::new())
        }
        Ok(s) => Secret(s.trim().to_string()),
        Err(e) => {
            p.push(format!("{field}: cannot read {}: {e}", path.display()));
            Secret(String::new())
        }
    }
}

/// An http(s) URL without credentials in it.
fn check_http_url(field: &str, url: &str, p: &mut Vec<String>) {
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
            if !u.username().is_empty() || u.password().is_some() {
                p.push(format!("{field}: credentials do not belong in the URL"));
            }
        }
        Ok(u) => p.push(format!("{field}: scheme must be http or https, got {}", u.scheme())),
        Err(e) => p.push(format!("{field}: {url:?} is not a URL ({e})")),
    }
}

/// A number of seconds in (0, max], or the default; a problem names the field.
fn seconds(field: &str, v: Option<f64>, default: f64, max: f64, p: &mut Vec<String>) -> f64 {
    let v = v.unwrap_or(default);
    if v.is_finite() && v > 0.0 && v <= max {
        v
    } else {
        p.push(format!("{field}: must be in (0, {max}], got {v}"));
        default
    }
}

fn validate_energy(raw: RawEnergy, base: &Path, p: &mut Vec<String>) -> EnergyConfig {
    let mut sources = Vec::new();
    for (i, name) in raw.sources.unwrap_or_else(|| vec!["file".into()]).iter().enumerate() {
        let m = match name.as_str() {
            "file" => EnergyMethod::File,
            "query" => EnergyMethod::Query,
            "rapl" => EnergyMethod::Rapl,
            other => {
                p.push(format!("energy.sources[{i}]: unknown source {other:?} (file, query or rapl)"));
                continue;
            }
        };
        if sources.contains(&m) {
            p.push(format!("energy.sources[{i}]: {name} is listed twice"));
        }
        sources.push(m);
    }
    let wait_s = raw.wait_seconds.unwrap_or(600.0);
    if !(wait_s.is_finite() && (0.0..=7.0 * 86_400.0).contains(&wait_s)) {
        p.push(format!("energy.wait_seconds: must be in [0, 604800], got {wait_s}"));
    }
    let query = match raw.query {
        Some(q) => {
            check_http_url("energy.query.url", &q.url, p);
            if q.expr.trim().is_empty() {
                p.push("energy.query.expr: must not be empty".into());
            }
            Some(QueryConfig {
                url: q.url.trim_end_matches('/').to_string(),
                expr: q.expr,
                step_seconds: seconds("energy.query.step_seconds", q.step_seconds, 5.0, 3600.0, p),
                timeout: std::time::Duration::from_secs_f64(seconds(
                    "energy.query.timeout_seconds",
                    q.timeout_seconds,
                    10.0,
                    600.0,
                    p,
                )),
                settle: std::time::Duration::from_secs_f64(match q.settle_seconds {
                    Some(s) if !(s.is_finite() && (0.0..=86_400.0).contains(&s)) => {
                        p.push(format!("energy.query.settle_seconds: must be in [0, 86400], got {s}"));
                        60.0
                    }
                    s => s.unwrap_or(60.0),
                }),
                bearer: q
                    .bearer_token_file
                    .map(|f| read_secret(base, "energy.query.bearer_token_file", &f, p)),
            })
        }
        None => {
            if sources.contains(&EnergyMethod::Query) {
                p.push("energy.sources: lists query, but energy.query is not configured".into());
            }
            None
        }
    };
    let rapl = if sources.contains(&EnergyMethod::Rapl) || raw.rapl.is_some() {
        let r = raw.rapl.unwrap_or_default();
        let interval = seconds("energy.rapl.interval_seconds", r.interval_seconds, 5.0, 3600.0, p);
        let max_gap = seconds("energy.rapl.max_gap_seconds", r.max_gap_seconds, 3.0 * interval, 86_400.0, p);
        if max_gap < interval {
            p.push(format!(
                "energy.rapl.max_gap_seconds: must be at least interval_seconds ({interval}), got {max_gap}"
            ));
        }
        let ring_readings = r.ring_readings.unwrap_or(17_280);
        if !(2..=10_000_000).contains(&ring_readings) {
            p.push(format!("energy.rapl.ring_readings: must be in [2, 10000000], got {ring_readings}"));
        }
        Some(RaplConfig {
            root: r.root.map(|d| resolve(base, &d)).unwrap_or_else(|| PathBuf::from("/sys/class/powercap")),
            interval: std::time::Duration::from_secs_f64(interval),
            max_gap: std::time::Duration::from_secs_f64(max_gap),
            ring_readings: ring_readings.max(2),
        })
    } else {
        None
    };
    let b = raw.idle_baseline.unwrap_or_default();
    if let Some(w) = b.watts {
        if !(w.is_finite() && (0.0..=1e6).contains(&w)) {
            p.push(format!("energy.idle_baseline.watts: must be in [0, 1000000], got {w}"));
        }
    }
    EnergyConfig {
        sources,
        wait: std::time::Duration::from_secs_f64(if wait_s.is_finite() {
            wait_s.clamp(0.0, 604_800.0)
        } else {
            600.0
        }),
        query,
        rapl,
        baseline: BaselineConfig { from_scenarios: b.from_scenarios.unwrap_or(false), watts: b.watts },
    }
}

fn validate_ecb(raw: RawEcb, base: &Path, p: &mut Vec<String>) -> EcbConfig {
    if raw.file.is_none() && raw.url.is_none() {
        p.push("currencies.ecb: give a file, a url, or both".into());
    }
    if let Some(u) = &raw.url {
        check_http_url("currencies.ecb.url", u, p);
    }
    let file = raw.file.map(|f| resolve(base, &f));
    if let Some(f) = &file {
        // A missing file is not fatal at run time (it may be written later), but at
        // configuration time it is almost always a typo.
        if raw.url.is_none() && !f.exists() {
            p.push(format!("currencies.ecb.file: {} does not exist", f.display()));
        }
    }
    EcbConfig {
        file,
        url: raw.url,
        fetch_every: std::time::Duration::from_secs_f64(seconds(
            "currencies.ecb.fetch_every_seconds",
            raw.fetch_every_seconds,
            21_600.0,
            7.0 * 86_400.0,
            p,
        )),
    }
}

fn validate_carbon(raw: RawCarbon, base: &Path, p: &mut Vec<String>) -> CarbonConfig {
    let intensity_file = raw.intensity_file.map(|f| resolve(base, &f));
    if let Some(f) = &intensity_file {
        if !f.exists() {
            p.push(format!("carbon.intensity_file: {} does not exist", f.display()));
        }
    }
    let embodied = raw.embodied.and_then(|e| {
        let mut ok = true;
        if !(e.kg_co2e.is_finite() && e.kg_co2e >= 0.0) {
            p.push(format!("carbon.embodied.kg_co2e: must be a number >= 0, got {}", e.kg_co2e));
            ok = false;
        }
        if !(e.lifespan_years.is_finite() && e.lifespan_years > 0.0 && e.lifespan_years <= 100.0) {
            p.push(format!("carbon.embodied.lifespan_years: must be in (0, 100], got {}", e.lifespan_years));
            ok = false;
        }
        // A Julian year, as the GHG Protocol's amortisation tables use.
        ok.then_some(Embodied {
            grams: e.kg_co2e * 1000.0,
            lifespan_seconds: e.lifespan_years * 365.25 * 86_400.0,
        })
    });
    CarbonConfig { intensity_file, embodied }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(yaml: &str) -> Result<Config, ConfigErrors> {
        parse(yaml).expect("parses").validate(Path::new("/etc/costpush"), &Overrides::default())
    }

    const MINIMAL: &str = "host: {name: h1, region: eu-north-1}\nresults: {dirs: [r]}\nstate_dir: /tmp/s\nremote_write: {url: 'http://127.0.0.1:8428/api/v1/write'}\n";

    #[test]
    fn example_config_is_valid() {
        let raw = parse(EXAMPLE_CONFIG).expect("example parses");
        let cfg = raw.validate(Path::new("/etc/costpush"), &Overrides::default()).expect("example validates");
        for r in ["us-east-1", "us-west-2", "eu-west-1", "eu-north-1", "eu-central-1", "eu-south-1"] {
            assert!(cfg.regions.contains_key(r), "default region {r} missing");
        }
        assert_eq!(cfg.regions["eu-west-1"].currency, Currency::EUR);
        assert_eq!(cfg.regions["eu-north-1"].currency, Currency::parse("SEK").unwrap());
        assert_eq!(cfg.schedule, DEFAULT_SCHEDULE);
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let cfg = validate(MINIMAL).unwrap();
        assert_eq!(cfg.results_dirs, vec![PathBuf::from("/etc/costpush/r")]);
        assert_eq!(cfg.pattern.as_str(), DEFAULT_PATTERN);
        assert_eq!(cfg.target_retention.as_secs(), 31 * 86_400);
        assert_eq!(cfg.reporting.len(), 3);
        assert_eq!(cfg.remote_write.max_samples_per_request, 10_000);
    }

    #[test]
    fn unknown_field_is_named() {
        let e = parse("host: {name: h, regoin: x}\n").unwrap_err().to_string();
        assert!(e.contains("host: unknown field `regoin`"), "{e}");
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let yaml = "host: {name: h1, region: mars-1}\nschedule: 'not cron'\nremote_write: {url: 'ftp://x', extra_labels: {region: x, 'bad-name': y}}\ncurrencies: {reporting: [SEK, XYZ, usd]}\nregions:\n  cheap:\n    currency: EUR\n    electricity_price_per_kwh: -0.1\n    compute_price_per_core_hour: 0.01\n    grid_intensity_g_per_kwh: 10\n    grid_intensity_source: me\n    grid_intensity_year: 2024\n";
        let e = validate(yaml).unwrap_err();
        let all = e.problems.join("\n");
        for needle in [
            "host.region: unknown region \"mars-1\"",
            "schedule:",
            "remote_write.url: scheme must be http or https",
            "remote_write.extra_labels.region: costpush sets this label itself",
            "remote_write.extra_labels.bad-name: not a valid label name",
            "currencies.reporting[1]: no exchange rate for XYZ",
            "currencies.reporting[2]:",
            "regions.cheap.electricity_price_per_kwh: must be a number >= 0, got -0.1",
            "results.dirs:",
            "state_dir: required",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
    }

    #[test]
    fn source_sections_are_checked_field_by_field() {
        let yaml = format!(
            "{MINIMAL}energy:\n  sources: [file, quary, rapl, file]\n  wait_seconds: -1\n  rapl: {{interval_seconds: 10, max_gap_seconds: 5, ring_readings: 1}}\n  idle_baseline: {{watts: -3}}\ncarbon: {{intensity_file: /nonexistent/i.csv, embodied: {{kg_co2e: -1, lifespan_years: 0}}}}\n"
        );
        let all = validate(&yaml).unwrap_err().problems.join("\n");
        for needle in [
            "energy.sources[1]: unknown source \"quary\"",
            "energy.sources[3]: file is listed twice",
            "energy.wait_seconds: must be in [0, 604800], got -1",
            "energy.rapl.max_gap_seconds: must be at least interval_seconds (10), got 5",
            "energy.rapl.ring_readings: must be in [2, 10000000], got 1",
            "energy.idle_baseline.watts: must be in [0, 1000000], got -3",
            "carbon.intensity_file: /nonexistent/i.csv does not exist",
            "carbon.embodied.kg_co2e: must be a number >= 0, got -1",
            "carbon.embodied.lifespan_years: must be in (0, 100], got 0",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        let q = format!("{MINIMAL}energy: {{sources: [query]}}\n");
        let all = validate(&q).unwrap_err().problems.join("\n");
        assert!(all.contains("energy.sources: lists query, but energy.query is not configured"), "{all}");
        let q = format!(
            "{MINIMAL}energy: {{sources: [query], query: {{url: 'ftp://x', expr: ' ', step_seconds: 0}}}}\n"
        );
        let all = validate(&q).unwrap_err().problems.join("\n");
        for needle in [
            "energy.query.url: scheme must be http or https",
            "energy.query.expr: must not be empty",
            "energy.query.step_seconds: must be in (0, 3600], got 0",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        let e = format!("{MINIMAL}currencies: {{ecb: {{}}}}\n");
        let all = validate(&e).unwrap_err().problems.join("\n");
        assert!(all.contains("currencies.ecb: give a file, a url, or both"), "{all}");

        let ok = format!(
            "{MINIMAL}energy: {{sources: [rapl, query, file], query: {{url: 'http://vm:8428/', expr: 'sum(p)'}}, idle_baseline: {{from_scenarios: true}}}}\ncarbon: {{embodied: {{kg_co2e: 1000, lifespan_years: 4}}}}\n"
        );
        let cfg = validate(&ok).unwrap();
        assert_eq!(cfg.energy.sources, vec![EnergyMethod::Rapl, EnergyMethod::Query, EnergyMethod::File]);
        let q = cfg.energy.query.unwrap();
        assert_eq!((q.url.as_str(), q.step_seconds, q.settle.as_secs()), ("http://vm:8428", 5.0, 60));
        let r = cfg.energy.rapl.unwrap();
        assert_eq!(
            (r.root, r.interval.as_secs(), r.max_gap.as_secs(), r.ring_readings),
            ("/sys/class/powercap".into(), 5, 15, 17_280)
        );
        assert_eq!(cfg.energy.baseline, BaselineConfig { from_scenarios: true, watts: None });
        assert_eq!(
            cfg.carbon.embodied,
            Some(Embodied { grams: 1e6, lifespan_seconds: 4.0 * 365.25 * 86_400.0 })
        );
        assert_eq!(cfg.regions["eu-north-1"].intensity_zone.as_deref(), Some("SE-SE3"));
    }

    #[test]
    fn every_bad_section_is_reported_not_only_the_first() {
        let yaml = "host: {name: h, regoin: x}\nresults: {dirs: 7}\nremote_write: {url: 'http://x', retries: 3}\nextra: 1\nregions:\n  a: {currency: EUR}\n  b: {currency: EUR, electricity_price_per_kwh: -1, compute_price_per_core_hour: 0, grid_intensity_g_per_kwh: 1, grid_intensity_source: s, grid_intensity_year: 2024}\nstate_dir: /s\n";
        let e = from_str(yaml, Path::new("/"), &Overrides::default()).unwrap_err();
        let all = e.problems.join("\n");
        for needle in [
            "host: unknown field `regoin`",
            "results: ",
            "remote_write: unknown field `retries`",
            "extra: unknown field",
            "regions.a: missing field",
            "regions.b.electricity_price_per_kwh: must be a number >= 0",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        // nothing derived from the sections that could not be read
        assert!(!all.contains("host.region: required"), "{all}");
        assert!(!all.contains("results.dirs:"), "{all}");
    }

    #[test]
    fn default_regions_can_be_left_out() {
        let yaml = format!("{MINIMAL}use_default_regions: false\nregions:\n  mine: {{currency: EUR, electricity_price_per_kwh: 0.1, compute_price_per_core_hour: 0.01, grid_intensity_g_per_kwh: 100, grid_intensity_source: s, grid_intensity_year: 2024}}\n").replace("eu-north-1", "mine");
        let cfg = validate(&yaml).unwrap();
        assert_eq!(cfg.regions.keys().collect::<Vec<_>>(), ["mine"]);
        assert!(validate(&MINIMAL.replace("state_dir", "target_retention_days: 1e15\nstate_dir")).is_err());
    }

    #[test]
    fn overrides_replace_the_file() {
        let ov = Overrides {
            results_dirs: vec!["/a".into(), "/b".into()],
            remote_write_url: Some("https://vm.example:8428/api/v1/write".into()),
            state_dir: Some("/var/x".into()),
            schedule: Some("0 * * * * *".into()),
        };
        let cfg = parse(MINIMAL).unwrap().validate(Path::new("/"), &ov).unwrap();
        assert_eq!(cfg.results_dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(cfg.remote_write.url, "https://vm.example:8428/api/v1/write");
        assert_eq!(cfg.state_dir, PathBuf::from("/var/x"));
        assert_eq!(cfg.schedule, "0 * * * * *");
    }

    #[test]
    fn secrets_come_from_files_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cret-token\n").unwrap();
        let yaml = MINIMAL.to_string();
        let yaml = yaml.replace(
            "remote_write: {url: 'http://127.0.0.1:8428/api/v1/write'}",
            "remote_write: {url: 'http://127.0.0.1:8428/api/v1/write', auth: {bearer_token_file: token}}",
        );
        let cfg = parse(&yaml).unwrap().validate(dir.path(), &Overrides::default()).unwrap();
        assert_eq!(cfg.remote_write.auth, Auth::Bearer(Secret("s3cret-token".into())));
        assert!(!format!("{cfg:?}").contains("s3cret"));
        let missing = yaml.replace("token}", "nope}");
        let e = parse(&missing).unwrap().validate(dir.path(), &Overrides::default()).unwrap_err();
        assert!(e.problems[0].starts_with("remote_write.auth.bearer_token_file: cannot read"), "{e}");
    }

    #[test]
    fn schedules() {
        assert_eq!(normalize_schedule("*/5 * * * *"), "0 */5 * * * *");
        assert_eq!(normalize_schedule(" */30 * * * * * "), "*/30 * * * * *");
        for ok in ["*/30 * * * * *", "*/5 * * * *", "0 0 * * * *", "@hourly"] {
            assert!(check_schedule(&normalize_schedule(ok)).is_ok(), "{ok}");
        }
        for bad in ["every minute", "* * *", "61 * * * * *"] {
            assert!(check_schedule(&normalize_schedule(bad)).is_err(), "{bad}");
        }
    }
}
