"""A clinician's agree / disagree on any stored prediction (risk model or image read), audited.

One function for every page that asks "do you agree?", so the stored shape, the
checks and the audit row are the same whichever model produced the result.
"""
from __future__ import annotations

from engine import audit
from engine.errors import InputError, NotFoundError
from engine.store import Database, transaction
from engine.store import predictions as prediction_rows

VERDICTS = ("agree", "disagree")
MAX_REASON_CHARS = 2000


def record_feedback(db: Database, *, prediction_id: int, verdict: str, reason: str | None, username: str,
                    reason_required_to_disagree: bool = True) -> int:
    """Store one verdict on prediction ``prediction_id``; returns the feedback id."""
    if verdict not in VERDICTS:
        raise InputError("The verdict must be 'agree' or 'disagree'.")
    reason = (reason or "").strip() or None
    if verdict == "disagree" and reason_required_to_disagree and not reason:
        raise InputError("Please give a reason when you disagree with a prediction.")
    if reason and len(reason) > MAX_REASON_CHARS:
        raise InputError(f"The reason is too long ({MAX_REASON_CHARS:,} characters at most).")
    with transaction(db):
        prediction = prediction_rows.get_prediction(db, prediction_id)
        if prediction is None:
            raise NotFoundError("That prediction does not exist.")
        feedback_id = prediction_rows.insert_feedback(db, prediction_id=prediction_id, username=username,
                                                      verdict=verdict, reason=reason)
        audit.record(db, username=username, action="feedback.record", target_type="prediction",
                     target_id=prediction_id, details={"verdict": verdict, "model": prediction["model_name"]})
    return feedback_id
