//! One cycle, in chunks: read the changed files (in the order their jobs end, see
//! `scan::reading_order`), take in their new jobs, compute them and build their samples, a
//! chunk of jobs at a time; then the cycle's own samples and every counter. A file over
//! [`scan::STREAM_ABOVE`] bytes is not held: its jobs wait as places in it (`LargeFile`), each
//! read again when its chunk comes. Reads files; writes nothing (see [`super::commit`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tracing::{info, warn};

use super::insights::{add_chunk, cycle_insights, idle_baseline, rebuild_history, Predicting};
use super::scan::{self, list_files, Content, Scan};
use super::state::{FileState, FileStatus, State};
use super::Prepared;
use crate::compute::history;
use crate::compute::job;
use crate::config::Config;
use crate::domain::Job;
use crate::ingest::outside::{OutsideData, Resolution};
use crate::ingest::results::{self, FileError, Severity};
use crate::samples::catalogue::{self, CycleStats, DeliveryStats};
use crate::samples::SeriesSet;
use crate::util::bounded;
use crate::util::shared::Shared;

/// Jobs built per chunk of a cycle: a cycle with more new jobs than this (a backfill) is built
/// and queued this many jobs at a time, so the samples in memory stay bounded (about 35 a job).
pub const CHUNK_JOBS: usize = 1000;

/// One cycle, built in chunks: `Cycle::next_chunk` reads groups of files until [`CHUNK_JOBS`]
/// new jobs are in, computes them and returns their samples; `Cycle::finish` adds the
/// cycle's own samples and every counter. Reads files; writes nothing.
pub struct Cycle<'a> {
    cfg: &'a Config,
    outside: &'a OutsideData,
    prev: &'a State,
    next: State,
    stats: CycleStats,
    files: Vec<PathBuf>,
    /// Each file's state as the last cycle left it, by its index in `files`.
    known: Vec<Option<&'a FileState>>,
    /// Indices into `files`, in the groups and order they are read in.
    order: Vec<Vec<usize>>,
    /// The next group of `order` to read.
    pos: usize,
    /// Files changed since the last cycle, and how many of them were read so far.
    files_total: usize,
    files_done: usize,
    /// The jobs the changed files hold at most (their end times, found by a scan).
    jobs_total: usize,
    /// Jobs of the group read last that did not fit in its chunk, in the order they end.
    ready: std::collections::VecDeque<Ready>,
    /// The files of that group too large to hold, open while their jobs wait.
    large: Vec<LargeFile>,
    /// Jobs taken this cycle and not in `next.jobs` yet: this chunk's, and those waiting for
    /// energy. A job met again (in another file) is not taken twice.
    seen_now: BTreeSet<u64>,
    now_ms: i64,
    stamps: catalogue::Stamps<'a>,
    labels: catalogue::LabelGuard<'a>,
    new_jobs: usize,
    jobs_without_power: usize,
    window: (u64, u64),
    non_finite: u64,
    predicting: Predicting,
}

impl<'a> Cycle<'a> {
    pub(crate) fn new(
        cfg: &'a Config,
        state: &'a State,
        outside: &'a OutsideData,
        delivery: Vec<DeliveryStats>,
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
        let (known, gone) = scan::known_states(&files, &state.files);
        let order = scan::reading_order(&files, &known, cfg.max_file_bytes);
        // Forget files that are gone; their jobs stay remembered in `jobs`.
        if gone {
            next.files.make_mut().retain(|p, _| files.binary_search(p).is_ok());
        }
        let outdated = next.history.as_ref().is_some_and(|h| h.layout != history::LAYOUT);
        if (next.history.is_none() || outdated) && !state.jobs.is_empty() {
            // A state from before the history existed, or with buckets of an older layout:
            // rebuild the buckets from the files (an older history's training rows are kept).
            let previous = next.history.take();
            next.history =
                Some(Shared::new(rebuild_history(cfg, &files, state, previous.as_deref(), now_ms)));
        }
        Cycle {
            cfg,
            outside,
            prev: state,
            next,
            stats,
            files,
            known,
            files_total: order.changed,
            jobs_total: order.jobs,
            order: order.groups,
            pos: 0,
            files_done: 0,
            ready: Default::default(),
            large: Vec::new(),
            seen_now: BTreeSet::new(),
            now_ms,
            stamps: catalogue::Stamps::new(&state.stamps),
            labels: catalogue::LabelGuard::new(&state.label_values, cfg.max_label_values),
            new_jobs: 0,
            jobs_without_power: 0,
            window: (0, 0),
            non_finite: 0,
            predicting: Predicting::default(),
        }
    }

