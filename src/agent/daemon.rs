//! `costpush run`: the destinations' senders beside the cycles, a cycle at start and then on the
//! schedule, each on a thread of its own, until shutdown; a reloaded configuration starts it all
//! again.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context as _;
use tracing::{error, info, warn, Instrument as _};

use super::commit::{enqueue_cycle, open_outboxes};
use super::once::backoff;
use super::progress::{Progress, ProgressMode};
use super::schedule::Schedule;
use super::state::{State, StateLock};
use super::Enqueued;
use crate::config::Config;
use crate::delivery::client::HttpTransport;
use crate::delivery::outbox::Outbox;
use crate::delivery::sender::Sender;
use crate::ingest::outside::{OutsideData, Tallies};
use crate::samples::KeptSeries;

/// The daemon: each destination's sender runs on its own; a cycle runs at start, then at each
/// schedule tick, until `shutdown` completes. Ticks missed while a cycle runs come as one, when
/// it ends.
///
/// A configuration from `reloads` (SIGHUP, checked already) takes over between cycles: the
/// running cycle finishes, the senders stop after the request on the wire, and everything
/// starts again on the new configuration, with a cycle at once. The state directory's lock is
/// handed over, not released. If the new configuration cannot start (its state directory is
/// another agent's, say), the running one starts again and the daemon goes on.
///
/// On shutdown no new cycle starts; each sender stops at once if it is waiting, or after the
/// request on the wire, bounded by the grace period. What is not delivered stays queued.
pub async fn run(
    cfg: Config,
    mut reloads: tokio::sync::mpsc::Receiver<Config>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    // Before any request could load a library.
    crate::util::memory::note_code_mappings();
    let mut cfg = Arc::new(cfg);
    let mut agent = Agent::start(Arc::clone(&cfg), Held::default()).await.map_err(|(e, _)| e)?;
    let result = loop {
        match agent.serve(&mut reloads, &mut shutdown).await {
            Err(e) => break Err(e),
            Ok((Ended::Shutdown, _)) => break Ok(()),
            Ok((Ended::Reload(new), held)) => {
                if new.state_dir != cfg.state_dir {
                    warn!(
                        old = %cfg.state_dir.display(),
                        new = %new.state_dir.display(),
                        "state_dir changed: the agent goes on from the new directory's own state and queue; what is queued in the old one stays there"
                    );
                }
                let new = Arc::new(*new);
                match Agent::start(Arc::clone(&new), held).await {
                    Ok(a) => {
                        info!("configuration reloaded");
                        (agent, cfg) = (a, new);
                    }
                    Err((e, held)) => {
                        error!(
                            error = format!("{e:#}"),
                            "the reloaded configuration cannot start; the running one goes on"
                        );
                        match Agent::start(Arc::clone(&cfg), held).await {
                            Ok(a) => agent = a,
                            Err((e, _)) => break Err(e),
                        }
                    }
                }
            }
        }
    };
    if result.is_ok() {
        info!("costpush stopped");
    }
    result
}

/// Why [`Agent::serve`] returned.
enum Ended {
    Shutdown,
    Reload(Box<Config>),
}

/// What one agent hands to the next at a reload.
#[derive(Default)]
struct Held {
    /// The lock on a state directory, with that directory.
    lock: Option<(PathBuf, StateLock)>,
    /// Counts of the fetch and the sampler not yet taken by a cycle.
    tallies: Option<Arc<Tallies>>,
}

/// The daemon on one configuration: its lock, state, queues, senders, schedule and background
/// tasks.
struct Agent {
    cfg: Arc<Config>,
    /// Handed on at a reload; forgotten (held until the exit) when a cycle is left behind at
    /// shutdown.
    lock: Option<StateLock>,
    state: State,
    outboxes: Vec<Arc<Outbox>>,
    senders: tokio::task::JoinSet<()>,
    /// The RAPL sampler and the ECB fetch.
    background: tokio::task::JoinSet<()>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    /// Lent to each cycle's thread and given back.
    outside: Option<OutsideData>,
    schedule: Schedule,
}

