//! Prediction intervals: the state-space variance of each step and of a total (linear models),
//! and simulated paths (multiplicative seasons), as in the module doc of [`super`].

use super::{point_forecast, run, Fit, Init, Params, Run, Season, Sigma2, Spec, Trend};

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
    pub(crate) fn labelled(&self) -> [(&'static str, f64); 5] {
        [
            ("mean", self.mean),
            ("lower_80", self.lower_80),
            ("upper_80", self.upper_80),
            ("lower_95", self.lower_95),
            ("upper_95", self.upper_95),
        ]
    }

    /// Every bound times `f` (a currency conversion; `f` > 0 keeps the order).
    pub(crate) fn scaled(&self, f: f64) -> Band {
        Band {
            mean: self.mean * f,
            lower_80: self.lower_80 * f,
            upper_80: self.upper_80 * f,
            lower_95: self.lower_95 * f,
            upper_95: self.upper_95 * f,
        }
    }

    /// Money, energy and emissions cannot be negative: clamp every bound at zero.
    pub(crate) fn clamped(self) -> Band {
        Band {
            mean: self.mean.max(0.0),
            lower_80: self.lower_80.max(0.0),
            upper_80: self.upper_80.max(0.0),
            lower_95: self.lower_95.max(0.0),
            upper_95: self.upper_95.max(0.0),
        }
    }
}

impl Fit {
    /// The smoothing parameters fitted (or given).
    pub fn params(&self) -> Params {
        self.params
    }

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
    pub(crate) fn simulate(&self, horizon: usize, conv: Sigma2) -> Simulated {
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
    pub(crate) paths: Vec<Vec<f64>>,
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

#[cfg(test)]
mod tests {
    use super::super::test_series::*;
    use super::super::*;
    use super::*;

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
}
