"""Data quality: missingness, outliers (Z-score and Tukey IQR fences), class balance.

Run before any analysis: a variable missing for 40% of patients, a handful of
impossible values or a 95/5 outcome split changes which analysis is sound.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.stats.cohort import column_kind
from engine.stats.common import TUKEY_FAR, TUKEY_NEAR, level_label, level_text

Z_LIMIT = 3.0
HIGH_MISSING = 0.2
IMBALANCE = 0.2        # minority share below this is flagged
MAP_MAX_ROWS = 2000    # the missingness map shows at most this many rows (evenly spaced)


@dataclass
class QualityResult:
    missingness: pd.DataFrame      # column, missing, percent
    missing_map: pd.DataFrame      # rows x columns, 1 = missing (sampled to MAP_MAX_ROWS)
    outliers: pd.DataFrame         # column, n, z_outliers, iqr_outliers, far_outliers, low_fence, high_fence
    class_balance: pd.DataFrame    # column, level, n, percent
    caveats: list[str] = field(default_factory=list)
    methods: str = ""


def assess_quality(frame: pd.DataFrame, outcome_columns: list[str] | None = None) -> QualityResult:
    """Quality summary of every column; class balance of ``outcome_columns`` (default: 0/1 columns)."""
    caveats: list[str] = []
    cols = [c for c in frame.columns if c != "source"]
    n = len(frame)
    missing = frame[cols].isna().sum()
    miss = pd.DataFrame({"column": cols, "missing": missing.to_numpy(),
                         "percent": 100.0 * missing.to_numpy() / max(n, 1)}).sort_values("percent", ascending=False)
    high = miss[miss["percent"] > 100 * HIGH_MISSING]
    if not high.empty:
        caveats.append(f"More than {HIGH_MISSING:.0%} missing: " + ", ".join(
            f"{c} ({p:.0f}%)" for c, p in zip(high["column"], high["percent"])) + ".")
    step = max(1, int(np.ceil(n / MAP_MAX_ROWS)))
    missing_map = frame[cols].iloc[::step].isna().astype(int).reset_index(drop=True)

    kinds = {c: column_kind(frame[c]) for c in cols}
    numeric = [c for c in cols if kinds[c] == "numeric"]
    rows = []
    if numeric:
        x = frame[numeric].apply(pd.to_numeric, errors="coerce")
        mean, sd = x.mean(), x.std()
        z = (x - mean) / sd
        q1, q3 = x.quantile(0.25), x.quantile(0.75)
        iqr = q3 - q1
        for c in numeric:
            rows.append({"column": c, "n": int(x[c].notna().sum()),
                         "z_outliers": int((z[c].abs() > Z_LIMIT).sum()),
                         "iqr_outliers": int(((x[c] < q1[c] - TUKEY_NEAR * iqr[c]) |
                                              (x[c] > q3[c] + TUKEY_NEAR * iqr[c])).sum()),
                         "far_outliers": int(((x[c] < q1[c] - TUKEY_FAR * iqr[c]) |
                                              (x[c] > q3[c] + TUKEY_FAR * iqr[c])).sum()),
                         "low_fence": float(q1[c] - TUKEY_NEAR * iqr[c]),
                         "high_fence": float(q3[c] + TUKEY_NEAR * iqr[c]),
                         "min": float(x[c].min()), "max": float(x[c].max())})
    outliers = pd.DataFrame(rows, columns=["column", "n", "z_outliers", "iqr_outliers", "far_outliers",
                                           "low_fence", "high_fence", "min", "max"])
    far = outliers[outliers["far_outliers"] > 0]
    if not far.empty:
        caveats.append("Far outliers (beyond 3 IQR) in " + ", ".join(
            f"{c} ({k})" for c, k in zip(far["column"], far["far_outliers"])) + ": check for entry errors.")

    if outcome_columns is None:
        outcome_columns = [c for c in cols if kinds[c] == "categorical" and frame[c].dropna().nunique() == 2]
    balance = []
    for c in outcome_columns:
        counts = frame[c].dropna().map(lambda v, c=c: level_label(c, level_text(v))).value_counts().sort_index()
        total = counts.sum()
        for lvl, k in counts.items():
            balance.append({"column": c, "level": lvl, "n": int(k), "percent": 100.0 * k / max(total, 1)})
        if total and counts.min() / total < IMBALANCE:
            caveats.append(f"{c} is imbalanced: the smallest class is {100 * counts.min() / total:.1f}%.")
    methods = (f"Missingness per column; outliers flagged by |z| > {Z_LIMIT:g} and by Tukey's fences "
               f"(1.5 and 3 IQR beyond the quartiles); class balance of binary outcome columns.")
    return QualityResult(miss.reset_index(drop=True), missing_map, outliers,
                         pd.DataFrame(balance, columns=["column", "level", "n", "percent"]), caveats, methods)