    fn ctx(&self) -> catalogue::Host<'a> {
        catalogue::Host {
            name: &self.cfg.host,
            region: &self.cfg.regions[&self.cfg.region],
            regions: &self.cfg.regions,
            rates: &self.outside.book,
            dated_rates: self.outside.dated_rates(),
            reporting: &self.cfg.reporting,
            extra_labels: &self.cfg.extra_labels,
            version: env!("CARGO_PKG_VERSION"),
            cores_without_cpu_samples: self.cfg.cores_without_cpu_samples,
        }
    }

    /// The samples of the next chunk of new jobs; `None` when every file has been read.
    pub(crate) fn next_chunk(&mut self) -> Option<SeriesSet> {
        if self.pos >= self.order.len() && self.ready.is_empty() {
            return None;
        }
        // A group's jobs (files that overlap in time, see `scan::reading_order`) in the order
        // they end, taken a chunk at a time: a large file costs one chunk's samples at a time,
        // and the chunks follow each other in time.
        let mut jobs: Vec<(Job, Option<crate::domain::Measured>)> = Vec::new();
        while jobs.len() < CHUNK_JOBS {
            if self.ready.is_empty() {
                let Some(group) = self.order.get_mut(self.pos) else { break };
                self.large.clear();
                let mut read = Vec::new();
                // One buffer for the group's files, let go with the group.
                let mut buf = Vec::new();
                for i in std::mem::take(group) {
                    self.read_file(i, &mut read, &mut buf);
                }
                self.pos += 1;
                // Stable: of two files with one job, the one read first gives it (see `take`).
                read.sort_by(|a, b| {
                    let (a, b) = (a.what(&self.large), b.what(&self.large));
                    a.end_s.total_cmp(&b.end_s).then(a.id.cmp(&b.id))
                });
                self.ready = read.into();
            }
            let n = (CHUNK_JOBS - jobs.len()).min(self.ready.len());
            for r in self.ready.drain(..n).collect::<Vec<_>>() {
                jobs.extend(self.take(r));
            }
        }
        let cfg = self.cfg;
        let here = &cfg.regions[&cfg.region];
        let baseline = idle_baseline(cfg, &mut self.next, &jobs);
        self.stats.baseline = baseline;
        let inputs = job::Inputs {
            here,
            regions: &cfg.regions,
            cores_without_samples: cfg.cores_without_cpu_samples,
            embodied: cfg.carbon.embodied,
            baseline,
        };
        let outside = self.outside;
        let mut reports: Vec<job::JobReport> = jobs
            .iter_mut()
            .map(|(j, m)| {
                let window = (j.end_s - j.run_s, j.end_s);
                let r = job::report(j, *m, &|r| outside.intensity(r, window.0, window.1), &inputs);
                // The samples are integrated: only memory from here on.
                j.power_watts = Vec::new();
                j.cpu_cores = Vec::new();
                r
            })
            .collect();
        self.jobs_without_power += reports.iter().filter(|r| r.energy_j.is_none()).count();
        self.new_jobs += jobs.len();
        let refs: Vec<&Job> = jobs.iter().map(|(j, _)| j).collect();
        let predictions = add_chunk(
            cfg,
            &mut self.next,
            &refs,
            &mut reports,
            self.now_ms,
            &mut self.predicting,
            self.pos >= self.order.len() && self.ready.is_empty(),
        );
        let pairs: Vec<(&Job, &job::JobReport)> = refs.iter().copied().zip(reports.iter()).collect();
        let mut set = SeriesSet::default();
        let ctx = self.ctx();
        catalogue::build_jobs(
            &ctx,
            &pairs,
            &predictions,
            &mut self.stamps,
            &mut self.labels,
            &mut self.next.counters,
            &mut set,
        );
        let (old, new) = catalogue::count_window(&set, self.now_ms, cfg.target_retention.as_millis() as i64);
        self.window = (self.window.0 + old, self.window.1 + new);
        self.non_finite += set.non_finite();
        if !jobs.is_empty() {
            self.next.jobs.make_mut().extend(jobs.iter().map(|(j, _)| j.id));
        }
        // The jobs taken in are known by `next.jobs` now; only the waiting ones stay here.
        let taken = &self.next.jobs;
        self.seen_now.retain(|id| !taken.contains(id));
        Some(set)
    }

    /// Where the cycle stands: files read, jobs taken in, and whether more remain.
    pub(crate) fn progress(&self, samples_queued: usize) -> super::progress::CycleProgress {
        super::progress::CycleProgress {
            files_done: self.files_done,
            files_total: self.files_total,
            jobs_done: self.new_jobs,
            jobs_total: self.jobs_total,
            samples_queued,
            more: self.pos < self.order.len() || !self.ready.is_empty(),
        }
    }

    /// The cycle's own samples and every counter, and the state to commit.
    pub(crate) fn finish(self) -> Prepared {
        self.finish_in(SeriesSet::default())
    }

    /// [`Cycle::finish`], the cycle's own samples added to `set` (a set kept from the cycle
    /// before: see [`crate::samples::KeptSeries`]).
    pub(crate) fn finish_in(mut self, set: SeriesSet) -> Prepared {
        let cfg = self.cfg;
        let outside = self.outside;
        let stamps = std::mem::replace(&mut self.stamps, catalogue::Stamps::new(&self.prev.stamps));
        let mut new_stamps = stamps.into_new().peekable();
        if new_stamps.peek().is_some() {
            self.next.stamps.make_mut().extend(new_stamps);
        }
        let guard =
            std::mem::replace(&mut self.labels, catalogue::LabelGuard::new(&self.prev.label_values, 0));
        self.stats.label_values =
            catalogue::GUARDED.iter().map(|&l| (l, guard.kept(l) as u64, guard.folded(l))).collect();
        for &(label, _, folded) in self.stats.label_values.iter().filter(|x| x.2 > 0) {
            warn!(
                label,
                jobs = folded,
                cap = cfg.max_label_values,
                "new label values past the cap are pushed as \"_overflow_\" (results.max_label_values)"
            );
        }
        for (label, values) in guard.into_new().into_iter().filter(|(_, v)| !v.is_empty()) {
            self.next.label_values.make_mut().entry(label).or_default().extend(values);
        }
        let mut insights =
            cycle_insights(cfg, &mut self.next, self.new_jobs > 0, self.predicting.model.take(), self.now_ms);
        insights.predictions_skipped = std::mem::take(&mut self.predicting.skipped).into_iter().collect();
        let mut stats = self.stats.clone();
        stats.ecb_fetch_failures =
            outside.tallies.ecb_fetch_failures.swap(0, std::sync::atomic::Ordering::Relaxed);
        stats.rapl_read_failures =
            outside.tallies.rapl_read_failures.swap(0, std::sync::atomic::Ordering::Relaxed);
        stats.rapl_readings =
            outside.rapl.as_ref().map(|r| r.ring.lock().expect("rapl ring lock").len() as u64);
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
            set,
        );
        let mut next = self.next;
        next.counters = built.counters;
        Prepared {
            set: built.set,
            next,
            new_jobs: self.new_jobs,
            jobs_without_power: self.jobs_without_power,
            too_old: built.too_old,
            too_new: built.too_new,
        }
    }

    /// A job of the chunk being built: read again from its file if it was not held, and with
    /// its measured power. `None` when it waits for a source, or its file changed since it was
    /// read (the file is then read again next cycle).
    fn take(&mut self, r: Ready) -> Option<(Job, Option<crate::domain::Measured>)> {
        // Checked here, not when its file was read: a copy that cannot be read again (its file
        // changed) leaves the job to a copy in another file. A copy taken in an earlier chunk
        // is in `next.jobs` by now, one taken in this chunk in `seen_now`.
        let id = r.what(&self.large).id;
        if self.next.jobs.contains(&id) || self.seen_now.contains(&id) {
            return None;
        }
        let (file, job) = match r {
            Ready::Held { file, job } => (file, *job),
            Ready::InFile { large, at } => {
                let large = &mut self.large[large as usize];
                let file = large.file;
                // Once a job is not where the first pass found it, the file has changed: the
                // rest of its jobs wait for the next cycle's reading too.
                if large.changed {
                    return None;
                }
                match large.job(at as usize) {
                    Ok(job) => (file, job),
                    Err(why) => {
                        large.changed = true;
                        warn!(file = %self.files[file].display(), "{why}; its jobs not taken yet are read again next cycle");
                        self.defer(file);
                        return None;
                    }
                }
            }
        };
        self.seen_now.insert(job.id);
        let now_s = self.now_ms as f64 / 1000.0;
        match self.outside.resolve(self.cfg, &job, now_s, &mut self.stats.energy_misses) {
            // Its file is read again next cycle; the job is not taken in yet.
            Resolution::Wait => {
                self.defer(file);
                self.stats.jobs_waiting += 1;
                None
            }
            Resolution::Measured(m) => Some((job, Some(m))),
            Resolution::Unknown => Some((job, None)),
        }
    }

    /// Marks a file to be read again next cycle, whatever its length and time say.
    fn defer(&mut self, file: usize) {
        let path = &self.files[file];
        if self.next.files.get(path).is_some_and(|f| !f.deferred) {
            if let Some(f) = self.next.files.make_mut().get_mut(path) {
                f.deferred = true;
            }
        }
    }

    /// Reads results file `file` if it changed, and adds its new jobs to `out` (a large file's
    /// as places in it, read again when their chunk comes).
    fn read_file(&mut self, file: usize, out: &mut Vec<Ready>, buf: &mut Vec<u8>) {
        let path = self.files[file].clone();
        let path = path.as_path();
        let prev = self.known[file];
        let scanned = scan::read_if_changed(path, prev, self.cfg.max_file_bytes, buf);
        if matches!(scanned, Scan::Changed { .. }) {
            self.files_done += 1;
        }
        let (content, len, mtime, hash) = match scanned {
            Scan::Unchanged => return,
            Scan::Touched(state) => {
                self.set_file(path, state);
                return;
            }
            Scan::Unreadable { what, error } => {
                warn!(file = %path.display(), error = %error, "{what}");
                self.stats.files_unreadable += 1;
                return;
            }
            Scan::Refused { len, mtime_ns, why } => {
                // Counted and logged once per version and reason; looked at again each cycle
                // (cheaply: the type and size refuse it before a byte is read).
                let mut reported = prev
                    .filter(|f| f.status == FileStatus::Refused)
                    .map(|f| f.reported.clone())
                    .unwrap_or_default();
                if reported.insert(crate::util::hash::fnv1a(why.to_string().as_bytes())) {
                    warn!(file = %path.display(), reason = %why, "results file refused");
                    match why {
                        bounded::FileError::TooLarge { .. } => self.stats.files_too_large += 1,
                        _ => self.stats.files_not_regular += 1,
                    }
                }
                let state = FileState {
                    len,
                    mtime_ns,
                    hash: 0,
                    status: FileStatus::Refused,
                    reported,
                    deferred: false,
                };
                self.set_file(path, state);
                return;
            }
            Scan::Changed { content, len, mtime_ns, hash } => (content, len, mtime_ns, hash),
        };
        let mut reported = prev.map(|f| f.reported.clone()).unwrap_or_default();
        let read = match content {
            Content::Bytes(bytes) => results::parse(bytes).map(|p| {
                let jobs: Vec<Ready> =
                    p.jobs.into_iter().map(|job| Ready::Held { file, job: Box::new(job) }).collect();
                (jobs, p.problems)
            }),
            Content::Large(_) => {
                LargeFile::index(file, path, len, self.cfg.max_file_bytes).map(|(opened, problems)| {
                    let slot = self.large.len() as u32;
                    let jobs = (0..opened.index.entries.len() as u32)
                        .map(|at| Ready::InFile { large: slot, at })
                        .collect();
                    self.large.push(opened);
                    (jobs, problems)
                })
            }
        };
        let status = match read {
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
            Err(FileError::Unreadable(why)) => {
                warn!(file = %path.display(), error = %why, "cannot read results file");
                self.stats.files_unreadable += 1;
                return;
            }
            Ok((mut jobs, mut problems)) => {
                // A job ending far ahead of this clock would drag every counter into the
                // future (they never go back); it waits, and its file is read again each cycle
                // until the clock allows it.
                let mut ahead = 0;
                let (large, now_ms) = (&self.large, self.now_ms);
                jobs.retain(|j: &Ready| {
                    let j = j.what(large);
                    let ahead_ms = (j.end_s * 1000.0) as i64 - now_ms;
                    if ahead_ms <= catalogue::MAX_FUTURE_MS {
                        return true;
                    }
                    ahead += 1;
                    problems.push(results::Problem {
                        field: format!("scenarios[{}].end_time", j.index),
                        message: format!(
                            "ends at {} (Unix seconds), more than 2 days after this host's clock; the job waits until the clock is within 2 days of it",
                            j.end_s
                        ),
                        severity: Severity::Notice,
                    });
                    false
                });
                self.stats.jobs_ahead_of_clock += ahead;
                for p in &problems {
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
                for job in jobs {
                    if !self.next.jobs.contains(&job.what(&self.large).id) {
                        out.push(job);
                    }
                }
                if prev.is_none_or(|f| f.hash != hash) {
                    self.stats.files_ingested += 1;
                }
                let state = FileState {
                    len,
                    mtime_ns: mtime,
                    hash,
                    status: FileStatus::Ingested,
                    reported,
                    // A job that waits for a source defers it too (see `take`).
                    deferred: ahead > 0,
                };
                self.set_file(path, state);
                return;
            }
        };
        self.set_file(path, FileState { len, mtime_ns: mtime, hash, status, reported, deferred: false });
    }

    /// Records what was read of a file; the state's files are copied only for a change.
    fn set_file(&mut self, path: &Path, state: FileState) {
        if self.next.files.get(path) != Some(&state) {
            self.next.files.make_mut().insert(path.to_path_buf(), state);
        }
    }
}

