//! Remote-write protocol details against an in-process fake receiver that decodes every
//! request: headers, label and timestamp rules, request size bounds, and the basic retry rules
//! (5xx retried, 4xx not). Real-server behaviour is covered by the VictoriaMetrics tests.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use costpush::config::{self, Overrides};
use costpush::remote_write::encode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// Answers requests in order with the scripted statuses (the last one repeats), recording each.
struct Fake {
    url: String,
    got: Arc<Mutex<Vec<Request>>>,
}

async fn fake(statuses: Vec<u16>) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Request>>> = Arc::default();
    let rec = got.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let head_end = loop {
                let n = sock.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i);
                }
            };
            let Some(head_end) = head_end else { continue };
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
                let n = sock.read(&mut chunk).await.unwrap();
                body.extend_from_slice(&chunk[..n]);
            }
            let i = {
                let mut g = rec.lock().unwrap();
                g.push(Request { path, headers, body });
                g.len() - 1
            };
            let status = statuses[i.min(statuses.len() - 1)];
            let reply =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 7\r\nconnection: close\r\n\r\nbecause");
            let _ = sock.write_all(reply.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    Fake { url, got }
}

fn cfg(dir: &Path, url: &str, extra_rw: &str) -> config::Config {
    let text = format!(
        "host: {{name: h1, region: eu-north-1}}\nresults: {{dirs: [\"{}\"]}}\nstate_dir: \"{}\"\nremote_write: {{url: \"{url}\"{extra_rw}}}\n",
        common::fixtures().display(),
        dir.join("state").display()
    );
    config::parse(&text).unwrap().validate(dir, &Overrides::default()).unwrap()
}

#[tokio::test]
async fn requests_follow_remote_write_1_0() {
    let f = fake(vec![204]).await;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("token"), "t0ken\n").unwrap();
    let c = cfg(tmp.path(), &f.url, ", auth: {bearer_token_file: token}, max_samples_per_request: 50");
    let o = costpush::agent::once(&c).await.unwrap();
    let got = f.got.lock().unwrap().clone();
    assert_eq!(got.len(), o.requests);
    assert!(got.len() > 2, "50-sample requests: several");
    let mut total = 0;
    let mut last_ts: BTreeMap<Vec<(String, String)>, i64> = BTreeMap::new();
    for r in &got {
        assert_eq!(r.path, "/api/v1/write");
        assert_eq!(r.headers["content-encoding"], "snappy");
        assert_eq!(r.headers["content-type"], "application/x-protobuf");
        assert_eq!(r.headers["x-prometheus-remote-write-version"], "0.1.0");
        assert_eq!(r.headers["user-agent"], format!("costpush/{}", env!("CARGO_PKG_VERSION")));
        assert_eq!(r.headers["authorization"], "Bearer t0ken");
        let req = encode::decode(&r.body).expect("snappy block + protobuf");
        let n: usize = req.timeseries.iter().map(|t| t.samples.len()).sum();
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
    assert_eq!(total, o.samples);
}

#[tokio::test]
async fn a_500_is_retried_and_delivered() {
    let f = fake(vec![500, 204]).await;
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(tmp.path(), &f.url, ", max_attempts: 3");
    costpush::agent::once(&c).await.expect("delivered on the second attempt");
    let got = f.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body, "the same batch is re-sent");
    assert!(tmp.path().join("state/state.json").exists());
}

#[tokio::test]
async fn a_400_is_not_retried_and_nothing_is_committed() {
    let f = fake(vec![400]).await;
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(tmp.path(), &f.url, ", max_attempts: 5");
    let e = costpush::agent::once(&c).await.unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("HTTP 400") && msg.contains("because"), "the receiver's answer is shown: {msg}");
    assert_eq!(f.got.lock().unwrap().len(), 1);
    assert!(!tmp.path().join("state/state.json").exists(), "jobs not marked ingested");
}

#[tokio::test]
async fn retries_stop_after_max_attempts() {
    let f = fake(vec![503]).await;
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(tmp.path(), &f.url, ", max_attempts: 2");
    let e = costpush::agent::once(&c).await.unwrap_err();
    assert!(format!("{e:#}").contains("gave up after 2 attempts"), "{e:#}");
    assert_eq!(f.got.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn basic_auth_reads_the_password_file() {
    let f = fake(vec![204]).await;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("pw"), "open sesame\n").unwrap();
    let c = cfg(tmp.path(), &f.url, ", auth: {basic: {username: costpush, password_file: pw}}");
    costpush::agent::once(&c).await.unwrap();
    // base64("costpush:open sesame")
    assert_eq!(f.got.lock().unwrap()[0].headers["authorization"], "Basic Y29zdHB1c2g6b3BlbiBzZXNhbWU=");
}
