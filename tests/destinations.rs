//! Several remote-write destinations against real VictoriaMetrics instances: one down for a
//! while (and the agent killed with -9 meanwhile) while the other keeps receiving, both ending
//! with the same samples; and a state directory of the single-destination layout, upgraded.
//! Headers and tenant paths on the wire are checked in `tests/protocol.rs`.

mod common;

use std::path::Path;

use common::*;

/// A config whose `remote_write` is the list `destinations` of (name, url); `None` names an
/// entry by its position.
fn config(dir: &Path, results: &Path, destinations: &[(Option<&str>, &str)]) -> String {
    let with: Vec<(Option<&str>, &str, &str)> = destinations.iter().map(|(n, u)| (*n, *u, "")).collect();
    config_with(dir, results, &with)
}

/// The same, with more settings for each entry (`, queue_max_bytes: 4096`, say).
fn config_with(dir: &Path, results: &Path, destinations: &[(Option<&str>, &str, &str)]) -> String {
    let cfg =
        write_config(dir, results, "http://unused", "test_results_*.json", "shutdown_grace_seconds: 3\n");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let entries: String = destinations
        .iter()
        .map(|(name, url, more)| {
            let name = name.map_or(String::new(), |n| format!("name: {n}, "));
            format!("  - {{{name}url: \"{url}\", max_attempts: 2, timeout_seconds: 5, min_backoff_seconds: 0.1, max_backoff_seconds: 1{more}}}\n")
        })
        .collect();
    let old = "remote_write: {url: \"http://unused\", max_attempts: 2, timeout_seconds: 5}\n";
    assert!(text.contains(old));
    std::fs::write(&cfg, text.replace(old, &format!("remote_write:\n{entries}"))).unwrap();
    cfg.to_str().unwrap().to_string()
}

/// Asserts that two receivers hold the same samples: the same series, each at the same times
/// with the same values (a sample sent twice counts once).
#[track_caller]
fn assert_same_samples(a: &Points, b: &Points) {
    let only_a: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).take(5).collect();
    let only_b: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).take(5).collect();
    assert!(only_a.is_empty() && only_b.is_empty(), "series only in a: {only_a:?}; only in b: {only_b:?}");
    for (k, ta) in a {
        let tb = &b[k];
        assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>(), "{k}: timestamps differ");
        for (t, va) in ta {
            let vb = &tb[t];
            assert!(va.iter().chain(vb).all(|v| close(*v, va[0])), "{k} @ {t}: {va:?} vs {vb:?}");
        }
    }
}

