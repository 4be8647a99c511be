//! The checks: the raw file, with defaults and command-line overrides applied, becomes a
//! [`Config`], or every problem found, each naming its field. The sections with settings of their
//! own are checked in [`super::sections`] and [`super::remote_write`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::raw::{defaults, RawConfig, RawCurrencies, RawHost, RawRates, RawRegion, RawResults};
use super::remote_write::validate_destinations;
use super::sections::{
    validate_carbon, validate_ecb, validate_energy, validate_forecast, validate_predictions,
};
use super::{
    Config, ConfigErrors, Overrides, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_LABEL_VALUES, DEFAULT_PATTERN,
    DEFAULT_SCHEDULE,
};
use crate::domain::{Currency, Rates, RegionPricing};

impl RawConfig {
    /// Applies defaults and overrides and checks every field. Relative paths are resolved against
    /// `base` (the config file's directory).
    pub fn validate(self, base: &Path, ov: &Overrides) -> Result<Config, ConfigErrors> {
        let mut p: Vec<String> = Vec::new();
        let defaults = defaults();
        let host_raw = self.host.unwrap_or_default();
        let (host, cores) = validate_host(&host_raw, &mut p);
        let RawCurrencies { reporting, rates, ecb } = self.currencies.unwrap_or_default();
        let (rates, reporting) = validate_currencies(rates, reporting, defaults.currencies, &mut p);
        let mut regions_raw = if self.use_default_regions.unwrap_or(true) {
            defaults.regions.expect("example has regions")
        } else {
            BTreeMap::new()
        };
        if let Some(user) = self.regions {
            regions_raw.extend(user);
        }
        let regions = validate_regions(regions_raw, &rates, &mut p);
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

        let (results_dirs, pattern, max_file_bytes, max_label_values) =
            validate_results(self.results.unwrap_or_default(), base, ov, &mut p);

        let written = ov.schedule.clone().or(self.schedule).unwrap_or_else(|| DEFAULT_SCHEDULE.to_string());
        let schedule = normalize_schedule(&written);
        if let Err(e) = check_schedule(&schedule) {
            p.push(format!("schedule: {written:?} is {e}"));
        }

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
        let shutdown_grace = std::time::Duration::from_secs_f64(
            super::remote_write::finite_or(grace_s, 10.0).clamp(0.001, 600.0),
        );

        let (destinations, extra_labels) =
            validate_destinations(self.remote_write, self.extra_labels, base, ov, &mut p);
        let max_samples_per_request =
            destinations.iter().map(|d| d.max_samples_per_request).min().unwrap_or(10_000);
        let forecast = validate_forecast(self.forecast.unwrap_or_default(), &mut p);
        let predictions = validate_predictions(self.predictions.unwrap_or_default(), &mut p);
        let energy = validate_energy(self.energy.unwrap_or_default(), base, &mut p);
        let ecb = ecb.map(|e| validate_ecb(e, base, &mut p));
        let carbon = validate_carbon(self.carbon.unwrap_or_default(), base, &mut p);

        if p.is_empty() {
            Ok(Config {
                host,
                region,
                cores_without_cpu_samples: cores,
                results_dirs,
                pattern,
                max_file_bytes,
                max_label_values,
                schedule,
                state_dir,
                target_retention,
                shutdown_grace,
                destinations,
                extra_labels,
                max_samples_per_request,
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

/// The host's name (this machine's when the file names none) and the cores billed per second of a
/// job without CPU samples.
fn validate_host(raw: &RawHost, p: &mut Vec<String>) -> (String, f64) {
    let host = match raw.name.clone() {
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
    let cores = raw.cores_without_cpu_samples.unwrap_or(1.0);
    if !(cores.is_finite() && cores > 0.0) {
        p.push(format!("host.cores_without_cpu_samples: must be a positive number, got {cores}"));
    }
    (host, cores)
}

/// The exchange rates (the file's, else the example's) and the reporting currencies.
fn validate_currencies(
    rates: Option<RawRates>,
    reporting: Option<Vec<String>>,
    defaults: Option<RawCurrencies>,
    p: &mut Vec<String>,
) -> (Rates, Vec<Currency>) {
    let def_cur = defaults.expect("example has currencies");
    let rates_raw = rates.or(def_cur.rates).expect("example has rates");
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
                    p.push(format!("currencies.rates.per_eur.{code}: must be a positive number, got {rate}"));
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
    let reporting_raw = reporting.or(def_cur.reporting).unwrap_or_default();
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
    (rates, reporting)
}

/// Every region's prices, currency and grid intensity.
fn validate_regions(
    regions_raw: BTreeMap<String, RawRegion>,
    rates: &Rates,
    p: &mut Vec<String>,
) -> BTreeMap<String, RegionPricing> {
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
    regions
}

/// The results directories (the flag's, else the file's, resolved against `base`), the
/// file-name pattern and the cap on a file's size.
fn validate_results(
    results: RawResults,
    base: &Path,
    ov: &Overrides,
    p: &mut Vec<String>,
) -> (Vec<PathBuf>, glob::Pattern, u64, usize) {
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
        Ok(pat) if pattern_s.trim().is_empty() => {
            p.push(
                "results.pattern: is empty; it would match no file (the default is \"test_results_*.json\")"
                    .into(),
            );
            pat
        }
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
    let max_file_bytes = results.max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES);
    if !(1024..=1 << 32).contains(&max_file_bytes) {
        p.push(format!("results.max_file_bytes: must be in [1024, 4294967296], got {max_file_bytes}"));
    }
    let max_label_values = results.max_label_values.unwrap_or(DEFAULT_MAX_LABEL_VALUES as u64);
    if !(1..=1_000_000).contains(&max_label_values) {
        p.push(format!("results.max_label_values: must be in [1, 1000000], got {max_label_values}"));
    }
    (results_dirs, pattern, max_file_bytes, max_label_values as usize)
}

pub(super) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Resolves a path from the config file relative to the file's own directory.
pub(super) fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// This machine's host name, for when the config names none.
pub(crate) fn system_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Accepts the usual five-field crontab form too: it gets a leading `0` seconds field.
pub(crate) fn normalize_schedule(expr: &str) -> String {
    let expr = expr.trim();
    if expr.split_whitespace().count() == 5 {
        format!("0 {expr}")
    } else {
        expr.to_string()
    }
}

/// Whether the scheduler takes `expr` (six fields, seconds first, as `normalize_schedule`
/// makes it); the reason in the user's terms (the scheduler's own error is only a type name).
pub(crate) fn check_schedule(expr: &str) -> Result<(), String> {
    let fields = expr.split_whitespace().count();
    if !expr.starts_with('@') && !(6..=7).contains(&fields) {
        return Err(format!(
            "not a cron expression: {} fields, expected 5 (minute hour day-of-month month day-of-week) or 6 with seconds first, e.g. \"*/30 * * * * *\" (every 30 s) or \"*/5 * * * *\" (every 5 min)",
            fields
        ));
    }
    tokio_cron_scheduler::Job::new_async(expr, |_, _| Box::pin(async {})).map(|_| ()).map_err(|_| {
        "not a cron expression: a field is out of range or not understood (each field is *, a number, a range a-b, a list a,b or a step */n; names such as MON or JAN also work)".to_string()
    })
}

pub(super) fn is_region_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An http(s) URL without credentials in it.
pub(super) fn check_http_url(field: &str, url: &str, p: &mut Vec<String>) {
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
pub(super) fn seconds(field: &str, v: Option<f64>, default: f64, max: f64, p: &mut Vec<String>) -> f64 {
    let v = v.unwrap_or(default);
    if v.is_finite() && v > 0.0 && v <= max {
        v
    } else {
        p.push(format!("{field}: must be in (0, {max}], got {v}"));
        default
    }
}
