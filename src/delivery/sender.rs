//! The sender: delivers the oldest queued batch by the rules of [`super::retry`], then the next.
//!
//! One batch is in flight at a time, oldest first, so every series reaches the receiver in the
//! order it was queued, across retries and restarts. A batch leaves the queue only when the
//! receiver acknowledged it or refused its data (400/409/422, or 413 down to a single sample);
//! a configuration error (401, 403, 404, …) keeps it and retries at the maximum backoff. What
//! became of each batch is counted in [`super::stats`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tracing::{debug, error, warn};

use super::client::Transport;
use super::outbox::Outbox;
use super::proto;
use super::retry::{decide, Backoff, Decision};
use super::split::split;
use super::stats::Reason;
use crate::delivery::queue::Entry;

/// What became of one batch's samples.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) delivered: u64,
    pub(crate) requests: u64,
    pub(crate) dropped: Vec<(Reason, u64)>,
}

impl Tally {
    fn add(&mut self, t: &Tally) {
        self.delivered += t.delivered;
        self.requests += t.requests;
        for &(r, n) in &t.dropped {
            match self.dropped.iter_mut().find(|(have, _)| *have == r) {
                Some((_, m)) => *m += n,
                None => self.dropped.push((r, n)),
            }
        }
    }
}

/// What a drain (the `once` mode) did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drained {
    /// The destination's name.
    pub destination: String,
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

/// What of a batch in delivery is not saved yet.
struct Progress {
    /// Settled since the last save.
    unsaved: Tally,
    /// Samples the batch's file holds.
    in_file: u64,
}

/// How one piece of a batch was settled.
enum Settled {
    /// Delivered or dropped, with the receiver's refusal when it refused the data.
    Done(Tally, Option<String>),
    /// To be sent as these two halves, in order; with the receiver's refusal when it refused
    /// the data (not when it was only too large).
    Halved([(Vec<u8>, u64); 2], Option<String>),
}

/// Request bodies joined into one, their series in order (`None` if one does not decode).
fn join<'a>(bodies: impl Iterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut all = proto::WriteRequest::default();
    for b in bodies {
        all.timeseries.extend(proto::decode(b).ok()?.timeseries);
    }
    Some(proto::encode(&all))
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
    /// Sent once before the first batch: a body of metric metadata only.
    metadata: Option<Arc<Vec<u8>>>,
}

impl<T: Transport> Sender<T> {
    pub(crate) fn new(
        transport: T,
        outbox: Arc<Outbox>,
        backoff: Backoff,
        attempts: Option<u32>,
        stop: watch::Receiver<bool>,
    ) -> Sender<T> {
        Sender { transport, outbox, backoff, attempts, stop, metadata: None }
    }

    /// Sends `body` (metric metadata, no samples) once when it starts.
    pub(crate) fn with_metadata(mut self, body: Arc<Vec<u8>>) -> Sender<T> {
        self.metadata = Some(body);
        self
    }

    fn set_backoff(&self, d: Duration) {
        self.outbox.stats.lock().expect("stats lock").backoff = d;
    }

    /// Delivers batch `seq` piece by piece. A piece the receiver says is too large (413) or
    /// whose data it refuses (400, 409, 422) is halved, down to single samples, so that only the
    /// samples refused are dropped: an all-refused batch of n samples costs 2n − 1 requests.
    ///
    /// Progress is saved (the counters, and what remains written back over the batch's file, so
    /// a restart resumes there) each time what remains has halved since the last save, and when
    /// the `once` mode gives up or shutdown comes: a handful of saves a batch, however many
    /// pieces. A crash between two saves sends the pieces settled since the last one again.
    /// `Err` when the `once` mode gives up, or at shutdown: what remains stays queued.
    async fn deliver(&self, seq: u64, body: Vec<u8>, samples: u64) -> Result<Tally, Undelivered> {
        let mut pending = VecDeque::from([(body, samples)]);
        let mut total = Tally::default();
        let mut progress = Progress { unsaved: Tally::default(), in_file: samples };
        let mut refusal: Option<String> = None;
        while let Some((piece, n)) = pending.pop_front() {
            let settled = match self.send_piece(&piece, n).await {
                Ok(s) => s,
                Err(e) => {
                    pending.push_front((piece, n));
                    self.save(seq, &pending, &mut progress);
                    return Err(e);
                }
            };
            let tally = match settled {
                Settled::Halved(halves, refused) => {
                    if let Some(why) = refused {
                        refusal.get_or_insert(why);
                    }
                    for half in halves.into_iter().rev() {
                        pending.push_front(half);
                    }
                    Tally { requests: 1, ..Tally::default() }
                }
                Settled::Done(t, why) => {
                    if let Some(why) = why {
                        refusal.get_or_insert(why);
                    }
                    t
                }
            };
            progress.unsaved.add(&tally);
            total.add(&tally);
            let left: u64 = pending.iter().map(|(_, n)| n).sum();
            if !pending.is_empty() && left * 2 <= progress.in_file {
                self.save(seq, &pending, &mut progress);
            }
        }
        self.save(seq, &pending, &mut progress);
        let dropped: u64 = total.dropped.iter().map(|(_, n)| n).sum();
        if dropped > 0 {
            error!(
                samples,
                dropped,
                answer = refusal.as_deref().unwrap_or(""),
                "the receiver refused samples of a batch: those samples are dropped, the rest was delivered"
            );
        }
        Ok(total)
    }

