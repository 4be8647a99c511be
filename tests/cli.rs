//! The command-line interface as users and systemd call it: `validate`, `once --dry-run`, and
//! `run` stopped by SIGTERM.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn validate_accepts_the_example_and_lists_every_problem() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/costpush.example.yml");
    let out = run(&["validate", "--config", example]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yml");
    std::fs::write(
        &bad,
        "host: {name: h, region: nowhere}\nschedule: 'every minute'\ncurrencies: {reporting: [SEK, GBP]}\nregions:\n  r1: {currency: EUR, electricity_price_per_kwh: -1, compute_price_per_core_hour: 0, grid_intensity_g_per_kwh: 1, grid_intensity_source: s, grid_intensity_year: 2024}\n",
    )
    .unwrap();
    let out = run(&["validate", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "host.region: unknown region \"nowhere\"",
        "schedule:",
        "currencies.reporting[1]: no exchange rate for GBP",
        "regions.r1.electricity_price_per_kwh: must be a number >= 0, got -1",
        "results.dirs:",
        "state_dir: required",
        "remote_write.url: required",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(err.lines().all(|l| l.starts_with("error: ") && l.contains("bad.yml")), "{err}");

    let typo = tmp.path().join("typo.yml");
    std::fs::write(&typo, "host: {name: h, regoin: eu-west-1}\n").unwrap();
    let out = run(&["validate", "--config", typo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `regoin`"));
}

#[test]
fn flags_override_the_file_for_every_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.yml");
    // The file names none of these; the flags supply them.
    std::fs::write(&cfg, "host: {name: h, region: eu-west-1}\n").unwrap();
    let fixtures = fixtures();
    let state = tmp.path().join("s");
    let flags = [
        "--results-dir",
        fixtures.to_str().unwrap(),
        "--remote-write-url",
        "http://127.0.0.1:9/api/v1/write",
        "--state-dir",
        state.to_str().unwrap(),
        "--schedule",
        "0 */5 * * * *",
    ];
    let out = run(&[&["validate", "--config", cfg.to_str().unwrap()], &flags[..]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // once reads the flagged results directory ...
    let out = run(&[&["once", "--config", cfg.to_str().unwrap(), "--dry-run"], &flags[..]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("scenario=\"2 streams @ 2500k\""));
    // ... and pushes to the flagged URL (nothing listens there) and uses the flagged state dir.
    let out = run(&[&["once", "--config", cfg.to_str().unwrap()], &flags[..]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:9"));
    assert!(state.join("state.json").exists());
}

#[test]
fn a_second_agent_on_the_same_state_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg =
        write_config(tmp.path(), &fixtures(), "http://127.0.0.1:9/api/v1/write", "test_results_*.json", "");
    let held = costpush::agent::state::lock(&tmp.path().join("state")).unwrap();
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another costpush is using this state directory"));
    drop(held);
}

#[test]
fn json_logs_are_one_object_a_line_with_time_level_target_and_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg =
        write_config(tmp.path(), &fixtures(), "http://127.0.0.1:9/api/v1/write", "test_results_*.json", "");
    for how in [&["--log-format", "json"][..], &[]] {
        let mut c = costpush();
        c.env("COSTPUSH_LOG", "info").args(["once", "--config", cfg.to_str().unwrap()]).args(how);
        if how.is_empty() {
            c.env("COSTPUSH_LOG_FORMAT", "json");
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "nothing listens");
        let err = String::from_utf8(out.stderr).unwrap();
        let events: Vec<serde_json::Value> = err
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        for e in &events {
            for k in ["timestamp", "level", "target", "message"] {
                assert!(e.get(k).is_some(), "{k} missing in {e}");
            }
        }
        let queued = events.iter().find(|e| e["message"] == "cycle queued").expect("the cycle's event");
        assert!(queued["samples"].as_u64().unwrap() > 0, "fields at the top level: {queued}");
        let failed = events.last().unwrap();
        assert_eq!((failed["level"].as_str(), failed["message"].as_str()), (Some("ERROR"), Some("failed")));
        assert!(failed["error"].as_str().unwrap().contains("stay queued"), "{failed}");
    }
    // A configuration that does not validate says so in JSON too.
    std::fs::write(tmp.path().join("bad.yml"), "host: {name: h, region: nowhere}\n").unwrap();
    let out =
        run(&["validate", "--config", tmp.path().join("bad.yml").to_str().unwrap(), "--log-format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    for l in String::from_utf8(out.stderr).unwrap().lines() {
        let e: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(e["message"], "invalid configuration", "{e}");
    }
}

#[test]
fn a_dry_run_whose_reader_stops_early_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    for i in 0..4 {
        write_jobs_file(&results, i, 600);
    }
    let cfg =
        write_config(tmp.path(), &results, "http://127.0.0.1:9/api/v1/write", "test_results_*.json", "");
    // As `costpush once --dry-run | head -1`: the text is written as it is built, so the closed
    // pipe is met while the cycle still runs; that is not a failure.
    let mut child = costpush()
        .args(["once", "--config", cfg.to_str().unwrap(), "--dry-run"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with(b"# HELP costpush_"), "{}", String::from_utf8_lossy(&first));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty() || !String::from_utf8_lossy(&out.stderr).contains("error"));
}

#[test]
fn dry_run_prints_samples_and_touches_no_network_or_state() {
    let tmp = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens; a push would fail the run.
    let cfg =
        write_config(tmp.path(), &fixtures(), "http://127.0.0.1:9/api/v1/write", "test_results_*.json", "");
    let out = run(&["once", "--config", cfg.to_str().unwrap(), "--dry-run"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("costpush_job_energy_joules{") && l.contains("scenario=\"2 streams @ 2500k\"")
        })
        .expect("energy sample printed");
    assert!(line.ends_with(" 24000.0 1767614520000"), "{line}");
    // every line: name{labels} value timestamp_ms, each family after its HELP and TYPE
    assert!(text.contains("# HELP costpush_job_energy_joules Mean power × run time.\n# TYPE costpush_job_energy_joules gauge\ncostpush_job_energy_joules{"));
    for l in text.lines().filter(|l| !l.starts_with("# ")) {
        let parts: Vec<&str> = l.rsplitn(3, ' ').collect();
        assert_eq!(parts.len(), 3, "{l}");
        assert!(parts[0].parse::<i64>().unwrap() > 1_000_000_000_000, "{l}");
        assert!(parts[1].parse::<f64>().unwrap().is_finite(), "{l}");
    }
    assert!(!tmp.path().join("state").exists(), "dry run wrote state");
    // and the real push to the same dead URL fails with a non-zero exit
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    // the samples are not lost: they wait in the queue for the next run
    assert!(queued_in(&tmp.path().join("state/queue/1")) > 0, "nothing queued");
}

#[test]
fn run_pushes_on_schedule_and_exits_cleanly_on_sigterm() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), &fixtures(), &vm.write_url(), "test_results_*.json", "");
    let mut child = costpush()
        .args(["run", "--config", cfg.to_str().unwrap(), "--schedule", "* * * * * *"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until at least two cycles have landed (the start cycle plus scheduled ones).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = vm.export(r#"costpush_up{host="enc-test"}"#);
        if up.first().is_some_and(|s| s.values.len() >= 2) {
            break;
        }
        assert!(Instant::now() < deadline, "daemon did not push twice in 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(vm.one(r#"costpush_jobs_total{host="enc-test"}"#).last().1, 6.0);
    let status =
        std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("daemon did not exit within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
}

#[test]
fn completions_man_page_version_and_flags_from_the_environment() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("costpush") && text.contains("remote-write-url"), "{shell}: {text}");
    }
    let out = run(&["man"]);
    assert!(out.status.success());
    let man = String::from_utf8(out.stdout).unwrap();
    assert!(man.contains(".TH costpush 1") && man.contains(".SH SUBCOMMANDS"), "{man}");
    let version = String::from_utf8(run(&["--version"]).stdout).unwrap();
    assert!(version.starts_with(&format!("costpush {}", env!("CARGO_PKG_VERSION"))), "{version}");
    if std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.git")).exists() {
        assert!(version.contains(" (git "), "built from a checkout, the commit is shown: {version}");
    }

    // The offline commands take only their own flags.
    let out = run(&["forecast", "--csv", "x.csv", "--period", "1", "--horizon", "1", "--state-dir", "/tmp"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument '--state-dir'"));

    // The config, state directory and URL may come from the environment; a flag wins.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.yml");
    std::fs::write(
        &cfg,
        format!("host: {{name: h, region: eu-west-1}}\nresults: {{dirs: [\"{}\"]}}\n", fixtures().display()),
    )
    .unwrap();
    let state = tmp.path().join("from-env");
    let out = costpush()
        .args(["once"])
        .env("COSTPUSH_CONFIG", &cfg)
        .env("COSTPUSH_STATE_DIR", &state)
        .env("COSTPUSH_REMOTE_WRITE_URL", "http://127.0.0.1:9/api/v1/write")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:9"));
    assert!(state.join("state.json").exists());
    let out = costpush()
        .args(["validate", "--remote-write-url", "https://flag.example/api/v1/write"])
        .env("COSTPUSH_CONFIG", &cfg)
        .env("COSTPUSH_STATE_DIR", &state)
        .env("COSTPUSH_REMOTE_WRITE_URL", "ftp://env.example/")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the flag wins over the environment: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The progress events of `once` over `results`, in JSON.
fn progress_events(dir: &std::path::Path, results: &std::path::Path) -> Vec<serde_json::Value> {
    let cfg = write_config(dir, results, "http://127.0.0.1:9/api/v1/write", "test_results_*.json", "");
    let out = costpush()
        .env("COSTPUSH_LOG", "info")
        .args(["once", "--progress", "log", "--log-format", "json", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "nothing listens: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["message"] == "progress")
        .collect()
}

#[test]
fn a_long_once_logs_rising_progress_and_a_short_one_none() {
    let tmp = tempfile::tempdir().unwrap();
    // 40,000 jobs: in 40 files, and in one.
    for (name, files, jobs) in [("many", 40, 1000), ("one", 1, 40_000)] {
        let dir = tmp.path().join(name);
        let results = dir.join("results");
        std::fs::create_dir_all(&results).unwrap();
        for i in 0..files {
            write_jobs_file(&results, i, jobs);
        }
        let events = progress_events(&dir, &results);
        assert!(events.len() >= 2, "{name}: {events:?}");
        let done: Vec<u64> = events.iter().map(|e| e["jobs_done"].as_u64().unwrap()).collect();
        assert!(done.windows(2).all(|w| w[0] < w[1]), "{name}: jobs_done rises: {done:?}");
        for e in &events {
            assert_eq!(
                (e["files_total"].as_u64(), e["jobs_total"].as_u64()),
                (Some(files as u64), Some(40_000)),
                "{e}"
            );
            for k in ["files_done", "samples_queued", "eta_s", "elapsed_s"] {
                assert!(e.get(k).is_some(), "{k} in {e}");
            }
        }
    }
    let small = tmp.path().join("small");
    std::fs::create_dir(&small).unwrap();
    assert!(progress_events(&small, &fixtures()).is_empty(), "one chunk, no progress");
}

#[test]
fn sighup_reloads_the_configuration_and_a_broken_one_is_refused() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), &fixtures(), &vm.write_url(), "test_results_*.json", "");
    let original = std::fs::read_to_string(&cfg).unwrap();
    let child = costpush()
        .env("COSTPUSH_LOG", "info")
        .args(["run", "--config", cfg.to_str().unwrap(), "--schedule", "* * * * * *"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(30, "the first cycle", || jobs_total(&vm) == 6.0);
    let relabelled = || vm.export(r#"costpush_up{host="enc-test",env="canary"}"#).len();
    assert_eq!(relabelled(), 0);

    std::fs::write(&cfg, format!("{original}extra_labels: {{env: canary}}\n")).unwrap();
    signal(&child, "-HUP");
    wait_for(30, "a cycle with the new label", || relabelled() == 1);

    // A broken file is refused; the daemon keeps running on what it had.
    std::fs::write(&cfg, "host: {name: enc-test, region: nowhere}\n").unwrap();
    signal(&child, "-HUP");
    let before = vm.one(r#"costpush_up{host="enc-test",env="canary"}"#).values.len();
    wait_for(30, "two more cycles after the broken reload", || {
        vm.export(r#"costpush_up{host="enc-test",env="canary"}"#)[0].values.len() >= before + 2
    });

    // A valid file whose state directory another agent holds cannot start: the running
    // configuration starts again and goes on.
    let elsewhere = tmp.path().join("elsewhere");
    let held = costpush::agent::state::lock(&elsewhere).unwrap();
    let moved = original.replace(
        &format!("state_dir: \"{}\"", tmp.path().join("state").display()),
        &format!("state_dir: \"{}\"", elsewhere.display()),
    );
    assert_ne!(moved, original);
    std::fs::write(&cfg, format!("{moved}extra_labels: {{env: canary}}\n")).unwrap();
    signal(&child, "-HUP");
    let before = vm.one(r#"costpush_up{host="enc-test",env="canary"}"#).values.len();
    wait_for(30, "two more cycles after the reload that could not start", || {
        vm.export(r#"costpush_up{host="enc-test",env="canary"}"#)[0].values.len() >= before + 2
    });
    drop(held);

    let mut child = child;
    assert!(child.try_wait().unwrap().is_none(), "still running");
    signal(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("configuration reloaded"), "{log}");
    assert!(log.contains("reload refused") && log.contains("unknown region \"nowhere\""), "{log}");
    assert!(log.contains("the reloaded configuration cannot start; the running one goes on"), "{log}");
    assert!(log.contains("another costpush is using this state directory"), "{log}");
    // Nothing was pushed twice for the restart: the six jobs are still six.
    assert_eq!(jobs_total(&vm), 6.0);
}
