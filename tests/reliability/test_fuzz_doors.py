"""Every registered door, on a reduced sample (``make fuzz`` runs >= 1,000 cases per door).

Each case must end in a result or a clear refusal, within its time bound, and a
refusal must leave the store unchanged. The sample size follows
``CLINSIGHT_FUZZ_CASES`` (default 30) so a developer can turn it up locally.
"""
from __future__ import annotations

import os

import pytest

from tests.reliability.doors import DOORS
from tests.reliability.fuzzing import StoreFactory, _cheap_password_hashing, run_door

CASES = int(os.environ.get("CLINSIGHT_FUZZ_CASES", "30"))


@pytest.mark.parametrize("name", sorted(DOORS))
def test_door_survives_generated_inputs(name, tmp_path, seeded_db_template, monkeypatch):
    from engine import auth

    monkeypatch.setattr(auth, "_hasher", auth._hasher)  # restored after: the harness swaps in a cheap hasher
    _cheap_password_hashing()
    result = run_door(DOORS[name], CASES, stores=StoreFactory(tmp_path, seeded_db_template), rng_seed=1)
    assert result.cases >= min(CASES, 10), result.summary()
    assert result.n_failures == 0, result.summary()


def test_fuzz_finds_a_planted_crash(tmp_path):
    """The harness itself: a door that crashes on some input is reported, not hidden."""
    from hypothesis import strategies as st

    from tests.reliability.doors import Door

    def fragile(value: int, db):
        if value % 7 == 3:
            raise KeyError("boom")
        return value

    door = Door(name="planted", strategy=lambda: st.integers(0, 1000), call=fragile)
    result = run_door(door, 60, stores=StoreFactory(tmp_path))
    assert result.outcomes["crash"] > 0 and result.failures[0]["detail"].startswith("KeyError")
