//! Exponential smoothing (Holt-Winters) with prediction intervals, fitted by least squares with
//! several starts, chosen by AICc. Pure: plain data in, plain data out.
//!
//! # Model and conventions
//!
//! Holt-Winters component form, exactly as statsmodels' `ExponentialSmoothing`:
//!
//! ```text
//! base_t  = ℓ_{t−1} + φ b_{t−1}                       (φ = 1 undamped; no trend: b = 0)
//! ŷ_t     = base_t + s_{t−m}        (additive season)   or  base_t · s_{t−m}  (multiplicative)
//! ℓ_t     = α (y_t − s_{t−m}) + (1−α) base_t           or  α y_t / s_{t−m} + (1−α) base_t
//! b_t     = β* (ℓ_t − ℓ_{t−1}) + (1−β*) φ b_{t−1}
//! s_t     = γ (y_t − base_t) + (1−γ) s_{t−m}           or  γ y_t / base_t + (1−γ) s_{t−m}
//! ```
//!
//! `beta` is β* (the Holt form); the innovations form's β is α·β*. Initial seasonals are in
//! time order (`seasonal[i]` applies to `y[i]`). A missing observation (`None`) updates nothing:
//! the states move on as forecast (the state-space treatment of a gap), and it is not in the SSE.
//!
//! # Fitting
//!
//! The objective is the SSE of one-step errors, like statsmodels. Smoothing parameters are
//! mapped from unbounded variables (α ∈ (0,1), β* ∈ (0,1), γ ∈ (0, 1−α), φ ∈ (0.8, 0.995)) and
//! searched by Nelder–Mead from the best points of a start grid. For models with additive (or no)
//! seasonality the fitted values are affine in the initial states, so for each candidate the
//! initial states are solved exactly by least squares (QR), with the seasonals summing to zero.
//! For multiplicative seasonality the initial states come from the heuristic (centred moving
//! average) and are refined by Gauss–Newton steps at the end.
//!
//! The search's evaluations cost the observed points, not the window: a gap moves only level
//! and trend on (the seasonals are kept by `t mod m`). The design of the initial-state solve
//! comes from one pass with a lane per state, and its normal equations are summed row by row.
//! Both do the same arithmetic in the same order as one plain [`run`] per state would, so fits
//! are the same bit for bit (tested), only faster.
//!
//! # Intervals
//!
//! For the linear models (seasonality none or additive) the h-step variance comes from the
//! state-space recursion σ²_h = σ²(1 + Σ_{j<h} c_j²), c_j = α + αβ*·φ_j + γ·[j ≡ 0 mod m],
//! φ_j = φ + … + φ^j. For a **total** over the next H steps the forecast errors are correlated;
//! writing each as a sum of future innovations, ε_{T+i} enters with weight 1 + Σ_{j=1}^{H−i} c_j,
//! so Var(Σ) = σ² Σ_{i=1}^{H} (1 + Σ_{j=1}^{H−i} c_j)² (not the sum of the variances).
//! Multiplicative-season models have no such closed form: their intervals are empirical
//! quantiles of simulated paths (Gaussian innovations, a fixed seed, so results repeat).
//!
//! σ² is SSE/(n − k) by default (R's convention, k = smoothing parameters + initial states);
//! `Sigma2::Mle` gives SSE/n (statsmodels' `ETSModel`).

use crate::stats::linalg::Qr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    None,
    Add,
    Damped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Season {
    None,
    Add,
    Mul,
}

/// A model: its trend and season kinds and the seasonal period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub trend: Trend,
    pub season: Season,
    /// Seasonal period (ignored without a season).
    pub m: usize,
}

impl Spec {
    /// ETS-style name: error A, then trend N/A/Ad, then season N/A/M (e.g. "AAdA").
    pub fn name(&self) -> String {
        let t = match self.trend {
            Trend::None => "N",
            Trend::Add => "A",
            Trend::Damped => "Ad",
        };
        let s = match self.season {
            Season::None => "N",
            Season::Add => "A",
            Season::Mul => "M",
        };
        format!("A{t}{s}")
    }

    /// Parses "ANN", "AAN", "AAdN", "ANA", "AAA", "AAdA", "ANM", "AAM", "AAdM".
    pub fn parse(name: &str, m: usize) -> Option<Spec> {
        let rest = name.strip_prefix('A')?;
        let (trend, rest) = if let Some(r) = rest.strip_prefix("Ad") {
            (Trend::Damped, r)
        } else if let Some(r) = rest.strip_prefix('A') {
            (Trend::Add, r)
        } else {
            (Trend::None, rest.strip_prefix('N')?)
        };
        let season = match rest {
            "N" => Season::None,
            "A" => Season::Add,
            "M" => Season::Mul,
            _ => return None,
        };
        Some(Spec { trend, season, m: if season == Season::None { 1 } else { m } })
    }

    fn seasonal(&self) -> bool {
        self.season != Season::None
    }

    /// The trend's factor in the recursions: 0 without a trend, 1 undamped, else φ.
    fn phi(&self, p: &Params) -> f64 {
        match self.trend {
            Trend::None => 0.0,
            Trend::Add => 1.0,
            Trend::Damped => p.phi,
        }
    }

    /// Smoothing parameters estimated.
    pub fn n_params(&self) -> usize {
        1 + usize::from(self.trend != Trend::None)
            + usize::from(self.trend == Trend::Damped)
            + usize::from(self.seasonal())
    }

    /// Initial states estimated (level, trend, m − 1 free seasonals).
    pub fn n_states(&self) -> usize {
        1 + usize::from(self.trend != Trend::None) + if self.seasonal() { self.m - 1 } else { 0 }
    }
}

/// Smoothing parameters (Holt form: `beta` is β*).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub phi: f64,
}

/// Initial states.
#[derive(Debug, Clone, PartialEq)]
pub struct Init {
    pub level: f64,
    pub trend: f64,
    /// `m` values in time order (empty without a season).
    pub seasonal: Vec<f64>,
}

/// The result of running the recursions over a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub fitted: Vec<f64>,
    pub sse: f64,
    /// Observations used (non-missing).
    pub n_obs: usize,
    pub level: f64,
    pub trend: f64,
    /// The last `m` seasonals, in time order: the next forecast uses `seasonal[0]`.
    pub seasonal: Vec<f64>,
}

