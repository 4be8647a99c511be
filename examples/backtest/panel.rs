//! A seeded panel of hourly cost series shaped like encode farms: a daily cycle with one to three
//! peaks, a weekly cycle (weekend dips, one heavier weekday), idle nights at zero on some days,
//! multiplicative noise, spikes, gaps, and a level shift in half of them.

use std::f64::consts::TAU;

/// A series as observed (`None` in gaps) and the values behind it (the gaps filled in, to check
/// totals against).
pub struct Series {
    pub observed: Vec<Option<f64>>,
    pub truth: Vec<f64>,
}

/// `count` series of `days` days each; the same seed gives the same panel.
pub fn panel(count: usize, days: usize, seed: u64) -> Vec<Series> {
    (0..count).map(|i| series(days, seed.wrapping_mul(1000).wrapping_add(i as u64))).collect()
}

fn series(days: usize, seed: u64) -> Series {
    let mut r = fastrand::Rng::with_seed(seed);
    let mut uniform = |lo: f64, hi: f64| lo + (hi - lo) * r.f64();
    let n = days * 24;
    let level = uniform(2.0, 20.0);
    let peaks: Vec<(f64, f64, f64)> = (0..1 + (uniform(0.0, 3.0) as usize))
        .map(|_| (uniform(8.0, 22.0), uniform(1.5, 4.0), uniform(0.3, 1.0)))
        .collect();
    let mut week: Vec<f64> = (0..7).map(|_| 1.0 + uniform(-0.08, 0.08)).collect();
    week[5] *= uniform(0.3, 0.7);
    week[6] *= uniform(0.3, 0.7);
    week[uniform(0.0, 5.0) as usize] *= uniform(1.3, 1.8);
    let shift = (uniform(0.0, 1.0) < 0.5).then(|| {
        let at = uniform(0.4, 0.9) * n as f64;
        (at as usize, uniform(0.6, 1.5))
    });
    let idle: Vec<bool> = (0..days).map(|_| uniform(0.0, 1.0) < 0.3).collect();
    let mut gap_until = 0;
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15);
    let truth: Vec<f64> = (0..n)
        .map(|t| {
            let hour = (t % 24) as f64;
            let mut shape = 0.25;
            for (centre, width, amp) in &peaks {
                let d = (hour - centre).abs().min(24.0 - (hour - centre).abs());
                shape += amp * (-0.5 * (d / width).powi(2)).exp();
            }
            let mut v = level * shape * week[(t / 24) % 7];
            if let Some((at, f)) = shift {
                if t >= at {
                    v *= f;
                }
            }
            v *= (0.12 * normal(&mut rng)).exp();
            if idle[t / 24] && t % 24 < 6 {
                v = 0.0;
            }
            if rng.f64() < 0.01 {
                v *= 2.0 + 2.0 * rng.f64();
            }
            v
        })
        .collect();
    let observed = truth
        .iter()
        .enumerate()
        .map(|(t, v)| {
            if rng.f64() < 0.004 {
                gap_until = t + 3 + rng.usize(0..9);
            }
            (t >= gap_until && rng.f64() >= 0.015).then_some(*v)
        })
        .collect();
    Series { observed, truth }
}

fn normal(r: &mut fastrand::Rng) -> f64 {
    let u1 = r.f64().max(f64::MIN_POSITIVE);
    (-2.0 * u1.ln()).sqrt() * (TAU * r.f64()).cos()
}
