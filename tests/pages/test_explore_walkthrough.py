"""Explore in AppTest: the walk-through findings of issue 12, each checked through app.py as an analyst."""
from __future__ import annotations

import json
import logging

import pytest

from tests.pages.apptest_helpers import open_page


def _explore(dataset: str):
    at = open_page("explore", role="analyst", username="ana")
    if at.selectbox(key="explore_dataset").value != dataset:
        at.selectbox(key="explore_dataset").select(dataset).run()
    assert not at.exception
    return at


def _df(at, *columns: str):
    for element in at.dataframe:
        if all(c in element.value.columns for c in columns):
            return element.value
    raise AssertionError(f"no table with columns {columns}")


class _Grab(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_no_widget_default_and_session_state_warning(seeded_db):
    """Server log said: widget `explore_surv_time` set both by default and by Session State."""
    from streamlit.elements.lib import policies

    grab = _Grab()
    logger = logging.getLogger("streamlit.elements.lib.policies")
    logger.addHandler(grab)
    policies._shown_default_value_warning = False     # the warning is logged once per process
    try:
        at = _explore("heart_failure")
        at.selectbox(key="explore_dataset").select("uci_heart").run()
        at.multiselect(key="explore_filter_cols").set_value(["age", "sex"]).run()
        at.slider(key="explore_f_age").set_value((40.0, 60.0)).run()
        at.text_input(key="explore_cohort_name").input("Men 40-60").run()
        at.button(key="explore_save").click().run()
        at.selectbox(key="explore_saved").select("(new cohort)").run()
        at.selectbox(key="explore_saved").select("Men 40-60").run()
        at.selectbox(key="explore_dataset").select("heart_failure").run()
        assert not at.exception
    finally:
        logger.removeHandler(grab)
    assert not [m for m in grab.messages if "default value" in m], grab.messages


def test_p_values_and_methods_in_tests_tab(seeded_db):
    at = _explore("pima_diabetes")
    at.multiselect(key="explore_test_values").set_value(["glucose_ogtt_2h", "insulin_2h", "bmi"]).run()
    at.selectbox(key="explore_test_group").select("condition_E11").run()
    table = _df(at, "comparison", "p_value")
    assert table["p_value"].tolist()[0] == "<0.001" and "0" not in table["p_value"].tolist()
    assert all(p == "<0.001" or p.startswith("0.") for p in table["p_adjusted"])
    assert list(table["test"]) == ["Welch t-test", "Mann-Whitney U", "Mann-Whitney U"]
    captions = [c.value for c in at.caption]
    methods = next(c for c in captions if "were compared" in c)
    assert methods.startswith("glucose_ogtt_2h was compared between condition_E11 groups with Welch's t-test")
    assert "insulin_2h and bmi were compared between condition_E11 groups with the Mann-Whitney U test" in methods


def test_regression_p_values_reference_levels_and_pinned_fit(seeded_db):
    at = _explore("pima_diabetes")
    at.radio(key="explore_reg_kind").set_value("logistic").run()
    at.selectbox(key="explore_reg_outcome").select("condition_E11").run()
    at.multiselect(key="explore_reg_predictors").set_value(["glucose_ogtt_2h", "age_group"]).run()
    coef = _df(at, "term", "estimate").set_index("term")
    assert coef.loc["glucose_ogtt_2h", "p_value"] == "<0.001"
    assert "age_group: 30-39 vs 20-29" in coef.index
    assert any("Reference levels: age_group = 20-29." in c.value for c in at.caption)
    assert {m.label: m.value for m in at.metric}["llr p value"] == "<0.001"
    at.button(key="explore_pin_reg").click().run()
    at.tabs[-1]          # the report tab exists; its HTML is checked below
    pins = at.session_state["explore_pins"]
    assert pins[0].statistics["llr p value"] == "<0.001" and "pseudo r squared" in pins[0].statistics
    from engine.stats.report import build_report_html

    html = build_report_html(pins)
    assert "Fit statistics" in html and "&lt;0.001" in html and "age_group: 30-39 vs 20-29" in html


def test_survival_not_reached_value_labels_cox_p_and_ages_over_89(seeded_db):
    at = _explore("heart_failure")
    # Ages 90+ are analysed at 90 with a flag, and the cohort says so.
    assert any("6 patients aged 90 or older" in c.value for c in at.caption)
    at.selectbox(key="explore_surv_group").select("smoking").run()
    summary = _df(at, "group", "median")
    assert summary["group"].tolist() == ["0 (no)", "1 (yes)"]
    assert summary["median"].tolist() == ["not reached", "not reached"]
    at_risk = next(d.value for d in at.dataframe if list(d.value.index) == ["0 (no)", "1 (yes)"])
    assert at_risk.iloc[:, 0].sum() == 299
    at.multiselect(key="explore_cox_covariates").set_value(["age", "ejection_fraction"]).run()
    hr = _df(at, "term", "hr").set_index("term")
    assert hr.loc["age", "p_value"] == "<0.001" and hr.loc["ejection_fraction", "p_value"] == "<0.001"
    assert not any("rows with a missing" in w.value for w in at.warning)      # none of the 299 dropped
    km = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
              if "Kaplan-Meier" in json.loads(c.proto.spec)["layout"]["title"]["text"])
    assert {t["name"].split(" (n=")[0] for t in km["data"] if t.get("name")} >= {"0 (no)", "1 (yes)"}