/// Runs the recursions (see the module doc).
pub fn run(spec: &Spec, p: &Params, init: &Init, y: &[Option<f64>]) -> Run {
    let m = if spec.seasonal() { spec.m } else { 0 };
    let phi = spec.phi(p);
    let mut s: Vec<f64> = Vec::with_capacity(y.len() + m);
    s.extend_from_slice(&init.seasonal[..m.min(init.seasonal.len())]);
    let (mut l, mut b) = (init.level, if spec.trend == Trend::None { 0.0 } else { init.trend });
    let mut fitted = Vec::with_capacity(y.len());
    let (mut sse, mut n_obs) = (0.0, 0usize);
    for (t, yt) in y.iter().enumerate() {
        let bd = phi * b;
        let base = l + bd;
        let st = if m > 0 { s[t] } else { 0.0 };
        let f = match spec.season {
            Season::None => base,
            Season::Add => base + st,
            Season::Mul => base * st,
        };
        fitted.push(f);
        let (nl, ns) = match yt {
            Some(v) => {
                sse += (v - f) * (v - f);
                n_obs += 1;
                match spec.season {
                    Season::None => (p.alpha * v + (1.0 - p.alpha) * base, 0.0),
                    Season::Add => (
                        p.alpha * (v - st) + (1.0 - p.alpha) * base,
                        p.gamma * (v - base) + (1.0 - p.gamma) * st,
                    ),
                    Season::Mul => {
                        (p.alpha * v / st + (1.0 - p.alpha) * base, p.gamma * v / base + (1.0 - p.gamma) * st)
                    }
                }
            }
            None => (base, st),
        };
        let nb = if yt.is_some() { p.beta * (nl - l) + (1.0 - p.beta) * bd } else { bd };
        if m > 0 {
            s.push(ns);
        }
        l = nl;
        b = nb;
    }
    let seasonal = if m > 0 { s[s.len() - m..].to_vec() } else { Vec::new() };
    Run { fitted, sse, n_obs, level: l, trend: b, seasonal }
}

/// Point forecasts for h = 1..=horizon after a run.
pub fn point_forecast(spec: &Spec, p: &Params, r: &Run, horizon: usize) -> Vec<f64> {
    let mut phi_h = 0.0;
    (1..=horizon)
        .map(|h| {
            phi_h += match spec.trend {
                Trend::None => 0.0,
                Trend::Add => 1.0,
                Trend::Damped => p.phi.powi(h as i32),
            };
            let base = r.level + phi_h * r.trend;
            match spec.season {
                Season::None => base,
                Season::Add => base + r.seasonal[(h - 1) % spec.m],
                Season::Mul => base * r.seasonal[(h - 1) % spec.m],
            }
        })
        .collect()
}

/// c_j for j = 1..len (see the module doc); only meaningful for linear models.
fn c_coeffs(spec: &Spec, p: &Params, len: usize) -> Vec<f64> {
    let beta = p.alpha * p.beta;
    let mut phi_j = 0.0;
    (1..=len)
        .map(|j| {
            phi_j += match spec.trend {
                Trend::None => 0.0,
                Trend::Add => 1.0,
                Trend::Damped => p.phi.powi(j as i32),
            };
            let trend = if spec.trend == Trend::None { 0.0 } else { beta * phi_j };
            let season = if spec.seasonal() && j % spec.m == 0 { p.gamma } else { 0.0 };
            p.alpha + trend + season
        })
        .collect()
}

/// σ²_h/σ² for h = 1..=horizon (linear models).
pub fn relative_variance(spec: &Spec, p: &Params, horizon: usize) -> Vec<f64> {
    let c = c_coeffs(spec, p, horizon);
    let mut acc = 1.0;
    let mut out = Vec::with_capacity(horizon);
    for h in 1..=horizon {
        out.push(acc);
        if h <= c.len() {
            acc += c[h - 1] * c[h - 1];
        }
    }
    out
}

/// Var(Σ_{h=1}^{H} e_{T+h}) / σ² (linear models; derivation in the module doc).
pub fn relative_variance_of_total(spec: &Spec, p: &Params, horizon: usize) -> f64 {
    let c = c_coeffs(spec, p, horizon);
    let mut prefix = vec![0.0; horizon + 1];
    for j in 1..=horizon {
        prefix[j] = prefix[j - 1] + c[j - 1];
    }
    (1..=horizon).map(|i| (1.0 + prefix[horizon - i]).powi(2)).sum()
}

/// Normal quantiles used for the 80 % and 95 % intervals.
pub const Z80: f64 = 1.281_551_565_544_600_5;
pub const Z95: f64 = 1.959_963_984_540_054;

/// A forecast value with its intervals.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Band {
    pub mean: f64,
    pub lower_80: f64,
    pub upper_80: f64,
    pub lower_95: f64,
    pub upper_95: f64,
}

impl Band {
    fn normal(mean: f64, sd: f64) -> Band {
        Band {
            mean,
            lower_80: mean - Z80 * sd,
            upper_80: mean + Z80 * sd,
            lower_95: mean - Z95 * sd,
            upper_95: mean + Z95 * sd,
        }
    }

    /// (label value of `bound`, value) pairs, as pushed.
    pub fn labelled(&self) -> [(&'static str, f64); 5] {
        [
            ("mean", self.mean),
            ("lower_80", self.lower_80),
            ("upper_80", self.upper_80),
            ("lower_95", self.lower_95),
            ("upper_95", self.upper_95),
        ]
    }

    /// Every bound times `f` (a currency conversion; `f` > 0 keeps the order).
    pub fn scaled(&self, f: f64) -> Band {
        Band {
            mean: self.mean * f,
            lower_80: self.lower_80 * f,
            upper_80: self.upper_80 * f,
            lower_95: self.lower_95 * f,
            upper_95: self.upper_95 * f,
        }
    }

    /// Money, energy and emissions cannot be negative: clamp every bound at zero.
    pub fn clamped(self) -> Band {
        Band {
            mean: self.mean.max(0.0),
            lower_80: self.lower_80.max(0.0),
            upper_80: self.upper_80.max(0.0),
            lower_95: self.lower_95.max(0.0),
            upper_95: self.upper_95.max(0.0),
        }
    }
}

/// How σ² is estimated from the SSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sigma2 {
    /// SSE/(n − k), R's `forecast::ets` (the default: wider for short series).
    Unbiased,
    /// SSE/n, statsmodels' `ETSModel`.
    Mle,
}

/// A fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub spec: Spec,
    pub params: Params,
    pub init: Init,
    pub run: Run,
    pub sse: f64,
    pub n_obs: usize,
    /// Parameters + initial states estimated.
    pub k: usize,
    pub loglik: f64,
    pub aicc: f64,
    /// Whether the optimiser met its tolerance (rather than its evaluation budget).
    pub converged: bool,
}

impl Fit {
    pub fn sigma2(&self, conv: Sigma2) -> f64 {
        match conv {
            Sigma2::Mle => self.sse / self.n_obs as f64,
            Sigma2::Unbiased => self.sse / (self.n_obs.saturating_sub(self.k).max(1)) as f64,
        }
    }

    /// Forecasts with 80 % and 95 % intervals for h = 1..=horizon.
    pub fn forecast(&self, horizon: usize, conv: Sigma2) -> Vec<Band> {
        let mean = point_forecast(&self.spec, &self.params, &self.run, horizon);
        if self.spec.season == Season::Mul {
            let sim = self.simulate(horizon, conv);
            return mean.iter().enumerate().map(|(h, m)| sim.band_at(h, *m)).collect();
        }
        let s2 = self.sigma2(conv);
        relative_variance(&self.spec, &self.params, horizon)
            .iter()
            .zip(mean)
            .map(|(rv, m)| Band::normal(m, (s2 * rv).sqrt()))
            .collect()
    }

