//! Projections: the automatic forecasting of [`crate::stats::auto`] over the history's buckets,
//! with a 47-hour curve (one point per hourly bucket), totals over the next 24 h, 7 d and 30 d, and
//! the chosen model's backtest. Pure: history, model, clock, configuration and the previous
//! projections in; results out.
//!
//! A model is chosen (every candidate backtested) when a series has none yet, or when its choice
//! is a short period (a day) old; in the hours between, the chosen model is refitted on the new
//! bucket from its previous parameters, and its backtest errors are kept. At most one series
//! whose choice is due is chosen again per bucket (the others refit and wait their turn), so the
//! selections spread over the day rather than all falling in one hour.
//!
//! What is projected: the compute cost of every job, and the total cost, energy cost, energy and
//! CO2 on each [`Basis`]: the measured jobs, and (with a power model) the measured and the
//! estimated. Every bucket's unmeasured jobs are estimated with the current model, so the whole
//! window rests on one model. On the estimated basis the estimates' own uncertainty is added to
//! the forecast's: per future bucket, the window's mean variance of the jobs' scatter plus the
//! square of its mean standard deviation from the model's mean error; over a total of `n`
//! buckets, `n` times the former plus `n²` times the latter (the same model's error in every
//! bucket adds up, it does not average out).

use serde::{Deserialize, Serialize};

use crate::compute::history::{Basis, Bucket, Estimate, History, Part};
use crate::compute::power_model::PowerModel;
use crate::config::ForecastConfig;
use crate::stats::auto::{self, Choice};
use crate::stats::forecast::{Band, Z80, Z95};

/// What is projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Quantity {
    /// Compute cost of every job, in the region's currency (known for every job: no basis).
    ComputeCost,
    /// Total cost (compute and energy), in the region's currency.
    Cost,
    /// Energy cost, in the region's currency.
    EnergyCost,
    EnergyJoules,
    Co2Grams,
}

impl Quantity {
    /// The quantities that depend on energy, projected once per basis.
    pub(crate) const BY_ENERGY: [Quantity; 4] =
        [Quantity::Cost, Quantity::EnergyCost, Quantity::EnergyJoules, Quantity::Co2Grams];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Quantity::ComputeCost => "compute_cost",
            Quantity::Cost => "cost",
            Quantity::EnergyCost => "energy_cost",
            Quantity::EnergyJoules => "energy",
            Quantity::Co2Grams => "co2",
        }
    }

    /// Whether it is money (pushed in every reporting currency).
    pub(crate) fn is_money(self) -> bool {
        matches!(self, Quantity::ComputeCost | Quantity::Cost | Quantity::EnergyCost)
    }

    /// The quantity in a part of a bucket.
    fn of_part(self, part: &Part) -> f64 {
        match self {
            Quantity::ComputeCost => part.compute_cost,
            Quantity::Cost => part.cost(),
            Quantity::EnergyCost => part.energy_cost,
            Quantity::EnergyJoules => part.energy_j,
            Quantity::Co2Grams => part.co2_g,
        }
    }

    /// The quantity per joule of an estimate (how its energy uncertainty carries over).
    fn per_joule(self, e: &Estimate) -> f64 {
        if e.part.energy_j <= 0.0 {
            // No energy estimated: cost and CO2 scale as the price and intensity would; only
            // energy itself is known to carry the uncertainty one for one.
            return if self == Quantity::EnergyJoules { 1.0 } else { 0.0 };
        }
        match self {
            Quantity::ComputeCost => 0.0,
            Quantity::Cost | Quantity::EnergyCost => e.part.energy_cost / e.part.energy_j,
            Quantity::EnergyJoules => 1.0,
            Quantity::Co2Grams => e.part.co2_g / e.part.energy_j,
        }
    }
}

/// How unmeasured jobs are estimated: the current power model and the region's electricity price.
#[derive(Clone, Copy)]
pub(crate) struct Estimator<'m> {
    pub(crate) model: &'m PowerModel,
    pub(crate) price_per_kwh: f64,
}

impl Estimator<'_> {
    /// A bucket's unmeasured jobs as the model estimates them.
    pub(crate) fn bucket(&self, b: &Bucket) -> Option<Estimate> {
        b.unmeasured.estimate(self.model, self.price_per_kwh)
    }
}

