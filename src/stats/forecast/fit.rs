//! Fitting: the smoothing parameters by Nelder–Mead from a start grid, the initial states by
//! least squares (linear models) or refined from the heuristic (multiplicative seasons).

use super::observed::Observed;
use super::{run, Init, Params, Run, Season, Spec, Trend};
use crate::stats::linalg::Qr;
use crate::stats::optim::nelder_mead;

/// A fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub spec: Spec,
    pub(crate) params: Params,
    pub(crate) init: Init,
    pub(crate) run: Run,
    pub sse: f64,
    pub(crate) n_obs: usize,
    /// Parameters + initial states estimated.
    pub(crate) k: usize,
    pub(crate) loglik: f64,
    pub(crate) aicc: f64,
    /// Whether the optimiser met its tolerance (rather than its evaluation budget).
    pub(crate) converged: bool,
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
pub(crate) fn to_params(spec: &Spec, u: &[f64]) -> Params {
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let mut it = u.iter();
    let alpha = sig(*it.next().expect("alpha"));
    let beta = if spec.trend != Trend::None { sig(*it.next().expect("beta")) } else { 0.0 };
    let phi = if spec.trend == Trend::Damped { 0.8 + 0.195 * sig(*it.next().expect("phi")) } else { 1.0 };
    let gamma = if spec.seasonal() { (1.0 - alpha) * sig(*it.next().expect("gamma")) } else { 0.0 };
    Params { alpha, beta, gamma, phi }
}

pub(crate) fn from_params(spec: &Spec, p: &Params) -> Vec<f64> {
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
        // γ is a share of 1 − α; at α = 1 that share is 0 (γ must be), not 0/0
        let room = 1.0 - p.alpha;
        u.push(logit(if room > 0.0 { p.gamma / room } else { 0.0 }));
    }
    u
}

/// Initial states from the free vector (level, trend, m−1 seasonals; the last seasonal makes
/// them sum to 0, or to m for multiplicative).
pub(super) fn init_from(spec: &Spec, x: &[f64]) -> Init {
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

/// For multiplicative seasons: Levenberg–Marquardt over the smoothing parameters (unbounded
/// form) and the initial states together, from the search's answer. Returns the parameters, the
/// states and whether the relative SSE change fell under the tolerance (not the iteration cap).
fn refine_jointly(spec: &Spec, p: Params, start: Init, w: &mut Observed) -> (Params, Init, bool) {
    let mut z = from_params(spec, &p);
    let np = z.len();
    z.push(start.level);
    if spec.trend != Trend::None {
        z.push(start.trend);
    }
    z.extend_from_slice(&start.seasonal[..spec.m - 1]);
    let k = z.len();
    let n = w.points.len();
    if n <= k {
        return (p, start, true);
    }
    let sse_at = |z: &[f64], w: &mut Observed| {
        let sse = w.run_free(spec, &to_params(spec, &z[..np]), &z[np..]);
        if sse.is_finite() {
            sse
        } else {
            f64::INFINITY
        }
    };
    let mut best_sse = sse_at(&z, w);
    let mut fitted = w.fitted.clone();
    let mut lambda: f64 = 1e-3;
    let mut converged = false;
    for _ in 0..100 {
        let mut jac = vec![0.0; (n + k) * k];
        for j in 0..k {
            let h = 1e-7 * z[j].abs().max(1e-2);
            let mut zp = z.clone();
            zp[j] += h;
            sse_at(&zp, w);
            for (row, (f, b)) in w.fitted.iter().zip(&fitted).enumerate() {
                jac[row + j * (n + k)] = (f - b) / h;
            }
        }
        if jac.iter().any(|v| !v.is_finite()) {
            // the recursions left the numbers near here: stop where the SSE was last finite
            converged = false;
            break;
        }
        let resid: Vec<f64> = w.points.iter().zip(&fitted).map(|((_, v), f)| v - f).collect();
        // damped Gauss–Newton steps: the Jacobian stacked on √λ·diag(‖column‖)
        let norms: Vec<f64> = (0..k)
            .map(|j| jac[j * (n + k)..j * (n + k) + n].iter().map(|v| v * v).sum::<f64>().sqrt())
            .collect();
        let mut improved = false;
        for _ in 0..12 {
            let mut a = jac.clone();
            for j in 0..k {
                a[n + j + j * (n + k)] = lambda.sqrt() * norms[j].max(1e-12);
            }
            let mut rhs = resid.clone();
            rhs.resize(n + k, 0.0);
            let step = Qr::new(&a, n + k, k, 1e-14).solve(&rhs);
            let zn: Vec<f64> = z.iter().zip(&step).map(|(a, d)| a + d).collect();
            let sse = sse_at(&zn, w);
            if sse < best_sse {
                converged = (best_sse - sse) <= 1e-10 * best_sse;
                z = zn;
                best_sse = sse;
                fitted.clone_from(&w.fitted);
                lambda = (lambda / 3.0).max(1e-12);
                improved = true;
                break;
            }
            lambda *= 4.0;
        }
        if !improved {
            converged = true;
            break;
        }
        if converged {
            break;
        }
    }
    (to_params(spec, &z[..np]), init_from(spec, &z[np..]), converged)
}

/// Options for [`fit`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FitOptions {
    /// Fixed smoothing parameters (initial states are still estimated).
    pub(crate) fixed: Option<Params>,
}

