"""Models: cards reproduce from data and training script, SHAP additivity, OOD warnings, integrity, registry."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from engine.errors import InputError, ModelUnavailableError, NotFoundError
from engine.models import metrics as M
from engine.models import registry
from engine.models.predict import (predict_record, record_feedback, record_for_patient, run_prediction,
                                   predictions_for_patient, score_frame)
from engine.models.specs import MODEL_SPECS
from engine.models.train import Split, make_frame, split_rows, train_shipped

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

SHIPPED = sorted(MODEL_SPECS)
FAST_RETRAIN = ["diabetes_pima", "hf_mortality"]
METRIC_KEYS = ("auroc", "auprc", "brier", "calibration_slope", "calibration_intercept", "sensitivity",
               "specificity", "ppv", "npv")


def _held_out(name: str, card: dict):
    """Rebuild the card's validation sets from the real data and the card's own split settings."""
    spec = MODEL_SPECS[name]
    df = spec.load()
    external = None
    if spec.external_sites:
        is_ext = df["site"].isin(spec.external_sites)
        external, df = df[is_ext], df[~is_ext]
    s = card["training"]["split"]
    _, test = split_rows(df, Split(s["kind"], s["column"], tuple(s["holdout"]), s["test_fraction"]),
                         card["training"]["seed"])
    return df[test], external


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_bundle_reproduces_card_metrics_on_held_out_data(name, db_path):
    card = registry.get_card(name)
    loaded = registry.load_model(name)
    test_df, external = _held_out(name, card)
    features = [MODEL_SPECS[name].feature(f["name"]) for f in card["features"]]
    sets = [("internal", test_df)] + ([("external", external)] if external is not None else [])
    for section, frame in sets:
        p = loaded.pipeline.predict_proba(make_frame(frame, features))[:, 1]
        y = frame["outcome"].to_numpy()
        got = M.point_metrics(y, p, card["threshold"])
        want = card["validation"][section]["metrics"]
        assert want["n"]["value"] == len(y)
        for key in METRIC_KEYS:
            assert got[key] == pytest.approx(want[key]["value"], abs=1e-4), (name, section, key)
            assert want[key]["low"] <= want[key]["value"] <= want[key]["high"]
        # independent reference implementations
        assert got["auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-9)
        assert got["auprc"] == pytest.approx(average_precision_score(y, p), abs=1e-9)
        assert got["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-9)


def test_heart_model_card_has_external_validation_on_va_and_switzerland(db_path):
    card = registry.get_card("cad_uci")
    ext = card["validation"]["external"]
    assert card["data"]["n_external"] == ext["metrics"]["n"]["value"] == 323  # 200 VA + 123 Switzerland
    assert set(ext["subgroups"]["site"]) == {"VA Long Beach", "Switzerland"}
    assert 0.5 < ext["metrics"]["auroc"]["value"] < 1.0
    assert "Cleveland" in card["validation"]["design"] and "VA Long Beach" in card["validation"]["design"]


def _assert_cards_equal(new: dict, old: dict) -> None:
    assert new["learner"] == old["learner"] and new["threshold"] == old["threshold"]
    assert new["candidates"] == old["candidates"]
    for section in old["validation"]:
        if section == "design":
            continue
        for key in METRIC_KEYS:
            assert new["validation"][section]["metrics"][key] == old["validation"][section]["metrics"][key], key


@pytest.mark.parametrize("name", FAST_RETRAIN)
def test_training_script_reproduces_card(name, db_path):
    _, card = train_shipped(name)
    _assert_cards_equal(json.loads(json.dumps(card)), registry.get_card(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in SHIPPED if n not in FAST_RETRAIN])
def test_training_script_reproduces_card_slow(name, db_path):
    _, card = train_shipped(name)
    _assert_cards_equal(json.loads(json.dumps(card)), registry.get_card(name))


@pytest.mark.parametrize("name", SHIPPED)
def test_shap_additivity_and_probability_match_bare_pipeline(name, db_path):
    card = registry.get_card(name)
    df = MODEL_SPECS[name].load().head(5)
    loaded = registry.load_model(name)
    for _, row in df.iterrows():
        record = {f["name"]: (None if (isinstance(row[f["name"]], float) and np.isnan(row[f["name"]]))
                              else row[f["name"]]) for f in card["features"]}
        record = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
        try:
            result = predict_record(name, record)
        except InputError:  # a real value outside a plausibility limit would be a spec bug
            raise
        total = result["base_value"] + sum(c["contribution"] for c in result["contributions"])
        assert total == pytest.approx(result["logit"], abs=1e-4)
        frame = make_frame(df.loc[[row.name]], [MODEL_SPECS[name].feature(f["name"]) for f in card["features"]])
        bare = float(loaded.pipeline.predict_proba(frame)[0, 1])
        assert result["probability"] == pytest.approx(bare, abs=1e-5)
        low, high = result["interval"]
        assert low <= result["probability"] <= high
        assert {c["feature"] for c in result["contributions"]} == {f["name"] for f in card["features"]}


def test_out_of_population_warning_for_absurd_inputs(db_path):
    typical = {"age": 30, "pregnancies": 2, "glucose_ogtt_2h": 110, "diastolic_bp": 70, "triceps_skinfold": 25,
               "insulin_2h": 100, "bmi": 30, "diabetes_pedigree": 0.4}
    assert predict_record("diabetes_pima", typical)["warnings"] == []
    absurd = {"age": 22, "pregnancies": 17, "glucose_ogtt_2h": 45, "diastolic_bp": 30, "triceps_skinfold": 95,
              "insulin_2h": 1100, "bmi": 85, "diabetes_pedigree": 4.5}
    warnings = predict_record("diabetes_pima", absurd)["warnings"]
    assert any("unusual for the training population" in w for w in warnings)
    assert any("above the training range" in w and "Body mass index" in w for w in warnings)


@pytest.mark.parametrize("record, fragment", [
    ({"glucose_ogtt_2h": 5000}, "'glucose_ogtt_2h'.*outside the plausible range 10-1500 mg/dL"),
    ({"bmi": "heavy"}, "'bmi'.*a number between 10 and 90 kg/m2; the value given is not a number"),
    ({"age": "elderly"}, "'age'.*a number between 0 and 120 years;"),
    ({"pregnancies": "several"}, "'pregnancies'.*a number between 0 and 25;"),
    ({"weight_kg": 80}, "1 input name is not among the inputs of model 'diabetes_pima'.*accepted names: age, "),
    ({"weight_kg": 80, "height_cm": 170}, "2 input names are not among"),
    ({}, "No inputs"),
])
def test_bad_input_is_refused_with_a_sentence_naming_the_feature(record, fragment, db_path):
    with pytest.raises(InputError, match=fragment) as excinfo:
        predict_record("diabetes_pima", record)
    # What was typed is never repeated back (it may be an identifier in the wrong box), nor are unknown names.
    for typed in ("5000", "heavy", "elderly", "several", "weight_kg", "height_cm"):
        assert typed not in str(excinfo.value)


def test_categorical_input_must_be_a_listed_category(db_path):
    with pytest.raises(InputError, match="chest_pain_type.*typical angina") as excinfo:
        predict_record("cad_uci", {"age": 60, "chest_pain_type": "crushing"})
    assert "crushing" not in str(excinfo.value)


def test_tampered_bundle_is_refused(models_copy, db_path):
    assert predict_record("hf_mortality", {"age": 60, "ejection_fraction": 30})["probability"] > 0
    weights = models_copy / "hf_mortality" / "1.0.0" / "model.skops"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    registry.clear_cache()
    with pytest.raises(ModelUnavailableError, match="integrity check"):
        predict_record("hf_mortality", {"age": 60, "ejection_fraction": 30})


def test_swapped_bundle_is_refused_even_with_matching_card(models_copy, db_path):
    """Copying another model's weights in (and its hash into the card) still fails the manifest check."""
    target = models_copy / "hf_mortality" / "1.0.0"
    shutil.copy(models_copy / "diabetes_pima" / "1.0.0" / "model.skops", target / "model.skops")
    card = json.loads((target / "card.json").read_text())
    card["weights"]["sha256"] = registry.sha256_file(target / "model.skops")
    (target / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelUnavailableError):
        registry.load_model("hf_mortality")


