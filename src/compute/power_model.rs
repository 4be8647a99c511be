//! The power model: least squares of job power on job features (pixel rate, bitrate, frame rate,
//! encoder, preset) over the history's jobs, with confidence and prediction bands for a job or a
//! hypothetical encode. Pure.

use crate::compute::history::{FeatureSums, Features, TrainingRow};
use crate::config::Encode;
use crate::stats::regress::{Design, Ols, Prediction, Unseen, HIGH_CONDITION};

/// The power model and what describes it.
pub(crate) struct PowerModel {
    design: Design,
    pub(crate) ols: Ols,
    /// The variance of the effect of an encoder or preset the model has not seen, where the
    /// training jobs had one level of it (no spread to measure): the variance of the fitted
    /// powers over the training jobs (an unseen level may shift power as much as jobs differ).
    unseen_floor_var: f64,
    /// The encoder and preset seen most often (for what-if encodes that name none).
    pub(crate) common_encoder: String,
    pub(crate) common_preset: String,
    /// Share of the training jobs inside their leave-one-out 95 % prediction interval, worked
    /// out at the fit (the fit then keeps only what predictions need), if it was asked for.
    pub(crate) loo_coverage_95: Option<f64>,
    /// Whether the fit worked out `loo_coverage_95` (see [`Coverage`]).
    pub(crate) coverage: Coverage,
}

/// Whether a fit works out its leave-one-out coverage: it costs as much as the fit again, and a
/// model that the next chunk's fit replaces before anything reports it has no use for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coverage {
    Check,
    Skip,
}

/// The energy of one or many unmeasured jobs as the model estimates it, in joules, and its
/// uncertainty in two parts: the variance from the model's error in its mean (shared by every job
/// the model estimates) and the variance of the jobs' own scatter about it (independent from job
/// to job).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EnergyEstimate {
    pub(crate) energy_j: f64,
    pub(crate) mean_var_j2: f64,
    pub(crate) scatter_var_j2: f64,
}

/// Why there is no power model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoModel {
    /// Fewer training jobs than configured (label value "too_few_jobs").
    TooFewJobs { have: usize, need: usize },
    /// The least-squares fit failed (label value "fit_failed").
    FitFailed(String),
}

const HEAD: [&str; 6] = ["pixel_rate", "bitrate_kbps", "fps", "encoder", "preset", "power_watts"];

fn most_common<'a>(v: impl Iterator<Item = &'a str>) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for s in v {
        *counts.entry(s).or_default() += 1;
    }
    counts.into_iter().max_by_key(|(_, c)| *c).map(|(s, _)| s.to_string()).unwrap_or_default()
}

/// Fits mean power on pixel rate, bitrate, fps, encoder and preset (one-hot), with an intercept.
/// `rows` is gone through once per column, not collected (thousands of rows).
pub(crate) fn power_model<'r>(
    rows: impl ExactSizeIterator<Item = TrainingRow<'r>> + Clone,
    min_jobs: usize,
    coverage: Coverage,
) -> Result<PowerModel, NoModel> {
    if rows.len() < min_jobs {
        return Err(NoModel::TooFewJobs { have: rows.len(), need: min_jobs });
    }
    let col = |f: fn(&TrainingRow) -> f64| rows.clone().map(|r| f(&r)).collect::<Vec<f64>>();
    let numeric = vec![
        (HEAD[0].to_string(), col(|r| r.pixel_rate)),
        (HEAD[1].to_string(), col(|r| r.bitrate_kbps)),
        (HEAD[2].to_string(), col(|r| r.fps)),
    ];
    // Levels are prefixed so that they read as text even if every value looks like a number;
    // each distinct value once (a model is fitted on thousands of rows, a few dozen values).
    use std::collections::BTreeMap;
    fn prefixed<'r>(prefix: &str, values: impl Iterator<Item = &'r str>) -> BTreeMap<&'r str, String> {
        let mut m = BTreeMap::new();
        for v in values {
            m.entry(v).or_insert_with(|| format!("{prefix}{v}"));
        }
        m
    }
    let encs = prefixed("enc:", rows.clone().map(|r| r.encoder));
    let presets = prefixed("preset:", rows.clone().map(|r| r.preset));
    let text: Vec<(String, Vec<&str>)> = vec![
        (HEAD[3].to_string(), rows.clone().map(|r| encs[r.encoder].as_str()).collect()),
        (HEAD[4].to_string(), rows.clone().map(|r| presets[r.preset].as_str()).collect()),
    ];
    let power = col(|r| r.power_w);
    let mut design = Design::from_columns(numeric, text, power.clone()).map_err(NoModel::FitFailed)?;
    let mut ols = design.fit().map_err(|e| NoModel::FitFailed(e.to_string()))?;
    let fitted: Vec<f64> = power.iter().zip(&ols.residuals).map(|(y, e)| y - e).collect();
    let mean = fitted.iter().sum::<f64>() / fitted.len() as f64;
    let unseen_floor_var = fitted.iter().map(|f| (f - mean) * (f - mean)).sum::<f64>() / fitted.len() as f64;
    let loo_coverage_95 = if coverage == Coverage::Check { ols.loo_coverage(0.95) } else { None };
    ols.keep_for_prediction();
    Ok(PowerModel {
        design,
        ols,
        unseen_floor_var,
        common_encoder: most_common(rows.clone().map(|r| r.encoder)),
        common_preset: most_common(rows.map(|r| r.preset)),
        loo_coverage_95,
        coverage,
    })
}

