//! Hostile but fair inputs against the real binary and a real VictoriaMetrics: results files
//! that are devices or huge, a job ahead of the host's clock, damaged queue files, secrets that
//! are devices. Each ends in a clear error or count, and the rest keeps working.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn sel(name: &str, extra: &str) -> String {
    format!("{name}{{host=\"enc-test\"{extra}}}")
}

/// Runs `cmd` to its end, or kills it after `secs` and fails the test.
fn run_bounded(mut cmd: Command, secs: u64) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {secs} s; stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn once(cfg: &Path) -> Output {
    let mut c = costpush();
    c.args(["once", "--config", cfg.to_str().unwrap()]);
    run_bounded(c, 60)
}

/// `once` with the receiver given on the command line.
fn once_to(cfg: &Path, url: &str) -> Output {
    let mut c = costpush();
    c.args(["once", "--config", cfg.to_str().unwrap(), "--remote-write-url", url]);
    run_bounded(c, 60)
}

/// A results directory with a file of three jobs, and a cycle of them left queued (nothing
/// listens on port 9). Returns the config, the results directory and the state directory.
fn queued_cycle(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let results = tmp.join("results");
    std::fs::create_dir(&results).unwrap();
    write_jobs_file(&results, 1, 3);
    let cfg = write_config(tmp, &results, "http://127.0.0.1:9/api/v1/write", "test_results_*.json", "");
    assert!(!once(&cfg).status.success(), "nothing listens: the cycle stays queued");
    let state = tmp.join("state");
    assert!(queued_batches(&state) > 0);
    (cfg, results, state)
}

#[test]
fn devices_and_oversized_results_files_are_refused_counted_once_and_the_rest_lands() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    write_jobs_file(&results, 1, 3);
    std::os::unix::fs::symlink("/dev/zero", results.join("test_results_zero.json")).unwrap();
    std::os::unix::fs::symlink("/dev/urandom", results.join("test_results_random.json")).unwrap();
    let sparse = std::fs::File::create(results.join("test_results_sparse.json")).unwrap();
    sparse.set_len(3 << 30).unwrap();
    let vm = Vm::start();
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", "");

    let out = once(&cfg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("test_results_zero.json") && stderr.contains("character device"), "{stderr}");
    assert!(
        stderr.contains("test_results_sparse.json") && stderr.contains("larger than the cap"),
        "{stderr}"
    );
    assert_eq!(vm.one(&sel("costpush_jobs_total", "")).last().1, 3.0, "the good file's jobs land");
    let failed =
        |reason: &str| vm.one(&sel("costpush_files_failed_total", &format!(",reason=\"{reason}\""))).last().1;
    assert_eq!((failed("not_regular"), failed("too_large")), (2.0, 1.0));

    // Looked at again, not counted or logged again.
    let out = once(&cfg);
    assert!(out.status.success());
    assert_eq!((failed("not_regular"), failed("too_large")), (2.0, 1.0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("refused"), "logged once per version");
}

#[test]
fn a_job_ahead_of_the_clock_waits_and_lands_once_the_clock_allows() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    std::fs::write(
        results.join("test_results_1.json"),
        format!(
            r#"{{"scenarios": [{{"name": "now", "duration": 60, "end_time": {}, "power_watts": [100], "encoder_type": "x"}}]}}"#,
            now - 60.0
        ),
    )
    .unwrap();
    let vm = Vm::start();
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", "");
    let mut behind = Command::new("faketime");
    behind.args(["-f", "-4d", env!("CARGO_BIN_EXE_costpush"), "once", "--config", cfg.to_str().unwrap()]);
    let out = run_bounded(behind, 60);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(vm.export(&sel("costpush_jobs_total", "")).is_empty(), "no job taken in yet");
    assert_eq!(vm.one(&sel("costpush_jobs_waiting_for_clock", "")).last().1, 1.0);

    // The file did not change; the clock did.
    let out = once(&cfg);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(vm.one(&sel("costpush_jobs_total", "")).last().1, 1.0);
    assert_eq!(vm.one(&sel("costpush_jobs_waiting_for_clock", "")).last().1, 0.0);
    assert_eq!(vm.export(r#"costpush_job_energy_joules{scenario="now"}"#).len(), 1);
}

#[test]
fn a_damaged_queue_file_is_counted_and_once_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    write_jobs_file(&results, 1, 3);
    write_jobs_file(&results, 2, 3);
    // Nothing listens on port 9: the cycle stays queued.
    let cfg =
        write_config(tmp.path(), &results, "http://127.0.0.1:9/api/v1/write", "test_results_*.json", "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_attempts: 2", "max_attempts: 1, max_samples_per_request: 100");
    std::fs::write(&cfg, text).unwrap();
    assert!(!once(&cfg).status.success());
    let queue = tmp.path().join("state/queue/1");
    let mut batches: Vec<_> = std::fs::read_dir(&queue)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "batch"))
        .collect();
    batches.sort();
    assert!(batches.len() >= 3, "{batches:?}");
    // Truncate one (its header still names its samples), empty another.
    let bytes = std::fs::read(&batches[0]).unwrap();
    let samples = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    std::fs::write(&batches[0], &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(&batches[1], b"").unwrap();

    let vm = Vm::start();
    let out = once_to(&cfg, &vm.write_url());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2 queue files") && stderr.contains("corrupt"), "{stderr}");
    assert_eq!(vm.one(&sel("costpush_queue_files_corrupt_total", "")).last().1, 2.0);
    assert_eq!(
        vm.one(&sel("costpush_samples_dropped_total", ",reason=\"corrupt\"")).last().1,
        f64::from(samples)
    );
    assert_eq!(queued_batches(&tmp.path().join("state")), 0, "the rest was delivered");
}

