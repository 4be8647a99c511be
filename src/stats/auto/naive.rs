//! The naive candidates: the value one season ago, and the median of the same hour over the last
//! few weeks. They need no fitting, and on farms that repeat their week they are hard to beat.

/// The forecast `steps` ahead that repeats the last observed value `period` steps back (further
/// back by whole periods over a gap). Where no such value exists, the mean of the last period's
/// observations. `None` when the series is shorter than one period or the last period is empty.
pub(super) fn seasonal_naive(y: &[Option<f64>], period: usize, steps: usize) -> Option<Vec<f64>> {
    let n = y.len();
    if period == 0 || n < period {
        return None;
    }
    let fallback = mean(&y[n - period..])?;
    Some(
        (0..steps)
            .map(|k| {
                // the same phase in the last observed period, walking back over gaps
                let mut back = period * (k / period + 1);
                while back <= n + k {
                    if let Some(v) = y[n + k - back] {
                        return v;
                    }
                    back += period;
                }
                fallback
            })
            .collect(),
    )
}

/// The median of the same phase over the last `cycles` periods (observed values only), for
/// every step ahead. `None` when the series is shorter than one period or the last is empty.
pub(super) fn profile_median(
    y: &[Option<f64>],
    period: usize,
    cycles: usize,
    steps: usize,
) -> Option<Vec<f64>> {
    let n = y.len();
    if period == 0 || n < period {
        return None;
    }
    let fallback = mean(&y[n - period..])?;
    let mut phase_values = Vec::with_capacity(cycles);
    Some(
        (0..steps)
            .map(|k| {
                // the step's phase, in the last complete period before the end
                let phase = n - period + k % period;
                phase_values.clear();
                phase_values
                    .extend((0..cycles).filter_map(|c| phase.checked_sub(c * period).and_then(|t| y[t])));
                median(&mut phase_values).unwrap_or(fallback)
            })
            .collect(),
    )
}

fn mean(y: &[Option<f64>]) -> Option<f64> {
    let (sum, n) = y.iter().flatten().fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_naive_repeats_the_last_period_and_walks_back_over_gaps() {
        let y: Vec<Option<f64>> = [1.0, 2.0, 3.0, 10.0, 20.0, 30.0].iter().map(|v| Some(*v)).collect();
        assert_eq!(seasonal_naive(&y, 3, 7).unwrap(), [10.0, 20.0, 30.0, 10.0, 20.0, 30.0, 10.0]);
        let gap = [Some(1.0), Some(2.0), Some(3.0), Some(10.0), None, Some(30.0)];
        assert_eq!(seasonal_naive(&gap, 3, 3).unwrap(), [10.0, 2.0, 30.0]);
        // nothing at that phase in any period: the last period's mean
        let hole = [Some(1.0), None, Some(3.0), Some(10.0), None, Some(30.0)];
        assert_eq!(seasonal_naive(&hole, 3, 2).unwrap(), [10.0, 20.0]);
        assert!(seasonal_naive(&y[..2], 3, 1).is_none());
        assert!(seasonal_naive(&[Some(1.0), None, None], 2, 1).is_none());
    }

    #[test]
    fn the_profile_is_the_median_of_the_same_phase() {
        // three periods of 2: phase 0 has 1, 5, 3 (median 3); phase 1 has 2, None, 8 (median 5)
        let y = [Some(1.0), Some(2.0), Some(5.0), None, Some(3.0), Some(8.0)];
        assert_eq!(profile_median(&y, 2, 3, 4).unwrap(), [3.0, 5.0, 3.0, 5.0]);
        // two cycles only: the last two periods
        assert_eq!(profile_median(&y, 2, 2, 2).unwrap(), [4.0, 8.0]);
        // more cycles than the series holds: those it holds
        assert_eq!(profile_median(&y, 2, 9, 1).unwrap(), [3.0]);
    }
}
