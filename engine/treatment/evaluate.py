"""Evaluate the rule knowledge base on one patient: options, blocked options, and why.

Three-valued logic (met / not met / unknown) so that missing data is never read as
normal: a criterion on an observation the patient does not have is *missing*, an
``all`` with a missing part and nothing failed is missing, an ``any`` with nothing met
but something missing is missing. Criteria only a clinician can judge (NYHA class,
"previously healthy") are *to confirm*. A rule is

- not considered when none of its conditions is recorded (or selected);
- *not applicable* when an applicability exclusion holds or an inclusion criterion fails
  (reported with the failing criteria: the "why not");
- *blocked* when a contraindication holds, a recorded allergy covers its drug class, or a
  current medication's class interacts with it (reported with the reason and citation);
- otherwise an *option*, with the criteria matched (values, units and dates used), the data
  missing (including data needed to check a contraindication) and what to confirm.

Options are ranked by the guideline's strength of recommendation, then by completeness.
"""
from __future__ import annotations

from typing import Any

from engine.treatment import units
from engine.treatment.knowledge import KnowledgeBase, Rule, strength_rank, strength_text
from engine.treatment.record import Observation, PatientRecord

MET, NOT_MET, MISSING, CONFIRM = "met", "not_met", "missing", "to_confirm"
_SYMBOL = {"<": "<", "<=": "≤", ">": ">", ">=": "≥"}


def _compare(value: float, comparator: str, threshold: float) -> bool:
    return {"<": value < threshold, "<=": value <= threshold, ">": value > threshold,
            ">=": value >= threshold}[comparator]


def describe(leaf: dict[str, Any]) -> str:
    """A criterion as a short sentence, e.g. 'eGFR < 30 mL/min/{1.73_m2}'."""
    if "observation" in leaf:
        return f"{leaf['observation']['name']} {_SYMBOL[leaf['comparator']]} {leaf['threshold']:g} {leaf['unit']}"
    if "age" in leaf:
        a = leaf["age"]
        return f"Age {_SYMBOL[a['comparator']]} {a['threshold']:g} years"
    if "condition" in leaf:
        return f"{leaf['condition']['label']} recorded ({', '.join(leaf['condition']['codes'])})"
    if "confirm" in leaf:
        return leaf["confirm"]
    kind = "all" if "all" in leaf else "any"
    return f"{'all' if kind == 'all' else 'any'} of: " + "; ".join(describe(c) for c in leaf[kind])


class _Trace:
    """Collects leaf outcomes while a criterion tree is evaluated."""

    def __init__(self) -> None:
        self.matched: list[dict[str, Any]] = []
        self.not_met: list[dict[str, Any]] = []
        self.missing: list[dict[str, Any]] = []
        self.confirm: list[str] = []

    def merge(self, other: "_Trace") -> None:
        self.matched += other.matched
        self.not_met += other.not_met
        self.missing += other.missing
        self.confirm += other.confirm


def _obs_entry(leaf: dict[str, Any], obs: Observation, value_in_rule_unit: float) -> dict[str, Any]:
    return {"criterion": describe(leaf), "code": obs.code, "value": round(value_in_rule_unit, 3),
            "unit": units.normalise_unit(leaf["unit"]), "recorded_value": obs.original_value,
            "recorded_unit": obs.original_unit, "time": obs.time, "source": obs.source}


