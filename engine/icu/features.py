"""Summary features of each stay up to an hour of the stay: what the boosting model reads.

Why summaries: a stay is a sparse, irregular series of up to 37 parameters; per-parameter
first / last / extremes / mean / spread / count / time since the last value, plus the last
12 hours' mean, carry most of what the challenge's best entries used, and a tree model
handles the many missing values natively (missing is information here: a lactate never
drawn means something different from a normal lactate). Everything is computed from data
at or before ``horizon`` hours, so the same function gives a risk at any hour of the stay.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from engine.icu.parameters import SERIES
from engine.icu.records import Stay

STATS = ("first", "last", "min", "max", "mean", "std", "count", "since_last", "mean_last12")
RECENT_HOURS = 12.0


def feature_names() -> list[str]:
    """Column order of :func:`build_features` (fixed: the model depends on it)."""
    names = ["Age", "Gender", "Height", "ICUType", "hours_observed"]
    names += [f"{p}_{s}" for p in SERIES for s in STATS]
    names += ["urine_total", "urine_ml_per_kg_h", "mechvent_any", "pf_ratio_min", "shock_index_max"]
    return names


def _long(stays: Sequence[Stay], horizon: np.ndarray) -> pd.DataFrame:
    parts = []
    for i, stay in enumerate(stays):
        s = stay.series
        if len(s):
            s = s[s["hours"] <= horizon[i]]
            parts.append(s.assign(row=i))
    if not parts:
        return pd.DataFrame({"row": pd.Series(dtype=int), "hours": pd.Series(dtype=float),
                             "parameter": pd.Series(dtype=object), "value": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True)


def build_features(stays: Sequence[Stay], horizon: float | Sequence[float] = 48.0) -> pd.DataFrame:
    """One row per stay (in order), columns :func:`feature_names`, from data up to ``horizon`` hours.

    ``horizon`` is one hour for every stay or one per stay (the ward scores each stay at its own hour
    in one pass).
    """
    n = len(stays)
    hz = np.broadcast_to(np.asarray(horizon, dtype=float), (n,)).copy()
    out = pd.DataFrame(index=range(n), columns=feature_names(), dtype=float)
    for d in ("Age", "Gender", "Height", "ICUType"):
        out[d] = [s.descriptors.get(d, np.nan) for s in stays]
    out["hours_observed"] = hz
    long = _long(stays, hz)
    if len(long):
        long_hz = hz[long["row"].to_numpy()]
        g = long.groupby(["row", "parameter"], sort=False)
        agg = g["value"].agg(["first", "last", "min", "max", "mean", "std", "count"])
        agg["since_last"] = hz[agg.index.get_level_values("row")] - g["hours"].max().to_numpy()
        recent = long[long["hours"].to_numpy() > long_hz - RECENT_HOURS]
        agg["mean_last12"] = recent.groupby(["row", "parameter"], sort=False)["value"].mean()
        wide = agg.unstack("parameter")
        for p in SERIES:
            for s in STATS:
                if (s, p) in wide.columns:
                    out.loc[wide.index, f"{p}_{s}"] = wide[(s, p)].to_numpy()
        urine = long[long["parameter"] == "Urine"].groupby("row")["value"].sum()
        out["urine_total"] = 0.0
        out.loc[urine.index, "urine_total"] = urine.to_numpy()
        weight = out["Weight_first"].where(out["Weight_first"] > 0)
        out["urine_ml_per_kg_h"] = out["urine_total"] / (weight * np.maximum(hz, 1.0))
        vent = long[(long["parameter"] == "MechVent") & (long["value"] >= 1)].groupby("row").size()
        out["mechvent_any"] = 0.0
        out.loc[vent.index, "mechvent_any"] = 1.0
        out["pf_ratio_min"] = _pair_min(long, "PaO2", "FiO2", np.divide, n)
        out["shock_index_max"] = _pair_max(long, "HR", "SysABP", "NISysABP", n)
    for col in ("Gender", "ICUType"):
        out[col] = out[col].where(out[col].isin([0, 1] if col == "Gender" else [1, 2, 3, 4]))
    return out


def _pair_min(long: pd.DataFrame, num: str, den: str, op, n: int) -> np.ndarray:
    """Min over time points where both are charted (PaO2/FiO2 drawn together)."""
    wide = long[long["parameter"].isin([num, den])].pivot_table(index=["row", "hours"], columns="parameter",
                                                                values="value", aggfunc="last")
    result = pd.Series(np.nan, index=range(n))
    if num in wide and den in wide:
        ratio = op(wide[num], wide[den]).dropna()
        mins = ratio.groupby(level="row").min()
        result.loc[mins.index] = mins.to_numpy()
    return result.to_numpy()


def _pair_max(long: pd.DataFrame, hr: str, sbp: str, nisbp: str, n: int) -> np.ndarray:
    wide = long[long["parameter"].isin([hr, sbp, nisbp])].pivot_table(index=["row", "hours"], columns="parameter",
                                                                      values="value", aggfunc="last")
    result = pd.Series(np.nan, index=range(n))
    if hr in wide:
        systolic = wide[sbp] if sbp in wide else pd.Series(np.nan, index=wide.index)
        if nisbp in wide:
            systolic = systolic.fillna(wide[nisbp])
        index = (wide[hr] / systolic).dropna()
        maxes = index.groupby(level="row").max()
        result.loc[maxes.index] = maxes.to_numpy()
    return result.to_numpy()
