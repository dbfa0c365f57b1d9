"""Train the ICU mortality model on PhysioNet 2012 set A: compare models, calibrate, fix the threshold.

Everything is decided on out-of-fold predictions of patient-level stratified K-fold cross-validation
(one stay per patient in set A, so a stay-level split is a patient-level split):

- candidates (a) gradient boosting on summary features, (b) GRU-D, (c) an hourly attention encoder,
  compared by CV AUROC with bootstrap 95% CIs (``compare=True``; the sequence models are slow on CPU);
- the shipped model is the boosting ensemble of the K fold members (see ``engine.icu.model``);
- Platt calibration is fitted on the out-of-fold ensemble risks;
- the alert threshold is fixed by the rule in :func:`engine.icu.metrics.threshold_equal_se_ppv`,
  applied to the calibrated out-of-fold risks, before any other data is seen.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from engine.errors import InputError
from engine.icu.features import build_features
from engine.icu.metrics import bootstrap_ci, evaluate_predictions, lemeshow_h, threshold_equal_se_ppv
from engine.icu.model import IcuMortalityModel, fit_platt, new_member
from engine.icu.records import CleaningReport, Stay, read_challenge_dir, read_outcomes
from engine.models.metrics import auroc

ProgressFn = Callable[[str], None]


def labels_for(stays: list[Stay], outcomes) -> tuple[list[Stay], np.ndarray]:
    """Stays that have an outcome, and their 0/1 in-hospital death."""
    kept = [s for s in stays if s.record_id in outcomes.index]
    if len(kept) < 20:
        raise InputError(f"Only {len(kept)} stays have an outcome; at least 20 are needed to train.")
    y = outcomes.loc[[s.record_id for s in kept], "In-hospital_death"].astype(int).to_numpy()
    if y.sum() < 5 or (1 - y).sum() < 5:
        raise InputError("Training needs at least 5 deaths and 5 survivors.")
    return kept, y


def fit_boosting(stays: list[Stay], y: np.ndarray, *, folds: int = 5, seed: int = 42,
                 progress: ProgressFn | None = None) -> tuple[IcuMortalityModel, dict[str, Any]]:
    """Cross-fitted boosting members, OOF-fitted Platt calibrator and threshold; plus the CV figures."""
    X = build_features(stays)
    # A column seen fewer than 20 times or constant in training carries nothing the trees can split on
    # (and an all-missing column inside a fold breaks the binning): it is not used.
    features = [c for c in X.columns if X[c].notna().sum() >= 20 and X[c].nunique() >= 2]
    X = X[features]
    oof = np.zeros(len(y))
    model = IcuMortalityModel(features_=features)
    for k, (tr, te) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y)):
        member = new_member(seed + k).fit(X.iloc[tr], y[tr])
        oof[te] = member.predict_proba(X.iloc[te])[:, 1]
        model.members_.append(member)
        if progress:
            progress(f"boosting fold {k + 1}/{folds}: AUROC {auroc(y[te], oof[te]):.3f}")
    model.platt_ = fit_platt(oof, y)
    calibrated = model.calibrate(oof)
    model.threshold_ = threshold_equal_se_ppv(y, calibrated)
    figures = evaluate_predictions(y, calibrated, (calibrated >= model.threshold_).astype(int))
    figures["h_uncalibrated"] = round(lemeshow_h(y, oof), 3)
    return model, {"oof_risk": calibrated, "cv": figures}


def compare_sequence_models(stays: list[Stay], y: np.ndarray, *, folds: int = 5, seed: int = 42, epochs: int = 12,
                            progress: ProgressFn | None = None) -> dict[str, Any]:
    """CV AUROC (with CI) and H of GRU-D and the attention model on the same folds as boosting."""
    from engine.icu.sequence import build_grid, fit_sequence_model, predict_sequence_model, standardise, static_inputs

    values, mask, delta = build_grid(stays)
    static = static_inputs(stays)
    out: dict[str, Any] = {}
    for kind in ("grud", "attention"):
        oof = np.zeros(len(y))
        for k, (tr, te) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(values, y)):
            xtr, mean, std = standardise(values[tr])
            xte, _, _ = standardise(values[te], mean, std)
            net = fit_sequence_model(kind, xtr, mask[tr], delta[tr], static[tr], y[tr], epochs=epochs, seed=seed + k)
            oof[te] = predict_sequence_model(net, xte, mask[te], delta[te], static[te])
            if progress:
                progress(f"{kind} fold {k + 1}/{folds}: AUROC {auroc(y[te], oof[te]):.3f}")
        cal = IcuMortalityModel(platt_=fit_platt(oof, y)).calibrate(oof)
        lo, hi = bootstrap_ci(y, oof, auroc)
        out[kind] = {"auroc": round(auroc(y, oof), 4), "auroc_ci": [round(lo, 4), round(hi, 4)],
                     "h_platt_in_sample": round(lemeshow_h(y, cal), 3), "epochs": epochs}
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


def summarise_cv(cv: dict[str, Any]) -> str:
    return json.dumps(cv, indent=1)


def build_card(version: str, cv: dict[str, Any], comparison: dict[str, Any] | None, report: CleaningReport,
               n: int, deaths: int, threshold: float) -> dict[str, Any]:
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
                  "first 48 h; 5 cross-fitted members averaged; Platt calibration fitted on out-of-fold risks.",
        "threshold_rule": "Fixed on set A before any test: the threshold maximising min(sensitivity, positive "
                          "predictivity) on calibrated out-of-fold risks (ties to the lower threshold).",
        "threshold_default": threshold,
        "interval": "10th-90th percentile of the calibrated risks of the 5 members: how much the risk moves when a "
                    "fifth of the training stays change. It is not a full predictive interval.",
        "metrics": {"cv": cv, "comparison": comparison,
                    "note": "cross-validated on set A (5 folds, stratified; one stay per patient). "
                            "Set C figures are measured by others with `icu evaluate`."},
        "cleaning": report.as_dict()["cleaned"],
        "limits": ["Risks before hour 48 use the same model on fewer data and are not separately validated.",
                   "ICUType is absent from the shared copy of set A, so the model does not use it.",
                   "Trained on one US hospital system (2001-2008): transport to other units is untested.",
                   "SaO2 (arterial) stands in for SpO2 in NEWS2."],
    }


def train_and_write(data_dir: Path, *, version: str = "1.0.0", compare: bool = False, epochs: int = 12,
                    progress: ProgressFn | None = None) -> dict[str, Any]:
    """The documented training command: read set A, fit, compare (optionally), write the bundle."""
    from engine.icu.bundle import write_bundle

    stays, y, report = load_training_set(Path(data_dir), progress)
    model, result = fit_boosting(stays, y, progress=progress)
    comparison = None
    if compare:
        lo, hi = result["cv"]["auroc_ci"]
        comparison = {"boosting": {"auroc": result["cv"]["auroc"], "auroc_ci": [lo, hi], "h": result["cv"]["h"]},
                      **compare_sequence_models(stays, y, epochs=epochs, progress=progress)}
    card = build_card(version, result["cv"], comparison, report, len(y), int(y.sum()), model.threshold_)
    folder = write_bundle(model, card)
    return json.loads((folder / "card.json").read_text())
