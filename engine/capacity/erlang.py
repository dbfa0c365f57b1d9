"""The Erlang loss formula (Erlang B): the chance an arriving patient finds every bed taken.

For Poisson arrivals at rate ``lambda`` per day, stays of mean ``m`` days and ``c`` beds with no
queue (a patient who finds the unit full goes elsewhere: M/G/c/c), the probability is

    B(c, a) = (a^c / c!) / sum_{k=0..c} a^k / k!,   a = lambda * m (offered load, in beds),

and it is exact whatever the shape of the length-of-stay distribution (the insensitivity of the
loss system). Computed with the stable recursion B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)).
"""
from __future__ import annotations

import math

from engine.errors import InputError


def erlang_b(beds: int, offered_load: float) -> float:
    """P(all ``beds`` busy at an arrival) for offered load ``offered_load`` (arrivals/day x mean LOS days)."""
    if beds < 0 or not math.isfinite(offered_load) or offered_load < 0:
        raise InputError("Beds must be 0 or more and the offered load a non-negative number.")
    b = 1.0
    for k in range(1, int(beds) + 1):
        b = offered_load * b / (k + offered_load * b)
    return b


def beds_for_target(offered_load: float, target: float, *, max_beds: int = 5000) -> int:
    """The fewest beds at which P(full on arrival) is below ``target`` (e.g. 0.05)."""
    if not 0 < target < 1:
        raise InputError("The target probability of a full unit must be between 0 and 1 (e.g. 0.05).")
    b = 1.0
    for k in range(0, max_beds + 1):
        if k > 0:
            b = offered_load * b / (k + offered_load * b)
        if b < target:
            return k
    raise InputError(f"More than {max_beds} beds would be needed; check the arrival rate and length of stay.")
