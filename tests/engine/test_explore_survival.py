"""Survival against independent references: the log-rank chi-square from its textbook formula and
published values (larynx, Klein & Moeschberger; GBSG2, R survdiff), Kaplan-Meier by the product-limit
formula, Cox hazard ratios against statsmodels' PHReg."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_gbsg2, load_larynx

from engine.errors import InputError
from engine.stats.survival import fit_cox, fit_kaplan_meier, logrank_by_hand


@pytest.fixture(scope="module")
def larynx() -> pd.DataFrame:
    df = load_larynx()
    df["stage"] = 1 + df["Stage_II"] + 2 * df["Stage_III"] + 3 * df["Stage_IV"]
    return df


def test_logrank_larynx_matches_hand_formula_and_published(larynx):
    res = fit_kaplan_meier(larynx, "time", "death", "stage")
    chi2, df = logrank_by_hand(larynx["time"].to_numpy(), larynx["death"].to_numpy(), larynx["stage"].to_numpy())
    assert res.logrank["statistic"] == pytest.approx(chi2, rel=1e-9)
    assert res.logrank["df"] == df == 3
    assert res.logrank["statistic"] == pytest.approx(22.76, abs=0.005)   # Klein & Moeschberger, Example 7.4
    assert "log-rank" in res.methods


def test_logrank_gbsg2_hormone_therapy(tmp_path):
    g = load_gbsg2()
    res = fit_kaplan_meier(g, "time", "cens", "horTh")
    chi2, _ = logrank_by_hand(g["time"].to_numpy(), g["cens"].to_numpy(), g["horTh"].to_numpy())
    assert res.logrank["statistic"] == pytest.approx(chi2, rel=1e-9)
    assert res.logrank["statistic"] == pytest.approx(8.6, abs=0.05)       # R: survdiff(... ~ horTh), Chisq= 8.6
    assert res.logrank["p_value"] == pytest.approx(0.0034, abs=0.0001)


def test_kaplan_meier_product_limit_and_numbers_at_risk(larynx):
    res = fit_kaplan_meier(larynx, "time", "death", "stage")
    for curve in res.curves:
        sub = larynx[larynx["stage"] == int(curve.label)]
        t, e = sub["time"].to_numpy(), sub["death"].to_numpy()
        s = 1.0
        for u in np.unique(t[e == 1]):
            s *= 1 - ((t == u) & (e == 1)).sum() / (t >= u).sum()
            idx = np.searchsorted(curve.timeline, u)
            assert curve.survival[idx] == pytest.approx(s, rel=1e-9)
        assert curve.n == len(sub) and curve.events == int(e.sum())
        for point in res.at_risk.columns:
            assert res.at_risk.loc[curve.label, point] == int((t >= point).sum())
    summary = res.summary()
    assert list(summary.columns) == ["group", "n", "events", "median", "median_ci_low", "median_ci_high"]


def test_cox_hazard_ratios_match_statsmodels_phreg(larynx):
    from statsmodels.duration.hazard_regression import PHReg

    res = fit_cox(larynx, "time", "death", ["age", "stage"], categorical=["stage"])
    x = larynx[["age", "Stage_II", "Stage_III", "Stage_IV"]].to_numpy(dtype=float)
    ref = PHReg(larynx["time"].to_numpy(), x, status=larynx["death"].to_numpy(), ties="efron").fit()
    hr = res.hazard_ratios.set_index("term")
    ours = hr.loc[["age", "stage[2]", "stage[3]", "stage[4]"]]
    assert np.allclose(ours["coef"], ref.params, rtol=1e-6)
    assert np.allclose(ours["hr"], np.exp(ref.params), rtol=1e-6)
    assert np.allclose(ours["se"], ref.bse, rtol=1e-5)
    assert res.events == int(larynx["death"].sum()) and 0.5 < res.concordance < 1
    assert set(res.ph_test["term"]) == set(hr.index)
    assert "Efron" in res.methods


def test_cox_flags_proportional_hazards_violation():
    g = load_gbsg2()
    res = fit_cox(g, "time", "cens", ["horTh", "tsize", "pnodes", "progrec", "estrec", "tgrade"],
                  categorical=["horTh", "tgrade"])
    # In GBSG2 the effect of progesterone receptors fades with time (Sauerbrei & Royston 1999).
    assert any("Proportional-hazards assumption doubtful" in c for c in res.caveats)


def test_survival_input_errors(larynx):
    with pytest.raises(InputError, match="0 \\(censored\\) or 1"):
        fit_kaplan_meier(larynx.assign(death=larynx["death"] * 2), "time", "death")
    with pytest.raises(InputError, match="negative"):
        fit_kaplan_meier(larynx.assign(time=-larynx["time"]), "time", "death")
    with pytest.raises(InputError, match="at least one covariate"):
        fit_cox(larynx, "time", "death", [])


def test_heart_failure_records_from_the_store(seeded_db):
    from engine.frames import dataset_frame

    frame = dataset_frame(seeded_db, "heart_failure")
    res = fit_kaplan_meier(frame, "follow_up_days", "death_event")
    assert res.curves[0].n == 299 and res.curves[0].events == 96
    assert res.logrank is None
