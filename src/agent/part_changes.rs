//! What changed in the state's part (the fields that grow with the jobs) between two commits:
//! one line of the part's journal (see `state`). A commit that takes in a few jobs writes
//! these few jobs' worth, not the whole part.
//!
//! Pure: two states in, the changes out; the changes and a state in, the later state out.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::state::{FileState, ForecastCache, State};
use crate::compute::history::{History, HistoryChanges};
use crate::util::shared::Shared;

/// The changes of one commit. Every field is optional in the journal: an empty list is left
/// out, and a field that did not change is absent.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct PartChanges {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    jobs: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stamps: Vec<u32>,
    /// Values each label kept since (the guard only ever adds).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    label_values: BTreeMap<String, Vec<String>>,
    /// Files read since, with what was read.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    files: BTreeMap<PathBuf, FileState>,
    /// Files no longer listed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files_removed: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<HistoryChange>,
    /// The projections' cache, whole (it changes once a bucket).
    #[serde(skip_serializing_if = "Option::is_none")]
    forecast_cache: Option<CacheChange>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum HistoryChange {
    /// Stored whole: there was none, or its layout or bucket size changed.
    Whole(Option<History>),
    Changed(HistoryChanges),
}

/// The cache as this version reads it, or `None` (it is derived: recomputed when unreadable).
#[derive(Debug, Serialize, Deserialize)]
struct CacheChange {
    #[serde(deserialize_with = "super::state::readable_or_none")]
    set: Option<ForecastCache>,
}

/// A journal line could not be applied to the state it follows.
#[derive(Debug, thiserror::Error)]
#[error("the history changed from none")]
pub(super) struct Mismatch;

impl PartChanges {
    /// What changed from `before` to `after`; `None` when something was taken away that only
    /// grows (job identities, stamps, kept label values): the part is then written whole.
    pub(super) fn between(before: &State, after: &State) -> Option<PartChanges> {
        let mut label_values = BTreeMap::new();
        for (label, values) in after.label_values.iter() {
            let old = before.label_values.get(label);
            let added: Vec<String> =
                values.iter().filter(|v| !old.is_some_and(|o| o.contains(*v))).cloned().collect();
            if !added.is_empty() {
                label_values.insert(label.clone(), added);
            }
        }
        let kept_all = before
            .label_values
            .iter()
            .all(|(label, values)| after.label_values.get(label).is_some_and(|now| values.is_subset(now)));
        if !kept_all {
            return None;
        }
        let files = after
            .files
            .iter()
            .filter(|(path, f)| before.files.get(*path) != Some(*f))
            .map(|(path, f)| (path.clone(), f.clone()))
            .collect();
        let files_removed = before.files.keys().filter(|p| !after.files.contains_key(*p)).cloned().collect();
        let history = match (&before.history, &after.history) {
            (b, a) if b == a => None,
            (Some(b), Some(a)) => Some(match a.changes_since(b) {
                Some(c) => HistoryChange::Changed(c),
                None => HistoryChange::Whole(Some(History::clone(a))),
            }),
            (_, a) => Some(HistoryChange::Whole(a.as_deref().cloned())),
        };
        let forecast_cache = (before.forecast_cache != after.forecast_cache)
            .then(|| CacheChange { set: after.forecast_cache.as_deref().cloned() });
        Some(PartChanges {
            jobs: after.jobs.added_since(&before.jobs)?,
            stamps: after.stamps.added_since(&before.stamps)?,
            label_values,
            files,
            files_removed,
            history,
            forecast_cache,
        })
    }

    /// Brings `state` (the part as committed before `changes`) to the part after them, in
    /// order. The identities and stamps are added once, at the end (one sort of the runs the
    /// lines added, rather than one per line: a journal has many lines).
    pub(super) fn apply_all(
        changes: impl IntoIterator<Item = PartChanges>,
        state: &mut State,
    ) -> Result<(), Mismatch> {
        let (mut jobs, mut stamps) = (Vec::new(), Vec::new());
        for c in changes {
            jobs.extend(c.jobs);
            stamps.extend(c.stamps);
            for (label, values) in c.label_values {
                state.label_values.make_mut().entry(label).or_default().extend(values);
            }
            let files = state.files.make_mut();
            for path in &c.files_removed {
                files.remove(path);
            }
            files.extend(c.files);
            match c.history {
                None => {}
                Some(HistoryChange::Whole(h)) => state.history = h.map(Shared::new),
                Some(HistoryChange::Changed(h)) => {
                    state.history.as_mut().ok_or(Mismatch)?.make_mut().apply(&h)
                }
            }
            if let Some(cache) = c.forecast_cache {
                state.forecast_cache = cache.set.map(Shared::new);
            }
        }
        state.jobs.make_mut().extend(jobs);
        state.stamps.make_mut().extend(stamps);
        Ok(())
    }
}
