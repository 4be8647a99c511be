//! A cycle into the queue: its samples written as request bodies, batch by batch, each chunk as
//! soon as it is built; then the directory fsynced, the state committed, and the batches made
//! deliverable. Only the commit makes a cycle count (see `ARCHITECTURE.md`, durability).

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context as _;
use tracing::{error, info, warn};

use super::cycle::{log_summary, Cycle};
use super::state::State;
use super::{queue_dir, Enqueued};
use crate::config::Config;
use crate::delivery::queue::Queue;
use crate::delivery::sender::Outbox;
use crate::delivery::stats::{Reason, Stats};
use crate::ingest::outside::OutsideData;
use crate::samples::catalogue::DeliveryStats;
use crate::samples::{BodyEncoder, SeriesSet};

/// The delivery figures for the agent's own metrics.
pub(super) fn delivery_stats(outbox: &Outbox) -> DeliveryStats {
    let (bytes, batches) = {
        let q = outbox.queue.lock().expect("queue lock");
        (q.bytes(), q.len() as u64)
    };
    from_stats(&outbox.stats(), bytes, batches)
}

pub(super) fn from_stats(s: &Stats, queue_bytes: u64, queue_batches: u64) -> DeliveryStats {
    DeliveryStats {
        queue_bytes,
        queue_batches,
        sent_samples: s.sent_samples,
        retried_samples: s.retried_samples,
        dropped: Reason::ALL.iter().map(|r| (r.as_str(), s.dropped(*r))).collect(),
        corrupt_files: s.corrupt_files,
        last_success_ms: s.last_success_ms,
        backoff_seconds: s.backoff.as_secs_f64(),
    }
}

/// Opens the queue of a state directory, cleaning up after an uncommitted cycle. Also returns
/// how many queue files were corrupt (removed, counted and logged as errors).
///
/// Without a state file nothing tells a committed batch from an uncommitted one, so every batch
/// is kept and sent (at worst one cycle goes out twice) rather than deleting committed data, and
/// `state` numbers its next batch after them.
pub fn open_queue(cfg: &Config, state: &mut State) -> anyhow::Result<(Arc<Outbox>, u64)> {
    let dir = queue_dir(&cfg.state_dir);
    let saved = cfg.state_dir.join(crate::agent::state::FILE_NAME).exists();
    let committed = if saved { state.next_seq } else { u64::MAX };
    let (queue, rec) = Queue::open(&dir, cfg.remote_write.queue_max_bytes, committed)?;
    if !saved && !queue.is_empty() {
        warn!(
            batches = queue.len(),
            "no state file, but batches are queued: they are kept and sent (every job is read again, and one cycle may go out twice)"
        );
        state.next_seq = state.next_seq.max(queue.next_seq());
    }
    if rec.uncommitted > 0 {
        info!(batches = rec.uncommitted, "removed the batches of a cycle that did not commit; it runs again");
    }
    let outbox = Outbox::new(queue, &dir);
    if rec.corrupt > 0 {
        error!(
            files = %rec.corrupt_names.join(", "),
            samples = rec.corrupt_samples,
            dir = %dir.display(),
            "removed corrupt queue files (truncated, empty or with a damaged header); their samples are lost (the count is what the readable headers said)"
        );
        outbox.count_corrupt(rec.corrupt, rec.corrupt_samples);
    }
    Ok((outbox, rec.corrupt))
}

/// Writes a cycle's samples to the queue as request bodies of up to `max` samples, each body as
/// soon as it is full; a body may hold samples of several chunks.
struct CycleWriter<'a> {
    outbox: &'a Outbox,
    first_seq: u64,
    max: usize,
    encoder: BodyEncoder,
    /// The batches written so far (removed again if the cycle fails).
    written: Vec<crate::delivery::queue::Entry>,
    samples: usize,
}

impl CycleWriter<'_> {
    fn write(&mut self, set: SeriesSet) -> anyhow::Result<()> {
        self.samples += set.sample_count();
        let (outbox, first_seq, written) = (self.outbox, self.first_seq, &mut self.written);
        let result = set
            .write_bodies(self.max, &mut self.encoder, |body, n| queue(outbox, first_seq, written, body, n));
        self.check(result)
    }

    /// Writes the last, partly filled body.
    fn flush(&mut self) -> anyhow::Result<()> {
        let (outbox, first_seq, written) = (self.outbox, self.first_seq, &mut self.written);
        let result = self.encoder.flush(|body, n| queue(outbox, first_seq, written, body, n));
        self.check(result)
    }

    fn check(&mut self, result: Result<(), crate::delivery::queue::QueueError>) -> anyhow::Result<()> {
        if let Err(e) = result {
            self.outbox.queue.lock().expect("queue lock").discard(&self.written);
            return Err(e).context("writing the cycle's batches to the queue");
        }
        Ok(())
    }
}

/// Writes one body to the queue as the cycle's next batch.
fn queue(
    outbox: &Outbox,
    first_seq: u64,
    written: &mut Vec<crate::delivery::queue::Entry>,
    body: &[u8],
    samples: u64,
) -> Result<(), crate::delivery::queue::QueueError> {
    let e =
        outbox.queue.lock().expect("queue lock").write(first_seq + written.len() as u64, body, samples)?;
    written.push(e);
    Ok(())
}

/// One cycle: build it chunk by chunk, writing each chunk's batches to the queue as it goes
/// (so a backfill of any size needs the memory of one chunk), then commit the state and wake
/// the sender. The batches become deliverable only with the commit.
pub fn enqueue_cycle(
    cfg: &Config,
    state: &mut State,
    outside: &mut OutsideData,
    outbox: &Outbox,
    now: SystemTime,
) -> anyhow::Result<Enqueued> {
    outside.refresh();
    let mut cycle = Cycle::new(cfg, state, outside, delivery_stats(outbox), now);
    let mut out = CycleWriter {
        outbox,
        first_seq: state.next_seq,
        max: cfg.remote_write.max_samples_per_request,
        encoder: BodyEncoder::default(),
        written: Vec::new(),
        samples: 0,
    };
    // Each chunk goes out as soon as it is built, so only one is ever in memory; the cycle's
    // own samples follow the last chunk's in the same request (a small cycle is one request).
    while let Some(set) = cycle.next_chunk() {
        out.write(set)?;
    }
    let p = cycle.finish();
    log_summary(&p, cfg);
    out.write(p.set)?;
    out.flush()?;
    let CycleWriter { written, samples, .. } = out;
    let mut next = p.next;
    {
        let q = outbox.queue.lock().expect("queue lock");
        if let Err(e) = q.sync_dir() {
            q.discard(&written);
            return Err(e).context("writing the cycle's batches to the queue");
        }
        next.next_seq = state.next_seq + written.len() as u64;
        if let Err(e) = next.save(&cfg.state_dir) {
            q.discard(&written);
            return Err(e).context("committing the cycle's state");
        }
    }
    *state = next;
    let batches = written.len();
    let dropped = outbox.queue.lock().expect("queue lock").admit(written);
    match dropped {
        Ok(d) if !d.is_empty() => {
            let n: u64 = d.iter().map(|e| e.samples).sum();
            warn!(
                batches = d.len(),
                samples = n,
                max_bytes = cfg.remote_write.queue_max_bytes,
                "queue full: the oldest batches were dropped"
            );
            outbox.count_dropped(Reason::QueueFull, n);
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "cannot enforce the queue cap"),
    }
    outbox.wake.notify_one();
    info!(new_jobs = p.new_jobs, samples, batches, "cycle queued");
    Ok(Enqueued { new_jobs: p.new_jobs, samples, batches })
}
