"""Only a promoted, active model version may score patients (issue 12, first safety finding).

An analyst trained a new model on the Models page; the store said promoted=0, yet Predict offered it
and gave a "High" risk band. These tests register a version exactly as the Models page does
(``registry.register_trained``) and check every serving path: the registry's list, single predictions
(with and without an explicit version), batch scoring, and that promotion by an admin opens it.
The bundle registered is a copy of the shipped heart-failure model under a new name (real weights,
no training needed for what is tested here).
"""
from __future__ import annotations

import pandas as pd
import pytest

from engine.errors import ModelUnavailableError
from engine.models import registry
from engine.models.predict import predict_record, score_frame

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


def register_copy(db, name: str, version: str = "1.0.0", source: str = "hf_mortality") -> dict:
    """Register ``source``'s shipped bundle as an analyst-trained version ``name``/``version``."""
    loaded = registry.load_model(source)
    card = {**loaded.card, "name": name, "version": version, "title": f"Analyst-trained {name}"}
    card.pop("weights", None)
    registry.register_trained(db, loaded.bundle, card, username="ana")
    return card


RECORD = {"age": 60, "ejection_fraction": 30}


def test_a_model_trained_in_the_app_is_not_served_until_promoted(models_copy, fresh_db):
    register_copy(fresh_db, "heart_failure")
    listed = {m["name"]: m for m in registry.list_models()}
    assert listed["heart_failure"]["promoted"] is False and listed["heart_failure"]["servable"] is False
    assert listed["hf_mortality"]["servable"] is True  # the shipped model still serves
    with pytest.raises(ModelUnavailableError, match="promote"):
        predict_record("heart_failure", RECORD)
    with pytest.raises(ModelUnavailableError, match="promote"):
        predict_record("heart_failure", RECORD, version="1.0.0")
    with pytest.raises(ModelUnavailableError, match="promote"):
        score_frame("heart_failure", pd.DataFrame([RECORD]))
    registry.promote(fresh_db, "heart_failure", "1.0.0", username="boss")
    assert 0 < predict_record("heart_failure", RECORD)["probability"] < 1


def test_a_new_unpromoted_version_of_a_shipped_model_is_refused_even_when_named(models_copy, fresh_db):
    register_copy(fresh_db, "hf_mortality", version="1.1.0")
    assert predict_record("hf_mortality", RECORD)["version"] == "1.0.0"
    with pytest.raises(ModelUnavailableError, match="promote"):
        predict_record("hf_mortality", RECORD, version="1.1.0")
    with pytest.raises(ModelUnavailableError):
        score_frame("hf_mortality", pd.DataFrame([RECORD]), version="1.1.0")
    # Retiring the served version must not hand the service to the unreviewed one.
    registry.set_status(fresh_db, "hf_mortality", "1.0.0", "retired", username="boss")
    with pytest.raises(ModelUnavailableError):
        predict_record("hf_mortality", RECORD)
    assert not any(m["servable"] for m in registry.list_models() if m["name"] == "hf_mortality")


def test_versions_trained_before_the_origin_column_are_found_by_their_audit_row(tmp_path):
    """The migration marks versions already trained in the app (audited as models.train) as trained."""
    from engine import audit
    from engine.store import connect, transaction
    from engine.store import schema

    path = tmp_path / "old.db"
    db = connect(path)  # fully migrated; undo the new column's effect by re-running its UPDATE on a fresh row
    with transaction(db):
        db.conn.execute("INSERT INTO model_versions (name, version, status, promoted, updated_by, updated_at) "
                        "VALUES ('old_model', '1.0.0', 'active', 0, 'ana', '2026-01-01')")
        audit.record(db, username="ana", action="models.train", target_type="model", target_id="old_model@1.0.0")
        sql = dict(schema.MIGRATIONS)["1200_safety_model_origin"]
        db.conn.execute(sql[sql.index("UPDATE"):])
    assert db.conn.execute("SELECT origin FROM model_versions WHERE name = 'old_model'").fetchone()[0] == "trained"
    db.conn.close()
