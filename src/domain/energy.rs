//! The energy a job drew: where its mean power came from ([`EnergyMethod`], [`Measured`]), the
//! idle baseline, the grid intensity over its run, and the rule for integrating sampled power (or
//! CPU use) over the run.
//!
//! The rule, used for power in watts and for CPU use in cores alike:
//! - n ≥ 2 samples taken every `step` seconds: the mean is the trapezoid integral divided by the
//!   span it covers, `∫ / ((n − 1)·step)`;
//! - 1 sample: that sample is the mean;
//! - no samples: unknown.
//!
//! The total over the run is `mean × run duration`. Using the measured run duration (not
//! `(n − 1)·step`) matters: the samples in real files often cover only part of the run, and
//! integrating them alone undercounts energy by the uncovered share.

use super::job::Job;
use super::pricing::RegionPricing;

/// Where a job's energy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EnergyMethod {
    /// `power_watts` samples in the results file.
    File,
    /// A Prometheus-compatible query API over the job's run window.
    Query,
    /// The local RAPL counters, sampled by the daemon.
    Rapl,
}

impl EnergyMethod {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EnergyMethod::File => "file",
            EnergyMethod::Query => "query",
            EnergyMethod::Rapl => "rapl",
        }
    }
}

/// A job's measured mean power and where it came from (`None`: no source covered it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Measured {
    pub(crate) method: EnergyMethod,
    pub(crate) mean_power_w: f64,
}

impl Measured {
    /// From the file's `power_watts` samples, if there are any.
    pub(crate) fn from_file(job: &Job) -> Option<Measured> {
        mean_level(&job.power_watts, job.step_s.unwrap_or(1.0))
            .map(|w| Measured { method: EnergyMethod::File, mean_power_w: w })
    }
}

/// Grid intensity in force over a job's run in one region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Intensity {
    pub(crate) g_per_kwh: f64,
    /// Time-weighted from hourly values (`true`) or the region's annual factor.
    pub(crate) hourly: bool,
}

impl Intensity {
    pub(crate) fn annual(r: &RegionPricing) -> Intensity {
        Intensity { g_per_kwh: r.intensity_g_per_kwh, hourly: false }
    }

    /// Label value of `intensity_source`.
    pub(crate) fn source(&self) -> &'static str {
        if self.hourly {
            "hourly"
        } else {
            "annual"
        }
    }
}

/// Idle power subtracted for net energy, and whether it was measured or configured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Baseline {
    pub(crate) watts: f64,
    /// Label value of `baseline`: "measured" or "configured".
    pub(crate) kind: &'static str,
}

/// Trapezoid integral of evenly spaced samples: `step · Σ (yᵢ + yᵢ₊₁)/2`. Zero for fewer than
/// two samples.
pub(crate) fn trapezoid(samples: &[f64], step: f64) -> f64 {
    samples.windows(2).map(|w| (w[0] + w[1]) / 2.0 * step).sum()
}

/// Mean level of evenly spaced samples by the rule above, `None` with no samples.
pub(crate) fn mean_level(samples: &[f64], step: f64) -> Option<f64> {
    match samples.len() {
        0 => None,
        1 => Some(samples[0]),
        n => Some(trapezoid(samples, step) / ((n - 1) as f64 * step)),
    }
}

/// `mean × duration`: joules from watts, core-seconds from cores.
pub(crate) fn over_run(samples: &[f64], step: f64, run_seconds: f64) -> Option<f64> {
    mean_level(samples, step).map(|m| m * run_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trapezoid_by_hand() {
        // (10+20)/2*5 + (20+40)/2*5 = 75 + 150
        assert_eq!(trapezoid(&[10.0, 20.0, 40.0], 5.0), 225.0);
        assert_eq!(trapezoid(&[10.0], 5.0), 0.0);
        assert_eq!(trapezoid(&[], 5.0), 0.0);
    }

    #[test]
    fn mean_level_by_hand() {
        // 225 J over 10 s
        assert_eq!(mean_level(&[10.0, 20.0, 40.0], 5.0), Some(22.5));
        // step cancels for even spacing
        assert_eq!(mean_level(&[10.0, 20.0, 40.0], 1.0), Some(22.5));
        assert_eq!(mean_level(&[42.0], 5.0), Some(42.0));
        assert_eq!(mean_level(&[], 5.0), None);
    }

    #[test]
    fn energy_uses_the_run_duration() {
        // 22.5 W mean over a 120 s run, although the samples span only 10 s
        assert_eq!(over_run(&[10.0, 20.0, 40.0], 5.0, 120.0), Some(2700.0));
        assert_eq!(over_run(&[42.0], 5.0, 2.0), Some(84.0));
        assert_eq!(over_run(&[], 5.0, 2.0), None);
    }

    #[test]
    fn synthetic_telemetry_scenario() {
        // "2 streams @ 2500k": 10 samples every 5 s, run 120.5 s
        let p = [45.2, 46.1, 45.8, 47.0, 46.5, 45.9, 46.3, 46.7, 45.5, 46.2];
        assert!((trapezoid(&p, 5.0) - 2077.5).abs() < 1e-9);
        let mean = 2077.5 / 45.0;
        assert!((mean_level(&p, 5.0).unwrap() - mean).abs() < 1e-12);
        assert!((over_run(&p, 5.0, 120.5).unwrap() - mean * 120.5).abs() < 1e-9);
    }
}