impl PowerModel {
    pub(crate) fn ill_conditioned(&self) -> bool {
        self.ols.condition_number > HIGH_CONDITION
    }

    pub(crate) fn rank_deficient(&self) -> bool {
        !self.ols.dependent.is_empty()
    }

    /// Mean power and its 95 % bands for given features; `None` for an encoder or preset the
    /// model has not seen.
    pub(crate) fn predict(&self, f: &Features) -> Option<Prediction> {
        let (enc, preset) = (format!("enc:{}", f.encoder), format!("preset:{}", f.preset));
        let x = self.design.row_of(&[f.pixel_rate, f.bitrate_kbps, f.fps], &[&enc, &preset]).ok()?;
        Some(self.ols.predict(&x, 0.95))
    }

    /// The energy of jobs no source measured, from their features summed with each job's weight
    /// (its run seconds, or its share of them in a bucket): the model's mean power for each,
    /// times its weight, added up. An encoder or preset the model has not seen is taken as the
    /// training jobs' mix of those it has, and the spread between their effects goes into the
    /// mean's uncertainty: an unseen level may be any of them (with one level seen, the spread is
    /// unknown and `unseen_floor_var` stands in). `None` when the sum is negative (a linear model far from its data) or not
    /// finite: no estimate, rather than a made-up zero.
    pub(crate) fn estimate_energy(&self, f: &FeatureSums) -> Option<EnergyEstimate> {
        let prefixed = |prefix: &str, v: &[(String, f64)]| -> Vec<(String, f64)> {
            v.iter().map(|(n, w)| (format!("{prefix}{n}"), *w)).collect()
        };
        let (enc, preset) = (prefixed("enc:", &f.encoders), prefixed("preset:", &f.presets));
        let (z, unseen) = self.design.weighted_row(
            f.run_s,
            &[f.pixel_rate, f.bitrate_kbps, f.fps],
            &[&enc[..], &preset[..]],
        );
        let energy_j: f64 = z.iter().zip(&self.ols.coef).map(|(a, b)| a * b).sum();
        let mut mean_var = self.ols.sigma2 * self.ols.leverage_of(&z);
        for Unseen { columns, shares, weight, .. } in unseen {
            // Effects relative to the first level (whose effect is 0), and their weighted mean.
            let effects: Vec<f64> = std::iter::once(0.0).chain(columns.map(|j| self.ols.coef[j])).collect();
            let mix: f64 = effects.iter().zip(shares).map(|(e, s)| e * s).sum();
            let spread: f64 = effects.iter().zip(shares).map(|(e, s)| s * (e - mix) * (e - mix)).sum();
            // One level seen: no spread to measure, so the floor stands in.
            let spread = if shares.len() > 1 { spread } else { self.unseen_floor_var };
            mean_var += weight * weight * spread;
        }
        let est =
            EnergyEstimate { energy_j, mean_var_j2: mean_var, scatter_var_j2: self.ols.sigma2 * f.weight_sq };
        let finite = [est.energy_j, est.mean_var_j2, est.scatter_var_j2].iter().all(|v| v.is_finite());
        (finite && energy_j >= 0.0).then_some(est)
    }

