//! Automatic forecasting for hourly cost, energy and CO2: several models, chosen by how well they
//! forecast the series' own recent past, with bands made from their errors there. Pure: plain
//! data in, plain data out.
//!
//! # Candidates
//!
//! Seasonal naive at the short period (a day) and the long one (a week); the median of the same
//! hour over the last four weeks; Fourier terms of both periods with a smoothed level (dynamic
//! harmonic regression); Holt-Winters with an additive daily season, without a trend and with a
//! damped one ([`Candidate`]). The long-period candidates join once the earliest backtest origin
//! has a week and a day before it.
//!
//! # Selection
//!
//! Rolling origin: up to [`ORIGINS`] origins a short period apart, the last leaving the horizon
//! after it. Every candidate is fitted on the data before each origin and forecast over the
//! horizon; the mean absolute error over all of them scores it. The best is chosen, or the mean
//! of the best two or three when that scores lower (combinations often beat their members).
//! With fewer than [`MIN_ORIGINS`] origins the exponential-smoothing model of lowest AICc is
//! chosen ([`crate::stats::forecast::select`]), with its analytic bands; its backtest is a short
//! period ahead from the origins there are, its parameters (fitted on the whole series) held.
//!
//! The backtest's error and MASE are those of the model chosen on the same origins, so somewhat
//! optimistic; its coverage is judged out of sample (below).
//!
//! # Bands
//!
//! Per step, the chosen forecast plus the empirical quantiles of its backtest errors (pooled over
//! every origin and step of the horizon); for totals,
//! Student's t scaled by how the variance of a sum of errors grows with its length
//! ([`ErrorModel`]), measured on paths a long period long from origins further back when the
//! forecast reaches that far. A series with no negative value
//! is treated as one that cannot go negative: forecasts and bounds are clamped at zero. The
//! coverage reported is out of sample: each origin's errors against bands from the others'.
//! Steps beyond the backtest horizon keep the bands' width at it.
//!
//! # Refits
//!
//! [`refit`] keeps a [`Choice`] and fits only its members on new data, warm-started from their
//! parameters, keeping the backtest's errors: what the agent does every hour between selections.

mod backtest;
mod candidate;
mod errors;
mod harmonic;
mod naive;
mod smoothing;

use serde::{Deserialize, Serialize};

pub use candidate::Candidate;
pub use errors::ErrorModel;

use crate::stats::forecast::{self, Band, Fit, FitError, FitOptions, Params, Sigma2, Spec};

/// The most backtest origins.
pub const ORIGINS: usize = 7;
/// The fewest origins a backtest needs; with fewer, selection is by AICc.
pub const MIN_ORIGINS: usize = 3;

/// What to forecast and how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// The short seasonal period (a day of buckets).
    pub period: usize,
    /// The long one (a week), if any.
    pub long_period: Option<usize>,
    /// The horizon backtested (the one the forecasts are used at).
    pub horizon: usize,
    /// The longest forecast wanted (steps); totals reach this far.
    pub steps: usize,
    /// σ² for the analytic bands.
    pub sigma2: Sigma2,
}

/// A model chosen for a series, without the data: enough to refit it on newer data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Choice {
    /// Chosen by backtest: the members (forecasts averaged) and their parameters.
    Backtested {
        members: Vec<Candidate>,
        params: Vec<Option<Params>>,
        errors: ErrorModel,
        backtest: Backtest,
    },
    /// Chosen by AICc (too little data for a backtest): an exponential-smoothing model, and how
    /// it did a short period ahead from the origins there are (its parameters held).
    Analytic { model: String, period: usize, params: Params, backtest: Option<Backtest> },
}

/// How the chosen model did in the backtest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    pub origins: usize,
    pub horizon: usize,
    /// Mean absolute error, in the series' unit.
    pub mae: f64,
    /// The MAE over the in-sample mean absolute change over a short period (`None` when that is
    /// zero).
    pub mase: Option<f64>,
    /// Coverage of the 80 % and 95 % bands (out of sample for a backtested choice; `None` when
    /// fewer than two origins have actuals).
    pub coverage_80: Option<f64>,
    pub coverage_95: Option<f64>,
}

/// One candidate's backtest score.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub name: String,
    pub mae: f64,
}

