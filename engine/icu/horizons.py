"""How well the shipped ICU model reads a stay before hour 48: out-of-fold figures at earlier hours.

Why: the Ward draws a risk at every hour of the stay, but the members were fitted on 48-hour summaries; at
hour 12 the same features come from 12 hours of data, a different input the card had no figure for. Here
every stay of set A is scored at hour h by the one fold member that never saw it (the shipped members are
the fold members of the card's folds, in fold order), then calibrated and alerted by the calibrator and
threshold fitted on the *other* folds' 48-hour risks, as the shipped calibrator and threshold were. So each
hour's AUROC, calibration, Event 1 and H are out-of-fold, and the 48-hour row reproduces the card's figures:
if it does not, the members are not the card's fold members on these stays, and nothing is reported.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.icu.crossval import SEED, cross_fit_alerts, cross_fit_calibration, fold_ids
from engine.icu.features import build_features
from engine.icu.metrics import evaluate_predictions
from engine.icu.model import IcuMortalityModel, fit_calibrator
from engine.icu.records import Stay

HOURS = (6.0, 12.0, 24.0, 36.0, 48.0)  # what `icu horizons` reports by default
# The hours a per-hour calibrator is fitted at (1.2.0 on); the 48-hour one is the shipped calibrator.
CALIBRATION_HOURS = (6.0, 12.0, 18.0, 24.0, 30.0, 36.0, 42.0, 48.0)
# How far the 48-hour row may sit from the card's AUROC before the members are taken not to be the card's
# fold members (the same stays and members reproduce it to the last digit; a bootstrap CI is not compared).
REPRODUCE_TOLERANCE = 0.001
ProgressFn = Callable[[str], None]


def out_of_fold_raw(model: IcuMortalityModel, X: pd.DataFrame, fold: np.ndarray) -> np.ndarray:
    """Each stay's raw risk from the fold member that did not train on it (member k left out fold k)."""
    X = X.reindex(columns=model.features_)
    raw = np.zeros(len(X))
    for k, member in enumerate(model.members_):
        te = fold == k
        if te.any():
            raw[te] = member.predict_proba(X.iloc[np.flatnonzero(te)])[:, 1]
    return raw


def _fold_assignment(model: IcuMortalityModel, card: dict[str, Any], y: np.ndarray) -> np.ndarray:
    expected = card.get("metrics", {}).get("cv", {})
    if len(model.members_) < 2 or expected.get("n") != len(y):
        raise InputError(f"These {len(y)} stays are not the {expected.get('n', '?')} the model's fold members were "
                         "trained on (set A as shipped): out-of-fold figures cannot be computed from them.")
    return fold_ids(y, len(model.members_), SEED)


def hourly_raw(model: IcuMortalityModel, stays: Sequence[Stay], fold: np.ndarray, hours: Sequence[float],
               progress: ProgressFn | None = None) -> dict[float, np.ndarray]:
    """Out-of-fold raw risks of every stay at each hour (48 always included)."""
    out = {}
    for hour in sorted({float(h) for h in hours} | {48.0}):
        out[hour] = out_of_fold_raw(model, build_features(stays, hour), fold)
        if progress:
            progress(f"scored every stay at hour {hour:g}")
    return out


def figures_by_hour(raw: dict[float, np.ndarray], y: np.ndarray, fold: np.ndarray, kind: str, *, per_hour: bool,
                    n_boot: int = 1000) -> list[dict[str, Any]]:
    """``icu evaluate``'s figures at each hour, all out-of-fold.

    Fold k's risks at hour h are calibrated by a calibrator fitted on the other folds' raw risks at 48 h (as
    1.1.0 ships, ``per_hour=False``) or at h itself (``per_hour=True``), and alerted at the threshold the
    shipped rule picks on the other folds' calibrated 48-hour risks (the threshold is a risk level).
    """
    risk48 = cross_fit_calibration(raw[48.0], y, fold, kind)
    rows = []
    for hour, raw_h in sorted(raw.items()):
        risk = cross_fit_calibration(raw_h if per_hour else raw[48.0], y, fold, kind, apply_to=raw_h)
        alert = cross_fit_alerts(risk48, y, fold, apply_to=risk)
        rows.append({"hour": hour, **evaluate_predictions(y, risk, alert, n_boot=n_boot)})
    return rows


def _check_reproduces_card(rows: list[dict[str, Any]], card: dict[str, Any]) -> None:
    at48 = next(r for r in rows if r["hour"] == 48.0)
    expected = card.get("metrics", {}).get("cv", {}).get("auroc", -1)
    if abs(at48["auroc"] - float(expected)) > REPRODUCE_TOLERANCE:
        raise InputError(f"At hour 48 these stays give AUROC {at48['auroc']:.4f}, not the card's {expected}: the "
                         "members are not the card's fold members on these stays, so per-hour figures would not "
                         "be out-of-fold. Nothing was written.")


def horizon_figures(stays: Sequence[Stay], y: np.ndarray, model: IcuMortalityModel, card: dict[str, Any], *,
                    hours: Sequence[float] = HOURS, n_boot: int = 1000,
                    progress: ProgressFn | None = None) -> dict[str, Any]:
    """``icu horizons``: the installed model's out-of-fold figures at each hour, calibrated as it serves."""
    per_hour = bool(model.hour_calibrators_)
    fitted = sorted(h for h, _ in model.hour_calibrators_)
    if per_hour and not {float(h) for h in hours} <= set(fitted):
        # between two fitted hours the risk is interpolated, which a per-fold cross-fit does not reproduce
        raise InputError(f"Version {card['version']} is calibrated at hours {', '.join(f'{h:g}' for h in fitted)}; "
                         "its out-of-fold figures are measured at those hours only.")
    fold = _fold_assignment(model, card, y)
    raw = hourly_raw(model, stays, fold, hours, progress)
    rows = figures_by_hour(raw, y, fold, model.calibrator_["kind"], per_hour=per_hour, n_boot=n_boot)
    _check_reproduces_card(rows, card)
    wanted = {float(h) for h in hours}
    return {"hours": [r for r in rows if r["hour"] in wanted],
            "calibration": "per hour" if per_hour else "the 48-hour calibrator at every hour"}


