//! The math: energy, money, carbon and quality of one job. Pure: plain data in, plain data out,
//! no I/O, no clock, no logging.
//!
//! - Energy (J) = mean power × run time. The mean power is measured by the caller (the file's
//!   samples through `domain::energy::mean_level`, a query API, or the RAPL counters) and handed
//!   in as `Measured`; unknown when no source covered the job.
//! - Net energy = energy − idle baseline power × run time (never below zero), when a baseline
//!   is known.
//! - Energy cost = kWh × the region's electricity price.
//! - Compute cost = core-seconds × price per core-second, where core-seconds integrate the CPU
//!   samples by the same rule as power; without CPU samples, run time × the configured cores
//!   (`compute_basis` says which).
//! - CO2 (g) = kWh × the grid intensity (g/kWh) in force over the run: the time-weighted hourly
//!   intensity when the caller has it (`Intensity`), else the region's annual factor.
//! - Embodied CO2 (g) = the host's embodied emissions × run time / its lifespan, kept apart
//!   from the operational CO2.
//! - What-if: the same energy and core-seconds priced in every configured region.
//!
//! Values stay in the region's currency here; conversion happens once, at the end, through
//! `domain::Rates`. Nothing is rounded.

use std::collections::BTreeMap;

use super::history::Estimate;
use super::workload;
use crate::domain::energy;
use crate::domain::{
    Baseline, Currency, Embodied, EnergyMethod, Intensity, Job, Measured, RegionPricing, JOULES_PER_KWH,
};

/// What every job of a cycle is computed with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inputs<'a> {
    /// The host's region.
    pub(crate) here: &'a RegionPricing,
    /// Every configured region, for the what-if.
    pub(crate) regions: &'a BTreeMap<String, RegionPricing>,
    /// Cores billed per second when a job has no CPU samples.
    pub(crate) cores_without_samples: f64,
    pub(crate) embodied: Option<Embodied>,
    pub(crate) baseline: Option<Baseline>,
}

/// How compute cost was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ComputeBasis {
    /// Integrated `cpu_usage_cores` samples.
    CpuSamples,
    /// Run time × configured cores (the file had no CPU samples).
    WallTime,
}

impl ComputeBasis {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ComputeBasis::CpuSamples => "cpu_samples",
            ComputeBasis::WallTime => "wall_time",
        }
    }
}

/// Costs in one currency. `energy` and `total` are unknown when the energy is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cost {
    pub(crate) energy: Option<f64>,
    pub(crate) compute: f64,
    pub(crate) total: Option<f64>,
}

impl Cost {
    /// The same costs multiplied by `factor` (a currency conversion).
    pub(crate) fn scaled(self, factor: f64) -> Cost {
        Cost {
            energy: self.energy.map(|e| e * factor),
            compute: self.compute * factor,
            total: self.total.map(|t| t * factor),
        }
    }
}

/// One job's costs and emissions had it run in another region.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WhatIf {
    pub(crate) region: String,
    pub(crate) currency: Currency,
    pub(crate) cost: Cost,
    pub(crate) co2_g: Option<f64>,
    pub(crate) intensity: Intensity,
}

/// Everything computed for one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobReport {
    pub(crate) streams: u32,
    pub(crate) run_s: f64,
    /// Where the energy came from; `None` when it is unknown.
    pub(crate) method: Option<EnergyMethod>,
    pub(crate) mean_power_w: Option<f64>,
    pub(crate) energy_j: Option<f64>,
    /// Energy above the idle baseline, and the baseline's kind.
    pub(crate) net_energy_j: Option<(f64, &'static str)>,
    pub(crate) core_s: f64,
    pub(crate) compute_basis: ComputeBasis,
    /// In the job region's currency.
    pub(crate) cost: Cost,
    pub(crate) currency: Currency,
    pub(crate) co2_g: Option<f64>,
    /// The intensity behind `co2_g`.
    pub(crate) intensity: Intensity,
    /// The host's embodied emissions attributed to the run, when configured.
    pub(crate) embodied_co2_g: Option<f64>,
    pub(crate) pixels: Option<f64>,
    pub(crate) frames: Option<f64>,
    pub(crate) vmaf: Option<f64>,
    pub(crate) psnr_db: Option<f64>,
    pub(crate) ssim: Option<f64>,
    /// VMAF points per watt of mean power.
    pub(crate) vmaf_per_watt: Option<f64>,
    pub(crate) joules_per_frame: Option<f64>,
    pub(crate) drop_ratio: Option<f64>,
    /// VMAF-weighted pixels per joule: `vmaf/100 × pixels / energy`.
    pub(crate) quality_pixels_per_joule: Option<f64>,
    /// Total cost per pixel, in the region's currency.
    pub(crate) cost_per_pixel: Option<f64>,
    /// One entry per configured region, the job's own included.
    pub(crate) whatif: Vec<WhatIf>,
    /// The power model's estimate of the energy, for a job no source measured (`None` for a
    /// measured job, or when no model could estimate it). Never mixed into `energy_j`.
    pub(crate) estimated: Option<Estimate>,
}

