//! Holt-Winters as a candidate: the same recursions as the exact fits of
//! [`crate::stats::forecast`], but started from the heuristic initial states and searched over
//! the smoothing parameters alone. That costs one pass per evaluation instead of a least-squares
//! solve, which is what makes it cheap enough to refit at every backtest origin.

use crate::stats::forecast::{
    self, fill_gaps, from_params, heuristic_init, point_forecast, run, to_params, Params, Spec,
};
use crate::stats::optim::nelder_mead;

/// Evaluations for a search from the default start, and from the previous fit's parameters.
const COLD_EVALS: usize = 100;
const WARM_EVALS: usize = 25;

/// Fits `spec` to `y` and forecasts `steps` ahead; returns the forecast and the parameters
/// (a warm start for the next fit). `warm` starts the search near earlier parameters. `None`
/// when the series is too short for the heuristic start (two full periods of a seasonal model).
pub(super) fn forecast(
    spec: &Spec,
    y: &[Option<f64>],
    steps: usize,
    warm: Option<Params>,
) -> Option<(Vec<f64>, Params)> {
    let n_obs = y.iter().flatten().count();
    if n_obs < forecast::min_obs(spec) || y.len() < 2 * spec.m {
        return None;
    }
    // an optimiser behaves on a series of mean magnitude one; the recursions scale with it
    let scale = y.iter().flatten().map(|v| v.abs()).sum::<f64>() / n_obs as f64;
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let ys: Vec<Option<f64>> = y.iter().map(|v| v.map(|x| x / scale)).collect();
    let init = heuristic_init(spec, &fill_gaps(&ys));
    let objective = |u: &[f64]| {
        let sse = run(spec, &to_params(spec, u), &init, &ys).sse;
        if sse.is_finite() {
            sse
        } else {
            f64::INFINITY
        }
    };
    let (start, step, evals) = match warm {
        Some(p) => (from_params(spec, &p), 0.3, WARM_EVALS),
        None => {
            (from_params(spec, &Params { alpha: 0.1, beta: 0.02, gamma: 0.05, phi: 0.95 }), 1.0, COLD_EVALS)
        }
    };
    let (u, _, _) = nelder_mead(&objective, &start, step, evals, 1e-8);
    let params = to_params(spec, &u);
    let r = run(spec, &params, &init, &ys);
    let out: Vec<f64> = point_forecast(spec, &params, &r, steps).into_iter().map(|v| v * scale).collect();
    out.iter().all(|v| v.is_finite()).then_some((out, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::forecast::test_series::series;

    #[test]
    fn a_seasonal_series_is_followed_and_a_warm_start_lands_near_the_cold_fit() {
        let spec = Spec::parse("ANA", 24).unwrap();
        let y = series(24 * 14, 24, 0.0, 5.0, 3);
        let (f, p) = forecast(&spec, &y, 24, None).unwrap();
        // the cycle: 50 + 5 sin, noise ±1
        for (k, v) in f.iter().enumerate() {
            let want = 50.0 + 5.0 * (std::f64::consts::TAU * ((y.len() + k) % 24) as f64 / 24.0).sin();
            assert!((v - want).abs() < 1.5, "step {k}: {v} against {want}");
        }
        let (g, _) = forecast(&spec, &y[..y.len() - 1], 25, Some(p)).unwrap();
        assert!((g[1] - f[0]).abs() < 1.0, "{} against {}", g[1], f[0]);
        assert!(forecast(&spec, &y[..30], 1, None).is_none(), "under two periods");
    }
}
