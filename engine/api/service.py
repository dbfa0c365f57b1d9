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

# The same split into output and explanation as the app's prediction rows (engine.models.predict.run_prediction),
# so every reader of the predictions table sees one format whichever door a prediction came through.
_OUTPUT_KEYS = ("probability", "interval", "risk_band", "threshold", "warnings")
_EXPLANATION_KEYS = ("base_value", "logit", "explanation_scale", "contributions", "basis")


def _row(username: str, record: dict[str, Any], result: dict[str, Any], now: str) -> tuple:
    output = {k: result[k] for k in _OUTPUT_KEYS if k in result}
    explanation = {k: result[k] for k in _EXPLANATION_KEYS if k in result}
    return (str(result.get("model")), str(result.get("version")), json.dumps(record, default=str),
            json.dumps(output, default=str), json.dumps(explanation, default=str), username, now)


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
