//! What the projections and predictions learn from, kept in the state: the host's cost, energy
//! and CO2 per time bucket, and the recent jobs with measured power and their features.
//!
//! Pure: the caller hands in jobs, reports and the clock.
//!
//! Buckets: a job's values are spread over the buckets its run window `[end − run, end]`
//! overlaps, in proportion to the overlap. Every bucket from the first job's on is known, and a
//! bucket without jobs is a real zero (no work was done). Every job adds its compute cost and its
//! share of jobs and run time. A job whose energy was measured adds its energy, energy cost and
//! CO2 to the bucket's measured part; a job the power model estimated adds them to the estimated
//! part, with the estimate's uncertainty; a job with neither adds to neither. So a partly covered
//! bucket is still a bucket: its measured part covers the measured jobs, and its coverage says
//! how much of the work that is ([`Basis`]). The derived data can be rebuilt: a state without
//! history (or with one of an older layout) gets it from every results file at the next start.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::compute::job::JobReport;
use crate::compute::power_model::PowerModel;
use crate::compute::workload;
use crate::domain::{Job, JOULES_PER_KWH};

/// The layout of the buckets; a history of another layout is rebuilt from the files.
pub(crate) const LAYOUT: u32 = 3;

/// What the jobs of one part of a bucket add up to: their share of jobs and of run time, and
/// their compute cost, energy cost (region currency), energy (J) and CO2 (g).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Part {
    pub(crate) jobs: f64,
    pub(crate) run_s: f64,
    pub(crate) compute_cost: f64,
    pub(crate) energy_cost: f64,
    pub(crate) energy_j: f64,
    pub(crate) co2_g: f64,
}

impl Part {
    pub(crate) fn add(
        &mut self,
        share: f64,
        run_s: f64,
        compute_cost: f64,
        energy_cost: f64,
        energy_j: f64,
        co2_g: f64,
    ) {
        self.jobs += share;
        self.run_s += share * run_s;
        self.compute_cost += share * compute_cost;
        self.energy_cost += share * energy_cost;
        self.energy_j += share * energy_j;
        self.co2_g += share * co2_g;
    }

    pub(crate) fn plus(&self, o: &Part) -> Part {
        Part {
            jobs: self.jobs + o.jobs,
            run_s: self.run_s + o.run_s,
            compute_cost: self.compute_cost + o.compute_cost,
            energy_cost: self.energy_cost + o.energy_cost,
            energy_j: self.energy_j + o.energy_j,
            co2_g: self.co2_g + o.co2_g,
        }
    }

    /// Total cost: compute plus energy.
    pub(crate) fn cost(&self) -> f64 {
        self.compute_cost + self.energy_cost
    }
}

/// Which jobs' energy a value is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Basis {
    /// The jobs whose energy a source measured.
    Measured,
    /// Those, and the jobs whose energy the power model estimated.
    MeasuredAndEstimated,
}

impl Basis {
    pub(crate) const ALL: [Basis; 2] = [Basis::Measured, Basis::MeasuredAndEstimated];

    /// Label value of `basis`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Basis::Measured => "measured",
            Basis::MeasuredAndEstimated => "measured+estimated",
        }
    }
}

/// The jobs of a bucket whose energy no source measured but whose features the power model can
/// read, summed with each job's weight (its share of the bucket × its run time): what the model
/// needs to estimate their energy, with whatever model is current (see
/// [`PowerModel::estimate_energy`]). Encoder and preset weights are kept by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct FeatureSums {
    pub(crate) jobs: f64,
    /// Σ weight: run seconds.
    pub(crate) run_s: f64,
    /// Σ weight², for the jobs' independent scatter.
    pub(crate) weight_sq: f64,
    pub(crate) compute_cost: f64,
    pub(crate) pixel_rate: f64,
    pub(crate) bitrate_kbps: f64,
    pub(crate) fps: f64,
    /// Σ weight × grid intensity (g/kWh) over each job's run.
    pub(crate) intensity: f64,
    pub(crate) encoders: Vec<(String, f64)>,
    pub(crate) presets: Vec<(String, f64)>,
}

