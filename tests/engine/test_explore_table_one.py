"""Table 1 of the Pima diabetes data by outcome, checked against independent computations:
pure-Python means/SDs (statistics module), numpy percentiles, scipy's tests called on the raw
groups, and the tableone package's SMDs."""
from __future__ import annotations

import statistics

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.demo_data import load_pima, load_uci_heart
from engine.errors import InputError
from engine.stats.table_one import compute_table_one

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

REL = 1e-9


@pytest.fixture(scope="module")
def pima() -> pd.DataFrame:
    return load_pima()


@pytest.fixture(scope="module")
def table(pima):
    cols = ["Pregnancies", "Glucose", "BloodPressure", "SkinThickness", "Insulin", "BMI",
            "DiabetesPedigreeFunction", "Age"]
    frame = pima.assign(AgeBand=pd.cut(pima["Age"], [0, 30, 40, 50, 120], right=False).astype(str))
    return compute_table_one(frame, cols + ["AgeBand"], "Outcome")


def _stat(result, var, group, key):
    s = result.stats
    return float(s[(s["variable"] == var) & (s["group"] == group)][key].iloc[0])


def test_means_sds_medians_match_hand_computation(pima, table):
    for var in ["Glucose", "BMI", "BloodPressure", "SkinThickness", "Insulin", "Age"]:
        for group in (0, 1):
            values = pima.loc[pima["Outcome"] == group, var].dropna().tolist()
            assert _stat(table, var, str(group), "n") == len(values)
            assert _stat(table, var, str(group), "mean") == pytest.approx(statistics.fmean(values), rel=REL)
            assert _stat(table, var, str(group), "sd") == pytest.approx(statistics.stdev(values), rel=REL)
            assert _stat(table, var, str(group), "median") == pytest.approx(statistics.median(values), rel=REL)
            q1, q3 = np.percentile(values, [25, 75])
            assert _stat(table, var, str(group), "q1") == pytest.approx(q1, rel=REL)
            assert _stat(table, var, str(group), "q3") == pytest.approx(q3, rel=REL)
        overall = pima[var].dropna().tolist()
        assert _stat(table, var, "Overall", "mean") == pytest.approx(statistics.fmean(overall), rel=REL)


def test_tests_are_chosen_by_distribution_and_match_scipy(pima, table):
    tests = table.tests.set_index("variable")
    # Glucose is roughly symmetric -> mean (SD) + Welch; Insulin and the pedigree score are skewed.
    assert tests.loc["Glucose", "summary"] == "mean (SD)" and tests.loc["Glucose", "test"] == "Welch t-test"
    assert tests.loc["Insulin", "summary"] == "median [IQR]" and tests.loc["Insulin", "test"] == "Mann-Whitney U"
    assert "skewed" in tests.loc["Insulin", "remarks"] and "far outlier" in tests.loc["Insulin", "remarks"]
    for var in tests.index[tests["kind"] == "continuous"]:
        a = pima.loc[pima["Outcome"] == 0, var].dropna()
        b = pima.loc[pima["Outcome"] == 1, var].dropna()
        if tests.loc[var, "test"] == "Welch t-test":
            ref = stats.ttest_ind(a, b, equal_var=False)
        else:
            ref = stats.mannwhitneyu(a, b, alternative="two-sided")
        assert tests.loc[var, "p_value"] == pytest.approx(ref.pvalue, rel=1e-6)
        assert tests.loc[var, "statistic"] == pytest.approx(ref.statistic, rel=1e-6)
    assert tests.loc["Insulin", "missing"] == int(pima["Insulin"].isna().sum()) == 374


def test_categorical_counts_chi_square_and_smd(pima, table):
    band = pd.cut(pima["Age"], [0, 30, 40, 50, 120], right=False).astype(str)
    ct = pd.crosstab(band, pima["Outcome"])
    s = table.stats[table.stats["variable"] == "AgeBand"]
    for lvl in ct.index:
        for g in (0, 1):
            row = s[(s["level"] == lvl) & (s["group"] == str(g))].iloc[0]
            assert row["count"] == ct.loc[lvl, g]
            assert row["percent"] == pytest.approx(100 * ct.loc[lvl, g] / ct[g].sum(), rel=REL)
    chi2, p, _, _ = stats.chi2_contingency(ct.to_numpy())
    t = table.tests.set_index("variable").loc["AgeBand"]
    assert t["test"] == "Chi-square" and t["p_value"] == pytest.approx(p, rel=1e-9)
    # SMDs against the tableone package (Yang & Dalton categorical; Cohen's d continuous).
    from tableone import TableOne

    frame = pima.assign(AgeBand=band)
    ref = TableOne(frame, columns=["Glucose", "AgeBand"], categorical=["AgeBand"], groupby="Outcome", smd=True,
                   pval=False)
    smd_col = [c for c in ref.tableone.columns if "SMD" in str(c[1])][0]
    ref_smd = ref.tableone[smd_col]
    glucose = float(ref_smd.loc[[i for i in ref_smd.index if i[0].startswith("Glucose")][0]])
    ageband = float(ref_smd.loc[[i for i in ref_smd.index if i[0].startswith("AgeBand")][0]])
    tests = table.tests.set_index("variable")
    assert tests.loc["Glucose", "smd"] == pytest.approx(abs(glucose), abs=1e-3)   # tableone rounds to 3 places
    assert tests.loc["AgeBand", "smd"] == pytest.approx(abs(ageband), abs=1e-3)


