//! The power model: least squares of job power on job features (pixel rate, bitrate, frame rate,
//! encoder, preset) over the history's jobs, with confidence and prediction bands for a job or a
//! hypothetical encode. Pure.

use crate::compute::history::TrainingRow;
use crate::config::Encode;
use crate::stats::regress::{Design, Ols, Prediction, Unseen, HIGH_CONDITION};

/// The power model and what describes it.
pub(crate) struct PowerModel {
    design: Design,
    pub(crate) ols: Ols,
    /// The encoder and preset seen most often (for what-if encodes that name none).
    pub(crate) common_encoder: String,
    pub(crate) common_preset: String,
}

/// A job's mean power as the model estimates it: the mean, the standard error of the mean, and
/// that of one job about it (watts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PowerEstimate {
    pub(crate) mean_w: f64,
    pub(crate) mean_se_w: f64,
    pub(crate) obs_se_w: f64,
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
pub(crate) fn power_model(rows: &[TrainingRow<'_>], min_jobs: usize) -> Result<PowerModel, NoModel> {
    if rows.len() < min_jobs {
        return Err(NoModel::TooFewJobs { have: rows.len(), need: min_jobs });
    }
    let col = |f: fn(&TrainingRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
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
    let encs = prefixed("enc:", rows.iter().map(|r| r.encoder));
    let presets = prefixed("preset:", rows.iter().map(|r| r.preset));
    let text: Vec<(String, Vec<&str>)> = vec![
        (HEAD[3].to_string(), rows.iter().map(|r| encs[r.encoder].as_str()).collect()),
        (HEAD[4].to_string(), rows.iter().map(|r| presets[r.preset].as_str()).collect()),
    ];
    let mut design = Design::from_columns(numeric, text, col(|r| r.power_w)).map_err(NoModel::FitFailed)?;
    let ols = design.fit().map_err(|e| NoModel::FitFailed(e.to_string()))?;
    design.forget_data();
    Ok(PowerModel {
        design,
        ols,
        common_encoder: most_common(rows.iter().map(|r| r.encoder)),
        common_preset: most_common(rows.iter().map(|r| r.preset)),
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
    pub(crate) fn predict(
        &self,
        pixel_rate: f64,
        bitrate_kbps: f64,
        fps: f64,
        encoder: &str,
        preset: &str,
    ) -> Option<Prediction> {
        let (enc, preset) = (format!("enc:{encoder}"), format!("preset:{preset}"));
        let x = self.design.row_of(&[pixel_rate, bitrate_kbps, fps], &[&enc, &preset]).ok()?;
        Some(self.ols.predict(&x, 0.95))
    }

    /// Mean power and its standard errors for a job no source measured, for estimating its
    /// energy. As [`PowerModel::predict`], but an encoder or preset the model has not seen is
    /// taken as the training jobs' mix of those it has, and the spread between their effects
    /// (their variance about the mix) is added to the mean's uncertainty: an unseen level may
    /// be any of them. `None` only when the features are not finite.
    pub(crate) fn estimate_power(
        &self,
        pixel_rate: f64,
        bitrate_kbps: f64,
        fps: f64,
        encoder: &str,
        preset: &str,
    ) -> Option<PowerEstimate> {
        let (enc, preset) = (format!("enc:{encoder}"), format!("preset:{preset}"));
        let (x, unseen) =
            self.design.row_of_mixing_unseen(&[pixel_rate, bitrate_kbps, fps], &[&enc, &preset]);
        let p = self.ols.predict(&x, 0.95);
        let mut spread = 0.0;
        for Unseen { columns, shares } in unseen {
            // Effects relative to the first level (whose effect is 0), and their weighted mean.
            let effects: Vec<f64> = std::iter::once(0.0).chain(columns.map(|j| self.ols.coef[j])).collect();
            let mix: f64 = effects.iter().zip(shares).map(|(e, s)| e * s).sum();
            spread += effects.iter().zip(shares).map(|(e, s)| s * (e - mix) * (e - mix)).sum::<f64>();
        }
        let est = PowerEstimate {
            mean_w: p.mean,
            mean_se_w: (p.mean_se * p.mean_se + spread).sqrt(),
            obs_se_w: (p.obs_se * p.obs_se + spread).sqrt(),
        };
        [est.mean_w, est.mean_se_w, est.obs_se_w].iter().all(|v| v.is_finite()).then_some(est)
    }

    /// A what-if encode's prediction (its encoder and preset default to the common ones).
    pub(crate) fn predict_encode(&self, e: &Encode) -> Option<Prediction> {
        let rate = f64::from(e.width) * f64::from(e.height) * e.fps * f64::from(e.streams);
        self.predict(
            rate,
            e.bitrate_kbps,
            e.fps,
            e.encoder.as_deref().unwrap_or(&self.common_encoder),
            e.preset.as_deref().unwrap_or(&self.common_preset),
        )
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

    #[test]
    fn power_model_predicts_with_bands_and_reports_its_limits() {
        assert_eq!(power_model(&rows(5), 20).err(), Some(NoModel::TooFewJobs { have: 5, need: 20 }));
        let m = power_model(&rows(40), 20).unwrap();
        // every job had preset "fast": its column is constant, no indicator; fine
        assert!(m.ols.r2 > 0.99, "{}", m.ols.r2);
        let p = m.predict(62_208_000.0, 4000.0, 30.0, "x265", "fast").unwrap();
        assert!((p.mean - (20.0 + 62_208_000.0 * 2e-7 + 5.0 + 0.3)).abs() < 0.5, "{p:?}");
        assert!(p.obs_ci_lower < p.mean_ci_lower && p.mean_ci_upper < p.obs_ci_upper);
        assert!(m.predict(1.0, 1.0, 30.0, "never-seen", "fast").is_none());
        let e = crate::config::default_encodes();
        assert!(m.predict_encode(&e[1]).is_some(), "common encoder and preset fill in");
        assert_eq!(m.common_preset, "fast");
    }

    #[test]
    fn an_unseen_encoder_is_estimated_as_the_mix_with_the_spread_in_its_uncertainty() {
        let m = power_model(&rows(40), 20).unwrap();
        let (rate, bitrate, fps) = (62_208_000.0, 4000.0, 30.0);
        let seen = |enc| m.estimate_power(rate, bitrate, fps, enc, "fast").unwrap();
        let (a, b) = (seen("x264"), seen("x265"));
        // A seen level gives the prediction's own figures.
        let p = m.predict(rate, bitrate, fps, "x265", "fast").unwrap();
        assert_eq!((b.mean_w, b.mean_se_w, b.obs_se_w), (p.mean, p.mean_se, p.obs_se));
        // Half the rows are x264, half x265 (about 5 W apart): an unseen encoder is halfway, and
        // its uncertainty holds the spread of the two effects about their mix (about 2.5 W).
        let u = seen("av1");
        assert!((u.mean_w - (a.mean_w + b.mean_w) / 2.0).abs() < 1e-6, "{u:?} {a:?} {b:?}");
        let effect = b.mean_w - a.mean_w;
        let spread = (effect / 2.0).powi(2);
        assert!(
            (u.mean_se_w.powi(2) - (a.mean_se_w.powi(2).min(b.mean_se_w.powi(2)) + spread)).abs()
                < 0.5 * spread
        );
        assert!(u.obs_se_w > u.mean_se_w && u.mean_se_w > a.mean_se_w.max(b.mean_se_w));
        // An unseen preset as well: every level of every column was "fast", nothing to spread.
        let both = m.estimate_power(rate, bitrate, fps, "av1", "veryslow").unwrap();
        assert!((both.mean_w - u.mean_w).abs() < 1e-9 && (both.mean_se_w - u.mean_se_w).abs() < 1e-9);
    }
}