#[test]
fn one_destination_down_and_a_kill_9_leave_both_with_the_same_samples() {
    let main = Vm::start_with(&["-dedup.minScrapeInterval=1ms"]);
    let mut backup = Vm::start_with(&["-dedup.minScrapeInterval=1ms"]);
    let tmp = tempfile::tempdir().unwrap();
    let (results, state) = (tmp.path().join("results"), tmp.path().join("state"));
    std::fs::create_dir(&results).unwrap();
    write_jobs_file(&results, 0, 3);
    let cfg = config(
        tmp.path(),
        &results,
        &[(Some("main"), &main.write_url()), (Some("backup"), &backup.write_url())],
    );
    let child = daemon(&cfg);
    wait_for(30, "the first jobs on both", || jobs_total(&main) == 3.0 && jobs_total(&backup) == 3.0);

    backup.stop();
    write_jobs_file(&results, 1, 3);
    write_jobs_file(&results, 2, 3);
    // The backup's queue fills while main keeps receiving.
    wait_for(30, "main to get the new jobs while backup is down", || jobs_total(&main) == 9.0);
    wait_for(10, "batches to wait for backup", || queued_in(&state.join("queue/backup")) > 0);
    assert_eq!(queued_in(&state.join("queue/main")), 0, "main is not held up");
    signal(&child, "-KILL");
    let mut child = child;
    let _ = child.wait();

    write_jobs_file(&results, 3, 3);
    let child = daemon(&cfg);
    wait_for(30, "main to get the jobs of the restart", || jobs_total(&main) == 12.0);
    assert!(queued_in(&state.join("queue/backup")) > 0, "backup's batches survived the kill");

    backup.restart();
    wait_for(60, "backup to catch up", || {
        jobs_total(&backup) == 12.0 && queued_in(&state.join("queue/backup")) == 0
    });
    stop_with_sigterm(child);
    // Whatever the last cycles left queued goes out with one more run, to both.
    let out = run(&["once", "--config", &cfg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(queued_batches(&state), 0);

    let want = expected_points(&results);
    assert_same_points(&points_in(&main, is_job_data), &want);
    assert_same_points(&points_in(&backup, is_job_data), &want);
    // Not only the jobs: every cycle's own samples reached both, the same.
    let (on_main, on_backup) = (points_in(&main, |_| true), points_in(&backup, |_| true));
    assert_same_samples(&on_main, &on_backup);
    // And each receiver sees how the other fared.
    let behind = backup.export(r#"costpush_queue_batches{destination="backup"}"#);
    assert!(behind[0].values.iter().any(|v| *v > 0.0), "backup's backlog, reported while it lasted");
    assert_eq!(main.export(r#"costpush_queue_batches{destination="main"}"#).len(), 1);
}

#[test]
fn a_state_directory_of_one_destination_delivers_its_queue_after_the_upgrade() {
    let tmp = tempfile::tempdir().unwrap();
    let (results, state) = (tmp.path().join("results"), tmp.path().join("state"));
    std::fs::create_dir(&results).unwrap();
    write_jobs_file(&results, 0, 3);
    write_jobs_file(&results, 1, 2);
    // A cycle queued with nothing listening, then its queue moved to where a single-destination
    // version kept it: batches and counters straight in `queue/` (the batch format is the same).
    let dead = config(tmp.path(), &results, &[(None, "http://127.0.0.1:9/api/v1/write")]);
    assert!(!run(&["once", "--config", &dead]).status.success());
    let (root, only) = (state.join("queue"), state.join("queue/1"));
    let moved = queued_in(&only);
    assert!(moved > 0);
    for e in std::fs::read_dir(&only).unwrap().flatten() {
        std::fs::rename(e.path(), root.join(e.file_name())).unwrap();
    }
    std::fs::remove_dir(&only).unwrap();
    assert_eq!(queued_in(&root), moved);

    // Upgraded, and given a second destination at once.
    let (a, b) = (Vm::start(), Vm::start());
    let cfg = config(tmp.path(), &results, &[(None, &a.write_url()), (Some("new"), &b.write_url())]);
    let out = run(&["once", "--config", &cfg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(queued_in(&root), 0, "nothing left in the old place");
    assert_eq!(queued_batches(&state), 0);
    let want = expected_points(&results);
    assert_same_points(&points_in(&a, is_job_data), &want);
    assert_same_points(&points_in(&b, is_job_data), &want);
    // The counters went with the first destination: the attempts of the failed run are in them.
    let retried = a.one(r#"costpush_samples_retried_total{destination="1"}"#).last().1;
    assert!(retried > 0.0, "the counters of the old queue carried over");
}

#[test]
fn a_dead_destination_holds_up_no_one_and_its_cap_drops_only_its_own_batches() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let (results, state) = (tmp.path().join("results"), tmp.path().join("state"));
    std::fs::create_dir(&results).unwrap();
    let cfg = config_with(
        tmp.path(),
        &results,
        &[
            (Some("live"), &vm.write_url(), ", max_samples_per_request: 100"),
            (Some("dead"), "http://127.0.0.1:9/api/v1/write", ", queue_max_bytes: 4096"),
        ],
    );
    for i in 0..4 {
        write_jobs_file(&results, i, 3);
        let out = run(&["once", "--config", &cfg]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("destination \"dead\""), "the failure names the destination: {err}");
        assert!(!err.contains("destination \"live\""), "{err}");
        assert_eq!(queued_in(&state.join("queue/live")), 0, "live got everything at once");
        assert!(queued_in(&state.join("queue/dead")) > 0);
    }
    assert_same_points(&points_in(&vm, is_job_data), &expected_points(&results));
    let dropped = |d: &str| {
        vm.one(&format!(r#"costpush_samples_dropped_total{{destination="{d}",reason="queue_full"}}"#))
            .last()
            .1
    };
    assert!(dropped("dead") > 0.0, "the dead destination's cap dropped its oldest batches");
    assert_eq!(dropped("live"), 0.0);
    assert!(vm.one(r#"costpush_queue_bytes{destination="dead"}"#).last().1 > 0.0, "its backlog is reported");
}
