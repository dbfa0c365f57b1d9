"""The 2012 challenge's scores, as its own scoring code defines them.

- Event 1: min(sensitivity, positive predictivity) of the binary death prediction.
- Event 2: the normalised Hosmer-Lemeshow H of ``lemeshow.m`` (Ikaro Silva, 2012, v1.4): sort by
  risk, ten bins of floor(N/10) stays (the remainder, the highest risks, is left out as in the
  original), H = sum((O-E)^2 / (M p (1-p) + 0.001)) / (p_10 - p_1) with p the bin's mean risk.
"""
from __future__ import annotations

import numpy as np

from engine.errors import InputError
from engine.models.metrics import auroc, calibration_slope_intercept


def event1(y: np.ndarray, alert: np.ndarray) -> dict[str, float]:
    """Sensitivity, positive predictivity and their minimum (the challenge's Event 1 score)."""
    y, alert = np.asarray(y).astype(int), np.asarray(alert).astype(int)
    tp = int(((y == 1) & (alert == 1)).sum())
    se = tp / max(int((y == 1).sum()), 1)
    ppv = tp / max(int((alert == 1).sum()), 1)
    return {"sensitivity": se, "ppv": ppv, "event1": min(se, ppv)}


def lemeshow_h(y: np.ndarray, risk: np.ndarray, bins: int = 10) -> float:
    """The challenge's normalised Hosmer-Lemeshow H (lower is better)."""
    order = np.argsort(np.asarray(risk, dtype=float), kind="stable")
    y = np.asarray(y, dtype=float)[order]
    p = np.asarray(risk, dtype=float)[order]
    m = len(y) // bins
    if m == 0:
        return float("nan")
    h, centroids = 0.0, []
    for i in range(bins):
        sl = slice(i * m, (i + 1) * m)
        centroid = float(p[sl].mean())
        centroids.append(centroid)
        h += (y[sl].sum() - m * centroid) ** 2 / (m * centroid * (1 - centroid) + 0.001)
    spread = centroids[-1] - centroids[0]
    return float(h / spread) if spread > 0 else float("inf")


def threshold_equal_se_ppv(y: np.ndarray, risk: np.ndarray) -> float:
    """The alert threshold fixed on set A before any test: where sensitivity meets positive predictivity.

    Rule (written before seeing any test figure): among candidate thresholds (every distinct
    out-of-fold risk), take the one that maximises min(Se, PPV) on set A's out-of-fold
    predictions; ties go to the lower threshold (a missed death costs more than a false alarm).
    """
    y = np.asarray(y).astype(int)
    risk = np.asarray(risk, dtype=float)
    order = np.argsort(-risk, kind="stable")
    ys, rs = y[order], risk[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    score = np.minimum(tp / max(ys.sum(), 1), tp / k)
    # only cut between distinct risks
    distinct = np.r_[rs[1:] != rs[:-1], True]
    score = np.where(distinct, score, -1)
    best = score.max()
    idx = np.flatnonzero(score == best)[-1]  # the lowest threshold among the best
    return float(rs[idx])


def bootstrap_ci(y: np.ndarray, risk: np.ndarray, fn, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile 95% CI of ``fn(y, risk)`` over stays resampled with replacement."""
    rng = np.random.default_rng(seed)
    y, risk = np.asarray(y), np.asarray(risk)
    values = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() == y[i].max():
            continue
        values.append(fn(y[i], risk[i]))
    if not values:  # every resample held one class only (a handful of stays): no interval to give
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def evaluate_predictions(y: np.ndarray, risk: np.ndarray, alert: np.ndarray, *, n_boot: int = 1000) -> dict:
    """The ``icu evaluate`` JSON: n, AUROC with CI, Event 1, H, calibration slope and intercept."""
    y = np.asarray(y).astype(int)
    if len(y) == 0 or y.min() == y.max():
        raise InputError(f"These {len(y)} stays are all {'deaths' if len(y) and y[0] else 'survivors'}: AUROC, "
                         "Event 1 and H need at least one in-hospital death and one survivor.")
    risk = np.clip(np.asarray(risk, dtype=float), 1e-6, 1 - 1e-6)
    slope, intercept = calibration_slope_intercept(y, risk)
    e1 = event1(y, alert)
    lo, hi = bootstrap_ci(y, risk, auroc, n_boot=n_boot)
    return {"n": int(len(y)), "deaths": int(y.sum()), "auroc": round(auroc(y, risk), 4),
            "auroc_ci": [round(lo, 4), round(hi, 4)], "event1": round(e1["event1"], 4),
            "sensitivity": round(e1["sensitivity"], 4), "ppv": round(e1["ppv"], 4),
            "h": round(lemeshow_h(y, risk), 3), "calibration_slope": round(slope, 3),
            "calibration_intercept": round(intercept, 3)}