/// Energy and compute priced in one region.
pub(crate) fn cost_in(energy_j: Option<f64>, core_s: f64, p: &RegionPricing) -> Cost {
    let energy = energy_j.map(|j| j / JOULES_PER_KWH * p.electricity_per_kwh);
    let compute = core_s / 3600.0 * p.compute_per_core_hour;
    Cost { energy, compute, total: energy.map(|e| e + compute) }
}

/// Grams CO2e of `energy_j` drawn from a grid of `g_per_kwh`.
pub(crate) fn co2_grams(energy_j: f64, g_per_kwh: f64) -> f64 {
    energy_j / JOULES_PER_KWH * g_per_kwh
}

fn positive(x: Option<f64>) -> Option<f64> {
    x.filter(|v| *v > 0.0)
}

/// Computes one job's report. `measured` is its mean power from the first source that covered
/// it; `intensity` gives the grid intensity over its run in a region.
pub(crate) fn report(
    job: &Job,
    measured: Option<Measured>,
    intensity: &dyn Fn(&RegionPricing) -> Intensity,
    inputs: &Inputs<'_>,
) -> JobReport {
    let here = inputs.here;
    let step = job.step_s.unwrap_or(1.0);
    // Inputs are bounded when read; a result that still is not finite is unknown, not pushed.
    let measured = measured.filter(|m| m.mean_power_w.is_finite() && m.mean_power_w >= 0.0);
    let mean_power_w = measured.map(|m| m.mean_power_w);
    let energy_j = mean_power_w.map(|w| w * job.run_s).filter(|e| e.is_finite());
    let method = energy_j.and(measured.map(|m| m.method));
    let (core_s, compute_basis) =
        match energy::over_run(&job.cpu_cores, step, job.run_s).filter(|c| c.is_finite()) {
            Some(c) => (c, ComputeBasis::CpuSamples),
            None => (job.run_s * inputs.cores_without_samples, ComputeBasis::WallTime),
        };
    let cost = cost_in(energy_j, core_s, here);
    let here_intensity = intensity(here);
    let co2_g = energy_j.map(|j| co2_grams(j, here_intensity.g_per_kwh));
    let streams = workload::streams_from_name(&job.scenario);
    let pixels = workload::pixels(job, streams);
    let frames = workload::frames(job, streams);
    let whatif = inputs
        .regions
        .values()
        .map(|r| {
            let i = if r.name == here.name { here_intensity } else { intensity(r) };
            WhatIf {
                region: r.name.clone(),
                currency: r.currency,
                cost: cost_in(energy_j, core_s, r),
                co2_g: energy_j.map(|j| co2_grams(j, i.g_per_kwh)),
                intensity: i,
            }
        })
        .collect();
    let net_energy_j = energy_j
        .zip(inputs.baseline)
        .map(|(e, b)| ((e - b.watts * job.run_s).max(0.0), b.kind))
        .filter(|(n, _)| n.is_finite());
    let embodied_co2_g =
        inputs.embodied.map(|e| e.grams * job.run_s / e.lifespan_seconds).filter(|g| g.is_finite());
    JobReport {
        streams,
        run_s: job.run_s,
        method,
        mean_power_w: energy_j.and(mean_power_w),
        energy_j,
        net_energy_j,
        core_s,
        compute_basis,
        cost,
        currency: here.currency,
        co2_g,
        intensity: here_intensity,
        embodied_co2_g,
        pixels,
        frames,
        vmaf: job.vmaf,
        psnr_db: job.psnr_db,
        ssim: job.ssim,
        vmaf_per_watt: job.vmaf.zip(positive(mean_power_w)).map(|(v, w)| v / w),
        joules_per_frame: energy_j.zip(positive(frames)).map(|(e, f)| e / f),
        drop_ratio: job.dropped_frames.zip(positive(job.total_frames)).map(|(d, t)| d / t),
        quality_pixels_per_joule: job
            .vmaf
            .zip(pixels)
            .zip(positive(energy_j))
            .map(|((v, p), e)| v / 100.0 * p / e),
        cost_per_pixel: cost.total.zip(positive(pixels)).map(|(c, p)| c / p),
        whatif,
        estimated: None,
    }
}

