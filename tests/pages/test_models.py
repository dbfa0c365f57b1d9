"""Models page (AppTest through app.py): cards with plots, compare, train on a dataset, admin decisions."""
from __future__ import annotations

import json

import pytest

from engine.models import registry
from tests.pages.apptest_helpers import open_page


@pytest.mark.parametrize("role", ["clinician", None])
def test_roles_without_models_see_nothing(fresh_db, role):
    at = open_page("models", role=role)
    assert "Models" not in [t.value for t in at.title]


def test_analyst_reads_card_with_plots_but_cannot_promote(fresh_db, models_copy):
    at = open_page("models", role="analyst")
    assert not at.exception
    at.selectbox(key="models_card_name").select("cad_uci").run()
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any("ROC" in t for t in titles) and any("Calibration" in t for t in titles)
    assert any("Decision curve" in t for t in titles)
    metrics = at.dataframe[1].value
    assert set(metrics.columns) == {"metric", "internal", "external"}
    assert any("Only administrators" in i.value for i in at.info)
    assert not any(b.label == "Promote" for b in at.button)


def test_analyst_trains_a_new_version_with_site_split(seeded_db, models_copy):
    at = open_page("models", role="analyst", username="ana")
    at.selectbox(key="models_train_dataset").select("uci_heart").run()
    at.selectbox(key="models_train_outcome").select("condition_I25.10").run()
    at.multiselect(key="models_train_features").select("age").select("systolic_bp").select("max_heart_rate").run()
    at.radio(key="models_train_split").set_value("site").run()
    at.selectbox(key="models_train_site_col").select("uci_site").run()
    at.multiselect(key="models_train_holdout").select("Switzerland").run()
    at.multiselect(key="models_train_learners").unselect("gradient_boosting").run()
    at.text_input(key="models_train_name").input("cad_store").run()
    at.button(key="models_train_run").click().run(timeout=180)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Trained cad_store version 1.0.0" in s.value for s in at.success)
    card = registry.get_card("cad_store", "1.0.0")
    assert card["validation"]["internal"]["metrics"]["n"]["value"] == 123  # Switzerland held out
    assert ("models.train",) in seeded_db.conn.execute("SELECT action FROM audit").fetchall()


def test_admin_retires_promotes_and_resets_threshold(fresh_db, models_copy):
    at = open_page("models", role="admin", username="boss")
    at.selectbox(key="models_admin_name").select("hf_mortality").run()
    at.button(key="models_retire").click().run()
    assert any("retired" in s.value for s in at.success)
    assert registry.get_card("hf_mortality", "1.0.0")["status"] == "retired"
    at.button(key="models_activate").click().run()
    at.button(key="models_promote").click().run()
    at.number_input(key="models_threshold").set_value(0.6).run()
    effect = next(d.value for d in at.dataframe if "current" in d.value.index)
    assert list(effect.index) == ["current", "proposed"]
    at.button(key="models_set_threshold").click().run()
    assert registry.get_card("hf_mortality")["threshold"] == 0.6
    actions = [r[0] for r in fresh_db.conn.execute("SELECT action FROM audit WHERE username = 'boss' ORDER BY id")]
    assert actions == ["models.retire", "models.activate", "models.promote", "models.threshold"]


def test_default_model_name_follows_the_outcome_until_the_user_types_one(seeded_db, models_copy):
    at = open_page("models", role="analyst", username="ana")
    at.selectbox(key="models_train_dataset").select("heart_failure").run()
    outcomes = at.selectbox(key="models_train_outcome").options
    first, second = outcomes[0], outcomes[1]
    at.selectbox(key="models_train_outcome").select(first).run()
    assert at.text_input(key="models_train_name").value == f"heart_failure_{first}".lower().replace(".", "_")
    at.selectbox(key="models_train_outcome").select(second).run()
    assert at.text_input(key="models_train_name").value == f"heart_failure_{second}".lower().replace(".", "_")
    at.text_input(key="models_train_name").input("my_model").run()
    at.selectbox(key="models_train_outcome").select(first).run()
    assert at.text_input(key="models_train_name").value == "my_model"


def _imaging_table(at):
    return next(d.value for d in at.dataframe if "why served" in d.value.columns)


