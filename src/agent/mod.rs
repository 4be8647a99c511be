//! The agent: a cycle (scan → parse → compute → build → queue → commit), the `once` and
//! `run` modes around it, and shutdown.
//!
//! A cycle reads what changed, builds the samples of the new jobs and of the agent itself,
//! writes them to the durable queue in bounded batches, and commits its state (files read, jobs
//! taken, counters advanced, next queue number). The sender delivers the queue separately,
//! oldest batch first. So a sample the agent has taken in is either acknowledged by the receiver
//! or on disk waiting to be sent, and a job is taken in once (see `queue` and `state`).

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tracing::{debug, info, warn};

pub mod state;

use crate::compute::report as calc;
use crate::config::Config;
use crate::ingest::outside::{External, Resolution};
use std::collections::BTreeMap;

use crate::agent::state::ForecastCache;
use crate::agent::state::{FileState, FileStatus, State};
use crate::compute::history::{self, History, TrainingRow};
use crate::compute::predict::{self, NoModel};
use crate::delivery::client::{Backoff, HttpTransport};
use crate::delivery::queue::Queue;
use crate::delivery::sender::{Drained, Reason, Sender, Shared, Stats};
use crate::domain::Job;
use crate::ingest::results::{self, FileError, Severity};
use crate::samples::catalogue::{self, CycleStats, DeliveryStats, EncodePrediction, Insights, ModelState};
use crate::samples::{BodyEncoder, SeriesSet};

/// A cycle's samples and the state to commit once they are queued.
pub struct Prepared {
    pub set: SeriesSet,
    pub next: State,
    pub stats: CycleStats,
    pub new_jobs: usize,
    pub jobs_without_power: usize,
    pub too_old: u64,
    pub too_new: u64,
}

/// What a cycle put in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub new_jobs: usize,
    pub samples: usize,
    pub batches: usize,
}

/// What `once` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceOutcome {
    pub enqueued: Enqueued,
    pub drained: Drained,
}

/// The queue directory inside the state directory.
pub fn queue_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("queue")
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

/// Jobs read per chunk of a cycle: a cycle with more new jobs than this (a backfill) is built
/// and queued in chunks of whole files, so its memory stays bounded (about 35 samples a job).
pub const CHUNK_JOBS: usize = 1000;

/// One cycle, built in chunks: [`Cycle::next_chunk`] reads files until about [`CHUNK_JOBS`]
/// new jobs are in, computes them and returns their samples; [`Cycle::finish`] adds the
/// cycle's own samples and every counter. Reads files; writes nothing.
pub struct Cycle<'a> {
    cfg: &'a Config,
    ext: &'a External,
    prev: &'a State,
    next: State,
    stats: CycleStats,
    files: Vec<PathBuf>,
    pos: usize,
    /// Jobs met this cycle and not in `next.jobs`: this chunk's, and those waiting for energy.
    seen_now: BTreeSet<u64>,
    now_ms: i64,
    stamps: catalogue::Stamps,
    new_jobs: usize,
    jobs_without_power: usize,
    window: (u64, u64),
    non_finite: u64,
    skipped: BTreeMap<&'static str, u64>,
    /// The power model the last chunk fitted: the history's training jobs do not change after
    /// it, so `finish` reuses it instead of fitting again.
    model: Option<Result<predict::PowerModel, NoModel>>,
}

