"""Shortcut check: how much of the Grad-CAM mass of pneumonia reads lies inside the thorax?

Why: a CNN can score pneumonia from things outside the lungs (a marker, the film's border, the
shoulders of an adult PA film, the abdomen of a sicker child's wider framing). If the heat-map of a
pneumonia read sits mostly outside the chest, the read is not looking at the disease.

The thorax region (:data:`THORAX_BOX`) is a fixed box in the model's square input (every upload is
squashed to the training geometry, so the frame is the same for all): rows 10%-85% and columns
10%-90% of the side. It was chosen on the mean training image (the layout template model 1.0.0
ships in its state dict), *before* any Grad-CAM was computed: it holds both lung fields, the heart
and the costophrenic angles, and leaves out the neck and shoulders (top 10%), the upper abdomen
(bottom 15%) and the arms, borders and side markers (10% each side). It covers 60% of the frame, so
a map spread evenly would put 0.60 of its mass inside: the share is read against that. A box is
coarse (a film framed very tight or very loose moves the chest in it); it is a screen for gross
shortcuts, not a lung segmentation.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from engine.imaging.bundle import MODEL_NAME, load_bundle
from engine.imaging.decode import decode_image
from engine.imaging.gradcam import PNEUMONIA, forward_with_cam
from engine.imaging.preprocess import INPUT_SIZE, resize_square
from engine.imaging.service import ANALYSIS_MAX_SIDE, analyse_decoded, build_overlay_png

#: (top, bottom, left, right) of the thorax region as fractions of the model-space square's side.
THORAX_BOX = (0.10, 0.85, 0.10, 0.90)


def thorax_mask(size: int = INPUT_SIZE) -> np.ndarray:
    """Boolean (size, size) mask of :data:`THORAX_BOX`."""
    top, bottom, left, right = (round(f * size) for f in THORAX_BOX)
    mask = np.zeros((size, size), dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


def thorax_share(cam: np.ndarray) -> float | None:
    """Share of the map's mass inside the thorax box; None for a blank map (nothing raised the score)."""
    cam = np.asarray(cam, dtype=np.float64)
    total = float(cam.sum())
    if total <= 1e-12:
        return None
    return float(cam[thorax_mask(cam.shape[-1])].sum() / total)


def shortcut_report(data_dir: Path, version: str | None = None, limit: int | None = None, film: Path | None = None,
                    overlay: Path | None = None, progress: Callable[[str], None] | None = None,
                    batch: int = 64, split: str = "val") -> dict:
    """Thorax share of the Grad-CAM mass for the validation split's pneumonia reads (p >= the model's threshold,
    quality gate passed), beside the box's own area; optionally one ``film``'s share and overlay PNG."""
    from engine.imaging.robustness import _decode_path, split_items

    data_dir, items = split_items(data_dir, split, limit)
    bundle = load_bundle(version)
    model = bundle.model
    threshold = float(model.threshold)
    say = progress or (lambda _msg: None)
    shares: dict[str, list[float]] = {"NORMAL": [], "PNEUMONIA": []}
    blank = 0
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        say(f"Grad-CAM {start + len(chunk)}/{len(items)}")
        squares = np.stack([resize_square(_decode_path(p).gray) for p, _ in chunk])
        logits, _, cams = forward_with_cam(model, bundle.inputs(squares), PNEUMONIA)
        probs = model.calibrate(logits).numpy()
        for (path, label), p, cam in zip(chunk, probs, cams.numpy()):
            if p < threshold:
                continue
            share = thorax_share(cam)
            if share is None:
                blank += 1
            else:
                shares["NORMAL" if label == 0 else "PNEUMONIA"].append(share)
    every = np.array(shares["NORMAL"] + shares["PNEUMONIA"])
    out = {
        "name": "imaging_shortcut", "model": MODEL_NAME, "version": bundle.version, "folder": str(data_dir),
        "split": split, "threshold": threshold, "thorax_box": dict(zip(("top", "bottom", "left", "right"), THORAX_BOX)),
        "box_area_fraction": round(float(thorax_mask().mean()), 4),
        "pneumonia_reads": int(len(every) + blank), "blank_maps": blank,
        "thorax_share_mean": _r(every.mean()) if len(every) else None,
        "thorax_share_median": _r(np.median(every)) if len(every) else None,
        "thorax_share_p10": _r(np.percentile(every, 10)) if len(every) else None,
        "reads_with_share_below_half": int((every < 0.5).sum()),
        "by_true_class": {k: {"n": len(v), "mean": _r(np.mean(v)) if v else None} for k, v in shares.items()},
        "definition": "share = sum of the Grad-CAM map inside the thorax box / sum over the whole 128 px square, "
                      "for validation images read as pneumonia (calibrated p >= threshold)",
    }
    if film is not None:
        decoded = decode_image(Path(film).read_bytes(), Path(film).name, max_side=ANALYSIS_MAX_SIDE)
        analysis = analyse_decoded(decoded, bundle)
        _, _, cam = forward_with_cam(model, bundle.inputs(analysis.square), PNEUMONIA)
        out["film"] = {"file": Path(film).name, "probability_raw": _r(model.calibrate(torch.tensor([analysis.logit]))[0]),
                       "read": analysis.label, "withheld": analysis.probability is None,
                       "warnings": analysis.quality.warnings, "thorax_share": _r(thorax_share(cam[0].numpy()))}
        if overlay is not None:
            Path(overlay).parent.mkdir(parents=True, exist_ok=True)
            Path(overlay).write_bytes(build_overlay_png(analysis.square, _with_box(cam[0].numpy())))
            out["film"]["overlay"] = str(overlay)
    return out


def _with_box(cam: np.ndarray) -> np.ndarray:
    """The map with the thorax box's outline drawn at a low level, so the README figure shows the region."""
    out = cam.copy()
    mask = thorax_mask(cam.shape[-1])
    edge = mask & ~(np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1) & np.roll(mask, -1, 1))
    out[edge] = np.maximum(out[edge], 0.35)
    return out


def _r(v) -> float | None:
    return None if v is None else round(float(v), 4)
