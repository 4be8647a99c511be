//! Test harness: a real VictoriaMetrics per test (Debian package `victoria-metrics`) on a free
//! loopback port with a temporary data directory, stopped by PID when the test ends; plus
//! helpers to run the `costpush` binary and read back what landed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod prom;

/// Far enough ahead for `/api/v1/export?end=`: VictoriaMetrics only exports up to `end`.
pub const FAR_FUTURE_S: i64 = 4_102_444_800;

pub fn vm_binary() -> PathBuf {
    if let Ok(p) = std::env::var("COSTPUSH_VM_BIN") {
        return p.into();
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("victoria-metrics");
        if p.exists() {
            return p;
        }
    }
    panic!(
        "victoria-metrics not found: install the Debian package (scripts/test does) or set COSTPUSH_VM_BIN"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts victoria-metrics and waits for its health check; `None` if it exits (port taken).
fn spawn_vm(
    dir: &Path,
    port: u16,
    extra: &[String],
    http: &reqwest::blocking::Client,
    base: &str,
) -> Option<Child> {
    let mut child = Command::new(vm_binary())
        .arg(format!("-storageDataPath={}", dir.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .args([
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=ERROR",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start victoria-metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        if http.get(format!("{base}/health")).send().is_ok_and(|r| r.status().is_success()) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

pub struct Vm {
    child: Child,
    pub base: String,
    dir: tempfile::TempDir,
    http: reqwest::blocking::Client,
    port: u16,
    args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub labels: BTreeMap<String, String>,
    pub values: Vec<f64>,
    pub timestamps: Vec<i64>,
}

impl Exported {
    pub fn last(&self) -> (i64, f64) {
        (*self.timestamps.last().unwrap(), *self.values.last().unwrap())
    }
}

impl Vm {
    pub fn start() -> Vm {
        Vm::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Vm {
        Vm::launch(extra, "http", None)
    }

    /// VictoriaMetrics serving https with the given certificate; `ca_pem` signed it.
    pub fn start_tls(ca_pem: &[u8], cert: &Path, key: &Path) -> Vm {
        let args = [
            "-tls".to_string(),
            format!("-tlsCertFile={}", cert.display()),
            format!("-tlsKeyFile={}", key.display()),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Vm::launch(&args, "https", Some(ca_pem))
    }

    fn launch(extra: &[&str], scheme: &str, ca_pem: Option<&[u8]>) -> Vm {
        let dir = tempfile::tempdir().unwrap();
        let mut http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10));
        if let Some(pem) = ca_pem {
            http = http.add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap());
        }
        let http = http.build().unwrap();
        let args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        for _ in 0..5 {
            let port = free_port();
            let base = format!("{scheme}://127.0.0.1:{port}");
            if let Some(child) = spawn_vm(dir.path(), port, &args, &http, &base) {
                return Vm { child, base, dir, http, port, args };
            }
        }
        panic!("victoria-metrics did not start");
    }

    /// Stops the server as an upgrade or maintenance would (SIGTERM, so it flushes what it
    /// acknowledged), keeping its data and port.
    pub fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) {
        for _ in 0..50 {
            if let Some(child) = spawn_vm(self.dir.path(), self.port, &self.args, &self.http, &self.base) {
                self.child = child;
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("victoria-metrics did not restart on port {}", self.port);
    }

    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.base)
    }

    pub fn flush(&self) {
        let r = self.http.get(format!("{}/internal/force_flush", self.base)).send().unwrap();
        assert!(r.status().is_success());
    }

    /// Every series matching `selector`, after a flush.
    pub fn export(&self, selector: &str) -> Vec<Exported> {
        self.flush();
        let r = self
            .http
            .get(format!("{}/api/v1/export", self.base))
            .query(&[("match[]", selector), ("start", "0"), ("end", &FAR_FUTURE_S.to_string())])
            .send()
            .unwrap();
        assert!(r.status().is_success(), "export: {}", r.status());
        let text = r.text().unwrap();
        let mut out: Vec<Exported> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let labels = v["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let mut pairs: Vec<(i64, f64)> = v["timestamps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(v["values"].as_array().unwrap())
                    .map(|(t, x)| (t.as_i64().unwrap(), x.as_f64().unwrap_or(f64::NAN)))
                    .collect();
                pairs.sort_by_key(|p| p.0);
                Exported {
                    labels,
                    timestamps: pairs.iter().map(|p| p.0).collect(),
                    values: pairs.iter().map(|p| p.1).collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// The one series matching `selector`; panics if there are none or several.
    pub fn one(&self, selector: &str) -> Exported {
        let mut all = self.export(selector);
        assert_eq!(all.len(), 1, "{selector} matched {} series: {all:#?}", all.len());
        all.remove(0)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn costpush() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_costpush"));
    c.env("COSTPUSH_LOG", "warn");
    c
}

pub fn run(args: &[&str]) -> Output {
    costpush().args(args).output().expect("run costpush")
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results")
}

pub fn shared_results() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/original-results")
}

/// A config with its own pricing, so expected values can be worked out by hand:
/// test-north: SEK, 1.0 SEK/kWh, 0.36 SEK/core-h, 36 g/kWh; test-south: EUR, 0.3 EUR/kWh,
/// 0.05 EUR/core-h, 400 g/kWh; 1 EUR = 10 SEK = 1.25 USD.
pub fn write_config(dir: &Path, results: &Path, url: &str, pattern: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"host: {{name: enc-test, region: test-north}}
results: {{dirs: ["{results}"], pattern: "{pattern}"}}
state_dir: "{state}"
target_retention_days: 36500
remote_write: {{url: "{url}", max_attempts: 2, timeout_seconds: 5}}
currencies:
  reporting: [SEK, EUR, USD]
  rates: {{date: "2026-01-02", source: test, per_eur: {{SEK: 10, USD: 1.25}}}}
regions:
  test-north: {{currency: SEK, electricity_price_per_kwh: 1.0, compute_price_per_core_hour: 0.36, grid_intensity_g_per_kwh: 36, grid_intensity_source: test, grid_intensity_year: 2025}}
  test-south: {{currency: EUR, electricity_price_per_kwh: 0.3, compute_price_per_core_hour: 0.05, grid_intensity_g_per_kwh: 400, grid_intensity_source: test, grid_intensity_year: 2025}}
{extra}"#,
        results = results.display(),
        state = dir.join("state").display(),
    );
    let path = dir.join("costpush.yml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Equal to VictoriaMetrics' precision: it stores 12 significant decimal digits, so
/// 2.2222222222222223e-5 comes back as 2.22222222222e-5.
pub fn close(a: f64, b: f64) -> bool {
    a == b || ((a - b) / b).abs() < 1e-11
}

#[track_caller]
pub fn assert_close(got: f64, want: f64) {
    assert!(close(got, want), "got {got}, want {want}");
}

/// Copies a directory's files into a fresh one (so tests can change them).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Series key (`name{k=v,...}` with sorted labels) → timestamp → values, as in `/api/v1/export`.
pub type Points = BTreeMap<String, BTreeMap<i64, Vec<f64>>>;

fn key(labels: &BTreeMap<String, String>) -> String {
    let name = &labels["__name__"];
    let rest: Vec<String> =
        labels.iter().filter(|(k, _)| *k != "__name__").map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", rest.join(","))
}

/// Every sample in VictoriaMetrics whose series `keep` accepts (duplicates kept).
pub fn points_in(vm: &Vm, keep: impl Fn(&str) -> bool) -> Points {
    let mut out = Points::new();
    for s in vm.export(r#"{__name__=~"costpush_.*"}"#) {
        if !keep(&s.labels["__name__"]) {
            continue;
        }
        let e = out.entry(key(&s.labels)).or_default();
        for (t, v) in s.timestamps.iter().zip(&s.values) {
            e.entry(*t).or_default().push(*v);
        }
    }
    out
}

/// Parses `costpush once --dry-run` output into the same shape.
pub fn points_in_text(text: &str, keep: impl Fn(&str) -> bool) -> Points {
    let mut out = Points::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, rest) = match line.find('{') {
            Some(_) => {
                let close = line.rfind('}').unwrap();
                (&line[..=close], &line[close + 1..])
            }
            None => line.split_at(line.find(' ').unwrap()),
        };
        let mut it = rest.split_whitespace();
        let value: f64 = it.next().unwrap().parse().unwrap();
        let ts: i64 = it.next().unwrap().parse().unwrap();
        let (name, labels) =
            series.split_once('{').map_or((series, ""), |(n, l)| (n, l.trim_end_matches('}')));
        if !keep(name) {
            continue;
        }
        let mut map = BTreeMap::new();
        map.insert("__name__".to_string(), name.to_string());
        let mut chars = labels.chars().peekable();
        while chars.peek().is_some() {
            let k: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'));
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some(c) => v.push(c),
                        None => {}
                    },
                    '"' => break,
                    c => v.push(c),
                }
            }
            if chars.peek() == Some(&',') {
                chars.next();
            }
            map.insert(k, v);
        }
        out.entry(key(&map)).or_default().entry(ts).or_default().push(value);
    }
    out
}

/// Series that come from jobs, stamped at the jobs' ends (counters and the agent's own health
/// are stamped at the cycle's time, which depends on when each run happened).
pub fn is_job_data(name: &str) -> bool {
    name.starts_with("costpush_job_")
}

/// Asserts that `got` holds exactly the (series, timestamp, value) of `want`, ignoring repeats
/// of the same sample; returns how many repeats `got` had.
#[track_caller]
pub fn assert_same_points(got: &Points, want: &Points) -> usize {
    let got_keys: Vec<&String> = got.keys().collect();
    let want_keys: Vec<&String> = want.keys().collect();
    let missing: Vec<&&String> = want_keys.iter().filter(|k| !got.contains_key(**k)).take(5).collect();
    let extra: Vec<&&String> = got_keys.iter().filter(|k| !want.contains_key(**k)).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "series missing: {missing:?}; unexpected: {extra:?}");
    let mut repeats = 0;
    for (k, w) in want {
        let g = &got[k];
        assert_eq!(g.keys().collect::<Vec<_>>(), w.keys().collect::<Vec<_>>(), "{k}: timestamps differ");
        for (t, wv) in w {
            let gv = &g[t];
            assert_eq!(wv.len(), 1, "{k} @ {t}: the expected set has one value");
            assert!(gv.iter().all(|v| close(*v, wv[0])), "{k} @ {t}: got {gv:?}, want {}", wv[0]);
            repeats += gv.len() - 1;
        }
    }
    repeats
}

/// Writes results file number `i`: `jobs` telemetry jobs with power and CPU samples, ending
/// after every job of the files before it (so counters see them in order).
pub fn write_jobs_file(dir: &Path, i: usize, jobs: usize) {
    let scenarios: Vec<String> = (0..jobs)
        .map(|j| {
            let end = 1_767_700_000 + (i * 1000 + j * 10) as i64;
            format!(
                r#"{{"name": "load {} streams @ 2500k", "duration": 8, "start_time": {}, "end_time": {end},
                "encoder_type": "libx264", "resolution": "1280x720", "avg_fps": 30, "vmaf_score": {},
                "power_watts": [{}, {}, {}], "cpu_usage_cores": [1.5, 2, {}], "step_seconds": 2}}"#,
                j % 3 + 1,
                end - 8,
                80 + (i + j) % 15,
                50 + i,
                60 + j,
                55 + i + j,
                1 + (i % 4)
            )
        })
        .collect();
    let path = dir.join(format!("test_results_{i:04}.json"));
    let tmp = dir.join(format!(".tmp_{i:04}"));
    std::fs::write(&tmp, format!(r#"{{"scenarios": [{}]}}"#, scenarios.join(","))).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

/// What a clean run would push for the job series of `results`: a dry run from a fresh state.
pub fn expected_points(results: &Path) -> Points {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), results, "http://127.0.0.1:9/api/v1/write", "test_results_*.json", "");
    let out = run(&["once", "--config", cfg.to_str().unwrap(), "--dry-run"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    points_in_text(&String::from_utf8(out.stdout).unwrap(), is_job_data)
}

/// Batch files waiting in a state directory's queues, over every destination.
pub fn queued_batches(state_dir: &Path) -> usize {
    let Ok(dirs) = std::fs::read_dir(state_dir.join("queue")) else { return 0 };
    dirs.flatten().map(|d| queued_in(&d.path())).sum()
}

/// Batch files waiting in one queue directory (`<state_dir>/queue/<destination>`).
pub fn queued_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".batch")).count())
        .unwrap_or(0)
}

