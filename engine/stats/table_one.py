"""Table 1: the cohort described by group, as a clinical paper prints it.

Continuous variables: mean (SD), or median [IQR] when the variable is skewed
(|skewness| > 1 in the pooled data, or as the analyst chooses); compared with
Welch's t-test / one-way ANOVA (normal) or Mann-Whitney U / Kruskal-Wallis
(skewed). Categorical variables: n (%) of non-missing values, compared with the
chi-square test (Yates-corrected for 2x2, as R's chisq.test) or Fisher's exact
test for a 2x2 table with an expected count below 5. Standardised mean
differences (Cohen's d on pooled SDs; Yang & Dalton 2012 for categories; the
largest pairwise value when there are more than two groups), missing counts and
remarks (small groups, skew, far outliers, sparse tables) come with every row.

Why vectorised: summaries are one groupby over all continuous columns at once,
Welch and ANOVA come from those summaries (no per-column pass over the data),
and contingency tables are one ``bincount`` per categorical column, so 100,000
rows x 20 columns takes well under a second.
"""
from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from engine.errors import InputError
from engine.stats.cohort import column_kind
from engine.stats.common import (
    SKEW_LIMIT,
    SMALL_N,
    TUKEY_FAR,
    format_p,
    group_codes,
    require_columns,
    tests_with_variables,
)

OVERALL = "Overall"


@dataclass
class TableOneResult:
    """The formatted table plus the unrounded numbers behind it."""

    table: pd.DataFrame            # display rows: Variable, Level, Missing, Overall, <groups>, P-value, Test, SMD, Remarks
    stats: pd.DataFrame            # long numbers: variable, level, group, n, mean, sd, median, q1, q3, count, percent
    tests: pd.DataFrame            # per variable: kind, summary, test, statistic, p_value, smd, missing, remarks
    groups: list[str]
    group_column: str | None
    caveats: list[str] = field(default_factory=list)
    methods: str = ""

    def to_csv(self) -> str:
        return self.table.to_csv(index=False)

    def to_html(self) -> str:
        return table_one_html(self)


def compute_table_one(frame: pd.DataFrame, columns: list[str], group: str | None = None, *,
                      categorical: list[str] | None = None, nonnormal: list[str] | None = None,
                      normal: list[str] | None = None, decimals: int = 1) -> TableOneResult:
    """Describe ``columns`` of ``frame`` overall and by ``group``.

    ``categorical`` forces columns to be treated as categories; ``nonnormal`` /
    ``normal`` override the skewness rule for the summary and the test.
    """
    columns = [c for c in columns if c != group]
    if not columns:
        raise InputError("Choose at least one variable for Table 1.")
    require_columns(frame, columns + ([group] if group else []))
    caveats: list[str] = []
    data = frame
    if group:
        codes, levels = group_codes(frame[group])
        if (codes < 0).any():
            caveats.append(f"{int((codes < 0).sum())} rows with no value for '{group}' are left out.")
            data = frame.loc[codes >= 0]
            codes = codes[codes >= 0]
        if len(levels) < 2:
            raise InputError(f"Grouping column '{group}' has fewer than two groups in this cohort.")
        if len(levels) > 20:
            raise InputError(f"Grouping column '{group}' has {len(levels)} levels; choose one with at most 20.")
    else:
        codes, levels = np.zeros(len(frame), dtype=np.int64), []
    forced_cat = set(categorical or [])
    kinds = {c: ("categorical" if c in forced_cat else column_kind(data[c])) for c in columns}
    dates = [c for c, k in kinds.items() if k == "date"]
    if dates:
        caveats.append(f"Date columns are not summarised in Table 1: {', '.join(dates)}.")
    cont = [c for c in columns if kinds[c] == "numeric"]
    cat = [c for c in columns if kinds[c] == "categorical"]

    n_groups = max(len(levels), 1)
    group_n = np.bincount(codes, minlength=n_groups)
    small = [lvl for lvl, n in zip(levels, group_n) if n < SMALL_N]
    if small:
        caveats.append(f"Small group{'s' if len(small) > 1 else ''} (n < {SMALL_N}): {', '.join(small)}; "
                       "p-values and SMDs are imprecise.")

    stat_rows: list[dict] = []
    test_rows: list[dict] = []
    if cont:
        _continuous(data, cont, codes, levels, set(nonnormal or []), set(normal or []), stat_rows, test_rows)
    for col in cat:
        _categorical(data[col], col, codes, levels, stat_rows, test_rows)
    order = {c: i for i, c in enumerate(columns)}
    test_rows.sort(key=lambda r: order[r["variable"]])
    tests = pd.DataFrame(test_rows)
    stats_frame = pd.DataFrame(stat_rows)
    table = _display_table(tests, stats_frame, levels, group_n, len(data), decimals)
    return TableOneResult(table=table, stats=stats_frame, tests=tests, groups=levels, group_column=group,
                          caveats=caveats, methods=_methods(tests, group))


