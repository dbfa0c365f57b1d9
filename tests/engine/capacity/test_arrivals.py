"""The arrival count model recovers a known weekday pattern and trend (synthetic counts, seeded)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.capacity.arrivals import fit_arrival_model, given_arrival_model, parse_weekday_rates
from engine.errors import InputError


def _counts(weeks: int, *, alpha: float = 0.0, seed: int = 0) -> tuple[pd.Series, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2026-01-05", periods=7 * weeks, freq="D")  # a Monday
    shape = np.array([6, 6, 5.5, 5.5, 5, 3, 2.5])
    trend = 0.01  # +1% a week on the log scale
    mu = shape[days.weekday] * np.exp(trend * np.arange(len(days)) / 7)
    if alpha:
        mu = rng.gamma(1 / alpha, alpha * mu)
    return pd.Series(rng.poisson(mu), index=days), shape, trend


def test_poisson_fit_recovers_weekdays_and_trend():
    counts, shape, trend = _counts(52)
    model = fit_arrival_model(counts)
    assert model.family == "poisson"
    assert model.params[-1] == pytest.approx(trend, abs=0.004)
    monday_week = pd.date_range("2026-01-05", periods=7, freq="D")
    assert model.expected(monday_week) == pytest.approx(shape, rel=0.12)


def test_overdispersed_counts_get_a_negative_binomial():
    counts, _, _ = _counts(52, alpha=0.3, seed=3)
    model = fit_arrival_model(counts)
    assert model.family == "negative binomial" and model.alpha == pytest.approx(0.3, abs=0.12)
    sims = model.sample_counts(np.random.default_rng(0), pd.date_range("2027-01-04", periods=7), 4000)
    assert sims.var(axis=0).mean() > 1.5 * sims.mean(axis=0).mean()


def test_given_rates_and_refusals():
    model = given_arrival_model(parse_weekday_rates("5,5,5,5,5,3,3"))
    sims = model.sample_counts(np.random.default_rng(0), pd.date_range("2026-01-05", periods=7), 20_000)
    assert sims.mean(axis=0) == pytest.approx([5, 5, 5, 5, 5, 3, 3], rel=0.03)
    assert parse_weekday_rates("4") == [4.0] * 7
    with pytest.raises(InputError):
        parse_weekday_rates("1,2")
    with pytest.raises(InputError, match="28"):
        fit_arrival_model(pd.Series([1] * 10, index=pd.date_range("2026-01-01", periods=10)))
