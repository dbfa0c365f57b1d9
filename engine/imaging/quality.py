"""Quality and out-of-distribution checks: is this the kind of image the model was trained on?

Why: a CNN returns a confident number for anything, a CT slice or a holiday
photo included. Every check returns a sentence; *blocking* checks withhold the
probability and heat-map, *advisory* ones are shown beside the result. Limits
for the pixel checks (layout template, feature distance, exposure) were fitted
on the training images and travel in the model's state_dict.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.imaging.appearance import AppearanceGate
from engine.imaging.decode import DecodedImage
from engine.imaging.model import XrayNet

RADIOGRAPH_MODALITIES = {"CR", "DX", "RG", "DR"}
CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "CHEST_LAT", "PORT CHEST", "TORAX"}
LATERAL_VIEWS = {"LL", "RL", "LAT", "LATERAL", "RLD", "LLD", "XTABLE"}
FRONTAL_TRAINED_VIEWS = {"AP"}
#: Mean channel spread above this (0-1 scale) means a colour image, not a radiograph.
COLOUR_LIMIT = 0.04
#: Width / height beyond which an image is a tight partial crop, not a whole frontal film. Measured on the
#: 1,560 originals of the training split (``chest_xray_fullres``): genuine frontal films span 0.84-2.4;
#: the nine wider ones (2.53-3.18) are bands across the chest cut above the apices and the diaphragm.
#: Every image is squashed to the training square, so a band becomes a stretched chest and model 1.0.0
#: reads a normal film cut to such a band as pneumonia (p ~ 1.0): refused rather than misread.
ASPECT_LIMITS = (0.75, 2.5)
#: Width of the borderline band below the model's layout limit. The limit (0.5th percentile of the
#: validation copies' template correlation minus 0.1) refused 2 of the 1,560 genuine originals (0.23 and
#: 0.34; a film with a hand and arm in view, one with wide borders); the non-radiographs of the tests score
#: -0.11 (MR), 0.02 (photo) or clear the limit and are refused on their features. In the band a layout is
#: refused only when the features are atypical too. 0.2 (not 0.15) keeps pydicom-data's adult PA chest CR
#: (0.17 once squashed) read with its PA caution, as before; whether an adult PA film should be read at all
#: is model 2.0.0's shortcut question (it scores 0.98 with the heat-map on the shoulders).
LAYOUT_BORDERLINE = 0.2
#: The feature-distance limit is 1.25 x the validation images' 99.5th percentile; "typical" is within that.
MAHA_LIMIT_MARGIN = 1.25
#: Above this width / height the training split holds pneumonia films only (its widest normal film is
#: 1.81): the read may lean on the film's shape, so it is shown with a caution.
ASPECT_NORMAL_MAX = 1.85


@dataclass
class QualityReport:
    """``ok`` is False when any blocking check failed; ``warnings`` lists every finding."""

    ok: bool
    warnings: list[str]
    scores: dict

    def as_dict(self) -> dict:
        return {"ok": self.ok, "warnings": list(self.warnings)}


def check_quality(decoded: DecodedImage, square: np.ndarray, pooled: torch.Tensor, model: XrayNet,
                  gate: AppearanceGate | None = None) -> QualityReport:
    """Run every check on one image; ``square`` is the model's [0, 1] input, ``pooled`` its features (1, C),
    ``gate`` the bundle's appearance gate (models whose card declares none skip that check)."""
    blocking: list[str] = []
    advisory: list[str] = []
    header = decoded.header
    if decoded.kind == "dicom":
        modality = str(header.get("Modality") or "").upper()
        if not modality:
            advisory.append("The DICOM header does not state a modality; check that this is a chest radiograph.")
        elif modality not in RADIOGRAPH_MODALITIES:
            blocking.append(f"This DICOM image is modality {modality}, not a plain radiograph (CR/DX); "
                            "the model reads chest X-rays only.")
        body = str(header.get("BodyPartExamined") or "").upper()
        if body and body not in CHEST_BODY_PARTS:
            blocking.append(f"The DICOM header says the body part is {body}, not the chest.")
        view = str(header.get("ViewPosition") or "").upper()
        if view in LATERAL_VIEWS:
            blocking.append(f"This is a lateral view ({view}); the model was trained on frontal (AP) views only.")
        elif view and view not in FRONTAL_TRAINED_VIEWS:
            advisory.append(f"View position {view}: the model was trained on pediatric AP views; read with care.")
    aspect = decoded.width / decoded.height
    if not ASPECT_LIMITS[0] <= aspect <= ASPECT_LIMITS[1]:
        blocking.append(f"The image is {decoded.width} x {decoded.height} pixels (width / height {aspect:.2f}): a tight "
                        "crop of part of the chest, not a whole frontal film; upload the full film.")
    elif aspect > ASPECT_NORMAL_MAX:
        advisory.append(f"The film is unusually wide (width / height {aspect:.2f}); in the training data every film "
                        "this wide showed pneumonia, so the read may lean on the film's shape. Read with care.")
    if decoded.colourfulness > COLOUR_LIMIT:
        blocking.append("The image is in colour (a photograph or screenshot?), not a grayscale radiograph.")

    mean, std = float(square.mean()), float(square.std())
    lo_mean, hi_mean, lo_std, _ = (float(v) for v in model.exposure_limits)
    if mean < lo_mean or mean > hi_mean or std < lo_std:
        what = "too dark" if mean < lo_mean else "too bright" if mean > hi_mean else "too flat (very low contrast)"
        blocking.append(f"The exposure is extreme: the image is {what} compared with the training X-rays.")

    norm = (square - mean) / (std + 1e-6)
    template = model.template.numpy()
    t = (template - template.mean()) / (template.std() + 1e-6)
    corr = float((norm * t).mean())
    d = pooled[0].double() - model.feat_mean.double()
    maha = float(torch.sqrt(torch.clamp(d @ model.feat_precision.double() @ d, min=0.0)))
    limit = float(model.template_limit)
    typical_features = maha <= float(model.maha_limit) / MAHA_LIMIT_MARGIN
    layout_off = corr < limit - LAYOUT_BORDERLINE or (corr < limit and not typical_features)
    if layout_off:
        blocking.append("The image layout does not look like a frontal chest X-ray (a different body part, a lateral "
                        "view, or not a radiograph).")
    residual = float(gate.residual(square)[0]) if gate is not None else None
    appearance_off = residual is not None and residual > gate.limit and not layout_off
    if appearance_off:
        blocking.append("The image's overall appearance is unlike the frontal chest X-rays the model was trained on "
                        "(a different body part or modality, a lateral view, or not a radiograph).")
    if maha > float(model.maha_limit) and not layout_off and not appearance_off:
        blocking.append("The image is unlike the X-rays the model was trained on (out of distribution); "
                        "its probability would not be reliable.")
    scores = {"template_corr": round(corr, 4), "template_limit": round(float(model.template_limit), 4),
              "mahalanobis": round(maha, 3), "mahalanobis_limit": round(float(model.maha_limit), 3),
              "mean": round(mean, 4), "std": round(std, 4), "colourfulness": round(decoded.colourfulness, 4),
              "aspect": round(aspect, 3)}
    if gate is not None:
        scores.update(appearance_residual=round(residual, 4), appearance_limit=round(gate.limit, 4))
    return QualityReport(ok=not blocking, warnings=blocking + advisory, scores=scores)
