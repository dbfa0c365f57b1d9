"""Finding a patient by part of the pseudonymous id, the dataset or a condition, a page at a time
(engine.patient_record.find_patients), checked against plain SQL over the seeded real data sets."""
from __future__ import annotations

import pytest

from engine.patient_record import find_patients

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


def _count(db, sql, *params) -> int:
    return db.conn.execute(sql, params).fetchone()[0]


def test_part_of_the_id_finds_it_and_the_total_is_every_match(seeded_db):
    result = find_patients(seeded_db, "0042", page_size=10)
    expected = _count(seeded_db, "SELECT COUNT(*) FROM patients WHERE pseudo_id LIKE '%0042%'")
    assert result.total == expected > 0
    assert all("0042" in r["pseudo_id"] for r in result.rows)


def test_exact_id_comes_first(seeded_db):
    result = find_patients(seeded_db, "PIMA-0001")  # also a prefix of PIMA-00010 ... when there are that many
    assert result.rows[0]["pseudo_id"] == "PIMA-0001"


def test_dataset_and_condition_words_narrow_the_search(seeded_db):
    source = seeded_db.conn.execute("SELECT source FROM patients WHERE pseudo_id = 'PIMA-0001'").fetchone()[0]
    code = seeded_db.conn.execute("SELECT c.code FROM conditions c JOIN patients p ON p.id = c.patient_id "
                                  "WHERE p.source = ? LIMIT 1", (source,)).fetchone()[0]
    by_source = find_patients(seeded_db, source)
    assert by_source.total == _count(seeded_db, "SELECT COUNT(*) FROM patients WHERE source LIKE ?", f"%{source}%")
    both = find_patients(seeded_db, f"{source} {code[:3]}")
    expected = _count(seeded_db, "SELECT COUNT(DISTINCT p.id) FROM patients p JOIN conditions c ON c.patient_id = p.id "
                                 "WHERE p.source LIKE ? AND c.code LIKE ?", f"%{source}%", f"{code[:3]}%")
    assert both.total == expected and 0 < both.total < by_source.total
    assert all(code[:3] in (r["conditions"] or "") for r in both.rows)


def test_condition_name_finds_patients(seeded_db):
    display = seeded_db.conn.execute("SELECT display FROM conditions WHERE display IS NOT NULL LIMIT 1").fetchone()
    assert display is not None
    word = display[0].split()[0]
    result = find_patients(seeded_db, word.lower())
    assert result.total == _count(seeded_db, "SELECT COUNT(*) FROM patients p WHERE p.pseudo_id LIKE ? OR "
                                             "p.source LIKE ? OR EXISTS (SELECT 1 FROM conditions c WHERE "
                                             "c.patient_id = p.id AND (c.display LIKE ? OR c.code LIKE ?))",
                                  f"%{word}%", f"%{word}%", f"%{word}%", f"{word}%") > 0


def test_pages_cover_every_match_once_with_the_total(seeded_db):
    total = _count(seeded_db, "SELECT COUNT(*) FROM patients")
    first = find_patients(seeded_db, "", page=1, page_size=500)
    assert first.total == total and first.page_size == 200  # page size is capped
    seen = []
    page = 1
    while True:
        result = find_patients(seeded_db, "UCI", page=page, page_size=100)
        seen += [r["pseudo_id"] for r in result.rows]
        if page >= result.pages:
            break
        page += 1
    assert len(seen) == len(set(seen)) == result.total
    past_end = find_patients(seeded_db, "UCI", page=10_000, page_size=100)
    assert past_end.page == past_end.pages and past_end.first == (past_end.pages - 1) * 100 + 1


def test_wildcards_are_literal_and_nothing_matching_is_an_empty_page(seeded_db):
    for text in ("%", "zzz-no-such", "x%y"):
        result = find_patients(seeded_db, text)
        assert result.total == 0 and result.rows == [] and result.pages == 1 and result.first == 0
