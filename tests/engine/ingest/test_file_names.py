"""File names are identifiers: exports named after the patient must not leave the name anywhere.

The CLI is run as a user would (``python -m engine ingest FILE`` with its defaults) on files whose names
carry a made-up patient's name, record number and date; the whole store file is then searched.
"""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import date

import pytest

from engine.ingest.records import default_dataset_name
from engine.privacy import safe_file_name

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

# Made up for this test; no real person.
GIVEN, FAMILY = "Zebulon", "Quixotewright"


@pytest.mark.parametrize("name, expected", [
    ("smith_john_labs.csv", "[name]_labs.csv"),
    (f"{GIVEN}123_{FAMILY}456_0b2c7c5e-1f3a-4c1e-9d59-7b2e1c2f0a11.json", "[name].json"),
    ("labs_2026-11-30.csv", "labs_[number].csv"),
    ("MRN88412077_vitals.xlsx", "[name]_vitals.xlsx"),
    ("/home/ward/exports/Observation.ndjson", "observation.ndjson"),
    ("C:\\Users\\jsmith\\export.csv", "export.csv"),
    ("SmithLabs.csv", "[name].csv"),  # a glued word is not a known word: removed whole
    ("Élodie_Dupont_notes.txt", "[name]_notes.txt"),
    ("payload.exe", "[name]"),  # an unknown extension is part of the name
    ("", None),
])
def test_file_name_keeps_only_known_words(name, expected):
    assert safe_file_name(name) == expected


def test_default_dataset_name_is_neutral_and_numbered(fresh_db):
    from engine.store import transaction
    from engine.store import datasets as dataset_rows

    day = date(2026, 11, 30)
    assert default_dataset_name(fresh_db, day) == "import-2026-11-30-1"
    with transaction(fresh_db):
        dataset_rows.get_or_create_dataset(fresh_db, "import-2026-11-30-1")
    assert default_dataset_name(fresh_db, day) == "import-2026-11-30-2"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True)


def test_cli_ingest_defaults_keep_the_file_name_out_of_the_store(db_path, tmp_path, store_backend):
    from engine.store import open_db

    path = tmp_path / f"{FAMILY.lower()}_{GIVEN.lower()}_88412077_labs.csv"
    path.write_text("patient_id,age,sex,glucose\nA1,54,F,101\nA2,61,M,140\n")
    done = _cli("ingest", str(path), "--user", "tester")
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    with open_db(db_path if store_backend == "sqlite" else None) as db:  # the store the CLI wrote to
        if store_backend == "sqlite":
            blob = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*")).lower()
        else:
            blob = "\n".join(db.conn.iterdump()).lower().encode()
        conn = db.conn
        assert blob
        dataset, file_name = conn.execute("SELECT d.name, v.file_name FROM dataset_versions v "
                                          "JOIN datasets d ON d.id = v.dataset_id").fetchone()
        sources = {r[0] for r in conn.execute("SELECT source FROM patients")}
    for needle in (GIVEN, FAMILY, "88412077"):
        assert needle.lower() not in output.lower()
        assert needle.lower().encode() not in blob, needle
    assert re.fullmatch(r"import-\d{4}-\d{2}-\d{2}-1", dataset)
    assert file_name == "[name]_labs.csv"
    assert sources == {dataset}


def test_missing_file_message_does_not_repeat_the_name(db_path, tmp_path):
    done = _cli("ingest", str(tmp_path / f"{FAMILY}_{GIVEN}.csv"))
    assert done.returncode != 0
    assert FAMILY not in done.stderr and GIVEN not in done.stderr


@pytest.mark.parametrize("name", ["ed_ward_labs.csv", "Mr_V_Smith_PA_film.png"])
def test_names_that_are_also_words_or_initials_are_removed(name):
    kept = safe_file_name(name).lower()
    for word in ("ed", "ward", "mr", "smith", "pa"):
        assert not re.search(rf"(^|[^a-z]){word}([^a-z]|$)", kept), (word, kept)
