//! One destination's side of delivery: its queue, its delivery counters and its sender's wake-up
//! ([`Outbox`]); where each destination's queue lives; and the move of a single-destination
//! state directory into that layout.
//!
//! Every destination has a queue directory of its own, `<state_dir>/queue/<name>/`, holding the
//! same batches under the same sequence numbers: a cycle writes each batch once and links it
//! into the other queues (a hard link, so the bytes are on disk once; a copy where the file
//! system has no links). Each sender then deletes, rewrites or drops only its own directory's
//! entry, so a destination that is down, slow or refusing leaves the others alone.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tracing::{info, warn};

use super::queue::Queue;
use super::stats::{Reason, Stats};
use crate::util::fs::sync_dir;

/// File name of a destination's delivery counters, in its queue directory.
pub(crate) const STATS_FILE: &str = "stats.json";

/// The queue directory of destination `name`.
pub(crate) fn queue_dir(state_dir: &Path, name: &str) -> PathBuf {
    queues_root(state_dir).join(name)
}

/// The directory that holds every destination's queue directory.
pub(crate) fn queues_root(state_dir: &Path) -> PathBuf {
    state_dir.join("queue")
}

/// One destination's queue, its delivery counters and its sender's wake-up: what the cycles
/// (which add batches) and that destination's sender (which delivers and removes them) share.
pub struct Outbox {
    /// The destination's name (the `destination` label).
    pub(crate) name: String,
    pub(crate) queue: Mutex<Queue>,
    pub(crate) stats: Mutex<Stats>,
    /// Woken when a cycle adds batches.
    pub(crate) wake: Notify,
    pub(super) stats_path: PathBuf,
}

impl Outbox {
    pub(crate) fn new(name: &str, queue: Queue, dir: &Path) -> Arc<Outbox> {
        let stats_path = dir.join(STATS_FILE);
        Arc::new(Outbox {
            name: name.to_string(),
            queue: Mutex::new(queue),
            stats: Mutex::new(Stats::load(&stats_path)),
            wake: Notify::new(),
            stats_path,
        })
    }

    pub(crate) fn stats(&self) -> Stats {
        self.stats.lock().expect("stats lock").clone()
    }

    /// Counts samples dropped outside the sender (queue cap, corrupt files) and saves.
    pub(crate) fn count_dropped(&self, r: Reason, samples: u64) {
        let mut s = self.stats.lock().expect("stats lock");
        s.drop_samples(r, samples);
        s.save(&self.stats_path);
    }

    /// Counts corrupt queue files removed, and the samples their headers named, and saves.
    pub(crate) fn count_corrupt(&self, files: u64, samples: u64) {
        let mut s = self.stats.lock().expect("stats lock");
        s.corrupt_files += files;
        s.drop_samples(Reason::Corrupt, samples);
        s.save(&self.stats_path);
    }
}

/// What [`adopt_single_queue`] moved.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Adopted {
    pub(crate) batches: u64,
    pub(crate) counters: bool,
}

/// Moves a single-destination queue (batches and counters directly in `<state_dir>/queue/`, as
/// before there could be several destinations) into the destinations' own directories: every
/// batch into each of them (it was committed for "the" receiver, and each destination is owed
/// it), the counters to the first. Safe to repeat after a crash: a batch leaves the old place
/// only once it is whole in every new one, and that is durable.
pub(crate) fn adopt_single_queue(state_dir: &Path, names: &[&str]) -> std::io::Result<Adopted> {
    let root = queues_root(state_dir);
    let mut adopted = Adopted::default();
    let Ok(listing) = std::fs::read_dir(&root) else { return Ok(adopted) };
    let mut batches = Vec::new();
    let mut counters = None;
    for e in listing {
        let e = e?;
        if !e.file_type()?.is_file() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".batch") {
            batches.push(e.path());
        } else if name == STATS_FILE {
            counters = Some(e.path());
        } else if name.ends_with(".tmp") {
            // A write that never finished: an uncommitted cycle's, redone anyway.
            std::fs::remove_file(e.path())?;
        }
    }
    if batches.is_empty() && counters.is_none() {
        return Ok(adopted);
    }
    let dirs: Vec<PathBuf> = names.iter().map(|n| root.join(n)).collect();
    for d in &dirs {
        std::fs::create_dir_all(d)?;
    }
    sync_dir(&root)?;
    batches.sort();
    for b in &batches {
        let file = b.file_name().expect("a listed file has a name").to_string_lossy().into_owned();
        for d in &dirs {
            // Whole or not at all under its name, even if the copy is cut short: a temporary
            // name (which `Queue::open` removes), then a rename. Redone whole after a crash.
            let tmp = d.join(format!("{file}.tmp"));
            let _ = std::fs::remove_file(&tmp);
            if std::fs::hard_link(b, &tmp).is_err() {
                std::fs::copy(b, &tmp)?;
                std::fs::File::open(&tmp)?.sync_all()?;
            }
            std::fs::rename(&tmp, d.join(&file))?;
            // A rename onto another link of the same file does nothing and leaves `tmp`.
            let _ = std::fs::remove_file(&tmp);
        }
    }
    if let (Some(c), Some(first)) = (&counters, dirs.first()) {
        let to = first.join(STATS_FILE);
        if !to.exists() {
            std::fs::rename(c, &to)?;
            adopted.counters = true;
        }
    }
    for d in &dirs {
        sync_dir(d)?;
    }
    for b in &batches {
        std::fs::remove_file(b)?;
    }
    if let Some(c) = counters.filter(|c| c.exists()) {
        // The first destination already has counters of its own: these are older.
        std::fs::remove_file(c)?;
    }
    sync_dir(&root)?;
    adopted.batches = batches.len() as u64;
    if adopted.batches > 0 || adopted.counters {
        info!(
            batches = adopted.batches,
            destinations = names.join(", "),
            "moved the single queue of an earlier version into each destination's queue"
        );
    }
    Ok(adopted)
}

