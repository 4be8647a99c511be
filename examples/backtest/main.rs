//! The forecasting harness behind `scripts/backtest`: a seeded panel of hourly cost series (and
//! any CSVs given), each forecast from several rolling origins by costpush's automatic choice,
//! by every candidate alone and by the seasonal naive baselines; MASE, sMAPE, band coverage and
//! fit time per model.
//!
//! ```text
//! cargo run --release --example backtest -- [--series 30] [--days 36] [--seed 7] [--window 672]
//!     [--horizon 48] [--origins 4] [--write DIR] [--json] [CSV…]
//! ```
//!
//! MASE is scaled by the in-sample seasonal naive (24 h) of each fit window. `--write DIR` writes
//! every series (the panel's and the CSVs given) as CSVs (a `value` column, blank where missing)
//! for a peer to read the same set.

mod panel;

use std::time::Instant;

use costpush::stats::auto::{self, Candidate, Options};
use costpush::stats::forecast::Sigma2;

struct Args {
    series: usize,
    days: usize,
    seed: u64,
    window: usize,
    horizon: usize,
    origins: usize,
    write: Option<String>,
    json: bool,
    csvs: Vec<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        series: 30,
        days: 36,
        seed: 7,
        window: 672,
        horizon: 48,
        origins: 4,
        write: None,
        json: false,
        csvs: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            it.next().and_then(|v| v.parse().ok()).ok_or(format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--series" => a.series = num("--series")? as usize,
            "--days" => a.days = num("--days")? as usize,
            "--seed" => a.seed = num("--seed")?,
            "--window" => a.window = num("--window")? as usize,
            "--horizon" => a.horizon = num("--horizon")? as usize,
            "--origins" => a.origins = num("--origins")? as usize,
            "--write" => a.write = Some(it.next().ok_or("--write needs a directory")?),
            "--json" => a.json = true,
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            csv => a.csvs.push(csv.to_string()),
        }
    }
    Ok(a)
}

/// The `value` column of a CSV (a blank cell is missing).
fn read_csv(path: &str) -> Result<Vec<Option<f64>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().ok_or(format!("{path}: empty"))?.split(',').collect();
    let col = head.iter().position(|h| h.trim() == "value").ok_or(format!("{path}: no value column"))?;
    lines
        .enumerate()
        .map(|(i, l)| {
            let cell = l.split(',').nth(col).unwrap_or("").trim();
            if cell.is_empty() {
                return Ok(None);
            }
            cell.parse().map(Some).map_err(|_| format!("{path}: line {}: {cell:?} is not a number", i + 2))
        })
        .collect()
}

/// Accumulated scores of one model.
#[derive(Default)]
struct Tally {
    mase: Vec<f64>,
    smape: Vec<f64>,
    in80: usize,
    in95: usize,
    points: usize,
    totals: usize,
    totals_in80: usize,
    totals_in95: usize,
    weeks: usize,
    weeks_in80: usize,
    weeks_in95: usize,
    seconds: Vec<f64>,
}

