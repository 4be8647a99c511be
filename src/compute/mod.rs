//! Compute: each job's report (energy, cost, CO2, quality, what-if), the host's history (buckets
//! and training jobs), the projections over the buckets and the power model over the jobs. Pure:
//! plain data in and out, no I/O, no clock.

pub(crate) mod history;
pub mod job;
pub(crate) mod power_model;
pub(crate) mod projection;
pub(crate) mod workload;