impl<'a> Cycle<'a> {
    pub fn new(
        cfg: &'a Config,
        state: &'a State,
        ext: &'a External,
        delivery: DeliveryStats,
        now: SystemTime,
    ) -> Cycle<'a> {
        let now_ms = crate::util::time::unix_ms(now);
        let mut next = state.clone();
        let mut stats = CycleStats { delivery, ..CycleStats::default() };
        let (files, dir_errors) = list_files(&cfg.results_dirs, &cfg.pattern);
        for e in dir_errors {
            warn!("{e}");
        }
        stats.files_matched = files.len() as u64;
        // Forget files that are gone; their jobs stay remembered in `jobs`.
        next.files.retain(|p, _| files.binary_search(p).is_ok());
        if next.history.is_none() && !state.jobs.is_empty() {
            // A state from before the history existed: rebuild it from the files.
            next.history = Some(rebuild_history(cfg, &files, state, now_ms));
        }
        Cycle {
            cfg,
            ext,
            prev: state,
            next,
            stats,
            files,
            pos: 0,
            seen_now: BTreeSet::new(),
            now_ms,
            stamps: catalogue::Stamps::default(),
            new_jobs: 0,
            jobs_without_power: 0,
            window: (0, 0),
            non_finite: 0,
            skipped: BTreeMap::new(),
            model: None,
        }
    }

    fn ctx(&self) -> catalogue::Host<'a> {
        catalogue::Host {
            name: &self.cfg.host,
            region: &self.cfg.regions[&self.cfg.region],
            regions: &self.cfg.regions,
            rates: &self.ext.book,
            dated_rates: self.ext.dated_rates(),
            reporting: &self.cfg.reporting,
            extra_labels: &self.cfg.remote_write.extra_labels,
            version: env!("CARGO_PKG_VERSION"),
            cores_without_cpu_samples: self.cfg.cores_without_cpu_samples,
        }
    }

    /// The samples of the next chunk of new jobs; `None` when every file has been read.
    pub fn next_chunk(&mut self) -> Option<SeriesSet> {
        if self.pos >= self.files.len() {
            return None;
        }
        let mut jobs: Vec<(Job, Option<crate::domain::Measured>)> = Vec::new();
        while self.pos < self.files.len() && jobs.len() < CHUNK_JOBS {
            let path = self.files[self.pos].clone();
            self.pos += 1;
            self.read_file(&path, &mut jobs);
        }
        let cfg = self.cfg;
        let here = &cfg.regions[&cfg.region];
        let baseline = idle_baseline(cfg, &mut self.next, &jobs);
        self.stats.baseline = baseline;
        let inputs = calc::Inputs {
            here,
            regions: &cfg.regions,
            cores_without_samples: cfg.cores_without_cpu_samples,
            embodied: cfg.carbon.embodied,
            baseline,
        };
        let ext = self.ext;
        let reports: Vec<calc::JobReport> = jobs
            .iter_mut()
            .map(|(j, m)| {
                let window = (j.end_s - j.run_s, j.end_s);
                let r = calc::report(j, *m, &|r| ext.intensity(r, window.0, window.1), &inputs);
                // The samples are integrated: only memory from here on.
                j.power_watts = Vec::new();
                j.cpu_cores = Vec::new();
                r
            })
            .collect();
        self.jobs_without_power += reports.iter().filter(|r| r.energy_j.is_none()).count();
        self.new_jobs += jobs.len();
        let pairs: Vec<(&Job, &calc::JobReport)> = jobs.iter().map(|(j, _)| j).zip(reports.iter()).collect();
        let predictions =
            job_predictions(cfg, &mut self.next, &pairs, self.now_ms, &mut self.skipped, &mut self.model);
        let mut set = SeriesSet::default();
        let ctx = self.ctx();
        catalogue::build_jobs(
            &ctx,
            &pairs,
            &predictions,
            &mut self.stamps,
            &mut self.next.counters,
            &mut set,
        );
        let (old, new) = catalogue::count_window(&set, self.now_ms, cfg.target_retention.as_millis() as i64);
        self.window = (self.window.0 + old, self.window.1 + new);
        self.non_finite += set.non_finite();
        self.next.jobs.extend(jobs.iter().map(|(j, _)| j.id));
        // The jobs taken in are known by `next.jobs` now; only the waiting ones stay here.
        let taken = &self.next.jobs;
        self.seen_now.retain(|id| !taken.contains(*id));
        Some(set)
    }

    /// Reads one results file if it changed, and adds its new jobs (with their measured power)
    /// to `out`; jobs a source may still cover wait, and the file is read again next cycle.
    fn read_file(&mut self, path: &Path, out: &mut Vec<(Job, Option<crate::domain::Measured>)>) {
        let now_s = self.now_ms as f64 / 1000.0;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                warn!(file = %path.display(), error = %e, "cannot stat results file");
                self.stats.files_unreadable += 1;
                return;
            }
        };
        let (len, mtime) = (meta.len(), mtime_ns(&meta));
        let prev = self.prev.files.get(path);
        if prev.is_some_and(|f| f.len == len && f.mtime_ns == mtime && !f.deferred) {
            return;
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                warn!(file = %path.display(), error = %e, "cannot read results file");
                self.stats.files_unreadable += 1;
                return;
            }
        };
        let hash = crate::util::hash::content_hash(&bytes);
        if let Some(p) = prev.filter(|f| f.hash == hash && !f.deferred) {
            // Touched but not changed.
            self.next.files.insert(path.to_path_buf(), FileState { len, mtime_ns: mtime, ..p.clone() });
            return;
        }
        let mut reported = prev.map(|f| f.reported.clone()).unwrap_or_default();
        let status = match results::parse(&bytes) {
            Err(FileError::Incomplete(why)) => {
                warn!(file = %path.display(), reason = %why, "results file is incomplete; it is read again when it changes");
                self.stats.files_incomplete += 1;
                FileStatus::Incomplete
            }
            Err(FileError::Malformed(why)) => {
                warn!(file = %path.display(), reason = %why, "results file is malformed and skipped");
                self.stats.files_malformed += 1;
                FileStatus::Malformed
            }
            Ok(mut parsed) => {
                // A job ending far ahead of this clock would drag every counter into the
                // future (they never go back); it is skipped until its file changes.
                parsed.jobs.retain(|j| {
                    let ahead_ms = (j.end_s * 1000.0) as i64 - self.now_ms;
                    if ahead_ms <= catalogue::MAX_FUTURE_MS {
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
                    let key = crate::util::hash::fnv1a(p.to_string().as_bytes());
                    if reported.insert(key) {
                        warn!("{}: {p}", path.display());
                        match p.severity {
                            Severity::JobDropped => self.stats.jobs_invalid += 1,
                            Severity::FieldLeftOut => self.stats.fields_left_out += 1,
                            Severity::Notice => {}
                        }
                    }
                }
                let mut deferred = false;
                for job in parsed.jobs {
                    if self.next.jobs.contains(job.id) || !self.seen_now.insert(job.id) {
                        continue;
                    }
                    match self.ext.resolve(self.cfg, &job, now_s, &mut self.stats.energy_misses) {
                        // Read again next cycle; the job is not taken in yet.
                        Resolution::Wait => {
                            deferred = true;
                            self.stats.jobs_waiting += 1;
                        }
                        Resolution::Measured(m) => out.push((job, Some(m))),
                        Resolution::Unknown => out.push((job, None)),
                    }
                }
                if prev.is_none_or(|f| f.hash != hash) {
                    self.stats.files_ingested += 1;
                }
                self.next.files.insert(
                    path.to_path_buf(),
                    FileState {
                        len,
                        mtime_ns: mtime,
                        hash,
                        status: FileStatus::Ingested,
                        reported,
                        deferred,
                    },
                );
                return;
            }
        };
        self.next.files.insert(
            path.to_path_buf(),
            FileState { len, mtime_ns: mtime, hash, status, reported, deferred: false },
        );
    }

    /// The cycle's own samples and every counter, and the state to commit.
    pub fn finish(mut self) -> Prepared {
        let cfg = self.cfg;
        let ext = self.ext;
        let mut insights =
            cycle_insights(cfg, &mut self.next, self.new_jobs > 0, self.model.take(), self.now_ms);
        insights.predictions_skipped = std::mem::take(&mut self.skipped).into_iter().collect();
        let mut stats = self.stats.clone();
        stats.ecb_fetch_failures =
            ext.tallies.ecb_fetch_failures.swap(0, std::sync::atomic::Ordering::Relaxed);
        stats.rapl_read_failures =
            ext.tallies.rapl_read_failures.swap(0, std::sync::atomic::Ordering::Relaxed);
        stats.rapl_readings = ext.rapl.as_ref().map(|r| r.ring.lock().expect("rapl ring lock").len() as u64);
        if stats.baseline.is_none() {
            stats.baseline = idle_baseline(cfg, &mut self.next, &[]);
        }
        if stats.jobs_waiting > 0 {
            info!(
                jobs = stats.jobs_waiting,
                "jobs wait for an energy source to cover their run; taken in a later cycle"
            );
        }
        let ctx = self.ctx();
        let counters = std::mem::take(&mut self.next.counters);
        let retention_ms = cfg.target_retention.as_millis() as i64;
        let built = catalogue::build_cycle(
            &ctx,
            &insights,
            counters,
            &stats,
            self.now_ms,
            retention_ms,
            self.window,
            self.non_finite,
        );
        let mut next = self.next;
        next.counters = built.counters;
        Prepared {
            set: built.set,
            next,
            stats,
            new_jobs: self.new_jobs,
            jobs_without_power: self.jobs_without_power,
            too_old: built.too_old,
            too_new: built.too_new,
        }
    }
}

