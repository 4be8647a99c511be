//! The output order of a [`SeriesSet`]: series by metric name, then by a hash of the whole label
//! set; each series' samples in time order. The order depends on the labels and samples alone,
//! so the same cycle always makes the same requests.

use super::key::{key_pairs, push_pair, KeyLabels, Merged};
use super::series::{Group, Sample, SeriesSet};
use crate::util::hash;

/// A hash of one label, mixed so that labels can be summed into the hash of a label set.
fn pair_hash(k: &[u8], v: &[u8]) -> u64 {
    hash::mix(hash::words(k) ^ hash::words(v).rotate_left(32))
}

/// A group's label hashes by label name (see [`Names`]; 0 where it has no such label), and the
/// sum of its label hashes.
type LabelHashes = (Vec<u64>, u64);

/// An own key's metric name, its other label names (see [`Names`]), and the sum of its label
/// hashes.
type OwnHashes<'a> = (&'a [u8], Vec<usize>, u64);

/// A few distinct values, each known by its number (found by a linear search: there are few).
/// Used for the label names of the own keys' labels other than `__name__`, so each series looks
/// its group's label of such a name up by number, not by comparing names; and for the lists of
/// label names the groups have.
struct Names<T>(Vec<T>);

impl<T: PartialEq> Names<T> {
    /// The number of `x`, given one if new.
    fn id(&mut self, x: T) -> usize {
        self.find(&x).unwrap_or_else(|| {
            self.0.push(x);
            self.0.len() - 1
        })
    }

