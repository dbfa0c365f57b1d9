"""Real chest films for the imaging tests, built at test time (nothing from ``../shared`` is copied into the repo).

Why not pydicom-data's chest CR alone: it is an adult PA film, outside what the pediatric AP model was trained
on, and model 2.0.0's gate withholds it (as it should). A read needs a film of the training source:
a full-size original from ``../shared/data/chest_xray_fullres`` (Kermany et al. 2018, CC BY 4.0), as JPEG,
or its pixels in the chest CR's real DICOM container (header CR / CHEST, view set to AP). Tests skip with a
reason when the shared data is not mounted.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from engine.config import get_settings

FULLRES = get_settings().xray_data_dir.parent / "chest_xray_fullres" / "train"
if not FULLRES.is_dir():  # worktrees sit one level deeper than the main checkout
    FULLRES = Path("/work/shared/data/chest_xray_fullres/train")

needs_fullres = pytest.mark.skipif(not FULLRES.is_dir(),
                                   reason="../shared/data/chest_xray_fullres absent (shared data not mounted)")


def adult_pa_chest() -> bytes:
    """pydicom-data's adult PA chest CR (1841 x 1955, MONOCHROME1), or skip."""
    path = get_testdata_file("RG1_UNCR.dcm", download=False)
    if path is None:
        pytest.skip("pydicom-data chest CR not available offline")
    return Path(path).read_bytes()


def pediatric_original() -> Path:
    """A normal full-size original at its own landscape aspect ratio (the first, by name, within 1.3-1.8)."""
    if not FULLRES.is_dir():
        pytest.skip("../shared/data/chest_xray_fullres absent (shared data not mounted)")
    return next(p for p in sorted((FULLRES / "NORMAL").iterdir())
                if 1.3 <= Image.open(p).size[0] / Image.open(p).size[1] <= 1.8)


def fullres_dir() -> Path | None:
    """The full-size originals' folder (train/), or None when the shared data is not mounted (benches use this)."""
    return FULLRES if FULLRES.is_dir() else None


def in_chest_cr_container(gray: np.ndarray, container: bytes) -> bytes:
    """8-bit grey pixels inside ``container``, the chest CR's DICOM file (:func:`adult_pa_chest`'s bytes): CR,
    CHEST, AP, MONOCHROME2, 15 bits stored with a window over the whole range (the header keeps the source's
    identifiers, so the de-identification checks still have something to remove)."""
    ds = pydicom.dcmread(io.BytesIO(container))
    ds.Rows, ds.Columns = gray.shape
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.ViewPosition = "AP"
    ds.WindowCenter, ds.WindowWidth = 16320, 32640
    ds.PixelData = (np.asarray(gray, dtype=np.uint16) * 128).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def pediatric_dicom() -> bytes:
    """:func:`pediatric_original`'s pixels in the chest CR's DICOM container (:func:`in_chest_cr_container`)."""
    return in_chest_cr_container(np.asarray(Image.open(pediatric_original()).convert("L")), adult_pa_chest())
