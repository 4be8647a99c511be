//! Derivative-free minimisation: Nelder–Mead.

/// Nelder–Mead minimisation. Returns (best point, value, converged).
pub(crate) fn nelder_mead(
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
