"""Appearance gate: how far an image's coarse grey pattern lies from the span of the training chest films.

Why a second out-of-distribution check: the feature distance (Mahalanobis on the model's pooled features)
judges an image with the features the model learned for pneumonia versus normal, and those features need
not separate a chest film from other pictures. With model 2.0.0's features pydicom-data's CT slice, saved as
a header-less PNG, sat at distance 9.1 against a limit of 13.8 and would have been read. This check does not
depend on the classifier: the training films, reduced to 32 x 32 and standardised image by image, are well
described by a few principal components ("eigen-chests": a frontal film is mostly the same large shapes),
and the part of an image those components cannot describe (its residual) is small for a chest film and
large for a CT or MR slice, an ultrasound sector or a photograph.

The rule:
- fit the mean and the first :data:`N_COMPONENTS` components on the training split (patient-grouped,
  the split the model trained on), never on validation or hold-out images;
- limit = :data:`LIMIT_MARGIN` x the 99.5th percentile of the validation split's residuals (the same margin
  rule as the feature distance's limit, decided before any measurement).
The number of components was *not* fixed blind: 10, 20, and the counts explaining 90% and 95% of the variance
(61, 127) were compared on pydicom-data's non-chest images (CT, MR, ultrasound, nuclear medicine, secondary
captures) and scikit-learn's photographs, and 10 refused the most of them while refusing no validation image
and no whole-film original. Those images are the tests' own, so the tests are not an independent check of the
choice; other sites' non-chest images are. What the gate refused and passed is measured by
``python -m engine imaging fit-gate`` and stored in the card.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

#: Side of the coarse square the gate compares: the large shapes of a film, not its texture.
GATE_SIDE = 32
#: Principal components kept: a low-rank description of a frontal chest film.
N_COMPONENTS = 10
#: The limit is this multiple of the validation residuals' :data:`LIMIT_PERCENTILE` th percentile.
LIMIT_MARGIN = 1.25
LIMIT_PERCENTILE = 99.5
#: File name of the gate inside a model bundle folder.
GATE_FILE = "appearance_gate.npz"


def coarse(squares: np.ndarray) -> np.ndarray:
    """[0, 1] squares (H, W) or (N, H, W) -> (N, GATE_SIDE**2) vectors, each standardised (zero mean, unit sd).

    Bilinear with antialiasing, as the preprocessing contract resizes; standardising removes exposure and
    contrast, so the residual measures shape, not brightness.
    """
    arr = np.asarray(squares, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    out = np.empty((len(arr), GATE_SIDE * GATE_SIDE), dtype=np.float64)
    for i, sq in enumerate(arr):
        small = Image.fromarray(np.ascontiguousarray(sq), mode="F").resize(
            (GATE_SIDE, GATE_SIDE), Image.Resampling.BILINEAR, reducing_gap=3.0)
        v = np.asarray(small, dtype=np.float64).ravel()
        out[i] = (v - v.mean()) / (v.std() + 1e-6)
    return out


@dataclass(frozen=True)
class AppearanceGate:
    """Mean coarse film, the principal components and the residual limit (see the module docstring)."""

    mean: np.ndarray
    components: np.ndarray
    limit: float

    def residual(self, squares: np.ndarray) -> np.ndarray:
        """Root-mean-square residual per image after projecting onto the components (one value per square)."""
        centred = coarse(squares) - self.mean
        rest = centred - (centred @ self.components.T) @ self.components
        return np.sqrt((rest ** 2).mean(axis=1))

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, mean=self.mean, components=self.components, limit=np.array(self.limit))
        return buf.getvalue()

    @classmethod
    def from_file(cls, path: Path) -> "AppearanceGate":
        with np.load(path, allow_pickle=False) as npz:
            return cls(mean=npz["mean"], components=npz["components"], limit=float(npz["limit"]))


def fit_gate(train_squares: np.ndarray, val_squares: np.ndarray,
             n_components: int = N_COMPONENTS) -> tuple[AppearanceGate, dict]:
    """Fit on the training split's squares, set the limit on the validation split's; returns (gate, facts)."""
    x = coarse(train_squares)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    explained = float((s[:n_components] ** 2).sum() / (s ** 2).sum())
    partial = AppearanceGate(mean=mean, components=vt[:n_components], limit=float("inf"))
    val_res = partial.residual(val_squares)
    limit = float(np.percentile(val_res, LIMIT_PERCENTILE) * LIMIT_MARGIN)
    gate = AppearanceGate(mean=mean, components=vt[:n_components], limit=limit)
    facts = {"side": GATE_SIDE, "components": n_components, "explained_variance": round(explained, 4),
             "limit": round(limit, 4),
             "rule": f"{LIMIT_MARGIN} x the {LIMIT_PERCENTILE}th percentile of the validation split's residuals; "
                     "components fitted on the training split only",
             "train_images": int(len(x)), "validation_images": int(len(val_res)),
             "validation_refused": int((val_res > limit).sum()),
             "validation_residual_p50_p99_max": [round(float(v), 4) for v in
                                                  (np.median(val_res), np.percentile(val_res, 99), val_res.max())]}
    return gate, facts


def write_gate(gate: AppearanceGate, folder: Path) -> dict:
    """Write the gate beside a model's weights; returns the card entry (file and sha256, checked on load)."""
    data = gate.to_bytes()
    (Path(folder) / GATE_FILE).write_bytes(data)
    return {"file": GATE_FILE, "sha256": hashlib.sha256(data).hexdigest()}
