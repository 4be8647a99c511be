//! Bands from the backtest's errors. Per step: the empirical quantiles of the errors
//! (actual − forecast) over every origin and step. For a total over `D` steps: Student's t
//! scaled by the root of `V(D) = a·D + b·D²`, where `V(D)` is the mean square over the origins
//! of the sum of the first `D` errors: the same quantity a total forecast from an origin makes.
//! The linear part is what averages out over a total; the quadratic part is an error that
//! persists, such as a level the forecast missed. A total within the backtest horizon takes `a`
//! and `b` from its paths; a longer one from longer paths where there are ([`Spread`]).
//!
//! The t distribution, not the normal, because a handful of origins estimate the variance; and
//! with fewer degrees of freedom than origins when sums from origins closer together than their
//! length overlap: `1 + (origins − 1) · min(1, spacing / D)`, `D` at most the paths' length.

use serde::{Deserialize, Serialize};

use crate::stats::forecast::{quantile_sorted, Band};
use crate::stats::regress::t_quantile;

/// The levels of the bounds: 2.5 %, 10 %, 90 %, 97.5 %.
const LEVELS: [f64; 4] = [0.025, 0.1, 0.9, 0.975];

/// What the backtest's errors say about the forecast's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorModel {
    /// Error quantiles at [`LEVELS`].
    quantiles: [f64; 4],
    /// Totals up to the backtest horizon.
    near: Spread,
    /// Longer totals, from longer paths (else `near` carries on).
    far: Option<Spread>,
}

/// How the variance of a sum of errors grows with its length `D`: `linear·D + quadratic·D²`,
/// measured up to `reach` steps on paths from `origins` origins `spacing` steps apart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct Spread {
    linear: f64,
    quadratic: f64,
    reach: usize,
    origins: usize,
    spacing: usize,
}

impl ErrorModel {
    /// From error paths (one per origin, oldest first, `spacing` steps apart; `None` where the
    /// actual was missing): `near` for the per-step quantiles and the totals within their
    /// length, `far` (longer paths, possibly none) for longer totals. `None` without errors.
    pub(super) fn new(
        near: &[Vec<Option<f64>>],
        far: &[Vec<Option<f64>>],
        spacing: usize,
    ) -> Option<ErrorModel> {
        let mut all: Vec<f64> = near.iter().flatten().flatten().copied().collect();
        if all.is_empty() {
            return None;
        }
        all.sort_by(f64::total_cmp);
        Some(ErrorModel {
            quantiles: LEVELS.map(|p| quantile_sorted(&all, p)),
            near: Spread::of(near, spacing),
            far: (!far.is_empty()).then(|| Spread::of(far, spacing)),
        })
    }

    /// The band of one step whose point forecast is `mean`.
    pub(super) fn band(&self, mean: f64) -> Band {
        let [l95, l80, u80, u95] = self.quantiles;
        Band { mean, lower_80: mean + l80, upper_80: mean + u80, lower_95: mean + l95, upper_95: mean + u95 }
    }

    /// The band of a total over `steps` steps whose point forecasts sum to `sum`.
    pub(super) fn total(&self, sum: f64, steps: usize) -> Band {
        let spread = match self.far {
            Some(far) if steps > self.near.reach => far,
            _ => self.near,
        };
        let d = steps as f64;
        let sd = (spread.linear * d + spread.quadratic * d * d).max(0.0).sqrt();
        let df = spread.df(steps);
        let (t80, t95) = (t_quantile(0.9, df), t_quantile(0.975, df));
        Band {
            mean: sum,
            lower_80: sum - t80 * sd,
            upper_80: sum + t80 * sd,
            lower_95: sum - t95 * sd,
            upper_95: sum + t95 * sd,
        }
    }
}

