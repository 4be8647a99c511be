//! What a cycle asks of `compute`: the idle baseline, the history (rebuilt from the files when a
//! state has none), the power model and each job's prediction, the projections and the buckets
//! newly complete.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use tracing::info;

use super::state::{ForecastCache, State};
use crate::compute::history::{self, History, TrainingRow};
use crate::compute::job;
use crate::compute::power_model::{self, NoModel, PowerModel};
use crate::compute::projection;
use crate::config::Config;
use crate::domain::Job;
use crate::ingest::results;
use crate::samples::catalogue::{EncodePrediction, Insights, ModelState};

/// The idle power to subtract this cycle: the latest baseline scenario measured (this cycle's
/// included, remembered in the state), else the configured watts.
pub(super) fn idle_baseline(
    cfg: &Config,
    next: &mut State,
    jobs: &[(Job, Option<crate::domain::Measured>)],
) -> Option<crate::domain::Baseline> {
    let b = &cfg.energy.baseline;
    if b.from_scenarios {
        for (job, m) in jobs {
            if let Some(m) = m.filter(|_| job.scenario.to_lowercase().contains("baseline")) {
                if next.idle_baseline.is_none_or(|(end, _)| job.end_s > end) {
                    next.idle_baseline = Some((job.end_s, m.mean_power_w));
                }
            }
        }
        if let Some((_, w)) = next.idle_baseline {
            return Some(crate::domain::Baseline { watts: w, kind: "measured" });
        }
    }
    b.watts.map(|w| crate::domain::Baseline { watts: w, kind: "configured" })
}

/// Rebuilds the history from every results file: the jobs already taken in (by identity).
pub(super) fn rebuild_history(cfg: &Config, files: &[PathBuf], state: &State, now_ms: i64) -> History {
    let here = &cfg.regions[&cfg.region];
    let mut jobs = Vec::new();
    let mut seen = BTreeSet::new();
    for path in files {
        let Ok(bytes) = std::fs::read(path) else { continue };
        let Ok(parsed) = results::parse(&bytes) else { continue };
        jobs.extend(parsed.jobs.into_iter().filter(|j| state.jobs.contains(j.id) && seen.insert(j.id)));
    }
    // From the files' own samples: what a query API or the RAPL ring said then is not kept.
    let reports: Vec<job::JobReport> = jobs
        .iter()
        .map(|j| job::report_from_file(j, here, &cfg.regions, cfg.cores_without_cpu_samples))
        .collect();
    let pairs: Vec<(&Job, &job::JobReport)> = jobs.iter().zip(&reports).collect();
    let mut h = History::new(cfg.forecast.bucket_seconds);
    h.add(&pairs, now_ms as f64 / 1000.0, cfg.forecast.history_buckets, cfg.predictions.max_jobs);
    // the buckets rebuilt were pushed before (or are past): start pushing from now on
    h.pushed_until = h.bucket_of(now_ms as f64 / 1000.0);
    info!(jobs = jobs.len(), buckets = h.buckets.len(), "rebuilt the history from the results files");
    h
}

/// A power model fitted this cycle, or why there is none.
pub(super) type Fitted = Result<PowerModel, NoModel>;

/// Adds a chunk's jobs to the history and predicts each one's power with the model fitted on
/// the history as it now stands, which replaces `model` (kept as is when nothing was fitted:
/// predictions off, or no jobs). Jobs without a prediction are counted in `skipped` by reason.
pub(super) fn job_predictions(
    cfg: &Config,
    next: &mut State,
    pairs: &[(&Job, &job::JobReport)],
    now_ms: i64,
    skipped: &mut BTreeMap<&'static str, u64>,
    model: &mut Option<Fitted>,
) -> Vec<Option<crate::stats::regress::Prediction>> {
    if !cfg.forecast.enabled && !cfg.predictions.enabled {
        return Vec::new();
    }
    let h = next.history.get_or_insert_with(|| History::new(cfg.forecast.bucket_seconds));
    h.add(pairs, now_ms as f64 / 1000.0, cfg.forecast.history_buckets, cfg.predictions.max_jobs);
    if !cfg.predictions.enabled || pairs.is_empty() {
        return Vec::new();
    }
    // The old fit (its design and factorisation) goes before the new one is made, not after.
    *model = None;
    let rows: Vec<TrainingRow> = h.jobs.iter().collect();
    let fitted = model.insert(power_model::power_model(&rows, cfg.predictions.min_jobs));
    match fitted {
        Ok(m) => pairs
            .iter()
            .map(|(job, r)| match history::features(job, r) {
                None => {
                    *skipped.entry("missing_features").or_default() += 1;
                    None
                }
                Some((rate, bitrate, fps, enc, preset)) => {
                    let p = m.predict(rate, bitrate, fps, &enc, &preset);
                    if p.is_none() {
                        *skipped.entry("unknown_level").or_default() += 1;
                    }
                    p
                }
            })
            .collect(),
        Err(_) => {
            *skipped.entry("no_model").or_default() += pairs.len() as u64;
            Vec::new()
        }
    }
}

