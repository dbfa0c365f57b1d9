"""What the API does around an engine call: store each prediction, shape results for JSON.

Why the API stores predictions itself: the engine's ``predict_record`` is a pure
function (no store, no user), and the house rule is that every prediction is
kept with model name and version, inputs, output, explanation and user.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from engine.store import Database, transaction, utcnow
from engine.store.api_predictions import insert_predictions

_OUTPUT_KEYS = ("probability", "interval", "risk_band", "warnings")


def _row(username: str, record: dict[str, Any], result: dict[str, Any], now: str) -> tuple:
    output = {k: result.get(k) for k in _OUTPUT_KEYS}
    return (str(result.get("model")), str(result.get("version")), json.dumps(record, sort_keys=True, default=str),
            json.dumps(output, sort_keys=True, default=str),
            json.dumps(result.get("contributions", []), sort_keys=True, default=str), username, now)


def store_predictions(db: Database, username: str, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[int]:
    """Keep (record, result) pairs as prediction rows in one transaction; return their ids in order."""
    now = utcnow()
    with transaction(db):
        return insert_predictions(db, [_row(username, record, result, now) for record, result in pairs])


def imaging_payload(result: dict[str, Any]) -> dict[str, Any]:
    """The imaging result with its PNG heat-map as base64 text (JSON carries no bytes)."""
    payload = {k: v for k, v in result.items() if k != "heatmap_png"}
    heatmap = result.get("heatmap_png")
    payload["heatmap_png_base64"] = base64.b64encode(heatmap).decode("ascii") if heatmap else None
    return payload
