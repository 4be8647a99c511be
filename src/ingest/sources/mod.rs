//! Data from outside the results files: measured energy (a query API, the local RAPL counters),
//! dated exchange rates and hourly grid carbon intensity. Parsing and arithmetic here are pure;
//! the agent does the reading and fetching.

pub(crate) mod ecb;
pub(crate) mod intensity;
pub(crate) mod query;
pub(crate) mod rapl;
