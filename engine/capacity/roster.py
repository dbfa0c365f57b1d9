"""Four-week nurse roster: OR-Tools CP-SAT under hard rules, fair nights and weekends, and plain-word reasons
when no roster exists.

Hard rules (each nurse): one shift a day at most; no shift on a leave day; at most ``max_consecutive`` working
days in a row; after the last night of a run, ``rest_days_after_nights`` days off; no early shift straight after
a late one (11 h rest); at most ``max_nights`` nights and ``max_shifts`` shifts in the period; only units the
nurse is skilled for. Each shift of each unit gets at least the nurses the census needs.
Soft (the objective): how far each nurse's nights, weekend shifts and total shifts fall outside their fair
band (the pro-rata share of the need by days available, rounded down and up, so leave is not "paid back" with
nights), plus any nurse above the need. The objective is never negative, so a fair roster (zero) is proven
optimal the moment it is found; otherwise the gap says how far from proven the answer is. The solver stops at a time limit and reports the optimality gap (objective vs its proven bound).

When no roster can exist, counting bounds usually say why in one sentence (e.g. "10 nurses cannot cover 3 night
shifts a day with at most 4 nights each in 4 weeks"); when they pass but the solver proves infeasibility, the
rules are relaxed one at a time to name the one that makes it impossible.
"""
from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from ortools.sat.python import cp_model

from engine.config import get_settings
from engine.errors import InputError

SHIFTS = ("Early", "Late", "Night")
SHIFT_CODES = ("E", "L", "N")
NIGHT = 2
WEIGHTS = {"nights": 4, "weekends": 3, "shifts": 2, "over": 1}


@dataclass(frozen=True)
class RosterRules:
    max_consecutive: int = 5
    rest_days_after_nights: int = 2
    max_nights: int = 8
    max_shifts: int = 20
    no_early_after_late: bool = True

    def describe(self) -> dict[str, Any]:
        return {"max_consecutive": self.max_consecutive, "rest_days_after_nights": self.rest_days_after_nights,
                "max_nights": self.max_nights, "max_shifts": self.max_shifts,
                "no_early_after_late": self.no_early_after_late}


@dataclass(frozen=True)
class Nurse:
    """A staff member by label only (e.g. "N07"): never a name."""

    label: str
    skills: tuple[str, ...]
    leave: tuple[int, ...] = ()  # day indices (0-based) on leave


@dataclass
class RosterProblem:
    nurses: list[Nurse]
    units: list[str]
    demand: np.ndarray  # days x 3 shifts x units: nurses needed
    start: pd.Timestamp
    rules: RosterRules = field(default_factory=RosterRules)

    @property
    def days(self) -> int:
        return int(self.demand.shape[0])

    def validate(self) -> None:
        if not self.nurses:
            raise InputError("The roster needs at least one nurse.")
        if self.demand.ndim != 3 or self.demand.shape[1] != 3 or self.demand.shape[2] != len(self.units):
            raise InputError("Staffing needs must be given per day, per shift (early, late, night) and per unit.")
        if self.days < 1 or self.days > 42:
            raise InputError("A roster covers between 1 and 42 days.")
        if (self.demand < 0).any():
            raise InputError("The nurses needed on a shift cannot be negative.")
        labels = [n.label for n in self.nurses]
        if len(set(labels)) != len(labels):
            raise InputError("Two nurses share a staff label; give each its own.")
        r = self.rules
        if r.max_consecutive < 1 or r.max_nights < 0 or r.max_shifts < 0 or r.rest_days_after_nights < 0:
            raise InputError("Roster rules must be 0 or more (at least 1 consecutive day).")
        for n in self.nurses:
            unknown = set(n.skills) - set(self.units)
            if unknown:
                raise InputError(f"Nurse {n.label} is skilled for a unit not in the roster ({', '.join(sorted(unknown))}).")
            if any(d < 0 or d >= self.days for d in n.leave):
                raise InputError(f"Nurse {n.label} has leave outside the roster's {self.days} days.")


