"""Hypothesis tests on demand: the test, its effect size with a 95% CI, the
assumption checks behind the choice, and a recommendation when an assumption fails.

Why checks come with the result: an analyst who asks for a t-test on a badly
skewed variable with 12 patients per arm should be told, with the numbers
(Shapiro-Wilk per group, Levene/Brown-Forsythe for variances), which test fits
better, and ``test="auto"`` simply runs that one. Several tests run together
are corrected for multiple comparisons (Holm or Benjamini-Hochberg).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from engine.errors import InputError
from engine.stats.common import (
    ALPHA,
    SHAPIRO_MAX_N,
    SKEW_LIMIT,
    SMALL_N,
    format_p,
    group_codes,
    join_names,
    numeric_values,
    require_columns,
)

TWO_GROUP_TESTS = ("auto", "welch", "student", "mann-whitney")
K_GROUP_TESTS = ("auto", "anova", "welch-anova", "kruskal")
# Hodges-Lehmann needs all n1*n2 pairwise differences; above this the CI is skipped.
MAX_PAIRS = 4_000_000


@dataclass
class TestResult:
    """One test with everything needed to report it."""

    __test__ = False  # not a pytest class

    name: str                       # e.g. "glucose by Outcome"
    test: str                       # e.g. "Welch t-test"
    statistic: float
    p_value: float
    effect_name: str = ""
    effect: float = float("nan")
    estimate_name: str = ""         # what the CI is for, e.g. "difference in means (1 - 0)"
    estimate: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    df: float | None = None
    n: dict[str, int] = field(default_factory=dict)
    assumptions: dict[str, float] = field(default_factory=dict)
    recommended: str = ""
    caveats: list[str] = field(default_factory=list)
    p_adjusted: float | None = None
    methods: str = ""
    variable: str = ""              # the compared variable (set by run_tests), for combined methods text
    adjustment: str = ""            # the multiple-comparison sentence appended to ``methods``

    def as_row(self) -> dict:
        return {"comparison": self.name, "test": self.test, "statistic": self.statistic, "df": self.df,
                "p_value": self.p_value, "p_adjusted": self.p_adjusted, "effect": self.effect_name,
                "effect_size": self.effect, "estimate": self.estimate_name, "value": self.estimate,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "recommended": self.recommended,
                "caveats": " ".join(self.caveats)}


def _samples(frame: pd.DataFrame, value: str, group: str) -> tuple[list[np.ndarray], list[str], list[str]]:
    require_columns(frame, [value, group])
    values = numeric_values(frame, value).to_numpy()
    codes, levels = group_codes(frame[group])
    caveats = []
    dropped = int(((codes < 0) | np.isnan(values)).sum())
    if dropped:
        caveats.append(f"{dropped} rows with a missing {value} or {group} are left out.")
    samples = [values[(codes == g) & ~np.isnan(values)] for g in range(len(levels))]
    return samples, levels, caveats


def check_assumptions(samples: list[np.ndarray]) -> dict[str, float]:
    """Shapiro-Wilk p per group (3..5000 values), skewness per group, Brown-Forsythe (Levene, median) p."""
    out: dict[str, float] = {}
    for i, s in enumerate(samples):
        if 3 <= len(s) <= SHAPIRO_MAX_N and np.ptp(s) > 0:
            out[f"shapiro_p_{i}"] = float(stats.shapiro(s).pvalue)
        out[f"skewness_{i}"] = float(stats.skew(s, bias=False)) if len(s) > 2 else float("nan")
    if all(len(s) >= 2 for s in samples) and len(samples) >= 2:
        out["levene_p"] = float(stats.levene(*samples, center="median").pvalue)
    return out


def _normal_enough(samples: list[np.ndarray], checks: dict[str, float]) -> tuple[bool, list[str]]:
    """Normality holds when Shapiro-Wilk does not reject, or the group is large (n >= 30) and not
    strongly skewed (the t-test is robust there: central limit theorem)."""
    reasons = []
    for i, s in enumerate(samples):
        p = checks.get(f"shapiro_p_{i}")
        skew = checks.get(f"skewness_{i}", float("nan"))
        rejected = p is not None and p < ALPHA
        if rejected and (len(s) < 30 or abs(skew) > SKEW_LIMIT):
            reasons.append(f"group {i + 1} is not normal (Shapiro-Wilk p={format_p(p)}, skewness {skew:.2f}, "
                           f"n={len(s)})")
        elif len(s) >= 30 and abs(skew) > SKEW_LIMIT:
            reasons.append(f"group {i + 1} is skewed (skewness {skew:.2f})")
    return not reasons, reasons


def compare_two_groups(frame: pd.DataFrame, value: str, group: str, test: str = "auto") -> TestResult:
    """Compare ``value`` between the two levels of ``group`` (second minus first level)."""
    if test not in TWO_GROUP_TESTS:
        raise InputError(f"Unknown two-group test '{test}'; use one of {', '.join(TWO_GROUP_TESTS)}.")
    samples, levels, caveats = _samples(frame, value, group)
    if len(levels) != 2:
        raise InputError(f"'{group}' has {len(levels)} groups in this cohort; a two-group test needs exactly 2.")
    a, b = samples
    if min(len(a), len(b)) < 2:
        raise InputError(f"Each group needs at least 2 values of '{value}'.")
    checks = check_assumptions(samples)
    normal, reasons = _normal_enough(samples, checks)
    equal_var = checks.get("levene_p", 1.0) >= ALPHA
    recommended = "welch" if normal else "mann-whitney"
    chosen = recommended if test == "auto" else test
    if min(len(a), len(b)) < SMALL_N:
        caveats.append(f"Small groups (n={len(a)} and {len(b)}): the test has little power.")
    if chosen in ("welch", "student") and not normal:
        caveats.append("Normality is doubtful: " + "; ".join(reasons) + ". Mann-Whitney U is recommended.")
    if chosen == "student" and not equal_var:
        caveats.append(f"Variances differ (Brown-Forsythe p={format_p(checks['levene_p'])}): "
                       "Welch's t-test is recommended.")
    n = {levels[0]: len(a), levels[1]: len(b)}
    name = f"{value} by {group}"
    label = f"difference in means ({levels[1]} - {levels[0]})"
    sd_pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    if chosen in ("welch", "student"):
        res = stats.ttest_ind(b, a, equal_var=chosen == "student")
        ci = res.confidence_interval(0.95)
        d = (b.mean() - a.mean()) / sd_pooled if sd_pooled > 0 else float("nan")
        g = d * (1 - 3 / (4 * (len(a) + len(b)) - 9))
        return TestResult(name, "Welch t-test" if chosen == "welch" else "Student t-test", float(res.statistic),
                          float(res.pvalue), "Hedges' g", float(g), label, float(b.mean() - a.mean()),
                          float(ci.low), float(ci.high), float(res.df), n, checks, _label(recommended), caveats,
                          methods=_methods_two(value, group, "Welch's t-test" if chosen == "welch" else
                                               "Student's t-test", "Hedges' g"))
    res = stats.mannwhitneyu(b, a, alternative="two-sided")
    rank_biserial = 2 * float(res.statistic) / (len(a) * len(b)) - 1
    est, low, high = hodges_lehmann(b, a)
    if np.isnan(low):
        caveats.append("Groups too large for the Hodges-Lehmann confidence interval; shown without it.")
    return TestResult(name, "Mann-Whitney U", float(res.statistic), float(res.pvalue), "rank-biserial r",
                      rank_biserial, f"Hodges-Lehmann shift ({levels[1]} - {levels[0]})", est, low, high, None, n,
                      checks, _label(recommended), caveats,
                      methods=_methods_two(value, group, "the Mann-Whitney U test", "the rank-biserial correlation"
                                           " and a Hodges-Lehmann shift with its distribution-free 95% CI"))


def hodges_lehmann(x: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Median of all pairwise differences x - y, with the Moses (normal-approximation) CI."""
    n1, n2 = len(x), len(y)
    if n1 * n2 > MAX_PAIRS:
        return float(np.median(x) - np.median(y)), float("nan"), float("nan")
    diffs = np.sort((x[:, None] - y[None, :]).ravel())
    z = stats.norm.ppf(0.5 + confidence / 2)
    k = int(np.floor(n1 * n2 / 2 - z * np.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)))
    k = max(k, 0)
    return float(np.median(diffs)), float(diffs[k]), float(diffs[len(diffs) - 1 - k])


