"""Helpers shared by the API tests (importable; fixtures live in conftest.py)."""
from __future__ import annotations

from typing import Any


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def example_record(model: dict[str, Any]) -> dict[str, Any]:
    """A plausible record for ``model`` from its listed features: an example or (training) median if listed,
    else the first category (categorical), 0 (binary), the middle of the plausible or listed range, else 1."""
    record: dict[str, Any] = {}
    for feature in model.get("features", []):
        value = next((feature[k] for k in ("example", "default", "median", "mean") if feature.get(k) is not None),
                     (feature.get("training") or {}).get("median"))
        if value is None and feature.get("categories"):
            value = list(feature["categories"])[0]
        elif value is None and feature.get("kind") == "binary":
            value = 0
        elif value is None and feature.get("plausible"):
            low, high = feature["plausible"]
            value = round((low + high) / 2, 1)
        elif value is None and feature.get("min") is not None and feature.get("max") is not None:
            value = (feature["min"] + feature["max"]) / 2
        record[feature["name"]] = 1 if value is None else value
    return record
