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

from datetime import timedelta
from typing import Any

from engine.treatment import units
from engine.treatment.knowledge import KnowledgeBase, Rule, strength_rank, strength_text
from engine.treatment.record import Observation, PatientRecord

FINDING_CONFIRM = {"pregnant": "not pregnant", "angioedema_history": "no history of angioedema"}
FINDING_VALUE_SET = {"pregnant": "pregnancy", "angioedema_history": "angioedema"}

MET, NOT_MET, MISSING, CONFIRM = "met", "not_met", "missing", "to_confirm"
_SYMBOL = {"<": "<", "<=": "≤", ">": ">", ">=": "≥"}


def _compare(value: float, comparator: str, threshold: float) -> bool:
    return {"<": value < threshold, "<=": value <= threshold, ">": value > threshold,
            ">=": value >= threshold}[comparator]


def describe(leaf: dict[str, Any], kb: KnowledgeBase | None = None) -> str:
    """A criterion as a short sentence, e.g. 'eGFR < 30 mL/min/{1.73_m2}'."""
    if "observation" in leaf:
        return f"{leaf['observation']['name']} {_SYMBOL[leaf['comparator']]} {leaf['threshold']:g} {leaf['unit']}"
    if "age" in leaf:
        a = leaf["age"]
        return f"Age {_SYMBOL[a['comparator']]} {a['threshold']:g} years"
    if "condition" in leaf:
        label = leaf["condition"].get("label") or (kb.condition_label(leaf["condition"]) if kb else
                                                   leaf["condition"]["value_set"])
        return f"{label} recorded (ICD-10-CM value set '{leaf['condition']['value_set']}')"
    if "finding" in leaf:
        return {"pregnant": "Pregnant", "angioedema_history": "History of angioedema"}[leaf["finding"]]
    if "medication" in leaf:
        names = ", ".join(kb.drug_classes[c]["label"] if kb else c for c in leaf["medication"]["classes"])
        return f"Currently taking: {names}"
    if "confirm" in leaf:
        return leaf["confirm"]
    kind = "all" if "all" in leaf else "any"
    return f"{'all' if kind == 'all' else 'any'} of: " + "; ".join(describe(c, kb) for c in leaf[kind])


class _Trace:
    """Collects leaf outcomes while a criterion tree is evaluated."""

    def __init__(self) -> None:
        self.matched: list[dict[str, Any]] = []
        self.not_met: list[dict[str, Any]] = []
        self.missing: list[dict[str, Any]] = []
        self.confirm: list[str] = []
        # Values used that are older than their staleness window (or undated): shown "to confirm" whatever
        # the criterion's outcome, since the outcome rests on them.
        self.stale: list[str] = []

    def merge(self, other: "_Trace") -> None:
        self.matched += other.matched
        self.not_met += other.not_met
        self.missing += other.missing
        self.confirm += other.confirm
        self.stale += other.stale