def compare_k_groups(frame: pd.DataFrame, value: str, group: str, test: str = "auto") -> TestResult:
    """One-way ANOVA, Welch's ANOVA or Kruskal-Wallis across all levels of ``group``."""
    if test not in K_GROUP_TESTS:
        raise InputError(f"Unknown k-group test '{test}'; use one of {', '.join(K_GROUP_TESTS)}.")
    samples, levels, caveats = _samples(frame, value, group)
    samples_ok = [(lvl, s) for lvl, s in zip(levels, samples) if len(s) >= 2]
    if len(samples_ok) < 2:
        raise InputError(f"At least two groups of '{group}' need 2 or more values of '{value}'.")
    if len(samples_ok) < len(levels):
        caveats.append("Groups with fewer than 2 values are left out.")
    levels = [lvl for lvl, _ in samples_ok]
    samples = [s for _, s in samples_ok]
    checks = check_assumptions(samples)
    normal, reasons = _normal_enough(samples, checks)
    equal_var = checks.get("levene_p", 1.0) >= ALPHA
    recommended = ("anova" if equal_var else "welch-anova") if normal else "kruskal"
    chosen = recommended if test == "auto" else test
    if chosen != "kruskal" and not normal:
        caveats.append("Normality is doubtful: " + "; ".join(reasons) + ". Kruskal-Wallis is recommended.")
    if chosen == "anova" and not equal_var:
        caveats.append(f"Variances differ (Brown-Forsythe p={format_p(checks['levene_p'])}): "
                       "Welch's ANOVA is recommended.")
    if min(len(s) for s in samples) < SMALL_N:
        caveats.append(f"A group has fewer than {SMALL_N} values: the test has little power.")
    n = {lvl: len(s) for lvl, s in zip(levels, samples)}
    allv = np.concatenate(samples)
    ss_total = float(((allv - allv.mean()) ** 2).sum())
    ss_between = float(sum(len(s) * (s.mean() - allv.mean()) ** 2 for s in samples))
    k, n_all = len(samples), len(allv)
    name = f"{value} by {group}"
    if chosen == "anova":
        res = stats.f_oneway(*samples)
        eta2 = ss_between / ss_total if ss_total > 0 else float("nan")
        low, high = _eta2_ci(float(res.statistic), k - 1, n_all - k)
        return TestResult(name, "One-way ANOVA", float(res.statistic), float(res.pvalue), "eta squared", eta2,
                          "eta squared", eta2, low, high, float(k - 1), n, checks, _label(recommended), caveats,
                          methods=f"{value} was compared across {group} groups with one-way ANOVA; effect size "
                                  "eta squared with a 95% CI from the noncentral F distribution.")
    if chosen == "welch-anova":
        from statsmodels.stats.oneway import anova_oneway

        res = anova_oneway(samples, use_var="unequal", welch_correction=True)
        omega = ss_between / ss_total if ss_total > 0 else float("nan")
        return TestResult(name, "Welch ANOVA", float(res.statistic), float(res.pvalue), "eta squared", omega,
                          "", float("nan"), float("nan"), float("nan"), float(res.df[0]), n, checks,
                          _label(recommended), caveats,
                          methods=f"{value} was compared across {group} groups with Welch's ANOVA (unequal "
                                  "variances).")
    res = stats.kruskal(*samples)
    eps2 = float(res.statistic) * (n_all + 1) / (n_all ** 2 - 1)
    return TestResult(name, "Kruskal-Wallis", float(res.statistic), float(res.pvalue), "epsilon squared", eps2,
                      "", float("nan"), float("nan"), float("nan"), float(k - 1), n, checks, _label(recommended),
                      caveats, methods=f"{value} was compared across {group} groups with the Kruskal-Wallis test; "
                                       "effect size epsilon squared.")


