"""Regression with the statsmodels formula API: linear (OLS), logistic and Poisson.

A small formula builder turns the page's choices (outcome, predictors, which
are categorical, which pairs interact) into a patsy formula with safe column
quoting, so the analyst never types one wrong; a raw formula is accepted too.
Results carry the coefficient table on the scale clinicians read (odds ratios
for logistic, rate ratios for Poisson, with 95% CIs), fit statistics,
diagnostics (residuals vs fitted, VIF) and caveats such as too few events per
variable, separation, or collinearity.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.stats.common import level_label, level_text, numeric_values, require_columns

KINDS = ("linear", "logistic", "poisson")
# Events per variable below this makes logistic estimates unstable (Peduzzi et al. 1996).
MIN_EVENTS_PER_VARIABLE = 10
VIF_HIGH = 5.0
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class RegressionResult:
    kind: str
    formula: str
    coefficients: pd.DataFrame    # term, estimate, std_error, statistic, p_value, ci_low, ci_high (+ ratio columns)
    fit: dict[str, float]
    residuals: pd.DataFrame       # fitted, residual (response scale for linear; Pearson otherwise)
    vif: pd.DataFrame             # term, vif
    n: int
    n_dropped: int
    caveats: list[str] = field(default_factory=list)
    methods: str = ""

    @property
    def ratio_name(self) -> str | None:
        return {"logistic": "odds ratio", "poisson": "rate ratio"}.get(self.kind)


def quote(column: str) -> str:
    """A column name as a patsy term (Q("...") when it is not a plain identifier)."""
    return column if _IDENT.match(column) else 'Q("' + column.replace('"', '\\"') + '")'


def build_formula(outcome: str, predictors: list[str], categorical: list[str] | None = None,
                  interactions: list[tuple[str, str]] | None = None) -> str:
    """``outcome ~ a + C(b) + a:C(b)`` from the builder's choices."""
    if not predictors:
        raise InputError("Choose at least one predictor.")
    cats = set(categorical or [])

    def term(col: str) -> str:
        return f"C({quote(col)})" if col in cats else quote(col)

    terms = [term(p) for p in predictors]
    for a, b in interactions or []:
        if a not in predictors or b not in predictors:
            raise InputError(f"An interaction needs both of its columns among the predictors ({a}, {b}).")
        terms.append(f"{term(a)}:{term(b)}")
    return f"{quote(outcome)} ~ " + " + ".join(terms)


def _formula_columns(formula: str, frame: pd.DataFrame) -> list[str]:
    """Frame columns that a formula mentions (to drop incomplete rows and report how many)."""
    names = set(re.findall(r'Q\("((?:[^"\\]|\\.)*)"\)', formula))
    names |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", formula))
    return [c for c in frame.columns if c in names]


