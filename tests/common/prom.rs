//! A real Prometheus (Debian package `prometheus`) as a remote-write receiver, per test, on a
//! free loopback port with a temporary data directory, stopped by PID when the test ends.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, Points};

pub struct Prom {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
    http: reqwest::blocking::Client,
}

impl Prom {
    /// Starts `prometheus --web.enable-remote-write-receiver` and waits until it is ready.
    pub fn start() -> Prom {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, "global: {scrape_interval: 1h}\n").unwrap();
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        for _ in 0..5 {
            let port = free_port();
            let base = format!("http://127.0.0.1:{port}");
            let mut child = Command::new("prometheus")
                .arg(format!("--config.file={}", cfg.display()))
                .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .args(["--web.enable-remote-write-receiver", "--log.level=error"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start prometheus (Debian package `prometheus`)");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if http.get(format!("{base}/-/ready")).send().is_ok_and(|r| r.status().is_success()) {
                    return Prom { child, base, _dir: dir, http };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("prometheus did not start");
    }

    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.base)
    }

    /// The raw samples of every series `selector` matches over `range` (a PromQL duration)
    /// before `at_s`.
    pub fn points(&self, selector: &str, range: &str, at_s: f64) -> Points {
        let r = self
            .http
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", format!("{selector}[{range}]")), ("time", format!("{at_s:.3}"))])
            .send()
            .unwrap();
        assert!(r.status().is_success(), "query: {}", r.status());
        let v: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
        let mut out = Points::new();
        for s in v["data"]["result"].as_array().unwrap() {
            let labels: BTreeMap<String, String> = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let e = out.entry(super::key(&labels)).or_default();
            for p in s["values"].as_array().unwrap() {
                let ts = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                e.entry(ts).or_default().push(p[1].as_str().unwrap().parse().unwrap());
            }
        }
        out
    }
}

impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
