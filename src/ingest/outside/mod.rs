//! The agent's outside data, with its I/O: the ECB rates file (re-read when it changes) and its
//! fetch, the hourly carbon-intensity file, the local RAPL sampler and its ring, and the query
//! API. Their parsers are pure and live in `ingest::sources`.
//!
//! Failures here never stop a cycle: a file that does not parse keeps the last good version (one
//! warning per version), a failed fetch keeps the cached rates, and an energy source that cannot
//! answer leaves the job to the next source, or to wait (see `Resolution`).

mod ecb_fetch;
mod energy;
mod rapl_sampler;
mod watched;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::{debug, info, warn};

pub(crate) use ecb_fetch::{ecb_cache_stale, ecb_fetch_loop, fetch_ecb};
pub(crate) use energy::Resolution;
pub(crate) use rapl_sampler::{rapl_loop, Rapl};
pub(crate) use watched::Watched;

use crate::config::{Config, EcbConfig, QueryConfig};
use crate::domain::{Currency, EnergyMethod, Intensity, RateBook, RegionPricing};
use crate::ingest::sources::ecb::RateTable;
use crate::ingest::sources::intensity::IntensityTable;
use crate::ingest::sources::rapl;

/// Where fetched ECB rates are kept, in the state directory.
pub(crate) const ECB_CACHE: &str = "ecb-rates.csv";
/// The RAPL ring, in the state directory.
pub(crate) const RAPL_RING: &str = "rapl.ring";

/// Counts kept outside a cycle (by the fetch and the sampler), taken by the next cycle.
#[derive(Debug, Default)]
pub(crate) struct Tallies {
    pub(crate) ecb_fetch_failures: AtomicU64,
    pub rapl_read_failures: AtomicU64,
}

/// Every outside source of one agent.
pub struct OutsideData {
    ecb: Option<(EcbConfig, Option<Watched<RateTable>>, Watched<RateTable>)>,
    fallback: crate::domain::money::Rates,
    wanted: Vec<Currency>,
    pub(crate) book: RateBook,
    pub(crate) intensity: Option<Watched<IntensityTable>>,
    pub(crate) rapl: Option<Arc<Rapl>>,
    query: Option<QueryConfig>,
    /// The energy sources in the order they are asked (`energy.sources`, and `rapl` once the
    /// daemon samples it by default: [`OutsideData::sample_rapl`]).
    pub(crate) sources: Vec<EnergyMethod>,
    rapl_by_default: bool,
    pub(crate) tallies: Arc<Tallies>,
    /// Whether the query API may be asked (not in a dry run).
    pub(crate) network: bool,
    /// When the query API may be asked no more: after its first failure in a cycle, and for
    /// good at shutdown. Jobs it would have measured wait instead.
    pub(crate) query_gate: QueryGate,
}

/// Bounds a cycle's waiting on the query API: one failure (a timeout, say) ends the asking for
/// that cycle, so a hanging API costs one timeout a cycle, not one a job; and a shutdown ends it
/// at once.
#[derive(Debug, Default)]
pub(crate) struct QueryGate {
    failed_this_cycle: AtomicBool,
    stopping: Arc<AtomicBool>,
}

impl QueryGate {
    pub(crate) fn open(&self) -> bool {
        !self.failed_this_cycle.load(Ordering::Relaxed) && !self.stopping.load(Ordering::Relaxed)
    }

    pub(crate) fn failed(&self) {
        self.failed_this_cycle.store(true, Ordering::Relaxed);
    }
}

impl OutsideData {
    /// Sets up the sources the configuration names and reads their files. RAPL zones are looked
    /// up here; a host without them runs on without that source (logged).
    pub fn new(cfg: &Config, network: bool) -> OutsideData {
        let mut wanted: Vec<Currency> = cfg.reporting.clone();
        wanted.extend(cfg.regions.values().map(|r| r.currency));
        wanted.sort();
        wanted.dedup();
        let by_default = cfg.energy.rapl_by_default;
        let rapl = cfg.energy.rapl.as_ref().and_then(|rc| match rapl::discover(&rc.root) {
            Ok(zones) => {
                let path = cfg.state_dir.join(RAPL_RING);
                let ring = rapl::Ring::load(&path, &zones, rc.ring_readings);
                let names: Vec<&str> = zones.iter().map(|z| z.name.as_str()).collect();
                if by_default {
                    debug!(zones = names.join(","), readings = ring.len(), "RAPL energy counters found");
                } else {
                    info!(zones = names.join(","), readings = ring.len(), "RAPL energy counters found");
                }
                Some(Arc::new(Rapl { cfg: rc.clone(), zones, ring: Mutex::new(ring), path }))
            }
            Err(e) if by_default => {
                debug!("RAPL: {e}; the rapl source is not used by default on this host");
                None
            }
            Err(e) => {
                warn!("RAPL: {e}; jobs are not measured by the rapl source on this host");
                None
            }
        });
        let mut outside = OutsideData {
            ecb: cfg.ecb.clone().map(|e| {
                let file = e.file.clone().map(Watched::new);
                (e, file, Watched::new(cfg.state_dir.join(ECB_CACHE)))
            }),
            fallback: cfg.rates.clone(),
            wanted,
            book: RateBook::fixed(cfg.rates.clone()),
            intensity: cfg.carbon.intensity_file.clone().map(Watched::new),
            rapl,
            query: cfg.energy.query.clone(),
            sources: cfg.energy.sources.clone(),
            rapl_by_default: by_default,
            tallies: Arc::new(Tallies::default()),
            network,
            query_gate: QueryGate::default(),
        };
        outside.refresh();
        outside
    }

