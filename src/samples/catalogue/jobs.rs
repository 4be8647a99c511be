//! The samples of each job: its gauges, its predictions and its share of the counters.

use std::collections::HashSet;

use super::{base_labels, ms, Host, LabelGuard};
use crate::compute::job::JobReport;
use crate::compute::power_model::prediction_bounds;
use crate::domain::{Currency, Job, Rates, JOULES_PER_KWH};
use crate::samples::counters::JobCounters;
use crate::samples::key::SortedLabels;
use crate::samples::series::{GroupId, SeriesSet};
use crate::samples::Counters;
use crate::stats::regress::Prediction;
use crate::util::hash;

/// The (label set, millisecond) pairs the samples of jobs already pushed use, as 32-bit
/// fingerprints, sorted; kept in the state. With [`Stamps`] it keeps two distinct jobs from ever
/// sharing a series and a timestamp, within a cycle or across cycles, where a deduplicating
/// receiver would keep only one of them. A fingerprint shared by chance moves a job 1 ms on for
/// nothing; a pair in use is never missed.
/// Like the job identities, it grows by one entry a job and is never pruned.
pub(crate) type StampSet = crate::util::sorted::SortedSet<u32>;

/// The stamps of one cycle's jobs. A job's samples are stamped at its end, to the millisecond;
/// if a job pushed before, or met earlier in this cycle's order (end time, then identity),
/// already uses that millisecond in the same label set, the job moves to the next free one.
#[derive(Debug)]
pub(crate) struct Stamps<'a> {
    before: &'a StampSet,
    new: HashSet<u32>,
}