/// Reads what changed since `state`, computes every new job and builds the cycle's samples, in
/// one set (for a dry run and for tests; the agent queues chunk by chunk). Reads files; writes
/// nothing.
pub fn prepare(
    cfg: &Config,
    state: &State,
    ext: &External,
    delivery: DeliveryStats,
    now: SystemTime,
) -> Prepared {
    let mut cycle = Cycle::new(cfg, state, ext, delivery, now);
    let mut jobs = SeriesSet::default();
    while let Some(set) = cycle.next_chunk() {
        jobs.merge(set);
    }
    let mut p = cycle.finish();
    p.set.merge(jobs);
    p
}

/// The idle power to subtract this cycle: the latest baseline scenario measured (this cycle's
/// included, remembered in the state), else the configured watts.
fn idle_baseline(
    cfg: &Config,
    next: &mut State,
    jobs: &[(Job, Option<crate::domain::Measured>)],
) -> Option<crate::domain::Baseline> {
    let b = &cfg.energy.baseline;
    if b.from_scenarios {
        for (job, m) in jobs {
            if let Some(m) = m.filter(|_| job.scenario.to_lowercase().contains("baseline")) {
                if next.idle_baseline.is_none_or(|(end, _)| job.end_s > end) {
                    next.idle_baseline = Some((job.end_s, m.mean_power_w));
                }
            }
        }
        if let Some((_, w)) = next.idle_baseline {
            return Some(crate::domain::Baseline { watts: w, kind: "measured" });
        }
    }
    b.watts.map(|w| crate::domain::Baseline { watts: w, kind: "configured" })
}

