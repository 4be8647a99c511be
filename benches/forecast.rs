//! Benchmark of the forecasting engine, on two input shapes: the seeded farm panel of
//! `scripts/backtest` (daily and weekly cycles, idle nights, spikes, gaps, level shifts) and a
//! smooth gap-free series (a daily cycle, a slow weekly wobble, a trend, idle hours at 0).
//!
//! - `auto` (every candidate backtested, the choice made) over 28 and 56 days of hourly buckets;
//! - the agent's hourly work for a host with a power model: nine series (compute cost, and cost,
//!   energy cost, energy and CO2 on two bases) refitted from the previous hour's choice; the
//!   busiest hour (one of them chosen again); and a cold start (all nine chosen);
//! - for reference, one exact Holt-Winters AAA fit and the AICc selection (the fallback for a
//!   history under about six days) over 28 days.
//!
//! Run with `cargo bench --bench forecast`. Times are wall time on one thread (the engine does
//! not spawn), medians over the series and rounds named in each line.

#[path = "../examples/backtest/panel.rs"]
#[allow(dead_code)] // the truth behind the gaps is for the harness's totals
mod panel;

use std::time::Instant;

use costpush::stats::auto::{self, Options};
use costpush::stats::forecast::{self, Sigma2, Spec};

fn smooth(days: usize) -> Vec<Option<f64>> {
    let mut rng = fastrand::Rng::with_seed(42);
    (0..24 * days)
        .map(|t| {
            let hour = (t % 24) as f64;
            let day = (t / 24) as f64;
            let busy = if (1.0..6.0).contains(&hour) { 0.0 } else { 1.0 };
            let v = busy
                * (3.0
                    + 2.0 * (std::f64::consts::TAU * hour / 24.0).sin()
                    + 0.5 * (day / 7.0).sin()
                    + 0.004 * t as f64)
                + busy * (rng.f64() - 0.5) * 0.6;
            Some(v.max(0.0))
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The agent's options: the 47-bucket curve backtested, totals up to 30 days.
fn options() -> Options {
    Options { period: 24, long_period: Some(168), horizon: 47, steps: 720, sigma2: Sigma2::Unbiased }
}

fn ms(s: f64) -> String {
    format!("{:.1} ms", s * 1000.0)
}

fn main() {
    let opts = options();
    for days in [28, 56] {
        let farm: Vec<Vec<Option<f64>>> = panel::panel(10, days, 7).into_iter().map(|s| s.observed).collect();
        let mut times = Vec::new();
        for y in &farm {
            let t = Instant::now();
            auto::auto(y, &opts).expect("a model");
            times.push(t.elapsed().as_secs_f64());
        }
        let y = smooth(days);
        let mut smooth_times = Vec::new();
        let mut chosen = String::new();
        for _ in 0..5 {
            let t = Instant::now();
            chosen = auto::auto(&y, &opts).expect("a model").choice.name();
            smooth_times.push(t.elapsed().as_secs_f64());
        }
        println!(
            "auto, {days} days hourly ({} points): farm panel median {} (10 series); smooth series median {} (5 runs, chose {chosen})",
            24 * days,
            ms(median(times)),
            ms(median(smooth_times))
        );
    }

    // The hourly refit of nine series of 56 days, from the choices of the hour before.
    let nine: Vec<Vec<Option<f64>>> = panel::panel(9, 57, 21).into_iter().map(|s| s.observed).collect();
    let n = 24 * 56;
    let mut select_rounds = Vec::new();
    let mut refit_rounds = Vec::new();
    let mut busiest_rounds = Vec::new();
    for round in 0..5 {
        let t = Instant::now();
        let choices: Vec<auto::Choice> =
            nine.iter().map(|y| auto::auto(&y[round..round + n], &opts).expect("a model").choice).collect();
        select_rounds.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for (y, c) in nine.iter().zip(&choices) {
            auto::refit(&y[round + 1..round + 1 + n], &opts, c, false).expect("a refit");
        }
        refit_rounds.push(t.elapsed().as_secs_f64());
        // the busiest hour after the first day: one series chosen again, eight refitted
        let t = Instant::now();
        for (i, (y, c)) in nine.iter().zip(&choices).enumerate() {
            let y = &y[round + 1..round + 1 + n];
            if i == 0 {
                auto::auto(y, &opts).expect("a model");
            } else {
                auto::refit(y, &opts, c, false).expect("a refit");
            }
        }
        busiest_rounds.push(t.elapsed().as_secs_f64());
    }
    println!(
        "hourly refit of nine 56-day series from the last choices: median {}; with one of them chosen again (at most one a bucket): median {}; all nine chosen (a cold start): median {} (5 rounds each)",
        ms(median(refit_rounds)),
        ms(median(busiest_rounds)),
        ms(median(select_rounds))
    );

    let y: Vec<Option<f64>> = panel::panel(1, 28, 7).remove(0).observed;
    let aaa = Spec::parse("AAA", 24).expect("a model");
    let mut fit_times = Vec::new();
    let mut select_times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        forecast::fit(&aaa, &y, Default::default()).expect("fits");
        fit_times.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        forecast::select(&y, 24).expect("fits");
        select_times.push(t.elapsed().as_secs_f64());
    }
    println!(
        "exact Holt-Winters over 28 days (the first farm series): one AAA fit median {}, the AICc selection median {} (3 runs)",
        ms(median(fit_times)),
        ms(median(select_times))
    );
}
