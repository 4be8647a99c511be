//! The durable queue: encoded remote-write request bodies on disk, sent oldest first.
//!
//! # Layout and record format
//!
//! One file per batch in a destination's queue directory, `<state_dir>/queue/<name>/` (see
//! `outbox`), named `<seq>.batch` with `seq` a 20-digit,
//! zero-padded sequence number (so names sort like numbers). Each file is
//!
//! ```text
//! magic    4 bytes   "CPQ1"
//! samples  u32 LE    samples in the batch (for the dropped/sent counters)
//! crc32    u32 LE    CRC-32 (IEEE) of the body
//! len      u32 LE    body length in bytes
//! body     len bytes the request body: a snappy-block-compressed protobuf WriteRequest
//! ```
//!
//! # Durability (fsync policy)
//!
//! A new batch is written to `<seq>.batch` and fsynced (and linked into the other destinations'
//! queues, see `outbox`); after a cycle's batches, each queue directory is fsynced once. Only
//! then does the cycle commit its state (which records `next_seq`, the first sequence number
//! not yet used) by the state file's own write-fsync-rename. A batch needs no temporary name
//! and rename of its own: until its cycle commits it is numbered past the committed `next_seq`,
//! and a file cut short by a crash is one of those. Batches with `seq >= next_seq` found at start
//! belong to a cycle that never committed: they are deleted, and that cycle runs again from the
//! same files. So every batch on disk belongs to exactly one committed cycle, and no cycle is
//! enqueued twice. (Without a state file nothing tells the two apart: every batch is kept, see
//! `agent::open_outboxes`, and one cut short is counted as corrupt, though its cycle runs
//! again.) A batch already admitted is only ever replaced whole ([`Queue::rewrite`]: a temporary
//! file, fsynced, renamed over it).
//!
//! The sender deletes a batch after the receiver acknowledged it (or refused its data). A crash
//! between the acknowledgement and the deletion sends that batch again after the restart; for a
//! batch being split, what was settled since its last save (see `Queue::rewrite`). Those are the
//! duplicates there can be; a request abandoned at the end of the shutdown grace is one of them.
//!
//! # Bound
//!
//! The files' total size is capped per destination (`remote_write.queue_max_bytes`). When a
//! committed cycle's batches are admitted ([`Queue::admit`]) and the total goes over, the oldest
//! batches are deleted first (never the one being sent, nor the newest, even if it alone is over)
//! and their samples counted as dropped with reason `queue_full`.

use std::collections::VecDeque;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use crate::util::fs::{sync_dir, write_atomic, Durability};

const MAGIC: &[u8; 4] = b"CPQ1";
const HEADER: usize = 16;

/// One batch on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    /// File size in bytes, header included.
    pub(crate) bytes: u64,
    pub(crate) samples: u64,
}

/// What [`Queue::open`] found and cleaned up.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Recovery {
    /// Batches of a cycle that never committed (deleted; that cycle is redone).
    pub(crate) uncommitted: u64,
    /// Files that could not be read as batches (deleted).
    pub(crate) corrupt: u64,
    /// The samples their headers say they held, where a header could still be read.
    pub(crate) corrupt_samples: u64,
    /// The corrupt files' names, for the log.
    pub(crate) corrupt_names: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum QueueError {
    #[error("queue {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("queue file {path} is corrupt: {why}")]
    Corrupt { path: PathBuf, why: String },
}

impl QueueError {
    /// An I/O error that may pass (too many open files, EIO), not a damaged or vanished file.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, QueueError::Io { source, .. } if source.kind() != std::io::ErrorKind::NotFound)
    }
}

/// The on-disk queue and an in-memory index of it (sequence, size, samples per batch).
#[derive(Debug)]
pub(crate) struct Queue {
    dir: PathBuf,
    max_bytes: u64,
    entries: VecDeque<Entry>,
    bytes: u64,
    /// The batch the sender is working on: never dropped for space.
    in_flight: Option<u64>,
}

fn name(seq: u64) -> String {
    format!("{seq:020}.batch")
}

