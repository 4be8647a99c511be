"""Reference SSEs for the harder Holt-Winters fits: multiplicative seasons and damped trends.

For each series and model, the lowest SSE any of statsmodels' optimisers reaches
(ExponentialSmoothing, initialization_method="estimated"), and the damping there. The series:
the tourism, airline and hourly series of tests/data/references.json, and one farm series of the
forecasting harness's seeded panel on which a damped trend's optimum is at phi = 0.8 (gaps
interpolated), made by:

    cargo run --release --example backtest -- --series 12 --days 28 --write /tmp/panel
    python scripts/reference/make_best_sse.py /tmp/panel/panel_09.csv

Writes tests/data/best_sse.json (with the series' values). Needs numpy, pandas, statsmodels.
"""
import json
import math
import pathlib
import sys
import warnings

import numpy as np
import pandas as pd
from statsmodels.tsa.holtwinters import ExponentialSmoothing

warnings.filterwarnings("ignore")
DATA = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data"
METHODS = ["L-BFGS-B", "TNC", "SLSQP", "Powell", "trust-constr", "basinhopping", "least_squares"]
MODELS = {"AAdA": ("add", True, "add"), "ANM": (None, False, "mul"), "AAM": ("add", False, "mul"),
          "AAdM": ("add", True, "mul")}


def best(y, m, model):
    trend, damped, seasonal = MODELS[model]
    sses, phi = {}, None
    best_sse = math.inf
    for meth in METHODS:
        try:
            r = ExponentialSmoothing(y, trend=trend, damped_trend=damped, seasonal=seasonal, seasonal_periods=m,
                                     initialization_method="estimated").fit(method=meth)
            sses[meth] = float(r.sse)
            if r.sse < best_sse:
                best_sse = float(r.sse)
                phi = float(r.params["damping_trend"]) if damped else None
        except Exception as e:  # an optimiser that fails is recorded, not fatal
            sses[meth] = None
            print(f"{model} {meth}: {e}")
    return {"model": model, "sse_by_method": sses, "best": best_sse, "phi": phi}


def main():
    refs = json.loads((DATA / "references.json").read_text())
    series = {name: (np.array(s["values"], dtype=float), s["m"]) for name, s in refs["series"].items()}
    farm = pd.read_csv(sys.argv[1], skip_blank_lines=False)["value"].interpolate(limit_direction="both")
    series["farm_panel_09"] = (farm.to_numpy(dtype=float), 24)
    out = []
    for name, (y, m) in series.items():
        models = ["AAdA"] if name == "farm_panel_09" else list(MODELS)
        for model in models:
            if MODELS[model][2] == "mul" and (y <= 0).any():
                continue
            r = best(y, m, model)
            print(f"{name} {model}: best SSE {r['best']:.6g}, phi {r['phi']}")
            out.append({"series": name, "m": m, **r})
    doc = {"series": {name: {"m": m, "values": [float(v) for v in y]} for name, (y, m) in series.items()},
           "fits": out}
    (DATA / "best_sse.json").write_text(json.dumps(doc, indent=1) + "\n")
    print("wrote", DATA / "best_sse.json")


if __name__ == "__main__":
    main()
