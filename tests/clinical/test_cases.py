"""Clinical case suite (issue 13): constructed patients, each with the outcome its cited source says.

The cases live in ``cases.yaml`` (data a clinician can review without reading Python); each names its
source. A case fails if an expected option, block, switch, to-confirm item, caution, note or warning
is missing, or a refusal does not come. Synthetic patients: built for these edge cases.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.errors import InputError
from engine.treatment import suggest

CASES = yaml.safe_load((Path(__file__).parent / "cases.yaml").read_text(encoding="utf-8"))["cases"]
AS_OF = "2026-11-15"
DEFAULT_TIME = "2026-11-01"


def build_record(spec: dict[str, Any]) -> dict[str, Any]:
    """The canonical record of a case: observations from [code, value, unit, date?] lists."""
    record = {k: v for k, v in spec.items() if k != "observations"}
    record.setdefault("as_of", AS_OF)
    record["conditions"] = [{"code": str(c), "system": "ICD-10-CM"} for c in spec.get("conditions", [])]
    record["observations"] = [{"code": str(o[0]), "value": o[1], "unit": str(o[2]),
                               "time": str(o[3]) if len(o) > 3 else DEFAULT_TIME} for o in spec.get("observations", [])]
    return record


def _where(result: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {e["id"]: (kind, e) for kind in ("options", "blocked", "not_applicable") for e in result[kind]}


def _text(entry: dict[str, Any], field: str) -> str:
    return "\n".join(entry.get(field, []))


def test_the_suite_has_at_least_40_cases_each_with_a_source():
    assert len(CASES) >= 40
    assert len({c["id"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert len(case.get("source", "")) >= 10, case["id"]
        assert case.get("expect"), case["id"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case):
    expect = case["expect"]
    record = build_record(case["patient"])
    if "error" in expect:
        with pytest.raises(InputError, match=expect["error"]):
            suggest(record, condition=case.get("condition"))
        return
    result = suggest(record, condition=case.get("condition"))
    where = _where(result)
    for kind, key in (("options", "options"), ("blocked", "blocked"), ("not_applicable", "not_applicable")):
        for rule_id in expect.get(key, []):
            assert where.get(rule_id, ("absent",))[0] == kind, f"{rule_id}: {where.get(rule_id, ('absent',))[0]}"
    for rule_id in expect.get("absent", []):
        assert rule_id not in where, f"{rule_id} should not be considered"
    for rule_id, status in expect.get("status", {}).items():
        assert where[rule_id][0] == "options" and where[rule_id][1]["status"] == status, where[rule_id][1].get("status")
    for field, key in (("to_confirm", "to_confirm"), ("cautions", "cautions"), ("notes", "notes")):
        for rule_id, fragments in expect.get(key, {}).items():
            assert rule_id in where, f"{rule_id} absent"
            text = _text(where[rule_id][1], field)
            for fragment in fragments:
                assert fragment in text, f"{rule_id} {field}: {fragment!r} not in {text!r}"
    for rule_id, fragments in expect.get("no_to_confirm", {}).items():
        text = _text(where[rule_id][1], "to_confirm") if rule_id in where else ""
        for fragment in fragments:
            assert fragment not in text, f"{rule_id}: {fragment!r} should not be asked"
    for rule_id, fragments in expect.get("reasons", {}).items():
        reason = where[rule_id][1].get("reason", "")
        for fragment in fragments:
            assert fragment in reason, f"{rule_id}: {fragment!r} not in {reason!r}"
    for rule_id, hours in expect.get("switch", {}).items():
        switches = where[rule_id][1].get("switch") or []
        assert [s["washout_hours"] for s in switches] == [hours], switches
    warnings = "\n".join(result["warnings"])
    for fragment in expect.get("warnings", []):
        assert fragment in warnings, f"{fragment!r} not in {warnings!r}"
    for fragment in expect.get("no_warnings", []):
        assert fragment not in warnings, f"{fragment!r} in {warnings!r}"