impl Agent {
    /// Starts an agent on `cfg`: the lock (the one held, if it is for the same directory), the
    /// state and queues, the senders, the background tasks and the schedule. On failure, what
    /// was held comes back.
    async fn start(cfg: Arc<Config>, held: Held) -> Result<Agent, (anyhow::Error, Held)> {
        let Held { lock: held_lock, tallies } = held;
        // The lock on the same directory is handed over; a lock on another one is kept until
        // this start has succeeded, so a failed start gives it back untouched.
        let (lock, prev) = match held_lock {
            Some((dir, lock)) if dir == cfg.state_dir => (lock, None),
            other => match crate::agent::state::lock(&cfg.state_dir) {
                Ok(lock) => (lock, other),
                Err(e) => return Err((e.into(), Held { lock: other, tallies })),
            },
        };
        let dir = cfg.state_dir.clone();
        let give_back = move |e: anyhow::Error, lock: StateLock, tallies: Option<Arc<Tallies>>| {
            (e, Held { lock: prev.or(Some((dir, lock))), tallies })
        };
        let mut state = match State::load(&cfg.state_dir) {
            Ok(s) => s,
            Err(e) => return Err(give_back(e.into(), lock, tallies)),
        };
        let outboxes = match open_outboxes(&cfg, &mut state) {
            Ok((o, _)) => o,
            Err(e) => return Err(give_back(e, lock, tallies)),
        };
        let mut transports = Vec::with_capacity(cfg.destinations.len());
        for d in &cfg.destinations {
            match HttpTransport::new(d) {
                Ok(t) => transports.push(t),
                Err(e) => {
                    let e = anyhow::Error::new(e)
                        .context(format!("building the HTTP client of destination {:?}", d.name));
                    return Err(give_back(e, lock, tallies));
                }
            }
        }
        let schedule = match Schedule::new(&cfg.schedule) {
            Ok(s) => s,
            Err(e) => {
                let e = anyhow::Error::new(e).context(format!("schedule {:?}", cfg.schedule));
                return Err(give_back(e, lock, tallies));
            }
        };

        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let mut senders = tokio::task::JoinSet::new();
        let metadata = Arc::new(super::metadata_body());
        for ((d, outbox), transport) in cfg.destinations.iter().zip(&outboxes).zip(transports) {
            let sender = Sender::new(transport, outbox.clone(), backoff(d), None, stop.clone());
            let sender = if d.send_metadata { sender.with_metadata(metadata.clone()) } else { sender };
            let span = tracing::info_span!("destination", name = %d.name);
            senders.spawn(async move { sender.run().await }.instrument(span));
        }
        let mut outside = OutsideData::new(&cfg, true);
        if let Some(t) = tallies {
            outside.tallies = t;
        }
        let mut background = tokio::task::JoinSet::new();
        if let Some(r) = outside.sample_rapl() {
            background.spawn(crate::ingest::outside::rapl_loop(
                r,
                outside.tallies.clone(),
                stop_tx.subscribe(),
            ));
        }
        if let Some(ecb) = cfg.ecb.clone().filter(|e| e.url.is_some()) {
            let (dir, tallies) = (cfg.state_dir.clone(), outside.tallies.clone());
            background.spawn(crate::ingest::outside::ecb_fetch_loop(ecb, dir, tallies, stop_tx.subscribe()));
        }
        info!(schedule = %cfg.schedule, host = %cfg.host, region = %cfg.region, "costpush running");
        Ok(Agent {
            cfg,
            lock: Some(lock),
            state,
            outboxes,
            senders,
            background,
            stop_tx,
            outside: Some(outside),
            schedule,
        })
    }

