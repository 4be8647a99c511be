//! The key format of a label set, and label sets sorted the way series keys need them.
//!
//! A key is the sorted labels of a series, or of part of one, written as `name 0xff value 0xfe`
//! per label: UTF-8 never holds those two bytes, so a key is split without escapes. Keys are
//! what [`SeriesSet`](super::SeriesSet) and [`Counters`](super::Counters) find series by.

use crate::util::bytes;

pub(crate) type Labels = Vec<(String, String)>;
pub(super) fn push_label(key: &mut Vec<u8>, k: &str, v: &str) {
    push_pair(key, k.as_bytes(), v.as_bytes());
}

pub(super) fn push_pair(key: &mut Vec<u8>, k: &[u8], v: &[u8]) {
    key.extend_from_slice(k);
    key.push(0xff);
    key.extend_from_slice(v);
    key.push(0xfe);
}

/// The `(name, value)` pairs of a series key, in order.
pub(super) fn key_pairs(key: &[u8]) -> KeyPairs<'_> {
    KeyPairs(key)
}

/// Iterator of [`key_pairs`]: the separators are found with `memchr` (keys are walked for every
/// series of every request).
#[derive(Clone)]
pub(super) struct KeyPairs<'a>(&'a [u8]);

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
pub(super) fn in_key_order(extra: &[(&str, &str)]) -> bool {
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
pub(super) fn own_key_is(own: &[u8], name: &str, extra: &[(&str, &str)]) -> bool {
    const NAME: &[u8] = b"__name__\xff";
    // Every own key starts with `__name__` (it sorts before the names `extra` may hold).
    let Some(mut rest) = bytes::strip_prefix(own, NAME) else { return false };
    let mut eat = |b: &[u8], end: u8| {
        // The byte after `b` first: it tells most mismatches apart without comparing `b`.
        let ok = rest.get(b.len()) == Some(&end) && bytes::eq(&rest[..b.len()], b);
        if ok {
            rest = &rest[b.len() + 1..];
        }
        ok
    };
    eat(name.as_bytes(), 0xfe)
        && extra.iter().all(|(k, v)| eat(k.as_bytes(), 0xff) && eat(v.as_bytes(), 0xfe))
        && rest.is_empty()
}

/// The labels of a group's series, in name order: the group's merged with the series' own key's;
/// where both have a name, the own one is kept. Items are `(name, anything)`: the labels
/// themselves, or where their encoded entries are (see [`Sorted::each_encoded`](super::order::Sorted::each_encoded)).
pub(super) struct Merged<A: Iterator, B: Iterator> {
    group: std::iter::Peekable<A>,
    own: std::iter::Peekable<B>,
}

/// The labels of a group key merged with an own key's.
pub(super) type KeyLabels<'a> = Merged<KeyPairs<'a>, KeyPairs<'a>>;

impl<'a> KeyLabels<'a> {
    /// The labels of the group key `group` merged with the own key `own`.
    pub(super) fn keys(group: &'a [u8], own: &'a [u8]) -> Self {
        Merged::new(key_pairs(group), key_pairs(own))
    }
}

impl<A: Iterator, B: Iterator> Merged<A, B> {
    pub(super) fn new(group: A, own: B) -> Self {
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
                // One comparison of the names decides (a series' labels are merged for every
                // request).
                (Some(g), Some(o)) => match g.0.cmp(o.0) {
                    std::cmp::Ordering::Less => true,
                    std::cmp::Ordering::Greater => false,
                    std::cmp::Ordering::Equal => {
                        self.group.next(); // replaced by the own label
                        continue;
                    }
                },
            };
            return if take_group { self.group.next() } else { self.own.next() };
        }
    }
}

/// Labels sorted by name, each name once, none empty and no `__name__`: the part of a series
/// key shared by every sample of a job, sorted once (see [`SeriesSet::add_to`](super::SeriesSet::add_to)).
pub(crate) struct SortedLabels<'a>(pub(super) Vec<(&'a str, &'a str)>);

impl<'a> SortedLabels<'a> {
    pub(crate) fn new(labels: &[(&'a str, &'a str)]) -> SortedLabels<'a> {
        // One allocation: the catalogue sorts a few hundred label sets every cycle.
        let mut v: Vec<(&str, &str)> = Vec::with_capacity(labels.len());
        v.extend(labels.iter().filter(|(k, v)| !v.is_empty() && *k != "__name__"));
        let n = sort_dedup(&mut v);
        v.truncate(n);
        SortedLabels(v)
    }
}

/// Most labels sorted on the stack; more (many `extra_labels`) go to the heap.
const STACK_LABELS: usize = 32;

/// `__name__` plus the labels, sorted by name, each name once (a repeated name keeps the later
/// value), labels with empty values dropped; handed to `f` as a slice.
/// Sorts labels by name and keeps the last of each name; returns how many are kept (first).
pub(super) fn sort_dedup(v: &mut [(&str, &str)]) -> usize {
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

pub(super) fn with_sorted<R>(name: &str, labels: &[(&str, &str)], f: impl FnOnce(&[(&str, &str)]) -> R) -> R {
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
pub(super) fn write_key(key: &mut Vec<u8>, name: &str, labels: &[(&str, &str)]) {
    key.clear();
    with_sorted(name, labels, |l| {
        for (k, v) in l {
            push_label(key, k, v);
        }
    });
}

pub(super) fn same(a: &Labels, b: &[(&str, &str)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((k1, v1), (k2, v2))| k1 == k2 && v1 == v2)
}

#[cfg(test)]
/// The identity of a series: `__name__` plus the labels, sorted by name, each name once (a
/// repeated name keeps the later value), labels with empty values dropped.
pub(crate) fn series_key(name: &str, labels: &[(&str, &str)]) -> Labels {
    with_sorted(name, labels, |l| l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_own_key_is_its_name_and_extras_exactly() {
        let mut key = Vec::new();
        write_key(&mut key, "cost", &[("currency", "EUR"), ("bound", "mean")]);
        let is = |name: &str, extra: &[(&str, &str)]| own_key_is(&key, name, extra);
        assert!(is("cost", &[("bound", "mean"), ("currency", "EUR")]));
        assert!(!is("cos", &[("bound", "mean"), ("currency", "EUR")]), "a shorter name");
        assert!(!is("costs", &[("bound", "mean"), ("currency", "EUR")]), "a longer name");
        assert!(!is("cost", &[("bound", "mean")]), "an extra missing");
        assert!(!is("cost", &[("bound", "mean"), ("currency", "EU")]), "a shorter value");
        assert!(!is("cost", &[("bound", "mean"), ("currency", "EUR"), ("x", "1")]), "one more");
        assert!(!is("cost", &[("bounds", "mean"), ("currency", "EUR")]), "another label");
        assert!(!own_key_is(b"", "cost", &[]), "not an own key");
    }
}
