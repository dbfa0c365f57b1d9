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

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


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
    ours = hr.loc[["age", "stage: 2 vs 1", "stage: 3 vs 1", "stage: 4 vs 1"]]   # readable, reference named
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


def test_median_not_reached_reads_not_reached(seeded_db):
    """Issue 12: a median the curve never reaches printed "Infinity". Reference: the product-limit
    estimate itself (S(t) at the last time stays above 0.5, so no median exists)."""
    from engine.frames import dataset_frame

    frame = dataset_frame(seeded_db, "heart_failure")
    res = fit_kaplan_meier(frame, "follow_up_days", "death_event", "sex")
    summary = res.summary().set_index("group")
    for curve in res.curves:
        assert curve.survival.min() > 0.5                     # by the estimate: the median is not reached
        assert summary.loc[curve.label, "median"] == "not reached"
        assert summary.loc[curve.label, "median_ci_high"] == "not reached"
    assert "inf" not in summary.to_csv().lower()
    # A median that is reached is printed as a number (larynx: the product limit crosses 0.5).
    larynx = load_larynx()
    reached = fit_kaplan_meier(larynx, "time", "death").summary()
    curve = fit_kaplan_meier(larynx, "time", "death").curves[0]
    first_below = curve.timeline[np.argmax(curve.survival <= 0.5)]
    assert float(reached["median"].iloc[0]) == pytest.approx(first_below)


def test_ages_over_89_are_analysed_not_dropped(seeded_db):
    """Issue 12: six heart-failure patients are stored as "90+" (age NULL, HIPAA Safe Harbor); Cox left
    them out silently. The analysis frame codes them as 90 with a flag and says so; the store is unchanged."""
    from engine.frames import dataset_frame
    from engine.stats.cohort import CohortSpec, build_cohort

    stored = dataset_frame(seeded_db, "heart_failure")
    over = stored["age_group"].eq("90+")
    assert int(over.sum()) == 6 and stored.loc[over, "age"].isna().all()
    cohort = build_cohort(seeded_db, CohortSpec("heart_failure"))
    assert cohort.frame.loc[over, "age"].eq(90).all() and cohort.frame["age_90_or_older"].sum() == 6
    assert cohort.frame.loc[over, "age_group"].eq("90+").all()           # displayed / exported as "90+"
    assert any("6 patients aged 90 or older" in note for note in cohort.notes)
    cox = fit_cox(cohort.frame, "follow_up_days", "death_event", ["age", "ejection_fraction"])
    assert cox.n == 299 and cox.n_dropped == 0
    # Without top-coding the same model loses them, and says how many.
    cox_stored = fit_cox(stored, "follow_up_days", "death_event", ["age", "ejection_fraction"])
    assert cox_stored.n == 293 and any("6 rows with a missing" in c for c in cox_stored.caveats)
    # Safe Harbor: the store still holds no age above 89.
    assert seeded_db.conn.execute("SELECT COUNT(*) FROM patients WHERE age > 89").fetchone()[0] == 0
