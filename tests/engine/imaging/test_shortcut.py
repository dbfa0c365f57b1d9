"""Shortcut check: the thorax share of Grad-CAM mass, and the `imaging shortcut` command on a tiny folder.

The maps in the first tests are synthetic (a uniform map, a map inside or outside the box) and say so;
the command runs on real training copies and skips with a reason when the shared data is absent.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.__main__ import main
from engine.config import get_settings
from engine.imaging.shortcut import THORAX_BOX, thorax_mask, thorax_share

COPIES = get_settings().xray_data_dir if (get_settings().xray_data_dir / "train").is_dir() else \
    Path("/work/shared/data/chest_xray")


def test_uniform_map_puts_the_box_area_inside():
    top, bottom, left, right = THORAX_BOX
    assert thorax_share(np.ones((128, 128))) == pytest.approx((bottom - top) * (right - left), abs=0.02)
    assert thorax_mask(128).mean() == pytest.approx(0.60, abs=0.01)


def test_maps_inside_outside_and_blank():
    cam = np.zeros((128, 128))
    cam[60:70, 60:70] = 1.0  # the middle of the chest
    assert thorax_share(cam) == 1.0
    cam = np.zeros((128, 128))
    cam[:8, :] = 1.0  # neck and shoulders only
    assert thorax_share(cam) == 0.0
    assert thorax_share(np.zeros((128, 128))) is None


@pytest.mark.skipif(not (COPIES / "train").is_dir(), reason="../shared/data/chest_xray absent (shared data not mounted)")
def test_shortcut_command_on_a_tiny_folder(tmp_path, capsys):
    root = get_settings().models_dir / "chest_xray_pneumonia"
    if not root.is_dir():
        pytest.skip("no chest X-ray model bundle installed")
    tiny = tmp_path / "tiny"
    for cls in ("NORMAL", "PNEUMONIA"):
        (tiny / cls).mkdir(parents=True)
        for path in sorted((COPIES / "train" / cls).iterdir())[:4]:
            shutil.copy(path, tiny / cls / path.name)
    film = sorted((COPIES / "train" / "PNEUMONIA").iterdir())[0]
    overlay = tmp_path / "map.png"
    assert main(["imaging", "shortcut", str(tiny), "--split", "all", "--film", str(film),
                 "--overlay", str(overlay)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["box_area_fraction"] == pytest.approx(0.60, abs=0.01)
    assert out["pneumonia_reads"] == out["blank_maps"] + sum(v["n"] for v in out["by_true_class"].values())
    assert out["pneumonia_reads"] <= 8
    if out["thorax_share_mean"] is not None:
        assert 0.0 <= out["thorax_share_mean"] <= 1.0
    assert overlay.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out["film"]["overlay"] == str(overlay)
