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
    """Members + calibrator + threshold; ``features_`` is the column order the members were fitted on.

    ``hour_calibrators_`` (1.2.0 on): (hour, calibrator) pairs, ascending, the last at 48 h being
    ``calibrator_``. The members read 48-hour summaries; the same features from fewer hours give raw risks
    that the 48-hour calibrator over-estimates, so a risk at hour h is calibrated by the calibrator fitted on
    raw risks at that hour (interpolated on the logit scale between two fitted hours). Empty: ``calibrator_``
    at every hour, as 1.1.0 did.
    """

    members_: list = field(default_factory=list)
    features_: list[str] = field(default_factory=list)
    calibrator_: dict = field(default_factory=lambda: {"kind": "platt", "intercept": 0.0, "coef": [1.0]})
    threshold_: float = 0.5
    hour_calibrators_: list[tuple[float, dict]] = field(default_factory=list)

    def member_risks(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated risk from each member: shape (n_members, n_stays)."""
        X = X.reindex(columns=self.features_)
        return np.vstack([m.predict_proba(X)[:, 1] for m in self.members_])

    def calibrate(self, raw: np.ndarray, hours: np.ndarray | None = None) -> np.ndarray:
        """Calibrated risk; ``hours`` (one per stay, the last axis of ``raw``) picks the per-hour calibration."""
        if hours is None or not self.hour_calibrators_:
            return apply_calibrator(self.calibrator_, raw)
        return calibrate_at_hours(self.hour_calibrators_, raw, np.asarray(hours, dtype=float))

    def predict(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Calibrated risk, its member-spread interval (10th-90th percentile) and the alert.

        The hour of each row is ``X["hours_observed"]`` (what :func:`build_features` was given); 48 without it.
        """
        hours = X["hours_observed"].to_numpy(dtype=float) if "hours_observed" in X else None
        members = self.member_risks(X)
        risk = self.calibrate(members.mean(axis=0), hours)
        each = self.calibrate(members, hours)
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


def calibrate_at_hours(calibrators: list[tuple[float, dict]], raw: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Risk from raw risk at each stay's hour: the two fitted hours around it, interpolated on the logit scale.

    Hours before the first fitted hour use the first calibrator, after the last the last. ``raw`` may carry
    leading axes (members x stays); ``hours`` runs along its last axis.
    """
    grid = np.array([h for h, _ in calibrators], dtype=float)
    z = np.stack([logit(apply_calibrator(c, raw)) for _, c in calibrators])  # (hours grid, *raw.shape)
    if len(grid) == 1:
        return 1.0 / (1.0 + np.exp(-z[0]))
    h = np.clip(hours, grid[0], grid[-1])
    lower = np.clip(np.searchsorted(grid, h, side="right") - 1, 0, len(grid) - 2)
    weight = (h - grid[lower]) / (grid[lower + 1] - grid[lower])
    columns = np.arange(np.shape(raw)[-1])
    below, above = z[lower, ..., columns], z[lower + 1, ..., columns]  # (stays, *leading axes)
    mixed = (1 - weight).reshape(-1, *[1] * (below.ndim - 1)) * below \
        + weight.reshape(-1, *[1] * (below.ndim - 1)) * above
    mixed = np.moveaxis(mixed, 0, -1)  # stays back on the last axis
    return 1.0 / (1.0 + np.exp(-mixed))
