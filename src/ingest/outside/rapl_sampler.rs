//! The daemon's RAPL sampler: the counters read every interval into the ring file.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tracing::{info, warn};

use super::Tallies;
use crate::config::RaplConfig;
use crate::ingest::sources::rapl;

/// The RAPL sampler's zones and ring.
pub(crate) struct Rapl {
    pub(crate) cfg: RaplConfig,
    pub(crate) zones: Vec<rapl::Zone>,
    pub(crate) ring: Mutex<rapl::Ring>,
    pub(crate) path: PathBuf,
}

/// Reads the RAPL counters every interval into the ring, until `stop` turns true.
pub(crate) async fn rapl_loop(
    r: Arc<Rapl>,
    tallies: Arc<Tallies>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let boot = rapl::boot_id();
    let mut tick = tokio::time::interval(r.cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let now_ms = crate::util::time::unix_ms(std::time::SystemTime::now());
        let result = rapl::read_uj(&r.zones).and_then(|uj| {
            let reading = rapl::Reading { t_ms: now_ms, boot: boot.clone(), uj };
            r.ring.lock().expect("rapl ring lock").record(&r.path, reading).map_err(|e| e.to_string())
        });
        match result {
            Ok(()) if failing => {
                info!("RAPL readings work again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) => {
                tallies.rapl_read_failures.fetch_add(1, Ordering::Relaxed);
                if !failing {
                    warn!("RAPL reading failed: {e}");
                    failing = true;
                }
            }
        }
    }
}
