//! Compute: each job's report (energy, cost, CO2, quality, what-if), the host's history (buckets
//! and training jobs), the projections over the buckets and the power model over the jobs. Pure:
//! plain data in and out, no I/O, no clock.

pub mod history;
pub mod job;
pub mod power_model;
pub mod projection;
pub mod workload;