    /// The total of the next `horizon` steps with its intervals.
    pub fn forecast_total(&self, horizon: usize, conv: Sigma2) -> Band {
        let mean: f64 = point_forecast(&self.spec, &self.params, &self.run, horizon).iter().sum();
        if self.spec.season == Season::Mul {
            return self.simulate(horizon, conv).band_of_total(mean);
        }
        let var = self.sigma2(conv) * relative_variance_of_total(&self.spec, &self.params, horizon);
        Band::normal(mean, var.sqrt())
    }

    /// Simulated future paths: `SIM_PATHS` of them, Gaussian innovations, fixed seed.
    pub fn simulate(&self, horizon: usize, conv: Sigma2) -> Simulated {
        let sd = self.sigma2(conv).sqrt();
        let mut rng = fastrand::Rng::with_seed(0x00c0_57b0_5000);
        let mut paths = Vec::with_capacity(SIM_PATHS);
        for _ in 0..SIM_PATHS {
            let mut y: Vec<Option<f64>> = Vec::with_capacity(horizon);
            let init =
                Init { level: self.run.level, trend: self.run.trend, seasonal: self.run.seasonal.clone() };
            // step one value at a time: run over the path so far, forecast one step, add noise
            let mut state = Run {
                fitted: Vec::new(),
                sse: 0.0,
                n_obs: 0,
                level: init.level,
                trend: init.trend,
                seasonal: init.seasonal.clone(),
            };
            for _ in 0..horizon {
                let next = point_forecast(&self.spec, &self.params, &state, 1)[0] + sd * normal(&mut rng);
                y.push(Some(next));
                let r = run(
                    &self.spec,
                    &self.params,
                    &Init { level: state.level, trend: state.trend, seasonal: state.seasonal.clone() },
                    &[Some(next)],
                );
                state = r;
            }
            paths.push(y.into_iter().map(|v| v.unwrap_or(0.0)).collect());
        }
        Simulated { paths }
    }
}

/// Paths simulated for multiplicative-season intervals.
pub const SIM_PATHS: usize = 4000;

/// Simulated future paths.
pub struct Simulated {
    pub paths: Vec<Vec<f64>>,
}

impl Simulated {
    fn band_from(mut v: Vec<f64>, mean: f64) -> Band {
        v.sort_by(f64::total_cmp);
        let q = |p: f64| quantile_sorted(&v, p);
        Band { mean, lower_80: q(0.10), upper_80: q(0.90), lower_95: q(0.025), upper_95: q(0.975) }
    }

    fn band_at(&self, h: usize, mean: f64) -> Band {
        Simulated::band_from(self.paths.iter().map(|p| p[h]).collect(), mean)
    }

    fn band_of_total(&self, mean: f64) -> Band {
        Simulated::band_from(self.paths.iter().map(|p| p.iter().sum()).collect(), mean)
    }
}

