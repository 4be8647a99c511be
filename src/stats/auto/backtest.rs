//! Rolling-origin backtest: every candidate is fitted on the series up to each origin and
//! forecast over the horizon after it; its errors there score it. The best candidate, or the
//! mean of the best two or three when that scores better, is chosen.

use super::candidate::Candidate;
use crate::stats::forecast::Params;

/// The errors (actual − forecast) of one candidate, or of a mean of several, at every origin.
#[derive(Debug, Clone)]
pub(super) struct Scored {
    pub(super) members: Vec<Candidate>,
    /// One path per origin, oldest origin first; `None` where the actual is missing.
    pub(super) paths: Vec<Vec<Option<f64>>>,
    /// Mean absolute error over every path.
    pub(super) mae: f64,
    /// The parameters each member ended with (warm starts for the final fit).
    pub(super) params: Vec<Option<Params>>,
}

/// The origins, oldest first: up to `count` of them, `step` apart, the last leaving `horizon`
/// steps after it, none before `min_train`.
pub(super) fn origins(n: usize, horizon: usize, step: usize, count: usize, min_train: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..count)
        .map_while(|k| n.checked_sub(horizon + k * step))
        .take_while(|&o| o >= min_train.max(1))
        .collect();
    v.reverse();
    v
}

/// Scores every candidate that fits at every origin (the others are left out: they would be
/// scored on other errors).
pub(super) fn score(
    y: &[Option<f64>],
    candidates: &[Candidate],
    origins: &[usize],
    horizon: usize,
    non_negative: bool,
) -> Vec<Scored> {
    candidates
        .iter()
        .filter_map(|c| {
            let forecasts = c.forecasts_at(y, origins, horizon)?;
            let paths: Vec<Vec<Option<f64>>> = origins
                .iter()
                .zip(&forecasts)
                .map(|(&o, f)| {
                    y[o..o + horizon]
                        .iter()
                        .zip(&f.points)
                        .map(|(a, p)| a.map(|a| a - if non_negative { p.max(0.0) } else { *p }))
                        .collect()
                })
                .collect();
            let warm = forecasts.last().and_then(|f| f.params);
            Some(Scored { members: vec![*c], mae: mae(&paths)?, paths, params: vec![warm] })
        })
        .collect()
}

/// The error paths of `members` (their forecasts averaged) from each origin over `horizon`;
/// `None` when a member does not fit at an origin.
pub(super) fn paths_of(
    y: &[Option<f64>],
    members: &[Candidate],
    origins: &[usize],
    horizon: usize,
    non_negative: bool,
) -> Option<Vec<Vec<Option<f64>>>> {
    let scored = score(y, members, origins, horizon, non_negative);
    if scored.len() < members.len() {
        return None;
    }
    Some(
        (0..origins.len())
            .map(|o| {
                (0..horizon)
                    .map(|t| {
                        let errs: Option<Vec<f64>> = scored.iter().map(|s| s.paths[o][t]).collect();
                        errs.map(|e| e.iter().sum::<f64>() / e.len() as f64)
                    })
                    .collect()
            })
            .collect(),
    )
}

/// The best single candidate, or the mean of the best two or three when it scores lower.
pub(super) fn choose(mut scored: Vec<Scored>) -> Option<Scored> {
    scored.sort_by(|a, b| a.mae.total_cmp(&b.mae));
    let mut best = scored.first()?.clone();
    for k in 2..=3.min(scored.len()) {
        let top = &scored[..k];
        let paths: Vec<Vec<Option<f64>>> = (0..top[0].paths.len())
            .map(|o| {
                (0..top[0].paths[o].len())
                    .map(|t| {
                        let errs: Option<Vec<f64>> = top.iter().map(|s| s.paths[o][t]).collect();
                        errs.map(|e| e.iter().sum::<f64>() / k as f64)
                    })
                    .collect()
            })
            .collect();
        let Some(m) = mae(&paths) else { continue };
        if m < best.mae {
            // in the candidates' order, so a mean has one name whatever its members' ranks
            let mut members: Vec<(Candidate, Option<Params>)> =
                top.iter().flat_map(|s| s.members.iter().copied().zip(s.params.iter().copied())).collect();
            members.sort_by_key(|(c, _)| *c);
            best = Scored {
                members: members.iter().map(|(c, _)| *c).collect(),
                params: members.iter().map(|(_, p)| *p).collect(),
                paths,
                mae: m,
            };
        }
    }
    Some(best)
}