def demand_from_census(census_by_unit: dict[str, list[float]], ratios: dict[str, float], *, days: int = 28,
                       night_ratios: dict[str, float] | None = None) -> tuple[list[str], np.ndarray]:
    """Nurses per shift = ceil(census / patients per nurse), per unit and day (nights may use another ratio)."""
    units = list(census_by_unit)
    demand = np.zeros((days, 3, len(units)), dtype=np.int64)
    for k, unit in enumerate(units):
        ratio = ratios.get(unit)
        if ratio is None or not ratio > 0:
            raise InputError(f"Give a patient-to-nurse ratio above 0 for unit {unit} (e.g. 2 for ICU 2:1).")
        night = (night_ratios or {}).get(unit, ratio)
        census = np.asarray(census_by_unit[unit], dtype=float)
        if len(census) < days:
            raise InputError(f"The census forecast for {unit} covers {len(census)} days; the roster needs {days}.")
        census = census[:days]
        for s in range(3):
            demand[:, s, k] = np.ceil(census / (night if s == NIGHT else ratio) - 1e-9).astype(np.int64)
    return units, demand


def _fmt_day(start: pd.Timestamp, d: int) -> str:
    day = start + pd.Timedelta(days=d)
    return f"day {d + 1} ({day.strftime('%a')} {day.day} {day.strftime('%b')})"


def _max_working_days(days: int, max_consecutive: int) -> int:
    return days - days // (max_consecutive + 1)


def counting_checks(p: RosterProblem) -> list[str]:
    """Plain-word reasons no roster can exist, from counting alone (empty when the counts allow one)."""
    reasons: list[str] = []
    r, n_days, weeks = p.rules, p.days, p.days / 7
    weeks_text = f"{weeks:g} weeks" if n_days % 7 == 0 else f"{n_days} days"
    available = [n_days - len(set(n.leave)) for n in p.nurses]
    cap_shifts = [min(r.max_shifts, a, _max_working_days(n_days, r.max_consecutive)) for a in available]
    nights_needed = int(p.demand[:, NIGHT, :].sum())
    night_cap = sum(min(r.max_nights, a) for a in available)
    if nights_needed > night_cap:
        per_day = nights_needed / n_days
        reasons.append(f"{len(p.nurses)} nurses cannot cover {per_day:.3g} night shifts a day with at most "
                       f"{r.max_nights} nights each in {weeks_text} ({nights_needed} nights needed, at most "
                       f"{night_cap} possible).")
    total = int(p.demand.sum())
    if total > sum(cap_shifts):
        reasons.append(f"{len(p.nurses)} nurses cannot cover {total} shifts in {weeks_text} with at most "
                       f"{r.max_shifts} shifts each and at most {r.max_consecutive} days in a row (leave included: at "
                       f"most {sum(cap_shifts)} shifts possible).")
    for k, unit in enumerate(p.units):
        skilled = [i for i, n in enumerate(p.nurses) if unit in n.skills]
        need = int(p.demand[:, :, k].sum())
        cap = sum(cap_shifts[i] for i in skilled)
        if need > cap and len(skilled) < len(p.nurses):  # all skilled: the total check above says it
            reasons.append(f"Only {len(skilled)} nurses are skilled for {unit}: they can work at most {cap} shifts in "
                           f"{weeks_text}, but {unit} needs {need}.")
    day_problems = []
    for d in range(n_days):
        present = [n for n in p.nurses if d not in n.leave]
        if int(p.demand[d].sum()) > len(present):
            day_problems.append(f"{_fmt_day(p.start, d)} needs {int(p.demand[d].sum())} nurses but only "
                                f"{len(present)} are not on leave")
            continue
        for k, unit in enumerate(p.units):
            skilled = sum(1 for n in present if unit in n.skills)
            need = int(p.demand[d, :, k].sum())
            if need > skilled:
                day_problems.append(f"{_fmt_day(p.start, d)} needs {need} {unit} nurses over its three shifts but "
                                    f"only {skilled} nurses skilled for {unit} are not on leave")
    if day_problems:
        more = f" (and {len(day_problems) - 3} more days)" if len(day_problems) > 3 else ""
        reasons.append("; ".join(day_problems[:3]) + more + ".")
    return reasons


RELAXATIONS: tuple[tuple[str, str], ...] = (
    ("rest_days_after_nights", "rest days after a run of nights"),
    ("max_consecutive", "the limit on days worked in a row"),
    ("no_early_after_late", "no early shift straight after a late one"),
    ("max_nights", "the limit on nights per nurse"),
    ("max_shifts", "the limit on shifts per nurse"),
    ("leave", "the leave requests"),
    ("skills", "the unit skills (any nurse on any unit)"),
)