def fit_hour_calibration(stays: Sequence[Stay], y: np.ndarray, model: IcuMortalityModel, card: dict[str, Any], *,
                         n_boot: int = 1000, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Per-hour calibrators for ``model`` (set in place) and the card's ``by_hour`` block, before and after.

    Each calibrator is fitted on every stay's out-of-fold raw risk at its hour; the 48-hour one is the
    model's own calibrator, so the 48-hour risk (the ``icu predict`` contract) does not change.
    """
    fold = _fold_assignment(model, card, y)
    kind = model.calibrator_["kind"]
    raw = hourly_raw(model, stays, fold, CALIBRATION_HOURS, progress)
    before = figures_by_hour(raw, y, fold, kind, per_hour=False, n_boot=n_boot)
    after = figures_by_hour(raw, y, fold, kind, per_hour=True, n_boot=n_boot)
    _check_reproduces_card(after, card)
    model.hour_calibrators_ = [(h, fit_calibrator(r, y, kind) if h != 48.0 else model.calibrator_)
                               for h, r in sorted(raw.items())]
    return {"hours": after, "with_48h_calibrator": before,
            "method": "Each stay scored at the hour by the fold member that did not train on it; calibrated by a "
                      "calibrator fitted on the other folds' raw risks at that hour and alerted at the shipped "
                      "rule's threshold fitted on the other folds' 48-hour risks, so every figure is out-of-fold. "
                      "'with_48h_calibrator' is the same with the 48-hour calibrator at every hour (1.1.0).",
            "stays": int(len(y)), "deaths": int(np.sum(y))}


def measure(data_dir: Path, *, version: str | None = None, hours: Sequence[float] = HOURS, n_boot: int = 1000,
            progress: ProgressFn | None = None) -> dict[str, Any]:
    """``icu horizons``: read set A and compute the installed model's per-hour figures."""
    from engine.icu.bundle import load_model
    from engine.icu.train import load_training_set

    stays, y, _report = load_training_set(Path(data_dir), progress)
    model, card = load_model(version)
    return {"version": card["version"], **horizon_figures(stays, y, model, card, hours=hours, n_boot=n_boot,
                                                           progress=progress)}


EARLY_LIMIT = ("Risks before hour 48 are calibrated per hour of the stay on set A (out-of-fold figures by hour in "
               "metrics.by_hour); before hour 6 they are not validated.")


def recalibrate_version(data_dir: Path, *, from_version: str, version: str,
                        progress: ProgressFn | None = None) -> dict[str, Any]:
    """``icu recalibrate-hours``: a new version with ``from_version``'s members (the weights file copied byte for
    byte) and per-hour calibrators fitted on set A; its card carries the per-hour figures before and after."""
    from engine.icu.bundle import bundle_dir, load_model, write_bundle
    from engine.icu.train import load_training_set

    stays, y, _report = load_training_set(Path(data_dir), progress)
    served, card = load_model(from_version)
    model = dataclasses.replace(served, hour_calibrators_=[])  # the cached, served model is left as it is
    by_hour = fit_hour_calibration(stays, y, model, card, progress=progress)
    limits = [EARLY_LIMIT if text.startswith("Risks before hour 48") else text for text in card.get("limits", [])]
    new_card = {**card, "version": version, "derived_from": from_version, "limits": limits,
                "method": card["method"] + f" {version}: {from_version}'s members, weights and 48-hour calibrator; "
                          "a risk at an earlier hour is calibrated by a calibrator fitted on out-of-fold raw risks at "
                          "that hour (6, 12, ..., 42 h; logit-interpolated between them).",
                "metrics": {**card["metrics"], "by_hour": by_hour}}
    for key in ("features", "calibration", "threshold", "weights", "hour_calibration"):
        new_card.pop(key, None)
    folder = write_bundle(model, new_card, weights_from=bundle_dir(from_version) / card["weights"]["file"])
    return {"version": version, "folder": str(folder), "by_hour": by_hour}


def by_hour_rows(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's out-of-fold figures by hour of the stay (``metrics.by_hour.hours``), ascending; none before 1.2.0."""
    return card.get("metrics", {}).get("by_hour", {}).get("hours", [])


def reading_at(card: dict[str, Any], hour: float) -> str:
    """One line for a clinician: how well the model read stays at this point of the stay, from the card.

    The figures quoted are those of the latest measured hour not after ``hour`` (at hour 20, with figures at
    18 and 24 h, the 18-hour ones): the model had at least that much data, so the line never claims more than
    was measured.
    """
    measured = by_hour_rows(card)
    rows = [r for r in measured if r["hour"] <= hour + 1e-9]
    if not rows:
        if measured:
            return (f"Before hour {measured[0]['hour']:g} the model's risk has not been validated: read it with great "
                    "care.")
        return "Risks before hour 48 use the same model on fewer data and are not separately validated."
    r = rows[-1]
    lo, hi = r["auroc_ci"]
    return (f"With {r['hour']:g} h of data, cross-validated on set A: AUROC {r['auroc']:.2f} ({lo:.2f}-{hi:.2f}), "
            f"calibration slope {r['calibration_slope']:.2f}, alert sensitivity {r['sensitivity']:.0%} and "
            f"positive predictivity {r['ppv']:.0%}.")