def _continuous(data: pd.DataFrame, cont: list[str], codes: np.ndarray, levels: list[str],
                force_nonnormal: set[str], force_normal: set[str], stat_rows: list[dict],
                test_rows: list[dict]) -> None:
    values = data[cont].apply(pd.to_numeric, errors="coerce").astype(float)
    arr = values.to_numpy()
    n_groups = max(len(levels), 1)
    # Per-group sums from one pass (vectorised over columns): counts, means, variances.
    valid = ~np.isnan(arr)
    filled = np.where(valid, arr, 0.0)
    onehot = np.zeros((len(codes), n_groups))
    onehot[np.arange(len(codes)), codes] = 1.0
    count = onehot.T @ valid.astype(float)                  # groups x columns
    total = onehot.T @ filled
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        centred = np.where(valid, arr - mean[codes], 0.0)    # two-pass variance: numerically stable
        ss = onehot.T @ (centred ** 2)
        var = ss / (count - 1)
    o_count = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        o_mean = filled.sum(axis=0) / o_count
        o_sd = np.sqrt((np.where(valid, arr - o_mean, 0.0) ** 2).sum(axis=0) / (o_count - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-missing column: NaN quantiles are fine
        o_q1, o_med, o_q3 = np.nanquantile(arr, [0.25, 0.5, 0.75], axis=0)
    skew = values.skew()
    grouped = values.groupby(codes)
    quant = grouped.quantile([0.25, 0.5, 0.75])               # (group, q) x columns
    q1 = np.vstack([quant.xs(0.25, level=1).reindex(range(n_groups))[c].to_numpy() for c in cont]).T
    q2 = np.vstack([quant.xs(0.5, level=1).reindex(range(n_groups))[c].to_numpy() for c in cont]).T
    q3 = np.vstack([quant.xs(0.75, level=1).reindex(range(n_groups))[c].to_numpy() for c in cont]).T

    # Welch t (two groups) and one-way ANOVA (more) straight from the summaries.
    with np.errstate(invalid="ignore", divide="ignore"):
        if n_groups == 2:
            se2 = var[0] / count[0] + var[1] / count[1]
            t = (mean[0] - mean[1]) / np.sqrt(se2)
            df = se2 ** 2 / ((var[0] / count[0]) ** 2 / (count[0] - 1) + (var[1] / count[1]) ** 2 / (count[1] - 1))
            p_normal = 2 * stats.t.sf(np.abs(t), df)
            stat_normal = t
        elif n_groups > 2:
            n_all = count.sum(axis=0)
            grand = total.sum(axis=0) / n_all
            ssb = (count * (mean - grand) ** 2).sum(axis=0)
            ssw = ss.sum(axis=0)
            k = (count > 0).sum(axis=0)
            f = (ssb / (k - 1)) / (ssw / (n_all - k))
            p_normal = stats.f.sf(f, k - 1, n_all - k)
            stat_normal = f
    for j, col in enumerate(cont):
        col_values = arr[:, j]
        ok = valid[:, j]
        n_missing = int((~ok).sum())
        skewed = bool(abs(skew[col]) > SKEW_LIMIT) if np.isfinite(skew[col]) else False
        nonnormal = (col in force_nonnormal) or (skewed and col not in force_normal)
        iqr = o_q3[j] - o_q1[j]
        far = int(((col_values[ok] < o_q1[j] - TUKEY_FAR * iqr) | (col_values[ok] > o_q3[j] + TUKEY_FAR * iqr)).sum())
        remarks = []
        if skewed:
            remarks.append(f"skewed (skewness {skew[col]:.1f})")
        if far:
            remarks.append(f"{far} far outlier{'s' if far > 1 else ''} (beyond 3 IQR)")
        stat_rows.append({"variable": col, "level": "", "group": OVERALL, "n": int(ok.sum()),
                          "mean": o_mean[j], "sd": o_sd[j],
                          "median": o_med[j], "q1": o_q1[j], "q3": o_q3[j],
                          "count": np.nan, "percent": np.nan})
        for g, lvl in enumerate(levels):
            stat_rows.append({"variable": col, "level": "", "group": lvl, "n": int(count[g, j]),
                              "mean": mean[g, j], "sd": np.sqrt(var[g, j]), "median": q2[g, j],
                              "q1": q1[g, j], "q3": q3[g, j], "count": np.nan, "percent": np.nan})
        test, statistic, p = "", np.nan, np.nan
        smd = np.nan
        if levels:
            usable = [g for g in range(n_groups) if count[g, j] >= 2]
            if len(usable) < 2:
                remarks.append("not tested: fewer than two groups have 2 or more values")
            elif nonnormal or len(usable) < n_groups:
                if len(usable) < n_groups:
                    left = [levels[g] for g in range(n_groups) if g not in usable]
                    remarks.append(f"{', '.join(left)} left out of the test (fewer than 2 values)")
                samples = [col_values[(codes == g) & ok] for g in usable]
                if nonnormal:
                    test = "Mann-Whitney U" if len(usable) == 2 else "Kruskal-Wallis"
                    res = (stats.mannwhitneyu(samples[0], samples[1], alternative="two-sided") if len(usable) == 2
                           else stats.kruskal(*samples))
                else:
                    test = "Welch t-test" if len(usable) == 2 else "One-way ANOVA"
                    res = (stats.ttest_ind(samples[0], samples[1], equal_var=False) if len(usable) == 2
                           else stats.f_oneway(*samples))
                statistic, p = float(res.statistic), float(res.pvalue)
            else:
                test = "Welch t-test" if n_groups == 2 else "One-way ANOVA"
                statistic, p = float(stat_normal[j]), float(p_normal[j])
            smd = _max_pairwise(lambda a, b: _continuous_smd(mean[a, j], mean[b, j], var[a, j], var[b, j]),
                                n_groups)
        test_rows.append({"variable": col, "kind": "continuous",
                          "summary": "median [IQR]" if nonnormal else "mean (SD)", "test": test,
                          "statistic": statistic, "p_value": p, "smd": smd, "missing": n_missing,
                          "remarks": "; ".join(remarks)})


def _continuous_smd(m1: float, m2: float, v1: float, v2: float) -> float:
    """Cohen's d with the average of the two variances (as R tableone / Austin 2009)."""
    return float(abs(m2 - m1) / np.sqrt((v1 + v2) / 2))


def _categorical_smd(p1: np.ndarray, p2: np.ndarray) -> float:
    """Yang & Dalton (2012) multi-level SMD; the first level is dropped as in R tableone."""
    a, b = p1[1:], p2[1:]
    if len(a) == 0:
        return 0.0
    covs = []
    for p in (a, b):
        cov = -np.outer(p, p)
        cov[np.diag_indices_from(cov)] = p * (1 - p)
        covs.append(cov)
    diff = (b - a).reshape(1, -1)
    try:
        value = diff @ np.linalg.inv((covs[0] + covs[1]) / 2) @ diff.T
    except np.linalg.LinAlgError:
        return float("nan")
    return float(np.sqrt(value[0, 0]))


def _max_pairwise(fn, n_groups: int) -> float:
    values = [fn(a, b) for a, b in combinations(range(n_groups), 2)]
    finite = [v for v in values if np.isfinite(v)]
    return max(finite) if finite else float("nan")


def _categorical(series: pd.Series, col: str, codes: np.ndarray, levels: list[str], stat_rows: list[dict],
                 test_rows: list[dict]) -> None:
    ok = series.notna().to_numpy()
    lvl_codes, cat_levels = group_codes(series)
    n_groups = max(len(levels), 1)
    n_levels = len(cat_levels)
    cross = np.bincount(lvl_codes[ok] * n_groups + codes[ok], minlength=n_levels * n_groups)
    cross = cross.reshape(n_levels, n_groups)                 # levels x groups
    overall = cross.sum(axis=1)
    col_tot = cross.sum(axis=0)
    remarks: list[str] = []
    for i, lvl in enumerate(cat_levels):
        stat_rows.append({"variable": col, "level": lvl, "group": OVERALL, "n": int(overall.sum()),
                          "mean": np.nan, "sd": np.nan, "median": np.nan, "q1": np.nan, "q3": np.nan,
                          "count": int(overall[i]), "percent": 100.0 * overall[i] / max(overall.sum(), 1)})
        for g, glvl in enumerate(levels):
            stat_rows.append({"variable": col, "level": lvl, "group": glvl, "n": int(col_tot[g]),
                              "mean": np.nan, "sd": np.nan, "median": np.nan, "q1": np.nan, "q3": np.nan,
                              "count": int(cross[i, g]), "percent": 100.0 * cross[i, g] / max(col_tot[g], 1)})
    test, statistic, p, smd = "", np.nan, np.nan, np.nan
    if levels:
        table = cross[overall > 0][:, col_tot > 0]
        if table.shape[0] < 2 or table.shape[1] < 2:
            remarks.append("not tested: only one level observed")
        else:
            chi2, p, _, expected = stats.chi2_contingency(table)
            test, statistic = "Chi-square", float(chi2)
            if expected.min() < 5:
                if table.shape == (2, 2):
                    test = "Fisher exact"
                    res = stats.fisher_exact(table)
                    statistic, p = float(res.statistic), float(res.pvalue)
                else:
                    share = float((expected < 5).mean())
                    remarks.append(f"{share:.0%} of expected counts < 5: chi-square approximate")
            p = float(p)
        props = cross / np.maximum(col_tot, 1)
        smd = _max_pairwise(lambda a, b: _categorical_smd(props[:, a], props[:, b]), n_groups)
    if n_levels > 10:
        remarks.append(f"{n_levels} levels")
    test_rows.append({"variable": col, "kind": "categorical", "summary": "n (%)", "test": test,
                      "statistic": statistic, "p_value": p, "smd": smd, "missing": int((~ok).sum()),
                      "remarks": "; ".join(remarks), "levels": cat_levels})


def _display_table(tests: pd.DataFrame, stats_frame: pd.DataFrame, levels: list[str], group_n: np.ndarray,
                   n_total: int, decimals: int) -> pd.DataFrame:
    groups = [OVERALL] + levels
    rows: list[dict] = [{"Variable": "n", "Level": "", "Missing": "", OVERALL: f"{n_total:,}",
                         **{lvl: f"{int(n):,}" for lvl, n in zip(levels, group_n)},
                         "P-value": "", "Test": "", "SMD": "", "Remarks": ""}]
    if stats_frame.empty:
        return pd.DataFrame(rows)
    cell = {(r["variable"], r["level"], r["group"]): r for r in stats_frame.to_dict("records")}
    d = decimals
    for rec in tests.to_dict("records"):
        common = {"Missing": str(rec["missing"]) if rec["missing"] else "0",
                  "P-value": format_p(rec["p_value"]), "Test": rec["test"],
                  "SMD": "" if not np.isfinite(rec["smd"]) else f"{rec['smd']:.3f}", "Remarks": rec["remarks"]}
        if rec["kind"] == "continuous":
            cells = {}
            for g in groups:
                s = cell[(rec["variable"], "", g)]
                if rec["summary"] == "mean (SD)":
                    cells[g] = f"{s['mean']:.{d}f} ({s['sd']:.{d}f})" if s["n"] else ""
                else:
                    cells[g] = f"{s['median']:.{d}f} [{s['q1']:.{d}f}, {s['q3']:.{d}f}]" if s["n"] else ""
            rows.append({"Variable": f"{rec['variable']}, {rec['summary']}", "Level": "", **common, **cells})
        else:
            rows.append({"Variable": f"{rec['variable']}, n (%)", "Level": "", **common,
                         **{g: "" for g in groups}})
            for lvl in rec["levels"]:
                cells = {}
                for g in groups:
                    s = cell[(rec["variable"], lvl, g)]
                    cells[g] = f"{int(s['count']):,} ({s['percent']:.{d}f})"
                rows.append({"Variable": "", "Level": lvl, "Missing": "", "P-value": "", "Test": "", "SMD": "",
                             "Remarks": "", **cells})
    order = ["Variable", "Level", "Missing"] + groups + ["P-value", "Test", "SMD", "Remarks"]
    if not levels:
        order = [c for c in order if c not in ("P-value", "Test", "SMD")]
    return pd.DataFrame(rows)[order]


def _methods(tests: pd.DataFrame, group: str | None) -> str:
    text = ("Continuous variables are summarised as mean (SD), or median [IQR] when skewed "
            f"(|skewness| > {SKEW_LIMIT:g}); categorical variables as n (%) of non-missing values.")
    if group and not tests.empty:
        used = tests_with_variables(list(zip(tests["variable"], tests["test"])))
        text += (f" Groups defined by {group} were compared with {used or 'no test'}"
                 " (two-sided; Fisher's exact test for 2x2 tables with an expected count below 5;"
                 " chi-square Yates-corrected for 2x2). Standardised mean differences: Cohen's d with"
                 " averaged variances for continuous and Yang & Dalton's multi-level SMD for categorical"
                 " variables; the largest pairwise value is shown for more than two groups.")
    return text


def table_one_html(result: TableOneResult) -> str:
    """A self-contained, print-ready HTML table (variables bold, levels indented, caveats below)."""
    cols = list(result.table.columns)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for row in result.table.to_dict("records"):
        cells = []
        for c in cols:
            value = html.escape(str(row[c]))
            if c == "Variable" and value:
                value = f"<strong>{value}</strong>"
            if c == "Level" and value:
                value = f"&nbsp;&nbsp;{value}"
            cells.append(f"<td>{value}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f"<li>{html.escape(c)}</li>" for c in result.caveats)
    return ("<table class='table-one'><thead><tr>" + head + "</tr></thead><tbody>" + "".join(body)
            + "</tbody></table>" + (f"<ul class='caveats'>{notes}</ul>" if notes else "")
            + f"<p class='methods'>{html.escape(result.methods)}</p>")


__all__ = ["TableOneResult", "compute_table_one", "table_one_html"]
