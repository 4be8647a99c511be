//! Series → remote-write request bodies: protobuf `WriteRequest`, snappy *block* compressed.
//!
//! Requests are bounded in samples. A series with more samples than fit is split across
//! consecutive requests, earlier samples first, so sending the requests in order keeps every
//! series in time order.

use prost::Message;

use super::proto::{Label, Sample, TimeSeries, WriteRequest};
use crate::samples::catalogue::Series;

/// Splits series into groups of at most `max_samples` samples each, preserving order.
pub fn batches(series: Vec<Series>, max_samples: usize) -> Vec<Vec<Series>> {
    let max = max_samples.max(1);
    let mut out: Vec<Vec<Series>> = Vec::new();
    let mut current: Vec<Series> = Vec::new();
    let mut room = max;
    for s in series {
        if s.samples.len() <= room {
            // The common case: the whole series fits, and moves without a copy.
            room -= s.samples.len();
            current.push(s);
        } else {
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
            continue;
        }
        if room == 0 {
            out.push(std::mem::take(&mut current));
            room = max;
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// `Sample { value = 1 (double), timestamp = 2 (int64) }`; zeros are left out, as in proto3.
fn sample_len(t: i64, v: f64) -> usize {
    (if v != 0.0 { 9 } else { 0 }) + (if t != 0 { 1 + varint_len(t as u64) } else { 0 })
}

/// The `WriteRequest` of a group of series in protobuf, written straight from the series: the
/// same bytes prost writes for [`write_request`], without building the message first.
pub fn encode(series: &[Series], buf: &mut Vec<u8>) {
    let mut labels = Vec::new();
    for s in series {
        label_block(s.labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())), &mut labels);
        put_timeseries(buf, &labels, &s.samples);
    }
}

/// The `TimeSeries.labels` entries of a series, in protobuf, into `out` (cleared first). A
/// series is written once per request it is in: its labels are encoded once and copied.
pub fn label_block<'a>(labels: impl Iterator<Item = (&'a [u8], &'a [u8])>, out: &mut Vec<u8>) {
    out.clear();
    for (n, v) in labels {
        put_label(out, n, v);
    }
}

/// Appends one `TimeSeries.labels` entry (see [`label_block`]); entries encoded apart and
/// concatenated make a label block.
pub fn put_label(out: &mut Vec<u8>, n: &[u8], v: &[u8]) {
    out.push(0x0a); // TimeSeries.labels = 1
    put_varint(out, (bytes_field_len(n) + bytes_field_len(v)) as u64);
    put_bytes_field(out, 0x0a, n);
    put_bytes_field(out, 0x12, v);
}

/// One `WriteRequest.timeseries` entry from its encoded labels (see [`label_block`]).
fn put_timeseries(buf: &mut Vec<u8>, labels: &[u8], samples: &[(i64, f64)]) {
    // Every sample is a tag, a one-byte length (a sample is at most 20 bytes) and the sample.
    let sample_bytes: usize = samples.iter().map(|(t, v)| 2 + sample_len(*t, *v)).sum();
    buf.push(0x0a); // WriteRequest.timeseries = 1
    put_varint(buf, (labels.len() + sample_bytes) as u64);
    buf.extend_from_slice(labels);
    buf.reserve(sample_bytes + 22);
    for (t, v) in samples {
        put_sample(buf, *t, *v);
    }
}

/// One `TimeSeries.samples` entry, assembled on the stack and appended at once (a million of
/// these make a large cycle: byte-by-byte pushes showed in its profile).
#[inline]
fn put_sample(buf: &mut Vec<u8>, t: i64, v: f64) {
    // tag, length, value, timestamp: at most 22 bytes
    let mut a = [0u8; 22];
    let mut n = 2;
    if v != 0.0 {
        a[n] = 0x09;
        a[n + 1..n + 9].copy_from_slice(&v.to_le_bytes());
        n += 9;
    }
    if t != 0 {
        a[n] = 0x10;
        n += 1;
        let mut x = t as u64;
        while x >= 0x80 {
            a[n] = (x as u8) | 0x80;
            x >>= 7;
            n += 1;
        }
        a[n] = x as u8;
        n += 1;
    }
    a[0] = 0x12; // TimeSeries.samples = 2
    a[1] = (n - 2) as u8;
    // A fixed-size copy (inlined) and a truncation beat a copy of `n` bytes (a call).
    let len = buf.len();
    buf.extend_from_slice(&a);
    buf.truncate(len + n);
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
    let mut raw = Vec::new();
    encode(series, &mut raw);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy block compression of an in-memory buffer cannot fail")
}

