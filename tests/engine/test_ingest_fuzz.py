"""Property: whatever bytes arrive as a 'CSV', the reader either returns a table or raises InputError."""
from __future__ import annotations

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import InputError
from engine.ingest import open_source, propose_mapping, validate_source

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

_cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_csvish = st.lists(st.lists(_cells, min_size=1, max_size=6), min_size=0, max_size=12).map(
    lambda rows: "\n".join(";".join(r) for r in rows).encode("utf-8"))


def _exercise(db, data: bytes) -> None:
    try:
        source = open_source(data)
        mapping = propose_mapping(source.columns, source.preview(50))
        validate_source(db, source, mapping)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc).strip()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_random_bytes_only_raise_input_error(fresh_db, data):
    _exercise(fresh_db, data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_csvish)
def test_random_csv_text_only_raises_input_error(fresh_db, data):
    _exercise(fresh_db, data)
