"""``python -m engine capacity forecast|beds|roster|sample``: one JSON object each, clear errors."""
from __future__ import annotations

import json

import pytest

from engine.__main__ import main

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


def _run(capsys, *argv) -> tuple[int, dict]:
    code = main(["capacity", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_sample_then_forecast_with_backtest(tmp_path, capsys, db_path):
    path = tmp_path / "adm.csv"
    code, out = _run(capsys, "sample", "--out", str(path), "--weeks", "16")
    assert code == 0 and "SYNTHETIC" in out["label"]
    code, out = _run(capsys, "forecast", "--admissions", str(path), "--unit", "HDU", "--weeks", "2", "--reps", "40",
                     "--backtest")
    assert code == 0
    f = out["forecasts"]["HDU"]
    assert len(f["days"]) == 14 and set(f["census"]) >= {"p05", "p25", "p50", "p75", "p95"}
    assert out["backtest"]["HDU"]["mae_seasonal_naive"] > 0
    assert "S0000" not in json.dumps(out)  # patient numbers never reach the output


def test_beds_from_parameters(capsys, db_path):
    code, out = _run(capsys, "beds", "--arrivals-per-day", "2", "--los", "exp:4", "--target", "0.05", "--no-simulate")
    assert code == 0 and out["beds"]["unit"]["recommended_beds"] == 13  # Erlang B(12, 8) = 0.0514 >= 0.05 > B(13, 8) = 0.0307


def test_roster_infeasible_says_why_and_exits_1(capsys, db_path):
    code, out = _run(capsys, "roster", "--census", "ICU=6", "--ratio", "ICU=2", "--nurses", "10", "--max-nights", "4")
    assert code == 1 and out["status"] == "infeasible"
    assert out["reasons"][0].startswith("10 nurses cannot cover 3 night shifts a day with at most 4 nights each")


def test_bad_input_is_one_sentence(capsys, db_path):
    assert main(["capacity", "forecast", "--arrivals", "1,2"]) == 2
    assert "seven numbers" in capsys.readouterr().err
