"""Hypothesis tests against hand formulas, scipy called another way, and statsmodels."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.demo_data import load_pima, load_uci_heart
from engine.errors import InputError
from engine.stats import tests as T


@pytest.fixture(scope="module")
def pima() -> pd.DataFrame:
    return load_pima()


def test_welch_difference_ci_and_hedges_g_by_hand(pima):
    res = T.compare_two_groups(pima, "Glucose", "Outcome", test="welch")
    a = pima.loc[pima.Outcome == 0, "Glucose"].dropna().to_numpy()
    b = pima.loc[pima.Outcome == 1, "Glucose"].dropna().to_numpy()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    diff = b.mean() - a.mean()
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert res.estimate == pytest.approx(diff, rel=1e-9)
    assert res.ci_low == pytest.approx(diff - half, rel=1e-9) and res.ci_high == pytest.approx(diff + half, rel=1e-9)
    assert res.df == pytest.approx(df, rel=1e-9)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(diff / math.sqrt(va + vb)), df), rel=1e-6)
    sp = math.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    g = (diff / sp) * (1 - 3 / (4 * (len(a) + len(b)) - 9))
    assert res.effect == pytest.approx(g, rel=1e-9)
    assert res.n == {"0": len(a), "1": len(b)}
    assert "Shapiro-Wilk" in res.methods


def test_auto_recommends_mann_whitney_for_skewed_data(pima):
    res = T.compare_two_groups(pima, "Insulin", "Outcome")
    assert res.test == "Mann-Whitney U" and res.recommended == "Mann-Whitney U"
    forced = T.compare_two_groups(pima, "Insulin", "Outcome", test="welch")
    assert forced.test == "Welch t-test" and any("Mann-Whitney U is recommended" in c for c in forced.caveats)
    a = pima.loc[pima.Outcome == 0, "Insulin"].dropna().to_numpy()
    b = pima.loc[pima.Outcome == 1, "Insulin"].dropna().to_numpy()
    u = stats.mannwhitneyu(b, a, alternative="two-sided")
    assert res.p_value == pytest.approx(u.pvalue, rel=1e-9)
    # rank-biserial from ranks by hand: U_b = R_b - n_b(n_b+1)/2
    ranks = stats.rankdata(np.concatenate([a, b]))
    u_b = ranks[len(a):].sum() - len(b) * (len(b) + 1) / 2
    assert res.effect == pytest.approx(2 * u_b / (len(a) * len(b)) - 1, rel=1e-9)
    assert res.estimate == pytest.approx(np.median(np.subtract.outer(b, a)), rel=1e-9)


def test_small_skewed_groups_are_flagged():
    # Synthetic edge case: small lognormal samples (Shapiro rejects) with unequal spread.
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"v": np.concatenate([rng.lognormal(0, 1.2, 15), rng.lognormal(0.8, 1.2, 15)]),
                          "g": ["a"] * 15 + ["b"] * 15})
    res = T.compare_two_groups(frame, "v", "g", test="student")
    assert res.recommended == "Mann-Whitney U"
    assert any("Small groups" in c for c in res.caveats)


def test_hodges_lehmann_ci_matches_brute_force():
    x = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
    y = np.array([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])
    est, low, high = T.hodges_lehmann(x, y)
    d = np.sort([xi - yj for xi in x for yj in y])
    k = int(np.floor(81 / 2 - 1.959963984540054 * math.sqrt(81 * 19 / 12)))
    assert est == pytest.approx(float(np.median(d))) and low == d[k] and high == d[80 - k]


def test_anova_eta_squared_and_kruskal(pima):
    frame = pima.assign(band=pd.cut(pima["Age"], [0, 30, 40, 120], right=False).astype(str))
    res = T.compare_k_groups(frame, "BMI", "band", test="anova")
    groups = [g["BMI"].dropna().to_numpy() for _, g in frame.groupby("band")]
    ref = stats.f_oneway(*groups)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-9) and res.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    allv = np.concatenate(groups)
    eta2 = sum(len(g) * (g.mean() - allv.mean()) ** 2 for g in groups) / ((allv - allv.mean()) ** 2).sum()
    assert res.effect == pytest.approx(eta2, rel=1e-9)
    assert res.ci_low < eta2 < res.ci_high
    kw = T.compare_k_groups(frame, "Insulin", "band", test="kruskal")
    ref = stats.kruskal(*[g["Insulin"].dropna() for _, g in frame.groupby("band")])
    assert kw.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    welch = T.compare_k_groups(frame, "BMI", "band", test="welch-anova")
    # Welch's ANOVA by hand (Welch 1951).
    n = np.array([len(g) for g in groups]); m = np.array([g.mean() for g in groups])
    w = n / np.array([g.var(ddof=1) for g in groups]); mw = (w * m).sum() / w.sum(); k = len(groups)
    lam = ((1 - w / w.sum()) ** 2 / (n - 1)).sum()
    f = ((w * (m - mw) ** 2).sum() / (k - 1)) / (1 + 2 * (k - 2) / (k ** 2 - 1) * lam)
    assert welch.statistic == pytest.approx(f, rel=1e-9)
    with pytest.raises(InputError):
        T.compare_two_groups(frame, "BMI", "band")


def test_association_chi_square_fisher_and_odds_ratio():
    uci = load_uci_heart()
    res = T.test_association(uci, "sex", "exang")
    ct = pd.crosstab(uci["sex"], uci["exang"]).to_numpy()
    assert res.test == "Chi-square"
    assert res.p_value == pytest.approx(stats.chi2_contingency(ct).pvalue, rel=1e-9)
    or_hand = ct[0, 0] * ct[1, 1] / (ct[0, 1] * ct[1, 0])
    se = math.sqrt((1 / ct).sum())
    assert res.estimate == pytest.approx(or_hand, rel=1e-9)
    assert res.ci_low == pytest.approx(math.exp(math.log(or_hand) - 1.959963984540054 * se), rel=1e-6)
    v = math.sqrt(stats.chi2_contingency(ct, correction=False).statistic / ct.sum())
    assert res.effect == pytest.approx(v, rel=1e-9)
    # Synthetic edge case: a sparse 2x2 switches to Fisher's exact test.
    sparse = pd.DataFrame({"a": ["x"] * 6 + ["y"] * 6, "b": [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0]})
    res = T.test_association(sparse, "a", "b")
    assert res.test == "Fisher exact"
    assert res.p_value == pytest.approx(stats.fisher_exact(pd.crosstab(sparse.a, sparse.b).to_numpy()).pvalue)


def test_correlations_with_fisher_z_ci(pima):
    res = T.correlate(pima, "BMI", "SkinThickness", "pearson")
    sub = pima[["BMI", "SkinThickness"]].dropna()
    r = np.corrcoef(sub.BMI, sub.SkinThickness)[0, 1]
    z, se = math.atanh(r), 1 / math.sqrt(len(sub) - 3)
    assert res.statistic == pytest.approx(r, rel=1e-9)
    assert res.ci_low == pytest.approx(math.tanh(z - 1.959963984540054 * se), rel=1e-6)
    assert res.ci_high == pytest.approx(math.tanh(z + 1.959963984540054 * se), rel=1e-6)
    sp = T.correlate(pima, "BMI", "SkinThickness", "spearman")
    assert sp.statistic == pytest.approx(stats.spearmanr(sub.BMI, sub.SkinThickness).statistic, rel=1e-9)
    r_m, p_m, n_m = T.correlation_matrix(pima, ["BMI", "SkinThickness", "Age"], "pearson")
    assert r_m.loc["BMI", "SkinThickness"] == pytest.approx(r, rel=1e-9)
    assert p_m.loc["BMI", "SkinThickness"] == pytest.approx(stats.pearsonr(sub.BMI, sub.SkinThickness).pvalue,
                                                            rel=1e-6)
    assert n_m.loc["BMI", "SkinThickness"] == len(sub)


def test_multiple_comparison_corrections_match_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2, 0.04, 0.9])
    for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
        assert np.allclose(T.adjust_pvalues(p, ours), multipletests(p, method=theirs)[1], rtol=1e-12)
    with pytest.raises(InputError):
        T.adjust_pvalues(p, "bonferroni-ish")


def test_run_tests_adjusts_and_tabulates(pima):
    results, table = T.run_tests(pima, ["Glucose", "BMI", "Insulin"], "Outcome", correction="bh")
    raw = [r.p_value for r in results]
    assert np.allclose(table["p_adjusted"], T.adjust_pvalues(raw, "bh"))
    assert "Benjamini-Hochberg" in results[0].methods
    assert table["test"].iloc[0] == "Welch t-test" and table["test"].iloc[2] == "Mann-Whitney U"


def _ncf_cdf_by_series(f: float, df1: int, df2: int, lam: float) -> float:
    """Noncentral F CDF as a Poisson mixture of regularized incomplete betas (Johnson, Kotz &
    Balakrishnan, Continuous Univariate Distributions 2, ch. 30): an independent route from
    scipy.stats.ncf, which the engine uses."""
    from scipy.special import betainc

    x = df1 * f / (df1 * f + df2)
    half = lam / 2
    total, j = 0.0, 0
    while True:
        weight = math.exp(-half + j * math.log(half) - math.lgamma(j + 1)) if half > 0 else float(j == 0)
        total += weight * betainc(df1 / 2 + j, df2 / 2, x)
        if j > half and weight < 1e-16:
            return total
        j += 1


def _eta2_limits_by_bisection(f: float, df1: int, df2: int) -> tuple[float, float]:
    def solve(target: float) -> float:
        if _ncf_cdf_by_series(f, df1, df2, 0.0) <= target:
            return 0.0
        lo, hi = 0.0, 1.0
        while _ncf_cdf_by_series(f, df1, df2, hi) > target:
            hi *= 2
        for _ in range(80):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _ncf_cdf_by_series(f, df1, df2, mid) > target else (lo, mid)
        return (lo + hi) / 2

    n = df1 + df2 + 1
    lam_low, lam_high = solve(0.975), solve(0.025)
    return lam_low / (lam_low + n), lam_high / (lam_high + n)


@pytest.mark.parametrize("f, df1, df2", [(24.08, 3, 529), (0.106, 3, 529), (3.1, 2, 40), (0.9, 4, 120)])
def test_eta_squared_ci_inverts_the_noncentral_f(f, df1, df2):
    """Issue 12: F = 24.08 on 3 and 529 df printed 0-0.169 (the interval is 0.070-0.169), and a tiny
    F printed 0-0. Reference: the noncentral-F inversion recomputed independently (series + bisection)."""
    low, high = T._eta2_ci(f, df1, df2)
    ref_low, ref_high = _eta2_limits_by_bisection(f, df1, df2)
    assert low == pytest.approx(ref_low, abs=1e-6) and high == pytest.approx(ref_high, abs=1e-6)
    assert high > 0                                   # an upper limit of 0 is never right for F > 0


def test_eta_squared_ci_matches_the_published_example():
    low, high = T._eta2_ci(24.08, 3, 529)
    assert round(low, 3) == 0.070 and round(high, 3) == 0.169


def test_anova_result_carries_the_noncentral_ci(pima):
    frame = pima.assign(band=pd.cut(pima["Age"], [0, 30, 40, 50, 200], labels=["<30", "30s", "40s", "50+"]))
    res = T.compare_k_groups(frame, "Glucose", "band", test="anova")
    ref_low, ref_high = _eta2_limits_by_bisection(res.statistic, 3, int(sum(res.n.values())) - 4)
    assert res.ci_low == pytest.approx(ref_low, abs=1e-6) and res.ci_high == pytest.approx(ref_high, abs=1e-6)
    assert 0 < res.ci_low < res.effect < res.ci_high


def test_p_values_never_print_as_zero():
    """Issue 12: Tests, Regression and Cox tables rounded p to 4 decimals ("0"); Table 1 printed "<0.001".
    One formatter now serves every table (engine.stats.common.format_table)."""
    from engine.stats.common import format_p, format_statistic, format_table

    table = pd.DataFrame({"term": ["a", "b", "c"], "estimate": [1.234567, 2.0, 3.0],
                          "p_value": [1e-20, 0.01234, float("nan")], "p_adjusted": [3e-5, 0.5, 0.049999],
                          "levene_p": [0.0004, 0.2, 1.0]})
    shown = format_table(table)
    assert list(shown["p_value"]) == ["<0.001", "0.012", ""]
    assert list(shown["p_adjusted"]) == ["<0.001", "0.500", "0.050"]
    assert list(shown["levene_p"]) == ["<0.001", "0.200", "1.000"]
    assert shown["estimate"].iloc[0] == 1.2346                        # other numbers still rounded
    assert format_p(1e-20) == "<0.001" == format_statistic("llr_p_value", 1e-40)
    assert format_statistic("aic", 1234.5678) == "1235"


def test_methods_name_each_test_with_its_variables(pima):
    """Issue 12: one methods caption named Welch's t-test for every variable, though some used Mann-Whitney."""
    results, _ = T.run_tests(pima, ["Glucose", "BMI", "Insulin"], "Outcome", correction="holm")
    used = {r.variable: r.test for r in results}
    assert used == {"Glucose": "Welch t-test", "BMI": "Mann-Whitney U", "Insulin": "Mann-Whitney U"}
    methods = T.summarize_methods(results)
    assert methods.startswith("Glucose was compared between Outcome groups with Welch's t-test")
    assert "BMI and Insulin were compared between Outcome groups with the Mann-Whitney U test" in methods
    assert methods.count("adjusted with Holm's method") == 1


def test_table_one_methods_list_each_test_with_its_variables(pima):
    from engine.stats.table_one import compute_table_one

    res = compute_table_one(pima, ["Glucose", "BMI", "Insulin", "Age"], "Outcome")
    by_test = res.tests.groupby("test", sort=False)["variable"].apply(list).to_dict()
    assert by_test == {"Welch t-test": ["Glucose", "BMI"], "Mann-Whitney U": ["Insulin", "Age"]}
    assert "compared with Welch t-test (Glucose, BMI); Mann-Whitney U (Insulin, Age)" in res.methods
