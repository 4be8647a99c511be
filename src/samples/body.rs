//! Request bodies written straight from a [`SeriesSet`]: protobuf `WriteRequest`, snappy *block*
//! compressed, bounded in samples. A series with more samples than fit is split across
//! consecutive bodies, earlier samples first, so sending the bodies in order keeps every series
//! in time order.
//!
//! The protobuf is written by hand, the same bytes prost writes for the generated message
//! (tested): every label of a cycle is encoded once, and a series' label block is copied. It is
//! compressed as it is written, a snappy block (64 KiB) at a time: snappy compresses each block
//! on its own, so the body is the same bytes as the whole protobuf compressed at once (tested),
//! and the protobuf is never held whole.

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

/// Snappy compresses its input in independent blocks of this size.
const SNAPPY_BLOCK: usize = 1 << 16;

/// Room at the front of a compressed body for its header, a varint of the uncompressed length.
const HEADER_ROOM: usize = 10;

/// Request bodies, built series by series (`BodyEncoder::push`), compressed a snappy block at a
/// time as they grow: the same bytes as compressing the whole protobuf at once, without holding
/// it. The buffers and snappy's table are kept from one body to the next.
#[derive(Default)]
pub struct BodyEncoder {
    /// Protobuf of this body not compressed yet: less than a block, plus the last series.
    raw: Vec<u8>,
    compressed: Compressed,
    /// Samples pushed into this body.
    pending: u64,
}

/// The compressed part of the body being built.
#[derive(Default)]
struct Compressed {
    snappy: Option<snap::raw::Encoder>,
    /// `HEADER_ROOM` bytes, then the compressed blocks (a finished body until the next
    /// body's first block).
    body: Vec<u8>,
    /// The protobuf bytes of this body compressed into `body`; 0 before its first block.
    raw_len: u64,
    /// One block compressed, with its own header (snappy's output for that block alone).
    block: Vec<u8>,
}

impl Compressed {
    /// Compresses one block (at most `SNAPPY_BLOCK` bytes) onto the body.
    fn push(&mut self, raw: &[u8]) {
        let max = snap::raw::max_compress_len(raw.len());
        if self.block.len() < max {
            self.block = vec![0; max];
        }
        let n = self
            .snappy
            .get_or_insert_with(snap::raw::Encoder::new)
            .compress(raw, &mut self.block)
            .expect("snappy block compression of an in-memory buffer cannot fail");
        if self.raw_len == 0 {
            self.start();
        }
        self.body.extend_from_slice(&self.block[varint_len(raw.len() as u64)..n]);
        self.raw_len += raw.len() as u64;
    }

    /// The body: its header put in front of its blocks (valid until the next push).
    fn finish(&mut self) -> &[u8] {
        if self.raw_len == 0 {
            self.start();
        }
        let mut header = Vec::with_capacity(HEADER_ROOM);
        put_varint(&mut header, self.raw_len);
        let start = HEADER_ROOM - header.len();
        self.body[start..HEADER_ROOM].copy_from_slice(&header);
        self.raw_len = 0;
        &self.body[start..]
    }

    /// A new body: the room for its header, no blocks.
    fn start(&mut self) {
        self.body.clear();
        self.body.resize(HEADER_ROOM, 0);
    }
}

impl BodyEncoder {
    /// Appends one series as [`BodyEncoder::push`] does, split so that no body holds more than
    /// `max_samples`; each body is handed to `sink` as soon as it is full.
    pub(crate) fn push_in_bodies<E>(
        &mut self,
        labels: &[u8],
        samples: &[(i64, f64)],
        max_samples: usize,
        sink: &mut impl FnMut(&[u8], u64) -> Result<(), E>,
    ) -> Result<(), E> {
        let max = max_samples.max(1) as u64;
        let mut rest = samples;
        while !rest.is_empty() {
            let room = max.saturating_sub(self.pending()).max(1) as usize;
            let take = rest.len().min(room);
            self.push(labels, &rest[..take]);
            rest = &rest[take..];
            if self.pending() >= max {
                let n = self.pending();
                sink(self.finish(), n)?;
            }
        }
        Ok(())
    }

    /// Appends one series, from its encoded labels (see [`put_label`]), to the request being
    /// built (see [`BodyEncoder::finish`]).
    pub(crate) fn push(&mut self, labels: &[u8], samples: &[(i64, f64)]) {
        put_timeseries(&mut self.raw, labels, samples);
        self.pending += samples.len() as u64;
        let full = self.raw.len() / SNAPPY_BLOCK * SNAPPY_BLOCK;
        if full > 0 {
            for block in self.raw[..full].chunks(SNAPPY_BLOCK) {
                self.compressed.push(block);
            }
            self.raw.drain(..full);
        }
    }

    /// Samples pushed since the last [`BodyEncoder::finish`].
    pub(crate) fn pending(&self) -> u64 {
        self.pending
    }

    /// The compressed body of the series pushed since the last call (valid until the next).
    pub(crate) fn finish(&mut self) -> &[u8] {
        if !self.raw.is_empty() {
            self.compressed.push(&self.raw);
            self.raw.clear();
        }
        self.pending = 0;
        self.compressed.finish()
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
        let mut result = Ok(());
        self.into_sorted().each_encoded(|block, samples| {
            if result.is_ok() {
                result = enc.push_in_bodies(block, samples, max_samples, &mut sink);
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
    fn bodies_of_many_blocks_are_the_whole_protobuf_compressed_at_once() {
        // Bodies of several snappy blocks, each ending within a block, and a series longer
        // than a block.
        let mut s = SeriesSet::default();
        for i in 0..3_000i64 {
            let v = format!("value-{}-{}", i % 97, "y".repeat((i % 40) as usize));
            s.add("m", &[("a", v.as_str()), ("job", i.to_string().as_str())], i, i as f64 / 7.0);
        }
        for t in 0..12_000 {
            s.add("long", &[("k", "v")], t, (t % 13) as f64);
        }
        let want: Vec<Vec<u8>> = batches(s.clone().into_series(), 7_000).iter().map(|b| body(b)).collect();
        let mut got = Vec::new();
        let mut enc = BodyEncoder::default();
        let mut sink = |b: &[u8], _| {
            got.push(b.to_vec());
            Ok::<(), ()>(())
        };
        s.write_bodies(7_000, &mut enc, &mut sink).unwrap();
        enc.flush(&mut sink).unwrap();
        assert_eq!(got.len(), 3);
        let raw_lens: Vec<usize> = want.iter().map(|b| snap::raw::decompress_len(b).unwrap()).collect();
        assert!(raw_lens.iter().all(|n| *n > SNAPPY_BLOCK) && raw_lens[1] > 3 * SNAPPY_BLOCK, "{raw_lens:?}");
        assert!(got == want, "the bodies differ from snappy's whole-buffer compression");
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
