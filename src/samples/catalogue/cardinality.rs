//! The cardinality guard: a cap on the distinct values of each label taken from the results
//! files (`scenario`, `encoder`, `preset`, `bitrate`, `resolution`, `streams`), so that a writer
//! that puts a run ID in the scenario name cannot create a new series per job without end. The
//! first values seen are kept for good (in the state); past the cap a new value is pushed as
//! [`OVERFLOW`], and the jobs so folded are counted per label.

use std::collections::{BTreeMap, BTreeSet};

/// The labels the guard caps, as the catalogue names them.
pub(crate) const GUARDED: [&str; 6] = ["scenario", "encoder", "preset", "bitrate", "resolution", "streams"];

/// The value a label takes past its cap.
pub(crate) const OVERFLOW: &str = "_overflow_";

/// The values kept so far, by label; kept in the state.
pub(crate) type LabelValues = BTreeMap<String, BTreeSet<String>>;

/// One cycle's view of the guard: the values kept before it, the ones it adds, and what it
/// folds.
#[derive(Debug)]
pub(crate) struct LabelGuard<'a> {
    before: &'a LabelValues,
    new: LabelValues,
    max: usize,
    folded: BTreeMap<&'static str, u64>,
}

impl<'a> LabelGuard<'a> {
    pub(crate) fn new(before: &'a LabelValues, max: usize) -> LabelGuard<'a> {
        LabelGuard { before, new: LabelValues::new(), max, folded: BTreeMap::new() }
    }

    /// `value` if the label keeps it (known, or room for one more), else [`OVERFLOW`]. An empty
    /// value (a label left out) passes as it is.
    pub(crate) fn admit<'v>(&mut self, label: &'static str, value: &'v str) -> &'v str {
        if value.is_empty() {
            return value;
        }
        let before = self.before.get(label);
        if before.is_some_and(|b| b.contains(value)) || self.new.get(label).is_some_and(|n| n.contains(value))
        {
            return value;
        }
        if self.kept(label) < self.max {
            self.new.entry(label.to_string()).or_default().insert(value.to_string());
            value
        } else {
            *self.folded.entry(label).or_default() += 1;
            OVERFLOW
        }
    }

    /// Distinct values of `label` kept, this cycle's included.
    pub(crate) fn kept(&self, label: &str) -> usize {
        self.before.get(label).map_or(0, BTreeSet::len) + self.new.get(label).map_or(0, BTreeSet::len)
    }

    /// Jobs whose `label` was folded this cycle.
    pub(crate) fn folded(&self, label: &str) -> u64 {
        self.folded.get(label).copied().unwrap_or(0)
    }

    /// The values this cycle added, for the state.
    pub(crate) fn into_new(self) -> LabelValues {
        self.new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_values_are_kept_for_good_and_the_rest_folded_and_counted() {
        let mut before = LabelValues::new();
        before.entry("scenario".into()).or_default().insert("a".into());
        let mut g = LabelGuard::new(&before, 2);
        assert_eq!(g.admit("scenario", "a"), "a");
        assert_eq!(g.admit("scenario", "b"), "b");
        assert_eq!(g.admit("scenario", "c"), OVERFLOW);
        assert_eq!(g.admit("scenario", "b"), "b", "a value kept stays kept");
        assert_eq!(g.admit("scenario", "d"), OVERFLOW);
        assert_eq!(g.admit("encoder", "x264"), "x264", "each label has its own cap");
        assert_eq!(g.admit("preset", ""), "", "a label left out is not a value");
        assert_eq!((g.kept("scenario"), g.folded("scenario"), g.folded("encoder")), (2, 2, 0));
        let new = g.into_new();
        assert_eq!(new["scenario"], BTreeSet::from(["b".to_string()]));
    }
}