def test_registry_lists_contract_fields(db_path):
    models = registry.list_models()
    assert {m["name"] for m in models} == set(SHIPPED)
    for m in models:
        assert {"name", "version", "status", "title", "features"} <= set(m)
        assert all({"name", "unit", "code"} <= set(f) for f in m["features"])
    pima = next(m for m in models if m["name"] == "diabetes_pima")
    glucose = next(f for f in pima["features"] if f["name"] == "glucose_ogtt_2h")
    assert (glucose["code"], glucose["unit"]) == ("1518-0", "mg/dL")
    with pytest.raises(NotFoundError):
        registry.get_card("no_such_model")


def test_retire_promote_and_threshold_are_stored_and_audited(models_copy, fresh_db):
    registry.set_status(fresh_db, "hf_mortality", "1.0.0", "retired", username="boss")
    with pytest.raises(ModelUnavailableError):
        predict_record("hf_mortality", {"age": 60})
    registry.set_status(fresh_db, "hf_mortality", "1.0.0", "active", username="boss")
    registry.promote(fresh_db, "hf_mortality", "1.0.0", username="boss")
    card = registry.get_card("hf_mortality")
    effect = registry.set_threshold(fresh_db, "hf_mortality", "1.0.0", 0.6, username="boss")
    assert effect["old_threshold"] == card["threshold"]
    assert effect["new"]["sensitivity"] <= effect["old"]["sensitivity"]  # a higher threshold cannot gain sensitivity
    assert registry.get_card("hf_mortality")["threshold"] == 0.6
    assert predict_record("hf_mortality", {"age": 60})["threshold"] == 0.6
    actions = [r[0] for r in fresh_db.conn.execute("SELECT action FROM audit ORDER BY id")]
    assert actions == ["models.retire", "models.activate", "models.promote", "models.threshold"]
    with pytest.raises(InputError):
        registry.set_threshold(fresh_db, "hf_mortality", "1.0.0", 1.5, username="boss")


