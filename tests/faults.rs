//! Faults against a real VictoriaMetrics and the real binary: an outage of over a minute while
//! results keep arriving, SIGKILL at random moments, a queue cap too small for an outage, and
//! SIGTERM. After each, what landed is compared with what a clean run would push (a dry run
//! from a fresh state over the same files).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn config(dir: &Path, results: &Path, url: &str, rw: &str) -> String {
    let cfg = write_config(dir, results, url, "test_results_*.json", "");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    if rw.contains("max_attempts") {
        text = text.replace("max_attempts: 2, ", "");
    }
    let text = text.replace(
        "timeout_seconds: 5}",
        &format!("timeout_seconds: 5, min_backoff_seconds: 0.1, max_backoff_seconds: 1{rw}}}"),
    );
    std::fs::write(&cfg, text + "shutdown_grace_seconds: 3\n").unwrap();
    cfg.to_str().unwrap().to_string()
}

#[test]
fn an_outage_of_over_a_minute_loses_nothing() {
    let mut vm = Vm::start_with(&["-dedup.minScrapeInterval=1ms"]);
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    write_jobs_file(&results, 0, 3);
    let cfg = config(tmp.path(), &results, &vm.write_url(), "");
    let child = daemon(&cfg);
    wait_for(30, "the first jobs to land", || jobs_total(&vm) == 3.0);

    vm.stop();
    let down = Instant::now();
    let mut files = 1;
    while down.elapsed() < Duration::from_secs(62) {
        std::thread::sleep(Duration::from_secs(5));
        write_jobs_file(&results, files, 3);
        files += 1;
    }
    assert!(queued_batches(&tmp.path().join("state")) > 0, "the outage filled the queue");
    vm.restart();
    let want_jobs = (files * 3) as f64;
    wait_for(60, "the backlog to drain", || {
        jobs_total(&vm) == want_jobs && queued_batches(&tmp.path().join("state")) == 0
    });
    stop_with_sigterm(child);

    let got = points_in(&vm, is_job_data);
    assert_same_points(&got, &expected_points(&results));
    let up = vm.one(r#"costpush_queue_bytes{host="enc-test"}"#);
    assert!(up.values.iter().any(|v| *v > 0.0), "the queue's growth during the outage was reported");
}

#[test]
fn sigkill_at_random_moments_loses_nothing() {
    // No deduplication here, so that every re-sent sample stays visible and can be counted.
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let cfg = config(tmp.path(), &results, &vm.write_url(), ", max_samples_per_request: 100");
    let mut seed: u64 = 0x5eed;
    let kills = 12;
    for i in 0..kills {
        write_jobs_file(&results, i, 3);
        let child = daemon(&cfg);
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let ms = 150 + (seed >> 33) % 2400;
        std::thread::sleep(Duration::from_millis(ms));
        signal(&child, "-KILL");
        let mut child = child;
        let _ = child.wait();
    }
    // One last, undisturbed run delivers whatever is left.
    let child = daemon(&cfg);
    std::thread::sleep(Duration::from_secs(1));
    wait_for(60, "everything to land", || {
        jobs_total(&vm) == (kills * 3) as f64 && queued_batches(&tmp.path().join("state")) == 0
    });
    stop_with_sigterm(child);

    let got = points_in(&vm, is_job_data);
    let repeats = assert_same_points(&got, &expected_points(&results));
    let total: usize = got.values().flat_map(|t| t.values()).map(Vec::len).sum();
    eprintln!("sigkill: {kills} kills, {total} job samples stored, {repeats} of them sent twice");
    // Only a batch acknowledged just before a kill, and not yet deleted, is sent again: at
    // most one batch (100 samples) per kill.
    assert!(repeats <= kills * 100, "{repeats} duplicates");
}

#[test]
fn a_tiny_queue_cap_drops_the_oldest_and_counts_exactly_what_is_missing() {
    let mut vm = Vm::start_with(&["-dedup.minScrapeInterval=1ms"]);
    vm.stop();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let cfg = config(
        tmp.path(),
        &results,
        &vm.write_url(),
        // about two and a half cycles' worth
        ", max_samples_per_request: 100, queue_max_bytes: 20000, max_attempts: 1",
    );
    let mut built = 0usize;
    let mut once = |expect_ok: bool| {
        let out = costpush().env("COSTPUSH_LOG", "info").args(["once", "--config", &cfg]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(if expect_ok { 0 } else { 1 }), "{err}");
        let line = err.lines().find(|l| l.contains("cycle queued")).expect("a cycle ran");
        let n = line.split("samples=").nth(1).unwrap().split_whitespace().next().unwrap();
        built += n.parse::<usize>().unwrap();
    };
    for i in 0..8 {
        write_jobs_file(&results, i, 3);
        once(false); // the receiver is down: all of it waits in the queue, within the cap
    }
    vm.restart();
    once(true);
    once(true); // reports the final drop count (its own cycle drops nothing: the queue is empty)

    let landed: usize = points_in(&vm, |_| true).values().flat_map(|t| t.values()).map(Vec::len).sum();
    let dropped = vm.one(r#"costpush_samples_dropped_total{host="enc-test",reason="queue_full"}"#).last().1;
    assert!(dropped > 0.0, "the cap was hit");
    assert_eq!(built - landed, dropped as usize, "built {built}, landed {landed}");
    // the oldest went, the newest stayed
    let stamps: Vec<i64> =
        vm.export("costpush_job_run_seconds").iter().flat_map(|s| s.timestamps.clone()).collect();
    assert!(!stamps.contains(&1_767_700_000_000), "the first file's jobs were dropped");
    for j in 0..3 {
        assert!(stamps.contains(&(1_767_707_000_000 + j * 10_000)), "the last file's jobs landed");
    }
}

#[test]
fn sigterm_exits_zero_and_loses_nothing() {
    let mut vm = Vm::start_with(&["-dedup.minScrapeInterval=1ms"]);
    vm.stop();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    write_jobs_file(&results, 0, 3);
    let cfg = config(tmp.path(), &results, &vm.write_url(), "");
    let child = daemon(&cfg);
    wait_for(20, "a cycle to queue", || queued_batches(&tmp.path().join("state")) > 0);
    write_jobs_file(&results, 1, 3);
    std::thread::sleep(Duration::from_millis(2500));
    let t = Instant::now();
    stop_with_sigterm(child);
    assert!(t.elapsed() < Duration::from_secs(5), "stopped within the 3 s grace period (+ start-up slack)");

    vm.restart();
    let out = run(&["once", "--config", &cfg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_same_points(&points_in(&vm, is_job_data), &expected_points(&results));
}
