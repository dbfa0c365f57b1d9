"""Fixtures for the capacity tests: the real ICU LOS (skipped with a reason when the data are absent)."""
from __future__ import annotations

import pytest

from engine.capacity.los import icu_los, physionet_dir


@pytest.fixture(scope="session")
def real_icu_los():
    if not (physionet_dir() / "Outcomes-a.txt").is_file():
        pytest.skip(f"PhysioNet 2012 set A not found at {physionet_dir()} (set CLINSIGHT_PHYSIONET2012)")
    return icu_los("ICU")