impl FeatureSums {
    /// One job's features with weight `w` (its run seconds, or its share of them in a bucket).
    #[allow(clippy::too_many_arguments)]
    fn add(&mut self, share: f64, w: f64, compute_cost: f64, intensity: f64, f: &Features) {
        self.jobs += share;
        self.run_s += w;
        self.weight_sq += w * w;
        self.compute_cost += share * compute_cost;
        self.pixel_rate += w * f.pixel_rate;
        self.bitrate_kbps += w * f.bitrate_kbps;
        self.fps += w * f.fps;
        self.intensity += w * intensity;
        for (list, name) in [(&mut self.encoders, &f.encoder), (&mut self.presets, &f.preset)] {
            match list.iter_mut().find(|(n, _)| n == name) {
                Some((_, x)) => *x += w,
                None => list.push((name.clone(), w)),
            }
        }
    }

    /// The sums of one job's features over its whole run.
    pub(crate) fn of_job(r: &JobReport, f: &Features) -> FeatureSums {
        let mut s = FeatureSums::default();
        s.add(1.0, r.run_s, r.cost.compute, r.intensity.g_per_kwh, f);
        s
    }

    /// The model's estimate for these jobs, priced at `price_per_kwh` (region currency) and the
    /// jobs' own grid intensity; `None` when there are none or the model cannot estimate them.
    pub(crate) fn estimate(&self, m: &PowerModel, price_per_kwh: f64) -> Option<Estimate> {
        if self.jobs <= 0.0 || self.run_s <= 0.0 {
            return None;
        }
        let e = m.estimate_energy(self)?;
        let kwh = e.energy_j / JOULES_PER_KWH;
        Some(Estimate {
            part: Part {
                jobs: self.jobs,
                run_s: self.run_s,
                compute_cost: self.compute_cost,
                energy_cost: kwh * price_per_kwh,
                energy_j: e.energy_j,
                co2_g: kwh * self.intensity / self.run_s,
            },
            mean_sd_j: e.mean_var_j2.sqrt(),
            scatter_var_j2: e.scatter_var_j2,
        })
    }
}

/// The estimated part of a bucket (or of a job): the estimated jobs' totals, and the estimate's
/// uncertainty in joules, as a standard deviation from the model's mean error (shared by every
/// estimate the model makes: these add up over buckets) and a variance from the jobs' scatter
/// (independent: these add up as variances).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    pub(crate) part: Part,
    pub(crate) mean_sd_j: f64,
    pub(crate) scatter_var_j2: f64,
}

/// Totals of one bucket, in the region's currency, joules and grams. Read leniently (`default`):
/// a bucket of an older layout reads as empty, and the buckets are then rebuilt (see [`LAYOUT`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Bucket {
    /// Every job: its share of jobs and run time, and its compute cost (known for all).
    pub(crate) all: Part,
    /// The jobs whose energy was measured.
    pub(crate) measured: Part,
    /// The jobs whose energy no source measured and whose features the power model can read.
    pub(crate) unmeasured: FeatureSums,
}

impl Bucket {
    /// The part of the bucket a basis covers; the estimated jobs' part is `estimate`, the
    /// bucket's unmeasured jobs as the current model estimates them.
    pub(crate) fn part(&self, basis: Basis, estimate: Option<&Estimate>) -> Part {
        match (basis, estimate) {
            (Basis::MeasuredAndEstimated, Some(e)) => self.measured.plus(&e.part),
            _ => self.measured,
        }
    }

    /// Shares of the jobs and of the run time that a part covers; `None` without jobs.
    pub(crate) fn coverage(&self, part: &Part) -> Option<(f64, f64)> {
        (self.all.jobs > 0.0 && self.all.run_s > 0.0)
            .then(|| ((part.jobs / self.all.jobs).min(1.0), (part.run_s / self.all.run_s).min(1.0)))
    }
}

/// A job's features for the power model: pixel rate, bitrate, fps, encoder and preset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Features {
    pub(crate) pixel_rate: f64,
    pub(crate) bitrate_kbps: f64,
    pub(crate) fps: f64,
    pub(crate) encoder: String,
    pub(crate) preset: String,
}

/// One job with measured power, as the regression sees it (borrowed from [`Rows`]). Serialized
/// as a row of the state file; read back through [`Rows`] (names may be escaped in JSON, so they
/// are read as owned strings there).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct TrainingRow<'a> {
    pub(crate) end_s: f64,
    /// Pixels per second over every rendition and stream.
    pub(crate) pixel_rate: f64,
    pub(crate) bitrate_kbps: f64,
    pub(crate) fps: f64,
    pub(crate) encoder: &'a str,
    pub(crate) preset: &'a str,
    pub(crate) power_w: f64,
}

