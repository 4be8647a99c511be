//! Series → remote-write request bodies: protobuf `WriteRequest`, snappy *block* compressed.
//!
//! Requests are bounded in samples. A series with more samples than fit is split across
//! consecutive requests, earlier samples first, so sending the requests in order keeps every
//! series in time order.

use prost::Message;

use super::proto::{Label, Sample, TimeSeries, WriteRequest};
use crate::metrics::Series;

/// Splits series into groups of at most `max_samples` samples each, preserving order.
pub fn batches(series: Vec<Series>, max_samples: usize) -> Vec<Vec<Series>> {
    let max = max_samples.max(1);
    let mut out: Vec<Vec<Series>> = Vec::new();
    let mut current: Vec<Series> = Vec::new();
    let mut room = max;
    for s in series {
        let mut samples = s.samples.as_slice();
        while !samples.is_empty() {
            let take = samples.len().min(room);
            current.push(Series { labels: s.labels.clone(), samples: samples[..take].to_vec() });
            samples = &samples[take..];
            room -= take;
            if room == 0 {
                out.push(std::mem::take(&mut current));
                room = max;
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The protobuf message for a group of series.
pub fn write_request(series: &[Series]) -> WriteRequest {
    WriteRequest {
        timeseries: series
            .iter()
            .map(|s| TimeSeries {
                labels: s.labels.iter().map(|(n, v)| Label { name: n.clone(), value: v.clone() }).collect(),
                samples: s.samples.iter().map(|(t, v)| Sample { value: *v, timestamp: *t }).collect(),
            })
            .collect(),
    }
}

/// Protobuf-encodes and snappy-compresses (block format, never the framed format).
pub fn body(series: &[Series]) -> Vec<u8> {
    let raw = write_request(series).encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy block compression of an in-memory buffer cannot fail")
}

/// Inverse of [`body`], for tests and tools.
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("snappy: {e}"))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, n: usize) -> Series {
        Series {
            labels: vec![("__name__".into(), name.into())],
            samples: (0..n).map(|i| (i as i64, i as f64)).collect(),
        }
    }

    #[test]
    fn batches_are_bounded_and_keep_order() {
        let b = batches(vec![series("a", 3), series("b", 5), series("c", 1)], 4);
        let sizes: Vec<usize> = b.iter().map(|g| g.iter().map(|s| s.samples.len()).sum()).collect();
        assert_eq!(sizes, vec![4, 4, 1]);
        // b's samples are split 1 + 4 across the first two requests, in order
        assert_eq!(b[0][1].samples, vec![(0, 0.0)]);
        assert_eq!(b[1][0].samples, vec![(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]);
        assert_eq!(b[2][0].labels[0].1, "c");
        assert!(batches(vec![], 10).is_empty());
    }

    #[test]
    fn body_is_snappy_block_and_round_trips() {
        let s = vec![series("m", 2)];
        let b = body(&s);
        // the framed format starts with its stream identifier chunk; the block format does not
        assert_ne!(&b[..4], &[0xff, 0x06, 0x00, 0x00]);
        let req = decode(&b).unwrap();
        assert_eq!(req, write_request(&s));
        assert_eq!(req.timeseries[0].samples[1].timestamp, 1);
    }
}
