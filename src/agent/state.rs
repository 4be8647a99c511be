//! What the agent remembers between cycles and restarts, in `<state_dir>/state.json` and the
//! part file and journal it names.
//!
//! - `files`: per results file, the fingerprint (length, mtime, `util::hash::content_hash` of the
//!   content) of the version last read, so unchanged files are not re-read and changed ones (the
//!   scheduler appends) are;
//! - `jobs`: the identity of every job already pushed, so no job is counted twice across
//!   cycles, files or restarts;
//! - `counters`: the value and last timestamp of every counter, so counters survive restarts.
//!
//! - `next_seq`: the first queue sequence number not yet used by a committed cycle;
//! - `idle_baseline`: the idle power the latest baseline scenario measured.
//!
//! # Two files, so that an idle cycle writes little
//!
//! What grows with the jobs (`files`, `jobs`, `stamps`, `label_values`, `history`, and the hourly
//! `forecast_cache`) is kept in a part file, `part-<generation>.json`, and its journal,
//! `part-<generation>.changes`: one line of JSON per commit that changed the part, saying what
//! changed (`part_changes`). `state.json` holds what changes every cycle (`counters`, `next_seq`,
//! `idle_baseline`), the generation of the part that goes with it and how many bytes of its journal
//! are committed. So an idle cycle writes `state.json` alone (about 10 kB on a host of 40,000 jobs,
//! against 2.4 MB for the whole state), and a cycle that takes in a few jobs adds a line of their
//! size (BENCHMARKS.md, "Idle writes"). Once the journal outgrows its part file, the next change
//! writes a new generation's part whole and starts its journal afresh: the bytes written stay
//! within about twice the changes.
//!
//! The part's fields are `Shared` (`util::shared`): a cycle's new state shares each with the
//! state it started from until it changes it. An idle cycle copies none of them, and its commit
//! finds the part unchanged without comparing its contents.
//!
//! # Commit
//!
//! A cycle commits its state right after its batches are durably in the queue. A changed part
//! is a line appended to the journal at its committed length (whatever a crash left past it is
//! cut off first) and fsynced, or, written whole, a new generation's file (temporary file,
//! fsync, rename), never over the one in use; then `state.json` is replaced the same way and
//! the directory fsynced, which makes every name durable. `state.json` is the commit point: a
//! crash before its rename leaves the old `state.json`, naming the old part and the journal's
//! old length, never a torn or mismatched pair. The files of other generations (the one
//! replaced, or one a crash left unnamed) are deleted after the commit.
//! With the old state the queue drops the uncommitted cycle's batches at start and the cycle runs
//! again from the same files, producing the same samples (same values, same timestamps).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::part_changes::PartChanges;
use crate::compute::history;
use crate::samples::Counters;
use crate::util::fs::{write_atomic, write_atomic_with, Durability};
use crate::util::shared::Shared;

pub const FILE_NAME: &str = "state.json";
/// The state format written. 4: the part's journal; 3: the large fields in a part file; 2:
/// buckets by basis (an older costpush refuses a newer format by its number rather than
/// misreading it: one of format 3 would not read the journal). Formats 1 to 3 are read too;
/// format 1's buckets are rebuilt.
const FORMAT: u32 = 4;

/// How the last read of a file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FileStatus {
    Ingested,
    Malformed,
    Incomplete,
    /// Not read: not a regular file, or over `results.max_file_bytes`.
    Refused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FileState {
    pub(crate) len: u64,
    pub(crate) mtime_ns: i128,
    pub(crate) hash: u64,
    pub(crate) status: FileStatus,
    /// Hashes of field problems already reported for this file, so each is logged once.
    #[serde(default)]
    pub(crate) reported: BTreeSet<u64>,
    /// A job in this version waits for an energy source: read it again next cycle.
    #[serde(default)]
    pub(crate) deferred: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub(crate) format: u32,
    /// In the part file from format 3 on (hence the defaults), here in formats 1 and 2.
    #[serde(default)]
    pub(crate) files: Shared<Files>,
    #[serde(default)]
    pub(crate) jobs: Shared<JobIds>,
    pub(crate) counters: Counters,
    /// The first queue sequence number no committed cycle has used (see `queue`).
    #[serde(default)]
    pub(crate) next_seq: u64,
    /// Buckets and training jobs (derived: rebuilt from the results files when missing).
    #[serde(default)]
    pub(crate) history: Option<Shared<crate::compute::history::History>>,
    /// The projections of the current bucket (recomputed when a new bucket starts). Derived:
    /// a cache this version cannot read is dropped, not an error.
    #[serde(default, deserialize_with = "readable_or_none")]
    pub(crate) forecast_cache: Option<Shared<ForecastCache>>,
    /// The idle power measured by the latest baseline scenario: (its end, Unix s; watts).
    #[serde(default)]
    pub(crate) idle_baseline: Option<(f64, f64)>,
    /// The (label set, millisecond) pairs jobs already use (a state from before it: empty).
    #[serde(default)]
    pub(crate) stamps: Shared<crate::samples::catalogue::StampSet>,
    /// The values each label taken from the files has kept (the cardinality guard).
    #[serde(default)]
    pub(crate) label_values: Shared<crate::samples::catalogue::LabelValues>,
    /// The generation of the part file holding the fields above that grow with the jobs; 0
    /// before the first (and in formats 1 and 2, which hold them inline).
    #[serde(default)]
    pub(crate) part: u64,
    /// The committed length of the part's journal, in bytes.
    #[serde(default)]
    pub(crate) journal: u64,
    /// The size of the part file (not saved: read from the file).
    #[serde(skip)]
    part_bytes: u64,
    /// Loading changed what the part holds (a cache dropped): the next change to the part is
    /// not a journal line, which would follow what the part holds, but the part written whole.
    #[serde(skip)]
    part_stale: bool,
    /// What the last cycle worked out that the next one may reuse (not saved).
    #[serde(skip)]
    pub(crate) memo: super::insights::Memo,
}