impl Queue {
    /// Opens (creating) the queue in `dir`, removing what an uncommitted cycle left behind:
    /// temporary files and batches numbered `committed_next_seq` or above.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
        committed_next_seq: u64,
    ) -> Result<(Queue, Recovery), QueueError> {
        let io = |source| QueueError::Io { path: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut rec = Recovery::default();
        let mut entries = Vec::new();
        for e in std::fs::read_dir(dir).map_err(io)? {
            let path = e.map_err(io)?.path();
            let fname = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            let seq = fname.strip_suffix(".batch").and_then(|s| s.parse::<u64>().ok());
            match seq {
                Some(seq) if seq >= committed_next_seq => {
                    rec.uncommitted += 1;
                    remove(&path)?;
                }
                Some(seq) => match read_header(&path) {
                    Ok((samples, bytes)) => entries.push(Entry { seq, bytes, samples }),
                    Err(_) => {
                        rec.corrupt += 1;
                        rec.corrupt_samples += header_samples(&path).unwrap_or(0);
                        rec.corrupt_names.push(fname);
                        remove(&path)?;
                    }
                },
                None if fname.ends_with(".tmp") => remove(&path)?,
                None => {} // not ours (e.g. stats.json)
            }
        }
        entries.sort_by_key(|e| e.seq);
        let bytes = entries.iter().map(|e| e.bytes).sum();
        let q = Queue { dir: dir.to_path_buf(), max_bytes, entries: entries.into(), bytes, in_flight: None };
        if rec.uncommitted > 0 {
            q.sync_dir()?;
        }
        Ok((q, rec))
    }

    /// Writes a new batch, numbered past the committed `next_seq`, and fsyncs it (its name is
    /// durable with [`Queue::sync_dir`]). It joins the index only through [`Queue::admit`], after
    /// the cycle has committed.
    pub(crate) fn write(&self, seq: u64, body: &[u8], samples: u64) -> Result<Entry, QueueError> {
        self.write_as(seq, body, samples, |path, parts| {
            let create = || std::fs::OpenOptions::new().write(true).create_new(true).open(path);
            let mut f = match create() {
                // A file left under that name by a failed cycle, perhaps linked into another
                // queue: unlinked, not cut short (a linked file's content never changes).
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::fs::remove_file(path)?;
                    create()?
                }
                r => r?,
            };
            parts.iter().try_for_each(|part| f.write_all(part))?;
            f.sync_all()
        })
    }

    /// Writes batch `seq`'s header and `body` to its file with `put`.
    fn write_as(
        &self,
        seq: u64,
        body: &[u8],
        samples: u64,
        put: impl FnOnce(&Path, &[&[u8]]) -> std::io::Result<()>,
    ) -> Result<Entry, QueueError> {
        let path = self.dir.join(name(seq));
        let io = |source| QueueError::Io { path: path.clone(), source };
        let len =
            u32::try_from(body.len()).map_err(|_| io(std::io::Error::other("batch larger than 4 GiB")))?;
        let mut head = [0u8; HEADER];
        head[..4].copy_from_slice(MAGIC);
        head[4..8].copy_from_slice(&u32::try_from(samples).unwrap_or(u32::MAX).to_le_bytes());
        head[8..12].copy_from_slice(&crc32fast::hash(body).to_le_bytes());
        head[12..].copy_from_slice(&len.to_le_bytes());
        put(&path, &[&head, body]).map_err(io)?;
        Ok(Entry { seq, bytes: (HEADER + body.len()) as u64, samples })
    }

    /// The file of batch `seq`.
    pub(crate) fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(name(seq))
    }

    /// Puts batch `e`, written by [`Queue::write`] to `file` in another queue, into this queue
    /// too: a hard link to the same file (its bytes are on disk once, and already fsynced), or
    /// a copy of `body` where the file system cannot link. Durable with this queue's
    /// [`Queue::sync_dir`]. The two queues share the file's content, never a change to it: a
    /// batch is only ever replaced by renaming a new file over one queue's name for it.
    pub(crate) fn link(&self, file: &Path, e: Entry, body: &[u8]) -> Result<Entry, QueueError> {
        let to = self.path(e.seq);
        // A file left under that name (a failed cycle's, not removed) is replaced.
        let _ = std::fs::remove_file(&to);
        match std::fs::hard_link(file, &to) {
            Ok(()) => Ok(e),
            Err(_) => self.write(e.seq, body, e.samples),
        }
    }

    /// Replaces an indexed batch's content with what remains of it to send (a split batch, part
    /// delivered), durably: the file holds the old content or the new, never a torn one.
    pub(crate) fn rewrite(&mut self, seq: u64, body: &[u8], samples: u64) -> Result<(), QueueError> {
        let Some(pos) = self.entries.iter().position(|e| e.seq == seq) else { return Ok(()) };
        let e =
            self.write_as(seq, body, samples, |path, parts| write_atomic(path, parts, Durability::Content))?;
        self.bytes = self.bytes - self.entries[pos].bytes + e.bytes;
        self.entries[pos] = e;
        Ok(())
    }

    /// Makes the names of [`Queue::write`] and [`Queue::link`] durable.
    pub(crate) fn sync_dir(&self) -> Result<(), QueueError> {
        sync_dir(&self.dir).map_err(|source| QueueError::Io { path: self.dir.clone(), source })
    }

    /// Deletes batches written for a cycle that then failed to commit.
    pub(crate) fn discard(&self, written: &[Entry]) {
        for e in written {
            let _ = std::fs::remove_file(self.dir.join(name(e.seq)));
        }
    }

    /// Adds committed batches to the index, then enforces the size cap. Returns the batches
    /// dropped for space (oldest first).
    pub(crate) fn admit(&mut self, written: Vec<Entry>) -> Result<Vec<Entry>, QueueError> {
        for e in written {
            self.bytes += e.bytes;
            self.entries.push_back(e);
        }
        let mut dropped = Vec::new();
        while self.bytes > self.max_bytes {
            let Some(pos) = self.entries.iter().position(|e| Some(e.seq) != self.in_flight) else { break };
            if pos == self.entries.len() - 1 {
                break; // only the newest batch is left besides the one in flight: keep it
            }
            let e = self.entries.remove(pos).expect("position is in range");
            remove(&self.dir.join(name(e.seq)))?;
            self.bytes -= e.bytes;
            dropped.push(e);
        }
        Ok(dropped)
    }

    /// The oldest batch, marked as in flight.
    pub(crate) fn take_front(&mut self) -> Option<Entry> {
        let e = *self.entries.front()?;
        self.in_flight = Some(e.seq);
        Some(e)
    }

    /// Reads a batch's body, checking its header and checksum.
    pub(crate) fn read(&self, seq: u64) -> Result<Vec<u8>, QueueError> {
        let path = self.dir.join(name(seq));
        let mut f =
            std::fs::File::open(&path).map_err(|source| QueueError::Io { path: path.clone(), source })?;
        let io = |source| QueueError::Io { path: path.clone(), source };
        let corrupt = |why: &str| QueueError::Corrupt { path: path.clone(), why: why.into() };
        // The header, then the body straight into a buffer of its size: one allocation, no
        // copy (a request body is read for every request sent).
        let mut h = [0u8; HEADER];
        match f.read_exact(&mut h) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(corrupt("bad header")),
            r => r.map_err(io)?,
        }
        if &h[..4] != MAGIC {
            return Err(corrupt("bad header"));
        }
        let crc = u32::from_le_bytes(h[8..12].try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(h[12..16].try_into().expect("4 bytes")) as usize;
        // Before allocating what a damaged header may claim.
        if f.metadata().map_err(io)?.len() != (HEADER + len) as u64 {
            return Err(corrupt("length does not match the header"));
        }
        let mut body = Vec::with_capacity(len);
        // One byte more than the header says, to find a file longer than it.
        (&mut f).take(len as u64 + 1).read_to_end(&mut body).map_err(io)?;
        if body.len() != len {
            return Err(corrupt("length does not match the header"));
        }
        if crc32fast::hash(&body) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        Ok(body)
    }

    /// Removes a batch that was delivered or refused (no-op if the cap already dropped it).
    pub(crate) fn remove(&mut self, seq: u64) -> Result<(), QueueError> {
        if self.in_flight == Some(seq) {
            self.in_flight = None;
        }
        if let Some(pos) = self.entries.iter().position(|e| e.seq == seq) {
            let e = self.entries.remove(pos).expect("position is in range");
            self.bytes -= e.bytes;
            remove(&self.dir.join(name(seq)))?;
        }
        Ok(())
    }

    /// Clears the in-flight mark without removing (the send was abandoned).
    pub(crate) fn release(&mut self) {
        self.in_flight = None;
    }

    /// Size and number of the batch files in `dir`, read-only (for the dry run).
    pub(crate) fn peek(dir: &Path) -> (u64, u64) {
        let Ok(rd) = std::fs::read_dir(dir) else { return (0, 0) };
        rd.flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".batch")))
            .filter_map(|e| e.metadata().ok())
            .fold((0, 0), |(b, n), m| (b + m.len(), n + 1))
    }

    /// The first sequence number after every batch in the index.
    pub(crate) fn next_seq(&self) -> u64 {
        self.entries.back().map_or(0, |e| e.seq + 1)
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn remove(path: &Path) -> Result<(), QueueError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(QueueError::Io { path: path.to_path_buf(), source }),
    }
}

