//! Which results files there are, and which changed since the state last saw them: listing,
//! then a file's fingerprint (length, modification time, content hash). A file over
//! [`STREAM_ABOVE`] bytes is hashed and scanned a block at a time, never held.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use tracing::warn;

use super::state::{FileState, FileStatus};
use crate::util::bounded::{self, FileError};

/// What [`read_if_changed`] found.
pub(super) enum Scan<'b> {
    /// Same length and modification time as last read (and no job of it waits).
    Unchanged,
    /// Touched, but the same content: the state to keep, with the new length and time.
    Touched(FileState),
    /// It could not be read now: `what` failed, and why.
    Unreadable { what: &'static str, error: std::io::Error },
    /// Not read at all: not a regular file, or over the size cap.
    Refused { len: u64, mtime_ns: i128, why: FileError },
    /// New or changed content.
    Changed { content: Content<'b>, len: u64, mtime_ns: i128, hash: u64 },
}

/// A changed file's content.
pub(super) enum Content<'b> {
    /// Its bytes, in the buffer the caller gave.
    Bytes(&'b [u8]),
    /// Over [`STREAM_ABOVE`]: not held, only scanned for its end times. The cycle reads it again
    /// as it streams ([`crate::ingest::results::index`]).
    Large(Option<EndTimes>),
}

/// Files larger than this are never held whole: they are read as they stream, and their jobs
/// read again from the file a chunk at a time. Below it, a file and its jobs are held while it is
/// read, which is faster.
pub(super) const STREAM_ABOVE: u64 = 4 * 1024 * 1024;

/// Reads `path` unless its length and modification time say it is the version `prev` read
/// (a file with a job waiting for energy, or one refused before, is looked at again anyway).
/// Only a regular file of at most `cap` bytes is read, into `buf`: one buffer serves many files.
pub(super) fn read_if_changed<'b>(
    path: &Path,
    prev: Option<&FileState>,
    cap: u64,
    buf: &'b mut Vec<u8>,
) -> Scan<'b> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(error) => return Scan::Unreadable { what: "cannot stat results file", error },
    };
    let (len, mtime) = (meta.len(), mtime_ns(&meta));
    if prev.is_some_and(|f| {
        f.len == len && f.mtime_ns == mtime && !f.deferred && f.status != FileStatus::Refused
    }) {
        return Scan::Unchanged;
    }
    let read = if len > STREAM_ABOVE { scan_large(path, cap) } else { read_whole(path, cap, buf) };
    let (content, hash) = match read {
        Ok(read) => read,
        Err(FileError::Io(error)) => return Scan::Unreadable { what: "cannot read results file", error },
        Err(why) => return Scan::Refused { len, mtime_ns: mtime, why },
    };
    if let Some(p) = prev.filter(|f| f.hash == hash && !f.deferred) {
        return Scan::Touched(FileState { len, mtime_ns: mtime, ..p.clone() });
    }
    Scan::Changed { content, len, mtime_ns: mtime, hash }
}

fn read_whole<'b>(path: &Path, cap: u64, buf: &'b mut Vec<u8>) -> Result<(Content<'b>, u64), FileError> {
    bounded::read_file_into(path, cap, buf)?;
    let hash = crate::util::hash::content_hash(buf);
    Ok((Content::Bytes(buf), hash))
}

/// A large file's hash and end times, read a block at a time: as many bytes as its length said
/// when it was opened.
fn scan_large(path: &Path, cap: u64) -> Result<(Content<'static>, u64), FileError> {
    use std::io::Read as _;
    let (file, len) = bounded::open_file(path, cap)?;
    let mut hash = crate::util::hash::ContentHasher::new(len);
    let mut ends = EndTimeScan::default();
    let mut block = vec![0; 256 * 1024];
    let mut file = file.take(len);
    loop {
        let n = match file.read(&mut block) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FileError::Io(e)),
        };
        hash.write(&block[..n]);
        ends.feed(&block[..n], n == 0);
        if n == 0 {
            break;
        }
    }
    let changed = || std::io::Error::other("the file changed while it was read");
    let hash = hash.finish().ok_or_else(|| FileError::Io(changed()))?;
    let ends = ends.found.map(|e| EndTimes { bytes: len, ..e });
    Ok((Content::Large(ends), hash))
}

/// Most jobs (by a count of their end times) that files overlapping in time are grouped up to.
const GROUP_JOBS: usize = 2 * super::cycle::CHUNK_JOBS;

