//! Projections: Holt-Winters over the history's buckets (cost, energy, CO2), with a 48-hour
//! curve, totals over the next 24 h, 7 d and 30 d, and a backtest. Pure: history, clock and
//! configuration in; results out.

use serde::{Deserialize, Serialize};

use crate::compute::history::{Bucket, History};
use crate::config::ForecastConfig;
use crate::stats::forecast::{self, Band, FitOptions};

/// What is projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Quantity {
    /// Total cost, in the region's currency.
    Cost,
    EnergyJoules,
    Co2Grams,
}

impl Quantity {
    pub(crate) const ALL: [Quantity; 3] = [Quantity::Cost, Quantity::EnergyJoules, Quantity::Co2Grams];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Quantity::Cost => "cost",
            Quantity::EnergyJoules => "energy",
            Quantity::Co2Grams => "co2",
        }
    }
}

/// Rolling-origin check of the chosen model: one-day-ahead forecasts from past origins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Backtest {
    pub(crate) origins: usize,
    /// Mean absolute error per bucket, in the quantity's unit.
    pub(crate) mae: f64,
    pub(crate) coverage_80: f64,
    pub(crate) coverage_95: f64,
}

/// The projection of one quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Projection {
    pub(crate) quantity: Quantity,
    pub(crate) model: String,
    pub(crate) alpha: f64,
    pub(crate) beta: f64,
    pub(crate) gamma: f64,
    pub(crate) phi: f64,
    pub(crate) sse: f64,
    pub(crate) aicc: f64,
    pub(crate) converged: bool,
    /// Per bucket from the current one: (bucket start, Unix ms; band), within the next 48 h.
    pub(crate) curve: Vec<(i64, Band)>,
    /// Totals of the next 24 h, 7 days and 30 days (label values "24h", "7d", "30d").
    pub(crate) totals: Vec<(String, Band)>,
    pub(crate) backtest: Option<Backtest>,
}

/// Why a quantity has no projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NoProjection {
    pub(crate) quantity: Quantity,
    /// Label value: "too_short".
    pub(crate) reason: String,
}

/// The horizons of the projected totals, in seconds.
pub(crate) const TOTALS: [(&str, u64); 3] = [("24h", 86_400), ("7d", 7 * 86_400), ("30d", 30 * 86_400)];
/// The curve reaches this far ahead (VictoriaMetrics drops samples beyond now + 2 days).
pub(crate) const CURVE_SECONDS: i64 = 47 * 3600;

fn value(q: Quantity, b: &Bucket) -> Option<f64> {
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
pub(crate) fn project(
    h: &History,
    now_s: f64,
    cfg: &ForecastConfig,
) -> Vec<Result<Projection, NoProjection>> {
    let complete: Vec<(i64, &Bucket)> = h.complete(now_s).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::forecast::Sigma2;

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
}
