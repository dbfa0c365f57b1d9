"""Benchmark the nurse roster solver (issue 17): 30 nurses x 28 days x 3 shifts, two units (ICU 2:1, HDU),
three nurses with leave, every hard rule on (5 days in a row at most, 2 rest days after nights, no early after
late, at most 8 nights and 20 shifts each, unit skills).

Measures the full solve (fairness objective, 2 workers, 30 s limit): wall time, status, objective, proven
bound and optimality gap. Baseline in the same run: the same model with no objective (any roster meeting the
rules), so the ratio says what fairness costs. Prints one JSON object as its last line.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ortools.sat.python import cp_model  # noqa: E402

from engine.capacity.roster import _build, _solve, bench_problem, solve_roster  # noqa: E402

WORKERS = 2
LIMIT_S = 30.0


def main() -> None:
    problem = bench_problem()
    t0 = time.perf_counter()
    result = solve_roster(problem, time_limit_s=LIMIT_S, workers=WORKERS)
    solve_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model, *_ = _build(problem)
    _, status = _solve(model, LIMIT_S, WORKERS)
    feasible_s = time.perf_counter() - t0
    print(json.dumps({
        "name": "roster", "nurses": len(problem.nurses), "days": problem.days, "shifts": 3,
        "units": problem.units, "shifts_needed": int(problem.demand.sum()), "workers": WORKERS,
        "time_limit_s": LIMIT_S, "status": result["status"], "objective": result.get("objective"),
        "bound": result.get("bound"), "gap": result.get("gap"), "solve_s": round(solve_s, 3),
        "within_1pct_in_30s": bool(result.get("gap") is not None and result["gap"] <= 0.01 and solve_s <= 30),
        "spreads": result.get("spreads"), "baseline_feasible_only_s": round(feasible_s, 3),
        "baseline_status": "feasible" if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else "not found",
        "ratio_vs_feasible_only": round(solve_s / feasible_s, 2) if feasible_s > 0 else None,
    }))


if __name__ == "__main__":
    main()
