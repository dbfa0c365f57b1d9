"""Per-image latency of the imaging path vs a bare forward pass of the same model, in the same run.

Measures, per image (median and p95 over repeats):
- forward: the bare model forward pass on an already preprocessed tensor (baseline);
- decode_preprocess: bytes -> model input (decode + squash + resize + the model's intensity step + normalise);
- gradcam: forward with Grad-CAM (gradient back to the last block only);
- full: the contract call ``predict_image`` (decode + preprocess + predict + quality checks + Grad-CAM + PNG).
Images: real Kermany training images (224 px JPEG) when the folder exists, else pydicom-data's chest CR
rendered as JPEG; plus, reported separately, one film at full size (1841 x 1955) as DICOM, as a grey JPEG and
as an RGB JPEG (what a clinician exporting from PACS uploads; decoded with Pillow's draft mode, see
engine.imaging.decode): a pediatric original the model reads from ../shared/data/chest_xray_fullres (not
``--data``), in the chest CR's DICOM container (see ``_full_size_films``).
Last line: one JSON object with full_ms_p50, forward_ms_p50, ratio_full_vs_forward and more.

Usage: python bench/imaging.py [--repeats 30] [--data DIR]
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402

from engine.config import get_settings  # noqa: E402
from engine.imaging.bundle import load_bundle  # noqa: E402
from engine.imaging.decode import decode_image  # noqa: E402
from engine.imaging.gradcam import forward_with_cam  # noqa: E402
from engine.imaging.preprocess import preprocess  # noqa: E402
from engine.imaging.service import ANALYSIS_MAX_SIDE, predict_image  # noqa: E402
from tests.chest_films import fullres_dir, in_chest_cr_container  # noqa: E402


def _timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _summary(ms: list[float]) -> dict:
    return {"p50": round(statistics.median(ms), 3), "p95": round(float(np.percentile(ms, 95)), 3)}


def _images(data_dir: Path, n: int) -> list[bytes]:
    train = data_dir / "train" if (data_dir / "train").is_dir() else data_dir
    paths = []
    for cls in ("NORMAL", "PNEUMONIA"):
        folder = train / cls
        if folder.is_dir():
            paths += sorted(folder.iterdir())[: n // 2]
    if paths:
        return [p.read_bytes() for p in paths]
    gray = decode_image(Path(get_testdata_file("RG1_UNCR.dcm")).read_bytes()).gray
    buf = io.BytesIO()
    Image.fromarray((gray * 255).astype(np.uint8)).resize((224, 224)).save(buf, format="JPEG", quality=90)
    return [buf.getvalue()] * n


def _full_size_films() -> tuple[bytes, bytes, str]:
    """(DICOM, JPEG, what) at 1841 x 1955, the size of pydicom-data's chest CR.

    The film must be one the model reads (a withheld film skips the heat-map PNG and would flatter the
    figure): the full-size original of the training source whose aspect ratio is nearest the CR's, enlarged
    to its size and put in the CR's real DICOM container (tests/chest_films.py). Without the shared
    originals, the adult CR itself (the served model may withhold it: the report says so)."""
    cr = Path(get_testdata_file("RG1_UNCR.dcm")).read_bytes()
    width, height = 1841, 1955
    originals = fullres_dir()
    if originals is not None:
        best = min(sorted((originals / "NORMAL").iterdir()),
                   key=lambda p: abs(Image.open(p).size[0] / Image.open(p).size[1] - width / height))
        gray = np.asarray(Image.open(best).convert("L").resize((width, height), Image.Resampling.BICUBIC))
        dicom, what = in_chest_cr_container(gray, cr), f"a pediatric original ({best.name}) enlarged to 1841 x 1955"
    else:
        dicom, gray = cr, (decode_image(cr).gray * 255).round().astype(np.uint8)
        what = "pydicom-data's adult PA chest CR"
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="JPEG", quality=92)
    return dicom, buf.getvalue(), what


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: Settings.imaging_threads)")
    parser.add_argument("--data", type=Path, default=get_settings().xray_data_dir,
                        help="the 224 px training folder the per-image figures read (not the full-size film)")
    args = parser.parse_args()
    bundle = load_bundle()  # the served (newest) version; sets torch threads from settings
    model = bundle.model
    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    images = _images(args.data, args.images)
    per_image = max(1, args.repeats // len(images))

    tensors = [torch.from_numpy(preprocess(decode_image(b, max_side=ANALYSIS_MAX_SIDE).gray, intensity=bundle.intensity)[None]) for b in images]
    forward, prep, cam, full = [], [], [], []
    # Interleave the four measurements image by image so load changes hit all of them alike.
    for data, x in zip(images, tensors):
        with torch.no_grad():
            forward += _timed(lambda: model(x), per_image)
        prep += _timed(lambda: preprocess(decode_image(data, max_side=ANALYSIS_MAX_SIDE).gray,
                                          intensity=bundle.intensity), per_image)
        cam += _timed(lambda: forward_with_cam(model, x), per_image)
        full += _timed(lambda: predict_image(data), per_image)

    dicom, big_jpeg, film = _full_size_films()
    big_repeats = max(5, args.repeats // 3)
    dicom_full = _timed(lambda: predict_image(dicom), big_repeats)
    jpeg_full = _timed(lambda: predict_image(big_jpeg), big_repeats)
    buf = io.BytesIO()  # the same film as an RGB JPEG, as many PACS and phone exports write a grey film
    Image.open(io.BytesIO(big_jpeg)).convert("RGB").save(buf, format="JPEG", quality=92)
    rgb_jpeg = buf.getvalue()
    rgb_full = _timed(lambda: predict_image(rgb_jpeg), big_repeats)
    read = {"dicom": predict_image(dicom)["probability"] is not None,
            "jpeg": predict_image(big_jpeg)["probability"] is not None}
    forward_again = []
    with torch.no_grad():  # the baseline again, after the large files, so load drift shows in both
        forward_again += _timed(lambda: model(tensors[0]), big_repeats)
    f_big = statistics.median(forward + forward_again)

    f, p, c, u = _summary(forward), _summary(prep), _summary(cam), _summary(full)
    report = {
        "name": "imaging",
        "version": bundle.version,
        "images": len(images),
        "samples_per_path": len(full),
        "threads": args.threads,
        "forward_ms_p50": f["p50"], "forward_ms_p95": f["p95"],
        "decode_preprocess_ms_p50": p["p50"], "decode_preprocess_ms_p95": p["p95"],
        "gradcam_ms_p50": c["p50"], "gradcam_ms_p95": c["p95"],
        "full_ms_p50": u["p50"], "full_ms_p95": u["p95"],
        "ratio_gradcam_vs_forward": round(c["p50"] / f["p50"], 3),
        "ratio_full_vs_forward": round(u["p50"] / f["p50"], 3),
        "jpeg_1841x1955_full_ms_p50": _summary(jpeg_full)["p50"], "jpeg_1841x1955_full_ms_p95": _summary(jpeg_full)["p95"],
        "ratio_jpeg_1841x1955_full_vs_forward": round(_summary(jpeg_full)["p50"] / f_big, 3),
        "rgb_jpeg_1841x1955_full_ms_p50": _summary(rgb_full)["p50"],
        "ratio_rgb_jpeg_1841x1955_full_vs_forward": round(_summary(rgb_full)["p50"] / f_big, 3),
        "dicom_1841x1955_full_ms_p50": _summary(dicom_full)["p50"], "dicom_1841x1955_full_ms_p95": _summary(dicom_full)["p95"],
        "ratio_dicom_full_vs_forward": round(_summary(dicom_full)["p50"] / f_big, 3),
        "full_size_film": film, "full_size_read_not_withheld": read,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