/// The training rows, newest last. A few encoder and preset names are shared by thousands of
/// rows, so a row keeps their indices into `names`: 48 bytes a row, not 88 plus two strings (the
/// state of a host with 5,000 rows is about 0.5 MB smaller, and the rows are copied for every fit
/// without allocating). Stored in the state as the rows themselves, names spelled out.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows {
    rows: VecDeque<Row>,
    names: Vec<String>,
    /// See [`Rows::revision`].
    revision: u64,
}

#[derive(Debug, Clone, Copy)]
struct Row {
    end_s: f64,
    pixel_rate: f64,
    bitrate_kbps: f64,
    fps: f64,
    power_w: f64,
    encoder: u32,
    preset: u32,
}

impl Rows {
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Oldest first.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = TrainingRow<'_>> + Clone {
        self.rows.iter().map(|r| self.view(r))
    }

    fn get(&self, i: usize) -> Option<TrainingRow<'_>> {
        self.rows.get(i).map(|r| self.view(r))
    }

    fn view(&self, r: &Row) -> TrainingRow<'_> {
        TrainingRow {
            end_s: r.end_s,
            pixel_rate: r.pixel_rate,
            bitrate_kbps: r.bitrate_kbps,
            fps: r.fps,
            encoder: &self.names[r.encoder as usize],
            preset: &self.names[r.preset as usize],
            power_w: r.power_w,
        }
    }

    pub(crate) fn push(&mut self, r: TrainingRow<'_>) {
        let (encoder, preset) = (self.name(r.encoder), self.name(r.preset));
        let TrainingRow { end_s, pixel_rate, bitrate_kbps, fps, power_w, .. } = r;
        self.rows.push_back(Row { end_s, pixel_rate, bitrate_kbps, fps, power_w, encoder, preset });
        let mut numbers = [0u8; 40];
        for (to, v) in numbers.chunks_exact_mut(8).zip([end_s, pixel_rate, bitrate_kbps, fps, power_w]) {
            to.copy_from_slice(&v.to_bits().to_le_bytes());
        }
        for change in [&numbers[..], r.encoder.as_bytes(), r.preset.as_bytes()] {
            self.revise(change);
        }
    }

    /// Identifies what the rows hold without reading them: the same for a copy, and changed by
    /// every change made to them (a hash of the changes, in order, since the list was empty; a
    /// list read from the state starts from its rows). So an idle cycle knows its power model
    /// still fits the rows without hashing thousands of them.
    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    fn revise(&mut self, change: &[u8]) {
        self.revision = xxhash_rust::xxh3::xxh3_64_with_seed(change, self.revision);
    }

    fn name(&mut self, s: &str) -> u32 {
        match self.names.iter().position(|n| n == s) {
            Some(i) => i as u32,
            None => {
                self.names.push(s.to_string());
                (self.names.len() - 1) as u32
            }
        }
    }

    /// Keeps the `max` rows that end last (in end-time order), and only the names they use.
    fn keep_newest(&mut self, max: usize) {
        if self.rows.len() <= max {
            return;
        }
        let old = std::mem::take(self);
        let mut v: Vec<TrainingRow> = old.iter().collect();
        v.sort_by(|a, b| a.end_s.total_cmp(&b.end_s));
        self.rows.reserve_exact(max);
        for r in &v[v.len() - max..] {
            self.push(*r);
        }
    }
}

impl Rows {
    /// How this list continues `before`: the rows dropped from its front, and the rows that are
    /// new, with their places. The rows of `before` kept are matched from the end, so rows
    /// trimmed from the front, appended, or sorted in among the others (a job that ended before
    /// the newest) make a short change; any two lists make a valid one.
    pub(crate) fn after(&self, before: &Rows) -> RowChanges {
        let (mut i, mut j) = (before.len(), self.len());
        let mut at = Vec::new();
        while i > 0 && j > 0 {
            j -= 1;
            if before.get(i - 1) == self.get(j) {
                i -= 1;
            } else {
                at.push(j);
            }
        }
        at.extend((0..j).rev());
        at.reverse();
        let mut rows = Rows::default();
        for &k in &at {
            rows.push(self.get(k).expect("a place in this list"));
        }
        RowChanges { dropped: i, at, rows }
    }

