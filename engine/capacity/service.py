"""The capacity planner's entry points for the page and the command line (one call per result).

They join the pieces: the store's pseudonym key for the export, the forecast per unit, bed sizing from
the forecast's arrivals, and the roster's staffing needs from the forecast census.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.capacity.admissions import Admissions, read_admissions, stay_lengths
from engine.capacity.arrivals import ArrivalModel, given_arrival_model
from engine.capacity.beds import size_beds
from engine.capacity.forecast import forecast_census, forecast_from_admissions
from engine.capacity.los import LOSDistribution, fit_los
from engine.capacity.roster import RosterProblem, RosterRules, build_staff, demand_from_census, solve_roster
from engine.config import get_settings
from engine.errors import InputError
from engine.ingest.importer import ensure_pseudonym_key
from engine.privacy import pseudonymiser
from engine.store import Database, transaction

PLAN_FOR = ("p50", "p75", "p95")


def import_admissions(db: Database, data: bytes, *, units: list[str] | tuple[str, ...] | None = None,
                      source: str = "upload", **columns: str | None) -> Admissions:
    """Read an export with patient numbers pseudonymised under the store's key (created once if missing)."""
    with transaction(db):
        key = ensure_pseudonym_key(db)
    units = tuple(get_settings().capacity_units) if units is None else units
    return read_admissions(data, units=units, pseudonymise=pseudonymiser(key, prefix="P-"), source=source, **columns)


def forecast_units(adm: Admissions, units: list[str], *, weeks: int, reps: int | None = None, seed: int = 0,
                   los: dict[str, LOSDistribution] | None = None) -> dict[str, dict[str, Any]]:
    """One census forecast per unit from the export."""
    return {u: forecast_from_admissions(adm, u, weeks=weeks, reps=reps, seed=seed, los=(los or {}).get(u))
            for u in units}


def forecast_from_parameters(weekday_rates: list[float], los: LOSDistribution, *, weeks: int, census_now: int,
                             start: str | pd.Timestamp | None = None, reps: int | None = None, seed: int = 0,
                             label: str = "unit") -> dict[str, Any]:
    """Census forecast from stated arrivals per weekday and a LOS distribution."""
    model = given_arrival_model(weekday_rates)
    begin = pd.Timestamp(start) if start is not None else pd.Timestamp.now().normalize()
    result = forecast_census(model, los, start=begin, weeks=weeks, initial_census=census_now, reps=reps, seed=seed,
                             label=label)
    result["source"] = "parameters"
    return result


def mean_arrivals(forecast: dict[str, Any]) -> float:
    """Mean arrivals per day over the forecast horizon (trend included), for bed sizing."""
    return float(np.mean(forecast["expected_arrivals"]))


def beds_for_forecast(forecast: dict[str, Any], los: LOSDistribution, *, target: float, simulate: bool = True,
                      seed: int = 0) -> dict[str, Any]:
    result = size_beds(mean_arrivals(forecast), los, target=target, simulate=simulate, seed=seed)
    result["unit"] = forecast.get("label")
    return result


def los_for_unit(adm: Admissions, unit: str) -> LOSDistribution:
    """The export's own LOS for ``unit`` (Kaplan-Meier over finished and still-in stays)."""
    return fit_los(*stay_lengths(adm, unit), label=f"the export's {unit} stays")


def plan_roster(forecasts: dict[str, dict[str, Any]], ratios: dict[str, float], *, n_nurses: int,
                plan_for: str = "p50", rules: RosterRules | None = None, dual_skilled: int | None = None,
                leave: dict[str, list[int]] | None = None, days: int = 28, time_limit_s: float | None = None,
                seed: int = 0) -> dict[str, Any]:
    """Staffing needs from the forecast census (``plan_for`` band) and patient:nurse ratios; then the roster."""
    if plan_for not in PLAN_FOR:
        raise InputError(f"Plan staffing for one of {', '.join(PLAN_FOR)} (median, upper 50% band, upper 90% band).")
    if not forecasts:
        raise InputError("Forecast the census first: the roster's staffing needs come from it.")
    census = {u: f["census"][plan_for] for u, f in forecasts.items()}
    starts = {f["start"] for f in forecasts.values()}
    if len(starts) != 1:
        raise InputError("The units' forecasts start on different days; forecast them together.")
    units, demand = demand_from_census(census, ratios, days=days)
    staff = build_staff(n_nurses, units, dual_skilled=dual_skilled, leave=leave,
                        weights=[float(demand[:, :, k].sum()) for k in range(len(units))])
    problem = RosterProblem(staff, units, demand, pd.Timestamp(starts.pop()), rules or RosterRules())
    result = solve_roster(problem, time_limit_s=time_limit_s, seed=seed)
    result["plan_for"] = plan_for
    result["ratios"] = {u: ratios[u] for u in units}
    result["skills"] = {n.label: list(n.skills) for n in problem.nurses}
    return result


def steady_census(census: dict[str, float], *, days: int = 28, start: str | None = None) -> dict[str, dict[str, Any]]:
    """A flat planned census per unit, shaped like forecasts, for a roster without a forecast."""
    begin = pd.Timestamp(start) if start else pd.Timestamp.now().normalize()
    return {u: {"census": {p: [float(c)] * days for p in PLAN_FOR}, "start": begin.date().isoformat(), "label": u}
            for u, c in census.items()}


def parse_pairs(text: str, what: str) -> dict[str, float]:
    """'ICU=2,HDU=3' -> {'ICU': 2.0, 'HDU': 3.0}."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InputError(f"Write {what} as UNIT=NUMBER pairs separated by commas (e.g. ICU=2,HDU=3).")
    if not out:
        raise InputError(f"Give at least one {what} pair (e.g. ICU=2).")
    return out


def parse_leave(text: str) -> dict[str, list[int]]:
    """'N03:8-14,N12:15' (days 1-based, inclusive) -> {'N03': [7..13], 'N12': [14]}."""
    out: dict[str, list[int]] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        label, _, days = part.partition(":")
        try:
            lo, _, hi = days.partition("-")
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise InputError("Write leave as LABEL:FIRST-LAST days of the roster (e.g. N03:8-14), separated by "
                             "commas.") from None
        if first < 1 or last < first:
            raise InputError("Leave days count from 1, and the last day cannot come before the first.")
        out.setdefault(label.strip(), []).extend(range(first - 1, last))
    return out


__all__ = ["ArrivalModel", "import_admissions", "forecast_units", "forecast_from_parameters", "beds_for_forecast",
           "plan_roster", "parse_pairs", "parse_leave", "los_for_unit", "mean_arrivals"]