/// The parts of a [`State`] that grow with the jobs, shared with the state they came from.
pub(crate) struct Parts {
    files: Shared<Files>,
    jobs: Shared<JobIds>,
    history: Option<Shared<crate::compute::history::History>>,
    forecast_cache: Option<Shared<ForecastCache>>,
    stamps: Shared<crate::samples::catalogue::StampSet>,
    label_values: Shared<crate::samples::catalogue::LabelValues>,
}

/// `state.json` as written: what changes every cycle, and which part goes with it.
#[derive(Serialize)]
struct CommitOut<'a> {
    format: u32,
    /// Always empty (the part holds them): a costpush of format 2 requires the two fields, and
    /// with them it reads the file and then refuses its format by number, as it should.
    files: BTreeMap<(), ()>,
    jobs: [u64; 0],
    counters: &'a Counters,
    next_seq: u64,
    idle_baseline: Option<(f64, f64)>,
    part: u64,
    journal: u64,
}

/// A part file as written: what grows with the jobs.
#[derive(Serialize)]
struct PartOut<'a> {
    files: &'a Files,
    jobs: &'a JobIds,
    history: Option<&'a crate::compute::history::History>,
    forecast_cache: Option<&'a ForecastCache>,
    stamps: &'a crate::samples::catalogue::StampSet,
    label_values: &'a crate::samples::catalogue::LabelValues,
}

/// What `state.json` must hold besides its format: a format below 3 every field itself (the
/// defaults that make them optional are for format 3), format 3 the generation of its part.
#[derive(Deserialize)]
struct Probe {
    format: u32,
    files: Option<serde::de::IgnoredAny>,
    jobs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    part: u64,
}

/// A part file as read.
#[derive(Deserialize)]
struct PartIn {
    files: Shared<Files>,
    jobs: Shared<JobIds>,
    #[serde(default)]
    history: Option<Shared<crate::compute::history::History>>,
    #[serde(default, deserialize_with = "readable_or_none")]
    forecast_cache: Option<Shared<ForecastCache>>,
    #[serde(default)]
    stamps: Shared<crate::samples::catalogue::StampSet>,
    #[serde(default)]
    label_values: Shared<crate::samples::catalogue::LabelValues>,
}

fn part_name(generation: u64) -> String {
    format!("part-{generation}.json")
}

fn journal_name(generation: u64) -> String {
    format!("part-{generation}.changes")
}

/// A journal shorter than its committed length (the commit's fsync did not hold), or a line
/// that does not follow the part.
fn damaged_journal(path: PathBuf, why: impl std::fmt::Display) -> StateError {
    StateError::Corrupt { path, source: serde::de::Error::custom(why) }
}

/// The identities of the jobs already pushed. Stored as a JSON array.
pub type JobIds = crate::util::sorted::SortedSet<u64>;

/// Each results file's fingerprint, by path.
pub(crate) type Files = BTreeMap<PathBuf, FileState>;

/// Projections computed at the start of a bucket, reused for the rest of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ForecastCache {
    pub(crate) bucket: i64,
    /// The bases projected (a cache of other bases is refitted).
    #[serde(default)]
    pub(crate) bases: Vec<crate::compute::history::Basis>,
    pub(crate) projections:
        Vec<Result<crate::compute::projection::Projection, crate::compute::projection::NoProjection>>,
}

/// A derived field as this version reads it, or `None` (it is recomputed).
pub(super) fn readable_or_none<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

