//! Model diagnostics, what-if encodes, projections, forecast curves and bucket totals.

use super::jobs::{predicted_samples, ENCODE_PREDICTED};
use super::{cat, Host, Insights, ModelState};
use crate::compute::projection::Projection;
use crate::domain::Currency;
use crate::samples::key::SortedLabels;
use crate::samples::{Counters, SeriesSet};

/// Model diagnostics, what-if encodes, projections, forecast curves and bucket totals.
pub(super) fn insight_samples(
    host: &Host<'_>,
    base: &[(&str, &str)],
    ins: &Insights,
    now_ms: i64,
    set: &mut SeriesSet,
    counters: &mut Counters,
) {
    for (reason, n) in &ins.predictions_skipped {
        counters.add(set, "costpush_predictions_skipped_total", &cat(base, &[("reason", reason)]), *n as f64);
    }
    match &ins.model {
        Some(ModelState::Fitted {
            n,
            p,
            r2,
            adj_r2,
            rmse,
            condition_number,
            loo_coverage,
            rank_deficient,
            ill_conditioned,
        }) => {
            let flag = |b: bool| if b { "true" } else { "false" };
            let info = cat(
                base,
                &[
                    ("status", "fitted"),
                    ("rank_deficient", flag(*rank_deficient)),
                    ("ill_conditioned", flag(*ill_conditioned)),
                ],
            );
            set.add("costpush_model_info", &info, now_ms, 1.0);
            set.add("costpush_model_observations", base, now_ms, *n as f64);
            set.add("costpush_model_parameters", base, now_ms, *p as f64);
            set.add("costpush_model_r2", base, now_ms, *r2);
            set.add("costpush_model_adjusted_r2", base, now_ms, *adj_r2);
            set.add("costpush_model_rmse_watts", base, now_ms, *rmse);
            set.add("costpush_model_condition_number", base, now_ms, *condition_number);
            if let Some(c) = loo_coverage {
                set.add("costpush_model_loo_coverage_ratio", base, now_ms, *c);
            }
        }
        Some(ModelState::Unavailable(why)) => {
            set.add("costpush_model_info", &cat(base, &[("status", why)]), now_ms, 1.0);
        }
        None => {}
    }
    let region = host.region;
    for e in &ins.encodes {
        // compute billed on wall time, as for a job without CPU samples
        let compute = e.duration_s / 3600.0 * host.cores_without_cpu_samples * region.compute_per_core_hour;
        let g = set.group(&SortedLabels::new(&cat(base, &[("encode", e.name.as_str())])));
        predicted_samples(host, set, g, ENCODE_PREDICTED, &e.power, e.duration_s, compute, now_ms);
    }
    for p in &ins.projections {
        match p {
            Err(no) => {
                let mut l = cat(base, &[("quantity", no.quantity.as_str()), ("reason", no.reason.as_str())]);
                if let Some(b) = no.basis {
                    l.push(("basis", b.as_str()));
                }
                counters.add(set, "costpush_forecasts_unavailable_total", &l, 1.0);
            }
            Ok(p) => projection_samples(host, base, ins, p, now_ms, set),
        }
    }
    if ins.estimating {
        // Every cycle, estimates or not, so that increase() has recent samples.
        let l = cat(base, &[("method", "model")]);
        counters.add(set, "costpush_jobs_estimated_total", &l, 0.0);
        counters.add(set, "costpush_estimated_energy_joules_total", &l, 0.0);
    }
    for c in &ins.coverage {
        for (by, v) in [("jobs", c.jobs), ("run_time", c.run_time)] {
            let l = cat(base, &[("basis", c.basis.as_str()), ("by", by)]);
            set.add("costpush_energy_coverage_ratio", &l, now_ms, v);
        }
    }
    let conversions = host.conversions(region.currency);
    for (start_ms, b, estimate) in &ins.buckets {
        for (cur, f) in &conversions {
            let l = cat(base, &[("currency", cur.as_str())]);
            set.add("costpush_bucket_compute_cost", &l, *start_ms, b.all.compute_cost * f);
        }
        for &basis in ins.bases {
            let part = b.part(basis, estimate.as_ref());
            let bl = cat(base, &[("basis", basis.as_str())]);
            set.add("costpush_bucket_energy_joules", &bl, *start_ms, part.energy_j);
            set.add("costpush_bucket_co2_grams", &bl, *start_ms, part.co2_g);
            for (cur, f) in &conversions {
                let l = cat(&bl, &[("currency", cur.as_str())]);
                set.add("costpush_bucket_cost", &l, *start_ms, part.cost() * f);
                set.add("costpush_bucket_energy_cost", &l, *start_ms, part.energy_cost * f);
            }
            if let Some((jobs, run_time)) = b.coverage(&part) {
                for (by, v) in [("jobs", jobs), ("run_time", run_time)] {
                    let l = cat(&bl, &[("by", by)]);
                    set.add("costpush_bucket_energy_coverage_ratio", &l, *start_ms, v);
                }
            }
        }
    }
}

