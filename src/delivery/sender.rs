//! The sender: delivers the oldest queued batch by the rules of [`super::retry`], then the next.
//!
//! One batch is in flight at a time, oldest first, so every series reaches the receiver in the
//! order it was queued, across retries and restarts. A batch leaves the queue only when the
//! receiver acknowledged it or refused its data (400/409/422, or 413 down to a single sample);
//! a configuration error (401, 403, 404, …) keeps it and retries at the maximum backoff. What
//! became of each batch is counted in [`super::stats`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{watch, Notify};
use tracing::{error, warn};

use super::client::Transport;
use super::retry::{decide, Backoff, Decision};
use super::split::split;
use super::stats::{Reason, Stats};
use crate::delivery::queue::{Entry, Queue};

/// The queue, its delivery counters and the sender's wake-up: what the cycles (which add
/// batches) and the sender (which delivers and removes them) share.
pub struct Outbox {
    pub(crate) queue: Mutex<Queue>,
    pub(crate) stats: Mutex<Stats>,
    /// Woken when a cycle adds batches.
    pub(crate) wake: Notify,
    stats_path: PathBuf,
}

impl Outbox {
    pub(crate) fn new(queue: Queue, dir: &Path) -> Arc<Outbox> {
        let stats_path = dir.join("stats.json");
        Arc::new(Outbox {
            queue: Mutex::new(queue),
            stats: Mutex::new(Stats::load(&stats_path)),
            wake: Notify::new(),
            stats_path,
        })
    }

    pub(crate) fn stats(&self) -> Stats {
        self.stats.lock().expect("stats lock").clone()
    }

    /// Counts samples dropped outside the sender (queue cap, corrupt files) and saves.
    pub(crate) fn count_dropped(&self, r: Reason, samples: u64) {
        let mut s = self.stats.lock().expect("stats lock");
        s.drop_samples(r, samples);
        s.save(&self.stats_path);
    }
}

/// What became of one batch's samples.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) delivered: u64,
    pub(crate) requests: u64,
    pub(crate) dropped: Vec<(Reason, u64)>,
}

/// What a drain (the `once` mode) did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drained {
    pub batches: u64,
    pub delivered: u64,
    pub requests: u64,
    pub(crate) dropped: u64,
}

/// Why a batch is still queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Undelivered {
    /// The `once` mode gave up (attempts used up, or a configuration error).
    GaveUp(String),
    /// Shutdown ended a backoff wait.
    Stopped,
}

impl std::fmt::Display for Undelivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undelivered::GaveUp(why) => f.write_str(why),
            Undelivered::Stopped => f.write_str("stopped"),
        }
    }
}

pub(crate) struct Sender<T> {
    transport: T,
    outbox: Arc<Outbox>,
    backoff: Backoff,
    /// `Some(n)`: give up a batch after n attempts that got no decision (the `once` mode; the
    /// batch stays queued). `None`: retry until delivered (the daemon).
    attempts: Option<u32>,
    /// Turns true at shutdown. It ends backoff waits at once and keeps the next batch from
    /// starting; a request already on the wire is left to finish (the caller bounds that with
    /// its grace period).
    stop: watch::Receiver<bool>,
}

impl<T: Transport> Sender<T> {
    pub(crate) fn new(
        transport: T,
        outbox: Arc<Outbox>,
        backoff: Backoff,
        attempts: Option<u32>,
        stop: watch::Receiver<bool>,
    ) -> Sender<T> {
        Sender { transport, outbox, backoff, attempts, stop }
    }

    fn set_backoff(&self, d: Duration) {
        self.outbox.stats.lock().expect("stats lock").backoff = d;
    }