/// A bucket of the fit window: its index, the bucket, and its estimate.
type InWindow<'h> = (i64, &'h Bucket, Option<Estimate>);

pub(crate) use crate::stats::auto::Backtest;

/// The projection of one quantity on one basis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Projection {
    pub(crate) quantity: Quantity,
    /// `None` for compute cost (every job).
    #[serde(default)]
    pub(crate) basis: Option<Basis>,
    /// The chosen model's name (the `model` label).
    pub(crate) model: String,
    /// How it was chosen: "backtest" or "aicc" (too little history for a backtest).
    pub(crate) method: String,
    /// Per bucket from the current one: (bucket start, Unix ms; band), within the next 47 h
    /// ([`CURVE_SECONDS`]).
    pub(crate) curve: Vec<(i64, Band)>,
    /// Totals of the next 24 h, 7 days and 30 days (label values "24h", "7d", "30d").
    pub(crate) totals: Vec<(String, Band)>,
    pub(crate) backtest: Option<Backtest>,
    /// The choice behind it and the bucket it was made in (refitted until a day later).
    pub(crate) choice: Choice,
    pub(crate) chosen_in: i64,
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

/// The complete buckets of the fit window, oldest first, each with its estimate.
fn fit_window<'h>(
    h: &'h History,
    now_s: f64,
    cfg: &ForecastConfig,
    estimator: Option<Estimator<'_>>,
) -> Vec<InWindow<'h>> {
    let complete: Vec<(i64, &Bucket)> = h.complete(now_s).collect();
    complete[complete.len().saturating_sub(cfg.fit_buckets)..]
        .iter()
        .map(|&(i, b)| (i, b, estimator.and_then(|e| e.bucket(b))))
        .collect()
}

