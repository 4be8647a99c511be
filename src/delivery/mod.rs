//! Delivery: request bodies from the durable queue to the receiver, in order. Knows bodies, not
//! samples.
//!
//! Split as in Vector's remote-write sink: `queue` keeps bodies on disk, `client` makes one
//! attempt, `retry` decides what its answer means with a pure function, `split` halves a body
//! that is too large, and `sender` delivers the queue's batches oldest first; `stats` are the
//! delivery counters it keeps.

pub(crate) mod client;
pub mod proto;
pub(crate) mod queue;
pub(crate) mod retry;
pub(crate) mod sender;
pub(crate) mod split;
pub(crate) mod stats;
