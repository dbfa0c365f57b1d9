"""Serving a chest X-ray model version: the shipped default (the newest card marked ``shipped_default``, else the
first installed) serves until an administrator promotes another; the promoted version brings its own card's
threshold; every version stays loadable; promotion is audited."""
from __future__ import annotations

import json

import pytest

from engine.config import get_settings
from engine.imaging.bundle import MODEL_NAME, installed_versions, load_bundle, promote, shipped_default
from tests.audit_rows import actions_on

pytestmark = pytest.mark.skipif(len(installed_versions()) < 2, reason="needs two installed chest X-ray versions")


def test_shipped_default_serves_until_an_administrator_promotes_another(fresh_db, db_path):
    versions = installed_versions()
    root = get_settings().models_dir / MODEL_NAME
    default = shipped_default(versions, root)
    marked = [v for v in versions if json.loads((root / v / "card.json").read_text())
              .get("promotion", {}).get("shipped_default")]
    assert default == (marked[-1] if marked else versions[0])
    assert load_bundle().version == default
    other = next(v for v in versions if v != default)
    out = promote(other, username="admin1")
    served = load_bundle()
    assert served.version == other == out["promoted"]
    assert float(served.model.threshold) == pytest.approx(served.card["output"]["threshold"], abs=1e-6)
    assert out["threshold"] == served.card["output"]["threshold"]
    assert load_bundle(default).version == default  # still loadable for comparison
    assert actions_on(db_path, f"{MODEL_NAME}@{other}") == ["models.promote"]


def test_shipped_default_is_the_newest_marked_card(tmp_path):
    """Synthetic cards (only the promotion field matters here): unmarked -> first installed; marked -> newest marked."""
    for v, mark in (("1.0.0", None), ("2.0.0", True), ("3.0.0", None)):
        (tmp_path / v).mkdir()
        card = {"version": v, **({"promotion": {"shipped_default": mark}} if mark else {})}
        (tmp_path / v / "card.json").write_text(json.dumps(card))
    assert shipped_default(["1.0.0", "2.0.0", "3.0.0"], tmp_path) == "2.0.0"
    assert shipped_default(["1.0.0", "3.0.0"], tmp_path) == "1.0.0"


def test_card_stress_rows_show_both_versions_side_by_side(fresh_db):
    """2.0.0's card records the stress reports of 1.0.0 and 2.0.0; the page's rows carry both, per shift."""
    from engine.imaging.robustness import card_stress_rows

    card = load_bundle(installed_versions()[-1]).card
    rows = card_stress_rows(card)
    measured = sorted(card.get("robustness", {}).get("stress", {}))
    if not measured:
        pytest.skip("this card records no stress report")
    assert rows[0]["shift"].startswith("baseline") and all(set(measured) <= set(r) for r in rows)
    blur = next(r for r in rows if r["shift"].startswith("blur"))
    for v in measured:
        assert blur[v] == card["robustness"]["stress"][v]["shifts"]["blur"]["specificity_drop"]
    assert card_stress_rows(load_bundle(installed_versions()[0]).card) == []  # 1.0.0's card records none


def test_the_blockers_measured_before_promotion_are_gone_for_the_served_model(fresh_db):
    """2.0.0's card named two: pydicom-data's CT slice as a header-less PNG was read, and the adult PA chest CR
    was withheld while the tests expected a read. The served model now refuses the slice (appearance gate) and
    withholds the adult PA film, which lies outside the pediatric AP population it was trained on."""
    import io

    import numpy as np
    from PIL import Image

    from engine.imaging.decode import decode_image
    from engine.imaging.service import analyse_image
    from pydicom.data import get_testdata_file

    from tests.chest_films import adult_pa_chest

    ct = get_testdata_file("CT_small.dcm", download=False)
    if ct is None:
        pytest.skip("CT_small.dcm is not bundled offline")
    buf = io.BytesIO()
    Image.fromarray((decode_image(open(ct, "rb").read()).gray * 255).astype(np.uint8)).save(buf, format="PNG")
    slice_png = analyse_image(buf.getvalue(), "slice.png")
    assert slice_png.probability is None and not slice_png.quality.ok
    adult = analyse_image(adult_pa_chest(), "chest.dcm")
    assert adult.probability is None
    assert any("does not look like a frontal chest X-ray" in w for w in adult.quality.warnings)
    assert any("View position PA" in w for w in adult.quality.warnings)