def _eta2_ci(f: float, df1: int, df2: int, confidence: float = 0.95) -> tuple[float, float]:
    """CI of eta squared by inverting the noncentral F (Steiger 2004; as MBESS ``conf.limits.ncf``).

    Each limit is the noncentrality lambda at which the observed F sits at the upper (for the lower
    limit) or lower (for the upper limit) alpha/2 tail; a limit is 0 only when even lambda = 0 puts
    F below that quantile. lambda converts to eta squared as lambda / (lambda + N), N = df1 + df2 + 1.
    """
    from scipy.optimize import brentq

    if not np.isfinite(f) or f < 0:
        return float("nan"), float("nan")

    def noncentrality(cdf_target: float) -> float:
        """The lambda with P(F' <= f | lambda) = cdf_target; the CDF falls as lambda grows."""
        gap = lambda nc: float(stats.ncf.cdf(f, df1, df2, nc)) - cdf_target  # noqa: E731
        if gap(0.0) <= 0:          # F is not extreme enough even with no effect: the limit is 0
            return 0.0
        hi = max(10.0, f * df1 * 2)
        while gap(hi) > 0:
            hi *= 2
        return float(brentq(gap, 0.0, hi, xtol=1e-10, rtol=1e-12))

    alpha = 1 - confidence
    lam_low, lam_high = noncentrality(1 - alpha / 2), noncentrality(alpha / 2)
    n = df1 + df2 + 1
    return lam_low / (lam_low + n), lam_high / (lam_high + n)