impl Spread {
    /// `V(D)` for every `D` up to the paths' length: the mean square of the sums of the first
    /// `D` errors of each path (a missing error counts as the mean of those before it), then
    /// least squares of `V(D)/D` on `a + b·D` (each `D` weighing the same in relative terms),
    /// both kept ≥ 0.
    fn of(paths: &[Vec<Option<f64>>], spacing: usize) -> Spread {
        let reach = paths.iter().map(Vec::len).max().unwrap_or(0);
        let mut sums = vec![(0.0, 0usize); paths.len()];
        let mut points: Vec<(f64, f64)> = Vec::with_capacity(reach);
        for d in 1..=reach {
            let (mut sq, mut n) = (0.0, 0usize);
            for (path, (sum, count)) in paths.iter().zip(&mut sums) {
                if let Some(Some(e)) = path.get(d - 1) {
                    *sum += e;
                    *count += 1;
                }
                if *count > 0 && path.len() >= d {
                    let s = *sum * d as f64 / *count as f64;
                    sq += s * s;
                    n += 1;
                }
            }
            if n > 0 {
                points.push((d as f64, sq / n as f64 / d as f64));
            }
        }
        let (linear, quadratic) = line_at_least_zero(&points);
        Spread { linear, quadratic, reach, origins: paths.len(), spacing }
    }

    /// Degrees of freedom of a total over `steps` (see the module doc).
    fn df(&self, steps: usize) -> f64 {
        let d = steps.clamp(1, self.reach.max(1)) as f64;
        1.0 + self.origins.saturating_sub(1) as f64 * (self.spacing as f64 / d).min(1.0)
    }
}

/// Least squares `y = a + b·x` with `a, b ≥ 0` (through the origin when `a` would be negative).
fn line_at_least_zero(points: &[(f64, f64)]) -> (f64, f64) {
    if points.is_empty() {
        return (0.0, 0.0);
    }
    let k = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / k, points.iter().map(|p| p.1).sum::<f64>() / k);
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = if sxx > 0.0 { (sxy / sxx).max(0.0) } else { 0.0 };
    let a = my - b * mx;
    if a >= 0.0 {
        (a, b)
    } else {
        let b = points.iter().map(|p| p.0 * p.1).sum::<f64>() / points.iter().map(|p| p.0 * p.0).sum::<f64>();
        (0.0, b.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_per_step_and_a_correlated_total() {
        // errors −4.5..=4.5 repeated: quantiles from the pooled errors
        let path: Vec<Option<f64>> = (0..50).map(|i| Some((i % 10) as f64 - 4.5)).collect();
        let m = ErrorModel::new(&[path.clone(), path], &[], 50).unwrap();
        let b = m.band(10.0);
        assert!(b.lower_95 < b.lower_80 && b.lower_80 < 10.0 && 10.0 < b.upper_80 && b.upper_80 < b.upper_95);
        assert_eq!((b.lower_95, b.upper_95), (5.5, 14.5));
        // independent errors: a total's variance is D·σ², its band Student's t with a degree of
        // freedom per (apart) origin
        let mut rng = fastrand::Rng::with_seed(5);
        let noise: Vec<Vec<Option<f64>>> =
            (0..400).map(|_| (0..48).map(|_| Some(rng.f64() * 2.0 - 1.0)).collect()).collect();
        let iid = ErrorModel::new(&noise, &[], 48).unwrap();
        let want = (24.0f64 / 3.0).sqrt(); // uniform(−1, 1): σ² = 1/3
        let got = iid.total(0.0, 24).upper_95 / t_quantile(0.975, 400.0);
        assert!((got / want - 1.0).abs() < 0.1, "{got} against {want}");
        // a level error that persists along each longer path: the longer totals' variance grows
        // with D²; seven origins a quarter of a path apart count as 1 + 6/4 degrees of freedom
        let level: Vec<Vec<Option<f64>>> =
            (0..7).map(|i| vec![Some(if i % 2 == 0 { 1.0 } else { -1.0 }); 96]).collect();
        let lv = ErrorModel::new(&noise, &level, 24).unwrap();
        let far = lv.far.unwrap();
        assert!(far.linear.abs() < 1e-9 && (far.quadratic - 1.0).abs() < 1e-9, "{far:?}");
        assert_eq!((far.df(24), far.df(96), far.df(720)), (7.0, 2.5, 2.5));
        assert!((lv.total(0.0, 720).upper_95 - t_quantile(0.975, 2.5) * 720.0).abs() < 1e-6);
        // within the near paths' reach, the near spread still holds
        assert_eq!(lv.total(0.0, 24), iid.total(0.0, 24));
        assert!(ErrorModel::new(&[vec![None]], &[], 1).is_none());
    }
}