/// The bases there are: the measured one, and with an estimator the estimated one.
pub(crate) fn bases(estimator: Option<Estimator<'_>>) -> &'static [Basis] {
    if estimator.is_some() {
        &Basis::ALL
    } else {
        &[Basis::Measured]
    }
}

/// The coverage of each basis over the fit window.
pub(crate) fn coverage(
    h: &History,
    now_s: f64,
    cfg: &ForecastConfig,
    estimator: Option<Estimator<'_>>,
) -> Vec<Coverage> {
    let window = fit_window(h, now_s, cfg, estimator);
    let mut total = Bucket::default();
    let mut estimated = Part::default();
    for (_, b, e) in &window {
        total.all = total.all.plus(&b.all);
        total.measured = total.measured.plus(&b.measured);
        if let Some(e) = e {
            estimated = estimated.plus(&e.part);
        }
    }
    bases(estimator)
        .iter()
        .filter_map(|&basis| {
            let part = match basis {
                Basis::Measured => total.measured,
                Basis::MeasuredAndEstimated => total.measured.plus(&estimated),
            };
            let (jobs, run_time) = total.coverage(&part)?;
            Some(Coverage { basis, jobs, run_time })
        })
        .collect()
}

/// Projects compute cost, then every energy quantity on each basis, from the complete buckets of
/// the fit window; `previous` projections (of an earlier bucket) lend their choices.
pub(crate) fn project(
    h: &History,
    now_s: f64,
    cfg: &ForecastConfig,
    estimator: Option<Estimator<'_>>,
    previous: &[Result<Projection, NoProjection>],
) -> Vec<Result<Projection, NoProjection>> {
    let window = fit_window(h, now_s, cfg, estimator);
    let series = std::iter::once((Quantity::ComputeCost, None))
        .chain(bases(estimator).iter().flat_map(|&b| Quantity::BY_ENERGY.map(|q| (q, Some(b)))));
    let mut reselections = 1;
    series
        .map(|(q, basis)| {
            let before = previous.iter().flatten().find(|p| p.quantity == q && p.basis == basis);
            project_one(h.bucket_of(now_s), cfg, &window, q, basis, before, &mut reselections)
        })
        .collect()
}

/// The engine's options for the agent: the curve's length is the horizon backtested, the
/// longest total the forecast's reach.
fn options(cfg: &ForecastConfig) -> auto::Options {
    let bs = cfg.bucket_seconds as i64;
    let longest =
        TOTALS.iter().map(|(_, secs)| (*secs as f64 / bs as f64).ceil() as usize).max().unwrap_or(1);
    auto::Options {
        period: cfg.period,
        long_period: cfg.long_period,
        horizon: curve_len(cfg),
        steps: longest.max(curve_len(cfg)),
        sigma2: cfg.sigma2,
    }
}

fn curve_len(cfg: &ForecastConfig) -> usize {
    ((CURVE_SECONDS / cfg.bucket_seconds as i64) as usize).max(1)
}

/// Projects one series; `current` is the bucket now in progress.
fn project_one(
    current: i64,
    cfg: &ForecastConfig,
    window: &[InWindow<'_>],
    q: Quantity,
    basis: Option<Basis>,
    before: Option<&Projection>,
    reselections: &mut usize,
) -> Result<Projection, NoProjection> {
    let bs = cfg.bucket_seconds as i64;
    let value = |b: &Bucket, e: &Option<Estimate>| match basis {
        None => q.of_part(&b.all),
        Some(basis) => q.of_part(&b.part(basis, e.as_ref())),
    };
    let y: Vec<Option<f64>> = window.iter().map(|(_, b, e)| Some(value(b, e))).collect();
    let opts = options(cfg);
    // A choice of the last short period is refitted; an older one is chosen afresh while this
    // bucket's reselection is left (else refitted until a later bucket); none, or one made for
    // other periods, is chosen now.
    let before = before.filter(|p| p.choice.periods_match(cfg.period, cfg.long_period));
    let due = |p: &Projection| current - p.chosen_in >= cfg.period as i64 || p.chosen_in > current;
    let fit = match before {
        Some(p) if due(p) && *reselections > 0 => auto::auto(&y, &opts),
        Some(p) => auto::refit(&y, &opts, &p.choice, *reselections > 0),
        None => auto::auto(&y, &opts),
    };
    let fit = fit.map_err(|_| NoProjection { quantity: q, basis, reason: "too_short".into() })?;
    let chosen_in = match before {
        Some(p) if !fit.chosen_now => p.chosen_in,
        Some(_) => {
            *reselections = reselections.saturating_sub(1);
            current
        }
        None => current,
    };
    // The estimates' uncertainty per bucket, over the window: the mean standard deviation from
    // the model's mean error, and the mean variance of the jobs' scatter.
    let (mut mean_sd, mut scatter_var) = (0.0, 0.0);
    if basis == Some(Basis::MeasuredAndEstimated) && !window.is_empty() {
        for (_, _, e) in window {
            if let Some(e) = e {
                let f = q.per_joule(e);
                mean_sd += e.mean_sd_j * f;
                scatter_var += e.scatter_var_j2 * f * f;
            }
        }
        mean_sd /= window.len() as f64;
        scatter_var /= window.len() as f64;
    }
    let curve = fit
        .forecast(curve_len(cfg))
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            ((current + i as i64) * bs * 1000, widened(b, mean_sd * mean_sd + scatter_var).clamped())
        })
        .collect();
    let totals = TOTALS
        .iter()
        .map(|(label, secs)| {
            let steps = (*secs as f64 / bs as f64).ceil() as usize;
            let n = steps as f64;
            let band = fit.total(steps);
            (label.to_string(), widened(band, n * n * mean_sd * mean_sd + n * scatter_var).clamped())
        })
        .collect();
    Ok(Projection {
        quantity: q,
        basis,
        model: fit.choice.name(),
        method: fit.choice.method().into(),
        curve,
        totals,
        backtest: fit.choice.backtest().copied(),
        choice: fit.choice,
        chosen_in,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::forecast::Sigma2;

    fn cfg() -> ForecastConfig {
        ForecastConfig {
            enabled: true,
            bucket_seconds: 3600,
            period: 24,
            long_period: Some(168),
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

    /// A power model of 40 jobs: 20 W plus 2e-7 W per pixel per second, x265 5 W more than x264.
    fn model() -> PowerModel {
        let rows: Vec<crate::compute::history::TrainingRow<'static>> = (0..40)
            .map(|i| {
                let rate = [27_648_000.0, 62_208_000.0, 124_416_000.0][i % 3];
                let enc = ["x264", "x265"][i % 2];
                crate::compute::history::TrainingRow {
                    end_s: i as f64,
                    pixel_rate: rate,
                    bitrate_kbps: [2000.0, 4000.0][(i / 3) % 2],
                    fps: 30.0,
                    encoder: enc,
                    preset: "fast",
                    power_w: 20.0
                        + rate * 2e-7
                        + if enc == "x265" { 5.0 } else { 0.0 }
                        + ((i * 37) % 7) as f64,
                }
            })
            .collect();
        crate::compute::power_model::power_model(
            rows.into_iter(),
            20,
            crate::compute::power_model::Coverage::Check,
        )
        .unwrap()
    }

    /// Hourly buckets with a daily cycle: one measured job an hour, and with `unmeasured` one
    /// job of the same run time whose energy no source measured (x264, 62 Mpx/s, 2 Mbps).
    fn history(days: usize, unmeasured: bool) -> History {
        let mut h = History::new(3600);
        h.first = 1000;
        h.buckets = (0..days * 24)
            .map(|t| {
                let hour = (t % 24) as f64;
                let v = 2.0 + (std::f64::consts::TAU * hour / 24.0).sin() + ((t * 7919) % 13) as f64 * 0.02;
                let n = if unmeasured { 2.0 } else { 1.0 };
                let mut all = part(n, v * n);
                (all.energy_cost, all.energy_j, all.co2_g) = (0.0, 0.0, 0.0);
                let w = 3600.0;
                let unmeasured = if unmeasured {
                    crate::compute::history::FeatureSums {
                        jobs: 1.0,
                        run_s: w,
                        weight_sq: w * w,
                        compute_cost: v / 2.0,
                        pixel_rate: w * 62_208_000.0,
                        bitrate_kbps: w * 2000.0,
                        fps: w * 30.0,
                        intensity: w * 100.0,
                        encoders: vec![("x264".into(), w)],
                        presets: vec![("fast".into(), w)],
                    }
                } else {
                    Default::default()
                };
                Bucket { all, measured: part(1.0, v), unmeasured }
            })
            .collect();
        h
    }

    #[test]
    fn projections_from_two_weeks_of_hourly_buckets() {
        let h = history(14, false);
        let now = (h.end() * 3600) as f64 + 60.0; // a minute into the next bucket
        let out = project(&h, now, &cfg(), None, &[]);
        let what: Vec<_> = out.iter().map(|p| p.as_ref().map(|p| (p.quantity, p.basis)).unwrap()).collect();
        let m = Some(Basis::Measured);
        assert_eq!(
            what,
            [
                (Quantity::ComputeCost, None),
                (Quantity::Cost, m),
                (Quantity::EnergyCost, m),
                (Quantity::EnergyJoules, m),
                (Quantity::Co2Grams, m)
            ]
        );
        for p in out {
            let p = p.expect("projected");
            assert!(
                p.model.contains("24") && p.method == "backtest",
                "a daily model, backtested: {}",
                p.model
            );
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
            assert!(bt.coverage_95.unwrap() > 0.8, "{bt:?}");
        }
    }

    #[test]
    fn a_choice_is_refitted_for_a_day_then_made_again() {
        let h = history(14, false);
        let now = (h.end() * 3600) as f64 + 60.0;
        let first = project(&h, now, &cfg(), None, &[]);
        let current = h.bucket_of(now);
        assert!(first.iter().all(|p| p.as_ref().unwrap().chosen_in == current));
        // an hour later (a bucket more): refitted, the choice and its backtest kept
        let mut later = h.clone();
        later.buckets.push(later.buckets[later.buckets.len() - 24].clone());
        let next = project(&later, now + 3600.0, &cfg(), None, &first);
        for (a, b) in first.iter().zip(&next) {
            let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
            assert_eq!((b.chosen_in, &b.model, b.backtest), (current, &a.model, a.backtest));
            assert_ne!(a.curve[1].0, b.curve[1].0, "the curve moved on an hour");
        }
        // a day after the choice: one series chosen afresh per bucket, the others refitted
        let day_on = project(&later, now + 24.0 * 3600.0, &cfg(), None, &first);
        let chosen: Vec<i64> = day_on.iter().map(|p| p.as_ref().unwrap().chosen_in).collect();
        assert_eq!(chosen, [current + 24, current, current, current, current]);
        let hour_on = project(&later, now + 25.0 * 3600.0, &cfg(), None, &day_on);
        let chosen: Vec<i64> = hour_on.iter().map(|p| p.as_ref().unwrap().chosen_in).collect();
        assert_eq!(chosen, [current + 24, current + 25, current, current, current]);
    }

    #[test]
    fn too_little_history_is_stated_not_guessed() {
        let (h, m) = (history(0, false), model());
        let estimator = Some(Estimator { model: &m, price_per_kwh: 0.36 });
        let out = project(&h, 1000.0 * 3600.0, &cfg(), estimator, &[]);
        assert_eq!(out.len(), 9, "compute cost, and four quantities on each of two bases");
        assert!(out.iter().all(|p| matches!(p, Err(NoProjection { reason, .. }) if reason == "too_short")));
    }

    #[test]
    fn the_estimates_widen_the_bands_of_their_basis_by_their_variance() {
        let (h, m) = (history(14, true), model());
        let estimator = Estimator { model: &m, price_per_kwh: 0.36 };
        let now = (h.end() * 3600) as f64 + 60.0;
        let energy = |basis| {
            project(&h, now, &cfg(), Some(estimator), &[])
                .into_iter()
                .map(|p| p.unwrap())
                .find(|p| p.quantity == Quantity::EnergyJoules && p.basis == Some(basis))
                .unwrap()
        };
        // Every bucket's unmeasured job is the same: 3600 s at the model's power for it.
        let e = estimator.bucket(&h.buckets[0]).unwrap();
        let watts = e.part.energy_j / 3600.0;
        assert!((watts - (20.0 + 62_208_000.0 * 2e-7 + 3.0)).abs() < 1.5, "{watts} W");
        let (sd, var) = (e.mean_sd_j, e.scatter_var_j2);
        // The estimated basis is the measured series plus that energy in every bucket; its bands
        // hold the estimate's variance besides the forecast's. A forecast of the estimated series
        // without it would be the measured one shifted by the estimate (additive models), so the
        // half-widths are those of the measured basis, widened.
        let (measured, both) = (energy(Basis::Measured), energy(Basis::MeasuredAndEstimated));
        for ((_, a), (_, b)) in measured.curve.iter().zip(&both.curve) {
            assert!((b.mean - a.mean - e.part.energy_j).abs() < 1e-3 * e.part.energy_j, "{a:?} {b:?}");
            let want = ((a.upper_95 - a.mean).powi(2) + Z95 * Z95 * (sd * sd + var)).sqrt();
            assert!(
                (b.upper_95 - b.mean - want).abs() < 0.02 * want,
                "{} against {want}",
                b.upper_95 - b.mean
            );
        }
        // A total of n buckets: the model's mean error n times over (it does not average out),
        // the scatter √n times.
        let (a, b) = (measured.totals[0].1, both.totals[0].1);
        let n = 24.0;
        let want = ((a.upper_80 - a.mean).powi(2) + Z80 * Z80 * (n * n * sd * sd + n * var)).sqrt();
        assert!((b.upper_80 - b.mean - want).abs() < 0.02 * want, "24 h total: {b:?} against {want}");
        // Without a model only the measured basis is projected, and it is not widened.
        let alone = project(&h, now, &cfg(), None, &[]);
        assert!(alone.iter().all(|p| p.as_ref().unwrap().basis != Some(Basis::MeasuredAndEstimated)));
        assert!(alone.iter().any(|p| p.as_ref().unwrap().curve == measured.curve));
    }

    #[test]
    fn coverage_is_the_share_of_jobs_and_run_time_each_basis_holds() {
        let (h, m) = (history(3, true), model());
        let now = (h.end() * 3600) as f64;
        let estimator = Some(Estimator { model: &m, price_per_kwh: 0.36 });
        let c = coverage(&h, now, &cfg(), estimator);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].basis, c[0].jobs, c[0].run_time), (Basis::Measured, 0.5, 0.5));
        assert_eq!((c[1].basis, c[1].jobs, c[1].run_time), (Basis::MeasuredAndEstimated, 1.0, 1.0));
        assert_eq!(coverage(&h, now, &cfg(), None).len(), 1, "no model: the measured basis alone");
        assert!(coverage(&History::new(3600), now, &cfg(), estimator).is_empty(), "no jobs: none");
    }
}
