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

    // ets picks by AICc and reports what it could not fit
    let ets =
        json_out(&["forecast", "--csv", &csv, "--period", "4", "--horizon", "4", "--model", "ets", "--json"]);
    assert!(ets["aicc"].as_f64().unwrap() <= v["aicc"].as_f64().unwrap() + 1e-9);

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

/// The error of a command that must refuse: exit 2, and its message.
fn refused(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_blank_line_in_a_one_column_series_is_a_missing_value_not_a_skipped_row() {
    // The repro: 96 hourly values with a daily cycle, line 50 blank. Skipping the line
    // shifted every later value by an hour (SSE 375); as a missing value the fit is exact.
    let tmp = tempfile::tempdir().unwrap();
    let mut csv = String::from("value\n");
    for t in 0..96 {
        if t == 50 {
            csv.push('\n');
        } else {
            csv.push_str(&format!("{}\n", 10 + t % 24));
        }
    }
    csv.push_str("\n\n"); // trailing blank lines end the file
    let p = tmp.path().join("g.csv");
    std::fs::write(&p, &csv).unwrap();
    let path = p.to_str().unwrap();
    let v = json_out(&[
        "forecast",
        "--csv",
        path,
        "--period",
        "24",
        "--horizon",
        "1",
        "--model",
        "ANA",
        "--json",
    ]);
    assert_eq!(v["n"], 95, "one missing of 96");
    assert!(v["sse"].as_f64().unwrap() < 1e-6, "the phase holds: {}", v["sse"]);
    let nan = csv.replacen("\n\n", "\nNaN\n", 1);
    std::fs::write(&p, nan).unwrap();
    let w = json_out(&[
        "forecast",
        "--csv",
        path,
        "--period",
        "24",
        "--horizon",
        "1",
        "--model",
        "ANA",
        "--json",
    ]);
    assert_eq!((&w["n"], &w["sse"]), (&v["n"], &v["sse"]), "a blank and NaN mean the same");
}

#[test]
fn forecast_refuses_a_horizon_past_its_cap_and_a_period_of_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let y: Vec<Option<f64>> = (0..60).map(|t| Some(10.0 + (t % 12) as f64)).collect();
    let csv = write_series(tmp.path(), &y);
    let e = refused(&["forecast", "--csv", &csv, "--period", "12", "--horizon", "10000000"]);
    assert!(e.contains("--horizon must be between 1 and 10000 steps, got 10000000"), "{e}");
    let e = refused(&["forecast", "--csv", &csv, "--period", "0", "--horizon", "3"]);
    assert!(e.contains("--period must be at least 1"), "{e}");
    let e = refused(&["forecast", "--csv", &csv, "--period", "0", "--horizon", "3", "--model", "ANN"]);
    assert!(e.contains("--period must be at least 1"), "{e}");
    // At the cap, it forecasts.
    let v = json_out(&[
        "forecast",
        "--csv",
        &csv,
        "--period",
        "12",
        "--horizon",
        "10000",
        "--model",
        "ANA",
        "--json",
    ]);
    assert_eq!(v["forecast"].as_array().unwrap().len(), 10_000);
}

#[test]
fn regress_names_the_row_and_column_of_a_missing_number() {
    let tmp = tempfile::tempdir().unwrap();
    let train = tmp.path().join("train.csv");
    let predict = tmp.path().join("predict.csv");
    let mut rows = String::from("fps,encoder,power_watts\n");
    for i in 0..30 {
        rows.push_str(&format!("{},{},{}\n", 24 + i, ["a", "b"][i % 2], 50 + i));
    }
    std::fs::write(&predict, "fps,encoder\n30,a\n").unwrap();
    let (t, p) = (train.to_str().unwrap(), predict.to_str().unwrap());
    let args = ["regress", "--csv", t, "--target", "power_watts", "--predict", p];
    for bad in ["NaN", "", " nan ", "fast"] {
        std::fs::write(&train, rows.replacen("\n31,", &format!("\n{bad},"), 1)).unwrap();
        let e = refused(&args);
        assert!(e.contains("row 9") && e.contains("\"fps\""), "{bad:?}: {e}");
    }
    std::fs::write(&train, rows.replacen(",57\n", ",NaN\n", 1)).unwrap();
    assert!(refused(&args).contains("power_watts is \"NaN\""), "the target too");
    // A NaN in the rows to predict is an error with its line, not a null prediction.
    std::fs::write(&train, &rows).unwrap();
    std::fs::write(&predict, "fps,encoder\n30,a\nNaN,b\n").unwrap();
    let e = refused(&args);
    assert!(e.contains("line 3") && e.contains("\"fps\""), "{e}");
    // A column of words is a column of levels.
    std::fs::write(&train, &rows).unwrap();
    std::fs::write(&predict, "fps,encoder\n30,a\n").unwrap();
    let out = run(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("encoder=b"));
}