/// Rebuilds the history from every results file: the jobs already taken in (by identity).
fn rebuild_history(cfg: &Config, files: &[PathBuf], state: &State, now_ms: i64) -> History {
    let here = &cfg.regions[&cfg.region];
    let mut jobs = Vec::new();
    let mut seen = BTreeSet::new();
    for path in files {
        let Ok(bytes) = std::fs::read(path) else { continue };
        let Ok(parsed) = results::parse(&bytes) else { continue };
        jobs.extend(parsed.jobs.into_iter().filter(|j| state.jobs.contains(j.id) && seen.insert(j.id)));
    }
    // From the files' own samples: what a query API or the RAPL ring said then is not kept.
    let reports: Vec<calc::JobReport> = jobs
        .iter()
        .map(|j| calc::report_from_file(j, here, &cfg.regions, cfg.cores_without_cpu_samples))
        .collect();
    let pairs: Vec<(&Job, &calc::JobReport)> = jobs.iter().zip(&reports).collect();
    let mut h = History::new(cfg.forecast.bucket_seconds);
    h.add(&pairs, now_ms as f64 / 1000.0, cfg.forecast.history_buckets, cfg.predictions.max_jobs);
    // the buckets rebuilt were pushed before (or are past): start pushing from now on
    h.pushed_until = h.bucket_of(now_ms as f64 / 1000.0);
    info!(jobs = jobs.len(), buckets = h.buckets.len(), "rebuilt the history from the results files");
    h
}

/// A power model fitted this cycle, or why there is none.
type Fitted = Result<predict::PowerModel, NoModel>;

