//! Replacing a file whole: write a temporary file beside it, then rename it over the old one, so
//! a reader (or a crash) sees the old content or the new, never a torn one; or, for a small JSON
//! file that need only survive the process, overwriting it in place.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// How much a replacement must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// A crash of the process: no fsync (a power loss may keep the old content, or leave none).
    Process,
    /// A power loss, for the content: the file is fsynced before the rename.
    Content,
    /// A power loss, content and name: the file, then its directory, are fsynced.
    ContentAndName,
}

/// Writes `parts`, one after another, to `path`'s temporary sibling (`<name>.tmp`) and renames it
/// over `path`.
pub(crate) fn write_atomic(path: &Path, parts: &[&[u8]], durability: Durability) -> std::io::Result<()> {
    write_atomic_with(path, durability, |f| parts.iter().try_for_each(|part| f.write_all(part))).map(|_| ())
}

/// As [`write_atomic`], the content being what `write` writes, through a buffer: a large file
/// is never held whole. Returns its length.
pub(crate) fn write_atomic_with(
    path: &Path,
    durability: Durability,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let tmp = tmp_path(path)?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    write(&mut w)?;
    let mut f = w.into_inner().map_err(|e| e.into_error())?;
    let len = std::io::Seek::stream_position(&mut f)?;
    if durability != Durability::Process {
        f.sync_all()?;
    }
    drop(f);
    std::fs::rename(&tmp, path)?;
    if durability == Durability::ContentAndName {
        sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(len)
}

/// The most [`overwrite_json`] writes in place: one page, which a write reaches the page cache
/// whole (a process killed during it is killed before or after).
const PAGE: usize = 4096;

/// Replaces `path`'s content with `json`, surviving a crash of the process (as
/// [`Durability::Process`]) without a new file: an idle cycle's delivery counters are saved
/// every cycle, and creating a file, renaming it over the old one and freeing the old one's
/// blocks cost more than the write. One write at the start of the file, padded with spaces to
/// the old length (JSON ends with any whitespace), so the file holds the old content or the new.
/// A new file, or content past a page, is written as [`write_atomic`] does. A reader at the
/// same moment may read a page half written: one beside the writer reads again
/// (`delivery::stats::Stats::peek`).
pub(crate) fn overwrite_json(path: &Path, json: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    let file = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return write_atomic(path, &[json], Durability::Process)
        }
        Err(e) => return Err(e),
    };
    let old = file.metadata()?.len();
    if json.len() > PAGE || old > PAGE as u64 {
        drop(file);
        return write_atomic(path, &[json], Durability::Process);
    }
    let mut page = json.to_vec();
    page.resize(page.len().max(old as usize), b' ');
    file.write_all_at(&page, 0)
}

/// Makes the renames into `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// `<name>.tmp` beside `path`.
pub(crate) fn tmp_path(path: &Path) -> std::io::Result<PathBuf> {
    let mut name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path has no file name"))?
        .to_os_string();
    name.push(".tmp");
    Ok(path.with_file_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"an older and longer content").unwrap();
        for d in [Durability::Process, Durability::Content, Durability::ContentAndName] {
            write_atomic(&path, &[b"new ", b"content"], d).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"new content");
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_written_content_is_replaced_whole_and_its_length_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        std::fs::write(&path, b"old").unwrap();
        // More than the buffer holds, in small writes.
        let line = b"0123456789abcdef\n";
        let len =
            write_atomic_with(&path, Durability::Content, |w| (0..1000).try_for_each(|_| w.write_all(line)))
                .unwrap();
        assert_eq!(len, 1000 * line.len() as u64);
        assert_eq!(std::fs::read(&path).unwrap(), line.repeat(1000));
        // A failed write keeps the old content.
        let failed = write_atomic_with(&path, Durability::Content, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("serialising failed"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), line.repeat(1000));
    }

    #[test]
    fn json_overwritten_in_place_reads_as_the_new_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.json");
        let read = || serde_json::from_slice::<serde_json::Value>(&std::fs::read(&path).unwrap()).unwrap();
        overwrite_json(&path, br#"{"sent":123456}"#).unwrap();
        assert_eq!(read(), serde_json::json!({"sent": 123456}));
        // Shorter: padded, so no byte of the old content is left to read.
        overwrite_json(&path, br#"{"sent":7}"#).unwrap();
        assert_eq!(read(), serde_json::json!({"sent": 7}));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), br#"{"sent":123456}"#.len() as u64);
        // Past a page: replaced whole, at its own length.
        let long = format!(r#"{{"s":"{}"}}"#, "x".repeat(PAGE));
        overwrite_json(&path, long.as_bytes()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), long.as_bytes());
        overwrite_json(&path, b"[]").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"[]");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("stats.json")]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, b"old").unwrap();
        // The temporary's name is taken by a directory: creating it fails.
        std::fs::create_dir(dir.path().join("x.tmp")).unwrap();
        assert!(write_atomic(&path, &[b"new"], Durability::Content).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
    }
}
