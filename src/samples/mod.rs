//! Samples: reports into series, the metric catalogue of `docs/metrics.md`.

pub mod catalogue;
