//! The agent's outside data, with its I/O: the ECB rates file (re-read when it changes) and its
//! fetch, the hourly carbon-intensity file, the local RAPL sampler and its ring, and the query
//! API. What is computed from them is pure and lives in `sources` and `calc`.
//!
//! Failures here never stop a cycle: a file that does not parse keeps the last good version (one
//! warning per version), a failed fetch keeps the cached rates, and an energy source that cannot
//! answer leaves the job to the next source, or to wait (see [`Resolution`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{debug, info, warn};

use crate::config::{Config, EcbConfig, QueryConfig, RaplConfig};
use crate::domain::{Currency, EnergyMethod, Intensity, Job, Measured, RateBook, RegionPricing};
use crate::ingest::sources::ecb::RateTable;
use crate::ingest::sources::intensity::IntensityTable;
use crate::ingest::sources::{query, rapl};
use crate::util::fs::{write_atomic, Durability};

/// Where fetched ECB rates are kept, in the state directory.
pub const ECB_CACHE: &str = "ecb-rates.csv";
/// The RAPL ring, in the state directory.
pub const RAPL_RING: &str = "rapl.ring";

/// A file parsed when its length or modification time changes; the last good value is kept
/// when a new version does not parse.
#[derive(Debug)]
pub struct Watched<T> {
    pub path: PathBuf,
    stamp: Option<(u64, std::time::SystemTime)>,
    pub value: Option<T>,
}

impl<T> Watched<T> {
    pub fn new(path: PathBuf) -> Watched<T> {
        Watched { path, stamp: None, value: None }
    }

    /// Re-reads the file if it changed; `true` if a new value was taken.
    pub fn refresh(&mut self, what: &str, parse: impl FnOnce(&[u8]) -> Result<T, String>) -> bool {
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
        let parsed = std::fs::read(&self.path).map_err(|e| e.to_string()).and_then(|b| parse(&b));
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

/// What a source said about a job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolution {
    Measured(Measured),
    /// A source may still cover the job: take it in a later cycle.
    Wait,
    /// No source covered it: its energy is unknown.
    Unknown,
}

/// Counts kept outside a cycle (by the fetch and the sampler), taken by the next cycle.
#[derive(Debug, Default)]
pub struct Tallies {
    pub ecb_fetch_failures: AtomicU64,
    pub rapl_read_failures: AtomicU64,
}

/// The RAPL sampler's zones and ring.
pub struct Rapl {
    pub cfg: RaplConfig,
    pub zones: Vec<rapl::Zone>,
    pub ring: Mutex<rapl::Ring>,
    pub path: PathBuf,
}

/// Every outside source of one agent.
pub struct External {
    ecb: Option<(EcbConfig, Option<Watched<RateTable>>, Watched<RateTable>)>,
    fallback: crate::domain::money::Rates,
    wanted: Vec<Currency>,
    pub book: RateBook,
    pub intensity: Option<Watched<IntensityTable>>,
    pub rapl: Option<Arc<Rapl>>,
    query: Option<QueryConfig>,
    pub tallies: Arc<Tallies>,
    /// Whether the query API may be asked (not in a dry run).
    pub network: bool,
}

impl External {
    /// Sets up the sources the configuration names and reads their files. RAPL zones are looked
    /// up here; a host without them runs on without that source (logged).
    pub fn new(cfg: &Config, network: bool) -> External {
        let mut wanted: Vec<Currency> = cfg.reporting.clone();
        wanted.extend(cfg.regions.values().map(|r| r.currency));
        wanted.sort();
        wanted.dedup();
        let rapl = cfg.energy.rapl.as_ref().and_then(|rc| match rapl::discover(&rc.root) {
            Ok(zones) => {
                let path = cfg.state_dir.join(RAPL_RING);
                let ring = rapl::Ring::load(&path, &zones, rc.ring_readings);
                let names: Vec<&str> = zones.iter().map(|z| z.name.as_str()).collect();
                info!(zones = names.join(","), readings = ring.len(), "RAPL energy counters found");
                Some(Arc::new(Rapl { cfg: rc.clone(), zones, ring: Mutex::new(ring), path }))
            }
            Err(e) => {
                warn!("RAPL: {e}; jobs are not measured by the rapl source on this host");
                None
            }
        });
        let mut ext = External {
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
            tallies: Arc::new(Tallies::default()),
            network,
        };
        ext.refresh();
        ext
    }

