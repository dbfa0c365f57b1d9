"""Length-of-stay distributions: the real ICU default, censoring-aware fitting, remaining-stay draws."""
from __future__ import annotations

import numpy as np
import pytest

from engine.capacity.los import exponential_los, fit_los, lognormal_los, parse_los_spec
from engine.errors import InputError


def test_real_icu_default_matches_the_published_file(real_icu_los):
    d = real_icu_los.describe()
    # Outcomes-a.txt: 4,000 stays, 60 with Length_of_stay -1 (unknown); mean of the rest 13.66 days, median 10.
    assert d["n_stays"] == 3940 and d["median_days"] == 10.0
    assert real_icu_los.mean_days == pytest.approx(13.66, abs=0.01)
    assert any("hospital stay" in w for w in real_icu_los.warnings)


def test_lognormal_has_the_requested_mean_and_cv():
    rng = np.random.default_rng(0)
    x = lognormal_los(4.0, 1.2).sample(rng, 400_000)
    assert x.mean() == pytest.approx(4.0, rel=0.02) and x.std() / x.mean() == pytest.approx(1.2, rel=0.05)


def test_kaplan_meier_fit_removes_the_short_bias_of_open_stays():
    """Synthetic: exponential stays (mean 10) observed in a window; stays still open at the cut are censored."""
    rng = np.random.default_rng(1)
    admit = rng.uniform(0, 200, 3000)
    stay = rng.exponential(10, 3000)
    open_ = admit + stay > 200
    seen = np.where(open_, 200 - admit, stay)
    naive = seen[~open_].mean()
    fitted = fit_los(seen, open_)
    assert naive < 9.6  # finished-only is biased short
    assert fitted.mean_days == pytest.approx(10, rel=0.05)


def test_remaining_stay_given_elapsed():
    rng = np.random.default_rng(2)
    exp = exponential_los(5.0)
    assert exp.sample_remaining(rng, np.full(100_000, 7.0)).mean() == pytest.approx(5.0, rel=0.02)  # memoryless
    # Equilibrium residual of an exponential is the same exponential.
    assert exp.sample_equilibrium_remaining(rng, 20_000).mean() == pytest.approx(5.0, rel=0.05)
    logn = lognormal_los(4.0, 1.0)
    r = logn.sample_remaining(rng, np.full(20_000, 6.0))
    total = logn.sample(rng, 2_000_000)
    assert r.mean() == pytest.approx((total[total > 6] - 6).mean(), rel=0.05)


def test_parse_spec_and_refusals():
    assert parse_los_spec("exp:4").mean_days == 4
    assert parse_los_spec("lognormal:4,1.2").cv == 1.2
    for bad in ("weibull:3", "exp:x", "lognormal:4"):
        with pytest.raises(InputError):
            parse_los_spec(bad)
    with pytest.raises(InputError):
        fit_los(np.array([1.0, 2.0]))
