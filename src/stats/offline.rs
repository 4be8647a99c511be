//! The offline analysis commands, `costpush forecast` and `costpush regress`: CSV in, a table or
//! JSON out. They run the same code the agent uses, on data users exported.

use std::path::Path;

use serde_json::{json, Value};

use crate::stats::auto;
use crate::stats::forecast::{self, FitOptions, Params, Sigma2, Spec};
use crate::stats::regress::Design;

/// The most input the offline commands read: a CSV file larger than this is refused.
pub(crate) const MAX_CSV_BYTES: u64 = 256 << 20;
/// The longest forecast `costpush forecast` makes (steps).
pub const MAX_HORIZON: usize = 10_000;

/// Reads a CSV file: a header row, then rows. Fields may be double-quoted (with `""` for a quote).
/// A blank line between rows is a row of empty cells (a missing value, never a row to skip: in a
/// time series that would shift every later value); blank lines after the last row are ignored.
pub(crate) fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let text = crate::util::bounded::read_file_to_string(path, MAX_CSV_BYTES)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let last = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .ok_or_else(|| format!("{}: empty file", path.display()))?;
    let first = lines.iter().position(|l| !l.trim().is_empty()).expect("a non-blank line exists");
    let head: Vec<String> = split_csv_line(lines[first])
        .map_err(|e| format!("{}: line {}: {e}", path.display(), first + 1))?
        .into_iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::with_capacity(last - first);
    for (i, line) in lines.iter().enumerate().take(last + 1).skip(first + 1) {
        if line.trim().is_empty() {
            rows.push(vec![String::new(); head.len()]);
            continue;
        }
        rows.push(split_csv_line(line).map_err(|e| format!("{}: line {}: {e}", path.display(), i + 1))?);
    }
    Ok((head, rows))
}

fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if cur.is_empty() => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', true) => quoted = false,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    out.push(cur);
    Ok(out)
}

/// Parses `alpha=0.3,beta=0.1,...`.
pub(crate) fn parse_params(s: &str) -> Result<Params, String> {
    let mut p = Params { alpha: f64::NAN, beta: 0.0, gamma: 0.0, phi: 1.0 };
    for part in s.split(',').filter(|x| !x.trim().is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("{part:?}: expected name=value"))?;
        let v: f64 = v.trim().parse().map_err(|_| format!("{k}: {v:?} is not a number"))?;
        match k.trim() {
            "alpha" => p.alpha = v,
            "beta" => p.beta = v,
            "gamma" => p.gamma = v,
            "phi" => p.phi = v,
            other => return Err(format!("unknown parameter {other:?} (alpha, beta, gamma, phi)")),
        }
    }
    if !(p.alpha > 0.0 && p.alpha <= 1.0) {
        return Err("alpha is required, in (0, 1]".into());
    }
    for (name, v) in [("beta", p.beta), ("gamma", p.gamma)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(format!("{name} must be in [0, 1]"));
        }
    }
    if !(p.phi > 0.0 && p.phi <= 1.0) {
        return Err("phi must be in (0, 1]".into());
    }
    Ok(p)
}

/// What `costpush forecast` was asked.
pub struct ForecastArgs<'a> {
    pub csv: &'a Path,
    pub period: usize,
    /// The long period for `auto` (`None`: seven short periods; `Some(0)`: none).
    pub long_period: Option<usize>,
    pub horizon: usize,
    pub model: &'a str,
    pub params: Option<&'a str>,
    pub sigma2: Sigma2,
}

/// Runs `costpush forecast` and returns its JSON document.
pub fn forecast(a: &ForecastArgs<'_>) -> Result<Value, String> {
    forecast_reporting(a, &mut |_| {})
}