    /// Delivers one body, splitting on 413. `Err` when the `once` mode gives up, or at shutdown:
    /// the batch stays queued.
    async fn deliver(&self, body: Vec<u8>, samples: u64) -> Result<Tally, Undelivered> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = self.transport.send(body.clone()).await;
            let decision = decide(&outcome, SystemTime::now());
            let what = match &outcome {
                Ok(r) if r.body.is_empty() => format!("HTTP {}", r.status),
                Ok(r) => format!("HTTP {}: {}", r.status, r.body),
                Err(e) => e.0.clone(),
            };
            let wait = match decision {
                Decision::Delivered => {
                    self.set_backoff(Duration::ZERO);
                    return Ok(Tally { delivered: samples, requests: 1, dropped: Vec::new() });
                }
                Decision::Reject => {
                    error!(samples, answer = %what, "the receiver refused a batch: its samples are dropped");
                    return Ok(Tally {
                        delivered: 0,
                        requests: 1,
                        dropped: vec![(Reason::Rejected, samples)],
                    });
                }
                Decision::Split => {
                    let Some(halves) = split(&body) else {
                        error!(samples, answer = %what, "a single sample is too large for the receiver: dropped");
                        return Ok(Tally {
                            delivered: 0,
                            requests: 1,
                            dropped: vec![(Reason::TooLarge, samples)],
                        });
                    };
                    warn!(samples, "the receiver says the request is too large: sending it in two halves");
                    let mut t = Tally { requests: 1, ..Tally::default() };
                    for (half, n) in halves {
                        let sub = Box::pin(self.deliver(half, n)).await?;
                        t.delivered += sub.delivered;
                        t.requests += sub.requests;
                        t.dropped.extend(sub.dropped);
                    }
                    return Ok(t);
                }
                Decision::Retry { min_wait } => {
                    if self.attempts.is_some_and(|max| attempt >= max) {
                        return Err(Undelivered::GaveUp(format!(
                            "gave up after {attempt} attempts; last: {what}"
                        )));
                    }
                    let wait = self.backoff.delay(attempt, fastrand::f64(), min_wait);
                    warn!(attempt, wait_ms = wait.as_millis() as u64, answer = %what, "remote write failed; retrying");
                    wait
                }
                Decision::Misconfigured => {
                    error!(
                        answer = %what,
                        "the receiver rejects the request itself: check remote_write.url, auth and TLS; the data is kept and retried"
                    );
                    if self.attempts.is_some() {
                        return Err(Undelivered::GaveUp(format!(
                            "receiver answered {what}; data kept in the queue"
                        )));
                    }
                    self.backoff.max
                }
            };
            self.outbox.stats.lock().expect("stats lock").retried_samples += samples;
            self.set_backoff(wait);
            let mut stop = self.stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wait_stop(&mut stop) => return Err(Undelivered::Stopped),
            }
        }
    }

    /// Delivers the oldest batch and records what became of it. `None` when the queue is empty.
    pub(crate) async fn send_front(&self) -> Option<Result<Tally, Undelivered>> {
        let (entry, body): (Entry, _) = {
            let mut q = self.outbox.queue.lock().expect("queue lock");
            let e = q.take_front()?;
            let body = q.read(e.seq);
            (e, body)
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                error!(error = %e, samples = entry.samples, "dropping a corrupt queue file");
                let _ = self.outbox.queue.lock().expect("queue lock").remove(entry.seq);
                self.outbox.count_dropped(Reason::Corrupt, entry.samples);
                return Some(Ok(Tally {
                    dropped: vec![(Reason::Corrupt, entry.samples)],
                    ..Tally::default()
                }));
            }
        };
        let result = self.deliver(body, entry.samples).await;
        {
            let mut q = self.outbox.queue.lock().expect("queue lock");
            match &result {
                Ok(_) => {
                    if let Err(e) = q.remove(entry.seq) {
                        error!(error = %e, "cannot delete a delivered batch; it will be sent again");
                    }
                }
                Err(_) => q.release(),
            }
        }
        let mut s = self.outbox.stats.lock().expect("stats lock");
        if let Ok(t) = &result {
            s.sent_samples += t.delivered;
            s.sent_requests += t.requests;
            if t.delivered > 0 {
                s.last_success_ms = Some(crate::util::time::now_ms());
            }
            for (r, n) in &t.dropped {
                s.drop_samples(*r, *n);
            }
        }
        s.save(&self.outbox.stats_path);
        Some(result)
    }

    /// The `once` mode: sends until the queue is empty, or stops at the first batch that cannot
    /// be delivered now (it stays queued).
    pub(crate) async fn drain(&self) -> Result<Drained, (Drained, Undelivered)> {
        let mut d = Drained::default();
        while let Some(r) = self.send_front().await {
            match r {
                Ok(t) => {
                    d.batches += 1;
                    d.delivered += t.delivered;
                    d.requests += t.requests;
                    d.dropped += t.dropped.iter().map(|(_, n)| n).sum::<u64>();
                }
                Err(why) => return Err((d, why)),
            }
        }
        Ok(d)
    }

    /// The daemon: sends whatever is queued, oldest first, until `stop` turns true.
    pub(crate) async fn run(&self) {
        let mut stop = self.stop.clone();
        loop {
            if *stop.borrow() {
                return;
            }
            let empty = self.outbox.queue.lock().expect("queue lock").is_empty();
            if empty {
                crate::util::memory::release_free_memory();
                tokio::select! {
                    _ = self.outbox.wake.notified() => continue,
                    _ = wait_stop(&mut stop) => return,
                }
            }
            if let Some(Err(Undelivered::Stopped)) = self.send_front().await {
                return;
            }
        }
    }
}

