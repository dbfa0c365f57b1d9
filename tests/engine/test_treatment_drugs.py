"""Drug vocabulary: brands, combination products, salt forms, CCB subclasses, penicillin abbreviations;
text that maps to nothing is reported, never silently ignored. Expected classes are pharmacology facts."""
from __future__ import annotations

import pytest

from engine.treatment import load_knowledge_base, suggest


@pytest.fixture(scope="module")
def drugs():
    return load_knowledge_base().drugs


@pytest.mark.parametrize("text, classes", [
    ("lisinopril 10 mg", {"ace_inhibitor"}),
    ("Zestoretic", {"ace_inhibitor", "thiazide_diuretic"}),
    ("lisinopril/hydrochlorothiazide", {"ace_inhibitor", "thiazide_diuretic"}),
    ("Lisinopril-HCTZ 20/12.5 mg", {"ace_inhibitor", "thiazide_diuretic"}),
    ("Entresto 49/51 mg", {"arni", "angiotensin_receptor_blocker"}),
    ("amlodipine besylate 5 mg", {"dihydropyridine_ccb", "calcium_channel_blocker"}),
    ("verapamil SR", {"non_dihydropyridine_ccb", "calcium_channel_blocker"}),
    ("Cardizem CD", {"non_dihydropyridine_ccb", "calcium_channel_blocker"}),
    ("metoprolol tartrate 25 mg", {"beta_blocker"}),
    ("Toprol XL 50 mg", {"hfref_beta_blocker", "beta_blocker"}),
    ("losartan potassium", {"angiotensin_receptor_blocker"}),
    ("Janumet", {"dpp4_inhibitor", "biguanide"}),
    ("cefdinir", {"cephalosporin", "beta_lactam"}),
])
def test_medication_text_maps_to_classes(drugs, text, classes):
    match = drugs.match(text)
    assert set(match.classes) == classes and not match.unmapped


@pytest.mark.parametrize("text, classes", [("PCN", {"penicillin"}), ("beta-lactam", {"beta_lactam"}),
                                           ("Augmentin", {"aminopenicillin"}), ("cefalexin", {"cephalosporin"})])
def test_allergy_text_maps_without_parents(drugs, text, classes):
    # An allergy to a penicillin is not recorded as an allergy to every beta-lactam.
    assert set(drugs.match(text, parents=False).classes) == classes


@pytest.mark.parametrize("text", ["sulfa", "Foobarex 10 mg", "insulin glargine-yfgn"])
def test_unknown_words_are_unmapped(drugs, text):
    assert drugs.match(text).unmapped


def test_unmapped_medication_and_allergy_are_warnings_naming_position_not_text():
    result = suggest({"age": 50, "sex": "male", "conditions": ["I10"], "medications": ["metformin", "Xqzzy 5 mg"],
                      "allergies": ["sulfa"]})
    warnings = "\n".join(result["warnings"])
    assert "Medication 2 is not in ClinSight's drug vocabulary" in warnings
    assert "Allergy 1 is not in ClinSight's drug vocabulary" in warnings
    assert "Xqzzy" not in warnings and "sulfa" not in warnings
