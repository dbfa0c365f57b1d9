"""Explore page in AppTest, run through app.py as a signed-in analyst: every control on the page."""
from __future__ import annotations

import json

import pytest

from tests.pages.apptest_helpers import open_page

# The page's store reads and writes (saved cohorts, the export's audit row) run on SQLite and PostgreSQL
# (issue 16); the statistics controls compute on the loaded frame whatever the store, and the engine's
# explore suites already run them on both, so a second PostgreSQL pass of each control would add minutes, not checks.
both_backends = pytest.mark.both_backends


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _chart_titles(at) -> list[str]:
    return [c["layout"].get("title", {}).get("text", "") for c in _charts(at)]


def _plain(elements) -> list[str]:
    """Markdown element texts with the page's escaping removed."""
    return [e.value.replace("\\", "") for e in elements]


def _df(at, *columns: str, where: tuple[str, str] | None = None):
    """The first table showing all ``columns`` (and, with ``where``, a row whose column equals a value).
    AppTest does not expose a dataframe's key, so tables are found by what they show."""
    for element in at.dataframe:
        value = element.value
        if all(c in value.columns for c in columns) and (where is None or (value[where[0]] == where[1]).any()):
            return value
    raise AssertionError(f"no table with columns {columns}")


def _explore(dataset: str = "uci_heart", role: str = "analyst"):
    at = open_page("explore", role=role, username="ana")
    assert not at.exception
    if dataset != at.selectbox(key="explore_dataset").value:
        at.selectbox(key="explore_dataset").select(dataset).run()
        assert not at.exception
    return at


def _audit_actions(db) -> list[tuple[str, str | None]]:
    return [(r[0], r[1]) for r in db.conn.execute("SELECT action, details FROM audit ORDER BY id")]


@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_analysts_and_admins_see_the_page(seeded_db, role):
    at = _explore(role=role)
    assert [t.value for t in at.title] == ["Explore"]
    assert [t.label for t in at.tabs][:2] == ["Table 1", "Distributions & relations"]


def test_clinicians_are_refused(seeded_db):
    at = open_page("explore", role="clinician")
    assert "Explore" not in [t.value for t in at.title]
    assert "explore_dataset" not in [w.key for w in at.selectbox]
    assert not any((c.key or "").startswith("explore_") for c in at.get("plotly_chart"))


@both_backends
def test_cohort_builder_filters_save_and_reload(seeded_db):
    at = _explore("uci_heart")
    assert any("(n=920)" in m for m in _plain(at.markdown))
    at.multiselect(key="explore_filter_cols").set_value(["age", "sex"]).run()
    at.slider(key="explore_f_age").set_value((40.0, 60.0)).run()
    at.multiselect(key="explore_f_sex").set_value(["male"]).run()
    at.text_input(key="explore_cohort_name").input("Men 40-60").run()
    frame_n = [m for m in _plain(at.markdown) if "Men 40-60 (n=" in m]
    assert frame_n and "age from 40 to 60; sex in {male}" in frame_n[0]
    at.button(key="explore_save").click().run()
    assert not at.exception and at.success and "Saved cohort" in at.success[0].value
    assert ("explore.cohort_save" in [a for a, _ in _audit_actions(seeded_db)])
    assert "explore.cohort_view" in [a for a, _ in _audit_actions(seeded_db)]
    # The saved-cohort box now shows the cohort just saved (issue 12); saving again replaces it.
    assert at.selectbox(key="explore_saved").value == "Men 40-60"
    # A fresh session saving under the same name without choosing it is refused with a clear sentence.
    at = _explore("uci_heart")
    at.text_input(key="explore_cohort_name").input("Men 40-60").run()
    at.button(key="explore_save").click().run()
    assert at.error and "already exists" in at.error[0].value
    # A fresh session loads the saved cohort into the filters.
    at = _explore("uci_heart")
    assert "Men 40-60" in at.selectbox(key="explore_saved").options
    at.selectbox(key="explore_saved").select("Men 40-60").run()
    assert at.multiselect(key="explore_filter_cols").value == ["age", "sex"]
    assert at.slider(key="explore_f_age").value == (40.0, 60.0)
    assert any("Men 40-60 (n=" in m for m in _plain(at.markdown))
    # A filter nobody meets says so instead of showing empty results.
    at.multiselect(key="explore_f_sex").set_value([]).run()
    assert any("No patient meets" in w.value for w in at.warning)


