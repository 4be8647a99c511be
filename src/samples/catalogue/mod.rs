//! The metric catalogue: every sample `docs/metrics.md` promises, built from a cycle's reports and
//! insights, and nowhere else. Pure: the caller passes the clock (`now_ms`), the previous counter
//! values and the reports, and gets back a [`SeriesSet`] and the advanced counters.
//!
//! Invariants the builder keeps, whatever the input:
//! - every series has `__name__`; label names are unique and sorted; no empty label values;
//! - no NaN or ±Inf is ever added: such a value is left out and counted
//!   (`costpush_samples_non_finite_total`);
//! - per-job values are stamped at the job's end (milliseconds);
//! - counters follow the rules of `Counters`.

mod cardinality;
mod cycle;
mod insights;
mod jobs;

use std::collections::BTreeMap;

pub(crate) use cardinality::{LabelGuard, LabelValues, GUARDED};
pub(crate) use cycle::build_cycle;
pub(crate) use jobs::{build_jobs, StampSet, Stamps};

use super::{Counters, SeriesSet};
use crate::compute::history::{Basis, Bucket, Estimate};
use crate::compute::projection::{Coverage, NoProjection, Projection};
use crate::domain::{Currency, RateBook, Rates, RegionPricing};
use crate::stats::regress::Prediction;

/// The host the samples describe: its name and labels, its region's prices and every other
/// region's (for the what-if), the exchange rates and the currencies it reports in.
pub(crate) struct Host<'a> {
    pub(crate) name: &'a str,
    pub(crate) region: &'a RegionPricing,
    pub(crate) regions: &'a BTreeMap<String, RegionPricing>,
    /// Rates by day: a job converts at its day's, everything else at the newest.
    pub(crate) rates: &'a RateBook,
    /// Whether the rates come by day (ECB) rather than as one fixed table.
    pub(crate) dated_rates: bool,
    pub(crate) reporting: &'a [Currency],
    pub(crate) extra_labels: &'a BTreeMap<String, String>,
    pub(crate) version: &'a str,
    pub(crate) cores_without_cpu_samples: f64,
}

impl Host<'_> {
    /// Every currency a value priced in `own` is pushed in (the reporting currencies, then `own`
    /// if it is not one of them), with the factor that converts into it.
    fn conversions(&self, own: Currency) -> Vec<(Currency, f64)> {
        self.conversions_with(self.rates.newest(), own)
    }

    fn conversions_with(&self, rates: &Rates, own: Currency) -> Vec<(Currency, f64)> {
        let mut v = self.reporting.to_vec();
        if !v.contains(&own) {
            v.push(own);
        }
        v.into_iter().filter_map(|c| rates.convert(1.0, own, c).map(|f| (c, f))).collect()
    }

    /// The `actual` label of a what-if for `region`.
    fn actual(&self, region: &str) -> &'static str {
        if region == self.region.name {
            "true"
        } else {
            "false"
        }
    }
}

/// What happened during the cycle before any sample was built (for the agent's own metrics).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct CycleStats {
    pub(crate) files_matched: u64,
    pub(crate) files_ingested: u64,
    pub(crate) files_malformed: u64,
    pub(crate) files_incomplete: u64,
    pub(crate) files_unreadable: u64,
    /// Not a regular file (a device, FIFO, socket or directory behind the name).
    pub(crate) files_not_regular: u64,
    /// Over `results.max_file_bytes`.
    pub(crate) files_too_large: u64,
    pub(crate) jobs_invalid: u64,
    pub(crate) fields_left_out: u64,
    /// For each label of [`GUARDED`]: the values it keeps, and the jobs folded this cycle.
    pub(crate) label_values: Vec<(&'static str, u64, u64)>,
    /// One for each destination, in the order of the configuration.
    pub(crate) delivery: Vec<DeliveryStats>,
    /// Jobs an energy source did not cover, by (method, reason), counted once decided.
    pub(crate) energy_misses: BTreeMap<(&'static str, &'static str), u64>,
    /// Jobs not taken in this cycle because a source may still cover them.
    pub(crate) jobs_waiting: u64,
    /// Jobs ending more than 2 days after this host's clock, waiting for it.
    pub(crate) jobs_ahead_of_clock: u64,
    /// The idle baseline in force.
    pub(crate) baseline: Option<crate::domain::Baseline>,
    pub(crate) ecb_fetch_failures: u64,
    pub(crate) rapl_read_failures: u64,
    /// Readings in the RAPL ring (`None`: no RAPL source).
    pub(crate) rapl_readings: Option<u64>,
}

