//! The agent: one cycle (scan → parse → compute → build → push → commit) and the daemon loop
//! that runs cycles on the cron schedule until shutdown.
//!
//! A cycle never commits what the receiver has not acknowledged: the next [`State`] is built on
//! the side and saved only after every request of the cycle got a 2xx. If a push fails, or the
//! process dies, the next cycle starts from the old state, reads the same files, and re-sends the
//! same samples (identical values and timestamps), so nothing taken in is lost and no job is
//! counted twice.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tracing::{debug, info, warn};

use crate::calc;
use crate::config::Config;
use crate::metrics::{self, CycleStats, SeriesSet};
use crate::remote_write::{client::Client, encode};
use crate::results::{self, FileError, Job, Severity};
use crate::state::{FileState, FileStatus, State};

/// A cycle's samples and the state to commit once they are acknowledged.
pub struct Prepared {
    pub set: SeriesSet,
    pub next: State,
    pub stats: CycleStats,
    pub new_jobs: usize,
    pub jobs_without_power: usize,
    pub too_old: u64,
    pub too_new: u64,
}

/// Result of a cycle that reached the receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub new_jobs: usize,
    pub samples: usize,
    pub requests: usize,
    pub stats: CycleStats,
}

pub fn now_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn mtime_ns(m: &std::fs::Metadata) -> i128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Every file in `dirs` whose name matches, sorted, each once. Unreadable directories are
/// reported and skipped.
pub fn list_files(dirs: &[PathBuf], pattern: &glob::Pattern) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = BTreeSet::new();
    let mut errors = Vec::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(format!("{}: cannot list results directory: {e}", dir.display()));
                continue;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                warn!(file = %entry.path().display(), "file name is not UTF-8; not matched against the pattern");
                continue;
            };
            if pattern.matches(name)
                && entry.file_type().map(|t| t.is_file() || t.is_symlink()).unwrap_or(false)
            {
                files.insert(entry.path());
            }
        }
    }
    (files.into_iter().collect(), errors)
}

/// Reads what changed since `state`, computes every new job and builds the cycle's samples.
/// Reads files; writes nothing.
pub fn prepare(cfg: &Config, state: &State, now: SystemTime) -> Prepared {
    let now_ms = now_ms(now);
    let mut next = state.clone();
    let mut stats = CycleStats::default();
    let (files, dir_errors) = list_files(&cfg.results_dirs, &cfg.pattern);
    for e in dir_errors {
        warn!("{e}");
    }
    stats.files_matched = files.len() as u64;
    // Forget files that are gone; their jobs stay remembered in `jobs`.
    next.files.retain(|p, _| files.binary_search(p).is_ok());

    let mut new_jobs: Vec<Job> = Vec::new();
    let mut seen_now = BTreeSet::new();
    for path in &files {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                warn!(file = %path.display(), error = %e, "cannot stat results file");
                stats.files_unreadable += 1;
                continue;
            }
        };
        let (len, mtime) = (meta.len(), mtime_ns(&meta));
        let prev = state.files.get(path);
        if prev.is_some_and(|f| f.len == len && f.mtime_ns == mtime) {
            continue;
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                warn!(file = %path.display(), error = %e, "cannot read results file");
                stats.files_unreadable += 1;
                continue;
            }
        };
        let hash = results::fnv1a(&bytes);
        if let Some(p) = prev.filter(|f| f.hash == hash) {
            // Touched but not changed.
            next.files.insert(path.clone(), FileState { len, mtime_ns: mtime, ..p.clone() });
            continue;
        }
        let mut reported = prev.map(|f| f.reported.clone()).unwrap_or_default();
        let status = match results::parse(&bytes) {
            Err(FileError::Incomplete(why)) => {
                warn!(file = %path.display(), reason = %why, "results file is incomplete; it is read again when it changes");
                stats.files_incomplete += 1;
                FileStatus::Incomplete
            }
            Err(FileError::Malformed(why)) => {
                warn!(file = %path.display(), reason = %why, "results file is malformed and skipped");
                stats.files_malformed += 1;
                FileStatus::Malformed
            }
            Ok(mut parsed) => {
                // A job ending far ahead of this clock would drag every counter into the
                // future (they never go back); it is skipped until its file changes.
                parsed.jobs.retain(|j| {
                    let ahead_ms = (j.end_s * 1000.0) as i64 - now_ms;
                    if ahead_ms <= metrics::MAX_FUTURE_MS {
                        return true;
                    }
                    parsed.problems.push(results::Problem {
                        field: format!("scenarios[{}].end_time", j.index),
                        message: format!(
                            "{} s after this host's clock (more than 2 days ahead)",
                            ahead_ms / 1000
                        ),
                        severity: Severity::JobDropped,
                    });
                    false
                });
                for p in &parsed.problems {
                    let key = results::fnv1a(p.to_string().as_bytes());
                    if reported.insert(key) {
                        warn!("{}: {p}", path.display());
                        match p.severity {
                            Severity::JobDropped => stats.jobs_invalid += 1,
                            Severity::FieldLeftOut => stats.fields_left_out += 1,
                            Severity::Notice => {}
                        }
                    }
                }
                for job in parsed.jobs {
                    if !state.jobs.contains(&job.id) && seen_now.insert(job.id) {
                        new_jobs.push(job);
                    }
                }
                stats.files_ingested += 1;
                FileStatus::Ingested
            }
        };
        next.files.insert(path.clone(), FileState { len, mtime_ns: mtime, hash, status, reported });
    }

    let here = &cfg.regions[&cfg.region];
    let reports: Vec<calc::JobReport> =
        new_jobs.iter().map(|j| calc::report(j, here, &cfg.regions, cfg.cores_without_cpu_samples)).collect();
    let jobs_without_power = reports.iter().filter(|r| r.energy_j.is_none()).count();
    let pairs: Vec<(&Job, &calc::JobReport)> = new_jobs.iter().zip(reports.iter()).collect();
    let ctx = metrics::Context {
        host: &cfg.host,
        region: here,
        regions: &cfg.regions,
        rates: &cfg.rates,
        reporting: &cfg.reporting,
        extra_labels: &cfg.remote_write.extra_labels,
        version: env!("CARGO_PKG_VERSION"),
    };
    let retention_ms = cfg.target_retention.as_millis() as i64;
    let built = metrics::build(&ctx, &pairs, &state.counters, &stats, now_ms, retention_ms);
    next.counters = built.counters;
    next.jobs.extend(new_jobs.iter().map(|j| j.id));
    Prepared {
        set: built.set,
        next,
        stats,
        new_jobs: new_jobs.len(),
        jobs_without_power,
        too_old: built.too_old,
        too_new: built.too_new,
    }
}