def test_table_one_controls(seeded_db):
    at = _explore("pima_diabetes")
    at.multiselect(key="explore_t1_vars").set_value(["age", "bmi", "glucose_ogtt_2h", "insulin_2h"]).run()
    at.selectbox(key="explore_t1_group").select("condition_E11").run()
    at.multiselect(key="explore_t1_nonnormal").set_value(["bmi"]).run()
    at.number_input(key="explore_t1_decimals").set_value(2).run()
    assert not at.exception
    table = _df(at, "Variable", "Test")
    assert list(table.columns[:6]) == ["Variable", "Level", "Missing", "Overall", "0 (no)", "1 (yes)"]
    assert "bmi, median [IQR]" in list(table["Variable"])
    glucose = table[table["Variable"] == "glucose_ogtt_2h, mean (SD)"].iloc[0]
    assert glucose["Test"] == "Welch t-test" and glucose["1 (yes)"].startswith("142.32 (")
    assert {b.proto.label for b in at.get("download_button")} >= {"Download CSV", "Download table (HTML)"}
    at.button(key="explore_pin_t1").click().run()
    assert at.tabs[-1].label == "Report (1)"


def test_distribution_scatter_and_correlation_controls(seeded_db):
    at = _explore("heart_failure")
    at.selectbox(key="explore_dist_value").select("ejection_fraction").run()
    at.selectbox(key="explore_dist_group").select("sex").run()
    for kind, trace in (("box", "box"), ("violin", "violin"), ("histogram", "histogram")):
        at.radio(key="explore_dist_kind").set_value(kind).run()
        assert _charts(at)[0]["data"][0]["type"] == trace
    assert "ejection_fraction by sex" in _chart_titles(at)[0] and "(n=299)" in _chart_titles(at)[0]
    at.selectbox(key="explore_scatter_x").select("age").run()
    at.selectbox(key="explore_scatter_y").select("ejection_fraction").run()
    at.selectbox(key="explore_scatter_group").select("sex").run()
    scatter = _charts(at)[1]
    assert any(t["name"].startswith("trend female") for t in scatter["data"])
    at.multiselect(key="explore_corr_cols").set_value(["age", "ejection_fraction", "creatinine", "sodium"]).run()
    at.radio(key="explore_corr_method").set_value("spearman").run()
    heat = _charts(at)[2]
    assert heat["data"][0]["type"] == "heatmap" and "Spearman" in heat["layout"]["title"]["text"]
    for key in ("explore_pin_dist", "explore_pin_scatter", "explore_pin_corr"):
        at.button(key=key).click().run()
    assert at.tabs[-1].label == "Report (3)"


def test_hypothesis_test_controls(seeded_db):
    at = _explore("pima_diabetes")
    at.multiselect(key="explore_test_values").set_value(["glucose_ogtt_2h", "insulin_2h", "bmi"]).run()
    at.selectbox(key="explore_test_group").select("condition_E11").run()
    table = _df(at, "comparison", "p_adjusted", where=("comparison", "bmi by condition_E11"))
    assert list(table["test"])[:2] == ["Welch t-test", "Mann-Whitney U"]
    assert table["p_adjusted"].notna().all()
    at.selectbox(key="explore_test_kind").select("welch").run()
    at.selectbox(key="explore_test_corr").select("none").run()
    table = _df(at, "comparison", "p_adjusted", where=("comparison", "bmi by condition_E11"))
    assert set(table["test"]) == {"Welch t-test"} and table["p_adjusted"].isna().all()
    assert any("Mann-Whitney U is recommended" in w.value for w in at.warning)
    at.selectbox(key="explore_assoc_a").select("age_group").run()
    at.selectbox(key="explore_assoc_b").select("condition_E11").run()
    assoc = _df(at, "comparison", where=("comparison", "age_group vs condition_E11"))
    assert assoc["test"].iloc[0] == "Chi-square"
    at.button(key="explore_pin_tests").click().run()
    at.button(key="explore_pin_assoc").click().run()
    assert at.tabs[-1].label == "Report (2)"