    /// A what-if encode's prediction (its encoder and preset default to the common ones).
    pub(crate) fn predict_encode(&self, e: &Encode) -> Option<Prediction> {
        self.predict(&Features {
            pixel_rate: f64::from(e.width) * f64::from(e.height) * e.fps * f64::from(e.streams),
            bitrate_kbps: e.bitrate_kbps,
            fps: e.fps,
            encoder: e.encoder.clone().unwrap_or_else(|| self.common_encoder.clone()),
            preset: e.preset.clone().unwrap_or_else(|| self.common_preset.clone()),
        })
    }
}

/// The prediction's bounds with their label values.
pub(crate) fn prediction_bounds(p: &Prediction) -> [(&'static str, f64); 5] {
    [
        ("mean", p.mean),
        ("ci_lower_95", p.mean_ci_lower),
        ("ci_upper_95", p.mean_ci_upper),
        ("pi_lower_95", p.obs_ci_lower),
        ("pi_upper_95", p.obs_ci_upper),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Vec<TrainingRow<'static>> {
        (0..n)
            .map(|i| {
                let rate = [27_648_000.0, 62_208_000.0, 124_416_000.0, 248_832_000.0][i % 4];
                let enc = ["x264", "x265"][i % 2];
                TrainingRow {
                    end_s: i as f64,
                    pixel_rate: rate,
                    bitrate_kbps: [2000.0, 4000.0, 6000.0][i % 3],
                    fps: [30.0, 60.0][(i / 3) % 2],
                    encoder: enc,
                    preset: "fast",
                    power_w: 20.0
                        + rate * 2e-7
                        + if enc == "x265" { 5.0 } else { 0.0 }
                        + ((i * 37) % 7) as f64 * 0.1,
                }
            })
            .collect()
    }

    fn feat(pixel_rate: f64, bitrate_kbps: f64, fps: f64, encoder: &str, preset: &str) -> Features {
        Features { pixel_rate, bitrate_kbps, fps, encoder: encoder.into(), preset: preset.into() }
    }

    /// The sums of one job of `run_s` seconds with these features.
    fn one_job(run_s: f64, f: &Features) -> FeatureSums {
        FeatureSums {
            jobs: 1.0,
            run_s,
            weight_sq: run_s * run_s,
            pixel_rate: run_s * f.pixel_rate,
            bitrate_kbps: run_s * f.bitrate_kbps,
            fps: run_s * f.fps,
            encoders: vec![(f.encoder.clone(), run_s)],
            presets: vec![(f.preset.clone(), run_s)],
            ..FeatureSums::default()
        }
    }

    #[test]
    fn power_model_predicts_with_bands_and_reports_its_limits() {
        assert_eq!(
            power_model(rows(5).into_iter(), 20, Coverage::Check).err(),
            Some(NoModel::TooFewJobs { have: 5, need: 20 })
        );
        let m = power_model(rows(40).into_iter(), 20, Coverage::Check).unwrap();
        // every job had preset "fast": its column is constant, no indicator; fine
        assert!(m.ols.r2 > 0.99, "{}", m.ols.r2);
        let p = m.predict(&feat(62_208_000.0, 4000.0, 30.0, "x265", "fast")).unwrap();
        assert!((p.mean - (20.0 + 62_208_000.0 * 2e-7 + 5.0 + 0.3)).abs() < 0.5, "{p:?}");
        assert!(p.obs_ci_lower < p.mean_ci_lower && p.mean_ci_upper < p.obs_ci_upper);
        assert!(m.predict(&feat(1.0, 1.0, 30.0, "never-seen", "fast")).is_none());
        let e = crate::config::default_encodes();
        assert!(m.predict_encode(&e[1]).is_some(), "common encoder and preset fill in");
        assert_eq!(m.common_preset, "fast");
    }

    #[test]
    fn a_job_is_estimated_as_its_prediction_times_its_run_time_with_both_uncertainties() {
        let m = power_model(rows(40).into_iter(), 20, Coverage::Check).unwrap();
        let f = feat(62_208_000.0, 4000.0, 30.0, "x265", "fast");
        let p = m.predict(&f).unwrap();
        let e = m.estimate_energy(&one_job(100.0, &f)).unwrap();
        assert!((e.energy_j - 100.0 * p.mean).abs() < 1e-9 * e.energy_j);
        assert!((e.mean_var_j2 - (100.0 * p.mean_se).powi(2)).abs() < 1e-9 * e.mean_var_j2);
        assert!((e.scatter_var_j2 - 100.0 * 100.0 * m.ols.sigma2).abs() < 1e-9 * e.scatter_var_j2);
        // Two such jobs summed: twice the energy, the mean's error twice (it is shared), the
        // scatter's variance twice (it is not).
        let mut two = one_job(100.0, &f);
        two.jobs = 2.0;
        two.run_s = 200.0;
        two.weight_sq = 2.0 * 100.0 * 100.0;
        (two.pixel_rate, two.bitrate_kbps, two.fps) =
            (200.0 * f.pixel_rate, 200.0 * f.bitrate_kbps, 200.0 * f.fps);
        (two.encoders, two.presets) = (vec![("x265".into(), 200.0)], vec![("fast".into(), 200.0)]);
        let e2 = m.estimate_energy(&two).unwrap();
        assert!((e2.energy_j - 2.0 * e.energy_j).abs() < 1e-9 * e2.energy_j);
        assert!((e2.mean_var_j2.sqrt() - 2.0 * e.mean_var_j2.sqrt()).abs() < 1e-9 * e2.mean_var_j2.sqrt());
        assert!((e2.scatter_var_j2 - 2.0 * e.scatter_var_j2).abs() < 1e-9 * e2.scatter_var_j2);
        // A negative sum (features far from the data) is no estimate, not a made-up zero.
        assert!(m.estimate_energy(&one_job(100.0, &feat(-1e12, 0.0, 0.0, "x264", "fast"))).is_none());
    }

    #[test]
    fn an_unseen_encoder_is_estimated_as_the_mix_with_the_spread_in_its_uncertainty() {
        let m = power_model(rows(40).into_iter(), 20, Coverage::Check).unwrap();
        let est = |enc: &str, preset: &str| {
            m.estimate_energy(&one_job(1.0, &feat(62_208_000.0, 4000.0, 30.0, enc, preset))).unwrap()
        };
        let (a, b) = (est("x264", "fast"), est("x265", "fast"));
        // Half the rows are x264, half x265 (about 5 W apart): an unseen encoder is halfway, and
        // its uncertainty holds the spread of the two effects about their mix (about 2.5 W).
        let u = est("av1", "fast");
        assert!((u.energy_j - (a.energy_j + b.energy_j) / 2.0).abs() < 1e-6, "{u:?} {a:?} {b:?}");
        let spread = ((b.energy_j - a.energy_j) / 2.0).powi(2);
        let seen = a.mean_var_j2.min(b.mean_var_j2);
        assert!((u.mean_var_j2 - (seen + spread)).abs() < 0.5 * spread, "{u:?}");
        // An unseen preset where every training job had one preset: no spread to measure, so
        // the floor (the variance of the fitted powers) stands in.
        let both = est("av1", "veryslow");
        assert!((both.energy_j - u.energy_j).abs() < 1e-9);
        assert!((both.mean_var_j2 - u.mean_var_j2 - m.unseen_floor_var).abs() < 1e-6 * both.mean_var_j2);
        assert!(m.unseen_floor_var > spread, "jobs differ more than the two encoders do");
        assert!(u.mean_var_j2 < m.unseen_floor_var, "two encoders seen: their spread, not the floor");
    }
}