/// The model's state and the what-if encodes (from the history after every chunk), and the
/// projections and newly complete buckets.
pub(super) fn cycle_insights(
    cfg: &Config,
    next: &mut State,
    had_jobs: bool,
    fitted: Option<Fitted>,
    now_ms: i64,
) -> Insights {
    let mut ins = Insights { sigma2: cfg.forecast.sigma2.name(), ..Insights::default() };
    if !cfg.forecast.enabled && !cfg.predictions.enabled {
        return ins;
    }
    let now_s = now_ms as f64 / 1000.0;
    let h = next.history.get_or_insert_with(|| History::new(cfg.forecast.bucket_seconds));
    // Extends the buckets to now (quiet hours are zeros) when no job came in.
    h.add(&[], now_s, cfg.forecast.history_buckets, cfg.predictions.max_jobs);

    if cfg.predictions.enabled {
        let fitted = fitted.unwrap_or_else(|| {
            let rows: Vec<TrainingRow> = h.jobs.iter().collect();
            power_model::power_model(&rows, cfg.predictions.min_jobs)
        });
        match fitted {
            Ok(m) => {
                ins.model = Some(ModelState::Fitted {
                    n: m.ols.n,
                    p: m.ols.rank,
                    r2: m.ols.r2,
                    adj_r2: m.ols.adj_r2,
                    rmse: m.ols.rmse,
                    condition_number: m.ols.condition_number,
                    loo_coverage: m.ols.loo_coverage(0.95),
                    rank_deficient: m.rank_deficient(),
                    ill_conditioned: m.ill_conditioned(),
                });
                ins.encodes = cfg
                    .predictions
                    .whatif
                    .iter()
                    .filter_map(|e| {
                        m.predict_encode(e).map(|power| EncodePrediction {
                            name: e.name.clone(),
                            duration_s: e.duration_seconds,
                            power,
                        })
                    })
                    .collect();
            }
            Err(no) => {
                ins.model = Some(ModelState::Unavailable(match no {
                    NoModel::TooFewJobs { .. } => "too_few_jobs",
                    NoModel::FitFailed(_) => "fit_failed",
                }));
            }
        }
    } else {
        ins.model = Some(ModelState::Unavailable("disabled"));
    }

    if cfg.forecast.enabled {
        let current = h.bucket_of(now_s);
        // Refit when a bucket starts, or when new jobs may end a "too short" wait.
        let fresh = next
            .forecast_cache
            .as_ref()
            .is_none_or(|c| c.bucket != current || (had_jobs && c.projections.iter().any(Result::is_err)));
        if fresh {
            let projections = projection::project(h, now_s, &cfg.forecast);
            for p in &projections {
                if let Err(no) = p {
                    info!(quantity = no.quantity.as_str(), reason = %no.reason, "no projection yet");
                }
            }
            next.forecast_cache = Some(ForecastCache { bucket: current, projections });
            let half_bucket_ms = (cfg.forecast.bucket_seconds as i64 * 1000 / 2).max(1);
            // grows with every forecast (a new bucket, or new jobs within one): no two share stamps
            let issue = current + next.jobs.len() as i64;
            ins.curve_offset_ms = Some(issue.rem_euclid(half_bucket_ms));
        }
        let cache = next.forecast_cache.as_ref().expect("set above");
        // totals and diagnostics every cycle; a missing projection is counted once per bucket
        ins.projections = cache.projections.iter().filter(|p| fresh || p.is_ok()).cloned().collect();
        let h = next.history.as_mut().expect("set above");
        let bs_ms = cfg.forecast.bucket_seconds as i64 * 1000;
        ins.buckets =
            h.complete(now_s).filter(|(i, _)| *i >= h.pushed_until).map(|(i, b)| (i * bs_ms, *b)).collect();
        h.pushed_until = h.pushed_until.max(current);
    }
    ins
}
