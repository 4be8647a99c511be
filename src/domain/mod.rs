//! The shared vocabulary: a job, money, prices and energy. Plain data with no I/O, imported by
//! every stage above it (ingest, compute, samples, the agent) and importing none of them.

pub mod energy;
pub mod job;
pub mod money;
pub mod pricing;

pub use energy::{Baseline, EnergyMethod, Intensity, Measured};
pub use job::{Job, Rendition, Schema};
pub use money::{Currency, RateBook, Rates};
pub use pricing::{Embodied, RegionPricing, JOULES_PER_KWH};
