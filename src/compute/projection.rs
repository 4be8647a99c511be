//! Projections: Holt-Winters over the history's buckets, with a 48-hour curve, totals over the
//! next 24 h, 7 d and 30 d, and a backtest. Pure: history, clock and configuration in; results
//! out.
//!
//! What is projected: the compute cost of every job, and the total cost, energy and CO2 on each
//! [`Basis`] (the measured jobs; the measured and the estimated). On the estimated basis the
//! estimates' own uncertainty (the mean over the fit window of each bucket's variance) is added
//! to the forecast's, so its bands are wider by what the power model does not know.

use serde::{Deserialize, Serialize};

use crate::compute::history::{Basis, Bucket, History};
use crate::config::ForecastConfig;
use crate::stats::forecast::{self, Band, FitOptions, Z80, Z95};

/// What is projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Quantity {
    /// Compute cost of every job, in the region's currency (known for every job: no basis).
    ComputeCost,
    /// Total cost (compute and energy), in the region's currency.
    Cost,
    EnergyJoules,
    Co2Grams,
}

impl Quantity {
    /// The quantities that depend on energy, projected once per basis.
    pub(crate) const BY_ENERGY: [Quantity; 3] = [Quantity::Cost, Quantity::EnergyJoules, Quantity::Co2Grams];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Quantity::ComputeCost => "compute_cost",
            Quantity::Cost => "cost",
            Quantity::EnergyJoules => "energy",
            Quantity::Co2Grams => "co2",
        }
    }

    /// Whether it is money (pushed in every reporting currency).
    pub(crate) fn is_money(self) -> bool {
        matches!(self, Quantity::ComputeCost | Quantity::Cost)
    }

    /// A bucket's value on `basis` (ignored for compute cost).
    fn of(self, b: &Bucket, basis: Option<Basis>) -> f64 {
        let part = basis.map_or(b.all, |basis| b.part(basis));
        match self {
            Quantity::ComputeCost => b.all.compute_cost,
            Quantity::Cost => part.cost(),
            Quantity::EnergyJoules => part.energy_j,
            Quantity::Co2Grams => part.co2_g,
        }
    }

    /// Variance of a bucket's value from the estimates in it, on `basis`.
    fn estimate_var(self, b: &Bucket, basis: Option<Basis>) -> f64 {
        let Some(basis) = basis else { return 0.0 };
        let var = b.energy_var(basis);
        if var == 0.0 || b.estimated.energy_j <= 0.0 {
            return 0.0;
        }
        // The estimates' money and CO2 per joule, as priced in this bucket.
        let per_joule = match self {
            Quantity::ComputeCost => 0.0,
            Quantity::Cost => b.estimated.energy_cost / b.estimated.energy_j,
            Quantity::EnergyJoules => 1.0,
            Quantity::Co2Grams => b.estimated.co2_g / b.estimated.energy_j,
        };
        var * per_joule * per_joule
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

/// The projection of one quantity on one basis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Projection {
    pub(crate) quantity: Quantity,
    /// `None` for compute cost (every job).
    #[serde(default)]
    pub(crate) basis: Option<Basis>,
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
    #[serde(default)]
    pub(crate) basis: Option<Basis>,
    /// Label value: "too_short".
    pub(crate) reason: String,
}

/// The share of the jobs and of the run time a basis covers over the fit window (what its
/// projections are built on); `None` when no job ran in the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Coverage {
    pub(crate) basis: Basis,
    pub(crate) jobs: f64,
    pub(crate) run_time: f64,
}

/// The horizons of the projected totals, in seconds.
pub(crate) const TOTALS: [(&str, u64); 3] = [("24h", 86_400), ("7d", 7 * 86_400), ("30d", 30 * 86_400)];
/// The curve reaches this far ahead (VictoriaMetrics drops samples beyond now + 2 days).
pub(crate) const CURVE_SECONDS: i64 = 47 * 3600;

/// The complete buckets of the fit window, oldest first.
fn fit_window<'h>(h: &'h History, now_s: f64, cfg: &ForecastConfig) -> Vec<(i64, &'h Bucket)> {
    let complete: Vec<(i64, &Bucket)> = h.complete(now_s).collect();
    complete[complete.len().saturating_sub(cfg.fit_buckets)..].to_vec()
}