def fit_regression(frame: pd.DataFrame, formula: str, kind: str = "linear") -> RegressionResult:
    """Fit ``formula`` on the complete cases of ``frame``."""
    import statsmodels.formula.api as smf
    from patsy import PatsyError
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    if kind not in KINDS:
        raise InputError(f"Unknown regression kind '{kind}'; use one of {', '.join(KINDS)}.")
    if "~" not in formula:
        raise InputError("A formula needs an outcome, '~', and predictors, e.g. 'glucose ~ age + bmi'.")
    used = _formula_columns(formula, frame)
    require_columns(frame, used)
    data = frame[used].dropna()
    n_dropped = len(frame) - len(data)
    caveats: list[str] = []
    if n_dropped:
        caveats.append(f"{n_dropped} rows with a missing value in the model's columns are left out "
                       "(complete-case analysis).")
    outcome = formula.split("~", 1)[0].strip()
    outcome_col = next((c for c in used if quote(c) == outcome or c == outcome), None)
    if outcome_col is None:
        raise InputError(f"The outcome '{outcome}' is not a column of this cohort.")
    try:
        y = numeric_values(data, outcome_col)      # numbers, 0/1, or True/False read as 1/0
    except InputError:
        raise InputError(f"Outcome '{outcome_col}' must be numeric (or True/False).") from None
    data = data.assign(**{outcome_col: y})
    if kind == "logistic" and not set(y.unique()) <= {0, 1}:
        raise InputError(f"Logistic regression needs a 0/1 outcome; '{outcome_col}' has other values.")
    if kind == "poisson" and ((y < 0).any() or (np.mod(y, 1) != 0).any()):
        raise InputError(f"Poisson regression needs a count outcome; '{outcome_col}' has negative or "
                         "fractional values.")
    if len(data) < 10:
        raise InputError(f"Only {len(data)} complete rows: too few to fit a model.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if kind == "linear":
                model = smf.ols(formula, data)
                res = model.fit()
            elif kind == "logistic":
                model = smf.logit(formula, data)
                res = model.fit(disp=0, maxiter=200)
            else:
                model = smf.poisson(formula, data)
                res = model.fit(disp=0, maxiter=200)
        except PatsyError as exc:
            unknown = re.search(r"name '([^']+)' is not defined", str(exc))
            if unknown:
                raise InputError(f"The cohort has no column named '{unknown.group(1)}'.") from None
            raise InputError(f"The formula could not be read: {str(exc).splitlines()[0]}") from None
        except np.linalg.LinAlgError:
            raise InputError("The predictors are perfectly collinear; remove a redundant one.") from None
    for w in caught:
        if issubclass(w.category, PerfectSeparationWarning):
            caveats.append("Perfect or quasi-perfect separation: some odds ratios are unreliable or infinite.")
        elif issubclass(w.category, ConvergenceWarning):
            caveats.append("The fit did not converge; estimates may be unreliable.")
    if kind != "linear" and not res.mle_retvals.get("converged", True):
        caveats.append("The fit did not converge; estimates may be unreliable.")
    ci = res.conf_int(0.05)
    names, references = readable_terms(model.data.orig_exog.design_info)
    coef = pd.DataFrame({"term": [names.get(n, n) for n in res.params.index], "estimate": res.params.to_numpy(),
                         "std_error": res.bse.to_numpy(), "statistic": res.tvalues.to_numpy(),
                         "p_value": res.pvalues.to_numpy(), "ci_low": ci[0].to_numpy(), "ci_high": ci[1].to_numpy()})
    if kind in ("logistic", "poisson"):
        with np.errstate(over="ignore"):
            coef["ratio"] = np.exp(coef["estimate"])
            coef["ratio_ci_low"] = np.exp(coef["ci_low"])
            coef["ratio_ci_high"] = np.exp(coef["ci_high"])
    n_params = len(res.params) - 1
    if kind == "linear":
        fit = {"r_squared": float(res.rsquared), "adj_r_squared": float(res.rsquared_adj),
               "f_p_value": float(res.f_pvalue), "aic": float(res.aic), "bic": float(res.bic)}
        residuals = pd.DataFrame({"fitted": res.fittedvalues.to_numpy(), "residual": res.resid.to_numpy()})
        resid_name = "residuals"
    else:
        fit = {"pseudo_r_squared": float(res.prsquared), "llr_p_value": float(res.llr_pvalue),
               "aic": float(res.aic), "bic": float(res.bic), "log_likelihood": float(res.llf)}
        fitted = res.predict()
        var = fitted * (1 - fitted) if kind == "logistic" else fitted
        residuals = pd.DataFrame({"fitted": fitted, "residual": (y.to_numpy() - fitted) / np.sqrt(var)})
        resid_name = "Pearson residuals"
    if kind == "logistic":
        events = int(min(y.sum(), len(y) - y.sum()))
        fit["events"] = float(events)
        if n_params and events / n_params < MIN_EVENTS_PER_VARIABLE:
            caveats.append(f"Only {events / n_params:.1f} events per predictor term (fewer than "
                           f"{MIN_EVENTS_PER_VARIABLE}): estimates may be biased and unstable.")
    if kind == "poisson":
        dispersion = float((residuals["residual"] ** 2).sum() / res.df_resid)
        fit["dispersion"] = dispersion
        if dispersion > 1.5:
            caveats.append(f"Overdispersion (Pearson chi-square / df = {dispersion:.2f}): standard errors are too "
                           "small; consider a negative binomial model.")
    vif = compute_vif(model.exog, [names.get(n, n) for n in model.exog_names])
    high = vif[vif["vif"] > VIF_HIGH]
    if not high.empty:
        caveats.append("Collinearity: VIF above 5 for " + ", ".join(high["term"]) + ".")
    label = {"linear": "linear regression (ordinary least squares)", "logistic": "logistic regression",
             "poisson": "Poisson regression"}[kind]
    scale = {"linear": "coefficients", "logistic": "odds ratios", "poisson": "incidence rate ratios"}[kind]
    methods = (f"{outcome_col} was modelled with {label} ({formula}) on {len(data):,} complete cases; "
               f"{scale} are reported with Wald 95% confidence intervals; diagnostics: {resid_name} against fitted "
               "values and variance inflation factors.")
    if references:
        methods += " Reference levels: " + "; ".join(f"{col} = {ref}" for col, ref in references.items()) + "."
    caveats = list(dict.fromkeys(caveats))
    return RegressionResult(kind, formula, coef, fit, residuals, vif, len(data), n_dropped, caveats, methods)


_CONTRAST = re.compile(r"^(?P<factor>.+)\[T\.(?P<level>.*)\]$")


def column_of_factor(factor: str) -> str:
    """The data column inside a patsy factor name: ``C(Q("a b"))`` -> ``a b``, ``C(sex)`` -> ``sex``."""
    inner = factor
    match = re.fullmatch(r"C\((.*?)(?:,.*)?\)", inner)
    if match:
        inner = match.group(1).strip()
    match = re.fullmatch(r'Q\("((?:[^"\\]|\\.)*)"\)', inner)
    return match.group(1).replace('\\"', '"') if match else inner


def readable_terms(design_info) -> tuple[dict[str, str], dict[str, str]]:
    """Coefficient names as people read them, and each categorical column's reference level.

    ``C(age_group)[T.40-49]`` -> ``age_group: 40-49 vs 30-39``; ``Q("cad_grade > 0")`` -> ``cad_grade > 0``;
    ``a:b`` -> ``a × b``; a 0/1 flag's levels carry their labels (``smoking: 1 (yes) vs 0 (no)``).
    """
    references: dict[str, str] = {}
    categories: dict[str, list] = {}
    for factor, info in design_info.factor_infos.items():
        if info.type == "categorical":
            name = factor.name()
            categories[name] = list(info.categories)
            column = column_of_factor(name)
            references[column] = level_label(column, level_text(info.categories[0]))

    def piece(text: str) -> str:
        match = _CONTRAST.match(text)
        if not match or match.group("factor") not in categories:
            return column_of_factor(text)
        factor, cats = match.group("factor"), categories[match.group("factor")]
        column = column_of_factor(factor)
        level = next((c for c in cats if str(c) == match.group("level")), match.group("level"))
        return f"{column}: {level_label(column, level_text(level))} vs {references[column]}"

    names = {name: " × ".join(piece(p) for p in name.split(":")) for name in design_info.column_names}
    return names, references


def compute_vif(exog: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Variance inflation factor of each non-intercept column of the design matrix: 1 / (1 - R²_j)."""
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    rows = []
    if exog.shape[1] <= 2:
        # One predictor beside the intercept: VIF is 1 by definition.
        return pd.DataFrame({"term": [n for n in names if n != "Intercept"], "vif": [1.0] * (exog.shape[1] - 1)})
    for j, name in enumerate(names):
        if name == "Intercept":
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            rows.append({"term": name, "vif": float(variance_inflation_factor(exog, j))})
    return pd.DataFrame(rows, columns=["term", "vif"])