/// A destination's queue and sender as the cycle found them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeliveryStats {
    /// The destination's name: the `destination` label.
    pub(crate) destination: String,
    pub(crate) queue_bytes: u64,
    pub(crate) queue_batches: u64,
    pub(crate) sent_samples: u64,
    pub(crate) sent_requests: u64,
    pub(crate) retried_samples: u64,
    /// Samples dropped, by reason; every reason listed, zeros included.
    pub(crate) dropped: Vec<(&'static str, u64)>,
    pub(crate) corrupt_files: u64,
    pub(crate) last_success_ms: Option<i64>,
    pub(crate) backoff_seconds: f64,
}

/// The power model as a cycle saw it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ModelState {
    Fitted {
        n: usize,
        p: usize,
        r2: f64,
        adj_r2: f64,
        rmse: f64,
        condition_number: f64,
        loo_coverage: Option<f64>,
        rank_deficient: bool,
        ill_conditioned: bool,
    },
    /// Label value of `status`: "too_few_jobs", "fit_failed" or "disabled".
    Unavailable(&'static str),
}

/// A what-if encode's predicted power, and how long it runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EncodePrediction {
    pub(crate) name: String,
    pub(crate) duration_s: f64,
    pub(crate) power: Prediction,
}

/// Projections, predictions and buckets for one cycle (all optional).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Insights {
    /// One per job, in the order of `build`'s `jobs`.
    pub(crate) job_predictions: Vec<Option<Prediction>>,
    /// Jobs without a prediction this cycle, by reason ("no_model", "missing_features",
    /// "unknown_level").
    pub(crate) predictions_skipped: Vec<(&'static str, u64)>,
    pub(crate) model: Option<ModelState>,
    pub(crate) encodes: Vec<EncodePrediction>,
    pub(crate) projections: Vec<Result<Projection, NoProjection>>,
    /// Push the forecast curves (only when they were just computed), stamped this many ms after
    /// each bucket start so that successive curves never share a timestamp.
    pub(crate) curve_offset_ms: Option<i64>,
    /// Newly completed buckets: (start, Unix ms; totals in the region's currency; the estimate
    /// of its unmeasured jobs).
    pub(crate) buckets: Vec<(i64, Bucket, Option<Estimate>)>,
    /// Whether the power model estimates unmeasured jobs (its counters are pushed every cycle).
    pub(crate) estimating: bool,
    /// The bases the buckets are pushed on.
    pub(crate) bases: &'static [Basis],
    /// What each basis covers over the fit window.
    pub(crate) coverage: Vec<Coverage>,
}

/// Outcome of [`build_cycle`].
pub(crate) struct Built {
    pub(crate) set: SeriesSet,
    pub(crate) counters: Counters,
    pub(crate) too_old: u64,
    pub(crate) too_new: u64,
}

/// VictoriaMetrics refuses samples more than this far ahead of its clock.
pub(crate) const MAX_FUTURE_MS: i64 = 2 * 86_400_000;

fn ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// Samples stamped older than the retention or more than 2 days ahead: (too old, too new).
pub(crate) fn count_window(set: &SeriesSet, now_ms: i64, retention_ms: i64) -> (u64, u64) {
    let (mut too_old, mut too_new) = (0u64, 0u64);
    for t in set.timestamps() {
        if t < now_ms - retention_ms {
            too_old += 1;
        } else if t > now_ms + MAX_FUTURE_MS {
            too_new += 1;
        }
    }
    (too_old, too_new)
}

fn base_labels<'a>(host: &Host<'a>) -> Vec<(&'a str, &'a str)> {
    [("host", host.name), ("region", host.region.name.as_str())]
        .into_iter()
        .chain(host.extra_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect()
}

/// `a` followed by `b`.
fn cat<'a>(a: &[(&'a str, &'a str)], b: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    a.iter().chain(b).copied().collect()
}
