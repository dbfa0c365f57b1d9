"""Regression against hand computations: least squares by numpy, logistic and Poisson by a
hand-written Newton-Raphson (IRLS), VIF from auxiliary regressions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.demo_data import load_pima
from engine.errors import InputError
from engine.stats.regression import build_formula, fit_regression


@pytest.fixture(scope="module")
def pima() -> pd.DataFrame:
    return load_pima()


def _design(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    return np.column_stack([np.ones(len(frame))] + [frame[c].to_numpy(dtype=float) for c in cols])


def _newton(x: np.ndarray, y: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    beta = np.zeros(x.shape[1])
    for _ in range(100):
        eta = x @ beta
        mu = 1 / (1 + np.exp(-eta)) if kind == "logistic" else np.exp(eta)
        w = mu * (1 - mu) if kind == "logistic" else mu
        hessian = x.T @ (x * w[:, None])
        step = np.linalg.solve(hessian, x.T @ (y - mu))
        beta = beta + step
        if np.abs(step).max() < 1e-12:
            break
    return beta, np.sqrt(np.diag(np.linalg.inv(hessian)))


def test_linear_matches_least_squares(pima):
    res = fit_regression(pima, "Glucose ~ BMI + Age", "linear")
    data = pima[["Glucose", "BMI", "Age"]].dropna()
    x, y = _design(data, ["BMI", "Age"]), data["Glucose"].to_numpy()
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    sigma2 = resid @ resid / (len(y) - 3)
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(x.T @ x)))
    assert np.allclose(res.coefficients["estimate"], beta, rtol=1e-9)
    assert np.allclose(res.coefficients["std_error"], se, rtol=1e-9)
    half = stats.t.ppf(0.975, len(y) - 3) * se
    assert np.allclose(res.coefficients["ci_low"], beta - half, rtol=1e-9)
    assert res.fit["r_squared"] == pytest.approx(1 - resid @ resid / ((y - y.mean()) ** 2).sum(), rel=1e-9)
    assert res.n == len(data) and res.n_dropped == len(pima) - len(data)
    assert np.allclose(res.residuals["residual"], resid, atol=1e-8)


def test_logistic_odds_ratios_match_hand_newton(pima):
    res = fit_regression(pima, "Outcome ~ Glucose + BMI + Age", "logistic")
    data = pima[["Outcome", "Glucose", "BMI", "Age"]].dropna()
    beta, se = _newton(_design(data, ["Glucose", "BMI", "Age"]), data["Outcome"].to_numpy(dtype=float), "logistic")
    assert np.allclose(res.coefficients["estimate"], beta, rtol=1e-6)
    assert np.allclose(res.coefficients["std_error"], se, rtol=1e-6)
    z = 1.959963984540054
    assert np.allclose(res.coefficients["ratio"], np.exp(beta), rtol=1e-6)
    assert np.allclose(res.coefficients["ratio_ci_low"], np.exp(beta - z * se), rtol=1e-6)
    assert np.allclose(res.coefficients["ratio_ci_high"], np.exp(beta + z * se), rtol=1e-6)
    assert res.ratio_name == "odds ratio" and "odds ratios" in res.methods


def test_poisson_rate_ratios_and_overdispersion(pima):
    res = fit_regression(pima, "Pregnancies ~ Age", "poisson")
    beta, se = _newton(_design(pima, ["Age"]), pima["Pregnancies"].to_numpy(dtype=float), "poisson")
    assert np.allclose(res.coefficients["estimate"], beta, rtol=1e-6)
    assert np.allclose(res.coefficients["std_error"], se, rtol=1e-6)
    assert any("Overdispersion" in c for c in res.caveats)


def test_formula_builder_categoricals_interactions_and_vif(pima):
    frame = pima.assign(band=pd.cut(pima["Age"], [0, 30, 45, 120], right=False).astype(str),
                        **{"blood pressure": pima["BloodPressure"]})
    formula = build_formula("Outcome", ["Glucose", "band", "blood pressure"], categorical=["band"],
                            interactions=[("Glucose", "band")])
    assert formula == 'Outcome ~ Glucose + C(band) + Q("blood pressure") + Glucose:C(band)'
    res = fit_regression(frame, formula, "logistic")
    terms = list(res.coefficients["term"])
    # Issue 12: readable term names that name the reference level, and the reference in the methods.
    assert "band: [30, 45) vs [0, 30)" in terms and "Glucose × band: [45, 120) vs [0, 30)" in terms
    assert "blood pressure" in terms
    assert "Reference levels: band = [0, 30)." in res.methods
    # VIF by hand: regress each predictor on the others.
    data = pima[["Glucose", "BMI", "Age"]].dropna()
    vif = fit_regression(pima, "Outcome ~ Glucose + BMI + Age", "logistic").vif.set_index("term")["vif"]
    for col in ["Glucose", "BMI", "Age"]:
        others = [c for c in ["Glucose", "BMI", "Age"] if c != col]
        x, y = _design(data, others), data[col].to_numpy()
        beta, *_ = np.linalg.lstsq(x, y, rcond=None)
        r2 = 1 - ((y - x @ beta) ** 2).sum() / ((y - y.mean()) ** 2).sum()
        assert vif[col] == pytest.approx(1 / (1 - r2), rel=1e-9)


def test_clear_errors_and_caveats(pima):
    with pytest.raises(InputError, match="0/1"):
        fit_regression(pima, "Glucose ~ Age", "logistic")
    with pytest.raises(InputError, match="count"):
        fit_regression(pima, "BMI ~ Age", "poisson")
    with pytest.raises(InputError, match="no column"):
        fit_regression(pima, "Outcome ~ Nope", "linear")
    with pytest.raises(InputError, match="at least one predictor"):
        build_formula("Outcome", [])
    # Synthetic edge case: 30 rows, 3 events -> too few events per variable.
    small = pima.head(30).assign(Outcome=[1, 0, 0, 0, 0, 0, 0, 0, 0, 0] * 3)
    res = fit_regression(small, "Outcome ~ Glucose + BMI", "logistic")
    assert any("events per predictor" in c for c in res.caveats)