    /// Applies changes made by [`Rows::after`] to the list they were made from.
    pub(crate) fn continue_with(&mut self, c: &RowChanges) {
        let kept = self.len().saturating_sub(c.dropped);
        let appended = c.at.iter().enumerate().all(|(n, &k)| k == kept + n);
        if appended {
            let dropped = c.dropped.min(self.rows.len());
            if dropped > 0 {
                self.rows.drain(..dropped);
                self.revise(b"dropped");
                self.revise(&(dropped as u64).to_le_bytes());
            }
            for r in c.rows.iter() {
                self.push(r);
            }
            return;
        }
        let old = std::mem::take(self);
        let (mut kept, mut added) = (old.iter().skip(c.dropped), c.rows.iter());
        let mut at = c.at.iter().peekable();
        for k in 0..old.len().saturating_sub(c.dropped) + c.at.len() {
            let next = if at.next_if_eq(&&k).is_some() { added.next() } else { kept.next() };
            if let Some(r) = next {
                self.push(r);
            }
        }
    }
}

/// What changed in a list of training rows (see [`Rows::after`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RowChanges {
    /// Rows dropped from the front.
    dropped: usize,
    /// The places of the new rows in the list after.
    at: Vec<usize>,
    rows: Rows,
}

impl PartialEq for Rows {
    fn eq(&self, other: &Rows) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Serialize for Rows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Rows {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rows, D::Error> {
        #[derive(Deserialize)]
        struct Owned {
            end_s: f64,
            pixel_rate: f64,
            bitrate_kbps: f64,
            fps: f64,
            encoder: String,
            preset: String,
            power_w: f64,
        }
        let mut rows = Rows::default();
        for o in Vec::<Owned>::deserialize(d)? {
            rows.push(TrainingRow {
                end_s: o.end_s,
                pixel_rate: o.pixel_rate,
                bitrate_kbps: o.bitrate_kbps,
                fps: o.fps,
                encoder: &o.encoder,
                preset: &o.preset,
                power_w: o.power_w,
            });
        }
        Ok(rows)
    }
}

/// Buckets and training rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct History {
    /// [`LAYOUT`] for a history written by this version (0 when absent: an older one).
    #[serde(default)]
    pub(crate) layout: u32,
    pub(crate) bucket_seconds: u64,
    /// Index of `buckets[0]` (its start is `first × bucket_seconds` Unix seconds).
    pub(crate) first: i64,
    pub(crate) buckets: Vec<Bucket>,
    pub(crate) jobs: Rows,
    /// Complete buckets up to (not including) this index have been pushed.
    #[serde(default)]
    pub(crate) pushed_until: i64,
}

/// What changed in a [`History`] since an earlier one of the same layout and bucket size, for
/// the state's journal: the buckets that differ and how the rows continue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct HistoryChanges {
    first: i64,
    len: usize,
    /// Each bucket that differs from the earlier history's at its index (or from an empty one
    /// where that had none), with its index (not relative to `first`).
    buckets: Vec<(i64, Bucket)>,
    rows: RowChanges,
    pushed_until: i64,
}

impl History {
    /// What changed since `before`; `None` when the layout or the bucket size differ (the
    /// history is then stored whole).
    pub(crate) fn changes_since(&self, before: &History) -> Option<HistoryChanges> {
        if (self.layout, self.bucket_seconds) != (before.layout, before.bucket_seconds) {
            return None;
        }
        let empty = Bucket::default();
        let buckets = (self.first..)
            .zip(&self.buckets)
            .filter(|(i, b)| before.bucket(*i).unwrap_or(&empty) != *b)
            .map(|(i, b)| (i, b.clone()))
            .collect();
        Some(HistoryChanges {
            first: self.first,
            len: self.buckets.len(),
            buckets,
            rows: self.jobs.after(&before.jobs),
            pushed_until: self.pushed_until,
        })
    }

    /// Applies changes made by [`History::changes_since`] on this history.
    pub(crate) fn apply(&mut self, c: &HistoryChanges) {
        // The window moves (at most once a bucket), then takes the changed buckets.
        if c.first > self.first {
            let gone = usize::try_from(c.first - self.first).unwrap_or(usize::MAX).min(self.buckets.len());
            self.buckets.drain(..gone);
        } else if c.first < self.first {
            let new = usize::try_from(self.first - c.first).unwrap_or(0).min(c.len);
            self.buckets.splice(0..0, std::iter::repeat_n(Bucket::default(), new));
        }
        self.first = c.first;
        self.buckets.resize(c.len, Bucket::default());
        for (i, b) in &c.buckets {
            if let Some(slot) = usize::try_from(i - c.first).ok().and_then(|at| self.buckets.get_mut(at)) {
                *slot = b.clone();
            }
        }
        self.jobs.continue_with(&c.rows);
        self.pushed_until = c.pushed_until;
    }

