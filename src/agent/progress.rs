//! Progress of a long cycle (a backfill, a daemon's first cycle over a large directory): a bar on
//! a terminal, or log events with `files_done`, `files_total`, `jobs_done`, `jobs_total`,
//! `samples_queued` and an ETA. A cycle that fits in one chunk says nothing.

use std::time::{Duration, Instant};

use tracing::info;

/// Where a cycle stands after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleProgress {
    /// Files read so far, of `files_total`: those changed since the last cycle.
    pub files_done: usize,
    pub files_total: usize,
    /// New jobs taken in so far (it only rises within a cycle).
    pub jobs_done: usize,
    /// The jobs the changed files hold at most (their end times, found by a scan before the
    /// cycle; jobs taken in before, in a file that grew, are among them).
    pub jobs_total: usize,
    /// Samples written to the queue so far.
    pub samples_queued: usize,
    /// Whether files or jobs remain after this chunk.
    pub more: bool,
}

impl CycleProgress {
    /// The time left at the rate so far, by jobs.
    pub fn eta(&self, elapsed: Duration) -> Option<Duration> {
        // Before the first job, or past the scan's count (it found no end times): unknown.
        if self.jobs_done == 0 || self.jobs_total <= self.jobs_done {
            return None;
        }
        let left = self.jobs_total.saturating_sub(self.jobs_done) as f64;
        Some(elapsed.mul_f64(left / self.jobs_done as f64))
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar on stderr (drawn only when stderr is a terminal).
    Bar,
    /// Info events named "progress".
    Log,
    None,
}

/// Between log events: at least this much time, or a tenth more of the jobs.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Shows a cycle's progress as its chunks are queued.
pub struct Progress {
    mode: ProgressMode,
    started: Instant,
    /// When the last event went out, and how many jobs were done then.
    last: Option<(Instant, usize)>,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        Progress { mode, started: Instant::now(), last: None, bar: None }
    }

    /// A cycle starts: its elapsed time counts from here.
    pub(crate) fn begin(&mut self) {
        self.started = Instant::now();
        self.last = None;
    }

    /// Called after each chunk is queued. The first chunk of a cycle that has more to read
    /// starts the reporting; a cycle done in one chunk stays silent.
    pub(crate) fn chunk(&mut self, p: &CycleProgress) {
        if self.last.is_none() && !p.more {
            return;
        }
        let now = Instant::now();
        match self.mode {
            ProgressMode::None => {}
            ProgressMode::Bar => {
                let bar = self.bar.get_or_insert_with(|| {
                    let bar = indicatif::ProgressBar::new(p.jobs_total as u64);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{bar:30} {pos}/{len} jobs, {msg}, {elapsed} (eta {eta})",
                        )
                        .expect("a valid template"),
                    );
                    bar
                });
                bar.set_length(p.jobs_total.max(p.jobs_done) as u64);
                bar.set_position(p.jobs_done as u64);
                bar.set_message(format!(
                    "{}/{} files, {} samples queued",
                    p.files_done, p.files_total, p.samples_queued
                ));
            }
            ProgressMode::Log => {
                let due = match self.last {
                    None => true,
                    Some((at, jobs)) => {
                        now.duration_since(at) >= LOG_EVERY
                            || (p.jobs_total > 0 && p.jobs_done.saturating_sub(jobs) * 10 >= p.jobs_total)
                    }
                };
                if !due {
                    return;
                }
                if p.more {
                    let elapsed = now.duration_since(self.started);
                    info!(
                        files_done = p.files_done,
                        files_total = p.files_total,
                        jobs_done = p.jobs_done,
                        jobs_total = p.jobs_total,
                        samples_queued = p.samples_queued,
                        elapsed_s = round1(elapsed),
                        eta_s = p.eta(elapsed).map(round1),
                        "progress"
                    );
                }
            }
        }
        self.last = Some((now, p.jobs_done));
    }

    /// The cycle is done (or failed): the bar is cleared, and the next cycle starts afresh.
    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.last = None;
    }
}

fn round1(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_is_the_rate_so_far_over_the_jobs_left() {
        let p = CycleProgress {
            files_done: 1,
            files_total: 4,
            jobs_done: 1000,
            jobs_total: 4000,
            samples_queued: 1,
            more: true,
        };
        assert_eq!(p.eta(Duration::from_secs(2)), Some(Duration::from_secs(6)));
        assert_eq!(CycleProgress { jobs_done: 0, ..p }.eta(Duration::from_secs(2)), None);
        assert_eq!(CycleProgress { jobs_done: 4100, ..p }.eta(Duration::from_secs(2)), None);
    }
}
