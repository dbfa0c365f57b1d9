"""NEWS2 (Royal College of Physicians, National Early Warning Score 2, December 2017).

Scored at every time point where any input exists, carrying each vital forward for a
limited time (``carry_hours``) because charting is irregular; a parameter with no value
in that window is *missing* and shown as such, never scored as normal, and the total is
then marked incomplete. Adaptations to ICU data, documented because the chart assumes
bedside observations:

- SpO2: the challenge records arterial SaO2, used in place of pulse oximetry.
- Supplemental oxygen: FiO2 above room air (> 0.21) or mechanical ventilation means "oxygen".
- Consciousness: GCS 15 is "Alert"; GCS below 15 counts as new confusion / V / P / U (3 points).
- SpO2 scale 2 applies only when hypercapnic respiratory failure is recorded (an argument),
  as the RCP chart requires a clinical decision to use it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BANDS_SOURCE = "Royal College of Physicians. National Early Warning Score (NEWS) 2. London: RCP, 2017. Chart 1."
INPUTS = ("RespRate", "SpO2", "Oxygen", "SysBP", "HR", "Consciousness", "Temp")


def score_resp_rate(rr: float) -> int:
    if rr <= 8:
        return 3
    if rr <= 11:
        return 1
    if rr <= 20:
        return 0
    if rr <= 24:
        return 2
    return 3


def score_spo2_scale1(spo2: float) -> int:
    if spo2 <= 91:
        return 3
    if spo2 <= 93:
        return 2
    if spo2 <= 95:
        return 1
    return 0


def score_spo2_scale2(spo2: float, on_oxygen: bool) -> int:
    """Scale 2 (target 88-92%): high saturations score only on oxygen."""
    if spo2 <= 83:
        return 3
    if spo2 <= 85:
        return 2
    if spo2 <= 87:
        return 1
    if spo2 <= 92 or not on_oxygen:
        return 0
    if spo2 <= 94:
        return 1
    if spo2 <= 96:
        return 2
    return 3


def score_oxygen(on_oxygen: bool) -> int:
    return 2 if on_oxygen else 0


def score_systolic(sbp: float) -> int:
    if sbp <= 90:
        return 3
    if sbp <= 100:
        return 2
    if sbp <= 110:
        return 1
    if sbp <= 219:
        return 0
    return 3


def score_pulse(hr: float) -> int:
    if hr <= 40:
        return 3
    if hr <= 50:
        return 1
    if hr <= 90:
        return 0
    if hr <= 110:
        return 1
    if hr <= 130:
        return 2
    return 3


def score_consciousness(alert: bool) -> int:
    return 0 if alert else 3


def score_temperature(temp: float) -> int:
    # Chart bands are to one decimal place: <=35.0, 35.1-36.0, 36.1-38.0, 38.1-39.0, >=39.1.
    t = round(float(temp), 1)
    if t <= 35.0:
        return 3
    if t <= 36.0:
        return 1
    if t <= 38.0:
        return 0
    if t <= 39.0:
        return 1
    return 2


def risk_band(total: int, any_three: bool) -> str:
    """Clinical risk per the RCP chart: low (0-4), low-medium (a 3 in one parameter), medium (5-6), high (7+)."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if any_three:
        return "low-medium"
    return "low"


@dataclass(frozen=True)
class News2:
    """One NEWS2 evaluation: the per-parameter scores (None = missing), total and risk band."""

    parts: dict[str, int | None]
    total: int
    complete: bool
    band: str

    @property
    def missing(self) -> list[str]:
        return [k for k, v in self.parts.items() if v is None]


