//! Turning job reports into samples: the metric contract of `docs/metrics.md` lives here.
//!
//! Pure: the caller passes the clock (`now_ms`), the previous counter values and the reports,
//! and gets back a [`SeriesSet`] and the advanced counters. Nothing here sends or stores.
//!
//! Invariants the builder keeps, whatever the input:
//! - every series has `__name__`; label names are unique and sorted; no empty label values;
//! - no NaN or ±Inf is ever added: such a value is left out and counted
//!   (`costpush_samples_non_finite_total`);
//! - per-job values are stamped at the job's end (milliseconds);
//! - counters are stamped with the cycle's time and pushed every cycle, changed or not, so
//!   `increase()` always has recent samples (counters stamped at job ends would be sparse, and
//!   VictoriaMetrics' `increase()` then reads a lifetime total after a quiet spell). A new counter
//!   first gets a 0 one millisecond before its first value, so `increase()` counts the first job
//!   too; a counter never goes back in time, even if the clock does.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::compute::history::Bucket;
use crate::compute::predict::{prediction_bounds, NoProjection, Projection};
use crate::compute::report::JobReport;
use crate::domain::Job;
use crate::domain::{Currency, RateBook, Rates, RegionPricing, JOULES_PER_KWH};
use crate::stats::regress::Prediction;
use crate::util::hash;

pub type Labels = Vec<(String, String)>;

/// Samples grouped by series; each series' samples are kept in time order on output.
///
/// This is the hot path of a cycle (a million samples for a large backfill), so it is flat: a
/// series is a pair of small numbers, a sample is one entry in one list, and adding a sample to
/// a series already held allocates nothing.
///
/// - A *group* is the labels a job's samples share (sorted, in key format: `name 0xff value
///   0xfe` per label; UTF-8 never holds those two bytes), found once per job
///   ([`SeriesSet::group`]).
/// - An *own key* is `__name__` plus a sample's few extra labels, in the same format; the same
///   few dozen serve every group.
/// - A series is a (group, own key) pair. A job adds its samples in the same order as the job
///   before it, so the next sample's series is usually the group's next one: one short
///   comparison, no hashing ([`SeriesSet::add_in`]).
///
/// A series' identity is its full label set, however it was split into group and own key: on
/// output, series with the same labels come out as one.
#[derive(Debug, Default, Clone)]
pub struct SeriesSet {
    groups: Vec<Group>,
    /// Group key hash → indices into `groups`.
    group_index: HashIndex,
    owns: Vec<Box<[u8]>>,
    /// Own key hash → indices into `owns`.
    own_index: HashIndex,
    /// Each series' group and own key (indices into `groups` and `owns`).
    series: Vec<(u32, u32)>,
    /// Every sample, in the order added.
    samples: Vec<Sample>,
    scratch: Vec<u8>,
    non_finite: u64,
}

/// The series sharing one set of labels: the full labels of each are the group's merged with
/// its own key's (an own label replaces a group label of the same name).
#[derive(Debug, Default, Clone)]
struct Group {
    key: Box<[u8]>,
    /// Indices into `SeriesSet::series`, in the order first added.
    series: Vec<u32>,
    /// Where the next sample's series most likely is.
    cursor: usize,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    series: u32,
    ts_ms: i64,
    value: f64,
}

/// A handle on a group of a [`SeriesSet`] (valid for that set only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupId(u32);

/// The keys are hashed already: the index uses the hash as is.
#[derive(Debug, Default, Clone, Copy)]
struct BuildIdentity;

impl std::hash::BuildHasher for BuildIdentity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

#[derive(Debug, Default)]
struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; this keeps the trait complete.
        for b in bytes {
            self.0 = (self.0.rotate_left(8)) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Positions in a list by the hash of each element's key (more than one position per hash only
/// on a collision): the lookup shared by series, groups and counters.
#[derive(Debug, Default, Clone)]
struct HashIndex(std::collections::HashMap<u64, Vec<u32>, BuildIdentity>);

impl HashIndex {
    /// The position of the element with key hash `hash` for which `is` holds; else `next` is
    /// recorded for the hash and returned with `true`, and the caller appends the element there.
    fn find_or_insert(&mut self, hash: u64, is: impl Fn(usize) -> bool, next: usize) -> (usize, bool) {
        let slot = self.0.entry(hash).or_default();
        match slot.iter().find(|&&i| is(i as usize)) {
            Some(&i) => (i as usize, false),
            None => {
                slot.push(next as u32);
                (next, true)
            }
        }
    }
}

fn push_label(key: &mut Vec<u8>, k: &str, v: &str) {
    push_pair(key, k.as_bytes(), v.as_bytes());
}

fn push_pair(key: &mut Vec<u8>, k: &[u8], v: &[u8]) {
    key.extend_from_slice(k);
    key.push(0xff);
    key.extend_from_slice(v);
    key.push(0xfe);
}

/// The `(name, value)` pairs of a series key, in order.
pub(crate) fn key_pairs(key: &[u8]) -> KeyPairs<'_> {
    KeyPairs(key)
}

/// Iterator of [`key_pairs`]: the separators are found with `memchr` (keys are walked for every
/// series of every request).
#[derive(Clone)]
pub(crate) struct KeyPairs<'a>(&'a [u8]);

impl<'a> Iterator for KeyPairs<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.0.is_empty() {
                return None;
            }
            let end = memchr::memchr(0xfe, self.0).unwrap_or(self.0.len());
            let kv = &self.0[..end];
            self.0 = self.0.get(end + 1..).unwrap_or_default();
            if kv.is_empty() {
                continue;
            }
            let at = memchr::memchr(0xff, kv).unwrap_or(kv.len());
            return Some((&kv[..at], kv.get(at + 1..).unwrap_or_default()));
        }
    }
}

/// Whether `extra` is in key order already: names ascending, each once, all after `__name__`,
/// no empty values (so that `__name__` and `extra` are the series' own key as given).
fn in_key_order(extra: &[(&str, &str)]) -> bool {
    let mut prev = "__name__";
    for (k, v) in extra {
        if *k <= prev || v.is_empty() {
            return false;
        }
        prev = k;
    }
    true
}

/// Whether `own` is the key of `__name__` = `name` followed by `extra` (in key order).
fn own_key_is(own: &[u8], name: &str, extra: &[(&str, &str)]) -> bool {
    let mut rest = own;
    let mut eat = |k: &str, v: &str| {
        let (k, v) = (k.as_bytes(), v.as_bytes());
        let n = k.len() + v.len() + 2;
        let ok = rest.len() >= n
            && &rest[..k.len()] == k
            && rest[k.len()] == 0xff
            && &rest[k.len() + 1..n - 1] == v
            && rest[n - 1] == 0xfe;
        if ok {
            rest = &rest[n..];
        }
        ok
    };
    eat("__name__", name) && extra.iter().all(|(k, v)| eat(k, v)) && rest.is_empty()
}

/// The labels of a group's series, in name order: the group's merged with the series' own key's;
/// where both have a name, the own one is kept. Items are `(name, anything)`: the labels
/// themselves, or where their encoded entries are (see [`Sorted::each_encoded`]).
struct Merged<A: Iterator, B: Iterator> {
    group: std::iter::Peekable<A>,
    own: std::iter::Peekable<B>,
}

/// The labels of a group key merged with an own key's.
type KeyLabels<'a> = Merged<KeyPairs<'a>, KeyPairs<'a>>;

impl<'a> KeyLabels<'a> {
    /// The labels of the group key `group` merged with the own key `own`.
    fn keys(group: &'a [u8], own: &'a [u8]) -> Self {
        Merged::new(key_pairs(group), key_pairs(own))
    }
}

impl<A: Iterator, B: Iterator> Merged<A, B> {
    fn new(group: A, own: B) -> Self {
        Merged { group: group.peekable(), own: own.peekable() }
    }
}

impl<'a, T, A, B> Iterator for Merged<A, B>
where
    A: Iterator<Item = (&'a [u8], T)>,
    B: Iterator<Item = (&'a [u8], T)>,
{
    type Item = (&'a [u8], T);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let take_group = match (self.group.peek(), self.own.peek()) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(g), Some(o)) if g.0 == o.0 => {
                    self.group.next(); // replaced by the own label
                    continue;
                }
                (Some(g), Some(o)) => g.0 < o.0,
            };
            return if take_group { self.group.next() } else { self.own.next() };
        }
    }
}

/// A hash of one label, mixed so that labels can be summed into the hash of a label set.
fn pair_hash(k: &[u8], v: &[u8]) -> u64 {
    hash::mix(hash::words(k) ^ hash::words(v).rotate_left(32))
}

/// A group's labels (name, hash of the label) and the sum of their hashes.
type LabelHashes<'a> = (Vec<(&'a [u8], u64)>, u64);

/// An own key's metric name, its other label names, and the sum of its label hashes.
type OwnHashes<'a> = (&'a [u8], Vec<&'a [u8]>, u64);

