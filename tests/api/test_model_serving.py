"""The REST API serves only the promoted, active version: an analyst-trained version is refused (503),
for a single call, a named version and batch scoring, until an admin promotes it."""
from __future__ import annotations

import json

import pytest

from tests.api.api_helpers import bearer
from tests.engine.test_model_serving import RECORD, register_copy

pytestmark = pytest.mark.both_backends  # the API on SQLite and PostgreSQL (issue 16)


def test_unpromoted_model_is_refused_by_the_api(models_copy, client, tokens, api_db):
    register_copy(api_db, "heart_failure")
    headers = bearer(tokens["clinician"])
    single = client.post("/v1/predict/heart_failure", json={"record": RECORD}, headers=headers)
    assert single.status_code == 503, single.text
    assert "promote" in single.json()["detail"]
    register_copy(api_db, "hf_mortality", version="1.1.0")
    named = client.post("/v1/predict/hf_mortality", json={"record": RECORD, "version": "1.1.0"}, headers=headers)
    assert named.status_code == 503 and "promote" in named.json()["detail"]
    batch = client.post("/v1/predict/heart_failure/batch", json={"records": [RECORD, RECORD]}, headers=headers)
    lines = [json.loads(line) for line in batch.text.splitlines() if line.strip()]
    assert batch.status_code == 503 or not any(line.get("ok") for line in lines), batch.text
    stored = api_db.conn.execute("SELECT COUNT(*) FROM predictions WHERE model_name = 'heart_failure' "
                                 "OR model_version = '1.1.0'").fetchone()[0]
    assert stored == 0
    served = client.post("/v1/predict/hf_mortality", json={"record": RECORD}, headers=headers)
    assert served.status_code == 200 and served.json()["version"] == "1.0.0"