    fn bucket(&self, i: i64) -> Option<&Bucket> {
        usize::try_from(i - self.first).ok().and_then(|at| self.buckets.get(at))
    }
}

/// The features of a job, when it has all of them (`None` otherwise).
pub(crate) fn features(job: &Job, r: &JobReport) -> Option<Features> {
    let pixels = workload::pixels(job, r.streams)?;
    if r.run_s <= 0.0 {
        return None;
    }
    let rate = pixels / r.run_s;
    let (bitrate, fps) = (job.bitrate_kbps?, job.fps?);
    if !(rate.is_finite() && rate > 0.0) {
        return None;
    }
    Some(Features {
        pixel_rate: rate,
        bitrate_kbps: bitrate,
        fps,
        encoder: job.encoder.clone().unwrap_or_else(|| "unknown".into()),
        preset: job.preset.clone().unwrap_or_else(|| "unknown".into()),
    })
}

impl History {
    pub(crate) fn new(bucket_seconds: u64) -> History {
        History { layout: LAYOUT, bucket_seconds, ..History::default() }
    }

    pub(crate) fn bucket_of(&self, t_s: f64) -> i64 {
        (t_s / self.bucket_seconds as f64).floor() as i64
    }

    /// Index one past the last bucket held.
    pub(crate) fn end(&self) -> i64 {
        self.first + self.buckets.len() as i64
    }

    /// Whether the buckets already reach the one of `now_s` within `max_buckets`, so that
    /// [`History::add_to_buckets`] with no job would change nothing.
    pub(crate) fn reaches(&self, now_s: f64, max_buckets: usize) -> bool {
        self.buckets.is_empty() || (self.bucket_of(now_s) < self.end() && self.buckets.len() <= max_buckets)
    }

    /// Makes buckets `lo..=hi` exist (new ones are zero), keeping at most `max` ending at the
    /// newest.
    fn cover(&mut self, lo: i64, hi: i64, max: usize) {
        if self.buckets.is_empty() {
            self.first = lo;
            self.buckets = vec![Bucket::default(); (hi - lo + 1).max(1) as usize];
        } else {
            if lo < self.first {
                let add = (self.first - lo) as usize;
                let mut v = vec![Bucket::default(); add];
                v.append(&mut self.buckets);
                self.buckets = v;
                self.first = lo;
            }
            if hi >= self.end() {
                let add = (hi - self.end() + 1) as usize;
                self.buckets.extend(std::iter::repeat_n(Bucket::default(), add));
            }
        }
        if self.buckets.len() > max {
            let drop = self.buckets.len() - max;
            self.buckets.drain(..drop);
            self.first += drop as i64;
        }
    }

    /// Adds the training rows of new jobs whose power was measured (keeping the newest
    /// `max_jobs`).
    pub(crate) fn add_training(&mut self, jobs: &[(&Job, &JobReport)], max_jobs: usize) {
        for (job, r) in jobs {
            if let (Some(p), Some(f)) = (r.mean_power_w, features(job, r)) {
                self.jobs.push(TrainingRow {
                    end_s: job.end_s,
                    pixel_rate: f.pixel_rate,
                    bitrate_kbps: f.bitrate_kbps,
                    fps: f.fps,
                    encoder: &f.encoder,
                    preset: &f.preset,
                    power_w: p,
                });
            }
        }
        self.jobs.keep_newest(max_jobs);
    }

    /// Adds new jobs to the buckets (an unmeasured job's features with it, for estimating), and
    /// extends the buckets to the one holding `now_s` (quiet hours are zeros).
    pub(crate) fn add_to_buckets(&mut self, jobs: &[(&Job, &JobReport)], now_s: f64, max_buckets: usize) {
        let now_b = self.bucket_of(now_s);
        let oldest_kept = now_b - max_buckets as i64 + 1;
        for (job, r) in jobs {
            let (start, end) = (job.end_s - r.run_s, job.end_s);
            let (b0, b1) = (self.bucket_of(start), self.bucket_of(end));
            if b1 < oldest_kept || b0 > now_b {
                continue;
            }
            let feats = if r.energy_j.is_none() { features(job, r) } else { None };
            self.cover(b0.max(oldest_kept), b1.min(now_b), max_buckets);
            for b in b0.max(self.first)..=b1.min(self.end() - 1) {
                let bs = (b * self.bucket_seconds as i64) as f64;
                let be = bs + self.bucket_seconds as f64;
                let share =
                    if r.run_s > 0.0 { ((end.min(be) - start.max(bs)).max(0.0)) / r.run_s } else { 1.0 };
                let bucket = &mut self.buckets[(b - self.first) as usize];
                let compute = r.cost.compute;
                bucket.all.add(share, r.run_s, compute, 0.0, 0.0, 0.0);
                if let (Some(e), Some(c), Some(g)) = (r.energy_j, r.cost.energy, r.co2_g) {
                    bucket.measured.add(share, r.run_s, compute, c, e, g);
                } else if let Some(f) = &feats {
                    bucket.unmeasured.add(share, share * r.run_s, compute, r.intensity.g_per_kwh, f);
                }
            }
        }
        if !self.buckets.is_empty() {
            self.cover(self.first, now_b, max_buckets);
        }
    }

