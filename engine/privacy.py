"""De-identification helpers following HIPAA Safe Harbor (45 CFR 164.514(b)(2)).

Only the generalisations the whole engine shares live here; the import path's
identifier detection builds on them.
"""
from __future__ import annotations

import math

from engine.errors import InputError

SAFE_HARBOR_MAX_AGE = 89


def generalise_age(age: float | None) -> tuple[float | None, str | None]:
    """Return (age kept, age group): ages over 89 are dropped and grouped as "90+".

    Other ages are kept and also given a 10-year band for k-anonymity and display.
    """
    if age is None:
        return None, None
    age = float(age)
    if math.isnan(age):
        return None, None
    if math.isinf(age) or age < 0:
        # Found by fuzzing: -inf crashed with a ValueError; a negative or infinite age is an input error.
        raise InputError("An age must be a number of years from 0 upwards.")
    if age > SAFE_HARBOR_MAX_AGE:
        return None, "90+"
    low = int(age // 10) * 10
    return float(age), f"{low}-{low + 9}"
