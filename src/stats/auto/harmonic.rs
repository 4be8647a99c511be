//! Dynamic harmonic regression: the daily and weekly cycles as Fourier terms fitted by least
//! squares over the window, and a slowly moving level (simple smoothing of what they leave) so
//! that a shift in the last days carries into the forecast.

use std::f64::consts::TAU;

use crate::stats::linalg::NormalEquations;

/// Harmonics of the short period (a day) and of the long one (a week).
const SHORT_HARMONICS: usize = 8;
const LONG_HARMONICS: usize = 20;
/// How fast the level follows the residuals.
const LEVEL_ALPHA: f64 = 0.05;
/// The level is smoothed over this many last steps: older residuals would weigh under
/// 0.95^400 ≈ 1e-9.
const LEVEL_SPAN: usize = 400;
/// The ridge, relative to the mean diagonal of the normal equations.
const RIDGE: f64 = 1e-9;

/// The Fourier terms of a model: for each period, its harmonics and a table of one cycle.
#[derive(Debug, Clone)]
pub(super) struct Terms {
    periods: Vec<Period>,
}

#[derive(Debug, Clone)]
struct Period {
    len: usize,
    harmonics: Vec<usize>,
    /// (sin, cos) of 2π·i/len for i in 0..len.
    table: Vec<(f64, f64)>,
}

impl Terms {
    /// Terms of `short` and, if given, `long`; a harmonic of the long period that repeats one of
    /// the short period (same frequency) is left out, so the columns stay independent.
    pub(super) fn new(short: usize, long: Option<usize>) -> Terms {
        let mut periods = vec![Period::new(short, SHORT_HARMONICS, None)];
        if let Some(long) = long {
            periods.push(Period::new(long, LONG_HARMONICS, Some(short)));
        }
        Terms { periods }
    }

    /// Columns: the constant, then a sine and a cosine per harmonic.
    pub(super) fn columns(&self) -> usize {
        1 + self.periods.iter().map(|p| 2 * p.harmonics.len()).sum::<usize>()
    }

    /// The design row at time `t` (from the start of the series).
    fn row(&self, t: usize, out: &mut Vec<f64>) {
        out.clear();
        out.push(1.0);
        for p in &self.periods {
            for &k in &p.harmonics {
                let (s, c) = p.table[(k * t) % p.len];
                out.push(s);
                out.push(c);
            }
        }
    }

    /// The fitted cycles plus the smoothed level, `steps` ahead. `None` when the series has too
    /// few observations for the columns (a period more than their number) or no solution.
    pub(super) fn forecast(&self, y: &[Option<f64>], steps: usize) -> Option<Vec<f64>> {
        self.forecasts_at(y, &[y.len()], steps)?.pop()
    }

    /// [`Terms::forecast`] of `y[..o]` for every origin `o` (ascending), from one pass: the
    /// normal equations are summed once in time order, and each origin solves the sums as they
    /// stand there (the same sums, in the same order, as a fit that ends there).
    pub(super) fn forecasts_at(
        &self,
        y: &[Option<f64>],
        origins: &[usize],
        steps: usize,
    ) -> Option<Vec<Vec<f64>>> {
        let p = self.columns();
        let mut ne = NormalEquations::default();
        ne.reset(p);
        let mut row = Vec::with_capacity(p);
        let (mut t, mut n_obs) = (0, 0usize);
        let mut out = Vec::with_capacity(origins.len());
        for &o in origins {
            while t < o {
                if let Some(v) = y[t] {
                    self.row(t, &mut row);
                    ne.add_row(&row, v);
                    n_obs += 1;
                }
                t += 1;
            }
            if n_obs < p + self.periods[0].len {
                return None;
            }
            let beta = ne.solve_ridge(RIDGE)?;
            out.push(self.extrapolate(&y[..o], &beta, steps, &mut row)?);
        }
        Some(out)
    }

    /// The fit's forecast `steps` past the end of `y`, with the level of its last residuals.
    fn extrapolate(
        &self,
        y: &[Option<f64>],
        beta: &[f64],
        steps: usize,
        row: &mut Vec<f64>,
    ) -> Option<Vec<f64>> {
        let mut at = |t: usize| {
            self.row(t, row);
            row.iter().zip(beta).map(|(x, b)| x * b).sum::<f64>()
        };
        let mut level = 0.0;
        let from = y.len().saturating_sub(LEVEL_SPAN);
        for (t, v) in y.iter().enumerate().skip(from) {
            if let Some(v) = v {
                level += LEVEL_ALPHA * (v - at(t) - level);
            }
        }
        let n = y.len();
        let out: Vec<f64> = (n..n + steps).map(|t| at(t) + level).collect();
        out.iter().all(|v| v.is_finite()).then_some(out)
    }
}

impl Period {
    fn new(len: usize, most: usize, repeats_of: Option<usize>) -> Period {
        // below the Nyquist frequency; a long harmonic k repeats a short one when k·short ≡ 0 (mod len)
        let harmonics = (1..=most.min(len.saturating_sub(1) / 2))
            .filter(|k| repeats_of.is_none_or(|s| (k * s) % len != 0))
            .collect();
        let table = (0..len)
            .map(|i| {
                let a = TAU * i as f64 / len as f64;
                (a.sin(), a.cos())
            })
            .collect();
        Period { len, harmonics, table }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_harmonics_that_repeat_daily_ones_are_left_out() {
        let t = Terms::new(24, Some(168));
        assert_eq!(t.periods[0].harmonics, (1..=8).collect::<Vec<_>>());
        assert!(!t.periods[1].harmonics.contains(&7) && !t.periods[1].harmonics.contains(&14));
        assert_eq!(t.columns(), 1 + 16 + 36);
        // a short period keeps below Nyquist
        assert_eq!(Terms::new(4, None).periods[0].harmonics, vec![1]);
    }

    #[test]
    fn a_pure_daily_and_weekly_cycle_is_recovered() {
        let f = |t: usize| {
            10.0 + 3.0 * (TAU * t as f64 / 24.0).sin()
                + 2.0 * (TAU * 2.0 * t as f64 / 168.0).cos()
                + if (t / 24) % 7 == 5 { -1.0 } else { 0.0 }
        };
        let mut y: Vec<Option<f64>> = (0..24 * 21).map(|t| Some(f(t))).collect();
        y[100] = None;
        let fc = Terms::new(24, Some(168)).forecast(&y, 48).unwrap();
        let err: f64 = fc.iter().enumerate().map(|(k, v)| (v - f(y.len() + k)).abs()).sum::<f64>() / 48.0;
        assert!(err < 0.15, "mean error {err}");
        // daily terms alone cannot see the weekday
        let daily = Terms::new(24, None).forecast(&y, 48).unwrap();
        let err_daily: f64 =
            daily.iter().enumerate().map(|(k, v)| (v - f(y.len() + k)).abs()).sum::<f64>() / 48.0;
        assert!(err_daily > 2.0 * err, "{err_daily} vs {err}");
        assert!(Terms::new(24, Some(168)).forecast(&y[..60], 1).is_none(), "too short for 53 columns");
        // one pass over several origins gives each origin's own fit exactly
        let terms = Terms::new(24, Some(168));
        let at = terms.forecasts_at(&y, &[300, 333, 480], 5).unwrap();
        for (o, f) in [300, 333, 480].iter().zip(&at) {
            assert_eq!(f, &terms.forecast(&y[..*o], 5).unwrap());
        }
    }
}