impl<'a> Stamps<'a> {
    pub(crate) fn new(before: &'a StampSet) -> Stamps<'a> {
        Stamps { before, new: HashSet::new() }
    }

    /// The first free millisecond at or after `ts` in the label set `key` (a group key, see
    /// [`SeriesSet::group`]), now taken.
    fn take(&mut self, key: &[u8], mut ts: i64) -> i64 {
        loop {
            let fp = fingerprint(key, ts);
            if !self.before.contains(&fp) && self.new.insert(fp) {
                return ts;
            }
            ts += 1;
        }
    }

    /// The fingerprints this cycle added, for the state.
    pub(crate) fn into_new(self) -> impl Iterator<Item = u32> {
        self.new.into_iter()
    }
}

fn fingerprint(key: &[u8], ts: i64) -> u32 {
    let h = hash::words(key) ^ (ts as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h ^ (h >> 32)) as u32
}

/// The samples of `jobs` (each with its prediction, if any), in time order, into `set`, and
/// their share of the counters.
pub(crate) fn build_jobs(
    host: &Host<'_>,
    jobs: &[(&Job, &JobReport)],
    predictions: &[Option<Prediction>],
    stamps: &mut Stamps<'_>,
    guard: &mut LabelGuard<'_>,
    counters: &mut Counters,
    set: &mut SeriesSet,
) {
    let base = base_labels(host);
    let mut order: Vec<(&(&Job, &JobReport), Option<&Prediction>)> =
        jobs.iter().enumerate().map(|(i, j)| (j, predictions.get(i).and_then(Option::as_ref))).collect();
    order.sort_by(|(a, _), (b, _)| a.0.end_s.total_cmp(&b.0.end_s).then(a.0.id.cmp(&b.0.id)));
    let mut tally = JobCounters { counters, base: &base, seen: Vec::new(), cursor: 0, scratch: Vec::new() };
    let mut conversions = DayConversions::default();
    for ((job, r), pred) in order {
        let resolution = job.resolution.map(|(w, h)| format!("{w}x{h}")).unwrap_or_default();
        let streams = r.streams.to_string();
        let mut labels = base.clone();
        labels.extend([
            ("scenario", guard.admit("scenario", job.scenario.as_str())),
            ("encoder", guard.admit("encoder", job.encoder.as_deref().unwrap_or_default())),
            ("preset", guard.admit("preset", job.preset.as_deref().unwrap_or_default())),
            ("bitrate", guard.admit("bitrate", job.bitrate.as_deref().unwrap_or_default())),
            ("resolution", guard.admit("resolution", resolution.as_str())),
            ("streams", guard.admit("streams", streams.as_str())),
        ]);
        let g = set.group(&SortedLabels::new(&labels));
        let ts = stamps.take(set.group_key(g), ms(job.end_s));
        tally.next_job();
        job_samples(host, job, r, ts, set, g, &mut tally, &mut conversions);
        if let Some(p) = pred {
            predicted_samples(host, set, g, JOB_PREDICTED, p, r.run_s, r.cost.compute, ts);
        }
    }
}

/// One job's gauges into its group `g` of `set` (labels `{job}`, see docs/metrics.md), and its
/// share of the counters.
#[allow(clippy::too_many_arguments)]
fn job_samples<'a>(
    host: &Host<'a>,
    job: &Job,
    r: &JobReport,
    ts: i64,
    set: &mut SeriesSet,
    g: GroupId,
    counters: &mut JobCounters<'_, '_>,
    day: &mut DayConversions<'a>,
) {
    let basis = r.compute_basis.as_str();
    let mut gauge = |name: &str, extra: &[(&str, &str)], v: Option<f64>| {
        if let Some(v) = v {
            set.add_in(g, name, extra, ts, v);
        }
    };

    let method = r.method.map_or("none", |m| m.as_str());
    let intensity_source = [("intensity_source", r.intensity.source())];
    gauge("costpush_job_run_seconds", &[], Some(r.run_s));
    gauge("costpush_job_power_watts", &[("method", method)], r.mean_power_w);
    gauge("costpush_job_energy_joules", &[("method", method)], r.energy_j);
    if let Some((net, kind)) = r.net_energy_j {
        gauge("costpush_job_net_energy_joules", &[("baseline", kind), ("method", method)], Some(net));
    }
    gauge("costpush_job_cpu_core_seconds", &[("compute_basis", basis)], Some(r.core_s));
    gauge("costpush_job_co2_grams", &intensity_source, r.co2_g);
    if r.energy_j.is_some() {
        let per_joule = r.intensity.g_per_kwh / crate::domain::JOULES_PER_KWH;
        gauge("costpush_job_grid_intensity_grams_per_joule", &intensity_source, Some(per_joule));
    }
    gauge("costpush_job_embodied_co2_grams", &[], r.embodied_co2_g);
    gauge("costpush_job_vmaf_score", &[], r.vmaf);
    gauge("costpush_job_psnr_decibels", &[], r.psnr_db);
    gauge("costpush_job_ssim_ratio", &[], r.ssim);
    gauge("costpush_job_vmaf_per_watt", &[], r.vmaf_per_watt);
    gauge("costpush_job_energy_per_frame_joules", &[], r.joules_per_frame);
    gauge("costpush_job_dropped_frames_ratio", &[], r.drop_ratio);
    gauge("costpush_job_pixels", &[], r.pixels);
    gauge("costpush_job_frames", &[], r.frames);
    gauge("costpush_job_quality_pixels_per_joule", &[], r.quality_pixels_per_joule);
    // Money converts at the rates of the job's own day; each what-if region's conversions are
    // worked out once for its gauge and its counter.
    let own = day.index(host, r.currency, job.end_s);
    let mut whatif_at = std::mem::take(&mut day.indices);
    whatif_at.clear();
    whatif_at.extend(r.whatif.iter().map(|w| day.index(host, w.currency, job.end_s)));
    let (conversions, fallback) = (&day.lists[own].1, day.fallback);
    for &(cur, f) in conversions {
        let c = r.cost.scaled(f);
        let (cur, cb) = (("currency", cur.as_str()), ("compute_basis", basis));
        gauge("costpush_job_energy_cost", &[cur], c.energy);
        gauge("costpush_job_compute_cost", &[cb, cur], Some(c.compute));
        gauge("costpush_job_cost", &[cb, cur], c.total);
        gauge("costpush_job_cost_per_pixel", &[cb, cur], r.cost_per_pixel.map(|x| x * f));
    }
    if let Some(est) = r.estimated {
        // Estimated, never measured: names of their own, so no sum mixes the two.
        let model = ("method", "model");
        gauge("costpush_job_estimated_energy_joules", &[model], Some(est.part.energy_j));
        gauge("costpush_job_estimated_co2_grams", &[model], Some(est.part.co2_g));
        for &(cur, f) in conversions {
            let cur = ("currency", cur.as_str());
            gauge("costpush_job_estimated_energy_cost", &[cur, model], Some(est.part.energy_cost * f));
            let total = (r.cost.compute + est.part.energy_cost) * f;
            gauge("costpush_job_estimated_cost", &[("compute_basis", basis), cur, model], Some(total));
        }
    }
    let whatif_conversions = || whatif_at.iter().map(|&i| &day.lists[i].1);
    for (w, conversions) in r.whatif.iter().zip(whatif_conversions()) {
        // Extras in key order (the fast path of `add_in`).
        let (region, actual) = (("target_region", w.region.as_str()), ("actual", host.actual(&w.region)));
        let source = ("intensity_source", w.intensity.source());
        gauge("costpush_job_whatif_co2_grams", &[actual, source, region], w.co2_g);
        for &(cur, f) in conversions {
            gauge(
                "costpush_job_whatif_cost",
                &[actual, ("currency", cur.as_str()), region],
                w.cost.total.map(|t| t * f),
            );
        }
    }

    // Counters per host and region.
    counters.add(set, "costpush_jobs_total", &[], 1.0);
    counters.add(set, "costpush_jobs_by_energy_method_total", &[("method", method)], 1.0);
    if fallback {
        counters.add(set, "costpush_jobs_at_fallback_rates_total", &[], 1.0);
    }
    counters.add(set, "costpush_run_seconds_total", &[], r.run_s);
    counters.add(set, "costpush_cpu_core_seconds_total", &[("compute_basis", basis)], r.core_s);
    if let Some(g) = r.embodied_co2_g {
        counters.add(set, "costpush_embodied_co2_grams_total", &[], g);
    }
    if let Some(est) = r.estimated {
        counters.add(set, "costpush_jobs_estimated_total", &[("method", "model")], 1.0);
        counters.add(
            set,
            "costpush_estimated_energy_joules_total",
            &[("method", "model")],
            est.part.energy_j,
        );
    }
    match r.energy_j {
        None => counters.add(set, "costpush_jobs_without_power_total", &[], 1.0),
        Some(e) => {
            counters.add(set, "costpush_energy_joules_total", &[], e);
            if let Some((net, kind)) = r.net_energy_j {
                counters.add(set, "costpush_net_energy_joules_total", &[("baseline", kind)], net);
            }
            if let Some(g) = r.co2_g {
                counters.add(set, "costpush_co2_grams_total", &[], g);
            }
        }
    }
    for &(cur, f) in conversions {
        let c = r.cost.scaled(f);
        let l = [("currency", cur.as_str())];
        counters.add(set, "costpush_compute_cost_total", &l, c.compute);
        if let (Some(e), Some(t)) = (c.energy, c.total) {
            counters.add(set, "costpush_energy_cost_total", &l, e);
            counters.add(set, "costpush_cost_total", &l, t);
        }
    }
    for (w, conversions) in r.whatif.iter().zip(whatif_conversions()) {
        let l = [("target_region", w.region.as_str()), ("actual", host.actual(&w.region))];
        if let Some(g) = w.co2_g {
            counters.add(set, "costpush_whatif_co2_grams_total", &l, g);
        }
        if let Some(t) = w.cost.total {
            for &(cur, f) in conversions {
                counters.add(
                    set,
                    "costpush_whatif_cost_total",
                    &[l[0], l[1], ("currency", cur.as_str())],
                    t * f,
                );
            }
        }
    }
    day.indices = whatif_at;
}

