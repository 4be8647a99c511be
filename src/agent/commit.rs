//! A cycle into the queues: its samples written as request bodies, batch by batch, each chunk as
//! soon as it is built, to the first destination's queue and linked into the others'; then the
//! directories fsynced, the state committed, and the batches made deliverable. Only the commit
//! makes a cycle count (see `ARCHITECTURE.md`, durability).

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context as _;
use tracing::{error, info, warn};

use super::cycle::{log_summary, Cycle};
use super::progress::Progress;
use super::state::State;
use super::Enqueued;
use crate::config::Config;
use crate::delivery::outbox::{adopt_single_queue, queue_dir, queues_root, tidy_unconfigured_queues, Outbox};
use crate::delivery::queue::{Entry, Queue, QueueError};
use crate::delivery::stats::{Reason, Stats};
use crate::ingest::outside::OutsideData;
use crate::samples::catalogue::DeliveryStats;
use crate::samples::{BodyEncoder, KeptSeries, SeriesSet};

/// The delivery figures of every destination, for the agent's own metrics.
pub(super) fn delivery_stats(outboxes: &[Arc<Outbox>]) -> Vec<DeliveryStats> {
    outboxes
        .iter()
        .map(|o| {
            let (bytes, batches) = {
                let q = o.queue.lock().expect("queue lock");
                (q.bytes(), q.len() as u64)
            };
            from_stats(&o.name, &o.stats(), bytes, batches)
        })
        .collect()
}

pub(super) fn from_stats(
    destination: &str,
    s: &Stats,
    queue_bytes: u64,
    queue_batches: u64,
) -> DeliveryStats {
    DeliveryStats {
        destination: destination.to_string(),
        queue_bytes,
        queue_batches,
        sent_samples: s.sent_samples,
        sent_requests: s.sent_requests,
        retried_samples: s.retried_samples,
        dropped: Reason::ALL.iter().map(|r| (r.as_str(), s.dropped(*r))).collect(),
        corrupt_files: s.corrupt_files,
        last_success_ms: s.last_success_ms,
        backoff_seconds: s.backoff.as_secs_f64(),
    }
}

/// Opens every destination's queue, in the order of the configuration, cleaning up after an
/// uncommitted cycle (a queue left by an earlier, single-destination version is first moved
/// into each destination's own). Also returns how many queue files were corrupt (removed,
/// counted and logged as errors).
///
/// Without a state file nothing tells a committed batch from an uncommitted one, so every batch
/// is kept and sent (at worst one cycle goes out twice) rather than deleting committed data, and
/// `state` numbers its next batch after them.
pub fn open_outboxes(cfg: &Config, state: &mut State) -> anyhow::Result<(Vec<Arc<Outbox>>, u64)> {
    let names: Vec<&str> = cfg.destinations.iter().map(|d| d.name.as_str()).collect();
    adopt_single_queue(&cfg.state_dir, &names).with_context(|| {
        format!("moving the queue in {} to the destinations' queues", cfg.state_dir.display())
    })?;
    let saved = cfg.state_dir.join(crate::agent::state::FILE_NAME).exists();
    let committed = if saved { state.next_seq } else { u64::MAX };
    tidy_unconfigured_queues(&cfg.state_dir, &names, committed);
    let mut outboxes = Vec::with_capacity(cfg.destinations.len());
    let mut corrupt = 0;
    for d in &cfg.destinations {
        let dir = queue_dir(&cfg.state_dir, &d.name);
        let (queue, rec) = Queue::open(&dir, d.queue_max_bytes, committed)?;
        if !saved && !queue.is_empty() {
            warn!(
                destination = %d.name,
                batches = queue.len(),
                "no state file, but batches are queued: they are kept and sent (every job is read again, and one cycle may go out twice)"
            );
            state.next_seq = state.next_seq.max(queue.next_seq());
        }
        if rec.uncommitted > 0 {
            info!(destination = %d.name, batches = rec.uncommitted, "removed the batches of a cycle that did not commit; it runs again");
        }
        let outbox = Outbox::new(&d.name, queue, &dir);
        if rec.corrupt > 0 {
            error!(
                destination = %d.name,
                files = %rec.corrupt_names.join(", "),
                samples = rec.corrupt_samples,
                dir = %dir.display(),
                "removed corrupt queue files (truncated, empty or with a damaged header); their samples are lost (the count is what the readable headers said)"
            );
            outbox.count_corrupt(rec.corrupt, rec.corrupt_samples);
            corrupt += rec.corrupt;
        }
        outboxes.push(outbox);
    }
    // The destinations' directories, made durable in their parent.
    crate::util::fs::sync_dir(&queues_root(&cfg.state_dir))
        .with_context(|| format!("syncing {}", queues_root(&cfg.state_dir).display()))?;
    Ok((outboxes, corrupt))
}

/// Writes a cycle's samples to every destination's queue as request bodies of up to `max`
/// samples, each body as soon as it is full; a body may hold samples of several chunks. A body
/// is written once, to the first queue, and linked into the others.
struct CycleWriter<'a> {
    outboxes: &'a [Arc<Outbox>],
    first_seq: u64,
    max: usize,
    encoder: BodyEncoder,
    /// The batches written so far (removed again if the cycle fails); the same in every queue.
    written: Vec<Entry>,
    samples: usize,
}