/// Parameters to fall back on when no search answer gave a finite SSE.
fn answers_fallback(spec: &Spec) -> Params {
    to_params(spec, &from_params(spec, &Params { alpha: 0.2, beta: 0.01, gamma: 0.05, phi: 0.98 }))
}

fn assemble(spec: &Spec, params: Params, init: Init, r: Run, converged: bool) -> Fit {
    let k = spec.n_params() + spec.n_states();
    let n = r.n_obs as f64;
    // Gaussian log-likelihood at σ² = SSE/n; a perfect fit would make it infinite
    let sse = r.sse.max(f64::MIN_POSITIVE * n);
    let loglik = -n / 2.0 * ((2.0 * std::f64::consts::PI * sse / n).ln() + 1.0);
    let kk = (k + 1) as f64; // + σ²
    let aicc = -2.0 * loglik + 2.0 * kk + 2.0 * kk * (kk + 1.0) / (n - kk - 1.0).max(1e-9);
    // a run that left the numbers (a NaN or an overflow) is no candidate
    let aicc = if r.sse.is_finite() { aicc } else { f64::INFINITY };
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

    // the searches' answers: (parameters, SSE, converged)
    let answers: Vec<(Params, f64, bool)> = match opts.fixed {
        Some(p) => vec![(p, sse_at(&p), true)],
        None => {
            let objective = |u: &[f64]| {
                let sse = sse_at(&to_params(spec, u));
                if sse.is_finite() {
                    sse
                } else {
                    f64::INFINITY
                }
            };
            // start grid, then Nelder–Mead from the three best points and from the best point
            // of every damping level (a damped trend's valleys at low and high φ are apart) and,
            // for a multiplicative season (whose search holds the heuristic states), of every
            // seasonal level
            let mut starts: Vec<(Vec<f64>, f64, f64, f64)> = Vec::new();
            for &a in &[0.05, 0.2, 0.5, 0.8, 0.95] {
                for &b in if spec.trend != Trend::None { &[0.01, 0.1, 0.4][..] } else { &[0.0][..] } {
                    for &g in if spec.seasonal() { &[0.01, 0.1, 0.5][..] } else { &[0.0][..] } {
                        for &ph in
                            if spec.trend == Trend::Damped { &[0.81, 0.9, 0.98][..] } else { &[1.0][..] }
                        {
                            let p = Params { alpha: a, beta: b, gamma: g * (1.0 - a), phi: ph };
                            let u = from_params(spec, &p);
                            let v = objective(&u);
                            starts.push((u, v, ph, g));
                        }
                    }
                }
            }
            starts.sort_by(|a, b| a.1.total_cmp(&b.1));
            let mut chosen: Vec<&Vec<f64>> = starts.iter().take(3).map(|s| &s.0).collect();
            let levels = |s: &(Vec<f64>, f64, f64, f64), ph: f64, g: f64| s.2 == ph || s.3 == g;
            let mut more: Vec<(f64, f64)> = Vec::new();
            if spec.trend == Trend::Damped {
                more.extend([(0.81, -1.0), (0.9, -1.0), (0.98, -1.0)]);
            }
            if spec.season == Season::Mul {
                more.extend([(-1.0, 0.01), (-1.0, 0.1), (-1.0, 0.5)]);
            }
            for (ph, g) in more {
                if let Some(s) = starts.iter().find(|s| levels(s, ph, g)) {
                    if !chosen.contains(&&s.0) {
                        chosen.push(&s.0);
                    }
                }
            }
            let mut answers: Vec<(Params, f64, bool)> = chosen
                .iter()
                .map(|u| {
                    let (x, _, _) = nelder_mead(&objective, u, 0.5, 400 * u.len(), 1e-10);
                    // restart once from the result to escape a collapsed simplex; its verdict counts
                    let (x, v, ok) = nelder_mead(&objective, &x, 0.1, 200 * u.len(), 1e-12);
                    (to_params(spec, &x), v, ok)
                })
                .collect();
            if spec.trend == Trend::Damped {
                // φ's lower bound, where the optimum often lies, is only reached in the limit of
                // the unbounded variable: search once with φ held there
                let at = 1 + usize::from(spec.trend != Trend::None);
                let pinned = |v: &[f64]| {
                    let mut u = v.to_vec();
                    u.insert(at, -40.0);
                    u
                };
                let best_low = starts.iter().find(|s| s.2 == 0.81).expect("a start at φ = 0.81");
                let mut v0 = best_low.0.clone();
                v0.remove(at);
                let reduced = |v: &[f64]| objective(&pinned(v));
                let (x, _, _) = nelder_mead(&reduced, &v0, 0.5, 400 * v0.len(), 1e-10);
                let (x, v, ok) = nelder_mead(&reduced, &x, 0.1, 200 * v0.len(), 1e-12);
                answers.push((to_params(spec, &pinned(&x)), v, ok));
            }
            if spec.season == Season::Mul {
                // the search's valleys hold the heuristic states: the joint refinement starts
                // from the starts themselves too
                answers.extend(chosen.iter().map(|u| (to_params(spec, u), objective(u), true)));
            }
            answers
        }
    };
    let mut w = work.into_inner();
    let (params, converged, mut init) = if spec.season == Season::Mul {
        // The search held the heuristic states; the optimum moves both together, so every
        // answer is refined jointly and the best kept.
        let mut best: Option<(Params, bool, Init, f64)> = None;
        for (p, _, ok) in answers {
            let init = refine_init_nonlinear(spec, &p, &mut w, heuristic.clone());
            let (p, init, joint_ok) =
                if opts.fixed.is_some() { (p, init, true) } else { refine_jointly(spec, p, init, &mut w) };
            let sse = w.run_init(spec, &p, &init);
            if !sse.is_finite() {
                continue;
            }
            if best.as_ref().is_none_or(|b| sse < b.3) {
                best = Some((p, ok && joint_ok, init, sse));
            }
        }
        match best {
            Some((p, ok, init, _)) => (p, ok, init),
            // no answer ran to a finite SSE: given parameters are kept, else a plain start;
            // either way from the heuristic states, flagged (its AICc is infinite)
            None => (opts.fixed.unwrap_or_else(|| answers_fallback(spec)), false, heuristic.clone()),
        }
    } else {
        let (p, _, ok) = answers.into_iter().min_by(|a, b| a.1.total_cmp(&b.1)).expect("at least one answer");
        (p, ok, init_from(spec, &best_init_linear(spec, &p, &mut w, true).0))
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
pub(crate) fn fill_gaps(y: &[Option<f64>]) -> Vec<f64> {
    let mut out = Vec::with_capacity(y.len());
    // the last observation before `t` (index, value), and where the next one is
    let mut before: Option<(usize, f64)> = None;
    let mut next = 0;
    for t in 0..y.len() {
        if let Some(v) = y[t] {
            before = Some((t, v));
            out.push(v);
            continue;
        }
        if next <= t {
            next = (t + 1..y.len()).find(|&i| y[i].is_some()).unwrap_or(y.len());
        }
        out.push(match (before, y.get(next).copied().flatten()) {
            (Some((t0, v0)), Some(v1)) => v0 + (v1 - v0) * (t - t0) as f64 / (next - t0) as f64,
            (Some((_, v0)), None) => v0,
            (None, Some(v1)) => v1,
            (None, None) => 0.0,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::test_series::*;
    use super::super::*;
    use super::*;

    #[test]
    fn parameters_at_their_bounds_map_to_finite_search_variables() {
        let spec = Spec::parse("AAdA", 4).unwrap();
        let p = Params { alpha: 1.0, beta: 0.0, gamma: 0.0, phi: 0.8 };
        let u = from_params(&spec, &p);
        assert!(u.iter().all(|v| v.is_finite()), "{u:?}");
        let back = to_params(&spec, &u);
        assert!((back.alpha - 1.0).abs() < 1e-8 && back.gamma < 1e-8 && (back.phi - 0.8).abs() < 1e-8);
    }

    #[test]
    fn a_run_that_leaves_the_numbers_is_never_chosen() {
        let spec = Spec::parse("AAM", 4).unwrap();
        let y = series(40, 4, 0.0, 3.0, 1);
        let nan = Params { alpha: f64::NAN, beta: 0.1, gamma: 0.1, phi: 1.0 };
        let init = Init { level: 50.0, trend: 0.0, seasonal: vec![1.0; 4] };
        let f = fixed(&spec, nan, init, &y);
        assert!(f.sse.is_nan() && f.aicc == f64::INFINITY, "{} {}", f.sse, f.aicc);
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
