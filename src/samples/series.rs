//! The series store of a cycle: samples grouped by series, flat so that adding a sample
//! allocates nothing (a large backfill adds a million).

use super::index::HashIndex;
use super::key::{in_key_order, own_key_is, push_label, write_key, Labels, SortedLabels};
use crate::util::hash;

/// Samples grouped by series; each series' samples are kept in time order on output.
///
/// This is the hot path of a cycle (a million samples for a large backfill), so it is flat: a
/// series is a pair of small numbers, a sample is one entry in one list, and adding a sample to
/// a series already held allocates nothing.
///
/// - A *group* is the labels a job's samples share (sorted, in key format: `name 0xff value
///   0xfe` per label; UTF-8 never holds those two bytes), found once per job
///   (`SeriesSet::group`).
/// - An *own key* is `__name__` plus a sample's few extra labels, in the same format; the same
///   few dozen serve every group.
/// - A series is a (group, own key) pair. A job adds its samples in the same order as the job
///   before it, so the next sample's series is usually the group's next one: one short
///   comparison, no hashing (`SeriesSet::add_in`). The first job of a group in a set has no
///   series of the group to follow, so its own keys are guessed from the previous job's, in
///   the same way.
///
/// A series' identity is its full label set, however it was split into group and own key: on
/// output, series with the same labels come out as one.
#[derive(Debug, Default, Clone)]
pub struct SeriesSet {
    pub(super) groups: Vec<Group>,
    /// Group key hash → indices into `groups`.
    pub(super) group_index: HashIndex,
    pub(super) owns: Vec<Box<[u8]>>,
    /// Own key hash → indices into `owns`.
    pub(super) own_index: HashIndex,
    /// Each series' group and own key (indices into `groups` and `owns`).
    pub(super) series: Vec<(u32, u32)>,
    /// Every sample, in the order added.
    pub(super) samples: Vec<Sample>,
    pub(super) scratch: Vec<u8>,
    pub(super) non_finite: u64,
    /// The own keys of the previous job's samples (the samples added since the `group` call
    /// before the last), in order, and where the next guess in them is.
    previous_owns: Vec<u32>,
    guess_at: usize,
    /// The own keys of the current job's samples so far.
    job_owns: Vec<u32>,
}

/// The series sharing one set of labels: the full labels of each are the group's merged with
/// its own key's (an own label replaces a group label of the same name).
#[derive(Debug, Default, Clone)]
pub(super) struct Group {
    pub(super) key: Box<[u8]>,
    /// Indices into `SeriesSet::series`, in the order first added.
    pub(super) series: Vec<u32>,
    /// Where the next sample's series most likely is.
    pub(super) cursor: usize,
    /// Made by the latest `SeriesSet::group` call: it holds only the current job's series.
    fresh: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub(super) series: u32,
    pub(super) ts_ms: i64,
    pub(super) value: f64,
}

/// A handle on a group of a [`SeriesSet`] (valid for that set only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupId(u32);

/// One series ready for the wire: sorted labels including `__name__`, samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub(crate) labels: Labels,
    pub(crate) samples: Vec<(i64, f64)>,
}

impl SeriesSet {
    /// Adds a sample to the series of `name` and `labels`; NaN and ±Inf are counted, not added.
    pub(crate) fn add(&mut self, name: &str, labels: &[(&str, &str)], ts_ms: i64, value: f64) {
        self.add_to(name, &SortedLabels::new(labels), &[], ts_ms, value);
    }

    /// [`SeriesSet::add`] with the labels `base` (sorted once for many samples) plus `extra`
    /// (a later value wins over an earlier one with the same name, as in `add`).
    pub(crate) fn add_to(
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
    pub(crate) fn group(&mut self, base: &SortedLabels<'_>) -> GroupId {
        let mut key = std::mem::take(&mut self.scratch);
        key.clear();
        for (k, v) in &base.0 {
            push_label(&mut key, k, v);
        }
        let before = self.groups.len();
        let g = self.group_of_key(&key);
        let fresh = self.groups.len() > before;
        let group = &mut self.groups[g as usize];
        group.cursor = 0;
        group.fresh = fresh;
        self.scratch = key;
        std::mem::swap(&mut self.previous_owns, &mut self.job_owns);
        self.job_owns.clear();
        self.guess_at = 0;
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
            None => self.new_series(g, own),
        }
    }

    /// A new series of group `g` with own key `own`; the group's cursor moves past it.
    fn new_series(&mut self, g: u32, own: u32) -> u32 {
        let s = self.series.len() as u32;
        self.series.push((g, own));
        let group = &mut self.groups[g as usize];
        group.series.push(s);
        group.cursor = group.series.len();
        s
    }

    /// The labels of group `g`, in key format (a stable identity of the label set).
    pub(crate) fn group_key(&self, g: GroupId) -> &[u8] {
        &self.groups[g.0 as usize].key
    }

