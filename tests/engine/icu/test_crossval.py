"""Cross-fitted calibration and threshold, on synthetic scores whose true risks are known."""
from __future__ import annotations

import numpy as np

from engine.icu.crossval import blend, cross_fit_alerts, fold_ids, honest_figures
from engine.icu.metrics import threshold_equal_se_ppv


def test_cross_fitted_calibration_repairs_a_miscalibrated_score():
    """Synthetic: true risks known; a score that doubles the odds is mapped back, fold by fold."""
    rng = np.random.default_rng(0)
    true = rng.beta(1, 6, 6000)
    y = (rng.uniform(size=true.size) < true).astype(int)
    odds = 2 * true / (1 - true)
    raw = odds / (1 + odds)
    folds = fold_ids(y)
    for kind in ("platt", "beta"):
        figures, risk = honest_figures(raw, y, folds, kind, n_boot=50)
        assert abs(risk.mean() - y.mean()) < 0.01
        assert abs(figures["calibration_slope"] - 1) < 0.15 and abs(figures["calibration_intercept"]) < 0.15


def test_alerts_use_thresholds_fitted_on_the_other_folds():
    rng = np.random.default_rng(1)
    y = (rng.uniform(size=2000) < 0.15).astype(int)
    risk = np.clip(0.15 + 0.3 * (y - 0.15) + rng.normal(0, 0.15, y.size), 0.001, 0.999)
    folds = fold_ids(y)
    alert = cross_fit_alerts(risk, y, folds)
    for k in range(5):
        te = folds == k
        assert (alert[te] == (risk[te] >= threshold_equal_se_ppv(y[~te], risk[~te]))).all()


def test_blend_averages_on_the_logit_scale():
    assert blend([np.array([0.5]), np.array([0.5])])[0] == 0.5
    assert np.isclose(blend([np.array([0.2]), np.array([0.8])])[0], 0.5)
