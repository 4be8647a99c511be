//! The delivery counters (samples sent, retried, dropped by reason, last success), kept in
//! `queue/<destination>/stats.json` so they survive restarts. Overwritten in place after each
//! batch (`util::fs::overwrite_json`), without a fsync: a power loss may cost the last increments
//! (read as a counter reset by `increase()`), never a sample, and a fsync per batch would cost
//! about 5 % of a large cycle's CPU.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{error, warn};

use crate::util::fs::overwrite_json;

/// Why samples were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The receiver refused the data (400, 409, 422).
    Rejected,
    /// 413 even for a single sample.
    TooLarge,
    /// The queue's size cap was reached; the oldest batches went.
    QueueFull,
    /// A queue file failed its checksum.
    Corrupt,
}

impl Reason {
    pub(crate) const ALL: [Reason; 4] =
        [Reason::Rejected, Reason::TooLarge, Reason::QueueFull, Reason::Corrupt];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::TooLarge => "too_large",
            Reason::QueueFull => "queue_full",
            Reason::Corrupt => "corrupt",
        }
    }
}

/// One destination's delivery counters, persisted in its queue directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stats {
    pub(crate) sent_samples: u64,
    pub(crate) sent_requests: u64,
    /// Samples in attempts that had to be repeated (each repeat counts again).
    pub(crate) retried_samples: u64,
    /// Samples dropped, by [`Reason::as_str`].
    pub(crate) dropped: BTreeMap<String, u64>,
    /// Queue files found unreadable (a damaged header, a short body, a bad checksum) and removed.
    #[serde(default)]
    pub(crate) corrupt_files: u64,
    /// Unix milliseconds of the last 2xx.
    pub(crate) last_success_ms: Option<i64>,
    /// The wait before the next attempt, 0 when nothing is waiting (not persisted meaningfully).
    #[serde(skip)]
    pub(crate) backoff: Duration,
}

impl Stats {
    pub(crate) fn dropped(&self, r: Reason) -> u64 {
        self.dropped.get(r.as_str()).copied().unwrap_or(0)
    }

    pub(super) fn drop_samples(&mut self, r: Reason, n: u64) {
        *self.dropped.entry(r.as_str().to_string()).or_default() += n;
    }

    /// The saved counters; zeros when there are none. A file that does not read as counters is
    /// moved aside to `<name>.corrupt` and logged as an error: the counters restart from zero
    /// (which `increase()` reads as a reset), and the old file stays for a look.
    pub(crate) fn load(path: &Path) -> Stats {
        let bytes = match read(path) {
            Ok(Some(b)) => b,
            Ok(None) => return Stats::default(),
            Err(e) => {
                error!(file = %path.display(), error = %e, "cannot read the delivery counters; they restart from zero");
                return Stats::default();
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(s) => s,
            Err(e) => {
                let aside = path.with_extension("json.corrupt");
                let moved = std::fs::rename(path, &aside)
                    .map_or_else(|e| format!("not moved: {e}"), |()| format!("moved to {}", aside.display()));
                error!(file = %path.display(), error = %e, "the delivery counters are damaged and restart from zero ({moved})");
                Stats::default()
            }
        }
    }

    /// The saved counters, for a reader beside a running daemon (the dry run): nothing is moved
    /// aside. A content that does not read may be one the daemon is overwriting: it is read
    /// again once; zeros if it still does not.
    pub(crate) fn peek(path: &Path) -> Stats {
        for attempt in 0..2 {
            match read(path) {
                Ok(Some(b)) => match serde_json::from_slice(&b) {
                    Ok(s) => return s,
                    Err(_) if attempt == 0 => std::thread::sleep(Duration::from_millis(20)),
                    Err(_) => {}
                },
                Ok(None) | Err(_) => break,
            }
        }
        Stats::default()
    }

    pub(super) fn save(&self, path: &Path) {
        let write = || -> std::io::Result<()> {
            let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
            overwrite_json(path, &bytes)
        };
        if let Err(e) = write() {
            warn!(file = %path.display(), error = %e, "cannot save delivery counters");
        }
    }
}

/// The counters file's bytes; `None` if there is none. Bounded: the counters take a few hundred
/// bytes.
fn read(path: &Path) -> Result<Option<Vec<u8>>, crate::util::bounded::FileError> {
    use crate::util::bounded::{read_file, FileError};
    match read_file(path, 64 * 1024) {
        Ok(b) => Ok(Some(b)),
        Err(FileError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_survive_a_restart_and_damaged_ones_are_set_aside_not_silently_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.json");
        assert_eq!(Stats::load(&path), Stats::default());
        let mut s = Stats { sent_samples: 7, ..Stats::default() };
        s.drop_samples(Reason::Rejected, 2);
        s.save(&path);
        assert_eq!(Stats::load(&path), s);
        std::fs::write(&path, b"{\"sent_samples\": 7, \"dropp").unwrap();
        assert_eq!(Stats::load(&path), Stats::default());
        assert!(!path.exists());
        assert_eq!(
            std::fs::read(dir.path().join("stats.json.corrupt")).unwrap(),
            b"{\"sent_samples\": 7, \"dropp"
        );
    }

    #[test]
    fn a_reader_beside_the_daemon_moves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.json");
        assert_eq!(Stats::peek(&path), Stats::default());
        let s = Stats { sent_samples: 7, ..Stats::default() };
        s.save(&path);
        assert_eq!(Stats::peek(&path), s);
        // A page read half written (or damaged): zeros shown, the file left where it is.
        std::fs::write(&path, b"{\"sent_samples\": 7, \"dropp").unwrap();
        assert_eq!(Stats::peek(&path), Stats::default());
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"sent_samples\": 7, \"dropp");
    }
}