/// The series of a [`SeriesSet`] in output order, each with its samples in time order.
struct Sorted {
    groups: Vec<Group>,
    owns: Vec<Box<[u8]>>,
    /// (group, own key) of each output series.
    out: Vec<(u32, u32)>,
    /// Every sample, its `series` now its output series: sorted by that, then time.
    samples: Vec<Sample>,
}

impl Sorted {
    /// Each output series: its labels (in key order) and its samples.
    fn each(&self, mut f: impl FnMut(KeyLabels<'_>, &[(i64, f64)])) {
        self.each_series(|g, o, samples| {
            f(Merged::keys(&self.groups[g as usize].key, &self.owns[o as usize]), samples)
        });
    }

    /// Each output series: its labels as a protobuf label block (see
    /// [`crate::delivery::encode::label_block`]) and its samples. Every label of every
    /// group and own key is split and encoded once; a series' block is those pieces, merged by
    /// name and copied.
    fn each_encoded(&self, mut f: impl FnMut(&[u8], &[(i64, f64)])) {
        use crate::delivery::encode::put_label;
        fn split<'k>(key: &'k [u8], bytes: &mut Vec<u8>) -> Vec<Piece<'k>> {
            key_pairs(key)
                .map(|(k, v)| {
                    let start = bytes.len();
                    put_label(bytes, k, v);
                    (k, (start as u32, bytes.len() as u32))
                })
                .collect()
        }
        let mut bytes = Vec::new();
        let groups: Vec<Vec<Piece<'_>>> = self.groups.iter().map(|g| split(&g.key, &mut bytes)).collect();
        let owns: Vec<Vec<Piece<'_>>> = self.owns.iter().map(|o| split(o, &mut bytes)).collect();
        let mut block = Vec::new();
        self.each_series(|g, o, samples| {
            block.clear();
            let (a, b) = (groups[g as usize].iter().copied(), owns[o as usize].iter().copied());
            for (_, (start, end)) in Merged::new(a, b) {
                block.extend_from_slice(&bytes[start as usize..end as usize]);
            }
            f(&block, samples);
        });
    }

    /// Each output series' group, own key and samples.
    fn each_series(&self, mut f: impl FnMut(u32, u32, &[(i64, f64)])) {
        let mut run: Vec<(i64, f64)> = Vec::new();
        for (i, part) in self.samples.chunk_by(|a, b| a.series == b.series).enumerate() {
            debug_assert_eq!(part[0].series as usize, i);
            let (g, o) = self.out[i];
            run.clear();
            run.extend(part.iter().map(|s| (s.ts_ms, s.value)));
            f(g, o, &run);
        }
    }
}

/// A label's name, and where its encoded entry is in the shared buffer (start, end).
type Piece<'a> = (&'a [u8], (u32, u32));

/// Labels sorted by name, each name once, none empty and no `__name__`: the part of a series
/// key shared by every sample of a job, sorted once (see [`SeriesSet::add_to`]).
pub struct SortedLabels<'a>(Vec<(&'a str, &'a str)>);

impl<'a> SortedLabels<'a> {
    pub fn new(labels: &[(&'a str, &'a str)]) -> SortedLabels<'a> {
        let mut v: Vec<(&str, &str)> =
            labels.iter().filter(|(k, v)| !v.is_empty() && *k != "__name__").copied().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        // Stable: among equal names the later is last; keep it.
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(v.len());
        for l in v {
            match out.last_mut() {
                Some(last) if last.0 == l.0 => *last = l,
                _ => out.push(l),
            }
        }
        SortedLabels(out)
    }
}
/// One series ready for the wire: sorted labels including `__name__`, samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

/// Most labels sorted on the stack; more (many `extra_labels`) go to the heap.
const STACK_LABELS: usize = 32;

/// `__name__` plus the labels, sorted by name, each name once (a repeated name keeps the later
/// value), labels with empty values dropped; handed to `f` as a slice.
/// Sorts labels by name and keeps the last of each name; returns how many are kept (first).
fn sort_dedup(v: &mut [(&str, &str)]) -> usize {
    // Stable, so among equal names the later one is last; keep that one.
    v.sort_by(|a, b| a.0.cmp(b.0));
    let mut n = 0;
    for i in 0..v.len() {
        if i + 1 < v.len() && v[i + 1].0 == v[i].0 {
            continue;
        }
        v[n] = v[i];
        n += 1;
    }
    n
}

fn with_sorted<R>(name: &str, labels: &[(&str, &str)], f: impl FnOnce(&[(&str, &str)]) -> R) -> R {
    let keep = |(k, v): &&(&str, &str)| !v.is_empty() && *k != "__name__";
    if labels.len() < STACK_LABELS {
        let mut buf: [(&str, &str); STACK_LABELS] = [("", ""); STACK_LABELS];
        let mut n = 0;
        for l in labels.iter().filter(keep) {
            buf[n] = *l;
            n += 1;
        }
        buf[n] = ("__name__", name);
        let n = sort_dedup(&mut buf[..n + 1]);
        f(&buf[..n])
    } else {
        let mut v: Vec<(&str, &str)> = labels.iter().filter(keep).copied().collect();
        v.push(("__name__", name));
        let n = sort_dedup(&mut v);
        f(&v[..n])
    }
}

/// The key of `__name__` = `name` plus `labels` (as [`with_sorted`] orders them) into `key`.
fn write_key(key: &mut Vec<u8>, name: &str, labels: &[(&str, &str)]) {
    key.clear();
    with_sorted(name, labels, |l| {
        for (k, v) in l {
            push_label(key, k, v);
        }
    });
}

fn same(a: &Labels, b: &[(&str, &str)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((k1, v1), (k2, v2))| k1 == k2 && v1 == v2)
}

