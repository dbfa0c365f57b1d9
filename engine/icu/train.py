"""Train the ICU mortality model on PhysioNet 2012 set A: compare models, calibrate, fix the threshold.

Everything is decided on out-of-fold predictions of patient-level stratified K-fold cross-validation
(one stay per patient in set A, so a stay-level split is a patient-level split):

- candidates (a) gradient boosting on summary features, (b) GRU-D, (c) an hourly attention encoder,
  and blends of them, compared on the same folds by AUROC (bootstrap 95% CI), Event 1 and H, all
  out-of-fold with cross-fitted calibration and threshold (``compare=True``; see ``engine.icu.crossval``);
- the shipped model is the boosting ensemble of the K fold members (see ``engine.icu.model``);
- its calibrator (the kind with the best cross-fitted H, ``CALIBRATION``) is fitted on the
  out-of-fold ensemble risks;
- the alert threshold is fixed by the rule in :func:`engine.icu.metrics.threshold_equal_se_ppv`,
  applied to the calibrated out-of-fold risks, before any other data is seen.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.icu.crossval import FOLDS, SEED, blend, fold_ids, honest_figures, oof_boosting, oof_sequence
from engine.icu.features import MODEL_STATS, STATS, build_features
from engine.icu.horizons import EARLY_LIMIT, fit_hour_calibration
from engine.icu.parameters import SERIES
from engine.icu.metrics import threshold_equal_se_ppv
from engine.icu.model import CALIBRATORS, IcuMortalityModel, fit_calibrator
from engine.icu.records import CleaningReport, Stay, read_challenge_dir, read_outcomes

ProgressFn = Callable[[str], None]
# Chosen by cross-fitted H on set A (platt, beta and isotonic compared on the same folds; see the card).
CALIBRATION = "beta"
# Training budget of the sequence models in the comparison (most epochs; batch). GRU-D's recurrence costs
# about twice the attention model's per epoch here, so it got larger batches and fewer epochs to fit the
# shared 2-core machine; both stop early on an inner split.
SEQUENCE_SETTINGS = {"grud": {"epochs": 4, "batch": 512}, "attention": {"epochs": 6, "batch": 256}}


def labels_for(stays: list[Stay], outcomes) -> tuple[list[Stay], np.ndarray]:
    """Stays that have an outcome, and their 0/1 in-hospital death."""
    kept = [s for s in stays if s.record_id in outcomes.index]
    if len(kept) < 20:
        raise InputError(f"Only {len(kept)} stays have an outcome; at least 20 are needed to train.")
    y = outcomes.loc[[s.record_id for s in kept], "In-hospital_death"].astype(int).to_numpy()
    if y.sum() < 5 or (1 - y).sum() < 5:
        raise InputError("Training needs at least 5 deaths and 5 survivors.")
    return kept, y


def usable_features(X, stats: tuple[str, ...] = MODEL_STATS) -> list[str]:
    """The columns the members are fitted on: the statistics ``stats`` (and the descriptors and derived values),
    without a column seen fewer than 20 times or constant in training, which carries nothing the trees can
    split on (and an all-missing column inside a fold breaks the binning)."""
    unused = {f"{p}_{s}" for p in SERIES for s in STATS if s not in stats}
    return [c for c in X.columns if c not in unused and X[c].notna().sum() >= 20 and X[c].nunique() >= 2]


def fit_boosting(stays: list[Stay], y: np.ndarray, *, folds: int = FOLDS, seed: int = SEED,
                 calibration: str = CALIBRATION,
                 progress: ProgressFn | None = None) -> tuple[IcuMortalityModel, dict[str, Any]]:
    """Cross-fitted boosting members, calibrator and threshold; plus the out-of-fold CV figures.

    The figures are cross-fitted throughout (see ``engine.icu.crossval``); the shipped calibrator is
    then fitted on all out-of-fold raw risks and the threshold rule applied to them once calibrated.
    """
    X = build_features(stays)
    features = usable_features(X)
    X = X[features]
    fold = fold_ids(y, folds, seed)
    raw, members = oof_boosting(X, y, fold, seed=seed, progress=progress)
    model = IcuMortalityModel(members_=members, features_=features)
    model.calibrator_ = fit_calibrator(raw, y, calibration)
    model.threshold_ = threshold_equal_se_ppv(y, model.calibrate(raw))
    figures, honest_risk = honest_figures(raw, y, fold, calibration)
    return model, {"raw_oof": raw, "oof_risk": honest_risk, "folds": fold, "cv": figures}


def compare_models(stays: list[Stay], y: np.ndarray, boosting_raw: np.ndarray, fold: np.ndarray, *,
                   epochs: int | None = None, calibration: str = CALIBRATION,
                   progress: ProgressFn | None = None) -> dict[str, Any]:
    """The card's comparison: boosting, GRU-D, the attention model and their blend, on the same folds.

    Each row is the out-of-fold AUROC (bootstrap 95% CI), Event 1 and H with cross-fitted calibration
    and threshold, so the rows differ only in the model.
    """
    from engine.icu.sequence import build_grid, static_inputs

    grid, static = build_grid(stays), static_inputs(stays)
    raws = {"boosting": boosting_raw}
    settings = {kind: {**s, **({"epochs": epochs} if epochs else {})} for kind, s in SEQUENCE_SETTINGS.items()}
    for kind, kw in settings.items():
        raws[kind], _nets = oof_sequence(kind, grid, static, y, fold, progress=progress, **kw)
    return comparison_table(raws, y, fold, calibration, settings)


def comparison_table(raws: dict[str, np.ndarray], y: np.ndarray, fold: np.ndarray, calibration: str,
                     settings: dict[str, Any]) -> dict[str, Any]:
    """Card rows from each model's out-of-fold raw risks (same folds), plus the logit-mean blends."""
    raws = {**raws, "boosting+grud": blend([raws["boosting"], raws["grud"]]),
            "boosting+attention": blend([raws["boosting"], raws["attention"]]),
            "boosting+grud+attention": blend([raws["boosting"], raws["grud"], raws["attention"]])}
    keep = ("auroc", "auroc_ci", "event1", "sensitivity", "ppv", "h", "calibration_slope", "calibration_intercept")
    out: dict[str, Any] = {}
    for name, raw in raws.items():
        figures, _risk = honest_figures(raw, y, fold, calibration)
        out[name] = {k: figures[k] for k in keep}
    out["settings"] = {"folds": int(fold.max() + 1), "calibration": calibration, "sequence": settings,
                       "sequence_models": "hourly 48-step grid (value, mask, hours since last); Adam; early stopping "
                                          "on a stratified 15% inner split of each training fold; 2 CPU threads",
                       "blend": "mean of the members' logits"}
    return out


