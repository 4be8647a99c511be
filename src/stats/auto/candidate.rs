//! The candidates: what each is called, what data it needs, and its forecast.

use serde::{Deserialize, Serialize};

use super::{harmonic::Terms, naive, smoothing};
use crate::stats::forecast::{Params, Spec};

/// Weeks (long periods) in a profile.
const PROFILE_CYCLES: usize = 4;

/// A forecasting model among which [`super::auto`] chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Candidate {
    /// The value one period ago.
    SeasonalNaive { period: usize },
    /// The median of the same phase over the last four periods.
    Profile { period: usize },
    /// Fourier terms of the short period (and the long one), plus a smoothed level.
    Harmonic { short: usize, long: Option<usize> },
    /// Holt-Winters from the heuristic start: additive season, with a damped trend or none.
    Smoothing { period: usize, damped: bool },
}

/// A candidate's forecast, and the parameters a warm refit starts from.
pub(super) struct Forecast {
    pub(super) points: Vec<f64>,
    pub(super) params: Option<Params>,
}

impl Candidate {
    /// The candidates for a short period and, if given, a long one.
    pub fn all(short: usize, long: Option<usize>) -> Vec<Candidate> {
        let mut v = vec![Candidate::SeasonalNaive { period: short }];
        if let Some(long) = long {
            v.push(Candidate::SeasonalNaive { period: long });
            v.push(Candidate::Profile { period: long });
        }
        v.push(Candidate::Harmonic { short, long });
        if short >= 2 {
            v.push(Candidate::Smoothing { period: short, damped: false });
            v.push(Candidate::Smoothing { period: short, damped: true });
        }
        v
    }

    /// Whether its periods are the short one or the long one given.
    pub(super) fn periods_within(&self, short: usize, long: Option<usize>) -> bool {
        let ok = |p: usize| p == short || Some(p) == long;
        match *self {
            Candidate::SeasonalNaive { period } | Candidate::Profile { period } => ok(period),
            Candidate::Harmonic { short: s, long: l } => s == short && l.is_none_or(|l| Some(l) == long),
            Candidate::Smoothing { period, .. } => period == short,
        }
    }

    /// The name pushed in the `model` label: `snaive24`, `profile168`, `harmonic24+168`,
    /// `ets_ANA24`, `ets_AAdA24`.
    pub fn name(&self) -> String {
        match self {
            Candidate::SeasonalNaive { period } => format!("snaive{period}"),
            Candidate::Profile { period } => format!("profile{period}"),
            Candidate::Harmonic { short, long: Some(long) } => format!("harmonic{short}+{long}"),
            Candidate::Harmonic { short, long: None } => format!("harmonic{short}"),
            Candidate::Smoothing { period, damped } => format!("ets_{}{period}", self.spec_name(*damped)),
        }
    }

    fn spec_name(&self, damped: bool) -> &'static str {
        if damped {
            "AAdA"
        } else {
            "ANA"
        }
    }

    /// Fits on `y` and forecasts `steps` ahead (cold); `None` when `y` is too short for it.
    pub fn predict(&self, y: &[Option<f64>], steps: usize) -> Option<Vec<f64>> {
        self.forecast(y, steps, None).map(|f| f.points)
    }

    /// [`Candidate::forecast`] of `y[..o]` for every origin `o` (ascending), each fit warm-started
    /// from the one before; `None` when it does not fit at one of them.
    pub(super) fn forecasts_at(
        &self,
        y: &[Option<f64>],
        origins: &[usize],
        steps: usize,
    ) -> Option<Vec<Forecast>> {
        if let Candidate::Harmonic { short, long } = *self {
            let all = Terms::new(short, long).forecasts_at(y, origins, steps)?;
            return Some(all.into_iter().map(|points| Forecast { points, params: None }).collect());
        }
        let mut warm = None;
        origins
            .iter()
            .map(|&o| {
                let f = self.forecast(&y[..o], steps, warm)?;
                warm = f.params;
                Some(f)
            })
            .collect()
    }

    /// Fits on `y` and forecasts `steps` ahead; `None` when `y` is too short for this candidate.
    pub(super) fn forecast(&self, y: &[Option<f64>], steps: usize, warm: Option<Params>) -> Option<Forecast> {
        let plain = |points| Some(Forecast { points, params: None });
        match *self {
            Candidate::SeasonalNaive { period } => plain(naive::seasonal_naive(y, period, steps)?),
            Candidate::Profile { period } => plain(naive::profile_median(y, period, PROFILE_CYCLES, steps)?),
            Candidate::Harmonic { short, long } => plain(Terms::new(short, long).forecast(y, steps)?),
            Candidate::Smoothing { period, damped } => {
                let spec = Spec::parse(self.spec_name(damped), period).expect("a known model");
                let (points, params) = smoothing::forecast(&spec, y, steps, warm)?;
                Some(Forecast { points, params: Some(params) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_the_long_period_candidates() {
        let names: Vec<String> = Candidate::all(24, Some(168)).iter().map(Candidate::name).collect();
        assert_eq!(
            names,
            ["snaive24", "snaive168", "profile168", "harmonic24+168", "ets_ANA24", "ets_AAdA24"]
        );
        let short: Vec<String> = Candidate::all(24, None).iter().map(Candidate::name).collect();
        assert_eq!(short, ["snaive24", "harmonic24", "ets_ANA24", "ets_AAdA24"]);
    }
}