/// A forecast ready to read: the choice, its point forecasts and bands.
#[derive(Debug, Clone)]
pub struct Auto {
    pub choice: Choice,
    /// Every candidate's backtest score (empty after a [`refit`]).
    pub scores: Vec<Score>,
    /// Whether the model was chosen in this call (not refitted from an earlier choice).
    pub chosen_now: bool,
    non_negative: bool,
    sigma2: Sigma2,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Backtested { points: Vec<f64>, errors: ErrorModel },
    Analytic(Box<Fit>),
}

impl Choice {
    /// The name pushed in the `model` label: a candidate's name, `mean(a,b)` for a mean, or
    /// `ets_<model><period>` when chosen by AICc.
    pub fn name(&self) -> String {
        match self {
            Choice::Backtested { members, .. } if members.len() == 1 => members[0].name(),
            Choice::Backtested { members, .. } => {
                format!("mean({})", members.iter().map(Candidate::name).collect::<Vec<_>>().join(","))
            }
            Choice::Analytic { model, period, .. } => {
                if model.ends_with('N') {
                    format!("ets_{model}")
                } else {
                    format!("ets_{model}{period}")
                }
            }
        }
    }

    /// How it was chosen: "backtest" or "aicc".
    pub fn method(&self) -> &'static str {
        match self {
            Choice::Backtested { .. } => "backtest",
            Choice::Analytic { .. } => "aicc",
        }
    }

    /// Whether the choice was made for these periods (a changed configuration chooses afresh).
    pub fn periods_match(&self, period: usize, long_period: Option<usize>) -> bool {
        match self {
            Choice::Backtested { members, .. } => {
                members.iter().all(|m| m.periods_within(period, long_period))
            }
            Choice::Analytic { period: p, model, .. } => *p == period || model.ends_with('N'),
        }
    }

    pub fn backtest(&self) -> Option<&Backtest> {
        match self {
            Choice::Backtested { backtest, .. } => Some(backtest),
            Choice::Analytic { backtest, .. } => backtest.as_ref(),
        }
    }
}

impl Auto {
    /// Forecasts with 80 % and 95 % bands for steps 1..=`steps` (at most [`Options::steps`]
    /// for a backtested choice).
    pub fn forecast(&self, steps: usize) -> Vec<Band> {
        let bands: Vec<Band> = match &self.kind {
            Kind::Backtested { points, errors } => {
                points.iter().take(steps).map(|p| errors.band(*p)).collect()
            }
            Kind::Analytic(fit) => fit.forecast(steps, self.sigma2),
        };
        bands.into_iter().map(|b| self.bounded(b)).collect()
    }

    /// The total of the next `steps` steps with its bands (at most [`Options::steps`] for a
    /// backtested choice).
    pub fn total(&self, steps: usize) -> Band {
        let b = match &self.kind {
            Kind::Backtested { points, errors } => {
                let steps = steps.min(points.len());
                errors.total(points[..steps].iter().sum(), steps)
            }
            Kind::Analytic(fit) => fit.forecast_total(steps, self.sigma2),
        };
        self.bounded(b)
    }

    fn bounded(&self, b: Band) -> Band {
        if self.non_negative {
            b.clamped()
        } else {
            b
        }
    }
}

/// Chooses a model for `y` (see the module doc) and forecasts. `Err` when the series is too
/// short for any model.
pub fn auto(y: &[Option<f64>], opts: &Options) -> Result<Auto, FitError> {
    let non_negative = y.iter().flatten().all(|v| *v >= 0.0);
    let horizon = opts.horizon.max(1);
    let period = opts.period.max(1);
    let at = backtest::origins(y.len(), horizon, period, ORIGINS, 2 * period);
    if at.len() < MIN_ORIGINS {
        return analytic(y, opts, non_negative, None);
    }
    let long = opts.long_period.filter(|&w| w > period && at[0] >= w + period);
    let scored = backtest::score(y, &Candidate::all(period, long), &at, horizon, non_negative);
    let scores = scored.iter().map(|s| Score { name: s.members[0].name(), mae: s.mae }).collect();
    let Some(best) = backtest::choose(scored) else {
        return analytic(y, opts, non_negative, None);
    };
    // Totals reach further than the horizon: their variance comes from paths a long period
    // (a week) long where the data allow, from the same number of origins.
    let reach = long.unwrap_or(period).min(opts.steps.max(horizon));
    let long_at = backtest::origins(y.len(), reach, period, ORIGINS, at[0].min(2 * period.max(reach)));
    let long_paths = if reach > horizon && long_at.len() >= MIN_ORIGINS {
        backtest::paths_of(y, &best.members, &long_at, reach, non_negative).unwrap_or_default()
    } else {
        Vec::new()
    };
    let errors = ErrorModel::new(&best.paths, &long_paths, period).expect("a scored candidate has errors");
    let coverage = backtest::coverage(&best.paths);
    let backtest = Backtest {
        origins: at.len(),
        horizon,
        mae: best.mae,
        mase: naive_scale(y, period).map(|s| best.mae / s),
        coverage_80: coverage.map(|c| c.0),
        coverage_95: coverage.map(|c| c.1),
    };
    let choice = Choice::Backtested { members: best.members, params: best.params, errors, backtest };
    // A member that fitted at every origin can still fail on the whole series (the seasonal
    // naive of a day whose last day is missing): the exponential-smoothing choice then.
    let mut a = match from_choice(y, opts, non_negative, &choice) {
        Some(a) => a,
        None => analytic(y, opts, non_negative, None)?,
    };
    a.scores = scores;
    a.chosen_now = true;
    Ok(a)
}