/// [`forecast()`], calling `fitted` after each candidate `--model ets` fits.
pub fn forecast_reporting(
    a: &ForecastArgs<'_>,
    fitted: &mut dyn FnMut(forecast::Fitted<'_>),
) -> Result<Value, String> {
    let (head, rows) = read_csv(a.csv)?;
    let col = head
        .iter()
        .position(|h| h == "value")
        .ok_or_else(|| format!("{}: no column named \"value\"", a.csv.display()))?;
    let mut y = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let cell = r.get(col).map(|c| c.trim()).unwrap_or("");
        y.push(match cell {
            "" | "NaN" | "nan" | "null" | "NA" => None,
            c => Some(c.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                format!("{}: line {}: value {c:?} is not a number", a.csv.display(), i + 2)
            })?),
        });
    }
    if a.horizon == 0 || a.horizon > MAX_HORIZON {
        return Err(format!("--horizon must be between 1 and {MAX_HORIZON} steps, got {}", a.horizon));
    }
    if a.period == 0 {
        return Err("--period must be at least 1 (1: no seasonal cycle)".into());
    }
    if a.model == "auto" {
        if a.params.is_some() {
            return Err("--params needs a named --model".into());
        }
        return forecast_auto(a, &y);
    }
    if a.long_period.is_some() {
        return Err("--long-period is for --model auto".into());
    }
    let (fit, skipped) = if a.model == "ets" {
        if a.params.is_some() {
            return Err("--params needs a named --model".into());
        }
        let s = forecast::select_reporting(&y, a.period, fitted).map_err(|e| format!("no model: {e}"))?;
        (s.fit, s.skipped)
    } else {
        let spec = Spec::parse(a.model, a.period).ok_or_else(|| format!("unknown model {:?}", a.model))?;
        let fixed = a.params.map(parse_params).transpose()?;
        let f =
            forecast::fit(&spec, &y, FitOptions { fixed }).map_err(|e| format!("{}: {e}", spec.name()))?;
        (f, Vec::new())
    };
    let bands = fit.forecast(a.horizon, a.sigma2);
    Ok(json!({
        "model": fit.spec.name(),
        "params": {"alpha": fit.params.alpha, "beta": fit.params.beta, "gamma": fit.params.gamma, "phi": fit.params.phi},
        "sse": fit.sse,
        "loglik": fit.loglik,
        "aicc": fit.aicc,
        "converged": fit.converged,
        "n": fit.n_obs,
        "sigma2": fit.sigma2(a.sigma2),
        "sigma2_convention": a.sigma2.name(),
        "skipped": skipped.iter().map(|(m, e)| json!({"model": m, "reason": e.to_string()})).collect::<Vec<_>>(),
        "forecast": bands.iter().enumerate().map(|(h, b)| json!({
            "h": h + 1, "mean": b.mean, "lower_80": b.lower_80, "upper_80": b.upper_80,
            "lower_95": b.lower_95, "upper_95": b.upper_95,
        })).collect::<Vec<_>>(),
    }))
}

/// The backtest horizon of `forecast --model auto`: the forecast's, at most two short periods
/// (and at most 48 steps for a short or no period).
fn backtest_horizon(horizon: usize, period: usize) -> usize {
    horizon.min((2 * period).max(48)).max(1)
}

/// `costpush forecast --model auto`: the engine of [`crate::stats::auto`].
fn forecast_auto(a: &ForecastArgs<'_>, y: &[Option<f64>]) -> Result<Value, String> {
    let long_period = match a.long_period {
        Some(0) => None,
        Some(w) if w <= a.period => {
            return Err(format!("--long-period {w} must be longer than --period {}", a.period))
        }
        Some(w) => Some(w),
        None => (a.period > 1).then_some(7 * a.period),
    };
    let opts = auto::Options {
        period: a.period,
        long_period,
        horizon: backtest_horizon(a.horizon, a.period),
        steps: a.horizon,
        sigma2: a.sigma2,
    };
    let fit = auto::auto(y, &opts).map_err(|e| format!("no model: {e}"))?;
    let bands = fit.forecast(a.horizon);
    let total = fit.total(a.horizon);
    let backtest = fit.choice.backtest().map(|b| {
        json!({
            "origins": b.origins, "horizon": b.horizon, "mae": b.mae, "mase": b.mase,
            "coverage_80": b.coverage_80, "coverage_95": b.coverage_95,
        })
    });
    Ok(json!({
        "model": fit.choice.name(),
        "method": fit.choice.method(),
        "n": y.iter().flatten().count(),
        "backtest": backtest,
        "candidates": fit.scores.iter().map(|s| json!({"model": s.name, "mae": s.mae})).collect::<Vec<_>>(),
        "forecast": bands.iter().enumerate().map(|(h, b)| json!({
            "h": h + 1, "mean": b.mean, "lower_80": b.lower_80, "upper_80": b.upper_80,
            "lower_95": b.lower_95, "upper_95": b.upper_95,
        })).collect::<Vec<_>>(),
        "total": {"steps": a.horizon, "mean": total.mean, "lower_80": total.lower_80, "upper_80": total.upper_80,
                  "lower_95": total.lower_95, "upper_95": total.upper_95},
    }))
}

/// Runs `costpush regress` and returns its JSON document.
pub fn regress(train: &Path, target: &str, predict: &Path) -> Result<Value, String> {
    let (head, rows) = read_csv(train)?;
    let mut design =
        Design::from_rows(&head, &rows, target).map_err(|e| format!("{}: {e}", train.display()))?;
    let fit = design.fit().map_err(|e| format!("{}: {e}", train.display()))?;
    let (phead, prows) = read_csv(predict)?;
    let mut predictions = Vec::new();
    for (i, r) in prows.iter().enumerate() {
        let x = design.row(&phead, r).map_err(|e| format!("{}: line {}: {e}", predict.display(), i + 2))?;
        let p = fit.predict(&x, 0.95);
        predictions.push(json!({
            "mean": p.mean, "mean_ci_lower": p.mean_ci_lower, "mean_ci_upper": p.mean_ci_upper,
            "obs_ci_lower": p.obs_ci_lower, "obs_ci_upper": p.obs_ci_upper,
        }));
    }
    let coef: serde_json::Map<String, Value> =
        design.names().iter().zip(&fit.coef).map(|(n, c)| (n.clone(), json!(c))).collect();
    Ok(json!({
        "coef": coef,
        "r2": fit.r2,
        "adj_r2": fit.adj_r2,
        "rmse": fit.rmse,
        "condition_number": fit.condition_number,
        "ill_conditioned": fit.condition_number > crate::stats::regress::HIGH_CONDITION,
        "df_resid": fit.df_resid,
        "dependent_columns": fit.dependent.iter().map(|j| design.names()[*j].clone()).collect::<Vec<_>>(),
        "predictions": predictions,
    }))
}

