"""Bed sizing: the fewest beds at which an arriving patient finds the unit full less often than a target.

The curve of P(full on arrival) against beds is the Erlang loss formula (exact for Poisson arrivals
whatever the length-of-stay shape); beside it, the discrete-event simulation of the same unit at the
bed counts around the answer, with a 95% interval, shows the two agree (and is what a manager can
rerun with other assumptions). Weekday swings and trend make real arrivals only roughly Poisson; that
caveat is returned with the result.
"""
from __future__ import annotations

import math
from typing import Any

from engine.capacity.erlang import beds_for_target, erlang_b
from engine.capacity.los import LOSDistribution
from engine.capacity.simulation import simulate_loss
from engine.config import get_settings
from engine.errors import InputError


def size_beds(arrivals_per_day: float, los: LOSDistribution, *, target: float = 0.05, simulate: bool = True,
              n_arrivals: int | None = None, seed: int = 0, around: int = 2) -> dict[str, Any]:
    """Recommended beds for ``target`` P(full), the Erlang curve, and simulated checks near the answer."""
    if not (math.isfinite(arrivals_per_day) and arrivals_per_day > 0):
        raise InputError("Arrivals per day must be a positive number.")
    load = arrivals_per_day * los.mean_days
    beds = beds_for_target(load, target)
    low = max(1, int(load * 0.6))
    high = max(beds + 6, int(math.ceil(load)) + 3)
    curve = [{"beds": c, "p_full_erlang": round(erlang_b(c, load), 5),
              "occupancy": round(load * (1 - erlang_b(c, load)) / c, 4)} for c in range(low, high + 1)]
    simulated = []
    if simulate:
        n = n_arrivals or get_settings().capacity_bed_sim_arrivals
        for c in range(max(1, beds - around), beds + around + 1):
            est = simulate_loss(arrivals_per_day, los, c, n_arrivals=n, seed=seed + c)
            simulated.append({"beds": c, "p_full_erlang": round(erlang_b(c, load), 5), **est.to_dict()})
    return {
        "arrivals_per_day": round(arrivals_per_day, 4), "mean_los_days": round(los.mean_days, 4),
        "offered_load_beds": round(load, 3), "target": target, "recommended_beds": beds,
        "p_full_at_recommended": round(erlang_b(beds, load), 5), "curve": curve, "simulated": simulated,
        "los": los.describe(),
        "basis": (f"Erlang loss formula (M/G/c/c, exact for Poisson arrivals whatever the stay distribution): "
                  f"{arrivals_per_day:.3g} arrivals/day x {los.mean_days:.3g} days mean stay = {load:.3g} beds of "
                  "offered load; a patient who finds every bed taken is counted as turned away."),
        "warnings": list(los.warnings) + [
            "Arrivals are taken as Poisson at a steady mean; weekday swings and trends make real units full somewhat "
            "more often than this at the busiest times."],
    }