    /// Counts what was settled since the last save in the persisted delivery counters, and
    /// writes what remains (if anything, and if less than the file holds) over batch `seq`'s
    /// file. If the write fails, the file keeps more than remains: a restart sends the settled
    /// part again (duplicates, no loss).
    fn save(&self, seq: u64, pending: &VecDeque<(Vec<u8>, u64)>, progress: &mut Progress) {
        let t = std::mem::take(&mut progress.unsaved);
        {
            let mut s = self.outbox.stats.lock().expect("stats lock");
            s.sent_samples += t.delivered;
            s.sent_requests += t.requests;
            if t.delivered > 0 {
                s.last_success_ms = Some(crate::util::time::now_ms());
            }
            for (r, n) in &t.dropped {
                s.drop_samples(*r, *n);
            }
            s.save(&self.outbox.stats_path);
        }
        let left: u64 = pending.iter().map(|(_, n)| n).sum();
        if pending.is_empty() || left >= progress.in_file {
            return;
        }
        let Some(body) = join(pending.iter().map(|(b, _)| b.as_slice())) else { return };
        match self.outbox.queue.lock().expect("queue lock").rewrite(seq, &body, left) {
            Ok(()) => progress.in_file = left,
            Err(e) => {
                error!(error = %e, "cannot save a split batch's progress; after a restart its delivered part is sent again")
            }
        }
    }

