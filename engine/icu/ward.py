"""The ward view: stays ranked by current model risk and NEWS2, and one stay's full timeline.

"Current" is the stay's last observed hour (at most 48: the model's horizon). Trends compare
now with ``TREND_HOURS`` earlier. Stale data: the hours since each watched parameter was last
measured, against how often it is usually charted in an ICU (vitals hourly-ish, labs daily).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine import audit
from engine.errors import InputError, NotFoundError
from engine.icu.bundle import load_model
from engine.icu.features import build_features
from engine.icu.horizons import by_hour_rows, reading_at
from engine.icu.importer import load_stays
from engine.icu.news2 import news2_series
from engine.icu.parameters import PARAMETERS
from engine.icu.predict import current_hour, explain_stay, risk_trajectory
from engine.store import Database, transaction
from engine.store import icu as icu_rows

TREND_HOURS = 4.0
# parameter -> hours after which its last value is stale (watch list shown on the page)
STALE_AFTER = {"HR": 2, "RespRate": 4, "SysABP": 2, "NISysABP": 4, "Temp": 8, "SaO2": 12, "GCS": 8,
               "Urine": 4, "Lactate": 12, "Creatinine": 24, "K": 24, "HCO3": 24, "WBC": 24, "Platelets": 24}
ARROWS = {1: "↑", 0: "→", -1: "↓"}


def _arrow(now: float, before: float, tolerance: float) -> str:
    if np.isnan(now) or np.isnan(before):
        return ""
    return ARROWS[int(np.sign(now - before)) if abs(now - before) > tolerance else 0]


def ward_overview(db: Database) -> pd.DataFrame:
    """One row per stay: pseudonymous id, hour, risk (with interval), alert, NEWS2, band, trend arrows.

    Sorted by alert, then risk, then NEWS2 (highest first).
    """
    meta = icu_rows.list_stays(db)
    if not meta:
        return pd.DataFrame()
    stays = load_stays(db, [m["stay_id"] for m in meta])
    model, card = load_model()
    ids = [m["stay_id"] for m in meta if m["stay_id"] in stays]
    objs = [stays[i] for i in ids]
    hours = np.array([current_hour(s) for s in objs])
    now = model.predict(build_features(objs, hours))
    before = model.predict(build_features(objs, np.maximum(hours - TREND_HOURS, 1.0)))
    rows = []
    for k, (stay_id, stay) in enumerate(zip(ids, objs)):
        scored = news2_series(stay.series)
        scored_now = scored[scored["hours"] <= hours[k]]
        news_now = float(scored_now["total"].iloc[-1]) if len(scored_now) else np.nan
        prior = scored[scored["hours"] <= hours[k] - TREND_HOURS]
        news_before = float(prior["total"].iloc[-1]) if len(prior) else np.nan
        rows.append({"stay_id": stay_id, "patient": stay.record_id, "hour": round(float(hours[k]), 1),
                     "risk": float(now["risk"][k]), "risk_low": float(now["low"][k]), "risk_high": float(now["high"][k]),
                     "alert": int(now["alert"][k]), "risk_trend": _arrow(now["risk"][k], before["risk"][k], 0.02),
                     "news2": news_now, "news2_band": scored_now["band"].iloc[-1] if len(scored_now) else "",
                     "news2_complete": bool(scored_now["complete"].iloc[-1]) if len(scored_now) else False,
                     "news2_trend": _arrow(news_now, news_before, 0.5)})
    frame = pd.DataFrame(rows)
    return frame.sort_values(["alert", "risk", "news2"], ascending=False, na_position="last").reset_index(drop=True)


@dataclass
class StayTimeline:
    """Everything the timeline panel draws for one stay."""

    patient: str
    hour: float
    series: pd.DataFrame
    news2: pd.DataFrame
    trajectory: pd.DataFrame
    drivers: pd.DataFrame
    stale: list[str]
    risk: dict[str, float]
    threshold: float
    model_version: str
    acks: list[dict[str, Any]]
    reading: str = ""  # how well the model read stays at this point of the stay (the card's figures by hour)
    by_hour: list[dict[str, Any]] = field(default_factory=list)  # the card's out-of-fold figures by hour


def stale_messages(series: pd.DataFrame, hour: float) -> list[str]:
    """Plain sentences for watched parameters never measured or not measured for longer than usual."""
    out = []
    for name, limit in STALE_AFTER.items():
        seen = series.loc[(series["parameter"] == name) & (series["hours"] <= hour), "hours"]
        label = PARAMETERS[name].label.lower() if name not in ("K", "HCO3", "WBC") else PARAMETERS[name].label
        if seen.empty:
            out.append(f"no {label} recorded")
        elif hour - seen.max() > limit:
            out.append(f"no {label} for {hour - seen.max():.0f} h")
    return out


def stay_timeline(db: Database, stay_id: int) -> StayTimeline:
    """The full picture of one stay. A pure read: it scores every hour of the stay (~0.6 s of CPU), so the
    page caches it, and audits each view of it once per visit with :func:`record_stay_view`."""
    stays = load_stays(db, [stay_id])
    if stay_id not in stays:
        raise NotFoundError("That ICU stay is not in the store.")
    stay = stays[stay_id]
    model, card = load_model()
    hour = current_hour(stay)
    trajectory = risk_trajectory(stay)
    now = model.predict(build_features([stay], hour))
    return StayTimeline(patient=stay.record_id, hour=hour, series=stay.series, news2=news2_series(stay.series),
                        trajectory=trajectory, drivers=explain_stay(stay, horizon=hour),
                        stale=stale_messages(stay.series, hour),
                        risk={"risk": float(now["risk"][0]), "low": float(now["low"][0]),
                              "high": float(now["high"][0]), "alert": int(now["alert"][0])},
                        threshold=model.threshold_, model_version=str(card["version"]),
                        acks=icu_rows.acks_for(db, stay_id), reading=reading_at(card, hour), by_hour=by_hour_rows(card))


def record_stay_view(db: Database, patient: str, *, username: str) -> None:
    """Audit that ``username`` opened the ICU stay of ``patient`` (pseudonymous id) on the Ward page."""
    audit.record(db, username=username, action="patient.view", target_type="patient", target_id=patient,
                 details={"page": "ward"})


def stay_acks(db: Database, stay_id: int) -> list[dict[str, Any]]:
    """The stay's alert acknowledgements, oldest first (read fresh beside a cached timeline)."""
    return icu_rows.acks_for(db, stay_id)


def acknowledge_alert(db: Database, stay_id: int, *, hour: float, risk: float, model_version: str, reason: str,
                      username: str) -> int:
    """Record that a clinician saw an alert, with their reason; audited. A reason is required."""
    reason = (reason or "").strip()
    if not reason:
        raise InputError("Give a reason when you acknowledge an alert (for example what was done or why not).")
    if len(reason) > 2000:
        raise InputError("The reason is longer than 2,000 characters.")
    with transaction(db):
        ack_id = icu_rows.insert_ack(db, stay_id, hour, risk, model_version, reason, username)
        audit.record(db, username=username, action="icu.alert_ack", target_type="icu_stay", target_id=str(stay_id),
                     details={"hour": hour, "risk": round(risk, 4), "model_version": model_version})
    return ack_id
