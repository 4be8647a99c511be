//! Ingest: results files into jobs, and outside data (rates, intensity, power) with its I/O.

pub mod outside;
pub mod results;
pub(crate) mod sources;
