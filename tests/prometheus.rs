//! A real Prometheus as the receiver: it refuses a whole request for one sample outside its
//! window (400, nothing of the request stored). costpush halves such a batch until the refused
//! samples are alone, so every sample inside the window lands and only the refused are dropped.

mod common;

use std::path::Path;

use common::prom::Prom;
use common::*;

fn now_s() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

fn job(name: &str, end: f64) -> String {
    format!(
        r#"{{"name": "{name}", "duration": 60, "end_time": {end}, "power_watts": [100, 120], "cpu_usage_cores": [2, 3], "encoder_type": "libx264", "vmaf_score": 93}}"#
    )
}

fn write_results(dir: &Path, file: &str, jobs: &[String]) {
    std::fs::write(dir.join(file), format!(r#"{{"scenarios": [{}]}}"#, jobs.join(","))).unwrap();
}

/// The value of one sample line of a dry run's text.
fn value_of(text: &str, series: &str) -> f64 {
    let line = text.lines().find(|l| l.starts_with(series)).unwrap_or_else(|| panic!("no {series}"));
    line.split_whitespace().rev().nth(1).unwrap().parse().unwrap()
}

#[test]
fn every_in_window_sample_of_a_batch_with_refused_ones_lands_in_prometheus() {
    let prom = Prom::start();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let cfg = write_config(tmp.path(), &results, &prom.write_url(), "test_results_*.json", "");
    let cfg = cfg.to_str().unwrap();

    // A first cycle, inside the window but for the hourly bucket stamped at its start, which
    // may be over an hour old just after the hour: Prometheus takes the job's samples.
    let now = now_s();
    write_results(&results, "test_results_1.json", &[job("primer", now - 120.0)]);
    let out = run(&["once", "--config", cfg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() || stderr.contains("out of bounds"), "{stderr}");
    assert!(!prom.points(r#"{scenario="primer"}"#, "1h", now_s() + 60.0).is_empty(), "{stderr}");

    // Then one batch with a job three days old (out of bounds) beside a job of a minute ago.
    let now = now_s();
    write_results(
        &results,
        "test_results_2.json",
        &[job("old", now - 3.0 * 86_400.0), job("recent", now - 60.0)],
    );
    let dry = run(&["once", "--config", cfg, "--dry-run"]);
    assert!(dry.status.success());
    let dry = String::from_utf8(dry.stdout).unwrap();
    let want = points_in_text(&dry, is_job_data);
    let recent: Points = want
        .iter()
        .filter(|(k, _)| k.contains("scenario=\"recent\""))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let old_samples: usize =
        want.iter().filter(|(k, _)| k.contains("scenario=\"old\"")).map(|(_, v)| v.len()).sum();
    assert!(recent.len() > 5 && old_samples > 5, "{} recent series, {old_samples} old samples", recent.len());

    let out = run(&["once", "--config", cfg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("samples were dropped"), "{stderr}");
    assert!(stderr.contains("out of bounds"), "the receiver's answer is logged: {stderr}");

    let got = prom.points(r#"{__name__=~"costpush_job_.*"}"#, "5d", now_s() + 60.0);
    for (series, points) in &recent {
        let g = got.get(series).unwrap_or_else(|| panic!("{series} did not land"));
        for (ts, v) in points {
            let landed = g.get(ts).unwrap_or_else(|| panic!("{series} @ {ts} did not land"));
            assert!(landed.iter().all(|x| close(*x, v[0])), "{series} @ {ts}: {landed:?} vs {v:?}");
        }
    }
    assert!(got.keys().all(|k| !k.contains("scenario=\"old\"")), "nothing of the old job is stored");
    assert!(!prom.points("costpush_up", "10m", now_s() + 60.0).is_empty(), "the cycle's own samples land");

    // Exactly what was refused is counted: sent + dropped is the cycle's whole.
    let after = run(&["once", "--config", cfg, "--dry-run"]);
    let after = String::from_utf8(after.stdout).unwrap();
    let rejected = "costpush_samples_dropped_total{destination=\"1\",host=\"enc-test\",reason=\"rejected\"";
    let dropped = value_of(&after, rejected) - value_of(&dry, rejected);
    let sent_before = value_of(&dry, "costpush_samples_sent_total{");
    let sent_after = value_of(&after, "costpush_samples_sent_total{");
    let cycle = dry.lines().filter(|l| !l.starts_with('#')).count() as f64;
    assert!(dropped >= old_samples as f64, "dropped {dropped}, the old job alone has {old_samples}");
    assert_eq!(
        sent_after - sent_before + dropped,
        cycle,
        "each of the cycle's samples sent or counted as dropped"
    );
}

#[test]
fn a_backfill_of_files_overlapping_in_time_goes_out_in_time_order() {
    // Two files, of 1,100 jobs (more than a chunk) and 800, their jobs interleaved in time, all
    // in one series: read in path order, one chunk each, the second file's samples would come
    // after newer ones of the first, and Prometheus refuses a sample out of order.
    let prom = Prom::start();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let now = now_s();
    for (file, n, offset) in [("test_results_a.json", 1100, 0.0), ("test_results_b.json", 800, 1.0)] {
        let jobs: Vec<String> =
            (0..n).map(|i| job("interleaved", now - 2400.0 + f64::from(i) * 2.0 + offset)).collect();
        write_results(&results, file, &jobs);
    }
    let cfg = write_config(tmp.path(), &results, &prom.write_url(), "test_results_*.json", "");
    let cfg = cfg.to_str().unwrap();
    let dry = run(&["once", "--config", cfg, "--dry-run"]);
    let want = points_in_text(&String::from_utf8(dry.stdout).unwrap(), is_job_data);
    let out = run(&["once", "--config", cfg]);
    // An hourly bucket stamped at its start may be older than Prometheus' window (an hour
    // before its newest sample), depending on the time of day: that refusal is not this test's.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("out of order"), "{stderr}");
    let got = prom.points(r#"{__name__=~"costpush_job_.*"}"#, "1d", now_s() + 60.0);
    assert_same_points(&got, &want);
}

/// The dry run's text passes `promtool check metrics` (every family has its HELP and TYPE and
/// follows the naming rules), on the shipped example configuration with every feature on; and
/// the metric metadata costpush sends at start is taken by Prometheus and by VictoriaMetrics.
#[test]
fn the_text_passes_promtool_and_both_receivers_take_the_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let now = now_s();
    write_history_results(&results, now, 10);
    copy_dir(&fixtures(), &results);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/costpush.example.yml");
    let state = tmp.path().join("state");
    let dry = costpush()
        .args(["once", "--dry-run", "--config", example, "--results-dir", results.to_str().unwrap()])
        .args(["--state-dir", state.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let text = String::from_utf8(dry.stdout).unwrap();
    assert!(text.contains("# TYPE costpush_forecast_cost gauge"), "forecasts are in the text");
    assert!(text.contains("# TYPE costpush_job_predicted_power_watts gauge"), "predictions are in the text");
    let path = tmp.path().join("dry.txt");
    std::fs::write(&path, &text).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .expect("promtool (Debian package prometheus)");
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let prom = Prom::start();
    let vm = Vm::start();
    for url in [prom.write_url(), vm.write_url()] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(dir.path(), &fixtures(), &url, "test_results_*.json", "");
        let out = costpush()
            .env("COSTPUSH_LOG", "debug")
            .args(["once", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("metric metadata sent"), "{url}: {log}");
    }
}