/// Most bytes of files grouped together: the count of end times is a scan's, and a file can
/// spell its keys so that the scan misses them (`"end\u005ftime"`).
const GROUP_BYTES: u64 = 8 * 1024 * 1024;

/// The order to read `files` in, as groups read together (their jobs then sorted by end and
/// built a chunk at a time): the files that may hold new jobs, by the time their jobs begin to
/// end, with files whose times overlap in one group of up to [`GROUP_JOBS`] jobs and
/// [`GROUP_BYTES`] bytes, so that a series' samples go out in time order across chunks (a
/// receiver without out-of-order ingestion refuses a sample older than its series' newest).
/// Files unchanged since `known` (each file's state, as [`known_states`] finds it) take no
/// part; files that changed but cannot hold new jobs (touched, refused, unreadable), and files
/// whose end times cannot be found, come first, one to a group.
///
/// Several writers that each write one file after another (a benchmark runner, a scheduler)
/// have their files grouped side by side, and each writer's series stay in order. What the
/// budget cannot hold (overlapping files of more jobs than it) keeps the order within each
/// group only: memory stays that of a chunk. It costs a second read of each changed file, whose
/// end times are found by a scan, not a parse.
pub(super) fn reading_order(files: &[PathBuf], known: &[Option<&FileState>], cap: u64) -> Order {
    let mut groups = Vec::new();
    let mut timed: Vec<(EndTimes, usize)> = Vec::new();
    let (mut changed, mut jobs_found) = (0, 0);
    let mut buf = Vec::new();
    for (i, (path, prev)) in files.iter().zip(known).enumerate() {
        let ends = match read_if_changed(path, *prev, cap, &mut buf) {
            Scan::Unchanged => continue,
            Scan::Changed { content, .. } => {
                changed += 1;
                match content {
                    Content::Bytes(bytes) => {
                        end_times(bytes).map(|e| EndTimes { bytes: bytes.len() as u64, ..e })
                    }
                    Content::Large(ends) => ends,
                }
            }
            _ => None,
        };
        jobs_found += ends.as_ref().map_or(0, |e| e.count);
        match ends {
            Some(e) => timed.push((e, i)),
            None => groups.push(vec![i]),
        }
    }
    timed.sort_by(|a, b| a.0.first.total_cmp(&b.0.first).then(a.1.cmp(&b.1)));
    let (mut reach, mut jobs, mut bytes) = (f64::NEG_INFINITY, 0, 0);
    for (e, i) in timed {
        match groups.last_mut() {
            // It starts before the group so far has ended, and the group has room.
            Some(g) if e.first <= reach && jobs + e.count <= GROUP_JOBS && bytes + e.bytes <= GROUP_BYTES => {
                g.push(i);
                reach = reach.max(e.last);
                jobs += e.count;
                bytes += e.bytes;
            }
            _ => {
                groups.push(vec![i]);
                (reach, jobs, bytes) = (e.last, e.count, e.bytes);
            }
        }
    }
    Order { groups, changed, jobs: jobs_found }
}

/// Each of `files`' state in `known`, and whether `known` holds a file not among them (one that
/// is gone). Both are in path order: one walk through the two, not a lookup for each file.
pub(super) fn known_states<'k>(
    files: &[PathBuf],
    known: &'k BTreeMap<PathBuf, FileState>,
) -> (Vec<Option<&'k FileState>>, bool) {
    let mut states = Vec::with_capacity(files.len());
    let mut gone = false;
    let mut entries = known.iter().peekable();
    for path in files {
        let mut state = None;
        while let Some((p, f)) = entries.peek() {
            match p.as_path().cmp(path) {
                std::cmp::Ordering::Less => gone = true,
                std::cmp::Ordering::Equal => state = Some(*f),
                std::cmp::Ordering::Greater => break,
            }
            entries.next();
            if state.is_some() {
                break;
            }
        }
        states.push(state);
    }
    (states, gone || entries.next().is_some())
}

/// The reading order, and what it holds (for progress).
#[derive(Debug)]
pub(super) struct Order {
    /// Indices into the files, in the groups and order they are read in.
    pub(super) groups: Vec<Vec<usize>>,
    /// Files that changed since the last cycle: the ones read.
    pub(super) changed: usize,
    /// End times found in them: the jobs they hold at most (the known ones included).
    pub(super) jobs: usize,
}

