"""Census forecast for the next weeks (a fan chart) and its rolling-origin backtest.

The forecast is the simulated census at the end of each day (the midnight census): arrival counts come
from :mod:`engine.capacity.arrivals` (weekday + trend, with its uncertainty), stays from a
length-of-stay distribution, and the patients already in the unit stay for the rest of their stay given
how long they have been in. Each replication is one run of :func:`engine.capacity.simulation.run_unit`;
the bands are the 5/25/50/75/95th percentiles over replications (50% and 90% bands).

The backtest asks how the forecast would have done on the unit's own past: at several origins it
rebuilds the history as it was then (later admissions unknown, later discharges not yet happened),
forecasts the next ``horizon`` days and compares the median with the census that followed, beside the
seasonal-naive forecast (the census on the same weekday of the last observed week).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from engine.capacity.admissions import (Admissions, daily_arrivals, history_until, in_unit_at,
                                        midnight_census, stay_lengths)
from engine.capacity.arrivals import ArrivalModel, fit_arrival_model
from engine.capacity.los import LOSDistribution, fit_los
from engine.capacity.simulation import arrival_times_from_counts, run_unit
from engine.config import get_settings
from engine.errors import InputError

QUANTILES = {"p05": 5, "p25": 25, "p50": 50, "p75": 75, "p95": 95}
MAX_WEEKS = 26


def simulate_census_paths(model: ArrivalModel, los: LOSDistribution, days: pd.DatetimeIndex, *, reps: int, seed: int,
                          initial_elapsed: np.ndarray | None = None, initial_census: int = 0,
                          beds: int | None = None) -> np.ndarray:
    """``reps`` x ``len(days)`` midnight census paths (see the module docstring)."""
    rng = np.random.default_rng(seed)
    counts = model.sample_counts(rng, days, reps)
    record = np.arange(1, len(days) + 1, dtype=float)
    paths = np.zeros((reps, len(days)), dtype=np.int64)
    for r in range(reps):
        if initial_elapsed is not None:
            remaining = los.sample_remaining(rng, initial_elapsed)
        else:
            remaining = los.sample_equilibrium_remaining(rng, initial_census)
        times = arrival_times_from_counts(rng, counts[r])
        paths[r] = run_unit(times, los.sample(rng, len(times)), beds=beds, initial_remaining=remaining,
                            record_times=record).census
    return paths


def summarise_paths(paths: np.ndarray) -> dict[str, list[float]]:
    out = {name: np.percentile(paths, q, axis=0).round(2).tolist() for name, q in QUANTILES.items()}
    out["mean"] = paths.mean(axis=0).round(2).tolist()
    return out


def _check_weeks(weeks: int) -> None:
    if not 1 <= weeks <= MAX_WEEKS:
        raise InputError(f"Forecast between 1 and {MAX_WEEKS} weeks ahead.")


def forecast_census(model: ArrivalModel, los: LOSDistribution, *, start: pd.Timestamp, weeks: int,
                    initial_elapsed: np.ndarray | None = None, initial_census: int = 0, reps: int | None = None,
                    seed: int = 0, history: pd.Series | None = None, label: str = "") -> dict[str, Any]:
    """Census fan chart data for ``weeks`` weeks from ``start`` (midnight), as plain data."""
    _check_weeks(weeks)
    reps = reps or get_settings().capacity_forecast_reps
    if reps < 20:
        raise InputError("Use at least 20 replications so the bands mean something.")
    if initial_census < 0:
        raise InputError("The number of patients in the unit now cannot be negative.")
    days = pd.date_range(start.normalize(), periods=weeks * 7, freq="D")
    paths = simulate_census_paths(model, los, days, reps=reps, seed=seed, initial_elapsed=initial_elapsed,
                                  initial_census=initial_census)
    now = int(len(initial_elapsed)) if initial_elapsed is not None else int(initial_census)
    warnings = list(model.warnings) + list(los.warnings)
    if initial_elapsed is None and initial_census:
        warnings.append("How long the current patients have been in is unknown: their remaining stays are drawn "
                        "as for a unit in steady state.")
    result: dict[str, Any] = {
        "label": label, "start": days[0].date().isoformat(), "weeks": weeks, "reps": reps, "seed": seed,
        "days": [d.date().isoformat() for d in days], "census": summarise_paths(paths),
        "census_now": now, "arrivals": model.describe(), "los": los.describe(),
        "expected_arrivals": model.expected(days).round(3).tolist(),
        "basis": ("Midnight census simulated {reps} times (simpy discrete-event simulation): arrivals from the "
                  "{family} model, stays from {los}; bands are the 50% (25th-75th) and 90% (5th-95th) ranges "
                  "over the runs.").format(reps=reps, family=model.family, los=los.label),
        "warnings": warnings,
    }
    if history is not None:
        result["history"] = {"days": [d.date().isoformat() for d in history.index],
                             "census": [int(v) for v in history.to_numpy()]}
    return result


def forecast_origin(adm: Admissions) -> pd.Timestamp:
    """Where a forecast from this export starts: the midnight after its last full day."""
    if adm.export_end is None:
        raise InputError("The export has no dates.")
    return adm.export_end.normalize()


def forecast_from_admissions(adm: Admissions, unit: str | None, *, weeks: int, los: LOSDistribution | None = None,
                             reps: int | None = None, seed: int = 0, history_weeks: int = 8) -> dict[str, Any]:
    """Forecast a unit's census from its export: arrival model and (by default) LOS both learnt from it."""
    origin = forecast_origin(adm)
    known = history_until(adm, origin)
    model = fit_arrival_model(daily_arrivals(known, unit, end=origin))
    los = los or fit_los(*stay_lengths(known, unit), label=f"the export's {unit or 'all-unit'} stays")
    hist_days = pd.date_range(origin - pd.Timedelta(days=7 * history_weeks), origin - pd.Timedelta(days=1), freq="D")
    hist = midnight_census(known, hist_days, unit)
    result = forecast_census(model, los, start=origin, weeks=weeks, initial_elapsed=in_unit_at(known, origin, unit),
                             reps=reps, seed=seed, history=hist, label=unit or "all units")
    result["source"] = adm.source
    return result


