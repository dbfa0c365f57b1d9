"""The treatment engine around the rules: schema, units, record validation, ranking, CLI, decisions, export."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.errors import InputError, NotFoundError
from engine.treatment import load_knowledge_base, record_from_store, suggest
from engine.treatment import units
from engine.treatment.knowledge import RULES_DIR, KnowledgeBaseError, rule_criteria
from tests.engine.treatment_helpers import obs, patient

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

REPO = Path(__file__).resolve().parents[2]


# --- schema: every rule has a citation and units --------------------------------------------------
def test_every_rule_has_a_citation_strength_and_units():
    kb = load_knowledge_base()
    assert len(kb.rules) >= 15
    for rule in kb.rules:
        c = rule.citation()
        assert c["body"] and c["year"] >= 2011 and len(c["section"]) >= 3, rule.id
        assert rule.data["strength"]["scheme"], rule.id
        assert rule.value_set in kb.value_sets, rule.id
        for leaf in rule_criteria(rule.data):
            if "observation" in leaf:
                assert leaf["unit"] in units.accepted_units(leaf["observation"]["codes"][0]), rule.id
            if "age" in leaf:
                assert leaf["age"]["unit"] == "a", rule.id


def test_every_required_guideline_is_covered():
    kb = load_knowledge_base()
    bodies = {(r.guideline.year, r.guideline.key) for r in kb.rules}
    assert {key for _, key in bodies} == {"ada-2020-section-9", "acc-aha-2019-primary-prevention",
                                          "acc-aha-2017-hypertension", "aha-acc-hfsa-2022-heart-failure",
                                          "pids-idsa-2011-pediatric-cap"}


def _broken_copy(tmp_path: Path, mutate) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    path = target / "ada_2020_section9.yaml"
    doc = yaml.safe_load(path.read_text())
    mutate(doc["rules"][0])
    path.write_text(yaml.safe_dump(doc))
    return target


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.pop("citation"), "citation"),
    (lambda r: r["contraindications"][0]["criterion"].pop("unit"), "malformed"),
    (lambda r: r["contraindications"][0]["criterion"].update(unit="mg/dL"), "cannot be used"),
    (lambda r: r["contraindications"][0]["criterion"]["observation"].update(codes=["9999-9"]), "not in engine.vocabulary"),
    (lambda r: r["strength"].update(grade="Z"), "strength"),
    (lambda r: r["option"].update(drug_classes=["unobtainium"]), "drug class"),
])
def test_a_broken_rule_file_does_not_load(tmp_path, mutate, message):
    with pytest.raises(KnowledgeBaseError, match=message):
        load_knowledge_base(_broken_copy(tmp_path, mutate))


def test_duplicate_rule_ids_do_not_load(tmp_path):
    target = _broken_copy(tmp_path, lambda r: None)
    path = target / "ada_2020_section9.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["rules"][1]["id"] = doc["rules"][0]["id"]
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(KnowledgeBaseError, match="unique"):
        load_knowledge_base(target)


# --- units ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("code, value, unit, expected", [
    ("2345-7", 5.5, "mmol/L", 99.09),        # glucose 180.16 g/mol
    ("2093-3", 5.0, "mmol/L", 193.35),       # cholesterol 386.65 g/mol
    ("4548-4", 53, "mmol/mol", 7.00),        # IFCC 53 mmol/mol is NGSP 7.0 %
    ("4548-4", 48, "mmol/mol", 6.54),        # IFCC 48 mmol/mol is NGSP 6.5 %
    ("2160-0", 88.4, "umol/L", 1.0),         # creatinine
    ("2823-3", 4.2, "mEq/L", 4.2),           # monovalent: meq/L = mmol/L
    ("8480-6", 16, "kPa", 120.01),
])
def test_unit_conversions_match_reference_values(code, value, unit, expected):
    converted, _ = units.to_canonical(code, value, unit)
    assert converted == pytest.approx(expected, abs=0.01)


def test_unknown_unit_is_refused_with_the_accepted_ones():
    with pytest.raises(InputError, match=r"Observation 1 \(Glucose.*\) has a unit ClinSight cannot convert; "
                                         r"use one of: mg/dL, mmol/L") as excinfo:
        suggest(patient(conditions=("E11",), observations=(obs("2345-7", 1.2, "g/L"),)))
    assert "g/L" not in str(excinfo.value)  # the submitted unit is free text: never repeated back


def test_implausible_value_is_refused():
    with pytest.raises(InputError, match=r"Observation 1 \(Hemoglobin A1c.*\) is outside the plausible range "
                                         r"[0-9.]+-[0-9.]+ %") as excinfo:
        suggest(patient(conditions=("E11",), observations=(obs("4548-4", 53, "%"),)))
    assert "53" not in str(excinfo.value)


# --- record validation ---------------------------------------------------------------------------
@pytest.mark.parametrize("record, message", [
    ([], "JSON object"),
    ({"age": "fifty"}, "age"),
    ({"age": 50, "sex": "x"}, "sex"),
    ({"conditions": "E11"}, "'conditions' must be a list"),
    ({"conditions": [{"code": "44054006", "system": "SNOMED CT"}]}, "Condition 1 uses a code system other than "
                                                                     "ICD-10-CM; only ICD-10-CM"),
    ({"conditions": [{"code": "E11"}, {"code": "type 2 diabetes"}]}, "Condition 2 must have an ICD-10-CM code"),
    ({"observations": [{"code": "62238-1", "value": "low", "unit": "mL/min/{1.73_m2}"}]}, "numeric 'value'"),
    ({"observations": [{"code": "62238-1", "value": 40}]}, "needs a 'unit'"),
    ({"medications": [5]}, "Medication 1"),
    ({"allergies": [{}]}, "Allergy 1"),
])
def test_bad_records_raise_input_error(record, message):
    with pytest.raises(InputError, match=message) as excinfo:
        suggest(record)
    for typed in ("SNOMED", "type 2 diabetes", "fifty", "low"):  # submitted text is never repeated back
        assert typed not in str(excinfo.value)


def test_unknown_fields_are_ignored_with_a_warning():
    result = suggest({**patient(conditions=("E11",)), "birth_year": 1970, "nickname": "x"})
    warning = next(w for w in result["warnings"] if "ignored" in w)
    # Counted and the accepted fields listed; the unknown names are free text and are not repeated.
    assert warning.startswith("2 fields not used by the treatment rules were ignored") and "observations" in warning
    assert "birth_year" not in warning and "nickname" not in warning


def test_unknown_observation_code_is_a_warning_not_an_error():
    result = suggest(patient(conditions=("E11",), observations=(obs("1234-5", 1, "1"),)))
    assert any(w.startswith("Observation 1 has a code that is not in ClinSight's vocabulary") and "1234-5" not in w
               for w in result["warnings"])


def test_selected_condition_must_look_like_an_icd10cm_code():
    with pytest.raises(InputError, match="selected condition must be a code of the ICD-10-CM tabular list") as excinfo:
        suggest(patient(conditions=("E11",)), condition="diabetes please")
    assert "diabetes please" not in str(excinfo.value)


def test_result_contract_for_the_api():
    result = suggest(patient(conditions=("E11",), observations=(obs("62238-1", 25, "mL/min/{1.73_m2}"),)))
    assert set(result) >= {"options", "blocked", "disclaimer", "warnings", "inputs", "knowledge_base"}
    for option in result["options"]:
        assert {"id", "option", "drug_class", "kind", "strength", "citation", "matched", "missing", "rank"} <= set(option)
        assert {"body", "year", "section"} <= set(option["citation"])
    for item in result["blocked"]:
        assert {"option", "citation", "reason"} <= set(item)
    assert "not a directive" in result["disclaimer"]


def test_options_are_ranked_by_strength_then_completeness():
    result = suggest(patient(age=55, conditions=("E11",)))
    scores = [o["rank_score"] for o in result["options"]]
    assert scores == sorted(scores, reverse=True)
    assert [o["rank"] for o in result["options"]] == list(range(1, len(scores) + 1))
    # The ADA "E" (expert consensus) option ranks below the grade-A ones.
    assert result["options"][-1]["id"] == "ada2020.t2d.insulin-early"


def test_selected_condition_is_evaluated_as_a_working_diagnosis():
    result = suggest(patient(conditions=("E11",), observations=(obs("8480-6", 150, "mm[Hg]"),)), condition="I10")
    assert {o["id"].split(".")[0] for o in result["options"]} <= {"acc2019", "acc2017"}
    assert any("working diagnosis" in w for w in result["warnings"])


def test_no_covered_condition_says_so():
    result = suggest(patient(conditions=("C50.9",)))
    assert result["options"] == [] and any("No rule" in w for w in result["warnings"])


# --- store, CLI ----------------------------------------------------------------------------------
def test_record_from_store_for_a_seeded_diabetic(seeded_db):
    record = record_from_store(seeded_db, "PIMA-0001")
    assert record["conditions"][0]["code"] == "E11"
    assert {o["code"] for o in record["observations"]} >= {"1518-0", "39156-5", "8462-4"}
    result = suggest(record)
    metformin = next(o for o in result["options"] if o["id"] == "ada2020.t2d.metformin-initial")
    assert metformin["status"] == "data missing"  # the demo data have no eGFR
    assert metformin["citation"]["body"].startswith("American Diabetes Association")


def test_record_from_store_unknown_patient(seeded_db):
    with pytest.raises(NotFoundError):
        record_from_store(seeded_db, "NOPE-0001")


def _cli(*args, stdin: str | None = None, env=None):
    return subprocess.run([sys.executable, "-m", "engine", "treatment", *args], cwd=REPO, input=stdin,
                          capture_output=True, text=True, env=env, timeout=600)  # a deadline for a hung CLI, not a speed check


def _main(capsys, *args) -> tuple[int, str, str]:
    """The command line in-process (a subprocess costs seconds of imports on a shared machine)."""
    from engine.__main__ import main

    code = main(["treatment", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_suggest_from_input_file(tmp_path, capsys):
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(patient(conditions=("E11",), observations=(obs("62238-1", 25, "mL/min/{1.73_m2}"),))))
    code, out, err = _main(capsys, "suggest", "--input", str(path))
    assert code == 0, err
    result = json.loads(out)
    assert all(o["citation"]["section"] for o in result["options"])
    blocked = {b["id"]: b for b in result["blocked"]}
    assert "eGFR below 30" in blocked["ada2020.t2d.metformin-initial"]["reason"]


def test_cli_bad_input_is_one_sentence_and_exit_2(tmp_path):
    proc = _cli("suggest", "--input", "-", stdin='{"age": 5, "observations": [{"code": "2345-7", "value": 8, "unit": "mg"}]}')
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_cli_suggest_for_a_stored_patient_is_audited(seeded_db, capsys):
    code, out, err = _main(capsys, "suggest", "--patient", "PIMA-0001")
    assert code == 0, err
    assert json.loads(out)["options"]
    row = seeded_db.conn.execute("SELECT action, target_id FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    assert row == ("treatment.suggest", "PIMA-0001")


def test_cli_unknown_patient_is_one_sentence(seeded_db, capsys):
    code, _, err = _main(capsys, "suggest", "--patient", "NOPE-0001")
    assert code == 2 and err.startswith("error: There is no patient")


def test_cli_rules_lists_every_rule_with_citation(capsys):
    code, out, _ = _main(capsys, "rules")
    assert code == 0
    rules = json.loads(out)
    assert len(rules) == len(load_knowledge_base().rules)
    assert all(r["citation"]["body"] and r["citation"]["year"] for r in rules)


def test_an_implausible_stored_value_is_left_out_and_reported_not_fatal():
    record = patient(conditions=("E11",), observations=(
        {"code": "62238-1", "value": 2500, "unit": "mL/min/{1.73_m2}", "source": "store"},))
    result = suggest(record)
    assert any("stored eGFR (CKD-EPI) value was not used" in w for w in result["warnings"])
    metformin = next(o for o in result["options"] if o["id"] == "ada2020.t2d.metformin-initial")
    assert metformin["status"] == "data missing"  # left out means missing, never normal


def test_stored_condition_without_an_icd10cm_code_is_left_out_with_a_warning():
    # Synthetic: the import keeps SNOMED CT conditions in the store; the review must still open without the
    # ones outside the curated map (viral sinusitis here), and say they are not used by the rules.
    record = {**patient(conditions=("E11",)),
              "conditions": [{"code": "E11", "source": "store"},
                             {"code": "444814009", "system": "http://snomed.info/sct", "source": "store"}]}
    result = suggest(record)
    assert [c["code"] for c in result["inputs"]["conditions"]] == ["E11"] and result["options"]
    assert any(w.startswith("Stored condition 2") and "not used by the rules" in w and "444814009" not in w
               for w in result["warnings"])


def test_snomed_condition_in_the_map_reaches_the_rules():
    # Synthetic: type 2 diabetes recorded only as SNOMED CT 44054006 (as FHIR exports send it).
    record = {**patient(conditions=()),
              "conditions": [{"code": "44054006", "system": "http://snomed.info/sct", "source": "store"}]}
    as_icd = suggest({**record, "conditions": [{"code": "E11.9"}]})
    result = suggest(record)
    assert [c["code"] for c in result["inputs"]["conditions"]] == ["E11.9"]
    assert [(o["id"], o["status"]) for o in result["options"]] == [(o["id"], o["status"]) for o in as_icd["options"]]
    assert any(o["id"].startswith("ada2020.t2d") for o in result["options"])
