//! Fetching the ECB reference rates into the cache in the state directory: once when `once`
//! starts with a stale cache, and on a timer in the daemon.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::{Tallies, ECB_CACHE};
use crate::config::EcbConfig;
use crate::ingest::sources::ecb::RateTable;
use crate::util::bounded;
use crate::util::fs::{write_atomic, Durability};

/// Whether the fetched-rates cache is missing or older than the fetch interval.
pub(crate) fn ecb_cache_stale(state_dir: &Path, every: Duration) -> bool {
    std::fs::metadata(state_dir.join(ECB_CACHE))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age >= every)
}

/// Fetches the ECB rates from the configured URL and merges them into the cache in the state
/// directory (temp file + rename). Returns the days fetched.
pub(crate) async fn fetch_ecb(cfg: &EcbConfig, state_dir: &Path) -> Result<usize, String> {
    let Some(url) = &cfg.url else { return Ok(0) };
    let shown = crate::util::redact_url(url);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| crate::util::error_chain(&e))?;
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{shown}: {}", crate::util::error_chain(&e.without_url())))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("{shown}: HTTP {status}"));
    }
    let body = bounded::read_body(resp, bounded::caps::DATA_BODY)
        .await
        .map_err(|e| format!("{shown}: {}", crate::util::error_chain(&e.without_url())))?;
    if body.cut {
        return Err(format!("{shown}: the answer is larger than {} bytes", bounded::caps::DATA_BODY));
    }
    let fetched = RateTable::parse(&body.bytes).map_err(|e| format!("{shown}: {e}"))?;
    let days = fetched.days();
    let path = state_dir.join(ECB_CACHE);
    let mut table = std::fs::read(&path).ok().and_then(|b| RateTable::parse(&b).ok()).unwrap_or_default();
    table.merge(fetched);
    std::fs::create_dir_all(state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    write_atomic(&path, &[table.to_csv().as_bytes()], Durability::Process)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(days)
}

/// Fetches now if the cache is stale, then every `fetch_every`, until `stop` turns true.
pub(crate) async fn ecb_fetch_loop(
    cfg: EcbConfig,
    state_dir: PathBuf,
    tallies: Arc<Tallies>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut first = true;
    loop {
        if !first || ecb_cache_stale(&state_dir, cfg.fetch_every) {
            match fetch_ecb(&cfg, &state_dir).await {
                Ok(days) => info!(days, "fetched ECB exchange rates"),
                Err(e) => {
                    tallies.ecb_fetch_failures.fetch_add(1, Ordering::Relaxed);
                    warn!("fetching ECB exchange rates: {e}; the cached rates stay in use");
                }
            }
        }
        first = false;
        tokio::select! {
            _ = tokio::time::sleep(cfg.fetch_every) => {}
            _ = stop.changed() => return,
        }
    }
}
