//! Projections (Holt-Winters over the history's buckets) and power predictions (OLS over the
//! history's jobs), as plain values ready to be turned into samples. Pure: history, clock and
//! configuration in; results out.

use serde::{Deserialize, Serialize};

use crate::compute::history::{History, TrainingRow};
use crate::config::{Encode, ForecastConfig};
use crate::stats::forecast::{self, Band, FitOptions, Sigma2};
use crate::stats::regress::{Design, Ols, Prediction, HIGH_CONDITION};

/// What is projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quantity {
    /// Total cost, in the region's currency.
    Cost,
    EnergyJoules,
    Co2Grams,
}

impl Quantity {
    pub const ALL: [Quantity; 3] = [Quantity::Cost, Quantity::EnergyJoules, Quantity::Co2Grams];

    pub fn as_str(self) -> &'static str {
        match self {
            Quantity::Cost => "cost",
            Quantity::EnergyJoules => "energy",
            Quantity::Co2Grams => "co2",
        }
    }
}

/// Rolling-origin check of the chosen model: one-day-ahead forecasts from past origins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    pub origins: usize,
    /// Mean absolute error per bucket, in the quantity's unit.
    pub mae: f64,
    pub coverage_80: f64,
    pub coverage_95: f64,
}

/// The projection of one quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub quantity: Quantity,
    pub model: String,
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub phi: f64,
    pub sse: f64,
    pub aicc: f64,
    pub converged: bool,
    /// Per bucket from the current one: (bucket start, Unix ms; band), within the next 48 h.
    pub curve: Vec<(i64, Band)>,
    /// Totals of the next 24 h, 7 days and 30 days (label values "24h", "7d", "30d").
    pub totals: Vec<(String, Band)>,
    pub backtest: Option<Backtest>,
}

/// Why a quantity has no projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoProjection {
    pub quantity: Quantity,
    /// Label value: "too_short".
    pub reason: String,
}

/// The horizons of the projected totals, in seconds.
pub const TOTALS: [(&str, u64); 3] = [("24h", 86_400), ("7d", 7 * 86_400), ("30d", 30 * 86_400)];
/// The curve reaches this far ahead (VictoriaMetrics drops samples beyond now + 2 days).
pub const CURVE_SECONDS: i64 = 47 * 3600;

fn value(q: Quantity, b: &crate::compute::history::Bucket) -> Option<f64> {
    if b.unknown {
        return None;
    }
    Some(match q {
        Quantity::Cost => b.cost,
        Quantity::EnergyJoules => b.energy_j,
        Quantity::Co2Grams => b.co2_g,
    })
}

/// Fits and projects every quantity from the complete buckets of the fit window.
pub fn project(h: &History, now_s: f64, cfg: &ForecastConfig) -> Vec<Result<Projection, NoProjection>> {
    let complete: Vec<(i64, &crate::compute::history::Bucket)> = h.complete(now_s).collect();
    let window = &complete[complete.len().saturating_sub(cfg.fit_buckets)..];
    let bs = cfg.bucket_seconds as i64;
    let current = h.bucket_of(now_s);
    Quantity::ALL
        .iter()
        .map(|&q| {
            let y: Vec<Option<f64>> = window.iter().map(|(_, b)| value(q, b)).collect();
            let selected = forecast::select(&y, cfg.period)
                .map_err(|_| NoProjection { quantity: q, reason: "too_short".into() })?;
            let fit = selected.fit;
            let curve_len = ((CURVE_SECONDS / bs) as usize).max(1);
            let curve = fit
                .forecast(curve_len, cfg.sigma2)
                .into_iter()
                .enumerate()
                .map(|(i, b)| ((current + i as i64) * bs * 1000, b.clamped()))
                .collect();
            let totals = TOTALS
                .iter()
                .map(|(label, secs)| {
                    let steps = (*secs as f64 / bs as f64).ceil() as usize;
                    (label.to_string(), fit.forecast_total(steps, cfg.sigma2).clamped())
                })
                .collect();
            Ok(Projection {
                quantity: q,
                model: fit.spec.name(),
                alpha: fit.params.alpha,
                beta: fit.params.beta,
                gamma: fit.params.gamma,
                phi: fit.params.phi,
                sse: fit.sse,
                aicc: fit.aicc,
                converged: fit.converged,
                curve,
                totals,
                backtest: backtest(&y, &fit, cfg),
            })
        })
        .collect()
}

