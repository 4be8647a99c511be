//! The counters costpush keeps across cycles and restarts, and how a job adds to them.
//!
//! Counters are stamped with the cycle's time and pushed every cycle, changed or not, so
//! `increase()` always has recent samples (counters stamped at job ends would be sparse, and
//! VictoriaMetrics' `increase()` then reads a lifetime total after a quiet spell). A new counter
//! first gets a 0 one millisecond before its first value, so `increase()` counts the first job
//! too; a counter never goes back in time, even if the clock does.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::index::HashIndex;
#[cfg(test)]
use super::key::series_key;
use super::key::{push_label, same, with_sorted, Labels};
use super::series::SeriesSet;
use crate::util::{bytes, hash};

/// Value and last stamp of one counter series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CounterState {
    pub(crate) value: f64,
    /// When it was last emitted; `None` for a counter created this cycle.
    pub(crate) last_ms: Option<i64>,
}

/// Every counter costpush keeps, persisted so they survive restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Counters {
    /// In the order first used; stored sorted by labels. The labels are shared: a state is
    /// copied every cycle, and only the values change.
    #[serde(with = "counter_list")]
    entries: Vec<(Arc<Labels>, CounterState)>,
    /// Label hash → indices into `entries`, so finding a counter costs no allocation.
    #[serde(skip)]
    index: KeyIndex,
}

#[derive(Debug, Clone, Default)]
struct KeyIndex {
    by_hash: HashIndex,
    /// How many of the entries are in `by_hash` (loaded ones are indexed on first use).
    indexed: usize,
    pub(super) scratch: Vec<u8>,
}

/// Two counter sets are equal when they hold the same counters, in whatever order.
impl PartialEq for Counters {
    fn eq(&self, other: &Self) -> bool {
        let sorted = |c: &Counters| {
            let mut v: Vec<&(Arc<Labels>, CounterState)> = c.entries.iter().collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v.into_iter().cloned().collect::<Vec<_>>()
        };
        self.entries.len() == other.entries.len() && sorted(self) == sorted(other)
    }
}

/// Counters are stored as a list sorted by labels (JSON maps need string keys).
mod counter_list {
    use super::{Arc, CounterState, Labels};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    struct Entry {
        labels: BTreeMap<String, String>,
        value: f64,
        /// `null` only for a counter never emitted (a state is saved after its cycle's emit).
        ts_ms: Option<i64>,
    }

    pub(crate) fn serialize<S: Serializer>(
        m: &[(Arc<Labels>, CounterState)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        // The entries as `Entry` writes them, borrowed: the state is saved every cycle.
        #[derive(Serialize)]
        struct EntryRef<'a> {
            labels: BTreeMap<&'a str, &'a str>,
            value: f64,
            ts_ms: Option<i64>,
        }
        let mut sorted: Vec<&(Arc<Labels>, CounterState)> = m.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        s.collect_seq(sorted.into_iter().map(|(l, c)| EntryRef {
            labels: l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            value: c.value,
            ts_ms: c.last_ms,
        }))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(Arc<Labels>, CounterState)>, D::Error> {
        let v: Vec<Entry> = Vec::deserialize(d)?;
        let mut out: BTreeMap<Labels, CounterState> = BTreeMap::new();
        for e in v {
            out.insert(e.labels.into_iter().collect(), CounterState { value: e.value, last_ms: e.ts_ms });
        }
        Ok(out.into_iter().map(|(l, c)| (Arc::new(l), c)).collect())
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
    pub(super) fn add(&mut self, out: &mut SeriesSet, name: &str, labels: &[(&str, &str)], delta: f64) {
        if !delta.is_finite() || delta < 0.0 {
            out.non_finite += u64::from(!delta.is_finite());
            return;
        }
        let slot = self.slot(name, labels);
        self.add_at(out, slot, delta);
    }

    /// Where the counter of `name` and `labels` is (created at 0 if new).
    pub(super) fn slot(&mut self, name: &str, labels: &[(&str, &str)]) -> usize {
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
                entries.push((Arc::new(labels), CounterState { value: 0.0, last_ms: None }));
                index.indexed = entries.len();
            }
            i
        });
        index.scratch = key;
        at
    }

    /// Adds `delta` to the counter at `slot` (see [`Counters::add`] for what is refused).
    pub(super) fn add_at(&mut self, out: &mut SeriesSet, slot: usize, delta: f64) {
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
    pub(crate) fn emit(&mut self, out: &mut SeriesSet, now_ms: i64) {
        for (key, c) in self.entries.iter_mut() {
            let name = &key.iter().find(|(k, _)| k == "__name__").expect("a counter has a name").1;
            let labels: Vec<(&str, &str)> =
                key.iter().filter(|(k, _)| k != "__name__").map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let ts = match c.last_ms {
                None => {
                    out.add(name, &labels, now_ms - 1, 0.0);
                    now_ms
                }
                Some(last) => now_ms.max(last + 1),
            };
            out.add(name, &labels, ts, c.value);
            c.last_ms = Some(ts);
        }
    }

    #[cfg(test)]
    /// Current value of a counter, 0 if it does not exist yet.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let key = series_key(name, labels);
        self.entries.iter().find(|(l, _)| **l == key).map_or(0.0, |(_, c)| c.value)
    }
}

