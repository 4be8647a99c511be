//! Request bodies written straight from a [`SeriesSet`]: protobuf `WriteRequest`, snappy *block*
//! compressed, bounded in samples. A series with more samples than fit is split across
//! consecutive bodies, earlier samples first, so sending the bodies in order keeps every series
//! in time order.
//!
//! The protobuf is written by hand, the same bytes prost writes for the generated message
//! (tested): every label of a cycle is encoded once, and a series' label block is copied.

use super::series::SeriesSet;

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

/// Appends one `TimeSeries.labels` entry (a label block is such entries, one per label); entries encoded apart and
/// concatenated make a label block.
pub(super) fn put_label(out: &mut Vec<u8>, n: &[u8], v: &[u8]) {
    out.push(0x0a); // TimeSeries.labels = 1
    put_varint(out, (bytes_field_len(n) + bytes_field_len(v)) as u64);
    put_bytes_field(out, 0x0a, n);
    put_bytes_field(out, 0x12, v);
}

/// One `WriteRequest.timeseries` entry from its encoded labels (see [`put_label`]).
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

/// Request bodies, built series by series (`BodyEncoder::push`), reusing the
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
    /// Appends one series, from its encoded labels (see [`put_label`]), to the request being
    /// built (see [`BodyEncoder::finish`]).
    pub(crate) fn push(&mut self, labels: &[u8], samples: &[(i64, f64)]) {
        put_timeseries(&mut self.raw, labels, samples);
        self.pending += samples.len() as u64;
    }

    /// Samples pushed since the last [`BodyEncoder::finish`].
    pub(crate) fn pending(&self) -> u64 {
        self.pending
    }

    /// The compressed body of the series pushed since the last call (valid until the next).
    pub(crate) fn finish(&mut self) -> &[u8] {
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

impl SeriesSet {
    /// Hands `sink` request bodies of `max_samples` samples each, one at a time (each body
    /// valid during its call): the series of `SeriesSet::into_series` in order, a series split
    /// across bodies where it does not fit, written straight from the keys (no label strings are
    /// made). The encoder may hold samples of a set before (they fill the first body); the last
    /// body, if not full, stays in it for the next set or [`BodyEncoder::flush`]. Stops at the
    /// first error of `sink`.
    pub fn write_bodies<E>(
        self,
        max_samples: usize,
        enc: &mut BodyEncoder,
        mut sink: impl FnMut(&[u8], u64) -> Result<(), E>,
    ) -> Result<(), E> {
        let max = max_samples.max(1) as u64;
        let mut result = Ok(());
        self.into_sorted().each_encoded(|block, samples| {
            if result.is_err() {
                return;
            }
            let mut rest = samples;
            while !rest.is_empty() {
                let room = max.saturating_sub(enc.pending()).max(1) as usize;
                let take = rest.len().min(room);
                enc.push(block, &rest[..take]);
                rest = &rest[take..];
                if enc.pending() >= max {
                    let n = enc.pending();
                    result = sink(enc.finish(), n);
                    if result.is_err() {
                        return;
                    }
                }
            }
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::delivery::proto::{self, Label, Sample, TimeSeries, WriteRequest};
    use crate::samples::Series;

    // The plain encoder the writer above must agree with: series through prost's message.

    /// Splits series into groups of at most `max_samples` samples each, preserving order.
    fn batches(series: Vec<Series>, max_samples: usize) -> Vec<Vec<Series>> {
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

    /// The `WriteRequest` of a group of series in protobuf, written straight from the series: the
    /// same bytes prost writes for [`write_request`], without building the message first.
    fn encode(series: &[Series], buf: &mut Vec<u8>) {
        let mut labels = Vec::new();
        for s in series {
            label_block(s.labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())), &mut labels);
            put_timeseries(buf, &labels, &s.samples);
        }
    }

    /// The `TimeSeries.labels` entries of a series, in protobuf, into `out` (cleared first). A
    /// series is written once per request it is in: its labels are encoded once and copied.
    fn label_block<'a>(labels: impl Iterator<Item = (&'a [u8], &'a [u8])>, out: &mut Vec<u8>) {
        out.clear();
        for (n, v) in labels {
            put_label(out, n, v);
        }
    }

    /// The protobuf message for a group of series.
    fn write_request(series: &[Series]) -> WriteRequest {
        WriteRequest {
            timeseries: series
                .iter()
                .map(|s| TimeSeries {
                    labels: s
                        .labels
                        .iter()
                        .map(|(n, v)| Label { name: n.clone(), value: v.clone() })
                        .collect(),
                    samples: s.samples.iter().map(|(t, v)| Sample { value: *v, timestamp: *t }).collect(),
                })
                .collect(),
            ..WriteRequest::default()
        }
    }

    /// Protobuf-encodes and snappy-compresses (block format, never the framed format).
    fn body(series: &[Series]) -> Vec<u8> {
        let mut raw = Vec::new();
        encode(series, &mut raw);
        snap::raw::Encoder::new()
            .compress_vec(&raw)
            .expect("snappy block compression of an in-memory buffer cannot fail")
    }

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
        let req = proto::decode(&b).unwrap();
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

    #[test]
    fn bodies_from_keys_are_the_batches_of_the_series() {
        let mut s = SeriesSet::default();
        for i in 0..40 {
            let v = (i % 7).to_string();
            s.add("m", &[("a", v.as_str()), ("z", "é \"q\"")], 1000 - i, i as f64);
            s.add("n", &[], i, 0.0);
        }
        let want: Vec<Vec<u8>> = batches(s.clone().into_series(), 9).iter().map(|b| body(b)).collect();
        let mut got = Vec::new();
        let mut enc = BodyEncoder::default();
        let mut sink = |b: &[u8], n| {
            got.push((b.to_vec(), n));
            Ok::<(), ()>(())
        };
        s.write_bodies(9, &mut enc, &mut sink).unwrap();
        enc.flush(&mut sink).unwrap();
        assert_eq!(got.iter().map(|(b, _)| b.clone()).collect::<Vec<_>>(), want);
        assert_eq!(got.iter().map(|(_, n)| n).sum::<u64>(), 80);
        assert!(got.iter().all(|(_, n)| *n <= 9));
    }

    #[test]
    fn bodies_fill_up_across_sets_and_the_rest_is_flushed() {
        let set = |name: &str| {
            let mut s = SeriesSet::default();
            for t in 0..7 {
                s.add(name, &[], t, t as f64);
            }
            s
        };
        let mut enc = BodyEncoder::default();
        let mut got: Vec<(Vec<String>, u64)> = Vec::new();
        let mut sink = |b: &[u8], n| {
            let req = proto::decode(b).unwrap();
            let names = req.timeseries.iter().map(|t| t.labels[0].value.clone()).collect();
            got.push((names, n));
            Ok::<(), ()>(())
        };
        set("a").write_bodies(5, &mut enc, &mut sink).unwrap();
        set("b").write_bodies(5, &mut enc, &mut sink).unwrap();
        assert_eq!(enc.pending(), 4);
        enc.flush(&mut sink).unwrap();
        enc.flush(&mut sink).unwrap(); // nothing left: no empty body
        let want = [(vec!["a"], 5), (vec!["a", "b"], 5), (vec!["b"], 4)];
        assert_eq!(got.len(), want.len());
        for ((names, n), (want_names, want_n)) in got.iter().zip(want) {
            assert_eq!(
                (names.as_slice(), *n),
                (&want_names.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..], want_n)
            );
        }
    }

    #[test]
    fn writing_bodies_stops_at_the_first_refusal() {
        let mut s = SeriesSet::default();
        for i in 0..40 {
            s.add("m", &[("i", i.to_string().as_str())], i, 1.0);
        }
        let mut calls = 0;
        let r = s.write_bodies(10, &mut BodyEncoder::default(), |_, n| {
            calls += 1;
            assert_eq!(n, 10);
            if calls == 2 {
                Err("disk full")
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err("disk full"));
        assert_eq!(calls, 2);
    }
}
