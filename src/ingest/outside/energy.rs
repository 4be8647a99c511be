//! A job's mean power from the configured sources, in order: the file's samples, the query API,
//! the RAPL ring; or a wait, when a source may still cover the job.

use std::collections::BTreeMap;

use tracing::warn;

use super::OutsideData;
use crate::config::{Config, QueryConfig};
use crate::domain::{EnergyMethod, Job, Measured};
use crate::ingest::sources::{query, rapl};
use crate::util::bounded;

/// What a source said about a job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Resolution {
    Measured(Measured),
    /// A source may still cover the job: take it in a later cycle.
    Wait,
    /// No source covered it: its energy is unknown.
    Unknown,
}

impl OutsideData {
    /// Asks the configured sources, in order, for a job's mean power. Misses are counted in
    /// `misses` (method, reason) only when the job is decided, not while it waits.
    pub(crate) fn resolve(
        &self,
        cfg: &Config,
        job: &Job,
        now_s: f64,
        misses: &mut BTreeMap<(&'static str, &'static str), u64>,
    ) -> Resolution {
        let (start_s, end_s) = (job.end_s - job.run_s, job.end_s);
        let may_wait = now_s < end_s + cfg.energy.wait.as_secs_f64();
        let mut missed: Vec<(&'static str, &'static str)> = Vec::new();
        for method in &self.sources {
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
                    // Not asked this cycle: the job waits, whatever its age; only its own
                    // failed query settles it without the API.
                    if !self.query_gate.open() {
                        return Resolution::Wait;
                    }
                    let answer = query_mean_power(q, start_s, end_s);
                    if answer.is_err() {
                        self.query_gate.failed();
                    }
                    match answer {
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
                            warn!(scenario = %job.scenario, error = %e, "energy query failed; no more queries this cycle, the jobs wait for the next");
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
pub(crate) fn query_mean_power(q: &QueryConfig, start_s: f64, end_s: f64) -> Result<Option<f64>, String> {
    let url = format!("{}/api/v1/query_range", q.url);
    let shown = crate::util::redact_url(&url);
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
            let resp =
                req.send().map_err(|e| format!("{shown}: {}", crate::util::error_chain(&e.without_url())))?;
            let status = resp.status();
            if !status.is_success() {
                let body = bounded::read_blocking_body(resp, 300).map(|b| b.lossy_text()).unwrap_or_default();
                return Err(format!("{shown}: HTTP {status}: {body}"));
            }
            let body = bounded::read_blocking_body(resp, bounded::caps::DATA_BODY)
                .map_err(|e| format!("{shown}: {e}"))?;
            if body.cut {
                return Err(format!("{shown}: the answer is larger than {} bytes", bounded::caps::DATA_BODY));
            }
            let points = query::parse_matrix(&body.bytes)?;
            Ok(query::mean_level(&points))
        })
        .join()
        .unwrap_or_else(|_| Err("the query thread panicked".into()))
    })
}
