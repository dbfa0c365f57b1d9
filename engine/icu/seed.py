"""Demo ICU stays for ``make run``: the first few hundred stays of PhysioNet 2012 set A.

Idempotent like the other demo data; skipped with a message when the data folder is absent
(the repository never holds the records themselves).
"""
from __future__ import annotations

from pathlib import Path

from engine.config import get_settings
from engine.icu.importer import import_stays
from engine.icu.records import read_challenge_dir
from engine.store import Database
from engine.store import datasets as dataset_rows

DEMO_DATASET = "physionet2012_icu"
DEMO_STAYS = 300


def seed_icu(db: Database, *, data_dir: Path | None = None, limit: int = DEMO_STAYS) -> int:
    """Import the first ``limit`` stays of set A once; returns stays added (0 if present or data absent)."""
    folder = (data_dir or get_settings().icu_data_dir) / "set-a"
    if dataset_rows.dataset_exists(db, DEMO_DATASET) or not folder.is_dir():
        return 0
    stays, report = read_challenge_dir(folder, limit=limit)
    return import_stays(db, stays, report, username="seed", dataset=DEMO_DATASET).stays