/// Writes a results file of one job per hour over the `days` before `now_s`, with every
/// feature the regression uses and a daily rhythm in power, so that forecasts and predictions
/// have something to learn. Deterministic for a given `now_s`.
pub fn write_history_results(dir: &Path, now_s: f64, days: usize) {
    let last_hour = (now_s / 3600.0).floor() as i64 - 1;
    let first = last_hour - (days as i64 * 24) + 1;
    let jobs: Vec<String> = (first..=last_hour)
        .map(|hour| {
            let i = (hour - first) as usize;
            let (w, h) = [(1280, 720), (1920, 1080), (3840, 2160)][i % 3];
            let fps = [30, 60][(i / 3) % 2];
            let bitrate = [2000, 4000, 6000, 15000][(i / 2) % 4];
            let encoder = ["libx264", "libx265"][(i / 5) % 2];
            let preset = ["fast", "slow"][(i / 7) % 2];
            let rate = (w * h * fps) as f64;
            let daily = 10.0 * (std::f64::consts::TAU * (hour.rem_euclid(24)) as f64 / 24.0).sin();
            let power = 40.0
                + rate * 1.5e-7
                + bitrate as f64 * 0.001
                + if encoder == "libx265" { 8.0 } else { 0.0 }
                + if preset == "slow" { 4.0 } else { 0.0 }
                + daily
                + ((i * 7919) % 11) as f64 * 0.3;
            let end = hour * 3600 + 1800;
            format!(
                r#"{{"name": "history {encoder}", "duration": 600, "start_time": {}, "end_time": {end},
                "encoder_type": "{encoder}", "preset": "{preset}", "resolution": "{w}x{h}", "avg_fps": {fps},
                "bitrate": "{bitrate}k", "vmaf_score": 93, "power_watts": [{power}, {power}],
                "cpu_usage_cores": [2, 2.5], "step_seconds": 300}}"#,
                end - 600
            )
        })
        .collect();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("test_results_history.json"),
        format!(r#"{{"scenarios": [{}]}}"#, jobs.join(",")),
    )
    .unwrap();
}

