//! `costpush once`: one cycle, then everything queued delivered (or left queued, with an error);
//! and `once --dry-run`: the cycle's samples as text, with no network and nothing written.

use std::time::SystemTime;

use anyhow::Context as _;
use tracing::{error, info, warn, Instrument as _};

use super::commit::{enqueue_cycle, from_stats, open_outboxes};
use super::cycle::{log_summary, Cycle};
use super::progress::{Progress, ProgressMode};
use super::state::State;
use super::Enqueued;
use crate::config::{Config, RemoteWrite};
use crate::delivery::client::HttpTransport;
use crate::delivery::outbox::{queue_dir, queues_root, STATS_FILE};
use crate::delivery::queue::Queue;
use crate::delivery::retry::Backoff;
use crate::delivery::sender::{Drained, Sender};
use crate::delivery::stats::Stats;
use crate::ingest::outside::OutsideData;
use crate::samples::{Declared, SeriesSet};

/// What `once` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceOutcome {
    pub enqueued: Enqueued,
    /// What each destination's sender delivered, in the order of the configuration.
    pub drained: Vec<Drained>,
}

pub(super) fn backoff(d: &RemoteWrite) -> Backoff {
    Backoff { min: d.min_backoff, max: d.max_backoff }
}

/// Samples a dry run gathers before it writes them out: the text costs per series written, so
/// chunks are merged up to this many (about 5 MiB of series) rather than written one by one.
const DRY_RUN_SAMPLES: usize = 100_000;

/// `costpush once --dry-run`: the samples in text exposition, written to `out` as the chunks of
/// jobs come (gathered up to 100,000 samples, each batch's series in output order, then the
/// cycle's own), so that its memory is a real cycle's plus one batch's; no network, nothing
/// written to the state directory.
pub fn dry_run(cfg: &Config, now: SystemTime, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let state = State::load(&cfg.state_dir)?;
    let delivery = cfg
        .destinations
        .iter()
        .map(|d| {
            let dir = queue_dir(&cfg.state_dir, &d.name);
            let (bytes, batches) = Queue::peek(&dir);
            from_stats(&d.name, &Stats::peek(&dir.join(STATS_FILE)), bytes, batches)
        })
        .collect();
    // No query API and no fetch: a dry run touches no network.
    let outside = OutsideData::new(cfg, false);
    let mut cycle = Cycle::new(cfg, &state, &outside, delivery, now);
    let (mut gathered, mut declared) = (SeriesSet::default(), Declared::default());
    while let Some(set) = cycle.next_chunk() {
        gathered.merge(set);
        if gathered.sample_count() >= DRY_RUN_SAMPLES {
            std::mem::take(&mut gathered).write_text(out, &mut declared)?;
        }
    }
    let mut p = cycle.finish();
    log_summary(&p, cfg);
    p.set.merge(gathered);
    p.set.write_text(out, &mut declared)?;
    out.flush()?;
    Ok(())
}

/// `costpush once`: one cycle, then deliver everything queued (this cycle's and any left from
/// before) to every destination at once. Fails if something stays queued or was dropped for any
/// destination.
pub async fn once(cfg: &Config) -> anyhow::Result<OnceOutcome> {
    once_with_progress(cfg, ProgressMode::None).await
}

/// [`once`], showing the cycle's progress as `mode` says.
pub async fn once_with_progress(cfg: &Config, mode: ProgressMode) -> anyhow::Result<OnceOutcome> {
    let _lock = crate::agent::state::lock(&cfg.state_dir)?;
    let mut state = State::load(&cfg.state_dir)?;
    let (outboxes, corrupt) = open_outboxes(cfg, &mut state)?;
    let mut outside = OutsideData::new(cfg, true);
    if let Some(ecb) = cfg.ecb.as_ref().filter(|e| e.url.is_some()) {
        if crate::ingest::outside::ecb_cache_stale(&cfg.state_dir, ecb.fetch_every) {
            match crate::ingest::outside::fetch_ecb(ecb, &cfg.state_dir).await {
                Ok(days) => info!(days, "fetched ECB exchange rates"),
                Err(e) => {
                    outside.tallies.ecb_fetch_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    warn!("fetching ECB exchange rates: {e}; the cached rates stay in use");
                }
            }
        }
    }
    // A cycle that cannot be queued (a full disk, say) must not keep what is queued already
    // from going out: that is delivered first, then the cycle's error is returned.
    let mut progress = Progress::new(mode);
    let mut kept = crate::samples::KeptSeries::default();
    let cycle =
        enqueue_cycle(cfg, &mut state, &mut outside, &outboxes, SystemTime::now(), &mut progress, &mut kept);
    if let Err(e) = &cycle {
        error!("{e:#}; delivering what was queued before");
    }
    let (_keep, stop) = tokio::sync::watch::channel(false);
    // Each destination drains on its own: one that is down does not hold up the others.
    let mut senders = tokio::task::JoinSet::new();
    let metadata = std::sync::Arc::new(super::metadata_body());
    for (i, (d, outbox)) in cfg.destinations.iter().zip(&outboxes).enumerate() {
        let transport = HttpTransport::new(d)
            .with_context(|| format!("building the HTTP client of destination {:?}", d.name))?;
        let sender = Sender::new(transport, outbox.clone(), backoff(d), Some(d.max_attempts), stop.clone());
        let sender = if d.send_metadata { sender.with_metadata(metadata.clone()) } else { sender };
        let span = tracing::info_span!("destination", name = %d.name);
        senders.spawn(async move { (i, sender.drain().await) }.instrument(span));
    }
    let mut results: Vec<_> = senders.join_all().await;
    results.sort_by_key(|(i, _)| *i);
    let enqueued = match cycle {
        Ok(e) => e,
        Err(e) => {
            let pending: usize = outboxes.iter().map(|o| o.queue.lock().expect("queue lock").len()).sum();
            return Err(e.context(format!(
                "this cycle was not queued; of what was queued before, {pending} batches remain (over all destinations)"
            )));
        }
    };
    let mut drained = Vec::with_capacity(results.len());
    let mut failures = Vec::new();
    for ((_, r), (d, outbox)) in results.into_iter().zip(cfg.destinations.iter().zip(&outboxes)) {
        match r {
            Ok(got) => {
                if got.dropped > 0 {
                    failures.push(format!(
                        "destination {:?}: {} samples were dropped (refused by the receiver, too large, or in a corrupt queue file; see the log above)",
                        d.name, got.dropped
                    ));
                }
                drained.push(got);
            }
            Err((got, why)) => {
                let pending = outbox.queue.lock().expect("queue lock").len();
                failures.push(format!(
                    "remote write to {} (destination {:?}): {why}; {pending} batches stay queued in {} for the next run",
                    crate::util::redact_url(&d.url),
                    d.name,
                    queue_dir(&cfg.state_dir, &d.name).display()
                ));
                drained.push(got);
            }
        }
    }
    if corrupt > 0 {
        failures.push(format!(
            "{corrupt} queue files under {} were corrupt and removed (see the log above)",
            queues_root(&cfg.state_dir).display()
        ));
    }
    if failures.is_empty() {
        Ok(OnceOutcome { enqueued, drained })
    } else {
        anyhow::bail!("{}", failures.join("; "))
    }
}
