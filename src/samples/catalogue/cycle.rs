//! The cycle's own samples: the agent's health, delivery and sources, exchange rates and the
//! pricing table, then every counter.

use super::insights::insight_samples;
use super::{base_labels, cat, count_window, Built, CycleStats, Host, Insights};
use crate::domain::{Currency, JOULES_PER_KWH};
use crate::samples::{Counters, SeriesSet};

/// The cycle's own samples (health, insights) and every counter, after the jobs: `jobs_window`
/// and `jobs_non_finite` are what the jobs' samples counted (see [`count_window`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_cycle(
    host: &Host<'_>,
    insights: &Insights,
    mut counters: Counters,
    stats: &CycleStats,
    now_ms: i64,
    retention_ms: i64,
    jobs_window: (u64, u64),
    jobs_non_finite: u64,
    mut set: SeriesSet,
) -> Built {
    let base = base_labels(host);
    health_samples(host, &base, stats, now_ms, &mut set, &mut counters);
    insight_samples(host, &base, insights, now_ms, &mut set, &mut counters);

    // Window check over everything built, then the counters that report it.
    let (old, new) = count_window(&set, now_ms, retention_ms);
    let (too_old, too_new) = (jobs_window.0 + old, jobs_window.1 + new);
    for (reason, n) in [("too_old", too_old), ("too_new", too_new)] {
        let l = cat(&base, &[("reason", reason)]);
        counters.add(&mut set, "costpush_samples_outside_retention_total", &l, n as f64);
    }
    let nf = (set.non_finite() + jobs_non_finite) as f64;
    counters.add(&mut set, "costpush_samples_non_finite_total", &base, nf);
    counters.emit(&mut set, now_ms);
    Built { set, counters, too_old, too_new }
}

fn health_samples(
    host: &Host<'_>,
    base: &[(&str, &str)],
    s: &CycleStats,
    now_ms: i64,
    set: &mut SeriesSet,
    counters: &mut Counters,
) {
    set.add("costpush_up", base, now_ms, 1.0);
    set.add("costpush_build_info", &cat(base, &[("version", host.version)]), now_ms, 1.0);
    // Kept by each destination's sender (persisted beside its queue), reported as they stand.
    for d in &s.delivery {
        let base = &cat(base, &[("destination", d.destination.as_str())]);
        if let Some(t) = d.last_success_ms {
            set.add("costpush_last_success_timestamp_seconds", base, now_ms, t as f64 / 1000.0);
        }
        set.add("costpush_queue_bytes", base, now_ms, d.queue_bytes as f64);
        set.add("costpush_queue_batches", base, now_ms, d.queue_batches as f64);
        set.add("costpush_backoff_seconds", base, now_ms, d.backoff_seconds);
        set.add("costpush_samples_sent_total", base, now_ms, d.sent_samples as f64);
        set.add("costpush_requests_sent_total", base, now_ms, d.sent_requests as f64);
        set.add("costpush_samples_retried_total", base, now_ms, d.retried_samples as f64);
        for (reason, n) in &d.dropped {
            set.add("costpush_samples_dropped_total", &cat(base, &[("reason", reason)]), now_ms, *n as f64);
        }
        set.add("costpush_queue_files_corrupt_total", base, now_ms, d.corrupt_files as f64);
    }
    set.add("costpush_files_matched", base, now_ms, s.files_matched as f64);
    counters.add(set, "costpush_files_ingested_total", base, s.files_ingested as f64);
    for (reason, n) in [
        ("malformed", s.files_malformed),
        ("incomplete", s.files_incomplete),
        ("unreadable", s.files_unreadable),
        ("not_regular", s.files_not_regular),
        ("too_large", s.files_too_large),
    ] {
        counters.add(set, "costpush_files_failed_total", &cat(base, &[("reason", reason)]), n as f64);
    }
    counters.add(set, "costpush_jobs_invalid_total", base, s.jobs_invalid as f64);
    counters.add(set, "costpush_fields_left_out_total", base, s.fields_left_out as f64);
    for &(label, kept, folded) in &s.label_values {
        let l = cat(base, &[("label", label)]);
        set.add("costpush_label_values", &l, now_ms, kept as f64);
        counters.add(set, "costpush_label_values_folded_total", &l, folded as f64);
    }

    // Where energy came from, and what the sources did this cycle.
    for (method, reason) in
        [("query", "no_data"), ("query", "error"), ("rapl", "no_data"), ("rapl", "unavailable")]
    {
        let n = s.energy_misses.get(&(method, reason)).copied().unwrap_or(0);
        let l = cat(base, &[("method", method), ("reason", reason)]);
        counters.add(set, "costpush_energy_source_misses_total", &l, n as f64);
    }
    for method in ["file", "query", "rapl", "none"] {
        counters.add(set, "costpush_jobs_by_energy_method_total", &cat(base, &[("method", method)]), 0.0);
    }
    set.add("costpush_jobs_waiting_for_energy", base, now_ms, s.jobs_waiting as f64);
    set.add("costpush_jobs_waiting_for_clock", base, now_ms, s.jobs_ahead_of_clock as f64);
    if let Some(b) = s.baseline {
        set.add("costpush_idle_baseline_watts", &cat(base, &[("baseline", b.kind)]), now_ms, b.watts);
    }
    if let Some(n) = s.rapl_readings {
        set.add("costpush_rapl_readings", base, now_ms, n as f64);
        counters.add(set, "costpush_rapl_read_failures_total", base, s.rapl_read_failures as f64);
    }

    // Exchange rates in use (the newest) and their date, so a dashboard can show them and a rule
    // can tell when they stop coming (`time() - …_date_timestamp_seconds`).
    let rates = host.rates.newest();
    if host.dated_rates {
        counters.add(set, "costpush_exchange_rate_fetch_failures_total", base, s.ecb_fetch_failures as f64);
        counters.add(set, "costpush_jobs_at_fallback_rates_total", base, 0.0);
    }
    let source = if host.dated_rates { "ecb" } else { "config" };
    for (cur, rate) in rates.iter() {
        if cur != Currency::EUR {
            set.add(
                "costpush_exchange_rate",
                &cat(base, &[("base", "EUR"), ("quote", cur.as_str())]),
                now_ms,
                rate,
            );
        }
    }
    set.add(
        "costpush_exchange_rate_date_timestamp_seconds",
        &cat(base, &[("source", source)]),
        now_ms,
        rates.date_unix as f64,
    );

    // The pricing table, so what-if panels can show the inputs: in base units (per joule, per
    // core-second), as the energy and core-second counters they multiply.
    for r in host.regions.values() {
        let l = cat(base, &[("target_region", r.name.as_str())]);
        let year = r.intensity_year.to_string();
        let li = cat(&l, &[("intensity_year", year.as_str())]);
        let per_joule = r.intensity_g_per_kwh / JOULES_PER_KWH;
        set.add("costpush_region_grid_intensity_grams_per_joule", &li, now_ms, per_joule);
        for (cur, f) in host.conversions(r.currency) {
            let lc = cat(&l, &[("currency", cur.as_str())]);
            let price = r.electricity_per_kwh * f / JOULES_PER_KWH;
            set.add("costpush_region_electricity_price_per_joule", &lc, now_ms, price);
            let price = r.compute_per_core_hour * f / 3600.0;
            set.add("costpush_region_compute_price_per_core_second", &lc, now_ms, price);
        }
    }
}