/// Refits the chosen model (its parameters fixed, initial states re-estimated) at up to seven
/// daily origins before the end, forecasts the following day and compares.
fn backtest(y: &[Option<f64>], fit: &forecast::Fit, cfg: &ForecastConfig) -> Option<Backtest> {
    let day = ((86_400 / cfg.bucket_seconds) as usize).max(1);
    let (mut n, mut abs, mut in80, mut in95, mut origins) = (0usize, 0.0, 0usize, 0usize, 0usize);
    for k in 1..=7 {
        let Some(origin) = y.len().checked_sub(k * day) else { break };
        let Ok(f) = forecast::fit(&fit.spec, &y[..origin], FitOptions { fixed: Some(fit.params) }) else {
            break;
        };
        origins += 1;
        let ahead = day.min(y.len() - origin);
        for (b, actual) in f.forecast(ahead, cfg.sigma2).iter().zip(&y[origin..origin + ahead]) {
            if let Some(a) = actual {
                n += 1;
                abs += (a - b.mean).abs();
                in80 += usize::from(*a >= b.lower_80 && *a <= b.upper_80);
                in95 += usize::from(*a >= b.lower_95 && *a <= b.upper_95);
            }
        }
    }
    (n > 0).then(|| Backtest {
        origins,
        mae: abs / n as f64,
        coverage_80: in80 as f64 / n as f64,
        coverage_95: in95 as f64 / n as f64,
    })
}

/// The power model and what describes it.
pub struct PowerModel {
    design: Design,
    pub ols: Ols,
    /// The encoder and preset seen most often (for what-if encodes that name none).
    pub common_encoder: String,
    pub common_preset: String,
}

/// Why there is no power model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoModel {
    /// Fewer training jobs than configured (label value "too_few_jobs").
    TooFewJobs { have: usize, need: usize },
    /// The least-squares fit failed (label value "fit_failed").
    FitFailed(String),
}

const HEAD: [&str; 6] = ["pixel_rate", "bitrate_kbps", "fps", "encoder", "preset", "power_watts"];

fn most_common<'a>(v: impl Iterator<Item = &'a str>) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for s in v {
        *counts.entry(s).or_default() += 1;
    }
    counts.into_iter().max_by_key(|(_, c)| *c).map(|(s, _)| s.to_string()).unwrap_or_default()
}

/// Fits mean power on pixel rate, bitrate, fps, encoder and preset (one-hot), with an intercept.
pub fn power_model(rows: &[TrainingRow<'_>], min_jobs: usize) -> Result<PowerModel, NoModel> {
    if rows.len() < min_jobs {
        return Err(NoModel::TooFewJobs { have: rows.len(), need: min_jobs });
    }
    let col = |f: fn(&TrainingRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let numeric = vec![
        (HEAD[0].to_string(), col(|r| r.pixel_rate)),
        (HEAD[1].to_string(), col(|r| r.bitrate_kbps)),
        (HEAD[2].to_string(), col(|r| r.fps)),
    ];
    // Levels are prefixed so that they read as text even if every value looks like a number;
    // each distinct value once (a model is fitted on thousands of rows, a few dozen values).
    use std::collections::BTreeMap;
    fn prefixed<'r>(prefix: &str, values: impl Iterator<Item = &'r str>) -> BTreeMap<&'r str, String> {
        let mut m = BTreeMap::new();
        for v in values {
            m.entry(v).or_insert_with(|| format!("{prefix}{v}"));
        }
        m
    }
    let encs = prefixed("enc:", rows.iter().map(|r| r.encoder));
    let presets = prefixed("preset:", rows.iter().map(|r| r.preset));
    let text: Vec<(String, Vec<&str>)> = vec![
        (HEAD[3].to_string(), rows.iter().map(|r| encs[r.encoder].as_str()).collect()),
        (HEAD[4].to_string(), rows.iter().map(|r| presets[r.preset].as_str()).collect()),
    ];
    let mut design = Design::from_columns(numeric, text, col(|r| r.power_w)).map_err(NoModel::FitFailed)?;
    let ols = design.fit().map_err(|e| NoModel::FitFailed(e.to_string()))?;
    design.forget_data();
    Ok(PowerModel {
        design,
        ols,
        common_encoder: most_common(rows.iter().map(|r| r.encoder)),
        common_preset: most_common(rows.iter().map(|r| r.preset)),
    })
}

impl PowerModel {
    pub fn ill_conditioned(&self) -> bool {
        self.ols.condition_number > HIGH_CONDITION
    }

    pub fn rank_deficient(&self) -> bool {
        !self.ols.dependent.is_empty()
    }

    /// Mean power and its 95 % bands for given features; `None` for an encoder or preset the
    /// model has not seen.
    pub fn predict(
        &self,
        pixel_rate: f64,
        bitrate_kbps: f64,
        fps: f64,
        encoder: &str,
        preset: &str,
    ) -> Option<Prediction> {
        let (enc, preset) = (format!("enc:{encoder}"), format!("preset:{preset}"));
        let x = self.design.row_of(&[pixel_rate, bitrate_kbps, fps], &[&enc, &preset]).ok()?;
        Some(self.ols.predict(&x, 0.95))
    }

    /// A what-if encode's prediction (its encoder and preset default to the common ones).
    pub fn predict_encode(&self, e: &Encode) -> Option<Prediction> {
        let rate = f64::from(e.width) * f64::from(e.height) * e.fps * f64::from(e.streams);
        self.predict(
            rate,
            e.bitrate_kbps,
            e.fps,
            e.encoder.as_deref().unwrap_or(&self.common_encoder),
            e.preset.as_deref().unwrap_or(&self.common_preset),
        )
    }
}