fn projection_samples(
    host: &Host<'_>,
    base: &[(&str, &str)],
    ins: &Insights,
    p: &Projection,
    now_ms: i64,
    set: &mut SeriesSet,
) {
    use crate::compute::projection::Quantity;
    let q = p.quantity.as_str();
    let mut ql = cat(base, &[("quantity", q)]);
    if let Some(b) = p.basis {
        ql.push(("basis", b.as_str()));
    }
    // The values' own labels: the basis where the quantity has one.
    let vl: Vec<(&str, &str)> = match p.basis {
        Some(b) => cat(base, &[("basis", b.as_str())]),
        None => base.to_vec(),
    };
    set.add(
        "costpush_forecast_model_info",
        &cat(&ql, &[("model", p.model.as_str()), ("method", p.method.as_str())]),
        now_ms,
        1.0,
    );
    if let Some(bt) = p.backtest {
        set.add("costpush_forecast_backtest_mae", &ql, now_ms, bt.mae);
        if let Some(mase) = bt.mase {
            set.add("costpush_forecast_backtest_mase", &ql, now_ms, mase);
        }
        for (level, c) in [("80", bt.coverage_80), ("95", bt.coverage_95)] {
            if let Some(c) = c {
                set.add(
                    "costpush_forecast_backtest_coverage_ratio",
                    &cat(&ql, &[("level", level)]),
                    now_ms,
                    c,
                );
            }
        }
    }
    // The values themselves: cost in every currency, the others in their base unit.
    let conversions: Vec<(Option<Currency>, f64)> = if p.quantity.is_money() {
        host.conversions(host.region.currency).into_iter().map(|(c, f)| (Some(c), f)).collect()
    } else {
        vec![(None, 1.0)]
    };
    let (curve_name, total_name) = match p.quantity {
        Quantity::ComputeCost => ("costpush_forecast_compute_cost", "costpush_projection_compute_cost"),
        Quantity::Cost => ("costpush_forecast_cost", "costpush_projection_cost"),
        Quantity::EnergyCost => ("costpush_forecast_energy_cost", "costpush_projection_energy_cost"),
        Quantity::EnergyJoules => ("costpush_forecast_energy_joules", "costpush_projection_energy_joules"),
        Quantity::Co2Grams => ("costpush_forecast_co2_grams", "costpush_projection_co2_grams"),
    };
    for (cur, f) in conversions {
        let cl: Vec<(&str, &str)> = match &cur {
            Some(c) => cat(&vl, &[("currency", c.as_str())]),
            None => vl.clone(),
        };
        for (horizon, b) in &p.totals {
            for (bound, v) in b.scaled(f).labelled() {
                set.add(total_name, &cat(&cl, &[("horizon", horizon.as_str()), ("bound", bound)]), now_ms, v);
            }
        }
        if let Some(offset) = ins.curve_offset_ms {
            for (start, b) in &p.curve {
                for (bound, v) in b.scaled(f).labelled() {
                    set.add(curve_name, &cat(&cl, &[("bound", bound)]), start + offset, v);
                }
            }
        }
    }
}
