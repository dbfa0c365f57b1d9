"""POST /v1/icu/predict: the Ward's model through the API, with the app's roles, audited, bad input 422."""
from __future__ import annotations

import json

import pytest

from tests.api.api_helpers import bearer

from engine.icu.service import predict_series

pytestmark = pytest.mark.both_backends  # the API on SQLite and PostgreSQL (issue 16)

# Synthetic edge-case stay (a deteriorating patient over 12 hours), enough to score.
SERIES = [{"time": h, "parameter": p, "value": v} for h, p, v in [
    (0, "HR", 95), (0, "RespRate", 20), (0, "NISysABP", 118), (0, "Temp", 37.8), (0, "GCS", 15),
    (6, "HR", 118), (6, "RespRate", 26), (6, "NISysABP", 96), (6, "Lactate", 3.9), (6, "Temp", 38.9),
    (12, "HR", 132), (12, "RespRate", 30), (12, "NISysABP", 84), (12, "GCS", 12), (12, "SaO2", 89)]]
BODY = {"age": 77, "sex": "male", "series": SERIES}


def test_clinician_gets_the_engines_answer_and_it_is_audited(client, tokens, api_db):
    response = client.post("/v1/icu/predict", json=BODY, headers=bearer(tokens["clinician"]))
    assert response.status_code == 200, response.text
    got = response.json()
    want = predict_series(json.loads(json.dumps(BODY)))
    assert got["risk"] == want["risk"] and got["alert"] == want["alert"]
    assert got["news2"]["total"] == want["news2"]["total"] >= 7 and got["news2"]["band"] == "high"
    assert got["interval"][0] <= got["risk"] <= got["interval"][1]
    row = api_db.conn.execute("SELECT action, outcome, username FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    assert row == ("icu.predict", "ok", "cleo")


def test_analyst_is_refused(client, tokens):
    response = client.post("/v1/icu/predict", json=BODY, headers=bearer(tokens["analyst"]))
    assert response.status_code == 403


def test_bad_series_is_422_with_a_sentence(client, tokens):
    h = bearer(tokens["clinician"])
    unknown = {"series": [{"time": 0, "parameter": "Heartbeat", "value": 80}]}
    response = client.post("/v1/icu/predict", json=unknown, headers=h)
    assert response.status_code == 422 and "unknown parameter" in response.json()["detail"]
    response = client.post("/v1/icu/predict", json={"series": []}, headers=h)
    assert response.status_code == 422