/// Linear interpolation between order statistics (type 7, as numpy's default).
pub fn quantile_sorted(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = p * (v.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (v[hi] - v[lo]) * frac
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = rng.f64().max(f64::MIN_POSITIVE);
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Why no model (or a simpler one) was fitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    #[error("{n} observations: at least {need} are needed")]
    TooShort { n: usize, need: usize },
    #[error("multiplicative seasonality needs every observation > 0")]
    NotPositive,
    #[error("seasonal period {m} is below 2")]
    BadPeriod { m: usize },
}

/// Observations a model needs (so that it has more data than parameters, and the heuristic
/// initialisation has two full cycles).
pub fn min_obs(spec: &Spec) -> usize {
    let k = spec.n_params() + spec.n_states() + 1;
    let seasonal = if spec.seasonal() { (2 * spec.m).max(10 + 2 * (spec.m / 2)) } else { 0 };
    (k + 2).max(seasonal).max(4)
}

/// Unbounded optimiser variables → parameters.
fn to_params(spec: &Spec, u: &[f64]) -> Params {
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let mut it = u.iter();
    let alpha = sig(*it.next().expect("alpha"));
    let beta = if spec.trend != Trend::None { sig(*it.next().expect("beta")) } else { 0.0 };
    let phi = if spec.trend == Trend::Damped { 0.8 + 0.195 * sig(*it.next().expect("phi")) } else { 1.0 };
    let gamma = if spec.seasonal() { (1.0 - alpha) * sig(*it.next().expect("gamma")) } else { 0.0 };
    Params { alpha, beta, gamma, phi }
}

fn from_params(spec: &Spec, p: &Params) -> Vec<f64> {
    let logit = |x: f64| {
        let x = x.clamp(1e-9, 1.0 - 1e-9);
        (x / (1.0 - x)).ln()
    };
    let mut u = vec![logit(p.alpha)];
    if spec.trend != Trend::None {
        u.push(logit(p.beta));
    }
    if spec.trend == Trend::Damped {
        u.push(logit((p.phi - 0.8) / 0.195));
    }
    if spec.seasonal() {
        u.push(logit(p.gamma / (1.0 - p.alpha)));
    }
    u
}

/// Initial states from the free vector (level, trend, m−1 seasonals; the last seasonal makes
/// them sum to 0, or to m for multiplicative).
fn init_from(spec: &Spec, x: &[f64]) -> Init {
    let mut i = 0;
    let level = x[i];
    i += 1;
    let trend = if spec.trend != Trend::None {
        i += 1;
        x[i - 1]
    } else {
        0.0
    };
    let seasonal = if spec.seasonal() {
        let mut s: Vec<f64> = x[i..i + spec.m - 1].to_vec();
        let total: f64 = s.iter().sum();
        s.push(if spec.season == Season::Mul { spec.m as f64 - total } else { -total });
        s
    } else {
        Vec::new()
    };
    Init { level, trend, seasonal }
}

/// Initial states by the heuristic of Hyndman et al. (2008 §2.6), as statsmodels: seasonals from
/// a centred moving average over the first cycles, level and trend from a line through the first
/// ten deseasonalised values.
pub fn heuristic_init(spec: &Spec, y: &[f64]) -> Init {
    let n = y.len();
    let m = spec.m;
    let mut seasonal = Vec::new();
    let mut adjusted: Vec<f64> = y.to_vec();
    if spec.seasonal() && n >= 2 * m {
        let cycles = (n / m).clamp(2, 5);
        let span = &y[..cycles * m];
        // centred moving average (2×m for even m)
        let half = m / 2;
        let mut trend = vec![f64::NAN; span.len()];
        for (t, tr) in trend.iter_mut().enumerate() {
            if t < half || t + half >= span.len() {
                continue;
            }
            *tr = if m.is_multiple_of(2) {
                let w: f64 = span[t - half..t + half].iter().sum::<f64>()
                    + span[t - half + 1..=t + half].iter().sum::<f64>();
                w / (2 * m) as f64
            } else {
                span[t - half..=t + half].iter().sum::<f64>() / m as f64
            };
        }
        let mut sums = vec![0.0; m];
        let mut counts = vec![0usize; m];
        for t in 0..span.len() {
            if trend[t].is_finite() {
                let d = if spec.season == Season::Mul { span[t] / trend[t] } else { span[t] - trend[t] };
                sums[t % m] += d;
                counts[t % m] += 1;
            }
        }
        seasonal = sums.iter().zip(&counts).map(|(s, c)| if *c > 0 { s / *c as f64 } else { 0.0 }).collect();
        let mean = seasonal.iter().sum::<f64>() / m as f64;
        for s in &mut seasonal {
            if spec.season == Season::Mul {
                *s /= mean;
            } else {
                *s -= mean;
            }
        }
        for (t, a) in adjusted.iter_mut().enumerate() {
            let s = seasonal[t % m];
            *a = if spec.season == Season::Mul { *a / s } else { *a - s };
        }
    } else if spec.seasonal() {
        seasonal = vec![if spec.season == Season::Mul { 1.0 } else { 0.0 }; m];
    }
    // line through the first (up to) ten adjusted values, t = 1..k
    let k = adjusted.len().min(10);
    let (mut level, mut trend) = (adjusted.first().copied().unwrap_or(0.0), 0.0);
    if k >= 2 {
        let ts: Vec<f64> = (1..=k).map(|t| t as f64).collect();
        let tm = ts.iter().sum::<f64>() / k as f64;
        let ym = adjusted[..k].iter().sum::<f64>() / k as f64;
        let sxy: f64 = ts.iter().zip(&adjusted[..k]).map(|(t, v)| (t - tm) * (v - ym)).sum();
        let sxx: f64 = ts.iter().map(|t| (t - tm).powi(2)).sum();
        trend = sxy / sxx;
        level = ym - trend * tm;
    }
    if spec.trend == Trend::None {
        level = adjusted[..k.max(1)].iter().sum::<f64>() / k.max(1) as f64;
        trend = 0.0;
    }
    Init { level, trend, seasonal }
}

/// The observed points of a series and the buffers the search reuses on every evaluation.
///
/// It runs the recursions like [`run`], with the same arithmetic in the same order (so the same
/// SSE, bit for bit), but up to the last observation only and keeping the fitted values at the
/// observed points only. A gap costs next to nothing: the seasonals are kept by `t mod m`, so
/// across a gap they stand still, and only level and trend move on.
struct Observed {
    /// `(t, y_t)` for every observed `t`.
    points: Vec<(usize, f64)>,
    /// Seasonal state, slot `t mod m` (what `run` calls `s[t]`).
    seasonal: Vec<f64>,
    /// Fitted values at the points, after a run.
    fitted: Vec<f64>,
    /// The initial-state solve: the fitted values of the base run (zero initial states), the
    /// design (row-major: a row per point, a column per state), the normal equations.
    base: Vec<f64>,
    design: Vec<f64>,
    normal: crate::stats::linalg::NormalEquations,
    /// The lanes of [`Observed::lanes`]: level, trend, seasonals (slot-major), fitted.
    lane_l: Vec<f64>,
    lane_b: Vec<f64>,
    lane_s: Vec<f64>,
    lane_f: Vec<f64>,
}

impl Observed {
    fn new(y: &[Option<f64>]) -> Self {
        let points: Vec<(usize, f64)> = y.iter().enumerate().filter_map(|(t, v)| v.map(|v| (t, v))).collect();
        let n = points.len();
        Observed {
            points,
            seasonal: Vec::new(),
            fitted: Vec::with_capacity(n),
            base: Vec::with_capacity(n),
            design: Vec::new(),
            normal: Default::default(),
            lane_l: Vec::new(),
            lane_b: Vec::new(),
            lane_s: Vec::new(),
            lane_f: Vec::new(),
        }
    }

    /// Runs from the initial states in free form (see [`init_from`]); returns the SSE.
    fn run_free(&mut self, spec: &Spec, p: &Params, x: &[f64]) -> f64 {
        let mut i = 1;
        let trend = if spec.trend != Trend::None {
            i += 1;
            x[1]
        } else {
            0.0
        };
        self.seasonal.clear();
        if spec.seasonal() {
            self.seasonal.extend_from_slice(&x[i..i + spec.m - 1]);
            let total: f64 = self.seasonal.iter().sum();
            self.seasonal.push(if spec.season == Season::Mul { spec.m as f64 - total } else { -total });
        }
        self.go(spec, p, x[0], trend)
    }

    /// Runs from given initial states; returns the SSE.
    fn run_init(&mut self, spec: &Spec, p: &Params, init: &Init) -> f64 {
        self.seasonal.clear();
        if spec.seasonal() {
            self.seasonal.extend_from_slice(&init.seasonal[..spec.m]);
        }
        self.go(spec, p, init.level, if spec.trend == Trend::None { 0.0 } else { init.trend })
    }

    fn go(&mut self, spec: &Spec, p: &Params, mut l: f64, mut b: f64) -> f64 {
        let m = if spec.seasonal() { spec.m } else { 0 };
        let phi = spec.phi(p);
        self.fitted.clear();
        let mut sse = 0.0;
        let mut t = 0;
        for &(ti, v) in &self.points {
            // across a gap the states move on as forecast (without a trend they stand still)
            if spec.trend != Trend::None {
                for _ in t..ti {
                    let bd = phi * b;
                    l += bd;
                    b = bd;
                }
            }
            let bd = phi * b;
            let base = l + bd;
            let st = if m > 0 { self.seasonal[ti % m] } else { 0.0 };
            let f = match spec.season {
                Season::None => base,
                Season::Add => base + st,
                Season::Mul => base * st,
            };
            self.fitted.push(f);
            sse += (v - f) * (v - f);
            let (nl, ns) = match spec.season {
                Season::None => (p.alpha * v + (1.0 - p.alpha) * base, 0.0),
                Season::Add => {
                    (p.alpha * (v - st) + (1.0 - p.alpha) * base, p.gamma * (v - base) + (1.0 - p.gamma) * st)
                }
                Season::Mul => {
                    (p.alpha * v / st + (1.0 - p.alpha) * base, p.gamma * v / base + (1.0 - p.gamma) * st)
                }
            };
            b = p.beta * (nl - l) + (1.0 - p.beta) * bd;
            l = nl;
            if m > 0 {
                self.seasonal[ti % m] = ns;
            }
            t = ti + 1;
        }
        sse
    }

    /// For a linear model: runs from the zero initial states (lane 0) and from each unit one
    /// (lane `j` for state `j − 1`) side by side, and fills `base`, `design` and the
    /// normal equations. Each lane does exactly what [`Observed::run_free`] does for its initial
    /// states, so the design is the same as from `k + 1` separate runs; but the lanes of a step
    /// are independent, so they run in parallel rather than one long chain after another.
    fn lanes(&mut self, spec: &Spec, p: &Params) {
        debug_assert!(spec.season != Season::Mul);
        let k = spec.n_states();
        let lanes = k + 1;
        let m = if spec.seasonal() { spec.m } else { 0 };
        let phi = spec.phi(p);
        // initial states: lane j has free state j − 1 at 1, the rest at 0 (see `run_free`)
        let (l, b, s, f) = (&mut self.lane_l, &mut self.lane_b, &mut self.lane_s, &mut self.lane_f);
        l.clear();
        l.resize(lanes, 0.0);
        b.clear();
        b.resize(lanes, 0.0);
        f.clear();
        f.resize(lanes, 0.0);
        s.clear();
        s.resize(m * lanes, 0.0);
        l[1] = 1.0;
        if spec.trend != Trend::None {
            b[2] = 1.0;
        }
        if m > 0 {
            // free seasonal i is lane `first + i`; the last one makes a lane's sum 0
            let first = 2 + usize::from(spec.trend != Trend::None);
            for i in 0..m - 1 {
                s[i * lanes + first + i] = 1.0;
            }
            for lane in 0..lanes {
                let total: f64 = (0..m - 1).map(|slot| s[slot * lanes + lane]).sum();
                s[(m - 1) * lanes + lane] = -total;
            }
        }
        let n = self.points.len();
        self.base.clear();
        self.design.clear();
        self.design.resize(n * k, 0.0);
        self.normal.reset(k);
        let mut t = 0;
        for (row, &(ti, v)) in self.points.iter().enumerate() {
            if spec.trend != Trend::None && ti > t {
                if lanes <= 4 {
                    // few lanes: a tight loop per lane costs fewer instructions
                    for (l, b) in l.iter_mut().zip(b.iter_mut()) {
                        let (mut lv, mut bv) = (*l, *b);
                        for _ in t..ti {
                            let bd = phi * bv;
                            lv += bd;
                            bv = bd;
                        }
                        (*l, *b) = (lv, bv);
                    }
                } else {
                    for _ in t..ti {
                        for (l, b) in l.iter_mut().zip(b.iter_mut()) {
                            let bd = phi * *b;
                            *l += bd;
                            *b = bd;
                        }
                    }
                }
            }
            if m > 0 {
                let st = &mut s[(ti % m) * lanes..(ti % m + 1) * lanes];
                for (((l, b), st), f) in l.iter_mut().zip(b.iter_mut()).zip(st.iter_mut()).zip(f.iter_mut()) {
                    let bd = phi * *b;
                    let base = *l + bd;
                    *f = base + *st;
                    let nl = p.alpha * (v - *st) + (1.0 - p.alpha) * base;
                    let ns = p.gamma * (v - base) + (1.0 - p.gamma) * *st;
                    *b = p.beta * (nl - *l) + (1.0 - p.beta) * bd;
                    *l = nl;
                    *st = ns;
                }
            } else {
                for ((l, b), f) in l.iter_mut().zip(b.iter_mut()).zip(f.iter_mut()) {
                    let bd = phi * *b;
                    let base = *l + bd;
                    *f = base;
                    let nl = p.alpha * v + (1.0 - p.alpha) * base;
                    *b = p.beta * (nl - *l) + (1.0 - p.beta) * bd;
                    *l = nl;
                }
            }
            let row_x = &mut self.design[row * k..(row + 1) * k];
            for (x, fj) in row_x.iter_mut().zip(&f[1..]) {
                *x = fj - f[0];
            }
            self.base.push(f[0]);
            self.normal.add_row(row_x, v - f[0]);
            t = ti + 1;
        }
    }

    /// What the initial states are fitted to: each observation less the base run's value.
    fn target(&self) -> Vec<f64> {
        self.points.iter().zip(&self.base).map(|((_, v), b)| v - b).collect()
    }

    /// The design, column-major (for QR).
    fn design_by_column(&self, k: usize) -> Vec<f64> {
        let n = self.points.len();
        let mut out = vec![0.0; n * k];
        for (row, xs) in self.design.chunks_exact(k.max(1)).enumerate() {
            for (j, x) in xs.iter().enumerate() {
                out[row + j * n] = *x;
            }
        }
        out
    }
}

/// For linear models: the initial states (free form) that minimise the SSE for given
/// parameters, and that SSE. The fitted values are affine in the states, so the runs from the
/// zero and the unit states give the design ([`Observed::lanes`]). `exact` solves by QR; otherwise by the cheaper normal equations (used
/// inside the search; the final answer is always solved by QR).
fn best_init_linear(spec: &Spec, p: &Params, w: &mut Observed, exact: bool) -> (Vec<f64>, f64) {
    let k = spec.n_states();
    let n = w.points.len();
    w.lanes(spec, p);
    let sol = match (exact, w.normal.solve()) {
        (false, Some(sol)) => sol,
        _ => Qr::new(&w.design_by_column(k), n, k, 1e-12).solve(&w.target()),
    };
    let sse = w.run_free(spec, p, &sol);
    (sol, sse)
}

/// Refines multiplicative-season initial states by a few damped Gauss–Newton steps.
fn refine_init_nonlinear(spec: &Spec, p: &Params, w: &mut Observed, start: Init) -> Init {
    let k = spec.n_states();
    let mut x = vec![start.level];
    if spec.trend != Trend::None {
        x.push(start.trend);
    }
    x.extend_from_slice(&start.seasonal[..spec.m - 1]);
    let n = w.points.len();
    let mut best_sse = w.run_free(spec, p, &x);
    let mut best = w.fitted.clone();
    for _ in 0..8 {
        let mut jac = vec![0.0; n * k];
        for j in 0..k {
            let h = 1e-6 * x[j].abs().max(1e-3);
            let mut xp = x.clone();
            xp[j] += h;
            w.run_free(spec, p, &xp);
            for (row, (f, b)) in w.fitted.iter().zip(&best).enumerate() {
                jac[row + j * n] = (f - b) / h;
            }
        }
        let resid: Vec<f64> = w.points.iter().zip(&best).map(|((_, v), f)| v - f).collect();
        let step = Qr::new(&jac, n, k, 1e-12).solve(&resid);
        // halve the step until the SSE goes down
        let mut scale = 1.0;
        let mut improved = false;
        for _ in 0..10 {
            let xn: Vec<f64> = x.iter().zip(&step).map(|(a, d)| a + scale * d).collect();
            let sse = w.run_free(spec, p, &xn);
            if sse.is_finite() && sse < best_sse {
                x = xn;
                best_sse = sse;
                best.clone_from(&w.fitted);
                improved = true;
                break;
            }
            scale /= 2.0;
        }
        if !improved {
            break;
        }
    }
    init_from(spec, &x)
}

/// Nelder–Mead minimisation. Returns (best point, value, converged).
pub fn nelder_mead(
    f: &dyn Fn(&[f64]) -> f64,
    start: &[f64],
    step: f64,
    max_evals: usize,
    tol: f64,
) -> (Vec<f64>, f64, bool) {
    let d = start.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(d + 1);
    simplex.push((start.to_vec(), f(start)));
    for i in 0..d {
        let mut x = start.to_vec();
        x[i] += step;
        let v = f(&x);
        simplex.push((x, v));
    }
    let mut evals = d + 1;
    let nan_high = |v: f64| if v.is_nan() { f64::INFINITY } else { v };
    loop {
        simplex.sort_by(|a, b| nan_high(a.1).total_cmp(&nan_high(b.1)));
        let (best, worst) = (simplex[0].1, simplex[d].1);
        let spread = (worst - best).abs();
        let size = simplex[1..]
            .iter()
            .map(|(x, _)| x.iter().zip(&simplex[0].0).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max))
            .fold(0.0, f64::max);
        if spread <= tol * best.abs().max(1e-12) && size < 1e-6 {
            return (simplex[0].0.clone(), best, true);
        }
        if evals >= max_evals {
            return (simplex[0].0.clone(), best, false);
        }
        let centroid: Vec<f64> =
            (0..d).map(|i| simplex[..d].iter().map(|(x, _)| x[i]).sum::<f64>() / d as f64).collect();
        let along = |t: f64| -> Vec<f64> {
            centroid.iter().zip(&simplex[d].0).map(|(c, w)| c + t * (w - c)).collect()
        };
        let xr = along(-1.0);
        let fr = nan_high(f(&xr));
        evals += 1;
        if fr < simplex[0].1 {
            let xe = along(-2.0);
            let fe = nan_high(f(&xe));
            evals += 1;
            simplex[d] = if fe < fr { (xe, fe) } else { (xr, fr) };
        } else if fr < simplex[d - 1].1 {
            simplex[d] = (xr, fr);
        } else {
            let (xc, fc) = if fr < simplex[d].1 {
                let x = along(-0.5);
                let v = nan_high(f(&x));
                (x, v)
            } else {
                let x = along(0.5);
                let v = nan_high(f(&x));
                (x, v)
            };
            evals += 1;
            if fc < simplex[d].1.min(fr) {
                simplex[d] = (xc, fc);
            } else {
                // shrink towards the best
                let b = simplex[0].0.clone();
                for item in simplex.iter_mut().skip(1) {
                    let x: Vec<f64> = item.0.iter().zip(&b).map(|(v, bv)| bv + 0.5 * (v - bv)).collect();
                    let v = nan_high(f(&x));
                    *item = (x, v);
                }
                evals += d;
            }
        }
    }
}