/// Fits `choice`'s members again on `y` (warm), keeping its backtest. It chooses afresh
/// ([`auto`], and [`Auto::chosen_now`] says so) when a member no longer fits, and, if
/// `may_choose`, when an AICc choice now has the data for a backtest.
pub fn refit(y: &[Option<f64>], opts: &Options, choice: &Choice, may_choose: bool) -> Result<Auto, FitError> {
    let non_negative = y.iter().flatten().all(|v| *v >= 0.0);
    match choice {
        Choice::Backtested { .. } => match from_choice(y, opts, non_negative, choice) {
            Some(a) => Ok(a),
            None => auto(y, opts),
        },
        Choice::Analytic { model, period, params, .. } => {
            let at =
                backtest::origins(y.len(), opts.horizon.max(1), opts.period.max(1), ORIGINS, 2 * opts.period);
            match Spec::parse(model, *period) {
                Some(spec) if at.len() < MIN_ORIGINS || !may_choose => {
                    let mut a = analytic(y, opts, non_negative, Some((spec, *params)))?;
                    a.chosen_now = false;
                    Ok(a)
                }
                _ => auto(y, opts),
            }
        }
    }
}

/// The forecast of a backtested choice on `y`; `None` when a member does not fit.
fn from_choice(y: &[Option<f64>], opts: &Options, non_negative: bool, choice: &Choice) -> Option<Auto> {
    let Choice::Backtested { members, params, errors, backtest } = choice else { return None };
    let steps = opts.steps.max(opts.horizon).max(1);
    let mut points = vec![0.0; steps];
    let mut fitted_params = Vec::with_capacity(members.len());
    for (c, warm) in members.iter().zip(params) {
        let f = c.forecast(y, steps, *warm)?;
        for (p, v) in points.iter_mut().zip(&f.points) {
            *p += if non_negative { v.max(0.0) } else { *v } / members.len() as f64;
        }
        fitted_params.push(f.params);
    }
    Some(Auto {
        choice: Choice::Backtested {
            members: members.clone(),
            params: fitted_params,
            errors: *errors,
            backtest: *backtest,
        },
        scores: Vec::new(),
        chosen_now: false,
        non_negative,
        sigma2: opts.sigma2,
        kind: Kind::Backtested { points, errors: *errors },
    })
}

/// The exponential-smoothing model of lowest AICc (or `fixed`'s model with its parameters), with
/// analytic bands.
fn analytic(
    y: &[Option<f64>],
    opts: &Options,
    non_negative: bool,
    fixed: Option<(Spec, Params)>,
) -> Result<Auto, FitError> {
    let fit = match fixed {
        Some((spec, p)) => forecast::fit(&spec, y, FitOptions { fixed: Some(p) })?,
        None => forecast::select(y, opts.period)?.fit,
    };
    let backtest = analytic_backtest(y, &fit, opts);
    let choice =
        Choice::Analytic { model: fit.spec.name(), period: fit.spec.m, params: fit.params, backtest };
    Ok(Auto {
        choice,
        scores: Vec::new(),
        chosen_now: true,
        non_negative,
        sigma2: opts.sigma2,
        kind: Kind::Analytic(Box::new(fit)),
    })
}