/// The sample count of a batch file whose header is whole but whose body is not (a truncated
/// file); `None` when even the header is damaged.
fn header_samples(path: &Path) -> Option<u64> {
    let mut h = [0u8; HEADER];
    std::fs::File::open(path).ok()?.read_exact(&mut h).ok()?;
    (&h[..4] == MAGIC).then(|| u64::from(u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"))))
}

/// Samples and file size from a batch file's header (the body is checked when it is read).
fn read_header(path: &Path) -> std::io::Result<(u64, u64)> {
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    let mut h = [0u8; HEADER];
    f.read_exact(&mut h)?;
    let len = u32::from_le_bytes(h[12..16].try_into().expect("4 bytes")) as u64;
    if &h[..4] != MAGIC || size != HEADER as u64 + len {
        return Err(std::io::Error::other("not a batch file"));
    }
    Ok((u64::from(u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"))), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(q: &Queue, seq: u64, body: &[u8]) -> Entry {
        q.write(seq, body, body.len() as u64).unwrap()
    }

    #[test]
    fn write_read_remove() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, rec) = Queue::open(dir.path(), 1 << 20, 0).unwrap();
        assert_eq!(rec, Recovery::default());
        let e = vec![write(&q, 0, b"hello"), write(&q, 1, b"world!")];
        q.sync_dir().unwrap();
        assert!(q.admit(e).unwrap().is_empty());
        assert_eq!((q.len(), q.bytes()), (2, 16 + 5 + 16 + 6));
        let f = q.take_front().unwrap();
        assert_eq!((f.seq, f.samples), (0, 5));
        assert_eq!(q.read(0).unwrap(), b"hello");
        q.remove(0).unwrap();
        assert_eq!(q.take_front().unwrap().seq, 1);
        assert!(!dir.path().join(name(0)).exists());
    }

    #[test]
    fn reopening_keeps_committed_batches_and_drops_uncommitted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = Queue::open(dir.path(), 1 << 20, 0).unwrap();
        for seq in 0..4 {
            write(&q, seq, b"x");
        }
        std::fs::write(dir.path().join("00000000000000000009.tmp"), b"half").unwrap();
        // A batch cut short as it was written: uncommitted, not corrupt.
        std::fs::write(dir.path().join(name(4)), &b"CPQ1"[..3]).unwrap();
        // a crash after writing 2..5 but before committing next_seq = 5: only 0 and 1 count
        let (mut q, rec) = Queue::open(dir.path(), 1 << 20, 2).unwrap();
        assert_eq!((rec.uncommitted, rec.corrupt), (3, 0));
        assert_eq!(q.len(), 2);
        assert_eq!(q.take_front().unwrap().seq, 0);
        assert!(!dir.path().join("00000000000000000009.tmp").exists());
        assert!(!dir.path().join(name(3)).exists());
    }

    #[test]
    fn corruption_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = Queue::open(dir.path(), 1 << 20, 0).unwrap();
        write(&q, 0, b"payload");
        write(&q, 1, b"payload");
        let p0 = dir.path().join(name(0));
        let mut bytes = std::fs::read(&p0).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&p0, &bytes).unwrap();
        assert!(matches!(q.read(0), Err(QueueError::Corrupt { .. })));
        // A length beyond the file (4 GiB claimed), shorter and longer files: corrupt, and
        // nothing of the claimed size is allocated.
        let header = |len: u32| {
            let mut h = bytes[..HEADER].to_vec();
            h[12..16].copy_from_slice(&len.to_le_bytes());
            h
        };
        for (len, extra) in [(u32::MAX, 7), (7, 6), (7, 8), (0, 1)] {
            let mut b = header(len);
            b.extend(std::iter::repeat_n(b'x', extra));
            std::fs::write(&p0, &b).unwrap();
            assert!(matches!(q.read(0), Err(QueueError::Corrupt { .. })), "length {len}, {extra} bytes");
        }
        std::fs::write(&p0, &bytes).unwrap();
        // a damaged header is not even indexed on open
        std::fs::write(dir.path().join(name(1)), b"CPQ1").unwrap();
        let (q, rec) = Queue::open(dir.path(), 1 << 20, 2).unwrap();
        assert_eq!((rec.corrupt, rec.corrupt_samples, q.len()), (1, 0, 1));
        assert_eq!(rec.corrupt_names, [name(1)]);
    }

    #[test]
    fn a_truncated_or_empty_batch_is_counted_with_the_samples_its_header_names() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = Queue::open(dir.path(), 1 << 20, 0).unwrap();
        q.write(0, b"0123456789", 276).unwrap();
        q.write(1, b"0123456789", 5).unwrap();
        q.write(2, b"0123456789", 7).unwrap();
        let p0 = dir.path().join(name(0));
        let bytes = std::fs::read(&p0).unwrap();
        std::fs::write(&p0, &bytes[..bytes.len() - 3]).unwrap();
        std::fs::write(dir.path().join(name(1)), b"").unwrap();
        let (q, rec) = Queue::open(dir.path(), 1 << 20, 3).unwrap();
        assert_eq!((rec.corrupt, rec.corrupt_samples, q.len()), (2, 276, 1));
    }

    #[test]
    fn a_rewritten_batch_holds_what_remains_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = Queue::open(dir.path(), 1 << 20, 0).unwrap();
        let e = vec![write(&q, 0, b"0123456789"), write(&q, 1, b"abc")];
        q.admit(e).unwrap();
        q.rewrite(0, b"6789", 4).unwrap();
        assert_eq!((q.bytes(), q.read(0).unwrap()), (16 + 4 + 16 + 3, b"6789".to_vec()));
        q.rewrite(7, b"x", 1).unwrap(); // gone already: nothing to do
        let (q, rec) = Queue::open(dir.path(), 1 << 20, 2).unwrap();
        assert_eq!((rec.corrupt, q.len(), q.bytes()), (0, 2, 16 + 4 + 16 + 3));
        assert_eq!(q.read(0).unwrap(), b"6789");
    }

    #[test]
    fn a_linked_batch_is_each_queues_own_to_rewrite_and_remove() {
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (mut a, _) = Queue::open(da.path(), 1 << 20, 0).unwrap();
        let (mut b, _) = Queue::open(db.path(), 1 << 20, 0).unwrap();
        let e = a.write(0, b"0123456789", 10).unwrap();
        assert_eq!(b.link(&a.path(0), e, b"0123456789").unwrap(), e);
        a.admit(vec![e]).unwrap();
        b.admit(vec![e]).unwrap();
        // One destination part-delivers a split batch, the other has not begun.
        a.rewrite(0, b"6789", 4).unwrap();
        assert_eq!(b.read(0).unwrap(), b"0123456789");
        a.remove(0).unwrap();
        assert_eq!(b.read(0).unwrap(), b"0123456789", "a's delivery leaves b's batch whole");
        // Where a link cannot be made (no file to link here), the body is written instead.
        let e = Entry { seq: 1, bytes: 16 + 3, samples: 3 };
        assert_eq!(b.link(&da.path().join("gone"), e, b"abc").unwrap(), e);
        assert_eq!(b.read(1).unwrap(), b"abc");
        // A failed cycle's batch left in both queues: the next cycle writes its own under the
        // same number in one queue without changing the other's file.
        let e = a.write(2, b"failed", 6).unwrap();
        b.link(&a.path(2), e, b"failed").unwrap();
        a.write(2, b"redone", 6).unwrap();
        assert_eq!((a.read(2).unwrap(), b.read(2).unwrap()), (b"redone".to_vec(), b"failed".to_vec()));
    }

    #[test]
    fn the_cap_drops_the_oldest_but_never_the_batch_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        // each batch is 16 + 10 = 26 bytes; room for three
        let (mut q, _) = Queue::open(dir.path(), 80, 0).unwrap();
        let e: Vec<Entry> = (0..3).map(|s| write(&q, s, b"0123456789")).collect();
        assert!(q.admit(e).unwrap().is_empty());
        assert_eq!(q.take_front().unwrap().seq, 0); // being sent
        let e: Vec<Entry> = (3..5).map(|s| write(&q, s, b"0123456789")).collect();
        let dropped: Vec<u64> = q.admit(e).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(dropped, vec![1, 2]);
        assert_eq!(q.bytes(), 78);
        assert!(dir.path().join(name(0)).exists());
        assert!(!dir.path().join(name(1)).exists());
        // delivered: 0 goes, the rest stay in order
        q.remove(0).unwrap();
        assert_eq!(q.take_front().unwrap().seq, 3);
    }

    #[test]
    fn a_single_batch_larger_than_the_cap_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = Queue::open(dir.path(), 10, 0).unwrap();
        let e = vec![write(&q, 0, b"0123456789")];
        assert!(q.admit(e).unwrap().is_empty());
        let e = vec![write(&q, 1, b"0123456789")];
        let dropped: Vec<u64> = q.admit(e).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(dropped, vec![0]);
        assert_eq!(q.len(), 1);
    }
}