/// The identity of a series: `__name__` plus the labels, sorted by name, each name once (a
/// repeated name keeps the later value), labels with empty values dropped.
pub fn series_key(name: &str, labels: &[(&str, &str)]) -> Labels {
    with_sorted(name, labels, |l| l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

impl SeriesSet {
    /// Adds a sample to the series [`series_key`] names; NaN and ±Inf are counted, not added.
    pub fn add(&mut self, name: &str, labels: &[(&str, &str)], ts_ms: i64, value: f64) {
        self.add_to(name, &SortedLabels::new(labels), &[], ts_ms, value);
    }

    /// [`SeriesSet::add`] with the labels `base` (sorted once for many samples) plus `extra`
    /// (a later value wins over an earlier one with the same name, as in `add`).
    pub fn add_to(
        &mut self,
        name: &str,
        base: &SortedLabels<'_>,
        extra: &[(&str, &str)],
        ts_ms: i64,
        value: f64,
    ) {
        let g = self.group(base);
        self.add_in(g, name, extra, ts_ms, value);
    }

    /// The group of series that share the labels `base` (created if new); its next series
    /// is expected to be its first (see [`SeriesSet::add_in`]).
    pub fn group(&mut self, base: &SortedLabels<'_>) -> GroupId {
        let mut key = std::mem::take(&mut self.scratch);
        key.clear();
        for (k, v) in &base.0 {
            push_label(&mut key, k, v);
        }
        let g = self.group_of_key(&key);
        self.groups[g as usize].cursor = 0;
        self.scratch = key;
        GroupId(g)
    }

    fn group_of_key(&mut self, key: &[u8]) -> u32 {
        let groups = &mut self.groups;
        let (i, new) =
            self.group_index.find_or_insert(hash::words(key), |i| *groups[i].key == *key, groups.len());
        if new {
            groups.push(Group { key: key.into(), ..Group::default() });
        }
        i as u32
    }

    fn own_of_key(&mut self, key: &[u8]) -> u32 {
        let owns = &mut self.owns;
        let (i, new) = self.own_index.find_or_insert(hash::words(key), |i| *owns[i] == *key, owns.len());
        if new {
            owns.push(key.into());
        }
        i as u32
    }

    /// The series of group `g` with own key `own` (created if new); the group's cursor moves
    /// past it.
    fn series_in(&mut self, g: u32, own: u32) -> u32 {
        let group = &mut self.groups[g as usize];
        let series = &self.series;
        let at = match group.series.get(group.cursor) {
            Some(&s) if series[s as usize].1 == own => Some(group.cursor),
            _ => group.series.iter().position(|&s| series[s as usize].1 == own),
        };
        match at {
            Some(i) => {
                group.cursor = i + 1;
                group.series[i]
            }
            None => {
                let s = self.series.len() as u32;
                self.series.push((g, own));
                group.series.push(s);
                group.cursor = group.series.len();
                s
            }
        }
    }

    /// The labels of group `g`, in key format (a stable identity of the label set).
    pub fn group_key(&self, g: GroupId) -> &[u8] {
        &self.groups[g.0 as usize].key
    }

    /// Adds a sample to the series of group `g` named `name` with the labels `extra` (as in
    /// [`SeriesSet::add_to`]); NaN and ±Inf are counted, not added.
    pub fn add_in(&mut self, g: GroupId, name: &str, extra: &[(&str, &str)], ts_ms: i64, value: f64) {
        if !value.is_finite() {
            self.non_finite += 1;
            return;
        }
        // The common case, checked without building the key: extras given in key order, and
        // the series is the group's next.
        let group = &mut self.groups[g.0 as usize];
        if in_key_order(extra) {
            if let Some(&s) = group.series.get(group.cursor) {
                if own_key_is(&self.owns[self.series[s as usize].1 as usize], name, extra) {
                    group.cursor += 1;
                    self.samples.push(Sample { series: s, ts_ms, value });
                    return;
                }
            }
        }
        let mut key = std::mem::take(&mut self.scratch);
        write_key(&mut key, name, extra);
        let own = self.own_of_key(&key);
        self.scratch = key;
        let series = self.series_in(g.0, own);
        self.samples.push(Sample { series, ts_ms, value });
    }

    /// Adds every sample of `other` (for a cycle built in parts).
    pub fn merge(&mut self, other: SeriesSet) {
        let groups: Vec<u32> = other.groups.iter().map(|g| self.group_of_key(&g.key)).collect();
        let owns: Vec<u32> = other.owns.iter().map(|o| self.own_of_key(o)).collect();
        let series: Vec<u32> =
            other.series.iter().map(|&(g, o)| self.series_in(groups[g as usize], owns[o as usize])).collect();
        self.samples.extend(other.samples.iter().map(|s| Sample { series: series[s.series as usize], ..*s }));
        self.non_finite += other.non_finite;
    }

    /// Values left out because they were NaN or infinite.
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Timestamps of every sample (for window checks).
    pub fn timestamps(&self) -> impl Iterator<Item = i64> + '_ {
        self.samples.iter().map(|s| s.ts_ms)
    }

    /// The series in a fixed order, each with samples sorted by time (see
    /// [`SeriesSet::into_sorted`]).
    pub fn into_series(self) -> Vec<Series> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut out = Vec::new();
        self.into_sorted().each(|labels, samples| {
            out.push(Series {
                labels: labels.map(|(k, v)| (text(k), text(v))).collect(),
                samples: samples.to_vec(),
            })
        });
        out
    }

    /// The series in output order, samples in time order (equal stamps by value). Series with
    /// the same labels, however split into group and own key, come out as one.
    ///
    /// The order depends on the series' labels alone (so the same cycle always makes the same
    /// batches): by metric name, then by a hash of the whole label set (summed from a hash per
    /// label, so it needs no key built per series), then, in the rare tie, by the labels.
    fn into_sorted(self) -> Sorted {
        let SeriesSet { groups, owns, series, samples, .. } = self;
        // Each group's labels (sorted) with their hashes, and their sum.
        let group_hashes: Vec<LabelHashes> = groups
            .iter()
            .map(|g| {
                let pairs: Vec<(&[u8], u64)> = key_pairs(&g.key).map(|(k, v)| (k, pair_hash(k, v))).collect();
                let sum = pairs.iter().fold(0u64, |a, p| a.wrapping_add(p.1));
                (pairs, sum)
            })
            .collect();
        // Each own key's metric name, other label names and hash sum.
        let own_info: Vec<OwnHashes> = owns
            .iter()
            .map(|o| {
                let (mut name, mut others, mut sum) = (&[][..], Vec::new(), 0u64);
                for (k, v) in key_pairs(o) {
                    sum = sum.wrapping_add(pair_hash(k, v));
                    if k == b"__name__" {
                        name = v;
                    } else {
                        others.push(k);
                    }
                }
                (name, others, sum)
            })
            .collect();
        let mut names: Vec<&[u8]> = own_info.iter().map(|o| o.0).collect();
        names.sort_unstable();
        names.dedup();
        let rank: Vec<u32> = own_info
            .iter()
            .map(|o| names.binary_search(&o.0).expect("every name is listed") as u32)
            .collect();
        // (name rank, hash, series) packed in one u128: 16 bytes a series, sorted as numbers.
        let mut order: Vec<u128> = series
            .iter()
            .enumerate()
            .map(|(i, &(g, o))| {
                let (pairs, gsum) = &group_hashes[g as usize];
                let (_, others, osum) = &own_info[o as usize];
                let mut h = gsum.wrapping_add(*osum);
                for k in others {
                    // An own label replaces the group's of the same name.
                    if let Ok(j) = pairs.binary_search_by(|p| p.0.cmp(k)) {
                        h = h.wrapping_sub(pairs[j].1);
                    }
                }
                (rank[o as usize] as u128) << 96 | (h as u128) << 32 | i as u128
            })
            .collect();
        drop(group_hashes);
        drop(own_info);
        order.sort_unstable();

        // Output series of each series; equal (name, hash) runs are told apart by their labels.
        let mut slot_of = vec![0u32; series.len()];
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(series.len());
        let full_key = |s: u32| {
            let (g, o) = series[s as usize];
            let mut key = Vec::new();
            for (k, v) in Merged::keys(&groups[g as usize].key, &owns[o as usize]) {
                push_pair(&mut key, k, v);
            }
            key
        };
        let series_of = |e: u128| e as u32;
        let mut i = 0;
        while i < order.len() {
            let mut j = i + 1;
            while j < order.len() && order[j] >> 32 == order[i] >> 32 {
                j += 1;
            }
            if j == i + 1 {
                slot_of[series_of(order[i]) as usize] = out.len() as u32;
                out.push(series[series_of(order[i]) as usize]);
            } else {
                let mut run: Vec<(Vec<u8>, u32)> =
                    order[i..j].iter().map(|&e| (full_key(series_of(e)), series_of(e))).collect();
                run.sort();
                for (n, (key, s)) in run.iter().enumerate() {
                    if n == 0 || run[n - 1].0 != *key {
                        out.push(series[*s as usize]);
                    }
                    slot_of[*s as usize] = out.len() as u32 - 1;
                }
            }
            i = j;
        }
        drop(order);

        // Samples by output series (in place, in linear time: each is swapped straight into its
        // series' range), then each series' by time; equal stamps by value (a receiver keeps
        // one of them anyway), so the order depends on the samples alone.
        let mut samples = samples;
        let mut end = vec![0u32; out.len()];
        for s in samples.iter_mut() {
            s.series = slot_of[s.series as usize];
            end[s.series as usize] += 1;
        }
        drop(slot_of);
        let mut next = vec![0u32; out.len()];
        let mut at = 0;
        for (n, e) in next.iter_mut().zip(end.iter_mut()) {
            *n = at;
            at += *e;
            *e = at;
        }
        for b in 0..out.len() {
            while next[b] < end[b] {
                let i = next[b] as usize;
                let home = samples[i].series as usize;
                if home == b {
                    next[b] += 1;
                } else {
                    samples.swap(i, next[home] as usize);
                    next[home] += 1;
                }
            }
        }
        drop((next, end));
        for run in samples.chunk_by_mut(|a, b| a.series == b.series) {
            if run.len() > 1 {
                run.sort_unstable_by_key(|s| (s.ts_ms, s.value.to_bits()));
            }
        }
        Sorted { groups, owns, out, samples }
    }

    /// Hands `sink` request bodies of `max_samples` samples each, one at a time (each body
    /// valid during its call): the same requests as `encode::batches` over
    /// [`SeriesSet::into_series`], written straight from the keys (no label strings are made).
    /// The encoder may hold samples of a set before (they fill the first body); the last body,
    /// if not full, stays in it for the next set or [`BodyEncoder::flush`]. Stops at the first
    /// error of `sink`.
    ///
    /// [`BodyEncoder::flush`]: crate::delivery::encode::BodyEncoder::flush
    pub fn write_bodies<E>(
        self,
        max_samples: usize,
        enc: &mut crate::delivery::encode::BodyEncoder,
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

    /// Prometheus text exposition, one line per sample, with millisecond timestamps; series in
    /// label order (for people reading a dry run).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut all = self.clone().into_series();
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        for s in all {
            let name = &s.labels.iter().find(|(k, _)| k == "__name__").expect("every series has a name").1;
            let mut head = name.clone();
            let rest: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| k != "__name__")
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            if !rest.is_empty() {
                let _ = write!(head, "{{{}}}", rest.join(","));
            }
            for (t, v) in s.samples {
                let _ = writeln!(out, "{head} {v:?} {t}");
            }
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Marks a counter created this cycle (never emitted yet).
const NEW: i64 = i64::MIN;

/// Last value and time of one counter series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CounterState {
    pub value: f64,
    pub ts_ms: i64,
}

/// Every counter costpush keeps, persisted so they survive restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    /// In the order first used; stored sorted by labels.
    #[serde(with = "counter_list")]
    entries: Vec<(Labels, CounterState)>,
    /// Label hash → indices into `entries`, so finding a counter costs no allocation.
    #[serde(skip)]
    index: KeyIndex,
}

#[derive(Debug, Clone, Default)]
struct KeyIndex {
    by_hash: HashIndex,
    /// How many of the entries are in `by_hash` (loaded ones are indexed on first use).
    indexed: usize,
    scratch: Vec<u8>,
}