/// The counters a job adds to, found by the name and extra labels of each addition. Jobs add
/// to the same counters in the same order, so the next one is usually where the job before
/// left off: one short comparison, no hashing.
pub(super) struct JobCounters<'c, 'b> {
    pub(super) counters: &'c mut Counters,
    pub(super) base: &'b [(&'b str, &'b str)],
    /// Name and extras (as given, `0` between) → counter slot.
    pub(super) seen: Vec<(Box<[u8]>, usize)>,
    pub(super) cursor: usize,
    pub(super) scratch: Vec<u8>,
}

/// Whether `key` is a [`JobCounters`] key of `name` and `extra`: the name, then `0 name 0 value`
/// per extra label.
fn tally_key_is(key: &[u8], name: &str, extra: &[(&str, &str)]) -> bool {
    let Some(mut rest) = bytes::strip_prefix(key, name.as_bytes()) else { return false };
    for (k, v) in extra {
        for part in [k, v] {
            let Some((&0, r)) = rest.split_first() else { return false };
            let Some(r) = bytes::strip_prefix(r, part.as_bytes()) else { return false };
            rest = r;
        }
    }
    rest.is_empty()
}

impl JobCounters<'_, '_> {
    pub(super) fn next_job(&mut self) {
        self.cursor = 0;
    }

    /// Adds `delta` to the counter `name` with the base labels plus `extra`.
    pub(super) fn add(&mut self, out: &mut SeriesSet, name: &str, extra: &[(&str, &str)], delta: f64) {
        if !delta.is_finite() || delta < 0.0 {
            out.non_finite += u64::from(!delta.is_finite());
            return;
        }
        // The common case, checked without building the key: the job's next counter is the one
        // after the previous job's.
        let at = match self.seen.get(self.cursor) {
            Some((k, _)) if tally_key_is(k, name, extra) => Some(self.cursor),
            _ => {
                let key = &mut self.scratch;
                key.clear();
                key.extend_from_slice(name.as_bytes());
                for (k, v) in extra {
                    key.push(0);
                    key.extend_from_slice(k.as_bytes());
                    key.push(0);
                    key.extend_from_slice(v.as_bytes());
                }
                self.seen.iter().position(|(k, _)| **k == **key)
            }
        };
        let i = match at {
            Some(i) => i,
            None => {
                let key = &self.scratch;
                let labels: Vec<(&str, &str)> = self.base.iter().chain(extra).copied().collect();
                let slot = self.counters.slot(name, &labels);
                self.seen.push((key.as_slice().into(), slot));
                self.seen.len() - 1
            }
        };
        self.cursor = i + 1;
        self.counters.add_at(out, self.seen[i].1, delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat<'a>(a: &[(&'a str, &'a str)], b: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        a.iter().chain(b).copied().collect()
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
