//! Delivery: request bodies from the durable queue to the receiver, in order. Knows bodies, not
//! samples.
//!
//! Split as in Vector's remote-write sink: [`queue`] keeps bodies on disk, [`client`] makes one
//! attempt, [`retry`] decides what its answer means with a pure function, [`split`] halves a body
//! that is too large, and [`sender`] delivers the queue's batches oldest first; [`stats`] are the
//! delivery counters it keeps.

pub mod client;
pub mod proto;
pub mod queue;
pub mod retry;
pub mod sender;
pub mod split;
pub mod stats;