impl Default for State {
    fn default() -> Self {
        State {
            format: FORMAT,
            files: Shared::default(),
            jobs: Shared::default(),
            counters: Counters::default(),
            next_seq: 0,
            history: None,
            forecast_cache: None,
            idle_baseline: None,
            stamps: Default::default(),
            label_values: Default::default(),
            part: 0,
            journal: 0,
            part_bytes: 0,
            part_stale: false,
            memo: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a costpush state file ({source}); move it away to start afresh (jobs would be counted again)")]
    Corrupt { path: PathBuf, source: serde_json::Error },
    #[error("{path} has state format {found}, this costpush reads formats 1 to {FORMAT}")]
    Format { path: PathBuf, found: u32 },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is locked: another costpush is using this state directory")]
    Locked { path: PathBuf },
}

/// An exclusive lock on a state directory, held for as long as the value lives. Two agents on
/// one state directory would both push the same new jobs and advance the counters twice.
///
/// The lock is an `flock` on the directory itself, not on a file in it: a file can be deleted
/// while the lock is held, and the next agent would lock a new file of the same name.
pub struct StateLock {
    _dir: std::fs::File,
}

/// Takes the lock on `dir` (creating it), or fails at once if another process holds it.
pub fn lock(dir: &Path) -> Result<StateLock, StateError> {
    let io = |source| StateError::Write { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let handle = std::fs::File::open(dir).map_err(io)?;
    match handle.try_lock() {
        Ok(()) => Ok(StateLock { _dir: handle }),
        Err(std::fs::TryLockError::WouldBlock) => Err(StateError::Locked { path: dir.to_path_buf() }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

impl State {
    /// The identities of the jobs already pushed.
    pub fn jobs(&self) -> &JobIds {
        &self.jobs
    }

    /// The state's parts that grow with the jobs, shared (the daemon compares a cycle's state
    /// with them, see [`State::copied_where_changed`], without copying the rest of the state).
    pub(crate) fn parts(&self) -> Parts {
        Parts {
            files: self.files.clone(),
            jobs: self.jobs.clone(),
            history: self.history.clone(),
            forecast_cache: self.forecast_cache.clone(),
            stamps: self.stamps.clone(),
            label_values: self.label_values.clone(),
        }
    }

    /// The state, with each part that does not share `before`'s value (a part the cycle
    /// changed) copied by the calling thread; the unchanged parts stay shared. The daemon keeps
    /// a cycle's state this way, so that nothing large it keeps lies in the cycle thread's
    /// memory (a counter's labels are shared, not copied: a few hundred bytes, made once).
    pub(crate) fn copied_where_changed(&self, before: &Parts) -> State {
        fn copy<T: Clone>(now: &Shared<T>, before: Option<&Shared<T>>) -> Shared<T> {
            if before.is_some_and(|b| b.same(now)) {
                now.clone()
            } else {
                now.copied()
            }
        }
        State {
            files: copy(&self.files, Some(&before.files)),
            jobs: copy(&self.jobs, Some(&before.jobs)),
            history: self.history.as_ref().map(|h| copy(h, before.history.as_ref())),
            forecast_cache: self.forecast_cache.as_ref().map(|c| copy(c, before.forecast_cache.as_ref())),
            stamps: copy(&self.stamps, Some(&before.stamps)),
            label_values: copy(&self.label_values, Some(&before.label_values)),
            format: self.format,
            counters: self.counters.clone(),
            next_seq: self.next_seq,
            idle_baseline: self.idle_baseline,
            part: self.part,
            journal: self.journal,
            part_bytes: self.part_bytes,
            part_stale: self.part_stale,
            memo: self.memo.clone(),
        }
    }

    /// Loads the state, or an empty one if the directory has none yet.
    pub fn load(dir: &Path) -> Result<State, StateError> {
        // A reader without the lock (the dry run) may find the part it was pointed to already
        // replaced by a commit: it reads `state.json` again.
        let mut tries = 0;
        loop {
            tries += 1;
            match State::load_once(dir) {
                Err(StateError::Read { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && tries < 5 =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                r => return r,
            }
        }
    }

    fn load_once(dir: &Path) -> Result<State, StateError> {
        let path = dir.join(FILE_NAME);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let corrupt = |source| StateError::Corrupt { path: path.clone(), source };
        let probe: Probe = serde_json::from_slice(&bytes).map_err(corrupt)?;
        if !(1..=FORMAT).contains(&probe.format) {
            return Err(StateError::Format { path, found: probe.format });
        }
        let missing = match (probe.format, probe.files.is_some(), probe.jobs.is_some(), probe.part) {
            (3 | 4, _, _, 0) => Some("part"),
            (1 | 2, false, _, _) => Some("files"),
            (1 | 2, _, false, _) => Some("jobs"),
            _ => None,
        };
        if let Some(field) = missing {
            return Err(corrupt(serde::de::Error::missing_field(field)));
        }
        let mut state: State = serde_json::from_slice(&bytes).map_err(corrupt)?;
        if state.format >= 3 {
            let path = dir.join(part_name(state.part));
            let bytes =
                std::fs::read(&path).map_err(|source| StateError::Read { path: path.clone(), source })?;
            let part: PartIn =
                serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path, source })?;
            state.files = part.files;
            state.jobs = part.jobs;
            state.history = part.history;
            state.forecast_cache = part.forecast_cache;
            state.stamps = part.stamps;
            state.label_values = part.label_values;
            state.part_bytes = bytes.len() as u64;
            if state.journal > 0 {
                state.replay_journal(dir)?;
            }
        }
        state.format = FORMAT;
        if state.history.as_ref().is_some_and(|h| h.layout != history::LAYOUT) {
            // Buckets of an older layout: rebuilt from the results files at the next cycle (the
            // training rows are kept). The projections cached from them go now.
            state.part_stale |= state.forecast_cache.is_some();
            state.forecast_cache = None;
        }
        Ok(state)
    }

    /// Applies the committed lines of the part's journal.
    fn replay_journal(&mut self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join(journal_name(self.part));
        let bytes = std::fs::read(&path).map_err(|source| StateError::Read { path: path.clone(), source })?;
        let Some(committed) = usize::try_from(self.journal).ok().and_then(|n| bytes.get(..n)) else {
            let why = format!("{} bytes, {} committed", bytes.len(), self.journal);
            return Err(damaged_journal(path, why));
        };
        let mut changes = Vec::new();
        for line in committed.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            changes.push(
                serde_json::from_slice::<PartChanges>(line)
                    .map_err(|source| StateError::Corrupt { path: path.clone(), source })?,
            );
        }
        PartChanges::apply_all(changes, self).map_err(|e| damaged_journal(path, e))
    }

    /// Commits the state atomically and durably (see the module doc). `prev` is the state
    /// committed before it: its part is kept, not written again, when this one's is the same.
    pub fn save(&mut self, dir: &Path, prev: &State) -> Result<(), StateError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let same_part = prev.part > 0
            && self.jobs == prev.jobs
            && self.files == prev.files
            && self.stamps == prev.stamps
            && self.label_values == prev.label_values
            && self.forecast_cache == prev.forecast_cache
            && self.history == prev.history;
        // A part whose loading changed what it read (see `part_stale`) is written whole.
        let changes = (prev.part > 0 && !same_part && !prev.part_stale)
            .then(|| PartChanges::between(prev, self))
            .flatten();
        let line = changes.map(|c| journal_line(&c)).transpose().map_err(io(dir))?.filter(|l| {
            // Past the part's own size (at least `MIN_JOURNAL`), the part is written whole.
            prev.journal + l.len() as u64 <= prev.part_bytes.max(MIN_JOURNAL)
        });
        let appended = match &line {
            Some(line) => {
                let path = dir.join(journal_name(prev.part));
                append_at(&path, prev.journal, line).map_err(io(&path))?
            }
            None => false,
        };
        if same_part {
            (self.part, self.journal, self.part_bytes) = (prev.part, prev.journal, prev.part_bytes);
        } else if let (true, Some(line)) = (appended, &line) {
            (self.part, self.journal, self.part_bytes) =
                (prev.part, prev.journal + line.len() as u64, prev.part_bytes);
            self.part_stale = false;
        } else {
            // Past every generation on disk too: a save that failed after its rename (its
            // directory fsync, say) leaves a part newer than `prev`'s, which is never reused
            // while it is on disk.
            self.part = prev.part.max(self.part).max(newest_part(dir)) + 1;
            let part = PartOut {
                files: &self.files,
                jobs: &self.jobs,
                history: self.history.as_deref(),
                forecast_cache: self.forecast_cache.as_deref(),
                stamps: &self.stamps,
                label_values: &self.label_values,
            };
            let path = dir.join(part_name(self.part));
            // Written as it is serialised (it grows with the jobs: 4 MB at 100,000); its name
            // durable before `state.json` can name it.
            let bytes = write_atomic_with(&path, Durability::ContentAndName, |w| {
                serde_json::to_writer(w, &part).map_err(std::io::Error::from)
            })
            .map_err(io(&path))?;
            (self.journal, self.part_bytes, self.part_stale) = (0, bytes, false);
        }
        let commit = CommitOut {
            format: FORMAT,
            files: BTreeMap::new(),
            jobs: [],
            counters: &self.counters,
            next_seq: self.next_seq,
            idle_baseline: self.idle_baseline,
            part: self.part,
            journal: self.journal,
        };
        let path = dir.join(FILE_NAME);
        let bytes = serde_json::to_vec(&commit).map_err(|e| io(&path)(std::io::Error::other(e)))?;
        write_atomic(&path, &[&bytes], Durability::ContentAndName).map_err(io(&path))?;
        self.format = FORMAT;
        remove_other_parts(dir, self.part);
        Ok(())
    }
}

/// The highest generation of the part files in `dir` (0 for none).
fn newest_part(dir: &Path) -> u64 {
    let Ok(listing) = std::fs::read_dir(dir) else { return 0 };
    listing.flatten().filter_map(|e| part_generation(&e.file_name().to_string_lossy())).max().unwrap_or(0)
}

/// `part-<generation>.json` or its journal's name → the generation.
fn part_generation(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("part-")?;
    rest.strip_suffix(".json").or_else(|| rest.strip_suffix(".changes"))?.parse().ok()
}

/// A journal may grow to the size of its part file, and to this much however small the part.
const MIN_JOURNAL: u64 = 256 * 1024;

/// One journal line: the changes as JSON and a newline.
fn journal_line(changes: &PartChanges) -> std::io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(changes).map_err(std::io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

/// Appends `line` to the journal `path` (created if new) and fsyncs it, if the journal is
/// `at` bytes long; `false` (nothing written) if it is not. Bytes past the committed length
/// are what an uncommitted append left, or what a `state.json` renamed by a save that then
/// failed names: they are never cut off (the part is written whole instead). A new journal's
/// name is made durable too.
fn append_at(path: &Path, at: u64, line: &[u8]) -> std::io::Result<bool> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path)?;
    if f.metadata()?.len() != at {
        return Ok(false);
    }
    f.write_all(line)?;
    f.sync_data()?;
    if at == 0 {
        crate::util::fs::sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(true)
}

/// Deletes the part files other than generation `keep`: the one a commit replaced, and any a
/// crash left unnamed. A failure leaves a stale file, which the next commit tries again.
fn remove_other_parts(dir: &Path, keep: u64) {
    let Ok(listing) = std::fs::read_dir(dir) else { return };
    for e in listing.flatten() {
        if part_generation(&e.file_name().to_string_lossy()).is_some_and(|g| g != keep) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_state_kept_by_the_daemon_shares_only_what_the_cycle_left_unchanged() {
        let mut before = State::default();
        before.jobs.make_mut().extend([1, 2]);
        before.stamps.make_mut().extend([7]);
        let mut after = before.clone();
        after.jobs.make_mut().extend([3]);
        let kept = after.copied_where_changed(&before.parts());
        assert!(kept.stamps.same(&before.stamps) && kept.files.same(&before.files));
        assert!(!kept.jobs.same(&after.jobs) && !kept.jobs.same(&before.jobs), "copied");
        assert_eq!(kept, after);
    }

    #[test]
    fn a_history_of_an_older_layout_is_kept_for_its_rows_and_its_cache_dropped() {
        let dir = tempfile::tempdir().unwrap();
        // As an older costpush wrote it: buckets of (cost, energy, CO2, unknown), no layout.
        let mut old = serde_json::to_value(State { next_seq: 4, format: 1, ..State::default() }).unwrap();
        old["jobs"] = serde_json::json!([5, 9]);
        old["history"] = serde_json::json!({"bucket_seconds": 3600, "first": 10, "pushed_until": 12,
            "jobs": [], "buckets": [{"cost": 1.5, "energy_j": 3.0, "co2_g": 0.5, "unknown": false}]});
        // projections as an older version cached them: unreadable now, dropped
        old["forecast_cache"] = serde_json::json!({"bucket": 12,
            "projections": [{"Ok": {"quantity": "Cost", "model": "AAA", "alpha": 0.1, "sse": 3.0}}]});
        std::fs::write(dir.path().join(FILE_NAME), serde_json::to_vec(&old).unwrap()).unwrap();
        let s = State::load(dir.path()).unwrap();
        let h = s.history.as_ref().expect("kept: its training rows outlive its buckets");
        assert_eq!((h.layout, s.forecast_cache.is_none()), (0, true), "marked for rebuilding");
        assert_eq!((s.jobs.len(), s.next_seq), (2, 4), "what was taken in stays taken");
        // This version's layout is kept.
        let mut s = State { history: Some(history::History::new(3600).into()), ..State::default() };
        s.history.as_mut().unwrap().make_mut().first = 10;
        s.save(dir.path(), &State::default()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap().history, s.history);

        // A part whose cache loading dropped is written whole at its next change: a journal
        // line would not say that the cache went, and it would come back at the next load.
        let mut part: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("part-1.json")).unwrap()).unwrap();
        part["history"]["layout"] = 0.into();
        part["forecast_cache"] = serde_json::json!({"bucket": 12, "bases": [], "projections": []});
        std::fs::write(dir.path().join("part-1.json"), serde_json::to_vec(&part).unwrap()).unwrap();
        let loaded = State::load(dir.path()).unwrap();
        assert!(loaded.part_stale && loaded.forecast_cache.is_none());
        let mut next = loaded.clone();
        next.history = Some(history::History::new(3600).into());
        next.save(dir.path(), &loaded).unwrap();
        assert_eq!((next.part, next.journal), (2, 0), "written whole");
        assert_eq!(State::load(dir.path()).unwrap(), next);
    }

    #[test]
    fn round_trip_and_missing_dir() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("new");
        assert_eq!(State::load(&sub).unwrap(), State::default());
        let mut s = State::default();
        s.jobs.make_mut().insert(u64::MAX);
        s.jobs.make_mut().extend([3, 1, 3]);
        assert_eq!(s.jobs.len(), 3);
        assert!(s.jobs.contains(&1) && s.jobs.contains(&u64::MAX) && !s.jobs.contains(&2));
        s.files.make_mut().insert(
            "/r/test_results_1.json".into(),
            FileState {
                len: 3,
                mtime_ns: -5,
                hash: 7,
                status: FileStatus::Malformed,
                reported: BTreeSet::from([1]),
                deferred: true,
            },
        );
        s.save(&sub, &State::default()).unwrap();
        assert_eq!(State::load(&sub).unwrap(), s);
        assert!(!sub.join("state.json.tmp").exists());
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn an_idle_commit_writes_only_the_small_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = State::default();
        first.jobs.make_mut().extend(0..1000);
        first.save(dir.path(), &State::default()).unwrap();
        assert_eq!(names(dir.path()), ["part-1.json", "state.json"]);
        let part = dir.path().join("part-1.json");
        let written = std::fs::metadata(&part).unwrap().modified().unwrap();
        let big = std::fs::metadata(&part).unwrap().len();
        let prev = State::load(dir.path()).unwrap();
        assert_eq!(prev, first);

        // A cycle with no new job: the counters and the queue number move, the part stays.
        let mut idle = prev.clone();
        idle.next_seq += 1;
        idle.counters = Counters::default();
        std::thread::sleep(std::time::Duration::from_millis(20));
        idle.save(dir.path(), &prev).unwrap();
        assert_eq!(names(dir.path()), ["part-1.json", "state.json"]);
        assert_eq!(std::fs::metadata(&part).unwrap().modified().unwrap(), written, "not rewritten");
        let small = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();
        assert!(small * 20 < big, "state.json {small} B beside a part of {big} B");
        assert_eq!(State::load(dir.path()).unwrap(), idle);

        // A new job: a line in the journal, the part untouched.
        let mut busy = idle.clone();
        busy.jobs.make_mut().insert(5000);
        busy.save(dir.path(), &idle).unwrap();
        assert_eq!(names(dir.path()), ["part-1.changes", "part-1.json", "state.json"]);
        assert_eq!(std::fs::metadata(&part).unwrap().modified().unwrap(), written, "not rewritten");
        let line = std::fs::metadata(dir.path().join("part-1.changes")).unwrap().len();
        assert!(line < 20, "{line} B for one job");
        assert_eq!(State::load(dir.path()).unwrap(), busy);
    }

    /// A state with something in every field of the part.
    fn full_state() -> State {
        use crate::compute::history::{Bucket, History, TrainingRow};
        let mut s = State::default();
        s.jobs.make_mut().extend(0..1000);
        s.stamps.make_mut().extend(0..50);
        s.label_values.make_mut().entry("scenario".into()).or_default().insert("a".into());
        for name in ["x.json", "y.json"] {
            let f = FileState {
                len: 1,
                mtime_ns: 2,
                hash: 3,
                status: FileStatus::Ingested,
                reported: BTreeSet::new(),
                deferred: false,
            };
            s.files.make_mut().insert(PathBuf::from(name), f);
        }
        let mut h = History::new(3600);
        h.first = 100;
        h.buckets = vec![Bucket::default(); 10];
        for i in 0..4 {
            h.jobs.push(TrainingRow {
                end_s: f64::from(i),
                pixel_rate: 1.5,
                bitrate_kbps: 3000.0,
                fps: 30.0,
                encoder: "libx264",
                preset: if i % 2 == 0 { "fast" } else { "slow" },
                power_w: 90.0 + f64::from(i),
            });
        }
        s.history = Some(h.into());
        s
    }

    #[test]
    fn commits_that_change_the_part_append_to_its_journal_and_load_back_as_committed() {
        use crate::compute::history::TrainingRow;
        let dir = tempfile::tempdir().unwrap();
        let mut prev = full_state();
        prev.save(dir.path(), &State::default()).unwrap();
        let part = dir.path().join("part-1.json");
        let (len, written) = {
            let m = std::fs::metadata(&part).unwrap();
            (m.len(), m.modified().unwrap())
        };
        for step in 0..40u32 {
            let mut s = prev.clone();
            s.next_seq += 1;
            s.jobs.make_mut().extend([10_000 + u64::from(step)]);
            s.stamps.make_mut().extend([1_000 + step]);
            if step % 3 == 0 {
                s.label_values
                    .make_mut()
                    .entry(format!("l{}", step % 2))
                    .or_default()
                    .insert(format!("v{step}"));
            }
            if let Some(f) = s.files.make_mut().get_mut(Path::new("x.json")) {
                f.len += 1;
            }
            if step == 7 {
                s.files.make_mut().remove(Path::new("y.json"));
            }
            let h = s.history.as_mut().unwrap().make_mut();
            h.buckets.last_mut().unwrap().all.jobs += 1.0;
            if step % 5 == 4 {
                // A new bucket, and the oldest goes.
                h.buckets.remove(0);
                h.first += 1;
                h.buckets.push(Default::default());
                h.pushed_until = h.first + 3;
            }
            // A row arrives, and the oldest goes.
            let mut rows = crate::compute::history::Rows::default();
            for r in h.jobs.iter().skip(1) {
                rows.push(r);
            }
            let preset = format!("p{step}");
            rows.push(TrainingRow {
                end_s: f64::from(100 + step),
                preset: &preset,
                ..h.jobs.iter().next().unwrap()
            });
            h.jobs = rows;
            if step == 20 {
                s.forecast_cache =
                    Some(ForecastCache { bucket: 7, bases: Vec::new(), projections: Vec::new() }.into());
            }
            s.save(dir.path(), &prev).unwrap();
            assert_eq!(
                (s.part, names(dir.path())),
                (1, vec!["part-1.changes".into(), "part-1.json".into(), "state.json".into()])
            );
            assert_eq!(State::load(dir.path()).unwrap(), s, "step {step}");
            prev = s;
        }
        let m = std::fs::metadata(&part).unwrap();
        assert_eq!((m.len(), m.modified().unwrap()), (len, written), "the part was not rewritten");
        let journal = std::fs::metadata(dir.path().join("part-1.changes")).unwrap().len();
        assert_eq!(journal, prev.journal);
        assert!(journal < 40 * 1024, "{journal} B for 40 small commits");

        // Taking away what only grows (a job identity) writes the part whole: a new
        // generation, and the old part and journal go.
        let mut s = prev.clone();
        s.jobs = Shared::default();
        s.jobs.make_mut().extend(1..5);
        s.save(dir.path(), &prev).unwrap();
        assert_eq!((s.part, s.journal), (2, 0));
        assert_eq!(names(dir.path()), ["part-2.json", "state.json"]);
        assert_eq!(State::load(dir.path()).unwrap(), s);
    }

    #[test]
    fn a_journal_past_its_part_size_starts_a_new_generation() {
        let dir = tempfile::tempdir().unwrap();
        let mut prev = full_state();
        prev.save(dir.path(), &State::default()).unwrap();
        let mut generations = BTreeSet::new();
        for step in 0..12u64 {
            let mut s = prev.clone();
            // About 50 kB a line: MIN_JOURNAL, then the part's own size, is passed now and then.
            s.jobs.make_mut().extend((0..5000).map(|i| 1_000_000 * (step + 1) + i));
            s.save(dir.path(), &prev).unwrap();
            assert!(
                s.journal <= s.part_bytes.max(MIN_JOURNAL),
                "step {step}: {} > {}",
                s.journal,
                s.part_bytes
            );
            assert_eq!(State::load(dir.path()).unwrap(), s, "step {step}");
            assert!(names(dir.path()).len() <= 3, "{:?}", names(dir.path()));
            generations.insert(s.part);
            prev = s;
        }
        assert!(generations.len() >= 2, "{generations:?}");
    }

    #[test]
    fn bytes_past_the_committed_journal_are_ignored_and_never_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut prev = full_state();
        prev.save(dir.path(), &State::default()).unwrap();
        let mut s = prev.clone();
        s.jobs.make_mut().extend([77_777]);
        s.save(dir.path(), &prev).unwrap();
        // The next commit appended its line and died before its state.json.
        let journal = dir.path().join("part-1.changes");
        let mut f = std::fs::OpenOptions::new().append(true).open(&journal).unwrap();
        std::io::Write::write_all(&mut f, b"{\"jobs\": [88888]}\n{\"jobs\": [9").unwrap();
        drop(f);
        let loaded = State::load(dir.path()).unwrap();
        assert_eq!(loaded, s, "only the committed lines");
        // The next commit writes the part whole rather than cut what it did not write.
        let mut next = loaded.clone();
        next.jobs.make_mut().extend([99_999]);
        next.save(dir.path(), &loaded).unwrap();
        assert_eq!((next.part, next.journal), (2, 0));
        assert_eq!(names(dir.path()), ["part-2.json", "state.json"]);
        assert_eq!(State::load(dir.path()).unwrap(), next);

        // A save that renamed its state.json and then failed leaves the caller with the state
        // before it: the journal is longer than that one says, and is left as it is.
        let mut a = next.clone();
        a.jobs.make_mut().extend([500_001]);
        a.save(dir.path(), &next).unwrap();
        let committed = std::fs::read(dir.path().join("part-2.changes")).unwrap();
        let mut b = next.clone();
        b.jobs.make_mut().extend([500_002]);
        b.save(dir.path(), &next).unwrap();
        assert_eq!(b.part, 3, "written whole");
        assert_eq!(State::load(dir.path()).unwrap(), b);
        assert!(
            !dir.path().join("part-2.changes").exists()
                || std::fs::read(dir.path().join("part-2.changes")).unwrap() == committed
        );

        // A journal shorter than committed (its fsync did not hold) is damaged, not ignored.
        let mut c = b.clone();
        c.jobs.make_mut().extend([500_003]);
        c.save(dir.path(), &b).unwrap();
        let journal = dir.path().join("part-3.changes");
        std::fs::write(&journal, b"").unwrap();
        assert!(matches!(State::load(dir.path()), Err(StateError::Corrupt { .. })));
        std::fs::remove_file(&journal).unwrap();
        assert!(matches!(State::load(dir.path()), Err(StateError::Read { .. })));
    }

    #[test]
    fn a_part_written_before_a_crash_is_ignored_then_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::default();
        s.jobs.make_mut().insert(1);
        s.save(dir.path(), &State::default()).unwrap();
        // The next cycle wrote its part, and died before its state.json.
        std::fs::write(dir.path().join("part-2.json"), br#"{"files": {}, "jobs": [1, 2, 3]}"#).unwrap();
        let loaded = State::load(dir.path()).unwrap();
        assert_eq!((loaded.part, loaded.jobs.len()), (1, 1), "the committed pair");
        let mut again = loaded.clone();
        again.jobs.make_mut().insert(2);
        again.save(dir.path(), &loaded).unwrap();
        assert_eq!(
            names(dir.path()),
            ["part-1.changes", "part-1.json", "state.json"],
            "the unnamed one goes"
        );
        assert_eq!(State::load(dir.path()).unwrap().jobs.len(), 2);
        // The same crash before a part written whole (a job identity taken away forces it).
        std::fs::write(dir.path().join("part-2.json"), br#"{"files": {}, "jobs": [1, 2, 3]}"#).unwrap();
        let loaded = State::load(dir.path()).unwrap();
        let mut again = loaded.clone();
        again.jobs = Shared::default();
        again.jobs.make_mut().extend([2]);
        again.save(dir.path(), &loaded).unwrap();
        assert_eq!(names(dir.path()), ["part-3.json", "state.json"], "the unnamed generation is not reused");
        assert_eq!(State::load(dir.path()).unwrap().jobs.len(), 1);
        // A part that is missing or damaged is an error, not an empty state.
        std::fs::write(dir.path().join("part-3.json"), b"{").unwrap();
        assert!(matches!(State::load(dir.path()), Err(StateError::Corrupt { .. })));
        std::fs::remove_file(dir.path().join("part-3.json")).unwrap();
        assert!(matches!(State::load(dir.path()), Err(StateError::Read { .. })));
    }

    #[test]
    fn a_state_file_missing_what_its_format_needs_is_corrupt_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        for text in [
            r#"{"format": 2, "jobs": [1], "counters": {}}"#,
            r#"{"format": 2, "files": {}, "counters": {}}"#,
            r#"{"format": 3, "files": {}, "jobs": [], "counters": {}}"#,
            r#"{"format": 4, "files": {}, "jobs": [], "counters": {"entries": []}, "journal": 5}"#,
        ] {
            std::fs::write(&path, text).unwrap();
            assert!(matches!(State::load(dir.path()), Err(StateError::Corrupt { .. })), "{text}");
        }
        // What an older costpush reads first: the format, refused by its number.
        std::fs::write(&path, r#"{"format": 5, "files": {}, "jobs": [], "counters": {}, "part": 9}"#)
            .unwrap();
        let e = State::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("has state format 5, this costpush reads formats 1 to 4"), "{e}");
    }

    #[test]
    fn a_generation_a_failed_commit_left_on_disk_is_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::default();
        s.jobs.make_mut().insert(1);
        s.save(dir.path(), &State::default()).unwrap();
        // A commit that wrote part 2 (and perhaps renamed state.json) and then failed.
        std::fs::write(dir.path().join("part-2.json"), br#"{"files": {}, "jobs": [1, 2]}"#).unwrap();
        let prev = s.clone();
        s.jobs = Shared::default();
        s.jobs.make_mut().extend([3]);
        s.save(dir.path(), &prev).unwrap();
        assert_eq!(s.part, 3);
        assert_eq!(names(dir.path()), ["part-3.json", "state.json"]);
    }

    #[test]
    fn a_state_of_format_2_is_read_whole_and_written_in_two_parts() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = serde_json::to_value(State { next_seq: 7, format: 2, ..State::default() }).unwrap();
        old["jobs"] = serde_json::json!([3, 4]);
        old.as_object_mut().unwrap().remove("part");
        std::fs::write(dir.path().join(FILE_NAME), serde_json::to_vec(&old).unwrap()).unwrap();
        let mut s = State::load(dir.path()).unwrap();
        assert_eq!((s.jobs.len(), s.next_seq, s.part), (2, 7, 0));
        let prev = s.clone();
        s.save(dir.path(), &prev).unwrap();
        assert_eq!(names(dir.path()), ["part-1.json", "state.json"]);
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(FILE_NAME)).unwrap()).unwrap();
        assert_eq!(written["format"].as_u64(), Some(4));
        assert_eq!((written["jobs"].as_array().map(Vec::len), written["part"].as_u64()), (Some(0), Some(1)));
        assert_eq!(State::load(dir.path()).unwrap().jobs.len(), 2);
    }

    #[test]
    fn one_agent_per_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        assert!(matches!(lock(dir.path()), Err(StateError::Locked { .. })));
        // Nothing in the directory holds the lock: emptying it frees nothing.
        for e in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        assert!(matches!(lock(dir.path()), Err(StateError::Locked { .. })));
        drop(held);
        lock(dir.path()).unwrap();
    }

    #[test]
    fn corrupt_state_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        let e = State::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("state.json is not a costpush state file"), "{e}");
    }
}
