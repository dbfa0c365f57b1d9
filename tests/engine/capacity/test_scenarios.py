"""The manager role and scenarios migration on an existing store; saving and comparing scenarios."""
from __future__ import annotations

import pytest

from engine import auth
from engine.capacity import scenarios
from engine.errors import InputError
from engine.integrity import check_store
from engine.store import apply_migrations, connect
from engine.store import capacity as scenario_rows
from engine.store import schema

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


def test_migration_adds_manager_to_an_existing_store_with_users_and_tokens(tmp_path, monkeypatch):
    from engine import api_tokens

    path = tmp_path / "old.db"
    old = [m for m in schema.MIGRATIONS if m[0] != "1700_capacity_manager_role_and_scenarios"]
    monkeypatch.setattr(schema, "MIGRATIONS", old)
    monkeypatch.setattr("engine.store.MIGRATIONS", old)
    db = connect(path)
    auth.create_user(db, "ada", "a long enough password", "admin", actor=None)
    api_tokens.create_token(db, "ada", label="x", actor="ada")
    db.conn.close()
    monkeypatch.undo()
    db = connect(path)  # applies the new migration
    assert "1700_capacity_manager_role_and_scenarios" in [r[0] for r in db.conn.execute(
        "SELECT name FROM schema_migrations")]
    auth.create_user(db, "maria", "a long enough password", "manager", actor="ada")
    assert auth.authenticate(db, "maria", "a long enough password").role == "manager"
    with pytest.raises(Exception):
        db.conn.execute("UPDATE users SET role = 'boss' WHERE username = 'maria'")
    assert check_store(db).ok
    assert db.conn.execute("SELECT COUNT(*) FROM api_tokens").fetchone()[0] == 1
    assert apply_migrations(db) == []
    db.conn.close()


def _forecast(p50):
    days = ["2026-12-01", "2026-12-02"]
    return {"days": days, "source": "parameters", "census_now": 3, "label": "ICU",
            "census": {"p05": [1, 1], "p25": [2, 2], "p50": p50, "p75": [4, 4], "p95": [6, 7]}}


def test_save_list_and_compare(fresh_db):
    beds = {"ICU": {"recommended_beds": 9, "target": 0.05, "offered_load_beds": 5.1, "arrivals_per_day": 1.3,
                    "mean_los_days": 3.9, "p_full_at_recommended": 0.04}}
    scenarios.save(fresh_db, "baseline", inputs={"units": ["ICU"]}, forecasts={"ICU": _forecast([3, 3])}, beds=beds,
                   roster=None, username="maria")
    scenarios.save(fresh_db, "winter", inputs={}, forecasts={"ICU": _forecast([5, 6])}, beds=None, roster=None,
                   username="maria")
    with pytest.raises(InputError, match="already exists"):
        scenarios.save(fresh_db, "Baseline", inputs={}, forecasts={"ICU": _forecast([1, 1])}, beds=None, roster=None,
                       username="maria")
    table = scenarios.compare(scenario_rows.list_scenarios(fresh_db))
    by_name = {row["scenario"]: row for row in table}
    assert by_name["baseline"]["recommended_beds"] == 9 and by_name["winter"]["recommended_beds"] is None
    assert by_name["winter"]["median_census_mean"] == 5.5 and by_name["winter"]["peak_p95"] == 7
    actions = [r[0] for r in fresh_db.conn.execute("SELECT action FROM audit")]
    assert actions.count("capacity.scenario_save") == 2
