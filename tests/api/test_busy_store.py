"""A store that stays locked by other writers is a 503 the client may retry, never a 400 or a 500."""
from __future__ import annotations

from tests.api.api_helpers import bearer, example_record

from engine.errors import StoreBusyError


def test_busy_store_is_a_retryable_503(client, tokens, model, monkeypatch):
    import engine.models.predict as predict_module

    def busy(name, record, version=None):
        raise StoreBusyError("The store is busy with other writers; nothing was changed, please retry.")

    monkeypatch.setattr(predict_module, "predict_record", busy)
    response = client.post(f"/v1/predict/{model['name']}", json={"record": example_record(model)},
                           headers=bearer(tokens["clinician"]))
    assert response.status_code == 503
    assert response.json()["error"] == "store_busy" and "retry" in response.json()["detail"]
