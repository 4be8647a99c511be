//! Model selection: every candidate fitted, the lowest AICc kept.

use super::{fit, Fit, FitError, FitOptions, Season, Spec, Trend};

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

/// A candidate [`select_reporting`] has just fitted.
#[derive(Debug, Clone, Copy)]
pub struct Fitted<'a> {
    pub done: usize,
    pub total: usize,
    pub model: &'a str,
}

/// What [`select`] settled on.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub fit: Fit,
    /// Candidates skipped because the series is too short (or not positive) for them.
    pub(crate) skipped: Vec<(String, FitError)>,
}

/// Fits every candidate the data support and keeps the lowest AICc. A constant series gets a
/// flat forecast (simple smoothing; its intervals have zero width). `Err` when the series is too
/// short for even the simplest model.
pub fn select(y: &[Option<f64>], m: usize) -> Result<Selected, FitError> {
    select_reporting(y, m, &mut |_| {})
}

/// [`select`], calling `fitted` after each candidate (for progress on a long series, where each
/// fit takes seconds).
pub fn select_reporting(
    y: &[Option<f64>],
    m: usize,
    fitted: &mut dyn FnMut(Fitted<'_>),
) -> Result<Selected, FitError> {
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
    let total = specs.len();
    for (i, spec) in specs.into_iter().enumerate() {
        let result = fit(&spec, y, FitOptions::default());
        fitted(Fitted { done: i + 1, total, model: &spec.name() });
        match result {
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
    use super::super::test_series::*;
    use super::super::*;
    use super::*;

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
}
