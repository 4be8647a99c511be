//! Benchmark: model selection by AICc over 28 days of hourly buckets (the default fit window,
//! what a daemon with a full history refits once an hour per quantity) and over 90 days, and the
//! per-candidate fits over 90 days. Run with `cargo bench --bench forecast`; it prints the median
//! of 5 runs.

use std::time::Instant;

use costpush::stats::forecast::{self, Spec};

fn series(days: usize) -> Vec<Option<f64>> {
    // 90 days of hourly cost: a daily cycle, a weekly wobble, a trend, seeded noise, idle hours at 0
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

fn main() {
    for days in [28, 90] {
        let y = series(days);
        let mut times = Vec::new();
        let mut chosen = String::new();
        for _ in 0..5 {
            let t = Instant::now();
            let s = forecast::select(&y, 24).expect("fits");
            times.push(t.elapsed().as_secs_f64());
            chosen = s.fit.spec.name();
        }
        println!(
            "select ({days} days hourly, m = 24, {} candidates): median {:.3} s, chose {chosen}",
            forecast::candidates(24, false).len(),
            median(times)
        );
    }
    let y = series(90);
    for name in ["ANN", "AAN", "AAdN", "ANA", "AAA", "AAdA"] {
        let spec = Spec::parse(name, 24).expect("model");
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let _ = forecast::fit(&spec, &y, Default::default());
            times.push(t.elapsed().as_secs_f64());
        }
        println!("  fit {name:<5}: median {:.3} s", median(times));
    }
}
