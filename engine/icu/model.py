"""The shipped ICU mortality model: cross-fitted boosting members, one Platt calibrator, one threshold.

Why this shape: training K gradient-boosting members on the K folds of set A gives both the
out-of-fold predictions that the calibrator, the threshold rule and the model card are fitted
and measured on, and an ensemble whose spread is an honest (if partial) interval: how much the
risk moves when a fifth of the training stays change. The calibrator is Platt scaling on the
logit of the ensemble mean, which keeps the ranking (so AUROC is the boosting models') and is
smooth (isotonic steps were seen to cost calibration on another set).
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
    platt_: tuple[float, float] = (0.0, 1.0)  # intercept, slope on logit(mean member risk)
    threshold_: float = 0.5

    def member_risks(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated risk from each member: shape (n_members, n_stays)."""
        X = X.reindex(columns=self.features_)
        return np.vstack([m.predict_proba(X)[:, 1] for m in self.members_])

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        a, b = self.platt_
        return 1.0 / (1.0 + np.exp(-(a + b * logit(np.clip(raw, 1e-6, 1 - 1e-6)))))

    def predict(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Calibrated risk, its member-spread interval (10th-90th percentile) and the alert."""
        members = self.member_risks(X)
        risk = self.calibrate(members.mean(axis=0))
        each = self.calibrate(members)
        low, high = np.percentile(each, [10, 90], axis=0)
        return {"risk": risk, "low": np.minimum(low, risk), "high": np.maximum(high, risk),
                "alert": (risk >= self.threshold_).astype(int)}


def fit_platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic regression of the outcome on logit(raw risk): (intercept, slope)."""
    from sklearn.linear_model import LogisticRegression

    x = logit(np.clip(raw, 1e-6, 1 - 1e-6)).reshape(-1, 1)
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(x, y)
    return float(lr.intercept_[0]), float(lr.coef_[0, 0])