    /// Sends one piece until it is settled: delivered, dropped, or to be halved. `Err` when the
    /// `once` mode gives up, or at shutdown.
    async fn send_piece(&self, body: &[u8], samples: u64) -> Result<Settled, Undelivered> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = self.transport.send(body.to_vec()).await;
            let decision = decide(&outcome, SystemTime::now());
            let what = match &outcome {
                Ok(r) if r.body.is_empty() => format!("HTTP {}", r.status),
                Ok(r) => format!("HTTP {}: {}", r.status, r.body),
                Err(e) => e.0.clone(),
            };
            let wait = match decision {
                Decision::Delivered => {
                    self.set_backoff(Duration::ZERO);
                    return Ok(Settled::Done(
                        Tally { delivered: samples, requests: 1, dropped: Vec::new() },
                        None,
                    ));
                }
                Decision::Reject => {
                    self.set_backoff(Duration::ZERO);
                    return Ok(match split(body) {
                        Some(halves) => {
                            debug!(samples, answer = %what, "the receiver refused a request: halving it to find the refused samples");
                            Settled::Halved(halves, Some(what))
                        }
                        None => Settled::Done(
                            Tally { delivered: 0, requests: 1, dropped: vec![(Reason::Rejected, samples)] },
                            Some(what),
                        ),
                    });
                }
                Decision::Split => {
                    self.set_backoff(Duration::ZERO);
                    return Ok(match split(body) {
                        Some(halves) => {
                            warn!(
                                samples,
                                "the receiver says the request is too large: sending it in two halves"
                            );
                            Settled::Halved(halves, None)
                        }
                        None => {
                            error!(samples, answer = %what, "a single sample is too large for the receiver: dropped");
                            Settled::Done(
                                Tally {
                                    delivered: 0,
                                    requests: 1,
                                    dropped: vec![(Reason::TooLarge, samples)],
                                },
                                None,
                            )
                        }
                    });
                }
                Decision::Retry { min_wait } => {
                    if self.attempts.is_some_and(|max| attempt >= max) {
                        return Err(Undelivered::GaveUp(format!(
                            "gave up after {attempt} attempts; last: {what}"
                        )));
                    }
                    // `once` keeps to its own limits; only the daemon waits as long as asked.
                    if let Some(asked) = min_wait.filter(|w| self.attempts.is_some() && *w > self.backoff.max)
                    {
                        return Err(Undelivered::GaveUp(format!(
                            "the receiver asked for a wait of {} s (Retry-After), longer than remote_write.max_backoff_seconds ({} s); last: {what}",
                            asked.as_secs(),
                            self.backoff.max.as_secs_f64()
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
            // Not the file's fault (too many open files, a passing I/O error): it stays queued.
            Err(e) if e.is_transient() => {
                self.outbox.queue.lock().expect("queue lock").release();
                error!(error = %e, "cannot read a queued batch; it stays queued and is read again");
                if self.attempts.is_some() {
                    return Some(Err(Undelivered::GaveUp(e.to_string())));
                }
                let mut stop = self.stop.clone();
                tokio::select! {
                    _ = tokio::time::sleep(self.backoff.max) => return Some(Ok(Tally::default())),
                    _ = wait_stop(&mut stop) => return Some(Err(Undelivered::Stopped)),
                }
            }
            Err(e) => {
                error!(error = %e, samples = entry.samples, "dropping a corrupt queue file");
                let _ = self.outbox.queue.lock().expect("queue lock").remove(entry.seq);
                self.outbox.count_corrupt(1, entry.samples);
                return Some(Ok(Tally {
                    dropped: vec![(Reason::Corrupt, entry.samples)],
                    ..Tally::default()
                }));
            }
        };
        let result = self.deliver(entry.seq, body, entry.samples).await;
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
        // The counters were saved as the delivery ended (`deliver` saves on every way out).
        Some(result)
    }

    /// Sends every metric family's type, help and unit, once: one attempt, its outcome only
    /// logged (the next start sends them again). Not counted with the data's requests.
    async fn send_metadata(&self) {
        let Some(body) = &self.metadata else { return };
        match self.transport.send(body.to_vec()).await {
            Ok(r) if (200..300).contains(&r.status) => debug!("metric metadata sent"),
            Ok(r) => {
                warn!(status = r.status, answer = %r.body, "the receiver refused the metric metadata (help texts); the data is not affected")
            }
            Err(e) => debug!(error = %e.0, "metric metadata not sent; it goes at the next start"),
        }
    }

    /// The `once` mode: sends until the queue is empty, or stops at the first batch that cannot
    /// be delivered now (it stays queued). The metric metadata goes first when anything is
    /// queued.
    pub(crate) async fn drain(&self) -> Result<Drained, (Drained, Undelivered)> {
        let mut d = Drained { destination: self.outbox.name.clone(), ..Drained::default() };
        if !self.outbox.queue.lock().expect("queue lock").is_empty() {
            self.send_metadata().await;
        }
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

    /// The daemon: the metric metadata, then whatever is queued, oldest first, until `stop`
    /// turns true.
    pub(crate) async fn run(&self) {
        let mut stop = self.stop.clone();
        tokio::select! {
            () = self.send_metadata() => {}
            _ = wait_stop(&mut stop) => return,
        }
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
    use crate::delivery::queue::Queue;
    use crate::delivery::retry::RetryAfter;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use tokio::time::Instant;

    /// Answers from a script (the last answer repeats) and records when each request came.
    struct Scripted {
        answers: Mutex<VecDeque<Result<Response, TransportError>>>,
        /// With `Some(n)`: 413 for any body of more than n samples, 204 otherwise.
        max_samples: Option<u64>,
        /// Values the receiver refuses: 400 for any body holding one (as Prometheus does for a
        /// sample out of its window), 204 otherwise.
        refused: Option<Vec<f64>>,
        seen: Mutex<Vec<(Instant, Vec<u8>)>>,
    }

    fn status(status: u16, retry_after: Option<RetryAfter>) -> Result<Response, TransportError> {
        Ok(Response { status, retry_after, body: String::new() })
    }

    impl Scripted {
        fn new(answers: Vec<Result<Response, TransportError>>) -> Scripted {
            Scripted {
                answers: Mutex::new(answers.into()),
                max_samples: None,
                refused: None,
                seen: Mutex::default(),
            }
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
            if let Some(bad) = &self.refused {
                let req = proto::decode(&self.seen.lock().unwrap().last().unwrap().1).unwrap();
                let hit = req.timeseries.iter().flat_map(|t| &t.samples).any(|x| bad.contains(&x.value));
                return status(if hit { 400 } else { 204 }, None);
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
        (Sender::new(t, Outbox::new("1", q, dir.path()), b, attempts, rx), tx, dir)
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_seconds_is_waited_at_least() {
        let t = Scripted::new(vec![status(429, Some(RetryAfter::Seconds(7))), status(204, None)]);
        let (s, _stop, _dir) = sender(t, None);
        let (b, n) = test_body(2, 3);
        let start = Instant::now();
        let tally = s.deliver(0, b, n).await.unwrap();
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
        s.deliver(0, b, n).await.unwrap();
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
        assert_eq!(s.deliver(0, b.clone(), n).await.unwrap().delivered, 2);
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
        assert!(matches!(s.deliver(0, b, n).await, Err(Undelivered::GaveUp(_))));
        assert_eq!(s.transport.seen.lock().unwrap().len(), 3);
        let t = Scripted::new(vec![status(403, None)]);
        let (s, _stop, _dir) = sender(t, Some(3));
        let (b, n) = test_body(1, 1);
        assert!(matches!(s.deliver(0, b, n).await, Err(Undelivered::GaveUp(_))));
        assert_eq!(
            s.transport.seen.lock().unwrap().len(),
            1,
            "a configuration error is not worth repeating in once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn once_mode_does_not_wait_a_retry_after_past_its_longest_backoff() {
        let t = Scripted::new(vec![status(503, Some(RetryAfter::Seconds(3600)))]);
        let (s, _stop, _dir) = sender(t, Some(5));
        let (b, n) = test_body(1, 1);
        let start = Instant::now();
        let Err(Undelivered::GaveUp(why)) = s.deliver(0, b, n).await else { panic!("expected to give up") };
        assert!(why.contains("a wait of 3600 s (Retry-After)"), "{why}");
        assert_eq!(s.transport.seen.lock().unwrap().len(), 1);
        assert!(Instant::now() - start < Duration::from_secs(1));
        // Within the longest backoff, it is waited.
        let t = Scripted::new(vec![status(429, Some(RetryAfter::Seconds(7))), status(204, None)]);
        let (s, _stop, _dir) = sender(t, Some(5));
        let (b, n) = test_body(1, 1);
        assert_eq!(s.deliver(0, b, n).await.unwrap().delivered, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_a_backoff_wait_at_once() {
        let t = Scripted::new(vec![status(503, Some(RetryAfter::Seconds(3600)))]);
        let (s, stop, _dir) = sender(t, None);
        let (b, n) = test_body(1, 1);
        let start = Instant::now();
        let (r, _) = tokio::join!(s.deliver(0, b, n), async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            stop.send(true).unwrap();
        });
        assert_eq!(r, Err(Undelivered::Stopped));
        assert!(Instant::now() - start < Duration::from_secs(6));
    }

    /// The values of the samples in the requests the receiver accepted, in order.
    fn accepted_values(s: &Sender<Scripted>, ok: impl Fn(&[f64]) -> bool) -> Vec<f64> {
        s.transport
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| proto::decode(b).unwrap())
            .map(|r| r.timeseries.iter().flat_map(|t| t.samples.iter().map(|x| x.value)).collect::<Vec<_>>())
            .filter(|v| ok(v))
            .flatten()
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_batch_is_bisected_so_only_the_refused_samples_are_dropped() {
        let mut t = Scripted::new(vec![]);
        t.refused = Some(vec![3.0, 5.0]);
        let (s, _stop, _dir) = sender(t, Some(1));
        let (b, n) = test_body(1, 16); // values 0..16 in time order
        let tally = s.deliver(0, b, n).await.unwrap();
        assert_eq!((tally.delivered, tally.dropped.clone()), (14, vec![(Reason::Rejected, 2)]));
        let ok = accepted_values(&s, |v| !v.contains(&3.0) && !v.contains(&5.0));
        let want: Vec<f64> = (0..16).map(f64::from).filter(|v| *v != 3.0 && *v != 5.0).collect();
        assert_eq!(ok, want, "every other sample, once, in time order");
        // log2 extra requests per refused sample, not one per sample
        assert!(tally.requests <= 2 * 2 * 4 + 1, "{} requests", tally.requests);
        let st = s.outbox.stats();
        assert_eq!(
            (st.sent_samples, st.dropped(Reason::Rejected), st.sent_requests),
            (14, 2, tally.requests)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_split_batch_left_part_way_resumes_from_what_remains() {
        // 413 above 4 samples; the second piece then meets an outage and `once` gives up.
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = Queue::open(dir.path(), 1 << 20, 0).unwrap();
        let (b, n) = test_body(1, 16);
        let e = q.write(0, &b, n).unwrap();
        q.admit(vec![e]).unwrap();
        let outbox = Outbox::new("1", q, dir.path());
        let (_tx, rx) = watch::channel(false);
        let backoff = Backoff { min: Duration::from_millis(500), max: Duration::from_secs(60) };
        let t = Scripted::new(vec![
            status(413, None),
            status(413, None),
            status(204, None), // values 0..4
            status(500, None),
        ]);
        let s = Sender::new(t, outbox.clone(), backoff, Some(1), rx.clone());
        assert!(matches!(s.send_front().await, Some(Err(Undelivered::GaveUp(_)))));
        assert_eq!(outbox.stats().sent_samples, 4, "the delivered piece is counted at once");
        drop(s);
        // A restart: the queue holds only what was not delivered.
        let (q, _) = Queue::open(dir.path(), 1 << 20, 1).unwrap();
        let rest = proto::decode(&q.read(0).unwrap()).unwrap();
        let values: Vec<f64> =
            rest.timeseries.iter().flat_map(|t| t.samples.iter().map(|x| x.value)).collect();
        assert_eq!(values, (4..16).map(f64::from).collect::<Vec<_>>());
        let s = Sender::new(
            Scripted::new(vec![status(204, None)]),
            Outbox::new("1", q, dir.path()),
            backoff,
            Some(1),
            rx,
        );
        let t = s.send_front().await.unwrap().unwrap();
        assert_eq!((t.delivered, s.outbox.stats().sent_samples), (12, 16));
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_that_cannot_be_read_for_now_stays_queued() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = Queue::open(dir.path(), 1 << 20, 0).unwrap();
        let (b, n) = test_body(1, 3);
        let e = q.write(0, &b, n).unwrap();
        q.admit(vec![e]).unwrap();
        // A read error that is not the file's content (here: a directory where it was).
        let path = dir.path().join("00000000000000000000.batch");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let outbox = Outbox::new("1", q, dir.path());
        let (_tx, rx) = watch::channel(false);
        let backoff = Backoff { min: Duration::from_millis(500), max: Duration::from_secs(60) };
        let s = Sender::new(Scripted::new(vec![status(204, None)]), outbox.clone(), backoff, Some(1), rx);
        assert!(matches!(s.send_front().await, Some(Err(Undelivered::GaveUp(_)))));
        assert_eq!(outbox.queue.lock().unwrap().len(), 1, "kept");
        assert_eq!((outbox.stats().corrupt_files, outbox.stats().dropped(Reason::Corrupt)), (0, 0));
        // A file that is gone is counted as lost.
        std::fs::remove_dir(&path).unwrap();
        let t = s.send_front().await.unwrap().unwrap();
        assert_eq!(t.dropped, vec![(Reason::Corrupt, 3)]);
        assert_eq!(outbox.queue.lock().unwrap().len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn too_large_splits_until_it_fits_and_keeps_order() {
        let mut t = Scripted::new(vec![]);
        t.max_samples = Some(3);
        let (s, _stop, _dir) = sender(t, None);
        let (b, n) = test_body(5, 2); // 10 samples in 5 series
        let tally = s.deliver(0, b, n).await.unwrap();
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
        let tally = s.deliver(0, b, n).await.unwrap();
        assert_eq!(tally.dropped, vec![(Reason::TooLarge, 2)]);
    }
}
