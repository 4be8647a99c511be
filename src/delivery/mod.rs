//! Delivery: request bodies from the durable queue to the receiver, in order. Knows bodies, not
//! samples.
//!
//! Split as in Vector's remote-write sink: [`queue`] keeps bodies on disk, [`client`] makes one
//! attempt and decides what its answer means with a pure function, and [`sender`] delivers the
//! queue's batches oldest first with retries, backoff and 413 splitting.

pub mod client;
pub mod proto;
pub mod queue;
pub mod sender;
