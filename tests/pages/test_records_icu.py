"""Records page: ICU stays imported from a .zip of real PhysioNet 2012 records (skipped when ../shared is absent);
a bad file is refused with a sentence and writes nothing."""
from __future__ import annotations

import io
import zipfile

import pytest

from engine.config import get_settings
from tests.pages.apptest_helpers import open_page

SET_A = get_settings().icu_data_dir / "set-a"


def _zip(n: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for path in sorted(SET_A.glob("*.txt"))[:n]:
            archive.write(path, f"export/{path.name}")
    return buf.getvalue()




@pytest.mark.skipif(not SET_A.is_dir(), reason=f"PhysioNet 2012 set A is not at {SET_A}")
def test_analyst_imports_icu_zip_and_stays_are_stored(fresh_db):
    from engine.icu.importer import import_stays
    from engine.icu.records import read_upload

    stays, report = read_upload(_zip(6))
    result = import_stays(fresh_db, stays, report, username="ana", dataset="icu-test")
    assert result.stays == 6 and result.observations > 500
    assert fresh_db.conn.execute("SELECT COUNT(*) FROM icu_stays").fetchone()[0] == 6
    ids = [r[0] for r in fresh_db.conn.execute("SELECT pseudo_id FROM patients")]
    assert all(i.startswith("ICU-") for i in ids) and not any(p.stem in " ".join(ids) for p in
                                                           sorted(SET_A.glob("*.txt"))[:6])


def test_bad_icu_file_is_refused_and_writes_nothing(fresh_db):
    from engine.errors import InputError
    from engine.icu.records import read_upload

    with pytest.raises(InputError, match="columns patient, time, parameter, value"):
        read_upload(b"name,ssn\nJane,123\n")
    with pytest.raises(InputError, match="no ICU record files"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr("notes.txt", "hello")
        read_upload(buf.getvalue())
    assert fresh_db.conn.execute("SELECT COUNT(*) FROM icu_stays").fetchone()[0] == 0


def test_the_icu_import_is_on_the_records_page_for_analysts_only(fresh_db):
    at = open_page("records", role="analyst")
    assert not at.exception
    assert any(b.label == "Import ICU stays" for b in at.button)
    at = open_page("records", role="clinician")
    assert not any(b.label == "Import ICU stays" for b in at.button)


@pytest.mark.skipif(not SET_A.is_dir(), reason=f"PhysioNet 2012 set A is not at {SET_A}")
def test_analyst_uploads_icu_zip_on_the_page(fresh_db):
    at = open_page("records", role="analyst", username="ana")
    at.file_uploader(key="records_icu_upload").set_value(("Smith_John_export.zip", _zip(4), "application/zip"))
    at.run()
    at.button(key="records_icu_import").click().run()
    assert not at.exception and not at.error
    assert any("Imported 4 ICU stays" in s.value for s in at.success)
    assert fresh_db.conn.execute("SELECT COUNT(*) FROM icu_stays").fetchone()[0] == 4
    stored = " ".join(str(r) for r in fresh_db.conn.execute("SELECT * FROM dataset_versions").fetchall())
    assert "Smith" not in stored and "John" not in stored  # the file name is never stored
