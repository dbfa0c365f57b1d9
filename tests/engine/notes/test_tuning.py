"""Cross-validation for ConText choices (rules/protocol.md): folds that never split a sentence, the
genConText cue families as published (category-specific terminators, time spans, one-word scope), section
headers, and the learned layer's temporality hierarchy. Hand-made sentences follow the ConText
definitions (Harkema et al. 2009); they are synthetic edge cases, not tuning data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.notes.annotations import AnnotatedSentence, shared_dev_file, shared_dev_rows
from engine.notes.context import ContextLabeller, load_candidate_groups
from engine.notes.learned import apply_property_model, fit_property_model
from engine.notes.tuning import candidate_pool, grouped_folds, sentence_group

SHARED = shared_dev_file() or Path("absent")
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data/negex is not on this machine")


def _row(i: int, sentence: str, negation: str = "Affirmed", temporality: str = "Recent") -> AnnotatedSentence:
    return AnnotatedSentence(str(i), "x", sentence, {"negation": negation, "temporality": temporality,
                                                    "experiencer": "Patient"})


def test_grouped_folds_never_split_a_sentence_and_ignore_case_and_spacing():
    rows = [_row(i, f"Sentence {i // 3}.") for i in range(60)]
    rows += [_row(60, "THE  Mitral valve is normal."), _row(61, "the mitral valve is   normal.")]
    fold = grouped_folds(rows, 5, 0)
    by_group: dict[str, set[int]] = {}
    for r, f in zip(rows, fold):
        by_group.setdefault(sentence_group(r.sentence), set()).add(int(f))
    assert all(len(folds) == 1 for folds in by_group.values())
    assert set(fold.tolist()) == set(range(5))


@needs_shared
def test_grouped_folds_on_the_shared_half_spread_the_rare_labels():
    rows = shared_dev_rows()
    fold = grouped_folds(rows, 5, 0)
    groups = np.array([sentence_group(r.sentence) for r in rows])
    for f in range(5):
        assert not set(groups[fold == f]) & set(groups[fold != f])
        tem = [r.gold["temporality"] for r, g in zip(rows, fold) if g == f]
        assert tem.count("Historical") >= 10  # 125 historical rows, spread over the 5 folds


def test_component_groups_are_offered_only_when_named():
    groups = load_candidate_groups()
    base = candidate_pool(groups)
    assert not any(n.startswith("gencontext_") for n in base) and "section_headers" not in base
    assert "section_headers" in candidate_pool(groups, ("sections",))
    assert {n for n in candidate_pool(groups, ("gencontext",)) if n.startswith("gencontext_")} == {
        "gencontext_history_pseudo", "gencontext_history_pre", "gencontext_history_one_word",
        "gencontext_history_terminators", "gencontext_time_span", "gencontext_hypothetical_pre",
        "gencontext_hypothetical_pseudo", "gencontext_hypothetical_terminators"}


def _labels(groups: tuple[str, ...], sentence: str, condition: str) -> tuple[str, str, str]:
    lab = ContextLabeller(groups, learned=None).label(sentence, condition)
    return lab.negation, lab.temporality, lab.experiencer


def test_gencontext_terminators_end_history_but_not_negation():
    groups = ("gencontext_history_pre", "gencontext_history_terminators")
    sentence = "History of asthma, presents today with pneumonia."
    assert _labels(groups, sentence, "asthma")[1] == "Historical"
    assert _labels(groups, sentence, "pneumonia")[1] == "Recent"
    # 'recent' ends a historical scope only: the negation before it still reaches the target.
    assert _labels(groups, "No recent chest pain.", "chest pain")[0] == "Negated"


def test_gencontext_time_spans_weeks_are_historical_days_are_not():
    groups = ("gencontext_time_span",)
    assert _labels(groups, "Cough for the past three weeks.", "cough")[1] == "Historical"
    assert _labels(groups, "He has had back pain for 2 years.", "back pain")[1] == "Historical"
    assert _labels(groups, "Fever for two days.", "fever")[1] == "Recent"


def test_gencontext_one_word_triggers_reach_only_nearby_targets():
    groups = ("gencontext_history_one_word",)
    assert _labels(groups, "Prior myocardial infarction.", "myocardial infarction")[1] == "Historical"
    far = "Prior to admission the patient was noted by the nurse to have new onset dyspnea."
    assert _labels(groups, far, "dyspnea")[1] == "Recent"


def test_section_header_in_the_sentence_sets_history_only_when_chosen():
    assert _labels((), "PMH: hypertension.", "hypertension")[1] == "Recent"
    assert _labels(("section_headers",), "PMH: hypertension.", "hypertension")[1] == "Historical"


def test_cue_features_name_the_cue_its_side_distance_and_scope():
    _, cues = ContextLabeller(("section_headers",), learned=None).analyse("PMH: there was no chest pain.", "chest pain",
                                                                          cues=True)
    assert cues["C:NEGATED_EXISTENCE:L:0-1"] == 1.0 and cues["CS:NEGATED_EXISTENCE"] == 1.0
    assert cues["SEC:past_medical_history"] == 1.0


def test_hierarchy_keeps_the_rules_hypothetical_and_learns_recent_vs_historical():
    feats = [{"L:prior": 1.0}] * 10 + [{"L:now": 1.0}] * 10 + [{"L:if": 1.0}] * 4
    gold = ["Historical"] * 10 + ["Recent"] * 10 + ["Not particular"] * 4
    rules = ["Recent"] * 20 + ["Not particular"] * 4
    model = fit_property_model(feats, gold, rules, ("Not particular",))
    assert model["classes"] == ["Historical", "Recent"]
    assert apply_property_model(model, {"L:if": 1.0}, "Not particular") == "Not particular"
    assert apply_property_model(model, {"L:prior": 1.0}, "Recent") == "Historical"
    assert apply_property_model(model, {"L:now": 1.0}, "Recent") == "Recent"


def test_a_model_fitted_without_sentence_words_has_no_weight_for_them():
    feats = [{"L:prior": 1.0, "S:prior": 1.0}] * 6 + [{"L:now": 1.0, "S:now": 1.0}] * 6
    gold = ["Historical"] * 6 + ["Recent"] * 6
    model = fit_property_model(feats, gold, ["Recent"] * 12, (), {"C": 0.3, "sentence_words": False})
    assert model["setting"] == {"C": 0.3, "sentence_words": False}
    assert not any(name.startswith("S:") for name in model["weights"])
    assert apply_property_model(model, {"L:prior": 1.0, "S:now": 1.0}, "Recent") == "Historical"


def test_nested_choice_keeps_the_fixed_setting_when_all_settings_tie():
    from engine.notes.tuning import SETTINGS, choose_setting

    rows = [_row(i, f"Sentence {i}.", temporality="Historical" if i % 2 else "Recent") for i in range(40)]
    X = [{"L:prior": 1.0} if i % 2 else {"L:now": 1.0} for i in range(40)]  # separable: every setting scores 1.0
    gold = np.array([r.gold["temporality"] for r in rows])
    chosen = choose_setting(rows, np.arange(40), X, gold, np.array(["Recent"] * 40), (), "Historical")
    assert chosen == SETTINGS[0] == {"C": 1.0, "sentence_words": True}
