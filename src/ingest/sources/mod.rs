//! Data from outside the results files: measured energy (a query API, the local RAPL counters),
//! dated exchange rates and hourly grid carbon intensity. Parsing and arithmetic here are pure;
//! the agent does the reading and fetching.

pub mod ecb;
pub mod intensity;
pub mod query;
pub mod rapl;