def _build(p: RosterProblem, *, relax: str | None = None):
    r = p.rules
    model = cp_model.CpModel()
    n_days, units = p.days, p.units
    leave_on = relax != "leave"
    x: dict[tuple[int, int, int, int], cp_model.IntVar] = {}
    for i, nurse in enumerate(p.nurses):
        skills = units if relax == "skills" else nurse.skills
        for d in range(n_days):
            if leave_on and d in nurse.leave:
                continue
            for s in range(3):
                for k, unit in enumerate(units):
                    if unit in skills:
                        x[i, d, s, k] = model.new_bool_var(f"x{i}_{d}_{s}_{k}")
    work = {}
    for i in range(len(p.nurses)):
        for d in range(n_days):
            for s in range(3):
                terms = [x[i, d, s, k] for k in range(len(units)) if (i, d, s, k) in x]
                v = model.new_bool_var(f"w{i}_{d}_{s}")
                model.add(sum(terms) == v) if terms else model.add(v == 0)
                work[i, d, s] = v
            model.add(sum(work[i, d, s] for s in range(3)) <= 1)
    day = {(i, d): sum(work[i, d, s] for s in range(3)) for i in range(len(p.nurses)) for d in range(n_days)}
    over_terms = []
    for d in range(n_days):
        for s in range(3):
            for k in range(len(units)):
                terms = [x[i, d, s, k] for i in range(len(p.nurses)) if (i, d, s, k) in x]
                need = int(p.demand[d, s, k])
                extra = model.new_int_var(0, max(0, len(terms) - need), f"over{d}_{s}_{k}")
                model.add(sum(terms) == need + extra)
                over_terms.append(extra)
    for i in range(len(p.nurses)):
        if relax != "max_consecutive":
            w = r.max_consecutive
            for d in range(n_days - w):
                model.add(sum(day[i, d + j] for j in range(w + 1)) <= w)
        if relax != "rest_days_after_nights" and r.rest_days_after_nights > 0:
            for d in range(n_days - 1):
                for j in range(1, r.rest_days_after_nights + 1):
                    if d + j < n_days:
                        # night today and not tonight-again tomorrow -> off for the rest days
                        model.add(day[i, d + j] == 0).only_enforce_if(work[i, d, NIGHT], work[i, d + 1, NIGHT].Not())
                model.add(work[i, d + 1, 0] + work[i, d + 1, 1] == 0).only_enforce_if(work[i, d, NIGHT])
        if relax != "no_early_after_late" and r.no_early_after_late:
            for d in range(n_days - 1):
                model.add(work[i, d, 1] + work[i, d + 1, 0] <= 1)
        if relax != "max_nights":
            model.add(sum(work[i, d, NIGHT] for d in range(n_days)) <= r.max_nights)
        if relax != "max_shifts":
            model.add(sum(day[i, d] for d in range(n_days)) <= r.max_shifts)
    return model, x, work, day, over_terms


def fair_bands(p: RosterProblem) -> dict[str, list[tuple[int, int]]]:
    """Each nurse's fair share of nights, weekend shifts and shifts, as a band [floor, ceil] of the pro-rata share.

    The share is the total the units need times the nurse's days available (not on leave) over everyone's, so
    a week of leave is not paid back with extra nights later.
    """
    n_days = p.days
    weekend_days = {d for d in range(n_days) if (p.start + pd.Timedelta(days=d)).weekday() >= 5}
    totals = {"nights": (int(p.demand[:, NIGHT, :].sum()), set(range(n_days))),
              "weekends": (int(p.demand[sorted(weekend_days)].sum()) if weekend_days else 0, weekend_days),
              "shifts": (int(p.demand.sum()), set(range(n_days)))}
    bands: dict[str, list[tuple[int, int]]] = {}
    for name, (total, days) in totals.items():
        avail = [len(days - set(n.leave)) for n in p.nurses]
        whole = sum(avail) or 1
        bands[name] = [(math.floor(total * a / whole + 1e-9), math.ceil(total * a / whole - 1e-9)) for a in avail]
    return bands


