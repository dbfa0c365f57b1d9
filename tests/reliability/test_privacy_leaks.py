"""Planted identifiers (name, SSN, e-mail, phone, birth date, record number) never come back out.

Scans error messages, logs, printed output, the audit log's CSV export, a backup
and the raw store file (with its WAL) after every scenario in
``tests.reliability.privacy.SCENARIOS`` has fed the identifiers in.
"""
from __future__ import annotations

import pytest

from tests.reliability.privacy import KNOWN_LEAKS, PLANTED, SCENARIOS, run_privacy_scan


def test_no_planted_identifier_appears_anywhere(seeded_db, db_path, tmp_path):
    seeded_db.conn.close()
    clean = [name for name in SCENARIOS if name not in KNOWN_LEAKS]
    assert run_privacy_scan(db_path, tmp_path, scenarios=clean) == {}


@pytest.mark.parametrize("name", sorted(KNOWN_LEAKS))
def test_known_leak_is_still_there(name, seeded_db, db_path, tmp_path):
    """Each reported leak, kept visible: this xfail turns into a failure (XPASS) once the feature is fixed."""
    seeded_db.conn.close()
    found = run_privacy_scan(db_path, tmp_path, scenarios=[name])
    if found:
        pytest.xfail(KNOWN_LEAKS[name])
    pytest.fail(f"{name} no longer leaks: remove it from KNOWN_LEAKS so the main scan covers it")


def test_scan_finds_a_planted_leak(fresh_db, db_path, tmp_path):
    """The scanner itself: an identifier written into the audit log is found (in the export and the file)."""
    from engine import audit

    audit.record(fresh_db, username="leaky", action="bad.example", details={"note": PLANTED["ssn"]})
    fresh_db.conn.close()
    found = run_privacy_scan(db_path, tmp_path, scenarios=[])
    assert "ssn" in found["audit_export"] and "ssn" in found["store_file"]
