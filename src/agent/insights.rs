//! What a cycle asks of `compute`: the idle baseline, the history (rebuilt from the files when a
//! state has none), the power model and each job's prediction, the projections and the buckets
//! newly complete.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use tracing::info;

use super::state::{ForecastCache, State};
use crate::compute::history::{self, Basis, FeatureSums, History};
use crate::compute::job;
use crate::compute::power_model::{self, Coverage, NoModel, PowerModel};
use crate::compute::projection::{self, Estimator};
use crate::config::Config;
use crate::domain::Job;
use crate::ingest::results;
use crate::samples::catalogue::{EncodePrediction, Insights, ModelState};
use crate::util::shared::Shared;

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

/// Rebuilds the buckets from every results file: the jobs already taken in (by identity), from
/// the files' own samples (what a query API or the RAPL ring said then is not kept). The training
/// rows of `previous` (a history of an older layout) are kept: they hold every source's
/// measurements. Without them the rows come from the files too.
pub(super) fn rebuild_history(
    cfg: &Config,
    files: &[PathBuf],
    state: &State,
    previous: Option<&History>,
    now_ms: i64,
) -> History {
    let here = &cfg.regions[&cfg.region];
    let mut jobs = Vec::new();
    let mut seen = BTreeSet::new();
    for path in files {
        let Ok(bytes) = crate::util::bounded::read_file(path, cfg.max_file_bytes) else { continue };
        let Ok(parsed) = results::parse(&bytes) else { continue };
        jobs.extend(parsed.jobs.into_iter().filter(|j| state.jobs.contains(&j.id) && seen.insert(j.id)));
    }
    let reports: Vec<job::JobReport> = jobs
        .iter()
        .map(|j| job::report_from_file(j, here, &cfg.regions, cfg.cores_without_cpu_samples))
        .collect();
    let now_s = now_ms as f64 / 1000.0;
    let mut h = History::new(cfg.forecast.bucket_seconds);
    let refs: Vec<&Job> = jobs.iter().collect();
    match previous {
        Some(p) => h.jobs = p.jobs.clone(),
        None => h.add_training(&pairs(&refs, &reports), cfg.predictions.max_jobs),
    }
    h.add_to_buckets(&pairs(&refs, &reports), now_s, cfg.forecast.history_buckets);
    // the buckets rebuilt were pushed before (or are past): start pushing from now on
    h.pushed_until = h.bucket_of(now_s);
    info!(jobs = jobs.len(), buckets = h.buckets.len(), "rebuilt the history from the results files");
    h
}

/// Whether the power model estimates the energy of jobs no source measured.
pub(super) fn estimating(cfg: &Config) -> bool {
    cfg.predictions.enabled && cfg.predictions.estimate_energy
}

/// How unmeasured jobs are estimated this cycle: with the model fitted, when estimating.
fn estimator<'m>(cfg: &Config, model: Option<&'m PowerModel>) -> Option<Estimator<'m>> {
    let price_per_kwh = cfg.regions[&cfg.region].electricity_per_kwh;
    model.filter(|_| estimating(cfg)).map(|model| Estimator { model, price_per_kwh })
}

fn pairs<'a>(jobs: &[&'a Job], reports: &'a [job::JobReport]) -> Vec<(&'a Job, &'a job::JobReport)> {
    jobs.iter().copied().zip(reports).collect()
}

/// A power model fitted this cycle, or why there is none.
pub(super) type Fitted = Result<PowerModel, NoModel>;

/// What a cycle's chunks carry, one to the next, for the predictions.
#[derive(Default)]
pub(super) struct Predicting {
    /// The model the last chunk fitted: the history's training jobs do not change after it, so
    /// `cycle_insights` reuses it instead of fitting again.
    pub(super) model: Option<Fitted>,
    /// Jobs left without a prediction, by reason.
    pub(super) skipped: BTreeMap<&'static str, u64>,
}

