"""Classification metrics with bootstrap 95% confidence intervals (shared by train and evaluate).

Why percentile bootstrap over patients: several images can come from one child,
so resampling images alone would understate the uncertainty.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def point_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    """Accuracy, sensitivity, specificity, AUROC and the confusion matrix at ``threshold``."""
    y = np.asarray(y).astype(int)
    pred = (np.asarray(p) >= threshold).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    n_pos, n_neg = tp + fn, tn + fp
    return {
        "n": int(len(y)),
        "accuracy": (tp + tn) / len(y) if len(y) else None,
        "sensitivity": tp / n_pos if n_pos else None,
        "specificity": tn / n_neg if n_neg else None,
        "auroc": float(roc_auc_score(y, p)) if n_pos and n_neg else None,
        "confusion_matrix": {"labels": ["NORMAL", "PNEUMONIA"], "rows_true_cols_pred": [[tn, fp], [fn, tp]]},
    }


def bootstrap_metrics(
    y: np.ndarray, p: np.ndarray, threshold: float, groups: np.ndarray | None = None,
    n_boot: int = 1000, seed: int = 0,
) -> dict:
    """Point metrics plus percentile 95% CIs from ``n_boot`` resamples (of groups when given)."""
    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    point = point_metrics(y, p, threshold)
    rng = np.random.default_rng(seed)
    if groups is None:
        groups = np.arange(len(y))
    uniq, inverse = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    keys = ("accuracy", "sensitivity", "specificity", "auroc")
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(n_boot):
        pick = rng.integers(0, len(uniq), len(uniq))
        idx = np.concatenate([members[g] for g in pick])
        m = point_metrics(y[idx], p[idx], threshold)
        for k in keys:
            if m[k] is not None:
                samples[k].append(m[k])
    out = dict(point)
    for k in keys:
        if point[k] is not None and samples[k]:
            lo, hi = np.percentile(samples[k], [2.5, 97.5])
            out[k] = {"value": round(float(point[k]), 4), "ci95": [round(float(lo), 4), round(float(hi), 4)]}
        else:
            out[k] = {"value": point[k], "ci95": None}
    out["threshold"] = float(threshold)
    out["bootstrap"] = {"replicates": n_boot, "unit": "patient" if len(uniq) < len(y) else "image"}
    return out