/// Two counter sets are equal when they hold the same counters, in whatever order.
impl PartialEq for Counters {
    fn eq(&self, other: &Self) -> bool {
        let sorted = |c: &Counters| {
            let mut v: Vec<&(Labels, CounterState)> = c.entries.iter().collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v.into_iter().cloned().collect::<Vec<_>>()
        };
        self.entries.len() == other.entries.len() && sorted(self) == sorted(other)
    }
}

/// Counters are stored as a list sorted by labels (JSON maps need string keys).
mod counter_list {
    use super::{CounterState, Labels};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    #[derive(Serialize, Deserialize)]
    struct Entry {
        labels: BTreeMap<String, String>,
        value: f64,
        ts_ms: i64,
    }

    pub fn serialize<S: Serializer>(m: &[(Labels, CounterState)], s: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<&(Labels, CounterState)> = m.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let v: Vec<Entry> = sorted
            .into_iter()
            .map(|(l, c)| Entry { labels: l.iter().cloned().collect(), value: c.value, ts_ms: c.ts_ms })
            .collect();
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(Labels, CounterState)>, D::Error> {
        let v: Vec<Entry> = Vec::deserialize(d)?;
        let mut out: BTreeMap<Labels, CounterState> = BTreeMap::new();
        for e in v {
            out.insert(e.labels.into_iter().collect(), CounterState { value: e.value, ts_ms: e.ts_ms });
        }
        Ok(out.into_iter().collect())
    }
}

/// The key bytes of a counter's labels (as [`SeriesSet`] keys them).
fn key_of(labels: &Labels, buf: &mut Vec<u8>) {
    buf.clear();
    for (k, v) in labels {
        push_label(buf, k, v);
    }
}

impl Counters {
    /// Adds `delta` to a counter (created at 0). Nothing is emitted until [`Counters::emit`].
    fn add(&mut self, out: &mut SeriesSet, name: &str, labels: &[(&str, &str)], delta: f64) {
        if !delta.is_finite() || delta < 0.0 {
            out.non_finite += u64::from(!delta.is_finite());
            return;
        }
        let slot = self.slot(name, labels);
        self.add_at(out, slot, delta);
    }

    /// Where the counter [`series_key`] names is (created at 0 if new).
    fn slot(&mut self, name: &str, labels: &[(&str, &str)]) -> usize {
        let Counters { entries, index } = self;
        let mut key = std::mem::take(&mut index.scratch);
        while index.indexed < entries.len() {
            key_of(&entries[index.indexed].0, &mut key);
            // Loaded entries are distinct: each gets its own position.
            index.by_hash.find_or_insert(hash::words(&key), |_| false, index.indexed);
            index.indexed += 1;
        }
        let at = with_sorted(name, labels, |l| {
            key.clear();
            for (k, v) in l {
                push_label(&mut key, k, v);
            }
            let (i, new) =
                index.by_hash.find_or_insert(hash::words(&key), |i| same(&entries[i].0, l), entries.len());
            if new {
                let labels: Labels = l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                entries.push((labels, CounterState { value: 0.0, ts_ms: NEW }));
                index.indexed = entries.len();
            }
            i
        });
        index.scratch = key;
        at
    }

    /// Adds `delta` to the counter at `slot` (see [`Counters::add`] for what is refused).
    fn add_at(&mut self, out: &mut SeriesSet, slot: usize, delta: f64) {
        if !delta.is_finite() || delta < 0.0 {
            out.non_finite += u64::from(!delta.is_finite());
            return;
        }
        let c = &mut self.entries[slot].1;
        let value = c.value + delta;
        if value.is_finite() {
            c.value = value;
        } else {
            out.non_finite += 1;
        }
    }

    /// Emits every counter at `now_ms` (each cycle, changed or not, so that `increase()` always
    /// finds recent samples). A new counter also gets a 0 one millisecond earlier. A clock that
    /// went back never makes a counter go back in time: its stamp moves to its last one + 1 ms.
    pub fn emit(&mut self, out: &mut SeriesSet, now_ms: i64) {
        for (key, c) in self.entries.iter_mut() {
            let name = &key.iter().find(|(k, _)| k == "__name__").expect("a counter has a name").1;
            let labels: Vec<(&str, &str)> =
                key.iter().filter(|(k, _)| k != "__name__").map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let ts = if c.ts_ms == NEW {
                out.add(name, &labels, now_ms - 1, 0.0);
                now_ms
            } else {
                now_ms.max(c.ts_ms + 1)
            };
            out.add(name, &labels, ts, c.value);
            c.ts_ms = ts;
        }
    }

    /// Current value of a counter, 0 if it does not exist yet.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let key = series_key(name, labels);
        self.entries.iter().find(|(l, _)| *l == key).map_or(0.0, |(_, c)| c.value)
    }
}

/// What the builder needs to know about this host and its pricing.
pub struct Context<'a> {
    pub host: &'a str,
    pub region: &'a RegionPricing,
    pub regions: &'a BTreeMap<String, RegionPricing>,
    /// Rates by day: a job converts at its day's, everything else at the newest.
    pub rates: &'a RateBook,
    /// Whether the rates come by day (ECB) rather than as one fixed table.
    pub dated_rates: bool,
    pub reporting: &'a [Currency],
    pub extra_labels: &'a BTreeMap<String, String>,
    pub version: &'a str,
    pub cores_without_cpu_samples: f64,
}

impl Context<'_> {
    /// Every currency a value priced in `own` is pushed in (the reporting currencies, then `own`
    /// if it is not one of them), with the factor that converts into it.
    fn conversions(&self, own: Currency) -> Vec<(Currency, f64)> {
        self.conversions_with(self.rates.newest(), own)
    }

    fn conversions_with(&self, rates: &Rates, own: Currency) -> Vec<(Currency, f64)> {
        let mut v = self.reporting.to_vec();
        if !v.contains(&own) {
            v.push(own);
        }
        v.into_iter().filter_map(|c| rates.convert(1.0, own, c).map(|f| (c, f))).collect()
    }

    /// The `actual` label of a what-if for `region`.
    fn actual(&self, region: &str) -> &'static str {
        if region == self.region.name {
            "true"
        } else {
            "false"
        }
    }
}

/// What happened during the cycle before any sample was built (for the agent's own metrics).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CycleStats {
    pub files_matched: u64,
    pub files_ingested: u64,
    pub files_malformed: u64,
    pub files_incomplete: u64,
    pub files_unreadable: u64,
    pub jobs_invalid: u64,
    pub fields_left_out: u64,
    pub delivery: DeliveryStats,
    /// Jobs an energy source did not cover, by (method, reason), counted once decided.
    pub energy_misses: BTreeMap<(&'static str, &'static str), u64>,
    /// Jobs not taken in this cycle because a source may still cover them.
    pub jobs_waiting: u64,
    /// The idle baseline in force.
    pub baseline: Option<crate::domain::Baseline>,
    pub ecb_fetch_failures: u64,
    pub rapl_read_failures: u64,
    /// Readings in the RAPL ring (`None`: no RAPL source).
    pub rapl_readings: Option<u64>,
}

/// The queue and the sender as the cycle found them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeliveryStats {
    pub queue_bytes: u64,
    pub queue_batches: u64,
    pub sent_samples: u64,
    pub retried_samples: u64,
    /// Samples dropped, by reason; every reason listed, zeros included.
    pub dropped: Vec<(&'static str, u64)>,
    pub last_success_ms: Option<i64>,
    pub backoff_seconds: f64,
}

/// The power model as a cycle saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    Fitted {
        n: usize,
        p: usize,
        r2: f64,
        adj_r2: f64,
        rmse: f64,
        condition_number: f64,
        loo_coverage: Option<f64>,
        rank_deficient: bool,
        ill_conditioned: bool,
    },
    /// Label value of `status`: "too_few_jobs", "fit_failed" or "disabled".
    Unavailable(&'static str),
}

/// A what-if encode's predicted power, and how long it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodePrediction {
    pub name: String,
    pub duration_s: f64,
    pub power: Prediction,
}

/// Projections, predictions and buckets for one cycle (all optional).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Insights {
    /// One per job, in the order of `build`'s `jobs`.
    pub job_predictions: Vec<Option<Prediction>>,
    /// Jobs without a prediction this cycle, by reason ("no_model", "missing_features",
    /// "unknown_level").
    pub predictions_skipped: Vec<(&'static str, u64)>,
    pub model: Option<ModelState>,
    pub encodes: Vec<EncodePrediction>,
    pub projections: Vec<Result<Projection, NoProjection>>,
    /// Push the forecast curves (only when they were just computed), stamped this many ms after
    /// each bucket start so that successive curves never share a timestamp.
    pub curve_offset_ms: Option<i64>,
    /// Newly completed buckets: (start, Unix ms; totals in the region's currency).
    pub buckets: Vec<(i64, Bucket)>,
    pub sigma2: &'static str,
}

/// Outcome of [`build`].
pub struct Built {
    pub set: SeriesSet,
    pub counters: Counters,
    pub too_old: u64,
    pub too_new: u64,
}

/// VictoriaMetrics refuses samples more than this far ahead of its clock.
pub const MAX_FUTURE_MS: i64 = 2 * 86_400_000;

