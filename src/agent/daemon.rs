//! `costpush run`: the sender beside the cycles, a cycle at start and then on the schedule, each
//! on a thread of its own, until shutdown; a reloaded configuration starts it all again.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context as _;
use tracing::{error, info, warn, Instrument as _};

use super::commit::{enqueue_cycle, open_outboxes};
use super::once::backoff;
use super::progress::{Progress, ProgressMode};
use super::state::State;
use super::Enqueued;
use crate::config::Config;
use crate::delivery::client::HttpTransport;
use crate::delivery::outbox::Outbox;
use crate::delivery::sender::Sender;
use crate::ingest::outside::OutsideData;

/// The daemon: each destination's sender runs on its own; a cycle runs at start, then at each
/// schedule tick, until `shutdown` completes. Ticks that arrive while a cycle runs are merged
/// into one.
///
/// A configuration from `reloads` (SIGHUP, checked already) takes over between cycles: the
/// running cycle finishes, the senders stop after the request on the wire, and everything
/// starts again on the new configuration, with a cycle at once. If it cannot start (its state
/// directory is locked, say), the running configuration starts again and the daemon goes on.
///
/// On shutdown no new cycle starts; each sender stops at once if it is waiting, or after the
/// request on the wire, bounded by the grace period. What is not delivered stays queued.
pub async fn run(
    cfg: Config,
    mut reloads: tokio::sync::mpsc::Receiver<Config>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let mut cfg = cfg;
    let mut agent = Agent::start(Arc::new(cfg.clone())).await?;
    loop {
        match agent.serve(&mut reloads, &mut shutdown).await? {
            Ended::Shutdown => return Ok(()),
            Ended::Reload(new) => match Agent::start(Arc::new((*new).clone())).await {
                Ok(a) => {
                    info!("configuration reloaded");
                    (agent, cfg) = (a, *new);
                }
                Err(e) => {
                    error!(
                        error = format!("{e:#}"),
                        "the reloaded configuration cannot start; the running one goes on"
                    );
                    agent = Agent::start(Arc::new(cfg.clone())).await?;
                }
            },
        }
    }
}

/// Why [`Agent::serve`] returned.
enum Ended {
    Shutdown,
    Reload(Box<Config>),
}

/// The daemon on one configuration: its lock, state, queues, senders and schedule.
struct Agent {
    cfg: Arc<Config>,
    /// Given up when the agent stops; forgotten (held until the exit) when a cycle is left
    /// behind at shutdown.
    lock: Option<crate::agent::state::StateLock>,
    state: State,
    outboxes: Vec<Arc<Outbox>>,
    senders: tokio::task::JoinSet<()>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    /// Lent to each cycle's thread and given back.
    outside: Option<OutsideData>,
    sched: tokio_cron_scheduler::JobScheduler,
    ticks: tokio::sync::mpsc::Receiver<()>,
}

impl Agent {
    async fn start(cfg: Arc<Config>) -> anyhow::Result<Agent> {
        use tokio_cron_scheduler::{Job as CronJob, JobScheduler};

        let lock = crate::agent::state::lock(&cfg.state_dir)?;
        let mut state = State::load(&cfg.state_dir)?;
        let (outboxes, _) = open_outboxes(&cfg, &mut state)?;
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let mut transports = Vec::with_capacity(cfg.destinations.len());
        for d in &cfg.destinations {
            transports.push(
                HttpTransport::new(d)
                    .with_context(|| format!("building the HTTP client of destination {:?}", d.name))?,
            );
        }
        let (tx, ticks) = tokio::sync::mpsc::channel::<()>(1);
        // One job whose ticks are merged anyway: the scheduler's ten internal channels need not
        // hold 200 messages each, as they do by default (about 190 kB of the idle daemon's heap).
        let sched = JobScheduler::new_with_channel_size(8).await.context("starting the scheduler")?;
        let tick = tx.clone();
        sched
            .add(
                CronJob::new_async(cfg.schedule.as_str(), move |_, _| {
                    let tick = tick.clone();
                    Box::pin(async move {
                        let _ = tick.try_send(());
                    })
                })
                .with_context(|| format!("schedule {:?}", cfg.schedule))?,
            )
            .await
            .context("adding the schedule")?;
        sched.start().await.context("starting the scheduler")?;
        let _ = tx.try_send(());

        let mut senders = tokio::task::JoinSet::new();
        let metadata = Arc::new(super::metadata_body());
        for ((d, outbox), transport) in cfg.destinations.iter().zip(&outboxes).zip(transports) {
            let sender = Sender::new(transport, outbox.clone(), backoff(d), None, stop.clone())
                .with_metadata(metadata.clone());
            let span = tracing::info_span!("destination", name = %d.name);
            senders.spawn(async move { sender.run().await }.instrument(span));
        }
        let mut outside = OutsideData::new(&cfg, true);
        if let Some(r) = outside.sample_rapl() {
            tokio::spawn(crate::ingest::outside::rapl_loop(r, outside.tallies.clone(), stop_tx.subscribe()));
        }
        if let Some(ecb) = cfg.ecb.clone().filter(|e| e.url.is_some()) {
            let (dir, tallies) = (cfg.state_dir.clone(), outside.tallies.clone());
            tokio::spawn(crate::ingest::outside::ecb_fetch_loop(ecb, dir, tallies, stop_tx.subscribe()));
        }
        info!(schedule = %cfg.schedule, host = %cfg.host, region = %cfg.region, "costpush running");
        Ok(Agent {
            cfg,
            lock: Some(lock),
            state,
            outboxes,
            senders,
            stop_tx,
            outside: Some(outside),
            sched,
            ticks,
        })
    }

