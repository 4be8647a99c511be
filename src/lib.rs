//! costpush: turns video-encoding results files into energy, cost, CO2 and quality samples and
//! pushes them to VictoriaMetrics (or any Prometheus remote-write 1.0 receiver).
//!
//! # Layout
//!
//! The folders follow the data (`ARCHITECTURE.md` has the code map, the layers and the
//! invariants):
//!
//! - `domain`: the shared vocabulary: a job, money, prices, the energy a job drew.
//! - [`config`]: the YAML file → a checked [`config::Config`].
//! - `ingest`: results files → jobs (pure), and outside data (rates, intensity, power) with its I/O.
//! - [`compute`]: each job's report, the history, projections and the power model (pure).
//! - [`stats`]: Holt-Winters with intervals, least squares with bands, the offline commands.
//! - [`samples`]: reports → series (the metric catalogue of `docs/metrics.md`) → request bodies.
//! - [`delivery`]: request bodies → the durable queue → the receiver, oldest first, with retries.
//! - [`agent`]: the cycle, `once` and `run`; commits the state after the batches are on disk.
//! - `util`: bounded reads, atomic and in-place file writes, hashing, sorted lists, time, the
//!   allocator's tuning.
//!
//! The binary (`src/main.rs`) only parses the command line, sets up logging, and maps results to
//! exit codes.
//!
//! # Public surface
//!
//! What the binary, the integration tests (`tests/`) and the benches use, and nothing else:
//! [`config::load`] and [`config::from_str`]; [`agent::once`], [`agent::run`],
//! [`agent::dry_run`], [`agent::shutdown_signal`], and for the benches the cycle's steps
//! ([`agent::prepare`], [`agent::enqueue_cycle`], [`agent::state::State`]); the statistics
//! ([`stats::forecast`], [`stats::regress`], [`stats::offline`]); the wire format
//! ([`delivery::proto`]); [`tune_allocator`]. Besides those, the tests and benches reach a few
//! pieces directly: `agent::once_with_progress`, `agent::ProgressMode`, `agent::CHUNK_JOBS`,
//! `agent::reload_signal`, `agent::state::lock` and `agent::state::FILE_NAME`,
//! `ingest::outside::OutsideData`, `ingest::results`, `compute::job::report_from_file`,
//! `stats::auto`, `samples::KeptSeries` and `samples::catalogue::DeliveryStats`. Everything else
//! is `pub(crate)` or narrower.

pub mod agent;
pub mod compute;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod ingest;
pub mod samples;
pub mod stats;
mod util;

pub use util::memory::tune_allocator;
