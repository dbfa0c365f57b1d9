"""Daily arrivals: a count model with weekday and trend (statsmodels), or the manager's own weekday rates.

Why a GLM: arrivals per day are counts with a weekly rhythm (electives fill weekdays) and a slow drift.
log E[arrivals on day t] = b0 + b_weekday(t) + b_trend * weeks(t). Poisson first; when the counts vary
more than Poisson allows (Pearson dispersion > 1.2 and a real NB2 alpha), a negative binomial (NB2) is
used instead so the bands are not too narrow. Forecast paths carry both kinds of uncertainty: the
coefficients are drawn from their estimated sampling distribution, then the counts from the model.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from engine.errors import InputError

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_HISTORY_DAYS = 28


def _design(days: pd.DatetimeIndex, origin: pd.Timestamp) -> np.ndarray:
    weekday = days.weekday.to_numpy()
    dummies = np.zeros((len(days), 6))
    for k in range(1, 7):
        dummies[:, k - 1] = weekday == k
    weeks = ((days - origin).days.to_numpy() / 7.0)[:, None]
    return np.hstack([np.ones((len(days), 1)), dummies, weeks])


@dataclass
class ArrivalModel:
    """Fitted (or given) daily arrival model; :meth:`sample_counts` draws forecast paths."""

    family: str  # "poisson", "negative binomial" or "given rates"
    params: np.ndarray | None = None
    cov: np.ndarray | None = None
    alpha: float = 0.0  # NB2 overdispersion: var = mu + alpha mu^2
    origin: pd.Timestamp | None = None
    weekday_rates: np.ndarray | None = None  # given rates (Mon..Sun) when not fitted
    n_days: int = 0
    dispersion: float | None = None
    warnings: list[str] = field(default_factory=list)

    def expected(self, days: pd.DatetimeIndex, params: np.ndarray | None = None) -> np.ndarray:
        if self.weekday_rates is not None:
            return self.weekday_rates[days.weekday.to_numpy()]
        assert self.params is not None and self.origin is not None
        return np.exp(_design(days, self.origin) @ (self.params if params is None else params))

    def sample_counts(self, rng: np.random.Generator, days: pd.DatetimeIndex, reps: int) -> np.ndarray:
        """``reps`` x ``len(days)`` arrival counts: coefficient uncertainty, then Poisson or NB2 noise."""
        if self.weekday_rates is not None:
            return rng.poisson(np.tile(self.expected(days), (reps, 1)))
        assert self.params is not None and self.cov is not None
        draws = rng.multivariate_normal(self.params, self.cov, size=reps, method="cholesky")
        mu = np.exp(draws @ _design(days, self.origin).T)
        if self.alpha > 0:
            mu = rng.gamma(1.0 / self.alpha, self.alpha * mu)
        return rng.poisson(mu)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"family": self.family, "history_days": self.n_days}
        if self.weekday_rates is not None:
            out["weekday_rates"] = {d: round(float(r), 3) for d, r in zip(WEEKDAYS, self.weekday_rates)}
        else:
            assert self.params is not None and self.cov is not None and self.origin is not None
            week = pd.date_range(self.origin, periods=7, freq="D")
            base = self.expected(week - pd.Timedelta(days=0))
            by_day = dict(zip((WEEKDAYS[d] for d in week.weekday), base))
            out["weekday_rates_at_start"] = {d: round(float(by_day[d]), 3) for d in WEEKDAYS}
            se = float(np.sqrt(self.cov[-1, -1]))
            trend = float(self.params[-1])
            out["trend_per_week_pct"] = round(100 * (np.exp(trend) - 1), 2)
            out["trend_per_week_pct_95ci"] = [round(100 * (np.exp(trend - 1.96 * se) - 1), 2),
                                              round(100 * (np.exp(trend + 1.96 * se) - 1), 2)]
            out["alpha"] = round(self.alpha, 4)
            out["pearson_dispersion"] = round(self.dispersion, 3) if self.dispersion is not None else None
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def fit_arrival_model(daily: pd.Series) -> ArrivalModel:
    """Fit weekday + trend to daily arrival counts (index: consecutive days)."""
    if len(daily) < MIN_HISTORY_DAYS:
        raise InputError(f"The history covers {len(daily)} days; at least {MIN_HISTORY_DAYS} are needed to learn "
                         "the weekday pattern (or give arrivals per weekday instead).")
    days = pd.DatetimeIndex(daily.index)
    y = daily.to_numpy(dtype=float)
    origin = days[0]
    X = _design(days, origin)
    notes: list[str] = []
    if y.sum() == 0:
        raise InputError("The history has no admissions at all in this unit.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        poisson = sm.GLM(y, X, family=sm.families.Poisson()).fit()
        dispersion = float(poisson.pearson_chi2 / poisson.df_resid)
        model = ArrivalModel("poisson", np.asarray(poisson.params), np.asarray(poisson.cov_params()), 0.0, origin,
                             n_days=len(y), dispersion=dispersion)
        if dispersion > 1.2:
            nb = sm.NegativeBinomial(y, X, loglike_method="nb2").fit(disp=0, maxiter=200)
            alpha = float(nb.params[-1])
            if nb.mle_retvals.get("converged", False) and alpha > 1e-3:
                model = ArrivalModel("negative binomial", np.asarray(nb.params[:-1]),
                                     np.asarray(nb.cov_params())[:-1, :-1], alpha, origin, n_days=len(y),
                                     dispersion=dispersion)
    if len(y) < 8 * 7:
        notes.append(f"Only {len(y)} days of history: the trend is poorly determined; read the outer band.")
    model.warnings = notes
    return model


def given_arrival_model(weekday_rates: list[float] | tuple[float, ...] | np.ndarray) -> ArrivalModel:
    """Arrivals the manager states (mean per weekday, Mon..Sun): Poisson, no trend, no fitted uncertainty."""
    rates = np.asarray(weekday_rates, dtype=float)
    if rates.shape != (7,) or not np.all(np.isfinite(rates)) or np.any(rates < 0) or rates.sum() == 0:
        raise InputError("Give seven arrivals-per-day figures, Monday to Sunday, each 0 or more (not all 0).")
    return ArrivalModel("given rates", weekday_rates=rates,
                        warnings=["Arrivals are the stated weekday means (Poisson); no trend, and no uncertainty in "
                                  "the means themselves, so the bands are narrower than a fitted model's."])


def parse_weekday_rates(text: str) -> list[float]:
    """'5,5,5,5,5,3,3' (Mon..Sun) or one number for every day."""
    try:
        values = [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 7
    if len(values) != 7:
        raise InputError("Arrivals per day are seven numbers, Monday to Sunday (e.g. 5,5,5,5,5,3,3), or one number.")
    return values