fn ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// Builds every sample of one cycle (the jobs, then the cycle's own samples; see
/// [`build_jobs`] and [`build_cycle`], which a chunked cycle calls separately).
pub fn build(
    ctx: &Context<'_>,
    jobs: &[(&Job, &JobReport)],
    insights: &Insights,
    prev: &Counters,
    stats: &CycleStats,
    now_ms: i64,
    retention_ms: i64,
) -> Built {
    let mut set = SeriesSet::default();
    let mut counters = prev.clone();
    let mut stamps = Stamps::default();
    build_jobs(ctx, jobs, &insights.job_predictions, &mut stamps, &mut counters, &mut set);
    let window = count_window(&set, now_ms, retention_ms);
    let mut built =
        build_cycle(ctx, insights, counters, stats, now_ms, retention_ms, window, set.non_finite());
    built.set.merge(set);
    built
}

/// The last stamp used per job label set, so that two jobs with the same labels never share
/// a timestamp within a cycle. Keyed by the group key of the labels (see [`SeriesSet::group`]).
#[derive(Debug, Default)]
pub struct Stamps {
    index: HashIndex,
    /// Group key and the last stamp used for it.
    last: Vec<(Box<[u8]>, i64)>,
}

impl Stamps {
    /// The last stamp of the label set `key`, `i64::MIN` before its first.
    fn last(&mut self, key: &[u8]) -> &mut i64 {
        let last = &mut self.last;
        let (i, new) = self.index.find_or_insert(hash::words(key), |i| *last[i].0 == *key, last.len());
        if new {
            last.push((key.into(), i64::MIN));
        }
        &mut last[i].1
    }
}

/// The counters a job adds to, found by the name and extra labels of each addition. Jobs add
/// to the same counters in the same order, so the next one is usually where the job before
/// left off: one short comparison, no hashing.
struct JobCounters<'c, 'b> {
    counters: &'c mut Counters,
    base: &'b [(&'b str, &'b str)],
    /// Name and extras (as given, `0` between) → counter slot.
    seen: Vec<(Box<[u8]>, usize)>,
    cursor: usize,
    scratch: Vec<u8>,
}

impl JobCounters<'_, '_> {
    fn next_job(&mut self) {
        self.cursor = 0;
    }

    /// Adds `delta` to the counter `name` with the base labels plus `extra`.
    fn add(&mut self, out: &mut SeriesSet, name: &str, extra: &[(&str, &str)], delta: f64) {
        if !delta.is_finite() || delta < 0.0 {
            out.non_finite += u64::from(!delta.is_finite());
            return;
        }
        let key = &mut self.scratch;
        key.clear();
        key.extend_from_slice(name.as_bytes());
        for (k, v) in extra {
            key.push(0);
            key.extend_from_slice(k.as_bytes());
            key.push(0);
            key.extend_from_slice(v.as_bytes());
        }
        let at = match self.seen.get(self.cursor) {
            Some((k, _)) if **k == **key => Some(self.cursor),
            _ => self.seen.iter().position(|(k, _)| **k == **key),
        };
        let i = match at {
            Some(i) => i,
            None => {
                let slot = self.counters.slot(name, &cat(self.base, extra));
                self.seen.push((key.as_slice().into(), slot));
                self.seen.len() - 1
            }
        };
        self.cursor = i + 1;
        self.counters.add_at(out, self.seen[i].1, delta);
    }
}

/// The samples of `jobs` (each with its prediction, if any), in time order, into `set`, and
/// their share of the counters.
pub fn build_jobs(
    ctx: &Context<'_>,
    jobs: &[(&Job, &JobReport)],
    predictions: &[Option<Prediction>],
    stamps: &mut Stamps,
    counters: &mut Counters,
    set: &mut SeriesSet,
) {
    let base = base_labels(ctx);
    let mut order: Vec<(&(&Job, &JobReport), Option<&Prediction>)> =
        jobs.iter().enumerate().map(|(i, j)| (j, predictions.get(i).and_then(Option::as_ref))).collect();
    order.sort_by(|(a, _), (b, _)| a.0.end_s.total_cmp(&b.0.end_s).then(a.0.id.cmp(&b.0.id)));
    let mut tally = JobCounters { counters, base: &base, seen: Vec::new(), cursor: 0, scratch: Vec::new() };
    let mut conversions = DayConversions::default();
    for ((job, r), pred) in order {
        let resolution = job.resolution.map(|(w, h)| format!("{w}x{h}")).unwrap_or_default();
        let streams = r.streams.to_string();
        let mut labels = base.clone();
        labels.extend([
            ("scenario", job.scenario.as_str()),
            ("encoder", job.encoder.as_deref().unwrap_or_default()),
            ("preset", job.preset.as_deref().unwrap_or_default()),
            ("bitrate", job.bitrate.as_deref().unwrap_or_default()),
            ("resolution", resolution.as_str()),
            ("streams", streams.as_str()),
        ]);
        let g = set.group(&SortedLabels::new(&labels));
        // Two jobs with the same labels ending in the same millisecond would share a timestamp,
        // and a deduplicating receiver keeps only one; the later one moves 1 ms on.
        let mut ts = ms(job.end_s);
        let prev = stamps.last(set.group_key(g));
        if ts <= *prev {
            ts = *prev + 1;
        }
        *prev = ts;
        tally.next_job();
        job_samples(ctx, job, r, ts, set, g, &mut tally, &mut conversions);
        if let Some(p) = pred {
            predicted_samples(ctx, set, g, JOB_PREDICTED, p, r.run_s, r.cost.compute, ts);
        }
    }
}

/// Samples stamped older than the retention or more than 2 days ahead: (too old, too new).
pub fn count_window(set: &SeriesSet, now_ms: i64, retention_ms: i64) -> (u64, u64) {
    let (mut too_old, mut too_new) = (0u64, 0u64);
    for t in set.timestamps() {
        if t < now_ms - retention_ms {
            too_old += 1;
        } else if t > now_ms + MAX_FUTURE_MS {
            too_new += 1;
        }
    }
    (too_old, too_new)
}

fn base_labels<'a>(ctx: &Context<'a>) -> Vec<(&'a str, &'a str)> {
    [("host", ctx.host), ("region", ctx.region.name.as_str())]
        .into_iter()
        .chain(ctx.extra_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect()
}

/// The cycle's own samples (health, insights) and every counter, after the jobs: `jobs_window`
/// and `jobs_non_finite` are what the jobs' samples counted (see [`count_window`]).
#[allow(clippy::too_many_arguments)]
pub fn build_cycle(
    ctx: &Context<'_>,
    insights: &Insights,
    mut counters: Counters,
    stats: &CycleStats,
    now_ms: i64,
    retention_ms: i64,
    jobs_window: (u64, u64),
    jobs_non_finite: u64,
) -> Built {
    let mut set = SeriesSet::default();
    let base = base_labels(ctx);
    health_samples(ctx, &base, stats, now_ms, &mut set, &mut counters);
    insight_samples(ctx, &base, insights, now_ms, &mut set, &mut counters);

    // Window check over everything built, then the counters that report it.
    let (old, new) = count_window(&set, now_ms, retention_ms);
    let (too_old, too_new) = (jobs_window.0 + old, jobs_window.1 + new);
    for (reason, n) in [("too_old", too_old), ("too_new", too_new)] {
        let l = cat(&base, &[("reason", reason)]);
        counters.add(&mut set, "costpush_samples_outside_retention_total", &l, n as f64);
    }
    let nf = (set.non_finite() + jobs_non_finite) as f64;
    counters.add(&mut set, "costpush_samples_non_finite_total", &base, nf);
    counters.emit(&mut set, now_ms);
    Built { set, counters, too_old, too_new }
}

/// `a` followed by `b`.
fn cat<'a>(a: &[(&'a str, &'a str)], b: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    a.iter().chain(b).copied().collect()
}