/// Options for [`fit`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FitOptions {
    /// Fixed smoothing parameters (initial states are still estimated).
    pub fixed: Option<Params>,
}

fn assemble(spec: &Spec, params: Params, init: Init, r: Run, converged: bool) -> Fit {
    let k = spec.n_params() + spec.n_states();
    let n = r.n_obs as f64;
    // Gaussian log-likelihood at σ² = SSE/n; a perfect fit would make it infinite
    let sse = r.sse.max(f64::MIN_POSITIVE * n);
    let loglik = -n / 2.0 * ((2.0 * std::f64::consts::PI * sse / n).ln() + 1.0);
    let kk = (k + 1) as f64; // + σ²
    let aicc = -2.0 * loglik + 2.0 * kk + 2.0 * kk * (kk + 1.0) / (n - kk - 1.0).max(1e-9);
    Fit { spec: *spec, params, init, sse: r.sse, n_obs: r.n_obs, k, loglik, aicc, converged, run: r }
}

/// A model with given parameters and initial states (nothing estimated), e.g. to reproduce
/// another tool's fit. `k` still counts what a fit would estimate (for σ² and AICc).
pub fn fixed(spec: &Spec, params: Params, init: Init, y: &[Option<f64>]) -> Fit {
    let r = run(spec, &params, &init, y);
    assemble(spec, params, init, r, true)
}