def test_fisher_for_sparse_2x2_and_anova_kruskal_for_more_groups():
    uci = load_uci_heart()
    sub = uci[uci["dataset"].isin(["Switzerland", "VA Long Beach"])]
    res = compute_table_one(sub, ["fbs", "age", "oldpeak"], "dataset", categorical=["fbs"])
    tests = res.tests.set_index("variable")
    ct = pd.crosstab(sub["fbs"], sub["dataset"]).to_numpy()
    if stats.contingency.expected_freq(ct).min() < 5:
        assert tests.loc["fbs", "test"] == "Fisher exact"
        assert tests.loc["fbs", "p_value"] == pytest.approx(stats.fisher_exact(ct).pvalue, rel=1e-9)
    res = compute_table_one(uci, ["age", "oldpeak"], "dataset")
    tests = res.tests.set_index("variable")
    groups = [g["age"].dropna() for _, g in uci.groupby("dataset")]
    assert tests.loc["age", "test"] == "One-way ANOVA"
    assert tests.loc["age", "p_value"] == pytest.approx(stats.f_oneway(*groups).pvalue, rel=1e-6)
    assert tests.loc["age", "statistic"] == pytest.approx(stats.f_oneway(*groups).statistic, rel=1e-9)
    groups = [g["oldpeak"].dropna() for _, g in uci.groupby("dataset")]
    assert tests.loc["oldpeak", "test"] == "Kruskal-Wallis"
    assert tests.loc["oldpeak", "p_value"] == pytest.approx(stats.kruskal(*groups).pvalue, rel=1e-6)


def test_overrides_display_export_and_caveats(pima):
    res = compute_table_one(pima, ["Glucose", "Insulin"], "Outcome", nonnormal=["Glucose"], normal=["Insulin"])
    tests = res.tests.set_index("variable")
    assert tests.loc["Glucose", "test"] == "Mann-Whitney U" and tests.loc["Insulin", "test"] == "Welch t-test"
    assert list(res.table.columns) == ["Variable", "Level", "Missing", "Overall", "0", "1", "P-value", "Test",
                                       "SMD", "Remarks"]
    assert res.table.iloc[0]["Overall"] == "768" and res.table.iloc[0]["1"] == "268"
    csv = res.to_csv()
    assert csv.splitlines()[0].startswith("Variable,Level,Missing,Overall,0,1,P-value")
    html = res.to_html()
    assert "<table" in html and "Mann-Whitney U" in html and "median [IQR]" in html
    # Synthetic edge case: a tiny group gets a small-n caveat.
    small = pima.head(40).assign(Outcome=[0] * 35 + [1] * 5)
    assert any("Small group" in c for c in compute_table_one(small, ["Glucose"], "Outcome").caveats)
    with pytest.raises(InputError):
        compute_table_one(pima, ["Glucose"], "Glucose")
    with pytest.raises(InputError, match="fewer than two groups"):
        compute_table_one(pima.assign(one=1), ["Glucose"], "one")
    overall_only = compute_table_one(pima, ["Glucose", "Outcome"])
    assert "P-value" not in overall_only.table.columns


def test_seeded_store_frame_gives_the_same_table(seeded_db, pima):
    from engine.frames import dataset_frame

    frame = dataset_frame(seeded_db, "pima_diabetes")
    res = compute_table_one(frame, ["glucose_ogtt_2h"], "condition_E11")
    # condition_* columns carry the vocabulary's value labels (issue 12): "1 (yes)", not "1".
    assert _stat(res, "glucose_ogtt_2h", "1 (yes)", "mean") == pytest.approx(
        pima.loc[pima["Outcome"] == 1, "Glucose"].mean(), rel=REL)


def test_group_without_values_is_left_out_of_the_test():
    uci = load_uci_heart()
    # In this copy Switzerland recorded no cholesterol: the test runs on the other three sites.
    res = compute_table_one(uci, ["chol"], "dataset", nonnormal=["chol"])
    row = res.tests.set_index("variable").loc["chol"]
    groups = [g["chol"].dropna() for _, g in uci.groupby("dataset") if g["chol"].notna().sum() >= 2]
    assert len(groups) == 3 and row["test"] == "Kruskal-Wallis"
    assert row["p_value"] == pytest.approx(stats.kruskal(*groups).pvalue, rel=1e-9)
    assert "Switzerland left out of the test" in row["remarks"]
