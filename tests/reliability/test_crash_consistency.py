"""SIGKILL an import at random moments: every kill leaves a sound store.

The normal suite kills a couple of times (``CLINSIGHT_CRASH_TRIALS``); ``make soak``
kills 20 times per registered command (``tests.reliability.crash.CRASH_COMMANDS``).
"""
from __future__ import annotations

import os

import pytest

from tests.reliability.crash import CRASH_COMMANDS, run_crash_trials

TRIALS = int(os.environ.get("CLINSIGHT_CRASH_TRIALS", "2"))


# The normal suite kills the records import (the real import path); make soak kills every command 20 times.
REDUCED = [name for name in ("ingest",) if name in CRASH_COMMANDS] or ["seed"]


@pytest.mark.parametrize("name", REDUCED)
def test_kill_9_leaves_a_sound_store(name, tmp_path):
    report = run_crash_trials(name, TRIALS, tmp_path / "crash.db", rng_seed=11)
    assert not report.problems, report.summary()
    assert report.survived == TRIALS
    assert report.kills >= 1, report.summary()  # at least one kill landed while the command ran


def test_check_catches_a_half_written_version(fresh_db):
    """The checker itself: a version whose rows were not all written is reported (synthetic damage)."""
    from engine.integrity import check_store
    from engine.store import transaction
    from engine.store import datasets as dataset_rows
    from engine.store import patients as patient_rows

    with transaction(fresh_db):
        ds = dataset_rows.get_or_create_dataset(fresh_db, "partial")
        version_id, _ = dataset_rows.add_version(fresh_db, ds, file_name=None, file_sha256=None, mapping=None,
                                                 report=None, n_rows=3, created_by="test")
        patient_rows.insert_patient(fresh_db, {"pseudo_id": "P-1", "dataset_version_id": version_id})
    report = check_store(fresh_db)
    assert not report.ok and "records 3 rows but holds 1" in report.problems[0]