def evaluate_criterion(leaf: dict[str, Any], patient: PatientRecord, trace: _Trace) -> str:
    """Evaluate one criterion tree (three-valued), recording each leaf's outcome in ``trace``."""
    if "all" in leaf or "any" in leaf:
        children = leaf.get("all", leaf.get("any"))
        child_traces = [_Trace() for _ in children]
        results = [evaluate_criterion(child, patient, t) for child, t in zip(children, child_traces)]
        # An 'any' that is met needs nothing else: only the met branches are its basis.
        keep = [t for r, t in zip(results, child_traces) if "any" not in leaf or MET not in results or r == MET]
        for t in keep:
            trace.merge(t)
        if "all" in leaf:
            if NOT_MET in results:
                return NOT_MET
            for state in (MISSING, CONFIRM):
                if state in results:
                    return state
            return MET
        if MET in results:
            return MET
        for state in (MISSING, CONFIRM):
            if state in results:
                return state
        return NOT_MET
    if "observation" in leaf:
        codes = leaf["observation"]["codes"]
        obs = patient.latest(codes)
        if obs is None:
            trace.missing.append({"criterion": describe(leaf), "codes": codes, "name": leaf["observation"]["name"],
                                  "unit": units.normalise_unit(leaf["unit"])})
            return MISSING
        value = units.from_canonical(obs.code, obs.value, leaf["unit"])
        entry = _obs_entry(leaf, obs, value)
        if _compare(value, leaf["comparator"], float(leaf["threshold"])):
            trace.matched.append(entry)
            return MET
        trace.not_met.append(entry)
        return NOT_MET
    if "age" in leaf:
        a = leaf["age"]
        if patient.age is None:
            trace.missing.append({"criterion": describe(leaf), "codes": ["30525-0"], "name": "Age", "unit": "a"})
            return MISSING
        threshold = float(a["threshold"])
        unit = units.normalise_unit(a["unit"])
        if unit != "a":
            threshold = units.QUANTITIES["age"].to_canonical[unit](threshold)
        entry = {"criterion": describe(leaf), "code": "30525-0", "value": patient.age, "unit": "a", "time": None,
                 "source": "record"}
        if _compare(patient.age, a["comparator"], threshold):
            trace.matched.append(entry)
            return MET
        trace.not_met.append(entry)
        return NOT_MET
    if "condition" in leaf:
        found = patient.has_condition(leaf["condition"]["codes"])
        if found is not None:
            trace.matched.append({"criterion": describe(leaf), "code": found["code"], "value": None, "unit": None,
                                  "time": None, "source": found.get("source", "record")})
            return MET
        trace.not_met.append({"criterion": describe(leaf), "code": None, "value": "not recorded", "unit": None,
                              "time": None, "source": None})
        return NOT_MET
    trace.confirm.append(leaf["confirm"])
    return CONFIRM


def _rule_summary(rule: Rule) -> dict[str, Any]:
    option = rule.data["option"]
    strength = dict(rule.data["strength"])
    strength["text"] = strength_text(rule.data["strength"])
    return {
        "id": rule.id,
        "option": option["label"],
        "kind": option["kind"],
        "drug_class": ", ".join(option["drug_classes"]) or None,
        "drug_classes": list(option["drug_classes"]),
        "condition": dict(rule.data["condition"]),
        "statement": rule.data["statement"],
        "strength": strength,
        "rank_score": strength_rank(rule.data["strength"]),
        "citation": rule.citation(),
    }


def _allergy_blocks(kb: KnowledgeBase, patient: PatientRecord, classes: list[str]) -> list[str]:
    reasons = []
    for allergy in patient.allergies:
        allergic = set(allergy["classes"])
        for cls in classes:
            hit = kb.ancestors(cls) & allergic
            if hit:
                label = kb.drug_classes[cls]["label"]
                reasons.append(f"Recorded allergy to {allergy['substance']} ({', '.join(sorted(hit))}), which covers "
                               f"{label}.")
    return reasons


def _interactions(kb: KnowledgeBase, patient: PatientRecord, classes: list[str]) -> list[dict[str, Any]]:
    current = patient.medication_classes()
    found = []
    for cls in classes:
        for item in kb.interactions:
            if cls not in item["classes"]:
                continue
            others = [other for other in item["classes"] if other != cls and other in current]
            if others:
                citation = dict(item["citation"])
                found.append({"class": cls, "with": others, "reason": item["reason"],
                              "strength": strength_text(item["strength"]), "citation": citation, "id": item["id"]})
    return found


