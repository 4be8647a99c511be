//! Remote-write protocol details against an in-process fake receiver that decodes every
//! request: headers, label and timestamp rules, request size bounds, and how each kind of
//! answer is handled (500 retried, 400 dropped for good, 413 split, 401 kept, a slow receiver
//! timed out and retried, per-series order under random delays and failures), and the daemon's
//! `run` in-process on a one-thread runtime.
//! Real-server behaviour is covered by the VictoriaMetrics tests; the waits on `Retry-After`
//! are tested with paused time in `src/remote_write/sender.rs`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use costpush::config::{self, Overrides};
use costpush::delivery::proto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    /// The status it was answered with.
    status: u16,
}

impl Request {
    fn samples(&self) -> usize {
        proto::decode(&self.body).unwrap().timeseries.iter().map(|t| t.samples.len()).sum()
    }
}

/// How the fake answers request number `i` (0-based) holding `req`.
type Script = dyn Fn(usize, &proto::WriteRequest) -> (u16, Duration) + Send + Sync;

fn sample_count(req: &proto::WriteRequest) -> usize {
    req.timeseries.iter().map(|t| t.samples.len()).sum()
}

/// A receiver on 127.0.0.1 that answers by `script` and records each request.
struct Fake {
    url: String,
    /// The data requests, in order of arrival.
    got: Arc<Mutex<Vec<Request>>>,
    /// The metadata-only requests (no series): answered 204, outside the script.
    metadata: Arc<Mutex<Vec<Request>>>,
}

impl Fake {
    fn got(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }
}

async fn fake(
    script: impl Fn(usize, &proto::WriteRequest) -> (u16, Duration) + Send + Sync + 'static,
) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Request>>> = Arc::default();
    let metadata: Arc<Mutex<Vec<Request>>> = Arc::default();
    let (rec, meta) = (got.clone(), metadata.clone());
    let script: Arc<Script> = Arc::new(script);
    let counter = Arc::new(Mutex::new(0usize));
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let (rec, meta, script, counter) = (rec.clone(), meta.clone(), script.clone(), counter.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    let Ok(n) = sock.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.lines();
                let path = lines.next().unwrap().split(' ').nth(1).unwrap().to_string();
                let headers: BTreeMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let len: usize = headers.get("content-length").map_or(0, |v| v.parse().unwrap());
                let mut body = buf[head_end + 4..].to_vec();
                while body.len() < len {
                    let Ok(n) = sock.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
                let message = proto::decode(&body).unwrap();
                if message.timeseries.is_empty() && !message.metadata.is_empty() {
                    meta.lock().unwrap().push(Request { path, headers, body, status: 204 });
                    let reply = "HTTP/1.1 204 X\r\nconnection: close\r\n\r\n";
                    let _ = sock.write_all(reply.as_bytes()).await;
                    let _ = sock.shutdown().await;
                    return;
                }
                let i = {
                    let mut c = counter.lock().unwrap();
                    *c += 1;
                    *c - 1
                };
                let (status, delay) = script(i, &message);
                tokio::time::sleep(delay).await;
                rec.lock().unwrap().push(Request { path, headers, body, status });
                let reply =
                    format!("HTTP/1.1 {status} X\r\ncontent-length: 7\r\nconnection: close\r\n\r\nbecause");
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Fake { url, got, metadata }
}

fn always(status: u16) -> impl Fn(usize, &proto::WriteRequest) -> (u16, Duration) + Send + Sync + 'static {
    move |_, _| (status, Duration::ZERO)
}

fn cfg(dir: &Path, url: &str, extra_rw: &str) -> config::Config {
    let text = format!(
        "host: {{name: h1, region: eu-north-1}}\nresults: {{dirs: [\"{}\"]}}\nstate_dir: \"{}\"\nremote_write: {{url: \"{url}\", min_backoff_seconds: 0.01, max_backoff_seconds: 0.05{extra_rw}}}\n",
        common::fixtures().display(),
        dir.join("state").display()
    );
    config::parse(&text).unwrap().validate(dir, &Overrides::default()).unwrap()
}