def test_regression_controls(seeded_db):
    at = _explore("pima_diabetes")
    at.radio(key="explore_reg_kind").set_value("logistic").run()
    at.selectbox(key="explore_reg_outcome").select("condition_E11").run()
    at.multiselect(key="explore_reg_predictors").set_value(["glucose_ogtt_2h", "bmi", "age_group"]).run()
    assert at.multiselect(key="explore_reg_categorical").value == ["age_group"]
    at.multiselect(key="explore_reg_interactions").set_value(["glucose_ogtt_2h × bmi"]).run()
    assert at.text_input(key="explore_reg_formula").value == \
        "condition_E11 ~ glucose_ogtt_2h + bmi + C(age_group) + glucose_ogtt_2h:bmi"
    at.multiselect(key="explore_reg_categorical").set_value([]).run()
    at.multiselect(key="explore_reg_interactions").set_value([]).run()
    at.multiselect(key="explore_reg_predictors").set_value(["glucose_ogtt_2h", "bmi"]).run()
    coef = _df(at, "term", "estimate")
    assert "ratio" in coef.columns and list(coef["term"]) == ["Intercept", "glucose_ogtt_2h", "bmi"]
    forest = next(c for c in _charts(at) if "Odds ratio" in c["layout"]["title"]["text"])
    assert forest["layout"]["xaxis"]["type"] == "log"
    at.text_input(key="explore_reg_formula").input("condition_E11 ~ np.log(glucose_ogtt_2h) + bmi").run()
    assert "np.log(glucose_ogtt_2h)" in list(_df(at, "term", "estimate")["term"])
    at.text_input(key="explore_reg_formula").input("condition_E11 ~ nonsense").run()
    assert at.error and "no column named 'nonsense'" in at.error[0].value
    at.radio(key="explore_reg_kind").set_value("linear").run()
    at.selectbox(key="explore_reg_outcome").select("glucose_ogtt_2h").run()
    at.multiselect(key="explore_reg_predictors").set_value(["bmi", "age"]).run()
    assert "r squared" in [m.label for m in at.metric]
    assert _df(at, "term", "vif")["term"].tolist() == ["bmi", "age"]
    at.button(key="explore_pin_reg").click().run()
    assert at.tabs[-1].label == "Report (1)"


def test_survival_controls(seeded_db):
    at = _explore("heart_failure")
    # Follow-up time and event are recognised by name.
    assert at.selectbox(key="explore_surv_time").value == "follow_up_days"
    assert at.selectbox(key="explore_surv_event").value == "death_event"
    at.selectbox(key="explore_surv_group").select("sex").run()
    km = next(c for c in _charts(at) if "Kaplan-Meier" in c["layout"]["title"]["text"])
    assert any(t.get("fill") == "tonexty" for t in km["data"])              # CI bands
    assert "log-rank p=0.950" in km["layout"]["title"]["text"]
    at_risk = next(d.value for d in at.dataframe if list(d.value.index) == ["female", "male"])
    assert list(at_risk.index) == ["female", "male"] and at_risk.iloc[:, 0].tolist() == [105, 194]
    at.multiselect(key="explore_cox_covariates").set_value(["age", "ejection_fraction", "sex"]).run()
    at.multiselect(key="explore_cox_categorical").set_value(["sex"]).run()
    hr = _df(at, "term", "hr")
    assert hr["term"].tolist() == ["age", "ejection_fraction", "sex: male vs female"]
    assert not _df(at, "term", "statistic", where=("term", "age")).empty
    at.button(key="explore_pin_km").click().run()
    at.button(key="explore_pin_cox").click().run()
    assert at.tabs[-1].label == "Report (2)"
    at.selectbox(key="explore_surv_time").select("(none)").run()
    assert any("Choose a follow-up time" in i.value for i in at.info)


def test_clustering_controls(seeded_db):
    at = _explore("wdbc")
    at.multiselect(key="explore_cl_features").set_value(["wdbc_mean_radius", "wdbc_mean_texture",
                                                          "wdbc_mean_concavity"]).run()
    at.slider(key="explore_cl_k").set_value(2).run()
    profiles = _df(at, "cluster", "percent")
    assert profiles["n"].sum() == 569 and len(profiles) == 2
    at.radio(key="explore_cl_method").set_value("dbscan").run()
    at.number_input(key="explore_cl_eps").set_value(0.6).run()
    at.number_input(key="explore_cl_min").set_value(8).run()
    assert not at.exception
    chart = next(c for c in _charts(at) if "DBSCAN" in c["layout"]["title"]["text"])
    assert any(t["name"].startswith("noise") for t in chart["data"])
    at.button(key="explore_pin_cl").click().run()
    assert at.tabs[-1].label == "Report (1)"