def evaluate_rule(rule: Rule, kb: KnowledgeBase, patient: PatientRecord) -> tuple[str, dict[str, Any]]:
    """(status, entry) where status is 'option', 'blocked' or 'not_applicable'."""
    data = rule.data
    entry = _rule_summary(rule)
    for crit in data.get("not_applicable_if", []):
        trace = _Trace()
        if evaluate_criterion(crit, patient, trace) == MET:
            entry["why_not"] = [f"Not applicable: {m['criterion']}" for m in trace.matched]
            return "not_applicable", entry
    trace = _Trace()
    inclusion = evaluate_criterion(data["inclusion"], patient, trace)
    entry["matched"] = trace.matched
    entry["missing"] = [dict(m, needed_for="inclusion") for m in trace.missing]
    entry["to_confirm"] = trace.confirm
    if inclusion == NOT_MET:
        entry["why_not"] = [f"{m['criterion']}: not met (value {m['value']}"
                            + (f" {m['unit']}" if m.get("unit") else "") + (f", {m['time']}" if m.get("time") else "")
                            + ")" for m in trace.not_met]
        return "not_applicable", entry

    blocks: list[dict[str, Any]] = []
    for contra in data["contraindications"]:
        ctrace = _Trace()
        state = evaluate_criterion(contra["criterion"], patient, ctrace)
        if state == MET:
            blocks.append({"type": "contraindication", "id": contra["id"], "reason": contra["reason"],
                           "evidence": ctrace.matched, "citation": rule.citation()})
        elif state == MISSING:
            entry["missing"].extend(dict(m, needed_for="contraindication check: " + contra["id"])
                                    for m in ctrace.missing)
        elif state == CONFIRM:
            entry["to_confirm"].extend(f"Check contraindication: {c}" for c in ctrace.confirm)
    classes = data["option"]["drug_classes"]
    for reason in _allergy_blocks(kb, patient, classes):
        blocks.append({"type": "allergy", "id": "allergy", "reason": reason, "evidence": [], "citation": rule.citation()})
    cautions: list[str] = []
    interactions = _interactions(kb, patient, classes)
    interacting = {i["class"] for i in interactions}
    for item in interactions:
        text = (f"{kb.drug_classes[item['class']]['label']} with current "
                f"{', '.join(kb.drug_classes[w]['label'] for w in item['with'])}: {item['reason']} "
                f"({item['citation']['body'].split(' (')[0]} {item['citation']['year']}, {item['citation']['section']}; "
                f"{item['strength']})")
        if classes and interacting >= set(classes):
            blocks.append({"type": "interaction", "id": item["id"], "reason": text, "evidence": [],
                           "citation": item["citation"]})
        else:
            cautions.append(text)
    for caution in data["cautions"]:
        ctrace = _Trace()
        if evaluate_criterion(caution["criterion"], patient, ctrace) == MET:
            cautions.append(caution["note"])
    already = sorted({cls for cls in classes if cls in patient.medication_classes()})
    entry["cautions"] = cautions
    entry["notes"] = ([f"Already recorded as a current medication: {', '.join(kb.drug_classes[c]['label'] for c in already)}."]
                      if already else [])
    if blocks:
        entry["blocked_by"] = blocks
        entry["reason"] = " ".join(b["reason"] for b in blocks)
        return "blocked", entry
    if inclusion == MET and not entry["missing"]:
        entry["status"] = "criteria met" if not entry["to_confirm"] else "criteria met; to confirm"
    elif entry["missing"]:
        entry["status"] = "data missing"
    else:
        entry["status"] = "to confirm"
    return "option", entry


def evaluate(kb: KnowledgeBase, patient: PatientRecord, condition: str | None = None) -> dict[str, Any]:
    """Evaluate every rule whose condition is recorded (or, with ``condition``, only that condition's rules)."""
    options, blocked, not_applicable, considered = [], [], [], []
    for rule in kb.rules:
        if condition is not None:
            if not any(condition.replace(".", "").upper().startswith(c.replace(".", "").upper())
                       for c in rule.condition_codes):
                continue
        if patient.has_condition(rule.condition_codes) is None:
            continue
        considered.append(rule.id)
        status, entry = evaluate_rule(rule, kb, patient)
        {"option": options, "blocked": blocked, "not_applicable": not_applicable}[status].append(entry)
    completeness = {"criteria met": 0, "criteria met; to confirm": 1, "to confirm": 2, "data missing": 3}
    options.sort(key=lambda o: (-o["rank_score"], completeness[o["status"]], len(o["missing"]), o["id"]))
    for rank, option in enumerate(options, start=1):
        option["rank"] = rank
    blocked.sort(key=lambda o: (-o["rank_score"], o["id"]))
    return {"options": options, "blocked": blocked, "not_applicable": not_applicable, "rules_considered": considered}