    /// [`History::add_training`] and [`History::add_to_buckets`] together (for jobs without
    /// estimates).
    #[cfg(test)]
    pub(crate) fn add(
        &mut self,
        jobs: &[(&Job, &JobReport)],
        now_s: f64,
        max_buckets: usize,
        max_jobs: usize,
    ) {
        self.add_training(jobs, max_jobs);
        self.add_to_buckets(jobs, now_s, max_buckets);
    }

    /// The complete buckets (the one holding `now_s` is still filling), oldest first, with
    /// their indices.
    pub(crate) fn complete(&self, now_s: f64) -> impl Iterator<Item = (i64, &Bucket)> {
        let now_b = self.bucket_of(now_s);
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, b)| (self.first + i as i64, b))
            .filter(move |(i, _)| *i < now_b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::job;
    use crate::domain::money::Currency;
    use crate::domain::RegionPricing;
    use crate::ingest::results::parse;
    use std::collections::BTreeMap;

    fn region() -> RegionPricing {
        RegionPricing {
            name: "r".into(),
            location: String::new(),
            currency: Currency::EUR,
            electricity_per_kwh: 0.36,
            compute_per_core_hour: 0.0,
            intensity_g_per_kwh: 100.0,
            intensity_source: "t".into(),
            intensity_year: 2024,
            intensity_zone: None,
        }
    }

    fn jobs(json: &str) -> (Vec<Job>, Vec<JobReport>) {
        let jobs = parse(json.as_bytes()).unwrap().jobs;
        let r = region();
        let all = BTreeMap::from([("r".to_string(), r.clone())]);
        let reports = jobs.iter().map(|j| job::report_from_file(j, &r, &all, 1.0)).collect();
        (jobs, reports)
    }

    #[test]
    fn a_history_that_reaches_now_is_left_as_it_is_by_an_idle_cycle() {
        let mut h = History::new(3600);
        assert!(h.reaches(10_000.0, 24), "no buckets: nothing to extend");
        h.cover(1, 3, 24);
        for (now_s, max, reaches) in [
            (3.5 * 3600.0, 24, true),
            (4.5 * 3600.0, 24, false),
            (3.5 * 3600.0, 2, false),
            (2.0 * 3600.0, 24, true),
        ] {
            let mut after = h.clone();
            after.add_to_buckets(&[], now_s, max);
            assert_eq!(h.reaches(now_s, max), reaches, "at {now_s} s, {max} buckets");
            assert_eq!(after == h, reaches, "at {now_s} s, {max} buckets");
        }
    }

    #[test]
    fn a_job_is_spread_over_the_buckets_it_ran_in() {
        // 100 W for 1 h from 00:30 to 01:30: 180 kJ, half in each hourly bucket
        let (j, r) = jobs(
            r#"{"scenarios": [{"name": "x", "duration": 3600, "end_time": 5400, "power_watts": [100], "encoder_type": "e"}]}"#,
        );
        let pairs: Vec<(&Job, &JobReport)> = j.iter().zip(&r).collect();
        let mut h = History::new(3600);
        h.add(&pairs, 4.0 * 3600.0, 100, 100);
        assert_eq!(h.first, 0);
        assert_eq!(h.buckets.len(), 5, "extended to the current bucket");
        assert_eq!(h.buckets[0].measured.energy_j, 180_000.0);
        assert_eq!(h.buckets[1].measured.energy_j, 180_000.0);
        assert_eq!((h.buckets[0].all.jobs, h.buckets[0].all.run_s), (0.5, 1800.0), "half the job");
        assert_eq!(h.buckets[2], Bucket::default(), "a quiet hour is a real zero");
        // 360 kJ = 0.1 kWh: 0.036 EUR and 10 g in all
        let cost = |b: &Bucket| b.part(Basis::Measured, None).cost();
        assert!((cost(&h.buckets[0]) + cost(&h.buckets[1]) - 0.036).abs() < 1e-15);
        assert!((h.buckets[0].measured.co2_g - 5.0).abs() < 1e-12);
        assert_eq!(h.complete(4.0 * 3600.0).count(), 4, "the current bucket is not complete");
    }

    #[test]
    fn a_job_without_energy_counts_in_the_bucket_but_not_in_its_measured_part() {
        // "x" has no power (bucket 8 is partly covered); "y" is older than the 4 buckets kept
        let (j, r) = jobs(
            r#"{"scenarios": [{"name": "x", "duration": 10, "end_time": 28900},
            {"name": "y", "duration": 10, "end_time": 100, "power_watts": [5]}]}"#,
        );
        let pairs: Vec<(&Job, &JobReport)> = j.iter().zip(&r).collect();
        let mut h = History::new(3600);
        h.add(&pairs, 10.0 * 3600.0, 4, 100);
        assert_eq!((h.first, h.buckets.len()), (8, 3));
        assert_eq!((h.buckets[0].all.jobs, h.buckets[0].measured.jobs), (1.0, 0.0));
        assert_eq!(h.buckets[0].all.run_s, 10.0, "every job counts in the bucket");
        assert_eq!(h.buckets[0].coverage(&h.buckets[0].measured), Some((0.0, 0.0)));
        assert_eq!(h.buckets[1].coverage(&h.buckets[1].measured), None, "no job: no coverage");
        // time passes: the window slides, keeping 4
        h.add(&[], 20.0 * 3600.0, 4, 100);
        assert_eq!((h.first, h.buckets.len()), (17, 4));
    }

    #[test]
    fn training_rows_need_power_and_features() {
        let (j, r) = jobs(
            r#"{"scenarios": [
            {"name": "a", "duration": 10, "end_time": 100, "power_watts": [50], "resolution": "1280x720", "avg_fps": 30, "bitrate": "2000k", "encoder_type": "x264"},
            {"name": "b", "duration": 10, "end_time": 200, "power_watts": [50], "encoder_type": "x264"},
            {"name": "c", "duration": 10, "end_time": 300, "resolution": "1280x720", "avg_fps": 30, "bitrate": "2000k"}]}"#,
        );
        let pairs: Vec<(&Job, &JobReport)> = j.iter().zip(&r).collect();
        let mut h = History::new(3600);
        h.add(&pairs, 400.0, 10, 10);
        assert_eq!(h.jobs.len(), 1);
        let row = h.jobs.iter().next().unwrap();
        assert_eq!((row.pixel_rate, row.bitrate_kbps, row.fps), (1280.0 * 720.0 * 30.0, 2000.0, 30.0));
        assert_eq!((row.encoder, row.preset, row.power_w), ("x264", "unknown", 50.0));
    }

    fn row<'a>(end_s: f64, encoder: &'a str, preset: &'a str) -> TrainingRow<'a> {
        TrainingRow { end_s, pixel_rate: 1.0, bitrate_kbps: 2.0, fps: 3.0, encoder, preset, power_w: end_s }
    }

    #[test]
    fn a_revision_is_kept_by_a_copy_and_changed_by_every_change() {
        let mut a = Rows::default();
        let mut seen = vec![a.revision()];
        for t in 1..=4 {
            a.push(row(f64::from(t), "x264", "fast"));
            seen.push(a.revision());
        }
        let copy = a.clone();
        assert_eq!(copy.revision(), a.revision());
        // The same rows read back from the state: the same revision, in another process too.
        let read: Rows = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
        assert_eq!(read.revision(), a.revision());
        // A name that differs, where the numbers do not.
        let mut b = Rows::default();
        for t in 1..=4 {
            b.push(row(f64::from(t), "x264", if t == 4 { "slow" } else { "fast" }));
        }
        assert!(b != a && b.revision() != a.revision());
        // Rows dropped from the front; the oldest kept; rows sorted in among the others.
        let mut dropped = a.clone();
        dropped.continue_with(&RowChanges { dropped: 1, at: Vec::new(), rows: Rows::default() });
        assert_eq!(dropped.len(), 3);
        seen.push(dropped.revision());
        let mut newest = a.clone();
        newest.keep_newest(2);
        seen.push(newest.revision());
        let mut sorted_in = a.clone();
        let mut target = Rows::default();
        for t in [1.0, 2.0, 2.5, 3.0, 4.0] {
            target.push(row(t, "x264", "fast"));
        }
        sorted_in.continue_with(&target.after(&a));
        assert!(sorted_in == target);
        seen.push(sorted_in.revision());
        let n = seen.len();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), n, "every change gives a revision not seen before");
    }

    #[test]
    fn rows_continue_an_earlier_list_whatever_happened_to_it() {
        let rows = |ends: &[u32]| {
            let mut r = Rows::default();
            for &t in ends {
                r.push(row(f64::from(t), if t % 3 == 0 { "x264" } else { "av1" }, "fast"));
            }
            r
        };
        let check = |before: &Rows, after: &Rows, what: &str| -> usize {
            let c = after.after(before);
            let mut got = before.clone();
            got.continue_with(&c);
            assert!(got == *after, "{what}");
            c.rows.len()
        };
        // Trimmed and appended, sorted in, emptied, from empty, unrelated, repeated rows.
        let base = rows(&[1, 2, 3, 4, 5, 6]);
        assert_eq!(check(&base, &rows(&[3, 4, 5, 6, 7, 8]), "trim and append"), 2);
        assert_eq!(check(&base, &rows(&[2, 3, 4, 9, 5, 6]), "sorted in"), 1);
        assert_eq!(check(&base, &rows(&[]), "emptied"), 0);
        assert_eq!(check(&rows(&[]), &base, "from empty"), 6);
        assert_eq!(check(&base, &rows(&[10, 11]), "unrelated"), 2);
        assert_eq!(check(&rows(&[7, 7, 7]), &rows(&[7, 7, 7, 7]), "repeated"), 1);
        // Random lists: the oldest drop, new rows land anywhere, the list is re-sorted now and then.
        let mut rng = fastrand::Rng::with_seed(7);
        let mut before = rows(&[]);
        let mut ends: Vec<u32> = Vec::new();
        for step in 0..300 {
            let mut next = ends.clone();
            for _ in 0..rng.usize(0..4) {
                let at = rng.usize(0..=next.len());
                next.insert(at, rng.u32(0..1000));
            }
            if step % 7 == 0 {
                next.sort_unstable();
            }
            let len = next.len();
            next.drain(..len.saturating_sub(20));
            let after = rows(&next);
            check(&before, &after, &format!("step {step}: {ends:?} -> {next:?}"));
            (before, ends) = (after, next);
        }
    }

    #[test]
    fn training_rows_keep_the_newest_and_only_the_names_they_use() {
        let mut rows = Rows::default();
        for (t, e, p) in
            [(5.0, "x264", "fast"), (1.0, "x265", "slow"), (3.0, "x264", "slow"), (4.0, "av1", "fast")]
        {
            rows.push(row(t, e, p));
        }
        assert_eq!(rows.names, ["x264", "fast", "x265", "slow", "av1"], "each name stored once");
        rows.keep_newest(2);
        let kept: Vec<_> = rows.iter().collect();
        assert_eq!(
            kept,
            [row(4.0, "av1", "fast"), row(5.0, "x264", "fast")],
            "the two that end last, in order"
        );
        assert_eq!(rows.names, ["av1", "fast", "x264"], "x265 and slow are no longer used");
    }

    #[test]
    fn training_rows_are_stored_with_their_names_spelled_out() {
        let mut rows = Rows::default();
        rows.push(row(1.0, "x264", "fast"));
        rows.push(row(2.0, "x264", "unknown"));
        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"end_s": 1.0, "pixel_rate": 1.0, "bitrate_kbps": 2.0, "fps": 3.0, "encoder": "x264", "preset": "fast", "power_w": 1.0},
                {"end_s": 2.0, "pixel_rate": 1.0, "bitrate_kbps": 2.0, "fps": 3.0, "encoder": "x264", "preset": "unknown", "power_w": 2.0}
            ])
        );
        let back: Rows = serde_json::from_value(json).unwrap();
        assert_eq!(back, rows);
        assert_eq!(back.names, ["x264", "fast", "unknown"]);
    }

    #[test]
    fn training_rows_read_back_names_that_json_escapes() {
        let mut rows = Rows::default();
        rows.push(row(1.0, "x\"26\u{e9}4", "fast\\slow"));
        let text = serde_json::to_string(&rows).unwrap();
        assert!(text.contains(r#""x\"26é4""#), "{text}");
        let back: Rows = serde_json::from_str(&text).unwrap();
        assert_eq!(back, rows);
    }
}