/// The AICc choice a short period ahead (at most the horizon) from up to [`ORIGINS`] origins a
/// short period apart, its parameters held and its initial states fitted again at each; its
/// coverage is of its analytic bands. The parameters were fitted on the whole series, so this
/// is not out of sample (a short history has no room for that). `None` without an origin.
fn analytic_backtest(y: &[Option<f64>], fit: &Fit, opts: &Options) -> Option<Backtest> {
    let period = opts.period.max(1);
    let ahead = period.min(opts.horizon.max(1));
    let at = backtest::origins(y.len(), ahead, period, ORIGINS, forecast::min_obs(&fit.spec));
    let (mut n, mut abs, mut in80, mut in95, mut origins) = (0usize, 0.0, 0usize, 0usize, 0usize);
    for &o in &at {
        let Ok(f) = forecast::fit(&fit.spec, &y[..o], FitOptions { fixed: Some(fit.params) }) else {
            continue;
        };
        origins += 1;
        for (b, actual) in f.forecast(ahead, opts.sigma2).iter().zip(&y[o..o + ahead]) {
            if let Some(a) = actual {
                n += 1;
                abs += (a - b.mean).abs();
                in80 += usize::from(*a >= b.lower_80 && *a <= b.upper_80);
                in95 += usize::from(*a >= b.lower_95 && *a <= b.upper_95);
            }
        }
    }
    (n > 0).then(|| {
        let mae = abs / n as f64;
        Backtest {
            origins,
            horizon: ahead,
            mae,
            mase: naive_scale(y, period).map(|s| mae / s),
            coverage_80: Some(in80 as f64 / n as f64),
            coverage_95: Some(in95 as f64 / n as f64),
        }
    })
}

