//! Replacing a file whole: write a temporary file beside it, then rename it over the old one, so
//! a reader (or a crash) sees the old content or the new, never a torn one.

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
