//! The recursions: a model run over a series (fitted values, SSE, final states) and the point
//! forecast from the final states. Exactly statsmodels' `ExponentialSmoothing` (see the module
//! doc of [`super`]).

use super::{Init, Params, Season, Spec, Trend};

/// The result of running the recursions over a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub fitted: Vec<f64>,
    pub sse: f64,
    /// Observations used (non-missing).
    pub(crate) n_obs: usize,
    pub(crate) level: f64,
    pub(crate) trend: f64,
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

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

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
}
