//! costpush: turns video-encoding results files into energy, cost, CO2 and quality samples and
//! pushes them to VictoriaMetrics (or any Prometheus remote-write 1.0 receiver).

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
