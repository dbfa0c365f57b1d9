"""The curated SNOMED CT -> ICD-10-CM map: well-formed codes, a source per row, and every condition a
treatment rule reads reachable from SNOMED CT.

SNOMED CT identifiers carry a Verhoeff check digit and a partition identifier ("00" for a concept), so a
mistyped concept id is caught here independently of the map's author.
"""
from __future__ import annotations

import re

import pytest

from engine.terminology import NOT_USED, SNOMED_SYSTEM, rules_code, rules_note, snomed_map
from engine.treatment import load_knowledge_base
from engine.treatment.record import ICD10CM_CODE

# Verhoeff tables (dihedral group D5), as published.
_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
      [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
      [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
      [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]


def verhoeff_ok(number: str) -> bool:
    check = 0
    for i, digit in enumerate(reversed(number)):
        check = _D[check][_P[i % 8][int(digit)]]
    return check == 0


def test_verhoeff_reference_value():
    assert verhoeff_ok("2363") and not verhoeff_ok("2364")  # the textbook example (236 -> check digit 3)


@pytest.mark.parametrize("snomed", sorted(snomed_map()))
def test_every_row_is_a_well_formed_concept_with_a_source(snomed):
    entry = snomed_map()[snomed]
    assert re.fullmatch(r"\d{6,18}", snomed) and verhoeff_ok(snomed), "not a valid SNOMED CT id"
    assert snomed[-3:-1] == "00", "not a concept id (partition identifier)"
    assert ICD10CM_CODE.fullmatch(entry.icd10cm_code)
    assert entry.source.startswith("ICD-10-CM") and entry.read_by and entry.snomed_display


def test_every_rule_condition_is_reachable_from_snomed():
    """Every value set a rule reads (its own condition and its criteria's) holds at least one mapped code."""
    kb = load_knowledge_base()
    targets = [e.icd10cm_code for e in snomed_map().values()]
    names = kb.value_sets_read()
    assert names
    unreachable = [n for n in sorted(names) if not any(kb.value_sets[n].contains(t) for t in targets)]
    # Known gap, left on purpose: atypical (Mycoplasma / Chlamydia) pneumonia arrived with the treatment rules
    # after the map was curated, and no SNOMED CT concept for it has been checked yet; such FHIR conditions
    # are stored and reported as "not used by the rules" rather than mapped by a guess.
    assert unreachable == ["pneumonia_atypical"]


def test_outside_the_map_is_not_used_and_never_guessed():
    assert rules_code("444814009", SNOMED_SYSTEM) is None
    assert rules_note("444814009", SNOMED_SYSTEM) == NOT_USED
    assert rules_note("E11.9", "ICD-10-CM") == "ICD-10-CM E11.9"
    assert rules_code("44054006", "http://example.org/other") is None
