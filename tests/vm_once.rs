//! `costpush once` against a real VictoriaMetrics: exact names, labels, values and timestamps
//! read back through `/api/v1/export`, nothing new on a second run, appended jobs picked up,
//! bad files skipped without losing the good ones, and the original project's real files.

mod common;

use std::collections::BTreeMap;

use common::*;

const TWO_STREAMS: &str = r#"{scenario="2 streams @ 2500k"}"#;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn sel(name: &str, extra: &str) -> String {
    format!("{name}{{host=\"enc-test\"{extra}}}")
}

#[test]
fn once_lands_exact_samples_and_a_second_once_adds_no_job() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), &fixtures(), &vm.write_url(), "test_results_*.json", "");
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The telemetry job, by hand (see tests/common write_config for the prices):
    // power [100, 200, 300] every 5 s: mean 200 W; run 120 s: 24000 J = 1/150 kWh.
    // cpu [1, 3, 2]: mean 2.25 cores: 270 core-s = 0.075 core-h.
    let ts = 1_767_614_520_000; // 2026-01-05T12:02:00Z, the job's end
    let e = vm.one(&format!("costpush_job_energy_joules{TWO_STREAMS}"));
    assert_eq!(
        e.labels,
        labels(&[
            ("__name__", "costpush_job_energy_joules"),
            ("bitrate", "2500k"),
            ("encoder", "libx264"),
            ("host", "enc-test"),
            ("method", "file"),
            ("region", "test-north"),
            ("resolution", "1280x720"),
            ("scenario", "2 streams @ 2500k"),
            ("streams", "2"),
        ])
    );
    assert_eq!(e.timestamps, vec![ts]);
    assert_close(e.values[0], 24_000.0);
    let one = |name: &str, extra: &str| -> f64 {
        let s = vm.one(&format!("{name}{{scenario=\"2 streams @ 2500k\"{extra}}}"));
        assert_eq!(s.timestamps, vec![ts], "{name}");
        s.values[0]
    };
    assert_close(one("costpush_job_power_watts", ""), 200.0);
    assert_close(one("costpush_job_run_seconds", ""), 120.0);
    assert_close(one("costpush_job_cpu_core_seconds", ",compute_basis=\"cpu_samples\""), 270.0);
    assert_close(one("costpush_job_energy_cost", ",currency=\"SEK\""), 1.0 / 150.0);
    assert_close(one("costpush_job_compute_cost", ",currency=\"SEK\""), 0.027);
    assert_close(one("costpush_job_cost", ",currency=\"SEK\""), 1.0 / 150.0 + 0.027);
    assert_close(one("costpush_job_cost", ",currency=\"EUR\""), (1.0 / 150.0 + 0.027) / 10.0);
    assert_close(one("costpush_job_cost", ",currency=\"USD\""), (1.0 / 150.0 + 0.027) / 10.0 * 1.25);
    assert_close(one("costpush_job_co2_grams", ""), 0.24);
    assert_close(one("costpush_job_vmaf_score", ""), 90.0);
    assert_close(one("costpush_job_psnr_decibels", ""), 40.5);
    assert_close(one("costpush_job_ssim_ratio", ""), 0.95);
    assert_close(one("costpush_job_vmaf_per_watt", ""), 0.45);
    assert_close(one("costpush_job_energy_per_frame_joules", ""), 24_000.0 / 3600.0);
    assert_close(one("costpush_job_dropped_frames_ratio", ""), 0.01);
    assert_close(one("costpush_job_pixels", ""), 1280.0 * 720.0 * 30.0 * 120.0 * 2.0);
    assert_close(one("costpush_job_frames", ""), 3600.0);
    // what-if: the same work in test-south (EUR 0.3/kWh, 0.05/core-h, 400 g/kWh)
    assert_close(
        one("costpush_job_whatif_cost", ",target_region=\"test-south\",actual=\"false\",currency=\"EUR\""),
        0.3 / 150.0 + 0.075 * 0.05,
    );
    assert_close(
        one("costpush_job_whatif_cost", ",target_region=\"test-north\",actual=\"true\",currency=\"SEK\""),
        1.0 / 150.0 + 0.027,
    );
    assert_close(one("costpush_job_whatif_co2_grams", ",target_region=\"test-south\""), 400.0 / 150.0);

    // A job without power: compute cost on wall time, no energy, cost or CO2 at all.
    let four = r#"scenario="4 Streams @ 2500k""#;
    assert!(vm.export(&format!("costpush_job_energy_joules{{{four}}}")).is_empty());
    assert!(vm.export(&format!("costpush_job_cost{{{four}}}")).is_empty());
    assert!(vm.export(&format!("costpush_job_co2_grams{{{four}}}")).is_empty());
    let c = vm.one(&format!("costpush_job_compute_cost{{{four},currency=\"SEK\"}}"));
    assert_eq!(c.labels["compute_basis"], "wall_time");
    assert_eq!(c.labels["preset"], "fast");
    assert_eq!(c.labels["encoder"], "h264");
    assert_eq!(c.labels["streams"], "4");
    assert_eq!(c.timestamps, vec![1_767_607_440_500]); // end_time 10:04:00.5
    assert_close(c.values[0], 120.5 / 3600.0 * 0.36); // measured window, not the planned 120 s
                                                      // the ladder counts every rendition, for each of the 4 streams
    let px = vm.one(&format!("costpush_job_pixels{{{four}}}"));
    assert_close(px.values[0], (1920.0 * 1080.0 + 1280.0 * 720.0 + 854.0 * 480.0) * 30.0 * 120.5 * 4.0);
    // "10 Mbps Stream" is one stream
    assert_eq!(vm.one(r#"costpush_job_run_seconds{scenario="10 Mbps Stream"}"#).labels["streams"], "1");
    // scheduler record: the run is `duration` (20 s) before end_time, not end − queue time
    let k = vm.one(r#"costpush_job_energy_joules{scenario="4K60-h264"}"#);
    assert_close(k.values[0], 90.0 * 20.0);
    assert_eq!(k.timestamps, vec![1_767_686_400_000]);

    // Counters: cumulative, stamped at the cycle that took the jobs in, starting from 0.
    let started_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let jobs = vm.one(&sel("costpush_jobs_total", ""));
    assert_eq!(jobs.last().1, 6.0);
    assert!(jobs.last().0 > started_ms - 60_000, "stamped now, not at the jobs' ends");
    assert_eq!(jobs.values[0], 0.0);
    assert_eq!(vm.one(&sel("costpush_jobs_without_power_total", "")).last().1, 3.0);
    assert_close(vm.one(&sel("costpush_energy_joules_total", "")).last().1, 24_000.0 + 3_000.0 + 1_800.0);
    assert_close(vm.one(&sel("costpush_co2_grams_total", "")).last().1, 28_800.0 / 3.6e6 * 36.0);
    // jobs with energy: (1/150 + 0.027) + (3000 J: 1/1200 + 60 core-s: 0.006) + (1800 J: 0.0005 + 20 core-s: 0.002)
    assert_close(vm.one(&sel("costpush_cost_total", ",currency=\"SEK\"")).last().1, 0.043);
    assert_close(vm.one(&sel("costpush_cost_total", ",currency=\"EUR\"")).last().1, 0.0043);
    assert_close(
        vm.one(&sel("costpush_compute_cost_total", ",currency=\"SEK\"")).last().1,
        0.027 + 0.006 + 0.002 + (60.125 + 120.5 + 0.5) / 3600.0 * 0.36,
    );
    // agent health
    assert_eq!(vm.one(&sel("costpush_files_ingested_total", "")).last().1, 3.0);
    assert_eq!(vm.one(&sel("costpush_up", "")).values, vec![1.0]);

    // Second run: nothing new from the files, only the agent's own health samples.
    let job_series_before: Vec<Exported> = vm.export(r#"{__name__=~"costpush_job_.*"}"#);
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(vm.export(r#"{__name__=~"costpush_job_.*"}"#), job_series_before);
    let again = vm.one(&sel("costpush_jobs_total", ""));
    assert_eq!(again.values.len(), jobs.values.len() + 1, "counters are re-pushed every cycle");
    assert_eq!(again.last().1, 6.0, "and do not move without new jobs");
    assert_eq!(vm.one(&sel("costpush_up", "")).values.len(), 2);
}

#[test]
fn appended_jobs_are_read_and_counted_once() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    copy_dir(&fixtures(), &results);
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", "");
    let cfg = cfg.to_str().unwrap();
    assert!(run(&["once", "--config", cfg]).status.success());

    // The scheduler appends a job to its file.
    let f = results.join("test_results_20260106_080000.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    doc["scenarios"].as_array_mut().unwrap().push(serde_json::json!({
        "name": "4K60-h264", "duration": 10, "bitrate": "0k", "encoder_type": "ffmpeg",
        "start_time": 1767690000, "end_time": 1767690010, "power_watts": [100], "step_seconds": 10
    }));
    std::fs::write(&f, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    // A copy of a file under another name holds the same jobs: not counted again.
    std::fs::copy(results.join("test_results_20260105_120000.json"), results.join("test_results_copy.json"))
        .unwrap();

    let out = run(&["once", "--config", cfg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let jobs = vm.one(&sel("costpush_jobs_total", ""));
    assert_eq!(jobs.last().1, 7.0);
    let k = vm.one(r#"costpush_job_energy_joules{scenario="4K60-h264"}"#);
    assert_eq!(k.timestamps, vec![1_767_686_400_000, 1_767_690_010_000]);
    assert_close(k.values[1], 1000.0);
    assert_close(vm.one(&sel("costpush_energy_joules_total", "")).last().1, 28_800.0 + 1000.0);

    // A restart (new process, same state dir) adds nothing either.
    assert!(run(&["once", "--config", cfg]).status.success());
    assert_eq!(vm.one(&sel("costpush_jobs_total", "")).last().1, 7.0);
}

#[test]
fn bad_files_are_skipped_and_half_written_ones_are_retried() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    copy_dir(&fixtures(), &results);
    std::fs::write(results.join("test_results_bad.json"), b"{\"scenarios\": [1, 2,, 3]}").unwrap();
    // One job without an end time (skipped), one with a bad score (kept, score left out).
    std::fs::write(
        results.join("test_results_partial.json"),
        br#"{"scenarios": [{"name": "no end", "duration": 5},
            {"name": "bad vmaf", "duration": 5, "end_time": 1767700000, "vmaf_score": "high", "encoder_type": "x"}]}"#,
    )
    .unwrap();
    let full = std::fs::read(fixtures().join("test_results_20260105_120000.json")).unwrap();
    let late = results.join("test_results_late.json");
    // same content as the telemetry file but other jobs: shift the scenario names
    let full = String::from_utf8(full).unwrap().replace("2 streams @ 2500k", "3 streams @ 2500k");
    std::fs::write(&late, &full[..full.len() / 2]).unwrap();
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", "");
    let cfg = cfg.to_str().unwrap();

    let out = run(&["once", "--config", cfg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("test_results_bad.json"), "the bad file is named: {stderr}");
    assert!(stderr.contains("test_results_partial.json: scenarios[0].end_time"), "{stderr}");
    assert!(stderr.contains("test_results_partial.json: scenarios[1].vmaf_score"), "{stderr}");
    assert_eq!(vm.one(&sel("costpush_jobs_total", "")).last().1, 7.0, "the good files and jobs still land");
    assert_eq!(vm.one(&sel("costpush_jobs_invalid_total", "")).last().1, 1.0);
    assert_eq!(vm.one(&sel("costpush_fields_left_out_total", "")).last().1, 1.0);
    assert!(vm.export(r#"costpush_job_vmaf_score{scenario="bad vmaf"}"#).is_empty());
    assert_eq!(vm.one(r#"costpush_job_run_seconds{scenario="bad vmaf"}"#).values, vec![5.0]);
    assert_eq!(vm.one(&sel("costpush_files_failed_total", ",reason=\"malformed\"")).last().1, 1.0);
    assert_eq!(vm.one(&sel("costpush_files_failed_total", ",reason=\"incomplete\"")).last().1, 1.0);

    // The writer finishes the file; the bad one is not reported or counted again.
    std::fs::write(&late, &full).unwrap();
    let out = run(&["once", "--config", cfg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("test_results_bad.json"), "reported once only: {stderr}");
    assert!(!stderr.contains("test_results_partial.json"), "reported once only: {stderr}");
    assert_eq!(vm.one(&sel("costpush_jobs_total", "")).last().1, 8.0);
    assert_eq!(vm.one(&sel("costpush_jobs_invalid_total", "")).last().1, 1.0);
    assert_eq!(vm.one(r#"costpush_job_energy_joules{scenario="3 streams @ 2500k"}"#).values, vec![24_000.0]);
    assert_eq!(vm.one(&sel("costpush_files_failed_total", ",reason=\"malformed\"")).last().1, 1.0);
}

#[test]
fn original_project_results_land_one_set_per_scenario_with_power() {
    let shared = shared_results();
    assert!(shared.is_dir(), "{} is missing", shared.display());
    // Expected, from the files themselves: jobs are unique by (name, start, end, duration);
    // those with a non-empty power_watts get energy.
    let mut with_power = std::collections::BTreeSet::new();
    let mut all = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(&shared).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            for s in doc["scenarios"].as_array().unwrap() {
                let key = format!(
                    "{}|{}|{}|{}",
                    s["name"],
                    s["start_time"].as_f64().unwrap(),
                    s["end_time"].as_f64().unwrap(),
                    s["duration"].as_f64().unwrap()
                );
                if s["power_watts"].as_array().is_some_and(|a| !a.is_empty()) {
                    with_power.insert(s["name"].as_str().unwrap().to_string());
                }
                all.insert(key);
            }
        }
    }
    assert!(!with_power.is_empty());

    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), &shared, &vm.write_url(), "*.json", "");
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let energy = vm.export("costpush_job_energy_joules");
    let scenarios: std::collections::BTreeSet<String> =
        energy.iter().map(|s| s.labels["scenario"].clone()).collect();
    assert_eq!(scenarios, with_power, "one energy series per scenario with power data");
    assert!(energy.iter().all(|s| s.values.len() == 1), "each landed once");
    for name in ["costpush_job_cost", "costpush_job_co2_grams", "costpush_job_power_watts"] {
        let got: std::collections::BTreeSet<String> =
            vm.export(name).iter().map(|s| s.labels["scenario"].clone()).collect();
        assert_eq!(got, with_power, "{name}");
    }
    assert_eq!(vm.one(&sel("costpush_jobs_total", "")).last().1, all.len() as f64);
    assert_eq!(
        vm.one(&sel("costpush_jobs_without_power_total", "")).last().1,
        (all.len() - with_power.len()) as f64
    );
    // The synthetic "2 streams @ 2500k": trapezoid 2077.5 J over 45 s of samples, run 120.5 s.
    let e = vm.one(r#"costpush_job_energy_joules{scenario="2 streams @ 2500k"}"#);
    assert_close(e.values[0], 2077.5 / 45.0 * 120.5);
    assert_eq!(e.timestamps, vec![1_705_315_920_500]);
}

#[test]
fn samples_outside_the_target_retention_are_warned_about_and_counted() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let job = |name: &str, end: f64| {
        format!(
            r#"{{"name": "{name}", "duration": 60, "end_time": {end}, "power_watts": [100], "encoder_type": "x"}}"#
        )
    };
    std::fs::write(
        results.join("test_results_mixed.json"),
        format!(
            r#"{{"scenarios": [{}, {}, {}]}}"#,
            job("forty days ago", now - 40.0 * 86_400.0),
            job("an hour ago", now - 3600.0),
            job("three days ahead", now + 3.0 * 86_400.0)
        ),
    )
    .unwrap();
    let vm = Vm::start();
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("target_retention_days: 36500", "target_retention_days: 31");
    std::fs::write(&cfg, text).unwrap();

    // What a 31-day receiver would drop, counted independently from the dry run's output. Hourly
    // series are stamped on the hour, so the count can step while the test runs: it is bracketed
    // by the cutoffs at the start of the dry run and at the end of the real one.
    let dry = run(&["once", "--config", cfg.to_str().unwrap(), "--dry-run"]);
    assert!(dry.status.success());
    let stamps: Vec<i64> = String::from_utf8(dry.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<i64>().unwrap())
        .collect();
    let older_than =
        |t: f64| stamps.iter().filter(|&&ms| ms < ((t - 31.0 * 86_400.0) * 1000.0) as i64).count();
    let least = older_than(now);
    assert!(least > 10, "the old job's samples: {least}");

    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    let most =
        older_than(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("older than the target retention"), "{stderr}");
    let old: usize = stderr
        .split("too_old=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no too_old count in: {stderr}"));
    assert!((least..=most).contains(&old), "too_old={old}, expected {least}..={most}");
    assert!(
        stderr.contains("scenarios[2].end_time")
            && stderr.contains("more than 2 days after this host's clock"),
        "{stderr}"
    );
    assert_eq!(
        vm.one(&sel("costpush_samples_outside_retention_total", ",reason=\"too_old\"")).last().1,
        old as f64
    );
    assert_eq!(vm.one(&sel("costpush_samples_outside_retention_total", ",reason=\"too_new\"")).last().1, 0.0);
    assert_eq!(vm.one(&sel("costpush_jobs_invalid_total", "")).last().1, 0.0, "the future job waits");
    assert_eq!(vm.one(&sel("costpush_jobs_waiting_for_clock", "")).last().1, 1.0);
    assert_eq!(vm.one(&sel("costpush_jobs_total", "")).last().1, 2.0, "the future job is not counted");
}

#[test]
fn a_backfill_larger_than_a_chunk_lands_every_job_once() {
    // 3000 new jobs in five files: the cycle is built and queued in two chunks of whole files.
    let vm = Vm::start_with(&["-dedup.minScrapeInterval=1ms"]);
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    for i in 0..5 {
        // 10 000 s apart, so that no two files hold the same job
        write_jobs_file(&results, i * 10, 600);
    }
    const { assert!(3000 > costpush::agent::CHUNK_JOBS) };
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", "");
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = points_in(&vm, is_job_data);
    assert_eq!(assert_same_points(&got, &expected_points(&results)), 0, "no sample twice");
    let runs: usize =
        got.iter().filter(|(k, _)| k.starts_with("costpush_job_run_seconds")).map(|(_, p)| p.len()).sum();
    assert_eq!(runs, 3000, "every job once");
    assert_eq!(vm.one(&sel("costpush_jobs_total", "")).last().1, 3000.0);
    assert_eq!(vm.one(&sel("costpush_files_ingested_total", "")).last().1, 5.0);
}

/// Past `results.max_label_values`, a new value is pushed as `_overflow_`, counted per label;
/// the values kept stay kept across runs, and no job's samples are lost in the fold.
#[test]
fn label_values_past_the_cap_fold_into_overflow_and_are_counted() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    // Six jobs, in order of their end: "load 1 streams", "load 2 …", "load 3 …", twice.
    write_jobs_file(&results, 0, 6);
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let capped = text.replacen(
        "pattern: \"test_results_*.json\"",
        "pattern: \"test_results_*.json\", max_label_values: 2",
        1,
    );
    assert_ne!(capped, text);
    std::fs::write(&cfg, capped).unwrap();
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("_overflow_"), "a warning says so");

    let scenarios = |vm: &Vm| -> BTreeMap<String, usize> {
        vm.export(&sel("costpush_job_run_seconds", ""))
            .iter()
            .map(|s| (s.labels["scenario"].clone(), s.values.len()))
            .collect()
    };
    let want: BTreeMap<String, usize> =
        [("load 1 streams @ 2500k", 2), ("load 2 streams @ 2500k", 2), ("_overflow_", 2)]
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect();
    assert_eq!(scenarios(&vm), want, "every job's sample is there, two of them folded");
    let folded = |label: &str| {
        vm.one(&sel("costpush_label_values_folded_total", &format!(",label=\"{label}\""))).last().1
    };
    assert_eq!((folded("scenario"), folded("streams"), folded("encoder")), (2.0, 2.0, 0.0));
    assert_eq!(vm.one(&sel("costpush_label_values", ",label=\"scenario\"")).last().1, 2.0);

    // A second file: the values kept stay kept, the third still folds.
    write_jobs_file(&results, 1, 3);
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = scenarios(&vm);
    assert_eq!((got["load 1 streams @ 2500k"], got["load 2 streams @ 2500k"], got["_overflow_"]), (3, 3, 3));
    assert_eq!(folded("scenario"), 3.0);
}
