"""Length-of-stay (LOS) distributions, in days, and the real ICU default.

Why several kinds: the Erlang loss formula says the chance a unit is full depends on the LOS only through
its mean (M/G/c/c is insensitive), while the census forecast and the roster need the whole shape. Every
distribution here can draw stays, draw the remaining stay of a patient already in the unit, and
describe itself (the basis shown next to every figure).

The real default is the PhysioNet/CinC 2012 set A (MIMIC-II ICU stays, ODC-By). Its
``Length_of_stay`` counts days from ICU admission to the end of the *hospital* stay, and stays shorter
than 48 h were excluded, so it overstates ICU bed-days; that caveat travels with the distribution.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from engine.config import get_settings
from engine.errors import InputError

# ICUType codes in the PhysioNet 2012 descriptors.
ICU_TYPES: dict[int, str] = {1: "CCU", 2: "CSRU", 3: "MICU", 4: "SICU"}
ICU_TYPE_NAMES: dict[str, str] = {"CCU": "coronary care", "CSRU": "cardiac surgery recovery",
                                  "MICU": "medical ICU", "SICU": "surgical ICU", "ICU": "all ICU types pooled"}
PHYSIONET_CITATION = ("PhysioNet/CinC Challenge 2012 set A (Silva I et al., Computing in Cardiology 2012;39:245-248; "
                      "MIMIC-II), Open Data Commons Attribution licence")
PHYSIONET_CAVEAT = ("PhysioNet 2012 'Length_of_stay' runs from ICU admission to the end of the hospital stay and "
                    "excludes stays under 48 h, so it overstates ICU bed-days; use your own export when you have one.")


@dataclass
class LOSDistribution:
    """A length-of-stay distribution in days: ``kind`` is exponential, lognormal or empirical."""

    kind: str
    label: str
    mean_days: float
    cv: float = 1.0  # coefficient of variation (lognormal)
    values: np.ndarray | None = None  # empirical: observed stays in days
    weights: np.ndarray | None = None  # empirical: probability of each value (None: equal)
    jitter: bool = False  # empirical integer-day data: spread each value over +-0.5 day
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean_days) and self.mean_days > 0):
            raise InputError("The mean length of stay must be a positive number of days.")
        if self.kind == "lognormal" and not (math.isfinite(self.cv) and self.cv > 0):
            raise InputError("The length-of-stay spread (coefficient of variation) must be a positive number.")
        if self.kind == "empirical":
            if self.values is None or len(self.values) < 2:
                raise InputError("At least two completed stays are needed to use their lengths of stay.")
            order = np.argsort(np.asarray(self.values, dtype=float))
            self.values = np.asarray(self.values, dtype=float)[order]
            if self.weights is not None:
                w = np.asarray(self.weights, dtype=float)[order]
                self.weights = w / w.sum()

    # --- sampling -----------------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent stays, in days (always > 0)."""
        if self.kind == "exponential":
            return rng.exponential(self.mean_days, n)
        if self.kind == "lognormal":
            sigma2 = math.log1p(self.cv ** 2)
            return rng.lognormal(math.log(self.mean_days) - sigma2 / 2, math.sqrt(sigma2), n)
        assert self.values is not None
        out = rng.choice(self.values, n, p=self.weights)
        if self.jitter:
            out = out + rng.uniform(-0.5, 0.5, n)
        return np.maximum(out, 1e-3)

    def sample_remaining(self, rng: np.random.Generator, elapsed: np.ndarray) -> np.ndarray:
        """Remaining days for patients already in the unit for ``elapsed`` days (LOS given LOS > elapsed)."""
        elapsed = np.asarray(elapsed, dtype=float)
        n = len(elapsed)
        if n == 0:
            return np.zeros(0)
        if self.kind == "exponential":
            return rng.exponential(self.mean_days, n)  # memoryless
        if self.kind == "lognormal":
            sigma2 = math.log1p(self.cv ** 2)
            dist = stats.lognorm(s=math.sqrt(sigma2), scale=math.exp(math.log(self.mean_days) - sigma2 / 2))
            low = dist.cdf(elapsed)
            u = low + (1 - low) * rng.uniform(0, 1, n)
            total = dist.ppf(np.minimum(u, 1 - 1e-12))
            return np.maximum(total - elapsed, 1e-3)
        assert self.values is not None
        out = np.empty(n)
        for i, e in enumerate(elapsed):
            first = np.searchsorted(self.values, e, side="right")
            longer = self.values[first:]
            w = None if self.weights is None else self.weights[first:]
            if len(longer) and (w is None or w.sum() > 0):
                out[i] = rng.choice(longer, p=None if w is None else w / w.sum()) - e
            else:
                out[i] = rng.exponential(1.0)  # beyond the longest stay ever seen: assume discharge within a day
        return np.maximum(out, 1e-3)

    def sample_equilibrium_remaining(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Remaining days of ``n`` patients found in a unit in steady state (elapsed times unknown).

        A patient present at a random moment has a length-biased stay (long stays are more often seen)
        and is a uniform fraction of the way through it; that is the exact equilibrium residual.
        """
        if n == 0:
            return np.zeros(0)
        pool = self.sample(rng, max(20 * n, 2000))
        picked = rng.choice(pool, n, p=pool / pool.sum())
        return np.maximum(picked * rng.uniform(0, 1, n), 1e-3)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "label": self.label, "mean_days": round(self.mean_days, 3),
                               "source": self.source}
        if self.kind == "lognormal":
            out["cv"] = round(self.cv, 3)
        if self.kind == "empirical" and self.values is not None:
            w = np.full(len(self.values), 1 / len(self.values)) if self.weights is None else self.weights
            cdf = np.cumsum(w)
            median, p90 = (float(self.values[min(np.searchsorted(cdf, q), len(cdf) - 1)]) for q in (0.5, 0.9))
            sd = math.sqrt(float(np.sum(w * (self.values - self.mean_days) ** 2)))
            out.update(n_stays=int(len(self.values)), median_days=round(median, 2), p90_days=round(p90, 2),
                       cv=round(sd / self.mean_days, 3))
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def exponential_los(mean_days: float) -> LOSDistribution:
    return LOSDistribution("exponential", f"exponential, mean {mean_days:g} d", float(mean_days),
                           source="parameter")


def lognormal_los(mean_days: float, cv: float) -> LOSDistribution:
    return LOSDistribution("lognormal", f"lognormal, mean {mean_days:g} d, CV {cv:g}", float(mean_days), cv=float(cv),
                           source="parameter")


def empirical_los(values_days: np.ndarray, label: str, *, source: str, jitter: bool = False) -> LOSDistribution:
    values = np.asarray(values_days, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if len(values) < 2:
        raise InputError("At least two completed stays are needed to use their lengths of stay.")
    return LOSDistribution("empirical", label, float(values.mean()), values=values, jitter=jitter, source=source)


def fit_los(durations_days: np.ndarray, still_in: np.ndarray | None = None, label: str = "your export"
            ) -> LOSDistribution:
    """LOS from an export's stays. Patients still in the unit are right-censored (their stay is at least
    this long): leaving them out would bias the LOS short, so the Kaplan-Meier estimate (lifelines) is used and
    resampled. With fewer than 30 stays, a lognormal is fitted to the finished ones instead, with a caveat."""
    values = np.asarray(durations_days, dtype=float)
    open_ = np.zeros(len(values), bool) if still_in is None else np.asarray(still_in, dtype=bool)
    ok = np.isfinite(values) & (values > 0)
    values, open_ = values[ok], open_[ok]
    finished = values[~open_]
    if len(finished) >= 30:
        warnings: list[str] = []
        if open_.any():
            from lifelines import KaplanMeierFitter

            km = KaplanMeierFitter().fit(values, event_observed=~open_)
            surv = km.survival_function_.iloc[:, 0]
            times = surv.index.to_numpy(dtype=float)
            mass = -np.diff(np.concatenate([[1.0], surv.to_numpy()]))
            keep = (mass > 0) & (times > 0)
            points, weights = list(times[keep]), list(mass[keep])
            tail = float(surv.iloc[-1])
            if tail > 0:  # stays longer than any finished one: put at the longest time seen
                points.append(float(values.max()))
                weights.append(tail)
                if tail > 0.02:
                    warnings.append(f"{tail:.0%} of stays outlast every finished stay in the export; they are "
                                    "counted as ending at the longest time seen, so the LOS is underestimated.")
            pts, w = np.array(points), np.array(weights)
            dist = LOSDistribution("empirical", f"{label} ({len(values)} stays, {int(open_.sum())} still in; "
                                   "Kaplan-Meier)", float(np.sum(pts * w) / w.sum()), values=pts, weights=w,
                                   source="export")
        else:
            dist = empirical_los(finished, f"{label} ({len(finished)} finished stays)", source="export")
        dist.warnings.extend(warnings)
        if len(values) < 200:
            dist.warnings.append(f"Only {len(values)} stays: the long-stay tail is poorly known.")
        return dist
    if len(finished) < 5:
        raise InputError(f"Only {len(finished)} finished stays in the export; at least 5 are needed to fit a "
                         "length-of-stay distribution (or choose a default one).")
    shape, _, scale = stats.lognorm.fit(finished, floc=0)
    mean = float(scale * math.exp(shape ** 2 / 2))
    cv = float(math.sqrt(math.expm1(shape ** 2)))
    dist = LOSDistribution("lognormal", f"lognormal fitted to {label} ({len(finished)} finished stays)", mean, cv=cv,
                           source="export")
    dist.warnings.append(f"Only {len(finished)} finished stays: lognormal fitted (patients still in are ignored, "
                         "which biases it short); treat the result as rough.")
    return dist


# --- the real ICU default -------------------------------------------------------------------------------

def physionet_dir() -> Path:
    return get_settings().capacity_physionet_dir


@lru_cache(maxsize=4)
def _load_physionet(path: str) -> tuple[dict[str, tuple[float, ...]], int, int]:
    """(LOS by unit type incl. pooled 'ICU', stays without a known LOS, stays with a unit type) from the set."""
    root = Path(path)
    outcomes = root / "Outcomes-a.txt"
    if not outcomes.is_file():
        raise InputError(f"The ICU length-of-stay data are not at {root}; set CLINSIGHT_PHYSIONET2012 to the folder "
                         "holding Outcomes-a.txt, or give your own distribution.")
    los: dict[int, float] = {}
    unknown = 0
    with open(outcomes, newline="") as fh:
        for row in csv.DictReader(fh):
            value = float(row["Length_of_stay"])
            if value > 0:
                los[int(row["RecordID"])] = value
            else:
                unknown += 1
    types: dict[int, int] = {}
    stays = root / "set-a"
    if stays.is_dir():
        for record_id in los:
            file = stays / f"{record_id}.txt"
            if not file.is_file():
                continue
            with open(file) as fh:
                for i, line in enumerate(fh):
                    if line.startswith("00:00,ICUType,"):
                        types[record_id] = int(float(line.split(",")[2]))
                        break
                    if i > 40 or not line.startswith(("00:00", "Time")):
                        break
    by_unit: dict[str, list[float]] = {"ICU": list(los.values())}
    for record_id, code in types.items():
        if code in ICU_TYPES:
            by_unit.setdefault(ICU_TYPES[code], []).append(los[record_id])
    return {k: tuple(v) for k, v in by_unit.items()}, unknown, len(types)


def icu_los(unit_type: str = "ICU") -> LOSDistribution:
    """The real ICU LOS for ``unit_type`` (CCU, CSRU, MICU, SICU, or ICU for all pooled)."""
    by_unit, unknown, typed = _load_physionet(str(physionet_dir()))
    key = unit_type.upper()
    warnings = [PHYSIONET_CAVEAT]
    if key not in by_unit:
        if key in ICU_TYPE_NAMES and typed == 0:
            warnings.append(f"This copy of the data has no ICUType descriptor, so '{key}' cannot be separated: "
                            "all ICU types pooled are used.")
            key = "ICU"
        else:
            raise InputError(f"Unknown ICU type '{unit_type}'; choose one of {', '.join(sorted(by_unit))}.")
    dist = empirical_los(np.array(by_unit[key]), f"real ICU stays, {ICU_TYPE_NAMES.get(key, key)} "
                         f"(PhysioNet 2012, n={len(by_unit[key])})", source=PHYSIONET_CITATION, jitter=True)
    if unknown:
        warnings.append(f"{unknown} stays with an unknown length of stay were left out.")
    dist.warnings.extend(warnings)
    return dist


def icu_unit_types() -> list[str]:
    """Unit types the real default offers in this copy of the data (always includes pooled 'ICU')."""
    try:
        by_unit, _, _ = _load_physionet(str(physionet_dir()))
    except InputError:
        return []
    return sorted(by_unit)


def parse_los_spec(spec: str) -> LOSDistribution:
    """A LOS from a short text: ``icu`` / ``icu:MICU``, ``exp:MEAN``, ``lognormal:MEAN,CV`` (command line)."""
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    try:
        if kind == "icu":
            return icu_los(arg or "ICU")
        if kind in ("exp", "exponential"):
            return exponential_los(float(arg))
        if kind in ("lognormal", "logn"):
            mean, cv = (float(x) for x in arg.split(","))
            return lognormal_los(mean, cv)
    except ValueError:
        pass
    raise InputError("A length of stay is written icu, icu:MICU, exp:MEAN_DAYS or lognormal:MEAN_DAYS,CV "
                     "(for example exp:4 or lognormal:4,1.2).")