    /// Cycles at once and then on the schedule's ticks until shutdown or a reload; then stops
    /// the senders (within the grace period) and the background tasks, and hands back the lock
    /// and the tallies.
    async fn serve(
        mut self,
        reloads: &mut tokio::sync::mpsc::Receiver<Config>,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> anyhow::Result<(Ended, Held)> {
        let cfg = Arc::clone(&self.cfg);
        let stopping =
            self.outside.as_ref().map(OutsideData::stopping).expect("OutsideData is here between cycles");
        let mut carried =
            Some(Carried { progress: Progress::new(ProgressMode::Log), kept: KeptSeries::default() });
        if self.schedule.next_tick().is_none() {
            warn!(schedule = %cfg.schedule, "the schedule has no tick to come: only the cycle at start runs");
        }
        let mut at_start = true;
        let (deadline, ended) = loop {
            tokio::select! {
                // A tick that arrives with the signal starts no cycle.
                biased;
                _ = shutdown.as_mut() => break (tokio::time::Instant::now() + cfg.shutdown_grace, Ended::Shutdown),
                Some(new) = reloads.recv() => {
                    info!("reloading the configuration: stopping the senders");
                    break (tokio::time::Instant::now() + cfg.shutdown_grace, Ended::Reload(Box::new(new)));
                }
                () = due(&mut self.schedule, &mut at_start) => {
                    let cycle = cycle_on_own_thread(&cfg, &mut self.state, &mut self.outside, &self.outboxes, &mut carried);
                    tokio::pin!(cycle);
                    let result = tokio::select! {
                        // Fatal (no thread for the cycle): dropping the agent aborts its tasks
                        // and releases the lock; what is queued stays queued.
                        r = &mut cycle => r?,
                        _ = shutdown.as_mut() => {
                            // The sender stops waiting at once; the cycle asks the query API no
                            // more and finishes its local work within the grace, or is left
                            // behind. A cycle left behind may still commit before the process
                            // exits (the lock is held until then); if it does not, it runs again
                            // from the same files at the next start.
                            let deadline = tokio::time::Instant::now() + cfg.shutdown_grace;
                            info!(grace_s = cfg.shutdown_grace.as_secs_f64(), "stopping; waiting for the running cycle");
                            let _ = self.stop_tx.send(true);
                            stopping.store(true, std::sync::atomic::Ordering::Relaxed);
                            match tokio::time::timeout_at(deadline, &mut cycle).await {
                                Ok(r) => log_cycle(r?),
                                Err(_) => {
                                    warn!("grace period over: the running cycle was left behind; if it does not commit before the exit, it runs again at the next start");
                                    std::mem::forget(self.lock.take());
                                }
                            }
                            break (deadline, Ended::Shutdown);
                        }
                    };
                    log_cycle(result);
                    crate::util::memory::release_idle_memory();
                }
            }
        };
        if ended.is_reload() {
            info!(grace_s = cfg.shutdown_grace.as_secs_f64(), "stopping the senders for the reload");
        } else {
            info!(grace_s = cfg.shutdown_grace.as_secs_f64(), "stopping");
        }
        let _ = self.stop_tx.send(true);
        if tokio::time::timeout_at(deadline, async { while self.senders.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            self.senders.abort_all();
            warn!("grace period over: a request on the wire was abandoned; its batch stays queued");
        }
        // The sampler stops at once; an ECB fetch under way is cut off (the cache is written
        // whole or not at all), before the lock is handed on.
        self.background.abort_all();
        while self.background.join_next().await.is_some() {}
        for o in &self.outboxes {
            let pending = o.queue.lock().expect("queue lock").len();
            info!(destination = %o.name, batches_queued = pending, "queue at stop");
        }
        let tallies = self.outside.take().map(|o| o.tallies);
        let lock = self.lock.take().map(|l| (cfg.state_dir.clone(), l));
        Ok((ended, Held { lock, tallies }))
    }
}

impl Ended {
    fn is_reload(&self) -> bool {
        matches!(self, Ended::Reload(_))
    }
}

/// Returns at once the first time (`at_start`), then at the schedule's next tick.
async fn due(schedule: &mut Schedule, at_start: &mut bool) {
    if !std::mem::take(at_start) {
        schedule.tick().await;
    }
}

fn log_cycle(result: anyhow::Result<Enqueued>) {
    if let Err(e) = result {
        warn!(error = format!("{e:#}"), "cycle failed; the same files are read again next cycle");
    }
}

/// What the daemon lends each cycle's thread besides the state, and gets back: the progress
/// log, and the series of the cycle's own samples (kept from one cycle to the next, so that an
/// idle cycle finds them all in place: [`KeptSeries`]; about one cycle's own series, which stay
/// where the cycle that added them allocated them).
struct Carried {
    progress: Progress,
    kept: KeptSeries,
}

/// The daemon's cycle: [`enqueue_cycle`] on a thread of its own, awaited; the caller keeps a
/// fresh copy of what the committed state changed, and shares the rest with the state before.
///
/// The runtime's thread stays free meanwhile, so the sender keeps sending while a cycle takes
/// seconds (a backfill, or model selection when a new bucket starts). And glibc gives each new
/// thread a malloc arena of its own: everything short-lived a cycle allocates (files, reports,
/// samples, bodies) comes from that arena, and the state that outlives the cycle is copied out of
/// it rather than left spread over the pages between the cycle's freed blocks. The cycle's own
/// thread frees its copy (a block freed on another thread would wait in that thread's cache and
/// hold its page), so its arena ends up free as a whole for `malloc_trim` (idle memory after a
/// backfill: BENCHMARKS.md, round 5). The copy costs what the cycle changed: nothing of the
/// part for an idle cycle.
///
/// The outer error is fatal: no thread could be started, and the state lent to it is gone with
/// it (the state on disk is intact: nothing was committed).
async fn cycle_on_own_thread(
    cfg: &Arc<Config>,
    state: &mut State,
    outside: &mut Option<OutsideData>,
    outboxes: &[Arc<Outbox>],
    carried: &mut Option<Carried>,
) -> anyhow::Result<anyhow::Result<Enqueued>> {
    let (cfg, outboxes) = (Arc::clone(cfg), outboxes.to_vec());
    let mut lent_too = carried.take().expect("what a cycle carries is back after each cycle");
    let before = state.parts();
    let (mut st, mut lent) =
        (std::mem::take(state), outside.take().expect("OutsideData is back after each cycle"));
    let (done_tx, done) = tokio::sync::oneshot::channel();
    let (copied, copied_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("costpush-cycle".into())
        .spawn(move || {
            let Carried { progress, kept } = &mut lent_too;
            let result =
                enqueue_cycle(&cfg, &mut st, &mut lent, &outboxes, SystemTime::now(), progress, kept);
            let st = Arc::new(st);
            if done_tx.send((result, Arc::clone(&st), lent, lent_too)).is_ok() {
                let _ = copied_rx.recv();
            }
            drop(st);
        })
        .context("starting the cycle's thread")?;
    let Ok((result, st, lent, lent_too)) = done.await else {
        // The thread ended without a result: it panicked, and so does the daemon, as it did
        // when the cycle ran on the runtime's thread.
        std::panic::resume_unwind(thread.join().expect_err("the cycle's thread ended without a result"));
    };
    *state = st.copied_where_changed(&before);
    drop(before);
    *outside = Some(lent);
    *carried = Some(lent_too);
    drop(st);
    let _ = copied.send(());
    // The thread only drops its copy and exits; its cached blocks go back to its arena before
    // the caller trims.
    let _ = thread.join();
    Ok(result)
}