/// A new job of a file read, waiting for its chunk.
enum Ready {
    /// Read with its file, held whole.
    Held { file: usize, job: Box<Job> },
    /// Entry `at` of the cycle's `large[large]`: read again from its file when its chunk comes.
    InFile { large: u32, at: u32 },
}

/// What orders a waiting job, and names it in a problem.
struct Key {
    end_s: f64,
    id: u64,
    /// Its place in its file's `scenarios`.
    index: usize,
}

impl Ready {
    fn what(&self, large: &[LargeFile]) -> Key {
        match self {
            Ready::Held { job, .. } => Key { end_s: job.end_s, id: job.id, index: job.index },
            Ready::InFile { large: l, at } => {
                let e = &large[*l as usize].index.entries[*at as usize];
                Key { end_s: e.end_s, id: e.id, index: e.index() }
            }
        }
    }
}

/// A results file over [`scan::STREAM_ABOVE`] bytes, open while its jobs wait for their chunks.
struct LargeFile {
    /// Its index in the cycle's files.
    file: usize,
    handle: std::fs::File,
    /// What its first pass found.
    index: results::FileIndex,
    /// A job was not found where the first pass saw it.
    changed: bool,
}

impl LargeFile {
    /// Opens the file and reads it through once, as many bytes as `len` (its length when its
    /// hash was taken): its jobs' places, and (taken out) its problems.
    fn index(
        file: usize,
        path: &Path,
        len: u64,
        cap: u64,
    ) -> Result<(LargeFile, Vec<results::Problem>), FileError> {
        use std::io::Read as _;
        let (handle, _) = bounded::open_file(path, cap).map_err(|e| FileError::Unreadable(e.to_string()))?;
        let mut index = results::index((&handle).take(len), |span| read_span(&handle, span))?;
        let problems = std::mem::take(&mut index.problems);
        Ok((LargeFile { file, handle, index, changed: false }, problems))
    }

