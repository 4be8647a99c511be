//! The checks of the sections with settings of their own: forecast, predictions, energy
//! sources, ECB rates and carbon.

use std::path::{Path, PathBuf};

use super::raw::{RawCarbon, RawEcb, RawEnergy, RawForecast, RawPredictions};
use super::remote_write::read_secret;
use super::validate::{check_http_url, resolve, seconds};
use super::{
    default_encodes, BaselineConfig, CarbonConfig, EcbConfig, Encode, EnergyConfig, ForecastConfig,
    PredictionConfig, QueryConfig, RaplConfig,
};
use crate::domain::{Embodied, EnergyMethod};

pub(super) fn validate_forecast(raw: RawForecast, p: &mut Vec<String>) -> ForecastConfig {
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
    let fit_buckets = days("fit_days", raw.fit_days.unwrap_or(56.0), p);
    // a week of the daily period by default; none when the period is not a day
    let daily = period as u64 * bucket_seconds == 86_400;
    let long_period = match raw.long_period {
        Some(0) => None,
        Some(w) if w <= period => {
            p.push(format!("forecast.long_period: must be longer than period ({period}), got {w} (0: none)"));
            None
        }
        Some(w) => Some(w),
        None => daily.then_some(7 * period),
    };
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
        long_period,
        history_buckets,
        fit_buckets: fit_buckets.min(history_buckets),
        sigma2,
    }
}

pub(super) fn validate_predictions(raw: RawPredictions, p: &mut Vec<String>) -> PredictionConfig {
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
        estimate_energy: raw.estimate_energy.unwrap_or(true),
        whatif,
    }
}

pub(super) fn validate_energy(raw: RawEnergy, base: &Path, p: &mut Vec<String>) -> EnergyConfig {
    let mut sources = Vec::new();
    // Without a list: the file's samples, then the query API when one is configured (and RAPL
    // in the daemon, when readable: `rapl_by_default`).
    let rapl_by_default = raw.sources.is_none();
    let default_sources = || {
        let mut v = vec!["file".to_string()];
        if raw.query.is_some() {
            v.push("query".into());
        }
        v
    };
    for (i, name) in raw.sources.clone().unwrap_or_else(default_sources).iter().enumerate() {
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
    let rapl = if sources.contains(&EnergyMethod::Rapl) || raw.rapl.is_some() || rapl_by_default {
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
        rapl_by_default,
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

pub(super) fn validate_ecb(raw: RawEcb, base: &Path, p: &mut Vec<String>) -> EcbConfig {
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

pub(super) fn validate_carbon(raw: RawCarbon, base: &Path, p: &mut Vec<String>) -> CarbonConfig {
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