/// Four weeks of an encode farm's hourly cost: a day shape, weekends at a third, noise.
fn farm_week_series() -> Vec<Option<f64>> {
    let mut rng = fastrand::Rng::with_seed(11);
    (0..24 * 28)
        .map(|t| {
            let (hour, day) = (t % 24, (t / 24) % 7);
            let shape = 1.0 + (std::f64::consts::TAU * hour as f64 / 24.0).sin().max(0.0) * 4.0;
            let week = if day >= 5 { 0.3 } else { 1.0 };
            (t != 300).then(|| shape * week * (0.8 + 0.4 * rng.f64()))
        })
        .collect()
}

#[test]
fn auto_chooses_by_backtest_and_names_what_it_chose() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = write_series(tmp.path(), &farm_week_series());
    let v = json_out(&["forecast", "--csv", &csv, "--period", "24", "--horizon", "48", "--json"]);
    assert_eq!(v["method"], "backtest");
    let model = v["model"].as_str().unwrap();
    assert!(model.contains("168"), "the weekly cycle is seen: {model}");
    let bt = &v["backtest"];
    assert_eq!((bt["origins"].as_u64(), bt["horizon"].as_u64()), (Some(7), Some(48)));
    assert!(bt["mase"].as_f64().unwrap() < 1.0, "{bt}");
    let names: Vec<&str> =
        v["candidates"].as_array().unwrap().iter().map(|c| c["model"].as_str().unwrap()).collect();
    assert_eq!(names, ["snaive24", "snaive168", "profile168", "harmonic24+168", "ets_ANA24", "ets_AAdA24"]);
    let fc = v["forecast"].as_array().unwrap();
    assert_eq!(fc.len(), 48);
    for row in fc {
        let g = |k: &str| row[k].as_f64().unwrap();
        assert!(0.0 <= g("lower_95") && g("lower_95") <= g("lower_80") && g("lower_80") <= g("mean"));
        assert!(g("mean") <= g("upper_80") && g("upper_80") <= g("upper_95"));
    }
    let total = &v["total"];
    let sum: f64 = fc.iter().map(|r| r["mean"].as_f64().unwrap()).sum();
    assert!((total["mean"].as_f64().unwrap() - sum).abs() < 1e-9 * sum);
    assert!(total["lower_95"].as_f64().unwrap() < sum && sum < total["upper_95"].as_f64().unwrap());
    let text =
        String::from_utf8(run(&["forecast", "--csv", &csv, "--period", "24", "--horizon", "48"]).stdout)
            .unwrap();
    assert!(text.starts_with(&format!("model {model}  chosen by backtest")), "{text}");

    // Without the long period, only the daily candidates.
    let daily = json_out(&[
        "forecast",
        "--csv",
        &csv,
        "--period",
        "24",
        "--horizon",
        "48",
        "--long-period",
        "0",
        "--json",
    ]);
    assert!(daily["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| !c["model"].as_str().unwrap().contains("168")));
    assert!(refused(&["forecast", "--csv", &csv, "--period", "24", "--horizon", "4", "--long-period", "24"])
        .contains("--long-period 24 must be longer than --period 24"));
    assert!(refused(&[
        "forecast",
        "--csv",
        &csv,
        "--period",
        "24",
        "--horizon",
        "4",
        "--model",
        "ANA",
        "--long-period",
        "168"
    ])
    .contains("--long-period is for --model auto"));
}
