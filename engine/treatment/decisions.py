"""The clinician's decision per option (accept / decline + reason), stored and audited together.

Why one transaction: a decision without its audit row (or the reverse) would break the
rule that every action on patient data is traceable. A decline needs a reason, because
"declined" alone teaches nobody anything; the inputs the option was evaluated on are
stored with it so the decision can be reviewed against what the clinician saw.

Accepting an option that a contraindication, allergy or interaction blocks is an
*override*: the engine (not the page) re-evaluates the option on the record the
clinician saw and refuses an override without a reason, and the stored decision is
marked as an override so every view and the printed summary can say so.
"""
from __future__ import annotations

from typing import Any

from engine import audit
from engine.errors import InputError, NotFoundError
from engine.store import Database, transaction
from engine.store import patients as patient_rows
from engine.store import treatment as treatment_rows
from engine.treatment import suggest
from engine.treatment.knowledge import KnowledgeBase, load_knowledge_base
from engine.treatment.record import record_from_store

MAX_REASON_CHARS = 1000


def record_decision(db: Database, *, username: str, pseudo_id: str, rule_id: str, decision: str,
                    reason: str | None = None, condition: str | None = None,
                    inputs: dict[str, Any] | None = None, record: dict[str, Any] | None = None,
                    kb: KnowledgeBase | None = None) -> int:
    """Store one decision on one option and audit it; returns the decision id.

    ``record`` is the canonical record the option was evaluated on (the stored record with any
    session values); without it the stored record is used. Accepting an option that record blocks
    needs a reason and is stored as an override.
    """
    kb = kb or load_knowledge_base()
    if decision not in treatment_rows.DECISIONS:
        raise InputError("A decision must be 'accept' or 'decline'.")
    reason = (reason or "").strip() or None
    if decision == "decline" and not reason:
        raise InputError("Please give a reason for declining this option.")
    if reason and len(reason) > MAX_REASON_CHARS:
        raise InputError(f"The reason is longer than {MAX_REASON_CHARS} characters; please shorten it.")
    try:
        rule = kb.rule(rule_id)
    except KeyError:
        raise InputError(f"There is no treatment rule '{rule_id}'.") from None
    if patient_rows.get_patient(db, pseudo_id) is None:
        raise NotFoundError("There is no patient with that pseudonymous id.")
    override = decision == "accept" and is_blocked(record if record is not None else record_from_store(db, pseudo_id),
                                                   rule.id, condition, kb)
    if override and not reason:
        raise InputError("This option is blocked for this patient; accepting it is an override and needs a reason.")
    with transaction(db):
        patient = patient_rows.get_patient(db, pseudo_id)
        if patient is None:
            raise NotFoundError("There is no patient with that pseudonymous id.")
        decision_id = treatment_rows.insert_decision(
            db, patient_id=patient["id"], rule_id=rule.id, option=rule.data["option"]["label"], decision=decision,
            reason=reason, condition_code=condition, knowledge_base=rule.guideline.key,
            knowledge_base_version=rule.guideline.version, inputs=inputs or {}, username=username, override=override)
        audit.record(db, username=username, action="treatment.decide", target_type="patient", target_id=pseudo_id,
                     details={"decision_id": decision_id, "rule_id": rule.id, "decision": decision,
                              "override": override, "knowledge_base": rule.guideline.key,
                              "version": rule.guideline.version})
    return decision_id


def is_blocked(record: dict[str, Any], rule_id: str, condition: str | None, kb: KnowledgeBase) -> bool:
    """Whether ``rule_id`` comes out blocked for ``record`` (evaluated as the page evaluates it)."""
    result = suggest(record, condition=condition, kb=kb)
    return any(item["id"] == rule_id for item in result["blocked"])


def decision_label(decision: dict[str, Any]) -> str:
    """A stored decision as a person reads it: 'accept (override of a block)' for an override."""
    return f"{decision['decision']} (override of a block)" if decision.get("override") else decision["decision"]


def list_decisions(db: Database, pseudo_id: str) -> list[dict[str, Any]]:
    patient = patient_rows.get_patient(db, pseudo_id)
    if patient is None:
        raise NotFoundError("There is no patient with that pseudonymous id.")
    return treatment_rows.decisions_for(db, patient["id"])
