"""Peers for scripts/backtest: statsforecast AutoETS (m=24) and MSTL (24, 168) with an AutoETS
trend, on the same panel CSVs, windows, origins and horizon as the Rust harness; one
statsmodels ETSModel AAA fit per series timed beside costpush's automatic choice. Prints the
side-by-side table and the issue's two ratios.

    python scripts/backtest_peers.py RUST_JSON CSV_DIR WINDOW HORIZON ORIGINS

Needs numpy, pandas, statsforecast and statsmodels (see scripts/backtest).
"""
import glob
import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
from statsforecast import StatsForecast  # noqa: E402
from statsforecast.models import MSTL, AutoETS  # noqa: E402
from statsmodels.tsa.exponential_smoothing.ets import ETSModel  # noqa: E402


def read(path):
    v = pd.read_csv(path, skip_blank_lines=False)["value"]
    return pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)


def filled(y):
    return pd.Series(y).interpolate(limit_direction="both").to_numpy()


def sf_forecast(model, train, h):
    df = pd.DataFrame({"unique_id": 0, "ds": np.arange(len(train)), "y": filled(train)})
    return StatsForecast(models=[model], freq=1).forecast(df=df, h=h).iloc[:, -1].to_numpy()


def main():
    rust_json, csv_dir, window, h, origins = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    rust = json.load(open(rust_json))
    peers = {
        "statsforecast AutoETS(24)": lambda tr: sf_forecast(AutoETS(season_length=24), tr, h),
        "statsforecast MSTL(24,168)": lambda tr: sf_forecast(
            MSTL(season_length=[24, 168], trend_forecaster=AutoETS(model="ZZN")), tr, h
        ),
    }
    scores = {name: [] for name in peers}
    seconds = {name: [] for name in peers}
    ets_seconds = []
    for path in sorted(glob.glob(f"{csv_dir}/*.csv")):
        y = read(path)
        for o in range(origins):
            end = len(y) - h - 24 * o
            if end < window:
                continue
            train, test = y[end - window : end], y[end : end + h]
            d = np.abs(train[24:] - train[:-24])
            scale = np.nanmean(d)
            if not np.isfinite(scale) or scale == 0:
                continue
            ok = ~np.isnan(test)
            for name, fn in peers.items():
                t = time.perf_counter()
                f = fn(train)
                seconds[name].append(time.perf_counter() - t)
                scores[name].append(np.mean(np.abs(f[ok] - test[ok])) / scale)
            if o == 0:
                t = time.perf_counter()
                ETSModel(filled(train), error="add", trend="add", seasonal="add", seasonal_periods=24).fit(disp=False)
                ets_seconds.append(time.perf_counter() - t)

    rows = [(m["model"], m["mase"], m["median_fit_seconds"]) for m in rust["models"]]
    rows += [(n, float(np.mean(scores[n])), float(np.median(seconds[n]))) for n in peers]
    print(f"{'model':<28} {'MASE':>7} {'median fit ms':>14}")
    for name, mase, sec in rows:
        print(f"{name:<28} {mase:>7.3f} {sec * 1000:>14.2f}")
    auto = next(m for m in rust["models"] if m["model"] == "costpush auto")
    baselines = {n: m for n, m, _ in rows if n in ("snaive24", "snaive168") or n in peers}
    best = min(baselines, key=baselines.get)
    ets = float(np.median(ets_seconds))
    print(f"statsmodels ETSModel AAA, one fit of {window} points: median {ets * 1000:.1f} ms over {len(ets_seconds)} series")
    print(
        f"MASE ratio: costpush auto {auto['mase']:.3f} / best baseline ({best}) {baselines[best]:.3f} = "
        f"{auto['mase'] / baselines[best]:.3f} (goal ≤ 0.9)"
    )
    print(
        f"time ratio: costpush auto {auto['median_fit_seconds'] * 1000:.1f} ms / statsmodels AAA fit {ets * 1000:.1f} ms = "
        f"{auto['median_fit_seconds'] / ets:.3f} (goal ≤ 0.5)"
    )


if __name__ == "__main__":
    main()