/// The coverage of each basis over the fit window.
pub(crate) fn coverage(h: &History, now_s: f64, cfg: &ForecastConfig, bases: &[Basis]) -> Vec<Coverage> {
    let window = fit_window(h, now_s, cfg);
    let all = window.iter().fold((0.0, 0.0), |(j, r), (_, b)| (j + b.all.jobs, r + b.all.run_s));
    if all.0 <= 0.0 || all.1 <= 0.0 {
        return Vec::new();
    }
    bases
        .iter()
        .map(|&basis| {
            let (j, r) = window.iter().fold((0.0, 0.0), |(j, r), (_, b)| {
                let p = b.part(basis);
                (j + p.jobs, r + p.run_s)
            });
            Coverage { basis, jobs: (j / all.0).min(1.0), run_time: (r / all.1).min(1.0) }
        })
        .collect()
}

/// Fits and projects compute cost, then every energy quantity on each of `bases`, from the
/// complete buckets of the fit window.
pub(crate) fn project(
    h: &History,
    now_s: f64,
    cfg: &ForecastConfig,
    bases: &[Basis],
) -> Vec<Result<Projection, NoProjection>> {
    let window = fit_window(h, now_s, cfg);
    let series = std::iter::once((Quantity::ComputeCost, None))
        .chain(bases.iter().flat_map(|&b| Quantity::BY_ENERGY.map(|q| (q, Some(b)))));
    series.map(|(q, basis)| project_one(h, now_s, cfg, &window, q, basis)).collect()
}