/// One job's gauges into its group `g` of `set` (labels `{job}`, see docs/metrics.md), and its
/// share of the counters.
#[allow(clippy::too_many_arguments)]
fn job_samples<'a>(
    ctx: &Context<'a>,
    job: &Job,
    r: &JobReport,
    ts: i64,
    set: &mut SeriesSet,
    g: GroupId,
    counters: &mut JobCounters<'_, '_>,
    day: &mut DayConversions<'a>,
) {
    let basis = r.compute_basis.as_str();
    let mut gauge = |name: &str, extra: &[(&str, &str)], v: Option<f64>| {
        if let Some(v) = v {
            set.add_in(g, name, extra, ts, v);
        }
    };

    let method = r.method.map_or("none", |m| m.as_str());
    let intensity_source = [("intensity_source", r.intensity.source())];
    gauge("costpush_job_run_seconds", &[], Some(r.run_s));
    gauge("costpush_job_power_watts", &[("method", method)], r.mean_power_w);
    gauge("costpush_job_energy_joules", &[("method", method)], r.energy_j);
    if let Some((net, kind)) = r.net_energy_j {
        gauge("costpush_job_net_energy_joules", &[("baseline", kind), ("method", method)], Some(net));
    }
    gauge("costpush_job_cpu_core_seconds", &[("compute_basis", basis)], Some(r.core_s));
    gauge("costpush_job_co2_grams", &intensity_source, r.co2_g);
    if r.energy_j.is_some() {
        gauge(
            "costpush_job_grid_intensity_grams_per_kilowatt_hour",
            &intensity_source,
            Some(r.intensity.g_per_kwh),
        );
    }
    gauge("costpush_job_embodied_co2_grams", &[], r.embodied_co2_g);
    gauge("costpush_job_vmaf_score", &[], r.vmaf);
    gauge("costpush_job_psnr_decibels", &[], r.psnr_db);
    gauge("costpush_job_ssim_ratio", &[], r.ssim);
    gauge("costpush_job_vmaf_per_watt", &[], r.vmaf_per_watt);
    gauge("costpush_job_energy_per_frame_joules", &[], r.joules_per_frame);
    gauge("costpush_job_dropped_frames_ratio", &[], r.drop_ratio);
    gauge("costpush_job_pixels", &[], r.pixels);
    gauge("costpush_job_frames", &[], r.frames);
    gauge("costpush_job_quality_pixels_per_joule", &[], r.quality_pixels_per_joule);
    // Money converts at the rates of the job's own day; each what-if region's conversions are
    // worked out once for its gauge and its counter.
    let own = day.index(ctx, r.currency, job.end_s);
    let mut whatif_at = std::mem::take(&mut day.indices);
    whatif_at.clear();
    whatif_at.extend(r.whatif.iter().map(|w| day.index(ctx, w.currency, job.end_s)));
    let (conversions, fallback) = (&day.lists[own].1, day.fallback);
    for &(cur, f) in conversions {
        let c = r.cost.scaled(f);
        let (cur, cb) = (("currency", cur.as_str()), ("compute_basis", basis));
        gauge("costpush_job_energy_cost", &[cur], c.energy);
        gauge("costpush_job_compute_cost", &[cb, cur], Some(c.compute));
        gauge("costpush_job_cost", &[cb, cur], c.total);
        gauge("costpush_job_cost_per_pixel", &[cb, cur], r.cost_per_pixel.map(|x| x * f));
    }
    let whatif_conversions = || whatif_at.iter().map(|&i| &day.lists[i].1);
    for (w, conversions) in r.whatif.iter().zip(whatif_conversions()) {
        // Extras in key order (the fast path of `add_in`).
        let (region, actual) = (("target_region", w.region.as_str()), ("actual", ctx.actual(&w.region)));
        let source = ("intensity_source", w.intensity.source());
        gauge("costpush_job_whatif_co2_grams", &[actual, source, region], w.co2_g);
        for &(cur, f) in conversions {
            gauge(
                "costpush_job_whatif_cost",
                &[actual, ("currency", cur.as_str()), region],
                w.cost.total.map(|t| t * f),
            );
        }
    }

    // Counters per host and region.
    counters.add(set, "costpush_jobs_total", &[], 1.0);
    counters.add(set, "costpush_jobs_by_energy_method_total", &[("method", method)], 1.0);
    if fallback {
        counters.add(set, "costpush_jobs_at_fallback_rates_total", &[], 1.0);
    }
    counters.add(set, "costpush_run_seconds_total", &[], r.run_s);
    counters.add(set, "costpush_cpu_core_seconds_total", &[("compute_basis", basis)], r.core_s);
    if let Some(g) = r.embodied_co2_g {
        counters.add(set, "costpush_embodied_co2_grams_total", &[], g);
    }
    match r.energy_j {
        None => counters.add(set, "costpush_jobs_without_power_total", &[], 1.0),
        Some(e) => {
            counters.add(set, "costpush_energy_joules_total", &[], e);
            if let Some((net, kind)) = r.net_energy_j {
                counters.add(set, "costpush_net_energy_joules_total", &[("baseline", kind)], net);
            }
            if let Some(g) = r.co2_g {
                counters.add(set, "costpush_co2_grams_total", &[], g);
            }
        }
    }
    for &(cur, f) in conversions {
        let c = r.cost.scaled(f);
        let l = [("currency", cur.as_str())];
        counters.add(set, "costpush_compute_cost_total", &l, c.compute);
        if let (Some(e), Some(t)) = (c.energy, c.total) {
            counters.add(set, "costpush_energy_cost_total", &l, e);
            counters.add(set, "costpush_cost_total", &l, t);
        }
    }
    for (w, conversions) in r.whatif.iter().zip(whatif_conversions()) {
        let l = [("target_region", w.region.as_str()), ("actual", ctx.actual(&w.region))];
        if let Some(g) = w.co2_g {
            counters.add(set, "costpush_whatif_co2_grams_total", &l, g);
        }
        if let Some(t) = w.cost.total {
            for &(cur, f) in conversions {
                counters.add(
                    set,
                    "costpush_whatif_cost_total",
                    &[l[0], l[1], ("currency", cur.as_str())],
                    t * f,
                );
            }
        }
    }
    day.indices = whatif_at;
}

/// [`Context::conversions`] at the rates in force at a job's end, for jobs in time order: each
/// currency's list is worked out once per day's rate table (jobs of one day share it), not per
/// job and region.
#[derive(Default)]
struct DayConversions<'a> {
    rates: Option<&'a Rates>,
    /// Whether `rates` is the fixed fallback although dated rates are configured.
    fallback: bool,
    lists: Vec<(Currency, Vec<(Currency, f64)>)>,
    /// Scratch for a job's indices into `lists`.
    indices: Vec<usize>,
}

impl<'a> DayConversions<'a> {
    /// Where `own`'s list at the rates in force at `t_s` is in `lists` (valid until a call
    /// for another day).
    fn index(&mut self, ctx: &Context<'a>, own: Currency, t_s: f64) -> usize {
        let (rates, dated) = ctx.rates.at(t_s);
        if !self.rates.is_some_and(|r| std::ptr::eq(r, rates)) {
            self.rates = Some(rates);
            self.fallback = ctx.dated_rates && !dated;
            self.lists.clear();
        }
        match self.lists.iter().position(|(c, _)| *c == own) {
            Some(i) => i,
            None => {
                self.lists.push((own, ctx.conversions_with(rates, own)));
                self.lists.len() - 1
            }
        }
    }
}

/// The metric names of a job's predictions.
const JOB_PREDICTED: [&str; 4] = [
    "costpush_job_predicted_power_watts",
    "costpush_job_predicted_energy_joules",
    "costpush_job_predicted_co2_grams",
    "costpush_job_predicted_cost",
];

/// The metric names of a what-if encode's predictions.
const ENCODE_PREDICTED: [&str; 4] = [
    "costpush_encode_predicted_power_watts",
    "costpush_encode_predicted_energy_joules",
    "costpush_encode_predicted_co2_grams",
    "costpush_encode_predicted_cost",
];

/// `names` (power, energy, CO2 and cost in every currency) for each bound of a power
/// prediction over `seconds`, into group `g`, with `compute_cost` (region currency) added to
/// the energy's cost.
#[allow(clippy::too_many_arguments)]
fn predicted_samples(
    ctx: &Context<'_>,
    set: &mut SeriesSet,
    g: GroupId,
    names: [&str; 4],
    p: &Prediction,
    seconds: f64,
    compute_cost: f64,
    ts: i64,
) {
    let region = ctx.region;
    let conversions = ctx.conversions(region.currency);
    for (bound, watts) in prediction_bounds(p) {
        let l = [("bound", bound)];
        let kwh = watts * seconds / JOULES_PER_KWH;
        set.add_in(g, names[0], &l, ts, watts);
        set.add_in(g, names[1], &l, ts, watts * seconds);
        set.add_in(g, names[2], &l, ts, kwh * region.intensity_g_per_kwh);
        let own = kwh * region.electricity_per_kwh + compute_cost;
        for (cur, f) in &conversions {
            set.add_in(g, names[3], &[("bound", bound), ("currency", cur.as_str())], ts, own * f);
        }
    }
}