/// `days` days of hourly jobs as the original project's benchmark runner writes them (beside
/// `write_history_results`' telemetry): `test_results_bench.json`, one job an hour that starts
/// at :40, with a ladder, a frame rate, a bitrate, an encoder and a preset the telemetry jobs do
/// not use, and no power: no source measures their energy.
pub fn write_benchmark_results(dir: &Path, now_s: f64, days: usize) {
    let last_hour = (now_s / 3600.0).floor() as i64 - 1;
    let first = last_hour - (days as i64 * 24) + 1;
    let jobs: Vec<String> = (first..=last_hour)
        .map(|hour| {
            let i = (hour - first) as usize;
            let bitrate = [2500, 5000][i % 2];
            let start = hour * 3600 + 2400;
            format!(
                r#"{{"name": "{} Streams @ {bitrate}k", "bitrate": "{bitrate}k", "resolution": "1280x720",
                "fps": 30, "duration": 300, "start_time": {start}, "end_time": {},
                "encoder": "h264", "preset": "veryfast",
                "outputs": [{{"resolution": "1280x720", "fps": 30}}, {{"resolution": "854x480", "fps": 30}}]}}"#,
                1 + i % 4,
                start + 300
            )
        })
        .collect();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("test_results_bench.json"),
        format!(r#"{{"test_date": "2026-01-01T00:00:00", "scenarios": [{}]}}"#, jobs.join(",")),
    )
    .unwrap();
}

/// `costpush run` on `cfg`, a cycle every second, its log discarded.
pub fn daemon(cfg: &str) -> Child {
    costpush()
        .args(["run", "--config", cfg, "--schedule", "* * * * * *"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Sends `sig` (`-TERM`, `-KILL`) to `child`.
pub fn signal(child: &Child, sig: &str) {
    assert!(std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

/// Waits for `cond`, polling, or fails after `secs`.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The agent's `costpush_jobs_total` as it last landed in `vm` (0 before any).
pub fn jobs_total(vm: &Vm) -> f64 {
    vm.export(r#"costpush_jobs_total{host="enc-test"}"#).first().map_or(0.0, |s| s.last().1)
}

/// Stops a daemon with SIGTERM and checks that it exits 0 within 10 s.
pub fn stop_with_sigterm(mut child: Child) {
    signal(&child, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0), "exit code after SIGTERM");
            return;
        }
        assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}
