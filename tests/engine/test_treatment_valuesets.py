"""ICD-10-CM value sets: membership comes from the real tabular list (simple-icd-10-cm, CDC April 2026 data),
never from string prefixes; every code in the knowledge base exists; unknown codes are refused."""
from __future__ import annotations

import pytest
import simple_icd_10_cm as cm

from engine.errors import InputError
from engine.treatment import load_knowledge_base, suggest
from engine.treatment.valuesets import is_icd10cm_code, load_value_sets, normalise_code


@pytest.fixture(scope="module")
def sets():
    return load_value_sets()


@pytest.mark.parametrize("value_set, code, member", [
    ("clinical_ascvd", "G45.9", True), ("clinical_ascvd", "G45.4", False),       # TIA yes, transient global amnesia no
    ("clinical_ascvd", "I70.0", False), ("clinical_ascvd", "I70.213", True),    # aortic atherosclerosis no, PAD yes
    ("clinical_ascvd", "Z95.5", True), ("clinical_ascvd", "I69.30", True), ("clinical_ascvd", "I25.41", False),
    ("hypertension", "I10", True), ("hypertension", "I13.10", True), ("hypertension", "O10.012", True),
    ("hypertension", "O12.00", False), ("hypertension", "R03.0", False),
    ("pregnancy", "Z33.1", True), ("pregnancy", "O09.511", True), ("pregnancy", "O10.011", True),
    ("pregnancy", "O10.03", False), ("pregnancy", "O10.02", False),             # puerperium / childbirth only
    ("angioedema", "T78.3XXA", True), ("hfref", "I50.22", True), ("hfref", "I50.32", False),
    ("pneumonia_typical_bacterial_or_unspecified", "J15.7", False),
    ("pneumonia_typical_bacterial_or_unspecified", "J15.212", False),
    ("pneumonia_typical_bacterial_or_unspecified", "J18.9", True),
    ("pneumonia_atypical", "J15.7", True),
])
def test_membership_follows_the_tabular_hierarchy(sets, value_set, code, member):
    assert sets[value_set].contains(code) is member


def test_every_member_is_a_tabular_code_and_descendants_are_included(sets):
    for vs in sets.values():
        assert all(cm.is_valid_item(code) for code in vs.members), vs.key
    assert set(cm.get_descendants("I11")) <= sets["hypertension"].members


def test_every_rule_condition_is_a_known_value_set():
    kb = load_knowledge_base()
    assert {rule.value_set for rule in kb.rules} <= set(kb.value_sets)


@pytest.mark.parametrize("code, ok", [("E11.9", True), ("e119", True), ("E11.99", False), ("I10.0", False),
                                      ("XYZ", False), ("T78.3XXA", True)])
def test_code_check(code, ok):
    assert is_icd10cm_code(code) is ok


def test_normalise_puts_the_dot_back():
    assert normalise_code("e119") == "E11.9" and normalise_code("I10") == "I10"


def test_unknown_code_is_refused_with_a_sentence_that_does_not_repeat_it():
    with pytest.raises(InputError, match="not in the ICD-10-CM tabular list") as excinfo:
        suggest({"age": 50, "sex": "male", "conditions": [{"code": "E11.99"}]})
    assert "E11.99" not in str(excinfo.value)