/// Fits one model by least squares (see the module doc).
pub fn fit(spec: &Spec, y: &[Option<f64>], opts: FitOptions) -> Result<Fit, FitError> {
    if spec.seasonal() && spec.m < 2 {
        return Err(FitError::BadPeriod { m: spec.m });
    }
    let obs: Vec<f64> = y.iter().flatten().copied().collect();
    let need = min_obs(spec);
    if obs.len() < need {
        return Err(FitError::TooShort { n: obs.len(), need });
    }
    if spec.season == Season::Mul && obs.iter().any(|v| *v <= 0.0) {
        return Err(FitError::NotPositive);
    }
    // Work on a series scaled to mean magnitude 1 (optimisers misbehave on raw scales).
    let scale = obs.iter().map(|v| v.abs()).sum::<f64>() / obs.len() as f64;
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let ys: Vec<Option<f64>> = y.iter().map(|v| v.map(|x| x / scale)).collect();
    let filled: Vec<f64> = fill_gaps(&ys);
    let heuristic = heuristic_init(spec, &filled);

    let work = std::cell::RefCell::new(Observed::new(&ys));
    // the SSE at `p` with the best initial states (linear models) or the heuristic ones
    let sse_at = |p: &Params| -> f64 {
        let mut w = work.borrow_mut();
        if spec.season == Season::Mul {
            w.run_init(spec, p, &heuristic)
        } else {
            best_init_linear(spec, p, &mut w, false).1
        }
    };

    let (params, converged) = match opts.fixed {
        Some(p) => (p, true),
        None => {
            let objective = |u: &[f64]| {
                let sse = sse_at(&to_params(spec, u));
                if sse.is_finite() {
                    sse
                } else {
                    f64::INFINITY
                }
            };
            // start grid, then Nelder–Mead from the three best points
            let mut starts: Vec<(Vec<f64>, f64)> = Vec::new();
            for &a in &[0.05, 0.2, 0.5, 0.8, 0.95] {
                for &b in if spec.trend != Trend::None { &[0.01, 0.1, 0.4][..] } else { &[0.0][..] } {
                    for &g in if spec.seasonal() { &[0.01, 0.1, 0.5][..] } else { &[0.0][..] } {
                        for &ph in if spec.trend == Trend::Damped { &[0.85, 0.98][..] } else { &[1.0][..] } {
                            let p = Params { alpha: a, beta: b, gamma: g * (1.0 - a), phi: ph };
                            let u = from_params(spec, &p);
                            let v = objective(&u);
                            starts.push((u, v));
                        }
                    }
                }
            }
            starts.sort_by(|a, b| a.1.total_cmp(&b.1));
            let mut best: Option<(Vec<f64>, f64, bool)> = None;
            for (u, _) in starts.iter().take(3) {
                let (x, _, _) = nelder_mead(&objective, u, 0.5, 400 * u.len(), 1e-10);
                // restart once from the result to escape a collapsed simplex; its verdict counts
                let (x, v, ok) = nelder_mead(&objective, &x, 0.1, 200 * u.len(), 1e-12);
                if best.as_ref().is_none_or(|b| v < b.1) {
                    best = Some((x, v, ok));
                }
            }
            let (x, _, ok) = best.expect("at least one start");
            (to_params(spec, &x), ok)
        }
    };
    let mut w = work.into_inner();
    let mut init = if spec.season == Season::Mul {
        refine_init_nonlinear(spec, &params, &mut w, heuristic)
    } else {
        init_from(spec, &best_init_linear(spec, &params, &mut w, true).0)
    };
    // back to the original scale (the recursions are scale-equivariant)
    let unscale = |v: f64| v * scale;
    init.level = unscale(init.level);
    init.trend = unscale(init.trend);
    if spec.season == Season::Add {
        init.seasonal.iter_mut().for_each(|s| *s = unscale(*s));
    }
    let r = run(spec, &params, &init, y);
    Ok(assemble(spec, params, init, r, converged))
}

