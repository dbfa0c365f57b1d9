"""The ICU model bundle: ``assets/models/icu_mortality/<version>/{model.skops, card.json}``.

Members are scikit-learn estimators serialised with skops and loaded through the registry's
type-checked loader, only after the weights' sha256 matches the card. The calibrator, threshold
and feature order are plain numbers in the card, so a reader sees exactly what is applied.
It is not in the tabular registry's manifest: its inputs are time series, not one form of values.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.config import get_settings
from engine.errors import ModelUnavailableError
from engine.icu.model import IcuMortalityModel
from engine.models.registry import _skops_load, version_key
from engine.models.train import card_json, sha256_file

MODEL_NAME = "icu_mortality"
WEIGHTS = "model.skops"


def bundle_dir(version: str | None = None, models_dir: Path | None = None) -> Path:
    root = (models_dir or get_settings().models_dir) / MODEL_NAME
    versions = installed_versions(models_dir)
    if version is not None:
        if version not in versions:
            raise ModelUnavailableError(f"ICU model version {version} is not installed.")
        return root / version
    if not versions:
        raise ModelUnavailableError("No ICU model is installed (train one with `python -m engine icu train`).")
    return root / versions[-1]


def write_bundle(model: IcuMortalityModel, card: dict[str, Any], models_dir: Path | None = None,
                 weights_from: Path | None = None) -> Path:
    """Write members + card (with the weights' sha256, the calibrators, threshold and feature order).

    ``weights_from``: an installed weights file holding exactly ``model.members_``, copied byte for byte (a
    recalibrated version shares its members; the same bytes keep one blob in git, not two).
    """
    import skops.io as sio

    folder = (models_dir or get_settings().models_dir) / MODEL_NAME / card["version"]
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if weights_from is not None:
        shutil.copyfile(weights_from, folder / WEIGHTS)
    else:  # Deflate: the members' many small arrays are stored uncompressed by default (16 MB vs 4 MB here).
        sio.dump({"members": model.members_}, folder / WEIGHTS, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    hourly = [{"hour": hour, **calibrator} for hour, calibrator in model.hour_calibrators_]
    card = {**card, "features": model.features_, "calibration": model.calibrator_,
            **({"hour_calibration": hourly} if hourly else {}),
            "threshold": model.threshold_,
            "weights": {"file": WEIGHTS, "format": "skops", "sha256": sha256_file(folder / WEIGHTS)}}
    (folder / "card.json").write_text(card_json(card) + "\n")
    load_model.cache_clear()
    return folder


def installed_versions(models_dir: Path | None = None) -> list[str]:
    """Installed versions, oldest first; the last one serves (the ICU model has no promotion step)."""
    root = (models_dir or get_settings().models_dir) / MODEL_NAME
    return sorted((p.name for p in root.glob("*") if (p / "card.json").exists()), key=version_key) \
        if root.is_dir() else []


def read_card(version: str, models_dir: Path | None = None) -> dict[str, Any]:
    """A version's card as written (no weights loaded or checked: for reading figures, not for scoring)."""
    return json.loads((bundle_dir(version, models_dir) / "card.json").read_text())


def version_summaries(models_dir: Path | None = None) -> list[dict[str, Any]]:
    """One row per installed version for the Models page, from the cards: which serves, its threshold, its
    cross-validated figures on set A and whether its earlier-hour risks have calibrators of their own."""
    root = (models_dir or get_settings().models_dir) / MODEL_NAME
    versions = installed_versions(models_dir)
    rows = []
    for v in versions:  # the folders just listed (read_card would list them again for each version)
        card = json.loads((root / v / "card.json").read_text())
        cv = card.get("metrics", {}).get("cv", {})
        ci = cv.get("auroc_ci") or [None, None]
        rows.append({"version": v, "served": v == versions[-1], "derived_from": card.get("derived_from", ""),
                     "threshold": card.get("threshold"), "cv_auroc": cv.get("auroc"), "cv_auroc_low": ci[0],
                     "cv_auroc_high": ci[1], "event1": cv.get("event1"), "h": cv.get("h"),
                     "calibrated_by_hour": "hour_calibration" in card})
    return rows


def _calibrator(card: dict[str, Any]) -> dict[str, Any]:
    """The card's calibrator; 1.0.0 cards wrote Platt as {"platt": {"intercept", "slope"}}."""
    if "calibration" in card:
        return card["calibration"]
    platt = card["platt"]
    return {"kind": "platt", "intercept": float(platt["intercept"]), "coef": [float(platt["slope"])]}


@lru_cache(maxsize=4)
def _load(path_str: str, mtime: float) -> tuple[IcuMortalityModel, dict[str, Any]]:
    path = Path(path_str)
    card = json.loads((path / "card.json").read_text())
    weights = path / card["weights"]["file"]
    if not weights.exists() or hashlib.sha256(weights.read_bytes()).hexdigest() != card["weights"]["sha256"]:
        raise ModelUnavailableError(f"The ICU model version {card['version']} failed its integrity check "
                                    "(weights missing or checksum differs from the card).")
    members = _skops_load(weights, MODEL_NAME, card["version"])["members"]
    model = IcuMortalityModel(members_=members, features_=list(card["features"]),
                              calibrator_=_calibrator(card),
                              threshold_=float(card["threshold"]),
                              hour_calibrators_=[(float(c["hour"]), {k: v for k, v in c.items() if k != "hour"})
                                                 for c in card.get("hour_calibration", [])])  # none before 1.2.0
    return model, card


@lru_cache(maxsize=4)
def load_model(version: str | None = None) -> tuple[IcuMortalityModel, dict[str, Any]]:
    """The verified model and its card (cached per process; ``write_bundle`` clears the cache)."""
    path = bundle_dir(version)
    return _load(str(path), (path / WEIGHTS).stat().st_mtime if (path / WEIGHTS).exists() else 0.0)