    fn find(&self, x: &T) -> Option<usize> {
        self.0.iter().position(|n| n == x)
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// The series of a [`SeriesSet`] in output order, each with its samples in time order.
pub(super) struct Sorted {
    groups: Vec<Group>,
    owns: Vec<Box<[u8]>>,
    /// (group, own key) of each output series.
    out: Vec<(u32, u32)>,
    /// Every sample, its `series` now its output series: sorted by that, then time.
    samples: Vec<Sample>,
}

impl Sorted {
    /// Each output series: its labels (in key order) and its samples.
    pub(super) fn each(&self, mut f: impl FnMut(KeyLabels<'_>, &[(i64, f64)])) {
        self.each_series(|g, o, samples| {
            f(Merged::keys(&self.groups[g as usize].key, &self.owns[o as usize]), samples)
        });
    }

    /// Each output series: its labels as a protobuf label block (see
    /// [`super::body::put_label`]) and its samples.
    pub(super) fn each_encoded(&self, mut f: impl FnMut(&[u8], &[(i64, f64)])) {
        let mut blocks = LabelBlocks::new(&self.groups, &self.owns);
        let mut block = Vec::new();
        self.each_series(|g, o, samples| {
            block.clear();
            blocks.put(g, o, &mut block);
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

/// The protobuf label blocks of series (see [`super::body::put_label`]). Every label of every
/// group and own key is split and encoded once; a series' block is those pieces, merged by name
/// and copied.
pub(super) struct LabelBlocks<'k> {
    bytes: Vec<u8>,
    groups: Vec<Vec<Piece<'k>>>,
    owns: Vec<Vec<Piece<'k>>>,
    /// Each group's list of label names, by number.
    names_of: Vec<usize>,
    /// How each (names, own key) pair merges, worked out on first use.
    merges: Vec<Option<Vec<Source>>>,
}

impl<'k> LabelBlocks<'k> {
    pub(super) fn new(groups: &'k [Group], owns: &'k [Box<[u8]>]) -> LabelBlocks<'k> {
        use super::body::put_label;
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
        let groups: Vec<Vec<Piece<'_>>> = groups.iter().map(|g| split(&g.key, &mut bytes)).collect();
        let owns: Vec<Vec<Piece<'_>>> = owns.iter().map(|o| split(o, &mut bytes)).collect();
        // Groups with the same label names (nearly all of a cycle's jobs have the same ones)
        // merge with an own key the same way: each merge is worked out once per (names, own
        // key), then a series' block is its pieces copied in that order.
        let mut names = Names(Vec::new());
        let names_of: Vec<usize> =
            groups.iter().map(|g| names.id(g.iter().map(|p| p.0).collect::<Vec<_>>())).collect();
        let merges = vec![None; names.len() * owns.len()];
        LabelBlocks { bytes, groups, owns, names_of, merges }
    }

    /// Appends the label block of the series of group `g` and own key `o` to `out`.
    pub(super) fn put(&mut self, g: u32, o: u32, out: &mut Vec<u8>) {
        let (group, own) = (&self.groups[g as usize], &self.owns[o as usize]);
        let merge =
            self.merges[self.names_of[g as usize] * self.owns.len() + o as usize].get_or_insert_with(|| {
                let a = group.iter().enumerate().map(|(i, p)| (p.0, Source::Group(i)));
                let b = own.iter().enumerate().map(|(i, p)| (p.0, Source::Own(i)));
                Merged::new(a, b).map(|(_, s)| s).collect()
            });
        for source in merge.iter() {
            let (start, end) = match *source {
                Source::Group(i) => group[i].1,
                Source::Own(i) => own[i].1,
            };
            out.extend_from_slice(&self.bytes[start as usize..end as usize]);
        }
    }
}

/// Where a series goes in the output. The fields are in sort order, so the derived `Ord` is the
/// output order: by metric name (its rank among the names), then by the hash of the whole label
/// set; `series` (its index in the set) only makes the order total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    name_rank: u32,
    labels_hash: u64,
    series: u32,
}

impl SortKey {
    /// Same name and label hash: the same series, or (rarely) a hash collision.
    fn same_place(&self, other: &SortKey) -> bool {
        self.name_rank == other.name_rank && self.labels_hash == other.labels_hash
    }
}

/// A label's name, and where its encoded entry is in the shared buffer (start, end).
type Piece<'a> = (&'a [u8], (u32, u32));

/// Where a label of a merged series comes from: its group's labels or its own key's, by index.
#[derive(Debug, Clone, Copy)]
enum Source {
    Group(usize),
    Own(usize),
}

impl SeriesSet {
    /// The series in output order, samples in time order (equal stamps by value). Series with
    /// the same labels, however split into group and own key, come out as one.
    ///
    /// The order depends on the series' labels alone (so the same cycle always makes the same
    /// batches): by metric name, then by a hash of the whole label set (summed from a hash per
    /// label, so it needs no key built per series), then, in the rare tie, by the labels.
    pub(super) fn into_sorted(self) -> Sorted {
        let SeriesSet { groups, owns, series, samples, .. } = self;
        let (out, slot_of) = output_order(&groups, &owns, &series);
        let samples = by_output_series(samples, &slot_of, out.len());
        Sorted { groups, owns, out, samples }
    }
}

/// Each output series' (group, own key) in output order, and each series' output series (see
/// [`SeriesSet::into_sorted`]): series with the same labels share one.
pub(super) fn output_order(
    groups: &[Group],
    owns: &[Box<[u8]>],
    series: &[(u32, u32)],
) -> (Vec<(u32, u32)>, Vec<u32>) {
    // Each own key's metric name, other label names and hash sum.
    let mut label_names = Names(Vec::new());
    let own_info: Vec<OwnHashes> = owns
        .iter()
        .map(|o| {
            let (mut name, mut others, mut sum) = (&[][..], Vec::new(), 0u64);
            for (k, v) in key_pairs(o) {
                sum = sum.wrapping_add(pair_hash(k, v));
                if k == b"__name__" {
                    name = v;
                } else {
                    others.push(label_names.id(k));
                }
            }
            (name, others, sum)
        })
        .collect();
    // Each group's hashes of the labels an own key may replace, and the sum of all.
    let group_hashes: Vec<LabelHashes> = groups
        .iter()
        .map(|g| {
            let mut by_name = vec![0u64; label_names.len()];
            let mut sum = 0u64;
            for (k, v) in key_pairs(&g.key) {
                let h = pair_hash(k, v);
                sum = sum.wrapping_add(h);
                if let Some(id) = label_names.find(&k) {
                    by_name[id] = h;
                }
            }
            (by_name, sum)
        })
        .collect();
    let mut names: Vec<&[u8]> = own_info.iter().map(|o| o.0).collect();
    names.sort_unstable();
    names.dedup();
    let rank: Vec<u32> =
        own_info.iter().map(|o| names.binary_search(&o.0).expect("every name is listed") as u32).collect();
    let mut order: Vec<SortKey> = series
        .iter()
        .enumerate()
        .map(|(i, &(g, o))| {
            let (by_name, gsum) = &group_hashes[g as usize];
            let (_, others, osum) = &own_info[o as usize];
            let mut h = gsum.wrapping_add(*osum);
            for &id in others {
                // An own label replaces the group's of the same name (0 when it has none).
                h = h.wrapping_sub(by_name[id]);
            }
            SortKey { name_rank: rank[o as usize], labels_hash: h, series: i as u32 }
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
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && order[j].same_place(&order[i]) {
            j += 1;
        }
        if j == i + 1 {
            slot_of[order[i].series as usize] = out.len() as u32;
            out.push(series[order[i].series as usize]);
        } else {
            let mut run: Vec<(Vec<u8>, u32)> =
                order[i..j].iter().map(|e| (full_key(e.series), e.series)).collect();
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
    (out, slot_of)
}

/// The samples moved to their output series (`slot_of`, `outputs` of them) in output order, each
/// series' samples in time order; equal stamps by value (a receiver keeps one of them anyway),
/// so the order depends on the samples alone.
pub(super) fn by_output_series(mut samples: Vec<Sample>, slot_of: &[u32], outputs: usize) -> Vec<Sample> {
    // In place, in linear time: each is swapped straight into its series' range.
    let mut end = vec![0u32; outputs];
    for s in samples.iter_mut() {
        s.series = slot_of[s.series as usize];
        end[s.series as usize] += 1;
    }
    let mut next = vec![0u32; outputs];
    let mut at = 0;
    for (n, e) in next.iter_mut().zip(end.iter_mut()) {
        *n = at;
        at += *e;
        *e = at;
    }
    for b in 0..outputs {
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
    for run in samples.chunk_by_mut(|a, b| a.series == b.series) {
        if run.len() > 1 {
            run.sort_unstable_by_key(|s| (s.ts_ms, s.value.to_bits()));
        }
    }
    samples
}