#[test]
fn a_secret_that_is_a_device_or_too_large_is_refused_by_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let cfg =
        write_config(tmp.path(), &results, "http://127.0.0.1:9/api/v1/write", "test_results_*.json", "");
    let with_token = |file: &str| {
        let text = std::fs::read_to_string(&cfg).unwrap().replace(
            "timeout_seconds: 5}",
            &format!("timeout_seconds: 5, auth: {{bearer_token_file: \"{file}\"}}}}"),
        );
        let path = tmp.path().join("with-token.yml");
        std::fs::write(&path, text).unwrap();
        let mut c = costpush();
        c.args(["validate", "--config", path.to_str().unwrap()]);
        run_bounded(c, 20)
    };
    let out = with_token("/dev/zero");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bearer_token_file: cannot read /dev/zero: not a regular file"), "{stderr}");
    let big = tmp.path().join("big-token");
    std::fs::write(&big, "a".repeat(10 << 20)).unwrap();
    let out = with_token(big.to_str().unwrap());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than the cap of 16384 bytes"));
}

#[test]
fn a_cycle_that_cannot_be_written_still_lets_once_deliver_what_was_queued() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, results, state) = queued_cycle(tmp.path());

    // The state can no longer be written (as on a full disk): a directory sits where its
    // temporary file goes.
    std::fs::create_dir(state.join("state.json.tmp")).unwrap();
    write_jobs_file(&results, 2, 3);
    let vm = Vm::start();
    let out = once_to(&cfg, &vm.write_url());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("this cycle was not queued"), "{stderr}");
    assert_eq!(queued_batches(&state), 0, "what was queued before went out");
    assert_eq!(vm.one(&sel("costpush_jobs_total", "")).last().1, 3.0, "the first cycle's jobs landed");

    // Once the state can be written again, the second file's jobs follow.
    std::fs::remove_dir(state.join("state.json.tmp")).unwrap();
    assert!(once_to(&cfg, &vm.write_url()).status.success());
    assert_eq!(vm.one(&sel("costpush_jobs_total", "")).last().1, 6.0);
}

#[test]
fn queued_batches_survive_a_deleted_state_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, results, state) = queued_cycle(tmp.path());
    // Only the queue holds these jobs now.
    let want = expected_points(&results);
    std::fs::remove_dir_all(&results).unwrap();
    std::fs::create_dir(&results).unwrap();
    std::fs::remove_file(state.join("state.json")).unwrap();

    let vm = Vm::start();
    let out = once_to(&cfg, &vm.write_url());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("no state file, but batches are queued"), "{stderr}");
    assert_same_points(&points_in(&vm, is_job_data), &want);
}

