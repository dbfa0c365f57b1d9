"""Does the read hold on real uploads? Pair agreement (original vs training copy) and shift stress.

Why: a validation split carved from the training folder saturates and says nothing
about the films clinicians upload (other aspect ratios, exposures, borders). These
two reports measure that directly, through the app's own decode + preprocessing +
quality path (:func:`read_images`), so what they report is what the page does:

- :func:`pair_agreement`: the originals in ``chest_xray_fullres`` paired by file name
  with their 224 x 224 training copies; |p(original) - p(copy)| and the quality gate's
  refusals of each.
- :func:`stress_report`: sensitivity, specificity and AUROC on the validation split
  (the patient-grouped split training used for early stopping and calibration) under
  synthetic acquisition shifts, each applied to the decoded image *before*
  preprocessing, plus the original geometry where a full-size original exists.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from engine.errors import InputError
from engine.imaging.bundle import MODEL_NAME, load_bundle, recorded_reports
from engine.imaging.decode import DecodedImage, decode_image
from engine.imaging.metrics import point_metrics
from engine.imaging.preprocess import resize_square
from engine.imaging.quality import check_quality
from engine.imaging.service import ANALYSIS_MAX_SIDE
from engine.imaging.train import CLASSES, TrainConfig, list_images, patient_id, split_by_patient

#: Fraction of each side removed (half from each edge) by the border-crop shift, and added by padding.
BORDER_FRACTION = 0.10
#: Gaussian blur sigma as a fraction of the image's long side (2.2 px on a 224 px copy).
BLUR_FRACTION = 0.01
#: Standard deviation of the additive Gaussian noise, on the [0, 1] grey scale.
NOISE_SD = 0.03


#: Test-time augmentation views measured for 2.0.0 (fraction of the side): a 5% tighter and a 5% looser framing.
TTA_FRAMING = 0.05


def tta_views(squares: torch.Tensor, fraction: float = TTA_FRAMING) -> list[torch.Tensor]:
    """[0, 1] squares (N, 1, H, W) as framed, cropped by ``fraction`` and padded (black) by ``fraction``."""
    import torch.nn.functional as F

    size = squares.shape[-1]
    k = max(1, round(size * fraction / 2))
    crop = F.interpolate(squares[..., k:size - k, k:size - k], size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False)
    pad = F.interpolate(F.pad(squares, (k, k, k, k)), size=(size, size), mode="bilinear", antialias=True,
                        align_corners=False)
    return [squares, crop.clamp(0, 1), pad.clamp(0, 1)]


def read_images(decoded: list[DecodedImage], bundle=None, batch: int = 64, tta: bool = False) -> list[dict]:
    """Calibrated probability and quality verdict for each decoded image (the app's path, no Grad-CAM).

    The probability is reported even when the gate withholds it, so a figure covers every image.
    ``tta`` averages the logits of :func:`tta_views` (a measurement option; the app does not use it).
    """
    bundle = bundle or load_bundle()
    model = bundle.model
    model.eval()
    out: list[dict] = []
    for start in range(0, len(decoded), batch):
        chunk = decoded[start:start + batch]
        squares = [resize_square(d.gray) for d in chunk]
        x = bundle.inputs(np.stack(squares))
        with torch.no_grad():
            logits, pooled = model.head_from_features(model.features(x))
            if tta:
                views = tta_views(torch.from_numpy(np.stack(squares))[:, None])[1:]
                logits = torch.stack([logits] + [model(bundle.inputs(v)) for v in views]).mean(0)
            probs = model.calibrate(logits)
        for i, d in enumerate(chunk):
            quality = check_quality(d, squares[i], pooled[i:i + 1], model, bundle.gate)
            out.append({"probability": float(probs[i]), "ok": quality.ok, "warnings": quality.warnings})
    return out


def _decode_path(path: Path) -> DecodedImage:
    return decode_image(path.read_bytes(), path.name, max_side=ANALYSIS_MAX_SIDE)


def _pairs(fullres: Path, copies: Path) -> list[tuple[Path, Path, int]]:
    fullres, copies = Path(fullres), Path(copies)
    if (fullres / "train").is_dir():
        fullres = fullres / "train"
    if (copies / "train").is_dir():
        copies = copies / "train"
    pairs = [(p, copies / CLASSES[label] / p.name, label) for p, label in list_images(fullres)]
    pairs = [pair for pair in pairs if pair[1].is_file()]
    if not pairs:
        raise InputError(f"No original in {fullres} has a copy of the same name and class in {copies}.")
    return pairs


def pair_agreement(fullres: Path, copies: Path, limit: int | None = None, seed: int = 0,
                   version: str | None = None) -> dict:
    """|p(original) - p(copy)| over the pairs (all, or a seeded sample of ``limit``) and the gate's refusals."""
    pairs = _pairs(fullres, copies)
    if limit and limit < len(pairs):
        pick = np.random.default_rng(seed).choice(len(pairs), limit, replace=False)
        pairs = [pairs[i] for i in sorted(pick)]
    bundle = load_bundle(version)
    originals = [_decode_path(o) for o, _, _ in pairs]
    aspects = np.array([d.width / d.height for d in originals])
    read_o = read_images(originals, bundle)
    read_c = read_images([_decode_path(c) for _, c, _ in pairs], bundle)
    diff = np.array([abs(a["probability"] - b["probability"]) for a, b in zip(read_o, read_c)])
    threshold = float(bundle.model.threshold)
    flips = sum((a["probability"] >= threshold) != (b["probability"] >= threshold) for a, b in zip(read_o, read_c))
    refused = [{"file": f"{CLASSES[lab]}/{o.name}", "aspect": round(float(asp), 3), "warnings": r["warnings"]}
               for (o, _, lab), r, asp in zip(pairs, read_o, aspects) if not r["ok"]]
    return {
        "name": "imaging_pairs", "model": MODEL_NAME, "version": bundle.version, "n_pairs": len(pairs),
        "abs_diff_median": round(float(np.median(diff)), 4),
        "abs_diff_p95": round(float(np.percentile(diff, 95)), 4),
        "abs_diff_max": round(float(diff.max()), 4),
        "label_flips_at_threshold": int(flips), "threshold": threshold,
        "refused_originals": len(refused), "refused_copies": sum(not r["ok"] for r in read_c),
        "aspect_range": [round(float(aspects.min()), 3), round(float(aspects.max()), 3)],
        "refused": refused,
    }


# ----------------------------------------------------------------------------- shifts


def _with_gray(d: DecodedImage, gray: np.ndarray) -> DecodedImage:
    return DecodedImage(gray=np.clip(gray, 0, 1).astype(np.float32), kind=d.kind, width=gray.shape[1],
                        height=gray.shape[0], colourfulness=d.colourfulness, header=d.header)


def _contrast(g: np.ndarray, factor: float) -> np.ndarray:
    mean = float(g.mean())
    return (g - mean) * factor + mean


def _blur(g: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(g, sigma=BLUR_FRACTION * max(g.shape)).astype(np.float32)


def _noise(g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return g + rng.normal(0.0, NOISE_SD, g.shape).astype(np.float32)


def _crop(g: np.ndarray) -> np.ndarray:
    h, w = g.shape
    dy, dx = round(h * BORDER_FRACTION / 2), round(w * BORDER_FRACTION / 2)
    return g[dy:h - dy, dx:w - dx]


def _pad(g: np.ndarray) -> np.ndarray:
    h, w = g.shape
    dy, dx = round(h * BORDER_FRACTION / 2), round(w * BORDER_FRACTION / 2)
    return np.pad(g, ((dy, dy), (dx, dx)), constant_values=0.0)


def build_shifts(seed: int = 0) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Name -> function on a [0, 1] grey image; applied before preprocessing, like a different acquisition."""
    rng = np.random.default_rng(seed)
    return {
        "gamma_0.6": lambda g: g ** 0.6,
        "gamma_1.6": lambda g: g ** 1.6,
        "contrast_x0.7": lambda g: _contrast(g, 0.7),
        "contrast_x1.3": lambda g: _contrast(g, 1.3),
        "blur": _blur,
        "noise": lambda g: _noise(g, rng),
        "border_crop_10pct": _crop,
        "padding_10pct": _pad,
    }


def validation_items(data_dir: Path) -> list[tuple[Path, int]]:
    """The validation split training used: the same de-duplication and patient-grouped split (same seed)."""
    return patient_splits(data_dir)["val"]


def patient_splits(data_dir: Path) -> dict[str, list[tuple[Path, int]]]:
    """{"train", "val", "holdout"}: [(path, label)] exactly as training split DIR (de-duplicated, by patient)."""
    items = list_images(Path(data_dir))
    seen: dict[str, int] = {}
    labels_by_hash: dict[str, set[int]] = {}
    kept: list[tuple[Path, int, str]] = []
    for path, label in items:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        labels_by_hash.setdefault(digest, set()).add(label)
        if digest not in seen:
            seen[digest] = len(kept)
            kept.append((path, label, digest))
    kept = [k for k in kept if len(labels_by_hash[k[2]]) == 1]
    y = np.array([label for _, label, _ in kept])
    groups = np.array([f"{CLASSES[label]}:{patient_id(path)}" for path, label, _ in kept])
    parts = split_by_patient(y, groups, TrainConfig())
    return {name: [(kept[i][0], kept[i][1]) for i in sorted(idx)] for name, idx in zip(("train", "val", "holdout"), parts)}


def split_items(data_dir: Path, split: str = "val", limit: int | None = None,
                seed: int = 0) -> tuple[Path, list[tuple[Path, int]]]:
    """(class-folder root, [(path, label)]) of ``split`` ("val" or "all") of DIR[/train], optionally a seeded sample."""
    data_dir = Path(data_dir)
    if (data_dir / "train").is_dir():
        data_dir = data_dir / "train"
    if not data_dir.is_dir():
        raise InputError(f"The folder {data_dir} does not exist.")
    items = validation_items(data_dir) if split == "val" else list_images(data_dir)
    if limit and limit < len(items):
        pick = np.random.default_rng(seed).choice(len(items), limit, replace=False)
        items = [items[i] for i in sorted(pick)]
    return data_dir, items


def _metrics(y: np.ndarray, reads: list[dict], threshold: float) -> dict:
    p = np.array([r["probability"] for r in reads])
    m = point_metrics(y, p, threshold)
    return {"n": m["n"], "sensitivity": _round(m["sensitivity"]), "specificity": _round(m["specificity"]),
            "auroc": _round(m["auroc"]), "quality_withheld": sum(not r["ok"] for r in reads)}


def _round(v):
    return None if v is None else round(float(v), 4)


def stress_report(data_dir: Path, split: str = "val", fullres: Path | None = None, limit: int | None = None,
                  seed: int = 0, progress: Callable[[str], None] | None = None, version: str | None = None,
                  tta: bool = False) -> dict:
    """Metrics on ``split`` ("val": training's validation split of ``data_dir``; "all": every image) per shift.

    ``original_geometry`` scores the full-size originals (``fullres``, paired by name) of the images that
    have one, beside ``original_geometry_copies``: the same images' training copies, the fair reference.
    """
    data_dir, items = split_items(data_dir, split, limit, seed)
    if not items:
        raise InputError(f"The {split} split of {data_dir} is empty.")
    bundle = load_bundle(version)
    threshold = float(bundle.model.threshold)
    decoded = [_decode_path(p) for p, _ in items]
    y = np.array([label for _, label in items])
    say = progress or (lambda _msg: None)
    say(f"baseline on {len(items)} images")
    base = _metrics(y, read_images(decoded, bundle, tta=tta), threshold)
    shifts: dict[str, dict] = {}
    for name, fn in build_shifts(seed).items():
        say(f"shift {name}")
        m = _metrics(y, read_images([_with_gray(d, fn(d.gray)) for d in decoded], bundle, tta=tta), threshold)
        m["specificity_drop"] = _drop(base["specificity"], m["specificity"])
        shifts[name] = m
    if fullres is not None:
        fr = Path(fullres)
        fr = fr / "train" if (fr / "train").is_dir() else fr
        paired = [(fr / CLASSES[label] / p.name, p, label) for p, label in items
                  if (fr / CLASSES[label] / p.name).is_file()]
        if paired:
            say(f"original geometry on {len(paired)} pairs")
            yp = np.array([label for _, _, label in paired])
            copies = _metrics(yp, read_images([_decode_path(c) for _, c, _ in paired], bundle, tta=tta), threshold)
            originals = _metrics(yp, read_images([_decode_path(o) for o, _, _ in paired], bundle, tta=tta), threshold)
            originals["specificity_drop"] = _drop(copies["specificity"], originals["specificity"])
            shifts["original_geometry"] = originals
            shifts["original_geometry_copies"] = copies
    worst = max((m["specificity_drop"] for m in shifts.values() if m.get("specificity_drop") is not None), default=None)
    return {"name": "imaging_stress", "model": MODEL_NAME, "version": bundle.version, "split": split, "tta": tta,
            "n_sampled": limit,
            "folder": str(data_dir), "threshold": threshold, "baseline": base, "shifts": shifts,
            "worst_specificity_drop": worst,
            "definitions": {"gamma": "g ** gamma on the [0, 1] grey image", "contrast": "(g - mean) * factor + mean",
                            "blur": f"Gaussian, sigma {BLUR_FRACTION:.0%} of the long side",
                            "noise": f"additive Gaussian, sd {NOISE_SD} (seeded)",
                            "border_crop_10pct": f"{BORDER_FRACTION:.0%} of each side removed, half at each edge",
                            "padding_10pct": f"black border adding {BORDER_FRACTION:.0%} to each side, half at each edge",
                            "original_geometry": "the full-size original of each image that has one in fullres"}}


def _drop(before, after):
    if before is None or after is None:
        return None
    return round(float(before) - float(after), 4)


def card_stress_rows(card: dict) -> list[dict]:
    """The card's recorded stress reports as rows (shift, then the specificity drop per measured version),
    so the page can show 1.0.0 and 2.0.0 side by side; empty when the card records none."""
    reports = card.get("robustness", {}).get("stress", {})
    if not reports:
        return []
    versions = sorted(reports, key=lambda v: tuple(int(p) if p.isdigit() else p for p in v.split(".")))
    names = [n for n in reports[versions[-1]]["shifts"] if n != "original_geometry_copies"]
    rows = [{"shift": "baseline specificity (no shift)",
             **{v: reports[v]["baseline"]["specificity"] for v in versions}}]
    for name in names:
        rows.append({"shift": f"{name}: specificity drop",
                     **{v: reports[v]["shifts"].get(name, {}).get("specificity_drop") for v in versions}})
    return rows


def installed_stress_rows() -> list[dict]:
    """:func:`card_stress_rows` over every installed version's stress report (:func:`recorded_reports`), so the
    versions compare side by side."""
    return card_stress_rows({"robustness": {"stress": recorded_reports("stress")}})