def test_typed_filter_bounds_and_labelled_levels(seeded_db):
    from engine.frames import dataset_frame

    frame = dataset_frame(seeded_db, "uci_heart")
    at = _explore("uci_heart")
    at.multiselect(key="explore_filter_cols").set_value(["st_depression", "exercise_angina"]).run()
    at.number_input(key="explore_f_st_depression__from").set_value(1.05).run()
    at.number_input(key="explore_f_st_depression__to").set_value(2.35).run()
    assert at.slider(key="explore_f_st_depression").value == (1.05, 2.35)
    assert at.multiselect(key="explore_f_exercise_angina").options == ["0 (no)", "1 (yes)"]
    at.multiselect(key="explore_f_exercise_angina").set_value(["1"]).run()
    expected = int(((frame["st_depression"] >= 1.05) & (frame["st_depression"] <= 2.35)
                    & (frame["exercise_angina"] == 1)).sum())
    label = next(text for text in (m.value.replace("\\", "") for m in at.markdown) if "Unsaved cohort (n=" in text)
    assert f"(n={expected})" in label and "st_depression from 1.05 to 2.35" in label
    # The slider moves the typed bounds too.
    at.slider(key="explore_f_st_depression").set_value((0.5, 3.0)).run()
    assert at.number_input(key="explore_f_st_depression__from").value == 0.5


def test_derived_variable_is_a_binary_outcome(seeded_db):
    from engine.frames import dataset_frame

    frame = dataset_frame(seeded_db, "uci_heart")
    at = _explore("uci_heart")
    at.selectbox(key="explore_dv_column").select("cad_grade").run()
    at.selectbox(key="explore_dv_op").select(">").run()
    at.number_input(key="explore_dv_value").set_value(0.0).run()
    at.button(key="explore_dv_add").click().run()
    assert any("derived: cad_grade > 0" in m.value.replace("\\", "") for m in at.markdown)
    at.radio(key="explore_reg_kind").set_value("logistic").run()
    assert "cad_grade > 0" in at.selectbox(key="explore_reg_outcome").options
    at.selectbox(key="explore_reg_outcome").select("cad_grade > 0").run()
    at.multiselect(key="explore_reg_predictors").set_value(["age", "sex"]).run()
    assert not at.error
    assert at.text_input(key="explore_reg_formula").value == 'Q("cad_grade > 0") ~ age + C(sex)'
    coef = _df(at, "term", "estimate")
    assert coef["term"].tolist() == ["Intercept", "sex: male vs female", "age"]
    assert {m.label: m.value for m in at.metric}["events"] == str(int(min((frame["cad_grade"] > 0).sum(),
                                                                          (frame["cad_grade"] == 0).sum())))


@pytest.mark.parametrize("first, second", [("uci_heart", "pima_diabetes"), ("pima_diabetes", "heart_failure")])
def test_correlation_map_opens_with_several_columns_after_a_dataset_change(seeded_db, first, second):
    at = _explore(first)
    at.multiselect(key="explore_corr_cols").set_value(at.multiselect(key="explore_corr_cols").value[:2]).run()
    at.selectbox(key="explore_dataset").select(second).run()
    cols = at.multiselect(key="explore_corr_cols").value
    assert len(cols) >= 5 and set(cols) <= set(at.multiselect(key="explore_corr_cols").options)
    assert any(json.loads(c.proto.spec)["data"][0]["type"] == "heatmap" for c in at.get("plotly_chart"))