fn bytes_field_len(b: &[u8]) -> usize {
    if b.is_empty() {
        0
    } else {
        1 + varint_len(b.len() as u64) + b.len()
    }
}

fn put_bytes_field(buf: &mut Vec<u8>, tag: u8, b: &[u8]) {
    if !b.is_empty() {
        buf.push(tag);
        put_varint(buf, b.len() as u64);
        buf.extend_from_slice(b);
    }
}

/// [`body`] for many requests, built series by series ([`BodyEncoder::push`]), reusing the
/// protobuf buffer and snappy's table between them.
#[derive(Default)]
pub struct BodyEncoder {
    raw: Vec<u8>,
    snappy: Option<snap::raw::Encoder>,
    /// Snappy's output buffer, kept: a fresh one per body would be faulted in every time.
    compressed: Vec<u8>,
    /// Samples in `raw`.
    pending: u64,
}

impl BodyEncoder {
    /// Appends one series, from its encoded labels (see [`label_block`]), to the request being
    /// built (see [`BodyEncoder::finish`]).
    pub fn push(&mut self, labels: &[u8], samples: &[(i64, f64)]) {
        put_timeseries(&mut self.raw, labels, samples);
        self.pending += samples.len() as u64;
    }

    /// Samples pushed since the last [`BodyEncoder::finish`].
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// The compressed body of the series pushed since the last call (valid until the next).
    pub fn finish(&mut self) -> &[u8] {
        let n = self.compress_raw();
        self.raw.clear();
        self.pending = 0;
        &self.compressed[..n]
    }

    /// Hands `sink` the body of what was pushed and not finished yet, if anything, with its
    /// sample count.
    pub fn flush<E>(&mut self, sink: impl FnOnce(&[u8], u64) -> Result<(), E>) -> Result<(), E> {
        if self.pending == 0 {
            return Ok(());
        }
        let n = self.pending;
        sink(self.finish(), n)
    }

    /// Compresses `raw` into `compressed`; returns the compressed length.
    fn compress_raw(&mut self) -> usize {
        let max = snap::raw::max_compress_len(self.raw.len());
        if self.compressed.len() < max {
            // Freshly zeroed (calloc: mapped zero pages, not written), not `resize`: snappy
            // wants room for the worst case, but only the pages it writes become resident.
            self.compressed = vec![0; max];
        }
        self.snappy
            .get_or_insert_with(snap::raw::Encoder::new)
            .compress(&self.raw, &mut self.compressed)
            .expect("snappy block compression of an in-memory buffer cannot fail")
    }
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

    #[test]
    fn the_direct_encoding_is_byte_for_byte_what_prost_writes() {
        // Zeros, negatives, long strings (two-byte lengths), empty values and many samples.
        let long = "x".repeat(300);
        let s = vec![
            Series {
                labels: vec![("__name__".into(), "a".into()), ("k".into(), long.clone())],
                samples: vec![
                    (0, 0.0),
                    (-5, -0.0),
                    (1_767_614_520_000, 1.5),
                    (1, f64::MIN_POSITIVE),
                    (i64::MIN, f64::MAX),
                    (i64::MAX, -1.0),
                ],
            },
            Series {
                labels: vec![("__name__".into(), "b".into()), ("e".into(), "".into())],
                samples: vec![],
            },
            series("c", 200),
        ];
        let mut mine = Vec::new();
        encode(&s, &mut mine);
        assert_eq!(mine, write_request(&s).encode_to_vec());
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            assert_eq!(b.len(), prost::encoding::encoded_len_varint(v));
        }
    }
}
