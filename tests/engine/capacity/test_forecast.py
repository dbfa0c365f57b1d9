"""The census forecast against the exact M/G/infinity result, and the backtest on the labelled sample."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.capacity.admissions import read_admissions
from engine.capacity.arrivals import given_arrival_model
from engine.capacity.forecast import backtest_forecast, forecast_census, forecast_from_admissions
from engine.capacity.los import exponential_los
from engine.capacity.sample import SAMPLE_LABEL, sample_admissions_csv
from engine.errors import InputError
from engine.privacy import pseudonymiser


def test_census_from_empty_matches_the_poisson_law_of_an_infinite_server_unit():
    """Poisson arrivals (rate 4/day), exponential stays (mean 3 d), empty at the start: the census at time t is
    Poisson with mean 4 * 3 * (1 - exp(-t/3)) exactly (M/G/infinity). Compare the simulated bands with it."""
    model = given_arrival_model([4.0] * 7)
    out = forecast_census(model, exponential_los(3.0), start=pd.Timestamp("2026-01-05"), weeks=2, reps=2000, seed=5)
    t = np.arange(1, 15)
    mean = 12 * (1 - np.exp(-t / 3))
    assert np.array(out["census"]["mean"]) == pytest.approx(mean, abs=0.25)
    for name, q in (("p05", 0.05), ("p50", 0.5), ("p95", 0.95)):
        exact = stats.poisson.ppf(q, mean)
        assert np.max(np.abs(np.array(out["census"][name]) - exact)) <= 1, name
    assert out["census_now"] == 0 and len(out["days"]) == 14


def test_forecast_from_export_starts_from_the_patients_in_now():
    data = sample_admissions_csv(weeks=16)
    adm = read_admissions(data, units=None, pseudonymise=pseudonymiser("22" * 32), source=SAMPLE_LABEL)
    out = forecast_from_admissions(adm, "HDU", weeks=2, reps=60)
    assert out["source"] == SAMPLE_LABEL and out["census_now"] > 0
    c = out["census"]
    assert all(a <= b <= d for a, b, d in zip(c["p05"], c["p50"], c["p95"]))
    assert all(a <= b for a, b in zip(c["p25"], c["p75"]))
    assert out["arrivals"]["family"] in ("poisson", "negative binomial")
    with pytest.raises(InputError):
        forecast_from_admissions(adm, "HDU", weeks=40)


def test_backtest_reports_mae_for_model_and_seasonal_naive_on_the_labelled_sample():
    adm = read_admissions(sample_admissions_csv(), units=None, pseudonymise=pseudonymiser("22" * 32),
                          source=SAMPLE_LABEL)
    out = backtest_forecast(adm, "HDU", horizon_days=7, origins=4, reps=40)
    assert "SYNTHETIC" in out["source"]
    assert len(out["origins"]) == 4 and out["mae_model"] > 0 and out["mae_seasonal_naive"] > 0
    assert len(out["mae_by_horizon"]["model"]) == 7
    assert out["skill_vs_naive"] == pytest.approx(1 - out["mae_model"] / out["mae_seasonal_naive"], abs=1e-3)
