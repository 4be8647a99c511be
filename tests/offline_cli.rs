//! `costpush forecast` and `costpush regress` on files, as users run them on exported data.

mod common;

use common::*;
use serde_json::Value;

fn refs() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/references.json")).unwrap(),
    )
    .unwrap()
}

fn json_out(args: &[&str]) -> Value {
    let out = run(args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn write_series(dir: &std::path::Path, values: &[Option<f64>]) -> String {
    let mut csv = String::from("timestamp,value\n");
    for (i, v) in values.iter().enumerate() {
        csv.push_str(&format!("{i},{}\n", v.map(|x| x.to_string()).unwrap_or_default()));
    }
    let p = dir.join("series.csv");
    std::fs::write(&p, csv).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn forecast_json_has_the_documented_fields_and_the_best_fit() {
    let r = refs();
    let tmp = tempfile::tempdir().unwrap();
    let y: Vec<Option<f64>> =
        r["series"]["austourists"]["values"].as_array().unwrap().iter().map(|v| v.as_f64()).collect();
    let csv = write_series(tmp.path(), &y);
    let v =
        json_out(&["forecast", "--csv", &csv, "--period", "4", "--horizon", "8", "--model", "AAA", "--json"]);
    for key in ["model", "params", "sse", "loglik", "aicc", "converged", "forecast"] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    assert_eq!(v["model"], "AAA");
    let best = r["best_sse"][0]["best"].as_f64().unwrap();
    assert!(v["sse"].as_f64().unwrap() <= 1.0001 * best);
    let fc = v["forecast"].as_array().unwrap();
    assert_eq!(fc.len(), 8);
    for (i, row) in fc.iter().enumerate() {
        assert_eq!(row["h"], i + 1);
        let g = |k: &str| row[k].as_f64().unwrap();
        assert!(g("lower_95") < g("lower_80") && g("lower_80") < g("mean"));
        assert!(g("mean") < g("upper_80") && g("upper_80") < g("upper_95"));
    }

    // auto picks by AICc and reports what it could not fit
    let auto = json_out(&["forecast", "--csv", &csv, "--period", "4", "--horizon", "4", "--json"]);
    assert!(auto["aicc"].as_f64().unwrap() <= v["aicc"].as_f64().unwrap() + 1e-9);

    // fixed parameters are used as given
    let fixed = json_out(&[
        "forecast",
        "--csv",
        &csv,
        "--period",
        "4",
        "--horizon",
        "2",
        "--model",
        "AAdA",
        "--params",
        "alpha=0.35,beta=0.15,gamma=0.25,phi=0.92",
        "--json",
    ]);
    assert_eq!(fixed["params"]["phi"].as_f64().unwrap(), 0.92);
    assert_eq!(fixed["params"]["gamma"].as_f64().unwrap(), 0.25);
}

#[test]
fn forecast_handles_gaps_and_refuses_what_it_cannot_do() {
    let tmp = tempfile::tempdir().unwrap();
    let mut y: Vec<Option<f64>> = (0..60).map(|t| Some(10.0 + (t % 12) as f64)).collect();
    y[17] = None;
    y[30] = None;
    let csv = write_series(tmp.path(), &y);
    let v = json_out(&["forecast", "--csv", &csv, "--period", "12", "--horizon", "3", "--json"]);
    assert_eq!(v["n"], 58, "gaps are left out, not filled");
    assert!(v["forecast"][0]["mean"].as_f64().unwrap().is_finite());

    let short = write_series(tmp.path(), &[Some(1.0), Some(2.0)]);
    let out = run(&["forecast", "--csv", &short, "--period", "1", "--horizon", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no model"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["forecast", "--csv", &csv, "--period", "12", "--horizon", "3", "--model", "XYZ"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn regress_json_matches_statsmodels() {
    let r = refs();
    let want = &r["ols_jobs"];
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let v = json_out(&[
        "regress",
        "--csv",
        &format!("{data}/jobs_train.csv"),
        "--target",
        "power_watts",
        "--predict",
        &format!("{data}/jobs_predict.csv"),
        "--json",
    ]);
    for (name, c) in want["coef"].as_object().unwrap() {
        let got = v["coef"][name].as_f64().unwrap();
        assert!(((got - c.as_f64().unwrap()) / c.as_f64().unwrap()).abs() < 1e-10, "{name}");
    }
    assert_eq!(v["df_resid"].as_f64().unwrap(), want["df_resid"].as_f64().unwrap());
    for (i, p) in want["predictions"].as_array().unwrap().iter().enumerate() {
        for k in ["mean", "mean_ci_lower", "mean_ci_upper", "obs_ci_lower", "obs_ci_upper"] {
            let (got, w) = (v["predictions"][i][k].as_f64().unwrap(), p[k].as_f64().unwrap());
            assert!(((got - w) / w).abs() < 1e-10, "{i} {k}: {got} vs {w}");
        }
    }
    for key in ["r2", "adj_r2", "rmse", "condition_number"] {
        assert!(v[key].as_f64().unwrap().is_finite(), "{key}");
    }
    // the text form for people
    let out = run(&[
        "regress",
        "--csv",
        &format!("{data}/jobs_train.csv"),
        "--target",
        "power_watts",
        "--predict",
        &format!("{data}/jobs_predict.csv"),
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("encoder=libx265"));
}