    /// The RAPL counters to sample (the daemon does, every interval), if this host has readable
    /// ones; with no `energy.sources` configured, `rapl` joins the sources after the others.
    pub(crate) fn sample_rapl(&mut self) -> Option<Arc<Rapl>> {
        let r = self.rapl.clone()?;
        if self.rapl_by_default && !self.sources.contains(&EnergyMethod::Rapl) {
            info!("RAPL counters are readable: the rapl source measures jobs after the configured ones");
            self.sources.push(EnergyMethod::Rapl);
        }
        Some(r)
    }

    /// Set at shutdown: the running cycle asks the query API no more, so it ends on local work.
    pub fn stopping(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.query_gate.stopping)
    }

    /// Re-reads the watched files that changed (called at the start of every cycle); a new cycle
    /// may ask the query API again.
    pub(crate) fn refresh(&mut self) {
        self.query_gate.failed_this_cycle.store(false, Ordering::Relaxed);
        if let Some((_, file, cache)) = &mut self.ecb {
            let a = file.as_mut().is_some_and(|f| f.refresh("ECB rates", RateTable::parse));
            let b = cache.refresh("fetched ECB rates", RateTable::parse);
            if a || b {
                let mut table = cache.value.clone().unwrap_or_default();
                // The configured file wins over what was fetched for the same day.
                if let Some(t) = file.as_ref().and_then(|f| f.value.clone()) {
                    table.merge(t);
                }
                let mut book = RateBook::fixed(self.fallback.clone());
                for (day, per_eur) in table.iter() {
                    book.insert_day(day, per_eur, &self.wanted, "ECB euro foreign exchange reference rates");
                }
                info!(days = book.days(), newest = book.newest().date_unix, "exchange rates by day");
                self.book = book;
            }
        }
        if let Some(w) = &mut self.intensity {
            w.refresh("carbon intensity", IntensityTable::parse);
        }
    }

    /// Whether dated (ECB) rates are configured.
    pub(crate) fn dated_rates(&self) -> bool {
        self.ecb.is_some()
    }

    /// Grid intensity over `[start_s, end_s]` in `region`: hourly values when the file covers
    /// the whole window for the region's zone, else the annual factor.
    pub(crate) fn intensity(&self, region: &RegionPricing, start_s: f64, end_s: f64) -> Intensity {
        let hourly = region
            .intensity_zone
            .as_deref()
            .and_then(|zone| self.intensity.as_ref()?.value.as_ref()?.mean_over(zone, start_s, end_s));
        match hourly {
            Some(g) => Intensity { g_per_kwh: g, hourly: true },
            None => Intensity::annual(region),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    /// A config on `dir` (results, state, a fake powercap tree with one zone) plus `energy`.
    fn config(dir: &std::path::Path, energy: &str) -> Config {
        let zone = dir.join("powercap/intel-rapl:0");
        std::fs::create_dir_all(&zone).unwrap();
        for (f, v) in [("name", "package-0"), ("max_energy_range_uj", "1000000"), ("energy_uj", "5")] {
            std::fs::write(zone.join(f), v).unwrap();
        }
        let yaml = format!(
            "host: {{name: h, region: eu-north-1}}\nresults: {{dirs: [r]}}\nstate_dir: {}\nremote_write: {{url: 'http://127.0.0.1:9'}}\n{energy}",
            dir.join("state").display()
        );
        crate::config::from_str(&yaml, dir, &Overrides::default()).unwrap()
    }

    #[test]
    fn readable_rapl_joins_the_default_sources_when_the_daemon_samples_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("powercap");
        let cfg = config(dir.path(), &format!("energy: {{rapl: {{root: {}}}}}\n", root.display()));
        assert!(cfg.energy.rapl_by_default);
        let mut outside = OutsideData::new(&cfg, false);
        assert_eq!(outside.sources, [EnergyMethod::File], "`once` does not sample: no rapl");
        assert!(outside.sample_rapl().is_some());
        assert_eq!(outside.sources, [EnergyMethod::File, EnergyMethod::Rapl]);
        // Without readable counters the default list stays as it was.
        let cfg = config(dir.path(), "energy: {rapl: {root: /nonexistent}}\n");
        let mut outside = OutsideData::new(&cfg, false);
        assert!(outside.sample_rapl().is_none());
        assert_eq!(outside.sources, [EnergyMethod::File]);
        // A list given is kept as given: the sampler runs, the list is not changed.
        let cfg =
            config(dir.path(), &format!("energy: {{sources: [file], rapl: {{root: {}}}}}\n", root.display()));
        let mut outside = OutsideData::new(&cfg, false);
        assert!(outside.sample_rapl().is_some());
        assert_eq!(outside.sources, [EnergyMethod::File]);
    }
}
