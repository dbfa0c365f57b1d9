"""Training on a small slice of set A, the bundle's integrity check, and the CLI contracts.

Skipped with a reason when ../shared/data/physionet2012 is absent (the repository never holds it).
"""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine.config import get_settings

DATA = get_settings().icu_data_dir
pytestmark = pytest.mark.skipif(not (DATA / "set-a").is_dir(), reason="PhysioNet 2012 set A is not at "
                                f"{DATA} (set CLINSIGHT_ICU_DATA)")


@pytest.fixture(scope="module")
def slice_dir(tmp_path_factory) -> Path:
    """The first 300 stays of set A with their outcomes: a small training set (real data)."""
    root = tmp_path_factory.mktemp("icu")
    (root / "set-a").mkdir()
    for path in sorted((DATA / "set-a").glob("*.txt"))[:300]:
        shutil.copy(path, root / "set-a" / path.name)
    shutil.copy(DATA / "Outcomes-a.txt", root / "Outcomes-a.txt")
    return root


@pytest.fixture(scope="module")
def trained(slice_dir, tmp_path_factory) -> Path:
    models = tmp_path_factory.mktemp("models")
    mp = pytest.MonkeyPatch()
    mp.setenv("CLINSIGHT_MODELS", str(models))
    from engine.icu.bundle import load_model
    from engine.icu.train import train_and_write

    load_model.cache_clear()
    card = train_and_write(slice_dir, version="0.0.1")
    yield models, card
    load_model.cache_clear()
    mp.undo()


def test_training_on_a_slice_writes_a_calibrated_card(trained):
    _models, card = trained
    cv = card["metrics"]["cv"]
    assert cv["n"] == 300 and 0.65 < cv["auroc"] < 1.0  # real signal even on 400 stays
    assert cv["auroc_ci"][0] < cv["auroc"] < cv["auroc_ci"][1]
    # calibration and threshold are cross-fitted, so these are out-of-fold figures, not 1 and 0 by construction
    assert cv["calibration"] == card["calibration"]["kind"] and 0.4 < cv["calibration_slope"] < 2.5
    assert set(card["metrics"]["calibration_choice"]) == {"platt", "beta", "isotonic"}
    assert 0 < card["threshold"] < 1 and "ICUType" not in card["features"]  # absent in set A: not used


def test_training_calibrates_each_hour_and_keeps_the_48_hour_risk(trained):
    """Round 3 of engine/icu/protocol.md: a calibrator per hour of the stay, the 48-hour one the model's own."""
    _models, card = trained
    hours = [c["hour"] for c in card["hour_calibration"]]
    assert hours == [6.0, 12.0, 18.0, 24.0, 30.0, 36.0, 42.0, 48.0]
    last = {k: v for k, v in card["hour_calibration"][-1].items() if k != "hour"}
    assert last == card["calibration"]
    by_hour = {r["hour"]: r for r in card["metrics"]["by_hour"]["hours"]}
    assert by_hour[48.0]["auroc"] == card["metrics"]["cv"]["auroc"]  # the 48-hour row is the card's figure
    before = {r["hour"]: r for r in card["metrics"]["by_hour"]["with_48h_calibrator"]}
    assert before[48.0] == by_hour[48.0]
    assert by_hour[6.0]["auroc"] < by_hour[48.0]["auroc"]  # fewer hours of data, less to go on


def _cli(*args, env_models: Path) -> subprocess.CompletedProcess:
    """``python -m engine icu ...`` in this process (the same parser; no interpreter start-up per call)."""
    import contextlib
    import io

    from engine.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.setenv("CLINSIGHT_MODELS", str(env_models))
        code = main(["icu", *args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def test_predict_and_evaluate_contracts(trained, slice_dir, tmp_path):
    models, card = trained
    records = tmp_path / "records"
    records.mkdir()
    for path in sorted((slice_dir / "set-a").glob("*.txt"))[:60]:
        shutil.copy(path, records / path.name)
    out = tmp_path / "pred.csv"
    done = _cli("predict", "--records", str(records), "--out", str(out), env_models=models)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["RecordID", "risk", "alert"] and len(rows) == 60
    risks = np.array([float(r["risk"]) for r in rows])
    alerts = np.array([int(r["alert"]) for r in rows])
    assert ((risks >= 0) & (risks <= 1)).all()
    assert (alerts == (risks >= card["threshold"]).astype(int)).all()
    done = _cli("evaluate", "--records", str(records), "--outcomes", str(slice_dir / "Outcomes-a.txt"),
                "--n-boot", "100", env_models=models)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["n"] == 60 and {"auroc", "auroc_ci", "event1", "h", "calibration_slope",
                                  "calibration_intercept"} <= set(result)


def test_tampered_weights_are_refused(trained):
    from engine.errors import ModelUnavailableError
    from engine.icu.bundle import bundle_dir, load_model

    models, _card = trained
    folder = bundle_dir("0.0.1")
    weights = folder / "model.skops"
    original = weights.read_bytes()
    try:
        weights.write_bytes(original[:-10] + b"0123456789")
        load_model.cache_clear()
        with pytest.raises(ModelUnavailableError, match="integrity"):
            load_model("0.0.1")
    finally:
        weights.write_bytes(original)
        load_model.cache_clear()


def test_bad_records_folder_is_one_sentence(tmp_path, trained):
    models, _ = trained
    done = _cli("predict", "--records", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.csv"), env_models=models)
    assert done.returncode == 2 and done.stderr.strip().startswith("error:") and "Traceback" not in done.stderr


def test_per_hour_figures_refuse_stays_the_fold_members_did_not_leave_out(trained, slice_dir):
    """The guard against a leak: figures by hour are out-of-fold only on the stays, in the order, that the fold
    members were trained on. Other stays, or the same stays reordered (so member k scores stays it trained on),
    are refused with a message instead of flattering figures."""
    from engine.errors import InputError
    from engine.icu.bundle import load_model
    from engine.icu.horizons import horizon_figures
    from engine.icu.train import load_training_set

    stays, y, _report = load_training_set(slice_dir)
    model, card = load_model("0.0.1")
    rows = horizon_figures(stays, y, model, card, hours=(12.0, 48.0), n_boot=50)["hours"]
    assert [r["hour"] for r in rows] == [12.0, 48.0] and rows[1]["auroc"] == card["metrics"]["cv"]["auroc"]
    with pytest.raises(InputError, match="calibrated at hours 6, 12, 18"):  # 10 h is interpolated, not fitted
        horizon_figures(stays, y, model, card, hours=(10.0, 48.0), n_boot=50)
    with pytest.raises(InputError, match="not the 300"):
        horizon_figures(stays[:250], y[:250], model, card, n_boot=50)
    order = np.random.default_rng(0).permutation(len(y))
    with pytest.raises(InputError, match="not the card's fold members"):
        horizon_figures([stays[i] for i in order], y[order], model, card, n_boot=50)