/// Adds a chunk's jobs to the history and predicts each one's power with the model fitted on
/// the history as it now stands, which replaces `model` (kept as is when nothing was fitted:
/// predictions off, or no jobs). Jobs without a prediction are counted in `skipped` by reason.
fn job_predictions(
    cfg: &Config,
    next: &mut State,
    pairs: &[(&Job, &calc::JobReport)],
    now_ms: i64,
    skipped: &mut BTreeMap<&'static str, u64>,
    model: &mut Option<Fitted>,
) -> Vec<Option<crate::stats::regress::Prediction>> {
    if !cfg.forecast.enabled && !cfg.predictions.enabled {
        return Vec::new();
    }
    let h = next.history.get_or_insert_with(|| History::new(cfg.forecast.bucket_seconds));
    h.add(pairs, now_ms as f64 / 1000.0, cfg.forecast.history_buckets, cfg.predictions.max_jobs);
    if !cfg.predictions.enabled || pairs.is_empty() {
        return Vec::new();
    }
    // The old fit (its design and factorisation) goes before the new one is made, not after.
    *model = None;
    let rows: Vec<TrainingRow> = h.jobs.iter().collect();
    let fitted = model.insert(predict::power_model(&rows, cfg.predictions.min_jobs));
    match fitted {
        Ok(m) => pairs
            .iter()
            .map(|(job, r)| match history::features(job, r) {
                None => {
                    *skipped.entry("missing_features").or_default() += 1;
                    None
                }
                Some((rate, bitrate, fps, enc, preset)) => {
                    let p = m.predict(rate, bitrate, fps, &enc, &preset);
                    if p.is_none() {
                        *skipped.entry("unknown_level").or_default() += 1;
                    }
                    p
                }
            })
            .collect(),
        Err(_) => {
            *skipped.entry("no_model").or_default() += pairs.len() as u64;
            Vec::new()
        }
    }
}