/// [`Host::conversions`] at the rates in force at a job's end, for jobs in time order: each
/// currency's list is worked out once per day's rate table (jobs of one day share it), not per
/// job and region.
#[derive(Default)]
struct DayConversions<'a> {
    rates: Option<&'a Rates>,
    /// Whether `rates` is the fixed fallback although dated rates are configured.
    fallback: bool,
    lists: Vec<(Currency, Vec<(Currency, f64)>)>,
    /// Scratch for a job's indices into `lists`.
    indices: Vec<usize>,
}

impl<'a> DayConversions<'a> {
    /// Where `own`'s list at the rates in force at `t_s` is in `lists` (valid until a call
    /// for another day).
    fn index(&mut self, host: &Host<'a>, own: Currency, t_s: f64) -> usize {
        let (rates, dated) = host.rates.at(t_s);
        if !self.rates.is_some_and(|r| std::ptr::eq(r, rates)) {
            self.rates = Some(rates);
            self.fallback = host.dated_rates && !dated;
            self.lists.clear();
        }
        match self.lists.iter().position(|(c, _)| *c == own) {
            Some(i) => i,
            None => {
                self.lists.push((own, host.conversions_with(rates, own)));
                self.lists.len() - 1
            }
        }
    }
}

/// The metric names of a job's predictions.
const JOB_PREDICTED: [&str; 4] = [
    "costpush_job_predicted_power_watts",
    "costpush_job_predicted_energy_joules",
    "costpush_job_predicted_co2_grams",
    "costpush_job_predicted_cost",
];

