//! Test harness: a real VictoriaMetrics per test (Debian package `victoria-metrics`) on a free
//! loopback port with a temporary data directory, stopped by PID when the test ends; plus
//! helpers to run the `costpush` binary and read back what landed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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

pub struct Vm {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
    http: reqwest::blocking::Client,
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
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(vm_binary())
                .arg(format!("-storageDataPath={}", dir.path().display()))
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
            let base = format!("{scheme}://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken, most likely: try another
                }
                if http.get(format!("{base}/health")).send().is_ok_and(|r| r.status().is_success()) {
                    return Vm { child, base, _dir: dir, http };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("victoria-metrics did not start");
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

pub fn close(a: f64, b: f64) -> bool {
    a == b || ((a - b) / b).abs() < 1e-12
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
