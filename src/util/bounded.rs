//! Reads from outside with a bound: a file (a regular file only, up to a cap, never blocking on
//! a FIFO or a device) and an HTTP response body (up to a cap). Every byte costpush takes from a
//! path or a peer it does not own comes through here.

use std::io::Read as _;
use std::path::Path;

/// Caps, in bytes, for the reads costpush makes.
pub(crate) mod caps {
    /// A secret (a token or password file): it goes into one HTTP header.
    pub(crate) const SECRET: u64 = 16 * 1024;
    /// A PEM file (a CA, a certificate, a key).
    pub(crate) const PEM: u64 = 1024 * 1024;
    /// The YAML configuration.
    pub(crate) const CONFIG: u64 = 4 * 1024 * 1024;
    /// A data file a source watches (energy, carbon intensity, exchange rates) or a CSV given to
    /// the command line.
    pub(crate) const DATA_FILE: u64 = 64 * 1024 * 1024;
    /// A response body that carries data (the query API's matrix, the ECB's rates).
    pub(crate) const DATA_BODY: usize = 32 * 1024 * 1024;
    /// A refusal's explanation, kept for the log.
    pub(crate) const ERROR_BODY: usize = 4096;
    /// A kernel counter file (sysfs).
    pub(crate) const SYSFS: u64 = 4096;
}

/// Why a bounded file read failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    /// A directory, FIFO, socket or device: only regular files are read.
    #[error("not a regular file (a {0}); only regular files are read")]
    NotRegular(&'static str),
    /// Longer than the cap (by its size, or by what was read before it grew).
    #[error("larger than the cap of {cap} bytes")]
    TooLarge { cap: u64 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The whole of `path` (symlinks followed) if it is a regular file of at most `cap` bytes.
///
/// The type is checked before opening and again on the opened handle, and the open does not
/// wait for a FIFO's writer, so a path swapped between the two checks cannot hang the caller. A
/// file that grows while it is read is cut at `cap + 1` bytes and refused.
pub(crate) fn read_file(path: &Path, cap: u64) -> Result<Vec<u8>, FileError> {
    let mut buf = Vec::new();
    read_file_into(path, cap, &mut buf)?;
    Ok(buf)
}

/// [`read_file`] into `buf` (cleared first), for a caller that reads many files: a buffer
/// already as large as the file is filled without the kernel handing out fresh pages.
pub(crate) fn read_file_into(path: &Path, cap: u64, buf: &mut Vec<u8>) -> Result<(), FileError> {
    let (file, len) = open_file(path, cap)?;
    buf.clear();
    buf.reserve(len as usize);
    file.take(cap + 1).read_to_end(buf)?;
    if buf.len() as u64 > cap {
        return Err(FileError::TooLarge { cap });
    }
    Ok(())
}

/// `path` opened, with its length, if it is a regular file of at most `cap` bytes (checked as
/// [`read_file`] checks it), for a caller that reads it a part at a time.
pub(crate) fn open_file(path: &Path, cap: u64) -> Result<(std::fs::File, u64), FileError> {
    check_type(&std::fs::metadata(path)?, cap)?;
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    check_type(&meta, cap)?;
    Ok((file, meta.len()))
}

/// [`read_file`] as UTF-8 text.
pub(crate) fn read_file_to_string(path: &Path, cap: u64) -> Result<String, FileError> {
    String::from_utf8(read_file(path, cap)?)
        .map_err(|_| FileError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")))
}

fn check_type(meta: &std::fs::Metadata, cap: u64) -> Result<(), FileError> {
    use std::os::unix::fs::FileTypeExt as _;
    let t = meta.file_type();
    let kind = if t.is_file() {
        None
    } else if t.is_dir() {
        Some("directory")
    } else if t.is_fifo() {
        Some("FIFO")
    } else if t.is_socket() {
        Some("socket")
    } else if t.is_char_device() {
        Some("character device")
    } else if t.is_block_device() {
        Some("block device")
    } else {
        Some("special file")
    };
    match kind {
        Some(kind) => Err(FileError::NotRegular(kind)),
        None if meta.len() > cap => Err(FileError::TooLarge { cap }),
        None => Ok(()),
    }
}

fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

/// A response body read up to a cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Body {
    pub(crate) bytes: Vec<u8>,
    /// The peer sent more than the cap; the rest was not read.
    pub(crate) cut: bool,
}

impl Body {
    /// The body as text for a log line (lossy UTF-8, with a mark when it was cut).
    pub(crate) fn lossy_text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.cut {
            s.push_str(" […]");
        }
        s
    }
}

/// At most `cap` bytes of an async response's body; the rest is left unread (and the
/// connection is dropped with the response).
pub(crate) async fn read_body(mut resp: reqwest::Response, cap: usize) -> Result<Body, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = cap - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Body { bytes, cut: true });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body { bytes, cut: false })
}

