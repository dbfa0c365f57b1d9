"""Serving a chest X-ray model version: the first shipped version serves until an administrator promotes
another; the promoted version brings its own card's threshold; both stay loadable; promotion is audited."""
from __future__ import annotations

import pytest

from engine.config import get_settings
from engine.imaging.bundle import MODEL_NAME, installed_versions, load_bundle, promote
from engine.store import connect

pytestmark = pytest.mark.skipif(len(installed_versions()) < 2, reason="needs two installed chest X-ray versions")


def test_first_shipped_version_serves_until_promotion(fresh_db, db_path):
    first, newest = installed_versions()[0], installed_versions()[-1]
    assert load_bundle().version == first
    out = promote(newest, username="admin1")
    served = load_bundle()
    assert served.version == newest == out["promoted"]
    assert float(served.model.threshold) == pytest.approx(served.card["output"]["threshold"], abs=1e-6)
    assert load_bundle(first).version == first  # still loadable for comparison
    db = connect(db_path)
    try:
        actions = [r[0] for r in db.conn.execute("SELECT action FROM audit WHERE target_id = ?",
                                                  (f"{MODEL_NAME}@{newest}",))]
    finally:
        db.conn.close()
    assert actions == ["models.promote"]
    assert get_settings().models_dir.is_dir()


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