def test_seeded_patient_maps_to_inputs_and_prediction_is_stored_with_feedback(seeded_db):
    card = registry.get_card("cad_uci")
    record = record_for_patient(seeded_db, "UCI-0001", card)
    # UCI row 1 (Cleveland): 63-year-old man, typical angina, 145 mm[Hg], cholesterol 233 mg/dL
    assert record["age"] == 63 and record["sex"] == "male" and record["chest_pain_type"] == "typical angina"
    assert record["systolic_bp"] == 145 and record["total_cholesterol"] == 233
    pid, result = run_prediction(seeded_db, username="doc", name="cad_uci", record=record, pseudo_id="UCI-0001")
    with pytest.raises(InputError, match="reason"):
        record_feedback(seeded_db, username="doc", prediction_id=pid, verdict="disagree", reason=" ")
    record_feedback(seeded_db, username="doc", prediction_id=pid, verdict="disagree", reason="Recent normal CT angiogram")
    rows = predictions_for_patient(seeded_db, "UCI-0001")
    assert rows[0]["verdict"] == "disagree" and rows[0]["reason"] == "Recent normal CT angiogram"
    assert rows[0]["probability"] == result["probability"]
    stored = seeded_db.conn.execute("SELECT inputs, explanation FROM predictions WHERE id = ?", (pid,)).fetchone()
    assert json.loads(stored[0])["chest_pain_type"] == "typical angina"
    assert len(json.loads(stored[1])["contributions"]) == len(card["features"])
    actions = [r[0] for r in seeded_db.conn.execute("SELECT action FROM audit WHERE action LIKE 'predict%' "
                                                    "OR action LIKE 'feedback%' ORDER BY id")]
    assert actions == ["predict.run", "feedback.record"]


def test_batch_scoring_matches_single_predictions(db_path):
    df = MODEL_SPECS["chd_framingham"].load().head(50)
    p = score_frame("chd_framingham", df)
    card = registry.get_card("chd_framingham")
    one = {f["name"]: df.iloc[3][f["name"]] for f in card["features"]}
    one = {k: (None if isinstance(v, float) and np.isnan(v) else (v.item() if hasattr(v, "item") else v))
           for k, v in one.items()}
    assert predict_record("chd_framingham", one)["probability"] == pytest.approx(p[3], abs=1e-6)
    bad = df.copy()
    bad.loc[bad.index[0], "systolic_bp"] = 900
    with pytest.raises(InputError, match="systolic_bp"):
        score_frame("chd_framingham", bad)


