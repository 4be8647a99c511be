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
    let bound = |b: &str| {
        points(&vm, &format!(r#"costpush_forecast_cost{{basis="measured",currency="EUR",bound="{b}"}}"#))
    };
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

    // Energy and CO2 bands stay at or above zero too (issue 15, defect 7), as do the 30-day
    // totals the budget panel draws, which a three-day history already has.
    for name in ["costpush_forecast_energy_joules", "costpush_forecast_co2_grams"] {
        for b in ["lower_95", "lower_80"] {
            let v = points(&vm, &format!(r#"{name}{{basis="measured",bound="{b}"}}"#));
            assert_eq!(v.len(), 47, "{name} {b}");
            assert!(v.iter().all(|(_, x)| *x >= 0.0), "{name} {b}: {v:?}");
        }
    }
    let month = |b: &str| {
        let sel = format!(
            r#"costpush_projection_cost{{basis="measured",currency="EUR",horizon="30d",bound="{b}"}}"#
        );
        points(&vm, &sel)[0].1
    };
    assert!(
        0.0 <= month("lower_95") && month("lower_95") <= month("mean") && month("mean") < month("upper_95")
    );

    // Projected totals, and the day's mean close to what the history held per day.
    let day = |b: &str| {
        let sel =
            format!(r#"costpush_projection_energy_joules{{basis="measured",horizon="24h",bound="{b}"}}"#);
        points(&vm, &sel)[0].1
    };
    let buckets = || vm.one(r#"costpush_bucket_energy_joules{basis="measured"}"#);
    let history_per_day: f64 = buckets().values.iter().sum::<f64>() / 3.0;
    assert!(day("lower_95") < day("mean") && day("mean") < day("upper_95"));
    assert!((day("mean") / history_per_day - 1.0).abs() < 0.2, "{} vs {history_per_day}", day("mean"));
    // One more (empty) complete bucket if the hour turned while the test ran.
    let turned = ((now_s() / 3600.0).floor() - (now / 3600.0).floor()) as usize;
    assert_eq!(buckets().values.len(), 72 + turned, "three days of complete buckets");
    let model = vm.export(r#"costpush_forecast_model_info{quantity="cost"}"#);
    assert_eq!(model.len(), 2, "one per basis");
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

    // A state without its history (from an older costpush: format 2, every field in
    // state.json) gets it back from the files.
    let dir = tmp.path().join("state");
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let mut state = read(&dir.join("state.json"));
    assert_eq!(state["journal"], 0, "one cycle took the jobs in: its part holds them all");
    let part_file = dir.join(format!("part-{}.json", state["part"]));
    let part = read(&part_file);
    let old = state.as_object_mut().unwrap();
    old.extend(part.as_object().unwrap().clone());
    for k in ["history", "forecast_cache", "part", "journal"] {
        old.remove(k);
    }
    old.insert("format".into(), 2.into());
    std::fs::write(dir.join("state.json"), serde_json::to_vec(&state).unwrap()).unwrap();
    std::fs::remove_file(part_file).unwrap();
    let out = costpush()
        .env("COSTPUSH_LOG", "info")
        .args(["once", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("rebuilt the history from the results files") && err.contains("jobs=72"), "{err}");
    let again =
        points(&vm, r#"costpush_projection_energy_joules{basis="measured",horizon="24h",bound="mean"}"#);
    assert_eq!(again.len(), 2);
    assert!((again[1].1 / again[0].1 - 1.0).abs() < 1e-9, "the same projection from the rebuilt history");
}

/// The seed host's mix: each hour one telemetry job with power and one benchmark-runner job
/// without. Every projection is pushed on both bases, with the coverage; the estimates have
/// names of their own and never reach a measured series; with estimation off only the measured
/// basis is left, with its coverage.
#[test]
fn a_host_with_unmeasured_jobs_is_projected_on_both_bases() {
    let now = now_s();
    let vm = Vm::start_with(&["-dedup.minScrapeInterval=1ms"]);
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    write_history_results(&results, now, 3);
    write_benchmark_results(&results, now, 3);
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", "");
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Every projection, on both bases; compute cost on none.
    for q in ["cost", "energy", "co2"] {
        for basis in ["measured", "measured+estimated"] {
            let info = vm.one(&format!(r#"costpush_forecast_model_info{{quantity="{q}",basis="{basis}"}}"#));
            assert_eq!(info.values, vec![1.0], "{q} on {basis}");
        }
    }
    let compute = vm.one(r#"costpush_forecast_model_info{quantity="compute_cost"}"#);
    assert!(!compute.labels.contains_key("basis"), "{:?}", compute.labels);
    let curve =
        |name: &str, basis: &str| points(&vm, &format!(r#"{name}{{basis="{basis}",bound="mean"}}"#)).len();
    for basis in ["measured", "measured+estimated"] {
        assert_eq!(curve("costpush_forecast_energy_joules", basis), 47, "{basis}");
        assert_eq!(curve("costpush_forecast_co2_grams", basis), 47, "{basis}");
    }
    assert_eq!(points(&vm, r#"costpush_forecast_compute_cost{currency="EUR",bound="mean"}"#).len(), 47);
    let day = |basis: &str, b: &str| {
        let sel =
            format!(r#"costpush_projection_energy_joules{{basis="{basis}",horizon="24h",bound="{b}"}}"#);
        points(&vm, &sel)[0].1
    };
    assert!(day("measured+estimated", "mean") > day("measured", "mean"), "the estimates add energy");
    assert!(day("measured+estimated", "lower_95") < day("measured+estimated", "upper_95"));

    // Coverage over the fit window: half the jobs, 600 of every 900 s of run time, are measured;
    // every job is measured or estimated.
    let cov = |basis: &str, by: &str| {
        vm.one(&format!(r#"costpush_energy_coverage_ratio{{basis="{basis}",by="{by}"}}"#)).last().1
    };
    assert_close(cov("measured", "jobs"), 0.5);
    assert_close(cov("measured", "run_time"), 600.0 / 900.0);
    assert_close(cov("measured+estimated", "jobs"), 1.0);
    assert_close(cov("measured+estimated", "run_time"), 1.0);
    let bucket_cov = vm.one(r#"costpush_bucket_energy_coverage_ratio{basis="measured",by="jobs"}"#);
    assert!(bucket_cov.values.iter().all(|v| (0.0..=1.0).contains(v)) && bucket_cov.values.len() >= 72);

    // Estimates under names of their own, for the 72 jobs without power; the measured series
    // hold the 72 measured jobs and nothing estimated.
    let values = |sel: &str| vm.export(sel).into_iter().map(|s| s.values.len()).sum::<usize>();
    assert_eq!(values(r#"costpush_job_estimated_energy_joules{method="model"}"#), 72);
    assert_eq!(values("costpush_job_estimated_energy_joules"), 72, "only method=\"model\"");
    assert_eq!(values(r#"costpush_job_energy_joules{method="file"}"#), 72);
    assert_eq!(values("costpush_job_energy_joules"), 72, "no estimate among the measured");
    assert_eq!(values(r#"{__name__=~"costpush_.+",method="model",__name__!~".*estimated.*"}"#), 0);
    assert_eq!(vm.one(r#"costpush_jobs_estimated_total{method="model"}"#).last().1, 72.0);
    let measured_sum: f64 =
        vm.export(r#"costpush_job_energy_joules{method="file"}"#).iter().flat_map(|s| s.values.clone()).sum();
    assert!((vm.one("costpush_energy_joules_total").last().1 / measured_sum - 1.0).abs() < 1e-9);

    // Estimation off: the measured basis alone, with its coverage.
    let vm2 = Vm::start_with(&["-dedup.minScrapeInterval=1ms"]);
    let tmp2 = tempfile::tempdir().unwrap();
    let cfg2 = write_config(
        tmp2.path(),
        &results,
        &vm2.write_url(),
        "test_results_*.json",
        "predictions: {estimate_energy: false}\n",
    );
    let out = run(&["once", "--config", cfg2.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(vm2.export(r#"{__name__=~"costpush_.+",basis="measured+estimated"}"#).is_empty());
    assert!(vm2.export(r#"{__name__=~"costpush_.*estimated.*"}"#).is_empty());
    for q in ["cost", "energy", "co2"] {
        vm2.one(&format!(r#"costpush_forecast_model_info{{quantity="{q}",basis="measured"}}"#));
    }
    assert_close(vm2.one(r#"costpush_energy_coverage_ratio{basis="measured",by="jobs"}"#).last().1, 0.5);
}