/// A plain-text rendering for people.
pub fn forecast_text(v: &Value) -> String {
    let mut out = if v.get("method").is_some() {
        let mut head = format!(
            "model {}  chosen by {}",
            v["model"].as_str().unwrap_or("?"),
            v["method"].as_str().unwrap_or("?")
        );
        if let Some(b) = v["backtest"].as_object() {
            let g = |k: &str| b.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
            head.push_str(&format!(
                "  backtest: {} origins, horizon {}, MAE {:.6}, MASE {:.3}, coverage 80 % {:.2}, 95 % {:.2}",
                b["origins"],
                b["horizon"],
                g("mae"),
                g("mase"),
                g("coverage_80"),
                g("coverage_95")
            ));
        }
        head.push('\n');
        for c in v["candidates"].as_array().into_iter().flatten() {
            head.push_str(&format!(
                "  candidate {:<18} MAE {:.6}\n",
                c["model"].as_str().unwrap_or("?"),
                c["mae"].as_f64().unwrap_or(f64::NAN)
            ));
        }
        head
    } else {
        format!(
            "model {}  alpha {:.4} beta {:.4} gamma {:.4} phi {:.4}  SSE {:.6}  AICc {:.3}  converged {}\n",
            v["model"].as_str().unwrap_or("?"),
            v["params"]["alpha"].as_f64().unwrap_or(f64::NAN),
            v["params"]["beta"].as_f64().unwrap_or(f64::NAN),
            v["params"]["gamma"].as_f64().unwrap_or(f64::NAN),
            v["params"]["phi"].as_f64().unwrap_or(f64::NAN),
            v["sse"].as_f64().unwrap_or(f64::NAN),
            v["aicc"].as_f64().unwrap_or(f64::NAN),
            v["converged"],
        )
    };
    out.push_str(&format!(
        "{:>4} {:>14} {:>14} {:>14} {:>14} {:>14}\n",
        "h", "mean", "lower_95", "lower_80", "upper_80", "upper_95"
    ));
    for r in v["forecast"].as_array().into_iter().flatten() {
        let g = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        out.push_str(&format!(
            "{:>4} {:>14.6} {:>14.6} {:>14.6} {:>14.6} {:>14.6}\n",
            r["h"],
            g("mean"),
            g("lower_95"),
            g("lower_80"),
            g("upper_80"),
            g("upper_95")
        ));
    }
    out
}

/// A plain-text rendering for people.
pub fn regress_text(v: &Value) -> String {
    let mut out = String::from("coefficients:\n");
    for (k, c) in v["coef"].as_object().into_iter().flatten() {
        out.push_str(&format!("  {k:<28} {:>16.8}\n", c.as_f64().unwrap_or(f64::NAN)));
    }
    out.push_str(&format!(
        "R² {:.6}  adjusted {:.6}  RMSE {:.6}  condition number {:.3e}  df {}\n",
        v["r2"].as_f64().unwrap_or(f64::NAN),
        v["adj_r2"].as_f64().unwrap_or(f64::NAN),
        v["rmse"].as_f64().unwrap_or(f64::NAN),
        v["condition_number"].as_f64().unwrap_or(f64::NAN),
        v["df_resid"],
    ));
    out.push_str(&format!(
        "{:>14} {:>14} {:>14} {:>14} {:>14}\n",
        "mean", "mean_lo95", "mean_hi95", "obs_lo95", "obs_hi95"
    ));
    for p in v["predictions"].as_array().into_iter().flatten() {
        let g = |k: &str| p[k].as_f64().unwrap_or(f64::NAN);
        out.push_str(&format!(
            "{:>14.6} {:>14.6} {:>14.6} {:>14.6} {:>14.6}\n",
            g("mean"),
            g("mean_ci_lower"),
            g("mean_ci_upper"),
            g("obs_ci_lower"),
            g("obs_ci_upper")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_and_quotes() {
        assert_eq!(split_csv_line("a,\"b,c\",\"d \"\"q\"\"\",").unwrap(), vec!["a", "b,c", "d \"q\"", ""]);
        assert!(split_csv_line("\"open").is_err());
    }

    #[test]
    fn params() {
        let p = parse_params("alpha=0.3, beta=0.1,phi=0.9").unwrap();
        assert_eq!((p.alpha, p.beta, p.gamma, p.phi), (0.3, 0.1, 0.0, 0.9));
        assert!(parse_params("beta=0.1").is_err());
        assert!(parse_params("alpha=2").is_err());
        assert!(parse_params("alpha=0.3,delta=1").is_err());
    }
}
