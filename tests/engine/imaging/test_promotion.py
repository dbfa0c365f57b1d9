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