#[test]
fn a_token_in_the_url_is_never_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    write_jobs_file(&results, 1, 1);
    let url = "http://127.0.0.1:9/api/v1/write?token=s3cret-in-query";
    let cfg = write_config(tmp.path(), &results, url, "test_results_*.json", "");
    let mut c = costpush();
    c.env("COSTPUSH_LOG", "debug").args(["once", "--config", cfg.to_str().unwrap()]);
    let out = run_bounded(c, 60);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("127.0.0.1:9/api/v1/write?token=%3Credacted%3E"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

/// A query API that accepts connections and never answers, until dropped.
struct HangingApi {
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HangingApi {
    fn start() -> HangingApi {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (s, a) = (stop.clone(), accepted.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            // Bounded: the test drops it long before.
            let deadline = Instant::now() + Duration::from_secs(300);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Ok((sock, _)) = listener.accept() {
                    a.fetch_add(1, Ordering::Relaxed);
                    held.push(sock);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        HangingApi { url, stop, accepted }
    }
}

impl Drop for HangingApi {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// 20 jobs that ended a minute ago, and a config whose only energy source is `api`.
fn waiting_on(api: &HangingApi, tmp: &Path, timeout_s: u64) -> std::path::PathBuf {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let results = tmp.join("results");
    std::fs::create_dir(&results).unwrap();
    let jobs: Vec<String> = (0..20)
        .map(|i| format!(r#"{{"name": "j{i}", "duration": 30, "end_time": {}}}"#, now - 60.0 + f64::from(i)))
        .collect();
    std::fs::write(results.join("test_results_1.json"), format!(r#"{{"scenarios": [{}]}}"#, jobs.join(",")))
        .unwrap();
    let extra = format!(
        "energy: {{sources: [query], query: {{url: \"{}\", expr: \"w\", timeout_seconds: {timeout_s}, settle_seconds: 0}}}}\nshutdown_grace_seconds: 3\n",
        api.url
    );
    write_config(tmp, &results, "http://127.0.0.1:9/api/v1/write", "test_results_*.json", &extra)
}

#[test]
fn a_hanging_query_api_costs_one_timeout_a_cycle_not_one_a_job() {
    let api = HangingApi::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = waiting_on(&api, tmp.path(), 2);
    let mut c = costpush();
    c.args(["once", "--config", cfg.to_str().unwrap(), "--dry-run"]);
    // A dry run asks no API: the jobs wait.
    assert!(run_bounded(c, 30).status.success());
    assert_eq!(api.accepted.load(std::sync::atomic::Ordering::Relaxed), 0);

    let mut c = costpush();
    c.args(["once", "--config", cfg.to_str().unwrap()]);
    let t = Instant::now();
    let out = run_bounded(c, 120);
    let took = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no more queries this cycle"), "{stderr}");
    assert_eq!(api.accepted.load(std::sync::atomic::Ordering::Relaxed), 1, "one request, not 20");
    // 20 jobs one after another would take 40 s.
    assert!(took < Duration::from_secs(15), "once took {took:?}");
}

#[test]
fn sigterm_during_a_cycle_waiting_on_the_query_api_honours_the_grace() {
    let api = HangingApi::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = waiting_on(&api, tmp.path(), 30);
    let mut child = costpush()
        .args(["run", "--config", cfg.to_str().unwrap(), "--schedule", "* * * * * *"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while api.accepted.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "the cycle never asked the API");
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    // A 3 s grace: the request on the wire (30 s timeout) is not waited out.
    assert!(took < Duration::from_secs(5), "took {took:?}: {stderr}");
    assert!(stderr.contains("the running cycle was left behind"), "{stderr}");
    assert_eq!(api.accepted.load(std::sync::atomic::Ordering::Relaxed), 1, "no new cycle after the signal");
}

#[test]
fn two_jobs_with_the_same_labels_and_end_never_share_a_timestamp_on_a_deduplicating_receiver() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let end = 1_767_700_000;
    let job = |name: &str, run: u32| {
        format!(
            r#"{{"name": "{name}", "duration": {run}, "end_time": {end}, "encoder_type": "x", "cpu_usage_cores": [1]}}"#
        )
    };
    // Within one cycle: two such jobs in one file; across cycles: a second one in a later file.
    std::fs::write(
        results.join("test_results_1.json"),
        format!(r#"{{"scenarios": [{}, {}, {}]}}"#, job("within", 10), job("within", 50), job("across", 10)),
    )
    .unwrap();
    let vm = Vm::start_with(&["-dedup.minScrapeInterval=1ms"]);
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", "");
    assert!(once(&cfg).status.success());
    std::fs::write(
        results.join("test_results_2.json"),
        format!(r#"{{"scenarios": [{}]}}"#, job("across", 50)),
    )
    .unwrap();
    assert!(once(&cfg).status.success());

    for scenario in ["within", "across"] {
        let s = vm.one(&format!(r#"costpush_job_run_seconds{{scenario="{scenario}"}}"#));
        assert_eq!(s.timestamps, [end * 1000, end * 1000 + 1], "{scenario}");
        let mut v = s.values.clone();
        v.sort_by(f64::total_cmp);
        assert_eq!(v, [10.0, 50.0], "{scenario}: both jobs kept");
    }
    assert_eq!(vm.one(&sel("costpush_run_seconds_total", "")).last().1, 120.0);
}