    /// Cycles on the schedule until shutdown or a reload; then stops the senders (within the
    /// grace period) and the schedule, and gives up the lock.
    async fn serve(
        mut self,
        reloads: &mut tokio::sync::mpsc::Receiver<Config>,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> anyhow::Result<Ended> {
        let cfg = Arc::clone(&self.cfg);
        let stopping =
            self.outside.as_ref().map(OutsideData::stopping).expect("OutsideData is here between cycles");
        let mut progress = Some(Progress::new(ProgressMode::Log));
        let (deadline, ended) = loop {
            tokio::select! {
                // A tick that arrives with the signal starts no cycle.
                biased;
                _ = shutdown.as_mut() => break (tokio::time::Instant::now() + cfg.shutdown_grace, Ended::Shutdown),
                Some(new) = reloads.recv() => {
                    info!("reloading the configuration: stopping the senders");
                    break (tokio::time::Instant::now() + cfg.shutdown_grace, Ended::Reload(Box::new(new)));
                }
                Some(()) = self.ticks.recv() => {
                    let cycle = cycle_on_own_thread(&cfg, &mut self.state, &mut self.outside, &self.outboxes, &mut progress);
                    tokio::pin!(cycle);
                    let result = tokio::select! {
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
                                    break (deadline, Ended::Shutdown);
                                }
                            }
                            break (deadline, Ended::Shutdown);
                        }
                    };
                    log_cycle(result);
                    crate::util::memory::release_free_memory();
                }
            }
        };
        let ended =
            Agent::stop_parts(self.stop_tx, self.sched, self.senders, &self.outboxes, deadline, ended).await;
        drop(self.lock);
        Ok(ended)
    }

    /// Stops what runs beside the cycles: the senders (within the grace), the schedule.
    async fn stop_parts(
        stop_tx: tokio::sync::watch::Sender<bool>,
        mut sched: tokio_cron_scheduler::JobScheduler,
        mut senders: tokio::task::JoinSet<()>,
        outboxes: &[Arc<Outbox>],
        deadline: tokio::time::Instant,
        ended: Ended,
    ) -> Ended {
        let _ = stop_tx.send(true);
        let _ = sched.shutdown().await;
        if tokio::time::timeout_at(deadline, async { while senders.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            senders.abort_all();
            warn!("grace period over: a request on the wire was abandoned; its batch stays queued");
        }
        for o in outboxes {
            let pending = o.queue.lock().expect("queue lock").len();
            info!(destination = %o.name, batches_queued = pending, "queue at stop");
        }
        if matches!(ended, Ended::Shutdown) {
            info!("costpush stopped");
        }
        ended
    }
}

fn log_cycle(result: anyhow::Result<Enqueued>) {
    if let Err(e) = result {
        warn!(error = format!("{e:#}"), "cycle failed; the same files are read again next cycle");
    }
}

/// The daemon's cycle: [`enqueue_cycle`] on a thread of its own, awaited; the caller keeps a
/// fresh copy of the state it committed.
///
/// The runtime's thread stays free meanwhile, so the sender keeps sending while a cycle takes
/// seconds (a backfill, or model selection when a new bucket starts). And glibc gives each new
/// thread a malloc arena of its own: everything short-lived a cycle allocates (files, reports,
/// samples, bodies) comes from that arena, and the state that outlives the cycle is copied out of
/// it rather than left spread over the pages between the cycle's freed blocks. The cycle's own
/// thread frees its copy (a block freed on another thread would wait in that thread's cache and
/// hold its page), so its arena ends up free as a whole for `malloc_trim` (idle memory after a
/// backfill: BENCHMARKS.md, round 5). The copy costs what `Cycle::new`'s clone costs.
///
/// The outer error is fatal: no thread could be started, and the state lent to it is gone with
/// it (the state on disk is intact: nothing was committed).
async fn cycle_on_own_thread(
    cfg: &Arc<Config>,
    state: &mut State,
    outside: &mut Option<OutsideData>,
    outboxes: &[Arc<Outbox>],
    progress: &mut Option<Progress>,
) -> anyhow::Result<anyhow::Result<Enqueued>> {
    let (cfg, outboxes) = (Arc::clone(cfg), outboxes.to_vec());
    let mut shown = progress.take().expect("Progress is back after each cycle");
    let (mut st, mut lent) =
        (std::mem::take(state), outside.take().expect("OutsideData is back after each cycle"));
    let (done_tx, done) = tokio::sync::oneshot::channel();
    let (copied, copied_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("costpush-cycle".into())
        .spawn(move || {
            let result = enqueue_cycle(&cfg, &mut st, &mut lent, &outboxes, SystemTime::now(), &mut shown);
            let st = Arc::new(st);
            if done_tx.send((result, Arc::clone(&st), lent, shown)).is_ok() {
                let _ = copied_rx.recv();
            }
            drop(st);
        })
        .context("starting the cycle's thread")?;
    let Ok((result, st, lent, shown)) = done.await else {
        // The thread ended without a result: it panicked, and so does the daemon, as it did
        // when the cycle ran on the runtime's thread.
        std::panic::resume_unwind(thread.join().expect_err("the cycle's thread ended without a result"));
    };
    *state = State::clone(&st);
    *outside = Some(lent);
    *progress = Some(shown);
    drop(st);
    let _ = copied.send(());
    // The thread only drops its copy and exits; its cached blocks go back to its arena before
    // the caller trims.
    let _ = thread.join();
    Ok(result)
}