/// Completes when `stop` becomes true; never, if its sender is gone without saying so.
async fn wait_stop(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::client::{Response, TransportError};
    use crate::delivery::proto::{self, test_body};
    use crate::delivery::retry::RetryAfter;
    use std::collections::VecDeque;
    use tokio::time::Instant;

    /// Answers from a script (the last answer repeats) and records when each request came.
    struct Scripted {
        answers: Mutex<VecDeque<Result<Response, TransportError>>>,
        /// With `Some(n)`: 413 for any body of more than n samples, 204 otherwise.
        max_samples: Option<u64>,
        seen: Mutex<Vec<(Instant, Vec<u8>)>>,
    }

    fn status(status: u16, retry_after: Option<RetryAfter>) -> Result<Response, TransportError> {
        Ok(Response { status, retry_after, body: String::new() })
    }

    impl Scripted {
        fn new(answers: Vec<Result<Response, TransportError>>) -> Scripted {
            Scripted { answers: Mutex::new(answers.into()), max_samples: None, seen: Mutex::default() }
        }
    }

    impl Transport for Scripted {
        async fn send(&self, body: Vec<u8>) -> Result<Response, TransportError> {
            let samples: u64 =
                proto::decode(&body).unwrap().timeseries.iter().map(|t| t.samples.len() as u64).sum();
            self.seen.lock().unwrap().push((Instant::now(), body));
            if let Some(max) = self.max_samples {
                return status(if samples > max { 413 } else { 204 }, None);
            }
            let mut a = self.answers.lock().unwrap();
            if a.len() > 1 {
                a.pop_front().unwrap()
            } else {
                a.front().unwrap().clone()
            }
        }
    }

    fn sender(
        t: Scripted,
        attempts: Option<u32>,
    ) -> (Sender<Scripted>, watch::Sender<bool>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = Queue::open(dir.path(), 1 << 20, 0).unwrap();
        let (tx, rx) = watch::channel(false);
        let b = Backoff { min: Duration::from_millis(500), max: Duration::from_secs(60) };
        (Sender::new(t, Outbox::new(q, dir.path()), b, attempts, rx), tx, dir)
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_seconds_is_waited_at_least() {
        let t = Scripted::new(vec![status(429, Some(RetryAfter::Seconds(7))), status(204, None)]);
        let (s, _stop, _dir) = sender(t, None);
        let (b, n) = test_body(2, 3);
        let start = Instant::now();
        let tally = s.deliver(b, n).await.unwrap();
        assert_eq!(tally.delivered, 6);
        let seen = s.transport.seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen[1].0 - start >= Duration::from_secs(7), "waited {:?}", seen[1].0 - start);
        assert_eq!(s.outbox.stats().retried_samples, 6);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_as_an_http_date_is_waited_at_least() {
        let at = SystemTime::now() + Duration::from_secs(30);
        let t = Scripted::new(vec![status(503, Some(RetryAfter::Date(at))), status(204, None)]);
        let (s, _stop, _dir) = sender(t, None);
        let (b, n) = test_body(1, 1);
        let start = Instant::now();
        s.deliver(b, n).await.unwrap();
        let seen = s.transport.seen.lock().unwrap();
        // whole seconds in the header: allow the sub-second truncation
        assert!(seen[1].0 - start >= Duration::from_secs(29), "waited {:?}", seen[1].0 - start);
    }

    #[tokio::test(start_paused = true)]
    async fn configuration_errors_keep_the_data_and_wait_the_maximum() {
        let t = Scripted::new(vec![status(401, None), status(404, None), status(204, None)]);
        let (s, _stop, _dir) = sender(t, None);
        let (b, n) = test_body(1, 2);
        let start = Instant::now();
        assert_eq!(s.deliver(b.clone(), n).await.unwrap().delivered, 2);
        let seen = s.transport.seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert!(seen[1].0 - start >= Duration::from_secs(60));
        assert!(seen[2].0 - seen[1].0 >= Duration::from_secs(60));
        assert!(seen.iter().all(|(_, sent)| *sent == b), "the same data every time");
    }

    #[tokio::test(start_paused = true)]
    async fn once_mode_gives_up_without_dropping() {
        let t = Scripted::new(vec![status(500, None)]);
        let (s, _stop, _dir) = sender(t, Some(3));
        let (b, n) = test_body(1, 1);
        assert!(matches!(s.deliver(b, n).await, Err(Undelivered::GaveUp(_))));
        assert_eq!(s.transport.seen.lock().unwrap().len(), 3);
        let t = Scripted::new(vec![status(403, None)]);
        let (s, _stop, _dir) = sender(t, Some(3));
        let (b, n) = test_body(1, 1);
        assert!(matches!(s.deliver(b, n).await, Err(Undelivered::GaveUp(_))));
        assert_eq!(
            s.transport.seen.lock().unwrap().len(),
            1,
            "a configuration error is not worth repeating in once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_a_backoff_wait_at_once() {
        let t = Scripted::new(vec![status(503, Some(RetryAfter::Seconds(3600)))]);
        let (s, stop, _dir) = sender(t, None);
        let (b, n) = test_body(1, 1);
        let start = Instant::now();
        let (r, _) = tokio::join!(s.deliver(b, n), async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            stop.send(true).unwrap();
        });
        assert_eq!(r, Err(Undelivered::Stopped));
        assert!(Instant::now() - start < Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn too_large_splits_until_it_fits_and_keeps_order() {
        let mut t = Scripted::new(vec![]);
        t.max_samples = Some(3);
        let (s, _stop, _dir) = sender(t, None);
        let (b, n) = test_body(5, 2); // 10 samples in 5 series
        let tally = s.deliver(b, n).await.unwrap();
        assert_eq!(tally.delivered, 10);
        assert!(tally.dropped.is_empty());
        let seen = s.transport.seen.lock().unwrap().clone();
        let accepted: Vec<String> = seen
            .iter()
            .map(|(_, b)| proto::decode(b).unwrap())
            .filter(|r| r.timeseries.iter().map(|t| t.samples.len()).sum::<usize>() <= 3)
            .flat_map(|r| r.timeseries.into_iter().map(|t| t.labels[0].value.clone()))
            .collect();
        assert_eq!(accepted, ["m0", "m1", "m2", "m3", "m4"], "series delivered in their original order");
        // a single sample that is still too large is dropped and counted
        let mut t = Scripted::new(vec![]);
        t.max_samples = Some(0);
        let (s, _stop, _dir) = sender(t, None);
        let (b, n) = test_body(1, 2);
        let tally = s.deliver(b, n).await.unwrap();
        assert_eq!(tally.dropped, vec![(Reason::TooLarge, 1), (Reason::TooLarge, 1)]);
    }
}