def test_association(frame: pd.DataFrame, a: str, b: str) -> TestResult:
    """Chi-square test of independence (Fisher's exact when a 2x2 table has an expected count below 5);
    Cramér's V, and for 2x2 the odds ratio with its 95% CI."""
    require_columns(frame, [a, b])
    sub = frame[[a, b]].dropna()
    caveats = []
    if len(sub) < len(frame):
        caveats.append(f"{len(frame) - len(sub)} rows with a missing {a} or {b} are left out.")
    table = pd.crosstab(sub[a], sub[b])
    if table.shape[0] < 2 or table.shape[1] < 2:
        raise InputError(f"'{a}' and '{b}' each need at least two observed levels.")
    observed = table.to_numpy()
    chi2, p, dof, expected = stats.chi2_contingency(observed)
    n = int(observed.sum())
    v = float(np.sqrt(stats.chi2_contingency(observed, correction=False)[0] / (n * (min(observed.shape) - 1))))
    name = f"{a} vs {b}"
    counts = {str(k): int(c) for k, c in sub[b].value_counts().sort_index().items()}
    if observed.shape == (2, 2):
        from scipy.stats.contingency import odds_ratio

        small = expected.min() < 5
        ors = odds_ratio(observed, kind="conditional" if small else "sample")
        ci = ors.confidence_interval(0.95)
        if small:
            res = stats.fisher_exact(observed)
            return TestResult(name, "Fisher exact", float(res.statistic), float(res.pvalue), "Cramér's V", v,
                              "odds ratio (conditional MLE)", float(ors.statistic), float(ci.low), float(ci.high),
                              None, counts, {"min_expected": float(expected.min())}, "Fisher exact", caveats,
                              methods=f"Association of {a} with {b}: Fisher's exact test (an expected count was "
                                      "below 5); conditional maximum-likelihood odds ratio with exact 95% CI.")
        return TestResult(name, "Chi-square", float(chi2), float(p), "Cramér's V", v, "odds ratio",
                          float(ors.statistic), float(ci.low), float(ci.high), float(dof), counts,
                          {"min_expected": float(expected.min())}, "Chi-square", caveats,
                          methods=f"Association of {a} with {b}: chi-square test with Yates' continuity correction;"
                                  " sample odds ratio with Woolf (log) 95% CI; Cramér's V.")
    if (expected < 5).mean() > 0.2:
        caveats.append(f"{(expected < 5).mean():.0%} of expected counts are below 5: the chi-square p-value is "
                       "approximate; merge sparse levels.")
    return TestResult(name, "Chi-square", float(chi2), float(p), "Cramér's V", v, "", float("nan"), float("nan"),
                      float("nan"), float(dof), counts, {"min_expected": float(expected.min())}, "Chi-square",
                      caveats, methods=f"Association of {a} with {b}: chi-square test of independence; Cramér's V.")


def correlate(frame: pd.DataFrame, x: str, y: str, method: str = "pearson") -> TestResult:
    """Pearson (Fisher-z CI) or Spearman (Fisher-z CI with the Bonett-Wright SE) correlation."""
    require_columns(frame, [x, y])
    sub = pd.DataFrame({"x": numeric_values(frame, x), "y": numeric_values(frame, y)}).dropna()
    n = len(sub)
    if n < 4:
        raise InputError(f"A correlation needs at least 4 rows with both '{x}' and '{y}'.")
    caveats = [f"{len(frame) - n} rows with a missing value are left out."] if n < len(frame) else []
    if method == "pearson":
        res = stats.pearsonr(sub["x"], sub["y"])
        ci = res.confidence_interval(0.95)
        r, p, low, high = float(res.statistic), float(res.pvalue), float(ci.low), float(ci.high)
        checks = check_assumptions([sub["x"].to_numpy(), sub["y"].to_numpy()])
        checks.pop("levene_p", None)
        normal, _ = _normal_enough([sub["x"].to_numpy(), sub["y"].to_numpy()], checks)
        recommended = "pearson" if normal else "spearman"
        if not normal:
            caveats.append("A variable is skewed or not normal: Spearman's rank correlation is recommended.")
        label = "Pearson r"
    elif method == "spearman":
        res = stats.spearmanr(sub["x"], sub["y"])
        r, p = float(res.statistic), float(res.pvalue)
        se = np.sqrt((1 + r ** 2 / 2) / (n - 3))
        z = np.arctanh(r)
        low, high = float(np.tanh(z - 1.959963984540054 * se)), float(np.tanh(z + 1.959963984540054 * se))
        checks, recommended, label = {}, "spearman", "Spearman rho"
    else:
        raise InputError("Correlation method must be 'pearson' or 'spearman'.")
    return TestResult(f"{x} vs {y}", label, r, p, label, r, label, r, low, high, float(n - 2), {"pairs": n}, checks,
                      recommended, caveats, methods=f"{label} between {x} and {y} with a Fisher-z 95% CI.")