impl CycleWriter<'_> {
    fn write(&mut self, set: SeriesSet) -> anyhow::Result<()> {
        self.samples += set.sample_count();
        let (outboxes, first_seq, written) = (self.outboxes, self.first_seq, &mut self.written);
        let result = set.write_bodies(self.max, &mut self.encoder, |body, n| {
            queue(outboxes, first_seq, written, body, n)
        });
        self.check(result)
    }

    /// Writes the cycle's own samples, `set` taken from `kept` (see [`KeptSeries`]).
    fn write_own(&mut self, set: SeriesSet, kept: &mut KeptSeries) -> anyhow::Result<()> {
        self.samples += set.sample_count();
        let (outboxes, first_seq, written) = (self.outboxes, self.first_seq, &mut self.written);
        let result = kept.write_bodies(set, self.max, &mut self.encoder, |body, n| {
            queue(outboxes, first_seq, written, body, n)
        });
        self.check(result)
    }

    /// Writes the last, partly filled body.
    fn flush(&mut self) -> anyhow::Result<()> {
        let (outboxes, first_seq, written) = (self.outboxes, self.first_seq, &mut self.written);
        let result = self.encoder.flush(|body, n| queue(outboxes, first_seq, written, body, n));
        self.check(result)
    }

    fn check(&mut self, result: Result<(), QueueError>) -> anyhow::Result<()> {
        if let Err(e) = result {
            self.discard();
            return Err(e).context("writing the cycle's batches to the queue");
        }
        Ok(())
    }

    fn discard(&self) {
        for o in self.outboxes {
            o.queue.lock().expect("queue lock").discard(&self.written);
        }
    }
}

/// Writes one body as the cycle's next batch: to the first destination's queue, then linked
/// into the others'.
fn queue(
    outboxes: &[Arc<Outbox>],
    first_seq: u64,
    written: &mut Vec<Entry>,
    body: &[u8],
    samples: u64,
) -> Result<(), QueueError> {
    let seq = first_seq + written.len() as u64;
    let (e, file) = {
        let first = outboxes[0].queue.lock().expect("queue lock");
        (first.write(seq, body, samples)?, first.path(seq))
    };
    // Pushed at once, so a failure below discards this batch from every queue too.
    written.push(e);
    for o in &outboxes[1..] {
        o.queue.lock().expect("queue lock").link(&file, e, body)?;
    }
    Ok(())
}

/// One cycle: build it chunk by chunk, writing each chunk's batches to the queue as it goes
/// (so a backfill of any size needs the memory of one chunk), then commit the state and wake
/// the sender. The batches become deliverable only with the commit. The cycle's own samples
/// are added to `kept`'s series (the daemon keeps them from one cycle to the next).
pub fn enqueue_cycle(
    cfg: &Config,
    state: &mut State,
    outside: &mut OutsideData,
    outboxes: &[Arc<Outbox>],
    now: SystemTime,
    progress: &mut Progress,
    kept: &mut KeptSeries,
) -> anyhow::Result<Enqueued> {
    progress.begin();
    outside.refresh();
    let mut cycle = Cycle::new(cfg, state, outside, delivery_stats(outboxes), now);
    let mut out = CycleWriter {
        outboxes,
        first_seq: state.next_seq,
        max: cfg.max_samples_per_request,
        encoder: BodyEncoder::default(),
        written: Vec::new(),
        samples: 0,
    };
    // Each chunk goes out as soon as it is built, so only one is ever in memory; the cycle's
    // own samples follow the last chunk's in the same request (a small cycle is one request).
    // Cleared on every way out, a failed write's included.
    struct Shown<'p>(&'p mut Progress);
    impl Drop for Shown<'_> {
        fn drop(&mut self) {
            self.0.finish();
        }
    }
    let shown = Shown(progress);
    while let Some(set) = cycle.next_chunk() {
        out.write(set)?;
        shown.0.chunk(&cycle.progress(out.samples));
    }
    drop(shown);
    let p = cycle.finish_in(kept.take());
    log_summary(&p, cfg);
    out.write_own(p.set, kept)?;
    out.flush()?;
    let mut next = p.next;
    next.next_seq = state.next_seq + out.written.len() as u64;
    let synced = outboxes.iter().try_for_each(|o| o.queue.lock().expect("queue lock").sync_dir());
    if let Err(e) = synced {
        out.discard();
        return Err(e).context("writing the cycle's batches to the queue");
    }
    if let Err(e) = next.save(&cfg.state_dir, state) {
        out.discard();
        return Err(e).context("committing the cycle's state");
    }
    *state = next;
    let CycleWriter { written, samples, .. } = out;
    let batches = written.len();
    for (o, d) in outboxes.iter().zip(&cfg.destinations) {
        let dropped = o.queue.lock().expect("queue lock").admit(written.clone());
        match dropped {
            Ok(gone) if !gone.is_empty() => {
                let n: u64 = gone.iter().map(|e| e.samples).sum();
                warn!(
                    destination = %o.name,
                    batches = gone.len(),
                    samples = n,
                    max_bytes = d.queue_max_bytes,
                    "queue full: the oldest batches of this destination were dropped"
                );
                o.count_dropped(Reason::QueueFull, n);
            }
            Ok(_) => {}
            Err(e) => warn!(destination = %o.name, error = %e, "cannot enforce the queue cap"),
        }
        o.wake.notify_one();
    }
    info!(new_jobs = p.new_jobs, samples, batches, "cycle queued");
    Ok(Enqueued { new_jobs: p.new_jobs, samples, batches })
}