/// Linear interpolation over gaps (for the heuristic start only; fitting treats gaps as gaps).
fn fill_gaps(y: &[Option<f64>]) -> Vec<f64> {
    let known: Vec<(usize, f64)> = y.iter().enumerate().filter_map(|(i, v)| v.map(|x| (i, x))).collect();
    if known.is_empty() {
        return vec![0.0; y.len()];
    }
    (0..y.len())
        .map(|i| {
            let after = known.iter().position(|(t, _)| *t >= i);
            match after {
                Some(0) => known[0].1,
                Some(a) => {
                    let ((t0, v0), (t1, v1)) = (known[a - 1], known[a]);
                    if t1 == i {
                        v1
                    } else {
                        v0 + (v1 - v0) * (i - t0) as f64 / (t1 - t0) as f64
                    }
                }
                None => known[known.len() - 1].1,
            }
        })
        .collect()
}

/// The candidates `auto` considers for a series with period `m`.
pub fn candidates(m: usize, positive: bool) -> Vec<Spec> {
    let mut v = Vec::new();
    for trend in [Trend::None, Trend::Add, Trend::Damped] {
        v.push(Spec { trend, season: Season::None, m: 1 });
        if m >= 2 {
            v.push(Spec { trend, season: Season::Add, m });
            if positive {
                v.push(Spec { trend, season: Season::Mul, m });
            }
        }
    }
    v
}

/// What [`select`] settled on.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub fit: Fit,
    /// Candidates skipped because the series is too short (or not positive) for them.
    pub skipped: Vec<(String, FitError)>,
}