def test_quality_controls(seeded_db):
    at = _explore("uci_heart")
    missing = _df(at, "column", "missing")
    assert missing.iloc[0]["column"] == "vessels_fluoroscopy"
    at.multiselect(key="explore_q_outcomes").set_value(["condition_I25.10"]).run()
    balance = next(c for c in _charts(at) if "Class balance" in c["layout"]["title"]["text"])
    assert {t["name"] for t in balance["data"]} == {"0 (no)", "1 (yes)"}
    assert any("More than 20% missing" in w.value for w in at.warning)
    at.button(key="explore_pin_q").click().run()
    assert at.tabs[-1].label == "Report (1)"


def test_report_controls(seeded_db):
    at = _explore("heart_failure")
    assert any("Nothing pinned yet" in i.value for i in at.info)
    at.button(key="explore_pin_t1").click().run()
    at.button(key="explore_pin_dist").click().run()
    assert at.tabs[-1].label == "Report (2)"
    at.text_input(key="explore_report_title").input("HF cohort results").run()
    download = next(b for b in at.get("download_button") if b.proto.label == "Export report (HTML)")
    assert not download.proto.disabled
    from engine.stats.report import pdf_available

    if pdf_available():
        at.button(key="explore_report_pdf_make").click().run(timeout=120)
        pdf = next(b for b in at.get("download_button") if b.proto.label == "Download report (PDF)")
        assert not pdf.proto.disabled
    at.button(key="explore_unpin_0").click().run()
    assert at.tabs[-1].label == "Report (1)"
    at.button(key="explore_report_clear").click().run()
    assert at.tabs[-1].label == "Report (0)"


@both_backends
def test_export_audit_callback_records_without_identifiers(seeded_db):
    from engine.auth import User
    from pages.explore import record_audit

    record_audit("explore.export", User("ana", "analyst"), dataset="pima_diabetes", result="report", pins=2,
           format="html")
    action, details = _audit_actions(seeded_db)[-1]
    assert action == "explore.export" and "PIMA-" not in (details or "")


def test_an_expired_session_cannot_save_a_cohort_from_an_open_tab(seeded_db):
    """Save's callback runs before app.py's gate and the page's check: it checks the session itself."""
    from datetime import datetime, timedelta, timezone

    from pages.components.session import LAST_SEEN_KEY

    at = _explore("uci_heart")
    at.text_input(key="explore_cohort_name").input("Everyone").run()
    at.session_state[LAST_SEEN_KEY] = datetime.now(timezone.utc) - timedelta(days=1)
    at.button(key="explore_save").click().run()
    assert not at.exception
    assert seeded_db.conn.execute("SELECT COUNT(*) FROM cohorts").fetchone()[0] == 0
    assert "explore.cohort_save" not in [a for a, _ in _audit_actions(seeded_db)]
    assert any("session expired" in i.value for i in at.info)


@both_backends
def test_cohort_names_cannot_inject_markdown(seeded_db):
    at = _explore("uci_heart")
    at.text_input(key="explore_cohort_name").input("![x](http://example.org/t.png) :red[big]").run()
    label = next(m.value for m in at.markdown if "big" in m.value)
    assert "\\!\\[x\\]\\(http\\://example" in label and "\\:red\\[big\\]" in label


def test_date_filter_control(seeded_db):
    from datetime import date

    from engine.store import transaction
    from engine.store.patients import insert_observations

    # Synthetic edge case: the demo data carry no dates, so give heart-failure patients an admission date.
    ids = [r[0] for r in seeded_db.conn.execute(
        "SELECT id FROM patients WHERE pseudo_id LIKE 'HF-%' ORDER BY id")]
    with transaction(seeded_db):
        insert_observations(seeded_db, [(pid, None, "local:admission_date", "local", "Admission date", None,
                                         f"2020-{1 + i % 12:02d}-15", None, None, None)
                                        for i, pid in enumerate(ids)])
    at = _explore("heart_failure")
    at.multiselect(key="explore_filter_cols").set_value(["admission_date"]).run()
    at.date_input(key="explore_f_admission_date").set_value((date(2020, 3, 1), date(2020, 4, 30))).run()
    assert not at.exception
    expected = sum(1 for i in range(len(ids)) if 1 + i % 12 in (3, 4))
    assert any(f"(n={expected})" in m and "admission_date dated 2020-03-01 to 2020-04-30" in m
               for m in _plain(at.markdown))