/// The in-sample mean absolute change over one period (MASE's scale); `None` when it is zero or
/// there are no pairs.
fn naive_scale(y: &[Option<f64>], period: usize) -> Option<f64> {
    let (sum, n) = y
        .iter()
        .zip(y.iter().skip(period))
        .filter_map(|(a, b)| Some((b.as_ref()? - a.as_ref()?).abs()))
        .fold((0.0, 0usize), |(s, n), d| (s + d, n + 1));
    (n > 0 && sum > 0.0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options { period: 24, long_period: Some(168), horizon: 47, steps: 720, sigma2: Sigma2::Unbiased }
    }

    /// Hourly cost: a day shape, a weekend at a third, noise, idle nights on Mondays.
    fn farm(days: usize, seed: u64) -> Vec<Option<f64>> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..days * 24)
            .map(|t| {
                let (hour, day) = (t % 24, (t / 24) % 7);
                let shape = 1.0 + (std::f64::consts::TAU * hour as f64 / 24.0).sin().max(0.0) * 4.0;
                let week = if day >= 5 { 0.3 } else { 1.0 };
                let idle = day == 0 && hour < 6;
                (rng.f64() > 0.02).then(|| if idle { 0.0 } else { shape * week * (0.8 + 0.4 * rng.f64()) })
            })
            .collect()
    }

    #[test]
    fn a_weekly_farm_gets_a_weekly_model_that_beats_the_daily_naive() {
        let y = farm(28, 1);
        let a = auto(&y, &opts()).unwrap();
        let name = a.choice.name();
        assert!(name.contains("168"), "a weekly model is chosen: {name}");
        let bt = *a.choice.backtest().expect("backtested");
        assert_eq!((bt.origins, bt.horizon, a.choice.method()), (ORIGINS, 47, "backtest"));
        let daily = a.scores.iter().find(|s| s.name == "snaive24").unwrap().mae;
        assert!(bt.mae < 0.8 * daily, "{} against {daily}", bt.mae);
        assert!(bt.mase.unwrap() < 1.0);
        let (c80, c95) = (bt.coverage_80.unwrap(), bt.coverage_95.unwrap());
        assert!((0.6..=1.0).contains(&c80) && c95 >= c80, "{bt:?}");
        assert!(a.chosen_now);
        // the forecast against the weekly truth, and bands that never go below zero
        let bands = a.forecast(47);
        assert_eq!(bands.len(), 47);
        for b in &bands {
            assert!(0.0 <= b.lower_95 && b.lower_95 <= b.lower_80 && b.lower_80 <= b.mean);
            assert!(b.mean <= b.upper_80 && b.upper_80 <= b.upper_95);
        }
        let week = a.total(168);
        let (day, month) = (a.total(24), a.total(720));
        assert!(day.mean < week.mean && week.mean < month.mean);
        assert!(day.lower_95 >= 0.0 && month.upper_95 - month.mean > week.upper_95 - week.mean);
    }

    #[test]
    fn too_little_data_for_a_backtest_falls_back_on_aicc_and_analytic_bands() {
        let y = farm(4, 2);
        let a = auto(&y, &opts()).unwrap();
        assert_eq!(a.choice.method(), "aicc");
        assert!(a.choice.name().starts_with("ets_"), "{}", a.choice.name());
        // a day ahead from the daily origins with enough data before them for the model
        let bt = a.choice.backtest().expect("day-ahead from the origins there are");
        assert!((1..=3).contains(&bt.origins) && bt.horizon == 24, "{bt:?}");
        assert!(a.forecast(47).iter().all(|b| b.lower_95 >= 0.0 && b.upper_95 > b.mean));
        assert!(matches!(auto(&y[..3], &opts()), Err(FitError::TooShort { .. })));
        // a refit with more data than a backtest needs chooses afresh, when it may
        let more = farm(10, 2);
        let r = refit(&more, &opts(), &a.choice, true).unwrap();
        assert_eq!((r.choice.method(), r.chosen_now), ("backtest", true));
        let r = refit(&more, &opts(), &a.choice, false).unwrap();
        assert_eq!((r.choice.name(), r.chosen_now), (a.choice.name(), false));
    }

    #[test]
    fn a_refit_keeps_the_choice_and_its_errors_and_fits_its_members_on_the_new_data() {
        let y = farm(28, 3);
        let a = auto(&y, &opts()).unwrap();
        let Choice::Backtested { members, .. } = &a.choice else { panic!("backtested") };
        assert!(members.iter().all(|m| !matches!(m, Candidate::Smoothing { .. })), "{members:?}");
        let later = farm(29, 3);
        let r = refit(&later[24..], &opts(), &a.choice, false).unwrap();
        assert_eq!(r.choice.name(), a.choice.name());
        assert_eq!(r.choice.backtest(), a.choice.backtest());
        assert!(r.scores.is_empty() && !r.chosen_now);
        // members without parameters: the refit is their mean fitted afresh on the new window
        let fresh: Vec<Vec<f64>> = members.iter().map(|m| m.predict(&later[24..], 24).unwrap()).collect();
        for (k, b) in r.forecast(24).iter().enumerate() {
            let want = fresh.iter().map(|f| f[k].max(0.0)).sum::<f64>() / fresh.len() as f64;
            assert!((b.mean - want).abs() <= 1e-12 * want.max(1.0), "step {k}: {} against {want}", b.mean);
        }
    }

    #[test]
    fn edge_series_give_an_error_or_finite_numbers() {
        let all = |a: &Auto| {
            a.forecast(47).iter().chain([a.total(24), a.total(720)].iter()).all(|b| {
                [b.mean, b.lower_80, b.upper_80, b.lower_95, b.upper_95].iter().all(|v| v.is_finite())
            })
        };
        assert!(auto(&[], &opts()).is_err());
        assert!(auto(&vec![None; 24 * 28], &opts()).is_err());
        let y = farm(28, 5);
        for o in [
            Options { period: 1, long_period: None, ..opts() },
            Options { horizon: 1, steps: 1, ..opts() },
            Options { long_period: Some(100), ..opts() },
        ] {
            let a = auto(&y, &o).unwrap();
            assert!(all(&a), "{o:?}: {}", a.choice.name());
        }
        // the last day missing: the daily naive cannot forecast, something else does
        let mut gap = y.clone();
        gap[24 * 27..].iter_mut().for_each(|v| *v = None);
        let a = auto(&gap, &opts()).unwrap();
        assert!(all(&a), "{}", a.choice.name());
    }

    #[test]
    fn signs_and_flat_series() {
        // a series that goes negative is not clamped
        let y: Vec<Option<f64>> = farm(28, 4).iter().map(|v| v.map(|x| x - 3.0)).collect();
        let a = auto(&y, &opts()).unwrap();
        assert!(a.forecast(47).iter().any(|b| b.lower_95 < 0.0));
        // all zeros: zero-width bands, no MASE (its scale is zero)
        let zeros = vec![Some(0.0); 24 * 28];
        let z = auto(&zeros, &opts()).unwrap();
        assert!(z.forecast(47).iter().all(|b| b.lower_95 == 0.0 && b.upper_95 == 0.0));
        assert_eq!(z.total(720).upper_95, 0.0);
        assert_eq!(z.choice.backtest().unwrap().mase, None);
    }
}
