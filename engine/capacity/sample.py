"""A clearly labelled SYNTHETIC admissions history, for demos, tests and the backtest when no export exists.

No real admissions export with dates is available offline, so this builds one: arrival days from a
Poisson process with a weekday pattern and a gentle trend (invented), stays resampled from the real
PhysioNet 2012 ICU lengths of stay (ICU) or a lognormal (HDU, invented). Everything built from it says
"synthetic sample" next to it.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from engine.capacity.los import LOSDistribution, icu_los, lognormal_los

SAMPLE_LABEL = "SYNTHETIC sample history (arrivals simulated; ICU stays resampled from real PhysioNet 2012 stays)"
# Invented weekday pattern (Mon..Sun), relative to the mean: elective admissions fill weekdays.
WEEKDAY_SHAPE = np.array([1.15, 1.15, 1.1, 1.1, 1.05, 0.75, 0.7])


def build_sample_admissions(*, weeks: int = 26, seed: int = 17, end: str = "2026-11-23",
                            units: dict[str, tuple[float, LOSDistribution]] | None = None) -> pd.DataFrame:
    """Stays (patient_id, unit, admit_time, discharge_time) over ``weeks`` up to ``end`` (discharge blank if
    still in at ``end``). ``units``: name -> (mean arrivals/day, LOS)."""
    rng = np.random.default_rng(seed)
    units = units or {"ICU": (1.6, icu_los("ICU")), "HDU": (2.4, lognormal_los(3.0, 0.9))}
    end_ts = pd.Timestamp(end)
    start = end_ts - pd.Timedelta(weeks=weeks)
    days = pd.date_range(start, end_ts - pd.Timedelta(days=1), freq="D")
    trend = np.linspace(0.95, 1.05, len(days))
    parts = []
    for unit, (rate, los) in units.items():
        counts = rng.poisson(rate * WEEKDAY_SHAPE[days.weekday] * trend)
        day_of = np.repeat(days.to_numpy(), counts)
        admit = pd.to_datetime(day_of) + pd.to_timedelta(rng.uniform(0, 24, len(day_of)), unit="h")
        discharge = admit + pd.to_timedelta(los.sample(rng, len(day_of)), unit="D")
        parts.append(pd.DataFrame({"unit": unit, "admit_time": admit.floor("min"),
                                   "discharge_time": discharge.floor("min").where(discharge <= end_ts)}))
    frame = pd.concat(parts).sort_values("admit_time").reset_index(drop=True)
    frame.insert(0, "patient_id", [f"S{i:06d}" for i in range(1, len(frame) + 1)])
    return frame


def sample_admissions_csv(**kwargs) -> bytes:
    """:func:`build_sample_admissions` as CSV bytes (ISO times, blank discharge while still in)."""
    frame = build_sample_admissions(**kwargs)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, date_format="%Y-%m-%d %H:%M")
    return buffer.getvalue().encode("utf-8")