/// Batches queued for the one destination of [`cfg`].
fn queued(dir: &Path) -> usize {
    common::queued_in(&dir.join("state/queue/1"))
}

#[tokio::test]
async fn requests_follow_remote_write_1_0() {
    let f = fake(always(204)).await;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("token"), "t0ken\n").unwrap();
    let c = cfg(tmp.path(), &f.url, ", auth: {bearer_token_file: token}, max_samples_per_request: 50");
    let o = costpush::agent::once(&c).await.unwrap();
    let got = f.got();
    assert_eq!(got.len() as u64, o.drained[0].requests);
    assert!(got.len() > 2, "50-sample requests: several");
    // Each family's type, help and unit went once, with the same headers as the data.
    let meta = f.metadata.lock().unwrap().clone();
    assert_eq!(meta.len(), 1);
    assert_eq!(meta[0].headers["authorization"], "Bearer t0ken");
    let families = proto::decode(&meta[0].body).unwrap().metadata;
    let jobs = families.iter().find(|m| m.metric_family_name == "costpush_jobs_total").expect("listed");
    assert_eq!((jobs.r#type, jobs.help.as_str()), (proto::MetricType::Counter as i32, "Jobs ingested."));
    let energy = families.iter().find(|m| m.metric_family_name == "costpush_job_energy_joules").unwrap();
    assert_eq!((energy.r#type, energy.unit.as_str()), (proto::MetricType::Gauge as i32, "joules"));
    let pushed: BTreeSet<String> = got
        .iter()
        .flat_map(|r| proto::decode(&r.body).unwrap().timeseries)
        .map(|t| t.labels.into_iter().find(|l| l.name == "__name__").unwrap().value)
        .collect();
    let described: BTreeSet<&str> = families.iter().map(|m| m.metric_family_name.as_str()).collect();
    let undescribed: Vec<&String> = pushed.iter().filter(|n| !described.contains(n.as_str())).collect();
    assert!(undescribed.is_empty(), "pushed without metadata: {undescribed:?}");

    // A destination may do without it.
    let f = fake(always(204)).await;
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(tmp.path(), &f.url, ", send_metadata: false");
    costpush::agent::once(&c).await.unwrap();
    assert!(!f.got().is_empty());
    assert!(f.metadata.lock().unwrap().is_empty(), "no metadata with send_metadata: false");
    let mut total = 0;
    let mut last_ts: BTreeMap<Vec<(String, String)>, i64> = BTreeMap::new();
    for r in &got {
        assert_eq!(r.path, "/api/v1/write");
        assert_eq!(r.headers["content-encoding"], "snappy");
        assert_eq!(r.headers["content-type"], "application/x-protobuf");
        assert_eq!(r.headers["x-prometheus-remote-write-version"], "0.1.0");
        assert_eq!(r.headers["user-agent"], format!("costpush/{}", env!("CARGO_PKG_VERSION")));
        assert_eq!(r.headers["authorization"], "Bearer t0ken");
        let req = proto::decode(&r.body).expect("snappy block + protobuf");
        let n = r.samples();
        assert!(n <= 50 && n > 0);
        total += n;
        for ts in &req.timeseries {
            let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
            assert!(names.contains(&"__name__"));
            assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted and unique: {names:?}");
            assert!(ts.labels.iter().all(|l| !l.value.is_empty()));
            let key: Vec<(String, String)> =
                ts.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
            for s in &ts.samples {
                assert!(s.timestamp > 1_000_000_000_000, "milliseconds: {}", s.timestamp);
                assert!(s.value.is_finite());
                let prev = last_ts.insert(key.clone(), s.timestamp);
                assert!(prev.is_none_or(|p| p <= s.timestamp), "per-series time order across requests");
            }
        }
    }
    assert_eq!(total, o.enqueued.samples);
    assert_eq!(queued(tmp.path()), 0);
}

#[tokio::test]
async fn each_destination_gets_its_tenant_path_and_headers_and_the_same_samples() {
    let (vm_cluster, mimir) = (fake(always(204)).await, fake(always(204)).await);
    let base = |f: &Fake| f.url.trim_end_matches("/api/v1/write").to_string();
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "host: {{name: h1, region: eu-north-1}}\nresults: {{dirs: [\"{}\"]}}\nstate_dir: \"{}\"\nremote_write:\n  - {{name: cluster, url: \"{}/insert/42:7/prometheus/api/v1/write\"}}\n  - {{name: mimir, url: \"{}/api/v1/push\", headers: {{X-Scope-OrgID: team-a}}}}\n",
        common::fixtures().display(),
        tmp.path().join("state").display(),
        base(&vm_cluster),
        base(&mimir),
    );
    let c = config::parse(&text).unwrap().validate(tmp.path(), &Overrides::default()).unwrap();
    let o = costpush::agent::once(&c).await.unwrap();
    let names: Vec<&str> = o.drained.iter().map(|d| d.destination.as_str()).collect();
    assert_eq!(names, ["cluster", "mimir"]);
    let (a, b) = (vm_cluster.got(), mimir.got());
    assert!(!a.is_empty() && a.len() == b.len());
    for r in &a {
        assert_eq!(r.path, "/insert/42:7/prometheus/api/v1/write");
        assert!(!r.headers.contains_key("x-scope-orgid"), "a header goes only where it is configured");
    }
    for r in &b {
        assert_eq!(r.path, "/api/v1/push");
        assert_eq!(r.headers["x-scope-orgid"], "team-a");
        assert_eq!(r.headers["content-encoding"], "snappy", "the spec's headers stay");
    }
    let bodies = |got: &[Request]| got.iter().map(|r| r.body.clone()).collect::<Vec<_>>();
    assert_eq!(bodies(&a), bodies(&b), "one set of batches, delivered to each");
    assert_eq!(o.drained[0].delivered, o.drained[1].delivered);
}

#[tokio::test]
async fn a_500_is_retried_and_delivered() {
    let f = fake(|i, _| (if i == 0 { 500 } else { 204 }, Duration::ZERO)).await;
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(tmp.path(), &f.url, ", max_attempts: 3");
    costpush::agent::once(&c).await.expect("delivered on the second attempt");
    let got = f.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body, "the same batch is re-sent");
    assert_eq!(queued(tmp.path()), 0);
}

#[tokio::test]
async fn a_400_is_bisected_and_only_the_refused_samples_are_dropped_counted_and_never_sent_again() {
    // The receiver refuses any request holding a sample of `costpush_job_run_seconds`, as
    // Prometheus refuses a request holding one sample out of its window.
    let refused = |t: &proto::TimeSeries| t.labels.iter().any(|l| l.value == "costpush_job_run_seconds");
    let f = fake(move |_, req| (if req.timeseries.iter().any(refused) { 400 } else { 204 }, Duration::ZERO))
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(tmp.path(), &f.url, ", max_attempts: 5");
    let e = costpush::agent::once(&c).await.unwrap_err();
    assert!(format!("{e:#}").contains("samples were dropped"), "{e:#}");
    let first = f.got();
    let bad: usize = first
        .iter()
        .filter(|r| r.status == 400)
        .map(|r| proto::decode(&r.body).unwrap())
        .filter(|r| sample_count(r) == 1)
        .count();
    let all = first[0].samples();
    let landed: usize = first.iter().filter(|r| r.status == 204).map(|r| r.samples()).sum();
    let run_seconds = proto::decode(&first[0].body)
        .unwrap()
        .timeseries
        .iter()
        .filter(|t| refused(t))
        .map(|t| t.samples.len())
        .sum::<usize>();
    assert!(run_seconds > 0);
    assert_eq!((bad, landed), (run_seconds, all - run_seconds), "exactly the refused samples are dropped");
    assert_eq!(queued(tmp.path()), 0, "and not kept");

    // The next run does not send them again, and reports the drop.
    let before = f.got().len();
    let _ = costpush::agent::once(&c).await;
    let got = f.got();
    let text: Vec<String> = got[before..]
        .iter()
        .filter(|r| r.status == 204)
        .flat_map(|r| proto::decode(&r.body).unwrap().timeseries)
        .map(|t| format!("{t:?}"))
        .collect();
    let dropped = text
        .iter()
        .find(|t| t.contains("costpush_samples_dropped_total") && t.contains("\"rejected\""))
        .expect("drop counter pushed");
    assert!(dropped.contains(&format!("value: {run_seconds}.0")), "{dropped}");
}

#[tokio::test]
async fn too_large_requests_are_split_until_they_fit() {
    let f = fake(|_, req| (if sample_count(req) > 40 { 413 } else { 204 }, Duration::ZERO)).await;
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(tmp.path(), &f.url, "");
    let o = costpush::agent::once(&c).await.unwrap();
    let accepted: usize = f.got().iter().filter(|r| r.status == 204).map(|r| r.samples()).sum();
    assert_eq!(accepted, o.enqueued.samples, "every sample delivered in pieces");
    assert!(f.got().iter().any(|r| r.status == 413));
    assert_eq!(o.drained[0].delivered as usize, o.enqueued.samples);
}

#[tokio::test]
async fn a_slow_receiver_times_out_and_the_batch_is_retried() {
    let f = fake(|i, _| (204, if i == 0 { Duration::from_secs(3) } else { Duration::ZERO })).await;
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(tmp.path(), &f.url, ", timeout_seconds: 0.3, max_attempts: 3");
    let started = std::time::Instant::now();
    costpush::agent::once(&c).await.expect("delivered by the retry");
    assert!(started.elapsed() < Duration::from_secs(3), "did not wait for the slow answer");
    // the slow request is recorded when its (late) answer goes out
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = f.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body);
}