/// Fits every candidate the data support and keeps the lowest AICc. A constant series gets a
/// flat forecast (simple smoothing; its intervals have zero width). `Err` when the series is too
/// short for even the simplest model.
pub fn select(y: &[Option<f64>], m: usize) -> Result<Selected, FitError> {
    let obs: Vec<f64> = y.iter().flatten().copied().collect();
    let positive = obs.iter().all(|v| *v > 0.0);
    let mut skipped = Vec::new();
    let mut best: Option<Fit> = None;
    let constant = obs.windows(2).all(|w| w[0] == w[1]);
    let specs = if constant {
        vec![Spec { trend: Trend::None, season: Season::None, m: 1 }]
    } else {
        candidates(m, positive)
    };
    for spec in specs {
        match fit(&spec, y, FitOptions::default()) {
            Ok(f) if f.aicc.is_finite() => {
                if best.as_ref().is_none_or(|b| f.aicc < b.aicc) {
                    best = Some(f);
                }
            }
            Ok(_) => {}
            Err(e) => skipped.push((spec.name(), e)),
        }
    }
    match best {
        Some(fit) => Ok(Selected { fit, skipped }),
        None => Err(skipped
            .into_iter()
            .map(|(_, e)| e)
            .next()
            .unwrap_or(FitError::TooShort { n: obs.len(), need: 4 })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    fn series(n: usize, m: usize, trend: f64, amp: f64, noise: u64) -> Vec<Option<f64>> {
        let mut rng = fastrand::Rng::with_seed(noise);
        (0..n)
            .map(|t| {
                let s = amp * (std::f64::consts::TAU * (t % m) as f64 / m as f64).sin();
                Some(50.0 + trend * t as f64 + s + (rng.f64() - 0.5) * 2.0)
            })
            .collect()
    }

    #[test]
    fn the_search_runs_only_the_observed_points_and_agrees_with_run_bit_for_bit() {
        // gaps at the start, in the middle and at the end, longer than a season
        let mut y = series(120, 6, 0.3, 4.0, 9);
        for t in (0..20).chain(50..63).chain([70, 71, 90]).chain(115..120) {
            y[t] = None;
        }
        let p = Params { alpha: 0.3, beta: 0.2, gamma: 0.1, phi: 0.9 };
        for spec in candidates(6, true) {
            let x: Vec<f64> = (0..spec.n_states()).map(|i| [50.0, 0.5, -1.0, 2.0, 0.5, 1.5][i % 6]).collect();
            let mut w = Observed::new(&y);
            let sse = w.run_free(&spec, &p, &x);
            let r = run(&spec, &p, &init_from(&spec, &x), &y);
            assert_eq!(sse.to_bits(), r.sse.to_bits(), "{}", spec.name());
            let at_points: Vec<f64> = w.points.iter().map(|(t, _)| r.fitted[*t]).collect();
            assert_eq!(w.fitted, at_points, "{}", spec.name());
            assert_eq!(w.points.len(), r.n_obs);
        }
    }

    #[test]
    fn the_lanes_give_the_design_of_one_run_per_initial_state_bit_for_bit() {
        let mut y = series(100, 6, 0.3, 4.0, 5);
        for t in (0..9).chain(40..55).chain([77]) {
            y[t] = None;
        }
        let p = Params { alpha: 0.4, beta: 0.15, gamma: 0.2, phi: 0.93 };
        for spec in candidates(6, false) {
            let k = spec.n_states();
            let mut w = Observed::new(&y);
            w.lanes(&spec, &p);
            let (design, base, target) = (w.design.clone(), w.base.clone(), w.target());
            // the same from k + 1 separate runs
            let mut x = vec![0.0; k];
            w.run_free(&spec, &p, &x);
            let base_runs = w.fitted.clone();
            assert_eq!(base, base_runs, "{}", spec.name());
            let want_target: Vec<f64> = w.points.iter().zip(&base_runs).map(|((_, v), b)| v - b).collect();
            assert_eq!(target, want_target, "{}", spec.name());
            for j in 0..k {
                x[j] = 1.0;
                w.run_free(&spec, &p, &x);
                x[j] = 0.0;
                for (row, (f, b)) in w.fitted.iter().zip(&base_runs).enumerate() {
                    assert_eq!(
                        design[row * k + j].to_bits(),
                        (f - b).to_bits(),
                        "{} state {j} row {row}",
                        spec.name()
                    );
                }
            }
            // and the normal equations solve as solve_normal does on that design
            let by_column = w.design_by_column(k);
            let want = crate::stats::linalg::solve_normal(&by_column, w.points.len(), k, &target);
            assert_eq!(w.normal.solve(), want, "{}", spec.name());
        }
    }

    #[test]
    fn names_round_trip() {
        for n in ["ANN", "AAN", "AAdN", "ANA", "AAA", "AAdA", "ANM", "AAM", "AAdM"] {
            assert_eq!(Spec::parse(n, 4).unwrap().name(), n);
        }
        assert!(Spec::parse("MAM", 4).is_none());
        assert!(Spec::parse("AAx", 4).is_none());
    }

    #[test]
    fn simple_smoothing_by_hand() {
        // ANN, α = 0.5, ℓ0 = 10: y = 12, 11 → fitted 10, 11; ℓ = 11, 11; SSE = 4 + 0
        let spec = Spec { trend: Trend::None, season: Season::None, m: 1 };
        let p = Params { alpha: 0.5, beta: 0.0, gamma: 0.0, phi: 1.0 };
        let r =
            run(&spec, &p, &Init { level: 10.0, trend: 0.0, seasonal: vec![] }, &[Some(12.0), Some(11.0)]);
        assert_eq!(r.fitted, vec![10.0, 11.0]);
        assert_eq!(r.sse, 4.0);
        assert_eq!(point_forecast(&spec, &p, &r, 2), vec![11.0, 11.0]);
        // variance grows by α² per step
        let rv = relative_variance(&spec, &p, 3);
        assert_eq!(rv, vec![1.0, 1.25, 1.5]);
    }

    #[test]
    fn a_gap_moves_the_states_on_as_forecast() {
        let spec = Spec { trend: Trend::Add, season: Season::None, m: 1 };
        let p = Params { alpha: 0.5, beta: 0.5, gamma: 0.0, phi: 1.0 };
        let init = Init { level: 10.0, trend: 1.0, seasonal: vec![] };
        let r = run(&spec, &p, &init, &[None, None]);
        assert_eq!(r.fitted, vec![11.0, 12.0]);
        assert_eq!((r.level, r.trend, r.n_obs, r.sse), (12.0, 1.0, 0, 0.0));
    }

    #[test]
    fn total_variance_matches_its_definition() {
        // Var(Σ e_{T+h}) from the innovations: brute-force the weights
        let spec = Spec { trend: Trend::Damped, season: Season::Add, m: 4 };
        let p = Params { alpha: 0.3, beta: 0.2, gamma: 0.1, phi: 0.9 };
        let h = 11;
        let c = c_coeffs(&spec, &p, h);
        let mut w = vec![0.0; h + 1]; // weight of ε_{T+i}
        for hh in 1..=h {
            w[hh] += 1.0;
            for j in 1..hh {
                w[hh - j] += c[j - 1];
            }
        }
        let brute: f64 = w[1..].iter().map(|x| x * x).sum();
        assert!(close(relative_variance_of_total(&spec, &p, h), brute, 1e-13));
    }

    #[test]
    fn total_interval_matches_simulation() {
        // simulate the linear model's innovations and compare the spread of the total
        let y = series(96, 12, 0.1, 5.0, 7);
        let f =
            fit(&Spec { trend: Trend::Add, season: Season::Add, m: 12 }, &y, FitOptions::default()).unwrap();
        let h = 24;
        let band = f.forecast_total(h, Sigma2::Mle);
        let sim = f.simulate(h, Sigma2::Mle);
        let mut totals: Vec<f64> = sim.paths.iter().map(|p| p.iter().sum()).collect();
        totals.sort_by(f64::total_cmp);
        let sd_analytic = (band.upper_95 - band.mean) / Z95;
        let mean_sim = totals.iter().sum::<f64>() / totals.len() as f64;
        let sd_sim =
            (totals.iter().map(|t| (t - mean_sim).powi(2)).sum::<f64>() / (totals.len() - 1) as f64).sqrt();
        // 4000 paths: the sd is known to about ±2.2 % (1.96/√(2·4000))
        assert!((sd_sim / sd_analytic - 1.0).abs() < 0.035, "simulated {sd_sim}, analytic {sd_analytic}");
        // and the sum of per-step intervals would be much wider than the interval of the sum
        let per_step = f.forecast(h, Sigma2::Mle);
        let naive: f64 = per_step.iter().map(|b| b.upper_95 - b.mean).sum();
        assert!(naive > band.upper_95 - band.mean);
    }

    #[test]
    fn fitting_recovers_a_seasonal_series() {
        let y = series(24 * 14, 24, 0.02, 8.0, 3);
        let f =
            fit(&Spec { trend: Trend::Add, season: Season::Add, m: 24 }, &y, FitOptions::default()).unwrap();
        // noise is uniform ±1: variance 1/3
        let mse = f.sse / f.n_obs as f64;
        assert!(mse < 0.5, "mse {mse}");
        let fc = f.forecast(24, Sigma2::Unbiased);
        for (h, b) in fc.iter().enumerate() {
            let t = 24 * 14 + h;
            let truth = 50.0 + 0.02 * t as f64 + 8.0 * (std::f64::consts::TAU * (t % 24) as f64 / 24.0).sin();
            assert!((b.mean - truth).abs() < 1.5, "h={h}: {} vs {truth}", b.mean);
            assert!(
                b.lower_95 < b.lower_80
                    && b.lower_80 < b.mean
                    && b.mean < b.upper_80
                    && b.upper_80 < b.upper_95
            );
        }
    }

    #[test]
    fn selection_falls_back_on_short_or_constant_series() {
        assert!(matches!(select(&[Some(1.0), Some(2.0)], 24), Err(FitError::TooShort { .. })));
        let flat = vec![Some(3.0); 40];
        let s = select(&flat, 24).unwrap();
        assert_eq!(s.fit.spec.name(), "ANN");
        let b = s.fit.forecast_total(10, Sigma2::Unbiased);
        assert!(close(b.mean, 30.0, 1e-9) && close(b.upper_95, 30.0, 1e-6), "{b:?}");
        // 30 hourly points: too short for a daily season, fine for a trend
        let y = series(30, 24, 0.5, 3.0, 9);
        let s = select(&y, 24).unwrap();
        assert!(!s.fit.spec.seasonal());
        assert!(s.skipped.iter().any(|(n, _)| n == "AAA"));
        for b in s.fit.forecast(5, Sigma2::Unbiased) {
            assert!(b.mean.is_finite() && b.upper_95.is_finite());
        }
    }

    #[test]
    fn multiplicative_models_fit_and_give_simulated_intervals() {
        let y: Vec<Option<f64>> = series(120, 12, 0.3, 0.0, 5)
            .iter()
            .enumerate()
            .map(|(t, v)| v.map(|x| x * (1.0 + 0.3 * (std::f64::consts::TAU * (t % 12) as f64 / 12.0).cos())))
            .collect();
        let f =
            fit(&Spec { trend: Trend::Add, season: Season::Mul, m: 12 }, &y, FitOptions::default()).unwrap();
        assert!(f.sse.is_finite());
        let b = f.forecast(12, Sigma2::Unbiased);
        assert!(b.iter().all(|b| b.lower_95 < b.mean && b.mean < b.upper_95));
        // deterministic: same answer twice
        assert_eq!(f.forecast(3, Sigma2::Unbiased), f.forecast(3, Sigma2::Unbiased));
        assert_eq!(
            fit(
                &Spec { trend: Trend::Add, season: Season::Mul, m: 12 },
                &[Some(-1.0); 60],
                FitOptions::default()
            )
            .unwrap_err(),
            FitError::NotPositive
        );
    }
}
