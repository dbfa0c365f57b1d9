"""The shipped ICU mortality model: cross-fitted boosting members, one calibrator, one threshold.

Why this shape: training K gradient-boosting members on the K folds of set A gives both the
out-of-fold predictions that the calibrator, the threshold rule and the model card are fitted
and measured on, and an ensemble whose spread is an honest (if partial) interval: how much the
risk moves when a fifth of the training stays change. The calibrator maps the ensemble mean's
raw risk monotonically (so AUROC is the boosting models') with a few numbers written in the card:
Platt (2) or beta calibration (3); isotonic steps were seen to cost calibration on another set.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from engine.models.metrics import logit

BOOSTING_PARAMS = dict(learning_rate=0.03, max_iter=500, max_leaf_nodes=8, min_samples_leaf=50, max_features=0.3,
                       l2_regularization=1.0, early_stopping=False)


def new_member(seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(random_state=seed, **BOOSTING_PARAMS)


@dataclass
class IcuMortalityModel:
    """Members + calibrator + threshold; ``features_`` is the column order the members were fitted on."""

    members_: list = field(default_factory=list)
    features_: list[str] = field(default_factory=list)
    calibrator_: dict = field(default_factory=lambda: {"kind": "platt", "intercept": 0.0, "coef": [1.0]})
    threshold_: float = 0.5

    def member_risks(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated risk from each member: shape (n_members, n_stays)."""
        X = X.reindex(columns=self.features_)
        return np.vstack([m.predict_proba(X)[:, 1] for m in self.members_])

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return apply_calibrator(self.calibrator_, raw)

    def predict(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Calibrated risk, its member-spread interval (10th-90th percentile) and the alert."""
        members = self.member_risks(X)
        risk = self.calibrate(members.mean(axis=0))
        each = self.calibrate(members)
        low, high = np.percentile(each, [10, 90], axis=0)
        return {"risk": risk, "low": np.minimum(low, risk), "high": np.maximum(high, risk),
                "alert": (risk >= self.threshold_).astype(int)}


CALIBRATORS = ("platt", "beta", "isotonic")


def fit_calibrator(raw: np.ndarray, y: np.ndarray, kind: str = "platt") -> dict:
    """A calibrator fitted on raw risks, as plain numbers (written to the card as is).

    - ``platt``: logistic regression of the outcome on logit(raw): 2 numbers.
    - ``beta``: logistic regression on ln(raw) and ln(1 - raw) (Kull et al., 2017): 3 numbers; it can
      bend the two tails separately, which a 2-parameter Platt cannot.
    - ``isotonic``: a monotone step function (compared only; its steps are many numbers).
    """
    from sklearn.linear_model import LogisticRegression

    r = np.clip(np.asarray(raw, dtype=float), 1e-6, 1 - 1e-6)
    if kind == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4).fit(r, y)
        return {"kind": kind, "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    x = _calibration_inputs(r, kind)
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(x, y)
    return {"kind": kind, "intercept": float(lr.intercept_[0]), "coef": [float(c) for c in lr.coef_[0]]}


def _calibration_inputs(r: np.ndarray, kind: str) -> np.ndarray:
    if kind == "platt":
        return logit(r).reshape(-1, 1)
    if kind == "beta":
        return np.column_stack([np.log(r), -np.log1p(-r)])
    raise ValueError(f"unknown calibrator {kind!r}")


def apply_calibrator(calibrator: dict, raw: np.ndarray) -> np.ndarray:
    """Calibrated risk from raw risk with a calibrator from :func:`fit_calibrator`."""
    r = np.clip(np.asarray(raw, dtype=float), 1e-6, 1 - 1e-6)
    if calibrator["kind"] == "isotonic":
        return np.interp(r, calibrator["x"], calibrator["y"])
    z = calibrator["intercept"] + _calibration_inputs(r.reshape(-1), calibrator["kind"]) @ np.asarray(calibrator["coef"])
    return (1.0 / (1.0 + np.exp(-z))).reshape(r.shape)
