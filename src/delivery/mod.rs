//! Prometheus remote write 1.0: the wire messages, the encoder and the HTTP client.
//!
//! Split as in Vector's sink: [`encode`] turns series into request bodies (pure), [`client`]
//! makes one attempt and decides what its answer means with a pure function, and [`sender`]
//! delivers the durable queue's batches in order with retries, backoff and 413 splitting.

pub mod client;
pub mod encode;
pub mod queue;
pub mod sender;

/// The generated remote-write 1.0 messages (`proto/remote.proto`).
pub mod proto {
    #![allow(clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));
}