def test_chest_xray_versions_listed_and_an_admin_chooses_the_served_one(fresh_db):
    """The imaging model lives beside the tabular registry: its versions, which serves and why, and (admin only)
    a button that serves another version at its own threshold, audited; the table shows it at once."""
    from engine.imaging.bundle import installed_versions, served_version

    if len(installed_versions()) < 2:
        pytest.skip("needs two installed chest X-ray versions")
    analyst = open_page("models", role="analyst")
    table = _imaging_table(analyst)
    assert list(table["version"]) == installed_versions()
    assert table.loc[table["served"], "version"].tolist() == [served_version()]
    assert table.loc[table["served"], "why served"].tolist() == ["shipped default"]
    assert not any(b.label == "Serve this version" for b in analyst.button)

    at = open_page("models", role="admin", username="boss")
    before = served_version()
    other = next(v for v in installed_versions() if v != before)
    at.selectbox(key="models_imaging_version").select(other).run()
    at.button(key="models_imaging_promote").click().run()
    assert not at.exception
    assert any(f"{other} now serves" in s.value for s in at.success)
    assert served_version() == other
    table = _imaging_table(at)
    assert table.loc[table["served"], "version"].tolist() == [other]
    assert table.loc[table["served"], "why served"].tolist() == ["promoted by an administrator"]
    actions = [r[0] for r in fresh_db.conn.execute("SELECT action FROM audit WHERE username = 'boss'")]
    assert actions == ["models.promote"]


def test_chest_xray_tab_draws_the_stress_drops_of_every_version_against_the_goal(fresh_db):
    """The tab's chart: one bar series per measured version, one bar per shift, and the 0.03 goal line; its
    values are the cards' recorded drops."""
    from engine.imaging.bundle import installed_versions
    from engine.imaging.robustness import installed_stress_rows

    rows = installed_stress_rows()
    if not rows:
        pytest.skip("no installed card records a stress report")
    at = open_page("models", role="analyst")
    chart = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                 if "Specificity drop" in json.loads(c.proto.spec)["layout"]["title"]["text"])
    series = {trace["name"]: trace for trace in chart["data"]}
    assert set(series) <= set(installed_versions()) and len(series) == len(rows[0]) - 1
    crop = next(r for r in rows if r["shift"].startswith("border_crop_10pct"))
    for version, trace in series.items():
        assert trace["y"][trace["x"].index("border crop 10pct")] == crop[version]
    assert any(shape.get("y0") == 0.03 for shape in chart["layout"]["shapes"])


def test_icu_tab_lists_versions_and_draws_the_served_card(fresh_db):
    """The ICU model's versions (the highest serves), and the served card: the models compared on the same
    folds (AUROC with CI, shipped boosting among them) and its out-of-fold figures by hour of the stay."""
    from engine.icu.bundle import installed_versions, read_card

    versions = installed_versions()
    if not versions:
        pytest.skip("no ICU model is installed")
    at = open_page("models", role="analyst")
    assert not at.exception
    table = next(d.value for d in at.dataframe if "calibrated by hour" in d.value.columns)
    assert list(table["version"]) == versions
    assert table.loc[table["served"], "version"].tolist() == [versions[-1]]
    card = read_card(versions[-1])
    assert table.loc[table["served"], "CV AUROC"].tolist() == [card["metrics"]["cv"]["auroc"]]
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    comparison = next(s for s in specs if any(t.get("name") == "AUROC" and "(a) boosting (shipped)" in t.get("y", [])
                                              for t in s["data"]))
    trace = comparison["data"][0]
    shipped = trace["y"].index("(a) boosting (shipped)")
    assert trace["x"][shipped] == card["metrics"]["comparison"]["boosting"]["auroc"]
    if "by_hour" in card["metrics"]:
        by_hour = next(s for s in specs if any(t.get("name") == "positive predictivity" for t in s["data"]))
        auroc = next(t for t in by_hour["data"] if t["name"] == "AUROC")
        assert auroc["y"] == [r["auroc"] for r in card["metrics"]["by_hour"]["hours"]]
    assert any("Limits" in m.value for m in at.markdown)
