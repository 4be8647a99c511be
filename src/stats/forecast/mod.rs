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

mod fit;
mod intervals;
mod observed;
mod recursions;
mod select;

pub(crate) use fit::{fill_gaps, from_params, to_params};
pub use fit::{fit, fixed, heuristic_init, min_obs, Fit, FitError, FitOptions};
pub use intervals::{
    quantile_sorted, relative_variance, relative_variance_of_total, Band, Simulated, SIM_PATHS, Z80, Z95,
};
pub use recursions::{point_forecast, run, Run};
pub use select::{candidates, select, select_reporting, Fitted, Selected};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trend {
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
    pub(crate) trend: Trend,
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
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// How σ² is estimated from the SSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sigma2 {
    /// SSE/(n − k), R's `forecast::ets` (the default: wider for short series).
    Unbiased,
    /// SSE/n, statsmodels' `ETSModel`.
    Mle,
}

impl Sigma2 {
    /// The convention as the `sigma2` label and the offline output name it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Sigma2::Unbiased => "sse/(n-k)",
            Sigma2::Mle => "sse/n",
        }
    }
}

#[cfg(test)]
pub(crate) mod test_series {
    pub(crate) fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    pub(crate) fn series(n: usize, m: usize, trend: f64, amp: f64, noise: u64) -> Vec<Option<f64>> {
        let mut rng = fastrand::Rng::with_seed(noise);
        (0..n)
            .map(|t| {
                let s = amp * (std::f64::consts::TAU * (t % m) as f64 / m as f64).sin();
                Some(50.0 + trend * t as f64 + s + (rng.f64() - 0.5) * 2.0)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in ["ANN", "AAN", "AAdN", "ANA", "AAA", "AAdA", "ANM", "AAM", "AAdM"] {
            assert_eq!(Spec::parse(n, 4).unwrap().name(), n);
        }
        assert!(Spec::parse("MAM", 4).is_none());
        assert!(Spec::parse("AAx", 4).is_none());
    }
}
