"""The challenge scores, against independent computations written out by hand in the test."""
from __future__ import annotations

import numpy as np
import pytest

from engine.icu.metrics import event1, evaluate_predictions, lemeshow_h, threshold_equal_se_ppv


def test_event1_is_min_of_sensitivity_and_ppv():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    alert = np.array([1, 1, 1, 0, 1, 1, 1, 0, 0, 0])
    out = event1(y, alert)
    assert out["sensitivity"] == 0.75 and out["ppv"] == 0.5 and out["event1"] == 0.5


def test_lemeshow_h_matches_a_loop_written_from_lemeshow_m():
    rng = np.random.default_rng(3)
    risk = rng.uniform(0.01, 0.9, 4003)  # 4003: the last 3 (highest) fall outside the ten bins, as in lemeshow.m
    y = (rng.uniform(size=4003) < risk * 0.8).astype(int)
    order = np.argsort(risk)
    ys, ps = y[order], risk[order]
    m = 400
    total, cents = 0.0, []
    for d in range(10):
        obs = ys[d * m:(d + 1) * m].sum()
        c = ps[d * m:(d + 1) * m].mean()
        cents.append(c)
        total += (obs - m * c) ** 2 / (m * c * (1 - c) + 0.001)
    assert np.isclose(lemeshow_h(y, risk), total / (cents[-1] - cents[0]), rtol=1e-12)


def test_perfectly_calibrated_risk_has_small_h():
    rng = np.random.default_rng(0)
    risk = rng.beta(1, 6, 40000)
    y = (rng.uniform(size=risk.size) < risk).astype(int)
    # H is about chi2(10) divided by the decile spread (~0.3 here): tens, not hundreds
    assert lemeshow_h(y, risk) < 100
    assert lemeshow_h(y, np.clip(risk * 2, 0, 0.99)) > 10 * lemeshow_h(y, risk)


def test_threshold_rule_picks_best_min_se_ppv_and_lowest_on_ties():
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    risk = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    # top-2: Se 2/3, PPV 1 -> 0.667; top-4: Se 1, PPV 0.75 -> 0.75 (best)
    assert threshold_equal_se_ppv(y, risk) == 0.6


def test_evaluate_json_has_the_contract_keys():
    rng = np.random.default_rng(1)
    risk = rng.uniform(0.01, 0.6, 500)
    y = (rng.uniform(size=500) < risk).astype(int)
    out = evaluate_predictions(y, risk, (risk > 0.3).astype(int), n_boot=50)
    assert {"n", "auroc", "auroc_ci", "event1", "h", "calibration_slope", "calibration_intercept"} <= set(out)
    assert out["auroc_ci"][0] <= out["auroc"] <= out["auroc_ci"][1]


def test_a_set_with_one_outcome_only_is_refused_with_a_reason():
    """A handful of stays that all survived (or all died) has no AUROC or H: say so, do not crash."""
    from engine.errors import InputError

    with pytest.raises(InputError, match="all survivors"):
        evaluate_predictions(np.zeros(5), np.full(5, 0.1), np.zeros(5))
    with pytest.raises(InputError, match="all deaths"):
        evaluate_predictions(np.ones(3), np.full(3, 0.9), np.ones(3))
