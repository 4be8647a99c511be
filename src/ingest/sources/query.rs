//! Energy from a Prometheus-compatible query API: the URL of a `query_range` request over a
//! job's run window, and the mean power of its answer. Pure: the agent does the request.
//!
//! The expression gives watts (`sum(rapl_power_watts)`, or
//! `sum(rate(node_rapl_package_joules_total[30s]))`). The points are integrated by the same rule
//! as a file's samples: trapezoids between the points actually returned (gaps are bridged
//! linearly, not counted as zero), divided by the span they cover, gives the mean power; the
//! energy is that mean × the measured run time. Several series in the answer are added point
//! by point (the expression should aggregate; this keeps an un-aggregated one from being
//! half-read). `NaN` points are skipped.

use std::collections::BTreeMap;

/// Most points asked for per job: VictoriaMetrics refuses more than 30 000 per series by
/// default, and a month-long job at a 5 s step would ask for 500 000.
pub(crate) const MAX_POINTS: f64 = 10_000.0;

/// The step for a window: the configured one, widened so that the window has at most
/// [`MAX_POINTS`] points.
pub(crate) fn step_for(step_s: f64, start_s: f64, end_s: f64) -> f64 {
    step_s.max(((end_s - start_s) / MAX_POINTS).ceil())
}

/// Query parameters of `/api/v1/query_range` for the window `[start_s, end_s]`.
pub(crate) fn params(expr: &str, start_s: f64, end_s: f64, step_s: f64) -> Vec<(&'static str, String)> {
    vec![
        ("query", expr.to_string()),
        ("start", format!("{start_s:.3}")),
        ("end", format!("{end_s:.3}")),
        ("step", format!("{}s", step_for(step_s, start_s, end_s))),
    ]
}

/// The points of a `query_range` answer, series added per timestamp, in time order.
pub(crate) fn parse_matrix(body: &[u8]) -> Result<Vec<(f64, f64)>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("answer is not JSON: {e}"))?;
    if v["status"] != "success" {
        return Err(format!(
            "query failed: {} {}",
            v["errorType"].as_str().unwrap_or("?"),
            v["error"].as_str().unwrap_or("(no error message)")
        ));
    }
    if v["data"]["resultType"] != "matrix" {
        return Err(format!("expected a matrix, got {}", v["data"]["resultType"]));
    }
    let series = v["data"]["result"].as_array().ok_or("data.result is not a list")?;
    // Keyed by milliseconds so that equal timestamps of different series meet.
    let mut sum: BTreeMap<i64, f64> = BTreeMap::new();
    for (i, s) in series.iter().enumerate() {
        let values =
            s["values"].as_array().ok_or_else(|| format!("data.result[{i}].values is not a list"))?;
        for (k, pair) in values.iter().enumerate() {
            let bad = || format!("data.result[{i}].values[{k}]: expected [time, \"value\"], got {pair}");
            let t = pair[0].as_f64().ok_or_else(bad)?;
            let x: f64 = pair[1].as_str().ok_or_else(bad)?.parse().map_err(|_| bad())?;
            if x.is_nan() {
                continue;
            }
            if !x.is_finite() {
                return Err(format!("data.result[{i}].values[{k}]: value {x} is not finite"));
            }
            *sum.entry((t * 1000.0).round() as i64).or_insert(0.0) += x;
        }
    }
    Ok(sum.into_iter().map(|(ms, x)| (ms as f64 / 1000.0, x)).collect())
}

/// Mean level of unevenly spaced points: trapezoid integral / span; one point is its own mean;
/// none is unknown.
pub(crate) fn mean_level(points: &[(f64, f64)]) -> Option<f64> {
    match points {
        [] => None,
        [(_, x)] => Some(*x),
        _ => {
            let span = points[points.len() - 1].0 - points[0].0;
            let area: f64 = points.windows(2).map(|w| (w[0].1 + w[1].1) / 2.0 * (w[1].0 - w[0].0)).sum();
            (span > 0.0).then(|| area / span)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_matrix_and_adds_series() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"zone":"a"},"values":[[100,"10"],[105,"20"],[110,"NaN"]]},
            {"metric":{"zone":"b"},"values":[[100,"1"],[110,"3"]]}]}}"#;
        assert_eq!(parse_matrix(body).unwrap(), vec![(100.0, 11.0), (105.0, 20.0), (110.0, 3.0)]);
        let empty = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(parse_matrix(empty).unwrap(), vec![]);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = parse_matrix(br#"{"status":"error","errorType":"bad_data","error":"parse error at 3"}"#);
        assert_eq!(e.unwrap_err(), "query failed: bad_data parse error at 3");
        let e = parse_matrix(br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#);
        assert!(e.unwrap_err().contains("expected a matrix"));
        let e = parse_matrix(
            br#"{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,2]]}]}}"#,
        );
        assert!(e.unwrap_err().contains("data.result[0].values[0]"));
        assert!(parse_matrix(b"<html>").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn mean_level_by_hand() {
        // (10+20)/2*5 + (20+40)/2*5 = 225 over 10 s
        assert_eq!(mean_level(&[(0.0, 10.0), (5.0, 20.0), (10.0, 40.0)]), Some(22.5));
        // A gap is bridged: (10+40)/2*10 over 10 s
        assert_eq!(mean_level(&[(0.0, 10.0), (10.0, 40.0)]), Some(25.0));
        assert_eq!(mean_level(&[(3.0, 42.0)]), Some(42.0));
        assert_eq!(mean_level(&[]), None);
    }

    #[test]
    fn long_windows_get_a_wider_step() {
        assert_eq!(step_for(5.0, 0.0, 3600.0), 5.0);
        assert_eq!(step_for(5.0, 0.0, 31.0 * 86_400.0), 268.0);
        let p = params("sum(x)", 1.5, 61.5, 5.0);
        assert_eq!(p[1], ("start", "1.500".to_string()));
        assert_eq!(p[3], ("step", "5s".to_string()));
    }
}
