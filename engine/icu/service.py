"""One stay's series in, risk and NEWS2 out: the engine call behind ``POST /v1/icu/predict``."""
from __future__ import annotations

from typing import Any

from engine.errors import InputError
from engine.icu.bundle import load_model
from engine.icu.features import build_features
from engine.icu.horizons import reading_at
from engine.icu.news2 import news2_series
from engine.icu.predict import current_hour
from engine.icu.parameters import PARAMETERS
from engine.icu.records import CleaningReport, to_hours, build_stay

MAX_VALUES = 20_000


def predict_series(record: dict[str, Any]) -> dict[str, Any]:
    """Score one stay given as ``{"age", "sex", "series": [{"time", "parameter", "value"}, ...]}``.

    Times are hours since ICU admission, ``hh:mm`` or ISO 8601 date-times (the first is hour 0).
    The same cleaning rules as the import apply, and what they changed is returned.
    """
    series = record.get("series")
    if not isinstance(series, list) or not series:
        raise InputError("'series' must be a non-empty list of {time, parameter, value} items.")
    if len(series) > MAX_VALUES:
        raise InputError(f"'series' has more than {MAX_VALUES:,} values.")
    rows = []
    for i, item in enumerate(series):
        if not isinstance(item, dict) or {"time", "parameter", "value"} - set(item):
            raise InputError(f"Item {i} of 'series' needs time, parameter and value.")
        if item["parameter"] not in PARAMETERS:
            raise InputError(f"Item {i} of 'series' has an unknown parameter; use the names listed in the README.")
        try:
            rows.append((item["time"], str(item["parameter"]), float(item["value"])))
        except (TypeError, ValueError) as exc:
            raise InputError(f"Item {i} of 'series' has a value that is not a number.") from exc
    age = record.get("age")
    sex = {"female": 0.0, "male": 1.0}.get(str(record.get("sex", "")).lower())
    if age is not None:
        rows.append((rows[0][0], "Age", float(age)))
    if sex is not None:
        rows.append((rows[0][0], "Gender", sex))
    report = CleaningReport()
    stay = build_stay("api", to_hours(rows, "api"), report)
    model, card = load_model()
    hour = current_hour(stay)
    out = model.predict(build_features([stay], hour))
    news = news2_series(stay.series)
    last = news.iloc[-1] if len(news) else None
    return {"model": "icu_mortality", "version": card["version"], "hour": hour,
            "risk": float(out["risk"][0]), "interval": [float(out["low"][0]), float(out["high"][0])],
            "alert": int(out["alert"][0]), "threshold": model.threshold_,
            "news2": None if last is None else {"total": int(last["total"]), "band": last["band"],
                                                "complete": bool(last["complete"]),
                                                "missing": [m for m in last["missing"].split(", ") if m]},
            "cleaned": {k: v for k, v in report.as_dict()["cleaned"].items() if v},
            "basis": "Gradient boosting on summaries of the series up to this hour, calibrated for the hour on "
                     f"PhysioNet 2012 set A. {reading_at(card, hour)}"}