/// Adds a chunk's jobs to the history: their training rows, then the model fitted on the history
/// as it now stands (it replaces `predicting.model`, which is kept as is when nothing was fitted:
/// predictions off, or no jobs), each unmeasured job's estimated energy set on its report, and
/// the jobs' share of the buckets. Returns each job's predicted power; jobs without one are
/// counted in `predicting.skipped` by reason. `last`: no chunk follows this one in the cycle, as far as
/// is known (see [`Coverage`]).
pub(super) fn add_chunk(
    cfg: &Config,
    next: &mut State,
    jobs: &[&Job],
    reports: &mut [job::JobReport],
    now_ms: i64,
    predicting: &mut Predicting,
    last: bool,
) -> Vec<Option<crate::stats::regress::Prediction>> {
    // A chunk without jobs (a file read again that held none: refused, touched) changes
    // nothing that `cycle_insights` does not, and leaves the history shared.
    if (!cfg.forecast.enabled && !cfg.predictions.enabled) || jobs.is_empty() {
        return Vec::new();
    }
    let h =
        next.history.get_or_insert_with(|| Shared::new(History::new(cfg.forecast.bucket_seconds))).make_mut();
    h.add_training(&pairs(jobs, reports), cfg.predictions.max_jobs);
    let mut predictions = Vec::new();
    if cfg.predictions.enabled && !jobs.is_empty() {
        // The old fit (its design and factorisation) goes before the new one is made, not after.
        predicting.model = None;
        // Only the last chunk's model is reported (see `cycle_insights`).
        let coverage = if last { Coverage::Check } else { Coverage::Skip };
        let fitted = predicting.model.insert(power_model::power_model(
            h.jobs.iter(),
            cfg.predictions.min_jobs,
            coverage,
        ));
        match fitted {
            Ok(m) => {
                let est = estimator(cfg, Some(m));
                for (job, r) in jobs.iter().zip(reports.iter_mut()) {
                    let Some(f) = history::features(job, r) else {
                        *predicting.skipped.entry("missing_features").or_default() += 1;
                        predictions.push(None);
                        continue;
                    };
                    let p = m.predict(&f);
                    if p.is_none() {
                        *predicting.skipped.entry("unknown_level").or_default() += 1;
                    }
                    predictions.push(p);
                    // A job no source measured gets the model's estimate, priced as the buckets
                    // price theirs.
                    if let Some(e) = est.filter(|_| r.energy_j.is_none()) {
                        r.estimated = FeatureSums::of_job(r, &f).estimate(e.model, e.price_per_kwh);
                    }
                }
            }
            Err(_) => *predicting.skipped.entry("no_model").or_default() += jobs.len() as u64,
        }
    }
    h.add_to_buckets(&pairs(jobs, reports), now_ms as f64 / 1000.0, cfg.forecast.history_buckets);
    predictions
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
    let mut ins = Insights { estimating: estimating(cfg), ..Insights::default() };
    if !cfg.forecast.enabled && !cfg.predictions.enabled {
        return ins;
    }
    let now_s = now_ms as f64 / 1000.0;
    let h = next.history.get_or_insert_with(|| Shared::new(History::new(cfg.forecast.bucket_seconds)));
    // Extends the buckets to now (quiet hours are zeros) when no job came in. Within a bucket
    // an idle cycle changes nothing, and the history stays shared with the state before.
    if !h.reaches(now_s, cfg.forecast.history_buckets) {
        h.make_mut().add_to_buckets(&[], now_s, cfg.forecast.history_buckets);
    }
    let h: &History = h;

    let mut model = None;
    // The model of this cycle's last chunk; else the one the cycle before fitted (held in the
    // daemon's state) if the training rows are the same; else fitted now. An idle daemon fits
    // nothing.
    let memo = cfg.predictions.enabled.then(|| {
        let on = FittedOn { rows: h.jobs.revision(), min_jobs: cfg.predictions.min_jobs };
        let fit = || power_model::power_model(h.jobs.iter(), cfg.predictions.min_jobs, Coverage::Check);
        match (fitted, &next.memo.model) {
            // A chunk that did not know it was the last (the files after it held no new job):
            // the same rows, fitted again with the coverage.
            (Some(Ok(m)), _) if m.coverage == Coverage::Skip => Arc::new((on, fit())),
            (Some(f), _) => Arc::new((on, f)),
            (None, Some(m)) if m.0 == on => Arc::clone(m),
            (None, _) => Arc::new((on, fit())),
        }
    });
    if let Some(memo) = &memo {
        match &memo.1 {
            Ok(m) => {
                ins.model = Some(ModelState::Fitted {
                    n: m.ols.n,
                    p: m.ols.rank,
                    r2: m.ols.r2,
                    adj_r2: m.ols.adj_r2,
                    rmse: m.ols.rmse,
                    condition_number: m.ols.condition_number,
                    loo_coverage: m.loo_coverage_95,
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
                model = Some(m);
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
        let estimator = estimator(cfg, model);
        let bases = projection::bases(estimator);
        let current = h.bucket_of(now_s);
        // Refit when a bucket starts, when new jobs may end a "too short" wait, or when the
        // bases changed (a model came, or estimation was turned on or off).
        let fresh = next.forecast_cache.as_ref().is_none_or(|c| {
            c.bucket != current || c.bases != bases || (had_jobs && c.projections.iter().any(Result::is_err))
        });
        if fresh {
            let previous = next.forecast_cache.take().map(|c| c.into_inner().projections).unwrap_or_default();
            let projections = projection::project(h, now_s, &cfg.forecast, estimator, &previous);
            for p in &projections {
                if let Err(no) = p {
                    let basis = no.basis.map_or("", Basis::as_str);
                    info!(quantity = no.quantity.as_str(), basis, reason = %no.reason, "no projection yet");
                }
            }
            next.forecast_cache =
                Some(Shared::new(ForecastCache { bucket: current, bases: bases.to_vec(), projections }));
            let half_bucket_ms = (cfg.forecast.bucket_seconds as i64 * 1000 / 2).max(1);
            // grows with every forecast (a new bucket, or new jobs within one): no two share stamps
            let issue = current + next.jobs.len() as i64;
            ins.curve_offset_ms = Some(issue.rem_euclid(half_bucket_ms));
        }
        let cache = next.forecast_cache.as_ref().expect("set above");
        // totals and diagnostics every cycle; a missing projection is counted once per bucket
        ins.projections = cache.projections.iter().filter(|p| fresh || p.is_ok()).cloned().collect();
        let h = next.history.as_mut().expect("set above");
        // The fit window's coverage changes with its buckets (new jobs, or a new bucket) and
        // with the model; an idle cycle reuses the last one.
        let key = (current, bases.to_vec(), memo.as_ref().map(|m| m.0));
        ins.coverage = match next.memo.coverage.take() {
            Some((k, coverage)) if !had_jobs && k == key => coverage,
            _ => projection::coverage(h, now_s, &cfg.forecast, estimator),
        };
        next.memo.coverage = Some((key, ins.coverage.clone()));
        ins.bases = bases;
        let bs_ms = cfg.forecast.bucket_seconds as i64 * 1000;
        ins.buckets = h
            .complete(now_s)
            .filter(|(i, _)| *i >= h.pushed_until)
            .map(|(i, b)| (i * bs_ms, b.clone(), estimator.and_then(|e| e.bucket(b))))
            .collect();
        if h.pushed_until < current {
            h.make_mut().pushed_until = current;
        }
    }
    next.memo.model = memo;
    ins
}

/// What an idle cycle of the daemon would work out again the same, kept in its state for the
/// next cycle. Not saved, and not part of the state's equality (a cache).
#[derive(Clone, Default)]
pub(crate) struct Memo {
    /// The power model a cycle fitted, with what it was fitted on: while no job arrives the
    /// rows stay the same, and the model is reused rather than fitted again.
    model: Option<Arc<(FittedOn, Fitted)>>,
    /// The coverage of the fit window, with the bucket, the bases and the model it was worked
    /// out for.
    coverage: Option<(CoverageKey, Vec<projection::Coverage>)>,
}

/// What a power model was fitted on: the training rows (their [`Rows::revision`]) and the
/// least jobs a fit needs.
///
/// [`Rows::revision`]: crate::compute::history::Rows::revision
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FittedOn {
    rows: u64,
    min_jobs: usize,
}

/// The bucket, the bases and the model a coverage was worked out for.
type CoverageKey = (i64, Vec<Basis>, Option<FittedOn>);

impl PartialEq for Memo {
    fn eq(&self, _: &Memo) -> bool {
        true
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("model", &self.model.is_some())
            .field("coverage", &self.coverage.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::history::TrainingRow;

    fn row(i: usize) -> TrainingRow<'static> {
        let x = i as f64;
        TrainingRow {
            end_s: 1_767_000_000.0 + 60.0 * x,
            pixel_rate: 1e6 * (1.0 + (i % 7) as f64),
            bitrate_kbps: 1000.0 + 300.0 * (i % 5) as f64,
            fps: 24.0 + (i % 3) as f64 * 6.0,
            encoder: if i.is_multiple_of(2) { "x264" } else { "x265" },
            preset: "medium",
            power_w: 60.0 + 3.0 * (i % 7) as f64 + 2.0 * (i % 5) as f64 + (x * 0.37).sin(),
        }
    }

    #[test]
    fn an_idle_cycle_reuses_the_coverage_and_a_cycle_with_jobs_works_it_out_again() {
        use crate::compute::history::{Bucket, Part};
        let yaml = "host: {name: h, region: eu-north-1}\nresults: {dirs: [r]}\nstate_dir: /tmp/s\nremote_write: {url: 'http://127.0.0.1:9'}\n";
        let cfg = crate::config::from_str(yaml, std::path::Path::new("/"), &Default::default()).unwrap();
        let now_ms: i64 = 1_767_100_000_000;
        let part = |jobs: f64| Part { jobs, run_s: jobs * 60.0, ..Part::default() };
        let mut state = State::default();
        let h = state.history.get_or_insert_with(|| History::new(3600).into()).make_mut();
        h.first = now_ms / 3_600_000 - 3;
        // Three complete buckets, each with two jobs of which one was measured.
        h.buckets = vec![Bucket { all: part(2.0), measured: part(1.0), ..Bucket::default() }; 3];
        let jobs_share = |c: &[projection::Coverage]| c.iter().map(|c| c.jobs).collect::<Vec<_>>();

        let first = cycle_insights(&cfg, &mut state, false, None, now_ms);
        assert_eq!(jobs_share(&first.coverage), [0.5]);
        // Complete buckets change only with new jobs: an idle cycle does not work it out again.
        state.history.as_mut().unwrap().make_mut().buckets[0].measured = part(2.0);
        let idle = cycle_insights(&cfg, &mut state, false, None, now_ms + 30_000);
        assert_eq!(jobs_share(&idle.coverage), [0.5]);
        let with_jobs = cycle_insights(&cfg, &mut state, true, None, now_ms + 60_000);
        assert_eq!(jobs_share(&with_jobs.coverage), [4.0 / 6.0]);
        // A new bucket does.
        state.history.as_mut().unwrap().make_mut().buckets[1].measured = part(2.0);
        let next_bucket = cycle_insights(&cfg, &mut state, false, None, now_ms + 3_600_000);
        assert_eq!(jobs_share(&next_bucket.coverage), [5.0 / 6.0], "the bucket just complete had no job");
    }

    #[test]
    fn an_idle_cycle_reuses_the_model_and_a_new_training_row_refits_it() {
        let yaml = "host: {name: h, region: eu-north-1}\nresults: {dirs: [r]}\nstate_dir: /tmp/s\nremote_write: {url: 'http://127.0.0.1:9'}\n";
        let cfg = crate::config::from_str(yaml, std::path::Path::new("/"), &Default::default()).unwrap();
        let mut state = State::default();
        let h = state.history.get_or_insert_with(|| History::new(3600).into()).make_mut();
        for i in 0..40 {
            h.jobs.push(row(i));
        }
        let now_ms = 1_767_100_000_000;
        let held = |s: &State| Arc::clone(s.memo.model.as_ref().expect("a model is held"));

        let first = cycle_insights(&cfg, &mut state, false, None, now_ms);
        let fitted = held(&state);
        assert!(matches!(first.model, Some(ModelState::Fitted { n: 40, .. })), "{:?}", first.model);
        // The next idle cycle (the daemon's state is cloned into each cycle) fits nothing.
        let mut next = state.clone();
        let second = cycle_insights(&cfg, &mut next, false, None, now_ms + 30_000);
        assert!(Arc::ptr_eq(&fitted, &held(&next)), "reused, not fitted again");
        assert_eq!(second.model, first.model);
        assert_eq!(second.encodes.len(), first.encodes.len());

        // A new training row: fitted again, on 41 jobs.
        next.history.as_mut().unwrap().make_mut().jobs.push(row(40));
        let third = cycle_insights(&cfg, &mut next, false, None, now_ms + 60_000);
        assert!(!Arc::ptr_eq(&fitted, &held(&next)));
        assert!(matches!(third.model, Some(ModelState::Fitted { n: 41, .. })), "{:?}", third.model);
    }
}