/// The metric names of a what-if encode's predictions.
pub(super) const ENCODE_PREDICTED: [&str; 4] = [
    "costpush_encode_predicted_power_watts",
    "costpush_encode_predicted_energy_joules",
    "costpush_encode_predicted_co2_grams",
    "costpush_encode_predicted_cost",
];

/// `names` (power, energy, CO2 and cost in every currency) for each bound of a power
/// prediction over `seconds`, into group `g`, with `compute_cost` (region currency) added to
/// the energy's cost.
#[allow(clippy::too_many_arguments)]
pub(super) fn predicted_samples(
    host: &Host<'_>,
    set: &mut SeriesSet,
    g: GroupId,
    names: [&str; 4],
    p: &Prediction,
    seconds: f64,
    compute_cost: f64,
    ts: i64,
) {
    let region = host.region;
    let conversions = host.conversions(region.currency);
    for (bound, watts) in prediction_bounds(p) {
        let l = [("bound", bound)];
        let kwh = watts * seconds / JOULES_PER_KWH;
        set.add_in(g, names[0], &l, ts, watts);
        set.add_in(g, names[1], &l, ts, watts * seconds);
        set.add_in(g, names[2], &l, ts, kwh * region.intensity_g_per_kwh);
        let own = kwh * region.electricity_per_kwh + compute_cost;
        for (cur, f) in &conversions {
            set.add_in(g, names[3], &[("bound", bound), ("currency", cur.as_str())], ts, own * f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_millisecond_moves_the_job_on_and_nothing_else_moves() {
        let mut before = StampSet::default();
        let mut first = Stamps::new(&before);
        assert_eq!(first.take(b"a", 5000), 5000);
        assert_eq!(first.take(b"a", 5000), 5001, "the same labels and end: 1 ms on");
        assert_eq!(first.take(b"b", 5000), 5000, "other labels keep their time");
        assert_eq!(first.take(b"a", 3000), 3000, "an earlier end met later keeps its time");
        let new: Vec<u32> = first.into_new().collect();
        before.extend(new);
        // A later cycle: the pairs used before are taken still.
        let mut later = Stamps::new(&before);
        assert_eq!(later.take(b"a", 5000), 5002);
        assert_eq!(later.take(b"a", 3000), 3001);
        assert_eq!(later.take(b"c", 5000), 5000);
    }
}
