"""Saved capacity scenarios: what is kept (aggregates only) and the side-by-side comparison."""
from __future__ import annotations

from typing import Any

from engine import audit
from engine.errors import InputError
from engine.store import Database
from engine.store import capacity as rows


def scenario_results(forecasts: dict[str, dict[str, Any]], beds: dict[str, dict[str, Any]] | None,
                     roster: dict[str, Any] | None) -> dict[str, Any]:
    """The aggregate results worth keeping: daily bands, bed answers, roster summary (staff labels only)."""
    out: dict[str, Any] = {"forecasts": {}, "beds": {}, "roster": None}
    for unit, f in forecasts.items():
        out["forecasts"][unit] = {"days": f["days"], "source": f.get("source"), "census_now": f["census_now"],
                                  **{k: f["census"][k] for k in ("p05", "p25", "p50", "p75", "p95")}}
    for unit, b in (beds or {}).items():
        out["beds"][unit] = {k: b[k] for k in ("recommended_beds", "target", "offered_load_beds", "arrivals_per_day",
                                               "mean_los_days", "p_full_at_recommended")}
    if roster:
        out["roster"] = {k: roster.get(k) for k in ("status", "gap", "objective", "bound", "nurses", "shifts_needed",
                                                    "spreads", "plan_for", "ratios", "rules", "reasons")}
    return out


def save(db: Database, name: str, *, inputs: dict[str, Any], forecasts: dict[str, dict[str, Any]],
         beds: dict[str, dict[str, Any]] | None, roster: dict[str, Any] | None, username: str,
         replace: bool = False) -> int:
    if not forecasts:
        raise InputError("Forecast the census before saving a scenario.")
    scenario_id = rows.save_scenario(db, name=name, inputs=inputs, results=scenario_results(forecasts, beds, roster),
                                     created_by=username, replace=replace)
    audit.record(db, username=username, action="capacity.scenario_save", target_type="capacity_scenario",
                 target_id=scenario_id, details={"units": sorted(forecasts)})
    return scenario_id


def compare(scenarios: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per scenario and unit: the figures a manager compares side by side."""
    table = []
    for sc in scenarios:
        res = sc["results"]
        roster = res.get("roster") or {}
        for unit, f in res["forecasts"].items():
            b = res["beds"].get(unit, {})
            table.append({
                "scenario": sc["name"], "unit": unit, "source": f.get("source"), "days": len(f["days"]),
                "census_now": f.get("census_now"), "median_census_mean": round(sum(f["p50"]) / len(f["p50"]), 1),
                "peak_p95": max(f["p95"]), "recommended_beds": b.get("recommended_beds"), "target": b.get("target"),
                "arrivals_per_day": b.get("arrivals_per_day"), "mean_los_days": b.get("mean_los_days"),
                "roster": roster.get("status"), "roster_gap": roster.get("gap"), "nurses": roster.get("nurses"),
                "ratio": (roster.get("ratios") or {}).get(unit), "saved_by": sc.get("created_by"),
                "saved_at": sc.get("created_at")})
    return table