/// Logs what a prepared cycle holds (once per cycle).
fn report(p: &Prepared, cfg: &Config) {
    if p.too_old > 0 || p.too_new > 0 {
        warn!(
            too_old = p.too_old,
            too_new = p.too_new,
            retention_days = cfg.target_retention.as_secs_f64() / 86_400.0,
            "samples stamped older than the target retention or more than 2 days ahead: VictoriaMetrics drops these silently while answering 204"
        );
    }
    if p.jobs_without_power > 0 {
        info!(
            jobs = p.jobs_without_power,
            "jobs without power samples: energy, energy cost and CO2 left out for them"
        );
    }
}

/// One cycle against the receiver: prepare, push every batch in order, then commit the state.
pub async fn cycle(
    cfg: &Config,
    client: &Client,
    state: &mut State,
    now: SystemTime,
) -> anyhow::Result<Outcome> {
    let p = prepare(cfg, state, now);
    report(&p, cfg);
    let samples = p.set.sample_count();
    let batches = encode::batches(p.set.into_series(), cfg.remote_write.max_samples_per_request);
    let requests = batches.len();
    for (i, b) in batches.iter().enumerate() {
        client.send(encode::body(b)).await.with_context(|| {
            format!("remote write to {} (request {} of {requests})", cfg.remote_write.url, i + 1)
        })?;
    }
    p.next.save(&cfg.state_dir).context("saving state after a successful push")?;
    *state = p.next;
    info!(new_jobs = p.new_jobs, samples, requests, "cycle pushed");
    Ok(Outcome { new_jobs: p.new_jobs, samples, requests, stats: p.stats })
}

/// `costpush once --dry-run`: the samples in text exposition; no network, no state written.
pub fn dry_run(cfg: &Config, now: SystemTime) -> anyhow::Result<String> {
    let state = State::load(&cfg.state_dir)?;
    let p = prepare(cfg, &state, now);
    report(&p, cfg);
    Ok(p.set.to_text())
}

/// `costpush once`: one cycle.
pub async fn once(cfg: &Config) -> anyhow::Result<Outcome> {
    let _lock = crate::state::lock(&cfg.state_dir)?;
    let mut state = State::load(&cfg.state_dir)?;
    let client = Client::new(&cfg.remote_write).context("building the HTTP client")?;
    cycle(cfg, &client, &mut state, SystemTime::now()).await
}

/// The daemon: a cycle at start, then one per schedule tick, until `shutdown` completes.
///
/// Ticks that arrive while a cycle runs are merged into one. On shutdown a running cycle is
/// abandoned before its commit, which loses nothing (see the module doc).
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    use tokio_cron_scheduler::{Job as CronJob, JobScheduler};

    let _lock = crate::state::lock(&cfg.state_dir)?;
    let mut state = State::load(&cfg.state_dir)?;
    let client = Client::new(&cfg.remote_write).context("building the HTTP client")?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut sched = JobScheduler::new().await.context("starting the scheduler")?;
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
    info!(schedule = %cfg.schedule, host = %cfg.host, region = %cfg.region, "costpush running");

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(()) = rx.recv() => {
                tokio::select! {
                    _ = &mut shutdown => {
                        info!("shutdown during a cycle: its samples are sent again next start");
                        break;
                    }
                    r = cycle(&cfg, &client, &mut state, SystemTime::now()) => {
                        if let Err(e) = r {
                            warn!(error = format!("{e:#}"), "cycle failed; the same data is retried next cycle");
                        }
                    }
                }
            }
        }
    }
    let _ = sched.shutdown().await;
    info!("costpush stopped");
    Ok(())
}

/// Waits for SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => debug!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => debug!("SIGINT"),
    }
}
