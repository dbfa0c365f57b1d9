"""Summary features of each stay up to an hour of the stay: what the boosting model reads.

Why summaries: a stay is a sparse, irregular series of up to 37 parameters; per-parameter
first / last / extremes / mean / spread / count / time since the last value, the last 12
hours' mean, the trend (least-squares slope per hour) and the first day's mean against the
last day's, carry most of what the challenge's best entries used, and a tree model
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

STATS = ("first", "last", "min", "max", "mean", "std", "count", "since_last", "mean_last12", "slope",
         "mean_first24", "mean_last24")
# The statistics the shipped model reads. Trend and the day means are computed (and labelled) too, but in
# 5-fold CV on set A they moved fold 1's AUROC by 0.003 (0.851 vs 0.848), so the model does not use them yet.
MODEL_STATS = ("first", "last", "min", "max", "mean", "std", "count", "since_last", "mean_last12")
RECENT_HOURS = 12.0
DAY_HOURS = 24.0
# How each statistic reads on a page ("Lactate, last value"): the ward's drivers panel uses these.
STAT_LABELS = {"first": "first value", "last": "last value", "min": "lowest", "max": "highest", "mean": "mean",
               "std": "variability (SD)", "count": "number of measurements", "since_last": "hours since last measured",
               "mean_last12": "mean of the last 12 h", "slope": "trend",
               "mean_first24": "mean of the first 24 h", "mean_last24": "mean of the last 24 h"}
DERIVED_LABELS = {"hours_observed": "Hours of stay observed", "urine_total": "Urine output, total (mL)",
                  "urine_ml_per_kg_h": "Urine output (mL/kg/h)", "mechvent_any": "Mechanically ventilated",
                  "pf_ratio_min": "PaO2/FiO2 ratio, lowest", "shock_index_max": "Shock index (HR/SBP), highest"}


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
        agg["slope"] = _slopes(long)
        agg["mean_first24"] = long[long["hours"] <= DAY_HOURS].groupby(["row", "parameter"], sort=False)["value"].mean()
        last_day = long[long["hours"].to_numpy() > long_hz - DAY_HOURS]
        agg["mean_last24"] = last_day.groupby(["row", "parameter"], sort=False)["value"].mean()
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


def _slopes(long: pd.DataFrame) -> pd.Series:
    """Least-squares slope of value on hours per (stay, parameter); NaN with fewer than 2 distinct times."""
    h, v = long["hours"].to_numpy(), long["value"].to_numpy()
    g = pd.DataFrame({"row": long["row"], "parameter": long["parameter"], "h": h, "v": v, "hh": h * h, "hv": h * v})
    m = g.groupby(["row", "parameter"], sort=False)[["h", "v", "hh", "hv"]].mean()
    var = m["hh"] - m["h"] ** 2
    return ((m["hv"] - m["h"] * m["v"]) / var.where(var > 1e-6)).rename("slope")


def feature_label(name: str) -> str:
    """A feature as a clinician reads it: "Lactate_last" -> "Lactate, last value (mmol/L)"."""
    from engine.icu.parameters import PARAMETERS
    from engine.unit_text import readable_unit

    if name in DERIVED_LABELS:
        return DERIVED_LABELS[name]
    if name in PARAMETERS:
        p = PARAMETERS[name]
        unit = readable_unit(p.unit) if p.kind != "descriptor" or name in ("Age", "Height") else ""
        return f"{p.label} ({unit})" if unit and name != "Age" else p.label
    parameter, _, stat = name.partition("_")
    while stat and stat not in STAT_LABELS and "_" in stat:  # parameter names have no "_"; stats may
        extra, _, stat = stat.partition("_")
        parameter = f"{parameter}_{extra}"
    if parameter not in PARAMETERS or stat not in STAT_LABELS:
        return name
    p = PARAMETERS[parameter]
    unit = readable_unit(p.unit)
    if stat in ("count", "since_last"):
        unit = ""
    elif stat == "slope":
        unit = f"{unit} per hour" if unit else "per hour"
    elif stat == "std" and not unit:
        unit = ""
    return f"{p.label}, {STAT_LABELS[stat]}" + (f" ({unit})" if unit else "")


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