/// The prediction's bounds with their label values.
pub fn prediction_bounds(p: &Prediction) -> [(&'static str, f64); 5] {
    [
        ("mean", p.mean),
        ("ci_lower_95", p.mean_ci_lower),
        ("ci_upper_95", p.mean_ci_upper),
        ("pi_lower_95", p.obs_ci_lower),
        ("pi_upper_95", p.obs_ci_upper),
    ]
}

/// σ² convention in use (for documentation in metrics).
pub fn sigma2_name(s: Sigma2) -> &'static str {
    match s {
        Sigma2::Unbiased => "sse/(n-k)",
        Sigma2::Mle => "sse/n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::history::Bucket;

    fn cfg() -> ForecastConfig {
        ForecastConfig {
            enabled: true,
            bucket_seconds: 3600,
            period: 24,
            history_buckets: 24 * 90,
            fit_buckets: 24 * 28,
            sigma2: Sigma2::Unbiased,
        }
    }

    fn history(days: usize) -> History {
        let mut h = History::new(3600);
        h.first = 1000;
        h.buckets = (0..days * 24)
            .map(|t| {
                let hour = (t % 24) as f64;
                let v = 2.0 + (std::f64::consts::TAU * hour / 24.0).sin() + ((t * 7919) % 13) as f64 * 0.02;
                Bucket { cost: v, energy_j: v * 1e6, co2_g: v * 30.0, unknown: false }
            })
            .collect();
        h
    }

    #[test]
    fn projections_from_two_weeks_of_hourly_buckets() {
        let h = history(14);
        let now = (h.end() * 3600) as f64 + 60.0; // a minute into the next bucket
        let out = project(&h, now, &cfg());
        assert_eq!(out.len(), 3);
        for p in out {
            let p = p.expect("projected");
            assert!(p.model.ends_with('A'), "a daily season is found: {}", p.model);
            assert_eq!(p.curve.len(), 47);
            assert_eq!(p.curve[0].0, h.end() * 3600 * 1000, "the curve starts at the current bucket");
            assert!(p
                .curve
                .iter()
                .all(|(_, b)| b.lower_95 >= 0.0 && b.lower_95 <= b.mean && b.mean <= b.upper_95));
            let labels: Vec<&str> = p.totals.iter().map(|(l, _)| l.as_str()).collect();
            assert_eq!(labels, ["24h", "7d", "30d"]);
            let day = p.totals[0].1;
            // about 24 × 2 per day for cost
            if p.quantity == Quantity::Cost {
                assert!((day.mean - 48.0).abs() < 3.0, "{day:?}");
            }
            let bt = p.backtest.expect("a week of origins");
            assert_eq!(bt.origins, 7);
            assert!(bt.coverage_95 > 0.8, "{bt:?}");
        }
    }

    #[test]
    fn too_little_history_is_stated_not_guessed() {
        let h = history(0);
        let out = project(&h, 1000.0 * 3600.0, &cfg());
        assert!(out.iter().all(|p| matches!(p, Err(NoProjection { reason, .. }) if reason == "too_short")));
    }

    fn rows(n: usize) -> Vec<TrainingRow<'static>> {
        (0..n)
            .map(|i| {
                let rate = [27_648_000.0, 62_208_000.0, 124_416_000.0, 248_832_000.0][i % 4];
                let enc = ["x264", "x265"][i % 2];
                TrainingRow {
                    end_s: i as f64,
                    pixel_rate: rate,
                    bitrate_kbps: [2000.0, 4000.0, 6000.0][i % 3],
                    fps: [30.0, 60.0][(i / 3) % 2],
                    encoder: enc,
                    preset: "fast",
                    power_w: 20.0
                        + rate * 2e-7
                        + if enc == "x265" { 5.0 } else { 0.0 }
                        + ((i * 37) % 7) as f64 * 0.1,
                }
            })
            .collect()
    }

    #[test]
    fn power_model_predicts_with_bands_and_reports_its_limits() {
        assert_eq!(power_model(&rows(5), 20).err(), Some(NoModel::TooFewJobs { have: 5, need: 20 }));
        let m = power_model(&rows(40), 20).unwrap();
        // every job had preset "fast": its column is constant, no indicator; fine
        assert!(m.ols.r2 > 0.99, "{}", m.ols.r2);
        let p = m.predict(62_208_000.0, 4000.0, 30.0, "x265", "fast").unwrap();
        assert!((p.mean - (20.0 + 62_208_000.0 * 2e-7 + 5.0 + 0.3)).abs() < 0.5, "{p:?}");
        assert!(p.obs_ci_lower < p.mean_ci_lower && p.mean_ci_upper < p.obs_ci_upper);
        assert!(m.predict(1.0, 1.0, 30.0, "never-seen", "fast").is_none());
        let e = crate::config::default_encodes();
        assert!(m.predict_encode(&e[1]).is_some(), "common encoder and preset fill in");
        assert_eq!(m.common_preset, "fast");
    }
}