fn mae(paths: &[Vec<Option<f64>>]) -> Option<f64> {
    let (sum, n) = paths.iter().flatten().flatten().fold((0.0, 0usize), |(s, n), e| (s + e.abs(), n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Coverage of the 80 % and 95 % bands out of sample: each origin's errors against the bands
/// made from the other origins' errors.
pub(super) fn coverage(paths: &[Vec<Option<f64>>]) -> Option<(f64, f64)> {
    if paths.len() < 2 {
        return None;
    }
    let (mut n, mut in80, mut in95) = (0usize, 0usize, 0usize);
    for o in 0..paths.len() {
        let others: Vec<Vec<Option<f64>>> =
            paths.iter().enumerate().filter(|(i, _)| *i != o).map(|(_, p)| p.clone()).collect();
        let Some(model) = super::ErrorModel::new(&others, &[], 1) else { continue };
        let b = model.band(0.0);
        for e in paths[o].iter().flatten() {
            n += 1;
            in80 += usize::from(*e >= b.lower_80 && *e <= b.upper_80);
            in95 += usize::from(*e >= b.lower_95 && *e <= b.upper_95);
        }
    }
    (n > 0).then(|| (in80 as f64 / n as f64, in95 as f64 / n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_a_period_apart_and_leave_the_horizon() {
        assert_eq!(origins(100, 10, 24, 7, 20), [42, 66, 90]);
        assert_eq!(origins(100, 10, 24, 2, 20), [66, 90]);
        assert!(origins(20, 30, 24, 7, 1).is_empty());
    }

    #[test]
    fn a_forecast_from_an_origin_sees_nothing_after_it() {
        let y: Vec<Option<f64>> = (0..24 * 28)
            .map(|t| Some(5.0 + (t % 24) as f64 * 0.3 + ((t * 7919) % 11) as f64 * 0.1))
            .collect();
        let (at, h) = ([300, 324, 480], 47);
        let mut changed = y.clone();
        changed[300..].iter_mut().for_each(|v| *v = v.map(|x| x * 3.0 + 7.0));
        for c in Candidate::all(24, Some(168)) {
            let a = c.forecasts_at(&y, &at, h).unwrap_or_else(|| panic!("{} on y", c.name()));
            let b =
                c.forecasts_at(&changed, &at, h).unwrap_or_else(|| panic!("{} on the changed y", c.name()));
            assert_eq!(a[0].points, b[0].points, "{}: the first origin's forecast moved", c.name());
            assert_ne!(a[2].points, b[2].points, "{}: a later origin sees the change", c.name());
        }
    }

    #[test]
    fn a_mean_is_chosen_only_when_it_scores_better() {
        let s = |name: usize, errs: &[f64]| Scored {
            members: vec![Candidate::SeasonalNaive { period: name }],
            paths: vec![errs.iter().map(|e| Some(*e)).collect()],
            mae: errs.iter().map(|e| e.abs()).sum::<f64>() / errs.len() as f64,
            params: vec![None],
        };
        // opposite errors cancel in the mean
        let c = choose(vec![s(1, &[1.0, -1.0]), s(2, &[-1.2, 1.2]), s(3, &[5.0, 5.0])]).unwrap();
        assert_eq!(c.members.len(), 2);
        assert!((c.mae - 0.1).abs() < 1e-12);
        // the same errors: the mean is no better, the best alone is kept
        let c = choose(vec![s(1, &[1.0, 1.0]), s(2, &[1.0, 1.0])]).unwrap();
        assert_eq!(c.members, [Candidate::SeasonalNaive { period: 1 }]);
    }

    #[test]
    fn coverage_is_judged_on_the_origin_left_out() {
        let path = |v: f64| vec![Some(v); 4];
        // one origin far out: its errors fall outside the others' bands
        let (c80, c95) = coverage(&[path(0.0), path(0.1), path(-0.1), path(9.0)]).unwrap();
        assert!(c95 < 1.0 && c80 <= c95, "{c80} {c95}");
        assert!(coverage(&[path(0.0)]).is_none());
    }
}