/// The model's state and the what-if encodes (from the history after every chunk), and the
/// projections and newly complete buckets.
fn cycle_insights(
    cfg: &Config,
    next: &mut State,
    had_jobs: bool,
    fitted: Option<Fitted>,
    now_ms: i64,
) -> Insights {
    let mut ins = Insights { sigma2: predict::sigma2_name(cfg.forecast.sigma2), ..Insights::default() };
    if !cfg.forecast.enabled && !cfg.predictions.enabled {
        return ins;
    }
    let now_s = now_ms as f64 / 1000.0;
    let h = next.history.get_or_insert_with(|| History::new(cfg.forecast.bucket_seconds));
    // Extends the buckets to now (quiet hours are zeros) when no job came in.
    h.add(&[], now_s, cfg.forecast.history_buckets, cfg.predictions.max_jobs);

    if cfg.predictions.enabled {
        let fitted = fitted.unwrap_or_else(|| {
            let rows: Vec<TrainingRow> = h.jobs.iter().collect();
            predict::power_model(&rows, cfg.predictions.min_jobs)
        });
        match fitted {
            Ok(m) => {
                ins.model = Some(ModelState::Fitted {
                    n: m.ols.n,
                    p: m.ols.rank,
                    r2: m.ols.r2,
                    adj_r2: m.ols.adj_r2,
                    rmse: m.ols.rmse,
                    condition_number: m.ols.condition_number,
                    loo_coverage: m.ols.loo_coverage(0.95),
                    rank_deficient: m.rank_deficient(),
                    ill_conditioned: m.ill_conditioned(),
                });
                ins.encodes = cfg
                    .predictions
                    .whatif
                    .iter()
                    .filter_map(|e| {
                        m.predict_encode(e).map(|power| EncodePrediction {
                            name: e.name.clone(),
                            duration_s: e.duration_seconds,
                            power,
                        })
                    })
                    .collect();
            }
            Err(no) => {
                ins.model = Some(ModelState::Unavailable(match no {
                    NoModel::TooFewJobs { .. } => "too_few_jobs",
                    NoModel::FitFailed(_) => "fit_failed",
                }));
            }
        }
    } else {
        ins.model = Some(ModelState::Unavailable("disabled"));
    }

    if cfg.forecast.enabled {
        let current = h.bucket_of(now_s);
        // Refit when a bucket starts, or when new jobs may end a "too short" wait.
        let fresh = next
            .forecast_cache
            .as_ref()
            .is_none_or(|c| c.bucket != current || (had_jobs && c.projections.iter().any(Result::is_err)));
        if fresh {
            let projections = predict::project(h, now_s, &cfg.forecast);
            for p in &projections {
                if let Err(no) = p {
                    info!(quantity = no.quantity.as_str(), reason = %no.reason, "no projection yet");
                }
            }
            next.forecast_cache = Some(ForecastCache { bucket: current, projections });
            let half_bucket_ms = (cfg.forecast.bucket_seconds as i64 * 1000 / 2).max(1);
            // grows with every forecast (a new bucket, or new jobs within one): no two share stamps
            let issue = current + next.jobs.len() as i64;
            ins.curve_offset_ms = Some(issue.rem_euclid(half_bucket_ms));
        }
        let cache = next.forecast_cache.as_ref().expect("set above");
        // totals and diagnostics every cycle; a missing projection is counted once per bucket
        ins.projections = cache.projections.iter().filter(|p| fresh || p.is_ok()).cloned().collect();
        let h = next.history.as_mut().expect("set above");
        let bs_ms = cfg.forecast.bucket_seconds as i64 * 1000;
        ins.buckets =
            h.complete(now_s).filter(|(i, _)| *i >= h.pushed_until).map(|(i, b)| (i * bs_ms, *b)).collect();
        h.pushed_until = h.pushed_until.max(current);
    }
    ins
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

/// The delivery figures for the agent's own metrics.
fn delivery_stats(shared: &Shared) -> DeliveryStats {
    let (bytes, batches) = {
        let q = shared.queue.lock().expect("queue lock");
        (q.bytes(), q.len() as u64)
    };
    from_stats(&shared.stats(), bytes, batches)
}

fn from_stats(s: &Stats, queue_bytes: u64, queue_batches: u64) -> DeliveryStats {
    DeliveryStats {
        queue_bytes,
        queue_batches,
        sent_samples: s.sent_samples,
        retried_samples: s.retried_samples,
        dropped: Reason::ALL.iter().map(|r| (r.as_str(), s.dropped(*r))).collect(),
        last_success_ms: s.last_success_ms,
        backoff_seconds: s.backoff.as_secs_f64(),
    }
}

/// Opens the queue of a state directory, cleaning up after an uncommitted cycle.
pub fn open_queue(cfg: &Config, state: &State) -> anyhow::Result<Arc<Shared>> {
    let dir = queue_dir(&cfg.state_dir);
    let (queue, rec) = Queue::open(&dir, cfg.remote_write.queue_max_bytes, state.next_seq)?;
    if rec.uncommitted > 0 {
        info!(batches = rec.uncommitted, "removed the batches of a cycle that did not commit; it runs again");
    }
    if rec.corrupt > 0 {
        warn!(files = rec.corrupt, "removed unreadable queue files");
    }
    Ok(Shared::new(queue, &dir))
}

/// Writes a cycle's samples to the queue as request bodies of up to `max` samples, each body as
/// soon as it is full; a body may hold samples of several chunks.
struct CycleWriter<'a> {
    shared: &'a Shared,
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
        let (shared, first_seq, written) = (self.shared, self.first_seq, &mut self.written);
        let result = set
            .write_bodies(self.max, &mut self.encoder, |body, n| queue(shared, first_seq, written, body, n));
        self.check(result)
    }

    /// Writes the last, partly filled body.
    fn flush(&mut self) -> anyhow::Result<()> {
        let (shared, first_seq, written) = (self.shared, self.first_seq, &mut self.written);
        let result = self.encoder.flush(|body, n| queue(shared, first_seq, written, body, n));
        self.check(result)
    }

    fn check(&mut self, result: Result<(), crate::delivery::queue::QueueError>) -> anyhow::Result<()> {
        if let Err(e) = result {
            self.shared.queue.lock().expect("queue lock").discard(&self.written);
            return Err(e).context("writing the cycle's batches to the queue");
        }
        Ok(())
    }
}

/// Writes one body to the queue as the cycle's next batch.
fn queue(
    shared: &Shared,
    first_seq: u64,
    written: &mut Vec<crate::delivery::queue::Entry>,
    body: &[u8],
    samples: u64,
) -> Result<(), crate::delivery::queue::QueueError> {
    let e =
        shared.queue.lock().expect("queue lock").write(first_seq + written.len() as u64, body, samples)?;
    written.push(e);
    Ok(())
}