    /// Its job `at`, read again from the file.
    fn job(&self, at: usize) -> Result<Job, String> {
        let entry = &self.index.entries[at];
        let bytes =
            read_span(&self.handle, entry.span()).map_err(|e| format!("cannot read results file: {e}"))?;
        self.index
            .job(entry, &bytes)
            .ok_or_else(|| "the results file changed while its jobs were read".to_string())
    }
}

/// The bytes of `span` of a file (a job's scenario: never more than the file's cap).
fn read_span(file: &std::fs::File, span: std::ops::Range<u64>) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt as _;
    let mut bytes = vec![0; (span.end - span.start) as usize];
    file.read_exact_at(&mut bytes, span.start)?;
    Ok(bytes)
}

/// Reads what changed since `state`, computes every new job and builds the cycle's samples, in
/// one set (for a dry run and for tests; the agent queues chunk by chunk). Reads files; writes
/// nothing.
pub fn prepare(
    cfg: &Config,
    state: &State,
    outside: &OutsideData,
    delivery: Vec<DeliveryStats>,
    now: SystemTime,
) -> Prepared {
    let mut cycle = Cycle::new(cfg, state, outside, delivery, now);
    let mut jobs = SeriesSet::default();
    while let Some(set) = cycle.next_chunk() {
        jobs.merge(set);
    }
    let mut p = cycle.finish();
    p.set.merge(jobs);
    p
}

