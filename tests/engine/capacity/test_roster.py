"""The CP-SAT roster: every hard rule checked on the answer by an independent checker; fairness; reasons in
plain words when no roster exists; the CSV carries staff labels only."""
from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from engine.capacity.roster import (RosterProblem, RosterRules, build_staff, counting_checks, demand_from_census,
                                    fair_bands, roster_csv, solve_roster)
from engine.errors import InputError

START = pd.Timestamp("2026-11-30")  # a Monday


def check_hard_rules(p: RosterProblem, result: dict) -> None:
    """Re-check a roster from its grid alone (independent of the model's constraints)."""
    r = p.rules
    grid = result["grid"]
    for i, nurse in enumerate(p.nurses):
        cells = grid[i]
        work = [bool(c) and c != "leave" for c in cells]
        shift = [c.split("-")[0] if w else None for c, w in zip(cells, work)]
        for d in nurse.leave:
            assert cells[d] == "leave", (nurse.label, d)
        for d, c in enumerate(cells):
            if work[d]:
                assert c.split("-", 1)[1] in nurse.skills, (nurse.label, d, c)
        run = 0
        for w in work:
            run = run + 1 if w else 0
            assert run <= r.max_consecutive, nurse.label
        for d in range(p.days - 1):
            if shift[d] == "N" and shift[d + 1] != "N":
                for j in range(1, r.rest_days_after_nights + 1):
                    if d + j < p.days:
                        assert not work[d + j], (nurse.label, d, "rest after nights")
            if r.no_early_after_late and shift[d] == "L":
                assert shift[d + 1] != "E", (nurse.label, d, "early after late")
        assert shift.count("N") <= r.max_nights and sum(work) <= r.max_shifts, nurse.label
    for d in range(p.days):
        for s, code in enumerate("ELN"):
            for k, unit in enumerate(p.units):
                staffed = sum(1 for row in grid if row[d] == f"{code}-{unit}")
                assert staffed >= p.demand[d, s, k], (d, code, unit)


def _problem(n=12, days=14, rules=RosterRules(), leave=None):
    units = ["ICU", "HDU"]
    demand = np.zeros((days, 3, 2), dtype=np.int64)
    demand[:, :, 0] = [2, 2, 2]
    demand[:, :, 1] = [1, 1, 0]
    return RosterProblem(build_staff(n, units, leave=leave), units, demand, START, rules)


def test_roster_meets_every_hard_rule_and_reports_its_fairness_honestly():
    p = _problem(leave={"N02": [3, 4, 5, 6]})
    result = solve_roster(p, time_limit_s=10, workers=2)
    assert result["status"] in ("optimal", "feasible")
    check_hard_rules(p, result)
    # The reported fairness and gap agree with an independent recount from the grid.
    bands = fair_bands(p)
    recount = {"nights": 0, "weekends": 0, "shifts": 0}
    for i, row in enumerate(result["per_nurse"]):
        for name, value in (("nights", row["nights"]), ("weekends", row["weekend_shifts"]), ("shifts", row["shifts"])):
            lo, hi = bands[name][i]
            recount[name] += max(0, value - hi, lo - value)
    assert recount == result["outside_fair_band"]
    over = sum(a - n for a, n in zip(np.ravel(result["assigned"]), np.ravel(result["needed"])))
    assert over == result["over_staffed_shifts"]
    assert result["objective"] == 4 * recount["nights"] + 3 * recount["weekends"] + 2 * recount["shifts"] + over
    assert 0 <= result["bound"] <= result["objective"] and 0 <= result["gap"] <= 1
    n02 = next(r for r in result["per_nurse"] if r["nurse"] == "N02")
    assert n02["leave_days"] == 4 and bands["shifts"][1][1] < bands["shifts"][0][0]  # leave lowers the fair share


def test_counting_bound_says_which_rule_in_plain_words():
    units = ["ICU"]
    demand = np.zeros((28, 3, 1), dtype=np.int64)
    demand[:, :, 0] = [2, 2, 3]
    p = RosterProblem(build_staff(10, units), units, demand, START, RosterRules(max_nights=4, max_shifts=28))
    result = solve_roster(p, time_limit_s=5)
    assert result["status"] == "infeasible" and result["found_by"] == "counting"
    assert result["reasons"][0].startswith(
        "10 nurses cannot cover 3 night shifts a day with at most 4 nights each in 4 weeks")


def test_rule_relaxation_names_the_culprit_when_counts_pass():
    units = ["ICU"]
    demand = np.zeros((14, 3, 1), dtype=np.int64)
    demand[:, :, 0] = [1, 1, 1]
    rules = RosterRules(rest_days_after_nights=2, max_consecutive=14, max_nights=7, max_shifts=14)
    p = RosterProblem(build_staff(3, units), units, demand, START, rules)
    assert counting_checks(p) == []
    result = solve_roster(p, time_limit_s=10)
    assert result["status"] == "infeasible" and result["found_by"] == "relaxing rules one at a time"
    assert "rest days after a run of nights" in result["reasons"][0]
    assert "the limit on nights per nurse" in result["reasons"][0]


def test_skills_shortage_is_named():
    units = ["ICU", "HDU"]
    demand = np.zeros((7, 3, 2), dtype=np.int64)
    demand[:, :, 1] = [2, 2, 2]
    p = RosterProblem(build_staff(12, units, dual_skilled=1), units, demand, START)
    reasons = counting_checks(p)
    assert any("skilled for HDU" in r for r in reasons), reasons


def test_demand_from_census_and_csv_has_labels_only():
    units, demand = demand_from_census({"ICU": [5.0] * 28, "HDU": [7.0] * 28}, {"ICU": 2, "HDU": 3})
    assert demand[0, :, 0].tolist() == [3, 3, 3] and demand[0, :, 1].tolist() == [3, 3, 3]
    p = _problem(n=14, days=7)
    result = solve_roster(p, time_limit_s=10)
    rows = list(csv.reader(io.StringIO(roster_csv(result).decode())))
    assert rows[0] == ["nurse", *result["dates"]] and len(rows) == 15
    assert {r[0] for r in rows[1:]} == {f"N{i:02d}" for i in range(1, 15)}
    with pytest.raises(InputError):
        demand_from_census({"ICU": [5.0] * 28}, {"ICU": 0})
    with pytest.raises(InputError, match="not on the roster"):
        build_staff(5, ["ICU"], leave={"N09": [1]})
