//! A cycle's own samples (health, counters, insights) in a series set kept from one cycle to
//! the next, with their output order and label blocks: an idle cycle adds the same series as the
//! cycle before, so only its values and timestamps are new to write.

use super::body::BodyEncoder;
use super::order::{by_output_series, output_order, LabelBlocks};
use super::series::SeriesSet;

/// The series of the daemon's own samples, kept across its cycles, and how they are written.
///
/// A cycle takes the set ([`KeptSeries::take`]), adds its samples, and writes it back through
/// [`KeptSeries::write_bodies`]. A series added again is found where it was, with no key built;
/// the output order and each series' label block are worked out again only when series were
/// added. The bodies are the same as [`SeriesSet::write_bodies`] makes of a set of the same
/// samples built afresh.
#[derive(Debug, Default, Clone)]
pub struct KeptSeries {
    set: SeriesSet,
    layout: Option<Layout>,
    /// How many output series the last written cycle had samples in.
    used: usize,
}

/// The output order and label blocks of the kept set's first `slot_of.len()` series.
#[derive(Debug, Clone)]
struct Layout {
    /// Each series' output series.
    slot_of: Vec<u32>,
    /// Each output series' label block: `blocks[ends[i - 1]..ends[i]]`.
    blocks: Vec<u8>,
    ends: Vec<u32>,
}

impl Layout {
    fn of(set: &SeriesSet) -> Layout {
        let (out, slot_of) = output_order(&set.groups, &set.owns, &set.series);
        let mut labels = LabelBlocks::new(&set.groups, &set.owns);
        let mut blocks = Vec::new();
        let ends = out
            .iter()
            .map(|&(g, o)| {
                labels.put(g, o, &mut blocks);
                blocks.len() as u32
            })
            .collect();
        Layout { slot_of, blocks, ends }
    }

    fn block(&self, slot: usize) -> &[u8] {
        let start = if slot == 0 { 0 } else { self.ends[slot - 1] as usize };
        &self.blocks[start..self.ends[slot] as usize]
    }
}

impl KeptSeries {
    /// The kept set, without samples, for a cycle to add its own to. A set whose last cycle
    /// used fewer than half of its series (labels that came and went) is started afresh, so
    /// that it holds about one cycle's series.
    pub fn take(&mut self) -> SeriesSet {
        let mut set = std::mem::take(&mut self.set);
        if self.used * 2 < set.series.len() {
            set = SeriesSet::default();
            self.layout = None;
        }
        set.clear_samples();
        set
    }

    /// Writes `set` (taken from [`KeptSeries::take`]) as [`SeriesSet::write_bodies`] would, and
    /// keeps it for the next cycle.
    pub fn write_bodies<E>(
        &mut self,
        mut set: SeriesSet,
        max_samples: usize,
        enc: &mut BodyEncoder,
        mut sink: impl FnMut(&[u8], u64) -> Result<(), E>,
    ) -> Result<(), E> {
        let layout = match self.layout.take() {
            // The set only grows until it starts afresh: as many series, the same ones.
            Some(l) if l.slot_of.len() == set.series.len() => l,
            _ => Layout::of(&set),
        };
        let samples = by_output_series(std::mem::take(&mut set.samples), &layout.slot_of, layout.ends.len());
        let mut run: Vec<(i64, f64)> = Vec::new();
        let mut used = 0;
        let mut result = Ok(());
        for part in samples.chunk_by(|a, b| a.series == b.series) {
            used += 1;
            run.clear();
            run.extend(part.iter().map(|s| (s.ts_ms, s.value)));
            result = enc.push_in_bodies(layout.block(part[0].series as usize), &run, max_samples, &mut sink);
            if result.is_err() {
                break;
            }
        }
        set.samples = samples;
        set.clear_samples();
        self.used = used;
        self.set = set;
        self.layout = Some(layout);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::key::SortedLabels;

    /// A cycle's own samples: `extra` more series than the base ones, `left_out` of the base
    /// ones missing, values that change with `cycle`.
    fn fill(set: &mut SeriesSet, cycle: i64, extra: usize, left_out: usize) {
        let ts = 1_000 * cycle;
        let v = cycle as f64;
        let base = [("host", "h1"), ("region", "r")];
        set.add("costpush_up", &base, ts, 1.0);
        for (i, d) in ["a", "b", "c", "d"].iter().enumerate().skip(left_out) {
            set.add("costpush_queue_bytes", &[("destination", d), ("host", "h1")], ts, v + i as f64);
        }
        // The same labels split differently: one series on output, its samples merged.
        let g = set.group(&SortedLabels::new(&base));
        set.add_in(g, "costpush_model_r2", &[("status", "fitted")], ts, 0.5 * v);
        set.add("costpush_model_r2", &[("host", "h1"), ("region", "r"), ("status", "fitted")], ts + 1, v);
        set.add("costpush_nan", &base, ts, f64::NAN);
        for i in 0..extra {
            set.add("costpush_extra", &[("i", &i.to_string())], ts, v);
        }
    }

    fn bodies(
        f: impl FnOnce(&mut dyn FnMut(&[u8], u64) -> Result<(), ()>) -> Result<(), ()>,
    ) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        f(&mut |b: &[u8], n: u64| {
            out.push((b.to_vec(), n));
            Ok(())
        })
        .unwrap();
        out
    }

    /// The bodies of one cycle, written through `kept` and from a set built afresh: equal.
    fn same_as_afresh(kept: &mut KeptSeries, cycle: i64, extra: usize, left_out: usize) {
        let mut set = kept.take();
        fill(&mut set, cycle, extra, left_out);
        let (n, nan) = (set.sample_count(), set.non_finite());
        let mut fresh = SeriesSet::default();
        fill(&mut fresh, cycle, extra, left_out);
        assert_eq!((n, nan), (fresh.sample_count(), fresh.non_finite()), "cycle {cycle}");
        let mut enc = BodyEncoder::default();
        let got = bodies(|sink| {
            kept.write_bodies(set, 3, &mut enc, &mut *sink)?;
            enc.flush(sink)
        });
        let mut enc = BodyEncoder::default();
        let want = bodies(|sink| {
            fresh.write_bodies(3, &mut enc, &mut *sink)?;
            enc.flush(sink)
        });
        assert!(want.len() >= 2, "split into several bodies");
        assert_eq!(got, want, "cycle {cycle}");
    }

    #[test]
    fn kept_series_write_what_a_set_built_afresh_writes() {
        let mut kept = KeptSeries::default();
        same_as_afresh(&mut kept, 1, 0, 0);
        let first = kept.layout.as_ref().map(|l| l.slot_of.len());
        // An idle cycle: the same series, new values; the layout is reused.
        same_as_afresh(&mut kept, 2, 0, 0);
        assert_eq!(kept.layout.as_ref().map(|l| l.slot_of.len()), first);
        // New series, and some missing: laid out again, the missing ones left out.
        same_as_afresh(&mut kept, 3, 2, 1);
        assert_eq!(kept.layout.as_ref().map(|l| l.slot_of.len()), first.map(|n| n + 2));
        same_as_afresh(&mut kept, 4, 0, 3);
    }

    #[test]
    fn a_set_whose_series_mostly_went_is_started_afresh() {
        let mut kept = KeptSeries::default();
        same_as_afresh(&mut kept, 1, 40, 0);
        same_as_afresh(&mut kept, 2, 0, 0);
        let before = kept.set.series.len();
        same_as_afresh(&mut kept, 3, 0, 0);
        assert!(kept.set.series.len() < before / 2, "{} of {before}", kept.set.series.len());
    }
}