/// Queue directories under `<state_dir>/queue/` that belong to no configured destination (a
/// renamed one, or all but one under `--remote-write-url`). They are not sent, but they are
/// cleaned as the configured ones are (the batches of a cycle that never committed, numbered
/// `committed_next_seq` or above, are deleted), so that if the destination comes back it sends
/// only committed batches. A warning says what waits there.
pub(crate) fn tidy_unconfigured_queues(state_dir: &Path, names: &[&str], committed_next_seq: u64) {
    let Ok(listing) = std::fs::read_dir(queues_root(state_dir)) else { return };
    for e in listing.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type().is_ok_and(|t| t.is_dir()) || names.contains(&name.as_str()) {
            continue;
        }
        match Queue::open(&e.path(), u64::MAX, committed_next_seq) {
            Ok((q, _)) if !q.is_empty() => warn!(
                dir = %e.path().display(),
                batches = q.len(),
                bytes = q.bytes(),
                "a queue directory belongs to no configured destination: its batches are not sent (configure a destination of that name to deliver them, or delete the directory)"
            ),
            Ok(_) => {}
            Err(err) => {
                warn!(dir = %e.path().display(), error = %err, "cannot look into a queue directory of no configured destination")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_single_queue_moves_into_every_destination_and_its_counters_into_the_first() {
        let state = tempfile::tempdir().unwrap();
        let root = queues_root(state.path());
        std::fs::create_dir_all(&root).unwrap();
        let (q, _) = Queue::open(&root, 1 << 20, u64::MAX).unwrap();
        let (body, n) = crate::delivery::proto::test_body(1, 2);
        for seq in [3, 4] {
            q.write(seq, &body, n).unwrap();
        }
        std::fs::write(root.join(STATS_FILE), br#"{"sent_samples":9,"sent_requests":1,"retried_samples":0,"dropped":{},"last_success_ms":null}"#).unwrap();
        std::fs::write(root.join("00000000000000000005.batch.tmp"), b"half").unwrap();

        let a = adopt_single_queue(state.path(), &["a", "b"]).unwrap();
        assert_eq!(a, Adopted { batches: 2, counters: true });
        assert!(files(&root).is_empty(), "nothing left in the old place: {:?}", files(&root));
        let want = ["00000000000000000003.batch", "00000000000000000004.batch"];
        assert_eq!(files(&root.join("b")), want);
        assert_eq!(files(&root.join("a")), [want[0], want[1], STATS_FILE]);
        for d in ["a", "b"] {
            let (q, _) = Queue::open(&root.join(d), 1 << 20, 5).unwrap();
            assert_eq!(q.read(3).unwrap(), body, "{d} reads the batch");
        }
        assert_eq!(Stats::load(&root.join("a").join(STATS_FILE)).sent_samples, 9);
        // Done once: a second run finds nothing to move.
        assert_eq!(adopt_single_queue(state.path(), &["a", "b"]).unwrap(), Adopted::default());
    }

    #[test]
    fn a_move_cut_short_is_finished_by_the_next_start() {
        let state = tempfile::tempdir().unwrap();
        let root = queues_root(state.path());
        std::fs::create_dir_all(root.join("a")).unwrap();
        let (q, _) = Queue::open(&root, 1 << 20, u64::MAX).unwrap();
        let (body, n) = crate::delivery::proto::test_body(1, 1);
        q.write(7, &body, n).unwrap();
        // The crash came after the link into `a`, in the middle of a copy into `b`.
        std::fs::hard_link(
            root.join("00000000000000000007.batch"),
            root.join("a/00000000000000000007.batch"),
        )
        .unwrap();
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::fs::write(root.join("b/00000000000000000007.batch.tmp"), &body[..3]).unwrap();
        assert_eq!(adopt_single_queue(state.path(), &["a", "b"]).unwrap().batches, 1);
        assert_eq!(files(&root.join("a")), ["00000000000000000007.batch"]);
        assert_eq!(files(&root.join("b")), ["00000000000000000007.batch"]);
        assert!(files(&root).is_empty());
        let (q, _) = Queue::open(&root.join("b"), 1 << 20, 8).unwrap();
        assert_eq!(q.read(7).unwrap(), body, "the whole batch, not the half copy");
    }

    #[test]
    fn a_queue_no_destination_names_loses_its_uncommitted_batches_and_keeps_the_rest() {
        let state = tempfile::tempdir().unwrap();
        let dir = queue_dir(state.path(), "renamed");
        let (q, _) = Queue::open(&dir, 1 << 20, u64::MAX).unwrap();
        let (body, n) = crate::delivery::proto::test_body(1, 1);
        for seq in [1, 2, 5] {
            q.write(seq, &body, n).unwrap();
        }
        tidy_unconfigured_queues(state.path(), &["main"], 3);
        assert_eq!(files(&dir), ["00000000000000000001.batch", "00000000000000000002.batch"]);
    }
}
