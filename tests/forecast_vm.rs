//! Projections and power predictions end to end: three days of hourly jobs pushed by
//! `costpush once` into a real VictoriaMetrics, then read back: the forecast curve lands with
//! future timestamps and ordered bands, the projections and the per-job predictions are there,
//! and a state without history gets it rebuilt from the results files.

mod common;

use common::*;

fn now_s() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// (timestamp → value) of the series matching `selector`, which must be exactly one.
fn points(vm: &Vm, selector: &str) -> Vec<(i64, f64)> {
    let s = vm.one(selector);
    s.timestamps.into_iter().zip(s.values).collect()
}

#[test]
fn forecasts_and_predictions_land_with_ordered_bands() {
    let now = now_s();
    let vm = Vm::start_with(&["-dedup.minScrapeInterval=1ms"]);
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    write_history_results(&results, now, 3);
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", "");
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The 47 h curve, stamped at future bucket starts (VictoriaMetrics keeps up to now + 2 d).
    let now_ms = (now * 1000.0) as i64;
    let bound = |b: &str| points(&vm, &format!(r#"costpush_forecast_cost{{currency="EUR",bound="{b}"}}"#));
    let (mean, lo95, hi95, lo80, hi80) =
        (bound("mean"), bound("lower_95"), bound("upper_95"), bound("lower_80"), bound("upper_80"));
    assert_eq!(mean.len(), 47, "one value per bucket");
    assert!(mean.iter().all(|(t, _)| *t > now_ms - 3_600_000 && *t < now_ms + 2 * 86_400_000));
    assert!(mean.iter().filter(|(t, _)| *t > now_ms).count() >= 46, "the curve lies in the future");
    for i in 0..47 {
        assert_eq!(mean[i].0, lo95[i].0);
        assert!(
            lo95[i].1 <= lo80[i].1
                && lo80[i].1 <= mean[i].1
                && mean[i].1 <= hi80[i].1
                && hi80[i].1 <= hi95[i].1
        );
        assert!(lo95[i].1 >= 0.0, "money is clamped at zero");
    }

    // Projected totals, and the day's mean close to what the history held per day.
    let day = |b: &str| {
        points(&vm, &format!(r#"costpush_projection_energy_joules{{horizon="24h",bound="{b}"}}"#))[0].1
    };
    let history_per_day: f64 = vm.export("costpush_bucket_energy_joules")[0].values.iter().sum::<f64>() / 3.0;
    assert!(day("lower_95") < day("mean") && day("mean") < day("upper_95"));
    assert!((day("mean") / history_per_day - 1.0).abs() < 0.2, "{} vs {history_per_day}", day("mean"));
    // One more (empty) complete bucket if the hour turned while the test ran.
    let turned = ((now_s() / 3600.0).floor() - (now / 3600.0).floor()) as usize;
    assert_eq!(
        vm.export("costpush_bucket_energy_joules")[0].values.len(),
        72 + turned,
        "three days of complete buckets"
    );
    let model = vm.export(r#"costpush_forecast_model_info{quantity="cost"}"#);
    assert_eq!(model.len(), 1);
    assert!(vm.export("costpush_forecast_backtest_coverage_ratio").len() >= 3);

    // The power model: fitted on 72 jobs, bands around every job's prediction.
    let info = vm.one(r#"costpush_model_info{status="fitted"}"#);
    assert_eq!(info.values, vec![1.0]);
    assert_eq!(vm.one("costpush_model_observations").values, vec![72.0]);
    assert!(vm.one("costpush_model_r2").values[0] > 0.9);
    let pred = |b: &str| {
        vm.export(&format!(r#"costpush_job_predicted_power_watts{{bound="{b}"}}"#))
            .into_iter()
            .flat_map(|s| s.values)
            .collect::<Vec<f64>>()
    };
    let (m, cl, cu, pl, pu) =
        (pred("mean"), pred("ci_lower_95"), pred("ci_upper_95"), pred("pi_lower_95"), pred("pi_upper_95"));
    assert_eq!(m.len(), 72);
    for i in 0..72 {
        assert!(pl[i] < cl[i] && cl[i] < m[i] && m[i] < cu[i] && cu[i] < pu[i]);
    }
    for e in ["720p30_2mbps", "1080p30_4mbps", "1080p60_6mbps", "2160p30_15mbps"] {
        let p = vm.one(&format!(r#"costpush_encode_predicted_power_watts{{encode="{e}",bound="mean"}}"#));
        assert!(p.values[0] > 0.0, "{e}");
    }

    // A state without its history (e.g. from an older costpush) gets it back from the files.
    let state_path = tmp.path().join("state/state.json");
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    state.as_object_mut().unwrap().remove("history");
    state.as_object_mut().unwrap().remove("forecast_cache");
    std::fs::write(&state_path, serde_json::to_vec(&state).unwrap()).unwrap();
    let out = costpush()
        .env("COSTPUSH_LOG", "info")
        .args(["once", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("rebuilt the history from the results files") && err.contains("jobs=72"), "{err}");
    let again = points(&vm, r#"costpush_projection_energy_joules{horizon="24h",bound="mean"}"#);
    assert_eq!(again.len(), 2);
    assert!((again[1].1 / again[0].1 - 1.0).abs() < 1e-9, "the same projection from the rebuilt history");
}