impl Tally {
    fn add_point_scores(&mut self, f: &[f64], test: &[Option<f64>], scale: f64) {
        let (mut abs, mut sm, mut n, mut ns) = (0.0, 0.0, 0usize, 0usize);
        for (p, a) in f.iter().zip(test) {
            if let Some(a) = a {
                abs += (p - a).abs();
                n += 1;
                if p.abs() + a.abs() > 0.0 {
                    sm += 200.0 * (p - a).abs() / (p.abs() + a.abs());
                }
                ns += 1;
            }
        }
        if n > 0 {
            self.mase.push(abs / n as f64 / scale);
            self.smape.push(sm / ns as f64);
        }
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("backtest: {e}");
            std::process::exit(2);
        }
    };
    let mut series: Vec<(String, panel::Series)> = panel::panel(a.series, a.days, a.seed)
        .into_iter()
        .enumerate()
        .map(|(i, s)| (format!("panel_{i:02}"), s))
        .collect();
    for path in &a.csvs {
        match read_csv(path) {
            // no truth behind the gaps of a CSV: its totals are checked where complete
            Ok(y) => {
                let truth = y.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
                series.push((path.clone(), panel::Series { observed: y, truth }))
            }
            Err(e) => {
                eprintln!("backtest: {e}");
                std::process::exit(2);
            }
        }
    }
    if let Some(dir) = &a.write {
        std::fs::create_dir_all(dir).expect("create the output directory");
        // every series, the CSVs given too, so that a peer reads the same set
        for (name, s) in &series {
            let name = std::path::Path::new(name)
                .file_stem()
                .map_or(name.clone(), |f| f.to_string_lossy().into_owned());
            let body: String = std::iter::once("value".to_string())
                .chain(s.observed.iter().map(|v| v.map(|x| x.to_string()).unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("\n");
            std::fs::write(format!("{dir}/{name}.csv"), body + "\n").expect("write a panel CSV");
        }
    }
    let (period, h) = (24, a.horizon);
    let week = 7 * period;
    let opts = Options { period, long_period: Some(week), horizon: h, steps: week, sigma2: Sigma2::Unbiased };
    let candidates = Candidate::all(period, Some(7 * period));
    let mut names: Vec<String> = vec!["costpush auto".into()];
    names.extend(candidates.iter().map(Candidate::name));
    let mut tallies: Vec<Tally> = names.iter().map(|_| Tally::default()).collect();
    let mut chosen: std::collections::BTreeMap<String, usize> = Default::default();
    for (name, s) in &series {
        let y = &s.observed;
        // a total's actual: the truth over the steps, where every value is known
        let actual_total = |from: usize, steps: usize| -> Option<f64> {
            let v = s.truth.get(from..from + steps)?;
            v.iter().all(|x| x.is_finite()).then(|| v.iter().sum())
        };
        for o in 0..a.origins {
            let Some(end) = y.len().checked_sub(h + 24 * o) else { continue };
            if end < a.window {
                eprintln!("backtest: {name}: too short for a {}-point window at origin {o}", a.window);
                continue;
            }
            let train = &y[end - a.window..end];
            let test = &y[end..end + h];
            let (sum, n) = train
                .iter()
                .zip(train.iter().skip(period))
                .filter_map(|(p, q)| Some((q.as_ref()? - p.as_ref()?).abs()))
                .fold((0.0, 0usize), |(s, n), d| (s + d, n + 1));
            if n == 0 || sum == 0.0 {
                continue;
            }
            let scale = sum / n as f64;
            let t = Instant::now();
            let Ok(fit) = auto::auto(train, &opts) else { continue };
            let bands = fit.forecast(h);
            let total = fit.total(24.min(h));
            let tally = &mut tallies[0];
            tally.seconds.push(t.elapsed().as_secs_f64());
            *chosen.entry(fit.choice.name()).or_default() += 1;
            let means: Vec<f64> = bands.iter().map(|b| b.mean).collect();
            tally.add_point_scores(&means, test, scale);
            for (b, v) in bands.iter().zip(test) {
                if let Some(v) = v {
                    tally.points += 1;
                    tally.in80 += usize::from(*v >= b.lower_80 && *v <= b.upper_80);
                    tally.in95 += usize::from(*v >= b.lower_95 && *v <= b.upper_95);
                }
            }
            if let Some(day) = actual_total(end, 24.min(h)) {
                tally.totals += 1;
                tally.totals_in80 += usize::from(day >= total.lower_80 && day <= total.upper_80);
                tally.totals_in95 += usize::from(day >= total.lower_95 && day <= total.upper_95);
            }
            // a week's total where the series reaches a week past the origin
            if let Some(wk) = actual_total(end, week) {
                let total = fit.total(week);
                tally.weeks += 1;
                tally.weeks_in80 += usize::from(wk >= total.lower_80 && wk <= total.upper_80);
                tally.weeks_in95 += usize::from(wk >= total.lower_95 && wk <= total.upper_95);
            }
            for (c, tally) in candidates.iter().zip(&mut tallies[1..]) {
                let t = Instant::now();
                if let Some(f) = c.predict(train, h) {
                    tally.seconds.push(t.elapsed().as_secs_f64());
                    tally.add_point_scores(&f, test, scale);
                }
            }
        }
    }
    if a.json {
        let rows: Vec<serde_json::Value> = names
            .iter()
            .zip(&tallies)
            .map(|(n, t)| {
                serde_json::json!({
                    "model": n, "forecasts": t.mase.len(), "mase": mean(&t.mase), "smape": mean(&t.smape),
                    "median_fit_seconds": median(&t.seconds),
                    "coverage_80": (t.points > 0).then(|| t.in80 as f64 / t.points as f64),
                    "coverage_95": (t.points > 0).then(|| t.in95 as f64 / t.points as f64),
                    "total_24h_coverage_80": (t.totals > 0).then(|| t.totals_in80 as f64 / t.totals as f64),
                    "total_24h_coverage_95": (t.totals > 0).then(|| t.totals_in95 as f64 / t.totals as f64),
                    "total_7d": t.weeks,
                    "total_7d_coverage_80": (t.weeks > 0).then(|| t.weeks_in80 as f64 / t.weeks as f64),
                    "total_7d_coverage_95": (t.weeks > 0).then(|| t.weeks_in95 as f64 / t.weeks as f64),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"series": series.len(), "window": a.window, "horizon": h, "origins": a.origins, "models": rows, "chosen": chosen})
        );
        return;
    }
    println!(
        "{} series, window {} h, horizon {h} h, {} origins a day apart; MASE scaled by the in-sample 24 h seasonal naive",
        series.len(),
        a.window,
        a.origins
    );
    println!(
        "{:<18} {:>9} {:>7} {:>8} {:>6} {:>6} {:>9} {:>9} {:>10} {:>10} {:>8}",
        "model",
        "forecasts",
        "MASE",
        "sMAPE",
        "cov80",
        "cov95",
        "day cov80",
        "day cov95",
        "week cov80",
        "week cov95",
        "fit ms"
    );
    for (n, t) in names.iter().zip(&tallies) {
        let ratio =
            |a: usize, b: usize| if b > 0 { format!("{:.3}", a as f64 / b as f64) } else { "-".into() };
        println!(
            "{:<18} {:>9} {:>7.3} {:>8.2} {:>6} {:>6} {:>9} {:>9} {:>10} {:>10} {:>8.2}",
            n,
            t.mase.len(),
            mean(&t.mase),
            mean(&t.smape),
            ratio(t.in80, t.points),
            ratio(t.in95, t.points),
            ratio(t.totals_in80, t.totals),
            ratio(t.totals_in95, t.totals),
            ratio(t.weeks_in80, t.weeks),
            ratio(t.weeks_in95, t.weeks),
            median(&t.seconds) * 1000.0
        );
    }
    let picks: Vec<String> = chosen.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("chosen: {}", picks.join(", "));
}