#[tokio::test]
async fn configuration_errors_keep_the_data_for_later() {
    let f = fake(|i, _| (if i == 0 { 401 } else { 204 }, Duration::ZERO)).await;
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(tmp.path(), &f.url, ", max_samples_per_request: 100000");
    let e = costpush::agent::once(&c).await.unwrap_err();
    assert!(format!("{e:#}").contains("HTTP 401"), "{e:#}");
    assert_eq!(queued(tmp.path()), 1, "the batch stays queued");
    // fixed: the next run delivers the kept batch first, then its own
    costpush::agent::once(&c).await.unwrap();
    let got = f.got();
    assert_eq!(got.len(), 3);
    assert_eq!(got[1].body, got[0].body);
    assert_eq!(queued(tmp.path()), 0);
}

#[tokio::test]
async fn per_series_order_holds_with_random_delays_and_failures() {
    // deterministic "random": a hash of the request number
    let f = fake(|i, _| {
        let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59;
        (if h.is_multiple_of(3) { 503 } else { 204 }, Duration::from_millis(h * 3))
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(tmp.path(), &f.url, ", max_samples_per_request: 20, max_attempts: 50");
    let o = costpush::agent::once(&c).await.unwrap();
    let got = f.got();
    assert!(got.iter().any(|r| r.status == 503));
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    let mut delivered = 0;
    for r in got.iter().filter(|r| r.status == 204) {
        for t in proto::decode(&r.body).unwrap().timeseries {
            let key = format!("{:?}", t.labels);
            for s in t.samples {
                delivered += 1;
                let prev = last.insert(key.clone(), s.timestamp);
                assert!(prev.is_none_or(|p| p <= s.timestamp), "{key}: {prev:?} then {}", s.timestamp);
            }
        }
    }
    assert_eq!(delivered, o.enqueued.samples);
}

#[tokio::test]
async fn basic_auth_reads_the_password_file() {
    let f = fake(always(204)).await;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("pw"), "open sesame\n").unwrap();
    let c = cfg(tmp.path(), &f.url, ", auth: {basic: {username: costpush, password_file: pw}}");
    costpush::agent::once(&c).await.unwrap();
    // base64("costpush:open sesame")
    assert_eq!(f.got()[0].headers["authorization"], "Basic Y29zdHB1c2g6b3BlbiBzZXNhbWU=");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let f = fake(always(307)).await;
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(tmp.path(), &f.url, "");
    assert!(costpush::agent::once(&c).await.is_err());
    assert_eq!(f.got().len(), 1);
    assert_eq!(queued(tmp.path()), 1, "kept: a redirect is a configuration matter");
}

/// The daemon in-process, on a one-thread runtime as `main` builds it: the first cycle is
/// delivered, a results file that appears later goes out with a later cycle (the sender runs
/// while cycles come and go on their own threads), and a shutdown ends `run` cleanly.
#[tokio::test]
async fn the_daemon_delivers_each_cycle_and_stops_on_shutdown() {
    let f = fake(always(204)).await;
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let mut files: Vec<_> =
        std::fs::read_dir(common::fixtures()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let (first, later) = files.split_at(files.len() - 1);
    for p in first {
        std::fs::copy(p, results.join(p.file_name().unwrap())).unwrap();
    }
    let text = format!(
        "host: {{name: h1, region: eu-north-1}}\nresults: {{dirs: [\"{}\"]}}\nstate_dir: \"{}\"\nschedule: \"* * * * * *\"\nremote_write: {{url: \"{}\", min_backoff_seconds: 0.01, max_backoff_seconds: 0.05}}\n",
        results.display(),
        tmp.path().join("state").display(),
        f.url
    );
    let c = config::parse(&text).unwrap().validate(tmp.path(), &Overrides::default()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (_reload, reloads) = tokio::sync::mpsc::channel(1);
    let daemon = tokio::spawn(costpush::agent::run(c, reloads, async {
        let _ = stopped.await;
    }));
    let delivered =
        |f: &Fake| f.got().iter().filter(|r| r.status == 204).map(Request::samples).sum::<usize>();
    let wait_for = |what: &'static str, done: Box<dyn Fn() -> bool>| async move {
        let start = std::time::Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    // One `costpush_job_run_seconds` sample per job.
    let jobs_in = |f: &Fake| {
        let run_seconds = |t: &costpush::delivery::proto::TimeSeries| {
            t.labels.iter().any(|l| l.name == "__name__" && l.value == "costpush_job_run_seconds")
        };
        let got = f.got();
        let ok = got.iter().filter(|r| r.status == 204);
        ok.flat_map(|r| proto::decode(&r.body).unwrap().timeseries)
            .filter(run_seconds)
            .map(|t| t.samples.len())
            .sum::<usize>()
    };
    let state = tmp.path().to_path_buf();
    let f = Arc::new(f);
    let g = f.clone();
    wait_for("the first cycle", Box::new(move || delivered(&g) > 0 && queued(&state) == 0)).await;
    let first_samples = delivered(&f);
    let first_jobs = jobs_in(&f);
    assert!(first_jobs > 0);

    for p in later {
        std::fs::copy(p, results.join(p.file_name().unwrap())).unwrap();
    }
    let (g, state) = (f.clone(), tmp.path().to_path_buf());
    wait_for("the new file's jobs", Box::new(move || jobs_in(&g) > first_jobs && queued(&state) == 0)).await;
    assert!(delivered(&f) > first_samples);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), daemon).await.expect("run returns").unwrap().unwrap();
    assert_eq!(queued(tmp.path()), 0);
    let ids = costpush::agent::state::State::load(&tmp.path().join("state")).unwrap().jobs().len();
    assert_eq!(ids, jobs_in(&f), "every delivered job is remembered, and only those");
}
