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


def test_store_lost_before_the_audit_row_is_a_complete_503_not_a_cut_connection(client, tokens, model, monkeypatch):
    """Issue 16's fault: PostgreSQL stops while a call is served. The audit row (written before the last byte
    leaves) cannot be stored, so the client gets the store's sentence as a whole 503 JSON answer; before the fix
    the 200 or 503 headers had already gone out and the connection was cut without a body."""
    import engine.audit as audit_module
    from engine.errors import StoreUnavailableError

    sentence = "The data store cannot be reached right now; the change in progress was not saved."

    def unreachable(db, **row):
        raise StoreUnavailableError(sentence)

    monkeypatch.setattr(audit_module, "record", unreachable)
    response = client.post(f"/v1/predict/{model['name']}", json={"record": example_record(model)},
                           headers=bearer(tokens["clinician"]))
    assert response.status_code == 503
    assert response.json() == {**response.json(), "error": "store_busy", "detail": sentence}