fn project_one(
    h: &History,
    now_s: f64,
    cfg: &ForecastConfig,
    window: &[(i64, &Bucket)],
    q: Quantity,
    basis: Option<Basis>,
) -> Result<Projection, NoProjection> {
    let bs = cfg.bucket_seconds as i64;
    let current = h.bucket_of(now_s);
    let y: Vec<Option<f64>> = window.iter().map(|(_, b)| Some(q.of(b, basis))).collect();
    let selected = forecast::select(&y, cfg.period).map_err(|_| NoProjection {
        quantity: q,
        basis,
        reason: "too_short".into(),
    })?;
    let fit = selected.fit;
    // The estimates' variance per bucket, averaged over the window, for every future bucket.
    let est_var = if window.is_empty() {
        0.0
    } else {
        window.iter().map(|(_, b)| q.estimate_var(b, basis)).sum::<f64>() / window.len() as f64
    };
    let curve_len = ((CURVE_SECONDS / bs) as usize).max(1);
    let curve = fit
        .forecast(curve_len, cfg.sigma2)
        .into_iter()
        .enumerate()
        .map(|(i, b)| ((current + i as i64) * bs * 1000, widened(b, est_var).clamped()))
        .collect();
    let totals = TOTALS
        .iter()
        .map(|(label, secs)| {
            let steps = (*secs as f64 / bs as f64).ceil() as usize;
            let band = fit.forecast_total(steps, cfg.sigma2);
            (label.to_string(), widened(band, est_var * steps as f64).clamped())
        })
        .collect();
    Ok(Projection {
        quantity: q,
        basis,
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
}

/// A band whose half-widths also hold an independent error of variance `var` (normal): each
/// half-width `w` at level z becomes `√(w² + z²·var)`.
fn widened(b: Band, var: f64) -> Band {
    if var <= 0.0 {
        return b;
    }
    let wide = |w: f64, z: f64| (w * w + z * z * var).sqrt();
    Band {
        mean: b.mean,
        lower_80: b.mean - wide(b.mean - b.lower_80, Z80),
        upper_80: b.mean + wide(b.upper_80 - b.mean, Z80),
        lower_95: b.mean - wide(b.mean - b.lower_95, Z95),
        upper_95: b.mean + wide(b.upper_95 - b.mean, Z95),
    }
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

    /// A part of `jobs` jobs over the whole hour whose money, energy and CO2 follow `v`.
    fn part(jobs: f64, v: f64) -> crate::compute::history::Part {
        crate::compute::history::Part {
            jobs,
            run_s: jobs * 3600.0,
            compute_cost: v / 2.0,
            energy_cost: v / 2.0,
            energy_j: v * 1e6,
            co2_g: v * 30.0,
        }
    }

    /// Hourly buckets with a daily cycle: one measured job an hour, and with `estimated` one
    /// estimated job of the same size, whose energy has a standard deviation of 0.3 MJ from the
    /// model's mean and 0.2 MJ of scatter.
    fn history(days: usize, estimated: bool) -> History {
        let mut h = History::new(3600);
        h.first = 1000;
        h.buckets = (0..days * 24)
            .map(|t| {
                let hour = (t % 24) as f64;
                let v = 2.0 + (std::f64::consts::TAU * hour / 24.0).sin() + ((t * 7919) % 13) as f64 * 0.02;
                let n = if estimated { 2.0 } else { 1.0 };
                let mut all = part(n, v * n);
                (all.energy_cost, all.energy_j, all.co2_g) = (0.0, 0.0, 0.0);
                Bucket {
                    all,
                    measured: part(1.0, v),
                    estimated: if estimated { part(1.0, v) } else { Default::default() },
                    estimated_mean_sd_j: if estimated { 0.3e6 } else { 0.0 },
                    estimated_scatter_var_j2: if estimated { 0.2e6 * 0.2e6 } else { 0.0 },
                }
            })
            .collect();
        h
    }

    #[test]
    fn projections_from_two_weeks_of_hourly_buckets() {
        let h = history(14, false);
        let now = (h.end() * 3600) as f64 + 60.0; // a minute into the next bucket
        let out = project(&h, now, &cfg(), &[Basis::Measured]);
        let what: Vec<_> = out.iter().map(|p| p.as_ref().map(|p| (p.quantity, p.basis)).unwrap()).collect();
        assert_eq!(
            what,
            [
                (Quantity::ComputeCost, None),
                (Quantity::Cost, Some(Basis::Measured)),
                (Quantity::EnergyJoules, Some(Basis::Measured)),
                (Quantity::Co2Grams, Some(Basis::Measured))
            ]
        );
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
        let h = history(0, false);
        let out = project(&h, 1000.0 * 3600.0, &cfg(), &Basis::ALL);
        assert_eq!(out.len(), 7);
        assert!(out.iter().all(|p| matches!(p, Err(NoProjection { reason, .. }) if reason == "too_short")));
    }

    #[test]
    fn the_estimates_widen_the_bands_of_their_basis_by_their_variance() {
        let (with, without) = (history(14, true), history(14, false));
        let now = (with.end() * 3600) as f64 + 60.0;
        let energy = |h: &History, basis| {
            project(h, now, &cfg(), &Basis::ALL)
                .into_iter()
                .map(|p| p.unwrap())
                .find(|p| p.quantity == Quantity::EnergyJoules && p.basis == Some(basis))
                .unwrap()
        };
        // The same series (twice the measured one) with and without the estimates' variance.
        let plain = energy(&without, Basis::Measured);
        let wide = energy(&with, Basis::MeasuredAndEstimated);
        let var = 0.3e6 * 0.3e6 + 0.2e6 * 0.2e6;
        for ((_, a), (_, b)) in plain.curve.iter().zip(&wide.curve) {
            assert!((b.mean - 2.0 * a.mean).abs() < 1e-6 * b.mean.abs().max(1.0), "{a:?} {b:?}");
            let (wa, wb) = (a.upper_95 - a.mean, b.upper_95 - b.mean);
            let want = ((2.0 * wa).powi(2) + Z95 * Z95 * var).sqrt();
            assert!((wb - want).abs() < 1e-6 * want, "{wb} against {want}");
        }
        let (a, b) = (plain.totals[0].1, wide.totals[0].1);
        let want = ((2.0 * (a.upper_80 - a.mean)).powi(2) + Z80 * Z80 * 24.0 * var).sqrt();
        assert!((b.upper_80 - b.mean - want).abs() < 1e-6 * want, "24 h total: {b:?}");
        // The measured basis is the measured jobs alone: no widening.
        let measured = energy(&with, Basis::Measured);
        assert_eq!(measured.curve, plain.curve);
    }

    #[test]
    fn coverage_is_the_share_of_jobs_and_run_time_each_basis_holds() {
        let h = history(3, true);
        let now = (h.end() * 3600) as f64;
        let c = coverage(&h, now, &cfg(), &Basis::ALL);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].basis, c[0].jobs, c[0].run_time), (Basis::Measured, 0.5, 0.5));
        assert_eq!((c[1].basis, c[1].jobs, c[1].run_time), (Basis::MeasuredAndEstimated, 1.0, 1.0));
        assert!(coverage(&History::new(3600), now, &cfg(), &Basis::ALL).is_empty(), "no jobs: none");
    }
}