# --- backtest -----------------------------------------------------------------------------------------------

def backtest_forecast(adm: Admissions, unit: str | None, *, horizon_days: int = 14, origins: int = 6,
                      step_days: int = 7, reps: int = 100, seed: int = 0) -> dict[str, Any]:
    """Rolling-origin backtest of the median census forecast against seasonal-naive (MAE, in patients)."""
    if horizon_days < 1 or origins < 1:
        raise InputError("The backtest needs a horizon of at least one day and at least one origin.")
    end = forecast_origin(adm)
    known_now = history_until(adm, end)
    los_all = fit_los(*stay_lengths(known_now, unit))
    burn_in = int(math.ceil(los_all.describe().get("p90_days", 3 * los_all.mean_days) * 1.5)) + 7  # census before this is missing earlier stays
    first = known_now.stays["admit"].min().normalize()
    all_days = pd.date_range(first, end - pd.Timedelta(days=1), freq="D")
    actual = midnight_census(known_now, all_days, unit)
    last_origin = end - pd.Timedelta(days=horizon_days)
    origin_list = [last_origin - pd.Timedelta(days=step_days * k) for k in range(origins)]
    earliest = first + pd.Timedelta(days=burn_in + 28)
    origin_list = sorted(o for o in origin_list if o >= earliest)
    if not origin_list:
        raise InputError(f"The history is too short to backtest: it needs about {burn_in + 28 + horizon_days} days "
                         f"(a length-of-stay burn-in of {burn_in} days, 4 weeks to learn arrivals, the horizon).")
    rows = []
    model_err, naive_err = [], []
    for k, origin in enumerate(origin_list):
        past = history_until(adm, origin)
        model = fit_arrival_model(daily_arrivals(past, unit, end=origin).loc[first + pd.Timedelta(days=0):])
        los = fit_los(*stay_lengths(past, unit))
        days = pd.date_range(origin, periods=horizon_days, freq="D")
        paths = simulate_census_paths(model, los, days, reps=reps, seed=seed + k,
                                      initial_elapsed=in_unit_at(past, origin, unit))
        median = np.median(paths, axis=0)
        truth = actual.reindex(days).to_numpy(dtype=float)
        naive = np.array([actual.get(d - pd.Timedelta(days=7 * math.ceil((j + 1) / 7)), np.nan)
                          for j, d in enumerate(days)], dtype=float)
        e_model, e_naive = np.abs(median - truth), np.abs(naive - truth)
        model_err.append(e_model)
        naive_err.append(e_naive)
        rows.append({"origin": origin.date().isoformat(), "mae_model": round(float(np.nanmean(e_model)), 3),
                     "mae_seasonal_naive": round(float(np.nanmean(e_naive)), 3)})
    m, n = float(np.nanmean(np.concatenate(model_err))), float(np.nanmean(np.concatenate(naive_err)))
    by_h_model = np.nanmean(np.vstack(model_err), axis=0)
    by_h_naive = np.nanmean(np.vstack(naive_err), axis=0)
    return {"unit": unit or "all units", "source": adm.source, "horizon_days": horizon_days, "origins": rows,
            "mae_model": round(m, 3), "mae_seasonal_naive": round(n, 3),
            "skill_vs_naive": round(1 - m / n, 3) if n > 0 else None,
            "mae_by_horizon": {"model": by_h_model.round(3).tolist(), "seasonal_naive": by_h_naive.round(3).tolist()},
            "reps": reps, "burn_in_days": burn_in,
            "basis": ("Rolling origin: at each origin the export is cut to what was known then, the arrival model "
                      "and length of stay are refitted, and the median of the simulated census is compared with "
                      "the census that followed; seasonal-naive repeats the last observed same weekday.")}
