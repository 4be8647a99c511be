//! The agent: a cycle (scan → parse → compute → build → queue → commit), the `once` and
//! `run` modes around it, and shutdown.
//!
//! A cycle reads what changed, builds the samples of the new jobs and of the agent itself,
//! writes them to every destination's durable queue in bounded batches, and commits its state
//! (files read, jobs taken, counters advanced, next queue number). Each destination's sender
//! delivers its queue separately, oldest batch first. So a sample the agent has taken in is
//! either acknowledged by each receiver or on disk waiting to be sent to it, and a job is taken
//! in once (see `delivery::queue` and `state`).
//!
//! - `cycle`: one cycle, in chunks of jobs, from the results files to samples;
//! - `scan`: which files there are, which changed, and the order to read them in;
//! - `insights`: what the cycle asks of `compute` (history, power model, projections);
//! - `commit`: the cycle's samples into the queue, then its state committed (`state`, with
//!   `part_changes` for what a commit adds to the state's journal);
//! - `once` and `daemon`: the two ways to run; `schedule`: when the daemon's cycles come;
//!   `progress`: what a long cycle shows meanwhile; `signals`: shutdown and reload.

mod commit;
mod cycle;
mod daemon;
mod insights;
mod once;
mod part_changes;
mod progress;
mod scan;
mod schedule;
mod signals;
pub mod state;

pub use commit::{enqueue_cycle, open_outboxes};
pub use cycle::{prepare, Cycle, CHUNK_JOBS};
pub use daemon::run;
pub use once::{dry_run, once, once_with_progress, OnceOutcome};
pub use progress::{CycleProgress, Progress, ProgressMode};
pub use signals::{reload_signal, shutdown_signal};

use crate::agent::state::State;
use crate::samples::SeriesSet;

/// A cycle's samples and the state to commit once they are queued.
pub struct Prepared {
    pub set: SeriesSet,
    pub next: State,
    pub new_jobs: usize,
    pub(crate) jobs_without_power: usize,
    pub(crate) too_old: u64,
    pub(crate) too_new: u64,
}

/// What a cycle put in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub new_jobs: usize,
    pub samples: usize,
    pub batches: usize,
}

/// A request body with no samples and every metric family's type, help and unit (the catalogue
/// of `docs/metrics.md`): what each sender sends once when it starts.
pub(crate) fn metadata_body() -> Vec<u8> {
    use crate::delivery::proto::{self, MetricMetadata, MetricType, WriteRequest};
    let metadata = crate::samples::families::all()
        .map(|f| MetricMetadata {
            r#type: if f.counter { MetricType::Counter } else { MetricType::Gauge } as i32,
            metric_family_name: f.name.to_string(),
            help: f.help.to_string(),
            unit: f.unit.to_string(),
        })
        .collect();
    proto::encode(&WriteRequest { timeseries: Vec::new(), metadata })
}