def load_training_set(data_dir: Path, progress: ProgressFn | None = None) -> tuple[list[Stay], np.ndarray, CleaningReport]:
    """Set A's records and outcomes from ``data_dir`` (``set-a/`` and ``Outcomes-a.txt``)."""
    records = data_dir / "set-a"
    outcomes_path = data_dir / "Outcomes-a.txt"
    if not records.is_dir() or not outcomes_path.exists():
        raise InputError(f"'{data_dir}' has no set-a/ folder and Outcomes-a.txt (the PhysioNet 2012 layout).")
    stays, report = read_challenge_dir(records, progress=(lambda i, n: progress(f"read {i}/{n} stays")) if progress else None)
    stays, y = labels_for(stays, read_outcomes(outcomes_path))
    return stays, y, report


def compare_calibrators(raw: np.ndarray, y: np.ndarray, fold: np.ndarray) -> dict[str, Any]:
    """Cross-fitted H, Event 1 and calibration slope of each calibrator on the same out-of-fold raw risks."""
    out = {}
    for kind in CALIBRATORS:
        figures, _risk = honest_figures(raw, y, fold, kind, n_boot=200)
        out[kind] = {k: figures[k] for k in ("h", "event1", "calibration_slope", "calibration_intercept")}
    return out


def build_card(version: str, cv: dict[str, Any], comparison: dict[str, Any] | None, report: CleaningReport,
               n: int, deaths: int, threshold: float, calibration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model card: data, method, CV figures, comparison, threshold rule, cleaning and limits."""
    return {
        "name": "icu_mortality", "version": version, "kind": "icu_time_series",
        "title": "In-hospital death after 48 h in the ICU",
        "intended_use": "Decision support for ICU clinicians: ranks adult ICU stays by risk of in-hospital death "
                        "from the first 48 h of vital signs and labs. Not a triage rule; not for children.",
        "training_data": {"name": "PhysioNet/CinC Challenge 2012, training set A (MIMIC-II)", "stays": n,
                          "deaths": deaths, "licence": "Open Data Commons Attribution (PhysioNet)",
                          "citation": "Silva I et al. Comput Cardiol 2012;39:245-248"},
        "method": "Gradient boosting (scikit-learn HistGradientBoosting) on per-parameter summary features of the "
                  "first 48 h (first, last, min, max, mean, SD, count, hours since last, last-12-h mean, "
                  "urine per kg per hour, P/F ratio, shock index); 5 cross-fitted "
                  f"members averaged; {CALIBRATION} calibration fitted on the out-of-fold risks.",
        "threshold_rule": "Fixed on set A before any test: the threshold maximising min(sensitivity, positive "
                          "predictivity) on calibrated out-of-fold risks (ties to the lower threshold).",
        "threshold_default": threshold,
        "interval": "10th-90th percentile of the calibrated risks of the 5 members: how much the risk moves when a "
                    "fifth of the training stays change. It is not a full predictive interval.",
        "metrics": {"cv": cv, "comparison": comparison, "calibration_choice": calibration,
                    "note": "5-fold patient-level CV on set A (stratified; one stay per patient; the same folds for "
                            "every model). Calibration and threshold are cross-fitted: each fold's risks are "
                            "calibrated, and its alerts thresholded, by fits on the other four folds, so H and "
                            "Event 1 are out-of-fold. Set C figures are measured by others with `icu evaluate`."},
        "cleaning": report.as_dict()["cleaned"],
        "limits": [EARLY_LIMIT,
                   "ICUType is absent from the shared copy of set A, so the model does not use it.",
                   "Trained on one US hospital system (2001-2008): transport to other units is untested.",
                   "SaO2 (arterial) stands in for SpO2 in NEWS2."],
    }


def train_and_write(data_dir: Path, *, version: str = "1.1.0", compare: bool = False, epochs: int | None = None,
                    progress: ProgressFn | None = None) -> dict[str, Any]:
    """The documented training command: read set A, fit, compare (optionally), write the bundle."""
    from engine.icu.bundle import write_bundle

    stays, y, report = load_training_set(Path(data_dir), progress)
    model, result = fit_boosting(stays, y, progress=progress)
    comparison = compare_models(stays, y, result["raw_oof"], result["folds"], epochs=epochs,
                                progress=progress) if compare else None
    card = build_card(version, result["cv"], comparison, report, len(y), int(y.sum()), model.threshold_,
                      compare_calibrators(result["raw_oof"], y, result["folds"]))
    # Risks before hour 48 get calibrators of their own (engine/icu/protocol.md, round 3).
    card["metrics"]["by_hour"] = fit_hour_calibration(stays, y, model, card, progress=progress)
    folder = write_bundle(model, card)
    return json.loads((folder / "card.json").read_text())
