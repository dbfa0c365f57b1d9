"""Small helpers shared by the statistics modules: p-value text, thresholds, group codes."""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.vocabulary import value_labels

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


def is_p_column(name: Any) -> bool:
    """Whether a result column holds p-values (``p_value``, ``p_adjusted``, ``levene_p``, ``shapiro_p_0``...)."""
    text = str(name).lower()
    return (text in {"p", "p-value", "p_value", "p_adjusted"} or text.endswith(("_p", "_p_value"))
            or text.startswith(("p_", "shapiro_p")))


def format_table(frame: pd.DataFrame, decimals: int = 4) -> pd.DataFrame:
    """A result table as it is shown and exported: p-values as :func:`format_p` prints them
    (rounding would print a p of 1e-20 as "0"), other numbers rounded to ``decimals``."""
    out = frame.copy()
    for column in out.columns:
        if is_p_column(column) and pd.api.types.is_numeric_dtype(out[column]):
            out[column] = [format_p(None if pd.isna(v) else float(v)) for v in out[column]]
    return out.round(decimals)


def format_statistic(name: str, value: float) -> str:
    """One fit statistic (a metric tile, a report line): p-values via :func:`format_p`, others to 4 digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format_p(value) if is_p_column(name) else f"{value:.4g}"


def join_names(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c': variable lists in methods sentences."""
    names = [str(n) for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""


def tests_with_variables(pairs: list[tuple[str, str]]) -> str:
    """'Welch t-test (age, chol); chi-square (sex)': each test used, with the variables it was used for,
    in order of first use (a methods caption must not name one test for variables tested differently)."""
    by_test: dict[str, list[str]] = {}
    for variable, test in pairs:
        if test:
            by_test.setdefault(test, []).append(str(variable))
    return "; ".join(f"{test} ({', '.join(variables)})" for test, variables in by_test.items())


def level_text(value: Any) -> str:
    """Category level as text; 1.0 reads as '1' so flags and codes look natural."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


# A derived binary column's name holds its comparison, e.g. "cad_grade > 0" (engine.stats.cohort).
DERIVED_MARK = re.compile(r" (>|>=|<|<=|==|!=) ")
TRUE_TEXT = frozenset({"true", "yes"})
FALSE_TEXT = frozenset({"false", "no"})


def level_label(column: Any, text: str) -> str:
    """A level as tables and legends show it: '1 (yes)' for a 0/1 column whose labels the vocabulary
    (or a derived variable's definition) gives, the plain level text otherwise."""
    labels = value_labels(column) if column is not None else None
    if labels is None and column is not None and DERIVED_MARK.search(str(column)):
        labels = {0: "no", 1: "yes"}
    if labels and text in ("0", "1"):
        return f"{text} ({labels[int(text)]})"
    return text


def binary_values(series: pd.Series) -> pd.Series | None:
    """The column as 1.0 / 0.0 (missing kept) when it is binary: numbers 0/1, booleans, or the texts
    True/False (any case); None otherwise. Lets True/False columns serve as outcomes and events."""
    values = series.dropna()
    if values.empty:
        return None
    if pd.api.types.is_bool_dtype(values) or values.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        return series.map(lambda v: v if pd.isna(v) else float(bool(v))).astype(float)
    if pd.api.types.is_numeric_dtype(values):
        return series.astype(float) if set(values.unique()) <= {0, 1} else None
    text = values.astype(str).str.strip().str.lower()
    if set(text.unique()) <= TRUE_TEXT | FALSE_TEXT:
        lowered = series.map(lambda v: v if pd.isna(v) else str(v).strip().lower())
        return lowered.map(lambda v: v if pd.isna(v) else float(v in TRUE_TEXT)).astype(float)
    return None


def is_binary(series: pd.Series) -> bool:
    """Exactly two values that :func:`binary_values` reads as 0 and 1."""
    values = binary_values(series)
    return values is not None and values.dropna().nunique() == 2


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
    return remap[raw_codes], [level_label(series.name, lvl) for lvl in levels]


def _natural_key(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def numeric_values(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as floats, with a clear error if it holds text."""
    series = frame[column]
    if not pd.api.types.is_numeric_dtype(series) and (binary := binary_values(series)) is not None:
        return binary
    numeric = pd.to_numeric(series, errors="coerce")
    bad = numeric.isna() & series.notna()
    if bad.any():
        raise InputError(f"Column '{column}' has text in {int(bad.sum())} rows; it cannot be used as a number.")
    return numeric.astype(float)