/// The `"end_time"` numbers of a results file, as a scan of its bytes finds them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct EndTimes {
    first: f64,
    last: f64,
    count: usize,
    /// The file's size.
    bytes: u64,
}

fn end_times(bytes: &[u8]) -> Option<EndTimes> {
    let mut scan = EndTimeScan::default();
    scan.feed(bytes, true);
    scan.found
}

/// [`end_times`] fed a file a block at a time.
#[derive(Debug, Default)]
struct EndTimeScan {
    /// The end of the bytes fed so far, which a key and its number may straddle.
    carry: Vec<u8>,
    found: Option<EndTimes>,
}

impl EndTimeScan {
    const KEY: &'static [u8] = b"\"end_time\"";
    /// Bytes after a key that its number is looked for in, before the next block comes.
    const REACH: usize = 256;

    /// `last`: no more bytes follow.
    fn feed(&mut self, block: &[u8], last: bool) {
        let joined;
        let bytes = if self.carry.is_empty() {
            block
        } else {
            joined = [std::mem::take(&mut self.carry).as_slice(), block].concat();
            &joined
        };
        // A key that starts near the end waits for the next block, unless this is the last.
        let limit =
            if last { bytes.len() } else { bytes.len().saturating_sub(Self::KEY.len() + Self::REACH) };
        for at in memchr::memmem::find_iter(&bytes[..(limit + Self::KEY.len()).min(bytes.len())], Self::KEY) {
            if at >= limit {
                break;
            }
            if let Some(t) = number_after(&bytes[at + Self::KEY.len()..]) {
                self.found = Some(match self.found {
                    None => EndTimes { first: t, last: t, count: 1, bytes: 0 },
                    Some(e) => {
                        EndTimes { first: e.first.min(t), last: e.last.max(t), count: e.count + 1, bytes: 0 }
                    }
                });
            }
        }
        if !last {
            self.carry = bytes[limit..].to_vec();
        }
    }
}

/// The finite number after a key's `:`, if one is there.
fn number_after(rest: &[u8]) -> Option<f64> {
    let start = rest.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b':'))?;
    let rest = &rest[start..];
    let len = rest
        .iter()
        .position(|b| !matches!(b, b'0'..=b'9' | b'.' | b'-' | b'+' | b'e' | b'E'))
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..len]).ok().and_then(|t| t.parse::<f64>().ok()).filter(|t| t.is_finite())
}