def test_metrics_match_references_on_synthetic_edge_cases():
    # Synthetic: perfectly calibrated probabilities give slope ~1 and intercept ~0.
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, 20000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    slope, intercept = M.calibration_slope_intercept(y, p)
    assert slope == pytest.approx(1.0, abs=0.06) and intercept == pytest.approx(0.0, abs=0.05)
    assert M.auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    nb = M.decision_curve(y, p)
    assert nb["treat_all"][0] == pytest.approx(y.mean() - (1 - y.mean()) * 0.01 / 0.99, abs=1e-4)


def test_cli_models_list_and_predict(tmp_path, db_path, capsys):
    from engine.__main__ import main

    assert main(["models", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"name", "version", "features"} <= set(listed[0]) and {"name", "unit"} <= set(listed[0]["features"][0])
    good = tmp_path / "p.json"
    good.write_text(json.dumps({"age": 50, "glucose_ogtt_2h": 150, "bmi": 33.6}))
    assert main(["predict", "--model", "diabetes_pima", "--input", str(good)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 < out["probability"] < 1 and len(out["interval"]) == 2 and isinstance(out["warnings"], list)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"bmi": 900}))
    assert main(["predict", "--model", "diabetes_pima", "--input", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bmi" in err and "kg/m2" in err


def test_train_on_imported_dataset_with_site_split_and_tree_explainer(seeded_db, models_copy):
    """A gradient-boosting model trained from the store's frame: TreeExplainer additivity and the registry."""
    from engine.frames import dataset_frame
    from engine.models.train import train_on_dataset

    frame = dataset_frame(seeded_db, "uci_heart")
    bundle, card = train_on_dataset(
        frame, dataset={"name": "uci_heart"}, name="cad_store", title="CAD from store", outcome="condition_I25.10",
        features=["age", "sex", "chest_pain_type", "systolic_bp", "max_heart_rate", "exercise_angina"],
        split=Split("site", "uci_site", ("VA Long Beach",)), version="1.0.0", username="ana",
        learners=("gradient_boosting",), n_members=5, n_boot=100)  # reduced: the design is the point here
    assert card["learner"] == "gradient_boosting"
    assert card["validation"]["internal"]["metrics"]["n"]["value"] == 200  # the VA Long Beach patients
    registry.write_bundle(bundle, card)
    result = predict_record("cad_store", {"age": 60, "sex": "male", "chest_pain_type": "asymptomatic",
                                          "systolic_bp": 140, "max_heart_rate": 120, "exercise_angina": 1})
    total = result["base_value"] + sum(c["contribution"] for c in result["contributions"])
    assert total == pytest.approx(result["logit"], abs=1e-4)
    assert registry.next_version("cad_store") == "1.1.0"
    with pytest.raises(InputError, match="model name"):
        registry.write_bundle(bundle, {**card, "name": "../escape"})
    with pytest.raises(InputError, match="0/1"):
        train_on_dataset(frame, dataset={"name": "uci_heart"}, name="x", title="x", outcome="systolic_bp",
                         features=["age"], split=Split(), version="1.0.0", username="ana")


def test_edited_card_is_refused(models_copy, db_path):
    """Lowering a plausibility limit or the threshold by editing card.json must not pass silently."""
    path = models_copy / "diabetes_pima" / "1.0.0" / "card.json"
    card = json.loads(path.read_text())
    card["threshold"] = 0.01
    path.write_text(json.dumps(card))
    with pytest.raises(ModelUnavailableError, match="card"):
        predict_record("diabetes_pima", {"bmi": 30})


def test_time_split_holds_out_the_latest_rows():
    # Synthetic frame (edge case: a date column); the latest quarter must be the validation part.
    import pandas as pd

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"when": pd.date_range("2020-01-01", periods=200, freq="D").astype(str),
                       "outcome": rng.integers(0, 2, 200)})
    train, test = split_rows(df, Split("time", "when"), seed=0)
    assert test.sum() == 50 and df.loc[test, "when"].min() > df.loc[train, "when"].max()
    with pytest.raises(InputError, match="site column"):
        split_rows(df, Split("site", None), seed=0)