def _months(delta: timedelta) -> int:
    return int(delta.days // 30.44)


def _observation_basis(leaf: dict[str, Any], patient: PatientRecord, kb: KnowledgeBase,
                       trace: _Trace) -> tuple[Observation, float, str, dict[str, Any]] | None:
    """(latest observation, value to compare, unit it is compared in, extra basis) or None when missing.

    Blood pressure is the mean of the readings within the averaging window before the latest one
    (the guideline classifies BP on an average). A threshold the guideline also states in the unit the
    value was recorded in is compared in that unit (LDL-C 4.9 mmol/L is the guideline's own 190 mg/dL).
    A value older than its staleness window, or undated, is used and marked "to confirm".
    """
    codes = leaf["observation"]["codes"]
    obs = patient.latest(codes)
    if obs is None:
        return None
    extra: dict[str, Any] = {}
    windows = kb.windows
    canonical = obs.value
    if set(codes) <= set(windows.get("bp_codes", [])) and obs.when is not None:
        start = obs.when - timedelta(days=float(windows["bp_average_window_days"]))
        readings = [o for o in patient.readings(codes) if o.when is not None and start <= o.when <= obs.when]
        if len(readings) > 1:
            canonical = sum(o.value for o in readings) / len(readings)
            extra = {"averaged_over": len(readings), "from": min(o.time for o in readings if o.time)}
    by_unit = {units.normalise_unit(u): float(v) for u, v in leaf.get("thresholds_by_unit", {}).items()}
    unit = units.normalise_unit(leaf["unit"])
    threshold = float(leaf["threshold"])
    if obs.original_unit in by_unit and not extra:
        unit, threshold, value = obs.original_unit, by_unit[obs.original_unit], obs.original_value
    else:
        value = units.from_canonical(obs.code, canonical, leaf["unit"])
    extra["threshold"] = threshold
    stale_days = windows.get("stale_after_days", {}).get(obs.code)
    name = leaf["observation"]["name"]
    if obs.when is None:
        trace.stale.append(f"{name} has no date: confirm it is current")
    elif stale_days is not None and patient.as_of - obs.when > timedelta(days=float(stale_days)):
        age = patient.as_of - obs.when
        ago = f"{_months(age)} months ago" if age.days >= 61 else f"{age.days} days ago"
        trace.stale.append(f"last {name} {ago} ({obs.time[:10]}): confirm it is current")
    return obs, value, unit, extra


def finding_state(name: str, patient: PatientRecord, kb: KnowledgeBase) -> tuple[str, dict[str, Any] | None]:
    """Present / absent / unknown for a state a rule reads: (MET | NOT_MET | CONFIRM, evidence).

    Present when a code of its value set is recorded, an allergy reaction names it (angioedema) or the
    clinician confirmed it; absent when the clinician confirmed it absent or (pregnancy) it cannot apply
    (sex recorded as male, or age outside the screening range); otherwise unknown: to confirm.
    """
    cond = patient.find_condition(kb.value_sets[FINDING_VALUE_SET[name]])
    if cond is not None:
        return MET, {"code": cond["code"], "source": cond.get("source", "record")}
    if name == "angioedema_history":
        for allergy in patient.allergies:
            if allergy.get("angioedema"):
                return MET, {"code": None, "source": "allergy reaction recorded as angioedema"}
    confirmed = patient.confirmed.get(name)
    if confirmed is True:
        return MET, {"code": None, "source": "confirmed by clinician"}
    if confirmed is False:
        return NOT_MET, None
    if name == "pregnant":
        low, high = kb.windows.get("pregnancy_check_age_years", [12, 55])
        if patient.sex == "male" or (patient.age is not None and not low <= patient.age <= high):
            return NOT_MET, None
    return CONFIRM, None


def evaluate_criterion(leaf: dict[str, Any], patient: PatientRecord, trace: _Trace, kb: KnowledgeBase) -> str:
    """Evaluate one criterion tree (three-valued), recording each leaf's outcome in ``trace``."""
    if "all" in leaf or "any" in leaf:
        children = leaf.get("all", leaf.get("any"))
        child_traces = [_Trace() for _ in children]
        results = [evaluate_criterion(child, patient, t, kb) for child, t in zip(children, child_traces)]
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
        basis = _observation_basis(leaf, patient, kb, trace)
        if basis is None:
            trace.missing.append({"criterion": describe(leaf), "codes": leaf["observation"]["codes"],
                                  "name": leaf["observation"]["name"], "unit": units.normalise_unit(leaf["unit"])})
            return MISSING
        obs, value, unit, extra = basis
        entry = {"criterion": describe(leaf), "code": obs.code, "value": round(value, 3), "unit": unit,
                 "recorded_value": obs.original_value, "recorded_unit": obs.original_unit, "time": obs.time,
                 "source": obs.source, **extra}
        if _compare(value, leaf["comparator"], extra["threshold"]):
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
        found = patient.find_condition(kb.value_sets[leaf["condition"]["value_set"]])
        if found is not None:
            trace.matched.append({"criterion": describe(leaf, kb), "code": found["code"], "value": None, "unit": None,
                                  "time": None, "source": found.get("source", "record")})
            return MET
        trace.not_met.append({"criterion": describe(leaf, kb), "code": None, "value": "not recorded", "unit": None,
                              "time": None, "source": None})
        return NOT_MET
    if "finding" in leaf:
        state, evidence = finding_state(leaf["finding"], patient, kb)
        if state == MET:
            trace.matched.append({"criterion": describe(leaf), "code": evidence["code"], "value": None, "unit": None,
                                  "time": None, "source": evidence["source"]})
        elif state == NOT_MET:
            trace.not_met.append({"criterion": describe(leaf), "code": None, "value": "not recorded", "unit": None,
                                  "time": None, "source": None})
        elif leaf.get("if_unknown") == "not_met":
            trace.not_met.append({"criterion": describe(leaf), "code": None, "value": "not recorded", "unit": None,
                                  "time": None, "source": None})
            return NOT_MET
        else:
            trace.confirm.append(FINDING_CONFIRM[leaf["finding"]])
        return state
    if "medication" in leaf:
        wanted = set(leaf["medication"]["classes"])
        unless = set(leaf["medication"].get("unless_classes", []))
        current = [m for m in patient.medications if m["active"]]
        if unless & {c for m in current for c in m["classes"]}:
            trace.not_met.append({"criterion": describe(leaf, kb), "code": None, "value": "not current", "unit": None,
                                  "time": None, "source": None})
            return NOT_MET
        hits = [m for m in current if wanted & (set(m["classes"]) - set(m["contained"]))]
        if hits:
            trace.matched.append({"criterion": describe(leaf, kb), "code": None, "value": None, "unit": None,
                                  "time": None, "source": "current medication: " + ", ".join(m["display"] for m in hits)})
            return MET
        trace.not_met.append({"criterion": describe(leaf, kb), "code": None, "value": "not current", "unit": None,
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


def _allergy_blocks(kb: KnowledgeBase, patient: PatientRecord, classes: list[str]) -> tuple[list[str], list[str]]:
    """(block reasons, cross-reactivity cautions) for the option's classes and the recorded allergies."""
    reasons, cautions = [], []
    for allergy in patient.allergies:
        allergic = set(allergy["classes"])
        for cls in classes:
            hit = kb.ancestors(cls) & allergic
            label = kb.drug_classes[cls]["label"]
            if hit:
                reasons.append(f"Recorded allergy to {allergy['substance']} ({', '.join(sorted(hit))}), which covers "
                               f"{label}.")
                continue
            shared = {p for a in allergic for p in kb.ancestors(a)} & kb.ancestors(cls) - {cls}
            if shared:
                cautions.append(f"Recorded allergy to {allergy['substance']}: {label} shares the "
                                f"{', '.join(kb.drug_classes[p]['label'] for p in sorted(shared))} structure, so "
                                "cross-reactivity is possible; check the type of the recorded reaction before use.")
    return reasons, cautions


def _interactions(kb: KnowledgeBase, patient: PatientRecord, classes: list[str],
                  replaced: set[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Interactions with current medications (and with ones stopped within a washout), plus to-confirm items."""
    current = patient.medication_classes()
    found, confirm = [], []
    for cls in classes:
        for item in kb.interactions:
            if cls not in item["classes"]:
                continue
            others = [o for o in item["classes"] if o != cls and o in current and o not in replaced]
            washout = float(item.get("washout_hours", 0))
            recent = []
            if washout:
                for med in patient.medications:
                    if med["active"] or not set(med["classes"]) & (set(item["classes"]) - {cls}):
                        continue
                    # Texts name the class, never the medication text (it is free text and may hold anything).
                    what = ", ".join(kb.drug_classes[c]["label"] for c in med["classes"]
                                     if c in set(item["classes"]) - {cls})
                    if med["stopped"] is None:
                        confirm.append(f"at least {washout:g} hours since the last dose of the {what}")
                    elif patient.as_of - med["stopped"] < timedelta(hours=washout):
                        ends = (med["stopped"] + timedelta(hours=washout)).strftime("%Y-%m-%d %H:%M UTC")
                        recent.append(f"the {what} stopped {med['stopped'].strftime('%Y-%m-%d %H:%M UTC')}; "
                                      f"the {washout:g}-hour washout ends {ends}")
            if others or recent:
                found.append({"class": cls, "with": others, "recent": recent, "reason": item["reason"],
                              "strength": strength_text(item["strength"]), "citation": dict(item["citation"]),
                              "id": item["id"]})
    return found, confirm


def _cite_short(citation: dict[str, Any], strength: str) -> str:
    return f"{citation['body'].split(' (')[0]} {citation['year']}, {citation['section']}; {strength}"


def _harms(kb: KnowledgeBase, patient: PatientRecord, rule: Rule, classes: list[str]):
    """(blocks, cautions, to-confirm) from class harms in a patient state (pregnancy, HFrEF)."""
    blocks, cautions, confirm = [], [], []
    for harm in kb.harms:
        if harm.get("knowledge_bases") and rule.guideline.key not in harm["knowledge_bases"]:
            continue
        affected = [c for c in classes if kb.ancestors(c) & set(harm["classes"])]
        if not affected:
            continue
        trace = _Trace()
        state = evaluate_criterion(harm["when"], patient, trace, kb)
        labels = ", ".join(kb.drug_classes[c]["label"] for c in affected)
        cite = _cite_short(harm["citation"], strength_text(harm["strength"]))
        if state == MET:
            text = f"{labels}: {harm['reason']} ({cite})"
            if set(affected) == set(classes):
                blocks.append({"type": "harm", "id": harm["id"], "reason": text, "evidence": trace.matched,
                               "citation": harm["citation"]})
            else:
                cautions.append(f"Not an option here - {text}")
        elif state == CONFIRM and harm.get("confirm"):
            confirm.append(f"{harm['confirm']} (before {labels}: harmful if pregnant; {cite})")
    return blocks, cautions, confirm


def evaluate_rule(rule: Rule, kb: KnowledgeBase, patient: PatientRecord) -> tuple[str, dict[str, Any]]:
    """(status, entry) where status is 'option', 'blocked' or 'not_applicable'."""
    data = rule.data
    entry = _rule_summary(rule)
    for crit in data.get("not_applicable_if", []):
        trace = _Trace()
        if evaluate_criterion(crit, patient, trace, kb) == MET:
            entry["why_not"] = [f"Not applicable: {m['criterion']}"
                                + (f" ({m['source']})" if m.get("source", "").startswith("current") else "")
                                for m in trace.matched]
            return "not_applicable", entry
    trace = _Trace()
    inclusion = evaluate_criterion(data["inclusion"], patient, trace, kb)
    entry["matched"] = trace.matched
    entry["missing"] = [dict(m, needed_for="inclusion") for m in trace.missing]
    entry["to_confirm"] = trace.confirm + trace.stale
    if inclusion == NOT_MET:
        entry["why_not"] = [f"{m['criterion']}: not met (value {m['value']}"
                            + (f" {m['unit']}" if m.get("unit") else "") + (f", {m['time']}" if m.get("time") else "")
                            + ")" for m in trace.not_met]
        return "not_applicable", entry

    blocks: list[dict[str, Any]] = []
    for contra in data["contraindications"]:
        ctrace = _Trace()
        state = evaluate_criterion(contra["criterion"], patient, ctrace, kb)
        if state == MET:
            blocks.append({"type": "contraindication", "id": contra["id"], "reason": contra["reason"],
                           "evidence": ctrace.matched, "citation": rule.citation()})
        elif state == MISSING:
            entry["missing"].extend(dict(m, needed_for="contraindication check: " + contra["id"])
                                    for m in ctrace.missing)
        elif state == CONFIRM:
            entry["to_confirm"].extend(f"Check contraindication: {c}" for c in ctrace.confirm)
        entry["to_confirm"].extend(c for c in ctrace.stale if c not in entry["to_confirm"])
    classes = data["option"]["drug_classes"]
    cautions: list[str] = []
    switch_from = {s["class"]: s for s in data["option"].get("switch_from", [])}
    if data["option"]["kind"] != "stop":
        reasons, cross = _allergy_blocks(kb, patient, classes)
        blocks += [{"type": "allergy", "id": "allergy", "reason": r, "evidence": [], "citation": rule.citation()}
                   for r in reasons]
        cautions += cross
        interactions, washout_confirm = _interactions(kb, patient, classes, set(switch_from))
        entry["to_confirm"] += washout_confirm
        interacting = {i["class"] for i in interactions}
        for item in interactions:
            parts = [f"current {', '.join(kb.drug_classes[w]['label'] for w in item['with'])}"] if item["with"] else []
            text = (f"{kb.drug_classes[item['class']]['label']} with {'; '.join(parts + item['recent'])}: "
                    f"{item['reason']} ({_cite_short(item['citation'], item['strength'])})")
            if classes and interacting >= set(classes):
                blocks.append({"type": "interaction", "id": item["id"], "reason": text, "evidence": [],
                               "citation": item["citation"]})
            else:
                cautions.append(text)
        for med in patient.medications:
            dup = [c for c in classes if med["active"] and c in med["contained"]]
            if dup and set(dup) == set(classes):
                blocks.append({"type": "duplicate", "id": "contained-in-current", "evidence": [],
                               "citation": rule.citation(),
                               "reason": f"A current {', '.join(kb.drug_classes[c]['label'] for c in med['classes'] if c not in med['contained'])} product already contains "
                                         f"{', '.join(kb.drug_classes[c]['label'] for c in dup)}."})
        harm_blocks, harm_cautions, harm_confirm = _harms(kb, patient, rule, classes)
        blocks += harm_blocks
        cautions += harm_cautions
        entry["to_confirm"] += harm_confirm
    for caution in data["cautions"]:
        ctrace = _Trace()
        if evaluate_criterion(caution["criterion"], patient, ctrace, kb) == MET:
            cautions.append(caution["note"])
    own = patient.own_medication_classes()
    already = sorted({cls for cls in classes if cls in own}) if data["option"]["kind"] != "stop" else []
    entry["cautions"] = cautions
    entry["notes"] = ([f"Already recorded as a current medication: {', '.join(kb.drug_classes[c]['label'] for c in already)}."]
                      if already else [])
    for cls in classes:
        parents = kb.ancestors(cls) - {cls}
        others = [m for m in patient.medications if m["active"] and parents & set(m["classes"])
                  and cls not in m["classes"]]
        if others and data["option"]["kind"] != "stop":
            entry["notes"].append(f"A current {', '.join(kb.drug_classes[p]['label'] for p in parents)} is recorded "
                                  f"that is not one this option names ({kb.drug_classes[cls]['label']}).")
    if switch_from:
        current = [m for m in patient.medications if m["active"]]
        replaced = [(m, switch_from[c]) for m in current for c in switch_from if c in m["classes"]
                    and c not in m["contained"]]
        entry["switch"] = [{
            "replaces": m["display"], "class": kb.drug_classes[sw["class"]]["label"],
            "washout_hours": sw["washout_hours"],
            "washout": (f"Stop the {kb.drug_classes[sw['class']]['label']} and allow at least {sw['washout_hours']:g} "
                        f"hours after its last dose before the first dose of the "
                        f"{kb.drug_classes[classes[0]]['label']}."
                        if sw["washout_hours"] else
                        f"Stop the {kb.drug_classes[sw['class']]['label']} when the "
                        f"{kb.drug_classes[classes[0]]['label']} starts; no washout is needed."),
        } for m, sw in replaced]
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


def _triggered(kb: KnowledgeBase, patient: PatientRecord) -> list[dict[str, Any]]:
    """Conditions whose definition the measurements meet while no code of them is recorded."""
    out = []
    for trigger in kb.triggers:
        if patient.find_condition(kb.value_sets[trigger["value_set"]]) is not None:
            continue
        trace = _Trace()
        if evaluate_criterion(trigger["criterion"], patient, trace, kb) == MET:
            out.append({**trigger, "evidence": trace.matched})
        # Staleness notes on the trigger's own readings surface on the options it brings in.
    return out


def current_medication_warnings(kb: KnowledgeBase, patient: PatientRecord) -> list[str]:
    """Current medications a cited guideline rates as harmful in this patient's state."""
    warnings = []
    for harm in kb.harms:
        meds = [str(i) for i, m in enumerate(patient.medications, start=1) if m["active"]
                and {p for c in m["classes"] for p in kb.ancestors(c)} & set(harm["classes"])]
        if not meds:
            continue
        if evaluate_criterion(harm["when"], patient, _Trace(), kb) == MET:
            # By position, never the medication text (free text may hold anything).
            warnings.append(f"Current medication {', '.join(meds)} ({', '.join(kb.drug_classes[c]['label'] for c in harm['classes'])}): {harm['reason']} "
                            f"({_cite_short(harm['citation'], strength_text(harm['strength']))})")
    return warnings


def evaluate(kb: KnowledgeBase, patient: PatientRecord, condition: str | None = None) -> dict[str, Any]:
    """Evaluate every rule whose condition is recorded (or, with ``condition``, only that condition's rules).

    A condition whose definition the measurements meet without a recorded code (BP 150/92, no
    hypertension code) brings its rules in as well, every option marked "to confirm".
    """
    options, blocked, not_applicable, considered = [], [], [], []
    triggers = _triggered(kb, patient)
    for rule in kb.rules:
        vs = kb.value_sets[rule.value_set]
        if condition is not None and not vs.contains(condition):
            continue
        trigger = None
        if patient.find_condition(vs) is None:
            trigger = next((t for t in triggers if kb.value_sets[t["value_set"]].members <= vs.members), None)
            if trigger is None:
                continue
        considered.append(rule.id)
        status, entry = evaluate_rule(rule, kb, patient)
        if trigger is not None:
            entry["triggered_by"] = {"value_set": trigger["value_set"], "note": " ".join(trigger["note"].split()),
                                     "section": trigger["section"], "evidence": trigger["evidence"]}
            if status == "option":
                entry["to_confirm"].insert(0, " ".join(trigger["note"].split()))
                entry["status"] = "to confirm" if entry["status"] != "data missing" else entry["status"]
        {"option": options, "blocked": blocked, "not_applicable": not_applicable}[status].append(entry)
    completeness = {"criteria met": 0, "criteria met; to confirm": 1, "to confirm": 2, "data missing": 3}
    options.sort(key=lambda o: (-o["rank_score"], completeness[o["status"]], len(o["missing"]), o["id"]))
    for rank, option in enumerate(options, start=1):
        option["rank"] = rank
    blocked.sort(key=lambda o: (-o["rank_score"], o["id"]))
    return {"options": options, "blocked": blocked, "not_applicable": not_applicable, "rules_considered": considered,
            "medication_warnings": current_medication_warnings(kb, patient)}
