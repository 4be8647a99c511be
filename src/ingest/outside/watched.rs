//! A file parsed again when its length or modification time changes.

use std::path::PathBuf;

use tracing::{debug, info, warn};

/// A file parsed when its length or modification time changes; the last good value is kept
/// when a new version does not parse.
#[derive(Debug)]
pub(crate) struct Watched<T> {
    pub(crate) path: PathBuf,
    stamp: Option<(u64, std::time::SystemTime)>,
    pub(crate) value: Option<T>,
}

impl<T> Watched<T> {
    pub(crate) fn new(path: PathBuf) -> Watched<T> {
        Watched { path, stamp: None, value: None }
    }

    /// Re-reads the file if it changed; `true` if a new value was taken.
    pub(crate) fn refresh(&mut self, what: &str, parse: impl FnOnce(&[u8]) -> Result<T, String>) -> bool {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) => {
                if self.stamp.take().is_some() || self.value.is_none() {
                    debug!(file = %self.path.display(), error = %e, "{what} file not readable");
                }
                return false;
            }
        };
        let stamp = (meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH));
        if self.stamp == Some(stamp) {
            return false;
        }
        self.stamp = Some(stamp);
        let parsed = crate::util::bounded::read_file(&self.path, crate::util::bounded::caps::DATA_FILE)
            .map_err(|e| e.to_string())
            .and_then(|b| parse(&b));
        match parsed {
            Ok(v) => {
                info!(file = %self.path.display(), "read the {what} file");
                self.value = Some(v);
                true
            }
            Err(e) => {
                warn!(file = %self.path.display(), "{what} file: {e}; keeping the previous version");
                false
            }
        }
    }
}
