//! The shared vocabulary: a job, money, prices and energy. Plain data with no I/O, imported by
//! the configuration and every stage above it (ingest, compute, samples, the agent) and importing
//! none of them.

pub(crate) mod energy;
pub(crate) mod job;
pub(crate) mod money;
pub(crate) mod pricing;

pub(crate) use energy::{Baseline, EnergyMethod, Intensity, Measured};
pub(crate) use job::{Job, Rendition, Schema};
pub(crate) use money::{Currency, RateBook, Rates};
pub(crate) use pricing::{Embodied, RegionPricing, JOULES_PER_KWH};
