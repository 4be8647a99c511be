//! Delivery: request bodies from the durable queue to the receiver, in order. Knows bodies, not
//! samples.
//!
//! Split as in Vector's remote-write sink: `queue` keeps bodies on disk, `client` makes one
//! attempt, `retry` decides what its answer means with a pure function, `split` halves a body
//! that is too large, and `sender` delivers the queue's batches oldest first; `stats` are the
//! delivery counters it keeps. Each destination has all of these to itself: `outbox` is one
//! destination's queue, counters and wake-up, and where its queue lives.

pub(crate) mod client;
pub(crate) mod outbox;
pub mod proto;
pub(crate) mod queue;
pub(crate) mod retry;
pub(crate) mod sender;
pub(crate) mod split;
pub(crate) mod stats;