fn mtime_ns(m: &std::fs::Metadata) -> i128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Every file in `dirs` whose name matches, sorted, each once. Unreadable directories are
/// reported and skipped.
pub(super) fn list_files(dirs: &[PathBuf], pattern: &glob::Pattern) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = BTreeSet::new();
    let mut errors = Vec::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(format!("{}: cannot list results directory: {e}", dir.display()));
                continue;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                warn!(file = %entry.path().display(), "file name is not UTF-8; not matched against the pattern");
                continue;
            };
            if pattern.matches(name)
                && entry.file_type().map(|t| t.is_file() || t.is_symlink()).unwrap_or(false)
            {
                files.insert(entry.path());
            }
        }
    }
    (files.into_iter().collect(), errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::state::FileStatus;

    const CAP: u64 = 1 << 16;

    fn state_of(scan: Scan) -> FileState {
        match scan {
            Scan::Changed { len, mtime_ns, hash, .. } => FileState {
                len,
                mtime_ns,
                hash,
                status: FileStatus::Ingested,
                reported: BTreeSet::new(),
                deferred: false,
            },
            _ => panic!("expected a changed file"),
        }
    }

    #[test]
    fn a_file_is_read_when_new_or_changed_and_only_then() {
        let mut buf = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test_results_1.json");
        std::fs::write(&path, b"{\"scenarios\": []}").unwrap();
        let first = read_if_changed(&path, None, CAP, &mut buf);
        assert!(
            matches!(&first, Scan::Changed { content: Content::Bytes(bytes), .. } if bytes == b"{\"scenarios\": []}")
        );
        let seen = state_of(first);
        assert!(matches!(read_if_changed(&path, Some(&seen), CAP, &mut buf), Scan::Unchanged));
        // A job of it waits for energy: read again, and found the same.
        let waiting = FileState { deferred: true, ..seen.clone() };
        assert!(matches!(read_if_changed(&path, Some(&waiting), CAP, &mut buf), Scan::Changed { .. }));
        // Touched: a new time, the same content.
        let older = FileState { mtime_ns: seen.mtime_ns - 1_000_000_000, ..seen.clone() };
        match read_if_changed(&path, Some(&older), CAP, &mut buf) {
            Scan::Touched(s) => assert_eq!(s, seen),
            _ => panic!("expected a touched file"),
        }
        // Appended to (the scheduler's way): changed.
        std::fs::write(&path, b"{\"scenarios\": [ ]}").unwrap();
        assert!(matches!(read_if_changed(&path, Some(&older), CAP, &mut buf), Scan::Changed { .. }));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            read_if_changed(&path, Some(&seen), CAP, &mut buf),
            Scan::Unreadable { what: "cannot stat results file", .. }
        ));
    }

    #[test]
    fn a_device_or_an_oversized_file_is_refused_and_looked_at_again_each_cycle() {
        let mut buf = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("test_results_zero.json");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(matches!(
            read_if_changed(&zero, None, CAP, &mut buf),
            Scan::Refused { why: FileError::NotRegular("character device"), .. }
        ));
        let big = dir.path().join("test_results_big.json");
        std::fs::write(&big, vec![b' '; 2 * CAP as usize]).unwrap();
        let Scan::Refused { len, mtime_ns, why } = read_if_changed(&big, None, CAP, &mut buf) else {
            panic!("expected a refusal")
        };
        assert_eq!(len, 2 * CAP);
        assert!(matches!(why, FileError::TooLarge { .. }));
        let refused = FileState {
            len,
            mtime_ns,
            hash: 0,
            status: FileStatus::Refused,
            reported: BTreeSet::new(),
            deferred: false,
        };
        // The cap was raised: the same version is read now.
        assert!(matches!(read_if_changed(&big, Some(&refused), 4 * CAP, &mut buf), Scan::Changed { .. }));
    }

    #[test]
    fn files_are_read_in_time_order_with_overlapping_ones_together() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, ends: &[u32]| {
            let path = dir.path().join(name);
            let jobs: Vec<String> =
                ends.iter().map(|e| format!(r#"{{"name": "j", "end_time": {e}}}"#)).collect();
            std::fs::write(&path, format!(r#"{{"scenarios": [{}]}}"#, jobs.join(", "))).unwrap();
            path
        };
        let files = vec![
            file("a.json", &[500, 600]),
            file("b.json", &[100, 200]),
            file("c.json", &[150, 300]),
            file("d.json", &[]),
            file("e.json", &[300, 400]),
        ];
        // b and c overlap; e starts where c ends (300), so it joins them; a is later; d has no
        // end time.
        let unknown = vec![None; files.len()];
        assert_eq!(reading_order(&files, &unknown, CAP).groups, vec![vec![3], vec![1, 2, 4], vec![0]]);
        // A group holds up to GROUP_JOBS jobs; past that, the next overlapping file starts
        // another.
        let many: Vec<u32> = (0..GROUP_JOBS as u32).map(|i| 100 + i % 100).collect();
        let big = vec![file("f.json", &many), file("g.json", &[150])];
        assert_eq!(reading_order(&big, &[None, None], 1 << 30).groups, vec![vec![0], vec![1]]);
        // A file read before and unchanged holds no new jobs: it is not read at all.
        let (len, mtime) = {
            let m = std::fs::metadata(&files[2]).unwrap();
            (m.len(), mtime_ns(&m))
        };
        let seen = FileState {
            len,
            mtime_ns: mtime,
            hash: crate::util::hash::content_hash(&std::fs::read(&files[2]).unwrap()),
            status: FileStatus::Ingested,
            reported: BTreeSet::new(),
            deferred: false,
        };
        let known: Vec<Option<&FileState>> = (0..files.len()).map(|i| (i == 2).then_some(&seen)).collect();
        assert_eq!(reading_order(&files, &known, CAP).groups, vec![vec![3], vec![1], vec![4], vec![0]]);
        // Touched (a new time, the same content): read again, alone, and no part of the timing.
        let touched = FileState { mtime_ns: mtime - 1, ..seen.clone() };
        let known: Vec<Option<&FileState>> = (0..files.len()).map(|i| (i == 2).then_some(&touched)).collect();
        assert_eq!(
            reading_order(&files, &known, CAP).groups,
            vec![vec![2], vec![3], vec![1], vec![4], vec![0]]
        );
    }

    #[test]
    fn each_listed_file_finds_its_known_state_and_a_file_gone_is_noticed() {
        let state = |len| FileState {
            len,
            mtime_ns: 0,
            hash: 0,
            status: FileStatus::Ingested,
            reported: BTreeSet::new(),
            deferred: false,
        };
        let known: BTreeMap<PathBuf, FileState> =
            [("/r/a.json", 1), ("/r/c.json", 3), ("/r/e.json", 5)].map(|(p, n)| (p.into(), state(n))).into();
        let lens = |files: &[&str]| {
            let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
            let (states, gone) = known_states(&files, &known);
            (states.iter().map(|s| s.map(|f| f.len)).collect::<Vec<_>>(), gone)
        };
        assert_eq!(lens(&["/r/a.json", "/r/c.json", "/r/e.json"]), (vec![Some(1), Some(3), Some(5)], false));
        assert!(
            !lens(&["/r/a.json", "/r/b.json", "/r/c.json", "/r/e.json", "/r/f.json"]).1,
            "new files, none gone"
        );
        assert_eq!(
            lens(&["/r/b.json", "/r/c.json", "/r/d.json"]),
            (vec![None, Some(3), None], true),
            "a.json and e.json are gone"
        );
        assert_eq!(lens(&["/r/a.json", "/r/c.json"]), (vec![Some(1), Some(3)], true), "e.json is gone");
        assert_eq!(lens(&[]), (vec![], true));
        // Path order, not byte order: `/r/a/b.json` comes before `/r/a.json`.
        let nested: BTreeMap<PathBuf, FileState> =
            [("/r/a/b.json", 1), ("/r/a.json", 2)].map(|(p, n)| (p.into(), state(n))).into();
        let files = vec![PathBuf::from("/r/a/b.json"), PathBuf::from("/r/a.json")];
        let (states, gone) = known_states(&files, &nested);
        assert_eq!(
            (states.iter().map(|s| s.map(|f| f.len)).collect::<Vec<_>>(), gone),
            (vec![Some(1), Some(2)], false)
        );
    }

    #[test]
    fn end_times_are_found_by_a_scan() {
        assert_eq!(
            end_times(br#"{"end_time": 5, "x": {"end_time" :3.5e0}, "end_time": "no"}"#),
            Some(EndTimes { first: 3.5, last: 5.0, count: 2, bytes: 0 })
        );
        assert_eq!(end_times(br#"{"end_time""#), None);
        assert_eq!(end_times(b"{}"), None);
    }

    #[test]
    fn end_times_fed_a_block_at_a_time_are_those_of_the_whole() {
        let mut rng = fastrand::Rng::with_seed(9);
        let mut file = String::from("{\"scenarios\": [");
        for i in 0..400 {
            let gap = " ".repeat(rng.usize(0..40));
            file.push_str(&format!(
                "{{\"end_time\":{gap}{}.25, \"name\": \"j{i}\"}}, ",
                1_700_000_000 + rng.u32(0..1_000_000)
            ));
        }
        file.push_str("{}]}");
        let whole = end_times(file.as_bytes()).unwrap();
        assert_eq!(whole.count, 400);
        for _ in 0..20 {
            let mut scan = EndTimeScan::default();
            let mut rest = file.as_bytes();
            while !rest.is_empty() {
                let n = rng.usize(1..=rest.len().min(300));
                scan.feed(&rest[..n], false);
                rest = &rest[n..];
            }
            scan.feed(&[], true);
            assert_eq!(scan.found, Some(whole));
        }
    }

    #[test]
    fn listing_matches_names_sorted_once_and_reports_missing_directories() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for (dir, name) in [(&a, "test_results_2.json"), (&a, "test_results_1.json"), (&b, "other.json")] {
            std::fs::write(dir.path().join(name), b"{}").unwrap();
        }
        std::fs::create_dir(a.path().join("test_results_dir.json")).unwrap();
        let pattern = glob::Pattern::new("test_results_*.json").unwrap();
        let missing = a.path().join("missing");
        let dirs = [a.path().to_path_buf(), a.path().to_path_buf(), b.path().to_path_buf(), missing.clone()];
        let (files, errors) = list_files(&dirs, &pattern);
        let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["test_results_1.json", "test_results_2.json"]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with(&missing.display().to_string()), "{errors:?}");
    }
}