def _fairness(model, p: RosterProblem, work, day, over_terms):
    """Objective: how far each nurse's nights, weekend shifts and shifts fall outside their fair band, plus
    nurses above the need. Zero means perfectly fair; it can never be negative, so a zero is proven optimal."""
    n_days = p.days
    weekend_days = [d for d in range(n_days) if (p.start + pd.Timedelta(days=d)).weekday() >= 5]
    bands = fair_bands(p)
    deviations = {}
    for name in ("nights", "weekends", "shifts"):
        terms = []
        for i, (lo, hi) in enumerate(bands[name]):
            if name == "nights":
                expr = sum(work[i, d, NIGHT] for d in range(n_days))
            elif name == "weekends":
                expr = sum(day[i, d] for d in weekend_days)
            else:
                expr = sum(day[i, d] for d in range(n_days))
            e = model.new_int_var(0, 3 * n_days, f"dev_{name}_{i}")
            model.add(e >= expr - hi)
            model.add(e >= lo - expr)
            terms.append(e)
        deviations[name] = sum(terms)
    over = sum(over_terms)
    objective = sum(WEIGHTS[name] * dev for name, dev in deviations.items()) + WEIGHTS["over"] * over
    return objective, deviations, over


def _solve(model, seconds: float, workers: int, *, seed: int = 0):
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(seconds)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = seed
    status = solver.solve(model)
    return solver, status


def solve_roster(p: RosterProblem, *, time_limit_s: float | None = None, workers: int | None = None,
                 seed: int = 0) -> dict[str, Any]:
    """Solve the roster; returns the grid, per-nurse counts, coverage, status, objective, bound and gap."""
    p.validate()
    settings = get_settings()
    time_limit_s = time_limit_s or settings.capacity_roster_seconds
    workers = workers or settings.capacity_roster_workers
    base = {"days": p.days, "start": p.start.date().isoformat(), "units": p.units, "rules": p.rules.describe(),
            "nurses": len(p.nurses), "shifts_needed": int(p.demand.sum()), "time_limit_s": time_limit_s,
            "workers": workers}
    reasons = counting_checks(p)
    if reasons:
        return {**base, "status": "infeasible", "reasons": reasons, "found_by": "counting"}
    t0 = time.perf_counter()
    model, x, work, day, over_terms = _build(p)
    objective, spreads, over = _fairness(model, p, work, day, over_terms)
    total = model.new_int_var(0, 10_000_000, "objective")  # never negative: states the trivial bound outright
    model.add(total == objective)
    model.minimize(total)
    solver, status = _solve(model, time_limit_s, workers, seed=seed)
    wall = time.perf_counter() - t0
    if status == cp_model.INFEASIBLE:
        return {**base, "status": "infeasible", "reasons": explain_infeasible(p, workers=workers),
                "found_by": "relaxing rules one at a time", "wall_s": round(wall, 3)}
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return {**base, "status": "unknown", "wall_s": round(wall, 3),
                "reasons": [f"No roster was found within {time_limit_s:g} s, and none was proven impossible; allow "
                            "more time or loosen a rule."]}
    obj, bound = solver.objective_value, max(solver.best_objective_bound, 0.0)  # the objective is never negative
    gap = 0.0 if obj <= bound + 1e-9 else (obj - bound) / max(abs(obj), 1e-9)
    grid = []
    for i, nurse in enumerate(p.nurses):
        row = []
        for d in range(p.days):
            cell = "leave" if d in nurse.leave else ""
            for (ii, dd, s, k), var in ((key, v) for key, v in x.items() if key[0] == i and key[1] == d):
                if solver.value(var):
                    cell = f"{SHIFT_CODES[s]}-{p.units[k]}"
            row.append(cell)
        grid.append(row)
    per_nurse = []
    weekend = [d for d in range(p.days) if (p.start + pd.Timedelta(days=d)).weekday() >= 5]
    for i, nurse in enumerate(p.nurses):
        cells = grid[i]
        per_nurse.append({"nurse": nurse.label, "shifts": sum(1 for c in cells if c and c != "leave"),
                          "nights": sum(1 for c in cells if c.startswith("N-")),
                          "weekend_shifts": sum(1 for d in weekend if cells[d] and cells[d] != "leave"),
                          "leave_days": len(set(nurse.leave))})
    assigned = np.zeros_like(p.demand)
    for (i, d, s, k), var in x.items():
        if solver.value(var):
            assigned[d, s, k] += 1
    return {**base, "status": "optimal" if status == cp_model.OPTIMAL else "feasible",
            "objective": obj, "bound": bound, "gap": round(gap, 6), "wall_s": round(wall, 3),
            "outside_fair_band": {name: int(solver.value(dev)) for name, dev in spreads.items()},
            "spreads": {name: int(max(v[name] for v in per_nurse) - min(v[name] for v in per_nurse))
                        for name in ("nights", "weekend_shifts", "shifts")},
            "over_staffed_shifts": int(solver.value(over)),
            "dates": [(p.start + pd.Timedelta(days=d)).date().isoformat() for d in range(p.days)],
            "nurse_labels": [n.label for n in p.nurses], "grid": grid, "per_nurse": per_nurse,
            "needed": p.demand.tolist(), "assigned": assigned.tolist(),
            "basis": ("OR-Tools CP-SAT: hard rules as constraints; objective = "
                      + " + ".join(f"{w} x {k}" for k, w in WEIGHTS.items())
                      + " (nurse-shifts outside each nurse's fair band, the pro-rata share of the need rounded down "
                      "and up; over = nurses above the need). "
                      "Gap = (objective - proven bound) / objective.")}