/// Logs what a prepared cycle holds (once per cycle).
pub(super) fn log_summary(p: &Prepared, cfg: &Config) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    /// `n` telemetry jobs a minute apart, in the order `order` gives, each with 60 power and CPU
    /// samples (about 1.1 KB: over [`scan::STREAM_ABOVE`] bytes from about 3,800 jobs on).
    fn jobs(n: usize, order: &mut fastrand::Rng) -> Vec<String> {
        let mut jobs: Vec<String> =
            (0..n).map(|i| job(&format!("job {}", i % 7), 1_767_000_000 + 60 * i)).collect();
        order.shuffle(&mut jobs);
        jobs
    }

    /// One telemetry job (see [`jobs`]), with what the power model needs.
    fn job(name: &str, end: usize) -> String {
        let k = end / 60;
        let samples = |base: usize| {
            (0..60).map(|j| format!("{}.{:02}", base + (k + j) % 50, j)).collect::<Vec<_>>().join(", ")
        };
        format!(
            r#"{{"name": "{name}", "duration": 30, "start_time": {}, "end_time": {end}, "encoder_type": "libx264",
            "resolution": "{}", "avg_fps": {}, "bitrate": "{}k", "power_watts": [{}], "cpu_usage_cores": [{}],
            "step_seconds": 0.5}}"#,
            end - 30,
            ["1280x720", "1920x1080"][k % 2],
            [30, 60][k / 2 % 2],
            1000 + k % 5 * 500,
            samples(100 + k % 3 * 20),
            samples(2)
        )
    }

    fn file(jobs: &[String]) -> String {
        format!(r#"{{"test_metadata": {{"source": "lab"}}, "scenarios": [{}]}}"#, jobs.join(", "))
    }

    fn at() -> SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_400_000)
    }

    fn config(dir: &Path) -> Config {
        let yaml = format!(
            "host: {{name: h, region: eu-north-1}}\nresults: {{dirs: [{}]}}\nstate_dir: {}\nremote_write: {{url: 'http://127.0.0.1:9'}}\ntarget_retention_days: 36500\n",
            dir.join("results").display(),
            dir.join("state").display()
        );
        crate::config::from_str(&yaml, dir, &Overrides::default()).unwrap()
    }

    /// A temporary directory with an empty results directory, and its configuration.
    fn setup() -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        std::fs::create_dir_all(&cfg.results_dirs[0]).unwrap();
        (dir, cfg)
    }

    /// Runs a cycle, calling `between` after its first chunk.
    fn cycle(cfg: &Config, state: &State, between: impl FnOnce()) -> Prepared {
        let outside = OutsideData::new(cfg, false);
        let mut cycle = Cycle::new(cfg, state, &outside, Vec::new(), at());
        let mut jobs = cycle.next_chunk().expect("a first chunk");
        between();
        while let Some(set) = cycle.next_chunk() {
            jobs.merge(set);
        }
        let mut p = cycle.finish();
        p.set.merge(jobs);
        p
    }

    /// The job samples of a cycle, as sorted text lines, but for the power model's: the model is
    /// fitted again for each chunk, so its predictions depend on which jobs share a chunk, and
    /// small files are grouped otherwise than one large file (`scripts/equivalence` holds a large
    /// file's whole output to that of the same file read whole).
    fn job_lines(p: &Prepared) -> Vec<String> {
        let mut lines: Vec<String> = p
            .set
            .to_text()
            .lines()
            .filter(|l| l.starts_with("costpush_job_"))
            .filter(|l| !l.starts_with("costpush_job_predicted_"))
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn a_large_file_is_read_a_chunk_at_a_time_into_what_small_files_read_whole_give() {
        let jobs = jobs(4000, &mut fastrand::Rng::with_seed(1));
        let ((_large_dir, large_cfg), (_small_dir, small_cfg)) = (setup(), setup());
        let text = file(&jobs);
        assert!(text.len() as u64 > scan::STREAM_ABOVE, "{} bytes", text.len());
        std::fs::write(large_cfg.results_dirs[0].join("test_results_big.json"), &text).unwrap();
        for (i, part) in jobs.chunks(800).enumerate() {
            std::fs::write(small_cfg.results_dirs[0].join(format!("test_results_{i}.json")), file(part))
                .unwrap();
        }
        let large = cycle(&large_cfg, &State::default(), || {});
        let small = cycle(&small_cfg, &State::default(), || {});
        assert_eq!((large.new_jobs, small.new_jobs), (4000, 4000));
        assert_eq!(large.next.jobs, small.next.jobs);
        let lines = job_lines(&large);
        assert!(lines.len() > 4000 * 10, "{} job samples", lines.len());
        assert!(lines == job_lines(&small), "the job samples differ");
    }

    #[test]
    fn a_job_of_a_large_file_that_changes_is_taken_from_another_file_that_has_it() {
        let (_dir, cfg) = setup();
        let all = jobs(4000, &mut fastrand::Rng::with_seed(1));
        // The last job to end is in the large file and, again, in a small file read after it.
        let last = all.iter().find(|j| j.contains("\"end_time\": 1767239940,")).unwrap().clone();
        std::fs::write(cfg.results_dirs[0].join("test_results_a.json"), file(&all)).unwrap();
        std::fs::write(cfg.results_dirs[0].join("test_results_b.json"), file(std::slice::from_ref(&last)))
            .unwrap();
        // The large file loses that job while the first chunk is built.
        let without: Vec<String> = all.iter().filter(|j| **j != last).cloned().collect();
        let first = cycle(&cfg, &State::default(), || {
            std::fs::write(cfg.results_dirs[0].join("test_results_a.json"), file(&without)).unwrap();
        });
        let id = results::parse(file(std::slice::from_ref(&last)).as_bytes()).unwrap().jobs[0].id;
        assert!(first.next.jobs.contains(&id), "the job came from the small file");
        assert!(
            first.new_jobs < 4000
                && first.next.files[&cfg.results_dirs[0].join("test_results_a.json")].deferred
        );
        let second = cycle(&cfg, &first.next, || {});
        assert_eq!(first.new_jobs + second.new_jobs, 4000, "every job once");
        assert_eq!(second.next.jobs.len(), 4000);
    }

    #[test]
    fn a_job_in_two_files_read_in_different_groups_is_taken_once() {
        let (_dir, cfg) = setup();
        let a = jobs(1500, &mut fastrand::Rng::with_seed(1));
        // B overlaps A in time but both do not fit one group: B is read while A's last jobs are
        // taken, and its copy of A's last job comes a chunk later than A's.
        let last = a.iter().find(|j| j.contains("\"end_time\": 1767089940,")).unwrap().clone();
        let mut b: Vec<String> = (600..1499).map(|i| job("other", 1_767_000_000 + 60 * i + 30)).collect();
        b.push(last);
        std::fs::write(cfg.results_dirs[0].join("test_results_a.json"), file(&a)).unwrap();
        std::fs::write(cfg.results_dirs[0].join("test_results_b.json"), file(&b)).unwrap();
        let p = cycle(&cfg, &State::default(), || {});
        assert_eq!(p.new_jobs, 1500 + 899);
        assert_eq!(p.next.jobs.len(), 1500 + 899);
    }

    #[test]
    fn the_model_reported_has_its_coverage_when_the_last_chunk_did_not_know_it_was_last() {
        let coverage = |p: &Prepared| -> Vec<String> {
            p.set
                .to_text()
                .lines()
                .filter(|l| l.starts_with("costpush_model_loo_coverage_ratio"))
                .map(str::to_string)
                .collect()
        };
        let (_dir, cfg) = setup();
        // Two full chunks, and then a file read in a group of its own whose jobs were all taken.
        let a = jobs(2000, &mut fastrand::Rng::with_seed(1));
        std::fs::write(cfg.results_dirs[0].join("test_results_a.json"), file(&a)).unwrap();
        let alone = cycle(&cfg, &State::default(), || {});
        std::fs::write(cfg.results_dirs[0].join("test_results_b.json"), file(&a[..600])).unwrap();
        let with_b = cycle(&cfg, &State::default(), || {});
        assert_eq!((alone.new_jobs, with_b.new_jobs), (2000, 2000));
        assert_eq!(coverage(&alone).len(), 1, "{:?}", coverage(&alone));
        assert_eq!(coverage(&with_b), coverage(&alone));
    }

    #[test]
    fn an_idle_cycle_shares_every_part_of_the_state_it_started_from() {
        let (_dir, cfg) = setup();
        let path = cfg.results_dirs[0].join("test_results_a.json");
        std::fs::write(&path, file(&jobs(300, &mut fastrand::Rng::with_seed(1)))).unwrap();
        // A file refused (not a regular file) is looked at again every cycle, and holds no job.
        std::os::unix::fs::symlink(&cfg.results_dirs[0], cfg.results_dirs[0].join("test_results_d.json"))
            .unwrap();
        let outside = OutsideData::new(&cfg, false);
        let first = prepare(&cfg, &State::default(), &outside, Vec::new(), at()).next;
        assert_eq!(first.files.len(), 2);
        assert!(first.history.is_some() && first.forecast_cache.is_some() && !first.stamps.is_empty());
        let later = at() + std::time::Duration::from_secs(60);
        let idle = prepare(&cfg, &first, &outside, Vec::new(), later).next;
        let shared = |a: &State, b: &State| {
            [
                a.files.same(&b.files),
                a.jobs.same(&b.jobs),
                a.history.as_ref().zip(b.history.as_ref()).is_some_and(|(x, y)| x.same(y)),
                a.forecast_cache.as_ref().zip(b.forecast_cache.as_ref()).is_some_and(|(x, y)| x.same(y)),
                a.stamps.same(&b.stamps),
                a.label_values.same(&b.label_values),
            ]
        };
        assert_eq!(shared(&idle, &first), [true; 6]);
        // A new job in the file: its identity, stamps, file and history are new; the rest shared.
        let mut more = jobs(300, &mut fastrand::Rng::with_seed(1));
        more.push(job("job 1", 1_767_000_000 + 60 * 300));
        std::fs::write(&path, file(&more)).unwrap();
        let busy = prepare(&cfg, &idle, &outside, Vec::new(), later).next;
        assert_eq!(busy.jobs.len(), 301);
        assert_eq!(shared(&busy, &idle), [false, false, false, true, false, true]);
    }

    #[test]
    fn a_large_file_rewritten_while_its_chunks_are_read_loses_no_job_and_repeats_none() {
        let (_dir, cfg) = setup();
        let path = cfg.results_dirs[0].join("test_results_big.json");
        std::fs::write(&path, file(&jobs(4000, &mut fastrand::Rng::with_seed(1)))).unwrap();
        // After the first chunk the writer rewrites the file in place, its jobs in another order.
        let first = cycle(&cfg, &State::default(), || {
            std::fs::write(&path, file(&jobs(4000, &mut fastrand::Rng::with_seed(2)))).unwrap();
        });
        assert_eq!(first.new_jobs, CHUNK_JOBS, "only the first chunk was read before the change");
        assert!(first.next.files[&path].deferred, "the file is read again next cycle");
        // The next cycle takes the rest, and none of the first chunk again.
        let second = cycle(&cfg, &first.next, || {});
        assert_eq!(second.new_jobs, 4000 - CHUNK_JOBS);
        assert_eq!(second.next.jobs.len(), 4000);
        assert!(!second.next.files[&path].deferred);
        let outside = OutsideData::new(&cfg, false);
        assert_eq!(prepare(&cfg, &second.next, &outside, Vec::new(), at()).new_jobs, 0);
    }
}
