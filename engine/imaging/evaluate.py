"""Evaluate the shipped model on a folder of class folders (``NORMAL/``, ``PNEUMONIA/``).

Why through :func:`analyse_decoded`: evaluation uses the app's exact decode and
preprocessing path, so any image size or mode the app accepts is evaluated the
same way. Images whose probability the quality check withholds are counted and
scored anyway (with the raw calibrated probability) so the figure covers every image.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.errors import InputError
from engine.imaging.bundle import MODEL_NAME, load_bundle
from engine.imaging.decode import decode_image
from engine.imaging.metrics import bootstrap_metrics
from engine.imaging.service import ANALYSIS_MAX_SIDE, analyse_decoded
from engine.imaging.train import list_images, patient_id


def evaluate_folder(folder: Path, version: str | None = None, n_boot: int = 1000) -> dict:
    """One JSON-able dict: n, accuracy, sensitivity, specificity, AUROC (95% CIs), confusion matrix."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"The folder {folder} does not exist.")
    items = list_images(folder)
    bundle = load_bundle(version)
    ys, ps, groups, unreadable, withheld = [], [], [], 0, 0
    for path, label in items:
        try:
            decoded = decode_image(path.read_bytes(), path.name, max_side=ANALYSIS_MAX_SIDE)
        except InputError:
            unreadable += 1
            continue
        analysis = analyse_decoded(decoded, bundle)
        if analysis.probability is None:
            withheld += 1
        p = float(bundle.model.calibrate(torch.tensor([analysis.logit]))[0])
        ys.append(label)
        ps.append(p)
        groups.append(f"{label}:{patient_id(path)}")
    if not ys:
        raise InputError(f"None of the images in {folder} could be read.")
    threshold = float(bundle.model.threshold)
    result = bootstrap_metrics(np.array(ys), np.array(ps), threshold, np.array(groups), n_boot=n_boot)
    result.update({"model": MODEL_NAME, "version": bundle.version, "folder": str(folder),
                   "unreadable": unreadable, "quality_withheld": withheld})
    return result