def explain_infeasible(p: RosterProblem, *, workers: int = 2, seconds: float = 10.0) -> list[str]:
    """Relax each rule alone; the ones whose removal makes a roster possible are to blame."""
    culprits = []
    for key, text in RELAXATIONS:
        model, _, _, _, _ = _build(p, relax=key)
        solver, status = _solve(model, seconds, workers)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            culprits.append(text)
    if culprits:
        return [f"No roster meets every rule together, although the counts allow one; it becomes possible if any one "
                f"of these is loosened: {'; '.join(culprits)}."]
    return ["No roster meets every rule, and loosening any single rule is not enough: several rules together "
            "(or too few nurses for the need) make it impossible."]


def roster_csv(result: dict[str, Any]) -> bytes:
    """The roster grid as CSV: one row per staff label, one column per date (E/L/N-unit, blank off, leave)."""
    if result.get("status") not in ("optimal", "feasible"):
        raise InputError("There is no roster to download.")
    frame = pd.DataFrame(result["grid"], columns=result["dates"])
    frame.insert(0, "nurse", result["nurse_labels"])
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def build_staff(n_nurses: int, units: list[str], *, dual_skilled: int | None = None,
                leave: dict[str, list[int]] | None = None, weights: list[float] | None = None) -> list[Nurse]:
    """Staff labels N01.. : ``dual_skilled`` nurses (default a third) work every unit; the rest are split between
    the units in proportion to ``weights`` (e.g. each unit's nurse-shifts needed; default equal)."""
    if n_nurses < 1:
        raise InputError("The roster needs at least one nurse.")
    leave = leave or {}
    unknown = sorted(set(leave) - {f"N{i + 1:02d}" for i in range(n_nurses)})
    if unknown:
        raise InputError(f"Leave is given for staff labels that are not on the roster: {', '.join(unknown)} "
                         f"(labels run N01 to N{n_nurses:02d}).")
    dual = n_nurses // 3 if dual_skilled is None else min(max(dual_skilled, 0), n_nurses)
    single = n_nurses - dual if len(units) > 1 else 0
    w = np.asarray(weights if weights is not None else [1.0] * len(units), dtype=float)
    w = w / w.sum() if w.sum() > 0 else np.full(len(units), 1 / len(units))
    quota = w * single
    counts = np.floor(quota).astype(int)
    for k in np.argsort(-(quota - counts))[: single - counts.sum()]:  # largest remainders
        counts[k] += 1
    skills: list[tuple[str, ...]] = [(unit,) for unit, c in zip(units, counts) for _ in range(c)]
    skills += [tuple(units)] * (n_nurses - len(skills))
    return [Nurse(f"N{i + 1:02d}", skills[i], tuple(sorted(set(leave.get(f"N{i + 1:02d}", [])))))
            for i in range(n_nurses)]


def bench_problem(n_nurses: int = 30, days: int = 28) -> RosterProblem:
    """The benchmark's instance: ICU (2:1) and HDU, 30 nurses, 4 weeks, three nurses with a week's leave."""
    units = ["ICU", "HDU"]
    demand = np.zeros((days, 3, 2), dtype=np.int64)
    demand[:, :, 0] = [5, 5, 4]
    demand[:, :, 1] = [2, 2, 1]
    leave = {"N03": list(range(7, 14)), "N12": list(range(14, 19)), "N27": list(range(0, 4))}
    staff = build_staff(n_nurses, units, leave=leave, weights=[3.0, 1.0])
    return RosterProblem(staff, units, demand, pd.Timestamp("2026-11-30"))