/// Model diagnostics, what-if encodes, projections, forecast curves and bucket totals.
fn insight_samples(
    ctx: &Context<'_>,
    base: &[(&str, &str)],
    ins: &Insights,
    now_ms: i64,
    set: &mut SeriesSet,
    counters: &mut Counters,
) {
    for (reason, n) in &ins.predictions_skipped {
        counters.add(set, "costpush_predictions_skipped_total", &cat(base, &[("reason", reason)]), *n as f64);
    }
    match &ins.model {
        Some(ModelState::Fitted {
            n,
            p,
            r2,
            adj_r2,
            rmse,
            condition_number,
            loo_coverage,
            rank_deficient,
            ill_conditioned,
        }) => {
            let flag = |b: bool| if b { "true" } else { "false" };
            let info = cat(
                base,
                &[
                    ("status", "fitted"),
                    ("rank_deficient", flag(*rank_deficient)),
                    ("ill_conditioned", flag(*ill_conditioned)),
                ],
            );
            set.add("costpush_model_info", &info, now_ms, 1.0);
            set.add("costpush_model_observations", base, now_ms, *n as f64);
            set.add("costpush_model_parameters", base, now_ms, *p as f64);
            set.add("costpush_model_r2", base, now_ms, *r2);
            set.add("costpush_model_adjusted_r2", base, now_ms, *adj_r2);
            set.add("costpush_model_rmse_watts", base, now_ms, *rmse);
            set.add("costpush_model_condition_number", base, now_ms, *condition_number);
            if let Some(c) = loo_coverage {
                set.add("costpush_model_loo_coverage_ratio", base, now_ms, *c);
            }
        }
        Some(ModelState::Unavailable(why)) => {
            set.add("costpush_model_info", &cat(base, &[("status", why)]), now_ms, 1.0);
        }
        None => {}
    }
    let region = ctx.region;
    for e in &ins.encodes {
        // compute billed on wall time, as for a job without CPU samples
        let compute = e.duration_s / 3600.0 * ctx.cores_without_cpu_samples * region.compute_per_core_hour;
        let g = set.group(&SortedLabels::new(&cat(base, &[("encode", e.name.as_str())])));
        predicted_samples(ctx, set, g, ENCODE_PREDICTED, &e.power, e.duration_s, compute, now_ms);
    }
    for p in &ins.projections {
        match p {
            Err(no) => {
                let l = cat(base, &[("quantity", no.quantity.as_str()), ("reason", no.reason.as_str())]);
                counters.add(set, "costpush_forecasts_unavailable_total", &l, 1.0);
            }
            Ok(p) => projection_samples(ctx, base, ins, p, now_ms, set),
        }
    }
    for (start_ms, b) in &ins.buckets {
        if b.unknown {
            continue;
        }
        set.add("costpush_bucket_energy_joules", base, *start_ms, b.energy_j);
        set.add("costpush_bucket_co2_grams", base, *start_ms, b.co2_g);
        for (cur, f) in ctx.conversions(region.currency) {
            set.add("costpush_bucket_cost", &cat(base, &[("currency", cur.as_str())]), *start_ms, b.cost * f);
        }
    }
}

fn projection_samples(
    ctx: &Context<'_>,
    base: &[(&str, &str)],
    ins: &Insights,
    p: &Projection,
    now_ms: i64,
    set: &mut SeriesSet,
) {
    use crate::compute::predict::Quantity;
    let q = p.quantity.as_str();
    let ql = cat(base, &[("quantity", q)]);
    set.add(
        "costpush_forecast_model_info",
        &cat(&ql, &[("model", p.model.as_str()), ("sigma2", ins.sigma2)]),
        now_ms,
        1.0,
    );
    for (name, v) in [("alpha", p.alpha), ("beta", p.beta), ("gamma", p.gamma), ("phi", p.phi)] {
        set.add("costpush_forecast_parameter", &cat(&ql, &[("parameter", name)]), now_ms, v);
    }
    set.add("costpush_forecast_sse", &ql, now_ms, p.sse);
    set.add("costpush_forecast_aicc", &ql, now_ms, p.aicc);
    set.add("costpush_forecast_converged", &ql, now_ms, f64::from(u8::from(p.converged)));
    if let Some(bt) = p.backtest {
        set.add("costpush_forecast_backtest_mae", &ql, now_ms, bt.mae);
        set.add(
            "costpush_forecast_backtest_coverage_ratio",
            &cat(&ql, &[("level", "80")]),
            now_ms,
            bt.coverage_80,
        );
        set.add(
            "costpush_forecast_backtest_coverage_ratio",
            &cat(&ql, &[("level", "95")]),
            now_ms,
            bt.coverage_95,
        );
    }
    // The values themselves: cost in every currency, the others in their base unit.
    let conversions: Vec<(Option<Currency>, f64)> = match p.quantity {
        Quantity::Cost => {
            ctx.conversions(ctx.region.currency).into_iter().map(|(c, f)| (Some(c), f)).collect()
        }
        _ => vec![(None, 1.0)],
    };
    let (curve_name, total_name) = match p.quantity {
        Quantity::Cost => ("costpush_forecast_cost", "costpush_projection_cost"),
        Quantity::EnergyJoules => ("costpush_forecast_energy_joules", "costpush_projection_energy_joules"),
        Quantity::Co2Grams => ("costpush_forecast_co2_grams", "costpush_projection_co2_grams"),
    };
    for (cur, f) in conversions {
        let cl: Vec<(&str, &str)> = match &cur {
            Some(c) => cat(base, &[("currency", c.as_str())]),
            None => base.to_vec(),
        };
        for (horizon, b) in &p.totals {
            for (bound, v) in b.scaled(f).labelled() {
                set.add(total_name, &cat(&cl, &[("horizon", horizon.as_str()), ("bound", bound)]), now_ms, v);
            }
        }
        if let Some(offset) = ins.curve_offset_ms {
            for (start, b) in &p.curve {
                for (bound, v) in b.scaled(f).labelled() {
                    set.add(curve_name, &cat(&cl, &[("bound", bound)]), start + offset, v);
                }
            }
        }
    }
}

