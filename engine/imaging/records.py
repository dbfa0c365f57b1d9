"""Store an analysed image and its result against a patient, audited; record clinician feedback.

The read shown for a patient carries that patient's population cautions (``engine.imaging.population``).

Why one transaction: the de-identified image, the prediction row and the audit
row are written together or not at all, so a failure leaves the store as it was.
Validation (decode, quality) happens before, in :func:`analyse_image`: a bad
upload raises there and nothing reaches this module.
"""
from __future__ import annotations

import hashlib
import json

from engine import audit, feedback
from engine.errors import InputError, NotFoundError
from engine.imaging.decode import decode_image
from engine.imaging.deid import deidentify
from engine.imaging.population import with_population
from engine.privacy import safe_file_name
from engine.imaging.service import ImageAnalysis, result_json
from engine.imaging.viewer import thumbnail_png
from engine.store import Database, transaction
from engine.store import images as image_store
from engine.store.patients import get_patient



def store_analysis(db: Database, *, pseudo_id: str, data: bytes, analysis: ImageAnalysis, username: str,
                   file_name: str | None = None) -> dict:
    """De-identify and store the image for ``pseudo_id`` (once per content), store the result, audit both.

    Returns {"image_id", "prediction_id", "sha256", "image_created"}.
    """
    patient = get_patient(db, pseudo_id)
    if patient is None:
        raise NotFoundError("That patient does not exist in the store.")
    clean = deidentify(data, analysis.decoded.kind)
    decode_image(clean)  # the stored bytes must still decode; raises InputError otherwise
    sha = hashlib.sha256(clean).hexdigest()
    header = json.dumps(analysis.decoded.header, default=str) if analysis.decoded.header else None
    inputs = json.dumps({"image_sha256": sha, "kind": analysis.decoded.kind,
                         "width": analysis.decoded.width, "height": analysis.decoded.height}, sort_keys=True)
    with transaction(db):
        image_id, created = image_store.upsert_image(
            db, patient_id=patient["id"], sha256=sha, kind=analysis.decoded.kind, width=analysis.decoded.width,
            height=analysis.decoded.height, header=header, content=clean, username=username,
            file_name=safe_file_name(file_name))  # the one allow-list every door uses (issue 18)
        if created:
            audit.record(db, username=username, action="imaging.store", target_type="patient", target_id=pseudo_id,
                         details={"image_id": image_id, "sha256": sha, "kind": analysis.decoded.kind})
        prediction_id = _prediction(db, patient["id"], pseudo_id, inputs, analysis, username, image_id, sha)
    return {"image_id": image_id, "prediction_id": prediction_id, "sha256": sha, "image_created": created}


def _prediction(db, patient_id, pseudo_id, inputs, analysis, username, image_id, sha) -> int:
    existing = image_store.latest_image_prediction(db, patient_id=patient_id, model_name=analysis.model,
                                                   model_version=analysis.version, inputs=inputs)
    if existing is not None:
        return int(existing["id"])
    explanation = json.dumps({"method": "Grad-CAM at the last convolutional block",
                              "withheld": analysis.probability is None, "quality_scores": analysis.quality.scores})
    prediction_id = image_store.insert_prediction(
        db, patient_id=patient_id, model_name=analysis.model, model_version=analysis.version, inputs=inputs,
        output=result_json(analysis), explanation=explanation, username=username)
    audit.record(db, username=username, action="predict.run", target_type="patient", target_id=pseudo_id,
                 details={"prediction_id": prediction_id, "model": analysis.model, "version": analysis.version,
                          "image_id": image_id, "sha256": sha, "withheld": analysis.probability is None})
    return prediction_id


def analyse_stored(db: Database, *, pseudo_id: str, image_id: int, username: str, version: str | None = None) -> dict:
    """Open a stored image of ``pseudo_id`` (audited), analyse it, reuse or store the result for this model version."""
    from engine.imaging.service import analyse_image

    patient, row = _patient_image(db, pseudo_id, image_id, username)
    analysis = with_population(analyse_image(row["content"], None, version=version), patient)
    inputs = json.dumps({"image_sha256": row["sha256"], "kind": row["kind"], "width": row["width"],
                         "height": row["height"]}, sort_keys=True)
    with transaction(db):
        prediction_id = _prediction(db, row["patient_id"], pseudo_id, inputs, analysis, username, image_id, row["sha256"])
    return {"image_id": image_id, "prediction_id": prediction_id, "sha256": row["sha256"], "image_created": False,
            "analysis": analysis, "content": row["content"]}


def _patient_image(db: Database, pseudo_id: str, image_id: int, username: str) -> tuple[dict, dict]:
    """(patient, stored image row with bytes) of ``pseudo_id``, the view audited: one read of each."""
    patient = get_patient(db, pseudo_id)
    row = image_store.get_image(db, image_id)
    if patient is None or row is None or row["patient_id"] != patient["id"]:
        raise NotFoundError("That image is not stored for this patient.")
    audit.record(db, username=username, action="imaging.view", target_type="patient", target_id=pseudo_id,
                 details={"image_id": image_id, "sha256": row["sha256"]})
    return patient, row


def list_patient_images(db: Database, pseudo_id: str, *, thumbnails: bool = False) -> list[dict]:
    """Stored images of a patient, newest first, each with its file name (de-identified when stored), its latest
    result as text (``result``) and, when asked, a small PNG ``thumbnail`` (the bytes themselves never leave)."""
    patient = get_patient(db, pseudo_id)
    if patient is None:
        raise NotFoundError("That patient does not exist in the store.")
    rows = image_store.images_for(db, patient["id"], with_content=thumbnails)
    for row in rows:
        row["result"] = result_text(row.pop("output", None))
        if thumbnails:
            content = row.pop("content")
            try:
                row["thumbnail"] = thumbnail_png(content)
            except InputError:  # stored bytes always decoded once; keep the list usable if one no longer does
                row["thumbnail"] = None
    return rows


def result_text(output: str | None) -> str:
    """'pneumonia 87% (pneumonia)' / 'withheld: image did not fit the model' / 'not analysed' from a stored output."""
    if not output:
        return "not analysed"
    try:
        data = json.loads(output)
    except ValueError:
        return "not analysed"
    if data.get("probability") is None:
        return "withheld: the image did not fit the model"
    label = f" ({data['label']})" if data.get("label") else ""
    return f"pneumonia {data['probability']:.0%}{label}"


def record_feedback(db: Database, *, prediction_id: int, verdict: str, reason: str | None, username: str) -> int:
    """Record a clinician's agree/disagree on an image result (the reason is optional here), audited."""
    return feedback.record_feedback(db, prediction_id=prediction_id, verdict=verdict, reason=reason,
                                    username=username, reason_required_to_disagree=False)


def analyse_and_store(db: Database, *, pseudo_id: str, data: bytes, filename: str | None, username: str,
                      version: str | None = None) -> dict:
    """Validate + analyse first (InputError leaves the store untouched), then store and audit.

    Returns :func:`store_analysis`'s dict plus ``analysis`` (the :class:`ImageAnalysis`).
    """
    from engine.imaging.service import analyse_image

    patient = get_patient(db, pseudo_id)
    if patient is None:
        raise NotFoundError("That patient does not exist in the store.")
    analysis = with_population(analyse_image(data, filename, version=version), patient)
    stored = store_analysis(db, pseudo_id=pseudo_id, data=data, analysis=analysis, username=username,
                            file_name=filename)
    return {**stored, "analysis": analysis}
