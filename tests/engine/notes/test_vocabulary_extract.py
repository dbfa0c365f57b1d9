"""The findings vocabulary covers what the rest of ClinSight reads; a whole note is read in order
(sentences, sections, targets, context) by ``notes extract``."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.__main__ import main
from engine.notes.vocabulary import BY_CODE, FINDINGS, RADIOGRAPH_CODES

RULES = Path(__file__).resolve().parents[3] / "engine" / "treatment" / "rules"


def _rule_codes(node) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        cond = node.get("condition")
        if isinstance(cond, dict) and "codes" in cond:
            found |= {str(c) for c in cond["codes"]}
        for value in node.values():
            found |= _rule_codes(value)
    elif isinstance(node, list):
        for value in node:
            found |= _rule_codes(value)
    return found


def test_every_condition_a_treatment_rule_reads_has_a_finding():
    """Each value set a treatment rule reads (its condition and its criteria's) holds a findings code."""
    from engine.treatment.knowledge import load_knowledge_base

    kb = load_knowledge_base()
    names = kb.value_sets_read()
    assert {"hypertension", "diabetes"} <= names
    uncovered = sorted(n for n in names if not any(kb.value_sets[n].contains(f.code) for f in FINDINGS))
    assert uncovered == []


def test_model_inputs_and_radiograph_findings_are_covered():
    # heart-failure / Framingham yes-no inputs: anaemia, diabetes, hypertension, smoking, prior stroke, angina
    for code in ("D64.9", "E11.9", "I10", "Z72.0", "I63.9", "I20.9"):
        assert code in BY_CODE
    assert {"J18.9", "J90", "J93.9", "J98.11", "I51.7", "J81.1", "R91.8"} <= RADIOGRAPH_CODES


def test_extract_cli_reads_sections_targets_and_context(tmp_path, capsys):
    note = tmp_path / "note.txt"
    note.write_text("PAST MEDICAL HISTORY:\nHTN. Type 2 diabetes.\n\nFAMILY HISTORY:\nFather had an MI.\n\n"
                    "IMPRESSION: Left lower lobe pneumonia. No pneumothorax.\n", encoding="utf-8")
    assert main(["notes", "extract", str(note)]) == 0
    out = json.loads(capsys.readouterr().out)
    got = {(f["code"], f["negation"], f["temporality"], f["experiencer"]) for f in out["findings"]}
    assert ("I10", "Affirmed", "Historical", "Patient") in got  # abbreviation, past-history section
    assert ("I21.9", "Affirmed", "Recent", "Family member") in got
    assert ("J18.9", "Affirmed", "Recent", "Patient") in got
    assert ("J93.9", "Negated", "Recent", "Patient") in got
    assert out["suggested_problems"] == ["J18.9"]


@pytest.mark.parametrize("note, code, negation", [
    ("\ufeffNo pneumonia.", "J18.9", "Negated"),  # a byte-order mark in front of the cue
    ("No \u200bpneumonia.", "J18.9", "Negated"),  # a zero-width space hid the finding itself
    ("Findings: no pneumonia.", "J18.9", "Negated"),  # protocol round 4: ": no" took the cue away
    ("Lungs: No consolidation.", "R91.8", "Negated"),
    ("Pneumonia: no.\nAsthma: yes", "J18.9", "Negated"),  # an answer still negates backwards
    ("Pneumonia: no.\nAsthma: yes", "J45.909", "Affirmed"),
    ("Pneumonia ruled out.", "J18.9", "Negated"),  # protocol round 5
    ("Pneumonia has resolved.", "J18.9", "Negated"),
    ("No fever; cough for two days.", "R05.9", "Affirmed"),  # protocol round 6
    ("No fever; cough for two days.", "R50.9", "Negated"),
])
def test_invisible_characters_and_header_colons_do_not_turn_a_negation_around(note, code, negation):
    from engine.notes.extract import extract_findings, normalise_note

    found = {f.code: f.negation for f in extract_findings(normalise_note(note))}
    assert found.get(code) == negation, found


@pytest.mark.parametrize("note", ["Pneumonia cannot be excluded.", "Pneumonia not ruled out.", "Possible pneumonia."])
def test_a_finding_raised_after_or_before_is_possible_not_asserted(note):
    from engine.notes.extract import extract_findings, normalise_note

    (finding,) = [f for f in extract_findings(normalise_note(note)) if f.code == "J18.9"]
    assert (finding.negation, finding.certainty, finding.suggests_problem) == ("Affirmed", "Uncertain", False)
