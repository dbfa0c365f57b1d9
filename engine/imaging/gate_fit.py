"""Fit a model version's appearance gate from the training folder and record what it refuses in the card.

Why a command of its own: the gate is not part of the weights (they stay exactly as the documented training
command wrote them, checksum unchanged), so a version trained before the gate existed gets one by this
command, and a new training run calls :func:`engine.imaging.appearance.fit_gate` on the same splits.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from engine.imaging.appearance import AppearanceGate, fit_gate, write_gate
from engine.imaging.bundle import bundle_dir, update_card
from engine.imaging.preprocess import resize_square
from engine.imaging.quality import ASPECT_LIMITS
from engine.imaging.robustness import _decode_path, patient_splits
from engine.imaging.train import list_images


def _squares(items: list[tuple[Path, int]], progress: Callable[[str], None], what: str) -> tuple[np.ndarray, list[float]]:
    squares, aspects = [], []
    for i, (path, _) in enumerate(items, 1):
        decoded = _decode_path(path)
        squares.append(resize_square(decoded.gray))
        aspects.append(decoded.width / decoded.height)
        if i % 500 == 0 or i == len(items):
            progress(f"{what}: {i}/{len(items)} images")
    return np.stack(squares), aspects


def refusals_on_originals(gate: AppearanceGate, fullres: Path, progress: Callable[[str], None]) -> dict:
    """How many genuine full-size originals (aspect inside the gate's limits) the appearance check alone refuses."""
    fullres = Path(fullres)
    items = list_images(fullres / "train" if (fullres / "train").is_dir() else fullres)
    squares, aspects = _squares(items, progress, "originals")
    residual = gate.residual(squares)
    whole = np.array([ASPECT_LIMITS[0] <= a <= ASPECT_LIMITS[1] for a in aspects])
    return {"originals": int(len(items)), "whole_films": int(whole.sum()),
            "whole_films_refused": int((residual[whole] > gate.limit).sum()),
            "residual_max_whole_films": round(float(residual[whole].max()), 4)}


def fit_gate_for_version(data_dir: Path, version: str, fullres: Path | None = None,
                         progress: Callable[[str], None] = lambda _m: None) -> dict:
    """Fit on DIR's training split, limit on its validation split, write the gate into ``version``'s bundle
    and its card entry (file, checksum, rule, refusals); returns the entry."""
    data_dir = Path(data_dir)
    splits = patient_splits(data_dir / "train" if (data_dir / "train").is_dir() else data_dir)
    train_sq, _ = _squares(splits["train"], progress, "training split")
    val_sq, _ = _squares(splits["val"], progress, "validation split")
    gate, facts = fit_gate(train_sq, val_sq)
    if fullres is not None:
        facts["originals"] = refusals_on_originals(gate, fullres, progress)
    entry = {**write_gate(gate, bundle_dir(version)), **facts}
    update_card(version, lambda card: card.update(appearance_gate=entry))
    return entry
