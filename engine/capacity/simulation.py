"""Discrete-event simulation of one unit (simpy): patients arrive, take a bed if one is free, leave.

One engine serves both uses, so what is validated against the Erlang formula is exactly what
forecasts the census: :func:`run_unit` takes arrival times and stays, optionally a bed limit (a
patient who finds every bed taken is turned away, the M/G/c/c loss system), and records the census at
given moments. Departures are plain timeout events with a callback (no process per patient), which
keeps a run at about 10 microseconds per patient here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simpy

from engine.capacity.los import LOSDistribution
from engine.errors import InputError


@dataclass
class UnitRun:
    """What one simulated run saw: census at each record time, and which arrivals found the unit full."""

    census: np.ndarray
    full_on_arrival: np.ndarray  # bool per arrival


def run_unit(arrival_times: np.ndarray, stays: np.ndarray, *, beds: int | None = None,
             initial_remaining: np.ndarray | None = None, record_times: np.ndarray | None = None) -> UnitRun:
    """Simulate the unit: arrivals at sorted ``arrival_times`` (days) staying ``stays`` days each.

    ``initial_remaining``: patients already in the unit at time 0, with their remaining days.
    ``beds``: None means every patient is admitted (the census is the demand for beds).
    """
    arrival_times = np.asarray(arrival_times, dtype=float)
    stays = np.asarray(stays, dtype=float)
    if len(arrival_times) != len(stays):
        raise InputError("Each arrival needs one length of stay.")
    record = np.asarray(record_times if record_times is not None else [], dtype=float)
    env = simpy.Environment()
    state = {"busy": 0}
    full = np.zeros(len(arrival_times), dtype=bool)
    census = np.zeros(len(record), dtype=np.int64)
    limit = math.inf if beds is None else int(beds)

    def leave(_event) -> None:
        state["busy"] -= 1

    for remaining in (initial_remaining if initial_remaining is not None else ()):
        state["busy"] += 1
        env.timeout(float(remaining)).callbacks.append(leave)

    def arrivals():
        now = 0.0
        for i, t in enumerate(arrival_times):
            yield env.timeout(max(t - now, 0.0))
            now = t
            if state["busy"] >= limit:
                full[i] = True
                continue
            state["busy"] += 1
            env.timeout(stays[i]).callbacks.append(leave)

    def monitor():
        now = 0.0
        for j, t in enumerate(record):
            yield env.timeout(max(t - now, 0.0))
            now = t
            census[j] = state["busy"]

    env.process(arrivals())
    if len(record):
        env.process(monitor())
    end = max(float(arrival_times[-1]) if len(arrival_times) else 0.0, float(record[-1]) if len(record) else 0.0)
    env.run(until=end + 1e-9)
    return UnitRun(census, full)


@dataclass
class LossEstimate:
    """Simulated P(full on arrival) with a batch-means 95% confidence interval."""

    p_full: float
    ci_low: float
    ci_high: float
    n_arrivals: int

    def to_dict(self) -> dict[str, float | int]:
        return {"p_full": round(self.p_full, 5), "ci_low": round(self.ci_low, 5), "ci_high": round(self.ci_high, 5),
                "n_arrivals": self.n_arrivals}


def simulate_loss(arrivals_per_day: float, los: LOSDistribution, beds: int, *, n_arrivals: int = 100_000,
                  seed: int = 0, warmup_fraction: float = 0.1, batches: int = 20) -> LossEstimate:
    """P(full on arrival) of an M/G/c/c unit by simulation (Poisson arrivals, ``los`` stays, ``beds`` beds).

    The first ``warmup_fraction`` of arrivals start from an empty unit and are not counted. The interval
    comes from ``batches`` consecutive batch means (arrivals close in time are correlated).
    """
    if arrivals_per_day <= 0 or beds < 1 or n_arrivals < 1000:
        raise InputError("Simulating a full unit needs a positive arrival rate, at least one bed and 1,000 arrivals.")
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.exponential(1.0 / arrivals_per_day, n_arrivals))
    run = run_unit(times, los.sample(rng, n_arrivals), beds=beds)
    counted = run.full_on_arrival[int(n_arrivals * warmup_fraction):]
    means = np.array([b.mean() for b in np.array_split(counted, batches)])
    p = float(counted.mean())
    half = 2.093 * float(means.std(ddof=1)) / math.sqrt(batches)  # t(0.975, 19)
    return LossEstimate(p, max(p - half, 0.0), min(p + half, 1.0), int(len(counted)))


def arrival_times_from_counts(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Arrival moments (days) for daily ``counts``: each day's arrivals spread uniformly over that day."""
    counts = np.asarray(counts, dtype=np.int64)
    days = np.repeat(np.arange(len(counts)), counts)
    return np.sort(days + rng.uniform(0, 1, len(days)))