    /// Re-reads the files that changed (called at the start of every cycle).
    pub fn refresh(&mut self) {
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
    pub fn dated_rates(&self) -> bool {
        self.ecb.is_some()
    }

    /// Grid intensity over `[start_s, end_s]` in `region`: hourly values when the file covers
    /// the whole window for the region's zone, else the annual factor.
    pub fn intensity(&self, region: &RegionPricing, start_s: f64, end_s: f64) -> Intensity {
        let hourly = region
            .intensity_zone
            .as_deref()
            .and_then(|zone| self.intensity.as_ref()?.value.as_ref()?.mean_over(zone, start_s, end_s));
        match hourly {
            Some(g) => Intensity { g_per_kwh: g, hourly: true },
            None => Intensity::annual(region),
        }
    }

    /// Asks the configured sources, in order, for a job's mean power. Misses are counted in
    /// `misses` (method, reason) only when the job is decided, not while it waits.
    pub fn resolve(
        &self,
        cfg: &Config,
        job: &Job,
        now_s: f64,
        misses: &mut BTreeMap<(&'static str, &'static str), u64>,
    ) -> Resolution {
        let (start_s, end_s) = (job.end_s - job.run_s, job.end_s);
        let may_wait = now_s < end_s + cfg.energy.wait.as_secs_f64();
        let mut missed: Vec<(&'static str, &'static str)> = Vec::new();
        for method in &cfg.energy.sources {
            let m = method.as_str();
            match method {
                EnergyMethod::File => {
                    if let Some(found) = Measured::from_file(job) {
                        return decided(Resolution::Measured(found), missed, misses);
                    }
                }
                EnergyMethod::Query => {
                    let Some(q) = &self.query else { continue };
                    if !self.network || now_s < end_s + q.settle.as_secs_f64() {
                        return Resolution::Wait;
                    }
                    match query_mean_power(q, start_s, end_s) {
                        Ok(Some(w)) => {
                            return decided(
                                Resolution::Measured(Measured { method: *method, mean_power_w: w }),
                                missed,
                                misses,
                            )
                        }
                        Ok(None) if may_wait => return Resolution::Wait,
                        Ok(None) => missed.push((m, "no_data")),
                        Err(e) if may_wait => {
                            warn!(scenario = %job.scenario, error = %e, "energy query failed; tried again next cycle");
                            return Resolution::Wait;
                        }
                        Err(e) => {
                            warn!(scenario = %job.scenario, error = %e, "energy query failed; the job's energy is left to the next source");
                            missed.push((m, "error"));
                        }
                    }
                }
                EnergyMethod::Rapl => {
                    let Some(r) = &self.rapl else {
                        missed.push((m, "unavailable"));
                        continue;
                    };
                    let ring = r.ring.lock().expect("rapl ring lock");
                    let cov = ring.energy_between(
                        (start_s * 1000.0).round() as i64,
                        (end_s * 1000.0).round() as i64,
                        r.cfg.max_gap.as_millis() as i64,
                    );
                    match cov {
                        rapl::Coverage::Joules(j) if job.run_s > 0.0 => {
                            let found = Measured { method: *method, mean_power_w: j / job.run_s };
                            return decided(Resolution::Measured(found), missed, misses);
                        }
                        rapl::Coverage::Joules(_) => missed.push((m, "no_data")),
                        rapl::Coverage::NotYet if may_wait => return Resolution::Wait,
                        rapl::Coverage::NotYet | rapl::Coverage::NotCovered => missed.push((m, "no_data")),
                    }
                }
            }
        }
        decided(Resolution::Unknown, missed, misses)
    }
}

/// A decided job: the sources that missed it before are counted now.
fn decided(
    outcome: Resolution,
    missed: Vec<(&'static str, &'static str)>,
    misses: &mut BTreeMap<(&'static str, &'static str), u64>,
) -> Resolution {
    for k in missed {
        *misses.entry(k).or_insert(0) += 1;
    }
    outcome
}

/// Mean power over a window from the query API; `Ok(None)` when it has no points there.
///
/// The request runs on a thread of its own with a blocking client, so it works the same from
/// the daemon's runtime, from `once` and from tests, whatever runtime (if any) is current.
pub fn query_mean_power(q: &QueryConfig, start_s: f64, end_s: f64) -> Result<Option<f64>, String> {
    let url = format!("{}/api/v1/query_range", q.url);
    let params = query::params(&q.expr, start_s, end_s, q.step_seconds);
    std::thread::scope(|s| {
        s.spawn(|| {
            let client = reqwest::blocking::Client::builder()
                .timeout(q.timeout)
                .build()
                .map_err(|e| crate::util::error_chain(&e))?;
            let mut req = client.get(&url).query(&params);
            if let Some(t) = &q.bearer {
                req = req.bearer_auth(t.expose());
            }
            let resp = req.send().map_err(|e| format!("{url}: {}", crate::util::error_chain(&e)))?;
            let status = resp.status();
            let body = resp.bytes().map_err(|e| format!("{url}: {}", crate::util::error_chain(&e)))?;
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                return Err(format!("{url}: HTTP {status}: {text}"));
            }
            let points = query::parse_matrix(&body)?;
            Ok(query::mean_level(&points))
        })
        .join()
        .unwrap_or_else(|_| Err("the query thread panicked".into()))
    })
}

/// Whether the fetched-rates cache is missing or older than the fetch interval.
pub fn ecb_cache_stale(state_dir: &Path, every: Duration) -> bool {
    std::fs::metadata(state_dir.join(ECB_CACHE))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age >= every)
}

/// Fetches the ECB rates from the configured URL and merges them into the cache in the state
/// directory (temp file + rename). Returns the days fetched.
pub async fn fetch_ecb(cfg: &EcbConfig, state_dir: &Path) -> Result<usize, String> {
    let Some(url) = &cfg.url else { return Ok(0) };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| crate::util::error_chain(&e))?;
    let resp =
        client.get(url).send().await.map_err(|e| format!("{url}: {}", crate::util::error_chain(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}"));
    }
    let body = resp.bytes().await.map_err(|e| format!("{url}: {}", crate::util::error_chain(&e)))?;
    let fetched = RateTable::parse(&body).map_err(|e| format!("{url}: {e}"))?;
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
pub async fn ecb_fetch_loop(
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

/// Reads the RAPL counters every interval into the ring, until `stop` turns true.
pub async fn rapl_loop(r: Arc<Rapl>, tallies: Arc<Tallies>, mut stop: tokio::sync::watch::Receiver<bool>) {
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