/// `report` with the file's samples, annual intensities, no baseline and no embodied share.
pub fn report_from_file(
    job: &Job,
    here: &RegionPricing,
    regions: &BTreeMap<String, RegionPricing>,
    cores_without_samples: f64,
) -> JobReport {
    let inputs = Inputs { here, regions, cores_without_samples, embodied: None, baseline: None };
    report(job, Measured::from_file(job), &Intensity::annual, &inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::results::parse;

    fn region(name: &str, cur: &str, kwh: f64, core_h: f64, g: f64) -> RegionPricing {
        RegionPricing {
            name: name.into(),
            location: String::new(),
            currency: Currency::parse(cur).unwrap(),
            electricity_per_kwh: kwh,
            compute_per_core_hour: core_h,
            intensity_g_per_kwh: g,
            intensity_source: "test".into(),
            intensity_year: 2023,
            intensity_zone: None,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        ((a - b) / b).abs() < 1e-12
    }

    fn job(extra: &str) -> Job {
        let json = format!(
            r#"{{"scenarios": [{{"name": "2 streams @ 2500k", "duration": 120, "start_time": 1700000000,
            "end_time": 1700000120, "resolution": "1280x720", "avg_fps": 30 {extra}}}]}}"#
        );
        parse(json.as_bytes()).unwrap().jobs.remove(0)
    }

    #[test]
    fn cost_and_co2_by_hand() {
        // 3.6 MJ = 1 kWh at 0.20/kWh; 7200 core-s = 2 core-h at 0.05
        let r = region("r", "EUR", 0.20, 0.05, 300.0);
        let c = cost_in(Some(3.6e6), 7200.0, &r);
        assert!(close(c.energy.unwrap(), 0.20));
        assert!(close(c.compute, 0.10));
        assert!(close(c.total.unwrap(), 0.30));
        assert_eq!(cost_in(None, 7200.0, &r).total, None);
        assert!(close(co2_grams(3.6e6, 300.0), 300.0));
        assert!(close(co2_grams(1800.0, 40.7), 0.020_35));
    }

    #[test]
    fn full_report_by_hand() {
        // power: mean = ((100+200)/2*5 + (200+300)/2*5) / 10 = 200 W; 120 s -> 24000 J
        // cpu: mean = ((1+3)/2*5 + (3+2)/2*5) / 10 = 2.25 cores; 120 s -> 270 core-s
        let j = job(r#", "power_watts": [100, 200, 300], "cpu_usage_cores": [1, 3, 2], "step_seconds": 5,
            "vmaf_score": 90, "total_frames": 7200, "dropped_frames": 72"#);
        let here = region("eu-west-1", "EUR", 0.25, 0.04, 290.0);
        let other = region("eu-north-1", "SEK", 1.0, 0.4, 40.0);
        let all = BTreeMap::from([(here.name.clone(), here.clone()), (other.name.clone(), other.clone())]);
        let r = report_from_file(&j, &here, &all, 1.0);
        assert_eq!(r.streams, 2);
        assert!(close(r.mean_power_w.unwrap(), 200.0));
        assert!(close(r.energy_j.unwrap(), 24_000.0));
        assert!(close(r.core_s, 270.0));
        assert_eq!(r.compute_basis, ComputeBasis::CpuSamples);
        // 24000 J = 1/150 kWh -> 0.25/150 EUR; 270 core-s = 0.075 core-h -> 0.003 EUR
        assert!(close(r.cost.energy.unwrap(), 0.25 / 150.0));
        assert!(close(r.cost.compute, 0.003));
        assert!(close(r.cost.total.unwrap(), 0.25 / 150.0 + 0.003));
        assert!(close(r.co2_g.unwrap(), 290.0 / 150.0));
        assert!(close(r.vmaf_per_watt.unwrap(), 0.45));
        assert!(close(r.joules_per_frame.unwrap(), 24_000.0 / 7200.0));
        assert!(close(r.drop_ratio.unwrap(), 0.01));
        // 1280*720*30*120*2 streams
        let px = 6_635_520_000.0;
        assert!(close(r.pixels.unwrap(), px));
        assert!(close(r.quality_pixels_per_joule.unwrap(), 0.9 * px / 24_000.0));
        assert!(close(r.cost_per_pixel.unwrap(), (0.25 / 150.0 + 0.003) / px));
        assert_eq!(r.whatif.len(), 2);
        let se = r.whatif.iter().find(|w| w.region == "eu-north-1").unwrap();
        assert_eq!(se.currency.as_str(), "SEK");
        assert!(close(se.cost.total.unwrap(), 1.0 / 150.0 + 0.03));
        assert!(close(se.co2_g.unwrap(), 40.0 / 150.0));
        let ie = r.whatif.iter().find(|w| w.region == "eu-west-1").unwrap();
        assert_eq!(ie.cost, r.cost);
    }

    #[test]
    fn no_power_means_no_energy_cost_or_co2() {
        let j = job("");
        let here = region("h", "USD", 0.1, 0.036, 400.0);
        let all = BTreeMap::from([(here.name.clone(), here.clone())]);
        let r = report_from_file(&j, &here, &all, 2.0);
        assert_eq!(r.energy_j, None);
        assert_eq!(r.cost.energy, None);
        assert_eq!(r.cost.total, None);
        assert_eq!(r.co2_g, None);
        assert_eq!(r.joules_per_frame, None);
        assert_eq!(r.cost_per_pixel, None);
        // wall time: 120 s * 2 cores = 240 core-s = 1/15 core-h at 0.036
        assert_eq!(r.compute_basis, ComputeBasis::WallTime);
        assert!(close(r.core_s, 240.0));
        assert!(close(r.cost.compute, 0.0024));
        assert_eq!(r.whatif[0].co2_g, None);
    }

    #[test]
    fn measured_power_hourly_intensity_baseline_and_embodied_by_hand() {
        // 150 W from a query over a 120 s run: 18 000 J = 1/200 kWh.
        let j = job("");
        let here = region("h", "EUR", 0.2, 0.0, 300.0);
        let other = region("o", "EUR", 0.2, 0.0, 50.0);
        let all = BTreeMap::from([(here.name.clone(), here.clone()), (other.name.clone(), other.clone())]);
        let inputs = Inputs {
            here: &here,
            regions: &all,
            cores_without_samples: 1.0,
            // 1000 kg over one (Julian) year: 120 s of it is 1e6 g * 120 / 31 557 600 s
            embodied: Some(Embodied { grams: 1e6, lifespan_seconds: 31_557_600.0 }),
            baseline: Some(Baseline { watts: 40.0, kind: "measured" }),
        };
        let measured = Measured { method: EnergyMethod::Query, mean_power_w: 150.0 };
        // Hourly intensity for "h" only; "o" keeps its annual factor.
        let hourly = |r: &RegionPricing| {
            if r.name == "h" {
                Intensity { g_per_kwh: 200.0, hourly: true }
            } else {
                Intensity::annual(r)
            }
        };
        let r = report(&j, Some(measured), &hourly, &inputs);
        assert_eq!(r.method, Some(EnergyMethod::Query));
        assert!(close(r.energy_j.unwrap(), 18_000.0));
        // (150 - 40) W * 120 s
        assert_eq!(r.net_energy_j, Some((13_200.0, "measured")));
        assert!(close(r.co2_g.unwrap(), 1.0));
        assert_eq!(r.intensity.source(), "hourly");
        assert!(close(r.embodied_co2_g.unwrap(), 1e6 * 120.0 / 31_557_600.0));
        let o = r.whatif.iter().find(|w| w.region == "o").unwrap();
        assert!(close(o.co2_g.unwrap(), 0.25));
        assert_eq!(o.intensity.source(), "annual");

        // Below the baseline: net energy is zero, not negative.
        let low = Measured { method: EnergyMethod::Rapl, mean_power_w: 30.0 };
        assert_eq!(report(&j, Some(low), &hourly, &inputs).net_energy_j, Some((0.0, "measured")));
        // Unknown energy: no method, no net energy, still the embodied share.
        let none = report(&j, None, &hourly, &inputs);
        assert_eq!((none.method, none.net_energy_j, none.co2_g), (None, None, None));
        assert!(none.embodied_co2_g.is_some());
    }

    #[test]
    fn one_power_sample_times_duration() {
        let j = job(r#", "power_watts": [50]"#);
        let here = region("h", "USD", 0.1, 0.0, 400.0);
        let all = BTreeMap::from([(here.name.clone(), here.clone())]);
        let r = report_from_file(&j, &here, &all, 1.0);
        assert_eq!(r.energy_j, Some(6000.0));
    }
}
