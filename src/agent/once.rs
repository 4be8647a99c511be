//! `costpush once`: one cycle, then everything queued delivered (or left queued, with an error);
//! and `once --dry-run`: the cycle's samples as text, with no network and nothing written.

use std::time::SystemTime;

use anyhow::Context as _;
use tracing::{error, info, warn};

use super::commit::{enqueue_cycle, from_stats, open_queue};
use super::cycle::{log_summary, prepare};
use super::state::State;
use super::{queue_dir, Enqueued};
use crate::config::Config;
use crate::delivery::client::HttpTransport;
use crate::delivery::queue::Queue;
use crate::delivery::retry::Backoff;
use crate::delivery::sender::{Drained, Sender};
use crate::delivery::stats::Stats;
use crate::ingest::outside::OutsideData;

/// What `once` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceOutcome {
    pub enqueued: Enqueued,
    pub drained: Drained,
}

pub(super) fn backoff(cfg: &Config) -> Backoff {
    Backoff { min: cfg.remote_write.min_backoff, max: cfg.remote_write.max_backoff }
}

/// `costpush once --dry-run`: the samples in text exposition; no network, nothing written.
pub fn dry_run(cfg: &Config, now: SystemTime) -> anyhow::Result<String> {
    let state = State::load(&cfg.state_dir)?;
    let dir = queue_dir(&cfg.state_dir);
    let (bytes, batches) = Queue::peek(&dir);
    let delivery = from_stats(&Stats::load(&dir.join("stats.json")), bytes, batches);
    // No query API and no fetch: a dry run touches no network.
    let outside = OutsideData::new(cfg, false);
    let p = prepare(cfg, &state, &outside, delivery, now);
    log_summary(&p, cfg);
    Ok(p.set.to_text())
}

/// `costpush once`: one cycle, then deliver everything queued (this cycle's and any left from
/// before). Fails if something stays queued or was dropped.
pub async fn once(cfg: &Config) -> anyhow::Result<OnceOutcome> {
    let _lock = crate::agent::state::lock(&cfg.state_dir)?;
    let mut state = State::load(&cfg.state_dir)?;
    let (outbox, corrupt) = open_queue(cfg, &mut state)?;
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
    let cycle = enqueue_cycle(cfg, &mut state, &mut outside, &outbox, SystemTime::now());
    if let Err(e) = &cycle {
        error!("{e:#}; delivering what was queued before");
    }
    let transport = HttpTransport::new(&cfg.remote_write).context("building the HTTP client")?;
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let sender =
        Sender::new(transport, outbox.clone(), backoff(cfg), Some(cfg.remote_write.max_attempts), stop);
    let drained = sender.drain().await;
    let enqueued = match cycle {
        Ok(e) => e,
        Err(e) => {
            let pending = outbox.queue.lock().expect("queue lock").len();
            return Err(e.context(format!(
                "this cycle was not queued; of what was queued before, {pending} batches remain"
            )));
        }
    };
    match drained {
        Ok(_) if corrupt > 0 => anyhow::bail!(
            "{corrupt} queue files in {} were corrupt and removed (see the log above); everything else was delivered",
            queue_dir(&cfg.state_dir).display()
        ),
        Ok(drained) if drained.dropped == 0 => Ok(OnceOutcome { enqueued, drained }),
        Ok(drained) => anyhow::bail!(
            "{} samples were dropped (refused by the receiver, too large, or in a corrupt queue file; see the log above)",
            drained.dropped
        ),
        Err((_, why)) => {
            let pending = outbox.queue.lock().expect("queue lock").len();
            anyhow::bail!(
                "remote write to {}: {why}; {pending} batches stay queued in {} for the next run",
                crate::util::redact_url(&cfg.remote_write.url),
                queue_dir(&cfg.state_dir).display()
            )
        }
    }
}
