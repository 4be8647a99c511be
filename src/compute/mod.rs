//! Per-job math and the host's history: reports, buckets, projections and the power model.

pub mod history;
pub mod predict;
pub mod report;
pub mod workload;