def correlation_matrix(frame: pd.DataFrame, columns: list[str], method: str = "pearson"
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Pairwise-complete correlation, p-value and n matrices for the heat-map."""
    require_columns(frame, columns)
    if method not in ("pearson", "spearman"):
        raise InputError("Correlation method must be 'pearson' or 'spearman'.")
    data = pd.DataFrame({c: numeric_values(frame, c) for c in columns})
    r = data.corr(method=method)
    valid = data.notna().astype(float)
    n = valid.T @ valid
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt((n - 2) / (1 - r ** 2))
        p = pd.DataFrame(2 * stats.t.sf(np.abs(t.to_numpy()), n.to_numpy() - 2), index=r.index, columns=r.columns)
    np.fill_diagonal(p.values, 0.0)
    return r, p, n.astype(int)


def adjust_pvalues(p_values: list[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) adjusted p-values."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method in ("bh", "fdr_bh"):
        adj = np.minimum.accumulate((m / np.arange(m, 0, -1) * ranked[::-1]))[::-1]
    else:
        raise InputError("Correction method must be 'holm' or 'bh'.")
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def run_tests(frame: pd.DataFrame, values: list[str], group: str, correction: str | None = "holm",
              test: str = "auto") -> tuple[list[TestResult], pd.DataFrame]:
    """Compare each of ``values`` across ``group`` (2 groups: two-sample, more: k-group), then correct."""
    if not values:
        raise InputError("Choose at least one variable to test.")
    _, levels = group_codes(frame[group])
    results = []
    for value in values:
        if len(levels) == 2:
            result = compare_two_groups(frame, value, group, test if test in TWO_GROUP_TESTS else "auto")
        else:
            result = compare_k_groups(frame, value, group, test if test in K_GROUP_TESTS else "auto")
        result.variable = value
        results.append(result)
    if correction and len(results) > 1:
        adjusted = adjust_pvalues([r.p_value for r in results], correction)
        for r, q in zip(results, adjusted):
            r.p_adjusted = float(q)
            r.adjustment = (f" P-values of the {len(results)} comparisons were adjusted with "
                            f"{'Holm' if correction == 'holm' else 'Benjamini-Hochberg'}'s method.")
            r.methods += r.adjustment
    return results, pd.DataFrame([r.as_row() for r in results])


def summarize_methods(results: list[TestResult]) -> str:
    """One methods paragraph for several comparisons: each test used, named with the variables it
    was used for ("glucose and bmi were compared ... with Welch's t-test ...; insulin ... with the
    Mann-Whitney U test ..."), and the multiple-comparison adjustment once."""
    by_test: dict[str, list[TestResult]] = {}
    for r in results:
        by_test.setdefault(r.test, []).append(r)
    sentences = []
    for group in by_test.values():
        first = group[0]
        text = first.methods[: len(first.methods) - len(first.adjustment)] if first.adjustment else first.methods
        lead = f"{first.variable} was compared"
        if len(group) > 1 and first.variable and text.startswith(lead):
            text = f"{join_names([r.variable for r in group])} were compared" + text[len(lead):]
        sentences.append(text)
    return " ".join(sentences) + (results[0].adjustment if results else "")


def _label(key: str) -> str:
    return {"welch": "Welch t-test", "student": "Student t-test", "mann-whitney": "Mann-Whitney U",
            "anova": "One-way ANOVA", "welch-anova": "Welch ANOVA", "kruskal": "Kruskal-Wallis"}.get(key, key)


def _methods_two(value: str, group: str, test: str, effect: str) -> str:
    return (f"{value} was compared between {group} groups with {test} (two-sided); effect size {effect}; "
            "normality checked with Shapiro-Wilk per group and equal variances with the Brown-Forsythe test.")


# pytest collects functions named test_* from modules it imports by path; this module is never
# collected (its name does not match), but be explicit for readers.
test_association.__test__ = False  # type: ignore[attr-defined]