def compute_news2(*, resp_rate: float | None, spo2: float | None, on_oxygen: bool | None, systolic: float | None,
                  pulse: float | None, alert: bool | None, temperature: float | None,
                  hypercapnic_failure: bool = False) -> News2:
    """Score one set of observations. Missing inputs stay missing; the total covers what is present."""
    parts: dict[str, int | None] = {
        "RespRate": None if resp_rate is None else score_resp_rate(resp_rate),
        "SpO2": None if spo2 is None else (score_spo2_scale2(spo2, bool(on_oxygen)) if hypercapnic_failure
                                           else score_spo2_scale1(spo2)),
        "Oxygen": None if on_oxygen is None else score_oxygen(on_oxygen),
        "SysBP": None if systolic is None else score_systolic(systolic),
        "HR": None if pulse is None else score_pulse(pulse),
        "Consciousness": None if alert is None else score_consciousness(alert),
        "Temp": None if temperature is None else score_temperature(temperature),
    }
    present = [v for v in parts.values() if v is not None]
    total = int(sum(present))
    return News2(parts=parts, total=total, complete=len(present) == len(parts),
                 band=risk_band(total, any(v == 3 for v in present)))


def news2_series(series: pd.DataFrame, *, carry_hours: float = 4.0, hypercapnic_failure: bool = False) -> pd.DataFrame:
    """NEWS2 at every time point of a stay's long series (hours, parameter, value).

    Each input is the latest value within ``carry_hours`` before the time point (an arterial line
    systolic preferred over a cuff one at the same time). Returns one row per time point with the
    seven part scores (NaN = missing), ``total``, ``complete``, ``band`` and ``missing`` (names).
    """
    columns = ["hours", *INPUTS, "total", "complete", "band", "missing"]
    if series.empty:
        return pd.DataFrame(columns=columns)
    wide = series.pivot_table(index="hours", columns="parameter", values="value", aggfunc="last").sort_index()
    times = wide.index.to_numpy()

    def latest(name: str) -> np.ndarray:
        if name not in wide:
            return np.full(len(times), np.nan)
        col = wide[name]
        filled = col.ffill()
        stamp = pd.Series(np.where(col.notna(), wide.index, np.nan), index=wide.index).ffill()
        stale = (wide.index.to_numpy() - stamp.to_numpy()) > carry_hours
        return np.where(stale, np.nan, filled.to_numpy())

    sbp = latest("SysABP")
    sbp = np.where(np.isnan(sbp), latest("NISysABP"), sbp)
    fio2, vent, gcs = latest("FiO2"), latest("MechVent"), latest("GCS")
    oxygen = np.where(vent >= 1, 1.0, np.where(np.isnan(fio2), np.nan, (fio2 > 0.21).astype(float)))
    oxygen = np.where(np.isnan(vent) & np.isnan(fio2), np.nan, oxygen)
    spo2 = latest("SaO2")
    if hypercapnic_failure:
        spo2_part = _score(lambda v, o: score_spo2_scale2(v, bool(o == 1)), spo2, np.nan_to_num(oxygen))
    else:
        spo2_part = _score(score_spo2_scale1, spo2)
    parts = {
        "RespRate": _score(score_resp_rate, latest("RespRate")),
        "SpO2": spo2_part,
        "Oxygen": np.where(np.isnan(oxygen), np.nan, oxygen * 2),
        "SysBP": _score(score_systolic, sbp),
        "HR": _score(score_pulse, latest("HR")),
        "Consciousness": np.where(np.isnan(gcs), np.nan, np.where(gcs >= 15, 0.0, 3.0)),
        "Temp": _score(score_temperature, latest("Temp")),
    }
    matrix = np.column_stack([parts[k] for k in INPUTS])
    present = ~np.isnan(matrix)
    total = np.nansum(matrix, axis=1).astype(int)
    any_three = (np.nan_to_num(matrix) == 3).any(axis=1)
    frame = pd.DataFrame({"hours": times.astype(float), **parts})
    frame["total"] = total
    frame["complete"] = present.all(axis=1)
    frame["band"] = [risk_band(int(t), bool(a)) for t, a in zip(total, any_three)]
    frame["missing"] = [", ".join(k for k, p in zip(INPUTS, row) if not p) for row in present]
    return frame[columns]


def _score(fn, values: np.ndarray, *extra: np.ndarray) -> np.ndarray:
    """Apply a scalar band function where a value exists; NaN (missing) stays NaN."""
    out = np.full(len(values), np.nan)
    ok = ~np.isnan(values)
    out[ok] = [fn(v, *(e[i] for e in extra)) for i, v in zip(np.flatnonzero(ok), values[ok])]
    return out


def _opt(x: float) -> float | None:
    return None if np.isnan(x) else float(x)
