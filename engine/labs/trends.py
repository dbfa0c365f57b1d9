"""Which observations can be drawn as a trend: a line needs at least two dated values.

A single value, or values without a date, says nothing about change over time; drawing it on a time
axis (with a "(no date)" category) suggested a trend that is not there. Those stay in the table.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any


def trend_rows(observations: list[dict[str, Any]], min_points: int = 2) -> list[dict[str, Any]]:
    """The numeric, dated observations of every code with at least ``min_points`` distinct dates, by time."""
    by_code: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for obs in observations:
        if obs.get("value_num") is not None and obs.get("time"):
            by_code[obs["code"]].append(obs)
    rows = []
    for code, items in by_code.items():
        if len({o["time"] for o in items}) >= min_points:
            rows.extend(sorted(items, key=lambda o: o["time"]))
    return rows
