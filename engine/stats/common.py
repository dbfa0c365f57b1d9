"""Small helpers shared by the statistics modules: p-value text, thresholds, group codes."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import InputError

ALPHA = 0.05
# A group smaller than this gets a "small n" caveat (tests are imprecise, normality unverifiable).
SMALL_N = 20
# |skewness| above this is treated as non-normal when describing and testing a variable.
SKEW_LIMIT = 1.0
# Tukey fences: 1.5 IQR (outlier) and 3 IQR ("far out").
TUKEY_NEAR = 1.5
TUKEY_FAR = 3.0
# Shapiro-Wilk is only run (and only meaningful) up to this many values.
SHAPIRO_MAX_N = 5000


def format_p(p: float | None) -> str:
    """P-value as clinical papers print it."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def level_text(value: Any) -> str:
    """Category level as text; 1.0 reads as '1' so flags and codes look natural."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def require_columns(frame: pd.DataFrame, columns: list[str] | tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"The cohort has no column named {', '.join(repr(c) for c in missing)}.")


def group_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer code per row (-1 = missing) and the sorted level names of a grouping column.

    Factorises first and converts only the distinct values to text, so it is cheap on 100k rows.
    """
    raw_codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = [level_text(v) for v in uniques]
    levels = sorted(set(texts), key=_natural_key)
    lookup = {lvl: i for i, lvl in enumerate(levels)}
    remap = np.array([lookup[t] for t in texts] + [-1], dtype=np.int64)
    return remap[raw_codes], levels


def _natural_key(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def numeric_values(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as floats, with a clear error if it holds text."""
    series = frame[column]
    numeric = pd.to_numeric(series, errors="coerce")
    bad = numeric.isna() & series.notna()
    if bad.any():
        raise InputError(f"Column '{column}' has text in {int(bad.sum())} rows; it cannot be used as a number.")
    return numeric.astype(float)