fn health_samples(
    ctx: &Context<'_>,
    base: &[(&str, &str)],
    s: &CycleStats,
    now_ms: i64,
    set: &mut SeriesSet,
    counters: &mut Counters,
) {
    set.add("costpush_up", base, now_ms, 1.0);
    set.add("costpush_build_info", &cat(base, &[("version", ctx.version)]), now_ms, 1.0);
    let d = &s.delivery;
    if let Some(t) = d.last_success_ms {
        set.add("costpush_last_success_timestamp_seconds", base, now_ms, t as f64 / 1000.0);
    }
    set.add("costpush_queue_bytes", base, now_ms, d.queue_bytes as f64);
    set.add("costpush_queue_batches", base, now_ms, d.queue_batches as f64);
    set.add("costpush_backoff_seconds", base, now_ms, d.backoff_seconds);
    // Kept by the sender (persisted beside the queue), reported here as they stand.
    set.add("costpush_samples_sent_total", base, now_ms, d.sent_samples as f64);
    set.add("costpush_samples_retried_total", base, now_ms, d.retried_samples as f64);
    for (reason, n) in &d.dropped {
        set.add("costpush_samples_dropped_total", &cat(base, &[("reason", reason)]), now_ms, *n as f64);
    }
    set.add("costpush_files_matched", base, now_ms, s.files_matched as f64);
    counters.add(set, "costpush_files_ingested_total", base, s.files_ingested as f64);
    for (reason, n) in [
        ("malformed", s.files_malformed),
        ("incomplete", s.files_incomplete),
        ("unreadable", s.files_unreadable),
    ] {
        counters.add(set, "costpush_files_failed_total", &cat(base, &[("reason", reason)]), n as f64);
    }
    counters.add(set, "costpush_jobs_invalid_total", base, s.jobs_invalid as f64);
    counters.add(set, "costpush_fields_left_out_total", base, s.fields_left_out as f64);

    // Where energy came from, and what the sources did this cycle.
    for (method, reason) in
        [("query", "no_data"), ("query", "error"), ("rapl", "no_data"), ("rapl", "unavailable")]
    {
        let n = s.energy_misses.get(&(method, reason)).copied().unwrap_or(0);
        let l = cat(base, &[("method", method), ("reason", reason)]);
        counters.add(set, "costpush_energy_source_misses_total", &l, n as f64);
    }
    for method in ["file", "query", "rapl", "none"] {
        counters.add(set, "costpush_jobs_by_energy_method_total", &cat(base, &[("method", method)]), 0.0);
    }
    set.add("costpush_jobs_waiting_for_energy", base, now_ms, s.jobs_waiting as f64);
    if let Some(b) = s.baseline {
        set.add("costpush_idle_baseline_watts", &cat(base, &[("baseline", b.kind)]), now_ms, b.watts);
    }
    if let Some(n) = s.rapl_readings {
        set.add("costpush_rapl_readings", base, now_ms, n as f64);
        counters.add(set, "costpush_rapl_read_failures_total", base, s.rapl_read_failures as f64);
    }

    // Exchange rates in use (the newest), their date and age, so a dashboard can show them and
    // a rule can tell when they stop coming.
    let rates = ctx.rates.newest();
    if ctx.dated_rates {
        counters.add(set, "costpush_exchange_rate_fetch_failures_total", base, s.ecb_fetch_failures as f64);
        counters.add(set, "costpush_jobs_at_fallback_rates_total", base, 0.0);
    }
    let source = if ctx.dated_rates { "ecb" } else { "config" };
    set.add(
        "costpush_exchange_rate_age_seconds",
        &cat(base, &[("source", source)]),
        now_ms,
        (now_ms as f64 / 1000.0 - rates.date_unix as f64).max(0.0),
    );
    for (cur, rate) in rates.iter() {
        if cur != Currency::EUR {
            set.add(
                "costpush_exchange_rate",
                &cat(base, &[("base", "EUR"), ("quote", cur.as_str())]),
                now_ms,
                rate,
            );
        }
    }
    set.add("costpush_exchange_rate_date_timestamp_seconds", base, now_ms, rates.date_unix as f64);

    // The pricing table, so what-if panels can show the inputs.
    for r in ctx.regions.values() {
        let l = cat(base, &[("target_region", r.name.as_str())]);
        let year = r.intensity_year.to_string();
        let li = cat(&l, &[("intensity_year", year.as_str())]);
        set.add("costpush_region_grid_intensity_grams_per_kilowatt_hour", &li, now_ms, r.intensity_g_per_kwh);
        for (cur, f) in ctx.conversions(r.currency) {
            let lc = cat(&l, &[("currency", cur.as_str())]);
            set.add(
                "costpush_region_electricity_price_per_kilowatt_hour",
                &lc,
                now_ms,
                r.electricity_per_kwh * f,
            );
            set.add("costpush_region_compute_price_per_core_hour", &lc, now_ms, r.compute_per_core_hour * f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_unique_and_non_empty() {
        let mut s = SeriesSet::default();
        s.add("m", &[("z", "1"), ("a", "2"), ("empty", ""), ("a", "3")], 5, 1.0);
        let series = s.into_series();
        assert_eq!(
            series[0].labels,
            vec![("__name__".into(), "m".into()), ("a".into(), "3".into()), ("z".into(), "1".into())]
        );
    }

    #[test]
    fn add_to_a_sorted_base_is_add_of_the_concatenation() {
        // Names before, between and after the base's; an extra replacing a base label; empty
        // values; a stray __name__; a repeated extra (the later wins).
        let base = [("host", "h"), ("region", "r"), ("scenario", "s"), ("a", ""), ("region", "r2")];
        let extras: [&[(&str, &str)]; 6] = [
            &[],
            &[("currency", "EUR")],
            &[("zone", "z"), ("bound", "mean")],
            &[("scenario", "other"), ("empty", "")],
            &[("__name__", "x"), ("bound", "a"), ("bound", "b")],
            &[("host", "")],
        ];
        let sorted = SortedLabels::new(&base);
        for (i, extra) in extras.iter().enumerate() {
            let (mut a, mut b) = (SeriesSet::default(), SeriesSet::default());
            a.add_to("m", &sorted, extra, i as i64, 1.0);
            a.add_to("m", &sorted, extra, 100, 2.0);
            let all: Vec<(&str, &str)> = base.iter().chain(extra.iter()).copied().collect();
            b.add("m", &all, i as i64, 1.0);
            b.add("m", &all, 100, 2.0);
            assert_eq!(a.into_series(), b.into_series(), "extra {extra:?}");
        }
        // Many series, with both ways of adding landing in the same ones.
        let mut s = SeriesSet::default();
        for i in 0..1000 {
            let v = i.to_string();
            s.add("m", &[("i", v.as_str())], 1, 1.0);
            s.add_to("m", &SortedLabels::new(&[("i", v.as_str())]), &[], 2, 1.0);
        }
        let all = s.into_series();
        assert_eq!(all.len(), 1000);
        assert!(all.iter().all(|x| x.samples.len() == 2));
    }

    #[test]
    fn grouped_samples_land_in_the_series_add_names_whatever_the_order() {
        // Jobs that skip a series, reorder them, or bring a new one; groups across two sets
        // merged; the same series reached directly too.
        let bases = [[("host", "h"), ("scenario", "a")], [("host", "h"), ("scenario", "b")]];
        let jobs: [&[(&str, &str)]; 4] = [
            &[("currency", "EUR"), ("currency", "SEK")],
            &[("currency", "SEK")],
            &[("currency", "SEK"), ("currency", "EUR"), ("currency", "USD")],
            &[],
        ];
        let (mut parts, mut want) = (vec![SeriesSet::default(), SeriesSet::default()], SeriesSet::default());
        for (t, extras) in jobs.iter().enumerate() {
            for (b, base) in bases.iter().enumerate() {
                let set = &mut parts[t % 2];
                let g = set.group(&SortedLabels::new(base));
                for (i, cur) in extras.iter().enumerate() {
                    let v = (t * 10 + i + b) as f64;
                    set.add_in(g, "cost", &[*cur], t as i64, v);
                    set.add_in(g, "run", &[], t as i64, v);
                    let all: Vec<(&str, &str)> = base.iter().chain([cur]).copied().collect();
                    want.add("cost", &all, t as i64, v);
                    want.add("run", base, t as i64, v);
                }
            }
        }
        parts[0].add("run", &bases[0], 99, 1.0);
        want.add("run", &bases[0], 99, 1.0);
        let second = parts.pop().unwrap();
        let mut got = parts.pop().unwrap();
        got.merge(second);
        assert_eq!(got.sample_count(), want.sample_count());
        assert_eq!(got.into_series(), want.into_series());
    }

    #[test]
    fn job_counters_add_what_counters_add() {
        let base = [("host", "h"), ("region", "r")];
        let (mut a, mut b) = (Counters::default(), Counters::default());
        let (mut sa, mut sb) = (SeriesSet::default(), SeriesSet::default());
        let mut tally =
            JobCounters { counters: &mut a, base: &base, seen: Vec::new(), cursor: 0, scratch: Vec::new() };
        type Add<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);
        let adds: [Add; 5] = [
            ("x_total", &[], 1.0),
            ("y_total", &[("currency", "EUR")], 0.5),
            ("y_total", &[("currency", "SEK")], 2.5),
            ("x_total", &[], f64::NAN),
            ("y_total", &[("currency", "EUR")], -1.0),
        ];
        for job in 0..3 {
            tally.next_job();
            for (name, extra, d) in adds.iter().skip(job % 2) {
                tally.add(&mut sa, name, extra, *d);
                b.add(&mut sb, name, &cat(&base, extra), *d);
            }
        }
        assert_eq!(a, b);
        assert_eq!(sa.non_finite(), sb.non_finite());
        assert_eq!(a.value("y_total", &cat(&base, &[("currency", "SEK")])), 7.5);
    }

    #[test]
    fn bodies_from_keys_are_the_batches_of_the_series() {
        use crate::delivery::encode;
        let mut s = SeriesSet::default();
        for i in 0..40 {
            let v = (i % 7).to_string();
            s.add("m", &[("a", v.as_str()), ("z", "é \"q\"")], 1000 - i, i as f64);
            s.add("n", &[], i, 0.0);
        }
        let want: Vec<Vec<u8>> =
            encode::batches(s.clone().into_series(), 9).iter().map(|b| encode::body(b)).collect();
        let mut got = Vec::new();
        let mut enc = encode::BodyEncoder::default();
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
        use crate::delivery::encode;
        let set = |name: &str| {
            let mut s = SeriesSet::default();
            for t in 0..7 {
                s.add(name, &[], t, t as f64);
            }
            s
        };
        let mut enc = encode::BodyEncoder::default();
        let mut got: Vec<(Vec<String>, u64)> = Vec::new();
        let mut sink = |b: &[u8], n| {
            let req = encode::decode(b).unwrap();
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
        let r = s.write_bodies(10, &mut crate::delivery::encode::BodyEncoder::default(), |_, n| {
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

    #[test]
    fn non_finite_values_are_left_out_and_counted() {
        let mut s = SeriesSet::default();
        s.add("m", &[], 1, f64::NAN);
        s.add("m", &[], 2, f64::INFINITY);
        s.add("m", &[], 3, 2.0);
        assert_eq!(s.non_finite(), 2);
        assert_eq!(s.sample_count(), 1);
    }

    #[test]
    fn samples_come_out_in_time_order() {
        let mut s = SeriesSet::default();
        for t in [30, 10, 20] {
            s.add("m", &[], t, t as f64);
        }
        assert_eq!(s.into_series()[0].samples, vec![(10, 10.0), (20, 20.0), (30, 30.0)]);
    }

    #[test]
    fn text_exposition_escapes_and_stamps() {
        let mut s = SeriesSet::default();
        s.add("m", &[("scenario", "a \"b\"\\c\nd")], 1700000000000, 0.25);
        assert_eq!(s.to_text(), "m{scenario=\"a \\\"b\\\"\\\\c\\nd\"} 0.25 1700000000000\n");
    }

    #[test]
    fn counters_start_at_zero_are_emitted_every_cycle_and_never_go_back_in_time() {
        let mut c = Counters::default();
        let mut s = SeriesSet::default();
        c.add(&mut s, "x_total", &[("host", "h")], 2.0);
        c.add(&mut s, "x_total", &[("host", "h")], 3.0);
        c.emit(&mut s, 1000);
        // next cycle: nothing new, still emitted; then a clock that went back
        c.emit(&mut s, 2000);
        c.add(&mut s, "x_total", &[("host", "h")], 1.0);
        c.emit(&mut s, 1500);
        assert_eq!(s.into_series()[0].samples, vec![(999, 0.0), (1000, 5.0), (2000, 5.0), (2001, 6.0)]);
        assert_eq!(c.value("x_total", &[("host", "h")]), 6.0);
        // persisted form round-trips
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Counters>(&json).unwrap(), c);
    }
}