/// One cycle: build it chunk by chunk, writing each chunk's batches to the queue as it goes
/// (so a backfill of any size needs the memory of one chunk), then commit the state and wake
/// the sender. The batches become deliverable only with the commit.
pub fn enqueue_cycle(
    cfg: &Config,
    state: &mut State,
    ext: &mut External,
    shared: &Shared,
    now: SystemTime,
) -> anyhow::Result<Enqueued> {
    ext.refresh();
    let mut cycle = Cycle::new(cfg, state, ext, delivery_stats(shared), now);
    let mut out = CycleWriter {
        shared,
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
    report(&p, cfg);
    out.write(p.set)?;
    out.flush()?;
    let CycleWriter { written, samples, .. } = out;
    let mut next = p.next;
    {
        let q = shared.queue.lock().expect("queue lock");
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
    let dropped = shared.queue.lock().expect("queue lock").admit(written);
    match dropped {
        Ok(d) if !d.is_empty() => {
            let n: u64 = d.iter().map(|e| e.samples).sum();
            warn!(
                batches = d.len(),
                samples = n,
                max_bytes = cfg.remote_write.queue_max_bytes,
                "queue full: the oldest batches were dropped"
            );
            shared.count_dropped(Reason::QueueFull, n);
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "cannot enforce the queue cap"),
    }
    shared.wake.notify_one();
    info!(new_jobs = p.new_jobs, samples, batches, "cycle queued");
    Ok(Enqueued { new_jobs: p.new_jobs, samples, batches })
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
async fn cycle_apart(
    cfg: &Arc<Config>,
    state: &mut State,
    ext: &mut Option<External>,
    shared: &Arc<Shared>,
) -> anyhow::Result<anyhow::Result<Enqueued>> {
    let (cfg, shared) = (Arc::clone(cfg), Arc::clone(shared));
    let (mut st, mut ex) = (std::mem::take(state), ext.take().expect("External is back after each cycle"));
    let (done_tx, done) = tokio::sync::oneshot::channel();
    let (copied, copied_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("costpush-cycle".into())
        .spawn(move || {
            let result = enqueue_cycle(&cfg, &mut st, &mut ex, &shared, SystemTime::now());
            let st = Arc::new(st);
            if done_tx.send((result, Arc::clone(&st), ex)).is_ok() {
                let _ = copied_rx.recv();
            }
            drop(st);
        })
        .context("starting the cycle's thread")?;
    let Ok((result, st, ex)) = done.await else {
        // The thread ended without a result: it panicked, and so does the daemon, as it did
        // when the cycle ran on the runtime's thread.
        std::panic::resume_unwind(thread.join().expect_err("the cycle's thread ended without a result"));
    };
    *state = State::clone(&st);
    *ext = Some(ex);
    drop(st);
    let _ = copied.send(());
    // The thread only drops its copy and exits; its cached blocks go back to its arena before
    // the caller trims.
    let _ = thread.join();
    Ok(result)
}

fn backoff(cfg: &Config) -> Backoff {
    Backoff { min: cfg.remote_write.min_backoff, max: cfg.remote_write.max_backoff }
}

/// `costpush once --dry-run`: the samples in text exposition; no network, nothing written.
pub fn dry_run(cfg: &Config, now: SystemTime) -> anyhow::Result<String> {
    let state = State::load(&cfg.state_dir)?;
    let dir = queue_dir(&cfg.state_dir);
    let (bytes, batches) = Queue::peek(&dir);
    let delivery = from_stats(&Stats::load(&dir.join("stats.json")), bytes, batches);
    // No query API and no fetch: a dry run touches no network.
    let ext = External::new(cfg, false);
    let p = prepare(cfg, &state, &ext, delivery, now);
    report(&p, cfg);
    Ok(p.set.to_text())
}

/// `costpush once`: one cycle, then deliver everything queued (this cycle's and any left from
/// before). Fails if something stays queued or was dropped.
pub async fn once(cfg: &Config) -> anyhow::Result<OnceOutcome> {
    let _lock = crate::agent::state::lock(&cfg.state_dir)?;
    let mut state = State::load(&cfg.state_dir)?;
    let shared = open_queue(cfg, &state)?;
    let mut ext = External::new(cfg, true);
    if let Some(ecb) = cfg.ecb.as_ref().filter(|e| e.url.is_some()) {
        if crate::ingest::outside::ecb_cache_stale(&cfg.state_dir, ecb.fetch_every) {
            match crate::ingest::outside::fetch_ecb(ecb, &cfg.state_dir).await {
                Ok(days) => info!(days, "fetched ECB exchange rates"),
                Err(e) => {
                    ext.tallies.ecb_fetch_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    warn!("fetching ECB exchange rates: {e}; the cached rates stay in use");
                }
            }
        }
    }
    let enqueued = enqueue_cycle(cfg, &mut state, &mut ext, &shared, SystemTime::now())?;
    let transport = HttpTransport::new(&cfg.remote_write).context("building the HTTP client")?;
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let sender =
        Sender::new(transport, shared.clone(), backoff(cfg), Some(cfg.remote_write.max_attempts), stop);
    match sender.drain().await {
        Ok(drained) if drained.dropped == 0 => Ok(OnceOutcome { enqueued, drained }),
        Ok(drained) => anyhow::bail!(
            "{} samples were dropped (refused by the receiver or too large; see the log above)",
            drained.dropped
        ),
        Err((_, why)) => {
            let pending = shared.queue.lock().expect("queue lock").len();
            anyhow::bail!(
                "remote write to {}: {why}; {pending} batches stay queued in {} for the next run",
                cfg.remote_write.url,
                queue_dir(&cfg.state_dir).display()
            )
        }
    }
}

/// The daemon: the sender runs on its own; a cycle runs at start, then at each schedule tick,
/// until `shutdown` completes. Ticks that arrive while a cycle runs are merged into one.
///
/// On shutdown no new cycle starts; the sender stops at once if it is waiting, or after the
/// request on the wire, bounded by the grace period. What is not delivered stays queued.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    use tokio_cron_scheduler::{Job as CronJob, JobScheduler};

    let cfg = Arc::new(cfg);
    let _lock = crate::agent::state::lock(&cfg.state_dir)?;
    let mut state = State::load(&cfg.state_dir)?;
    let shared = open_queue(&cfg, &state)?;
    let transport = HttpTransport::new(&cfg.remote_write).context("building the HTTP client")?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let sender = Sender::new(transport, shared.clone(), backoff(&cfg), None, stop);
    let mut sender_task = tokio::spawn(async move { sender.run().await });
    let ext = External::new(&cfg, true);
    if let Some(r) = &ext.rapl {
        tokio::spawn(crate::ingest::outside::rapl_loop(r.clone(), ext.tallies.clone(), stop_tx.subscribe()));
    }
    if let Some(ecb) = cfg.ecb.clone().filter(|e| e.url.is_some()) {
        let (dir, tallies) = (cfg.state_dir.clone(), ext.tallies.clone());
        tokio::spawn(crate::ingest::outside::ecb_fetch_loop(ecb, dir, tallies, stop_tx.subscribe()));
    }
    // Lent to each cycle's thread and given back.
    let mut ext = Some(ext);

    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    // One job whose ticks are merged anyway: the scheduler's ten internal channels need not hold
    // 200 messages each, as they do by default (about 190 kB of the idle daemon's heap).
    let mut sched = JobScheduler::new_with_channel_size(8).await.context("starting the scheduler")?;
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
                // A cycle is local work (read, compute, write the queue) and is not interrupted,
                // so a shutdown never leaves a half-written cycle behind.
                let result = cycle_apart(&cfg, &mut state, &mut ext, &shared).await?;
                if let Err(e) = result {
                    warn!(error = format!("{e:#}"), "cycle failed; the same files are read again next cycle");
                }
                crate::util::memory::release_free_memory();
            }
        }
    }
    info!(grace_s = cfg.shutdown_grace.as_secs_f64(), "stopping");
    let _ = stop_tx.send(true);
    let _ = sched.shutdown().await;
    if tokio::time::timeout(cfg.shutdown_grace, &mut sender_task).await.is_err() {
        sender_task.abort();
        warn!("grace period over: the request on the wire was abandoned; its batch stays queued");
    }
    let pending = shared.queue.lock().expect("queue lock").len();
    info!(batches_queued = pending, "costpush stopped");
    Ok(())
}

/// Registers the SIGTERM and SIGINT handlers now, so that a signal arriving while the daemon
/// starts up is not fatal, and returns a future that completes on the first of them. Needs a
/// tokio runtime context.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => debug!("SIGTERM"),
            _ = int.recv() => debug!("SIGINT"),
        }
    })
}
