//! The remote-write 1.0 wire format of a request body: the generated protobuf messages
//! (`proto/remote.proto`), snappy *block* compressed. Delivery reads bodies only to split them.

use prost::Message;

#[allow(clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));
}

pub use generated::{metric_metadata::MetricType, Label, MetricMetadata, Sample, TimeSeries, WriteRequest};

/// A request body's message: snappy block, then protobuf.
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("snappy: {e}"))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

/// A message as a request body: protobuf, then snappy block (never the framed format).
pub(crate) fn encode(req: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .expect("snappy block compression of an in-memory buffer cannot fail")
}

/// A body of `series` series (`m0`, `m1`, ...) of `samples` samples each, and its sample count.
#[cfg(test)]
pub(crate) fn test_body(series: usize, samples: usize) -> (Vec<u8>, u64) {
    let timeseries = (0..series)
        .map(|i| TimeSeries {
            labels: vec![Label { name: "__name__".into(), value: format!("m{i}") }],
            samples: (0..samples)
                .map(|t| Sample { timestamp: 1_700_000_000_000 + t as i64, value: t as f64 })
                .collect(),
        })
        .collect();
    (encode(&WriteRequest { timeseries, ..WriteRequest::default() }), (series * samples) as u64)
}
