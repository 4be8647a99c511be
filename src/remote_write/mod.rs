//! Prometheus remote write 1.0: the wire messages, the encoder and the HTTP client.
//!
//! Split as in Vector's sink: [`encode`] turns series into request bodies (pure), [`client`]
//! sends them and decides retries with a pure function of the response.

pub mod client;
pub mod encode;

/// The generated remote-write 1.0 messages (`proto/remote.proto`).
pub mod proto {
    #![allow(clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));
}