    /// Adds a sample to the series of group `g` named `name` with the labels `extra` (as in
    /// [`SeriesSet::add_to`]); NaN and ±Inf are counted, not added.
    pub(crate) fn add_in(&mut self, g: GroupId, name: &str, extra: &[(&str, &str)], ts_ms: i64, value: f64) {
        if !value.is_finite() {
            self.non_finite += 1;
            return;
        }
        // The common case, checked without building the key: extras given in key order, and
        // the series is the group's next.
        let group = &mut self.groups[g.0 as usize];
        let ordered = in_key_order(extra);
        if ordered {
            if let Some(&s) = group.series.get(group.cursor) {
                let own = self.series[s as usize].1;
                if own_key_is(&self.owns[own as usize], name, extra) {
                    group.cursor += 1;
                    self.job_owns.push(own);
                    self.samples.push(Sample { series: s, ts_ms, value });
                    return;
                }
            }
        }
        let own = match self.guess_own(ordered, name, extra) {
            Some(own) => own,
            None => {
                let mut key = std::mem::take(&mut self.scratch);
                write_key(&mut key, name, extra);
                let own = self.own_of_key(&key);
                self.scratch = key;
                // Back in step with the previous job after a sample it did not have.
                let ahead = self.previous_owns.get(self.guess_at..).unwrap_or_default();
                if let Some(i) = ahead.iter().position(|&o| o == own) {
                    self.guess_at += i + 1;
                }
                own
            }
        };
        self.job_owns.push(own);
        let series = if self.groups[g.0 as usize].fresh {
            // None of this job's earlier samples can be looked for faster than it can be
            // added again: a series added twice comes out as one (see `into_sorted`).
            self.new_series(g.0, own)
        } else {
            self.series_in(g.0, own)
        };
        self.samples.push(Sample { series, ts_ms, value });
    }

    /// The previous job's next own key, when it is `__name__` = `name` with `extra` (in key
    /// order).
    fn guess_own(&mut self, ordered: bool, name: &str, extra: &[(&str, &str)]) -> Option<u32> {
        let own = *self.previous_owns.get(self.guess_at).filter(|_| ordered)?;
        own_key_is(&self.owns[own as usize], name, extra).then(|| {
            self.guess_at += 1;
            own
        })
    }

    /// Adds every sample of `other` (for a cycle built in parts).
    pub(crate) fn merge(&mut self, other: SeriesSet) {
        let groups: Vec<u32> = other.groups.iter().map(|g| self.group_of_key(&g.key)).collect();
        let owns: Vec<u32> = other.owns.iter().map(|o| self.own_of_key(o)).collect();
        let series: Vec<u32> =
            other.series.iter().map(|&(g, o)| self.series_in(groups[g as usize], owns[o as usize])).collect();
        self.samples.extend(other.samples.iter().map(|s| Sample { series: series[s.series as usize], ..*s }));
        self.non_finite += other.non_finite;
    }

    /// The set without its samples: its series stay, so the same samples added again find
    /// them (see [`super::kept::KeptSeries`]).
    pub(super) fn clear_samples(&mut self) {
        self.samples.clear();
        self.non_finite = 0;
        self.previous_owns.clear();
        self.job_owns.clear();
        self.guess_at = 0;
        for g in &mut self.groups {
            g.cursor = 0;
            g.fresh = false;
        }
    }

    /// Values left out because they were NaN or infinite.
    pub(crate) fn non_finite(&self) -> u64 {
        self.non_finite
    }

    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Timestamps of every sample (for window checks).
    pub(crate) fn timestamps(&self) -> impl Iterator<Item = i64> + '_ {
        self.samples.iter().map(|s| s.ts_ms)
    }

    /// The series in a fixed order, each with samples sorted by time (see
    /// [`SeriesSet::into_sorted`]).
    #[cfg(test)]
    pub(crate) fn into_series(self) -> Vec<Series> {
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
    fn first_jobs_of_groups_follow_the_previous_job_and_land_where_add_puts_them() {
        // Each job a new group (its own keys guessed from the job before), skipping one of the
        // previous job's samples, adding one it did not have, or adding a series twice.
        let names = ["a", "b", "c", "d"];
        let (mut got, mut want) = (SeriesSet::default(), SeriesSet::default());
        for job in 0..12usize {
            let v = job.to_string();
            let base = [("job", v.as_str())];
            let g = got.group(&SortedLabels::new(&base));
            let mut adds: Vec<(&str, &str)> = names.iter().map(|n| (*n, "EUR")).collect();
            match job % 4 {
                1 => drop(adds.remove(1)),
                2 => adds.insert(2, ("e", "SEK")),
                3 => adds.push(("a", "EUR")),
                _ => {}
            }
            for (i, (name, cur)) in adds.iter().enumerate() {
                let extra = [("currency", *cur)];
                got.add_in(g, name, &extra, (job * 10 + i) as i64, i as f64);
                let all = [base[0], extra[0]];
                want.add(name, &all, (job * 10 + i) as i64, i as f64);
            }
        }
        assert_eq!(got.sample_count(), want.sample_count());
        assert_eq!(got.into_series(), want.into_series());
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
}
