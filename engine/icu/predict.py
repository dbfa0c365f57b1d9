"""Risk of in-hospital death for ICU stays: at 48 h (the challenge contract) or at any hour.

The model was fitted on features of the first 48 hours; a risk at an earlier hour uses the same
features computed from the data up to that hour, calibrated by the calibrator fitted at that hour
(1.2.0 on; see ``engine.icu.horizons``), and its out-of-fold figures by hour are on the card.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from engine.icu.bundle import load_model
from engine.icu.features import build_features, feature_label
from engine.icu.records import Stay

CONTRACT_HOURS = 48.0


def current_hour(stay: Stay) -> float:
    """The stay's last observed hour, capped at the model's 48-hour horizon ("now" on the ward and in the API)."""
    return float(min(stay.series["hours"].max(), CONTRACT_HOURS)) if len(stay.series) else 0.0


def predict_stays(stays: Sequence[Stay], *, horizon: float = CONTRACT_HOURS, version: str | None = None) -> pd.DataFrame:
    """One row per stay: RecordID, risk, risk_low, risk_high, alert (0/1 at the shipped threshold)."""
    model, _card = load_model(version)
    if not stays:
        return pd.DataFrame(columns=["RecordID", "risk", "risk_low", "risk_high", "alert"])
    out = model.predict(build_features(list(stays), horizon))
    return pd.DataFrame({"RecordID": [s.record_id for s in stays], "risk": out["risk"], "risk_low": out["low"],
                         "risk_high": out["high"], "alert": out["alert"]})


def risk_trajectory(stay: Stay, *, step_hours: float = 4.0, version: str | None = None) -> pd.DataFrame:
    """Risk with its interval every ``step_hours`` from the first step to the last observed hour (<= 48)."""
    model, _card = load_model(version)
    last = float(stay.series["hours"].max()) if len(stay.series) else 0.0
    hours = np.arange(step_hours, max(step_hours, min(np.ceil(last), CONTRACT_HOURS)) + 1e-9, step_hours)
    X = build_features([stay] * len(hours), hours)
    out = model.predict(X)
    return pd.DataFrame({"hours": hours, "risk": out["risk"], "risk_low": out["low"], "risk_high": out["high"],
                         "alert": out["alert"]})


def explain_stay(stay: Stay, *, horizon: float = CONTRACT_HOURS, top: int = 8, version: str | None = None) -> pd.DataFrame:
    """What drove the risk now: mean SHAP value (log-odds of the boosting members) per feature, largest first.

    ``label`` is the feature as a clinician reads it ("Lactate, last value (mmol/L)").
    """
    import shap

    model, _card = load_model(version)
    X = build_features([stay], horizon).reindex(columns=model.features_)
    contributions = np.mean([shap.TreeExplainer(m).shap_values(X)[0] for m in model.members_], axis=0)
    frame = pd.DataFrame({"feature": model.features_, "label": [feature_label(f) for f in model.features_],
                          "value": X.iloc[0].to_numpy(), "contribution": contributions})
    frame = frame.reindex(frame["contribution"].abs().sort_values(ascending=False).index).head(top)
    return frame.reset_index(drop=True)
