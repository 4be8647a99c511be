//! The engine on the seeded farm panel of `scripts/backtest` (30 series, 28-day windows, 48 h
//! ahead from four daily origins): the goals hold on it. The panel and the engine are
//! deterministic, so these are fixed numbers, checked against their bounds; FORECASTS.md has the
//! full run with the peers.

#[path = "../examples/backtest/panel.rs"]
#[allow(dead_code)] // the truth behind the gaps is for the harness's totals
mod panel;

use costpush::stats::auto::{self, Candidate, Options};
use costpush::stats::forecast::Sigma2;

#[test]
fn the_engine_beats_the_weekly_naive_with_calibrated_bands_on_the_farm_panel() {
    let (window, h) = (672, 48);
    let opts = Options { period: 24, long_period: Some(168), horizon: h, steps: h, sigma2: Sigma2::Unbiased };
    let weekly = Candidate::SeasonalNaive { period: 168 };
    let (mut ours, mut naive) = (Vec::new(), Vec::new());
    let (mut points, mut in80, mut in95) = (0usize, 0usize, 0usize);
    for s in panel::panel(30, 36, 7) {
        let y = &s.observed;
        for o in 0..4 {
            let end = y.len() - h - 24 * o;
            let (train, test) = (&y[end - window..end], &y[end..end + h]);
            let pairs =
                train.iter().zip(&train[24..]).filter_map(|(a, b)| Some((b.as_ref()? - a.as_ref()?).abs()));
            let (sum, n) = pairs.fold((0.0, 0usize), |(s, n), d| (s + d, n + 1));
            let scale = sum / n as f64;
            let fit = auto::auto(train, &opts).unwrap();
            let bands = fit.forecast(h);
            let base = weekly.predict(train, h).unwrap();
            let (mut a, mut b, mut k) = (0.0, 0.0, 0usize);
            for ((band, f), v) in bands.iter().zip(&base).zip(test) {
                let Some(v) = v else { continue };
                a += (band.mean - v).abs();
                b += (f - v).abs();
                k += 1;
                points += 1;
                in80 += usize::from(*v >= band.lower_80 && *v <= band.upper_80);
                in95 += usize::from(*v >= band.lower_95 && *v <= band.upper_95);
            }
            ours.push(a / k as f64 / scale);
            naive.push(b / k as f64 / scale);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mase, naive_mase) = (mean(&ours), mean(&naive));
    let (c80, c95) = (in80 as f64 / points as f64, in95 as f64 / points as f64);
    eprintln!("MASE {mase:.3} against the weekly naive's {naive_mase:.3}; coverage {c80:.3} / {c95:.3}");
    assert!(mase <= 0.9 * naive_mase, "MASE {mase} against 0.9 × {naive_mase}");
    assert!((0.75..=0.85).contains(&c80) && (0.90..=1.0).contains(&c95), "coverage {c80} / {c95}");
}
