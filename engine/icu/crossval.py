"""Patient-level cross-validation shared by every candidate model, with out-of-fold calibration and threshold.

Why everything is cross-fitted: a calibrator or a threshold fitted on the same out-of-fold risks it
is then scored on flatters the figures (the 1.0.0 card's in-sample Platt H of 34 said nothing about
new stays). Here each fold's risks are calibrated by a calibrator fitted on the other folds' risks,
and its alerts use the threshold the fixed rule picks on the other folds' calibrated risks, so the
reported AUROC, Event 1 and H are all measured on stays that nothing was fitted on.

Set A holds one stay per patient, so stratified folds over stays are patient-level folds. The folds
are one fixed assignment (:func:`fold_ids`) used by boosting, GRU-D and the attention model alike,
so their out-of-fold risks can be compared stay by stay and averaged into an ensemble.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from engine.icu.metrics import evaluate_predictions, threshold_equal_se_ppv
from engine.icu.model import apply_calibrator, fit_calibrator
from engine.models.metrics import auroc, logit

ProgressFn = Callable[[str], None]
FOLDS = 5
SEED = 42


def fold_ids(y: np.ndarray, folds: int = FOLDS, seed: int = SEED) -> np.ndarray:
    """Fold number (0..folds-1) of each stay: stratified by outcome, fixed by ``seed``."""
    ids = np.zeros(len(y), dtype=int)
    for k, (_tr, te) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)):
        ids[te] = k
    return ids


def cross_fit_calibration(raw: np.ndarray, y: np.ndarray, folds: np.ndarray, kind: str = "platt",
                          apply_to: np.ndarray | None = None) -> np.ndarray:
    """Calibrated out-of-fold risks: fold k's raw risks mapped by a calibrator fitted on the other folds.

    ``apply_to``: other raw risks of the same stays (the same model read at an earlier hour) mapped by the
    same fold calibrators, fitted on ``raw`` as the shipped calibrator is; default ``raw`` itself.
    """
    target = raw if apply_to is None else apply_to
    out = np.zeros(len(y))
    for k in np.unique(folds):
        te = folds == k
        out[te] = apply_calibrator(fit_calibrator(raw[~te], y[~te], kind), target[te])
    return out


def cross_fit_alerts(risk: np.ndarray, y: np.ndarray, folds: np.ndarray,
                     apply_to: np.ndarray | None = None) -> np.ndarray:
    """Fold k's alerts at the threshold the fixed rule picks on the other folds' (calibrated) risks.

    ``apply_to``: other calibrated risks of the same stays, alerted at those same fold thresholds.
    """
    target = risk if apply_to is None else apply_to
    alert = np.zeros(len(y), dtype=int)
    for k in np.unique(folds):
        te = folds == k
        alert[te] = (target[te] >= threshold_equal_se_ppv(y[~te], risk[~te])).astype(int)
    return alert


def honest_figures(raw: np.ndarray, y: np.ndarray, folds: np.ndarray, kind: str = "platt",
                   n_boot: int = 1000) -> tuple[dict[str, Any], np.ndarray]:
    """``icu evaluate``'s figures on out-of-fold raw risks, with cross-fitted calibration and threshold."""
    risk = cross_fit_calibration(raw, y, folds, kind)
    figures = evaluate_predictions(y, risk, cross_fit_alerts(risk, y, folds), n_boot=n_boot)
    figures["calibration"] = kind
    return figures, risk


def oof_boosting(X, y: np.ndarray, folds: np.ndarray, *, seed: int = SEED,
                 progress: ProgressFn | None = None) -> tuple[np.ndarray, list]:
    """Out-of-fold raw risks of the boosting model and the fold members (member k never saw fold k)."""
    from engine.icu.model import new_member

    oof, members = np.zeros(len(y)), []
    for k in range(folds.max() + 1):
        te = folds == k
        member = new_member(seed + k).fit(X.iloc[np.flatnonzero(~te)], y[~te])
        oof[te] = member.predict_proba(X.iloc[np.flatnonzero(te)])[:, 1]
        members.append(member)
        if progress:
            progress(f"boosting fold {k + 1}/{folds.max() + 1}: AUROC {auroc(y[te], oof[te]):.3f}")
    return oof, members


def oof_sequence(kind: str, grid: tuple[np.ndarray, np.ndarray, np.ndarray], static: np.ndarray, y: np.ndarray,
                 folds: np.ndarray, *, epochs: int = 6, batch: int = 256, seed: int = SEED,
                 progress: ProgressFn | None = None) -> tuple[np.ndarray, list]:
    """Out-of-fold raw risks of a sequence model (``'grud'`` or ``'attention'``) and its fold networks.

    Each fold standardises with its training stays' means and stops early on an inner split of them.
    """
    from engine.icu.sequence import fit_sequence_model, predict_sequence_model, standardise

    values, mask, delta = grid
    oof, nets = np.zeros(len(y)), []
    for k in range(folds.max() + 1):
        te = folds == k
        xtr, mean, std = standardise(values[~te])
        xte, _, _ = standardise(values[te], mean, std)
        report = (lambda e, n, s, k=k: progress(f"{kind} fold {k + 1}: epoch {e}, inner AUROC {s:.3f}")) \
            if progress else None
        net = fit_sequence_model(kind, xtr, mask[~te], delta[~te], static[~te], y[~te], epochs=epochs,
                                 batch=batch, seed=seed + k, progress=report)
        oof[te] = predict_sequence_model(net, xte, mask[te], delta[te], static[te])
        nets.append((net, mean, std))
        if progress:
            progress(f"{kind} fold {k + 1}/{folds.max() + 1}: AUROC {auroc(y[te], oof[te]):.3f}")
    return oof, nets


def blend(raws: list[np.ndarray], weights: list[float] | None = None) -> np.ndarray:
    """Ensemble of raw risks: weighted mean on the logit scale (ranks and calibration then refitted)."""
    w = np.ones(len(raws)) / len(raws) if weights is None else np.asarray(weights) / np.sum(weights)
    z = sum(wi * logit(r) for wi, r in zip(w, raws))
    return 1.0 / (1.0 + np.exp(-z))