/// At most `cap` bytes of a blocking response's body.
pub(crate) fn read_blocking_body(resp: reqwest::blocking::Response, cap: usize) -> std::io::Result<Body> {
    let mut bytes = Vec::new();
    resp.take(cap as u64 + 1).read_to_end(&mut bytes)?;
    let cut = bytes.len() > cap;
    bytes.truncate(cap);
    Ok(Body { bytes, cut })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_within_the_cap_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_file(&p, 5).unwrap(), b"12345");
        assert!(matches!(read_file(&p, 4), Err(FileError::TooLarge { cap: 4 })));
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = read_file(&link, 1 << 20).unwrap_err();
        assert!(matches!(e, FileError::NotRegular("character device")), "{e}");

        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // No writer: a blocking open would hang here.
        assert!(matches!(read_file(&fifo, 1 << 20), Err(FileError::NotRegular("FIFO"))));
        assert!(matches!(read_file(dir.path(), 1 << 20), Err(FileError::NotRegular("directory"))));
    }

    #[test]
    fn a_sparse_file_over_the_cap_is_refused_by_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sparse");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(3 << 30).unwrap();
        let e = read_file(&p, 1 << 20).unwrap_err();
        assert!(matches!(e, FileError::TooLarge { cap: 1048576 }));
        assert_eq!(e.to_string(), "larger than the cap of 1048576 bytes");
    }

    /// A peer that announces 1 GiB and keeps sending until the reader hangs up; returns how
    /// many body bytes it got out.
    async fn endless_peer(listener: tokio::net::TcpListener) -> u64 {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut req = [0u8; 4096];
        let _ = sock.read(&mut req).await.unwrap();
        sock.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 1073741824\r\n\r\n").await.unwrap();
        let chunk = vec![b'x'; 1 << 20];
        let mut sent = 0u64;
        while sent < 1 << 30 {
            match tokio::time::timeout(std::time::Duration::from_secs(5), sock.write_all(&chunk)).await {
                Ok(Ok(())) => sent += chunk.len() as u64,
                _ => break,
            }
        }
        sent
    }

    #[tokio::test]
    async fn a_body_is_read_up_to_its_cap_and_the_rest_is_left_unread() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let peer = tokio::spawn(endless_peer(listener));
        let resp = reqwest::Client::new().post(&url).body("x").send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        let body = read_body(resp, caps::ERROR_BODY).await.unwrap();
        assert_eq!((body.bytes.len(), body.cut), (caps::ERROR_BODY, true));
        assert!(body.lossy_text().ends_with(" […]"));
        let sent = peer.await.unwrap();
        assert!(sent < 64 << 20, "the peer got {sent} bytes out");
    }

    #[test]
    fn a_blocking_body_is_read_up_to_its_cap() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let peer = rt.spawn(endless_peer(listener));
        let server = std::thread::spawn(move || rt.block_on(peer).unwrap());
        let resp = reqwest::blocking::Client::new().post(&url).body("x").send().unwrap();
        let body = read_blocking_body(resp, 1000).unwrap();
        assert_eq!((body.bytes.len(), body.cut), (1000, true));
        assert!(server.join().unwrap() < 64 << 20);
    }

    #[test]
    fn text_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(read_file_to_string(&p, 10).is_err());
        std::fs::write(&p, "ok").unwrap();
        assert_eq!(read_file_to_string(&p, 10).unwrap(), "ok");
    }
}
